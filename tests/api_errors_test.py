"""Library API errors: wrong types, mixed normalizations and channels-first arrays are named.

Each check is at trace time (shapes and Python types are static), so it costs nothing under
``jit``; each test below fails when its check is removed (the call would otherwise run and
return a wrong number, or fail with an unrelated ``AttributeError``).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nst import backbones, losses, stylize
from nst import image as nst_image
from nst._layout import nchw_hint
from nst.config import StylizeConfig

RNG = np.random.default_rng(0)
FEATURES = {"conv1_1": RNG.normal(size=(4, 4, 3)).astype(np.float32)}
STYLE = {"conv1_1": RNG.normal(size=(4, 4, 3)).astype(np.float32)}


# ---------------------------------------------------------------- mappings given as lists


def test_layer_weights_as_a_list_is_named():
    targets = losses.style_targets(STYLE)
    with pytest.raises(ValueError, match=r"layer_weights must be a mapping .*got list"):
        losses.style_loss(FEATURES, targets, [("conv1_1", 1.0)])
    with pytest.raises(ValueError, match=r"target_grams must be a mapping .*got list"):
        losses.style_loss(FEATURES, [targets["conv1_1"]], {"conv1_1": 1.0})
    with pytest.raises(ValueError, match=r"features must be a mapping .*got tuple"):
        losses.style_targets(tuple(STYLE.values()))


def test_weighted_total_with_lists_is_named():
    with pytest.raises(ValueError, match=r"weights must be a mapping .*got list"):
        losses.weighted_total({"content": jnp.float32(1.0)}, [1.0])
    with pytest.raises(ValueError, match=r"terms must be a mapping .*got list"):
        losses.weighted_total([jnp.float32(1.0)], {"content": 1.0})


def test_config_layer_tables_given_as_lists_or_dicts_become_tuples():
    config = StylizeConfig(style_layers=[("conv1_1", 1.0)], content_layers={"conv4_2": 1.0})
    assert config.style_layers == (("conv1_1", 1.0),)
    assert config.content_layers == (("conv4_2", 1.0),)
    with pytest.raises(ValueError, match=r"StylizeConfig\.style_layers must be \(layer name"):
        StylizeConfig(style_layers=[1.0, 0.5])


# ----------------------------------------------------------- Gram targets of another norm


@pytest.mark.parametrize("made, used", [("gatys", "johnson"), ("johnson", "gatys")])
def test_targets_of_another_normalization_are_refused(made, used):
    targets = losses.style_targets(STYLE, norm=made)
    with pytest.raises(ValueError, match=f"made by style_targets.norm='{made}'.*norm='{used}'"):
        losses.style_loss(FEATURES, targets, {"conv1_1": 1.0}, norm=used)
    # Under jit too (the normalization is static pytree data), and kept by tree maps.
    scaled = jax.tree.map(lambda g: 2 * g, targets)
    assert scaled.norm == made
    loss = jax.jit(lambda t: losses.style_loss(FEATURES, t, {"conv1_1": 1.0}, norm=used))
    with pytest.raises(ValueError, match="made by style_targets"):
        loss(scaled)
    # The matching normalization runs, and plain dicts (Grams made by hand) still do.
    same = losses.style_loss(FEATURES, targets, {"conv1_1": 1.0}, norm=made)
    plain = losses.style_loss(FEATURES, dict(targets), {"conv1_1": 1.0}, norm=made)
    np.testing.assert_allclose(same, plain, rtol=1e-6)


def test_engine_refuses_gram_targets_of_another_normalization():
    config = StylizeConfig(
        weights="random", size=16, steps=1, content_layers=(("conv1_1", 1.0),),
        style_layers=(("conv1_1", 1.0),), style_norm="johnson",
    )  # fmt: skip
    net = backbones.Backbone("vgg19", ("conv1_1",))
    params = backbones.load_params("vgg19", "random")
    image = np.full((16, 16, 3), 0.5, np.float32)
    feats = {"conv1_1": net(params, image[None])["conv1_1"][0]}
    targets = stylize.Targets(content=feats, grams=losses.style_targets(feats, norm="gatys"))
    objective = stylize.make_objective(config, net)
    hyper = stylize.make_hyper(config)
    with pytest.raises(ValueError, match=r"made for style_norm='gatys'.*style_norm='johnson'"):
        objective(jnp.asarray(image), params, targets, hyper)
    good = targets._replace(grams=losses.style_targets(feats, norm="johnson"))
    total, _ = objective(jnp.asarray(image), params, good, hyper)
    np.testing.assert_allclose(total, 0.0, atol=1e-6)  # its own targets: no loss


# ------------------------------------------------------------------- channels-first arrays


NCHW = np.zeros((1, 3, 20, 24), np.float32)


def test_nchw_hint_only_for_channels_first_images():
    assert "NCHW" in nchw_hint((1, 3, 20, 24)) and "transpose(0, 2, 3, 1)" in nchw_hint(NCHW.shape)
    assert "transpose(1, 2, 0)" in nchw_hint((3, 20, 24))
    for shape in [(1, 20, 24, 3), (20, 24, 3), (20, 24), (2, 8, 8, 64), (3, 3, 3)]:
        assert nchw_hint(shape) == "", shape


def test_losses_name_an_nchw_image():
    with pytest.raises(ValueError, match=r"x must be .*\(1, 3, 20, 24\); this looks like NCHW"):
        losses.total_variation(NCHW)
    with pytest.raises(ValueError, match=r"frame must be .*; this looks like NCHW"):
        losses.temporal_loss(NCHW, NCHW, np.ones((20, 24), np.float32))
    # NHWC images of the same numbers are fine.
    nhwc = NCHW.transpose(0, 2, 3, 1)
    assert losses.total_variation(nhwc).shape == (1,)


def test_backbone_engine_and_image_io_name_an_nchw_image(tmp_path):
    net = backbones.Backbone("vgg19", ("conv1_1",))
    params = backbones.load_params("vgg19", "random")
    with pytest.raises(ValueError, match=r"images must be \[N, H, W, 3\].*looks like NCHW"):
        net(params, NCHW)
    config = StylizeConfig(weights="random", size=16, steps=1)
    with pytest.raises(ValueError, match=r"content must be \[H, W, 3\].*looks like NCHW"):
        stylize.stylize(config, NCHW[0], [np.zeros((8, 8, 3), np.float32)])
    with pytest.raises(ValueError, match=r"styles\[0\] must be \[h, w, 3\].*looks like NCHW"):
        stylize.stylize(config, np.zeros((16, 16, 3), np.float32), [NCHW[0]])
    with pytest.raises(ValueError, match=r"expected an image of shape .*looks like NCHW"):
        nst_image.save(str(tmp_path / "x.png"), NCHW[0])


def test_stylize_config_still_replaces_cleanly():
    config = dataclasses.replace(StylizeConfig(), backbone="resnet50")
    assert config.style_layers is None  # resolved per backbone: nst.config.style_layers
