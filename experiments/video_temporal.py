"""Video consistency compared: independent frames, the seeds' temporal loss, flow, long-term.

    python run.py --experiment=video_temporal --quick --weights=random

A short clip (default: a camera panning over the content photo while a patch of another
photo crosses the frame, so background is hidden and uncovered again; ``--video`` takes a
real clip) is stylized four ways, every frame an optimization of Ruder et al.'s objective
(their code, artistic-videos, builds on jcjohnson's neural-style: VGG19, content conv4_2 at
weight 5 and style conv1_1..conv5_1 each at weight 100 on their mean losses,
``content_norm="mean"``, ``style_norm="mean"``; L-BFGS, their default, until the loss
stops falling; the first frame gets 3x the iterations):

* independent frames: no temporal term, every frame started from the content frame;
* temporal loss without flow (the seeds): ``temporal_loss`` against the previous output as
  it is, every pixel weighted 1, every frame started from the content frame;
* warped start, no temporal term: started from the previous output warped by DIS optical
  flow, temporal weight 0 (what the start alone does);
* flow + mask (Ruder et al. 2016): the previous output warped by DIS optical flow, occluded
  pixels and motion boundaries masked, started from the warped previous output;
* flow + mask + long-term: the same against frames t-1, t-2, t-4 (nearest reliable first).

The temporal weight is Ruder et al.'s balance against the content loss
(``nst.video.temporal.ruder_temporal_weight``: their 1e3 itself on the Caffe VGG19, the
temporal term being on the 0-255 image as theirs, ``nst.losses``, Units) unless
``--temporal_weight``. There it takes ~4% of the gradient (``tests/units_test.py``); with
the Gatys sums at beta 1e5 the same balance against the content term is ~1e-6 of it, and
the temporal term changed no pixel. Consistency is
the warping error of Lai et al. (2018) on flows of the input frames (``nst.video.metrics``),
shown per frame next to the input clip's own. Outputs in the workdir: ``figure.png`` (a few
frames per setting, and the last one's difference to the warped previous output),
``warping_error.png``, ``metrics.json``/``.csv``, ``manifest.json``, ``results/<slug>.json``,
the frames (``frames/<slug>/``, resumable frame by frame) and ``videos/<slug>.mp4``.
Frame 0 is the same computation in every setting (no earlier frame): it is optimized once
and shared.

Claims (``claims``; ``PAIRS``): each variant against the setting that differs from it in
that variant only (the seeds' term against independent frames, Ruder et al.'s term against
the same warped start without it, long-term against short-term) lowers its error by at
least 10%: the mean warping error for the first two; for long-term terms the reappearance
error (``nst.video.metrics.reappearance_errors``), on the pixels an occluder has just
uncovered, which the warping error leaves out by construction. The pan's sprite is 1/8 of
the frame wide and hides each pixel it passes for at most 2 frames, so what it uncovers was
shown 3 frames before or nearer: within reach of Ruder et al.'s offsets 1, 2, 4 (a sprite
hiding a pixel for 5 or more frames, as before 2026-12-07, is out of their reach).

Tiers: full (256 px, 24 frames, at most 1000 iterations per frame,
stop at a fall < 1e-4 over 100); ``--tier=middle``: 128 px, 12 frames, at most 100, stop at
a fall < 1e-3 over 10; ``--quick``: 96 px, 8 frames, at most 20. (With 50 Adam steps per
frame, the middle tier before, every variant stayed near its start and the terms changed
the warping error by ~1%: a short run cannot show what a term does at the optimum.)
"""

from __future__ import annotations

import dataclasses
import io as _io
import os
import textwrap
from collections.abc import Mapping
from typing import Any

import numpy as np
from absl import logging

from experiments import _common
from experiments._common import Outcome, Report, Setting
from nst import image as nst_image
from nst import stylize

NAME = "video_temporal"


