"""Optical flow of a known camera motion: direction convention and end-point error."""

import numpy as np
import pytest
from video_helpers import ORIGIN

from nst.video import flow, synthetic

SIZE = (96, 128)
MARGIN = 8  # px left out at each border: the flow there extrapolates
# End-point error on the interior (px) of a textured window, measured (backward / forward,
# worst of the three motions): DIS mean 0.07, 95th percentile 0.16; Farneback mean 0.04,
# 95th percentile 0.08. Asserted: about 2x that.
BOUNDS = {"mean": 0.15, "p95": 0.3}


@pytest.mark.parametrize("velocity", [(3.0, 2.0), (1.5, -0.5), (-2.0, 0.0)])
@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_translation_has_small_end_point_error(photo, method, velocity):
    clip = synthetic.pan(photo, frames=2, size=SIZE, velocity=velocity, origin=ORIGIN)
    backward, forward = flow.flow_pair(clip[1], clip[0], method=method)
    truth = synthetic.true_flow(SIZE, velocity)
    inner = (slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    epe_b = np.linalg.norm(backward - truth, axis=-1)[inner]
    epe_f = np.linalg.norm(forward + truth, axis=-1)[inner]
    for epe in (epe_b, epe_f):
        assert epe.mean() < BOUNDS["mean"], (method, velocity, epe.mean())
        assert np.percentile(epe, 95) < BOUNDS["p95"], (method, velocity, np.percentile(epe, 95))


def test_shape_dtype_and_static_scene(photo):
    clip = synthetic.pan(photo, frames=2, size=(40, 56), velocity=(0.0, 0.0), origin=ORIGIN)
    w = flow.optical_flow(clip[0], clip[1])
    assert w.shape == (40, 56, 2) and w.dtype == np.float32
    np.testing.assert_allclose(w, 0.0, atol=1e-3)
    # float input in [0, 1] gives the same flow as uint8
    np.testing.assert_allclose(flow.optical_flow(clip[0] / 255.0, clip[1] / 255.0), w, atol=1e-6)


def test_bad_arguments_raise():
    a = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="flow method must be one of dis, farneback"):
        flow.optical_flow(a, a, method="deepflow")
    with pytest.raises(ValueError, match="one shape"):
        flow.optical_flow(a, np.zeros((16, 17, 3), np.uint8))
    with pytest.raises(ValueError, match=r"source must be \[H, W, 3\]"):
        flow.optical_flow(a[..., 0], a[..., 0])


def test_missing_opencv_names_the_extra(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "cv2", None)
    a = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match=r"pip install -e '\.\[video\]'"):
        flow.optical_flow(a, a)
