"""tv_sweep end to end on a tiny preset, and the spectrum helpers."""

import json

import numpy as np
from common_test import fast_compile, smoke  # noqa: F401

from experiments import tv_sweep


def test_smoke(tmp_path):
    smoke(tv_sweep, tmp_path)
    fractions = json.loads((tmp_path / "metrics.json").read_text())["high_frequency_fraction"]
    assert sorted(fractions) == ["TV 0", "TV 10", "TV 100"]
    assert all(0.0 <= v <= 1.0 for v in fractions.values())


def test_spectrum_helpers():
    flat = np.full((16, 16, 3), 0.5, np.float32)
    checker = (np.indices((16, 16)).sum(0) % 2)[..., None] * np.ones(3, np.float32)
    assert tv_sweep.high_frequency_fraction(flat) == 0.0
    assert tv_sweep.high_frequency_fraction(checker) == 1.0
    spectra = tv_sweep.log_spectra([checker, flat])
    assert [s.shape for s in spectra] == [(16, 16), (16, 16)]
    assert spectra[0].max() == 1.0 and spectra[1].max() == 0.0
