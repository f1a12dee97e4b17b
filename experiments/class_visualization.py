"""Class visualization by gradient ascent: a few classes, with and without each regularizer.

    python run.py --experiment=class_visualization --quick --weights=random
    python run.py --experiment=class_visualization                   # VGG16, ImageNet weights
    python run.py --experiment=class_visualization --config.classes=1,130,980 --steps=400
    python run.py --experiment=class_visualization --config.layer=relu5_3 --size=128  # channels

The image that maximizes a class score before the softmax, ``argmax_I S_c(I) - lambda
||I||^2`` from a (nearly) zero image (Simonyan et al. 2014), by ``nst.visualize
.gradient_ascent``; then the same with each regularizer of Yosinski et al. (2015) added
alone (Gaussian blur every k steps, random jitter, zeroing the pixels of small norm), and
with all three. Rows: classes; columns: settings, each captioned with the final score. A
conv layer as ``--config.layer`` visualizes its channels instead (any ``--size``); class
scores need the VGG classifier head (``fc8``, 124M more weights) and 224x224 images.
One compiled step serves every setting (the regularizers' numbers are traced).

Defaults: VGG16 ImageNet weights; Simonyan et al.'s classes ostrich (9), goose (99) and
kit fox (278); 200 Adam steps at 0.05 in normalized input units, lambda 1e-4; blur sigma
1 px every 4 steps, jitter 8 px, 30th-percentile norm clipping. ``--quick``: 2 classes,
10 steps at 0.2. Shared flags: --backbone, --weights, --weights_seed, --cache_dir,
--size (conv layers only), --steps, --lr, --seed, --workdir.

Outputs in --workdir (default runs/class_visualization/<time>): ``figure.png``,
``images/<class>_<setting>.png``, ``metrics.json`` (per class and setting: score at the
first step and of the final image; the verdicts of ``claims``: two properties, since the
seeds state no claim here), ``manifest.json``, and the loss plots every experiment writes
(empty axes where no loss is optimized; ``experiments/runner.py``).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time

import jax
import numpy as np
from absl import logging

from experiments import _common, _visual
from nst import backbones, measures, visualize
from nst import image as nst_image

NAME = "class_visualization"


# ImageNet-1k names of the classes Simonyan et al. (2014) show, Fig. 1.
CLASS_NAMES = {
    9: "ostrich",
    99: "goose",
    278: "kit fox",
    508: "computer keyboard",
    627: "limousine",
    897: "washing machine",
}

# The regularizers of Yosinski et al. (2015), each alone, then all together.
_BLUR = {"blur_every": 4}
_JITTER = {"jitter": 8}
_CLIP = {"norm_percentile": 30.0}
SETTINGS = (
    ("L2 only", {}),
    ("+ blur", _BLUR),
    ("+ jitter", _JITTER),
    ("+ small-norm clip", _CLIP),
    ("all three", {**_BLUR, **_JITTER, **_CLIP}),
)


@dataclasses.dataclass(frozen=True)
class Config(_visual.Network):
    """The study: which network, which classes, how long."""

    # The network (``_visual.Network``): class scores (fc8) need the VGG classifier head,
    # which has no offline source: the default is the same regularized ascent on channels
    # of the real VGG19's conv5_1; --backbone=vgg16 --config.layer=fc8 downloads
    # flaxmodels' VGG16 with its head.
    # The layer whose units are maximized: fc8 (class scores, 224x224 images) or a conv
    # layer (channel means, images of `size` px).
    layer: str = "conv5_1"
    # The classes (or channels) to visualize, one row each.
    classes: tuple[int, ...] = (9, 99, 278)
    # Image side in px for conv layers (class scores need 224).
    size: int = 224
    # The shared base of every setting; each row of SETTINGS overrides some fields.
    ascent: visualize.AscentConfig = dataclasses.field(
        default_factory=lambda: visualize.AscentConfig(
            steps=200, lr=0.05, l2=1e-4, blur_sigma=1.0, blur_every=0, jitter=0
        )
    )
    # Seed of the initial noise and the jitter.
    seed: int = 0


def get_config(quick: bool = False) -> Config:
    config = Config()
    if quick:
        config = dataclasses.replace(
            config,
            classes=(9, 278),
            ascent=dataclasses.replace(config.ascent, steps=10, lr=0.2),
        )
    return config


def ascent_settings(config: Config) -> tuple[tuple[str, visualize.AscentConfig], ...]:
    """``(label, AscentConfig)`` per column: the base config with each row's overrides."""
    return tuple((label, dataclasses.replace(config.ascent, **kw)) for label, kw in SETTINGS)


def _is_head(config: Config) -> bool:
    return config.layer in backbones.BACKBONES[config.backbone].head_layer_names


def validate(config: Config) -> None:
    valid = backbones.layer_names(config.backbone, include_head=True)
    if config.layer not in valid:
        raise ValueError(f"--config.layer={config.layer!r} is not a layer of {config.backbone}")
    if not config.classes or min(config.classes) < 0:
        raise ValueError(f"--config.classes must be indices >= 0, got {config.classes}")
    if _is_head(config) and config.layer == "fc8" and max(config.classes) >= 1000:
        raise ValueError(
            f"--config.classes must be < 1000 (ImageNet classes), got {config.classes}"
        )
    if config.size < 16:
        raise ValueError(f"--size must be >= 16 px, got {config.size}")
    ascent_settings(config)  # each setting's AscentConfig checks its numbers


