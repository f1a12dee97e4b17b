"""Seconds per Gatys step of the nst engine, side by side with the PyTorch peer.

  python benchmarks/gatys_step.py --sizes 256,512 --iters 10 \
      --peer_dir ../shared/bench --torch_python /path/to/venv-torch/bin/python

Measures, in one process run (interleaved with the peer when --peer_dir is given, so both
see the same machine load):
  * adam: seconds per optimizer step (value + gradient + update), after warm-up;
  * lbfgs_scipy / lbfgs_optax: seconds per loss evaluation (line-search trials included);
  * loop: the same Adam step in a Python loop of jitted steps vs inside ``lax.scan``;
  * sweep: 4 settings as one vmapped program vs 4 sequential runs.
Weights: a VGG19 ``.npz`` in the peer's layout (``make_weights.py`` in the peer folder
writes one); random otherwise. The loss is the peer's: content MSE at conv4_2, Gram style
loss normalized by C*H*W at conv1_1..conv5_1 (``style_norm="johnson"``,
``content_norm="mean"``). Prints one JSON line per measurement and a summary table.
"""

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import time

from nst import host_memory

# As run.py does, before JAX starts any thread (--malloc=default measures glibc's defaults).
if "--malloc=default" not in sys.argv:
    host_memory.keep_freed_memory()

import jax
import numpy as np
from PIL import Image

from nst import stylize
from nst.config import StylizeConfig


