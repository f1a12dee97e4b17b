"""nst.config: StylizeConfig checks itself, per-backbone layer defaults, the program/data split."""

import dataclasses

import numpy as np
import pytest

from nst import backbones
from nst import config as config_lib
from nst.config import StylizeConfig


@pytest.mark.parametrize("name", sorted(backbones.BACKBONES))
def test_every_backbone_is_valid_with_its_own_default_layers(name):
    for config in (
        StylizeConfig(backbone=name),
        dataclasses.replace(StylizeConfig(), backbone=name),
    ):
        defaults = backbones.DEFAULT_LAYERS[name]
        content, style = config_lib.content_layers(config), config_lib.style_layers(config)
        assert [n for n, _ in content] == list(defaults["content"])
        assert [n for n, _ in style] == list(defaults["style"])
        # Equal weights summing to 1 (VGG: 1.0 for conv4_2, 0.2 for each conv*_1).
        np.testing.assert_allclose([w for _, w in style], 1.0 / len(defaults["style"]))
        np.testing.assert_allclose(sum(w for _, w in content), 1.0)


def test_vgg_defaults_are_the_gatys_tables():
    config = StylizeConfig()
    assert config_lib.content_layers(config) == (("conv4_2", 1.0),)
    assert config_lib.style_layers(config) == tuple((f"conv{b}_1", 0.2) for b in range(1, 6))


def test_explicit_tables_are_kept_and_lists_or_mappings_become_tuples():
    config = StylizeConfig(style_layers=[["conv1_1", 0.5], ("conv2_1", 0.5)], style_blend=[1, 2])
    assert config.style_layers == (("conv1_1", 0.5), ("conv2_1", 0.5))
    assert config.style_blend == (1, 2)
    assert StylizeConfig(content_layers={"conv3_1": 2.0}).content_layers == (("conv3_1", 2.0),)
    hash(config)  # hashable: a valid jit static argument


def test_resnet_layers_with_a_vgg_backbone_are_refused():
    with pytest.raises(ValueError, match=r"StylizeConfig.style_layers \['layer1'\] are not layers"):
        StylizeConfig(style_layers=(("layer1", 1.0),))


def test_split_separates_data_from_the_program():
    config = StylizeConfig(lr=0.5, style_weight=3.0, seed=4, content_layers=(("conv4_2", 2.0),))
    key, data = config_lib.split(config)
    assert data == {
        "content_weight": 1.0,
        "lr": 0.5,
        "photo_weight": 0.0,
        "seed": 4,
        "style_weight": 3.0,
        "temporal_weight": 0.0,
        "tv_weight": 0.0,
        "content_layers": {"conv4_2": 2.0},
        "style_layers": {f"conv{b}_1": 0.2 for b in range(1, 6)},
    }
    assert key.lr == StylizeConfig().lr and key.style_weight == StylizeConfig().style_weight
    assert key.content_layers == (("conv4_2", 0.0),)
    # Settings that differ only in data share the key; default and explicit tables naming
    # the same layers too (their weights are data).
    explicit = StylizeConfig(
        style_layers=(("conv1_1", 1.0), *((f"conv{b}_1", 0.0) for b in range(2, 6)))
    )
    assert config_lib.split(explicit)[0] == config_lib.split(StylizeConfig())[0]
    for program_field in (dict(style_norm="johnson"), dict(optimizer="sgd"), dict(pooling="avg")):
        other = dataclasses.replace(config, **program_field)
        assert config_lib.split(other)[0] != key, program_field
    # The host-side fields stay in the split's key (one sweep shares them) but not in the
    # compiled program's.
    longer = dataclasses.replace(config, steps=7, size=64, init="noise", style_blend=(1.0,))
    assert config_lib.split(longer)[0] != key
    assert config_lib.program_key(longer) == config_lib.program_key(config)
    assert config_lib.program_key(
        dataclasses.replace(config, loop="scan")
    ) != config_lib.program_key(config)


def test_split_key_with_the_data_put_back_is_the_config():
    config = StylizeConfig(lr=0.3, tv_weight=2.0, style_layers=(("conv1_1", 0.7),))
    key, data = config_lib.split(config)
    tables = {k: tuple(v.items()) for k, v in data.items() if isinstance(v, dict)}
    numbers = {k: v for k, v in data.items() if not isinstance(v, dict)}
    assert dataclasses.replace(key, **numbers, **tables) == dataclasses.replace(
        config, content_layers=config_lib.content_layers(config)
    )


def test_unknown_field_is_named():
    with pytest.raises(ValueError, match=r"unknown config field\(s\) \['stepz'\]"):
        config_lib.replace(StylizeConfig(), stepz=3)


def test_without_unused_layers_leaves_out_zero_weights_so_the_network_stops_earlier():
    from nst import stylize

    table = (("conv1_1", 1.0), ("pool1", 0.0), ("pool4", 0.0))
    config = StylizeConfig(content_layers=(), style_layers=table)
    alone = config_lib.without_unused_layers(config)
    assert alone.style_layers == (("conv1_1", 1.0),)
    assert alone.content_layers == ()
    assert stylize.network(config).layers[-1] == "pool4"
    assert stylize.network(alone).layers == ("conv1_1",)
    # Weighted layers keep their weights and order; nothing to leave out: the same config.
    mixed = StylizeConfig(content_layers=(("conv4_2", 0.0), ("conv2_1", 2.0)))
    assert config_lib.without_unused_layers(mixed).content_layers == (("conv2_1", 2.0),)
    assert config_lib.without_unused_layers(StylizeConfig()) == StylizeConfig()
    # A table of zero weights only is kept (an empty table would mean another objective).
    zero = StylizeConfig(content_layers=(("conv4_2", 0.0),))
    assert config_lib.without_unused_layers(zero).content_layers == (("conv4_2", 0.0),)
