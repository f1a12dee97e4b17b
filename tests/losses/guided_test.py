"""Tests for nst/losses/_guided.py: guided Gram matrices (Gatys et al. 2017) by hand in NumPy,
the per-region style loss, and the per-layer mask resampling against PIL."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized
from jax.test_util import check_grads
from PIL import Image

from nst import losses

_N, _H, _W, _C = 2, 3, 4, 2


def _numpy_guided_gram(f: np.ndarray, t: np.ndarray, norm: str) -> np.ndarray:
    """G_ij = sum_k (T_k F_ki)(T_k F_kj), F_T = T o F (Gatys et al. 2017, sec. 4.1), by loops;
    "mass" divides by sum_k T_k^2."""
    h, w, c = f.shape
    g = np.zeros((c, c))
    mass = 0.0
    for y in range(h):
        for x in range(w):
            guided = t[y, x] * f[y, x].astype(np.float64)  # the guided feature vector
            mass += t[y, x] ** 2
            for i in range(c):
                for j in range(c):
                    g[i, j] += guided[i] * guided[j]
    return g / mass if norm == "mass" else g


def _numpy_guided_loss(f, masks, targets, norm) -> float:
    h, w, c = f.shape
    scale = {"gatys": 0.25, "johnson": 1.0, "mean": 1.0 / c**2}[norm] / c**2
    total = 0.0
    for t, a in zip(masks, targets):
        share = np.sum(t**2) / (h * w)
        total += share * scale * np.sum((_numpy_guided_gram(f, t, "mass") - a) ** 2)
    return total


class GuidedGramTest(chex.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(0)
        self.f = rng.normal(size=(_N, _H, _W, _C)).astype(np.float32)
        self.mask = rng.uniform(size=(_H, _W)).astype(np.float32)

    def test_hand_computed(self):
        # 1x2 image, one channel, values 1 and 3; guidance 1 on the left, 0.5 on the right:
        # G = (1*1)^2 + (0.5*3)^2 = 1 + 2.25 = 3.25; mass = 1 + 0.25 -> 3.25 / 1.25 = 2.6.
        f = np.array([[[1.0], [3.0]]], np.float32)
        t = np.array([[1.0, 0.5]], np.float32)
        np.testing.assert_allclose(losses.guided_gram_matrix(f, t), [[3.25]], rtol=1e-6)
        np.testing.assert_allclose(losses.guided_gram_matrix(f, t, norm="mass"), [[2.6]], rtol=1e-6)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.parameters("none", "mass")
    def test_matches_numpy(self, norm):
        fn = self.variant(functools.partial(losses.guided_gram_matrix, norm=norm))
        np.testing.assert_allclose(
            fn(self.f[0], self.mask), _numpy_guided_gram(self.f[0], self.mask, norm), rtol=1e-5
        )
        expected = np.stack([_numpy_guided_gram(f, self.mask, norm) for f in self.f])
        np.testing.assert_allclose(fn(self.f, self.mask), expected, rtol=1e-5)
        swept = jax.vmap(fn, in_axes=(0, None))(self.f, self.mask)
        np.testing.assert_allclose(swept, expected, rtol=1e-5)

    def test_ones_mask_is_the_gram(self):
        ones = np.ones((_H, _W), np.float32)
        np.testing.assert_allclose(
            losses.guided_gram_matrix(self.f, ones, norm="mass"),
            losses.gram_matrix(self.f, norm="hw"),
            rtol=1e-5,
        )

    def test_empty_mask_is_zero_not_nan(self):
        out = losses.guided_gram_matrix(self.f, np.zeros((_H, _W)), norm="mass")
        np.testing.assert_array_equal(out, 0.0)

    def test_bad_input(self):
        with self.assertRaisesRegex(ValueError, r"mask must be \[h, w\] .* resolution \(3, 4\)"):
            losses.guided_gram_matrix(self.f, np.ones((6, 8)))


class GuidedStyleLossTest(chex.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(1)
        self.f = rng.normal(size=(_N, _H, _W, _C)).astype(np.float32)
        left = np.zeros((_H, _W), np.float32)
        left[:, :2] = 1.0
        self.masks = np.stack([left, 1.0 - left])  # two regions
        style = rng.normal(size=(2, 5, 5, _C)).astype(np.float32)
        style_masks = rng.uniform(size=(2, 5, 5)).astype(np.float32)
        self.targets = np.stack(
            [_numpy_guided_gram(s, m, "mass") for s, m in zip(style, style_masks)]
        ).astype(np.float32)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.parameters("gatys", "johnson", "mean")
    def test_matches_numpy(self, norm):
        fn = self.variant(functools.partial(losses.guided_style_loss, norm=norm))
        expected = [_numpy_guided_loss(f, self.masks, self.targets, norm) for f in self.f]
        np.testing.assert_allclose(fn(self.f, self.masks, self.targets), expected, rtol=1e-5)
        np.testing.assert_allclose(fn(self.f[0], self.masks, self.targets), expected[0], rtol=1e-5)
        swept = jax.vmap(fn, in_axes=(0, None, None))(self.f, self.masks, self.targets)
        np.testing.assert_allclose(swept, expected, rtol=1e-5)

    @parameterized.parameters("gatys", "johnson", "mean")
    def test_one_full_region_is_the_style_loss(self, norm):
        per_position = losses.gram_matrix(self.f[1], norm="hw")
        ones = np.ones((1, _H, _W), np.float32)
        guided = losses.guided_style_loss(self.f[0], ones, per_position[None], norm=norm)
        # style_layer_loss's targets: un-normalized (gatys, times M) or divided by C (johnson,
        # mean).
        target = per_position * _H * _W if norm == "gatys" else per_position / _C
        np.testing.assert_allclose(
            guided, losses.style_layer_loss(self.f[0], target, norm=norm), rtol=1e-5
        )

    def test_no_gradient_outside_the_regions(self):
        # Region 0 only: positions of region 1 get no style gradient (1x1 features, so each
        # position is only seen by itself).
        grad = jax.grad(losses.guided_style_loss)(self.f[0], self.masks[:1], self.targets[:1])
        np.testing.assert_array_equal(grad[:, 2:], 0.0)
        self.assertTrue(np.any(grad[:, :2] != 0))

    def test_gradient_finite_differences(self):
        with jax.enable_x64(True):
            f = jnp.asarray(self.f, jnp.float64)
            soft = np.random.default_rng(2).uniform(size=(2, _H, _W))
            fn = lambda x, m: jnp.sum(losses.guided_style_loss(x, m, self.targets, kind="huber"))
            check_grads(fn, (f, soft), order=1)

    def test_bad_input(self):
        with self.assertRaisesRegex(ValueError, r"A must have shape \(2, 2, 2\)"):
            losses.guided_style_loss(self.f, self.masks, self.targets[:1])
        with self.assertRaisesRegex(ValueError, r"masks must be \[R, h, w\]"):
            losses.guided_style_loss(self.f, self.masks[0], self.targets)


class ResizeMaskTest(parameterized.TestCase):
    @parameterized.parameters(((37, 50), (9, 12)), ((37, 50), (18, 25)), ((8, 8), (16, 16)))
    def test_matches_pil_bilinear(self, shape, size):
        mask = np.random.default_rng(3).uniform(size=shape).astype(np.float32)
        expected = np.asarray(Image.fromarray(mask, "F").resize(size[::-1], Image.BILINEAR))
        np.testing.assert_allclose(losses.resize_mask(mask, size), expected, atol=1e-5)

    def test_regions_resized_alike(self):
        masks = np.random.default_rng(4).uniform(size=(3, 20, 16)).astype(np.float32)
        out = losses.resize_mask(masks, (5, 4))
        self.assertEqual(out.shape, (3, 5, 4))
        np.testing.assert_allclose(out[2], losses.resize_mask(masks[2], (5, 4)), rtol=1e-6)

    def test_bad_input(self):
        with self.assertRaisesRegex(ValueError, r"mask must have rank >= 2"):
            losses.resize_mask(np.ones(4), (2, 2))


if __name__ == "__main__":
    absltest.main()
