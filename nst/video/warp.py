"""Warping by optical flow and the reliability mask of Ruder et al. (2016), in JAX.

Conventions, stated once: images are ``[H, W, C]`` floats; a flow is ``[H, W, 2]`` holding
``(dx, dy)`` in pixels (``nst.video.flow``); a mask is ``float32 [H, W]``, 1 where the
flow is reliable and 0 elsewhere. The public functions are jitted (one program per shape).

For frame ``t`` with backward flow ``w`` (``t -> t-1``) and forward flow ``w'``
(``t-1 -> t``):

* ``warp(previous, w)(x) = previous(x + w(x))``, bilinear;
* disoccluded: :math:`|w + w'(x + w)|^2 > 0.01 (|w|^2 + |w'(x + w)|^2) + 0.5`;
* motion boundary: :math:`|\\nabla u|^2 + |\\nabla v|^2 > 0.01 |w|^2 + 0.002` with
  :math:`w = (u, v)` and central differences ``(f[i+1] - f[i-1]) / 2`` (the border
  replicated);
* outside: ``x + w`` leaves the frame ``[0, W-1] x [0, H-1]``;
* mask: 0 where disoccluded, on a motion boundary or outside; 1 elsewhere.

References:
  Ruder, Dosovitskiy, Brox. Artistic Style Transfer for Videos. GCPR 2016, eqs. (5), (6).
  Sundaram, Brox, Keutzer. Dense Point Trajectories by GPU-Accelerated Large Displacement
  Optical Flow. ECCV 2010 (the thresholds).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "disocclusion",
    "inside",
    "motion_boundary",
    "reliability_mask",
    "sample",
    "warp",
]


def _check_flow(flow: jax.Array, name: str = "flow") -> None:
    if flow.ndim != 3 or flow.shape[-1] != 2:
        raise ValueError(f"{name} must be [H, W, 2], got shape {flow.shape}")


def _grid(flow: jax.Array) -> tuple[jax.Array, jax.Array]:
    h, w = flow.shape[:2]
    ys, xs = jnp.meshgrid(
        jnp.arange(h, dtype=flow.dtype), jnp.arange(w, dtype=flow.dtype), indexing="ij"
    )
    return xs + flow[..., 0], ys + flow[..., 1]


def sample(image: jax.typing.ArrayLike, x: jax.Array, y: jax.Array) -> jax.Array:
    """Bilinear samples of ``image [H, W, C]`` at float coordinates ``x, y [...]``.

    Coordinates are clamped to the frame (the border pixels extend outward).

    Returns:
      ``[..., C]``.
    """
    image = jnp.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"image must be [H, W, C], got shape {image.shape}")
    h, w = image.shape[:2]
    x = jnp.clip(x, 0.0, w - 1.0)
    y = jnp.clip(y, 0.0, h - 1.0)
    x0 = jnp.clip(jnp.floor(x), 0, max(w - 2, 0)).astype(jnp.int32)
    y0 = jnp.clip(jnp.floor(y), 0, max(h - 2, 0)).astype(jnp.int32)
    x1 = jnp.minimum(x0 + 1, w - 1)
    y1 = jnp.minimum(y0 + 1, h - 1)
    fx = (x - x0)[..., None]
    fy = (y - y0)[..., None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


@jax.jit
def warp(image: jax.typing.ArrayLike, flow: jax.typing.ArrayLike) -> jax.Array:
    """``image`` pulled along ``flow``: ``out(x) = image(x + flow(x))``, bilinear.

    .. math::
      \\omega(x) = I(x + w(x))

    Samples outside the frame take the nearest border pixel; ``inside(flow)`` says where.

    >>> import jax.numpy as jnp
    >>> image = jnp.arange(4.0).reshape(1, 4, 1)
    >>> flow = jnp.zeros((1, 4, 2)).at[..., 0].set(1.0)   # look one pixel to the right
    >>> warp(image, flow)[0, :, 0].tolist()
    [1.0, 2.0, 3.0, 3.0]

    Args:
      image: ``[H, W, C]``.
      flow: ``[H, W, 2]``, ``(dx, dy)`` in pixels (the backward flow of the frame the
        result lines up with).

    Returns:
      ``[H, W, C]`` in ``image``'s float dtype.
    """
    image = jnp.asarray(image)
    flow = jnp.asarray(flow, jnp.result_type(image.dtype, jnp.float32))
    _check_flow(flow)
    if image.ndim != 3 or image.shape[:2] != flow.shape[:2]:
        raise ValueError(
            f"image must be [H, W, C] with the flow's H, W {flow.shape[:2]}, got {image.shape}"
        )
    x, y = _grid(flow)
    return sample(image.astype(flow.dtype), x, y)


@jax.jit
def inside(flow: jax.typing.ArrayLike) -> jax.Array:
    """``bool [H, W]``: ``x + flow(x)`` lies in ``[0, W-1] x [0, H-1]``."""
    flow = jnp.asarray(flow, jnp.float32)
    _check_flow(flow)
    h, w = flow.shape[:2]
    x, y = _grid(flow)
    return (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)


@jax.jit
def disocclusion(backward: jax.typing.ArrayLike, forward: jax.typing.ArrayLike) -> jax.Array:
    """``bool [H, W]``: the forward-backward check fails (Ruder et al. eq. 5).

    .. math::
      |w + w'(x + w)|^2 > 0.01 (|w|^2 + |w'(x + w)|^2) + 0.5

    Args:
      backward: ``w``, the flow of this frame to the earlier one ``[H, W, 2]``.
      forward: ``w'``, the earlier frame's flow to this one ``[H, W, 2]``.
    """
    backward = jnp.asarray(backward, jnp.float32)
    forward = jnp.asarray(forward, jnp.float32)
    _check_flow(backward, "backward")
    _check_flow(forward, "forward")
    if backward.shape != forward.shape:
        raise ValueError(f"flows differ in shape: {backward.shape} vs {forward.shape}")
    there = warp(forward, backward)  # w'(x + w(x))
    norm = lambda f: jnp.sum(jnp.square(f), axis=-1)
    return norm(backward + there) > 0.01 * (norm(backward) + norm(there)) + 0.5


def _central(f: jax.Array, axis: int) -> jax.Array:
    pad = [(0, 0)] * f.ndim
    pad[axis] = (1, 1)
    g = jnp.pad(f, pad, mode="edge")
    n = f.shape[axis]
    return 0.5 * (
        jax.lax.slice_in_dim(g, 2, n + 2, axis=axis) - jax.lax.slice_in_dim(g, 0, n, axis=axis)
    )


@jax.jit
def motion_boundary(flow: jax.typing.ArrayLike) -> jax.Array:
    """``bool [H, W]``: a motion boundary of ``flow`` (Ruder et al. eq. 6).

    .. math::
      |\\nabla u|^2 + |\\nabla v|^2 > 0.01 |w|^2 + 0.002
    """
    flow = jnp.asarray(flow, jnp.float32)
    _check_flow(flow)
    gradient = jnp.square(_central(flow, 0)) + jnp.square(_central(flow, 1))
    return jnp.sum(gradient, axis=-1) > 0.01 * jnp.sum(jnp.square(flow), axis=-1) + 0.002


@jax.jit
def reliability_mask(backward: jax.typing.ArrayLike, forward: jax.typing.ArrayLike) -> jax.Array:
    """``float32 [H, W]``: 1 where warping the earlier frame by ``backward`` is reliable.

    0 where the pixel is disoccluded, on a motion boundary, or warped from outside the
    frame; 1 elsewhere (no smoothing).

    Args:
      backward: the flow of this frame to the earlier one ``[H, W, 2]``.
      forward: the earlier frame's flow to this one ``[H, W, 2]``.
    """
    bad = disocclusion(backward, forward) | motion_boundary(backward) | ~inside(backward)
    return jnp.where(bad, 0.0, 1.0).astype(jnp.float32)
