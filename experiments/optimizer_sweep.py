"""Optimizers compared: Adagrad, Adam, RMSprop, SGD at two learning rates, and L-BFGS.

    python run.py --experiment=optimizer_sweep --quick --weights=random

Gatys et al. style transfer from the content photo (VGG19, content conv4_2, style
conv1_1..conv5_1; content weight 1, style weight 1e5; 2000 steps) with Adagrad, Adam,
RMSprop and SGD at learning rates 1e-2 and 1e-3, and L-BFGS (whose line search picks the
step). Every setting runs on its own, not vmapped with another, so wall times compare.

Besides the common outputs (``experiments/_common.py``), ``equal_time.csv`` (also in
``metrics.json``) lists the loss each optimizer reached at the same wall-clock time: the
shortest run's total time, read off every loss-vs-time curve.

Tiers: full (above, 512 px); ``--tier=middle``: 128 px, 200 steps; ``--quick``: 96 px, 60
steps.

Claim (seed 002): Adam reaches a lower total loss than Adagrad and RMSprop, at equal steps
and at equal wall time (each optimizer at its better learning rate; all settings minimize
the same objective, so their losses compare). A run whose loss ends above where it started,
becomes non-finite, or leaves most pixels pinned at the [0, 1] box is labelled "diverged"
(on the figure, in the log and in ``metrics.json``'s ``diverged``) with the reason: its step
size against the gradient scale, the median |dL/dx| per pixel at the content photo.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from experiments import _common
from experiments._common import Config, Outcome, Setting
from nst import backbones, losses, stylize
from nst import image as nst_image

NAME = "optimizer_sweep"

# (label, optimizer name in nst.optimizers): the first-order ones run at every rate below.
FIRST_ORDER = (("Adagrad", "adagrad"), ("Adam", "adam"), ("RMSprop", "rmsprop"), ("SGD", "sgd"))
LEARNING_RATES = (1e-2, 1e-3)


def get_config(quick: bool = False, tier: str | None = None) -> Config:
    """``GATYS`` (alpha 1, beta 1e5, 2000 steps at 512 px from the content photo); the rows
    set the optimizer and its rate."""
    tiers = {"middle": dict(size=128, steps=200), "quick": dict(size=96, steps=60)}
    return _common.gatys(_common.tier_of(quick, tier), tiers)


def settings(config: Config) -> tuple[Setting, ...]:
    """One row per optimizer and rate; each its own group (run alone, timed alone)."""
    del config
    rows = [
        Setting(f"{label} lr={_common.format_number(lr)}", {"optimizer": name, "lr": lr})
        for label, name in FIRST_ORDER
        for lr in LEARNING_RATES
    ]
    rows.append(Setting("L-BFGS", {"optimizer": "lbfgs"}))
    return tuple(Setting(*row[:2], group=row.label) for row in rows)


def equal_time(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """The total loss of every setting at the shortest run's wall time (linear interpolation).

    Returns:
      ``{"seconds": T, "rows": [{"label", "step", "total"}, ...]}`` sorted by loss.
    """
    ends = [float(o.history["time"][-1]) for o in outcomes if len(o.history.get("time", ()))]
    seconds = min(ends) if ends else 0.0
    rows = []
    for o in outcomes:
        times, totals = o.history.get("time", np.zeros(0)), o.history.get("total", np.zeros(0))
        if not len(times):
            continue
        step = int(np.searchsorted(times, seconds, side="right"))
        rows.append(
            {
                "label": o.label,
                "step": max(step, 1),
                "total": float(np.interp(seconds, times, totals)),
            }
        )
    rows.sort(key=lambda r: (not np.isfinite(r["total"]), r["total"]))
    return {"seconds": seconds, "rows": rows}


# Share of pixel values pinned at 0 or 1 above which a run counts as diverged.
PINNED = 0.5
RIVALS = ("Adagrad", "RMSprop")


def gradient_scale(config: Config) -> float:
    """Median |dL/dx| per pixel value of the study's objective at the content photo."""
    cfg = config.stylize
    load = lambda name: nst_image.load(nst_image.sample_or_path(name), max_size=cfg.size)
    content = load(config.content)
    styles = [load(name) for name in config.styles]
    net = stylize.network(cfg)
    params = backbones.load_params(
        cfg.backbone, cfg.weights, seed=cfg.weights_seed, cache_dir=cfg.cache_dir
    )
    targets = stylize.make_targets(cfg, net, params, content, styles)
    objective = stylize.make_objective(cfg, net)
    hyper = stylize.make_hyper(cfg)
    grad = jax.jit(jax.grad(lambda x: objective(x, params, targets, hyper)[0]))
    return float(np.median(np.abs(np.asarray(grad(jnp.asarray(content, jnp.float32))))))


