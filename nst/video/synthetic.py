"""Clips with a known camera motion, cut from a still photo (tests, demos, benchmarks).

A camera panning over a photo: frame ``t`` is the window whose top-left corner sits at
``origin + t * velocity`` (in the photo's pixels, bilinear for sub-pixel positions). The
true flow is then constant: ``frame_t(x) = frame_{t-1}(x + velocity)``, so the backward flow
(``nst.video.flow`` convention: ``t -> t-1``) is ``+velocity`` and the forward flow
``-velocity``. Pixels within ``|velocity|`` of the leading edge come into view at each step.

An optional *sprite* (a patch, e.g. of another photo) moves across the frames on its own
path, occluding the background and uncovering it behind itself: background that comes
back into view was visible a few frames earlier, which is what long-term consistency uses.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.ndimage

from nst import image as nst_image

__all__ = ["pan", "sprite_masks", "true_flow"]


def pan(
    photo: Any,
    *,
    frames: int,
    size: tuple[int, int],
    velocity: tuple[float, float],
    origin: tuple[float, float] = (0.0, 0.0),
    sprite: tuple[Any, tuple[int, int], tuple[int, int]] | None = None,
) -> np.ndarray:
    """A pan over ``photo``: ``uint8 [frames, H, W, 3]``.

    Args:
      photo: ``[h, w, 3]``, ``uint8`` or float in ``[0, 1]``.
      frames: number of frames.
      size: ``(H, W)`` of each frame, px.
      velocity: ``(dx, dy)`` camera motion per frame, px (sub-pixel allowed).
      origin: ``(x, y)`` of the first window's top-left corner in the photo.
      sprite: ``(patch [h, w, 3], (x, y), (dx, dy))``: a patch pasted at ``(x, y) + t (dx,
        dy)`` in frame ``t`` (integer pixels, clipped at the frame's edges).

    Raises:
      ValueError: the windows leave the photo.
    """
    photo = nst_image.to_float(photo)
    height, width = size
    dx, dy = velocity
    x0, y0 = origin
    xs = [x0 + t * dx for t in range(frames)]
    ys = [y0 + t * dy for t in range(frames)]
    if min(xs) < 0 or min(ys) < 0 or max(xs) + width - 1 > photo.shape[1] - 1:
        raise ValueError(f"a {width}x{height} pan with velocity {velocity} leaves the photo")
    if max(ys) + height - 1 > photo.shape[0] - 1:
        raise ValueError(f"a {width}x{height} pan with velocity {velocity} leaves the photo")
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    out = []
    for x, y in zip(xs, ys):
        channels = [
            scipy.ndimage.map_coordinates(photo[..., c], [yy + y, xx + x], order=1)
            for c in range(3)
        ]
        out.append(nst_image.to_uint8(np.stack(channels, -1)))
    if sprite is not None:
        patch, (sx, sy), (vx, vy) = sprite
        patch = nst_image.to_uint8(patch)
        for t, frame in enumerate(out):
            _paste(frame, patch, int(sx + t * vx), int(sy + t * vy))
    return np.stack(out)


def _paste(frame: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    h, w = patch.shape[:2]
    y0, y1 = max(y, 0), min(y + h, frame.shape[0])
    x0, x1 = max(x, 0), min(x + w, frame.shape[1])
    if y0 < y1 and x0 < x1:
        frame[y0:y1, x0:x1] = patch[y0 - y : y1 - y, x0 - x : x1 - x]


def sprite_masks(
    frames: int, size: tuple[int, int], sprite: tuple[Any, tuple[int, int], tuple[int, int]]
) -> np.ndarray:
    """Where ``pan``'s sprite hides the photo: ``bool [frames, H, W]`` (the same ``sprite``)."""
    patch, (sx, sy), (vx, vy) = sprite
    shape = (*np.shape(patch)[:2], 1)
    out = np.zeros((frames, *size, 1), bool)
    for t in range(frames):
        _paste(out[t], np.ones(shape, bool), int(sx + t * vx), int(sy + t * vy))
    return out[..., 0]


def true_flow(size: tuple[int, int], velocity: tuple[float, float]) -> np.ndarray:
    """The backward flow of every frame of ``pan``: ``velocity`` everywhere, ``[H, W, 2]``."""
    return np.broadcast_to(np.asarray(velocity, np.float32), (*size, 2)).copy()
