"""Guided backpropagation: image | vanilla gradient | deconvnet | guided backprop, per neuron.

    python run.py --experiment=guided_backprop --quick --weights=random
    python run.py --experiment=guided_backprop                       # VGG16, ImageNet weights
    python run.py --experiment=guided_backprop --config.layers=relu3_3,relu5_3 --content=cat.jpg

For several neurons of several layers, what in the photo the neuron responds to, by the
three ways of sending its activation back to the pixels (``nst.visualize.saliency``):
the plain gradient (Simonyan et al. 2014), the deconvnet (Zeiler & Fergus 2014) and
guided backpropagation (Springenberg et al. 2015), which differ only in the ReLU's backward
rule (``nst.visualize.RELU_RULES``). Per layer, the neurons are the strongest units of the
``--config.neurons`` most active channels on this photo. Each row: the photo with the
neuron's receptive field boxed, the field's crop, then the three reconstructions over the
field (gray is zero; the gradient is zero outside the field).

Defaults: VGG16 ImageNet weights, the bundled tubingen photo at 224 px, layers relu2_2,
relu3_3, relu4_3, relu5_3, 3 neurons each. ``--quick``: 96 px, relu2_2 / relu3_3 /
relu4_3, 2 neurons each. Shared flags: --backbone, --weights, --weights_seed, --cache_dir,
--content, --size, --workdir.

Claim (Springenberg et al. 2015): guided backprop draws the image's edges more sharply than
the plain gradient. The number: ``nst.measures.edge_alignment`` (the correlation of a
reconstruction's magnitude with the photo's luminance gradient magnitude) over each
neuron's receptive field, median over the neurons; held when guided backprop's is higher.

Outputs in --workdir (default runs/guided_backprop/<time>): ``figure.png``,
``images/<layer>_ch<c>_<rule>.png`` (each reconstruction over the whole image),
``metrics.json`` (per neuron: activation, receptive field, gradient norm and sparsity per
rule, cosine similarity to the vanilla gradient, edge alignment), ``manifest.json``, and
the loss plots every experiment writes (empty axes where no loss is optimized;
``experiments/runner.py``).
"""

from __future__ import annotations

import dataclasses
import os
import sys

import jax
import numpy as np
from absl import logging

from experiments import _common, _visual
from nst import image as nst_image
from nst import measures, visualize

NAME = "guided_backprop"


# (column title, rule name): the three backward rules, in the order of the figure.
RULES = (
    ("vanilla gradient", "backprop"),
    ("deconvnet", "deconvnet"),
    ("guided backprop", "guided"),
)


@dataclasses.dataclass(frozen=True)
class Config(_visual.Network):
    """The study: which network, which photo, which neurons."""

    # The photo: a bundled sample name or a path; its longest side in px.
    content: str = "tubingen"
    size: int = 224
    # Layers whose neurons are explained, shallow to deep.
    layers: tuple[str, ...] = ("relu2_2", "relu3_3", "relu4_3", "relu5_3")
    # Neurons per layer: the strongest unit of each of the most active channels.
    neurons: int = 3


def get_config(quick: bool = False) -> Config:
    config = Config()
    if quick:
        config = dataclasses.replace(
            config, size=96, layers=("relu2_2", "relu3_3", "relu4_3"), neurons=2
        )
    return config


# --------------------------------------------------------------------------- figure


def draw_box(image: np.ndarray, box: tuple[int, int, int], width: int = 2) -> np.ndarray:
    """``image`` with the square ``box = (top, left, size)`` outlined in red; a box that
    leaves the image is outlined where it meets the image's border."""
    out = np.array(image, np.float32, copy=True)
    h, w = out.shape[:2]
    top, left, size = box
    top, left = max(top, 0), max(left, 0)
    bottom, right = min(box[0] + size, h) - 1, min(box[1] + size, w) - 1
    if bottom < top or right < left:
        return out
    red = np.array([1.0, 0.0, 0.0], np.float32)
    out[top : top + width, left : right + 1] = red
    out[max(bottom - width + 1, top) : bottom + 1, left : right + 1] = red
    out[top : bottom + 1, left : left + width] = red
    out[top : bottom + 1, max(right - width + 1, left) : right + 1] = red
    return out


# --------------------------------------------------------------------------- the study


def validate(config: Config) -> None:
    _visual.check_layers(config)
    if config.neurons < 1:
        raise ValueError(f"--config.neurons must be >= 1, got {config.neurons}")


def _strongest(features: np.ndarray, n: int) -> list[tuple[int, tuple[int, int], float]]:
    """``(channel, (row, col), value)`` of the strongest unit of the ``n`` most active channels."""
    peak = features.reshape(-1, features.shape[-1]).max(axis=0)
    out = []
    for channel in np.argsort(-peak, kind="stable")[:n]:
        flat = int(np.argmax(features[..., channel]))
        out.append((int(channel), divmod(flat, features.shape[1]), float(peak[channel])))
    return out


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    denominator = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.sum(a * b)) / denominator if denominator > 0 else 0.0


