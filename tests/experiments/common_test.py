"""The shared experiment runner: outputs, resume, refusal, flags; and the smoke-test helper.

``smoke`` runs one study end to end on a tiny preset (random weights, 32 px, a few steps)
and checks what every study must write; each ``<study>_test.py`` calls it.
"""

import csv
import dataclasses
import functools
import json
import os
import pathlib
import re
import subprocess
import sys
import types

import jax
import numpy as np
import pytest

import experiments
from experiments import (
    _common,
    init_comparison,
    large_scale,
    optimizer_sweep,
    train_feedforward,
    vanilla_vs_fast,
    video_temporal,
)
from nst import image, stylize
from nst_cli import experiment
from nst_cli import flags as cli_flags
from nst_cli.progress import Progress

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


# The seed studies that check their seed's claim (metrics.json "claims").
CLAIMED = {
    "content_layer_ablation",
    "style_layer_ablation",
    "texture_synthesis",
    "tv_sweep",
    "optimizer_sweep",
    "weight_tradeoff",
    "init_comparison",
    "photorealism",
    "loss_type_sweep",  # no seed claim: properties that must hold
}


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

    if module.NAME in CLAIMED:
        check_claims(metrics["claims"])  # the verdicts' form, not their outcome (random weights)
    stamps = _mtimes(workdir)
    again = module.run(config, str(workdir))
    assert again.already_complete and again.ran == [] and again.skipped == labels
    assert _mtimes(workdir) == stamps  # a finished run is never rewritten
    return report


def check_objective(report, rtol=1e-4):
    """Every setting's logged total is the weighted sum of its logged terms, with the
    weights of its own config (the study's variable reached the engine), and its style term
    is the layer-weighted sum of the per-layer terms. Returns {label: config dict}."""
    from nst import config as config_lib
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
        layered = sum(w * h[f"style/{n}"] for n, w in config_lib.style_layers(config) if w)
        np.testing.assert_allclose(h["style"], layered, rtol=rtol, atol=1e-9, err_msg=label)
    return configs


def check_claims(claims):
    """Every verdict record is well-formed: words, a measure, values, held, a margin."""
    assert isinstance(claims, list) and claims
    for c in claims:
        assert isinstance(c["claim"], str) and c["claim"]
        assert isinstance(c["measure"], str) and c["measure"]
        assert c["values"]
        assert isinstance(c["held"], bool)
        assert c["margin"] is None or isinstance(c["margin"], float)
        strict = "margin = the smallest step" in c["measure"] and "plateau" not in c["measure"]
        if c["margin"] is not None and strict:
            assert c["held"] == (c["margin"] > 0)


# ------------------------------------------------------------------------------ helpers


def test_tiers():
    assert _common.tier_of() == "full" and _common.tier_of(True) == "quick"
    assert _common.tier_of(tier="middle") == "middle"
    with pytest.raises(ValueError, match="contradict"):
        _common.tier_of(True, "middle")
    with pytest.raises(ValueError, match="not one of"):
        _common.tier_of(tier="huge")
    full = _common.tier_config(init_comparison, "full")
    middle = _common.tier_config(init_comparison, "middle")
    quick = _common.tier_config(init_comparison, "quick")
    assert quick.stylize.size < middle.stylize.size < full.stylize.size
    assert quick.stylize.steps < middle.stylize.steps < full.stylize.steps
    without = types.SimpleNamespace(NAME="x", get_config=lambda quick=False: quick)
    with pytest.raises(ValueError, match="no --tier=middle"):
        _common.tier_config(without, "middle")
    assert _common.tier_config(without, "quick") is True


