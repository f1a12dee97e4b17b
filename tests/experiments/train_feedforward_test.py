"""--quick smoke tests of train_feedforward (train, resume, add a style) and vanilla_vs_fast."""

import json

import jax
import numpy as np
import pytest
from common_test import OUTPUTS, cli_run

import experiments
from experiments import train_feedforward, vanilla_vs_fast

# Shallow random loss network and a tiny net: seconds, not minutes (as run.py hands them).
SHARED = dict(
    quick=True,
    weights="random",
    content_layers=["conv1_2"],
    style_layers=["conv1_1", "conv1_2"],
    steps=2,
)
OWN = [
    "--config.train.net.width=4",
    "--config.train.net.num_residual=1",
    "--config.train.crop_size=32",
    "--config.train.style_size=32",
    "--config.train.batch_size=2",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("train")
    report = cli_run(
        train_feedforward, workdir, OWN, **SHARED, style=["starry_night", "the_scream"]
    )
    return workdir, report


def test_registered():
    assert experiments.get("train_feedforward") is train_feedforward
    assert experiments.get("vanilla_vs_fast") is vanilla_vs_fast


def test_train_quick_writes_model_previews_metrics_manifest(trained):
    workdir, report = trained
    result = report.result
    assert report.complete and result.steps_done == 2 and not result.stopped
    assert (workdir / "model" / "net.json").is_file()
    assert (workdir / "previews" / "step_00002.png").is_file()
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["step"] == 2
    manifest = json.loads((workdir / "manifest.json").read_text())
    assert manifest["random_weights"] and manifest["status"] == "complete"
    train = manifest["config"]["train"]  # the values actually used
    assert train["net"]["norm"] == "conditional" and train["net"]["width"] == 4
    assert train["net"]["styles"] == ["starry_night", "the_scream"]
    assert train["content_layers"] == [["conv1_2", 1.0]] and train["steps"] == 2
    assert manifest["overrides"] == OWN and manifest["flags"]["steps"] == 2
    # The outputs every experiment writes.
    for name in OUTPUTS:
        assert (workdir / name).stat().st_size > 0, name
    metrics = json.loads((workdir / "metrics.json").read_text())
    (row,) = metrics["settings"]
    assert row["label"] == "training" and row["steps"] == 2
    assert row["loss/total"] == pytest.approx(json.loads(lines[-1])["total"])


def test_rerun_resumes_and_add_style_trains_a_new_row(trained, tmp_path):
    workdir, _ = trained
    same = cli_run(train_feedforward, workdir, OWN, **SHARED, style=["starry_night", "the_scream"])
    assert same.already_complete and same.result is None  # nothing to train
    more = {**SHARED, "steps": 3}
    again = cli_run(train_feedforward, workdir, OWN, **more, style=["starry_night", "the_scream"])
    result = again.result
    assert again.complete and result.steps_done == 1 and result.history[0]["step"] == 3
    manifest = json.loads((workdir / "manifest.json").read_text())
    assert manifest["config"]["train"]["steps"] == 3 and len(manifest["sessions"]) == 2
    steps = [json.loads(x)["step"] for x in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 3 and json.loads((workdir / "metrics.json").read_text())["steps"] == 3
    with pytest.raises(ValueError, match="holds a run with other settings"):
        cli_run(train_feedforward, workdir, OWN, **SHARED, style=["brick"])
    added = cli_run(
        train_feedforward,
        tmp_path / "added",
        [*OWN, f"--config.add_style={workdir}"],
        **SHARED,
        style=["brick"],
    )
    model = train_feedforward.infer.load(added.result.model_dir)
    assert model.styles == ("starry_night", "the_scream", "brick")


def test_train_errors_are_one_line_value_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no image"):
        cli_run(train_feedforward, tmp_path / "w", [f"--config.train_dir={empty}"], **SHARED)
    with pytest.raises(ValueError, match="conditional"):
        cli_run(
            train_feedforward,
            tmp_path / "w",
            ["--config.train.net.norm=batch"],
            **SHARED,
            style=["brick", "chelsea"],
        )
    with pytest.raises(ValueError, match="--size does not apply to train_feedforward"):
        cli_run(train_feedforward, tmp_path / "w", **SHARED, size=64)
    with pytest.raises(ValueError, match="arch=ulyanov"):
        cli_run(train_feedforward, tmp_path / "w", ["--config.texture=true"], **SHARED)


def test_default_workdir_names_styles_and_network():
    config = train_feedforward.get_config(quick=True)
    assert train_feedforward.default_workdir(config).endswith("starry_night_johnson_quick")


def test_vanilla_vs_fast_quick(trained, tmp_path):
    workdir, _ = trained
    overrides = ["--config.sizes=48", "--config.iterations=1,5"]
    report = cli_run(vanilla_vs_fast, tmp_path, overrides, **SHARED, model=str(workdir))
    metrics = report.metrics
    rows = metrics["rows"]
    assert [(r["iterations"], r["measured"]) for r in rows] == [(1, True), (5, False), (1, True)]
    assert all(r["seconds_per_image"] > 0 and r["size"] == 48 for r in rows)
    claim, matched = metrics["claims"]  # their form, not their outcome
    at = metrics["losses"]["48"]
    assert matched["values"]["feed_forward_seconds"] == at["feed_forward_seconds"] > 0
    assert (
        matched["values"]["optimization_iterations_to_the_network_loss"]
        == (at["feed_forward_equals_gatys_iterations"])
    )
    assert claim["values"]["optimization_iterations"] == 1  # measured rows only
    speedup = claim["values"]["optimization_seconds"] / claim["values"]["feed_forward_seconds"]
    assert claim["values"]["speedup"] == pytest.approx(speedup)
    assert claim["held"] == (speedup >= 100) and isinstance(claim["margin"], float)
    for name in (
        "table.csv",
        "metrics.json",
        "comparison.png",
        "interpolation.png",
        "manifest.json",
        "figure.png",
        "loss_vs_step.png",
        "loss_vs_time.png",
    ):
        assert (tmp_path / name).is_file(), name
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["random_weights"] and manifest["config"]["gatys_steps"] == 2
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics


def test_init_from_starts_at_the_given_network(trained, tmp_path):
    # One step at lr ~0 from the trained network: the weights are (nearly) the given ones.
    workdir, _ = trained
    start = train_feedforward.infer.load(workdir)
    report = cli_run(
        train_feedforward,
        tmp_path / "joint",
        [*OWN, f"--config.init_from={workdir}", "--config.train.lr=1e-12"],
        **{**SHARED, "steps": 1},
        style=["starry_night", "the_scream"],
    )
    got = train_feedforward.infer.load(report.result.model_dir)
    for a, b in zip(
        jax.tree.leaves(got.variables["params"]),
        jax.tree.leaves(start.variables["params"]),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, atol=1e-6)
    with pytest.raises(ValueError, match="another network"):
        cli_run(
            train_feedforward,
            tmp_path / "other",
            [*OWN, f"--config.init_from={workdir}"],
            **SHARED,
            style=["brick"],
        )
