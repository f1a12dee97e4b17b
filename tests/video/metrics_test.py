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


# ------------------------------------------------------------- reappearance (long-term)


def _sprite_clip(photo, frames=8, size=(36, 48), velocity=(1.0, 0.0), width=8, hidden=2):
    """An integer pan with a magenta patch ``width`` px wide hiding each pixel ``hidden``
    frames: ``(frames float [T, H, W, 3], occluded [T, H, W])``."""
    patch = np.zeros((12, width, 3), np.float32)
    patch[..., 0] = patch[..., 2] = 1.0
    sprite = (patch, (0, 10), (width / hidden, 0))
    array = synthetic.pan(
        photo, frames=frames, size=size, velocity=velocity, origin=ORIGIN, sprite=sprite
    )
    return array / 255.0, synthetic.sprite_masks(frames, size, sprite)


def test_sprite_masks_are_where_pan_pasted_the_patch(photo):
    frames, occluded = _sprite_clip(photo)
    magenta = np.all(frames == np.array([1.0, 0.0, 1.0]), axis=-1)
    np.testing.assert_array_equal(occluded, magenta)
    assert occluded[0].sum() == 12 * 8 and occluded[-1].sum() == 12 * 8


def _reference(outputs, occluded, gaps):
    """By hand, for an integer pan of (1, 0) px per frame: the point at column x of frame t
    is at column x + k of frame t - k."""
    t_count, h, w = occluded.shape
    total, count = 0.0, 0
    for t in range(1, t_count):
        for y in range(h):
            for x in range(w - 1):
                if occluded[t, y, x] or not occluded[t - 1, y, x + 1]:
                    continue
                for k in gaps:
                    if t - k >= 0 and x + k < w and not occluded[t - k, y, x + k]:
                        total += np.sum((outputs[t, y, x] - outputs[t - k, y, x + k]) ** 2)
                        count += 1
                        break
    return total / count, count


def test_reappearance_error_matches_a_hand_count(photo, rng):
    frames, occluded = _sprite_clip(photo)
    outputs = rng.uniform(0, 1, frames.shape).astype(np.float32)
    got = metrics.reappearance_errors(outputs, 8, velocity=(1.0, 0.0), occluded=occluded)
    expected, count = _reference(outputs, occluded, (2, 3, 4))
    assert sum(got["pixels"]) == count > 100
    assert got["mean"] == pytest.approx(expected, rel=1e-5)
    # Only the nearest frame that shows a pixel counts: with gap 4 alone, fewer pixels.
    far = metrics.reappearance_errors(outputs, 8, velocity=(1.0, 0.0), occluded=occluded, gaps=(4,))
    assert far["mean"] == pytest.approx(_reference(outputs, occluded, (4,))[0], rel=1e-5)
    assert 0 < sum(far["pixels"]) < count


def test_reappearance_error_sees_what_the_warping_error_cannot(photo, rng):
    """The input clip is perfectly consistent there (0); repainting only the pixels the
    patch has just uncovered, with the frame's own colours (the same statistics), leaves
    the warping error nearly where it was and raises the reappearance error far above 0."""
    frames, occluded = _sprite_clip(photo, velocity=(2.0, 1.0), width=12, hidden=2)
    scores = metrics.reappearance_errors(frames, 8, velocity=(2.0, 1.0), occluded=occluded)
    assert scores["mean"] < 1e-10 and sum(scores["pixels"]) > 200
    repainted = frames.copy()
    for t in range(1, 8):
        dropped = ~occluded[t] & np.roll(occluded[t - 1], (-1, -2), axis=(0, 1))
        colours = frames[t].reshape(-1, 3)
        repainted[t][dropped] = colours[rng.integers(0, len(colours), int(dropped.sum()))]
    again = metrics.reappearance_errors(repainted, 8, velocity=(2.0, 1.0), occluded=occluded)
    assert again["mean"] > 0.05  # two photo pixels at random: ~0.1 apart squared
    warping = metrics.clip_warping_errors(frames, frames, 8, outputs_many=[repainted])
    assert warping["many"][0]["mean"] < warping["mean"] + 0.2 * again["mean"]


def test_reappearance_error_refuses_gap_one():
    with pytest.raises(ValueError, match="gaps must be distinct offsets > 1"):
        metrics.reappearance_errors([], 2, velocity=(1, 0), occluded=np.zeros((2, 4, 4)), gaps=(1,))


def test_reappearance_error_of_a_sub_pixel_pan_is_interpolation_only(photo):
    """Half-pixel motion: a pixel next to the patch's edge in the earlier frame is partly
    magenta after the bilinear move, so it must not count as shown there (counted, this
    clip measured 0.031, the interpolation alone 0.001)."""
    frames, occluded = _sprite_clip(photo, velocity=(1.5, 0.5), width=9, hidden=3)
    scores = metrics.reappearance_errors(frames, 8, velocity=(1.5, 0.5), occluded=occluded)
    assert sum(scores["pixels"]) > 100 and scores["mean"] < 0.005
