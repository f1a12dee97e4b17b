"""init_comparison end to end on a tiny preset."""

import numpy as np
from common_test import check_objective, smoke

from experiments import init_comparison


def test_smoke(tmp_path):
    report = smoke(init_comparison, tmp_path)
    inits = {o.label: o.record["config"]["init"] for o in report.outcomes.values()}
    assert inits == {"white noise": "noise", "content photo": "content"}
    steps = {o.record["steps"] for o in report.outcomes.values()}
    assert len(steps) == 1  # equal steps
    check_objective(report)
    # What differs is the start: the content photo has no content loss, white noise a large one.
    start = {o.label: o.history["content"][0] for o in report.outcomes.values()}
    assert start["content photo"] < 1e-6 * start["white noise"], start
    images = [o.image for o in report.outcomes.values()]
    assert np.abs(images[0] - images[1]).mean() > 0.05


def test_time_to_reach_by_hand():
    total, times = np.array([9.0, 5.0, 3.0, 1.0]), np.array([0.5, 1.0, 1.5, 2.0])
    assert init_comparison.time_to_reach(total, times, 3.0) == (3, 1.5)
    assert init_comparison.time_to_reach(total, times, 0.5) == (0, float("inf"))
