"""Claims and verdicts: a seed's claim in words, the number that checks it, held or not.

Every study that checks a claim writes ``claim(...)`` records to ``metrics.json``
(``claims``); the runner prints ``verdict_lines`` under the figure and in the log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from absl import logging

from experiments._records import json_safe
from nst import measures


def claim(
    text: str, measure: str, values: Any, held: bool, margin: float, **extra: Any
) -> dict[str, Any]:
    """One verdict record: ``{claim, measure, values, held, margin, ...}`` (JSON-safe; an
    optional ``unit`` of the margin is shown after it).

    text: the seed's claim in words; measure: what number checks it and how "held" is
    decided; values: the numbers (per setting); margin: by how much it held (> 0) or failed
    (<= 0), in the measure's units as the measure says.
    """
    margin = float(margin)
    return json_safe(
        {
            "claim": text,
            "measure": measure,
            "values": values,
            "held": bool(held),
            "margin": margin if np.isfinite(margin) else None,
            **extra,
        }
    )


def monotone_margin(values: Sequence[float], *, increasing: bool) -> float:
    """The smallest step in the stated direction: ``min_i (v[i+1] - v[i])`` (rising) or
    ``min_i (v[i] - v[i+1])`` (falling). > 0 iff strictly monotone that way; NaN in -> NaN."""
    v = np.asarray(values, np.float64)
    if len(v) < 2:
        raise ValueError("a trend needs at least two values")
    steps = np.diff(v) if increasing else -np.diff(v)
    return float(np.min(steps)) if np.all(np.isfinite(steps)) else float("nan")


def trend_claim(
    text: str,
    measure: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    increasing: bool,
    unit: str = "",
    rtol: float = 0.0,
) -> dict[str, Any]:
    """A claim that ``values`` (in ``labels``' order) rise / fall, step by step.

    Held iff every step goes the stated way (``rtol`` 0), or no step goes the wrong way by
    more than ``rtol`` times the larger magnitude of its two values (a plateau within noise
    is allowed). Margin: the smallest step in the stated direction (negative: the largest
    step the wrong way). ``strictly`` records the ``rtol`` 0 verdict."""
    margin = monotone_margin(values, increasing=increasing)
    direction = "rises" if increasing else "falls"
    v = np.asarray(values, np.float64)
    wrong = -np.diff(v) if increasing else np.diff(v)
    allowed = rtol * np.maximum(np.abs(v[:-1]), np.abs(v[1:]))
    held = bool(np.all(np.isfinite(wrong)) and np.all(wrong <= allowed)) and (
        rtol > 0 or margin > 0
    )
    rule = "at every step; margin = the smallest step"
    if rtol:
        rule = f"at every step, or stays within {rtol:.0%} (a plateau); margin = the smallest step"
    return claim(
        text,
        f"{measure}; held when it {direction} {rule}",
        {str(k): float(x) for k, x in zip(labels, values)},
        held,
        margin,
        unit=unit,
        strictly=bool(margin > 0),
    )


def structure_distances(reference: Any, image: Any) -> dict[str, Any]:
    """How far ``image`` is from ``reference``'s structure, scale by scale: ``levels``, the
    sliced Wasserstein distance of their 7x7 neighbourhoods per Laplacian-pyramid level
    (``nst.measures.pyramid_swd``, finest first), and ``coarse``, its mean over
    ``coarse_levels`` (``nst.measures.coarse_levels``: the levels that see larger structure
    and hold enough neighbourhoods to tell)."""
    levels = measures.pyramid_swd(image, reference)
    coarse = measures.coarse_levels(np.shape(reference))
    return {
        "levels": levels,
        "coarse_levels": coarse,
        "coarse": float(np.mean([levels[k] for k in coarse])),
    }


def verdict_lines(claims: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per claim for the figure and the log: ``HELD (margin 1.2): claim``."""
    lines = []
    for c in claims:
        word = "HELD" if c["held"] else "NOT HELD"
        if c["held"] and c.get("strictly") is False:
            word = "HELD up to a plateau"
        margin = c.get("margin")
        unit = f" {c['unit']}" if c.get("unit") else ""
        by = f"margin {margin:.3g}{unit}" if margin is not None else "margin n/a"
        lines.append(f"{word} ({by}): {c['claim']}")
        if c.get("note"):
            lines.append(f"    {c['note']}")
    return lines


def log_claims(name: str, claims: Sequence[Mapping[str, Any]]) -> None:
    for line in verdict_lines(claims):
        logging.info("%s: verdict: %s", name, line)


def with_verdicts(layout: Mapping[str, Any], claims: Sequence[Mapping[str, Any]]) -> dict:
    """The figure layout with the verdict lines added to (or as) its caption."""
    layout = dict(layout)
    lines = verdict_lines(claims)
    if lines:
        caption = layout.get("caption")
        layout["caption"] = "\n".join(([caption] if caption else []) + lines)
    return layout
