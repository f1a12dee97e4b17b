r"""Video speed: optical flow per frame pair, seconds per stylized frame, feed-forward fps.

    python benchmarks/video_benchmark.py                        # everything, this machine
    python benchmarks/video_benchmark.py --parts=flow --flow_size=960x540
    python benchmarks/video_benchmark.py --parts=optimize,feedforward --size=256 --steps=100

Prints one JSON line per measurement (and writes them all to ``--out`` when given):

* ``flow``: the two flows of a frame pair (forward and backward, OpenCV, host CPU) and the
  reliability mask (JAX), on a 960x540 pan over the bundled tubingen photo; median of
  ``--repeats``. Anchor: DeepFlow, Ruder et al.'s flow, about 22 s per 960x540 frame.
* ``optimize``: seconds per stylized frame of ``nst.video.temporal`` (VGG19, the default
  Gatys layers, Adam, ``--steps`` per frame, DIS flow + mask) at ``--size`` px, frames after
  the first (the first frame's compilation reported apart). Random weights: the time does
  not depend on them.
* ``feedforward``: frames per second of a Johnson network (width 32, 5 residual blocks,
  random weights) over a ``--size`` px clip in batches of ``--batch``, compilation apart.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import tempfile
import time

from nst import host_memory

host_memory.keep_freed_memory()  # as run.py does, before JAX starts any thread

import jax
import numpy as np
from absl import app, flags

from nst import image, stylize
from nst.config import StylizeConfig
from nst.video import flow, io, synthetic, temporal, warp

_PARTS = flags.DEFINE_list("parts", ["flow", "optimize", "feedforward"], "What to measure.")
_FLOW_SIZE = flags.DEFINE_string("flow_size", "960x540", "Frame size of the flow timing, WxH.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed runs per flow measurement (median).")
_SIZE = flags.DEFINE_integer("size", 256, "Longest side of the stylized frames, px.")
_STEPS = flags.DEFINE_integer("steps", 50, "Optimization steps per frame after the first.")
_FRAMES = flags.DEFINE_integer("frames", 4, "Frames of the optimization clip.")
_FF_FRAMES = flags.DEFINE_integer("ff_frames", 32, "Frames of the feed-forward clip.")
_BATCH = flags.DEFINE_integer("batch", 4, "Feed-forward batch.")
_OUT = flags.DEFINE_string("out", None, "Also write the results to this JSON file.")

RESULTS: list[dict] = []


def _report(**fields) -> None:
    fields["device"] = jax.devices()[0].device_kind
    fields["backend"] = jax.default_backend()
    RESULTS.append(fields)
    print(json.dumps(fields), flush=True)


def _pan(size: tuple[int, int], frames: int, velocity=(4.0, 2.0)) -> np.ndarray:
    height, width = size
    span = int(max(abs(v) for v in velocity) * frames)
    photo = image.load(image.sample("tubingen"), max_size=int(1.25 * max(width, height)) + span)
    return synthetic.pan(photo, frames=frames, size=size, velocity=velocity, origin=(8.0, 8.0))


def bench_flow() -> None:
    width, height = (int(v) for v in _FLOW_SIZE.value.lower().split("x"))
    frames = _pan((height, width), 2)
    mask_fn = jax.jit(warp.reliability_mask)
    for method in flow.METHODS:
        backward, forward = flow.flow_pair(frames[1], frames[0], method=method)  # warm-up
        jax.block_until_ready(mask_fn(backward, forward))
        pair, masks = [], []
        for _ in range(_REPEATS.value):
            t0 = time.perf_counter()
            backward, forward = flow.flow_pair(frames[1], frames[0], method=method)
            t1 = time.perf_counter()
            jax.block_until_ready(mask_fn(backward, forward))
            pair.append(t1 - t0)
            masks.append(time.perf_counter() - t1)
        epe = np.linalg.norm(backward - synthetic.true_flow((height, width), (4.0, 2.0)), axis=-1)
        _report(
            part="flow",
            method=method,
            size=f"{width}x{height}",
            seconds_per_pair=statistics.median(pair),
            seconds_per_flow=statistics.median(pair) / 2,
            mask_seconds=statistics.median(masks),
            interior_epe_mean=float(epe[16:-16, 16:-16].mean()),
            anchor_deepflow_seconds=22.0,
        )


def bench_optimize() -> None:
    size = _SIZE.value
    frames = _pan((round(size * 0.75), size), _FRAMES.value, velocity=(2.0, 1.0))
    clip = io.Clip(frames, 12.0, "pan", 12.0, frames.shape[1:3], tuple(range(len(frames))))
    style = image.load(image.sample("starry_night"), max_size=size)
    config = StylizeConfig(weights="random", content_layers=None, style_layers=None, size=size)
    config = dataclasses.replace(config, steps=_STEPS.value)
    net_params = stylize.create_backbone(config)
    weight = temporal.ruder_temporal_weight(config, *net_params, clip.shape)
    config = dataclasses.replace(config, temporal_weight=weight)
    video = temporal.VideoConfig(first_frame_steps=_STEPS.value)
    with tempfile.TemporaryDirectory() as folder:
        result = temporal.stylize_video(
            config, clip, [style], folder, video=video, net_params=net_params
        )
    later = [r for r in result.records if r["frame"] > 0]
    per_frame = statistics.median(r["wall_seconds"] for r in later)
    _report(
        part="optimize",
        size=f"{clip.shape[1]}x{clip.shape[0]}",
        steps_per_frame=_STEPS.value,
        seconds_per_frame=per_frame,
        seconds_per_step=statistics.median(r["seconds"] / r["steps"] for r in later),
        first_frame_compile_seconds=result.records[0]["compile_seconds"],
        frames_timed=len(later),
        loop=stylize.default_loop(),
    )


def bench_feedforward() -> None:
    from nst.feedforward import infer, nets
    from nst.feedforward.config import NetConfig
    from nst.video import feedforward

    size = _SIZE.value
    frames = _pan((round(size * 0.75), size), _FF_FRAMES.value, velocity=(2.0, 1.0))
    clip = io.Clip(frames, 12.0, "pan", 12.0, frames.shape[1:3], tuple(range(len(frames))))
    config = NetConfig()
    model = infer.Model(config, jax.device_put(nets.init(config)), {})
    with tempfile.TemporaryDirectory() as folder:
        result = feedforward.stylize_video(model, clip, folder, batch_size=_BATCH.value)
    network_fps = len(result.ran) / result.seconds
    _report(
        part="feedforward",
        size=f"{clip.shape[1]}x{clip.shape[0]}",
        batch=_BATCH.value,
        frames=len(result.ran),
        frames_per_second=network_fps,
        compile_seconds=result.compile_seconds,
        note="network time only; PNG writing excluded",
    )


def main(argv) -> None:
    del argv
    parts = {"flow": bench_flow, "optimize": bench_optimize, "feedforward": bench_feedforward}
    for name in _PARTS.value:
        parts[name]()
    if _OUT.value:
        with open(_OUT.value, "w") as f:
            json.dump(RESULTS, f, indent=1)


if __name__ == "__main__":
    app.run(main)
