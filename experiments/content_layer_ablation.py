"""Content reconstruction from white noise at each of conv1_1 ... conv5_1 (Gatys Fig. 1).

    python run.py --experiment=content_layer_ablation --quick --weights=random

The content photo is reconstructed from N(0, 1) noise (in the backbone's normalized input
space) by minimizing only the content loss at one layer: conv1_1, conv2_1, ..., conv5_1, or
conv1_2, ..., conv5_2 with ``--content_layer_ablation_conv=2``. Adam 1e-3, 2000 steps, VGG19.
Deeper layers keep the layout and lose the exact pixels.

All five settings use the union of the layers with a one-hot weight, so they differ only in
numbers and run as one sweep program.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

from absl import flags

from experiments import _common
from experiments._common import Outcome, Setting
from nst.config import StylizeConfig

NAME = "content_layer_ablation"

_CONV = flags.DEFINE_integer(
    "content_layer_ablation_conv",
    1,
    "content_layer_ablation: reconstruct from conv{b}_1 (1) or conv{b}_2 (2), b = 1..5.",
)


@dataclasses.dataclass(frozen=True)
class Config(_common.Config):
    # Which convolution of each block: conv{b}_1 (Gatys et al. 2016, Fig. 1) or conv{b}_2.
    conv: int = 1


def get_config(quick: bool = False) -> Config:
    config = Config(
        stylize=StylizeConfig(
            style_layers=(),  # content loss only
            content_weight=1.0,
            style_weight=0.0,
            init="noise",  # N(0, 1) in the backbone's normalized input space
            optimizer="adam",
            lr=1e-3,
            steps=2000,
            size=512,
        ),
        content="tubingen",
        styles=(),
        conv=1,
    )
    if quick:
        # 20x fewer steps: a 10x larger rate so the reconstructions get somewhere.
        config = _common.shrink(config, size=96, steps=100, lr=1e-2)
    return config


def layers(config: Config) -> tuple[str, ...]:
    if config.conv not in (1, 2):
        raise ValueError(f"--content_layer_ablation_conv must be 1 or 2, got {config.conv}")
    return tuple(f"conv{b}_{config.conv}" for b in range(1, 6))


def settings(config: Config) -> tuple[Setting, ...]:
    union = layers(config)
    return tuple(
        Setting(name, {"content_layers": _common.subset_weights(union, [name])}) for name in union
    )


def _figure(config: Config, outcomes: list[Outcome], load) -> dict[str, Any]:
    return _common.row_figure(outcomes, [("content photo", load(config.content))])


def run(config: Config, workdir: str, **kwargs: Any) -> _common.Report:
    """Runs (or resumes) the study in ``workdir``; see ``_common.run_study``."""
    return _common.run_study(NAME, config, settings(config), workdir, figure=_figure, **kwargs)


def main(flag_values) -> _common.Report:
    return _common.main(
        sys.modules[__name__], flag_values, own_flags={"content_layer_ablation_conv": "conv"}
    )
