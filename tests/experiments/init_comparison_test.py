"""init_comparison end to end on a tiny preset."""

from common_test import fast_compile, smoke  # noqa: F401

from experiments import init_comparison


def test_smoke(tmp_path):
    report = smoke(init_comparison, tmp_path)
    inits = {o.label: o.record["config"]["init"] for o in report.outcomes.values()}
    assert inits == {"white noise": "noise", "content photo": "content"}
    steps = {o.record["steps"] for o in report.outcomes.values()}
    assert len(steps) == 1  # equal steps
