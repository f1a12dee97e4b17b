"""Tests for nst/losses/_distances.py: penalty against hand-written NumPy formulas."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl.testing import absltest, parameterized
from jax.test_util import check_grads

from nst import losses

# Differences spanning both sides of every threshold used below (0.5, 1, 2), none at a kink.
_D = np.array([[-3.1, -1.7, -0.9, -0.3, -0.05], [0.04, 0.2, 0.7, 1.3, 2.6]], np.float32)


def _numpy_penalty(d: np.ndarray, kind: str, delta: float) -> np.ndarray:
    """Piecewise definitions as written in the issue, elementwise in float64."""
    d = d.astype(np.float64)
    a = np.abs(d)
    if kind == "squared":
        return d**2
    if kind == "abs":
        return a
    if kind == "huber":  # optax.losses.huber_loss
        return np.where(a <= delta, 0.5 * d**2, delta * (a - 0.5 * delta))
    if kind == "smooth_l1":  # torch.nn.SmoothL1Loss(beta=delta)
        return np.where(a < delta, 0.5 * d**2 / delta, a - 0.5 * delta)
    raise AssertionError(kind)


class PenaltyTest(chex.TestCase, parameterized.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.product(kind=("squared", "abs", "huber", "smooth_l1"), delta=(0.5, 1.0, 2.0))
    def test_matches_numpy(self, kind, delta):
        fn = self.variant(functools.partial(losses.penalty, kind=kind, delta=delta))
        out = fn(_D)
        self.assertEqual(out.shape, _D.shape)
        self.assertEqual(out.dtype, jnp.float32)
        np.testing.assert_allclose(out, _numpy_penalty(_D, kind, delta), rtol=1e-6, atol=1e-7)

    @parameterized.parameters(0.5, 1.0, 2.0)
    def test_huber_matches_optax(self, delta):
        np.testing.assert_allclose(
            losses.penalty(_D, kind="huber", delta=delta),
            optax.losses.huber_loss(_D, delta=delta),
            rtol=1e-6,
        )

    def test_default_is_squared(self):
        np.testing.assert_allclose(losses.penalty(_D), _D.astype(np.float64) ** 2, rtol=1e-6)

    def test_traced_delta_under_vmap(self):
        deltas = jnp.array([0.5, 1.0, 2.0])
        out = jax.vmap(lambda dl: losses.penalty(_D, kind="huber", delta=dl))(deltas)
        for row, dl in zip(out, (0.5, 1.0, 2.0)):
            np.testing.assert_allclose(row, _numpy_penalty(_D, "huber", dl), rtol=1e-6)

    @parameterized.parameters("squared", "abs", "huber", "smooth_l1")
    def test_gradients(self, kind):
        with jax.enable_x64(True):
            d = jnp.asarray(_D, jnp.float64)
            check_grads(lambda x: jnp.sum(losses.penalty(x, kind=kind, delta=1.0)), (d,), order=1)

    @parameterized.parameters("huber", "smooth_l1")
    def test_gradient_is_clipped(self, kind):
        grad = jax.grad(lambda x: jnp.sum(losses.penalty(x, kind=kind, delta=0.5)))(_D)
        bound = 0.5 if kind == "huber" else 1.0
        expected = np.clip(_D / (1.0 if kind == "huber" else 0.5), -bound, bound)
        np.testing.assert_allclose(grad, expected, rtol=1e-6)

    @parameterized.parameters("squared", "abs", "huber", "smooth_l1")
    def test_gradient_finite_at_zero(self, kind):
        grad = jax.grad(lambda x: jnp.sum(losses.penalty(x, kind=kind)))(jnp.zeros(3))
        np.testing.assert_array_equal(grad, np.zeros(3))

    @parameterized.parameters("squared", "abs", "huber", "smooth_l1")
    def test_bfloat16_close_to_float32(self, kind):
        out = losses.penalty(_D.astype(jnp.bfloat16), kind=kind)
        self.assertEqual(out.dtype, jnp.float32)
        np.testing.assert_allclose(out, losses.penalty(_D, kind=kind), rtol=2e-2, atol=1e-3)

    def test_unknown_kind(self):
        with self.assertRaisesRegex(ValueError, r"kind must be one of 'squared', 'abs', 'huber'"):
            losses.penalty(_D, kind="l3")

    @parameterized.parameters(0.0, -1.0)
    def test_nonpositive_delta(self, delta):
        with self.assertRaisesRegex(ValueError, "delta must be > 0"):
            losses.penalty(_D, kind="huber", delta=delta)


def test_distances_differ_on_a_target_with_outliers():
    # Fit one number x to the targets [0, 0, 0, 0, 10] (one outlier) by minimizing the
    # summed penalty of x - t over a fine grid. By hand: MSE gives the mean, 2; L1 the
    # median, 0; Huber (and SmoothL1) with delta 1: 4 x (inliers, quadratic) = 1 (the
    # outlier's gradient, capped at delta), x = 0.25. MSE follows the outlier, the others not.
    targets = jnp.array([0.0, 0.0, 0.0, 0.0, 10.0])
    grid = jnp.linspace(-1.0, 11.0, 12001)
    minimizers = {}
    for kind in ("squared", "abs", "huber", "smooth_l1"):
        totals = losses.penalty(grid[:, None] - targets[None, :], kind=kind, delta=1.0).sum(1)
        minimizers[kind] = float(grid[jnp.argmin(totals)])
    expected = {"squared": 2.0, "abs": 0.0, "huber": 0.25, "smooth_l1": 0.25}
    for kind, x in expected.items():
        np.testing.assert_allclose(minimizers[kind], x, atol=1e-3, err_msg=kind)


if __name__ == "__main__":
    absltest.main()