def claims(neurons: list[dict]) -> list[dict]:
    """Springenberg et al. (2015): guided backprop draws the image's edges more sharply than
    the plain gradient (saliency). The number: ``nst.measures.edge_alignment`` of each
    reconstruction over the neuron's receptive field, median over the neurons."""
    medians = {
        title: float(np.median([nrn["rules"][rule]["edge_alignment"] for nrn in neurons]))
        for title, rule in RULES
    }
    guided, vanilla = medians["guided backprop"], medians["vanilla gradient"]
    return [
        _common.claim(
            "guided backprop reconstructs the image's edges more sharply than the plain "
            "gradient (saliency)",
            "edge alignment (correlation of the reconstruction's magnitude with the photo's "
            "luminance gradient magnitude over the receptive field; nst.measures."
            "edge_alignment), median over the neurons; held when guided backprop's is the "
            "higher; margin = the difference; no optimization, so no convergence to report",
            medians,
            guided > vanilla,
            guided - vanilla,
        )
    ]


def run(config: Config, workdir: str, session: _common.Session | None = None) -> _common.Report:
    """Explains every chosen neuron by the three rules; ``Report.metrics`` holds metrics.json."""
    return _visual.run(sys.modules[__name__], config, workdir, session)


def compute(config: Config, workdir: str, quick_note: str) -> _common.Summary:
    """The whole study (``run`` calls it under the runner): images, layout, metrics."""
    photo = nst_image.load(nst_image.sample_or_path(config.content), max_size=config.size)
    net, params = config.create(config.layers)
    features = jax.jit(net)(params, photo[None])
    os.makedirs(os.path.join(workdir, "images"), exist_ok=True)
    rows, row_titles, captions, neurons = [], [], [], []
    for layer in config.layers:
        field = visualize.receptive_field(config.backbone, layer)
        chosen = _strongest(np.asarray(features[layer][0]), config.neurons)
        channels = np.array([c for c, _, _ in chosen], np.int32)
        batch = np.repeat(photo[None], len(chosen), axis=0)
        # The strongest unit of each channel ("max"): its gradient is the gradient at the
        # argmax position found above; one compiled program per (layer, rule).
        target = visualize.Target(layer, reduce="max")
        grads = {
            rule: np.asarray(
                visualize.saliency(net, params, batch, target, rule=rule, channels=channels)
            )
            for _, rule in RULES
        }
        for n, (channel, position, value) in enumerate(chosen):
            box = field.box(*position)
            row = [draw_box(photo, box), visualize.crop(photo, box)]
            record = {
                "layer": layer,
                "channel": channel,
                "position": position,
                "activation": value,
                "receptive_field": {"box": box, "size": field.size, "stride": field.stride},
                "rules": {},
            }
            for _, rule in RULES:
                g = grads[rule][n]
                picture = np.asarray(visualize.gradient_image(g))
                nst_image.save(
                    os.path.join(workdir, "images", f"{layer}_ch{channel}_{rule}.png"),
                    picture,
                    overwrite=True,
                )
                row.append(np.asarray(visualize.gradient_image(visualize.crop(g, box, fill=0.0))))
                record["rules"][rule] = {
                    "l2_norm": float(np.linalg.norm(g)),
                    "nonzero_fraction_in_field": float(
                        np.mean(np.abs(visualize.crop(g, box, fill=0.0)) > 0)
                    ),
                    "cosine_to_vanilla": _cosine(g, grads["backprop"][n]),
                    "edge_alignment": measures.edge_alignment(
                        visualize.crop(g, box, fill=0.0), visualize.crop(photo, box)
                    ),
                }
            rows.append(row)
            row_titles.append(f"{layer} ch {channel}")
            where = f"unit ({position[0]}, {position[1]})"
            captions.append([f"{where}: {value:.3g}", f"RF {field.size} px", None, None, None])
            neurons.append(record)
            logging.info("%s channel %d at %s: activation %.3g", layer, channel, position, value)
    return _common.Summary(
        title=_visual.figure_title(
            "Vanilla gradient, deconvnet, guided backprop", config, quick_note
        ),
        layout={
            "images": rows,
            "row_titles": row_titles,
            "col_titles": ["image, receptive field", "field", *(title for title, _ in RULES)],
            "titles": captions,
        },
        cell=_visual.cell_size(config.size),
        claims=claims(neurons),
        metrics={"experiment": NAME, "neurons": neurons},
        rows=[],
        curves=[],
    )
