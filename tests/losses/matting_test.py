"""Tests for nst/losses/_matting.py: the matting Laplacian against a per-window loop, its
algebraic properties, and photorealism_loss against dense NumPy algebra."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse
from absl.testing import absltest, parameterized
from jax.experimental import sparse as jsparse
from jax.test_util import check_grads

from nst import losses


def _loop_laplacian(image: np.ndarray, eps: float, radius: int) -> np.ndarray:
    """Levin, Lischinski, Weiss 2008, eq. (12), accumulated window by window, pair by pair."""
    h, w, _ = image.shape
    size = 2 * radius + 1
    n = size * size
    dense = np.zeros((h * w, h * w))
    for top in range(h - size + 1):
        for left in range(w - size + 1):
            pixels = [(y, x) for y in range(top, top + size) for x in range(left, left + size)]
            colours = np.array([image[y, x] for y, x in pixels], np.float64)  # [n, 3]
            mu = colours.mean(axis=0)
            sigma = sum(np.outer(c - mu, c - mu) for c in colours) / n
            inv = np.linalg.inv(sigma + eps / n * np.eye(3))
            for a, (ya, xa) in enumerate(pixels):
                for b, (yb, xb) in enumerate(pixels):
                    value = (a == b) - (1 + (colours[a] - mu) @ inv @ (colours[b] - mu)) / n
                    dense[ya * w + xa, yb * w + xb] += value
    return dense


class MattingLaplacianTest(parameterized.TestCase):
    def setUp(self):
        super().setUp()
        self.image = np.random.default_rng(0).random((6, 7, 3))

    @parameterized.parameters((1e-7, 1), (1e-2, 1), (1e-5, 2))
    def test_matches_window_loop(self, eps, radius):
        laplacian = losses.matting_laplacian(self.image, eps=eps, radius=radius)
        self.assertIsInstance(laplacian, scipy.sparse.csr_matrix)
        self.assertTrue(laplacian.has_canonical_format)  # sorted, no duplicates
        self.assertEqual(laplacian.shape, (42, 42))
        expected = _loop_laplacian(self.image, eps, radius)
        np.testing.assert_allclose(laplacian.toarray(), expected, rtol=1e-7, atol=1e-7)

    def test_sparsity_pattern(self):
        # Pixels interact only when some window holds both: |dy|, |dx| <= 2r.
        dense = losses.matting_laplacian(self.image).toarray()
        ys, xs = np.divmod(np.arange(42), 7)
        far = (np.abs(ys[:, None] - ys[None]) > 2) | (np.abs(xs[:, None] - xs[None]) > 2)
        np.testing.assert_array_equal(dense[far], 0.0)

    def test_symmetric_psd_rows_sum_to_zero(self):
        image = np.random.default_rng(1).random((5, 6, 3))
        dense = losses.matting_laplacian(image).toarray()
        np.testing.assert_allclose(dense, dense.T, atol=1e-10)
        self.assertGreaterEqual(np.linalg.eigvalsh(dense).min(), -1e-8)
        np.testing.assert_allclose(dense.sum(axis=1), 0.0, atol=1e-8)

    def test_accepts_jax_array(self):
        from_numpy = losses.matting_laplacian(self.image)
        from_jax = losses.matting_laplacian(jnp.asarray(self.image, jnp.float32))
        np.testing.assert_allclose(from_jax.toarray(), from_numpy.toarray(), atol=1e-3)

    def test_bad_input(self):
        with self.assertRaisesRegex(ValueError, r"image must have shape \[H, W, 3\]"):
            losses.matting_laplacian(self.image[..., :2])
        with self.assertRaisesRegex(ValueError, r"image must have shape \[H, W, 3\]"):
            losses.matting_laplacian(self.image[None])
        with self.assertRaisesRegex(ValueError, r"image must be at least 5x5 pixels"):
            losses.matting_laplacian(self.image[:4], radius=2)
        with self.assertRaisesRegex(ValueError, r"radius must be an integer >= 1"):
            losses.matting_laplacian(self.image, radius=0)
        with self.assertRaisesRegex(ValueError, r"eps must be > 0"):
            losses.matting_laplacian(self.image, eps=0.0)


class LaplacianToBcooTest(absltest.TestCase):
    def test_round_trip(self):
        laplacian = losses.matting_laplacian(np.random.default_rng(0).random((5, 6, 3)))
        bcoo = losses.laplacian_to_bcoo(laplacian)
        self.assertIsInstance(bcoo, jsparse.BCOO)
        self.assertEqual(bcoo.dtype, jnp.float32)
        self.assertEqual(bcoo.nse, laplacian.nnz)
        np.testing.assert_allclose(bcoo.todense(), laplacian.toarray(), rtol=1e-6, atol=1e-7)

    def test_sums_duplicates_without_modifying_input(self):
        coo = scipy.sparse.coo_matrix(([1.0, 2.0, 3.0], ([0, 0, 1], [1, 1, 0])), shape=(2, 2))
        bcoo = losses.laplacian_to_bcoo(coo)
        np.testing.assert_allclose(bcoo.todense(), [[0.0, 3.0], [3.0, 0.0]])
        self.assertEqual(bcoo.nse, 2)
        self.assertEqual(coo.nnz, 3)

    def test_bad_input(self):
        with self.assertRaisesRegex(ValueError, r"L must be a square 2-D scipy.sparse matrix"):
            losses.laplacian_to_bcoo(np.eye(3))
        with self.assertRaisesRegex(ValueError, r"L must be a square .*\(2, 3\)"):
            losses.laplacian_to_bcoo(scipy.sparse.csr_matrix(np.ones((2, 3))))


class PhotorealismLossTest(chex.TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(0)
        self.content = rng.random((5, 6, 3))
        self.laplacian = losses.matting_laplacian(self.content)
        self.dense = self.laplacian.toarray()
        self.bcoo = losses.laplacian_to_bcoo(self.laplacian)
        self.output = rng.random((2, 5, 6, 3)).astype(np.float32)

    def _numpy_loss(self, image: np.ndarray) -> float:
        """Luan et al. 2017 eq. (2): sum_c V_c^T L V_c with dense float64 algebra."""
        v = image.astype(np.float64).reshape(-1, 3)
        return sum(float(v[:, c] @ self.dense @ v[:, c]) for c in range(3))

    @chex.variants(with_jit=True, without_jit=True)
    def test_matches_dense(self):
        fn = self.variant(losses.photorealism_loss)
        single = fn(self.output[0], self.bcoo)
        self.assertEqual(single.shape, ())
        np.testing.assert_allclose(single, self._numpy_loss(self.output[0]), rtol=1e-5)
        batch = fn(self.output, self.bcoo)
        self.assertEqual(batch.shape, (2,))
        np.testing.assert_allclose(batch, [self._numpy_loss(o) for o in self.output], rtol=1e-5)

    def test_batch_equals_stacked_and_vmap(self):
        stacked = jnp.stack([losses.photorealism_loss(o, self.bcoo) for o in self.output])
        np.testing.assert_allclose(
            losses.photorealism_loss(self.output, self.bcoo), stacked, rtol=1e-6
        )
        vmapped = jax.vmap(losses.photorealism_loss, in_axes=(0, None))(self.output, self.bcoo)
        np.testing.assert_allclose(vmapped, stacked, rtol=1e-5)

    def test_accepts_scipy_matrix(self):
        np.testing.assert_allclose(
            losses.photorealism_loss(self.output, self.laplacian),
            losses.photorealism_loss(self.output, self.bcoo),
            rtol=1e-6,
        )

    def test_gradient_is_two_l_v(self):
        grad = jax.jit(jax.grad(lambda v: losses.photorealism_loss(v, self.bcoo)))(self.output[0])
        v = self.output[0].astype(np.float64).reshape(-1, 3)
        expected = (2 * self.dense @ v).reshape(5, 6, 3)
        np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-5)
        with jax.enable_x64(True):
            bcoo64 = losses.laplacian_to_bcoo(self.laplacian, dtype=jnp.float64)
            out64 = jnp.asarray(self.output, jnp.float64)
            check_grads(lambda v: jnp.sum(losses.photorealism_loss(v, bcoo64)), (out64,), order=1)

    def test_constant_image_costs_zero(self):
        for value in (0.0, 0.3, 1.0):
            out = losses.photorealism_loss(np.full((5, 6, 3), value, np.float32), self.bcoo)
            np.testing.assert_allclose(out, 0.0, atol=1e-5)

    def test_affine_function_of_content_costs_almost_zero(self):
        rng = np.random.default_rng(3)
        coefficients, offsets = rng.normal(size=(3, 3)), rng.normal(size=3)
        affine = self.content @ coefficients + offsets  # V_c = a_c^T I + b_c per channel
        random_cost = self._numpy_loss(self.output[0])
        self.assertLess(self._numpy_loss(affine), 1e-5 * random_cost)
        out = losses.photorealism_loss(affine.astype(np.float32), self.bcoo)
        self.assertLess(abs(float(out)), 1e-3 * random_cost)

    def test_bfloat16_close_to_float32(self):
        out = losses.photorealism_loss(self.output.astype(jnp.bfloat16), self.bcoo)
        self.assertEqual(out.dtype, jnp.float32)
        expected = losses.photorealism_loss(self.output, self.bcoo)
        np.testing.assert_allclose(out, expected, rtol=5e-2)

    def test_bad_input(self):
        with self.assertRaisesRegex(ValueError, r"output must have rank 3 or 4 \(\[H, W, 3\]"):
            losses.photorealism_loss(self.output[0, 0], self.bcoo)
        with self.assertRaisesRegex(ValueError, r"output must have 3 \(RGB\) channels"):
            losses.photorealism_loss(self.output[..., :2], self.bcoo)
        with self.assertRaisesRegex(
            ValueError, r"laplacian must have shape \(24, 24\).*got shape \(30, 30\)"
        ):
            losses.photorealism_loss(self.output[:, :4], self.bcoo)


if __name__ == "__main__":
    absltest.main()
