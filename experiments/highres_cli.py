"""``run.py --size=3840``: a large output through a coarse-to-fine pyramid, tiled where large.

    python run.py --content=BIG.jpg --style=PAINTING.jpg --size=3840 --output=big.png
    python run.py --content=BIG.jpg --style=PAINTING.jpg --size=3840 --output=big.png \\
        --level_steps=200,100,40,4 --tile_size=512 --tile_overlap=64 --pyramid_start=480

Taken when ``--size`` exceeds ``HIGHRES_ABOVE`` (1024 px) or any flag below is given
(``nst.highres.stylize_large``): levels from ``--pyramid_start`` px up to ``--size`` (side
ratio ``--pyramid_ratio``), ``--steps`` at the coarsest and half as many at each finer
level (or ``--level_steps``); levels whose untiled estimate exceeds the memory available
run in ``--tile_size`` tiles. The plan (every level's size, steps, tiles and memory
estimate) is logged before any work; a plan that cannot fit ends with one line naming the
estimate and suggesting ``--tile_size`` (exit code 2).

Every finished level is saved in ``OUTPUT.levels/`` (with the run's fingerprint); after an
interruption the same command continues at the first unfinished level. The folder is
removed once the output is written.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sys
import time
from typing import Any

from absl import flags, logging

HIGHRES_ABOVE = 1024  # --size above this goes through nst.highres by default

_TILE_SIZE = flags.DEFINE_integer(
    "tile_size", None, "Tile side, px (default 512; 0: never tile, refuse what cannot fit)."
)
_TILE_OVERLAP = flags.DEFINE_integer(
    "tile_overlap", None, "Overlap of neighbouring tiles, px: the feathered seam (default 64)."
)
_TILE_BATCH = flags.DEFINE_integer(
    "tile_batch", None, "Tiles per backbone call (default 1; more is faster on a GPU)."
)
_TILE_ABOVE = flags.DEFINE_integer(
    "tile_above",
    None,
    "Tile levels longer than this, px (default: the levels that do not fit untiled).",
)
_STYLE_SCALE = flags.DEFINE_float(
    "style_scale",
    None,
    "Style image's longest side as a multiple of the working image's (jcjohnson's "
    "-style_scale; of each pyramid level's for large outputs). Default: the style at --size.",
)
_PYRAMID_RATIO = flags.DEFINE_float(
    "pyramid_ratio", None, "Side ratio of neighbouring pyramid levels, e.g. 2 or 1.414."
)
_PYRAMID_START = flags.DEFINE_integer(
    "pyramid_start", None, "Longest side of the coarsest level, px (default 256; 0: one level)."
)
_LEVEL_STEPS = flags.DEFINE_list(
    "level_steps", None, "Steps per pyramid level, coarse to fine (default: --steps, halving)."
)
_REMAT = flags.DEFINE_bool("remat", None, "Rematerialize backbone blocks (jax.checkpoint).")
_BF16 = flags.DEFINE_bool("bf16", None, "bfloat16 backbone activations.")
_CARRY = flags.DEFINE_bool(
    "carry_optimizer_state", None, "Carry Adam's moments (resized) from level to level."
)

_MEMORY_GIB = flags.DEFINE_float(
    "memory_gib", None, "Memory budget, GiB (default: 0.9 x what is available now)."
)

# flag name -> HighresConfig field
_FIELDS = {
    "tile_size": "tile_size",
    "tile_overlap": "tile_overlap",
    "tile_batch": "tile_batch",
    "tile_above": "tile_above",
    "style_scale": "style_scale",
    "pyramid_ratio": "pyramid_ratio",
    "pyramid_start": "pyramid_start",
    "level_steps": "level_steps",
    "remat": "remat",
    "bf16": "bf16",
    "carry_optimizer_state": "carry_optimizer_state",
    "memory_gib": "memory_budget",
}


def _present(flag_values: Any, name: str) -> bool:
    return name in flag_values and flag_values[name].present


def _value(flag_values: Any, name: str, default: Any = None) -> Any:
    return flag_values[name].value if name in flag_values else default


def wanted(flag_values: Any, config: Any) -> bool:
    """True when run.py should make this output through ``nst.highres``."""
    # --style_scale also serves ordinary runs (StylizeConfig.style_scale): it alone does not
    # ask for the pyramid.
    triggers = (f for f in _FIELDS if f != "style_scale")
    return config.size > HIGHRES_ABOVE or any(_present(flag_values, f) for f in triggers)


def highres_config(flag_values: Any, base: Any = None) -> Any:
    """A ``HighresConfig``: ``base`` (default: the defaults) with the flags given."""
    import dataclasses

    from nst.highres import HighresConfig

    fields = {}
    for flag, field in _FIELDS.items():
        value = _value(flag_values, flag)
        if value is None:
            continue
        if flag == "memory_gib":
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"--memory_gib must be a finite number > 0, got {value}")
            value = int(value * 2**30)
        elif flag == "level_steps":
            try:
                value = tuple(int(v) for v in value)
            except ValueError:
                raise ValueError(f"--level_steps must be integers, got {value}") from None
        fields[field] = value
    return dataclasses.replace(base or HighresConfig(), **fields)


def _digest(*arrays: Any) -> str:
    import numpy as np

    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, np.float32).tobytes())
    return h.hexdigest()[:16]


def _fingerprint(config: Any, hi: Any, content: Any, styles: list) -> str:
    text = repr(config) + repr(hi) + _digest(content, *styles)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _resume(folder: str, fingerprint: str, levels: int):
    """``(k, image)`` to continue at level k from the saved level k - 1, or None."""
    from nst import image as nst_image

    path = os.path.join(folder, "levels.json")
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            saved = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}); remove {folder} to start over") from None
    done = saved.get("done") if isinstance(saved, dict) else None
    if not isinstance(done, list) or not all(
        isinstance(k, int) and not isinstance(k, bool) and 0 <= k < levels for k in done
    ):
        raise ValueError(
            f'{path}: not a levels record of this run ("done" must list level numbers in '
            f"[0, {levels})); remove {folder} to start over"
        )
    if saved.get("fingerprint") != fingerprint:
        raise ValueError(
            f"{folder} holds levels of another run (different settings or images); remove it"
        )
    done = [k for k in done if k < levels - 1]
    if not done:
        return None
    k = max(done)
    return k + 1, nst_image.load(os.path.join(folder, f"level{k}.png"), max_size=None)


# What this mode writes in OUTPUT.levels/ (and nothing else: the folder is refused otherwise).
_LEVEL_FILE = re.compile(r"^(levels\.json|level\d+\.png|\.(levels\.json|level\d+\.png)\..*\.tmp)$")


def _check_levels_folder(folder: str) -> None:
    """Refuses an OUTPUT.levels that is a file or holds files this mode did not write."""
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise ValueError(f"{folder} exists and is not a levels folder; move it away")
    if os.path.isdir(folder):
        foreign = sorted(n for n in os.listdir(folder) if not _LEVEL_FILE.match(n))
        if foreign:
            raise ValueError(
                f"{folder} holds files this run did not write ({', '.join(foreign[:3])}); "
                "move them or choose another --output"
            )


def _remove_levels_folder(folder: str) -> None:
    """Deletes the files this mode wrote in ``folder``, then the folder if empty."""
    if not os.path.isdir(folder):
        return
    for name in os.listdir(folder):
        if _LEVEL_FILE.match(name):
            os.remove(os.path.join(folder, name))
    try:
        os.rmdir(folder)
    except OSError:
        pass


def highres_main(flag_values: Any, config: Any) -> Any:
    """Makes ``--output`` from run.py's ``StylizeConfig`` with ``nst.highres.stylize_large``.

    Raises ``ValueError`` (``MemoryEstimateError`` included) / ``ImageError`` with one line
    for bad input; exits with 130 when interrupted (finished levels kept for a rerun).
    """
    from experiments import _common
    from nst import files, highres, stylize
    from nst import image as nst_image

    hi = highres_config(flag_values)
    output = _value(flag_values, "output", "out.png")
    overwrite = bool(_value(flag_values, "overwrite", False))
    if os.path.isdir(output):
        raise ValueError(f"--output {output} is a directory; give a file name")
    if os.path.splitext(output)[1].lower() not in (".png", ".jpg", ".jpeg"):
        raise ValueError(f"--output must end in .png, .jpg or .jpeg, got {output}")
    if not overwrite:
        files.refuse_existing([output])
    folder = output + ".levels"
    _check_levels_folder(folder)
    content_path = _value(flag_values, "content") or nst_image.sample("tubingen")
    style_paths = _value(flag_values, "style") or [nst_image.sample("starry_night")]
    # The memory estimate from the header's size, before any image is decoded or resized.
    shape = (*nst_image.peek_shape(content_path, config.size), 3)
    net_params = stylize.create_backbone(config)
    highres.check_fits(config, hi, shape, net_params)
    shapes = highres.level_shapes(shape, hi)
    pixels = shape[0] * shape[1] * 3
    files.check_writable(  # the output and every level's image, checked now
        os.path.dirname(os.path.abspath(output)),
        pixels * (1 + len(shapes)) + (1 << 16),
    )
    content = nst_image.load(content_path, max_size=config.size)
    style_side = max(16, round(config.size * hi.style_scale))
    styles = [nst_image.load(p, max_size=style_side) for p in style_paths]
    fingerprint = _fingerprint(config, hi, content, styles)
    resume = _resume(folder, fingerprint, len(shapes))
    log_progress = bool(_value(flag_values, "progress", True))
    last = [0.0]
    total = [0]

    def on_plan(levels, budget):
        total[0] = sum(level.steps for level in levels)
        budget_text = "unknown" if budget is None else f"{budget / 2**30:.1f} GiB"
        logging.info("plan (memory budget %s):", budget_text)
        for k, level in enumerate(levels):
            h, w = level.shape
            mode = (
                f"{level.tiles} tiles of {level.tile[1]}x{level.tile[0]}"
                if level.tile
                else "untiled"
            )
            skipped = " (done, resumed)" if resume and k < resume[0] else ""
            logging.info(
                "  level %d: %dx%d, %d steps, %s, estimate %.2f GiB%s",
                k, w, h, level.steps, mode, level.estimate / 2**30, skipped,
            )  # fmt: skip

    def progress(step: int, loss: float, rate: float) -> None:
        if log_progress and time.monotonic() - last[0] > 5:
            last[0] = time.monotonic()
            logging.info("step %d/%d  loss %.4g  %.3g steps/s", step, total[0], loss, rate)

    def on_level(k: int, image: Any) -> None:
        os.makedirs(folder, exist_ok=True)
        nst_image.save(os.path.join(folder, f"level{k}.png"), image, overwrite=True)
        path = os.path.join(folder, "levels.json")
        done = []
        if os.path.exists(path):
            with open(path) as f:
                done = json.load(f).get("done", [])
        _common.write_json(path, {"fingerprint": fingerprint, "done": sorted({*done, k})})
        logging.info("level %d done: %dx%d", k, image.shape[1], image.shape[0])

    stop = _common.StopFlag()
    try:
        result = highres.stylize_large(
            config,
            hi,
            content,
            styles,
            net_params=net_params,
            should_stop=stop,
            progress=progress,
            on_plan=on_plan,
            on_level=on_level,
            resume=resume,
        )
    finally:
        stop.restore()
    if result.stopped == "interrupted":
        logging.warning("interrupted; finished levels are kept in %s", folder)
        logging.warning("run the same command again to continue")
        sys.exit(130)
    nst_image.save(output, result.image, overwrite=overwrite)
    if result.stopped:
        raise ValueError(f"{result.stopped}; kept the last finite image in {output}")
    _remove_levels_folder(folder)
    for k, (level, times) in enumerate(
        zip(result.levels[-len(result.level_times) :], result.level_times)
    ):
        logging.info(
            "level %d %dx%d: %d steps, %.3g s/step (+%.1f s compile)",
            k, level.shape[1], level.shape[0], times["steps"], times["seconds_per_step"],
            times["compile_seconds"],
        )  # fmt: skip
    logging.info("wrote %s (%dx%d)", output, result.image.shape[1], result.image.shape[0])
    return result
