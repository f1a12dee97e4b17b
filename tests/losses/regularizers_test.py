"""Tests for nst/losses/_regularizers.py: total variation against explicit NumPy loops."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized
from jax.test_util import check_grads

from nst import losses

_N, _H, _W, _C = 2, 4, 5, 3


def _numpy_tv(x: np.ndarray, kind: str, beta: float = 2.0) -> float:
    """The issue's definitions, by explicit loops over rows, columns and channels."""
    x = x.astype(np.float64)
    h, w, c = x.shape
    total = 0.0
    if kind in ("l1", "l2"):
        p = 1 if kind == "l1" else 2
        for k in range(c):
            for i in range(h - 1):
                for j in range(w):
                    total += abs(x[i + 1, j, k] - x[i, j, k]) ** p
            for i in range(h):
                for j in range(w - 1):
                    total += abs(x[i, j + 1, k] - x[i, j, k]) ** p
        return total
    # Mahendran & Vedaldi 2015, eq. (2): only pixels with both a right and a lower neighbour.
    for k in range(c):
        for i in range(h - 1):
            for j in range(w - 1):
                s = (x[i, j + 1, k] - x[i, j, k]) ** 2 + (x[i + 1, j, k] - x[i, j, k]) ** 2
                total += s ** (beta / 2)
    return total


class TotalVariationTest(chex.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        self.x = np.random.default_rng(0).random((_N, _H, _W, _C)).astype(np.float32)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(
        ("l1", "l1", 2.0),
        ("l2", "l2", 2.0),
        ("beta1", "beta", 1.0),
        ("beta2", "beta", 2.0),
        ("beta3", "beta", 3.0),
    )
    def test_matches_numpy(self, kind, beta):
        fn = self.variant(functools.partial(losses.total_variation, kind=kind, beta=beta))
        single = fn(self.x[0])
        self.assertEqual(single.shape, ())
        np.testing.assert_allclose(single, _numpy_tv(self.x[0], kind, beta), rtol=1e-5)
        batch = fn(self.x)
        self.assertEqual(batch.shape, (_N,))
        np.testing.assert_allclose(batch, [_numpy_tv(x, kind, beta) for x in self.x], rtol=1e-5)
        np.testing.assert_allclose(jax.vmap(fn)(self.x), batch, rtol=1e-6)

    def test_default_is_l1(self):
        np.testing.assert_allclose(
            losses.total_variation(self.x[0]), _numpy_tv(self.x[0], "l1"), rtol=1e-5
        )

    def test_beta2_differs_from_l2_only_at_the_border(self):
        # beta=2 drops the last row's horizontal and the last column's vertical differences.
        x = self.x[0].astype(np.float64)
        border = np.sum((x[-1, 1:] - x[-1, :-1]) ** 2) + np.sum((x[1:, -1] - x[:-1, -1]) ** 2)
        l2 = losses.total_variation(self.x[0], kind="l2")
        beta2 = losses.total_variation(self.x[0], kind="beta", beta=2.0)
        np.testing.assert_allclose(l2 - beta2, border, rtol=1e-4)

    @parameterized.named_parameters(
        ("l1", "l1", 2.0), ("l2", "l2", 2.0), ("beta1_5", "beta", 1.5), ("beta2_5", "beta", 2.5)
    )
    def test_gradients(self, kind, beta):
        with jax.enable_x64(True):
            x = jnp.asarray(self.x, jnp.float64)
            fn = lambda v: jnp.sum(losses.total_variation(v, kind=kind, beta=beta))
            check_grads(fn, (x,), order=1)

    @parameterized.named_parameters(
        ("l1", "l1", 2.0), ("l2", "l2", 2.0), ("beta1", "beta", 1.0), ("beta1_5", "beta", 1.5)
    )
    def test_flat_image_has_zero_gradient(self, kind, beta):
        fn = lambda v: losses.total_variation(v, kind=kind, beta=beta)
        flat = np.full((_H, _W, _C), 0.5, np.float32)
        self.assertEqual(float(fn(flat)), 0.0)
        np.testing.assert_array_equal(jax.grad(fn)(flat), np.zeros_like(flat))

    @parameterized.parameters(1.0, 1.5)
    def test_gradient_finite_at_partially_flat_image(self, beta):
        x = self.x[0].copy()
        x[:2] = 0.25  # zero differences in the top rows, non-zero elsewhere
        grad = jax.jit(jax.grad(lambda v: losses.total_variation(v, kind="beta", beta=beta)))(x)
        self.assertTrue(np.all(np.isfinite(grad)))
        self.assertGreater(float(np.abs(grad).max()), 0.0)

    def test_traced_beta(self):
        out = jax.vmap(lambda b: losses.total_variation(self.x[0], kind="beta", beta=b))(
            jnp.array([1.0, 2.0])
        )
        np.testing.assert_allclose(
            out, [_numpy_tv(self.x[0], "beta", 1.0), _numpy_tv(self.x[0], "beta", 2.0)], rtol=1e-5
        )

    @parameterized.parameters("l1", "l2", "beta")
    def test_bfloat16_close_to_float32(self, kind):
        out = losses.total_variation(self.x.astype(jnp.bfloat16), kind=kind)
        self.assertEqual(out.dtype, jnp.float32)
        np.testing.assert_allclose(out, losses.total_variation(self.x, kind=kind), rtol=2e-2)

    def test_bad_input(self):
        with self.assertRaisesRegex(ValueError, r"x must have rank 3 or 4 .*got shape \(4, 5\)"):
            losses.total_variation(np.zeros((4, 5)))
        with self.assertRaisesRegex(ValueError, r"kind must be one of 'l1', 'l2', 'beta'"):
            losses.total_variation(self.x, kind="huber")
        with self.assertRaisesRegex(ValueError, r"beta must be > 0"):
            losses.total_variation(self.x, kind="beta", beta=0.0)


if __name__ == "__main__":
    absltest.main()