def divergence(outcome: Outcome, grad_scale: float | None) -> str | None:
    """Why ``outcome`` counts as diverged, or None.

    Diverged: the final total loss is non-finite or above the first step's, or more than
    ``PINNED`` of the pixel values sit at 0 or 1 (the optimizer jumps to the box's faces).
    The reason compares the step with the gradient scale: SGD moves a pixel by
    lr * |dL/dx|; Adam, Adagrad and RMSprop by about lr whatever the gradient.
    """
    total = outcome.history.get("total", np.zeros(0))
    if not len(total):
        return None
    pinned = float(np.mean((outcome.image <= 0.5 / 255) | (outcome.image >= 1 - 0.5 / 255)))
    if not np.isfinite(total[-1]):
        what = "the loss became non-finite"
    elif total[-1] > total[0]:
        what = f"the loss rose from {total[0]:.3g} to {total[-1]:.3g}"
    elif pinned > PINNED:
        what = f"{100 * pinned:.0f}% of pixel values are pinned at 0 or 1"
    else:
        return None
    cfg = outcome.record.get("config", {})
    lr, name = cfg.get("lr"), cfg.get("optimizer")
    if grad_scale is None or lr is None:
        return what
    if name == "sgd":
        # In the seeds' units (the 0-255 image the Caffe network sees) the gradient per grey
        # level is |dL/dx| / 255, so the seeds' SGD at this lr would step lr |dL/dx| / 255
        # grey levels, and ours (lr on the [0, 1] image) stepped lr |dL/dx| x 255 of them.
        step = lr * grad_scale
        seeds = step / losses.PIXEL_SCALE
        why = (
            f"SGD step lr x |dL/dx| = {lr:g} x {grad_scale:.3g} = {step:.3g} per pixel value "
            f"(median at the content photo), against a pixel range of 1; in the seeds' units "
            f"(the 0-255 image) {step * losses.PIXEL_SCALE:.3g} grey levels, and SGD at lr "
            f"{lr:g} on the 0-255 image itself would step {seeds:.3g} grey levels, "
            f"{seeds / losses.PIXEL_SCALE:.3g} x the range"
        )
    elif name in ("adam", "adagrad", "rmsprop"):
        why = (
            f"{name} steps about lr = {lr:g} per pixel value per step whatever the gradient "
            f"(median |dL/dx| {grad_scale:.3g}); the loss landscape is rougher than that step"
        )
    else:
        why = f"median |dL/dx| {grad_scale:.3g} at the content photo"
    return f"{what}: {why}"


def _best(losses: dict[str, float], optimizer: str) -> tuple[str, float]:
    rows = [(k, v) for k, v in losses.items() if k.split(" ")[0] == optimizer and np.isfinite(v)]
    return min(rows, key=lambda kv: kv[1]) if rows else (optimizer, float("inf"))


def adam_claim(losses: dict[str, float], when: str, diverged: dict[str, str]) -> dict[str, Any]:
    """Adam's best loss below Adagrad's and RMSprop's best; margin (rival - Adam) / Adam."""
    adam_label, adam = _best(losses, "Adam")
    rivals = [_best(losses, name) for name in RIVALS]
    rival_label, rival = min(rivals, key=lambda kv: kv[1])
    margin = (rival - adam) / adam if np.isfinite(adam) and adam > 0 else float("nan")
    ranking = sorted(losses.items(), key=lambda kv: (not np.isfinite(kv[1]), kv[1]))
    return _common.claim(
        f"Adam reaches a lower total loss than Adagrad and RMSprop at equal {when}",
        f"total loss at equal {when}, each optimizer at its better learning rate; held when "
        f"Adam's is the lowest of the three; margin = (best rival - Adam) / Adam",
        {k: float(v) for k, v in ranking},
        bool(np.isfinite(margin) and margin > 0),
        margin,
        unit="relative",
        best={"Adam": adam_label, "rival": rival_label},
        diverged=sorted(diverged),
    )


def _study_claims(outcomes: list[Outcome], diverged: dict[str, str]) -> list[dict[str, Any]]:
    steps = {o.label: float(o.final.get("total", np.nan)) for o in outcomes}
    at_time = {r["label"]: r["total"] for r in equal_time(outcomes)["rows"]}
    return [adam_claim(steps, "steps", diverged), adam_claim(at_time, "wall time", diverged)]


def _figure(
    config: Config, outcomes: list[Outcome], load, diverged: dict[str, str]
) -> dict[str, Any]:
    layout = _common.row_figure(
        outcomes,
        _common.references(config, load),
        lambda o: f"{o.label}\n{'DIVERGED, ' * (o.label in diverged)}loss {o.final['total']:.3g}",
    )
    if diverged:
        layout["caption"] = "\n".join(f"DIVERGED {k}: {v}" for k, v in diverged.items())
    return layout


def _extra_files(workdir: str, outcomes: list[Outcome]) -> None:
    table = equal_time(outcomes)
    rows = [{"seconds": table["seconds"], **row} for row in table["rows"]]
    _common.write_csv(os.path.join(workdir, "equal_time.csv"), rows)


def run(config: Config, workdir: str, session: _common.Session | None = None) -> _common.Report:
    """Runs (or resumes) the study in ``workdir``; see ``_common.run_study``."""
    scale: Callable[[], float] = functools.cache(lambda: gradient_scale(config))
    found: dict[str, dict[str, str]] = {}

    def diverged(outcomes: list[Outcome]) -> dict[str, str]:
        """The diverged settings and why (found and logged once)."""
        if "diverged" not in found:
            reasons = {o.label: divergence(o, scale()) for o in outcomes}
            found["diverged"] = {k: v for k, v in reasons.items() if v is not None}
            for label, reason in found["diverged"].items():
                logging.warning("%s: %s DIVERGED: %s", NAME, label, reason)
        return found["diverged"]

    return _common.run_study(
        NAME,
        config,
        settings(config),
        workdir,
        figure=lambda c, outs, load: _figure(c, outs, load, diverged(outs)),
        claims=lambda c, outs, load: _study_claims(outs, diverged(outs)),
        extra_metrics=lambda outs: {
            "equal_time": equal_time(outs),
            "gradient_scale": scale(),
            "diverged": diverged(outs),
        },
        extra_files=_extra_files,
        session=session,
    )
