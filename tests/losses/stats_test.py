"""Tests for nst/losses/_moments.py and _mrf.py: style statistics beyond the Gram matrix
(mean + Gram, Gaussian Wasserstein-2, MRF patch matching) against NumPy / SciPy references
and finite differences."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from absl.testing import absltest, parameterized
from jax.test_util import check_grads

from nst import losses

_N, _H, _W, _C = 2, 4, 5, 3


def _numpy_moments(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and second raw moment over positions, by explicit loops."""
    h, w, c = f.shape
    mean = np.zeros(c)
    srm = np.zeros((c, c))
    for y in range(h):
        for x in range(w):
            v = f[y, x].astype(np.float64)
            mean += v
            srm += np.outer(v, v)
    return mean / (h * w), srm / (h * w)


def _numpy_w2(f: np.ndarray, target_mean, target_cov, eps: float) -> float:
    """W2^2 / C between Gaussians; the cross term as sum sqrt(eig(C1 C2)) (tr (C1 C2)^(1/2),
    Dowson & Landau 1982), an independent route from the loss's (C2^.5 C1 C2^.5)^.5."""
    mean, srm = _numpy_moments(f)
    c = f.shape[-1]
    cov = srm - np.outer(mean, mean) + eps * np.eye(c)
    tcov = np.asarray(target_cov, np.float64) + eps * np.eye(c)
    cross = np.sum(np.sqrt(np.clip(np.linalg.eigvals(cov @ tcov).real, 0, None)))
    w2 = np.sum((mean - target_mean) ** 2) + np.trace(cov) + np.trace(tcov) - 2 * cross
    return w2 / c


def _numpy_patches(f: np.ndarray, k: int, stride: int) -> np.ndarray:
    """k x k windows by loops, flattened as (c, a, b) (the layout mrf_patches documents)."""
    h, w, _ = f.shape
    out = []
    for y in range(0, h - k + 1, stride):
        for x in range(0, w - k + 1, stride):
            out.append(np.transpose(f[y : y + k, x : x + k, :], (2, 0, 1)).ravel())
    return np.asarray(out, np.float64)


def _numpy_mrf(f, style_patches, k, stride, norm) -> float:
    """Li & Wand eq. (2): nearest style patch by normalized cross-correlation, by loops."""
    own = _numpy_patches(f, k, stride)
    total = 0.0
    for p in own:
        best, best_score = None, -np.inf
        for q in style_patches:
            score = p @ q / (np.linalg.norm(p) * np.linalg.norm(q))
            if score > best_score:
                best, best_score = q, score
        total += np.sum((p - best) ** 2)
    return total / own.size if norm == "mean" else total


class FeatureMomentsTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_matches_numpy(self):
        f = np.random.default_rng(0).normal(size=(_N, _H, _W, _C)).astype(np.float32)
        mean, srm = self.variant(losses.feature_moments)(f)
        self.assertEqual(mean.shape, (_N, _C))
        self.assertEqual(srm.shape, (_N, _C, _C))
        for i in range(_N):
            m, s = _numpy_moments(f[i])
            np.testing.assert_allclose(mean[i], m, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(srm[i], s, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(srm, losses.gram_matrix(f, norm="hw"), rtol=1e-6)
        m0, s0 = losses.feature_moments(f[0])
        np.testing.assert_allclose(m0, mean[0], rtol=1e-6)
        np.testing.assert_allclose(s0, srm[0], rtol=1e-6)
        vm, vs = jax.vmap(losses.feature_moments)(f)
        np.testing.assert_allclose(vm, mean, rtol=1e-6)
        np.testing.assert_allclose(vs, srm, rtol=1e-6)


class SqrtmTest(chex.TestCase):
    def setUp(self):
        super().setUp()
        a = np.random.default_rng(1).normal(size=(5, 5))
        self.spd = a @ a.T + 0.5 * np.eye(5)

    @chex.variants(with_jit=True, without_jit=True)
    def test_matches_scipy(self):
        out = self.variant(losses.sqrtm_psd)(self.spd.astype(np.float32))
        np.testing.assert_allclose(out, scipy.linalg.sqrtm(self.spd).real, rtol=1e-4, atol=1e-5)
        batch = np.stack([self.spd, 2 * self.spd]).astype(np.float32)
        np.testing.assert_allclose(
            jax.vmap(losses.sqrtm_psd)(batch), losses.sqrtm_psd(batch), rtol=1e-5, atol=1e-6
        )

    def test_gradient_finite_differences(self):
        with jax.enable_x64(True):
            a = jnp.asarray(self.spd)
            w = jnp.asarray(np.random.default_rng(2).normal(size=(5, 5)))
            check_grads(lambda x: jnp.sum(w * losses.sqrtm_psd(x)), (a,), order=1)

    def test_gradient_at_repeated_eigenvalues(self):
        # d sqrt(I + tE)/dt at t=0 is E/2 (E symmetric): finite where eigh's derivative is not.
        e = np.array([[1.0, 2.0], [2.0, -1.0]], np.float32)
        grad = jax.grad(lambda x: jnp.sum(jnp.asarray(e) * losses.sqrtm_psd(x)))(np.eye(2))
        np.testing.assert_allclose(grad, e / 2, rtol=1e-5, atol=1e-6)

    def test_gradient_finite_at_singular_matrix(self):
        grad = jax.grad(lambda x: jnp.trace(losses.sqrtm_psd(x)))(np.zeros((3, 3), np.float32))
        self.assertTrue(np.all(np.isfinite(grad)))

    def test_bad_input(self):
        with self.assertRaisesRegex(ValueError, r"A must be square"):
            losses.sqrtm_psd(np.zeros((2, 3)))


class StyleMeanLossTest(chex.TestCase, parameterized.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.product(norm=("gatys", "johnson", "mean"), kind=("squared", "abs"))
    def test_matches_numpy(self, norm, kind):
        rng = np.random.default_rng(3)
        f = rng.normal(size=(_N, _H, _W, _C)).astype(np.float32)
        target = rng.normal(size=(_C,)).astype(np.float32)
        fn = self.variant(functools.partial(losses.style_mean_loss, norm=norm, kind=kind))
        scale = {"gatys": 0.25, "johnson": 1.0, "mean": 1.0 / _C**2}[norm]
        expected = []
        for i in range(_N):
            d = _numpy_moments(f[i])[0] - target
            expected.append(scale * np.mean(d**2 if kind == "squared" else np.abs(d)))
        np.testing.assert_allclose(fn(f, target), expected, rtol=1e-5)
        np.testing.assert_allclose(fn(f[0], target), expected[0], rtol=1e-5)
        np.testing.assert_allclose(jax.vmap(fn, in_axes=(0, None))(f, target), expected, rtol=1e-5)

    def test_gradient(self):
        with jax.enable_x64(True):
            rng = np.random.default_rng(4)
            f, t = rng.normal(size=(_H, _W, _C)), rng.normal(size=(_C,))
            check_grads(lambda x: losses.style_mean_loss(x, t), (f,), order=1)

    def test_bad_input(self):
        with self.assertRaisesRegex(ValueError, r"target_mean must have shape \(3,\)"):
            losses.style_mean_loss(np.zeros((_H, _W, _C)), np.zeros(4))


class WassersteinStyleLossTest(chex.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(5)
        self.f = rng.normal(size=(_N, _H, _W, _C)).astype(np.float32)
        style = rng.normal(size=(6, 7, _C)) * np.array([1.0, 2.0, 0.5]) + 1.0
        mean, srm = _numpy_moments(style)
        self.mean, self.cov = mean, srm - np.outer(mean, mean)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.parameters(0.0, 1e-2)
    def test_matches_numpy(self, eps):
        fn = self.variant(functools.partial(losses.wasserstein_style_loss, eps=eps))
        mean, cov = self.mean.astype(np.float32), self.cov.astype(np.float32)
        expected = [_numpy_w2(f, self.mean, self.cov, eps) for f in self.f]
        np.testing.assert_allclose(fn(self.f, mean, cov), expected, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(fn(self.f[1], mean, cov), expected[1], rtol=1e-4, atol=1e-5)
        swept = jax.vmap(fn, in_axes=(0, None, None))(self.f, mean, cov)
        np.testing.assert_allclose(swept, expected, rtol=1e-4, atol=1e-5)

    def test_one_channel_closed_form(self):
        # W2^2 between N(m1, s1^2) and N(m2, s2^2) is (m1 - m2)^2 + (s1 - s2)^2.
        f = np.array([0.0, 1.0, 2.0, 5.0], np.float32).reshape(2, 2, 1)
        m1, s1 = f.mean(), f.std()
        out = losses.wasserstein_style_loss(f, np.array([3.0]), np.array([[9.0]]), eps=0.0)
        np.testing.assert_allclose(out, (m1 - 3.0) ** 2 + (s1 - 3.0) ** 2, rtol=1e-5)

    def test_zero_at_the_target(self):
        mean, srm = _numpy_moments(self.f[0])
        out = losses.wasserstein_style_loss(self.f[0], mean, srm - np.outer(mean, mean))
        self.assertLess(abs(float(out)), 1e-4)

    def test_precomputed_sqrt_is_the_same(self):
        eps = 1e-3
        root = losses.sqrtm_psd(self.cov + eps * np.eye(_C))
        a = losses.wasserstein_style_loss(self.f, self.mean, self.cov, eps=eps)
        b = losses.wasserstein_style_loss(
            self.f, self.mean, self.cov, eps=eps, target_cov_sqrt=root
        )
        np.testing.assert_allclose(a, b, rtol=1e-5)

    def test_gradient_finite_differences(self):
        with jax.enable_x64(True):
            f = jnp.asarray(self.f[0], jnp.float64)
            fn = lambda x: losses.wasserstein_style_loss(x, self.mean, self.cov)
            check_grads(fn, (f,), order=1, atol=1e-4, rtol=1e-4)

    def test_gradient_finite_on_flat_features(self):
        for value in (0.0, 1.0):
            flat = np.full((_H, _W, _C), value, np.float32)
            grad = jax.grad(losses.wasserstein_style_loss)(flat, self.mean, self.cov)
            self.assertTrue(np.all(np.isfinite(grad)))

    def test_bad_input(self):
        with self.assertRaisesRegex(ValueError, r"target_cov must have shape \(3, 3\)"):
            losses.wasserstein_style_loss(self.f, self.mean, np.eye(2))
        with self.assertRaisesRegex(ValueError, r"eps must be >= 0"):
            losses.wasserstein_style_loss(self.f, self.mean, self.cov, eps=-1.0)


class MrfTest(chex.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(6)
        self.f = rng.normal(size=(_N, 5, 6, 2)).astype(np.float32)
        self.style = rng.normal(size=(6, 5, 2)).astype(np.float32)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.parameters((3, 1), (2, 2))
    def test_patches_match_numpy(self, k, stride):
        fn = self.variant(functools.partial(losses.mrf_patches, patch_size=k, stride=stride))
        np.testing.assert_allclose(fn(self.style), _numpy_patches(self.style, k, stride))
        batch = fn(self.f)
        self.assertEqual(batch.shape[0], _N)
        np.testing.assert_allclose(batch[1], _numpy_patches(self.f[1], k, stride))

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.product(norm=("mean", "sum"), stride=(1, 2))
    def test_loss_matches_numpy(self, norm, stride):
        patches = losses.mrf_patches(self.style)
        fn = self.variant(functools.partial(losses.mrf_loss, stride=stride, norm=norm))
        expected = [_numpy_mrf(f, np.asarray(patches), 3, stride, norm) for f in self.f]
        np.testing.assert_allclose(fn(self.f, patches), expected, rtol=1e-5)
        np.testing.assert_allclose(fn(self.f[0], patches), expected[0], rtol=1e-5)
        swept = jax.vmap(fn, in_axes=(0, None))(self.f, patches)
        np.testing.assert_allclose(swept, expected, rtol=1e-5)

    def test_zero_for_the_style_itself(self):
        patches = losses.mrf_patches(self.style)
        self.assertLess(float(losses.mrf_loss(self.style, patches)), 1e-10)

    def test_gradient_finite_differences(self):
        # The matching is piecewise constant; at a generic point it does not change within
        # the finite-difference step, so the gradient is the matched patches' difference.
        with jax.enable_x64(True):
            patches = jnp.asarray(losses.mrf_patches(self.style), jnp.float64)
            f = jnp.asarray(self.f[0], jnp.float64)
            fn = lambda x: losses.mrf_loss(x, patches, norm="sum")
            check_grads(fn, (f,), order=1, eps=1e-6)

    def test_bad_input(self):
        with self.assertRaisesRegex(ValueError, r"patches must have shape \[P_s, 18\]"):
            losses.mrf_loss(self.f, np.zeros((4, 10)))
        with self.assertRaisesRegex(ValueError, r"smaller than one 3x3 patch"):
            losses.mrf_patches(np.zeros((2, 5, 1)))
        with self.assertRaisesRegex(ValueError, r"norm must be one of"):
            losses.mrf_loss(self.f, losses.mrf_patches(self.style), norm="max")


if __name__ == "__main__":
    absltest.main()
