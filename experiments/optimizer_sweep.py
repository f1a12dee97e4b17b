"""Optimizers compared: Adagrad, Adam, RMSprop, SGD at two learning rates, and L-BFGS.

    python run.py --experiment=optimizer_sweep --quick --weights=random

Gatys et al. style transfer from the content photo (VGG19, content conv4_2, style
conv1_1..conv5_1; content weight 1, style weight 1e5; 2000 steps) with Adagrad, Adam,
RMSprop and SGD at learning rates 1e-2 and 1e-3, and L-BFGS (whose line search picks the
step). Every setting runs on its own, not vmapped with another, so wall times compare.

Besides the common outputs (``experiments/_common.py``), ``equal_time.csv`` (also in
``metrics.json``) lists the loss each optimizer reached at the same wall-clock time: the
shortest run's total time, read off every loss-vs-time curve.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from experiments import _common
from experiments._common import Config, Outcome, Setting
from nst.config import StylizeConfig

NAME = "optimizer_sweep"

# (label, optimizer name in nst.optimizers): the first-order ones run at every rate below.
FIRST_ORDER = (("Adagrad", "adagrad"), ("Adam", "adam"), ("RMSprop", "rmsprop"), ("SGD", "sgd"))
LEARNING_RATES = (1e-2, 1e-3)


def get_config(quick: bool = False) -> Config:
    config = Config(
        stylize=StylizeConfig(
            content_layers=None,  # the backbone's defaults: VGG19 conv4_2 ...
            style_layers=None,  # ... and conv1_1..conv5_1 at 1/5 each
            init="content",  # start from the content photo
            content_weight=1.0,  # alpha
            style_weight=1e5,  # beta
            steps=2000,
            size=512,  # longest side, px
        ),
        content="tubingen",
        styles=("starry_night",),
    )
    if quick:
        config = _common.shrink(config, size=96, steps=60)
    return config


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


def _extra_metrics(outcomes: list[Outcome]) -> dict[str, Any]:
    return {"equal_time": equal_time(outcomes)}


def _extra_files(workdir: str, outcomes: list[Outcome]) -> None:
    table = equal_time(outcomes)
    rows = [{"seconds": table["seconds"], **row} for row in table["rows"]]
    _common.write_csv(os.path.join(workdir, "equal_time.csv"), rows)


def run(config: Config, workdir: str, **kwargs: Any) -> _common.Report:
    """Runs (or resumes) the study in ``workdir``; see ``_common.run_study``."""
    return _common.run_study(
        NAME,
        config,
        settings(config),
        workdir,
        extra_metrics=_extra_metrics,
        extra_files=_extra_files,
        **kwargs,
    )


def main(flag_values) -> _common.Report:
    return _common.main(sys.modules[__name__], flag_values)
