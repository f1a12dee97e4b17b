"""Initialization compared: white noise vs the content photo, at equal steps.

    python run.py --experiment=init_comparison --quick --weights=random

Gatys et al. style transfer (VGG19, content conv4_2, style conv1_1..conv5_1; content weight 1,
style weight 1e5, Adam 1e-2, 2000 steps) started from white noise (N(0, 1) in the
backbone's normalized input space) or from the content photo. The initialization is not a
number, so each is its own program; both run the same number of steps.
"""

from __future__ import annotations

import sys
from typing import Any

from experiments import _common
from experiments._common import Config, Setting
from nst.config import StylizeConfig

NAME = "init_comparison"

# (label, StylizeConfig.init)
INITS = (("white noise", "noise"), ("content photo", "content"))


def get_config(quick: bool = False) -> Config:
    config = Config(
        stylize=StylizeConfig(
            content_layers=None,  # the backbone's defaults: VGG19 conv4_2 ...
            style_layers=None,  # ... and conv1_1..conv5_1 at 1/5 each
            optimizer="adam",
            lr=1e-2,
            content_weight=1.0,
            style_weight=1e5,
            steps=2000,
            size=512,
            seed=0,  # of the noise
        ),
        content="tubingen",
        styles=("starry_night",),
    )
    if quick:
        config = _common.shrink(config, size=128, steps=100)
    return config


def settings(config: Config) -> tuple[Setting, ...]:
    del config
    return tuple(Setting(label, {"init": init}) for label, init in INITS)


def run(config: Config, workdir: str, **kwargs: Any) -> _common.Report:
    """Runs (or resumes) the study in ``workdir``; see ``_common.run_study``."""
    return _common.run_study(NAME, config, settings(config), workdir, **kwargs)


def main(flag_values) -> _common.Report:
    return _common.main(sys.modules[__name__], flag_values)
