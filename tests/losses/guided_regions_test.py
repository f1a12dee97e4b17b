"""Spatial control (nst/losses/_guided.py) where the first tests left mutants alive
(benchmarks/mutation_run.py, docs/testing.md): regions of unequal size, masks and targets
given per image of a batch, and one-pixel-wide layers. NumPy references by loops."""

import numpy as np
import pytest

from nst import losses

N, H, W, C = 3, 4, 5, 2  # N != C: a batch axis mistaken for channels shows


def _gram(f, t):
    """Guided Gram per position: sum_k T_k^2 F_k F_k^T / sum_k T_k^2 (Gatys et al. 2017)."""
    flat, w = f.reshape(-1, f.shape[-1]).astype(np.float64), t.reshape(-1) ** 2
    return (flat * w[:, None]).T @ flat / w.sum()


def _loss(f, masks, targets):
    """sum_r share_r * 1/(4 C^2) sum_ij (G_r - A_r)^2, share_r = sum T_r^2 / (H W)."""
    return sum(
        np.sum(t**2) / (H * W) * np.sum((_gram(f, t) - a) ** 2) / (4 * C**2)
        for t, a in zip(masks, targets, strict=True)
    )


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(N, H, W, C)).astype(np.float32)
    narrow = np.zeros((H, W), np.float32)
    narrow[:, :1] = 1.0  # one column against four: shares 0.2 and 0.8
    masks = np.stack([narrow, 1.0 - narrow])
    targets = rng.uniform(size=(2, C, C)).astype(np.float32)
    per_image_masks = rng.uniform(size=(N, 2, H, W)).astype(np.float32)
    per_image_targets = rng.uniform(size=(N, 2, C, C)).astype(np.float32)
    return f, masks, targets, per_image_masks, per_image_targets


def test_regions_of_unequal_size_weigh_by_their_share(data):
    f, masks, targets, _, _ = data
    got = losses.guided_style_loss(f, masks, targets)
    np.testing.assert_allclose(got, [_loss(x, masks, targets) for x in f], rtol=1e-5)


def test_masks_and_targets_per_image(data):
    f, masks, _, image_masks, image_targets = data
    expected = [_loss(x, m, a) for x, m, a in zip(f, image_masks, image_targets, strict=True)]
    got = losses.guided_style_loss(f, image_masks, image_targets)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    shared = [_loss(x, masks, a) for x, a in zip(f, image_targets, strict=True)]
    np.testing.assert_allclose(losses.guided_style_loss(f, masks, image_targets), shared, rtol=1e-5)
    grams = losses.guided_gram_matrix(f, image_masks[:, 0], norm="mass")
    expected_grams = [_gram(x, m) for x, m in zip(f, image_masks[:, 0], strict=True)]
    np.testing.assert_allclose(grams, expected_grams, rtol=1e-5)


def test_per_image_inputs_must_match_the_batch(data):
    f, masks, targets, image_masks, image_targets = data
    with pytest.raises(ValueError, match="masks must be"):
        losses.guided_style_loss(f, image_masks[:2], targets)
    with pytest.raises(ValueError, match="masks must be"):
        losses.guided_style_loss(f[0], image_masks, targets)
    with pytest.raises(ValueError, match="A must have shape"):
        losses.guided_style_loss(f, masks, image_targets[:2])
    with pytest.raises(ValueError, match="A must have shape"):
        losses.guided_style_loss(f[0], masks, image_targets)
    with pytest.raises(ValueError, match="mask must be"):
        losses.guided_gram_matrix(f, image_masks[:2, 0])


@pytest.mark.parametrize("size", [(1, 5), (5, 1), (1, 1)])
def test_masks_resize_to_one_pixel_wide_layers(size):
    mask = np.zeros((8, 6), np.float32)
    mask[:, :3] = 1.0
    out = losses.resize_mask(mask, size)
    assert out.shape == size
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0


@pytest.mark.parametrize("size", [(0, 3), (3, 0)])
def test_empty_layer_sizes_are_refused(size):
    with pytest.raises(ValueError, match="size must be positive"):
        losses.resize_mask(np.ones((4, 4)), size)
