"""large_scale end to end on a tiny preset, and its seam-visibility figure."""

import dataclasses
import json
import os

import numpy as np
import pytest
from common_test import OUTPUTS

from experiments import _common, large_scale
from nst import image


def _tiny():
    config = large_scale.get_config(quick=True)
    config = _common.shrink(
        config,
        size=64,
        steps=4,
        weights="random",
        content_layers=(("conv2_1", 1.0),),
        style_layers=(("conv1_1", 0.5), ("conv2_1", 0.5)),
    )
    hi = dataclasses.replace(
        config.highres, tile_size=32, tile_overlap=8, pyramid_start=32, min_steps=2
    )
    return dataclasses.replace(config, highres=hi, patch_overlap=8, closeup=24)


def test_smoke(tmp_path):
    config = _tiny()
    labels = [s.label for s in large_scale.settings(config)]
    report = large_scale.run(config, str(tmp_path))
    assert report.complete and report.ran == labels
    for name in OUTPUTS:
        assert os.path.getsize(tmp_path / name) > 0, name
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["weights"]["random"] is True
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [r["label"] for r in metrics["settings"]] == labels
    seams = {row["label"]: row for row in metrics["seams"]}
    assert set(seams) == {"content photo", *labels}
    assert seams["whole image"]["rmse_vs_whole"] == 0.0
    for label in labels:
        assert np.isfinite(seams[label]["seam_stitch"]) and seams[label]["seam_stitch"] > 0
        out = image.load(tmp_path / "images" / f"{_common.slug(label)}.png", max_size=None)
        assert out.shape == (48, 64, 3)
        record = json.loads((tmp_path / "results" / f"{_common.slug(label)}.json").read_text())
        assert len(record["history"]["total"]) == record["steps"] >= 4
    slug = _common.slug("pyramid + tiles")
    pyramid = json.loads((tmp_path / "results" / f"{slug}.json").read_text())
    assert [lv["shape"] for lv in pyramid["levels"]] == [[24, 32], [48, 64]]
    assert pyramid["levels"][1]["tile"] == [32, 32]
    assert metrics["bf16_vs_f32_relative_loss_difference"]["total"] < 0.05
    (verdict,) = metrics["claims"]
    assert set(verdict["values"]) == {"blended tiles (tile grid)", "naive stitch (its seam)"}
    assert verdict["convergence"]["settings"] == len(labels)
    again = large_scale.run(config, str(tmp_path))
    assert again.already_complete and again.ran == []


def test_seam_visibility_sees_a_hard_seam(rng):
    smooth = np.cumsum(rng.random((64, 64, 3)).astype(np.float32) * 0.01, axis=1)
    assert 0.5 < large_scale.seam_visibility(smooth, columns=[32]) < 2.0
    seamed = smooth.copy()
    seamed[:, 32:] += 0.3  # a step of 0.3 across column 32
    assert large_scale.seam_visibility(seamed, columns=[32]) > 10
    assert large_scale.seam_visibility(seamed, columns=[16]) < 2.0
    assert np.isnan(large_scale.seam_visibility(smooth))


def test_claim_by_hand():
    seams = [
        {"label": "two patches, naive stitch", "seam_stitch": 3.0, "seam_tile_grid": 1.0},
        {"label": "blended tiles", "seam_stitch": 1.0, "seam_tile_grid": 1.2},
    ]
    (held,) = large_scale.claims({"seams": seams})
    assert held["held"] and held["margin"] == pytest.approx(1.8)
    seams[1]["seam_tile_grid"] = 4.0
    (failed,) = large_scale.claims({"seams": seams})
    assert not failed["held"] and failed["margin"] == pytest.approx(-1.0)


def test_grid_lines_are_the_unshifted_tile_borders():
    assert large_scale._grid_lines(100, 48, 16) == [32, 48, 64, 80]
    assert large_scale._grid_lines(40, 48, 16) == []