@dataclasses.dataclass(frozen=True)
class Config(_common.Config):
    """The base stylization, the clip, and how the clip is made or read."""

    # A clip (file or frame folder); None: a pan over ``content`` (a known camera motion).
    video: str | None = None
    frames: int = 24  # frames of the clip
    velocity: tuple[float, float] = (2.0, 1.0)  # pan: (dx, dy) px per frame at the working size
    # Pan: a patch of this picture crosses the frame from left to right, uncovering
    # background that earlier frames saw (long-term consistency). None: none. (A textured
    # patch: DIS loses small smooth objects, e.g. chelsea's fur at 96 px.)
    sprite: str | None = "the_scream"
    sprite_width: float = 0.125  # the patch's longer side over the frame's width
    # Frames the patch hides each background pixel it passes (its speed: its width over
    # this): a pixel it uncovers at t was last seen at t - sprite_hidden - 1, so long-term
    # offsets up to 4 (Ruder et al.'s 1, 2, 4 at this clip's scale) reach it.
    sprite_hidden: float = 2.0
    fps: float = 12.0  # pan: frame rate of the videos written
    first_frame_steps: int | None = None  # None: 3 * stylize.steps
    temporal_weight: float | None = None  # None: ruder_temporal_weight
    figure_frames: int = 4  # frames shown per setting in figure.png


# (label, overrides of nst.video.temporal.VideoConfig fields and "temporal_weight").
SETTINGS = (
    ("independent frames", {"temporal_weight": 0.0, "flow": "none", "init": "init"}),
    ("temporal loss, no flow (seeds)", {"flow": "none", "init": "init"}),
    ("warped start, no temporal term", {"temporal_weight": 0.0, "flow": "dis"}),
    ("flow + mask (Ruder et al.)", {"flow": "dis"}),
    ("flow + mask + long-term 1,2,4", {"flow": "dis", "long_term": (1, 2, 4)}),
)

# A variant "lowers the warping error" when it does by at least this share: a clear
# factor, not a percent of noise.
CLEAR = 0.1

# (claim, the setting with the term, the setting without it, the measure): each pair
# differs in one thing, under the same flow and the same start. The long-term pair is
# scored where long-term terms act: the pixels an occluder has just uncovered, which the
# consecutive-frame warping error leaves out (``nst.video.metrics.reappearance_errors``).
PAIRS = (
    (
        "the seeds' temporal loss (no flow) lowers the warping error against independent "
        "frames (both started from the content frame)",
        "temporal loss, no flow (seeds)",
        "independent frames",
        "warping_error",
    ),
    (
        "Ruder et al.'s temporal term (flow + mask) lowers the warping error against the "
        "same warped start without the term",
        "flow + mask (Ruder et al.)",
        "warped start, no temporal term",
        "warping_error",
    ),
    (
        "long-term terms (frames t-1, t-2, t-4) keep what an occluder uncovers as earlier "
        "frames showed it, against the short-term term",
        "flow + mask + long-term 1,2,4",
        "flow + mask (Ruder et al.)",
        "reappearance_error",
    ),
)

MEASURES = {
    "warping_error": "mean warping error (Lai et al. 2018) over the clip's frame pairs",
    "reappearance_error": (
        "reappearance error: mean squared RGB difference, over every pixel an occluder has "
        "just uncovered, to the nearest of frames t-2..t-4 that showed it, moved by the "
        "clip's true motion (nst.video.metrics.reappearance_errors; the warping error "
        "leaves these pixels out)"
    ),
}


