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

from absl import flags, logging

from nst.config import StylizeConfig

_VIDEO = flags.DEFINE_string(
    "video", None, "Input clip (MP4/MOV/AVI/WebM/GIF) or a folder of numbered frames."
)
_TEMPORAL_WEIGHT = flags.DEFINE_float(
    "temporal_weight",
    None,
    "Weight of the temporal loss (default: Ruder et al.'s balance against the content loss, "
    "nst.video.temporal.ruder_temporal_weight; 0 stylizes frames independently).",
)
_FLOW = flags.DEFINE_enum(
    "flow",
    "dis",
    ["dis", "farneback", "none"],
    "Optical flow of the input frames: OpenCV DIS, Farneback, or none (temporal loss against "
    "the unwarped previous output, every frame started from --init).",
)
_LONG_TERM = flags.DEFINE_list(
    "long_term", ["1"], "Earlier frames the temporal loss looks at, e.g. 1,2,4 (long-term)."
)
_MAX_FRAMES = flags.DEFINE_integer("max_frames", 0, "Frames to stylize (0: to the end).")
_START = flags.DEFINE_float("start", 0.0, "Seconds into the clip where stylization starts.")
_FPS = flags.DEFINE_float(
    "fps", None, "Frame rate to take frames at (default: the clip's; a frame folder: 25)."
)
_FIRST_FRAME_STEPS = flags.DEFINE_integer(
    "first_frame_steps", None, "Steps of the first frame (default: 2 * --steps)."
)

# Shared run.py flags -> StylizeConfig fields (run.py's defaults apply when not given).
_FIELDS = (
    "backbone",
    "weights",
    "weights_seed",
    "pooling",
    "cache_dir",
    "content_weight",
    "style_weight",
    "tv_weight",
    "tv_kind",
    "photo_weight",
    "style_norm",
    "distance",
    "delta",
    "preserve_color",
    "init",
    "optimizer",
    "lr",
    "steps",
    "size",
    "seed",
    "loop",
)


def _value(flag_values: Any, name: str, default: Any = None) -> Any:
    return flag_values[name].value if name in flag_values else default


def _present(flag_values: Any, name: str) -> bool:
    return name in flag_values and flag_values[name].present


def _layers(values: list[str] | None, default_weight: float):
    if values is None:
        return None
    table = []
    for item in values:
        name, _, weight = item.partition(":")
        try:
            table.append((name.strip(), float(weight) if weight else default_weight))
        except ValueError:
            raise ValueError(f"bad layer weight in {item!r}: expected layer:weight") from None
    return tuple(table)


def config_from_flags(flag_values: Any) -> StylizeConfig:
    """The StylizeConfig of the shared flags, as run.py builds it for one image."""
    fields = {name: _value(flag_values, name) for name in _FIELDS if name in flag_values}
    default = StylizeConfig()
    vgg = str(fields.get("backbone", default.backbone)).startswith("vgg")
    content = _layers(_value(flag_values, "content_layers"), 1.0)
    style = _layers(_value(flag_values, "style_layers"), 0.2)
    fields["content_layers"] = content or (default.content_layers if vgg else None)
    fields["style_layers"] = style or (default.style_layers if vgg else None)
    try:
        fields["style_blend"] = tuple(float(v) for v in _value(flag_values, "style_blend", []))
    except ValueError:
        raise ValueError("--style_blend must be numbers") from None
    return dataclasses.replace(default, **fields)


def video_config(flag_values: Any) -> Any:
    from nst.video import temporal

    try:
        long_term = tuple(int(v) for v in _value(flag_values, "long_term", ["1"]))
    except ValueError:
        raise ValueError("--long_term must be frame offsets, e.g. 1,2,4") from None
    return temporal.VideoConfig(
        flow=_value(flag_values, "flow", "dis"),
        long_term=long_term,
        first_frame_steps=_value(flag_values, "first_frame_steps"),
    )


def resolve_output(flag_values: Any, video: str) -> tuple[pathlib.Path, str, pathlib.Path]:
    """``(output, kind, frames folder)``; the default output is ``<clip>_stylized.mp4``."""
    from nst.video import io

    if _present(flag_values, "output"):
        output = pathlib.Path(_value(flag_values, "output"))
    else:
        output = pathlib.Path(f"{pathlib.Path(video.rstrip('/')).stem}_stylized.mp4")
    kind = io.output_kind(output)
    frames = output if kind == "folder" else output.with_name(output.name + ".frames")
    return output, kind, frames


