"""Warping and the reliability mask against NumPy/SciPy references and known motions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage
from video_helpers import ORIGIN

from nst.video import flow, synthetic, warp


def _reference_warp(image, w):
    """SciPy's bilinear interpolation (order=1), border pixels extended (mode="nearest")."""
    h, wd = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:wd].astype(np.float64)
    coords = [yy + w[..., 1], xx + w[..., 0]]
    return np.stack(
        [
            scipy.ndimage.map_coordinates(image[..., c], coords, order=1, mode="nearest")
            for c in range(image.shape[-1])
        ],
        -1,
    )


def _reference_mask(backward, forward):
    """Ruder et al.'s consistencyChecker (binary, no smoothing), written out in NumPy."""
    h, w = backward.shape[:2]
    there = _reference_warp(forward.astype(np.float64), backward)
    norm = lambda f: np.sum(f**2, axis=-1)
    occluded = norm(backward + there) > 0.01 * (norm(backward) + norm(there)) + 0.5
    grads = [np.gradient(backward[..., c], axis=a) for c in range(2) for a in range(2)]
    boundary = sum(g**2 for g in grads) > 0.01 * norm(backward) + 0.002
    yy, xx = np.mgrid[0:h, 0:w]
    x, y = xx + backward[..., 0], yy + backward[..., 1]
    outside = (x < 0) | (x > w - 1) | (y < 0) | (y > h - 1)
    return np.where(occluded | boundary | outside, 0.0, 1.0)


@pytest.fixture
def random_case(rng):
    image = rng.uniform(0, 1, (13, 17, 3)).astype(np.float32)
    w = rng.normal(0, 3, (13, 17, 2)).astype(np.float32)
    return image, w


def test_warp_matches_scipy_bilinear(random_case):
    image, w = random_case
    np.testing.assert_allclose(warp.warp(image, w), _reference_warp(image, w), atol=1e-5)


def test_jit_equals_eager(random_case):
    image, w = random_case
    with jax.disable_jit():  # op by op (the mask's own reference is test_mask_matches_reference)
        eager = warp.warp(image, w)
    np.testing.assert_allclose(warp.warp(image, w), eager, atol=1e-6)


def test_mask_matches_reference(rng):
    backward = rng.normal(0, 2, (15, 19, 2)).astype(np.float32)
    forward = -backward + rng.normal(0, 0.8, (15, 19, 2)).astype(np.float32)
    np.testing.assert_array_equal(
        warp.reliability_mask(backward, forward), _reference_mask(backward, forward)
    )


def test_warping_by_true_flow_reproduces_next_frame(photo):
    size = (40, 56)
    for velocity, atol in (((3.0, 2.0), 0.0), ((1.5, -0.5), 0.03)):
        clip = synthetic.pan(photo, frames=2, size=size, velocity=velocity, origin=ORIGIN)
        warped = np.asarray(warp.warp(clip[0] / 255.0, synthetic.true_flow(size, velocity)))
        inner = (slice(3, -3), slice(4, -4))  # away from the strip the motion uncovers
        # Integer shift: exact up to 8-bit rounding; sub-pixel: bilinear of bilinear.
        error = np.abs(warped - clip[1] / 255.0)[inner]
        assert error.max() <= atol + 1.0 / 255, (velocity, error.max())


def test_mask_flags_the_uncovered_strip_and_little_else(photo):
    size, (dx, dy) = (96, 128), (3.0, 2.0)
    clip = synthetic.pan(photo, frames=2, size=size, velocity=(dx, dy), origin=ORIGIN)
    backward, forward = flow.flow_pair(clip[1], clip[0])
    mask = np.asarray(warp.reliability_mask(backward, forward))
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    uncovered = (xx + dx > w - 1) | (yy + dy > h - 1)  # not in the previous frame
    assert mask[uncovered].mean() == 0.0  # all flagged
    band = (xx + dx > w - 1 - 3) | (yy + dy > h - 1 - 3)  # the strip and 3 px around it
    flagged_elsewhere = 1.0 - mask[~band].mean()
    assert flagged_elsewhere < 0.01, flagged_elsewhere  # measured 0.0


def test_disocclusion_and_motion_boundary():
    # A block moving right over a static background: its trailing edge uncovers background.
    h, w = 20, 30
    forward = np.zeros((h, w, 2), np.float32)
    forward[5:15, 5:15, 0] = 4.0  # frame t-1 -> t: the block moves 4 px right
    backward = np.zeros((h, w, 2), np.float32)
    backward[5:15, 9:19, 0] = -4.0  # frame t -> t-1
    occluded = np.asarray(warp.disocclusion(backward, forward))
    # Background at x = 5..8 in frame t was under the block in t-1: the forward flow there
    # says "moved", the backward flow "static".
    assert occluded[7:13, 5:9].all()
    assert not occluded[:, 20:].any() and not occluded[7:13, 10:18].any()
    edges = np.asarray(warp.motion_boundary(backward))
    assert edges[7:13, 8].all() and edges[7:13, 19].all()  # the block's vertical edges
    assert not edges[:, 24:].any()


def test_inside_and_shapes():
    w = jnp.zeros((4, 5, 2)).at[0, 0, 0].set(-0.5).at[3, 4, 1].set(0.5)
    inside = np.asarray(warp.inside(w))
    assert not inside[0, 0] and not inside[3, 4] and inside.sum() == 18
    with pytest.raises(ValueError, match=r"flow must be \[H, W, 2\]"):
        warp.warp(jnp.zeros((4, 5, 3)), jnp.zeros((4, 5, 3)))
    with pytest.raises(ValueError, match="flow's H, W"):
        warp.warp(jnp.zeros((4, 6, 3)), jnp.zeros((4, 5, 2)))
