"""Johnson and Ulyanov networks: output shapes at several input sizes, range, batch norm."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nst.feedforward import _layers, nets
from nst.feedforward.config import NetConfig

TINY = dict(width=4, num_residual=1)


def _forward(config, variables, images, train=False):
    fn = jax.jit(lambda v, x: nets.apply(config, v, x, train=train))
    return fn(variables, images)


@pytest.mark.parametrize(
    "config, sizes",
    [
        (NetConfig(**TINY), [(32, 32), (37, 50), (21, 64)]),
        (NetConfig(norm="batch", upsample="transpose", **TINY), [(30, 18)]),
        (NetConfig(arch="ulyanov", width=4, scales=2), [(32, 32), (27, 41)]),
        (NetConfig(arch="ulyanov", width=4, scales=2, content_input=False), [(24, 40)]),
    ],
    ids=["johnson", "johnson-bn-transpose", "ulyanov", "ulyanov-texture"],
)
def test_any_input_size_gives_same_size_output_in_unit_range(config, sizes, rng):
    variables = nets.init(config, seed=0)
    for h, w in sizes:
        images = jnp.asarray(rng.uniform(size=(2, h, w, 3)), jnp.float32)
        out, _ = _forward(config, variables, images)
        assert out.shape == (2, h, w, 3)
        assert np.all(np.isfinite(out)) and float(out.min()) >= 0 and float(out.max()) <= 1


@pytest.mark.parametrize("k, stride", [(1, 1), (3, 1), (3, 2), (9, 1)])
def test_reflect_conv_equals_valid_conv_of_reflect_padded_input(k, stride, rng):
    p = k // 2
    kernel = jnp.asarray(rng.normal(size=(k, k, 3, 4)), jnp.float32)
    conv = jax.jit(_layers.reflect_conv, static_argnums=2)
    # direct path; strip-corrected (>= 96); on 2x2 blocks (>= 96, even sides, 9x9)
    for h, w in [(8, 9), (37, 50), (100, 97), (100, 98), (98, 100)]:
        x = jnp.asarray(rng.normal(size=(2, h, w, 3)), jnp.float32)
        padded = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")
        expected = jax.lax.conv_general_dilated(
            padded, kernel, (stride, stride), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        # atol: float32 rounding of 243-tap sums of size ~20 in another order (an index
        # error moves values by ~1).
        np.testing.assert_allclose(conv(x, kernel, stride), expected, rtol=1e-5, atol=1e-4)


def test_wide_kernels_on_even_sides_take_the_block_path(monkeypatch, rng):
    # The equality above covers the 2x2-block path only if it runs: count its calls.
    calls = []
    original = _layers._space_to_depth_conv
    monkeypatch.setattr(_layers, "_space_to_depth_conv", lambda *a: calls.append(1) or original(*a))
    x = jnp.asarray(rng.normal(size=(1, 100, 98, 3)), jnp.float32)
    _layers.reflect_conv(x, jnp.ones((9, 9, 3, 2)), 1)
    _layers.reflect_conv(x, jnp.ones((3, 3, 3, 2)), 1)
    _layers.reflect_conv(x[:, :, :97], jnp.ones((9, 9, 3, 2)), 1)
    assert len(calls) == 1


def test_init_is_deterministic_and_seeded():
    config = NetConfig(**TINY)
    a, b, c = nets.init(config, 0), nets.init(config, 0), nets.init(config, 1)
    leaves = lambda v: jax.tree.leaves(v["params"])
    assert all(np.array_equal(x, y) for x, y in zip(leaves(a), leaves(b), strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(leaves(a), leaves(c), strict=True))
    kernel = a["params"]["Conv_0"]["kernel"]  # 9x9x3 -> 4: LeCun std 1/sqrt(243)
    assert kernel.shape == (9, 9, 3, 4)
    np.testing.assert_allclose(np.std(kernel), 243**-0.5, rtol=0.2)


def test_batch_norm_updates_running_stats_only_in_training(rng):
    config = NetConfig(norm="batch", **TINY)
    variables = nets.init(config, seed=0)
    images = jnp.asarray(rng.uniform(size=(2, 16, 16, 3)), jnp.float32)
    _, stats = _forward(config, variables, images, train=True)
    before = jax.tree.leaves(variables["batch_stats"])
    after = jax.tree.leaves(stats)
    assert any(not np.allclose(x, y) for x, y in zip(before, after, strict=True))
    _, same = _forward(config, variables, images, train=False)
    assert all(np.array_equal(x, y) for x, y in zip(before, jax.tree.leaves(same), strict=True))


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(norm="group"), "norm must be one of"),
        (dict(styles=("a", "b")), "norm='conditional'"),
        (dict(width=0), r"width must be in \[1, 1024\], got 0"),
        (dict(width=10**9), r"width must be in \[1, 1024\]"),
        (dict(width=2.5), "width must be an integer"),
        (dict(num_residual=True), "num_residual must be an integer"),
        (dict(num_residual=-1), r"num_residual must be in \[0, 64\]"),
        (dict(styles="abc"), "styles must be a list"),
        (dict(content_input="yes"), "content_input must be true or false"),
        (dict(norm=3), "norm must be a string"),
        (dict(arch="vgg"), "arch must be one of"),
    ],
)
def test_bad_config_raises(fields, message):
    with pytest.raises(ValueError, match=message):
        NetConfig(**fields)