def test_trend_claim_by_hand():
    assert _common.monotone_margin([3.0, 2.0, 0.5], increasing=False) == 1.0
    assert _common.monotone_margin([3.0, 2.0, 2.5], increasing=False) == -0.5
    assert _common.monotone_margin([1.0, 4.0], increasing=True) == 3.0
    held = _common.trend_claim("falls", "m", ["a", "b", "c"], [3, 2, 0.5], increasing=False)
    assert held["held"] is True and held["margin"] == 1.0
    assert held["values"] == {"a": 3.0, "b": 2.0, "c": 0.5}
    failed = _common.trend_claim("rises", "m", ["a", "b"], [2, 2], increasing=True)
    assert failed["held"] is False and failed["margin"] == 0.0
    nan = _common.trend_claim("rises", "m", ["a", "b"], [1, np.nan], increasing=True)
    assert nan["held"] is False and nan["margin"] is None
    # A plateau within rtol is allowed; a step the wrong way beyond it is not.
    flat = _common.trend_claim(
        "falls", "m", ["a", "b", "c"], [3, 1, 1.005], increasing=False, rtol=0.01
    )
    assert flat["held"] is True and flat["strictly"] is False
    assert flat["margin"] == pytest.approx(-0.005)
    assert _common.verdict_lines([flat])[0].startswith("HELD up to a plateau (margin -0.005)")
    bump = _common.trend_claim(
        "falls", "m", ["a", "b", "c"], [3, 1, 1.02], increasing=False, rtol=0.01
    )
    assert bump["held"] is False
    layout = _common.with_verdicts({"images": [], "caption": "x"}, [held, failed])
    assert layout["caption"].splitlines() == [
        "x",
        "HELD (margin 1): falls",
        "NOT HELD (margin 0): rises",
    ]


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
    # A host-driven optimizer (lbfgs on CPU) runs one setting at a time.
    stylize = dataclasses.replace(config.stylize, optimizer="lbfgs")
    lbfgs = dataclasses.replace(config, stylize=stylize)
    split = [[0], [1], [2], [3], [4]] if jax.default_backend() == "cpu" else [[0, 1], [2], [3], [4]]
    assert _common.groups(lbfgs, rows) == split


def test_convergence_by_hand():
    def record(totals, converged=None, stop_tol=1e-3, stop_window=2):
        config = {"stop_tol": stop_tol, "stop_window": stop_window}
        return {"history": {"total": totals}, "converged": converged, "config": config}

    # Falls over the last 2 steps, relative to the final value: (1.1 - 1) / 1 and 0.
    done = record([8.0, 2.0, 1.1, 1.05, 1.0], converged="converged: ...")
    flat = record([4.0, 2.0, 2.0, 2.0], converged="converged: ...")
    assert _common.loss_fall(done) == (pytest.approx(0.1), 2)
    assert _common.loss_fall(flat) == (0.0, 2)
    summary = _common.convergence([done, flat])
    assert summary["converged"] == 2 and summary["settings"] == 2
    assert summary["largest_fall"] == pytest.approx(0.1)
    assert summary["largest_final_over_start"] == pytest.approx(0.5)
    # No stopping rule: the fall over the last tenth of the steps; none ended by the rule.
    fixed = record(list(np.linspace(20.0, 1.0, 20)), stop_tol=0.0)
    assert _common.loss_fall(fixed)[1] == 2
    summary = _common.convergence([fixed])
    assert summary["converged"] == 0 and "fixed steps" in summary["rule"]
    verdict = {"claim": "c", "held": True, "margin": 1.0, "convergence": summary}
    line = _common.verdict_lines([verdict])
    assert line[1].strip().startswith("NOT converged: 0 of 1 settings")


def test_decay_power_by_hand():
    t = np.arange(1, 201, dtype=np.float64)

    def record(totals):
        return {"history": {"total": list(totals)}, "converged": None, "config": {}}

    assert _common.decay_power(record(5.0 * t**-2.0)) == pytest.approx(2.0)
    assert _common.decay_power(record(t**-0.5)) == pytest.approx(0.5)
    # An exponential fall is no power law: its p over the second half is 100 / 50 / log 2.
    assert _common.decay_power(record(np.exp(-t / 50))) == pytest.approx(2 / np.log(2))
    assert np.isnan(_common.decay_power(record(t[:10] ** -2.0)))  # too short to tell
    assert np.isnan(_common.decay_power(record(np.linspace(1.0, 0.0, 200))))  # reaches 0
    summary = _common.convergence([record(t**-2.0), record(t**-1.5)])
    assert summary["decay_power"] == [pytest.approx(1.5), pytest.approx(2.0)]
    line = _common.convergence_line(summary)
    # 0.9^-1.5 - 1 = 17.1%: the share every last tenth takes off, whatever the length
    assert "p 1.5-2 over the second half" in line and "takes 17%+ off" in line


def test_bad_tables_are_refused():
    config = tiny(init_comparison)
    with pytest.raises(ValueError, match="unique label"):
        _common.configs(config, [("x", {}), ("x", {})])
    with pytest.raises(ValueError, match="unique file name"):
        _common.configs(config, [("x y", {}), ("x-y", {})])
    with pytest.raises(ValueError, match="unknown config field"):
        _common.configs(config, [("x", {"no_such_field": 1})])
    with pytest.raises(ValueError, match=r"StylizeConfig\.optimizer must be one of adam"):
        _common.configs(config, [("x", {"optimizer": "newton"})])
    with pytest.raises(ValueError, match="not layers of vgg19"):
        _common.configs(config, [("x", {"style_layers": (("conv9_9", 1.0),)})])


