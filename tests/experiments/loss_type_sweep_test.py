"""loss_type_sweep end to end on a tiny preset."""

import json

import numpy as np
from common_test import fast_compile, smoke, tiny  # noqa: F401

from experiments import loss_type_sweep


def test_smoke(tmp_path):
    # From the content photo the L1 content term grows at first order with any step, so on a
    # tiny random-weight preset the L1 total can rise at first; from noise every distance falls.
    smoke(loss_type_sweep, tmp_path, tiny(loss_type_sweep, init="noise"))
    records = {
        name: json.loads((tmp_path / "results" / f"{name}.json").read_text())
        for name in ("huber", "smoothl1", "mse")
    }
    assert records["mse"]["config"]["distance"] == "squared"
    # Huber(delta=1) and SmoothL1(beta=1) are the same penalty.
    np.testing.assert_allclose(
        records["huber"]["history"]["total"], records["smoothl1"]["history"]["total"], rtol=1e-5
    )
