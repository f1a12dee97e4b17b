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


def _claims_for(images):
    """The study's claims on the bundled photo (128 px) and ``images(photo)``, one per layer."""
    from nst import image as nst_image

    photo = nst_image.load(nst_image.sample("tubingen"), max_size=128)
    config = content_layer_ablation.get_config(quick=True)
    outcomes = [
        _common.Outcome(f"conv{b}_1", f"conv{b}-1", im, {}) for b, im in enumerate(images(photo), 1)
    ]
    return {c["claim"]: c for c in content_layer_ablation.claims(config, outcomes, lambda _: photo)}


def test_layout_claim_sees_a_lost_layout():
    import numpy as np

    rng = np.random.default_rng(0)

    def blurred_then_shuffled(photo):
        # detail falls with depth (PSNR and SSIM fall) at every step; the last image keeps
        # the photo's pixels and statistics with its 32 px blocks shuffled: no layout
        from scipy import ndimage

        images = [ndimage.gaussian_filter(photo, (s, s, 0)) for s in (0.3, 0.8, 1.5, 3.0)]
        h, w = (np.array(photo.shape[:2]) // 32) * 32
        blocks = [photo[i : i + 32, j : j + 32] for i in range(0, h, 32) for j in range(0, w, 32)]
        order = rng.permutation(len(blocks))
        rows = [
            np.concatenate([blocks[order[r * (w // 32) + c]] for c in range(w // 32)], 1)
            for r in range(h // 32)
        ]
        shuffled = photo.copy()
        shuffled[:h, :w] = np.concatenate(rows, 0)
        return [*images, ndimage.gaussian_filter(shuffled, (4, 4, 0))]

    kept = _claims_for(lambda photo: [*blurred_then_shuffled(photo)[:4], photo * 0.5 + 0.2])
    lost = _claims_for(blurred_then_shuffled)
    layout = "reconstructions from noise keep the photo's layout at every depth"
    assert kept[layout]["held"] and kept[layout]["margin"] > 0.1
    assert not lost[layout]["held"]
    assert lost[layout]["values"]["conv5_1"] < 0.4 < lost[layout]["values"]["conv4_1"]
