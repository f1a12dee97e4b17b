"""Gatys et al. (2015) texture synthesis from noise, for growing layer sets, per texture.

    python run.py --experiment=texture_synthesis --quick --weights=random

Each texture is synthesized from N(0, 1) noise by minimizing only the Gram (style) loss over
the layer sets of Gatys, Ecker & Bethge, "Texture Synthesis Using Convolutional Neural
Networks" (NeurIPS 2015), Fig. 2: {conv1_1}, then up to pool1, pool2, pool3 and pool4
(equal weights). VGG19, Adam 1e-3, 2000 steps; the canvas has the texture's size. Rows:
textures (default: the bundled brick, and starry_night; ``--style`` takes others); columns:
layer sets. Per texture, the layer sets differ only in numbers (weight 0 outside a set) and
run as one sweep program.
"""

from __future__ import annotations

import sys
from typing import Any

from experiments import _common
from experiments._common import Config, Outcome, Setting
from nst.config import StylizeConfig

NAME = "texture_synthesis"

UNION = ("conv1_1", "pool1", "pool2", "pool3", "pool4")
# (label, layers): Gatys et al. (2015), Fig. 2.
LAYER_SETS = tuple(
    (UNION[0] if n == 1 else f"conv1_1 – {UNION[n - 1]}", UNION[:n]) for n in range(1, 6)
)


def get_config(quick: bool = False) -> Config:
    config = Config(
        stylize=StylizeConfig(
            content_layers=(),  # style (Gram) loss only
            content_weight=0.0,
            style_weight=1e5,
            init="noise",  # N(0, 1) in the backbone's normalized input space
            optimizer="adam",
            lr=1e-3,
            steps=2000,
            size=512,
        ),
        content=None,  # each texture is its own canvas (set per row)
        styles=("brick", "starry_night"),  # the textures, one row each
    )
    if quick:
        # 20x fewer steps: a 10x larger rate so the syntheses get somewhere.
        config = _common.shrink(config, size=96, steps=100, lr=1e-2)
    return config


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
        titles.append(["original"] + [f"loss {o.final['total']:.3g}" for o in row])
        names.append(_common.image_name(texture))
    col_titles = ["texture"] + [label for label, _ in LAYER_SETS]
    return {"images": images, "titles": titles, "row_titles": names, "col_titles": col_titles}


def run(config: Config, workdir: str, **kwargs: Any) -> _common.Report:
    """Runs (or resumes) the study in ``workdir``; see ``_common.run_study``."""
    return _common.run_study(NAME, config, settings(config), workdir, figure=_figure, **kwargs)


def main(flag_values) -> _common.Report:
    return _common.main(sys.modules[__name__], flag_values)
