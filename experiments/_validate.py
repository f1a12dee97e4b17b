"""Checks of a ``StylizeConfig`` before any work starts (ValueError naming the field).

Until ``StylizeConfig`` validates itself (issue 18, the library side), this is the one
place experiments check a config: ``validate`` is called from ``_table.configs`` and the
runners, so the switch is one line.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from nst import backbones, optimizers
from nst.config import STYLE_STATS, StylizeConfig


def validate(config: StylizeConfig) -> None:
    """Checks a config before any work starts (ValueError naming the bad field)."""
    checks = {
        "optimizer": (config.optimizer, optimizers.NAMES),
        "backbone": (config.backbone, tuple(backbones.BACKBONES)),
        "pooling": (config.pooling, ("max", "avg")),
        "style_norm": (config.style_norm, ("gatys", "johnson")),
        "style_stat": (config.style_stat, STYLE_STATS),
        "content_norm": (config.content_norm, ("gatys", "mean")),
        "distance": (config.distance, ("squared", "abs", "huber", "smooth_l1")),
        "tv_kind": (config.tv_kind, ("l1", "l2", "beta")),
        "preserve_color": (config.preserve_color, ("none", "luminance", "histogram")),
        "loop": (config.loop, ("auto", "python", "scan")),
        "sweep_form": (config.sweep_form, ("auto", "vmap", "each")),
    }
    for name, (value, valid) in checks.items():
        if value not in valid:
            raise ValueError(f"--{name}={value!r} is not one of {', '.join(valid)}")
    check_numbers(config)
    if not 0.0 <= config.ema_decay < 1.0:
        raise ValueError(f"--ema_decay must be in [0, 1), got {config.ema_decay}")
    if config.ema_decay and config.optimizer in ("lbfgs", "lbfgs_scipy"):
        raise ValueError("--ema_decay needs a first-order optimizer or lbfgs_optax")
    if config.style_scale is not None and not config.style_scale > 0:
        raise ValueError(f"--style_scale must be > 0, got {config.style_scale}")
    if config.init not in ("content", "noise", "uniform", "style") and not os.path.isfile(
        config.init
    ):
        raise ValueError(f"--init={config.init!r}: not content|noise|uniform|style nor a file")
    valid_layers = set(backbones.layer_names(config.backbone))
    for kind, names in zip(("content_layers", "style_layers"), resolved_layers(config)):
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(
                f"--{kind} names {', '.join(repeated)} more than once; give each layer once "
                "(with the summed weight)"
            )
        unknown = [n for n in names if n not in valid_layers]
        if unknown:
            raise ValueError(
                f"{kind} {unknown} are not layers of {config.backbone}; valid: "
                + ", ".join(backbones.layer_names(config.backbone))
            )


# Numeric fields: (lower bound, lower bound allowed, upper bound or None). Every one must also
# be finite: an inf or NaN weight or learning rate can only produce a saturated or black image.
_RANGES = {
    "size": (16, True, None),
    "steps": (1, True, None),
    "lr": (0.0, False, None),
    "content_weight": (0.0, True, None),
    "style_weight": (0.0, True, None),
    "tv_weight": (0.0, True, None),
    "tv_beta": (0.0, False, None),
    "photo_weight": (0.0, True, None),
    "photo_eps": (0.0, False, None),
    "temporal_weight": (0.0, True, None),
    "delta": (0.0, False, None),
    "snapshot_every": (0, True, None),
    "scan_chunk": (1, True, None),
}


def check_number(name: str, value: Any, low: float, inclusive: bool = True, high=None) -> None:
    """ValueError naming ``--name`` unless ``value`` is a finite number in range."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"--{name} must be a number, got {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"--{name} must be a finite number, got {value}")
    if value < low or (value == low and not inclusive):
        raise ValueError(f"--{name} must be {'>=' if inclusive else '>'} {low:g}, got {value:g}")
    if high is not None and value > high:
        raise ValueError(f"--{name} must be <= {high:g}, got {value:g}")


def check_numbers(config: StylizeConfig) -> None:
    """Every numeric field of ``config`` finite and in range (ValueError naming the flag)."""
    for name, (low, inclusive, high) in _RANGES.items():
        check_number(name, getattr(config, name), low, inclusive, high)
    for kind in ("content_layers", "style_layers"):
        for layer, weight in getattr(config, kind) or ():
            if isinstance(layer, str):
                check_number(f"{kind} weight of {layer}", weight, 0.0)
    for w in config.style_blend:
        check_number("style_blend", w, 0.0)


def resolved_layers(config: StylizeConfig) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The content and style layer names of ``config`` (the backbone's defaults for None)."""
    defaults = backbones.DEFAULT_LAYERS[config.backbone]
    content = defaults["content"] if config.content_layers is None else config.content_layers
    style = defaults["style"] if config.style_layers is None else config.style_layers
    names = lambda table: tuple(t if isinstance(t, str) else t[0] for t in table)
    return names(content), names(style)
