"""Conditional instance norm: one-hot = that style, mixtures linear in gamma/beta, add_style."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from nst.feedforward import cin, nets
from nst.feedforward.config import NetConfig

TWO = NetConfig(width=4, num_residual=1, norm="conditional", styles=("a", "b"))
ONE = NetConfig(width=4, num_residual=1, norm="conditional", styles=("a",))


def _randomize_tables(params, seed=0):
    """Distinct rows per style (init gives every style gamma 1, beta 0)."""
    rng = np.random.default_rng(seed)

    def perturb(path, leaf):
        if getattr(path[-1], "key", None) in cin.TABLE_NAMES:
            return leaf + jnp.asarray(rng.normal(0, 0.5, leaf.shape), jnp.float32)
        return leaf

    return jax.tree_util.tree_map_with_path(perturb, params)


def _with_rows(params, rows_fn):
    """params whose tables are replaced by rows_fn(table)."""
    return jax.tree_util.tree_map_with_path(
        lambda p, x: rows_fn(x) if getattr(p[-1], "key", None) in cin.TABLE_NAMES else x, params
    )


@pytest.fixture(scope="module")
def setup():
    params = _randomize_tables(nets.init(TWO, seed=0)["params"])
    images = jnp.asarray(np.random.default_rng(1).uniform(size=(2, 20, 24, 3)), jnp.float32)
    run = jax.jit(
        lambda cfg, p, w: nets.apply(cfg, {"params": p, "batch_stats": {}}, images, w)[0],
        static_argnums=0,
    )
    return params, images, run


@pytest.mark.parametrize("index", [0, 1])
def test_one_hot_mixture_equals_that_style(setup, index):
    params, _, run = setup
    mixed = run(TWO, params, jnp.eye(2)[index])
    single = run(ONE, _with_rows(params, lambda t: t[index : index + 1]), None)
    np.testing.assert_allclose(mixed, single, rtol=1e-5, atol=1e-6)
    other = run(TWO, params, jnp.eye(2)[1 - index])
    assert not np.allclose(mixed, other, atol=1e-3)


def test_mixture_is_linear_in_gamma_and_beta(setup):
    params, _, run = setup
    w = jnp.array([0.3, 0.7])
    mixed = run(TWO, params, w)
    blended = run(ONE, _with_rows(params, lambda t: (w @ t)[None]), None)
    np.testing.assert_allclose(mixed, blended, rtol=1e-5, atol=1e-6)


def test_per_image_mixtures_match_separate_calls(setup):
    params, _, run = setup
    w = jnp.array([[1.0, 0.0], [0.25, 0.75]])
    both = run(TWO, params, w)
    for i in range(2):
        np.testing.assert_allclose(both[i], run(TWO, params, w[i])[i], rtol=1e-5, atol=1e-6)


def test_add_style_trains_only_the_new_rows(setup):
    params, _, _ = setup
    config, grown = cin.add_style(TWO, params, "c")
    assert config.styles == ("a", "b", "c")
    tables = [x for p, x in jax.tree_util.tree_leaves_with_path(grown) if cin._is_table(p)]
    assert tables and all(t.shape[0] == 3 for t in tables)
    tx = cin.train_only_style(optax.adam(0.1), grown, index=2)
    state = tx.init(grown)
    updated = grown
    rng = np.random.default_rng(0)
    update = jax.jit(tx.update)
    for _ in range(3):  # random gradients on every param, the worst case
        grads = jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape), x.dtype), updated)
        updates, state = update(grads, state, updated)
        updated = optax.apply_updates(updated, updates)
    for (path, before), after in zip(
        jax.tree_util.tree_leaves_with_path(grown), jax.tree.leaves(updated), strict=True
    ):
        if cin._is_table(path):
            np.testing.assert_array_equal(before[:2], after[:2])
            assert not np.allclose(before[2], after[2])
        else:
            np.testing.assert_array_equal(before, after)


def test_add_style_refuses_non_conditional_and_duplicates():
    with pytest.raises(ValueError, match="conditional"):
        cin.add_style(NetConfig(width=4), {}, "x")
    with pytest.raises(ValueError, match="already exists"):
        cin.add_style(TWO, {}, "a")


@pytest.mark.parametrize(
    "values, message",
    [([1.0], "needs 2 weights"), ([-1.0, 2.0], ">= 0"), ([0.0, 0.0], "positive sum")],
)
def test_mixture_validation(values, message):
    with pytest.raises(ValueError, match=message):
        cin.mixture(values, 2)
    np.testing.assert_allclose(cin.mixture([1, 1], 2), [0.5, 0.5])


def test_style_weights_shapes():
    assert cin.style_weights(None, 1, 3).shape == (3, 1)
    np.testing.assert_array_equal(cin.style_weights(1, 2, 2), [[0, 1], [0, 1]])
    with pytest.raises(ValueError, match="required"):
        cin.style_weights(None, 2, 1)
    with pytest.raises(ValueError, match="mixture weights"):
        cin.style_weights(jnp.ones(3), 2, 1)


def test_from_instance_and_select_style_keep_the_function(rng):
    # An instance-norm network with non-trivial scales, as a 1-style conditional network,
    # grown by a style, then that first style selected back: the same output throughout.
    config = NetConfig(width=4, num_residual=1, norm="instance", styles=("a",))
    variables = nets.init(config, 0)
    params = jax.tree.map(
        lambda x: x + 0.3 * jax.random.normal(jax.random.key(1), x.shape), variables["params"]
    )
    photo = jnp.asarray(rng.uniform(size=(1, 24, 32, 3)), jnp.float32)
    want = nets.apply(config, {"params": params, "batch_stats": {}}, photo, jnp.ones((1, 1)))[0]
    cond, cparams = cin.from_instance(config, params)
    assert cond.norm == "conditional" and cond.styles == ("a",)
    got = nets.apply(cond, {"params": cparams, "batch_stats": {}}, photo, jnp.ones((1, 1)))[0]
    np.testing.assert_allclose(got, want, atol=1e-5)
    grown, gparams = cin.add_style(cond, cparams, "b", init="identity")
    back, bparams = cin.select_style(grown, gparams, 0)
    assert back.norm == "instance" and back.styles == ("a",)
    again = nets.apply(back, {"params": bparams, "batch_stats": {}}, photo, jnp.ones((1, 1)))[0]
    np.testing.assert_allclose(again, want, atol=1e-5)
    other = cin.select_style(grown, gparams, 1)
    other_out = nets.apply(
        other[0], {"params": other[1], "batch_stats": {}}, photo, jnp.ones((1, 1))
    )[0]
    assert float(jnp.abs(other_out - want).max()) > 1e-3  # the identity row is another style
    with pytest.raises(ValueError, match="instance"):
        cin.from_instance(grown, gparams)
    with pytest.raises(ValueError, match="out of range"):
        cin.select_style(grown, gparams, 2)
