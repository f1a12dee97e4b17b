"""tv_sweep end to end on a tiny preset, and the spectrum helpers."""

import json

import numpy as np
import pytest
from common_test import check_objective, smoke

from experiments import tv_sweep
from nst import measures


def test_smoke(tmp_path):
    report = smoke(tv_sweep, tmp_path)
    configs = check_objective(report)
    assert [configs[k].tv_weight for k in ("TV 0", "TV 10", "TV 100")] == [0.0, 10.0, 100.0]
    assert (configs["TV 0"].content_norm, configs["TV 0"].style_norm) == ("mean", "mean")
    fractions = json.loads((tmp_path / "metrics.json").read_text())["high_frequency_fraction"]
    assert sorted(fractions) == ["TV 0", "TV 10", "TV 100"]  # the seed's weights as written
    for label, outcome in report.outcomes.items():  # the measure is of the saved images
        assert fractions[label] == tv_sweep.high_frequency_fraction(outcome.image)
    # What the study shows: TV smooths the image: less TV and less high-frequency energy.
    tv = {k: o.history["tv"][-1] for k, o in report.outcomes.items()}
    assert tv["TV 100"] < tv["TV 0"], tv
    assert fractions["TV 100"] < fractions["TV 0"], fractions
    # Two verdicts: the seed's (spectral share) and the property (the output's own TV).
    seed, inert = json.loads((tmp_path / "metrics.json").read_text())["claims"]
    assert seed["values"] == pytest.approx(fractions)
    assert "not inert" in inert["claim"] and inert["unit"] == "/255"
    for label, outcome in report.outcomes.items():
        assert inert["values"][label] == pytest.approx(255 * measures.mean_gradient(outcome.image))
    assert inert["values"]["TV 100"] < inert["values"]["TV 0"], inert["values"]


def test_spectrum_helpers():
    flat = np.full((16, 16, 3), 0.5, np.float32)
    checker = (np.indices((16, 16)).sum(0) % 2)[..., None] * np.ones(3, np.float32)
    assert tv_sweep.high_frequency_fraction(flat) == 0.0
    assert tv_sweep.high_frequency_fraction(checker) == pytest.approx(1.0, abs=1e-12)
    spectra = tv_sweep.log_spectra([checker, flat])
    assert [s.shape for s in spectra] == [(16, 16), (16, 16)]
    assert spectra[0].max() == 1.0 and spectra[1].max() == 0.0