def claims(outcomes: Mapping[str, Outcome], config: Config) -> list[dict[str, Any]]:
    """Each variant against the setting without it (``PAIRS``): its measure (the mean
    warping error, or the reappearance error for long-term terms; the warping error for a
    real clip, whose true motion is unknown) falls by at least ``CLEAR`` of the other's;
    margin = the relative fall minus CLEAR. Each verdict's ``convergence``: how many frames
    of its two settings ended by the stopping rule (frame 0 included)."""
    base = config.stylize
    if base.stop_tol:
        how = (
            f"every frame runs {base.optimizer} until its loss falls by less than "
            f"{base.stop_tol:g} over {base.stop_window} iterations (at most {base.steps})"
        )
    else:
        how = f"every frame runs {base.steps} {base.optimizer} steps (no stopping rule)"
    out = []
    for text, on, off, key in PAIRS:
        measure = MEASURES[key]
        if key not in outcomes[on].record:  # a real clip: no true motion, no occluder known
            key = "warping_error"
            measure = f"{MEASURES[key]} (a real clip: the reappearance error needs its true motion)"
        e_on = outcomes[on].record[key]["mean"]
        e_off = outcomes[off].record[key]["mean"]
        fall = (e_off - e_on) / e_off if e_off else 0.0
        out.append(
            _common.claim(
                text,
                f"{measure}; held when the variant's is lower by at least {CLEAR:.0%}; "
                f"margin = its relative fall minus {CLEAR:g}; {how}",
                {on: e_on, off: e_off},
                fall >= CLEAR,
                fall - CLEAR,
                unit="relative",
            )
        )
        frames = [c for label in (on, off) for c in outcomes[label].record.get("converged", [])]
        rule = f"{base.optimizer}: the loss fell < {base.stop_tol:g} over {base.stop_window}"
        out[-1]["convergence"] = {
            "converged": sum(1 for c in frames if c),
            "settings": len(frames),
            "of": "frames",
            "rule": rule if base.stop_tol else "no stopping rule: fixed steps",
        }
    return out


def get_config(quick: bool = False, tier: str | None = None) -> Config:
    """Ruder et al.'s objective and optimizer per frame: L-BFGS, at most 1000 iterations
    after the first frame (which gets 3x), stopping at a fall < 1e-4 over 100, 256 px,
    24 frames (middle: 128 px, at most 100 iterations, stop at a fall < 1e-3 over 10,
    12 frames; quick: 96 px, at most 20, 8 frames)."""
    tier = _common.tier_of(quick, tier)
    shrunk = dict(stop_tol=1e-3, stop_window=10)
    config = _common.gatys(
        tier,
        {
            "quick": dict(size=96, steps=20, **shrunk),
            "middle": dict(size=128, steps=100, **shrunk),
        },
        cls=Config,
        content_norm="mean",  # Ruder et al.'s losses (neural-style's): means
        style_norm="mean",
        content_weight=5.0,
        style_weight=100.0,
        style_layers=tuple((f"conv{b}_1", 1.0) for b in range(1, 6)),  # each at 100
        optimizer="lbfgs",  # Ruder et al.'s (artistic-videos' default): lbfgs_host on CPU
        steps=1000,  # per frame after the first: a cap, the stopping rule ends a frame
        stop_tol=1e-4,
        stop_window=100,
        size=256,
    )
    frames = {"quick": 8, "middle": 12}.get(tier, config.frames)
    return dataclasses.replace(config, frames=frames)


def settings(config: Config) -> tuple[Setting, ...]:
    del config
    return tuple(Setting(label, overrides) for label, overrides in SETTINGS)


# ------------------------------------------------------------------------------------ clip


def make_clip(config: Config) -> Any:
    """The clip at the working size: ``--video`` read, or the pan over the content photo."""
    from nst.video import io, synthetic

    size = config.stylize.size
    if config.video:
        return io.load_clip(config.video, size=size, max_frames=config.frames)
    if config.content is None:
        raise ValueError("video_temporal needs --content (the photo to pan over) or --video")
    photo = nst_image.load(nst_image.sample_or_path(config.content), max_size=2 * size)
    height = max(16, round(size * photo.shape[0] / photo.shape[1]))
    window = (min(height, photo.shape[0] - 1), size)
    dx, dy = config.velocity
    span_x = abs(dx) * (config.frames - 1)
    span_y = abs(dy) * (config.frames - 1)
    if window[1] + span_x >= photo.shape[1] or window[0] + span_y >= photo.shape[0]:
        raise ValueError(f"the pan of {config.frames} frames leaves the photo; use fewer frames")
    origin = (
        (photo.shape[1] - window[1] - span_x) / 2 + (span_x if dx < 0 else 0),
        (photo.shape[0] - window[0] - span_y) / 2 + (span_y if dy < 0 else 0),
    )
    sprite = _sprite(config, window)
    frames = synthetic.pan(
        photo,
        frames=config.frames,
        size=window,
        velocity=config.velocity,
        origin=origin,
        sprite=sprite,
    )
    indices = tuple(range(config.frames))
    return io.Clip(frames, config.fps, f"pan over {config.content}", config.fps, window, indices)


