"""``run.py --video=CLIP``: a stylized MP4 (or PNG frames) in one command, resumable.

    python run.py --video=clip.mp4 --style=painting.jpg --output=out.mp4 --size=256 \\
        --steps=100 [--temporal_weight=... --flow=dis|farneback|none --long_term=1,2,4]
    python run.py --video=clip.mp4 --model=runs/train_feedforward/model --output=out.mp4

Optimization path: every frame is a Gatys optimization (the shared flags: --style, --size,
--steps, --optimizer, --lr, --content_weight, ...) plus the temporal loss against the
previous output warped by optical flow (``nst.video.temporal``). Feed-forward path
(--model): a trained network runs over the clip in batches (--batch_size) and the frames per
second are logged (compilation apart).

Frames are written as they finish into ``OUTPUT.frames/`` (an .mp4 output) or into the
output folder itself; run the same command again after an interruption to continue at the
first unfinished frame. ``metrics.json`` there holds the warping error per frame and its
mean, next to the input clip's own (the floor). The MP4 is assembled at the end and never
replaces an existing file without --overwrite.

Bad input (unreadable or empty video, a missing encoder, frames that change size, an
existing output) raises ``ValueError`` / ``nst.image.ImageError`` with a one-line message,
which run.py turns into exit code 2.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from typing import Any

from nst.config import StylizeConfig
from nst_cli import flags, inputs, progress
from nst_cli.flags import FLAGS, UsageError
from nst_cli.signals import StopFlag


def video_config(flag_values: Any) -> Any:
    from nst.video import temporal

    try:
        long_term = tuple(int(v) for v in flags.value("long_term", ["1"], flag_values))
    except ValueError:
        raise UsageError("--long_term must be frame offsets, e.g. 1,2,4") from None
    return temporal.VideoConfig(
        flow=flags.value("flow", "dis", flag_values),
        long_term=long_term,
        first_frame_steps=flags.value("first_frame_steps", None, flag_values),
    )


def resolve_output(flag_values: Any, video: str) -> tuple[pathlib.Path, str, pathlib.Path]:
    """``(output, kind, frames folder)``; the default output is ``<clip>_stylized.mp4``."""
    from nst.video import io

    if flags.present("output", flag_values):
        output = pathlib.Path(flags.value("output", None, flag_values))
    else:
        output = pathlib.Path(f"{pathlib.Path(video.rstrip('/')).stem}_stylized.mp4")
    kind = io.output_kind(output)
    frames = output if kind == "folder" else output.with_name(output.name + ".frames")
    return output, kind, frames


def _select(flag_values: Any) -> dict[str, Any]:
    max_frames = flags.value("max_frames", 0, flag_values)
    if max_frames is not None and max_frames < 0:
        raise UsageError(f"--max_frames must be >= 0, got {max_frames}")
    return {
        "start": float(flags.value("start", 0.0, flag_values)),
        "max_frames": max_frames or None,
        "fps": flags.value("fps", None, flag_values),
    }


class _FrameLog:
    """The frame bar (one update per finished frame) and, inside long frames, a plain line
    about every ``every`` seconds."""

    def __init__(self, total: int, done: int, enabled: bool, every: float = 10.0) -> None:
        self.bar = progress.Progress(total, "frame", start=done, enabled=enabled)
        self.enabled, self.every = enabled, every
        self.last = time.monotonic()

    def __call__(self, t: int, total: int, record: dict[str, Any]) -> None:
        self.bar.update(t + 1, loss=record.get("loss", {}).get("total"))

    def step(self, step: int, loss: float, rate: float) -> None:
        now = time.monotonic()
        if self.enabled and now - self.last >= self.every:
            self.last = now
            self.bar.note(f"  step {step}  loss {loss:.4g}  {rate:.2f} steps/s")


def _method(flag_values: Any, config: StylizeConfig | None):
    """``(config, video config, model, styles)`` of the optimization path (``model`` None)
    or the feed-forward one (``--model``, loaded and checked before the clip is read:
    config, video config and styles None)."""
    from nst import image

    model_path = flags.value("model", None, flag_values)
    if model_path:
        return None, None, inputs.load_model(model_path), None
    from nst.video import temporal

    config = config or flags.config_from_flags("video", flag_values=flag_values)
    video = video_config(flag_values)
    temporal.validate(config, video)
    styles = [image.load(p, max_size=config.size) for p, _, _ in inputs.style_specs(flag_values)]
    return config, video, None, styles


def _clip(flag_values: Any, video_path: str, config: Any, kind: str, folder: pathlib.Path):
    """The clip at the working size (``--size``, or ``--max_size`` for a model), with room
    for every frame (PNG, at most 3 bytes a pixel) and the MP4 checked before the first
    frame rather than discovered at the last."""
    from nst import files
    from nst.video import io

    select = _select(flag_values)
    if kind == "mp4":
        io.check_encoder()
    size = config.size if config else flags.value("max_size", None, flag_values)
    if config is None and flags.present("size", flag_values):
        size = flags.value("size", None, flag_values)
    clip = io.load_clip(video_path, size=size, **select)
    progress.say(
        f"{video_path}: {len(clip)} frames at {clip.fps:.3g} fps, {clip.shape[1]}x{clip.shape[0]} "
        f"(source {clip.source_size[1]}x{clip.source_size[0]} at {clip.source_fps:.3g} fps)"
    )
    frame_bytes = clip.shape[0] * clip.shape[1] * 3
    files.check_writable(folder, frame_bytes * len(clip) * (2 if kind == "mp4" else 1))
    return clip


def _measured(clip: Any, folder: pathlib.Path, result: Any, head: dict[str, Any]):
    """``(summary, frame loader)``: ``head`` and the clip's warping errors (Lai et al.,
    DIS flow), per-frame seconds and this run's timings."""
    from nst import image
    from nst.video import _store, io, metrics

    load = lambda t: image.load(io.frame_path(folder, t), max_size=None)
    scores = metrics.clip_warping_errors(load, clip.frame, len(clip), method="dis")
    records = _store.read_records(folder)
    summary = {
        **head,
        "frames": len(clip),
        "fps": clip.fps,
        "size": list(clip.shape[:2]),
        "warping_error": scores,
        "per_frame_seconds": [records.get(t, {}).get("seconds") for t in range(len(clip))],
        "compile_seconds_this_run": result.compile_seconds,
        "seconds_this_run": result.seconds,
        "frames_this_run": len(result.ran),
    }
    return summary, load


