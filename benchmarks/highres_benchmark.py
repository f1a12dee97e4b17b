"""Peak memory and seconds per step of large outputs: untiled vs tiled, up to 3840x2160.

  python benchmarks/highres_benchmark.py                       # the default table
  python benchmarks/highres_benchmark.py --runs=u512,t2160x3840 --steps=1
  python benchmarks/highres_benchmark.py --bf16_size=512       # bf16 vs f32 loss only

Every measurement runs in a fresh subprocess (so its peak RSS, ``ru_maxrss``, is its own;
on a GPU the device's ``peak_bytes_in_use`` as well): VGG19 through conv5_1 (content
conv4_2, style conv1_1..conv5_1, random weights, Adam), untiled on the engine
(``stylize.stylize``) or tiled (``nst.highres.optimize_tiled``, 512 px tiles overlapping
by 64). Seconds per step exclude compilation. An untiled run whose estimate exceeds the
memory available is not started (the refusal is recorded), and the largest size each
mode reaches within --memory_gib is computed from the estimates, which the measured
peaks check. Prints one JSON line per run and a table; --out writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

DEFAULT_RUNS = "u512x512,u1024x1024,t1024x1024,u2048x2048,t2160x3840"


def _parse(run: str) -> tuple[str, tuple[int, int]]:
    mode = {"u": "untiled", "t": "tiled"}[run[0]]
    h, _, w = run[1:].partition("x")
    return mode, (int(h), int(w or h))


def _images(shape):
    import numpy as np
    from PIL import Image

    def synth(seed, shape):
        r = np.random.default_rng(seed)
        small = Image.fromarray(r.integers(0, 256, (8, 8, 3), dtype=np.uint8))
        img = np.asarray(small.resize((shape[1], shape[0]), Image.BICUBIC), np.float32) / 255
        noise = 0.05 * r.standard_normal((*shape, 3))
        return np.clip(img + noise, 0, 1).astype(np.float32)

    return synth(1, shape), synth(2, (512, 512))


def child(args) -> dict:
    """One measurement in this process."""
    import dataclasses

    import jax
    import jax.numpy as jnp

    from nst import highres, stylize
    from nst.config import StylizeConfig

    mode, shape = _parse(args.run)
    config = StylizeConfig(weights="random", steps=args.steps, lr=0.02, size=max(shape))
    net, params = stylize.create_backbone(config)
    dtype = jnp.bfloat16 if args.bf16 else net.dtype
    net = dataclasses.replace(net, remat=args.remat, dtype=dtype)
    content, style = _images(shape)
    out = {"run": args.run, "mode": mode, "shape": list(shape), "steps": args.steps}
    out.update(remat=args.remat, bf16=args.bf16, backend=jax.default_backend())
    if mode == "untiled":
        out["estimate_gib"] = highres.estimate_untiled(net, params, shape) / 2**30
    else:
        grid = highres.tile_grid(shape, args.tile, args.overlap)
        content_net = highres.content_backbone(config, net)
        estimate = highres.estimate_tiled(
            net, content_net, params, shape, grid.tile, grid.pad, args.tile_batch
        )
        out["estimate_gib"] = estimate / 2**30
        out["tiles_per_step"] = len(grid)
    available = highres.available_bytes()
    out["available_gib"] = None if available is None else available / 2**30
    if available is not None and out["estimate_gib"] * 2**30 > 0.9 * available:
        out["refused"] = (
            f"estimated {out['estimate_gib']:.1f} GiB > {0.9 * available / 2**30:.1f} GiB "
            "available (0.9 x MemAvailable)"
        )
        return out
    t = time.perf_counter()
    if mode == "untiled":
        result = stylize.stylize(config, content, [style], net_params=(net, params))
    else:
        result = highres.optimize_tiled(
            config,
            content,
            [style],
            hi=highres.HighresConfig(
                tile_size=args.tile, tile_overlap=args.overlap, tile_batch=args.tile_batch
            ),
            net_params=(net, params),
        )
    out["wall_seconds"] = time.perf_counter() - t
    times = result.history["time"]
    out["seconds_per_step"] = float(times[-1]) / len(times)
    out["first_step_seconds"] = float(times[0])
    out["compile_seconds"] = float(result.compile_seconds)
    out["loss"] = float(result.history["total"][-1])
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30
    device = jax.devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        out["device_peak_gib"] = stats.get("peak_bytes_in_use", 0) / 2**30
    return out


def bf16_difference(args) -> dict:
    """bf16 vs f32 loss terms at one size (forward only, untiled)."""
    import numpy as np

    from nst import highres
    from nst.config import StylizeConfig

    shape = (args.bf16_size, args.bf16_size)
    content, style = _images(shape)
    rng = np.random.default_rng(3)
    image = np.clip(content + 0.1 * rng.standard_normal(content.shape), 0, 1).astype(np.float32)
    config = StylizeConfig(weights="random")
    difference = highres.bf16_loss_difference(config, content, [style], image)
    return {"run": f"bf16 vs f32 at {shape[0]}x{shape[1]}", "relative_difference": difference}


def largest(args) -> dict:
    """Largest 16:9 size (long side, multiples of 64 px) whose estimate fits the memory."""
    from nst import highres, stylize
    from nst.config import StylizeConfig

    config = StylizeConfig(weights="random")
    net, params = stylize.create_backbone(config)
    content_net = highres.content_backbone(config, net)
    limit = args.memory_gib * 2**30

    def estimate(mode, long):
        shape = (round(long * 9 / 16), long)
        if mode == "untiled":
            return shape, highres.estimate_untiled(net, params, shape)
        grid = highres.tile_grid(shape, args.tile, args.overlap)
        tile = grid.tile, grid.pad, args.tile_batch
        return shape, highres.estimate_tiled(net, content_net, params, shape, *tile)

    found = {}
    for mode in ("untiled", "tiled"):
        lo, hi = 8, 1024  # long side / 64: estimates grow with the size, so bisect
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if estimate(mode, 64 * mid)[1] <= limit else (lo, mid - 1)
        shape, bytes_ = estimate(mode, 64 * lo)
        found[mode] = {"shape": list(shape), "estimate_gib": bytes_ / 2**30}
    return {"run": f"largest 16:9 within {args.memory_gib} GiB (estimates)", **found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=DEFAULT_RUNS, help="u|t + HxW, comma separated")
    parser.add_argument("--steps", type=int, default=2, help="steps per run (<= 1024 px)")
    parser.add_argument("--large_steps", type=int, default=1, help="steps above 1024 px")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=64)
    parser.add_argument("--tile_batch", type=int, default=1)
    parser.add_argument("--remat", action="store_true")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--bf16_size", type=int, default=512, help="0: skip")
    parser.add_argument("--memory_gib", type=float, default=24.0)
    parser.add_argument("--out", default=None, help="write every result here (JSON)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.run = args.child
        print("RESULT " + json.dumps(child(args)), flush=True)
        return
    results = []
    for run in filter(None, args.runs.split(",")):
        _, shape = _parse(run)
        steps = args.steps if max(shape) <= 1024 else args.large_steps
        command = [sys.executable, os.path.abspath(__file__), f"--child={run}", f"--steps={steps}"]
        command += [f"--tile={args.tile}", f"--overlap={args.overlap}"]
        command += [f"--tile_batch={args.tile_batch}"]
        command += ["--remat"] * args.remat + ["--bf16"] * args.bf16
        t = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if lines:
            result = json.loads(lines[-1][len("RESULT ") :])
        else:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            result = {"run": run, "error": f"exit {proc.returncode}: {' | '.join(tail)}"}
        result["process_seconds"] = time.perf_counter() - t
        print(json.dumps(result), flush=True)
        results.append(result)
    if args.bf16_size:
        results.append(bf16_difference(args))
        print(json.dumps(results[-1]), flush=True)
    results.append(largest(args))
    print(json.dumps(results[-1]), flush=True)
    print()
    print(f"{'run':>16} {'tiles':>5} {'est GiB':>8} {'peak RSS GiB':>12} {'s/step':>8}  note")
    for r in results:
        if "mode" not in r:
            continue
        print(
            f"{r['run']:>16} {r.get('tiles_per_step', 1):>5} {r.get('estimate_gib', 0):>8.2f} "
            f"{r.get('peak_rss_gib', float('nan')):>12.2f} "
            f"{r.get('seconds_per_step', float('nan')):>8.1f}  {r.get('refused', '')}"
            f"{r.get('error', '')}"
        )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
