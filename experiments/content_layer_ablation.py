"""Content reconstruction from white noise at each of conv1_1 ... conv5_1 (Gatys Fig. 1).

    python run.py --experiment=content_layer_ablation --quick --weights=random

The content photo is reconstructed from N(0, 1) noise (in the backbone's normalized input
space) by minimizing only the content loss at one layer: conv1_1, conv2_1, ..., conv5_1, or
conv1_2, ..., conv5_2 with ``--config.conv=2`` (conv{b}_1 is the convention of Gatys et
al.'s arXiv version, "A Neural Algorithm of Artistic Style", Fig. 1; conv{b}_2 that of their
CVPR 2016 paper, Fig. 1; the figure says which). L-BFGS until the loss falls by less than
1e-4 over 100 iterations (at most 1000), VGG19. Deeper layers keep the layout and lose the
exact pixels.

Tiers: full (above, 512 px); ``--tier=middle``: 256 px (conv5_1's receptive field fits),
at most 2000 iterations, stop at a fall < 1e-3 over 10; ``--quick``: 96 px, at most 100.

Claim (Gatys et al. 2016, Fig. 1): reconstructions are almost exact from the first layers
and lose detail, not the layout, with depth. Checked by the PSNR and the SSIM
(``nst.measures``) of each reconstruction against the content photo, which must fall at
every deeper layer, and by the layout similarity (``nst.measures.layout_similarity``: the
edge correlation of the two images under a blur of the longer side / 128), which must stay
at or above ``LAYOUT_BAR`` at every layer; the figure shows them instead of the loss (each
panel's loss is at another layer, so the losses do not compare across panels).

All five settings use the union of the layers with a one-hot weight, so they differ only in
numbers and run as one sweep program (on a GPU; on CPU each runs alone, its network only up
to its own layer).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from experiments import _common
from experiments._common import Outcome, Setting
from nst import measures

NAME = "content_layer_ablation"

# "Keeps the layout": halfway between the measure's known answers (the photo under fine
# strokes > 0.6; its 32 px blocks shuffled, or another photo, < 0.4; tests/measures_test.py).
LAYOUT_BAR = 0.5


@dataclasses.dataclass(frozen=True)
class Config(_common.Config):
    # Which convolution of each block: conv{b}_1 (Gatys et al.'s arXiv version, Fig. 1) or
    # conv{b}_2 (their CVPR 2016 version, Fig. 1).
    conv: int = 1


def get_config(quick: bool = False, tier: str | None = None) -> Config:
    # Converged runs, as Gatys et al. ran them: L-BFGS until the loss falls by less than
    # stop_tol over the last stop_window iterations (the steps are a cap).
    tiers = {
        # 256 px: conv5_1's receptive field (156 px) fits; at 128 px it did not, and conv5_1
        # lost the layout (layout similarity 0.30). 2000 iterations (Gatys et al.'s texture
        # code's count): conv5_1's was still rising at 1200, 0.343 (300) -> 0.429 (600) ->
        # 0.515 (1200) (2026-12-07).
        "middle": dict(size=256, steps=2000, stop_tol=1e-3, stop_window=10, snapshot_every=50),
        "quick": dict(size=96, steps=100, stop_tol=1e-3, stop_window=10),
    }
    return _common.gatys(
        _common.tier_of(quick, tier),
        tiers,
        cls=Config,
        styles=(),
        style_layers=(),  # content loss only
        style_weight=0.0,
        init="noise",  # N(0, 1) in the backbone's normalized input space
        # Gatys et al.'s network: VGG19 with every filter's mean activation 1 (the same
        # function; it balances the layers' Gram terms) and average pooling.
        network_norm="gatys",
        pooling="avg",
        optimizer="lbfgs",  # lbfgs_host on CPU (one setting at a time), optax's on GPU
        steps=1000,  # a cap: the stopping rule ends a converged run
        stop_tol=1e-4,  # relative fall of the loss over the last stop_window iterations
        stop_window=100,
        snapshot_every=100,  # the verdicts are also computed half-way (settled?)
    )


def layers(config: Config) -> tuple[str, ...]:
    if config.conv not in (1, 2):
        raise ValueError(f"--config.conv must be 1 or 2, got {config.conv}")
    return tuple(f"conv{b}_{config.conv}" for b in range(1, 6))


def settings(config: Config) -> tuple[Setting, ...]:
    union = layers(config)
    return tuple(
        Setting(name, {"content_layers": _common.subset_weights(union, [name])}) for name in union
    )


def fidelity(outcomes: list[Outcome], photo) -> dict[str, dict[str, float]]:
    """``{"psnr_db": {label: dB}, "ssim": {label: SSIM}, "layout": {label: r}}`` of each
    image against ``photo``."""
    return {
        "psnr_db": {o.label: measures.psnr(o.image, photo) for o in outcomes},
        "ssim": {o.label: measures.ssim(o.image, photo) for o in outcomes},
        "layout": {o.label: measures.layout_similarity(photo, o.image) for o in outcomes},
    }


def claims(config: Config, outcomes: list[Outcome], load) -> list[dict[str, Any]]:
    """PSNR and SSIM against the content photo fall with depth (one claim each); the layout
    similarity stays at or above ``LAYOUT_BAR`` at every layer."""
    values = fidelity(outcomes, load(config.content))
    labels = [o.label for o in outcomes]
    text = "reconstructions from noise lose detail with depth: {} against the photo falls"
    return [
        _common.trend_claim(
            text.format("PSNR"),
            "PSNR (dB) of each reconstruction against the content photo",
            labels,
            [values["psnr_db"][k] for k in labels],
            increasing=False,
            unit="dB",
        ),
        _common.trend_claim(
            text.format("SSIM"),
            "SSIM (7 px window, luminance) of each reconstruction against the content photo",
            labels,
            [values["ssim"][k] for k in labels],
            increasing=False,
            unit="SSIM",
        ),
        _common.bound_claim(
            "reconstructions from noise keep the photo's layout at every depth",
            "layout similarity (nst.measures.layout_similarity: edge correlation under a "
            "Gaussian blur of the longer side / 128) of each reconstruction to the content "
            "photo (known answers: the photo's blocks shuffled < 0.4, fine strokes over it "
            "> 0.6)",
            labels,
            [values["layout"][k] for k in labels],
            bar=LAYOUT_BAR,
        ),
    ]


def _figure(config: Config, outcomes: list[Outcome], load) -> dict[str, Any]:
    photo = load(config.content)
    values = fidelity(outcomes, photo)
    layout = _common.row_figure(outcomes, [("content photo", photo)])
    layout["titles"][0][1:] = [
        f"{o.label}\nPSNR {values['psnr_db'][o.label]:.1f} dB, SSIM {values['ssim'][o.label]:.2f}"
        f"\nlayout {values['layout'][o.label]:.2f}"
        for o in outcomes
    ]
    source = {1: "Gatys et al.'s arXiv version", 2: "their CVPR 2016 paper"}[config.conv]
    layout["caption"] = f"layers conv{{b}}_{config.conv}: the convention of {source}, Fig. 1"
    return layout


def run(config: Config, workdir: str, session: _common.Session | None = None) -> _common.Report:
    """Runs (or resumes) the study in ``workdir``; see ``_common.run_study``."""
    return _common.run_study(
        NAME, config, settings(config), workdir, figure=_figure, claims=claims, session=session
    )