def main(flag_values: Any = FLAGS, config: StylizeConfig | None = None) -> dict[str, Any]:
    """Stylizes ``--video`` into ``--output`` (run.py calls this when --video is given).

    Args:
      flag_values: the parsed absl flags (or a stand-in).
      config: the StylizeConfig of the frames (default: ``config_from_flags("video")``).

    Returns:
      A summary (also ``metrics.json``): output, frames folder, frames, seconds, metrics,
      and the config actually used.

    Raises:
      ValueError / nst.image.ImageError (incl. nst.video.VideoError): bad input, one line.
      SystemExit(130): interrupted (SIGINT/SIGTERM); the same command continues.
    """
    from nst.video import _store, io

    video_path = flags.value("video", None, flag_values)
    if not video_path:
        raise UsageError("--video is required")
    overwrite = bool(flags.value("overwrite", False, flag_values))
    output, kind, folder = resolve_output(flag_values, video_path)
    if kind == "mp4" and output.exists() and not overwrite:
        raise io.VideoError(f"{str(output)!r} exists; pass --overwrite to replace it")
    if kind == "folder":
        _store.check_no_foreign(folder)
    config, video, model, styles = _method(flag_values, config)
    clip = _clip(flag_values, video_path, config, kind, folder)
    done = 0 if overwrite else len([t for t in _store.read_records(folder) if t < len(clip)])
    log = _FrameLog(len(clip), done, bool(flags.value("progress", True, flag_values)))
    with StopFlag() as stop, log.bar:
        if model is not None:
            result = _feedforward(flag_values, model, clip, folder, overwrite, stop, log)
        else:
            result, config = _optimize(
                flag_values, config, video, styles, clip, folder, overwrite, stop, log
            )
    if result.stopped == "interrupted":
        progress.warn(
            f"interrupted: {result.done}/{result.total} frames done in {folder}; "
            "run the same command again to continue"
        )
        raise SystemExit(130)
    if result.stopped:
        progress.warn(progress.diverged(result.stopped))
    head = {"video": str(video_path), "output": str(output), "frames_folder": str(folder)}
    summary, load = _measured(clip, folder, result, head)
    model_path = flags.value("model", None, flag_values)
    summary["config"] = dataclasses.asdict(config) if config else {"model": str(model_path)}
    if video is not None:
        summary["video_config"] = dataclasses.asdict(video)
    if model is not None:
        seconds = result.seconds
        summary["frames_per_second"] = len(result.ran) / seconds if seconds > 0 else None
    _store.write_metrics(folder, summary)
    scores = summary["warping_error"]
    progress.say(
        f"warping error (Lai et al., dis flow): {scores['mean']:.4g} mean over "
        f"{max(len(clip) - 1, 0)} pairs; input clip {scores['input_mean']:.4g}"
    )
    if kind == "mp4":
        io.write_mp4(output, (load(t) for t in range(len(clip))), fps=clip.fps, overwrite=overwrite)
    progress.say(f"wrote {output} ({len(clip)} frames; frames and metrics.json in {folder})")
    return summary