def _sprite(config: Config, window: tuple[int, int]) -> Any:
    """``synthetic.pan``'s sprite for a ``window`` (H, W) frame, or None."""
    if not config.sprite:
        return None
    side = max(4, round(window[1] * config.sprite_width))
    patch = nst_image.load(nst_image.sample_or_path(config.sprite), max_size=side)
    speed = patch.shape[1] / config.sprite_hidden
    return (patch, (0, (window[0] - patch.shape[0]) // 2), (speed, 0))


def truth(config: Config, clip: Any) -> tuple[tuple[float, float], np.ndarray] | None:
    """The pan's true motion: ``(velocity, occluded [T, H, W])``, or None (a real clip,
    or no sprite: nothing reappears)."""
    from nst.video import synthetic

    sprite = None if config.video else _sprite(config, clip.shape[:2])
    if sprite is None:
        return None
    return config.velocity, synthetic.sprite_masks(len(clip), clip.shape[:2], sprite)


# ------------------------------------------------------------------------------------- run


def _video_config(config: Config, overrides: Mapping[str, Any]):
    from nst.video import temporal

    fields = {k: v for k, v in overrides.items() if k != "temporal_weight"}
    first = config.first_frame_steps or 3 * config.stylize.steps
    return temporal.VideoConfig(first_frame_steps=first, **fields)


def _identity(config: Config, clip) -> dict[str, Any]:
    from nst.video._store import digest

    return _common.json_safe(
        {
            "experiment": NAME,
            "config": config,
            "settings": [
                {"label": s.label, "overrides": dict(s.overrides)} for s in settings(config)
            ],
            "clip": digest([clip.frames]),
        }
    )


def validate(config: Config) -> None:
    """ValueError naming the bad field, before any work."""
    _common.validate(config.stylize)
    if config.frames < 2:
        raise ValueError(f"--config.frames must be >= 2, got {config.frames}")


def run(config: Config, workdir: str, session: _common.Session | None = None) -> Report:
    """Runs (or resumes, frame by frame) every setting in ``workdir`` and writes the outputs."""
    from nst.video import metrics, temporal

    session = session or _common.Session()
    validate(config)
    table = settings(config)
    clip = make_clip(config)
    labels = [s.label for s in table]
    base = config.stylize
    state: dict[str, Any] = {}

    def prepare() -> None:
        state["net"], state["params"] = stylize.create_backbone(base)  # a clear error offline

    def work(todo: list[str], save: _common.runner.Save, session: _common.Session) -> bool:
        net, params = state["net"], state["params"]
        styles = [
            nst_image.load(nst_image.sample_or_path(s), max_size=base.size) for s in config.styles
        ]
        state["auto"] = auto = temporal.ruder_temporal_weight(base, net, params, clip.shape)
        state["weight"] = weight = (
            auto if config.temporal_weight is None else config.temporal_weight
        )
        cache = stylize.Cache()  # one program for every frame of every setting
        done = [lb for lb in labels if lb not in todo]
        first_done = _frames_folder(workdir, done[0]) if done else None  # frame 0 finished
        for row in table:
            if row.label not in todo:
                continue
            overrides = dict(row.overrides)
            cfg = dataclasses.replace(
                base, temporal_weight=overrides.get("temporal_weight", weight)
            )
            video = _video_config(config, overrides)
            folder = _frames_folder(workdir, row.label)
            logging.info("%s: %s (%d frames)", NAME, row.label, len(clip))
            if first_done is not None:
                _share_first_frame(first_done, folder, temporal.identity(cfg, video, clip, styles))
            result = temporal.stylize_video(
                cfg,
                clip,
                styles,
                folder,
                video=video,
                net_params=(net, params),
                cache=cache,
                should_stop=session.should_stop,
            )
            if result.stopped == "interrupted":
                logging.warning("%s: interrupted in %s", NAME, row.label)
                return True
            first_done = first_done or result.folder
            last = _frames(workdir, row.label, len(clip))[-1]
            save(row.label, last, _result(row.label, cfg, video, result))
        return False

    def summary(ordered: list[Outcome]) -> _common.Summary:
        frames = {label: _frames(workdir, label, len(clip)) for label in labels}
        scores = metrics.clip_warping_errors(
            frames[labels[0]],
            clip.frame,
            len(clip),
            outputs_many=[frames[label] for label in labels[1:]],
        )
        outcomes = {o.label: o for o in ordered}
        for o, s in zip(ordered, [scores] + scores["many"]):
            o.record["warping_error"] = {"per_frame": s["per_frame"], "mean": s["mean"]}
        known = truth(config, clip)
        if known is not None:
            velocity, occluded = known
            again = metrics.reappearance_errors(
                frames[labels[0]],
                len(clip),
                velocity=velocity,
                occluded=occluded,
                outputs_many=[frames[label] for label in labels[1:]],
            )
            for o, s in zip(ordered, [again] + again["many"]):
                o.record["reappearance_error"] = {
                    "per_frame": s["per_frame"],
                    "mean": s["mean"],
                    "pixels": again["pixels"],
                }
        for o in ordered:
            _common.write_json(os.path.join(workdir, "results", f"{o.slug}.json"), o.record)
        title = _title(config, session.note, state.get("weight"))
        for o in ordered:
            again = o.record.get("reappearance_error", {}).get("mean")
            logging.info(
                "  %-34s warping error %.4g, reappearance error %s",
                o.label,
                o.record["warping_error"]["mean"],
                "n/a" if again is None else f"{again:.4g}",
            )
        logging.info("  %-34s warping error %.4g", "input clip", scores["input_mean"])

        def files(workdir: str) -> None:
            _plot(workdir, outcomes, scores, title)
            _videos(workdir, labels, frames, clip.fps)

        return _common.Summary(
            title=title,
            claims=claims(outcomes, config),
            layout=_figure(config, clip, frames, outcomes),
            cell=int(np.clip(base.size, 128, 256)),
            metrics={
                "input_warping_error": {
                    "per_frame": scores["input_per_frame"],
                    "mean": scores["input_mean"],
                },
                "reliable_fraction": scores["reliable_fraction"],
                "flow": scores["flow"],
                "temporal_weight": state["weight"],
                "temporal_weight_auto": state["auto"],
            },
            rows=[_metrics_row(o) for o in ordered],
            curves=[(o.label, _loss_curve(o.record)) for o in ordered],
            files=files,
        )

    clip_info = {"source": clip.source, "frames": len(clip), "shape": list(clip.shape)}
    study = _common.Study(
        name=NAME,
        identity=_identity(config, clip),
        config=config,
        labels=labels,
        work=work,
        summary=summary,
        weights=_common.weights_info([(base, {})]),
        prepare=prepare,
        manifest={"clip_info": clip_info},
    )
    return _common.run(study, workdir, session)


def _frames_folder(workdir: str, label: str) -> str:
    return os.path.join(workdir, "frames", _common.slug(label))


def _loss_curve(record: dict[str, Any]) -> dict[str, np.ndarray]:
    """Each frame's final total loss against the frame index and the cumulative seconds."""
    totals = [np.nan if v is None else v for v in record["final_loss"]]
    seconds = np.cumsum([s or 0.0 for s in record["seconds"]])
    return {
        "total": np.asarray(totals, np.float64),
        "step": np.arange(len(totals)),
        "time": seconds,
    }


def _share_first_frame(source: str, folder: str, identity: dict[str, Any]) -> None:
    """Copies frame 0 (and its record) from another setting's folder.

    Frame 0 has no temporal term (its mask is all zero, so the term and its gradient are
    exactly 0) and starts from --init in every setting: its optimization is the same
    computation in each, done once.
    """
    from nst.video import _store, io

    store = _store.FrameStore(folder, identity)
    if store.path(0).exists():
        return
    record = _store.read_records(source).get(0)
    frame = nst_image.load(io.frame_path(source, 0), max_size=None)
    store.save(0, frame)
    if record is not None:
        store.log({**record, "shared_from": os.path.basename(source)})


def _frames(workdir: str, label: str, count: int) -> list[np.ndarray]:
    from nst.video import io

    folder = os.path.join(workdir, "frames", _common.slug(label))
    return [nst_image.load(io.frame_path(folder, t), max_size=None) for t in range(count)]


def _result(label, cfg, video, result) -> dict[str, Any]:
    """The results/<slug>.json record of a finished setting: per-frame steps, times, losses."""
    from nst.video import _store

    records = _store.read_records(result.folder)
    per_frame = [records.get(t, {}) for t in range(result.total)]
    seconds = [r.get("seconds") for r in per_frame]
    later = [s for r, s in zip(per_frame, seconds) if r.get("frame", 0) > 0 and s is not None]
    record = {
        "label": label,
        "config": cfg,
        "video": video,
        "frames": result.total,
        "steps": [r.get("steps") for r in per_frame],
        "seconds": seconds,
        "compile_seconds": [r.get("compile_seconds") for r in per_frame],
        "seconds_per_frame": float(np.mean(later)) if later else None,
        "final_loss": [r.get("loss", {}).get("total") for r in per_frame],
        "converged": [r.get("converged") for r in per_frame],
        "reliable": [r.get("reliable") for r in per_frame],
    }
    return _common.json_safe(record)


def _metrics_row(o: Outcome) -> dict[str, Any]:
    r = o.record
    return {
        "label": o.label,
        "warping_error": r["warping_error"]["mean"],
        "reappearance_error": r.get("reappearance_error", {}).get("mean"),
        "seconds_per_frame": r["seconds_per_frame"],
        "first_frame_seconds": r["seconds"][0],
        "compile_seconds": sum(c or 0.0 for c in r["compile_seconds"]),
        "temporal_weight": r["config"]["temporal_weight"],
        "flow": r["video"]["flow"],
        "long_term": ",".join(map(str, r["video"]["long_term"])),
        "warping_error_per_frame": r["warping_error"]["per_frame"],
        "steps_per_frame": r["steps"],
        "converged_frames": sum(1 for c in r.get("converged", []) if c),
    }


def _title(config: Config, quick_note: str, weight: float | None = None) -> str:
    """Name, network, size, steps, frames, the objective (weights in the seeds' units) and
    the temporal weight used (Ruder et al.'s 1e3 on their losses: ``ruder_temporal_weight``)."""
    cfg = config.stylize
    parts = [f"{cfg.steps} steps/frame", f"{config.frames} frames"]
    parts += _common.runner.objective_note([cfg])
    if weight is not None:
        parts.append(f"temporal {weight:.3g} where on")
    return _common.study_title(NAME, cfg, quick_note, *parts)


def _shown(count: int, k: int) -> list[int]:
    return sorted({round(i * (count - 1) / max(k - 1, 1)) for i in range(min(k, count))})


def _figure(config, clip, frames, outcomes) -> dict[str, Any]:
    import jax

    from nst.video import flow as flow_lib
    from nst.video import warp

    shown = _shown(len(clip), config.figure_frames)
    last = shown[-1]
    diff_title = f"|O_t - warp(O_t-1)| x4, t={last}"
    rows = [[clip.frame(t) for t in shown]]
    row_titles = ["input"]
    if last > 0:
        backward, forward = flow_lib.flow_pair(clip.frame(last), clip.frame(last - 1))
        mask = np.asarray(warp.reliability_mask(backward, forward))[..., None]

        def difference(images):
            warped = np.asarray(jax.device_get(warp.warp(images[last - 1], backward)))
            return np.clip(4 * np.abs(images[last] - warped) * mask, 0, 1)

        rows[0].append(difference([clip.frame(t) for t in range(len(clip))]))
    for label, o in outcomes.items():
        row = [frames[label][t] for t in shown]
        if last > 0:
            row.append(difference(frames[label]))
        rows.append(row)
        again = o.record.get("reappearance_error", {}).get("mean")
        reappear = "" if again is None else f", reappearing {again:.3g}"
        row_titles.append(f"{label}: E_warp {o.record['warping_error']['mean']:.3g}{reappear}")
    col_titles = [f"frame {t}" for t in shown] + ([diff_title] if last > 0 else [])
    return {"images": rows, "row_titles": row_titles, "col_titles": col_titles}


def _plot(workdir, outcomes, scores, title) -> None:
    """``warping_error.png``: per frame, the warping error of every setting and the input
    clip's; beside it, where the clip's true motion is known, the reappearance error."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = [("warping_error", "warping error (Lai et al. 2018)")]
    if all("reappearance_error" in o.record for o in outcomes.values()):
        panels.append(("reappearance_error", "reappearance error (uncovered pixels)"))
    fig = Figure(figsize=(7.5 * len(panels), 5.6), dpi=100)
    FigureCanvasAgg(fig)
    # Lines that coincide (a term that changes nothing) stay visible: each its own dash,
    # marker and marker size, drawn thinner the later it comes.
    styles = [("-", "o", 7), ("--", "s", 6), (":", "^", 5), ("-.", "x", 6), ("-", "+", 8)]
    for p, (key, ylabel) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), p + 1)
        for i, o in enumerate(outcomes.values()):
            y = np.asarray(o.record[key]["per_frame"], np.float64)
            dash, marker, size = styles[i % len(styles)]
            mean = o.record[key]["mean"]
            ax.plot(
                np.arange(1, len(y) + 1), y, linestyle=dash, marker=marker, markersize=size,
                markerfacecolor="none", linewidth=2.2 - 0.3 * i,
                label=f"{o.label} (mean {mean:.3g})",
            )  # fmt: skip
        if key == "warping_error":
            floor = np.asarray(scores["input_per_frame"], np.float64)
            ax.plot(np.arange(1, len(floor) + 1), floor, "k--", label="input clip")
        if any(len(o.record[key]["per_frame"]) for o in outcomes.values()):
            ax.set_yscale("log")  # the legend below the axes: it hides no line
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
        ax.set_xlabel("frame t (pair t-1, t)" if key == "warping_error" else "frame t")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("\n".join(textwrap.wrap(title, 120 * len(panels))), fontsize=7)
    fig.tight_layout()
    buffer = _io.BytesIO()
    fig.savefig(buffer, format="png")
    _common.write_atomic(os.path.join(workdir, "warping_error.png"), buffer.getvalue())


def _videos(workdir, labels, frames, fps) -> None:
    from nst.video import io

    try:
        io.check_encoder()
    except io.VideoError as e:
        logging.warning("%s: no videos written (%s)", NAME, e)
        return
    for label in labels:
        path = os.path.join(workdir, "videos", f"{_common.slug(label)}.mp4")
        io.write_mp4(path, frames[label], fps=fps, overwrite=True)


def swept_settings(config: Config) -> tuple[Setting, ...]:
    """The table as the shared flags see it: of ``StylizeConfig``'s fields it varies none
    (its settings vary ``nst.video.temporal.VideoConfig`` fields and the temporal weight)."""
    del config
    return ()
