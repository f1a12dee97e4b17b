"""Photorealism regularizer: none vs matting Laplacian (RL) vs RL + TV, on a photo pair.

    python run.py --experiment=photorealism --quick --weights=random

Luan et al. (2017) style transfer between two photographs (VGG19, content conv4_2, style
conv1_1..conv5_1; content weight 1, style weight 1e6, Adam 1e-2, 8000 steps, from the
content photo) with no regularizer, with the matting-Laplacian photorealism term
(``nst.losses.photorealism_loss`` of the content photo's Laplacian, weight 100), and with
that term plus L1 total variation (weight 0.01). The bundled pair is tubingen (content) and
chelsea (the "style" photo); ``--content`` / ``--style`` take another pair.

The settings with the term (RL, RL + TV) run as one sweep, the one without it apart
(so it does not pay for the sparse Laplacian product).
"""

from __future__ import annotations

import sys
from typing import Any

from experiments import _common
from experiments._common import Config, Setting
from nst.config import StylizeConfig

NAME = "photorealism"

RL_WEIGHT = 100.0
TV_WEIGHT = 0.01
# (label, overrides)
SETTINGS = (
    ("no regularizer", {"photo_weight": 0.0, "tv_weight": 0.0}),
    (f"RL {_common.format_number(RL_WEIGHT)}", {"photo_weight": RL_WEIGHT, "tv_weight": 0.0}),
    (
        f"RL {_common.format_number(RL_WEIGHT)} + TV {_common.format_number(TV_WEIGHT)}",
        {"photo_weight": RL_WEIGHT, "tv_weight": TV_WEIGHT},
    ),
)


def get_config(quick: bool = False) -> Config:
    config = Config(
        stylize=StylizeConfig(
            content_layers=None,  # the backbone's defaults: VGG19 conv4_2 ...
            style_layers=None,  # ... and conv1_1..conv5_1 at 1/5 each
            init="content",
            optimizer="adam",
            lr=1e-2,
            content_weight=1.0,
            style_weight=1e6,
            tv_kind="l1",
            steps=8000,
            size=512,
        ),
        content="tubingen",
        styles=("chelsea",),
    )
    if quick:
        config = _common.shrink(config, size=96, steps=100)
    return config


def settings(config: Config) -> tuple[Setting, ...]:
    del config
    return tuple(Setting(label, overrides) for label, overrides in SETTINGS)


def run(config: Config, workdir: str, **kwargs: Any) -> _common.Report:
    """Runs (or resumes) the study in ``workdir``; see ``_common.run_study``."""
    return _common.run_study(NAME, config, settings(config), workdir, **kwargs)


def main(flag_values) -> _common.Report:
    return _common.main(sys.modules[__name__], flag_values)
