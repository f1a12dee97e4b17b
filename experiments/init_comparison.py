"""Initialization compared: white noise vs the content photo, at equal steps.

    python run.py --experiment=init_comparison --quick --weights=random

Gatys et al. style transfer (VGG19, content conv4_2, style conv1_1..conv5_1; content weight 1,
style weight 1e5, Adam 1e-2, 2000 steps) started from white noise (N(0, 1) in the
backbone's normalized input space) or from the content photo. The initialization is not a
number, so each is its own program; both run the same number of steps.

Tiers: full (above, 512 px); ``--tier=middle``: 160 px, 300 steps; ``--quick``: 128 px,
100 steps.

Claim (seed 004): starting from the content photo reduces convergence time. Checked by the
steps and the seconds (compilation excluded) each init needs to reach a stated loss: 1.1x
the higher of the two final total losses (the lowest level both runs reach). Held when the
content init gets there in fewer steps; margin = noise steps / content steps - 1. Both runs
minimize the same objective, so their losses compare.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from experiments import _common
from experiments._common import Config, Outcome, Setting

NAME = "init_comparison"

# (label, StylizeConfig.init)
INITS = (("white noise", "noise"), ("content photo", "content"))


def get_config(quick: bool = False, tier: str | None = None) -> Config:
    """``GATYS``; the rows set the start (seed 0 of the noise)."""
    tiers = {"middle": dict(size=160, steps=300), "quick": dict(size=128, steps=100)}
    return _common.gatys(_common.tier_of(quick, tier), tiers, seed=0)


def settings(config: Config) -> tuple[Setting, ...]:
    del config
    return tuple(Setting(label, {"init": init}) for label, init in INITS)


# The stated loss: this factor times the higher of the runs' final total losses.
TARGET_FACTOR = 1.1


def time_to_reach(total: np.ndarray, times: np.ndarray, target: float) -> tuple[int, float]:
    """The first step (1-based) whose total loss is <= ``target``, and its wall seconds;
    ``(0, inf)`` when never."""
    reached = np.nonzero(np.asarray(total) <= target)[0]
    if not len(reached):
        return 0, float("inf")
    return int(reached[0]) + 1, float(times[reached[0]])


def claims(config: Config, outcomes: list[Outcome], load) -> list[dict[str, Any]]:
    """The content init reaches the stated loss in fewer steps than the noise init."""
    del config, load
    target = TARGET_FACTOR * max(float(o.final["total"]) for o in outcomes)
    reach = {
        o.label: time_to_reach(o.history["total"], o.history["time"], target) for o in outcomes
    }
    (noise_steps, _), (content_steps, _) = reach["white noise"], reach["content photo"]
    margin = noise_steps / content_steps - 1 if content_steps else float("nan")
    return [
        _common.claim(
            "starting from the content photo reduces convergence time",
            f"steps (and seconds) each init needs to reach a total loss of {target:.4g} "
            f"({TARGET_FACTOR}x the higher final loss); held when the content init needs "
            "fewer steps; margin = noise steps / content steps - 1",
            {k: {"steps": s, "seconds": t} for k, (s, t) in reach.items()},
            bool(content_steps and noise_steps > content_steps),
            margin,
            unit="relative",
            target=target,
        )
    ]


def run(config: Config, workdir: str, session: _common.Session | None = None) -> _common.Report:
    """Runs (or resumes) the study in ``workdir``; see ``_common.run_study``."""
    return _common.run_study(
        NAME, config, settings(config), workdir, claims=claims, session=session
    )
