"""content_layer_ablation end to end on a tiny preset."""

import dataclasses
import json

import jax
import pytest
from common_test import check_objective, smoke, tiny

from experiments import _common, content_layer_ablation
from nst_cli import experiment


def test_smoke(tmp_path):
    config = tiny(content_layer_ablation)
    report = smoke(content_layer_ablation, tmp_path, config)
    configs = check_objective(report)
    for label, cfg in configs.items():  # each setting reconstructs from its own layer alone
        assert [n for n, w in cfg.content_layers if w] == [label], label
    record = json.loads((tmp_path / "results" / "conv3-1.json").read_text())
    # L-BFGS: lbfgs_host on CPU runs one setting at a time; optax's sweeps the five.
    assert record["sweep_size"] == (1 if jax.default_backend() == "cpu" else 5)
    assert record["config"]["init"] == "noise" and record["config"]["style_weight"] == 0.0
    assert dict(record["config"]["content_layers"]) == {
        "conv1_1": 0.0,
        "conv2_1": 0.0,
        "conv3_1": 1.0,
        "conv4_1": 0.0,
        "conv5_1": 0.0,
    }


def test_conv_flag_picks_the_second_conv_of_each_block():
    config = dataclasses.replace(content_layer_ablation.get_config(), conv=2)
    table = content_layer_ablation.settings(config)
    assert [row.label for row in table] == [f"conv{b}_2" for b in range(1, 6)]
    cpu = jax.default_backend() == "cpu"
    assert _common.groups(config, table) == ([[i] for i in range(5)] if cpu else [list(range(5))])
    with pytest.raises(ValueError, match="1 or 2"):
        content_layer_ablation.settings(dataclasses.replace(config, conv=3))


def test_conv_flag_reaches_the_config():
    config = experiment.build(content_layer_ablation, "quick", {}, ["--config.conv=2"])
    assert config.conv == 2
    assert content_layer_ablation.settings(config)[0].label == "conv1_2"