# ------------------------------------------------------------------------- flags


def cli_run(module, where, overrides=(), tier="quick", **given):
    """``run.py --experiment=NAME`` without a process: the shared flags ``given`` (as absl
    hands them: lists for list flags) and the ``--config.*`` ``overrides``, then ``run``."""
    config = experiment.build(module, tier, given, overrides)
    session = _common.Session(flags=given, overrides=tuple(overrides))
    return module.run(config, str(where), session)


def test_flags_override_only_when_given():
    config = optimizer_sweep.get_config(quick=True)
    same = experiment.apply_flags(optimizer_sweep, config, {})
    assert same == config
    changed = experiment.apply_flags(
        optimizer_sweep,
        config,
        dict(size=40, steps=7, weights="random", style=["the_scream"]),
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
        ({"tile_size": 64}, "--tile_size does not apply to optimizer_sweep"),
    ],
)
def test_bad_flags_are_refused(given, pattern):
    config = optimizer_sweep.get_config(quick=True)
    with pytest.raises(ValueError, match=pattern):
        experiment.apply_flags(optimizer_sweep, config, given)


def test_layer_flags_and_backbone_flag():
    """Layer flags parse name[:weight] (content 1, style 1/5 by default); --backbone puts
    the layers not given back to the new backbone's defaults (None)."""
    config = init_comparison.get_config(quick=True)
    given = {"content_layers": ["conv3_1"], "style_layers": ["conv1_1", "conv2_1:0.5"]}
    out = experiment.apply_flags(init_comparison, config, given).stylize
    assert out.content_layers == (("conv3_1", 1.0),)
    assert out.style_layers == (("conv1_1", 0.2), ("conv2_1", 0.5))
    layered = dataclasses.replace(config, stylize=out)
    moved = experiment.apply_flags(init_comparison, layered, {"backbone": "resnet18"}).stylize
    assert moved.backbone == "resnet18"
    assert moved.content_layers is None and moved.style_layers is None
    kept = experiment.apply_flags(
        init_comparison, layered, {"backbone": "resnet18", "style_layers": ["layer1"]}
    ).stylize
    assert kept.content_layers is None and kept.style_layers == (("layer1", 0.2),)


def test_memory_gib_reaches_large_scale_in_bytes():
    """A converted flag (``nst_cli.experiment.FLAG_FIELDS``' (field, convert)): the value in
    bytes; a bad one is
    refused in one line naming the flag."""
    config = large_scale.get_config(quick=True)
    out = experiment.apply_flags(large_scale, config, {"memory_gib": 1.5})
    assert out.highres.memory_budget == 3 * 2**29
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match=r"^--memory_gib must be a finite number > 0"):
            experiment.apply_flags(large_scale, config, {"memory_gib": bad})


@pytest.mark.parametrize(
    "module, flag, value, path",
    [
        (vanilla_vs_fast, "steps", 7, ("gatys_steps",)),
        (train_feedforward, "content", "chelsea", ("preview",)),
        (video_temporal, "max_frames", 3, ("frames",)),
        # StylizeConfig has a style_scale too: without the table the flag would set that one.
        (large_scale, "style_scale", 0.5, ("highres", "style_scale")),
    ],
)
def test_a_flag_named_other_than_its_field_sets_the_study_s_field(module, flag, value, path):
    """``nst_cli.experiment.FLAG_FIELDS[NAME]``: the flag sets the field the table names for
    that study (not one of the flag's own name, nor an error)."""
    config = module.get_config(quick=True)
    out = experiment.apply_flags(module, config, {flag: value})
    assert functools.reduce(getattr, path, out) == value != functools.reduce(getattr, path, config)
    if module is large_scale:
        assert out.stylize == config.stylize


def test_flag_fields_name_studies_and_flags_and_only_nst_cli_knows_them():
    """The table's keys are registered studies and run.py flags; the studies name no flag."""
    run_flags = {f.name for f in cli_flags.FLAGS.get_flags_for_module("nst_cli.flags")}
    for name, table in experiment.FLAG_FIELDS.items():
        assert name in experiments.EXPERIMENTS
        assert set(table) <= run_flags, set(table) - run_flags
    for name, module in experiments.EXPERIMENTS.items():
        assert not hasattr(module, "FLAG_FIELDS"), name


