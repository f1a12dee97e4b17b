"""loss_type_sweep end to end on a tiny preset."""

import json

import numpy as np
import pytest
from common_test import check_objective, smoke, tiny

from experiments import loss_type_sweep


def test_smoke(tmp_path):
    # From the content photo the L1 content term grows at first order with any step, so on a
    # tiny random-weight preset the L1 total can rise at first; from noise every distance falls.
    report = smoke(loss_type_sweep, tmp_path, tiny(loss_type_sweep, init="noise"))
    configs = check_objective(report)
    assert {k: c.distance for k, c in configs.items()} == dict(loss_type_sweep.DISTANCES)
    records = {
        name: json.loads((tmp_path / "results" / f"{name}.json").read_text())
        for name in ("huber", "smoothl1", "mse")
    }
    assert records["mse"]["config"]["distance"] == "squared"
    # Huber(delta=1) and SmoothL1(beta=1) are the same penalty.
    np.testing.assert_allclose(
        records["huber"]["history"]["total"], records["smoothl1"]["history"]["total"], rtol=1e-5
    )
    # ... and not the squared distance (which an engine ignoring --distance would give all):
    # from the same start, the first step's terms differ.
    for term in ("content", "style"):
        huber, mse = records["huber"]["history"][term][0], records["mse"]["history"][term][0]
        assert abs(huber - mse) > 1e-2 * abs(mse), (term, huber, mse)


def test_properties_by_hand():
    # Images 0, 2/255 and 0.2/255 apart: L1 and Huber differ from MSE, SmoothL1 = Huber.
    import types

    image = lambda v: np.full((4, 4, 3), v / 255, np.float32)
    outcomes = [
        types.SimpleNamespace(label=k, image=image(v))
        for k, v in (("MSE", 0.0), ("L1", 2.0), ("Huber", 2.0), ("SmoothL1", 2.2))
    ]
    apart, same = loss_type_sweep.claims(None, outcomes, None)
    assert apart["held"] and apart["margin"] == pytest.approx(1.0, abs=1e-5)
    assert same["held"] and same["values"]["Huber vs SmoothL1"] == pytest.approx(0.2, abs=1e-5)
    outcomes[2].image = image(0.5)  # Huber like MSE: not held
    apart, same = loss_type_sweep.claims(None, outcomes, None)
    assert not apart["held"] and not same["held"]
