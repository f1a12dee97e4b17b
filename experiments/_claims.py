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
        trend={"increasing": bool(increasing), "rtol": float(rtol)},
    )


def bound_claim(
    text: str,
    measure: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    bar: float,
    above: bool = True,
    unit: str = "",
) -> dict[str, Any]:
    """A claim that every one of ``values`` is at or above ``bar`` (``above``), or at or
    below it. Margin: the closest value's distance from the bar on the held side (negative:
    the farthest value on the wrong side). The record keeps ``bound`` so that ``settled``
    can project it as it does a trend."""
    v = np.asarray(values, np.float64)
    gaps = v - bar if above else bar - v
    margin = float(np.min(gaps)) if np.all(np.isfinite(gaps)) else float("nan")
    side = ">=" if above else "<="
    return claim(
        text,
        f"{measure}; held when every value is {side} {bar:g}; margin = the closest one's "
        "distance from it",
        {str(k): float(x) for k, x in zip(labels, values)},
        bool(margin >= 0),
        margin,
        unit=unit,
        bound={"bar": float(bar), "above": bool(above)},
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


def loss_fall(record: Mapping[str, Any]) -> tuple[float, int]:
    """How much a setting's total loss still fell at its end: ``(fall, window)``, the fall
    over the last ``window`` steps relative to the final value (the engine's stopping
    rule's number; ``window`` is ``stop_window`` when the run had a stopping rule, else a
    tenth of its steps). NaN when the history is shorter than the window."""
    totals = np.asarray(record.get("history", {}).get("total", ()), np.float64)
    cfg = record.get("config", {}) or {}
    window = int(cfg.get("stop_window") or 10) if cfg.get("stop_tol") else len(totals) // 10
    window = max(1, window)
    if len(totals) <= window:
        return float("nan"), window
    before, now = totals[-window - 1], totals[-1]
    return float((before - now) / max(abs(now), np.finfo(np.float64).tiny)), window


def decay_power(record: Mapping[str, Any]) -> float:
    """``p`` of a loss falling as a power of the iteration, ``L(t) ~ t^-p``, over the second
    half of a setting's run: ``log(L(n/2) / L(n)) / log 2``. A power law takes the same
    share off over the last tenth of any run (``0.9^-p - 1``), so a rule on the relative
    fall (the engine's, or "< 1e-4 over the last 10%") never ends it. NaN for runs shorter
    than 20 steps or a loss that is not positive."""
    totals = np.asarray(record.get("history", {}).get("total", ()), np.float64)
    n = len(totals)
    if n < 20:
        return float("nan")
    half, end = totals[n // 2 - 1], totals[-1]
    if not (half > 0 and end > 0):
        return float("nan")
    return float(np.log(half / end) / np.log(n / (n // 2)))


def convergence(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Whether the settings a verdict is computed from converged: ``converged`` (how many
    ended by the engine's stopping rule, of ``settings``), ``largest_fall`` (the largest
    ``loss_fall`` among them, the number to read), ``decay_power`` (its range over them: a
    power-law fall, which no relative rule ends), ``rule`` (in words)."""
    falls = [loss_fall(r) for r in records]
    done = sum(1 for r in records if r.get("converged"))
    cfg = records[0].get("config", {}) if records else {}
    tol = (cfg or {}).get("stop_tol")
    rule = (
        f"stopping rule: the loss fell < {tol:g} over the last {falls[0][1]} steps"
        if tol
        else f"no stopping rule: fixed steps; fall over the last tenth ({falls[0][1]} steps)"
        if falls
        else "no settings"
    )
    values = [f for f, _ in falls if np.isfinite(f)]
    powers = [p for p in (decay_power(r) for r in records) if np.isfinite(p)]
    reached = [_final_over_start(r) for r in records]
    reached = [x for x in reached if np.isfinite(x)]
    return json_safe(
        {
            "converged": done,
            "settings": len(records),
            "largest_fall": max(values) if values else None,
            "largest_final_over_start": max(reached) if reached else None,
            "decay_power": [min(powers), max(powers)] if powers else None,
            "rule": rule,
        }
    )


def _final_over_start(record: Mapping[str, Any]) -> float:
    """The final total loss over the first step's (how far the run got), NaN if unknown."""
    totals = np.asarray(record.get("history", {}).get("total", ()), np.float64)
    if len(totals) < 2 or totals[0] == 0:
        return float("nan")
    return float(totals[-1] / totals[0])


def halfway(snapshots: Mapping[int, Any], steps: int) -> tuple[int, Any] | None:
    """``(step, image)``: the last snapshot taken at or before half of ``steps`` (the
    iterations a setting ran), or None when there is none."""
    taken = [step for step in snapshots if 0 < step <= steps / 2]
    return (max(taken), snapshots[max(taken)]) if taken else None


def settled(
    final: Mapping[str, Any], earlier: Mapping[str, Any], steps: Sequence[int]
) -> dict[str, Any]:
    """Whether a verdict stopped moving: the same claim computed on the images of an
    earlier iteration (``earlier``, at ``steps``, one per value) against ``final``.

    ``same_verdict``: held (or not) at both; ``largest_change``: the largest relative change
    of a value from then to the end; ``settled``: the same verdict, and the same drift
    again would not flip it, the number to read when a loss keeps falling slowly
    (polynomially) long after the image stopped changing where the measure looks. For a
    trend (``trend_claim``) or a bound (``bound_claim``) that is tested directly: every
    value moved on by as much again (``projected``: ``end + (end - then)``) gives the same
    verdict, so a value racing away from its neighbours (or from the bar) in the claimed
    direction cannot unsettle it, and two values closing in (or a value nearing the bar)
    can. For other claims, whose verdict is not a function of the values alone: no
    value moved by more than half the final margin (the smallest gap the verdict rests on,
    or the wrong step that breaks it: moves that small could not close or open it)."""
    end = np.asarray(list(final["values"].values()), np.float64)
    then = np.asarray(list(earlier["values"].values()), np.float64)
    change = np.abs(end - then) / np.maximum(np.abs(end), 1e-12)
    same = bool(earlier["held"]) == bool(final["held"])
    extra: dict[str, Any] = {}
    trend, bound = final.get("trend"), final.get("bound")
    if trend is not None or bound is not None:
        ahead = end + (end - then)
        form = trend_claim if trend is not None else bound_claim
        projected = form("", "", list(final["values"]), ahead, **(trend or bound))
        within = projected["held"] == bool(final["held"])
        extra["projected"] = {"values": projected["values"], "held": projected["held"]}
    else:
        margin = final.get("margin")
        within = bool(margin is not None and np.all(np.abs(end - then) <= abs(margin) / 2))
    return json_safe(
        {
            "at_steps": [int(s) for s in steps],
            "values": dict(earlier["values"]),
            "held": bool(earlier["held"]),
            "margin": earlier.get("margin"),
            "same_verdict": same,
            "largest_change": float(np.max(change)) if change.size else None,
            **extra,
            "settled": same and within,
        }
    )


def settled_line(s: Mapping[str, Any]) -> str:
    """``measure settled: the same verdict at iterations 300 ... (values moved <= 4%)``."""
    steps = sorted(set(s["at_steps"]))
    at = f"{steps[0]}" if len(steps) == 1 else f"{steps[0]}-{steps[-1]}"
    word = "HELD" if s["held"] else "NOT HELD"
    state = "measure settled" if s["settled"] else "measure NOT settled"
    return (
        f"{state}: {word} at iteration {at} (about half the run), values moved "
        f"<= {s['largest_change']:.0%} from there to the end"
    )


def convergence_line(c: Mapping[str, Any]) -> str:
    """``converged: 5 of 5 settings (...; largest fall 3e-4)`` for a figure or the log."""
    fall = c.get("largest_fall")
    fall_text = f"; largest fall {fall:.2g}" if fall is not None else ""
    reached = c.get("largest_final_over_start")
    if reached is not None:
        fall_text += f"; final loss <= {reached:.2g} x the first step's"
    power = c.get("decay_power")
    if power is not None and c["converged"] < c["settings"] and power[0] > 0:
        low, high = (f"{p:.2g}" for p in power)
        span = low if low == high else f"{low}-{high}"
        fall_text += (
            f"; loss ~ t^-p, p {span} over the second half: each last tenth takes "
            f"{0.9 ** -power[0] - 1:.0%}+ off, however long the run"
        )
    word = "converged" if c["converged"] == c["settings"] else "NOT converged"
    return (
        f"{word}: {c['converged']} of {c['settings']} {c.get('of', 'settings')} ended by the "
        "stopping rule "
        f"({c['rule']}{fall_text})"
    )


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
        if c.get("convergence"):
            lines.append(f"    {convergence_line(c['convergence'])}")
        if c.get("settled"):
            lines.append(f"    {settled_line(c['settled'])}")
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
