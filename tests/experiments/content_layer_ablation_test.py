"""content_layer_ablation end to end on a tiny preset."""

import dataclasses
import json

import jax
import numpy as np
import pytest
from common_test import check_objective, smoke, tiny
from measures_test import block_shuffled
from scipy import ndimage

from experiments import _common, content_layer_ablation
from nst import image as nst_image
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


LAYOUT = "reconstructions from noise keep the photo's layout at every depth"


def _claims(images, photo):
    """The study's claims on ``photo`` and ``images``, one per layer conv1_1 ... conv5_1."""
    config = content_layer_ablation.get_config(quick=True)
    outcomes = [
        _common.Outcome(f"conv{b}_1", f"conv{b}-1", im, {}) for b, im in enumerate(images, 1)
    ]
    return {c["claim"]: c for c in content_layer_ablation.claims(config, outcomes, lambda _: photo)}


def test_layout_claim_sees_a_lost_layout():
    photo = nst_image.load(nst_image.sample("tubingen"), max_size=128)  # 128 x 96: whole blocks
    # detail falls with depth at every step (PSNR and SSIM fall); the layout is kept
    blurred = [ndimage.gaussian_filter(photo, (s, s, 0)) for s in (0.3, 0.8, 1.5, 3.0)]
    kept = _claims([*blurred, 0.5 * photo + 0.2], photo)
    # the deepest image keeps the photo's pixels and statistics, blocks shuffled: no layout
    shuffled = ndimage.gaussian_filter(
        block_shuffled(photo, 32, np.random.default_rng(0)), (4, 4, 0)
    )
    lost = _claims([*blurred, shuffled], photo)
    assert kept[LAYOUT]["held"] and kept[LAYOUT]["margin"] > 0.1
    assert not lost[LAYOUT]["held"]
    assert lost[LAYOUT]["values"]["conv5_1"] < 0.4 < lost[LAYOUT]["values"]["conv4_1"]
