"""Content/style trade-off: content weight 1 ... 1e5, and style weight 1 ... 1e8.

    python run.py --experiment=weight_tradeoff --quick --weights=random

Gatys et al. style transfer from the content photo (VGG19, content conv4_2, style
conv1_1..conv5_1; Adam 1e-2, 2000 steps). Top row: content weight alpha = 1, 10, ..., 1e5 at
style weight beta = 1e5. Bottom row: beta = 1, 10, ..., 1e8 at alpha = 1. Each row differs
only in one weight, so it runs as one sweep (one compiled program).

Tiers: full (above, 512 px); ``--tier=middle``: 128 px, 120 steps; ``--quick``: 96 px, 50
steps.

Claim (seeds 000, 002, 003): as the style/content ratio beta/alpha grows, the content loss
rises and the style loss falls. Checked per row on the unweighted final losses (the raw
content term at conv4_2 and the raw style term), ordered by growing beta/alpha; each series
holds when it moves the stated way at every step. The figure shows those two raw terms
instead of the weighted total, which does not compare across different weights.
"""

from __future__ import annotations

from typing import Any

from experiments import _common
from experiments._common import Config, Outcome, Setting

NAME = "weight_tradeoff"

CONTENT_WEIGHTS = tuple(10.0**k for k in range(0, 6))  # at style weight STYLE_FIXED
STYLE_WEIGHTS = tuple(10.0**k for k in range(0, 9))  # at content weight CONTENT_FIXED
STYLE_FIXED = 1e5
CONTENT_FIXED = 1.0
# Monotone allows a plateau: at large beta/alpha both terms saturate and change by < 0.1%
# from setting to setting, up or down; a step the wrong way by more than this share of the
# value breaks the claim.
PLATEAU = 0.01


def get_config(quick: bool = False, tier: str | None = None) -> Config:
    """``GATYS``; the rows set alpha and beta."""
    tiers = {"middle": dict(size=128, steps=120), "quick": dict(size=96, steps=50)}
    return _common.gatys(_common.tier_of(quick, tier), tiers)


def settings(config: Config) -> tuple[Setting, ...]:
    """Two groups (the figure's rows), each one sweep."""
    del config
    fmt = _common.format_number
    rows = [
        Setting(f"α={fmt(a)}", {"content_weight": a, "style_weight": STYLE_FIXED}, "content")
        for a in CONTENT_WEIGHTS
    ]
    rows += [
        Setting(f"β={fmt(b)}", {"content_weight": CONTENT_FIXED, "style_weight": b}, "style")
        for b in STYLE_WEIGHTS
    ]
    return tuple(rows)


def _figure(config: Config, outcomes: list[Outcome], load) -> dict[str, Any]:
    del config, load
    fmt = _common.format_number
    content_row = [o for o in outcomes if o.label.startswith("α")]
    style_row = [o for o in outcomes if o.label.startswith("β")]
    caption = lambda o: f"{o.label}\ncontent {o.final['content']:.3g}, style {o.final['style']:.3g}"
    return {
        "images": [[o.image for o in content_row], [o.image for o in style_row]],
        "titles": [[caption(o) for o in content_row], [caption(o) for o in style_row]],
        "row_titles": [
            f"content weight α (β={fmt(STYLE_FIXED)})",
            f"style weight β (α={fmt(CONTENT_FIXED)})",
        ],
        "caption": "content, style: the unweighted loss terms (comparable across panels)",
    }


def claims(config: Config, outcomes: list[Outcome], load) -> list[dict[str, Any]]:
    """Per row, ordered by growing beta/alpha: raw content loss rises, raw style loss falls."""
    del config, load
    out = []
    for prefix, name in (("α", "content weight α row"), ("β", "style weight β row")):
        row = [o for o in outcomes if o.label.startswith(prefix)]
        ratio = lambda o: o.record["config"]["style_weight"] / o.record["config"]["content_weight"]
        row.sort(key=ratio)
        labels = [o.label for o in row]
        for term, increasing in (("content", True), ("style", False)):
            direction = "rises" if increasing else "falls"
            out.append(
                _common.trend_claim(
                    f"{name}: the {term} loss {direction} as β/α grows",
                    f"unweighted final {term} loss, settings ordered by growing β/α",
                    labels,
                    [o.final[term] for o in row],
                    increasing=increasing,
                    rtol=PLATEAU,
                )
            )
    return out


def run(config: Config, workdir: str, session: _common.Session | None = None) -> _common.Report:
    """Runs (or resumes) the study in ``workdir``; see ``_common.run_study``."""
    return _common.run_study(
        NAME, config, settings(config), workdir, figure=_figure, claims=claims, session=session
    )
