"""Tests for nst/losses/_combine.py: weighted_total sums and reports every weighted term."""

import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest

from nst import losses


class WeightedTotalTest(absltest.TestCase):
    def setUp(self):
        super().setUp()
        self.terms = {
            "content": jnp.array([1.0, 2.0]),
            "style": jnp.array([3.0, 5.0]),
            "tv": jnp.array(0.5),  # a scalar term broadcasts against per-image terms
        }
        self.weights = {"content": 2.0, "style": 1e3, "tv": 0.0}

    def test_total_and_parts(self):
        total, parts = losses.weighted_total(self.terms, self.weights)
        np.testing.assert_allclose(total, [2.0 + 3e3, 4.0 + 5e3], rtol=1e-6)
        self.assertEqual(list(parts), ["content", "style", "tv"])
        np.testing.assert_allclose(parts["content"], [2.0, 4.0])
        np.testing.assert_allclose(parts["style"], [3e3, 5e3])
        np.testing.assert_allclose(parts["tv"], 0.0)

    def test_jit_and_grad(self):
        fn = jax.jit(losses.weighted_total)
        total, parts = fn(self.terms, self.weights)
        np.testing.assert_allclose(total, losses.weighted_total(self.terms, self.weights)[0])
        self.assertEqual(set(parts), set(self.terms))
        grads = jax.grad(lambda w: jnp.sum(losses.weighted_total(self.terms, w)[0]))(self.weights)
        np.testing.assert_allclose(grads["content"], 3.0)
        np.testing.assert_allclose(grads["style"], 8.0)
        np.testing.assert_allclose(grads["tv"], 1.0)  # the scalar term counts once per image

    def test_mismatched_names(self):
        with self.assertRaisesRegex(ValueError, r"weights has no entry for terms \['tv'\]"):
            losses.weighted_total(self.terms, {"content": 1.0, "style": 1.0})
        with self.assertRaisesRegex(ValueError, r"terms has no entry for weights \['temporal'\]"):
            losses.weighted_total(self.terms, {**self.weights, "temporal": 1.0})
        with self.assertRaisesRegex(ValueError, r"terms must contain at least one"):
            losses.weighted_total({}, {})

    def test_unbroadcastable_shapes(self):
        with self.assertRaisesRegex(ValueError, r"terms must have broadcastable shapes"):
            losses.weighted_total({"a": jnp.ones(2), "b": jnp.ones(3)}, {"a": 1.0, "b": 1.0})


if __name__ == "__main__":
    absltest.main()
