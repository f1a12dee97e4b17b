"""Data parallelism: a step sharded over 4 forced CPU devices matches 1 device."""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Runs in a subprocess: the device count must be set before JAX initializes.
_SCRIPT = textwrap.dedent(
    """
    import json
    import jax
    import numpy as np
    from nst import parallel
    from nst.feedforward import config as ff_config, nets, train

    assert jax.device_count() == 4, jax.devices()
    config = ff_config.replace(
        ff_config.get_config(quick=True),
        net=ff_config.NetConfig(width=4, num_residual=1, norm="batch"),
        weights="random",
        content_layers=(("conv1_2", 1.0),),
        style_layers=(("conv1_1", 0.5), ("conv1_2", 0.5)),
        batch_size=8,
        crop_size=16,
        lr=1e-2,
    )
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(3, 8, 16, 16, 3)).astype(np.float32)
    style = rng.uniform(size=(24, 24, 3)).astype(np.float32)
    loss_net, net_params = train.create_loss_net(config)
    targets = train.make_style_targets(config, loss_net, net_params, [style])
    tx = train.make_optimizer(config, None)
    style_w = np.ones((8, 1), np.float32)
    out = {}
    for name, devices in (("one", jax.devices()[:1]), ("four", jax.devices())):
        mesh = parallel.mesh(devices)
        state = parallel.replicate(train.init_state(tx, nets.init(config.net, 0)), mesh)
        shared = parallel.replicate((targets, net_params), mesh)
        step = train.make_train_step(config, loss_net, tx)
        losses = []
        for batch in images:  # three steps: the params diverge if the gradients differ
            x, w = parallel.shard_leading((batch, style_w), mesh)
            if name == "four":
                assert len(x.sharding.device_set) == 4
            state, terms = step(state, x, w, *shared)
            losses.append(float(terms["total"]))
        out[name] = losses
    print(json.dumps(out))
    """
)


def test_four_devices_match_one_device():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    losses = json.loads(proc.stdout.strip().splitlines()[-1])
    # Float summation order differs across devices; batch norm stats are global in both.
    np.testing.assert_allclose(losses["four"], losses["one"], rtol=1e-4)
    assert losses["one"][0] != losses["one"][2]
