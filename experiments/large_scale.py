"""Large outputs compared: whole image, two patches stitched, blended tiles, pyramid + tiles.

    python run.py --experiment=large_scale --quick --weights=random
    python run.py --experiment=large_scale --content=photo_2048.jpg --size=1024

Seed 003's comparison, on a photo of 1024 px (default: the bundled tubingen photo, upscaled;
``--content`` takes a real one; ``--quick``: 128 px, 64 px tiles, 20 steps). Four ways to
make the same output (VGG19, content conv4_2, style conv1_1..conv5_1, Adam):

* whole image: one untiled optimization (the reference);
* two patches, naive stitch: left and right halves overlapping by ``patch_overlap`` px,
  each stylized on its own (its own style targets), pasted with a hard seam in the middle
  of the overlap (seed 003);
* blended tiles: ``nst.highres.optimize_tiled``, 512 px tiles (``--tile_size``) overlapping
  by 64 (``--tile_overlap``), global style Grams, feathered partition-of-unity blending,
  grid shifted every step; the same steps as the whole image;
* pyramid + tiles: ``nst.highres.stylize_large`` from 256 px (``--pyramid_start``) up,
  ratio 2, half the steps at each finer level, levels above the tile size tiled.

Metrics (``metrics.json``): seam visibility, the mean gradient magnitude of the output's
luminance across a set of border lines divided by its mean away from them (1: nothing
special there), at the naive stitch's seam and at the tile borders of the unshifted grid;
the RMSE from the whole-image result (and between 8x8 block means: colour and tone drift
without texture detail); the bf16-vs-f32 loss difference at the working size;
steps and wall time. The seed states no claim; the property checked (``claims``): the
blended tiles' seam visibility at their grid is below the naive stitch's at its seam.
``figure.png`` shows the outputs and close-ups of the stitch seam; the
rest of the workdir as every study: ``manifest.json``, ``images/``, ``results/``,
``metrics.csv``, ``loss_vs_step.png``, ``loss_vs_time.png``.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
from absl import logging

from experiments import _common
from experiments._common import Outcome, Report, Setting
from nst import highres, stylize
from nst import image as nst_image

NAME = "large_scale"


@dataclasses.dataclass(frozen=True)
class Config(_common.Config):
    """The base stylization, the tiling and pyramid options, the naive patches' overlap."""

    # Tiles of 512 px overlapping by 64; pyramid from 256 px, side ratio 2.
    highres: highres.HighresConfig = dataclasses.field(
        default_factory=lambda: highres.HighresConfig(tile_size=512, tile_overlap=64)
    )
    patch_overlap: int = 64  # px shared by the two naive patches
    closeup: int = 96  # side (px) of the seam close-ups in the figure


SETTINGS = (
    ("whole image", {"method": "whole"}),
    ("two patches, naive stitch", {"method": "patches"}),
    ("blended tiles", {"method": "tiles"}),
    ("pyramid + tiles", {"method": "pyramid"}),
)


def get_config(quick: bool = False) -> Config:
    """``GATYS`` at Adam 2e-2, 200 steps, 1024 px; --quick: 64 px tiles, 20 steps."""
    config = _common.gatys(
        "quick" if quick else "full",
        {"quick": dict(size=128, steps=20)},
        cls=Config,
        lr=2e-2,
        steps=200,
        size=1024,
    )
    if quick:
        hi = dataclasses.replace(
            config.highres, tile_size=64, tile_overlap=16, pyramid_start=64, min_steps=5
        )
        config = dataclasses.replace(config, highres=hi, patch_overlap=16, closeup=48)
    return config


def settings(config: Config) -> tuple[Setting, ...]:
    del config
    return tuple(Setting(label, overrides) for label, overrides in SETTINGS)


# -------------------------------------------------------------------------------- metrics


def _luminance(image: np.ndarray) -> np.ndarray:
    return image @ np.asarray([0.299, 0.587, 0.114], np.float32)


