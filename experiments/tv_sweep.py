"""Total-variation weight 0, 10, 100, with each output's log amplitude spectrum beneath it.

    python run.py --experiment=tv_sweep --quick --weights=random

Style transfer from the content photo with the seed's losses and weights (VGG19, content
conv4_2, style conv1_1..conv5_1 at 0.2 each; the means of the PyTorch tutorial and of the
neural-style code the papers build on: ``content_norm="mean"``, ``style_norm="mean"``;
content weight alpha 1, style weight beta 1e3, Adam 1e-2, 1000 steps) plus an L1
total-variation penalty (``nst.losses.total_variation``, summed over pixels) of weight 0, 10
or 100, the seed's numbers as written: the engine evaluates TV on the 0-255 image
(``nst.losses``, Units), where the seed's weights take 2.5% and 20% of the gradient on the
real VGG19 (64 px, ``tests/units_test.py``; on the [0, 1] image 0.01% and 0.1%, with the Gatys
sums ~1e-7: no visible change). Under every image its log amplitude spectrum: log(1 +
|FFT2|) of the luminance, centred (low frequencies in the middle), on one scale for the
whole row, under a Hann window (so that the jump between opposite borders adds no bright
cross). TV removes the high frequencies (the corners). ``metrics.json`` adds each output's
fraction of spectral energy above half the Nyquist frequency.

Tiers: full (above, 512 px); ``--tier=middle``: 160 px, L-BFGS to the stopping rule
(relative fall < 1e-3 over 10 iterations, at most 300); ``--quick``: 128 px, 100 steps.

Claim (seed 000): the share of spectral energy above 0.25 cycles/px (half the Nyquist
frequency; ``nst.measures.high_frequency_share`` of the Hann-windowed luminance) falls as
the TV weight rises. The figure shows that share under each image instead of the total loss (which
includes the TV term at a different weight in every panel).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from experiments import _common
from experiments._common import Config, Outcome, Setting
from nst import measures

NAME = "tv_sweep"

# The seed's TV weights gamma, as written (TV on the 0-255 image: nst.losses, Units).
TV_WEIGHTS = (0.0, 10.0, 100.0)


def get_config(quick: bool = False, tier: str | None = None) -> Config:
    # The middle tier runs the seed's objective to convergence (L-BFGS until the loss falls
    # by less than stop_tol over stop_window iterations; the steps are a cap): the claim is
    # about the objective's minimum, not about where 300 Adam steps stop.
    # snapshots: the verdicts are also computed half-way through the run (settled?)
    converged = dict(optimizer="lbfgs", stop_tol=1e-3, stop_window=10, snapshot_every=50)
    tiers = {"middle": dict(size=160, steps=300, **converged), "quick": dict(size=128, steps=100)}
    return _common.gatys(
        _common.tier_of(quick, tier),
        tiers,
        content_norm="mean",  # the seed's losses: means (the PyTorch tutorial's)
        style_norm="mean",
        content_weight=1.0,
        style_weight=1e3,
        tv_kind="l1",
        steps=1000,
    )


def settings(config: Config) -> tuple[Setting, ...]:
    del config
    return tuple(Setting(f"TV {_common.format_number(w)}", {"tv_weight": w}) for w in TV_WEIGHTS)


def log_spectra(images: list[np.ndarray]) -> list[np.ndarray]:
    """log(1 + |FFT2(luminance)|) under a Hann window (no bright cross from the jump
    between opposite borders), centred, scaled to [0, 1] by the largest value of all."""
    logs = [np.log1p(np.fft.fftshift(measures.luminance_spectrum(im))) for im in images]
    top = max(float(s.max()) for s in logs) or 1.0
    return [(s / top).astype(np.float32) for s in logs]


CUTOFF = 0.25  # cycles/px: half the Nyquist frequency


def high_frequency_fraction(image: np.ndarray) -> float:
    """Share of spectral energy (mean removed, Hann window) above half the Nyquist frequency."""
    return measures.high_frequency_share(image, cutoff=CUTOFF, window="hann")


def claims(config: Config, outcomes: list[Outcome], load) -> list[dict[str, Any]]:
    """The seed's claim: the high-frequency share falls as the TV weight rises; and a
    property (the term is not inert): the output's mean |gradient| falls with it."""
    del config, load
    labels = [o.label for o in outcomes]
    return [
        _common.trend_claim(
            "total variation removes high frequencies: the share of spectral energy above "
            f"{CUTOFF} cycles/px falls as the TV weight rises",
            f"share of the luminance's spectral energy (Hann window) above {CUTOFF} cycles/px",
            labels,
            [high_frequency_fraction(o.image) for o in outcomes],
            increasing=False,
            unit="of the energy",
        ),
        _common.trend_claim(
            "(a property: the term is not inert) the output's total variation falls as the "
            "TV weight rises",
            "mean absolute difference of neighbouring pixel values, all channels, 0-255 "
            "(nst.measures.mean_gradient)",
            labels,
            [255.0 * measures.mean_gradient(o.image) for o in outcomes],
            increasing=False,
            unit="/255",
        ),
    ]


def _figure(config: Config, outcomes: list[Outcome], load) -> dict[str, Any]:
    layout = _common.row_figure(
        outcomes,
        _common.references(config, load),
        lambda o: (
            f"{o.label}\nenergy > {CUTOFF} c/px: {100 * high_frequency_fraction(o.image):.2f}%"
        ),
    )
    images = layout["images"][0]
    layout["images"].append(log_spectra(images))
    layout["titles"].append(["log amplitude spectrum"] * len(images))
    return layout


def _extra_metrics(outcomes: list[Outcome]) -> dict[str, Any]:
    return {
        "high_frequency_fraction": {o.label: high_frequency_fraction(o.image) for o in outcomes}
    }


def run(config: Config, workdir: str, session: _common.Session | None = None) -> _common.Report:
    """Runs (or resumes) the study in ``workdir``; see ``_common.run_study``."""
    return _common.run_study(
        NAME,
        config,
        settings(config),
        workdir,
        figure=_figure,
        extra_metrics=_extra_metrics,
        claims=claims,
        session=session,
    )
