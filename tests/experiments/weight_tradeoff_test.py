"""weight_tradeoff end to end on a tiny preset: each row one vectorized sweep."""

from common_test import check_objective, smoke, tiny

from experiments import _common, weight_tradeoff


def test_smoke(tmp_path):
    # From the content photo, rows with a tiny style weight (or a huge content weight) start at
    # their optimum and Adam's first steps of size lr raise the loss; from noise every setting
    # has to lower it.
    report = smoke(weight_tradeoff, tmp_path, tiny(weight_tradeoff, init="noise"))
    sizes = {o.label: o.record["sweep_size"] for o in report.outcomes.values()}
    assert sizes["α=1"] == 6 and sizes["β=1"] == 9
    check_objective(report)
    # The trade-off itself: more content weight, closer content; more style weight, closer style.
    final = {o.label: o.final for o in report.outcomes.values()}
    assert final["α=1e5"]["content"] < final["α=1"]["content"], final
    assert final["β=1e8"]["style"] < final["β=1"]["style"], final


def test_two_rows_two_sweeps():
    config = weight_tradeoff.get_config()
    table = weight_tradeoff.settings(config)
    assert _common.groups(config, table) == [list(range(6)), list(range(6, 15))]
    assert [row.overrides["content_weight"] for row in table[:6]] == [10.0**k for k in range(6)]
    assert [row.overrides["style_weight"] for row in table[6:]] == [10.0**k for k in range(9)]
