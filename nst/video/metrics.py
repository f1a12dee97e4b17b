"""Temporal consistency of a stylized clip: the warping error of Lai et al. (2018).

For consecutive outputs ``O_{t-1}, O_t`` and the flows of the *input* frames
``I_{t-1}, I_t`` (backward ``w``: ``t -> t-1``, forward ``w'``; ``nst.video.flow``), with the
reliability mask ``M_t`` of ``nst.video.warp.reliability_mask``:

.. math::
  E_t = \\frac{1}{\\sum_x M_t(x)} \\sum_x M_t(x) \\, \\lVert O_t(x) -
        O_{t-1}(x + w(x)) \\rVert_2^2

with images in ``[0, 1]`` and the norm over the RGB channels. The same figure for the input
frames themselves (``O = I``) is the floor: what flow and interpolation leave even for a
perfectly consistent video. Lower is more consistent.

References:
  Lai, Huang, Wang, Shechtman, Yumer, Yang. Learning Blind Video Temporal Consistency.
  ECCV 2018, eq. (8).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nst import image as nst_image
from nst.video import flow as flow_lib
from nst.video import warp as warp_lib

__all__ = ["clip_warping_errors", "warping_error"]


@jax.jit
def _pair_error(current, previous, backward, forward):
    mask = warp_lib.reliability_mask(backward, forward)
    squared = jnp.sum(jnp.square(current - warp_lib.warp(previous, backward)), axis=-1)
    return jnp.sum(mask * squared) / jnp.sum(mask), jnp.mean(mask)


def warping_error(
    current: jax.typing.ArrayLike,
    previous: jax.typing.ArrayLike,
    backward: jax.typing.ArrayLike,
    forward: jax.typing.ArrayLike,
) -> jax.Array:
    """``E_t`` for one pair of frames (NaN when no pixel is reliable).

    Args:
      current: ``O_t`` ``[H, W, 3]`` in ``[0, 1]``.
      previous: ``O_{t-1}`` ``[H, W, 3]``.
      backward: flow ``I_t -> I_{t-1}`` of the inputs ``[H, W, 2]``.
      forward: flow ``I_{t-1} -> I_t`` ``[H, W, 2]``.

    Returns:
      ``[]`` float32.
    """
    args = [jnp.asarray(a, jnp.float32) for a in (current, previous, backward, forward)]
    if args[0].shape != args[1].shape or args[0].shape[:2] != args[2].shape[:2]:
        raise ValueError(
            f"frames and flows must share [H, W]: {args[0].shape}, {args[1].shape}, {args[2].shape}"
        )
    return _pair_error(*args)[0]


def clip_warping_errors(
    outputs: Sequence[Any] | Callable[[int], Any],
    inputs: Sequence[Any] | Callable[[int], Any],
    count: int,
    *,
    method: str = "dis",
    outputs_many: Sequence[Sequence[Any] | Callable[[int], Any]] = (),
) -> dict[str, Any]:
    """Warping errors of a whole clip, next to the inputs' own (the floor).

    Flows are computed once per pair on the inputs and shared by every output given
    (``outputs`` and each of ``outputs_many``: settings of one experiment).

    Args:
      outputs: the stylized frames (a sequence or ``t -> frame``), ``[H, W, 3]``.
      inputs: the input frames at the same size.
      count: number of frames ``T``.
      method: the flow method (``nst.video.flow.METHODS``).
      outputs_many: more outputs to score with the same flows.

    Returns:
      ``{"per_frame", "mean", "input_per_frame", "input_mean", "reliable_fraction",
      "flow", "many": [per_frame lists of outputs_many]}``; per-frame lists have ``T - 1``
      entries, ``mean`` is their mean (NaN for a single frame).
    """
    get = lambda src: src if callable(src) else src.__getitem__
    fetch = [get(outputs), *map(get, outputs_many)]
    read_input = get(inputs)
    errors: list[list[float]] = [[] for _ in fetch]
    floor: list[float] = []
    reliable: list[float] = []
    previous_in = nst_image.to_float(read_input(0)) if count else None
    previous_out = [nst_image.to_float(f(0)) for f in fetch] if count else []
    for t in range(1, count):
        current_in = nst_image.to_float(read_input(t))
        backward, forward = flow_lib.flow_pair(current_in, previous_in, method=method)
        e, fraction = _pair_error(current_in, previous_in, backward, forward)
        floor.append(float(e))
        reliable.append(float(fraction))
        for k, f in enumerate(fetch):
            current = nst_image.to_float(f(t))
            errors[k].append(float(_pair_error(current, previous_out[k], backward, forward)[0]))
            previous_out[k] = current
        previous_in = current_in
    mean = lambda v: float(np.mean(v)) if v else float("nan")
    return {
        "per_frame": errors[0],
        "mean": mean(errors[0]),
        "input_per_frame": floor,
        "input_mean": mean(floor),
        "reliable_fraction": reliable,
        "flow": method,
        "many": [{"per_frame": e, "mean": mean(e)} for e in errors[1:]],
    }