# ---------------------------------------------------------------------- workdirs


def test_resume_after_interruption_skips_finished_settings(tmp_path, capsys):
    """Stopped after the first setting, mid-way through the second; the rerun finishes it."""
    config = tiny(init_comparison, steps=6)
    labels = [row.label for row in init_comparison.settings(config)]
    polls = {"n": 0}

    def stop_in_second_setting():
        if (tmp_path / "results").exists():  # the first setting is done
            polls["n"] += 1
        return polls["n"] > 3  # a few steps into the second

    session = _common.Session(should_stop=stop_in_second_setting)
    report = init_comparison.run(config, str(tmp_path), session)
    assert report.interrupted and not report.complete
    assert report.ran == labels[:1]
    assert not (tmp_path / "figure.png").exists()
    assert len(list((tmp_path / "checkpoints").iterdir())) == 1
    first = (tmp_path / "results" / f"{_common.slug(labels[0])}.json").stat().st_mtime_ns

    capsys.readouterr()
    report = init_comparison.run(config, str(tmp_path), _common.Session(progress=Progress))
    assert report.complete and report.ran == labels[1:] and report.skipped == labels[:1]
    assert re.search(r"resuming from step [1-5] of 6", capsys.readouterr().err)
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
        "--config.stylize.lr=0.02",
    ]
    proc = _cli(*args)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    # Only the flags given, once (not repeated per session), and the overrides as given.
    assert manifest["flags"] == {
        "experiment": "init_comparison",
        "progress": False,
        "quick": True,
        "size": SIZE,
        "steps": 2,
        "weights": "random",
        "workdir": str(tmp_path),
    }
    assert manifest["overrides"] == ["--config.stylize.lr=0.02"]
    assert manifest["config"]["stylize"]["steps"] == 2
    assert manifest["config"]["stylize"]["lr"] == 0.02  # the values actually used
    assert manifest["weights"]["random"] is True
    assert [set(s) for s in manifest["sessions"]] == [{"started", "git", "device"}]
    proc = _cli(*args)
    assert proc.returncode == 0, proc.stderr
    assert "already complete" in proc.stderr


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["--experiment=optimizer_sweep", "--lr=0.1"], "--lr cannot be set"),
        (["--experiment=tv_sweep", "--optimizer=newton"], "--optimizer must be one of adam"),
        (["--experiment=tv_sweep", "--config.stylize.lr=-1"], "stylize.lr=-1: --lr must be finite"),
        (["--experiment=tv_sweep", "--config.tv_scle=1"], "has no field 'tv_scle'"),
        (["--experiment=content_layer_ablation", "--config.conv=big"], "expected an integer"),
        (["--experiment=content_layer_ablation", "--config.conv=3"], "--config.conv must be 1"),
    ],
)
def test_cli_bad_flags_are_one_line_and_exit_2(args, pattern, tmp_path):
    proc = _cli(*args, "--weights=random", f"--workdir={tmp_path / 'w'}")
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and pattern in lines[0], proc.stderr
    assert not (tmp_path / "w").exists()