def seam_visibility(image: np.ndarray, columns=(), rows=(), margin: int = 2) -> float:
    """Mean |gradient| of the luminance across border lines / its mean elsewhere.

    ``columns``: x of vertical borders (between pixels x-1 and x); ``rows``: y of horizontal
    ones. "Elsewhere" excludes ``margin`` px around every border. 1.0: the borders look
    like the rest of the image; a visible seam is well above 1.
    """
    y = _luminance(np.asarray(image, np.float32))
    dx = np.abs(np.diff(y, axis=1))  # dx[:, x - 1]: across the line between x - 1 and x
    dy = np.abs(np.diff(y, axis=0))
    cols = [c for c in columns if 0 < c < y.shape[1]]
    rws = [r for r in rows if 0 < r < y.shape[0]]
    on = [dx[:, c - 1] for c in cols] + [dy[r - 1, :] for r in rws]
    if not on:
        return float("nan")
    keep_x = np.ones(dx.shape[1], bool)
    for c in cols:
        keep_x[max(0, c - 1 - margin) : c + margin] = False
    keep_y = np.ones(dy.shape[0], bool)
    for r in rws:
        keep_y[max(0, r - 1 - margin) : r + margin] = False
    off = np.concatenate([dx[:, keep_x].ravel(), dy[keep_y, :].ravel()])
    return float(np.mean(np.concatenate(on)) / max(np.mean(off), 1e-12))


def _stitch_column(width: int) -> int:
    return width // 2