def _images(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random images, as the peer's common.synth_image makes them."""

    def synth(seed):
        r = np.random.default_rng(seed)
        small = Image.fromarray(r.integers(0, 256, (8, 8, 3), dtype=np.uint8))
        img = np.asarray(small.resize((size, size), Image.BICUBIC), np.float32) / 255.0
        return np.clip(img + 0.05 * r.standard_normal((size, size, 3)), 0, 1).astype(np.float32)

    return synth(1), synth(2)


def _config(args, size: int, **kw) -> StylizeConfig:
    return StylizeConfig(
        weights=args.weights or "random",
        size=size,
        style_norm="johnson",
        content_norm="mean",
        style_weight=1e6,
        lr=0.02,
        **kw,
    )


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_ours(args, size: int, optimizer: str, loop: str = "python") -> dict:
    steps = args.warmup + args.iters
    config = _config(args, size, optimizer=optimizer, steps=steps, loop=loop, scan_chunk=steps)
    content, style = _images(size)
    net_params = stylize.create_backbone(config)
    faults = _minor_faults()
    t = time.perf_counter()
    result = stylize.stylize(config, content, [style], net_params=net_params)
    wall = time.perf_counter() - t
    times = result.history["time"]
    if loop == "scan" or optimizer == "lbfgs_scipy":
        per = times[-1] / max(len(times), 1)  # one chunk: no per-step split inside a scan
    else:
        per = (times[-1] - times[args.warmup - 1]) / args.iters
    out = dict(
        impl=f"nst-jax-{jax.__version__}",
        mode=optimizer if loop == "python" else f"{optimizer}-{loop}",
        size=size,
        sec_per_iter=float(per),
        evaluations=int(result.evaluations),
        steps=int(result.steps_done),
        compile_s=float(result.compile_seconds),
        wall_s=wall,
        malloc=args.malloc,
        page_faults=_minor_faults() - faults,
    )
    if optimizer.startswith("lbfgs"):  # line-search trials included
        out["sec_per_eval"] = float(times[-1] / max(result.evaluations, 1))
    return out


def time_sweep(args, size: int, k: int = 4) -> dict:
    """K settings: one vmapped program, the one-setting program for each setting in turn
    (``sweep_form``), and K sequential ``stylize`` runs sharing one compiled step.

    Totals include compilation; the per-step figures (all K settings) exclude it.
    """
    steps = args.warmup + args.iters
    base = _config(args, size, optimizer="adam", steps=steps)
    configs = [dataclasses.replace(base, style_weight=10.0 ** (3 + i % 6)) for i in range(k)]
    content, style = _images(size)
    net_params = stylize.create_backbone(base)
    stylize.stylize(base, content, [style], net_params=net_params)  # warm the target programs
    out = dict(mode=f"sweep{k}", size=size, steps=steps)
    for form in ("vmap", "each"):
        forms = [dataclasses.replace(c, sweep_form=form) for c in configs]
        t = time.perf_counter()
        swept = stylize.sweep(forms, content, [style], net_params=net_params)
        out[f"{form}_total_s"] = time.perf_counter() - t
        out[f"{form}_compile_s"] = float(swept[0].compile_seconds)
        out[f"{form}_s_per_step_all_k"] = float(swept[0].history["time"][-1] / steps)
    cache = stylize.Cache()
    t = time.perf_counter()
    singles = [
        stylize.stylize(c, content, [style], net_params=net_params, cache=cache) for c in configs
    ]
    out["sequential_total_s"] = time.perf_counter() - t
    out["sequential_compile_s"] = float(sum(r.compile_seconds for r in singles))
    out["sequential_s_per_step_all_k"] = float(sum(r.history["time"][-1] for r in singles) / steps)
    return out


def time_peer(args, size: int, optimizer: str) -> dict | None:
    if not args.peer_dir:
        return None
    script = os.path.join(args.peer_dir, "peer_torch_gatys.py")
    cmd = [
        args.torch_python,
        script,
        "--weights",
        args.weights,
        "--size",
        str(size),
        "--iters",
        str(args.iters),
        "--optimizer",
        optimizer,
        "--threads",
        str(os.cpu_count() or 2),
    ]
    env = dict(os.environ)
    if args.peer_malloc == "keep":
        env.update(host_memory.ENV_SETTINGS)
    proc = subprocess.run(
        cmd, capture_output=True, text=True, cwd=args.peer_dir, env=env, check=False
    )
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return None
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["mode"] = optimizer
    out["malloc"] = args.peer_malloc
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="256,512")
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--weights", default=None, help="VGG19 .npz (peer layout); random if unset")
    p.add_argument("--modes", default="adam,lbfgs_scipy,lbfgs_optax,loop,sweep")
    p.add_argument("--peer_dir", default=None, help="folder with peer_torch_gatys.py")
    p.add_argument("--torch_python", default=sys.executable)
    p.add_argument("--repeats", type=int, default=1, help="interleaved repeats (medians)")
    p.add_argument("--sweep_k", default="4", help="settings per sweep, e.g. 4,16")
    p.add_argument(
        "--malloc",
        choices=("keep", "default"),
        default="keep",
        help="ours: glibc keeps freed memory (as run.py sets it, nst/host_memory.py) or default",
    )
    p.add_argument(
        "--peer_malloc",
        choices=("default", "keep"),
        default="default",
        help="the peer's glibc settings: its defaults, or ours (MALLOC_* environment)",
    )
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    modes = args.modes.split(",")
    args.sweep_k = [int(k) for k in args.sweep_k.split(",")]
    rows = []
    for _ in range(args.repeats):
        for size in sizes:
            if "adam" in modes:
                rows.append(time_ours(args, size, "adam"))
                rows.append(time_peer(args, size, "adam"))
            if "lbfgs_scipy" in modes and size == sizes[0]:
                rows.append(time_ours(args, size, "lbfgs_scipy"))
                rows.append(time_peer(args, size, "lbfgs"))
            if "lbfgs_optax" in modes and size == sizes[0]:
                rows.append(time_ours(args, size, "lbfgs_optax"))
            if "loop" in modes and size == sizes[0]:
                rows.append(time_ours(args, size, "adam", loop="scan"))
            if "sweep" in modes and size == sizes[0]:
                rows += [time_sweep(args, size, k) for k in args.sweep_k]
    rows = [row for row in rows if row is not None]
    for row in rows:
        print(json.dumps(row))
    _summary(rows)


def _summary(rows: list[dict]) -> None:
    """Median and min seconds per step (per evaluation for L-BFGS), and ours / peer."""
    groups: dict[tuple, list[float]] = {}
    for row in rows:
        if "sec_per_iter" not in row:
            continue
        side = "peer" if row["impl"].startswith("torch") else "ours"
        mode = "lbfgs" if row["mode"].startswith("lbfgs") else row["mode"]
        value = row.get("sec_per_eval", row["sec_per_iter"])
        groups.setdefault((mode, row["size"], side), []).append(value)
    header = ("mode", "size", "ours med/min", "peer med/min", "ratio med/min")
    print("{:12s} {:>5s} {:>14s} {:>14s} {:>14s}".format(*header))
    for mode, size in sorted({(m, z) for m, z, _ in groups}):
        ours, peer = groups.get((mode, size, "ours")), groups.get((mode, size, "peer"))
        line = f"{mode:12s} {size:5d} {np.median(ours):6.3f}/{min(ours):6.3f}"
        if peer:
            line += f" {np.median(peer):6.3f}/{min(peer):6.3f}"
            line += f" {np.median(ours) / np.median(peer):6.2f}/{min(ours) / min(peer):6.2f}"
        print(line)


if __name__ == "__main__":
    main()
