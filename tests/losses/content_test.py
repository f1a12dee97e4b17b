"""Tests for nst/losses/_content.py: content_loss against NumPy loops and its known gradient."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized
from jax.test_util import check_grads

from nst import losses

_N, _H, _W, _C = 2, 3, 4, 5


def _numpy_content(f: np.ndarray, p: np.ndarray, norm: str, kind: str) -> float:
    """Gatys et al. eq. (1) (``gatys``) and the per-element mean, by explicit loops."""
    total = 0.0
    for h in range(f.shape[0]):
        for w in range(f.shape[1]):
            for c in range(f.shape[2]):
                d = float(f[h, w, c]) - float(p[h, w, c])
                total += {"squared": d * d, "abs": abs(d)}[kind]
    return 0.5 * total if norm == "gatys" else total / f.size


class ContentLossTest(chex.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(0)
        self.f = rng.normal(size=(_N, _H, _W, _C)).astype(np.float32)
        self.p = rng.normal(size=(_N, _H, _W, _C)).astype(np.float32)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.product(norm=("gatys", "mean"), kind=("squared", "abs"))
    def test_matches_numpy(self, norm, kind):
        fn = self.variant(functools.partial(losses.content_loss, norm=norm, kind=kind))
        single = fn(self.f[0], self.p[0])
        self.assertEqual(single.shape, ())
        np.testing.assert_allclose(
            single, _numpy_content(self.f[0], self.p[0], norm, kind), rtol=1e-5
        )
        batch = fn(self.f, self.p)
        self.assertEqual(batch.shape, (_N,))
        expected = [_numpy_content(f, p, norm, kind) for f, p in zip(self.f, self.p)]
        np.testing.assert_allclose(batch, expected, rtol=1e-5)

    def test_huber_is_mean_of_penalty(self):
        out = losses.content_loss(self.f, self.p, norm="mean", kind="huber", delta=0.7)
        d = np.abs(self.f.astype(np.float64) - self.p)
        per_element = np.where(d <= 0.7, 0.5 * d**2, 0.7 * (d - 0.35))
        np.testing.assert_allclose(out, per_element.mean(axis=(1, 2, 3)), rtol=1e-5)

    @parameterized.parameters("gatys", "mean")
    def test_batch_equals_stacked_and_vmap(self, norm):
        fn = functools.partial(losses.content_loss, norm=norm)
        stacked = jnp.stack([fn(f, p) for f, p in zip(self.f, self.p)])
        np.testing.assert_allclose(fn(self.f, self.p), stacked, rtol=1e-6)
        np.testing.assert_allclose(jax.vmap(fn)(self.f, self.p), stacked, rtol=1e-6)

    def test_shared_target_broadcasts(self):
        out = losses.content_loss(self.f, self.p[0])
        expected = [_numpy_content(f, self.p[0], "gatys", "squared") for f in self.f]
        np.testing.assert_allclose(out, expected, rtol=1e-5)

    def test_gatys_gradient_is_difference(self):
        # Gatys et al. eq. (2), with respect to the features themselves: dL/dF = F - P.
        grad = jax.grad(lambda f: losses.content_loss(f, self.p[0]))(self.f[0])
        np.testing.assert_allclose(grad, self.f[0] - self.p[0], rtol=1e-6)

    def test_gradient_through_relu(self):
        # Gatys et al. eq. (2): dL/dX = (F - P) where F > 0, else 0, for F = relu(X).
        x, p = self.f[0], np.maximum(self.p[0], 0.0)
        grad = jax.grad(lambda v: losses.content_loss(jax.nn.relu(v), p))(x)
        expected = np.where(x > 0, np.maximum(x, 0.0) - p, 0.0)
        np.testing.assert_allclose(grad, expected, rtol=1e-6)

    @parameterized.product(norm=("gatys", "mean"), kind=("squared", "abs", "huber", "smooth_l1"))
    def test_gradients(self, norm, kind):
        with jax.enable_x64(True):
            f, p = jnp.asarray(self.f, jnp.float64), jnp.asarray(self.p, jnp.float64)
            fn = lambda a, b: jnp.sum(losses.content_loss(a, b, norm=norm, kind=kind))
            check_grads(fn, (f, p), order=1)

    @parameterized.parameters("gatys", "mean")
    def test_bfloat16_close_to_float32(self, norm):
        bf16 = losses.content_loss(
            self.f.astype(jnp.bfloat16), self.p.astype(jnp.bfloat16), norm=norm
        )
        self.assertEqual(bf16.dtype, jnp.float32)
        np.testing.assert_allclose(bf16, losses.content_loss(self.f, self.p, norm=norm), rtol=2e-2)
        grad = jax.grad(lambda f: losses.content_loss(f, self.p[0]))(self.f[0].astype(jnp.bfloat16))
        self.assertEqual(grad.dtype, jnp.bfloat16)

    def test_identical_features_cost_zero(self):
        np.testing.assert_array_equal(losses.content_loss(self.f, self.f), np.zeros(_N))

    def test_wrong_rank(self):
        with self.assertRaisesRegex(ValueError, r"F must have rank 3 or 4 .*got shape \(5,\)"):
            losses.content_loss(np.zeros(5), np.zeros(5))

    def test_mismatched_shapes(self):
        with self.assertRaisesRegex(ValueError, r"P must have the shape of F"):
            losses.content_loss(self.f, self.p[:, :, :2])
        with self.assertRaisesRegex(ValueError, r"P must have the shape of F"):
            losses.content_loss(self.f[0], self.p)  # batched target, single image

    def test_unknown_norm_and_kind(self):
        with self.assertRaisesRegex(ValueError, r"norm must be one of 'gatys', 'mean'; got 'sum'"):
            losses.content_loss(self.f, self.p, norm="sum")
        with self.assertRaisesRegex(ValueError, r"kind must be one of .*'smooth_l1'"):
            losses.content_loss(self.f, self.p, kind="cube")


if __name__ == "__main__":
    absltest.main()
