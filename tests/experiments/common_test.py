"""The shared experiment runner: outputs, resume, refusal, flags; and the smoke-test helper.

``smoke`` runs one study end to end on a tiny preset (random weights, 32 px, a few steps)
and checks what every study must write; each ``<study>_test.py`` calls it.
"""

import csv
import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import types

import jax
import numpy as np
import pytest
from absl import flags

from experiments import _common, init_comparison, optimizer_sweep
from nst import image

SIZE = 32
STEPS = 4
OUTPUTS = (
    "manifest.json",
    "figure.png",
    "metrics.json",
    "metrics.csv",
    "loss_vs_step.png",
    "loss_vs_time.png",
)


@pytest.fixture(autouse=True, scope="module")
def fast_compile():
    """Tiny programs run in milliseconds: compile them with fewer XLA passes."""
    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", before)


def tiny(module, *, size=SIZE, steps=STEPS, **fields):
    """The study's --quick config shrunk further, with random weights."""
    config = module.get_config(quick=True)
    return _common.shrink(config, size=size, steps=steps, weights="random", **fields)


def _mtimes(workdir):
    out = {}
    for root, _, files in os.walk(workdir):
        for name in files:
            path = os.path.join(root, name)
            out[path] = os.stat(path).st_mtime_ns
    return out