def _optimize(flag_values, config, video, styles, clip, folder, overwrite, stop, log):
    """Per-frame optimization; returns (result, the config used: its temporal weight)."""
    import jax

    from nst import optimizers, stylize
    from nst.video import temporal

    net, params = stylize.create_backbone(config)
    weight = flags.value("temporal_weight", None, flag_values)
    if weight is None:
        weight = temporal.ruder_temporal_weight(config, net, params, clip.shape)
    config = dataclasses.replace(config, temporal_weight=float(weight))
    long_term = ",".join(map(str, video.long_term))
    progress.say(
        f"optimizing {len(clip)} frames: {config.optimizer}, {config.steps} steps (first frame "
        f"{temporal.first_frame_steps(config, video)}), temporal weight "
        f"{config.temporal_weight:.3g}, flow {video.flow}"
        + (f", long-term {long_term}" if len(video.long_term) > 1 else "")
    )
    if optimizers.resolve(config.optimizer, backend=jax.default_backend()) == "lbfgs_scipy":
        progress.warn(
            "SciPy's L-BFGS compiles its objective again for every frame; "
            "--optimizer=adam (or lbfgs_optax) compiles once per clip"
        )
    result = temporal.stylize_video(
        config,
        clip,
        styles,
        str(folder),
        video=video,
        net_params=(net, params),
        restart=overwrite,
        should_stop=stop,
        progress=log,
        step_progress=log.step,
    )
    if result.ran:
        log.bar.note(
            f"{len(result.ran)} frames in {result.seconds:.1f} s: {_per_frame(result):.2f} s "
            f"per frame after the first (compile {result.compile_seconds:.1f} s)"
        )
    return result, config


def _per_frame(result) -> float:
    later = [r["seconds"] for r in result.records if r["frame"] > 0]
    return sum(later) / len(later) if later else float("nan")


def _feedforward(flag_values, model, clip, folder, overwrite, stop, log):
    from nst.video import feedforward

    result = feedforward.stylize_video(
        model,
        clip,
        str(folder),
        style=inputs.style_mix(flag_values, model.styles),
        batch_size=int(flags.value("batch_size", None, flag_values) or 4),
        seed=int(flags.value("seed", 0, flag_values)),
        restart=overwrite,
        should_stop=stop,
        progress=log,
    )
    if result.ran:
        log.bar.note(
            f"feed-forward: {len(result.ran)} frames, "
            f"{len(result.ran) / max(result.seconds, 1e-9):.1f} frames/s "
            f"(compile {result.compile_seconds:.2f} s apart)"
        )
    return result
