"""Dense optical flow between video frames, on the host with OpenCV.

Convention, stated once: a flow is ``float32 [H, W, 2]`` holding ``(dx, dy)`` in pixels, and
``optical_flow(source, target)`` returns the ``w`` with

.. math::
  \\mathrm{source}(x) \\approx \\mathrm{target}(x + w(x)).

So the *backward* flow of frame ``t`` (``optical_flow(frame_t, frame_{t-1})``) tells where
each pixel of frame ``t`` was in frame ``t-1``: warping frame ``t-1`` with it
(``nst.video.warp.warp``) lines frame ``t-1`` up with frame ``t``. The *forward* flow
``optical_flow(frame_{t-1}, frame_t)`` is the other direction; the pair gives the
reliability mask (``nst.video.warp.reliability_mask``).

Methods (both on 8-bit grayscale, at the resolution of the frames given, i.e. the
stylization resolution):

* ``"dis"``: Dense Inverse Search (Kroeger et al. 2016), OpenCV's ``DISOpticalFlow`` with
  its MEDIUM preset: fast (a few tens of ms per 960x540 pair on one CPU core).
* ``"farneback"``: Farneback (2003) polynomial expansion, ``calcOpticalFlowFarneback``
  (pyramid scale 0.5, 5 levels, 15 px window, 3 iterations, poly_n 5, sigma 1.1).

References:
  Kroeger, Timofte, Dai, Van Gool. Fast Optical Flow using Dense Inverse Search. ECCV 2016.
  Farneback. Two-Frame Motion Estimation Based on Polynomial Expansion. SCIA 2003.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nst import image as nst_image
from nst.video.io import VideoError

__all__ = ["METHODS", "flow_pair", "optical_flow"]

METHODS = ("dis", "farneback")


def _cv2():
    try:
        import cv2
    except ImportError:
        raise VideoError(
            "optical flow needs the optional video extra: pip install -e '.[video]' "
            "(opencv-python-headless is missing)"
        ) from None
    return cv2


def _gray(cv2, frame: Any, name: str) -> np.ndarray:
    array = np.asarray(frame)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"{name} must be [H, W, 3], got shape {array.shape}")
    return cv2.cvtColor(np.ascontiguousarray(nst_image.to_uint8(array)), cv2.COLOR_RGB2GRAY)


def optical_flow(source: Any, target: Any, *, method: str = "dis") -> np.ndarray:
    """The dense flow ``w`` with ``source(x) ≈ target(x + w(x))``.

    Args:
      source: ``[H, W, 3]`` RGB, ``uint8`` or float in ``[0, 1]``.
      target: the same shape.
      method: ``"dis"`` or ``"farneback"``.

    Returns:
      ``float32 [H, W, 2]``: ``(dx, dy)`` in pixels at each pixel of ``source``.

    Raises:
      ValueError: an unknown method, or frames that are not ``[H, W, 3]`` of one shape.
      VideoError: OpenCV is not installed.
    """
    if method not in METHODS:
        raise ValueError(f"flow method must be one of {', '.join(METHODS)}, got {method!r}")
    if np.shape(source) != np.shape(target):
        raise ValueError(
            f"source and target must have one shape, got {np.shape(source)} and {np.shape(target)}"
        )
    cv2 = _cv2()
    a, b = _gray(cv2, source, "source"), _gray(cv2, target, "target")
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        flow = dis.calc(a, b, None)
    else:
        flow = cv2.calcOpticalFlowFarneback(
            a,
            b,
            None,
            pyr_scale=0.5,
            levels=5,
            winsize=15,
            iterations=3,
            poly_n=5,
            poly_sigma=1.1,
            flags=0,
        )
    return np.asarray(flow, np.float32)


def flow_pair(current: Any, earlier: Any, *, method: str = "dis") -> tuple[np.ndarray, np.ndarray]:
    """``(backward, forward)``: flows ``current -> earlier`` and ``earlier -> current``.

    ``backward`` warps ``earlier`` (or its stylization) into ``current``; with ``forward``
    it gives ``current``'s reliability mask.
    """
    return (
        optical_flow(current, earlier, method=method),
        optical_flow(earlier, current, method=method),
    )
