"""The network as a head start: the default's run from the photo against the same run from a
shipped network's output (``--init=model:NAME``), per panel pair.

Reads the per-pair folders that ``time_to_image.py --methods=default,model`` wrote (each
method a fresh process; ``--targets_from`` gives Adam-500's loss) and writes one JSON record:
per pair and start, the first and final loss, the iterations and whole-process seconds at the
stop, whether Adam-500's loss was reached, and the seconds and iterations to within 50%, 20%,
10%, 5% and 2% of the photo start's final loss (the comparison that stays fair when neither
start reaches Adam-500's loss).

    python benchmarks/time_to_image.py --methods=default,model --size=256 --max_steps=100 \\
        --pairs=dark_scream,chelsea_scream --init_model=the_scream \\
        --targets_from=docs/benchmarks/panel_256.json --out runs/tti_model
    python benchmarks/init_model_report.py runs/tti_model --out docs/benchmarks/init_model_256.json
"""

from __future__ import annotations

import argparse
import json
import pathlib

WITHIN = (1.5, 1.2, 1.1, 1.05, 1.02)


def first_within(curve: list[list[float]], level: float) -> list[float] | None:
    """``[seconds, iteration]`` of the first point of ``curve`` (rows ``[s, loss, it]``) at or
    below ``level``; None if it never gets there."""
    for seconds, loss, step in curve:
        if loss <= level:
            return [round(seconds, 1), int(step)]
    return None


def summarize(folder: pathlib.Path) -> dict:
    """One pair: its target and, per start, what the docstring lists."""
    results = json.loads((folder / "results.json").read_text())
    records = {m: rs[0] for m, rs in results["records"].items()}
    reference = records["default"]["final"]["total"]
    pair = {"adam500_target": results["target"]}
    for method, r in records.items():
        curve = r["curve"]
        pair[method] = {
            "steps": r["steps"],
            "whole_seconds": r["process_seconds"],
            "final": r["final"]["total"],
            "reached_target": r["reached"],
            "first_loss": curve[0][1],
            "to_within_of_default_final": {
                str(w): first_within(curve, w * reference) for w in WITHIN
            },
        }
    return pair


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="time_to_image --out folders")
    parser.add_argument("--out", required=True)
    parser.add_argument("--what", default="", help="how the runs were made")
    args = parser.parse_args()
    pairs = {}
    for root in map(pathlib.Path, args.folders):
        for folder in sorted(p for p in root.iterdir() if (p / "results.json").exists()):
            pairs[folder.name] = summarize(folder)
    for name, pair in pairs.items():
        d, m = pair["default"], pair["model"]
        print(
            f"{name:18s} photo: {d['steps']} its {d['whole_seconds']:.1f} s {d['final']:.4g}"
            f"  network: {m['steps']} its {m['whole_seconds']:.1f} s {m['final']:.4g}"
        )
    record = {"what": args.what, "pairs": pairs}
    pathlib.Path(args.out).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
