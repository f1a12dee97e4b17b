"""Tests for nst/losses/_style.py: Grams and style losses against NumPy loops and the
textbook gradient of Gatys et al."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized
from jax.test_util import check_grads

from nst import losses

_N, _H, _W, _C = 2, 3, 4, 5


def _numpy_gram(f: np.ndarray, norm: str) -> np.ndarray:
    """G_ij = sum over positions of F_i F_j (Gatys et al. eq. 3), by explicit loops."""
    h, w, c = f.shape
    g = np.zeros((c, c))
    for y in range(h):
        for x in range(w):
            for i in range(c):
                for j in range(c):
                    g[i, j] += float(f[y, x, i]) * float(f[y, x, j])
    return g / {"none": 1, "hw": h * w, "chw": c * h * w}[norm]


def _numpy_layer_loss(f: np.ndarray, a: np.ndarray, norm: str, kind: str) -> float:
    """Gatys et al. eq. (4): 1/(4 N^2 M^2) sum (G - A)^2; Johnson: sum (G_chw - A)^2;
    mean (neural-style's nn.MSECriterion of G_chw): the mean of (G_chw - A)^2 over C x C."""
    h, w, c = f.shape
    g = _numpy_gram(f, "none" if norm == "gatys" else "chw")
    d = g - a
    if norm == "mean":
        return float(np.mean(d**2 if kind == "squared" else np.abs(d)))
    total = float(np.sum(d**2 if kind == "squared" else np.abs(d)))
    return total / (4 * c**2 * (h * w) ** 2) if norm == "gatys" else total


class GramMatrixTest(chex.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        self.f = np.random.default_rng(0).normal(size=(_N, _H, _W, _C)).astype(np.float32)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.parameters("none", "hw", "chw")
    def test_matches_numpy(self, norm):
        fn = self.variant(functools.partial(losses.gram_matrix, norm=norm))
        single = fn(self.f[0])
        self.assertEqual(single.shape, (_C, _C))
        np.testing.assert_allclose(single, _numpy_gram(self.f[0], norm), rtol=1e-5, atol=1e-6)
        batch = fn(self.f)
        self.assertEqual(batch.shape, (_N, _C, _C))
        expected = np.stack([_numpy_gram(f, norm) for f in self.f])
        np.testing.assert_allclose(batch, expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(jax.vmap(fn)(self.f), batch, rtol=1e-6)

    def test_default_is_unnormalized(self):
        np.testing.assert_allclose(
            losses.gram_matrix(self.f[0]), _numpy_gram(self.f[0], "none"), rtol=1e-5
        )

    def test_gradient(self):
        with jax.enable_x64(True):
            f = jnp.asarray(self.f, jnp.float64)
            check_grads(lambda x: jnp.sum(losses.gram_matrix(x, norm="chw") ** 2), (f,), order=1)

    def test_gradient_finite_on_flat_features(self):
        for features in (np.zeros((_H, _W, _C)), np.ones((_H, _W, _C))):
            grad = jax.grad(lambda x: jnp.sum(losses.gram_matrix(x)))(features)
            self.assertTrue(np.all(np.isfinite(grad)))

    def test_bfloat16_close_to_float32(self):
        out = losses.gram_matrix(self.f.astype(jnp.bfloat16), norm="hw")
        self.assertEqual(out.dtype, jnp.float32)
        np.testing.assert_allclose(out, losses.gram_matrix(self.f, norm="hw"), rtol=3e-2, atol=3e-2)

    def test_bad_input(self):
        with self.assertRaisesRegex(ValueError, r"F must have rank 3 or 4 .*got shape \(4, 5\)"):
            losses.gram_matrix(np.zeros((4, 5)))
        with self.assertRaisesRegex(ValueError, r"norm must be one of 'none', 'hw', 'chw'"):
            losses.gram_matrix(self.f, norm="c")


class StyleLayerLossTest(chex.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(1)
        self.f = rng.normal(size=(_N, _H, _W, _C)).astype(np.float32)
        style = rng.normal(size=(_N, _H, _W, _C)).astype(np.float32)
        self.targets = {  # per image, in each norm's convention
            "gatys": np.stack([_numpy_gram(s, "none") for s in style]).astype(np.float32),
            "johnson": np.stack([_numpy_gram(s, "chw") for s in style]).astype(np.float32),
        }
        self.targets["mean"] = self.targets["johnson"]

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.product(norm=("gatys", "johnson", "mean"), kind=("squared", "abs"))
    def test_matches_numpy(self, norm, kind):
        fn = self.variant(functools.partial(losses.style_layer_loss, norm=norm, kind=kind))
        a = self.targets[norm]
        single = fn(self.f[0], a[0])
        self.assertEqual(single.shape, ())
        np.testing.assert_allclose(
            single, _numpy_layer_loss(self.f[0], a[0], norm, kind), rtol=1e-5
        )
        batch = fn(self.f, a)
        expected = [_numpy_layer_loss(f, t, norm, kind) for f, t in zip(self.f, a)]
        self.assertEqual(batch.shape, (_N,))
        np.testing.assert_allclose(batch, expected, rtol=1e-5)
        np.testing.assert_allclose(jax.vmap(fn)(self.f, a), batch, rtol=1e-6)

    @parameterized.parameters("gatys", "johnson")
    def test_shared_target_broadcasts(self, norm):
        a = self.targets[norm][0]
        out = losses.style_layer_loss(self.f, a, norm=norm)
        stacked = jnp.stack([losses.style_layer_loss(f, a, norm=norm) for f in self.f])
        np.testing.assert_allclose(out, stacked, rtol=1e-6)
        # The engine's pattern: vmap over generated images, one target closed over.
        swept = jax.vmap(lambda f: losses.style_layer_loss(f, a, norm=norm))(self.f)
        np.testing.assert_allclose(swept, stacked, rtol=1e-6)

    def test_gatys_textbook_gradient(self):
        # Gatys et al. 2016, eq. (6): with the paper's F^l as N x M (channels x positions),
        # dE/dF = 1/(N^2 M^2) (F^T (G - A))^T; in our [M, N] layout that is F (G - A) / (N^2 M^2).
        f, a = self.f[0].astype(np.float64), self.targets["gatys"][0].astype(np.float64)
        m, n = _H * _W, _C
        f_paper = f.reshape(m, n).T  # N x M
        g = f_paper @ f_paper.T
        expected = (f_paper.T @ (g - a)) / (n**2 * m**2)  # M x N
        grad = jax.grad(lambda x: losses.style_layer_loss(x, a))(self.f[0])
        np.testing.assert_allclose(grad, expected.reshape(_H, _W, _C), rtol=1e-4, atol=1e-8)

    @parameterized.product(norm=("gatys", "johnson"), kind=("squared", "abs", "huber", "smooth_l1"))
    def test_gradients(self, norm, kind):
        with jax.enable_x64(True):
            f = jnp.asarray(self.f, jnp.float64)
            a = jnp.asarray(self.targets[norm], jnp.float64)
            fn = lambda x, t: jnp.sum(losses.style_layer_loss(x, t, norm=norm, kind=kind))
            check_grads(fn, (f, a), order=1)

    def test_gradient_finite_on_flat_features(self):
        a = self.targets["gatys"][0]
        for features in (np.zeros((_H, _W, _C), np.float32), np.ones((_H, _W, _C), np.float32)):
            for kind in ("squared", "abs", "huber"):
                grad = jax.grad(lambda x, k=kind: losses.style_layer_loss(x, a, kind=k))(features)
                self.assertTrue(np.all(np.isfinite(grad)), kind)

    @parameterized.parameters("gatys", "johnson")
    def test_bfloat16_close_to_float32(self, norm):
        a = self.targets[norm]
        out = losses.style_layer_loss(self.f.astype(jnp.bfloat16), a, norm=norm)
        self.assertEqual(out.dtype, jnp.float32)
        np.testing.assert_allclose(out, losses.style_layer_loss(self.f, a, norm=norm), rtol=5e-2)

    def test_bad_target_shape(self):
        a = self.targets["gatys"]
        with self.assertRaisesRegex(ValueError, r"A must be the target Gram of shape \(5, 5\)"):
            losses.style_layer_loss(self.f[0], a)  # batched targets, single image
        with self.assertRaisesRegex(ValueError, r"A must be .*got shape \(4, 4\)"):
            losses.style_layer_loss(self.f, a[0, :4, :4])
        with self.assertRaisesRegex(ValueError, r"A must be .*\(2, 5, 5\).*got shape \(3, 5, 5\)"):
            losses.style_layer_loss(self.f, np.concatenate([a, a[:1]]))

    def test_bad_rank_and_options(self):
        with self.assertRaisesRegex(ValueError, r"F must have rank 3 or 4"):
            losses.style_layer_loss(np.zeros((1, 1, 2, 3, 5)), np.zeros((5, 5)))
        with self.assertRaisesRegex(ValueError, r"norm must be one of 'gatys', 'johnson'"):
            losses.style_layer_loss(self.f, self.targets["gatys"], norm="hw")
        with self.assertRaisesRegex(ValueError, r"kind must be one of"):
            losses.style_layer_loss(self.f, self.targets["gatys"], kind="l2")


class StyleLossTest(parameterized.TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(2)
        shapes = {"conv1_1": (_N, 4, 4, 3), "conv2_1": (_N, 2, 2, 6), "conv3_1": (_N, 1, 1, 8)}
        self.features = {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}
        self.style = {k: rng.normal(size=s[1:]).astype(np.float32) for k, s in shapes.items()}
        self.weights = {"conv1_1": 0.3, "conv2_1": 2.0}  # conv3_1 deliberately unweighted

    @parameterized.parameters("gatys", "johnson", "mean")
    def test_weighted_sum_matches_numpy(self, norm):
        targets = losses.style_targets(self.style, norm=norm)
        out = losses.style_loss(self.features, targets, self.weights, norm=norm)
        self.assertEqual(out.shape, (_N,))
        for i in range(_N):
            expected = sum(
                w * _numpy_layer_loss(self.features[k][i], np.asarray(targets[k]), norm, "squared")
                for k, w in self.weights.items()
            )
            np.testing.assert_allclose(out[i], expected, rtol=1e-5)

    def test_style_targets_use_matching_gram_norm(self):
        gatys = losses.style_targets(self.style, norm="gatys")
        johnson = losses.style_targets(self.style, norm="johnson")
        self.assertEqual(set(gatys), set(self.style))
        for k, s in self.style.items():
            np.testing.assert_allclose(gatys[k], _numpy_gram(s, "none"), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(johnson[k], _numpy_gram(s, "chw"), rtol=1e-5, atol=1e-6)

    @parameterized.parameters("gatys", "johnson")
    def test_own_targets_cost_zero(self, norm):
        targets = losses.style_targets(self.style, norm=norm)
        out = losses.style_loss(self.style, targets, self.weights, norm=norm)
        np.testing.assert_allclose(out, 0.0, atol=1e-12)

    def test_jit_and_traced_weights(self):
        targets = losses.style_targets(self.style)
        fn = jax.jit(lambda f, w: losses.style_loss(f, targets, w, kind="huber", delta=0.5))
        eager = losses.style_loss(self.features, targets, self.weights, kind="huber", delta=0.5)
        np.testing.assert_allclose(fn(self.features, self.weights), eager, rtol=1e-6)
        weight_grad = jax.grad(lambda w: jnp.sum(fn(self.features, w)))(self.weights)
        layer = losses.style_layer_loss(
            self.features["conv2_1"], targets["conv2_1"], kind="huber", delta=0.5
        )
        np.testing.assert_allclose(weight_grad["conv2_1"], jnp.sum(layer), rtol=1e-6)

    def test_missing_layers(self):
        targets = losses.style_targets(self.style)
        with self.assertRaisesRegex(ValueError, r"features has no layer 'conv4_1'"):
            losses.style_loss(self.features, targets, {"conv4_1": 1.0})
        partial_targets = {"conv1_1": targets["conv1_1"]}
        with self.assertRaisesRegex(ValueError, r"target_grams has no layer 'conv2_1'"):
            losses.style_loss(self.features, partial_targets, self.weights)
        with self.assertRaisesRegex(ValueError, r"layer_weights must name at least one layer"):
            losses.style_loss(self.features, targets, {})

    def test_bad_layer_names_layer(self):
        targets = losses.style_targets(self.style)
        swapped = {"conv1_1": targets["conv2_1"], "conv2_1": targets["conv2_1"]}
        with self.assertRaisesRegex(ValueError, r"layer 'conv1_1': A must be the target Gram"):
            losses.style_loss(self.features, swapped, self.weights)

    def test_unknown_norm(self):
        with self.assertRaisesRegex(ValueError, r"norm must be one of 'gatys', 'johnson'"):
            losses.style_targets(self.style, norm="chw")


if __name__ == "__main__":
    absltest.main()
