"""nst.optimizers: names, per-backend L-BFGS choice, learning rate carried in the state."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nst import optimizers


def test_lbfgs_resolves_per_backend():
    assert optimizers.resolve("lbfgs", backend="cpu") == "lbfgs_host"
    assert optimizers.resolve("lbfgs", backend="gpu") == "lbfgs_optax"
    assert optimizers.resolve("lbfgs", backend="cpu", vectorized=True) == "lbfgs_optax"
    assert optimizers.resolve("adam", backend="cpu") == "adam"
    with pytest.raises(ValueError, match="optimizer must be one of"):
        optimizers.resolve("newton", backend="cpu")


@pytest.mark.parametrize("name", optimizers.FIRST_ORDER)
def test_learning_rate_lives_in_state_and_is_vmappable(name):
    x = jnp.ones((2, 3))
    g = jnp.full((2, 3), 0.5)
    lrs = jnp.array([1e-2, 1e-3])
    state = jax.vmap(lambda lr: optimizers.create(name, lr).init(x))(lrs)
    opt = optimizers.create(name, 123.0)  # the rate given here is ignored after init
    updates, _ = jax.vmap(lambda s: opt.update(g, s, x))(state)
    # For these optimizers the first update is proportional to the learning rate.
    ratio = np.asarray(updates[0] / updates[1])
    np.testing.assert_allclose(ratio, 10.0, rtol=1e-5)
