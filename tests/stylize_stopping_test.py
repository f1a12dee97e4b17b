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
