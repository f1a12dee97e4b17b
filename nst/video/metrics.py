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

:func:`reappearance_errors` scores what that figure cannot see by construction: pixels an
occluder has just uncovered (``M_t`` drops them: the previous frame did not show them),
compared with the nearest earlier output that did show them. That is the consistency Ruder
et al.'s long-term terms are for; the warping error is the same whatever colours are
painted there. It needs the clip's true motion and occluder (``nst.video.synthetic``):
estimated flows are least reliable exactly at the edges of an occluder (DIS on the bundled
pan: the input clip itself scored 0.04-0.12 there, where its true value is 0).

References:
  Lai, Huang, Wang, Shechtman, Yumer, Yang. Learning Blind Video Temporal Consistency.
  ECCV 2018, eq. (8).
  Ruder, Dosovitskiy, Brox. Artistic Style Transfer for Videos. GCPR 2016 (long-term
  consistency, sec. 3.2).
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

__all__ = ["clip_warping_errors", "reappearance_errors", "warping_error"]


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


def reappearance_errors(
    outputs: Sequence[Any] | Callable[[int], Any],
    count: int,
    *,
    velocity: tuple[float, float],
    occluded: Any,
    gaps: Sequence[int] = (2, 3, 4),
    outputs_many: Sequence[Sequence[Any] | Callable[[int], Any]] = (),
) -> dict[str, Any]:
    """Consistency where an occluder uncovers what earlier frames saw (long-term).

    For a clip whose background moves by ``velocity`` per frame (the point at ``x`` in
    frame ``t`` is at ``x + k v`` in frame ``t - k``) and is hidden where ``occluded``, the
    *reappearing* pixels of frame ``t`` show background there, were hidden in frame
    ``t - 1``, and were shown by some frame ``t - k``, ``k`` in ``gaps``; each is compared
    with the nearest such frame's output, moved back by ``k v``:

    .. math::
      R = \\frac{\\sum_t \\sum_{x \\in R_t} \\lVert O_t(x) - O_{t-k(x)}(x + k(x) v)
          \\rVert_2^2}{\\sum_t |R_t|}

    pooled over the clip (each reappearing pixel counts once), images in ``[0, 1]``. For
    the input frames themselves it is 0 (up to the interpolation of a sub-pixel pan).

    Args:
      outputs: the stylized frames (a sequence or ``t -> frame``), ``[H, W, 3]``.
      count: number of frames ``T``.
      velocity: ``(dx, dy)`` of the background per frame, px (``nst.video.synthetic.pan``).
      occluded: ``bool [T, H, W]``, True where the background is hidden
        (``nst.video.synthetic.sprite_masks``).
      gaps: the earlier frames looked at, offsets > 1, the nearest first.
      outputs_many: more outputs scored on the same pixels.

    Returns:
      ``{"mean", "per_frame", "pixels", "gaps", "many": [{"mean", "per_frame"}]}``;
      ``per_frame`` has ``T - 1`` entries (NaN where none reappears), ``pixels`` the
      reappearing pixels per frame, ``mean`` the pooled value (NaN when none anywhere).

    Raises:
      ValueError: a gap is not an integer > 1, or ``occluded`` is not ``[T, H, W]``.
    """
    gaps = sorted(int(k) for k in gaps)
    if not gaps or gaps[0] < 2 or len(set(gaps)) != len(gaps):
        raise ValueError(f"gaps must be distinct offsets > 1 (1 is the warping error), got {gaps}")
    occluded = np.asarray(occluded, bool)
    if occluded.ndim != 3 or occluded.shape[0] < count:
        raise ValueError(f"occluded must be bool [T={count}, H, W], got {occluded.shape}")
    get = lambda src: src if callable(src) else src.__getitem__
    fetch = [get(outputs), *map(get, outputs_many)]
    size = occluded.shape[1:]
    shift = lambda k: np.broadcast_to(np.float32(k) * np.asarray(velocity, np.float32), (*size, 2))

    # the share of the point at x of frame t that frame t - k hides (bilinear: a pixel
    # next to the occluder's edge is partly hidden), np.inf outside frame t - k
    def hidden(t: int, k: int) -> np.ndarray:
        share = warp_lib.warp(occluded[t - k, ..., None].astype(np.float32), shift(k))[..., 0]
        return np.where(np.asarray(warp_lib.inside(shift(k))), np.asarray(share), np.inf)

    sums: list[list[float]] = [[] for _ in fetch]
    pixels: list[int] = []
    for t in range(1, count):
        previous = hidden(t, 1)
        left = ~occluded[t] & (previous >= 0.5) & np.isfinite(previous)
        now = [nst_image.to_float(f(t)) for f in fetch]
        total = [0.0] * len(fetch)
        found = 0
        for k in (k for k in gaps if t - k >= 0):
            take = left & (hidden(t, k) == 0)  # wholly shown there
            if not take.any():
                continue
            left &= ~take
            found += int(take.sum())
            for i, f in enumerate(fetch):
                then = np.asarray(warp_lib.warp(nst_image.to_float(f(t - k)), shift(k)))
                total[i] += float(np.sum(np.square(now[i] - then)[take]))
        pixels.append(found)
        for i in range(len(fetch)):
            sums[i].append(total[i])
    n = float(np.sum(pixels))
    per_frame = lambda s: [v / p if p else float("nan") for v, p in zip(s, pixels, strict=True)]
    pooled = lambda s: float(np.sum(s) / n) if n else float("nan")
    return {
        "mean": pooled(sums[0]),
        "per_frame": per_frame(sums[0]),
        "pixels": pixels,
        "gaps": gaps,
        "many": [{"mean": pooled(s), "per_frame": per_frame(s)} for s in sums[1:]],
    }
