"""Tests for nst/losses/_temporal.py: temporal_loss against a NumPy reference."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized
from jax.test_util import check_grads

from nst import losses

_N, _H, _W, _C = 2, 3, 4, 3


def _numpy_temporal(frame: np.ndarray, previous: np.ndarray, mask: np.ndarray) -> float:
    """Ruder et al. 2016 eq. (7): (1/D) sum_k c_k (x_k - w_k)^2, D = H*W*C, by loops."""
    h, w, c = frame.shape
    total = 0.0
    for y in range(h):
        for x in range(w):
            for k in range(c):
                d = float(frame[y, x, k]) - float(previous[y, x, k])
                total += float(mask[y, x, k if mask.shape[-1] == c else 0]) * d * d
    return total / (h * w * c)


class TemporalLossTest(chex.TestCase, parameterized.TestCase):
    def setUp(self):
        super().setUp()
        rng = np.random.default_rng(0)
        self.frame = rng.random((_N, _H, _W, _C)).astype(np.float32)
        self.previous = rng.random((_N, _H, _W, _C)).astype(np.float32)
        self.mask = (rng.random((_N, _H, _W, 1)) > 0.4).astype(np.float32)  # [N, H, W, 1]

    def _expected(self, mask_per_image):
        return [
            _numpy_temporal(f, p, m) for f, p, m in zip(self.frame, self.previous, mask_per_image)
        ]

    @chex.variants(with_jit=True, without_jit=True)
    def test_no_mask_is_mean_squared_error(self):
        fn = self.variant(losses.temporal_loss)
        ones = np.ones((_N, _H, _W, 1))
        np.testing.assert_allclose(fn(self.frame, self.previous), self._expected(ones), rtol=1e-5)
        single = fn(self.frame[0], self.previous[0])
        self.assertEqual(single.shape, ())
        np.testing.assert_allclose(single, self._expected(ones)[0], rtol=1e-5)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(
        ("hw", lambda m: m[0, ..., 0], True),
        ("hw1", lambda m: m[0], True),
        ("hwc", lambda m: np.repeat(m[0], _C, axis=-1), True),
        ("nhw", lambda m: m[..., 0], False),
        ("nhw1", lambda m: m, False),
        ("nhwc", lambda m: np.repeat(m, _C, axis=-1), False),
    )
    def test_mask_layouts(self, layout, shared):
        fn = self.variant(losses.temporal_loss)
        mask = layout(self.mask)
        out = fn(self.frame, self.previous, mask)
        self.assertEqual(out.shape, (_N,))
        per_image = [self.mask[0]] * _N if shared else list(self.mask)
        np.testing.assert_allclose(out, self._expected(per_image), rtol=1e-5)

    def test_unbatched_mask_layouts(self):
        for mask in (self.mask[0, ..., 0], self.mask[0]):
            out = losses.temporal_loss(self.frame[0], self.previous[0], mask)
            expected = _numpy_temporal(self.frame[0], self.previous[0], self.mask[0])
            np.testing.assert_allclose(out, expected, rtol=1e-5)

    def test_batch_equals_stacked_and_vmap(self):
        stacked = jnp.stack(
            [losses.temporal_loss(*args) for args in zip(self.frame, self.previous, self.mask)]
        )
        np.testing.assert_allclose(
            losses.temporal_loss(self.frame, self.previous, self.mask), stacked, rtol=1e-6
        )
        vmapped = jax.vmap(losses.temporal_loss)(self.frame, self.previous, self.mask)
        np.testing.assert_allclose(vmapped, stacked, rtol=1e-6)

    def test_gradient(self):
        # d/dx (1/D) sum c (x - w)^2 = 2 c (x - w) / D.
        grad = jax.grad(lambda f: losses.temporal_loss(f, self.previous[0], self.mask[0]))(
            self.frame[0]
        )
        expected = 2 * self.mask[0] * (self.frame[0] - self.previous[0]) / (_H * _W * _C)
        np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-8)
        with jax.enable_x64(True):
            args = [jnp.asarray(a, jnp.float64) for a in (self.frame, self.previous, self.mask)]
            check_grads(lambda *a: jnp.sum(losses.temporal_loss(*a)), args, order=1)

    def test_bfloat16_close_to_float32(self):
        out = losses.temporal_loss(
            self.frame.astype(jnp.bfloat16), self.previous.astype(jnp.bfloat16), self.mask
        )
        self.assertEqual(out.dtype, jnp.float32)
        expected = losses.temporal_loss(self.frame, self.previous, self.mask)
        np.testing.assert_allclose(out, expected, rtol=2e-2)

    def test_bad_input(self):
        with self.assertRaisesRegex(ValueError, r"frame must have rank 3 or 4"):
            losses.temporal_loss(self.frame[0, 0], self.previous[0, 0])
        with self.assertRaisesRegex(ValueError, r"previous must have the shape of frame"):
            losses.temporal_loss(self.frame, self.previous[:, :2])
        with self.assertRaisesRegex(ValueError, r"mask must have shape \[H, W\] or .*\(3, 3\)"):
            losses.temporal_loss(self.frame, self.previous, np.ones((_H, _H)))
        with self.assertRaisesRegex(ValueError, r"mask must have shape .*\(2, 3, 4, 2\)"):
            losses.temporal_loss(self.frame, self.previous, np.ones((_N, _H, _W, 2)))
        with self.assertRaisesRegex(ValueError, r"mask must have shape .*got shape \(2, 3, 4\)"):
            losses.temporal_loss(self.frame[0], self.previous[0], self.mask[..., 0])


if __name__ == "__main__":
    absltest.main()
