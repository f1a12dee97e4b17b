"""Sweep throughput (settings x steps per second): 1 device vs D forced devices vs P processes.

  python benchmarks/sweep_throughput.py --settings 4 --steps 5 --size 64

Each configuration runs in fresh processes (XLA_FLAGS must be set before JAX starts):
  * 1 device;
  * --devices forced host devices (``--xla_force_host_platform_device_count``);
  * --processes processes on 127.0.0.1 joined by jax.distributed (gloo collectives).
On a 2-core CPU no speed-up is expected (the devices share the same cores); on several GPUs
or hosts the settings axis is split over them. Prints one JSON line per configuration.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile

_WORKER = """
import json, sys, time, dataclasses
from nst import host_memory
host_memory.keep_freed_memory()  # as run.py does, before JAX starts any thread
import jax
pid, n, port, k, steps, size = (int(a) for a in sys.argv[1:7])
if n > 1:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    from nst import parallel
    parallel.rendezvous(f"127.0.0.1:{port}", n, pid, 120)
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=n, process_id=pid)
import numpy as np
from nst import stylize
from nst.config import StylizeConfig
base = StylizeConfig(weights="random", size=size, steps=steps, lr=2e-2)
configs = [dataclasses.replace(base, style_weight=10.0 ** (i % 6)) for i in range(k)]
rng = np.random.default_rng(0)
content = rng.uniform(0, 1, (size, size, 3)).astype(np.float32)
style = rng.uniform(0, 1, (size, size, 3)).astype(np.float32)
t = time.perf_counter()
res = stylize.sweep(configs, content, [style])
wall = time.perf_counter() - t
stepping = float(res[0].history["time"][-1])
print(json.dumps({"process": pid, "devices": jax.device_count(), "wall_s": wall,
                  "compile_s": res[0].compile_seconds, "stepping_s": stepping,
                  "settings_steps_per_s": k * steps / stepping}))
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(n_proc: int, devices: int, args) -> dict:
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    if devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    port = _port()
    with tempfile.TemporaryDirectory() as tmp:
        procs, outs = [], []
        for pid in range(n_proc):
            out = os.path.join(tmp, f"out{pid}")
            outs.append(out)
            with open(out, "w") as f:
                cmd = [
                    sys.executable,
                    "-c",
                    _WORKER,
                    str(pid),
                    str(n_proc),
                    str(port),
                    str(args.settings),
                    str(args.steps),
                    str(args.size),
                ]
                procs.append(subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.DEVNULL))
        for p in procs:
            p.wait()
        rows = [json.loads(open(o).read().strip().splitlines()[-1]) for o in outs]
    row = rows[0]
    row.update(
        processes=n_proc,
        forced_devices=devices,
        settings=args.settings,
        steps=args.steps,
        size=args.size,
    )
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settings", type=int, default=4)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--devices", type=int, default=4)
    p.add_argument("--processes", type=int, default=2)
    args = p.parse_args()
    for n_proc, devices in ((1, 1), (1, args.devices), (args.processes, 1)):
        print(json.dumps(_run(n_proc, devices, args)), flush=True)


if __name__ == "__main__":
    main()
