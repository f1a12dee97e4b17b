"""The balance on the panel: does one (alpha, beta) keep every photo recognizable and show
every style? For each pair of ``benchmarks/panel.py`` and each setting, L-BFGS on the real
VGG19, then the measures (``nst.measures``):

* ``layout``: ``layout_similarity(photo, output)`` (edges after a size/128 px blur);
* ``colour``: ``colour_shift(photo, style, output)`` (0: the photo's colours, 1: the style's);
* ``style_drop``: the style term (relative balance) at the output over its value at the
  photo: how much of the Gram mismatch was removed.

Settings: ``rel:BETA`` (``balance="relative"``, content weight 1, style weight BETA),
``tot:BETA`` (``balance="total"``) and ``gatys:BETA`` (the papers' normalization). Writes
``results.json`` and ``panel.jpg``.

    python benchmarks/balance_panel.py --out /tmp/balance --settings rel:1,rel:3,gatys:1e5

``--pairs`` takes panel names and ``NAME=CONTENT:STYLE`` entries (sample names or paths):
pairs outside the panel, to check a setting chosen on it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import panel

from nst import image, measures, stylize
from nst.config import StylizeConfig


def setting(name: str, base: StylizeConfig) -> StylizeConfig:
    kind, beta = name.split(":")
    balance = {"rel": "relative", "tot": "total", "gatys": "none"}[kind]
    return dataclasses.replace(base, balance=balance, style_weight=float(beta))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/balance")
    parser.add_argument("--pairs", default=",".join(panel.PAIRS))
    parser.add_argument("--settings", default="rel:1,rel:3,rel:10,gatys:1e5")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--stop_tol", type=float, default=0.0)
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = panel.make(out / "inputs")
    base = StylizeConfig(
        size=args.size, optimizer="lbfgs_host", steps=args.steps, stop_tol=args.stop_tol
    )
    net_params = stylize.create_backbone(base)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for pair in args.pairs.split(","):
        if "=" in pair:  # NAME=CONTENT:STYLE, a pair outside the panel
            pair, files = pair.split("=", 1)
            content_path, style_path = (image.sample_or_path(f) for f in files.split(":"))
        else:
            content_path, style_path = paths[pair]
        photo = image.load(content_path, max_size=args.size)
        style = image.load(style_path, max_size=args.size)
        rel = dataclasses.replace(base, balance="relative", style_weight=1.0)
        rel_targets = stylize.make_targets(rel, *net_params, photo, [style])
        objective = stylize.make_objective(rel, net_params[0])
        hyper = stylize.make_hyper(rel)
        style_at = lambda x, o=objective, t=rel_targets, h=hyper: float(
            o(x, net_params[1], t, h)[1]["style"]
        )
        style_photo = style_at(photo)
        for name in args.settings.split(","):
            key = f"{pair}/{name}"
            if key in results:
                continue
            config = setting(name, base)
            t0 = time.time()
            result = stylize.stylize(config, photo, [style], net_params=net_params)
            seconds = time.time() - t0
            picture = out / f"{pair}_{name.replace(':', '_')}.png"
            image.save(str(picture), result.image, overwrite=True)
            results[key] = {
                "pair": pair,
                "setting": name,
                "layout": measures.layout_similarity(photo, result.image),
                "colour": measures.colour_shift(photo, style, result.image),
                "style_drop": style_at(result.image) / style_photo,
                "steps": result.steps_done,
                "converged": result.converged,
                "seconds": seconds,
                "image": picture.name,
            }
            r = results[key]
            print(
                f"{key:32s} layout {r['layout']:.3f} colour {r['colour']:.3f} "
                f"style {r['style_drop']:.3f} steps {r['steps']} {seconds:.0f}s",
                flush=True,
            )
            results_path.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
