"""photorealism end to end on a tiny preset."""

from common_test import fast_compile, smoke  # noqa: F401

from experiments import _common, photorealism


def test_smoke(tmp_path):
    report = smoke(photorealism, tmp_path)
    finals = {o.label: o.final for o in report.outcomes.values()}
    assert "photo" not in finals["no regularizer"]
    assert finals["RL 100"]["photo"] >= 0.0 and finals["RL 100 + TV 1e-2"]["photo"] >= 0.0


def test_settings_with_the_laplacian_run_apart():
    config = photorealism.get_config()
    assert _common.groups(config, photorealism.settings(config)) == [[0], [1, 2]]
    assert config.stylize.steps == 8000 and config.stylize.style_weight == 1e6
