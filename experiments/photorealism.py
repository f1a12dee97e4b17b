"""Photorealism regularizer: none vs matting Laplacian (RL) vs RL + TV, on a photo pair.

    python run.py --experiment=photorealism --quick --weights=random

Luan et al. (2017) style transfer between two photographs (VGG19, content conv4_2, style
conv1_1..conv5_1; content weight 1, style weight 1e6, Adam 1e-2, 8000 steps, from the
content photo) with no regularizer, with the matting-Laplacian photorealism term
(``nst.losses.photorealism_loss`` of the content photo's Laplacian, weight 100), and with
that term plus L1 total variation (weight 0.01); both weights in units of
``--config.scale`` (default 1e10: with the Caffe VGG19's 0-255 inputs the perceptual
terms are that much larger; at the literal weights the regularizers are ~3e-11 of the
objective and change nothing). The bundled pair is tubingen (content) and
chelsea (the "style" photo); ``--content`` / ``--style`` take another pair.

The settings with the term (RL, RL + TV) run as one sweep, the one without it apart
(so it does not pay for the sparse Laplacian product).

Tiers: full (above, 512 px); ``--tier=middle``: 128 px, 300 steps; ``--quick``: 96 px, 100
steps.

Claims (seed 003): the matting-Laplacian term keeps the output a locally affine colour
function of the content photo, and so keeps its edges. Checked by
``nst.measures.locally_affine_residual`` (the mean squared residual of a least-squares
affine fit in every 3x3 window, computed directly, not through the loss) and
``nst.measures.edge_correlation`` (correlation of gradient magnitudes) of each output
against the content photo: the RL output must have the lower residual and the higher edge
correlation than the output without regularizer. The figure shows both numbers instead of
the total loss (which includes the RL term only in some panels).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from experiments import _common
from experiments._common import Outcome, Setting
from nst import measures

NAME = "photorealism"

# The seed's weights, in units of ``Config.scale``.
RL_WEIGHT = 100.0
TV_WEIGHT = 0.01


@dataclasses.dataclass(frozen=True)
class Config(_common.Config):
    # The regularizers' weights are RL_WEIGHT and TV_WEIGHT x scale. On the Caffe VGG19 here
    # (0-255 inputs) the perceptual terms at beta 1e6 are ~1e15 while the RL term is ~350
    # per unit weight (measured, 96 px): RL 100 literally is ~3e-11 of the objective and the
    # outputs come out identical. 1e10 makes RL 100 about a quarter of the objective.
    scale: float = 1e10


def settings(config: Config) -> tuple[Setting, ...]:
    """No regularizer; RL; RL + TV (weights x ``config.scale``)."""
    if not config.scale > 0:
        raise ValueError(f"--config.scale must be > 0, got {config.scale}")
    fmt = _common.format_number
    rl, tv = RL_WEIGHT * config.scale, TV_WEIGHT * config.scale
    return (
        Setting("no regularizer", {"photo_weight": 0.0, "tv_weight": 0.0}),
        Setting(f"RL {fmt(rl)}", {"photo_weight": rl, "tv_weight": 0.0}),
        Setting(f"RL {fmt(rl)} + TV {fmt(tv)}", {"photo_weight": rl, "tv_weight": tv}),
    )


def get_config(quick: bool = False, tier: str | None = None) -> Config:
    tiers = {"middle": dict(size=128, steps=300), "quick": dict(size=96, steps=100)}
    return _common.gatys(
        _common.tier_of(quick, tier),
        tiers,
        cls=Config,
        styles=("chelsea",),
        style_weight=1e6,
        tv_kind="l1",
        steps=8000,
    )


def photo_measures(outcomes: list[Outcome], photo) -> dict[str, dict[str, float]]:
    """Per output: locally-affine residual and edge correlation against the content photo."""
    return {
        "affine_residual": {
            o.label: measures.locally_affine_residual(o.image, photo) for o in outcomes
        },
        "edge_correlation": {o.label: measures.edge_correlation(o.image, photo) for o in outcomes},
    }


def claims(config: Config, outcomes: list[Outcome], load) -> list[dict[str, Any]]:
    """RL (vs none): lower locally-affine residual, higher edge correlation."""
    values = photo_measures(outcomes, load(config.content))
    none, rl = outcomes[0].label, outcomes[1].label
    residual, edges = values["affine_residual"], values["edge_correlation"]
    relative = (residual[none] - residual[rl]) / residual[none] if residual[none] else 0.0
    return [
        _common.claim(
            "the matting-Laplacian term lowers the locally-affine residual against the photo",
            "mean squared residual of a least-squares affine colour fit to the content photo "
            f"in every 3x3 window; held when {rl} < {none}; margin = relative reduction",
            residual,
            residual[rl] < residual[none],
            relative,
            unit="relative",
        ),
        _common.claim(
            "the matting-Laplacian term keeps the photo's edges (less edge distortion)",
            "correlation of luminance gradient magnitudes with the content photo; held when "
            f"{rl} > {none}; margin = the difference",
            edges,
            edges[rl] > edges[none],
            edges[rl] - edges[none],
        ),
    ]


def _figure(config: Config, outcomes: list[Outcome], load) -> dict[str, Any]:
    photo = load(config.content)
    references = [("content", photo)] + [("style", load(s)) for s in config.styles]
    layout = _common.row_figure(outcomes, references)
    values = photo_measures(outcomes, photo)
    layout["titles"][0][len(references) :] = [
        f"{o.label}\naffine residual {values['affine_residual'][o.label]:.2e}, "
        f"edges r={values['edge_correlation'][o.label]:.2f}"
        for o in outcomes
    ]
    return layout


def run(config: Config, workdir: str, session: _common.Session | None = None) -> _common.Report:
    """Runs (or resumes) the study in ``workdir``; see ``_common.run_study``."""
    return _common.run_study(
        NAME, config, settings(config), workdir, figure=_figure, claims=claims, session=session
    )
