"""Gatys et al.'s normalized VGG: mean activation 1 per filter, the same function otherwise."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from nst import backbones, image, stylize
from nst.config import StylizeConfig


@pytest.fixture(scope="module")
def setup():
    params = backbones.load_params("vgg16", "random", seed=3)
    rng = np.random.default_rng(0)
    images = [rng.uniform(size=(40, 48, 3)).astype(np.float32) for _ in range(2)]
    normalized, means = backbones.normalize_activations("vgg16", params, images)
    return params, images, normalized, means


def test_every_filter_s_mean_activation_is_one(setup):
    _, images, normalized, means = setup
    after = backbones.activation_means("vgg16", normalized, images)
    for conv, m in after.items():
        alive = means[conv] > 0
        np.testing.assert_allclose(m[alive], 1.0, rtol=1e-3, err_msg=conv)  # float32
        np.testing.assert_array_equal(m[~alive], 0.0)  # dead filters stay dead
    # The original means, by hand for conv1_1: relu(conv(x)) averaged over positions.
    params, images = setup[0], setup[1]
    net = backbones.Backbone("vgg16", ("relu1_1",))
    by_hand = np.mean([np.asarray(net(params, jnp.asarray(x)[None])["relu1_1"]).mean((0, 1, 2))
                       for x in images], axis=0)  # fmt: skip
    np.testing.assert_allclose(means["conv1_1"], by_hand, rtol=1e-5)


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_features_are_the_original_s_divided_by_the_means(setup, pooling):
    """Rescaling is invisible to every later decision: each layer's (pre- and post-ReLU)
    features equal the original's divided by that layer's per-filter mean."""
    params, images, _, _ = setup
    normalized, means = backbones.normalize_activations("vgg16", params, images, pooling=pooling)
    layers = ("conv1_2", "relu2_2", "pool3", "conv5_3")
    net = backbones.Backbone("vgg16", layers, pooling=pooling)
    x = jnp.asarray(np.random.default_rng(1).uniform(size=(1, 32, 32, 3)), jnp.float32)
    before, after = net(params, x), net(normalized, x)
    last = {"conv1_2": "conv1_2", "relu2_2": "conv2_2", "pool3": "conv3_3", "conv5_3": "conv5_3"}
    for layer in layers:
        m = means[last[layer]]
        m = np.where(m > 0, m, 1.0)
        scale = np.abs(np.asarray(before[layer])).max()
        np.testing.assert_allclose(
            np.asarray(after[layer]) * m, before[layer], atol=1e-4 * scale, err_msg=layer
        )


def test_refusals(setup):
    params, images, _, _ = setup
    with pytest.raises(ValueError, match="VGG backbones"):
        backbones.normalize_activations("resnet18", params, images)
    with pytest.raises(ValueError, match="at least one image"):
        backbones.normalize_activations("vgg16", params, [])
    with pytest.raises(ValueError, match="network_norm"):
        StylizeConfig(backbone="resnet18", network_norm="gatys")
    with pytest.raises(ValueError, match="network_norm must be one of"):
        StylizeConfig(network_norm="other")


def test_the_engine_loads_normalized_params_when_asked():
    """``network_norm="gatys"``: the params normalized on the bundled calibration images,
    with the config's pooling (which changes the deeper layers' activations)."""
    base = StylizeConfig(backbone="vgg16", weights="random", weights_seed=3, pooling="avg")
    plain = stylize.load_params(base)
    gatys = stylize.load_params(dataclasses.replace(base, network_norm="gatys"))
    names = stylize.CALIBRATION
    assert {"tubingen", "starry_night", "brick"} <= set(names)
    images = [image.load(image.sample(n), max_size=stylize.CALIBRATION_SIZE) for n in names]
    expected, _ = backbones.normalize_activations("vgg16", plain, images, pooling="avg")
    for layer in ("conv1_1", "conv3_2", "conv5_3"):
        np.testing.assert_allclose(gatys[layer]["kernel"], expected[layer]["kernel"], rtol=1e-5)
        assert not np.allclose(gatys[layer]["kernel"], plain[layer]["kernel"])
    with_max = stylize.load_params(dataclasses.replace(base, network_norm="gatys", pooling="max"))
    assert not np.allclose(with_max["conv5_3"]["kernel"], gatys["conv5_3"]["kernel"])