def smoke(module, workdir, config=None, **fields):
    """Runs ``module`` on a tiny preset, checks its outputs, reruns it; returns the report."""
    config = config or tiny(module, **fields)
    table = module.settings(config)
    labels = [row.label for row in table]
    report = module.run(config, str(workdir))
    assert report.complete and not report.interrupted
    assert report.ran == labels and report.skipped == []

    for name in OUTPUTS:
        assert os.path.getsize(workdir / name) > 0, name
    figure = image.load(workdir / "figure.png", max_size=None)
    assert figure.shape[0] > SIZE and figure.shape[1] > SIZE
    manifest = json.loads((workdir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["weights"]["random"] is True
    assert manifest["experiment"] == module.NAME
    assert manifest["versions"]["jax"] == jax.__version__
    assert manifest["device"]["backend"] == jax.default_backend()
    assert "commit" in manifest["git"]

    metrics = json.loads((workdir / "metrics.json").read_text())
    rows = metrics["settings"]
    assert [r["label"] for r in rows] == labels
    with open(workdir / "metrics.csv", newline="") as f:
        csv_rows = list(csv.DictReader(f))
    assert [r["label"] for r in csv_rows] == labels
    for row, csv_row in zip(rows, csv_rows):
        assert row["steps"] >= 1 and row["wall_seconds"] > 0 and row["steps_per_second"] > 0
        assert np.isfinite(row["loss/total"])
        assert float(csv_row["loss/total"]) == pytest.approx(row["loss/total"], rel=1e-6)

    for label in labels:
        slug = _common.slug(label)
        out = image.load(workdir / "images" / f"{slug}.png", max_size=None)
        assert out.ndim == 3 and max(out.shape[:2]) == config.stylize.size
        record = json.loads((workdir / "results" / f"{slug}.json").read_text())
        total = np.asarray(record["history"]["total"])
        assert len(total) == record["steps"] == len(record["history"]["time"])
        assert total[-1] < total[0], (label, total)  # the loss went down

    stamps = _mtimes(workdir)
    again = module.run(config, str(workdir))
    assert again.already_complete and again.ran == [] and again.skipped == labels
    assert _mtimes(workdir) == stamps  # a finished run is never rewritten
    return report


def check_objective(report, rtol=1e-4):
    """Every setting's logged total is the weighted sum of its logged terms, with the
    weights of its own config (the study's variable reached the engine), and its style term
    is the layer-weighted sum of the per-layer terms. Returns {label: config dict}."""
    from nst import stylize
    from nst.config import StylizeConfig

    configs = {}
    for label, outcome in report.outcomes.items():
        cfg = dict(outcome.record["config"])
        for field in ("content_layers", "style_layers"):
            if cfg[field] is not None:
                cfg[field] = tuple((n, float(w)) for n, w in cfg[field])
        cfg["style_blend"] = tuple(cfg["style_blend"])
        config = StylizeConfig(**cfg)
        configs[label] = config
        h = outcome.history
        want = config.content_weight * h["content"] + config.style_weight * h["style"]
        want = want + config.tv_weight * h["tv"]
        if "photo" in h:
            want = want + config.photo_weight * h["photo"]
        assert ("photo" in h) == bool(config.photo_weight), label
        np.testing.assert_allclose(h["total"], want, rtol=rtol, atol=1e-6, err_msg=label)
        _, style_layers = stylize._layers(config)
        layered = sum(w * h[f"style/{n}"] for n, w in style_layers)
        np.testing.assert_allclose(h["style"], layered, rtol=rtol, atol=1e-9, err_msg=label)
    return configs


# ------------------------------------------------------------------------------ helpers


def test_slug_and_format_number():
    assert _common.slug("Adam lr=1e-2") == "adam-lr-1e-2"
    assert _common.slug("α=1e3") == "alpha-1e3"
    assert _common.slug("conv1_1 – conv5_1") == "conv1-1-conv5-1"
    numbers = [1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1e3, 1e5, 0.5, 0.0]
    assert [_common.format_number(x) for x in numbers] == [
        "1e-3",
        "1e-2",
        "0.1",
        "1",
        "10",
        "100",
        "1e3",
        "1e5",
        "0.5",
        "0",
    ]


def test_subset_weights_keeps_the_union():
    table = _common.subset_weights(["a", "b", "c"], ["a", "c"])
    assert table == (("a", 0.5), ("b", 0.0), ("c", 0.5))
    with pytest.raises(ValueError, match="not in"):
        _common.subset_weights(["a"], ["z"])


def test_groups_vmap_numbers_and_split_the_rest():
    config = tiny(init_comparison)
    rows = [
        _common.Setting("a", {"lr": 1e-2}),
        _common.Setting("b", {"lr": 1e-3}),
        _common.Setting("c", {"init": "noise"}),
        _common.Setting("d", {"lr": 1e-1}, group="other"),
        _common.Setting("e", {"photo_weight": 1.0}),
    ]
    assert _common.groups(config, rows) == [[0, 1], [2], [3], [4]]


def test_bad_tables_are_refused():
    config = tiny(init_comparison)
    with pytest.raises(ValueError, match="unique label"):
        _common.configs(config, [("x", {}), ("x", {})])
    with pytest.raises(ValueError, match="unique file name"):
        _common.configs(config, [("x y", {}), ("x-y", {})])
    with pytest.raises(ValueError, match="unknown config field"):
        _common.configs(config, [("x", {"no_such_field": 1})])
    with pytest.raises(ValueError, match="--optimizer='newton'"):
        _common.configs(config, [("x", {"optimizer": "newton"})])
    with pytest.raises(ValueError, match="not layers of vgg19"):
        _common.configs(config, [("x", {"style_layers": (("conv9_9", 1.0),)})])


# ------------------------------------------------------------------------- flags


def flag_values(**given):
    """A stand-in for absl FlagValues: run.py's defaults, ``given`` marked present."""
    defaults = {
        name: flags.FLAGS[name].value
        for name in flags.FLAGS
        if name in flags.FLAGS and not name.startswith("help")
    }
    defaults.update(given)
    holders = {
        name: types.SimpleNamespace(value=value, present=name in given)
        for name, value in defaults.items()
    }

    class Values(dict):
        def flag_values_dict(self):
            return {k: v.value for k, v in self.items()}

    return Values(holders)


def test_flags_override_only_when_given():
    config = optimizer_sweep.get_config(quick=True)
    same = _common.apply_flags(config, flag_values(), optimizer_sweep.settings)
    assert same == config
    changed = _common.apply_flags(
        config,
        flag_values(size=40, steps=7, weights="random", style=["the_scream"]),
        optimizer_sweep.settings,
    )
    assert (changed.stylize.size, changed.stylize.steps) == (40, 7)
    assert changed.stylize.weights == "random" and changed.styles == ("the_scream",)


@pytest.mark.parametrize(
    "given, pattern",
    [
        ({"lr": 0.1}, "--lr cannot be set"),
        ({"optimizer": "adam"}, "--optimizer cannot be set"),
        ({"output": "x.png"}, "--output does not apply"),
        ({"overwrite": True}, "--overwrite does not apply"),
        ({"style_layers": ["conv1_1:x"]}, "bad layer weight"),
    ],
)
def test_bad_flags_are_refused(given, pattern):
    config = optimizer_sweep.get_config(quick=True)
    with pytest.raises(ValueError, match=pattern):
        _common.apply_flags(config, flag_values(**given), optimizer_sweep.settings)


# ---------------------------------------------------------------------- workdirs


def test_resume_after_interruption_skips_finished_settings(tmp_path):
    """Stopped after the first setting, mid-way through the second; the rerun finishes it."""
    config = tiny(init_comparison, steps=6)
    labels = [row.label for row in init_comparison.settings(config)]
    polls = {"n": 0}

    def stop_in_second_setting():
        if (tmp_path / "results").exists():  # the first setting is done
            polls["n"] += 1
        return polls["n"] > 3  # a few steps into the second

    report = init_comparison.run(config, str(tmp_path), should_stop=stop_in_second_setting)
    assert report.interrupted and not report.complete
    assert report.ran == labels[:1]
    assert not (tmp_path / "figure.png").exists()
    assert len(list((tmp_path / "checkpoints").iterdir())) == 1
    first = (tmp_path / "results" / f"{_common.slug(labels[0])}.json").stat().st_mtime_ns

    report = init_comparison.run(config, str(tmp_path))
    assert report.complete and report.ran == labels[1:] and report.skipped == labels[:1]
    assert (tmp_path / "results" / f"{_common.slug(labels[0])}.json").stat().st_mtime_ns == first
    resumed = report.outcomes[labels[1]].record
    assert resumed["steps"] == 6 and len(resumed["history"]["total"]) == 6
    assert list((tmp_path / "checkpoints").iterdir()) == []
    assert (tmp_path / "figure.png").exists()


def test_workdir_of_other_settings_is_refused(tmp_path):
    config = tiny(init_comparison, steps=2)
    init_comparison.run(config, str(tmp_path))
    other = dataclasses.replace(config, stylize=dataclasses.replace(config.stylize, steps=3))
    with pytest.raises(ValueError, match="holds a run with other settings"):
        init_comparison.run(other, str(tmp_path))


# ------------------------------------------------------------------------ command line

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _cli(*args):
    env = dict(os.environ, JAX_DISABLE_MOST_OPTIMIZATIONS="1")  # tiny programs: compile fast
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_cli_runs_an_experiment_and_a_rerun_says_complete(tmp_path):
    args = [
        "--experiment=init_comparison",
        "--quick",
        "--weights=random",
        f"--size={SIZE}",
        "--steps=2",
        f"--workdir={tmp_path}",
        "--progress=false",
    ]
    proc = _cli(*args)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["flags"]["quick"] is True and manifest["flags"]["size"] == SIZE
    assert manifest["config"]["stylize"]["steps"] == 2
    assert manifest["weights"]["random"] is True
    proc = _cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert "already complete" in proc.stderr


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["--experiment=optimizer_sweep", "--lr=0.1"], "--lr cannot be set"),
        (["--experiment=tv_sweep", "--optimizer=newton"], "--optimizer='newton'"),
    ],
)
def test_cli_bad_flags_are_one_line_and_exit_2(args, pattern, tmp_path):
    proc = _cli(*args, "--weights=random", f"--workdir={tmp_path / 'w'}")
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and pattern in lines[0], proc.stderr
    assert not (tmp_path / "w").exists()