def _grid_lines(length: int, tile: int, overlap: int) -> list[int]:
    """Inner tile borders (starts and ends) of the unshifted grid along one axis."""
    if length <= tile:
        return []
    origins, _, t = highres.axis_tiles(length, tile, overlap, 0)
    lines = {int(o) for o in origins} | {int(o) + t for o in origins}
    return sorted(x for x in lines if 0 < x < length)


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def _low_pass(image: np.ndarray, factor: int = 8) -> np.ndarray:
    """Mean over ``factor`` x ``factor`` blocks: colour and tone without the texture."""
    h, w = (s // factor * factor for s in image.shape[:2])
    blocks = np.asarray(image)[:h, :w].reshape(h // factor, factor, w // factor, factor, -1)
    return blocks.mean(axis=(1, 3))


# ------------------------------------------------------------------------------------ run


def _whole(config: Config, content, styles, net_params, **kw):
    result = stylize.stylize(config.stylize, content, styles, net_params=net_params, **kw)
    return result.image, result.history, result.stopped, result.compile_seconds, {}


def _patches(config: Config, content, styles, net_params, **kw):
    """Seed 003: two overlapping halves stylized apart, pasted with a hard seam."""
    w = content.shape[1]
    seam = _stitch_column(w)
    half = config.patch_overlap // 2
    left = stylize.stylize(
        config.stylize, content[:, : seam + half], styles, net_params=net_params, **kw
    )
    if left.stopped:
        return left.image, left.history, left.stopped, left.compile_seconds, {}
    right = stylize.stylize(
        config.stylize, content[:, seam - half :], styles, net_params=net_params, **kw
    )
    image = np.concatenate([left.image[:, :seam], right.image[:, half:]], axis=1)
    # History: the left patch's steps, then the right one's (time continues).
    history = {
        k: np.concatenate([left.history[k], right.history[k]])
        for k in left.history
        if k != "time" and k in right.history
    }
    history["time"] = np.concatenate(
        [left.history["time"], left.history["time"][-1] + right.history["time"]]
    )
    seconds = left.compile_seconds + right.compile_seconds
    return image, history, right.stopped, seconds, {"patch_width": seam + half}


def _tiles(config: Config, content, styles, net_params, **kw):
    result = highres.optimize_tiled(
        config.stylize, content, styles, hi=config.highres, net_params=net_params, **kw
    )
    extra = {"tile": list(result.tile), "tiles_per_step": float(np.mean(result.history["tiles"]))}
    return result.image, result.history, result.stopped, result.compile_seconds, extra


def _pyramid(config: Config, content, styles, net_params, **kw):
    hi = dataclasses.replace(config.highres, tile_above=config.highres.tile_size)
    result = highres.stylize_large(config.stylize, hi, content, styles, net_params=net_params, **kw)
    extra = {
        "levels": [
            {"shape": list(lv.shape), "steps": lv.steps, "tile": lv.tile, **times}
            for lv, times in zip(result.levels, result.level_times)
        ]
    }
    return result.image, result.history, result.stopped, result.compile_seconds, extra


_METHODS = {"whole": _whole, "patches": _patches, "tiles": _tiles, "pyramid": _pyramid}


def _identity(config: Config, paths: list[str]) -> dict[str, Any]:
    return _common.json_safe(
        {
            "experiment": NAME,
            "config": config,
            "settings": [
                {"label": s.label, "overrides": dict(s.overrides)} for s in settings(config)
            ],
            "inputs": {p: _common.file_sha256(p) for p in sorted(set(paths))},
        }
    )


def _record(label, config, image_shape, history, stopped, compile_seconds, extra) -> dict:
    history = {k: np.asarray(v, np.float64) for k, v in history.items()}
    seconds = float(history["time"][-1]) if len(history.get("time", ())) else 0.0
    steps = len(history.get("total", ()))
    final = {k: float(v[-1]) for k, v in history.items() if k not in ("time", "level") and len(v)}
    return _common.json_safe(
        {
            "label": label,
            "steps": steps,
            "wall_seconds": seconds,
            "steps_per_second": steps / seconds if seconds > 0 else None,
            "compile_seconds": float(compile_seconds),
            "stopped": stopped,
            "final": final,
            "shape": list(image_shape),
            "config": config,
            "history": {k: [float(x) for x in v] for k, v in history.items()},
            **extra,
        }
    )


def validate(config: Config) -> None:
    """ValueError naming the bad field, before any work."""
    _common.validate(config.stylize)
    if config.patch_overlap < 0 or config.closeup < 8:
        raise ValueError("--config.patch_overlap must be >= 0 and --config.closeup >= 8")


def run(config: Config, workdir: str, session: _common.Session | None = None) -> Report:
    """Runs (or resumes) every setting in ``workdir`` and writes the outputs."""
    session = session or _common.Session()
    validate(config)
    base = config.stylize
    table = settings(config)
    content_path = nst_image.sample_or_path(config.content or config.styles[0])
    style_paths = [nst_image.sample_or_path(s) for s in config.styles]
    state: dict[str, Any] = {}

    def prepare() -> None:
        state["net_params"] = stylize.create_backbone(base)  # a clear error offline

    def work(todo: list[str], save: _common.runner.Save, session: _common.Session) -> bool:
        state["content"] = content = nst_image.load(content_path, max_size=base.size)
        state["styles"] = styles = [nst_image.load(p, max_size=base.size) for p in style_paths]
        for row in table:
            if row.label not in todo:
                continue
            logging.info("%s: %s (%dx%d)", NAME, row.label, content.shape[1], content.shape[0])
            t = time.perf_counter()
            image, history, stopped, compile_seconds, extra = _METHODS[row.overrides["method"]](
                config, content, styles, state["net_params"], should_stop=session.should_stop
            )
            if stopped == "interrupted":
                logging.warning("%s: interrupted in %s", NAME, row.label)
                return True
            extra["process_seconds"] = time.perf_counter() - t
            record = _record(row.label, base, image.shape, history, stopped, compile_seconds, extra)
            save(row.label, image, record)
            logging.info(
                "%s: %s: %d steps in %.1f s (+%.1f s compile)%s",
                NAME, row.label, record["steps"], record["wall_seconds"], compile_seconds,
                f" [{stopped}]" if stopped else "",
            )  # fmt: skip
            if session.should_stop():
                return row.label != todo[-1]
        return False

    def summary(ordered: list[Outcome]) -> _common.Summary:
        content, styles = state["content"], state["styles"]
        metrics = _metrics(config, content, styles, ordered, state["net_params"])
        for row in metrics["seams"][1:]:  # the outputs (row 0 is the content photo)
            logging.info(
                "  %-28s seam (stitch) %.3g  seam (tile grid) %.3g  RMSE vs whole %.4f "
                "(8x8 low-pass %.4f)",
                row["label"], row["seam_stitch"], row["seam_tile_grid"], row["rmse_vs_whole"],
                row["rmse_vs_whole_low_pass"],
            )  # fmt: skip
        runs = _common.convergence([o.record for o in ordered])
        return _common.Summary(
            title=_title(config, session.note),
            layout=_figure(config, content, styles, ordered, metrics),
            cell=int(np.clip(base.size, 128, 256)),
            claims=[{"convergence": runs, **c} for c in claims(metrics)],
            metrics=metrics,
        )

    study = _common.Study(
        name=NAME,
        identity=_identity(config, [content_path, *style_paths]),
        config=config,
        labels=[s.label for s in table],
        work=work,
        summary=summary,
        weights=_common.weights_info([(base, {})]),
        prepare=prepare,
    )
    return _common.run(study, workdir, session)


def claims(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The seed states no claim; the property that must hold: blended tiles leave a lower
    seam than butted ones (the naive stitch), each measured at its own borders."""
    seams = {s["label"]: s for s in metrics["seams"]}
    stitched = seams["two patches, naive stitch"]["seam_stitch"]
    blended = seams["blended tiles"]["seam_tile_grid"]
    return [
        _common.claim(
            "(no seed claim; a property) blended tiles have a lower seam error than butted tiles",
            "seam visibility (mean |luminance gradient| across the borders / elsewhere; 1: "
            "no seam) of the blended tiles at their tile grid and of the naive stitch at its "
            "seam; held when the blended one is lower; margin = the difference",
            {"blended tiles (tile grid)": blended, "naive stitch (its seam)": stitched},
            bool(blended < stitched),
            stitched - blended,
        )
    ]


def _metrics(config: Config, content, styles, outcomes: list[Outcome], net_params) -> dict:
    h, w = content.shape[:2]
    hi = config.highres
    stitch = [_stitch_column(w)]
    cols = _grid_lines(w, hi.tile_size, hi.tile_overlap)
    rows = _grid_lines(h, hi.tile_size, hi.tile_overlap)
    whole = outcomes[0].image
    seams = []
    for label, image in [("content photo", content)] + [(o.label, o.image) for o in outcomes]:
        seams.append(
            {
                "label": label,
                "seam_stitch": seam_visibility(image, columns=stitch),
                "seam_tile_grid": seam_visibility(image, columns=cols, rows=rows),
                "rmse_vs_whole": _rmse(image, whole) if label != "content photo" else None,
                # 8x8 block means: drift of colour and tone, not texture detail
                "rmse_vs_whole_low_pass": (
                    _rmse(_low_pass(image), _low_pass(whole)) if label != "content photo" else None
                ),
            }
        )
    for o, s in zip(outcomes, seams[1:]):
        o.record.update({k: v for k, v in s.items() if k != "label"})
    bf16 = highres.bf16_loss_difference(
        config.stylize, content, styles, whole, net_params=net_params
    )
    return {
        "seams": seams,
        "stitch_column": stitch[0],
        "tile_grid": {"columns": cols, "rows": rows},
        "bf16_vs_f32_relative_loss_difference": bf16,
        "shape": [h, w],
    }


def _closeup(image: np.ndarray, x: int, side: int) -> np.ndarray:
    h, w = image.shape[:2]
    side = min(side, h, w)
    y0 = (h - side) // 2
    x0 = int(np.clip(x - side // 2, 0, w - side))
    return image[y0 : y0 + side, x0 : x0 + side]


def _figure(config: Config, content, styles, outcomes, metrics) -> dict[str, Any]:
    x = metrics["stitch_column"]
    seams = {s["label"]: s for s in metrics["seams"]}
    top = [content, styles[0], *[o.image for o in outcomes]]
    top_titles = ["content", "style"]
    for i, o in enumerate(outcomes):
        s = seams[o.label]
        text = f"{o.label}\nseam {s['seam_stitch']:.2f} / {s['seam_tile_grid']:.2f}"
        top_titles.append(text + ("" if i == 0 else f", RMSE {s['rmse_vs_whole']:.3f}"))
    bottom = [_closeup(content, x, config.closeup), None] + [
        _closeup(o.image, x, config.closeup) for o in outcomes
    ]
    bottom_titles = ["close-up at the stitch", None] + [None] * len(outcomes)
    caption = (
        "seam = mean |gradient| of the luminance across the naive stitch's column / "
        "across the unshifted tile grid's borders, divided by its mean elsewhere (1: no "
        f"seam; the content photo: {seams['content photo']['seam_stitch']:.2f} / "
        f"{seams['content photo']['seam_tile_grid']:.2f}). RMSE against the whole-image "
        "result. Bottom: close-ups centred on the stitch column."
    )
    return {"images": [top, bottom], "titles": [top_titles, bottom_titles], "caption": caption}


def _title(config: Config, quick_note: str) -> str:
    cfg, hi = config.stylize, config.highres
    tiles = f"tiles {hi.tile_size}/{hi.tile_overlap}"
    objective = _common.runner.objective_note([cfg])
    return _common.study_title(NAME, cfg, quick_note, f"{cfg.steps} steps", tiles, *objective)
