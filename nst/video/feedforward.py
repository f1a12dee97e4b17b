"""Video through a trained feed-forward network (``nst.feedforward``), in batches.

Frames go through the network ``batch_size`` at a time; the program is compiled once for
the clip (the last batch is padded with its final frame), so the reported frames per
second exclude compilation, which is reported apart. Frames are written as their batch
finishes (``nst.video._store.FrameStore``), and a rerun continues after the last finished
frame. The network has no temporal term: its consistency is whatever the per-frame mapping
gives, measured by the same warping error as the optimization path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nst.feedforward import infer, nets
from nst.video._store import FrameStore, digest
from nst.video.io import Clip
from nst.video.temporal import VideoResult

__all__ = ["identity", "stylize_video"]


def identity(model: infer.Model, clip: Clip, style: np.ndarray, seed: int) -> dict[str, Any]:
    """What must match for a frames folder to be resumed."""
    return {
        "kind": "feedforward",
        "net": model.config.to_json(),
        "weights": digest(np.asarray(leaf) for leaf in jax.tree.leaves(model.variables)),
        "style": [float(w) for w in style],
        "seed": seed,
        "clip": {"frames": digest([clip.frames]), "fps": clip.fps, "shape": list(clip.shape)},
    }


def stylize_video(
    model: infer.Model,
    clip: Clip,
    folder: str,
    *,
    style: Any = None,
    batch_size: int = 4,
    seed: int = 0,
    restart: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
) -> VideoResult:
    """Runs ``model`` over every frame of ``clip`` not yet in ``folder``.

    Args:
      model: a loaded network (``nst.feedforward.infer.load``).
      clip: the input frames at the working size.
      folder: the frames folder; resumed when it holds this run.
      style: a conditional network's mixture weights or style index (``infer.style_vector``).
      batch_size: frames per forward pass.
      seed: the noise seed of texture networks (the same noise for every frame).
      restart: replace the frames of another run found in ``folder``.
      should_stop: polled between batches.
      progress: called after each batch with ``(last frame, total, record)``.

    Returns:
      A ``VideoResult``; ``seconds`` is the time in the network (compilation excluded), so
      frames per second is ``len(result.ran) / result.seconds``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    weights = infer.style_vector(model, style)
    total = len(clip)
    store = FrameStore(folder, identity(model, clip, weights, seed), restart=restart)
    start = store.done(total)
    result = VideoResult(str(folder), total, start, [], None, [])
    if start == total:
        return result
    batch = min(batch_size, total - start)
    style_w = jnp.asarray(np.broadcast_to(weights, (batch, weights.size)))
    key = nets.noise_key(seed)
    images = jax.ShapeDtypeStruct((batch, *clip.shape), jnp.float32)
    t0 = time.perf_counter()
    # nst.feedforward.infer compiles per call; the clip needs one program kept across batches.
    forward = infer._forward.lower(model.config, model.variables, images, style_w, key).compile()
    result.compile_seconds = time.perf_counter() - t0
    for first in range(start, total, batch):
        if should_stop():
            result.stopped = "interrupted"
            break
        chunk = list(range(first, min(first + batch, total)))
        frames = np.stack([clip.frame(t) for t in chunk + [chunk[-1]] * (batch - len(chunk))])
        t0 = time.perf_counter()
        out = np.asarray(forward(model.variables, jnp.asarray(frames), style_w, key))
        seconds = time.perf_counter() - t0
        for t, image in zip(chunk, out, strict=False):
            store.save(t, image)
        record = {"frames": chunk, "frame": chunk[-1], "seconds": seconds, "batch": batch}
        store.log(record)
        result.records.append(record)
        result.ran.extend(chunk)
        result.done = chunk[-1] + 1
        result.seconds += seconds
        if progress is not None:
            progress(chunk[-1], total, record)
    return result
