"""Feature distances compared: MSE, L1, Huber and SmoothL1 in the content and style losses.

    python run.py --experiment=loss_type_sweep --quick --weights=random

Gatys et al. style transfer from the content photo (VGG19, content conv4_2, style
conv1_1..conv5_1; Adam 1e-3, content weight 1, style weight 1e5, 2000 steps) where the
elementwise penalty on feature (content) and Gram (style) differences is the squared error,
the absolute error, Huber or SmoothL1 (``nst.losses.penalty``, delta 1). The distance is a
compile-time choice, so every setting is its own program.
"""

from __future__ import annotations

from typing import Any

from experiments import _common
from experiments._common import Config, Outcome, Setting

NAME = "loss_type_sweep"

# (label, nst.losses.penalty kind)
DISTANCES = (("MSE", "squared"), ("L1", "abs"), ("Huber", "huber"), ("SmoothL1", "smooth_l1"))


def get_config(quick: bool = False) -> Config:
    """``GATYS`` at Adam 1e-3; Huber delta / SmoothL1 beta 1."""
    tiers = {"quick": dict(size=96, steps=100)}
    return _common.gatys("quick" if quick else "full", tiers, lr=1e-3, delta=1.0)


def settings(config: Config) -> tuple[Setting, ...]:
    del config
    return tuple(Setting(label, {"distance": kind}) for label, kind in DISTANCES)


NOT_COMPARABLE = (
    "Each panel's loss is measured with its own feature distance (MSE, L1, Huber, SmoothL1): "
    "the numbers do not compare across panels; compare the images."
)


def _figure(config: Config, outcomes: list[Outcome], load) -> dict[str, Any]:
    layout = _common.row_figure(
        outcomes,
        _common.references(config, load),
        lambda o: f"{o.label}\nown loss {o.final['total']:.3g}",
    )
    layout["caption"] = NOT_COMPARABLE
    return layout


def run(config: Config, workdir: str, session: _common.Session | None = None) -> _common.Report:
    """Runs (or resumes) the study in ``workdir``; see ``_common.run_study``."""
    return _common.run_study(
        NAME, config, settings(config), workdir, figure=_figure, session=session
    )
