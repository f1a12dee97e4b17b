r"""Instance vs batch norm in Johnson et al.'s network, on one budget (Ulyanov et al. 2017).

    python benchmarks/norm_comparison.py                 # after scripts/train_models.py
    python benchmarks/norm_comparison.py --steps=600 --window=200

Ulyanov, Vedaldi & Lempitsky (2017) replace batch by instance normalization in the
generator and report lower losses and better stylizations. ``scripts/train_models.py``
trains ``starry_night`` (instance norm) and ``starry_night_batchnorm`` with the same recipe,
seed and so the same photo crops at every step; this reads both ``metrics.jsonl`` logs and
compares their training losses step by step (paired: the same batch at each logged step)
over the last ``--window`` steps of the first ``--steps``. Reported: each network's mean
total, content and style terms there, the paired mean difference of the total (batch minus
instance) and at how many logged steps instance norm was lower. A training loss: batch
norm is scored with its batch's statistics, as it trained (its inference uses running
averages, which only adds error). One JSON record (``--out``) and a plot (``--figure``).
"""

from __future__ import annotations

import argparse
import json
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]


def read(workdir: pathlib.Path) -> dict[int, dict]:
    """``{step: log line}`` of a training workdir's ``metrics.jsonl`` (last line per step)."""
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    return {h["step"]: h for h in (json.loads(line) for line in lines if line.strip())}


def compare(instance: dict[int, dict], batch: dict[int, dict], steps: int, window: int) -> dict:
    """The paired comparison over the logged steps in ``(steps - window, steps]``."""
    shared = sorted(s for s in set(instance) & set(batch) if steps - window < s <= steps)
    if not shared:
        raise SystemExit(f"no step logged by both in ({steps - window}, {steps}]")
    terms = ("total", "content", "style", "tv")
    mean = lambda log: {t: float(np.mean([log[s][t] for s in shared])) for t in terms}
    diff = np.asarray([batch[s]["total"] - instance[s]["total"] for s in shared])
    return {
        "steps": shared,
        "instance": mean(instance),
        "batch": mean(batch),
        "paired_mean_difference_total": float(diff.mean()),
        "instance_lower_at": int(np.sum(diff > 0)),
        "of": len(shared),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instance", default="runs/models/starry_night")
    parser.add_argument("--batch", default="runs/models/starry_night_batchnorm")
    parser.add_argument("--steps", type=int, default=600, help="the budget compared")
    parser.add_argument("--window", type=int, default=200, help="last steps averaged")
    parser.add_argument("--out", default="docs/benchmarks/instance_vs_batch.json")
    parser.add_argument("--figure", default="docs/figures/instance_vs_batch.png")
    args = parser.parse_args()
    instance, batch = read(ROOT / args.instance), read(ROOT / args.batch)
    record = compare(instance, batch, args.steps, args.window)
    record.update(instance_workdir=args.instance, batch_workdir=args.batch, budget=args.steps)
    print(json.dumps(record, indent=1))
    pathlib.Path(args.out).write_text(json.dumps(record, indent=1))
    if args.figure:
        fig, ax = plt.subplots(figsize=(7, 4))
        for name, log, style in (("instance norm", instance, "-"), ("batch norm", batch, "--")):
            steps = sorted(s for s in log if s <= args.steps)
            ax.plot(steps, [log[s]["total"] for s in steps], style, label=name)
        ax.set_yscale("log")
        ax.set_xlabel("training step (batch of 4, the same crops for both)")
        ax.set_ylabel("training loss (relative balance)")
        lower = record["instance_lower_at"]
        ax.set_title(
            f"Johnson network, The Starry Night, {args.steps} steps: instance vs batch norm\n"
            f"last {args.window} steps: {record['instance']['total']:.3g} vs "
            f"{record['batch']['total']:.3g}; instance lower at {lower} of {record['of']} steps",
            fontsize=9,
        )
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.figure, dpi=100)


if __name__ == "__main__":
    main()
