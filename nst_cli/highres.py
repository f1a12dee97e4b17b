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
import os
import re
import sys
from typing import Any

from nst import style_stats
from nst.config import StylizeConfig
from nst_cli import flags, inputs, outputs, progress
from nst_cli.flags import FLAGS, UsageError
from nst_cli.signals import StopFlag

HIGHRES_ABOVE = 1024  # --size above this goes through nst.highres by default

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


def wanted(flag_values: Any = FLAGS) -> bool:
    """True when run.py should make this output through ``nst.highres``: ``--size`` above
    ``HIGHRES_ABOVE`` or any flag of this mode given."""
    # --style_scale also serves ordinary runs (StylizeConfig.style_scale): it alone does not
    # ask for the pyramid.
    triggers = (f for f in _FIELDS if f != "style_scale")
    size = flags.value("size", StylizeConfig().size, flag_values)
    return size > HIGHRES_ABOVE or any(flags.present(f, flag_values) for f in triggers)


def highres_config(flag_values: Any, base: Any = None) -> Any:
    """A ``HighresConfig``: ``base`` (default: the defaults) with the flags given."""
    import dataclasses

    from nst.highres import HighresConfig, gib_to_bytes

    fields = {}
    for flag, field in _FIELDS.items():
        value = flags.value(flag, None, flag_values)
        if value is None:
            continue
        if flag == "memory_gib":
            try:
                value = gib_to_bytes(value)
            except ValueError as e:
                raise UsageError(f"--memory_gib {e}") from None
        elif flag == "level_steps":
            value = flags.numbers("level_steps", int, flag_values)
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


def _write_json(path: str, data: Any) -> None:
    from nst import files

    files.write_atomic(path, (json.dumps(data, indent=2) + "\n").encode(), overwrite=True)


def _check(flag_values: Any, config: Any) -> None:
    """What large outputs cannot do (one line, exit 2)."""
    masked = any(mask for _, mask, _ in inputs.style_specs(flag_values))
    if masked or not style_stats.get(config.style_stat).highres or config.ema_decay:
        raise UsageError(
            "style masks, --style_stat and --ema_decay are not available for large "
            "outputs (nst.highres); use --size <= 1024"
        )


def _inputs(flag_values: Any, config: Any, hi: Any, net_params: Any, output: str):
    """``(content, styles, levels)``: the plan checked against the memory budget and the
    disk checked for the output and every level's image, from the content's header, before
    any image is decoded or resized; then the images."""
    from nst import files, highres
    from nst import image as nst_image

    content_path = inputs.content_path(flag_values)
    style_paths = [path for path, _, _ in inputs.style_specs(flag_values)]
    shape = (*nst_image.peek_shape(content_path, config.size), 3)
    highres.check_fits(config, hi, shape, net_params)
    levels = len(highres.level_shapes(shape, hi))
    pixels = shape[0] * shape[1] * 3
    files.check_writable(
        os.path.dirname(os.path.abspath(output)), pixels * (1 + levels) + (1 << 16)
    )
    content = nst_image.load(content_path, max_size=config.size)
    style_side = max(16, round(config.size * hi.style_scale))
    styles = [nst_image.load(p, max_size=style_side) for p in style_paths]
    return content, styles, levels


