"""Gatys et al. (2015) texture synthesis from noise, for growing layer sets, per texture.

    python run.py --experiment=texture_synthesis --quick --weights=random

Each texture is synthesized from N(0, 1) noise by minimizing only the Gram (style) loss over
the layer sets of Gatys, Ecker & Bethge, "Texture Synthesis Using Convolutional Neural
Networks" (NeurIPS 2015), Fig. 2: {conv1_1}, then up to pool1, pool2, pool3 and pool4
(equal weights). VGG19, Adam 1e-3, 2000 steps; the canvas has the texture's size. Rows:
textures (default: the bundled brick, and starry_night; ``--style`` takes others); columns:
layer sets. Per texture, the layer sets differ only in numbers (weight 0 outside a set) and
run as one sweep program.

Tiers: full (above, 512 px); ``--tier=middle``: 128 px, 200 steps, Adam 1e-2; ``--quick``:
96 px, 100 steps, Adam 1e-2.

Claim (Gatys et al. 2015, Fig. 2): with layers up to deeper pools the synthesized texture
keeps structure at larger scales. Checked per texture by ``nst.measures.structure_scale``
(the radius, px, where the autocorrelation falls to 1/2), which must rise with every
added layer; the figure shows it instead of the loss (each panel's loss sums other layers).
"""

from __future__ import annotations

from typing import Any

from experiments import _common
from experiments._common import Config, Outcome, Setting
from nst import measures

NAME = "texture_synthesis"

UNION = ("conv1_1", "pool1", "pool2", "pool3", "pool4")
# (label, layers): Gatys et al. (2015), Fig. 2.
LAYER_SETS = tuple(
    (UNION[0] if n == 1 else f"conv1_1 – {UNION[n - 1]}", UNION[:n]) for n in range(1, 6)
)


def get_config(quick: bool = False, tier: str | None = None) -> Config:
    # --quick: 20x fewer steps, a 10x larger rate so the syntheses get somewhere.
    tiers = {
        "middle": dict(size=128, steps=200, lr=1e-2),
        "quick": dict(size=96, steps=100, lr=1e-2),
    }
    return _common.gatys(
        _common.tier_of(quick, tier),
        tiers,
        content=None,  # each texture is its own canvas (set per row)
        styles=("brick", "starry_night"),  # the textures, one row each
        content_layers=(),  # style (Gram) loss only
        content_weight=0.0,
        init="noise",  # N(0, 1) in the backbone's normalized input space
        lr=1e-3,
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
        images.append([load(texture)] + [o.image for o in row])
        scales = [measures.structure_scale(x) for x in images[-1]]
        titles.append(
            [f"original\nscale {scales[0]:.1f} px"] + [f"scale {v:.1f} px" for v in scales[1:]]
        )
        names.append(_common.image_name(texture))
    col_titles = ["texture"] + [label for label, _ in LAYER_SETS]
    return {"images": images, "titles": titles, "row_titles": names, "col_titles": col_titles}


def claims(config: Config, outcomes: list[Outcome], load) -> list[dict[str, Any]]:
    """Per texture: the structure scale rises with every added layer."""
    per_row = len(LAYER_SETS)
    out = []
    for i, texture in enumerate(config.styles):
        row = outcomes[i * per_row : (i + 1) * per_row]
        name = _common.image_name(texture)
        record = _common.trend_claim(
            f"{name}: layers up to deeper pools reproduce structure at larger scales",
            "structure scale (px: radius where the autocorrelation falls to 1/2) per layer set",
            [label for label, _ in LAYER_SETS],
            [measures.structure_scale(o.image) for o in row],
            increasing=True,
            unit="px",
        )
        record["reference"] = {"original": measures.structure_scale(load(texture))}
        out.append(record)
    return out


def run(config: Config, workdir: str, session: _common.Session | None = None) -> _common.Report:
    """Runs (or resumes) the study in ``workdir``; see ``_common.run_study``."""
    return _common.run_study(
        NAME, config, settings(config), workdir, figure=_figure, claims=claims, session=session
    )
