"""optimizer_sweep end to end on a tiny preset, and its equal-wall-time table."""

import csv
import json

import numpy as np
from common_test import check_objective, smoke, tiny

from experiments import _common, optimizer_sweep


def test_smoke(tmp_path):
    # At the study's weights (content 1, style 1e5) the Gatys loss has gradients of ~1e4 per
    # pixel, so SGD at 1e-2 or 1e-3 jumps to the [0, 1] box and the loss goes up (the full run
    # shows it). Here both weights shrink by 1e5 (their ratio kept) and the start is noise, so
    # every optimizer has to lower the loss.
    config = tiny(optimizer_sweep, init="noise", content_weight=1e-4, style_weight=10.0)
    report = smoke(optimizer_sweep, tmp_path, config)
    configs = check_objective(report)
    optimizers = {c.optimizer for c in configs.values()}
    assert {"adam", "sgd", "lbfgs"} <= optimizers, optimizers
    for label, outcome in report.outcomes.items():
        # L-BFGS counts its line-search evaluations, the first-order ones one per step.
        evaluations, steps = outcome.record["evaluations"], outcome.record["steps"]
        if configs[label].optimizer.startswith("lbfgs"):
            assert evaluations >= steps, label
        else:
            assert evaluations == steps, label
    labels = [row.label for row in optimizer_sweep.settings(config)]
    assert len(labels) == 9 and "L-BFGS" in labels
    table = json.loads((tmp_path / "metrics.json").read_text())["equal_time"]
    assert table["seconds"] > 0
    assert sorted(r["label"] for r in table["rows"]) == sorted(labels)
    with open(tmp_path / "equal_time.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["label"] for r in rows] == [r["label"] for r in table["rows"]]
    losses = [float(r["total"]) for r in rows]
    assert losses == sorted(losses)


def test_every_setting_runs_alone():
    config = optimizer_sweep.get_config()
    table = optimizer_sweep.settings(config)
    assert _common.groups(config, table) == [[i] for i in range(len(table))]


def test_equal_time_interpolates_every_curve_at_the_shortest_run():
    def outcome(label, times, totals):
        record = {"history": {"time": times, "total": totals}, "final": {"total": totals[-1]}}
        return _common.Outcome(label, label, np.zeros((2, 2, 3)), record)

    table = optimizer_sweep.equal_time(
        [
            outcome("slow", [1.0, 2.0, 3.0, 4.0], [8.0, 6.0, 4.0, 2.0]),
            outcome("fast", [1.0, 2.0], [5.0, 3.0]),
        ]
    )
    assert table["seconds"] == 2.0
    assert table["rows"] == [
        {"label": "fast", "step": 2, "total": 3.0},
        {"label": "slow", "step": 2, "total": 6.0},
    ]


def _outcome(label, totals, image, optimizer="sgd", lr=1e-2):
    record = {
        "history": {"time": list(range(1, len(totals) + 1)), "total": totals},
        "final": {"total": totals[-1]},
        "config": {"optimizer": optimizer, "lr": lr},
    }
    return _common.Outcome(label, label, image, record)


def test_divergence_names_the_step_against_the_gradient():
    mid = np.full((4, 4, 3), 0.5, np.float32)
    fine = _outcome("SGD lr=1e-2", [5.0, 3.0], mid)
    assert optimizer_sweep.divergence(fine, 1e4) is None
    rose = optimizer_sweep.divergence(_outcome("SGD lr=1e-2", [3.0, 5.0], mid), 1e4)
    assert "rose from 3 to 5" in rose
    assert "0.01 x 1e+04 = 100 per pixel value" in rose  # lr x median |dL/dx|
    # The seeds' units: 100 x 255 grey levels; on a 0-255 image 100 / 255 = 0.392 of one.
    assert "2.55e+04 grey levels" in rose and "would step 0.392 grey levels" in rose
    assert "0.00154 x the range" in rose
    box = np.zeros((4, 4, 3), np.float32)
    box[:, :2] = 1.0  # every value at a face of the box
    pinned = optimizer_sweep.divergence(_outcome("Adam lr=1e-2", [5.0, 3.0], box, "adam"), 2.0)
    assert pinned.startswith("100% of pixel values are pinned") and "adam steps about lr" in pinned
    nan = optimizer_sweep.divergence(_outcome("x", [5.0, float("nan")], mid), None)
    assert nan == "the loss became non-finite"


def test_adam_claim_by_hand():
    losses = {
        "Adam lr=1e-2": 2.0,
        "Adam lr=1e-3": 4.0,
        "Adagrad lr=1e-2": 3.0,
        "RMSprop lr=1e-3": 5.0,
    }
    verdict = optimizer_sweep.adam_claim(losses, "steps", {})
    assert verdict["held"] is True and verdict["margin"] == 0.5  # (3 - 2) / 2
    assert verdict["best"] == {"Adam": "Adam lr=1e-2", "rival": "Adagrad lr=1e-2"}
    losses["RMSprop lr=1e-3"] = 1.0
    assert optimizer_sweep.adam_claim(losses, "steps", {})["held"] is False
