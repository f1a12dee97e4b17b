"""class_visualization end to end on a tiny preset (a conv layer's channels: the class
scores need 224 px and the 0.5 GB head, tested in tests/visualize_test.py on a narrow head)."""

import dataclasses
import json

import pytest
import scipy.ndimage

from experiments import class_visualization
from nst_cli import experiment


def test_configs_and_table():
    full, quick = class_visualization.get_config(), class_visualization.get_config(quick=True)
    assert full.weights == "imagenet" and full.layer == "conv5_1" and full.backbone == "vgg19"
    assert quick.ascent.steps < full.ascent.steps and len(quick.classes) <= len(full.classes)
    table = class_visualization.ascent_settings(full)
    assert table[0][0] == "L2 only"
    plain = table[0][1]
    assert (plain.blur_every, plain.jitter, plain.norm_percentile) == (0, 0, 0)
    everything = table[-1][1]
    assert everything.blur_every and everything.jitter and everything.norm_percentile
    # One compiled step serves them all: only traced numbers differ.
    assert len({(c.optimizer, c.blur_radius, c.clip) for _, c in table}) == 1


def test_smoke(tmp_path):
    config = class_visualization.get_config(quick=True)
    config = dataclasses.replace(
        config,
        weights="random",
        size=32,
        layer="relu2_2",
        classes=(3, 8),
        ascent=dataclasses.replace(config.ascent, steps=4),
    )
    metrics = class_visualization.run(config, str(tmp_path)).metrics
    results = metrics["results"]
    assert len(results) == 2 * len(class_visualization.SETTINGS)
    for r in results:
        assert r["score_final"] > r["score_first_step"], r
    images = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert len(images) == 10 and "relu2-2-ch-3_l2-only.png" in images
    assert (tmp_path / "figure.png").stat().st_size > 0
    assert json.loads((tmp_path / "manifest.json").read_text())["weights"]["random"] is True
    assert len(metrics["claims"]) == 2 and metrics["claims"][1]["held"]  # the ascent rose


def test_claims_see_smoothness_and_a_falling_score(rng):
    """Known answers: blurred noise is smoother than the noise it came from (held), the
    other way round not; a score that fell breaks the second property."""
    noise = rng.uniform(0, 1, (2, 48, 48, 3))
    smooth = scipy.ndimage.gaussian_filter(noise, (0, 2, 2, 0))
    first, last = class_visualization.SETTINGS[0][0], class_visualization.SETTINGS[-1][0]
    results = [
        {"class": c, "name": f"c{c}", "setting": s, "score_first_step": 0.0, "score_final": 1.0}
        for c in (0, 1)
        for s in (first, last)
    ]
    images = {(c, first): noise[c] for c in (0, 1)} | {(c, last): smooth[c] for c in (0, 1)}
    smoother, rose = class_visualization.claims(results, images)
    assert smoother["held"] and smoother["margin"] > 0.1 and rose["held"]
    swapped = {(c, s): images[(c, first if s == last else last)] for c, s in images}
    assert not class_visualization.claims(results, swapped)[0]["held"]
    results[3]["score_final"] = -1.0
    assert not class_visualization.claims(results, images)[1]["held"]


def test_flags_and_validation():
    config = experiment.build(
        class_visualization,
        "full",
        {"steps": 3, "lr": 0.5},
        ["--config.classes=1,2", "--config.layer=relu5_3"],
    )
    assert config.classes == (1, 2) and config.layer == "relu5_3"
    assert (config.ascent.steps, config.ascent.lr) == (3, 0.5)
    with pytest.raises(ValueError, match="classes=cat: expected an integer, got 'cat'"):
        experiment.build(class_visualization, "full", {}, ["--config.classes=cat"])
    with pytest.raises(ValueError, match="--content does not apply"):
        experiment.apply_flags(class_visualization, config, {"content": "x.jpg"})
    with pytest.raises(ValueError, match="must be < 1000"):
        class_visualization.validate(dataclasses.replace(config, layer="fc8", classes=(1000,)))
    with pytest.raises(ValueError, match="is not a layer of vgg19"):
        class_visualization.validate(dataclasses.replace(config, layer="fc9"))
