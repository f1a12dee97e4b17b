"""guided_backprop end to end on a tiny preset; flags; the shared helpers of the four
visualization experiments."""

import dataclasses
import json

import jax
import numpy as np
import pytest
from common_test import cli_run

from experiments import _visual, guided_backprop
from nst import image


def _tiny(**fields):
    config = guided_backprop.get_config(quick=True)
    fields = {"weights": "random", "size": 32, "layers": ("relu1_2", "relu2_2"), **fields}
    return dataclasses.replace(config, **fields)


def test_configs():
    full, quick = guided_backprop.get_config(), guided_backprop.get_config(quick=True)
    assert full.weights == "imagenet" and full.backbone == "vgg19"
    assert quick.size < full.size and len(quick.layers) <= len(full.layers)


def test_smoke(tmp_path):
    metrics = guided_backprop.run(_tiny(neurons=2), str(tmp_path)).metrics
    neurons = metrics["neurons"]
    assert [(n["layer"]) for n in neurons] == ["relu1_2"] * 2 + ["relu2_2"] * 2
    for n in neurons:
        assert n["activation"] > 0
        assert n["rules"]["backprop"]["cosine_to_vanilla"] == pytest.approx(1.0)
        for rule in ("backprop", "deconvnet", "guided"):
            assert (tmp_path / "images" / f"{n['layer']}_ch{n['channel']}_{rule}.png").exists()
            assert 0 < n["rules"][rule]["nonzero_fraction_in_field"] <= 1
            assert -1 <= n["rules"][rule]["edge_alignment"] <= 1
    (verdict,) = metrics["claims"]
    assert set(verdict["values"]) == {"vanilla gradient", "deconvnet", "guided backprop"}
    figure = image.load(tmp_path / "figure.png", max_size=None)
    assert figure.shape[0] > 4 * 128 and figure.shape[1] > 5 * 128  # 4 rows, 5 columns
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["experiment"] == "guided_backprop" and manifest["status"] == "complete"
    assert manifest["weights"]["random"] is True
    assert manifest["versions"]["jax"] == jax.__version__
    assert json.loads((tmp_path / "metrics.json").read_text()) == json.loads(json.dumps(metrics))


def test_flags_overrides_workdir_and_refusals(tmp_path):
    given = dict(quick=True, weights="random", size=32, workdir=str(tmp_path))
    overrides = ["--config.layers=relu1_1", "--config.neurons=1"]
    report = cli_run(guided_backprop, tmp_path, overrides, **given)
    metrics = report.metrics
    assert [n["layer"] for n in metrics["neurons"]] == ["relu1_1"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["overrides"] == overrides and manifest["flags"]["size"] == 32
    assert manifest["config"]["size"] == 32 and manifest["config"]["layers"] == ["relu1_1"]
    for name in ("loss_vs_step.png", "loss_vs_time.png", "figure.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    again = cli_run(guided_backprop, tmp_path, overrides, **given)  # complete: left untouched
    assert again.already_complete and again.metrics == metrics
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == stamps
    with pytest.raises(ValueError, match="holds a run with other settings"):
        cli_run(guided_backprop, tmp_path, ["--config.neurons=2"], **given)
    with pytest.raises(ValueError, match="--steps does not apply to guided_backprop"):
        cli_run(guided_backprop, tmp_path, overrides, **given, steps=3)
    with pytest.raises(ValueError, match="--overwrite does not apply to experiments"):
        cli_run(guided_backprop, tmp_path, overrides, **given, overwrite=True)
    with pytest.raises(ValueError, match=r"unknown layer\(s\) \['conv9_9'\]"):
        cli_run(guided_backprop, tmp_path, ["--config.layers=conv9_9"], **given)


def test_title_says_random_weights():
    title = _visual.figure_title("x", _tiny(), "--quick")
    assert title.startswith("x, VGG19 random init (seed 0), 32 px, --quick — random weights")
    assert "not what a trained network has learned" in title
    assert "random" not in _visual.figure_title("x", guided_backprop.get_config())


def test_claim_by_hand():
    def neuron(backprop, guided):
        values = {"backprop": backprop, "deconvnet": 0.0, "guided": guided}
        return {"rules": {rule: {"edge_alignment": v} for rule, v in values.items()}}

    neurons = [neuron(0.1, 0.5), neuron(0.2, 0.1), neuron(0.3, 0.6)]  # medians 0.2, 0.5
    (held,) = guided_backprop.claims(neurons)
    assert held["held"] and held["margin"] == pytest.approx(0.3)
    (failed,) = guided_backprop.claims([neuron(0.5, 0.1)])
    assert not failed["held"] and failed["margin"] == pytest.approx(-0.4)


def test_draw_box_clips_to_the_image():
    out = guided_backprop.draw_box(np.zeros((6, 6, 3), np.float32), (-2, 3, 5), width=1)
    red = np.all(out == [1, 0, 0], axis=-1)
    # rows -2..2, columns 3..7: clipped to rows 0..2, columns 3..5, outlined there
    expected = np.zeros((6, 6), bool)
    expected[0, 3:] = expected[2, 3:] = expected[:3, 3] = expected[:3, 5] = True
    np.testing.assert_array_equal(red, expected)
