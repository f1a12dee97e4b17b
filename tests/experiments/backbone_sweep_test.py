"""backbone_sweep end to end on a tiny preset (ResNets included: 32 px reach layer4 at 1x1)."""

import json

from common_test import fast_compile, smoke  # noqa: F401

from experiments import backbone_sweep


def test_smoke(tmp_path):
    smoke(backbone_sweep, tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert sorted(manifest["weights"]["sources"]) == sorted(n for _, n in backbone_sweep.BACKBONES)


def test_layer_mapping_names_every_layer():
    caption = backbone_sweep.layer_mapping()
    for layer in ("conv4_2", "conv1_1", "conv5_1", "relu", "layer1", "layer2", "layer4"):
        assert layer in caption
    assert "ResNet" in caption and "VGG" in caption
