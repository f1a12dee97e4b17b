"""Gatys et al. (2015) texture synthesis from noise, for growing layer sets, per texture.

    python run.py --experiment=texture_synthesis --quick --weights=random

Each texture is synthesized from N(0, 1) noise by minimizing only the Gram (style) loss over
the layer sets of Gatys, Ecker & Bethge, "Texture Synthesis Using Convolutional Neural
Networks" (NeurIPS 2015), Fig. 2: {conv1_1}, then up to pool1, pool2, pool3 and pool4
(equal weights). VGG19, L-BFGS as Gatys et al. until the loss falls by less than 1e-4
over 100 iterations (at most 1000); the canvas has the texture's size. Rows:
textures (default: the bundled brick, and starry_night; ``--style`` takes others); columns:
layer sets. Per texture, the layer sets differ only in numbers (weight 0 outside a set):
one compiled objective (one vmapped sweep with optax's L-BFGS; one setting at a time with
``lbfgs_host`` on CPU).

Tiers: full (above, 512 px); ``--tier=middle``: 256 px (the deepest set's receptive
field fits), at most 2000 iterations with the same rule (Gatys et al.'s released code,
leongatys/DeepTextures: 256 px, L-BFGS-B for 2000 iterations, ftol = gtol = 0, no stopping
rule); ``--quick``: 96 px, at most 100, stop at a fall < 1e-3 over 10. Snapshots every
100 iterations (50 in ``--quick``): the claim is also computed on the snapshots of half the
run, and the record says whether the verdict had settled (``settled``: the same verdict
then, and the same drift again would not flip it), since the loss falls as a power of the
iteration, which no relative rule ends.

Claim (Gatys et al. 2015, Fig. 2): with layers up to deeper pools the synthesized texture
keeps structure at larger scales. Checked per texture by the sliced Wasserstein distance
between the synthesis's and the texture's 7x7 neighbourhoods at the coarse levels of their
Laplacian pyramids (``nst.measures.pyramid_swd``, Karras et al. 2018; the mean over
``nst.measures.coarse_levels``), which must fall with every added layer; ``metrics.json``
keeps every level's distance. The figure shows it instead of the loss (each panel's loss
sums other layers). (The structure scale, the autocorrelation's width, was the measure
before: it is a function of the power spectrum alone and scores a phase-randomized texture
like the texture.)
"""

from __future__ import annotations

from typing import Any

from experiments import _common
from experiments._common import Config, Outcome, Setting

NAME = "texture_synthesis"

UNION = ("conv1_1", "pool1", "pool2", "pool3", "pool4")
# (label, layers): Gatys et al. (2015), Fig. 2.
LAYER_SETS = tuple(
    (UNION[0] if n == 1 else f"conv1_1 – {UNION[n - 1]}", UNION[:n]) for n in range(1, 6)
)


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
        content=None,  # each texture is its own canvas (set per row)
        styles=("brick", "starry_night"),  # the textures, one row each
        content_layers=(),  # style (Gram) loss only
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


def settings(config: Config) -> tuple[Setting, ...]:
    """One row per texture and layer set; a texture's rows form one sweep group."""
    if not config.styles:
        raise ValueError("texture_synthesis needs at least one texture (--style)")
    if config.content is not None:
        raise ValueError("texture_synthesis takes no --content: each texture is its own canvas")
    rows = []
    for texture in config.styles:
        name = _common.image_name(texture)
        for label, chosen in LAYER_SETS:
            overrides = {
                "content": texture,
                "styles": (texture,),
                "style_layers": _common.subset_weights(UNION, chosen),
            }
            rows.append(Setting(f"{name}: {label}", overrides))
    return tuple(rows)


def _figure(config: Config, outcomes: list[Outcome], load) -> dict[str, Any]:
    per_row = len(LAYER_SETS)
    images, titles, names = [], [], []
    for i, texture in enumerate(config.styles):
        row = outcomes[i * per_row : (i + 1) * per_row]
        original = load(texture)
        images.append([original] + [o.image for o in row])
        swd = [_common.structure_distances(original, o.image)["coarse"] for o in row]
        titles.append(["original"] + [f"coarse SWD {v:.3g}" for v in swd])
        names.append(_common.image_name(texture))
    col_titles = ["texture"] + [label for label, _ in LAYER_SETS]
    return {"images": images, "titles": titles, "row_titles": names, "col_titles": col_titles}


def claims(config: Config, outcomes: list[Outcome], load) -> list[dict[str, Any]]:
    """Per texture: the coarse-level SWD to the texture falls with every added layer."""
    per_row = len(LAYER_SETS)
    out = []
    for i, texture in enumerate(config.styles):
        row = outcomes[i * per_row : (i + 1) * per_row]
        name = _common.image_name(texture)
        original = load(texture)
        distances = [_common.structure_distances(original, o.image) for o in row]
        coarse = distances[0]["coarse_levels"]
        record = _common.trend_claim(
            f"{name}: layers up to deeper pools reproduce structure at larger scales",
            "sliced Wasserstein distance of 7x7 neighbourhoods to the texture at the coarse "
            f"Laplacian-pyramid levels {coarse} (mean; nst.measures.pyramid_swd) per layer set",
            [label for label, _ in LAYER_SETS],
            [d["coarse"] for d in distances],
            increasing=False,
            unit="SWD",
        )
        record["levels"] = {label: d["levels"] for (label, _), d in zip(LAYER_SETS, distances)}
        record["convergence"] = _common.convergence([o.record for o in row])
        out.append(record)
    return out


def run(config: Config, workdir: str, session: _common.Session | None = None) -> _common.Report:
    """Runs (or resumes) the study in ``workdir``; see ``_common.run_study``."""
    return _common.run_study(
        NAME, config, settings(config), workdir, figure=_figure, claims=claims, session=session
    )