def _select(flag_values: Any) -> dict[str, Any]:
    max_frames = _value(flag_values, "max_frames", 0)
    if max_frames is not None and max_frames < 0:
        raise ValueError(f"--max_frames must be >= 0, got {max_frames}")
    return {
        "start": float(_value(flag_values, "start", 0.0)),
        "max_frames": max_frames or None,
        "fps": _value(flag_values, "fps"),
    }


class _FrameLog:
    """Logs each finished frame with the rate and the time left."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.began = time.monotonic()
        self.count = 0

    def __call__(self, t: int, total: int, record: dict[str, Any]) -> None:
        self.count += len(record.get("frames", [t]))
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.began
        left = (total - t - 1) * elapsed / max(self.count, 1)
        loss = record.get("loss", {}).get("total")
        logging.info(
            "frame %d/%d done (%.2f s%s); about %.0f s left",
            t + 1,
            total,
            record["seconds"],
            f", loss {loss:.4g}" if loss is not None else "",
            left,
        )


class _StepLog:
    """Logs a frame's optimization about every ``every`` seconds (long frames on a CPU)."""

    def __init__(self, enabled: bool, every: float = 10.0) -> None:
        self.enabled, self.every = enabled, every
        self.last = time.monotonic()

    def __call__(self, step: int, loss: float, rate: float) -> None:
        now = time.monotonic()
        if self.enabled and now - self.last >= self.every:
            self.last = now
            logging.info("  step %d  loss %.4g  %.2f steps/s", step, loss, rate)


def nst_video_main(flag_values: Any, config: StylizeConfig | None = None) -> dict[str, Any]:
    """Stylizes ``--video`` into ``--output``: run.py calls this when --video is given.

    Args:
      flag_values: the parsed absl flags (run.py's shared flags and this module's).
      config: the StylizeConfig run.py built from the shared flags (else built here).

    Returns:
      A summary: output, frames folder, frames, seconds, metrics.

    Raises:
      ValueError / nst.image.ImageError (incl. nst.video.VideoError): bad input, one line.
      SystemExit(130): interrupted (SIGINT/SIGTERM); the same command continues.
    """
    from experiments import _common
    from nst import image
    from nst.video import io, metrics

    video_path = _value(flag_values, "video")
    if not video_path:
        raise ValueError("--video is required")
    overwrite = bool(_value(flag_values, "overwrite", False))
    output, kind, folder = resolve_output(flag_values, video_path)
    if kind == "mp4" and output.exists() and not overwrite:
        raise io.VideoError(f"{str(output)!r} exists; pass --overwrite to replace it")
    if kind == "folder":
        from nst.video import _store

        _store.check_no_foreign(folder)
    model_path = _value(flag_values, "model")
    video = None
    if model_path:
        config = None
    else:
        from nst.video import temporal

        config = config or config_from_flags(flag_values)
        _common.validate(config)
        video = video_config(flag_values)
        temporal.validate(config, video)
        style_paths = _value(flag_values, "style") or [str(image.sample("starry_night"))]
        styles = [image.load(p, max_size=config.size) for p in style_paths]
    select = _select(flag_values)
    if kind == "mp4":
        io.check_encoder()
    size = config.size if config else _value(flag_values, "max_size")
    if model_path and _present(flag_values, "size"):
        size = _value(flag_values, "size")
    clip = io.load_clip(video_path, size=size, **select)
    logging.info(
        "%s: %d frames at %.3g fps, %dx%d (source %dx%d at %.3g fps)",
        video_path,
        len(clip),
        clip.fps,
        clip.shape[1],
        clip.shape[0],
        clip.source_size[1],
        clip.source_size[0],
        clip.source_fps,
    )
    from nst import files

    # Room for every frame (PNG, at most 3 bytes a pixel) and the clip, checked before the
    # first frame rather than discovered at the last.
    frame_bytes = clip.shape[0] * clip.shape[1] * 3
    files.check_writable(folder, frame_bytes * len(clip) * (2 if kind == "mp4" else 1))
    stop = _common.StopFlag()
    log = _FrameLog(bool(_value(flag_values, "progress", True)))
    try:
        if model_path:
            result = _feedforward(flag_values, model_path, clip, folder, overwrite, stop, log)
        else:
            result = _optimize(
                flag_values, config, video, styles, clip, folder, overwrite, stop, log
            )
    finally:
        stop.restore()
    if result.stopped == "interrupted":
        logging.warning(
            "interrupted: %d/%d frames done in %s; run the same command again to continue",
            result.done,
            result.total,
            folder,
        )
        raise SystemExit(130)
    if result.stopped:
        logging.warning("%s", result.stopped)

    from nst.video import _store

    load = lambda t: image.load(io.frame_path(folder, t), max_size=None)
    method = "dis"
    scores = metrics.clip_warping_errors(load, clip.frame, len(clip), method=method)
    records = _store.read_records(folder)
    summary = {
        "video": str(video_path),
        "output": str(output),
        "frames_folder": str(folder),
        "frames": len(clip),
        "fps": clip.fps,
        "size": list(clip.shape[:2]),
        "warping_error": scores,
        "per_frame_seconds": [records.get(t, {}).get("seconds") for t in range(len(clip))],
        "compile_seconds_this_run": result.compile_seconds,
        "seconds_this_run": result.seconds,
        "frames_this_run": len(result.ran),
    }
    if model_path:
        summary["frames_per_second"] = (
            len(result.ran) / result.seconds if result.seconds > 0 else None
        )
    _store.write_metrics(folder, summary)
    logging.info(
        "warping error (Lai et al., %s flow): %.4g mean over %d pairs; input clip %.4g",
        method,
        scores["mean"],
        max(len(clip) - 1, 0),
        scores["input_mean"],
    )
    if kind == "mp4":
        io.write_mp4(output, (load(t) for t in range(len(clip))), fps=clip.fps, overwrite=overwrite)
    logging.info("wrote %s (%d frames; frames and metrics.json in %s)", output, len(clip), folder)
    return summary


