"""Style reconstruction from white noise over growing layer sets (Gatys et al. 2016, Fig. 1).

    python run.py --experiment=style_layer_ablation --quick --weights=random

The style image is reconstructed from N(0, 1) noise by minimizing only the style loss over
the cumulative layer sets {relu1_1}, {relu1_1, relu2_1}, ..., {relu1_1, ..., relu5_1}
(Gatys et al.'s conv{b}_1: their Caffe blobs are rectified), and "relu1_1..relu5_1" is
compared with "the first five conv layers" (relu1_1, relu1_2, relu2_1, relu2_2, relu3_1).
Layers of a set weigh equally; VGG19, L-BFGS as Gatys et al.
until the loss falls by less than 1e-4 over 100 iterations (at most 1000); the canvas has
the style image's size. Larger sets match the style at larger scales.

Tiers: full (above, 512 px); ``--tier=middle``: 256 px (the deepest set's receptive
field fits), at most 2000 iterations (the count of Gatys et al.'s released texture code,
which has no stopping rule) with the same rule; ``--quick``: 96 px, at most 100, stop at a
fall < 1e-3 over 10. Snapshots every 100 iterations (50 in ``--quick``): the claim is also
computed on the snapshots of half the run, and the record says whether the verdict had
settled (``settled``: the same verdict then, and the same drift again would not flip it),
since the loss falls as a power of the iteration, which no relative rule ends
(``convergence``'s ``decay_power``).

Claim (Gatys et al. 2016, Fig. 1): adding deeper layers reproduces the style's structure at
larger scales. Checked by the sliced Wasserstein distance between each reconstruction's and
the style image's 7x7 neighbourhoods at the coarse levels of their Laplacian pyramids
(``nst.measures.pyramid_swd``, Karras et al. 2018; the mean over
``nst.measures.coarse_levels``), which must fall with every layer added to relu1_1 ...
relu5_1; the first-five-layers set is reported beside it and ``metrics.json`` keeps every
level's distance. The figure shows it instead of the loss (each panel's loss sums other
layers). (The structure scale, the autocorrelation's width, was the measure before: a
function of the power spectrum alone, it scores a phase-randomized image like the original.)

All settings use the union of the layers, with weight 0 outside their set, so they differ
only in numbers and share one compiled objective.
"""

from __future__ import annotations

from typing import Any

from experiments import _common
from experiments._common import Config, Outcome, Setting

NAME = "style_layer_ablation"

# Gatys et al.'s features are the rectified ones (their Caffe blobs conv{b}_{k} hold the
# output after the in-place ReLU: relu{b}_{k} here, where conv{b}_{k} is before it). On the
# normalized network the difference decides the deepest set: the Starry Night's Gram at
# pre-ReLU conv5_1 has 3,400x the norm of relu5_1's (4.9e6 vs 1.5e3, 256 px), its term
# from noise started ~1e5x the other layers' and the synthesis stalled (2026-12-07).
BLOCK_FIRSTS = tuple(f"relu{b}_1" for b in range(1, 6))
FIRST_FIVE = ("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1")
UNION = ("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu4_1", "relu5_1")


def get_config(quick: bool = False, tier: str | None = None) -> Config:
    # Converged runs, as Gatys et al. ran them: L-BFGS until the loss falls by less than
    # stop_tol over the last stop_window iterations (the steps are a cap). The middle tier
    # is 256 px, the smallest size where the deepest set's receptive field fits.
    tiers = {
        "middle": dict(size=256, steps=2000),
        "quick": dict(size=96, steps=100, stop_tol=1e-3, stop_window=10, snapshot_every=50),
    }
    return _common.gatys(
        _common.tier_of(quick, tier),
        tiers,
        content=None,  # the canvas: the style image's size
        content_layers=(),  # style loss only
        content_weight=0.0,
        init="noise",  # N(0, 1) in the backbone's normalized input space
        # Gatys et al.'s network: VGG19 with every filter's mean activation 1 (the same
        # function; it balances the layers' Gram terms) and average pooling.
        network_norm="gatys",
        pooling="avg",
        optimizer="lbfgs",  # lbfgs_host on CPU (one setting at a time), optax's on GPU
        steps=1000,  # a cap: the stopping rule ends a converged run
        stop_tol=1e-4,  # relative fall of the loss over the last stop_window iterations
        stop_window=100,
        snapshot_every=100,  # the verdict is also computed half-way (is it settled?)
    )


def layer_sets() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(label, layers): the cumulative relu{b}_1 sets, then the first five conv layers."""
    sets = []
    for n in range(1, 6):
        chosen = BLOCK_FIRSTS[:n]
        label = chosen[0] if n == 1 else f"{chosen[0]} – {chosen[-1]}"
        sets.append((label, chosen))
    sets.append(("first five conv layers (relu1_1 – relu3_1)", FIRST_FIVE))
    return tuple(sets)


def settings(config: Config) -> tuple[Setting, ...]:
    del config
    return tuple(
        Setting(label, {"style_layers": _common.subset_weights(UNION, chosen)})
        for label, chosen in layer_sets()
    )


def claims(config: Config, outcomes: list[Outcome], load) -> list[dict[str, Any]]:
    """The coarse-level SWD to the style image falls with every layer added to relu1_1 ...
    relu5_1."""
    style = load(config.styles[0])
    distances = {o.label: _common.structure_distances(style, o.image) for o in outcomes}
    cumulative = outcomes[:5]
    labels = [o.label for o in cumulative]
    coarse = distances[labels[0]]["coarse_levels"]
    record = _common.trend_claim(
        "adding deeper layers reproduces the style at larger scales",
        "sliced Wasserstein distance of 7x7 neighbourhoods to the style image at the coarse "
        f"Laplacian-pyramid levels {coarse} (mean; nst.measures.pyramid_swd) of each "
        "reconstruction, relu1_1 ... relu1_1 – relu5_1",
        labels,
        [distances[label]["coarse"] for label in labels],
        increasing=False,
        unit="SWD",
    )
    record["reference"] = {o.label: distances[o.label]["coarse"] for o in outcomes[5:]}
    record["levels"] = {label: d["levels"] for label, d in distances.items()}
    return [record]


def _figure(config: Config, outcomes: list[Outcome], load) -> dict[str, Any]:
    style = load(config.styles[0])
    layout = _common.row_figure(outcomes, [("style image", style)])
    layout["titles"][0] = ["style image"] + [
        f"{o.label}\ncoarse SWD {_common.structure_distances(style, o.image)['coarse']:.3g}"
        for o in outcomes
    ]
    return layout


def run(config: Config, workdir: str, session: _common.Session | None = None) -> _common.Report:
    """Runs (or resumes) the study in ``workdir``; see ``_common.run_study``."""
    return _common.run_study(
        NAME, config, settings(config), workdir, figure=_figure, claims=claims, session=session
    )
