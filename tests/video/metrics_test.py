"""The warping error (Lai et al. 2018) against a NumPy reference and on known clips."""

import numpy as np
import pytest
import scipy.ndimage
from video_helpers import ORIGIN

from nst.video import metrics, synthetic, warp


def test_pair_error_matches_numpy(rng):
    h, w = 12, 16
    current, previous = rng.uniform(0, 1, (2, h, w, 3)).astype(np.float32)
    # A smooth flow (few motion boundaries) and a forward flow partly inconsistent with it.
    yy, xx = np.mgrid[0:h, 0:w] / 16.0
    backward = np.stack([1.5 + 0.4 * np.sin(3 * xx), -0.7 + 0.3 * yy], -1).astype(np.float32)
    forward = (-backward + rng.normal(0, 0.5, (h, w, 2))).astype(np.float32)
    # Reference: SciPy bilinear warp, the mask from nst.video.warp (tested in warp_test).
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    coords = [yy + backward[..., 1], xx + backward[..., 0]]
    warped = np.stack(
        [
            scipy.ndimage.map_coordinates(previous[..., c], coords, order=1, mode="nearest")
            for c in range(3)
        ],
        -1,
    )
    mask = np.asarray(warp.reliability_mask(backward, forward))
    assert 0.3 < mask.mean() < 1.0  # both reliable and unreliable pixels
    expected = np.sum(mask * np.sum((current - warped) ** 2, -1)) / mask.sum()
    got = float(metrics.warping_error(current, previous, backward, forward))
    assert got == pytest.approx(expected, rel=1e-5)


def test_clip_errors_are_small_for_the_input_and_large_for_flicker(photo, rng):
    frames = synthetic.pan(photo, frames=4, size=(48, 64), velocity=(2.0, 1.0), origin=ORIGIN)
    inputs = frames / 255.0
    flicker = np.clip(inputs + rng.normal(0, 0.1, inputs.shape), 0, 1)
    scores = metrics.clip_warping_errors(inputs, inputs, 4, outputs_many=[flicker])
    assert len(scores["per_frame"]) == 3 and len(scores["input_per_frame"]) == 3
    assert scores["mean"] == pytest.approx(scores["input_mean"])  # the outputs are the inputs
    assert scores["input_mean"] < 1e-3  # an integer pan: only 8-bit rounding (measured 2e-5)
    assert scores["many"][0]["mean"] > 20 * scores["input_mean"]  # 2 * 3 * 0.1**2 expected
    assert all(0.8 < f <= 1.0 for f in scores["reliable_fraction"])


def test_single_frame_has_no_pairs(photo):
    frame = photo[:32, :32]
    scores = metrics.clip_warping_errors([frame], [frame], 1)
    assert scores["per_frame"] == [] and np.isnan(scores["mean"])
