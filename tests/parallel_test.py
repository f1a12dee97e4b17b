"""Sweeps spread over devices: 4 forced CPU devices give the results of one device."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]

_SCRIPT = """
import json, sys, dataclasses
import jax, numpy as np
from nst import stylize
from nst.config import StylizeConfig
n = jax.device_count()
# From uniform noise, so the content term moves every setting (lr 1e-4..6e-4: pixels move
# by more than 0.1 in 3 SGD steps, far beyond the comparison's tolerance).
base = StylizeConfig(weights="random", size=32, steps=3, init="uniform",
                     content_layers=(("conv2_1", 1.0),), style_layers=(("conv1_1", 1.0),))
configs = [dataclasses.replace(base, style_weight=10.0 ** i, optimizer="sgd", lr=1e-4 * (i + 1))
           for i in range(6)]
rng = np.random.default_rng(0)
content = rng.uniform(0, 1, (32, 32, 3)).astype(np.float32)
style = rng.uniform(0, 1, (32, 32, 3)).astype(np.float32)
results = stylize.sweep(configs, content, [style])
start = jax.random.uniform(jax.random.key(0), (32, 32, 3)).tolist()
print(json.dumps({"devices": n, "images": [r.image.tolist() for r in results], "start": start,
                  "totals": [r.history["total"].tolist() for r in results]}))
"""


def _sweep_in_subprocess(devices: int) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_sweep_of_6_on_4_devices_equals_1_device():
    one, four = _sweep_in_subprocess(1), _sweep_in_subprocess(4)
    assert one["devices"] == 1 and four["devices"] == 4
    assert len(four["images"]) == 6  # 6 settings padded to 8 on 4 devices, none dropped
    atol, rtol = 1e-5, 1e-4
    np.testing.assert_allclose(four["images"], one["images"], atol=atol)
    np.testing.assert_allclose(four["totals"], one["totals"], rtol=rtol)
    # Every setting moved far beyond the tolerance (else equality would prove nothing).
    moved = np.abs(np.asarray(one["images"]) - np.asarray(one["start"])).max(axis=(1, 2, 3))
    assert np.all(moved > 100 * atol), moved
    totals = np.asarray(one["totals"])
    assert np.all(np.abs(totals[:, -1] / totals[:, 0] - 1) > 100 * rtol), totals
