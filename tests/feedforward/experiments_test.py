"""--quick smoke tests of train_feedforward (train, resume, infer) and vanilla_vs_fast."""

import json
import types

import pytest
from absl.testing import flagsaver

import experiments
from experiments import train_feedforward, vanilla_vs_fast

# Shallow random loss network and a tiny net: seconds, not minutes.
SHARED = dict(
    quick=True,
    weights="random",
    content_layers=["conv1_2"],
    style_layers=["conv1_1", "conv1_2"],
    steps=2,
    progress=False,
)
OWN = dict(width=4, num_residual=1, crop_size=32, style_size=32, batch_size=2)


class FakeFlags(dict):
    """The run.py flags an experiment reads: name -> (value, present)."""

    def __init__(self, **values):
        super().__init__({k: types.SimpleNamespace(value=v, present=1) for k, v in values.items()})

    def flag_values_dict(self):
        return {k: v.value for k, v in self.items()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("train")
    fv = FakeFlags(**SHARED, workdir=str(workdir), style=["starry_night", "the_scream"])
    with flagsaver.flagsaver(**OWN):
        result = train_feedforward.main(fv)
    return workdir, result


def test_registered():
    assert experiments.get("train_feedforward") is train_feedforward
    assert experiments.get("vanilla_vs_fast") is vanilla_vs_fast


def test_train_quick_writes_model_previews_metrics_manifest(trained):
    workdir, result = trained
    assert result.steps_done == 2 and not result.stopped
    assert (workdir / "model" / "net.json").is_file()
    assert (workdir / "previews" / "step_00002.png").is_file()
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["step"] == 2
    manifest = json.loads((workdir / "manifest.json").read_text())
    assert manifest["random_weights"] and manifest["config"]["net"]["norm"] == "conditional"


def test_rerun_resumes_and_add_style_trains_a_new_row(trained, tmp_path):
    workdir, _ = trained
    fv = FakeFlags(
        **{**SHARED, "steps": 3}, workdir=str(workdir), style=["starry_night", "the_scream"]
    )
    with flagsaver.flagsaver(**OWN):
        again = train_feedforward.main(fv)
    assert again.steps_done == 1 and again.history[0]["step"] == 3
    fv = FakeFlags(**SHARED, workdir=str(tmp_path / "added"), style=["brick"])
    with flagsaver.flagsaver(add_style=str(workdir), **OWN):
        added = train_feedforward.main(fv)
    model = train_feedforward.infer.load(added.model_dir)
    assert model.styles == ("starry_night", "the_scream", "brick")


def test_train_errors_are_one_line_value_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with flagsaver.flagsaver(train_dir=str(empty)), pytest.raises(ValueError, match="no image"):
        train_feedforward.main(FakeFlags(**SHARED, workdir=str(tmp_path / "w")))
    fv = FakeFlags(**SHARED, workdir=str(tmp_path / "w"), style=["brick", "chelsea"])
    with flagsaver.flagsaver(norm="batch"), pytest.raises(ValueError, match="conditional"):
        train_feedforward.main(fv)


def test_vanilla_vs_fast_quick(trained, tmp_path):
    workdir, _ = trained
    fv = FakeFlags(**SHARED, workdir=str(tmp_path))
    with flagsaver.flagsaver(model=str(workdir), table_sizes=["48"], gatys_iterations=["1", "5"]):
        metrics = vanilla_vs_fast.main(fv)
    rows = metrics["rows"]
    assert [(r["iterations"], r["measured"]) for r in rows] == [(1, True), (5, False), (1, True)]
    assert all(r["seconds_per_image"] > 0 and r["size"] == 48 for r in rows)
    (claim,) = metrics["claims"]  # its form, not its outcome
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
    ):
        assert (tmp_path / name).is_file(), name
    assert json.loads((tmp_path / "manifest.json").read_text())["random_weights"]
