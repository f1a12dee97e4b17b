"""Feature distances compared: MSE, L1, Huber and SmoothL1 in the content and style losses.

    python run.py --experiment=loss_type_sweep --quick --weights=random

Gatys et al. style transfer from the content photo (VGG19, content conv4_2, style
conv1_1..conv5_1; Adam 1e-3, content weight 1, style weight 1e5, 2000 steps) where the
elementwise penalty on feature (content) and Gram (style) differences is the squared error,
the absolute error, Huber or SmoothL1 (``nst.losses.penalty``, delta 1). The distance is a
compile-time choice, so every setting is its own program.

The seeds state no claim. Properties that must hold (``claims``): the penalty matters, so
the L1 and Huber images differ from MSE's by more than 1/255 on average (on a target with
outliers the distances have different minimizers: the mean, the median and between,
``tests/losses/distances_test.py``; on the Caffe network's large feature differences
every difference is an outlier for delta 1); and Huber and SmoothL1 with delta = beta = 1,
the same penalty, give the same image (within 0.5/255).
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


# Mean absolute pixel difference (0-255): above this the images differ, below the half
# of it they are the same (PNG rounding and float noise are far below).
DIFFERENT = 1.0


def _difference(a: Outcome, b: Outcome) -> float:
    return float(255 * abs(a.image - b.image).mean())


def claims(config: Config, outcomes: list[Outcome], load) -> list[dict[str, Any]]:
    """The seeds state no claim: the properties of the module docstring, with numbers."""
    del config, load
    by = {o.label: o for o in outcomes}
    apart = {k: _difference(by[k], by["MSE"]) for k in ("L1", "Huber")}
    same = _difference(by["Huber"], by["SmoothL1"])
    return [
        _common.claim(
            "(no seed claim; a property) L1 and Huber change the image against MSE",
            "mean |image - MSE image| in 0-255 pixel values; held when each is > "
            f"{DIFFERENT:g}; margin = the smaller minus {DIFFERENT:g}",
            apart,
            min(apart.values()) > DIFFERENT,
            min(apart.values()) - DIFFERENT,
            unit="/255",
        ),
        _common.claim(
            "(no seed claim; a property) Huber and SmoothL1 at delta 1 (one penalty) agree",
            "mean |Huber image - SmoothL1 image| in 0-255 pixel values; held when < "
            f"{DIFFERENT / 2:g}; margin = {DIFFERENT / 2:g} minus it",
            {"Huber vs SmoothL1": same},
            same < DIFFERENT / 2,
            DIFFERENT / 2 - same,
            unit="/255",
        ),
    ]


def run(config: Config, workdir: str, session: _common.Session | None = None) -> _common.Report:
    """Runs (or resumes) the study in ``workdir``; see ``_common.run_study``."""
    return _common.run_study(
        NAME, config, settings(config), workdir, figure=_figure, claims=claims, session=session
    )