class _Display:
    """One run's plan (said before any work), progress bar, and finished levels saved in
    ``folder`` with the run's fingerprint."""

    def __init__(self, config: Any, folder: str, fingerprint: str, resume, enabled: bool):
        self.config, self.folder, self.fingerprint = config, folder, fingerprint
        self.resume, self.enabled = resume, enabled
        self.bar: progress.Progress | None = None

    def on_plan(self, levels: list, budget: int | None) -> None:
        budget_text = "unknown" if budget is None else f"{budget / 2**30:.1f} GiB"
        progress.say(
            f"{self.config.optimizer}, {self.config.steps} steps at the coarsest level; plan "
            f"(memory budget {budget_text}):"
        )
        resume = self.resume
        for k, level in enumerate(levels):
            h, w = level.shape
            mode = (
                f"{level.tiles} tiles of {level.tile[1]}x{level.tile[0]}"
                if level.tile
                else "untiled"
            )
            skipped = " (done, resumed)" if resume and k < resume[0] else ""
            progress.say(
                f"  level {k}: {w}x{h}, {level.steps} steps, {mode}, "
                f"estimate {level.estimate / 2**30:.2f} GiB{skipped}"
            )
        done = sum(level.steps for level in levels[: resume[0]]) if resume else 0
        total = sum(level.steps for level in levels)
        self.bar = progress.Progress(total, start=done, enabled=self.enabled)

    def on_level(self, k: int, image: Any) -> None:
        from nst import image as nst_image

        os.makedirs(self.folder, exist_ok=True)
        nst_image.save(os.path.join(self.folder, f"level{k}.png"), image, overwrite=True)
        path = os.path.join(self.folder, "levels.json")
        done = []
        if os.path.exists(path):
            with open(path) as f:
                done = json.load(f).get("done", [])
        _write_json(path, {"fingerprint": self.fingerprint, "done": sorted({*done, k})})
        self.bar.note(f"level {k} done: {image.shape[1]}x{image.shape[0]}")

    def progress(self, step: int, loss: float, rate: float) -> None:
        self.bar.update(step, rate=rate, loss=loss)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _finish(result: Any, output: str, overwrite: bool, folder: str) -> None:
    """Writes the output (the last finite image after a divergence: then a UsageError),
    removes the levels folder, says each level's timings; exits 130 when interrupted."""
    from nst import image as nst_image

    if result.stopped == "interrupted":
        progress.warn(f"interrupted; finished levels are kept in {folder}")
        progress.warn("run the same command again to continue")
        sys.exit(130)
    nst_image.save(output, result.image, overwrite=overwrite)
    if result.stopped:
        raise UsageError(
            f"{progress.diverged(result.stopped)}; kept the last finite image in {output}"
        )
    _remove_levels_folder(folder)
    for k, (level, times) in enumerate(
        zip(result.levels[-len(result.level_times) :], result.level_times)
    ):
        progress.say(
            f"level {k} {level.shape[1]}x{level.shape[0]}: {times['steps']} steps, "
            f"{times['seconds_per_step']:.3g} s/step (+{times['compile_seconds']:.1f} s compile)"
        )
    progress.say(f"wrote {output} ({result.image.shape[1]}x{result.image.shape[0]})")


def main(flag_values: Any = FLAGS, config: Any = None) -> Any:
    """Makes ``--output`` with ``nst.highres.stylize_large`` (``config``: the flags' by default).

    Raises ``ValueError`` (``MemoryEstimateError`` included) / ``ImageError`` with one line
    for bad input; exits with 130 when interrupted (finished levels kept for a rerun).
    """
    from nst import highres, stylize

    config = config or flags.config_from_flags("highres", flag_values=flag_values)
    _check(flag_values, config)
    hi = highres_config(flag_values)
    output = flags.value("output", "out.png", flag_values)
    overwrite = bool(flags.value("overwrite", False, flag_values))
    outputs.check_image_output(output, overwrite=overwrite)
    folder = output + ".levels"
    _check_levels_folder(folder)
    net_params = stylize.create_backbone(config)
    content, styles, levels = _inputs(flag_values, config, hi, net_params, output)
    fingerprint = _fingerprint(config, hi, content, styles)
    resume = _resume(folder, fingerprint, levels)
    enabled = bool(flags.value("progress", True, flag_values))
    display = _Display(config, folder, fingerprint, resume, enabled)
    with StopFlag() as stop:
        result = highres.stylize_large(
            config,
            hi,
            content,
            styles,
            net_params=net_params,
            should_stop=stop,
            progress=display.progress,
            on_plan=display.on_plan,
            on_level=display.on_level,
            resume=resume,
        )
    display.close()
    _finish(result, output, overwrite, folder)
    return result