def _label(config: Config, index: int) -> str:
    if config.layer != "fc8":
        return f"{config.layer} ch {index}"
    return f"{index} {CLASS_NAMES[index]}" if index in CLASS_NAMES else f"class {index}"


def claims(results: list[dict], images: dict[tuple[int, str], np.ndarray]) -> list[dict]:
    """Two properties (the seeds state no claim for this study).

    Yosinski et al. (2015): their regularizers (blur, jitter, small-norm clipping) make the
    visualizations less dominated by high frequencies than the L2 penalty alone. The
    number: ``nst.measures.high_frequency_share`` (luminance energy above 0.25 cycles/px,
    Hann window) of each class's image; held when "all three" is below "L2 only" for every
    class; margin = the smallest difference. And the ascent works: every image's final
    score is above its first step's; margin = the smallest rise.
    """
    first, last = SETTINGS[0][0], SETTINGS[-1][0]
    classes = list(dict.fromkeys(r["class"] for r in results))
    names = {r["class"]: r["name"] for r in results}
    share = {
        (c, label): measures.high_frequency_share(images[(c, label)], window="hann")
        for c in classes
        for label in (first, last)
    }
    falls = [share[(c, first)] - share[(c, last)] for c in classes]
    rises = [r["score_final"] - r["score_first_step"] for r in results]
    return [
        _common.claim(
            "(no seed claim; a property, Yosinski et al. 2015) the three regularizers together "
            "make the image smoother than the L2 penalty alone",
            "share of the luminance's spectral energy above 0.25 cycles/px (Hann window; "
            'nst.measures.high_frequency_share) per class, "all three" against "L2 only"; '
            "held when lower for every class; margin = the smallest difference; fixed steps",
            {f"{names[c]}: {label}": share[(c, label)] for c in classes for label in (first, last)},
            min(falls) > 0,
            min(falls),
        ),
        _common.claim(
            "(a property) gradient ascent raises the target: every image's final score is "
            "above its first step's",
            "the target's mean activation (or class score) of the final image minus at the "
            "first step, every class and setting; held when all rise; margin = the smallest rise",
            {f"{r['name']}: {r['setting']}": r["score_final"] for r in results},
            min(rises) > 0,
            min(rises),
        ),
    ]


def run(config: Config, workdir: str, session: _common.Session | None = None) -> _common.Report:
    """Runs every setting on all classes at once; ``Report.metrics`` holds metrics.json."""
    return _visual.run(sys.modules[__name__], config, workdir, session)


def compute(config: Config, workdir: str, quick_note: str) -> _common.Summary:
    """The whole study (``run`` calls it under the runner): images, layout, metrics."""
    head = _is_head(config)
    net, params = config.create([config.layer], include_head=head)
    size = 224 if head else config.size
    target = visualize.Target(config.layer, reduce="mean")
    channels = np.asarray(config.classes, np.int32)
    os.makedirs(os.path.join(workdir, "images"), exist_ok=True)
    columns, results, finals = [], [], {}
    for label, ascent in ascent_settings(config):
        start = time.perf_counter()
        result = visualize.gradient_ascent(
            jax.random.key(config.seed),
            net,
            params,
            target,
            shape=(size, size),
            channels=channels,
            config=ascent,
        )
        images = np.asarray(result.images)
        seconds = time.perf_counter() - start
        columns.append((label, images, np.asarray(result.final)))
        for n, index in enumerate(config.classes):
            name = f"{_common.slug(_label(config, index))}_{_common.slug(label)}.png"
            nst_image.save(os.path.join(workdir, "images", name), images[n], overwrite=True)
            finals[(index, label)] = images[n]
            results.append(
                {
                    "class": index,
                    "name": _label(config, index),
                    "setting": label,
                    "config": ascent,
                    "score_first_step": float(result.scores[0, n]),
                    "score_final": float(result.final[n]),
                }
            )
        logging.info("%s: final scores %s (%.1f s)", label, np.round(result.final, 3), seconds)
    rows = [[images[n] for _, images, _ in columns] for n in range(len(config.classes))]
    captions = [[f"score {final[n]:.3g}" for _, _, final in columns] for n in range(len(rows))]
    what = "Class models" if config.layer == "fc8" else f"{config.layer} channel visualizations"
    if config.layer != "fc8":
        what += " (class scores need the classifier head: no offline source)"
    text = f"{what} by gradient ascent, {config.ascent.steps} steps"
    return _common.Summary(
        title=_visual.figure_title(text, dataclasses.replace(config, size=size), quick_note),
        layout={
            "images": rows,
            "row_titles": [_label(config, index) for index in config.classes],
            "col_titles": [label for label, _, _ in columns],
            "titles": captions,
        },
        cell=_visual.cell_size(size),
        claims=claims(results, finals),
        metrics={"experiment": NAME, "layer": config.layer, "results": results},
        rows=[],
        curves=[],
    )