def test_halfway_and_settled_by_hand():
    shots = {100: "a", 200: "b", 300: "c", 400: "d", 600: "e"}
    assert _common.halfway(shots, 600) == (300, "c")
    assert _common.halfway(shots, 500) == (200, "b")  # the last at or before half
    assert _common.halfway(shots, 150) is None and _common.halfway({}, 600) is None

    def verdict(values):
        return _common.trend_claim("c", "m", ["x", "y", "z"], values, increasing=False)

    final = verdict([3.0, 2.0, 1.0])  # held, margin 1
    # A trend is settled when the same drift again keeps the verdict (projected by hand).
    calm = _common.settled(final, verdict([3.5, 2.4, 1.2]), [300, 300, 300])
    assert calm["settled"] and calm["same_verdict"] and calm["held"]
    assert calm["projected"] == {"values": {"x": 2.5, "y": 1.6, "z": 0.8}, "held": True}
    assert calm["largest_change"] == pytest.approx(0.2)  # (1.2 - 1) / 1
    assert calm["values"] == {"x": 3.5, "y": 2.4, "z": 1.2}
    # y raced away from x (0.6, more than half the margin) toward z: again lands at 1.4,
    # still above z: settled (a move away from a neighbour cannot flip a trend).
    away = _common.settled(final, verdict([3.0, 2.6, 1.0]), [300] * 3)
    assert away["settled"] and away["projected"]["values"]["y"] == pytest.approx(1.4)
    # x closing in on y: the same verdict at both ends, but the same drift again (x 4.2 ->
    # 3 -> 1.8) crosses y: not settled.
    closing = _common.settled(final, verdict([4.2, 2.0, 1.0]), [300] * 3)
    assert closing["same_verdict"] and not closing["projected"]["held"]
    assert not closing["settled"]
    # Another verdict at the earlier iteration: not settled.
    drifting = _common.settled(final, verdict([3.0, 3.5, 1.0]), [300] * 3)
    assert not drifting["held"] and not drifting["same_verdict"] and not drifting["settled"]
    moved = _common.settled(final, verdict([5.0, 3.2, 1.1]), [300] * 3)
    assert moved["same_verdict"] and not moved["settled"]  # again: y 0.8 below z 0.9
    line = _common.verdict_lines([{**final, "settled": calm}])[-1]
    assert "measure settled: HELD at iteration 300" in line and "<= 20%" in line
    line = _common.verdict_lines([{**final, "settled": moved}])[-1]
    assert "measure NOT settled" in line
    # A claim that is not a trend keeps the half-margin rule: a move of 0.6 > 1 / 2.
    pair = _common.claim("c", "m", {"x": 3.0, "y": 2.0}, True, 1.0)
    assert not _common.settled(pair, _common.claim("c", "m", {"x": 3.6, "y": 2.0}, True, 1.6), [1])[
        "settled"
    ]
    assert _common.settled(pair, _common.claim("c", "m", {"x": 3.4, "y": 2.0}, True, 1.4), [1])[
        "settled"
    ]


def test_bound_claim_and_its_projection_by_hand():
    def verdict(values, **kw):
        return _common.bound_claim("c", "m", ["x", "y"], values, bar=0.5, **kw)

    final = verdict([0.9, 0.55])
    assert final["held"] and final["margin"] == pytest.approx(0.05)
    assert final["values"] == {"x": 0.9, "y": 0.55}
    low = verdict([0.9, 0.4])
    assert not low["held"] and low["margin"] == pytest.approx(-0.1)
    below = verdict([0.3, 0.45], above=False)
    assert below["held"] and below["margin"] == pytest.approx(0.05)
    assert not verdict([0.3, 0.6], above=False)["held"]
    # y rising toward and past the bar (0.45 -> 0.55): the same drift again, 0.65: held,
    # though y moved twice the margin (the half-margin rule would call it unsettled).
    rising = _common.settled(final, verdict([0.9, 0.52]), [1000] * 2)
    assert rising["projected"] == {"values": {"x": 0.9, "y": pytest.approx(0.58)}, "held": True}
    assert rising["settled"]
    # y falling toward the bar (0.62 -> 0.55): again, 0.48, below it: not settled.
    falling = _common.settled(final, verdict([0.9, 0.62]), [1000] * 2)
    assert falling["same_verdict"] and not falling["projected"]["held"]
    assert not falling["settled"]
    # Not held half-way: not settled, whatever the projection says.
    late = _common.settled(final, verdict([0.9, 0.45]), [1000] * 2)
    assert not late["same_verdict"] and late["projected"]["held"] and not late["settled"]


def test_reconstruction_studies_use_gatys_network_and_the_runner_loads_it():
    """Gatys et al.'s conditions (normalized VGG19, average pooling) in every tier, and the
    runner hands the sweeps the normalized params, not the plain ones."""
    from experiments import content_layer_ablation, style_layer_ablation, texture_synthesis

    for module in (content_layer_ablation, style_layer_ablation, texture_synthesis):
        for tier in ("quick", "middle", "full"):
            stylize_config = module.get_config(tier=tier).stylize
            assert (stylize_config.network_norm, stylize_config.pooling) == ("gatys", "avg")
    base = dataclasses.replace(tiny(texture_synthesis).stylize, backbone="vgg16", weights="random")
    plain = dataclasses.replace(base, network_norm="none")
    loaded = experiments.runner._load_weights([(base, {}), (plain, {})])
    keys = [experiments.runner._weights_key(c) for c in (base, plain)]
    assert keys[0] != keys[1] and len(loaded) == 2
    kernel = lambda params: np.asarray(params["conv2_1"]["kernel"])
    assert not np.allclose(kernel(loaded[keys[0]]), kernel(loaded[keys[1]]))
    np.testing.assert_allclose(kernel(loaded[keys[0]]), kernel(stylize.load_params(base)))
