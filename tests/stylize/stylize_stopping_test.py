"""The stopping rule (StylizeConfig.stop_tol / stop_window): by hand, and in every driver."""

import dataclasses

import numpy as np
import pytest

from nst import stylize
from nst.config import StylizeConfig
from nst.stylize._log import stopping_rule

SIZE = 32
BASE = StylizeConfig(weights="random", size=SIZE, steps=60, lr=2e-2, style_weight=1e3)


def test_rule_by_hand():
    config = dataclasses.replace(BASE, stop_tol=0.01, stop_window=2)
    assert stopping_rule([10.0, 9.0], config) is None  # not yet a window of history
    assert stopping_rule([10.0, 9.0, 8.0], config) is None  # fell 25% of 8 over 2 steps
    # 1.0 -> 0.995: fell 0.5% of 0.995 over the last 2 steps
    assert "converged" in stopping_rule([2.0, 1.0, 0.999, 0.995], config)
    # the window matters: over 3 steps the same history fell 101%
    assert (
        stopping_rule([2.0, 1.0, 0.999, 0.995], dataclasses.replace(config, stop_window=3)) is None
    )
    assert (
        stopping_rule([2.0, 1.0, 0.999, 0.995], dataclasses.replace(config, stop_tol=0.0)) is None
    )
    # every setting of a sweep must have converged; a non-finite value never counts
    rows = [[2.0, 2.0], [1.0, 1.5], [0.999, 1.0]]
    assert stopping_rule(rows, config) is None
    assert stopping_rule([1.0, 1.0, np.nan], config) is None


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    content, style = (rng.uniform(0, 1, (SIZE, SIZE, 3)).astype(np.float32) for _ in range(2))
    return content, style, stylize.create_backbone(BASE)


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs_host", "lbfgs_scipy"])
def test_every_driver_stops_by_the_rule(optimizer, problem):
    content, style, net_params = problem
    config = dataclasses.replace(BASE, optimizer=optimizer, stop_tol=0.05, stop_window=3)
    result = stylize.stylize(config, content, [style], net_params=net_params)
    assert result.stopped is None
    assert result.converged is not None and "converged" in result.converged
    assert 3 < result.steps_done < 60
    totals = result.history["total"]
    assert len(totals) == result.steps_done
    assert (totals[-4] - totals[-1]) / totals[-1] < 0.05  # the rule held where it stopped
    assert all((totals[k - 3] - totals[k]) / totals[k] >= 0.05 for k in range(3, len(totals) - 1))


def _watched(config, problem, **hooks):
    """A run with its progress calls recorded: (result, [(step, loss)])."""
    content, style, net_params = problem
    calls = []
    progress = lambda step, loss, rate: calls.append((step, loss))
    result = stylize.stylize(
        config, content, [style], net_params=net_params, progress=progress, **hooks
    )
    return result, calls


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs_host"])
def test_progress_snapshots_and_compile_time_are_the_runs(optimizer, problem):
    # progress gets each step's own loss; on_snapshot gets every snapshot as it is taken;
    # the compile time is a duration
    config = dataclasses.replace(BASE, optimizer=optimizer, steps=6, snapshot_every=2)
    shots = []
    result, calls = _watched(config, problem, on_snapshot=lambda s, x: shots.append((s, x)))
    totals = result.history["total"]
    assert [s for s, _ in calls] == list(range(1, 7))
    np.testing.assert_allclose([loss for _, loss in calls], totals, rtol=1e-6)
    assert [s for s, _ in shots] == [2, 4, 6]
    np.testing.assert_allclose(shots[-1][1], result.image, atol=1e-6)
    assert 0.0 <= result.compile_seconds < 120.0


def test_progress_of_scanned_chunks_gives_each_chunks_last_loss(problem):
    config = dataclasses.replace(BASE, steps=6, loop="scan", scan_chunk=3)
    result, calls = _watched(config, problem)
    totals = result.history["total"]
    assert [s for s, _ in calls] == [3, 6]
    np.testing.assert_allclose([loss for _, loss in calls], [totals[2], totals[5]], rtol=1e-6)
