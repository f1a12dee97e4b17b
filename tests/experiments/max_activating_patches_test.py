"""max_activating_patches end to end on a tiny preset, on a folder, and from run.py."""

import dataclasses
import json

import numpy as np
import pytest
from common_test import _cli

from experiments import max_activating_patches
from nst import image
from nst_cli import experiment


def _tiny(**fields):
    config = max_activating_patches.get_config(quick=True)
    fields = {"weights": "random", "size": 32, "layer": "relu2_2", "k": 3, **fields}
    return dataclasses.replace(config, **fields)


def test_configs():
    full, quick = max_activating_patches.get_config(), max_activating_patches.get_config(True)
    assert full.weights == "imagenet" and full.images is None
    assert quick.size < full.size and quick.k <= full.k


def test_smoke_on_the_bundled_images(tmp_path):
    metrics = max_activating_patches.run(_tiny(channels_auto=2), str(tmp_path)).metrics
    assert len(metrics["images"]) == len(image.SAMPLES)
    channels = sorted({p["channel"] for p in metrics["patches"]})
    assert len(channels) == 2
    for channel in channels:
        values = [p["activation"] for p in metrics["patches"] if p["channel"] == channel]
        assert len(values) == 3 and values == sorted(values, reverse=True)
        crop = image.load(tmp_path / "images" / f"ch{channel}_0.png", max_size=None)
        assert crop.shape == (14, 14, 3)  # relu2_2's receptive field
    assert metrics["receptive_field"]["size"] == 14
    assert (tmp_path / "figure.png").stat().st_size > 0
    assert json.loads((tmp_path / "manifest.json").read_text())["weights"]["random"] is True


def test_folder_and_channels(tmp_path):
    folder = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        image.save(folder / f"{name}.png", rng.uniform(size=(40, 30, 3)).astype(np.float32))
    (folder / "notes.txt").write_text("not an image")
    config = _tiny(images=str(folder), channels=(5, 0))
    metrics = max_activating_patches.run(config, str(tmp_path / "out")).metrics
    assert metrics["images"] == ["a", "b"]
    assert [p["channel"] for p in metrics["patches"]] == [5] * 3 + [0] * 3
    with pytest.raises(ValueError, match="relu2_2 has 128 channels"):
        max_activating_patches.run(_tiny(channels=(128,)), str(tmp_path / "bad"))
    with pytest.raises(ValueError, match="is not a folder"):
        max_activating_patches.validate(_tiny(images=str(tmp_path / "none")))
    overrides = [f"--config.images={folder}", "--config.channels=1,2", "--config.k=2"]
    config = experiment.build(max_activating_patches, "quick", {}, overrides)
    assert (config.images, config.channels, config.k) == (str(folder), (1, 2), 2)


def test_one_command(tmp_path):
    common = ["--experiment=max_activating_patches", "--quick", "--weights=random"]
    proc = _cli(*common, "--size=32", f"--workdir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "figure.png").stat().st_size > 0
    proc = _cli(*common, "--steps=3", f"--workdir={tmp_path / 'w'}")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "run.py: error: --steps does not apply to max_activating_patches"
    )


def test_occlusion_of_the_field_and_elsewhere(tmp_path):
    """On the tiny run: a unit cannot see a square clear of its field (control exactly 1),
    and the verdict compares the two medians; a box moved off the unit breaks it."""
    metrics = max_activating_patches.run(_tiny(channels_auto=2), str(tmp_path)).metrics
    ratios = [p["occluded"] for p in metrics["patches"]]
    controls = [r["elsewhere"] for r in ratios if r["elsewhere"] is not None]
    assert controls and np.allclose(controls, 1.0, atol=1e-5)
    (claim,) = metrics["claims"]
    inside = float(np.median([r["inside"] for r in ratios]))
    assert claim["values"]["receptive field occluded"] == pytest.approx(inside)
    assert claim["held"] == (inside < 0.5 and inside < 1.0)
    assert claim["held"]  # random relu2_2 units too: measured 0.09-0.26 of the activation
    # Known answers by hand: fields that drive the unit -> held; a misplaced box (its
    # occlusion changes nothing, like the control) -> not held.
    driven = [{"inside": 0.1, "elsewhere": 1.0}, {"inside": 0.3, "elsewhere": None}]
    assert max_activating_patches.claims(driven)[0]["held"]
    misplaced = [{"inside": 1.0, "elsewhere": 1.0}, {"inside": 0.98, "elsewhere": 1.0}]
    (bad,) = max_activating_patches.claims(misplaced)
    assert not bad["held"] and bad["margin"] == pytest.approx(0.01)