def _optimize(flag_values, config, video, styles, clip, folder, overwrite, stop, log):
    import jax

    from nst import optimizers, stylize
    from nst.video import temporal

    net, params = stylize.create_backbone(config)
    weight = _value(flag_values, "temporal_weight")
    if weight is None:
        weight = temporal.ruder_temporal_weight(config, net, params, clip.shape)
    config = dataclasses.replace(config, temporal_weight=float(weight))
    logging.info(
        "optimizing %d frames: %d steps (first frame %d), temporal weight %.3g, flow %s%s",
        len(clip),
        config.steps,
        temporal.first_frame_steps(config, video),
        config.temporal_weight,
        video.flow,
        f", long-term {','.join(map(str, video.long_term))}" if len(video.long_term) > 1 else "",
    )
    if optimizers.resolve(config.optimizer, backend=jax.default_backend()) == "lbfgs_scipy":
        logging.warning(
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
        step_progress=_StepLog(log.enabled),
    )
    if result.ran:
        logging.info(
            "%d frames in %.1f s: %.2f s per frame after the first (compile %.1f s)",
            len(result.ran),
            result.seconds,
            _per_frame(result),
            result.compile_seconds,
        )
    return result


def _per_frame(result) -> float:
    later = [r["seconds"] for r in result.records if r["frame"] > 0]
    return sum(later) / len(later) if later else float("nan")


def _feedforward(flag_values, model_path, clip, folder, overwrite, stop, log):
    from nst.feedforward import infer
    from nst.video import feedforward

    model = infer.load(model_path)
    mix = _value(flag_values, "style_mix")
    style = None
    if mix:
        try:
            style = [float(v) for v in mix]
        except ValueError:
            raise ValueError(f"--style_mix must be numbers, got {','.join(mix)}") from None
    result = feedforward.stylize_video(
        model,
        clip,
        str(folder),
        style=style,
        batch_size=int(_value(flag_values, "batch_size") or 4),
        seed=int(_value(flag_values, "seed", 0)),
        restart=overwrite,
        should_stop=stop,
        progress=log,
    )
    if result.ran:
        logging.info(
            "feed-forward: %d frames, %.1f frames/s (compile %.2f s apart)",
            len(result.ran),
            len(result.ran) / max(result.seconds, 1e-9),
            result.compile_seconds,
        )
    return result
