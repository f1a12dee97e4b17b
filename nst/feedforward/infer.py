"""Stylizing photos with a trained network: load once, compile per image size, time it.

    model = infer.load("runs/train_feedforward/starry_night_johnson")  # or a shipped name
    out = infer.stylize(model, photo)                       # [H, W, 3] -> [H, W, 3]
    outs, timing = infer.stylize_many(model, [p1, p2, p3])  # grouped by size, batched

A conditional (multi-style) network takes mixture weights ``style=[w_1, ..., w_N]``
(normalized to sum 1, see ``cin.mixture``) or a style index; texture networks take the
output size from the given image's shape and a noise ``seed``.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import statistics
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nst import image as nst_image
from nst.feedforward import checkpoint, cin, nets, zoo
from nst.feedforward.config import NetConfig

__all__ = ["Model", "Timing", "load", "style_vector", "stylize", "stylize_many", "time_forward"]


@dataclasses.dataclass(frozen=True, eq=False)
class Model:
    """A loaded network: its config, variables (on the device) and training info."""

    config: NetConfig
    variables: Any
    info: dict[str, Any]

    @property
    def styles(self) -> tuple[str, ...]:
        return self.config.styles


@dataclasses.dataclass
class Timing:
    """Seconds: ``compile`` (one per image size), ``per_image`` (compile excluded)."""

    compile: float
    per_image: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.per_image) if self.per_image else float("nan")


def load(path: str | os.PathLike) -> Model:
    """Loads a shipped network by name (``zoo.is_name``: ``"starry_night"``), a shipped
    ``.npz``, a model directory, a training workdir or its checkpoints (latest step).

    Raises:
      ValueError: none of those (one line; an unknown name lists the shipped ones).
    """
    if zoo.is_name(path):
        config, variables, info = zoo.load(os.fspath(path))
    elif os.fspath(path).endswith(zoo.SUFFIX) and os.path.isfile(path):
        config, variables, info = zoo.read(path)
    else:
        config, variables, info = checkpoint.load_model(path)
    return Model(config, jax.device_put(variables), info)


def style_vector(model: Model, style: Any = None) -> np.ndarray:
    """Mixture weights ``[N]``: from weights (normalized), an index, or None (style 0)."""
    n = model.config.num_styles
    if style is None:
        style = 0
    if isinstance(style, int | np.integer):
        if not 0 <= style < n:
            raise ValueError(f"style index {style} out of range: model has styles {model.styles}")
        return np.eye(n, dtype=np.float32)[style]
    return cin.mixture(style, n)


@jax.jit(static_argnums=0)
def _forward(config: NetConfig, variables, images, style_w, key):
    return nets.apply(config, variables, images, style_w, key=key)[0]


def stylize_many(
    model: Model,
    images: Sequence[Any],
    *,
    style: Any = None,
    batch_size: int = 4,
    seed: int = 0,
) -> tuple[list[np.ndarray], Timing]:
    """Stylizes ``images`` (each ``[H, W, 3]``, any sizes) at their own resolution.

    Images of one size run in batches of up to ``batch_size``; each size compiles once.

    Returns:
      The stylized images (float32 ``[H, W, 3]`` in [0, 1], in input order) and the timing:
      per image, a batch's time divided by its size.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    w = style_vector(model, style)
    arrays = [nst_image.to_float(im) for im in images]
    for i, a in enumerate(arrays):
        if a.ndim != 3 or a.shape[-1] != 3:
            raise ValueError(f"image {i}: expected [H, W, 3], got shape {a.shape}")
    by_shape: dict[tuple[int, ...], list[int]] = collections.defaultdict(list)
    for i, a in enumerate(arrays):
        by_shape[a.shape].append(i)
    outputs: list[Any] = [None] * len(arrays)
    timing = Timing(0.0, [])
    compiled: dict[tuple[int, ...], Any] = {}
    for indices in by_shape.values():
        for chunk in (indices[k : k + batch_size] for k in range(0, len(indices), batch_size)):
            batch = np.stack([arrays[i] for i in chunk])
            style_w = np.broadcast_to(w, (len(chunk), w.size))
            args = (model.variables, jnp.asarray(batch), jnp.asarray(style_w), nets.noise_key(seed))
            if batch.shape not in compiled:
                t0 = time.perf_counter()
                compiled[batch.shape] = _forward.lower(model.config, *args).compile()
                timing.compile += time.perf_counter() - t0
            t0 = time.perf_counter()
            out = np.asarray(compiled[batch.shape](*args))
            elapsed = (time.perf_counter() - t0) / len(chunk)
            timing.per_image.extend([elapsed] * len(chunk))
            for i, o in zip(chunk, out, strict=True):
                outputs[i] = o
    return outputs, timing


def stylize(model: Model, image: Any, *, style: Any = None, seed: int = 0) -> np.ndarray:
    """One image ``[H, W, 3]`` -> its stylization ``[H, W, 3]`` float32 in [0, 1]."""
    return stylize_many(model, [image], style=style, seed=seed)[0][0]


def time_forward(
    model: Model, image: Any, *, style: Any = None, repeats: int = 5, seed: int = 0
) -> tuple[np.ndarray, Timing]:
    """Stylizes one image ``repeats`` times after one compile: ``(output, Timing)``."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    w = style_vector(model, style)
    batch = jnp.asarray(nst_image.to_float(image))[None]
    args = (model.variables, batch, jnp.asarray(w)[None], nets.noise_key(seed))
    t0 = time.perf_counter()
    compiled = _forward.lower(model.config, *args).compile()
    timing = Timing(time.perf_counter() - t0, [])
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        timing.per_image.append(time.perf_counter() - t0)
    return np.asarray(out[0]), timing
