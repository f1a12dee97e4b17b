"""feature_inversion end to end on a tiny preset, and its flags."""

import dataclasses
import json

import pytest
from common_test import check_claims

from experiments import feature_inversion
from nst_cli import experiment


def test_configs():
    full, quick = feature_inversion.get_config(), feature_inversion.get_config(quick=True)
    assert full.weights == "imagenet" and full.backbone == "vgg19"
    # The seed's VGG16 layers, and the same places (block ends) in VGG19.
    assert feature_inversion.layers_of(full) == feature_inversion.LAYERS["vgg19"]
    vgg16 = dataclasses.replace(full, backbone="vgg16")
    assert {"relu2_2", "relu3_3", "relu4_3", "relu5_1"} <= set(feature_inversion.layers_of(vgg16))
    for backbone, layers in feature_inversion.LAYERS.items():
        feature_inversion.validate(dataclasses.replace(full, backbone=backbone))
        assert len(layers) == 7, backbone
    assert quick.size < full.size and quick.inversion.steps < full.inversion.steps


def test_smoke(tmp_path):
    config = feature_inversion.get_config(quick=True)
    config = dataclasses.replace(
        config,
        weights="random",
        size=32,
        layers=("conv1_1", "relu3_1"),
        inversion=dataclasses.replace(config.inversion, steps=30),
    )
    metrics = feature_inversion.run(config, str(tmp_path)).metrics
    psnr = {row["layer"]: row["psnr_db"] for row in metrics["layers"]}
    assert psnr["conv1_1"] > psnr["relu3_1"] > 5, psnr
    check_claims(metrics["claims"])
    assert json.loads((tmp_path / "metrics.json").read_text())["claims"] == metrics["claims"]
    for row in metrics["layers"]:
        assert row["feature_distance"] < row["feature_distance_first_step"]
    for name in ("figure.png", "metrics.json", "manifest.json", "images/original.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert (tmp_path / "images" / "relu3_1.png").exists()
    assert json.loads((tmp_path / "manifest.json").read_text())["weights"]["random"] is True


def test_flags():
    base = feature_inversion.get_config()
    given = {"steps": 7, "lr": 0.5, "size": 40}
    overrides = ["--config.inversion.tv_weight=0", "--config.layers=pool1"]
    config = experiment.build(feature_inversion, "full", given, overrides)
    assert (config.inversion.steps, config.inversion.lr, config.inversion.tv_weight) == (7, 0.5, 0)
    assert config.layers == ("pool1",) and config.size == 40
    assert experiment.apply_flags(feature_inversion, base, {}) == base
    with pytest.raises(ValueError, match="--style does not apply to feature_inversion"):
        experiment.apply_flags(feature_inversion, base, {"style": ["brick"]})
