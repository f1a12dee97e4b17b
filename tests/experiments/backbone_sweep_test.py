"""backbone_sweep end to end on a tiny preset (ResNets included: 32 px reach layer4 at 1x1)."""

import json

import numpy as np
from common_test import check_objective, smoke

from experiments import backbone_sweep


def test_smoke(tmp_path):
    report = smoke(backbone_sweep, tmp_path)
    configs = check_objective(report)
    assert {k: c.backbone for k, c in configs.items()} == dict(backbone_sweep.BACKBONES)
    # Each backbone's features steer its own image: no two outputs are the same.
    images = [o.image for o in report.outcomes.values()]
    for i in range(len(images)):
        for j in range(i):
            assert np.abs(images[i] - images[j]).max() > 1e-3, (i, j)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert sorted(manifest["weights"]["sources"]) == sorted(n for _, n in backbone_sweep.BACKBONES)


def test_layer_mapping_names_every_layer():
    caption = backbone_sweep.layer_mapping()
    for layer in ("conv4_2", "conv1_1", "conv5_1", "relu", "layer1", "layer2", "layer4"):
        assert layer in caption
    assert "ResNet" in caption and "VGG" in caption
