"""tv_sweep end to end on a tiny preset, and the spectrum helpers."""

import dataclasses
import json

import numpy as np
import pytest
from common_test import check_objective, smoke

from experiments import tv_sweep
from nst_cli import experiment


def test_smoke(tmp_path):
    report = smoke(tv_sweep, tmp_path)
    configs = check_objective(report)
    assert [configs[k].tv_weight for k in ("TV 0", "TV 1e7", "TV 1e8")] == [0.0, 1e7, 1e8]
    fractions = json.loads((tmp_path / "metrics.json").read_text())["high_frequency_fraction"]
    assert sorted(fractions) == ["TV 0", "TV 1e7", "TV 1e8"]  # 0, 10, 100 x tv_scale 1e6
    for label, outcome in report.outcomes.items():  # the measure is of the saved images
        assert fractions[label] == tv_sweep.high_frequency_fraction(outcome.image)
    # What the study shows: TV smooths the image: less TV and less high-frequency energy.
    tv = {k: o.history["tv"][-1] for k, o in report.outcomes.items()}
    assert tv["TV 1e8"] < tv["TV 0"], tv
    assert fractions["TV 1e8"] < fractions["TV 0"], fractions


def test_spectrum_helpers():
    flat = np.full((16, 16, 3), 0.5, np.float32)
    checker = (np.indices((16, 16)).sum(0) % 2)[..., None] * np.ones(3, np.float32)
    assert tv_sweep.high_frequency_fraction(flat) == 0.0
    assert tv_sweep.high_frequency_fraction(checker) == 1.0
    spectra = tv_sweep.log_spectra([checker, flat])
    assert [s.shape for s in spectra] == [(16, 16), (16, 16)]
    assert spectra[0].max() == 1.0 and spectra[1].max() == 0.0


def test_tv_scale_sets_the_unit_of_the_seed_weights():
    config = tv_sweep.get_config(quick=True)
    literal = dataclasses.replace(config, tv_scale=1.0)
    assert [r.overrides["tv_weight"] for r in tv_sweep.settings(literal)] == [0.0, 10.0, 100.0]
    assert [r.label for r in tv_sweep.settings(literal)] == ["TV 0", "TV 10", "TV 100"]
    with pytest.raises(ValueError, match=r"--config\.tv_scale must be > 0"):
        tv_sweep.settings(dataclasses.replace(config, tv_scale=0.0))
    applied = experiment.build(tv_sweep, "quick", {}, ["--config.tv_scale=1"])
    assert applied == literal
