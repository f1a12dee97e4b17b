"""Photorealism regularizer: none vs matting Laplacian (RL) vs RL + TV, on a photo pair.

    python run.py --experiment=photorealism --quick --weights=random

Luan et al. (2017) style transfer between two photographs with their losses and weights,
as written (their code, deep-photo-styletransfer, builds on jcjohnson's neural-style):
VGG19, content conv4_2 at weight 5 and the mean of squared feature differences
(``content_norm="mean"``), style conv1_1..conv5_1 each at weight 100 and the mean of
squared Gram differences with Grams over ``C H W`` (``style_norm="mean"``); Adam 1e-2, 8000
steps, from the content photo. Settings: no regularizer; the matting-Laplacian photorealism
term (``nst.losses.photorealism_loss`` of the content photo's Laplacian) at Luan et al.'s
lambda 1e4; and that term plus their total variation 1e-3 (neural-style's ``TVLoss``, half
the sum of squared neighbour differences on the 0-255 image: ``tv_kind="beta"``, beta 2,
weight 1e-3 / 2). The engine evaluates the photorealism term on the [0, 1] image and TV on
the 0-255 image, where Luan et al.'s code does (``nst.losses``, Units): lambda 1e4 takes
6.5% of the gradient on the real VGG19 (64 px, ``tests/units_test.py``; against the Gatys
sums ~1e-6: no visible change, hence the 1e10 unit this study needed before). The bundled
pair is tubingen (content) and chelsea (the "style" photo), a stand-in only: Luan et al.
pair photos of similar scenes (a town by day, a town at dusk), and the figure in
``docs/figures`` pairs tubingen with a river town at dusk
(``--style=data/train_photos/palapeli-data__cincinnati-bridge.jpg``, public domain, from
``scripts/fetch_training_photos.py``); ``--content`` / ``--style`` take another pair.
Luan et al.'s segmentation masks and post-hoc smoothing are not used.

The settings with the term (RL, RL + TV) run as one sweep, the one without it apart
(so it does not pay for the sparse Laplacian product).

Tiers: full (above, 512 px); ``--tier=middle``: 128 px, L-BFGS to the stopping rule
(relative fall < 1e-3 over 10 iterations, at most 300); ``--quick``: 96 px, 100 steps.
Under the figure: how far each added term moved the image (``term_changes``).

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

import itertools
from typing import Any

from experiments import _common
from experiments._common import Config, Outcome, Setting
from nst import measures

NAME = "photorealism"

# Luan et al.'s weights, as written (nst.losses, Units).
RL_WEIGHT = 1e4
TV_SEED = 1e-3  # their TV weight as written: neural-style's TVLoss, whose gradient is that
TV_WEIGHT = TV_SEED / 2  # of half the beta-2 sum: the same term on this engine's whole sum
# Their style layers, each at the style weight (neural-style sums its style layers).
STYLE_LAYERS = tuple((f"conv{b}_1", 1.0) for b in range(1, 6))


def settings(config: Config) -> tuple[Setting, ...]:
    """No regularizer; RL; RL + TV."""
    del config
    fmt = _common.format_number
    return (
        Setting("no regularizer", {"photo_weight": 0.0, "tv_weight": 0.0}),
        Setting(f"RL {fmt(RL_WEIGHT)}", {"photo_weight": RL_WEIGHT, "tv_weight": 0.0}),
        Setting(
            f"RL {fmt(RL_WEIGHT)} + TV {fmt(TV_SEED)}",  # labels: the seeds' numbers
            {"photo_weight": RL_WEIGHT, "tv_weight": TV_WEIGHT},
        ),
    )


def get_config(quick: bool = False, tier: str | None = None) -> Config:
    # The middle tier runs Luan et al.'s objective to convergence (L-BFGS until the loss
    # falls by less than stop_tol over stop_window iterations; the steps are a cap).
    # snapshots: the verdicts are also computed half-way through the run (settled?)
    converged = dict(optimizer="lbfgs", stop_tol=1e-3, stop_window=10, snapshot_every=50)
    tiers = {"middle": dict(size=128, steps=300, **converged), "quick": dict(size=96, steps=100)}
    return _common.gatys(
        _common.tier_of(quick, tier),
        tiers,
        styles=("chelsea",),
        content_norm="mean",
        style_norm="mean",
        content_weight=5.0,
        style_weight=100.0,
        style_layers=STYLE_LAYERS,
        tv_kind="beta",
        tv_beta=2.0,
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
    changes = term_changes(outcomes)
    layout["caption"] = "each term changes the image (mean |difference|, 0-255): " + "; ".join(
        f"{pair} {value:.2f}" for pair, value in changes.items()
    )
    return layout


def term_changes(outcomes: list[Outcome]) -> dict[str, float]:
    """How much each added term moved the image: mean absolute pixel difference (0-255)
    between consecutive settings (RL vs none, RL + TV vs RL)."""
    return {
        f"{b.label} vs {a.label}": float(255 * abs(b.image - a.image).mean())
        for a, b in itertools.pairwise(outcomes)
    }


def run(config: Config, workdir: str, session: _common.Session | None = None) -> _common.Report:
    """Runs (or resumes) the study in ``workdir``; see ``_common.run_study``."""
    return _common.run_study(
        NAME,
        config,
        settings(config),
        workdir,
        figure=_figure,
        claims=claims,
        extra_metrics=lambda outcomes: {"term_changes": term_changes(outcomes)},
        session=session,
    )
