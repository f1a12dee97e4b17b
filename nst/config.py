"""Frozen, hashable configs: safe as jit static arguments, overridden with ``replace``.

``StylizeConfig`` checks itself when constructed (``validate``: every error names the field,
``StylizeConfig.<field>``). Its layer tables default to ``None``, the backbone's defaults,
resolved in one place (``content_layers`` / ``style_layers``). ``split`` is the one rule for
which fields change the compiled program and which are numbers it takes as data: the engine
keys its compiled programs with ``program_key``, a sweep's settings must share ``split``'s
key, and experiments group their settings by it.
"""

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nst import backbones, optimizers, style_stats

__all__ = [
    "HOST_FIELDS",
    "SWEEPABLE",
    "StylizeConfig",
    "content_layers",
    "program_key",
    "replace",
    "split",
    "style_layers",
    "validate",
]


@dataclasses.dataclass(frozen=True)
class StylizeConfig:
    """Every knob of Gatys et al. image optimization, checked when constructed.

    Layer tables are tuples of ``(layer name, weight)`` pairs so the config stays hashable
    (lists and mappings are converted). ``None`` tables stay ``None`` and mean the backbone's
    defaults, resolved by ``content_layers(config)`` / ``style_layers(config)``, so
    ``StylizeConfig(backbone="resnet50")`` and ``replace(StylizeConfig(), backbone=...)`` are
    valid. Fields listed in ``SWEEPABLE`` are numbers the compiled step takes as data:
    configs that differ only in those run as one vmapped program (``nst.stylize.sweep``;
    ``split`` says which part of a config is which).

    Raises:
      ValueError: a bad field, named as ``StylizeConfig.<field>`` with the value given.
    """

    # Backbone (nst.backbones): name, weights ("imagenet" | "random" | path), VGG pooling.
    backbone: str = "vgg19"
    weights: str = "imagenet"
    weights_seed: int = 0  # seed of weights="random"
    pooling: str = "max"  # "max" | "avg" (Gatys et al. prefer avg)
    # VGG only: "gatys" rescales the weights so that every filter's mean activation over the
    # bundled images and positions is 1 (Gatys et al.'s normalized network; the same
    # function, other feature scales: it balances the Gram terms across layers); "none".
    network_norm: str = "none"
    cache_dir: str | None = None  # weights download cache (None: $NST_CACHE_DIR or ~/.cache/nst)
    # Layers and their weights; None picks the backbone's defaults with equal weights summing
    # to 1 (VGG: conv4_2 / conv1_1..5_1 at 0.2 each; nst.backbones.DEFAULT_LAYERS).
    content_layers: tuple[tuple[str, float], ...] | None = None
    style_layers: tuple[tuple[str, float], ...] | None = None
    # Loss weights: alpha * content + beta * style + tv_weight * TV + photo_weight * L_m.
    content_weight: float = 1.0
    style_weight: float = 1e5
    tv_weight: float = 0.0
    tv_kind: str = "l1"  # "l1" | "l2" | "beta"
    tv_beta: float = 2.0
    photo_weight: float = 0.0  # matting-Laplacian photorealism (Luan et al. 2017)
    photo_eps: float = 1e-7
    temporal_weight: float = 0.0  # video: weight of losses.temporal_loss (Ruder et al. 2016)
    # Loss forms (nst.losses): style normalization "gatys" | "johnson" | "mean" (neural-style's,
    # the papers' that build on it: nst.losses, Units); content "gatys" | "mean";
    # feature distance "squared" | "abs" | "huber" | "smooth_l1" with its delta.
    style_norm: str = "gatys"
    # Balance: "none" (the weights multiply the terms as the papers write them) | "relative"
    # (every content and style layer term divided by its value at zero features, i.e. by
    # its target's size: a relative error, so alpha and beta mean the same balance for any
    # pair of images) | "total" (the layers weighted as the papers' formula weighs them, each
    # whole content and style term divided by its value at zero features; nst/stylize/
    # _objective.py). Both for statistics whose registry entry has ``relative`` only (the
    # Gram ones: "gram", "mean_gram").
    balance: str = "none"
    # Style statistic, a name of nst.style_stats.STYLE_STATS: "gram" (Gatys) | "mean_gram"
    # (Gram + feature means) | "mean_cov_w2" (Wasserstein-2 between Gaussians: means and
    # covariances, Crowson's style-transfer-pytorch) | "mrf" (Li & Wand 2016 3x3 patch matching;
    # use it on mid-level layers such as conv3_1, conv4_1: every generated patch is compared
    # with every style patch) | any statistic added with nst.style_stats.register.
    style_stat: str = "gram"
    # mean_gram: weight of the mean term (losses.style_mean_loss) against the Gram term. The
    # Gram term is 4th order in the features, the mean term 2nd, so at weight 1 the mean term
    # is orders of magnitude smaller with ImageNet VGG19 features (docs/peer_features.md).
    style_mean_weight: float = 1.0
    content_norm: str = "gatys"
    distance: str = "squared"
    delta: float = 1.0
    # Multi-style blend weights (one per style image; empty means equal weights).
    style_blend: tuple[float, ...] = ()
    # Style image scale (jcjohnson's -style_scale): None uses the style images at the size they
    # come in; a number s resizes each so its longest side is s x the content's longest side.
    style_scale: float | None = None
    # Colour preservation (Gatys et al. 2017): "none" | "luminance" | "histogram".
    preserve_color: str = "none"
    # Initialization: "content" | "noise" (N(0,1) in the backbone's normalized input space)
    # | "uniform" (U(0,1) pixels) | "style" | a path to an image | "model:NAME" (a
    # feed-forward network's output for the content photo; NAME a shipped network or a
    # model path, nst.feedforward.infer.load; a conditional network's first style).
    init: str = "content"
    # Optimizer (nst.optimizers): adam | adagrad | rmsprop | sgd | lbfgs (per backend) |
    # lbfgs_host | lbfgs_scipy | lbfgs_optax.
    optimizer: str = "adam"
    # Curvature pairs kept by lbfgs_host and lbfgs_scipy (SciPy's maxcor); None: 50 for
    # lbfgs_host (a longer memory takes fewer iterations, and its two-loop recursion is small
    # next to an evaluation) and 10 for SciPy (whose Fortran bookkeeping per iteration grows
    # with the memory); the measurements: docs/benchmarks.md. optax keeps 10.
    lbfgs_memory: int | None = None
    # lbfgs_host's spectral preconditioner: the initial inverse Hessian gamma * P, P scaling
    # the image's spatial frequency f (cycles/px) by (1 + (f / lbfgs_cutoff)^2)^-alpha with
    # alpha = lbfgs_precondition (0: plain L-BFGS). The defaults come from a screen at 512 px
    # (docs/benchmarks.md, "The preconditioner"; the timing: benchmarks/time_to_image.py).
    lbfgs_precondition: float = 0.35
    lbfgs_cutoff: float = 0.01
    lr: float = 1e-2
    steps: int = 500  # at most; the stopping rule below may end the run sooner
    # Stopping rule: the run ends once the total loss fell by less than stop_tol (relative to
    # its current value) over the last stop_window steps. 0: run all ``steps``.
    stop_tol: float = 0.0
    stop_window: int = 10
    size: int = 512  # longest side of the working image, px
    seed: int = 0
    snapshot_every: int = 0  # keep the image every N steps (0: never)
    # Iterate averaging: 0 outputs the last iterate; d in (0, 1) outputs the bias-corrected
    # exponential moving average of the iterates, avg <- d avg + (1 - d) x (optax.ema), as
    # Crowson's style-transfer-pytorch does. Not with SciPy's L-BFGS-B.
    ema_decay: float = 0.0
    # Loop form: "auto" (by backend: python loop on CPU, scanned chunks on GPU) | "python" | "scan".
    loop: str = "auto"
    scan_chunk: int = 50
    # Sweep form: "auto" (by backend: "each" on CPU, "vmap" elsewhere) | "vmap" (the K settings
    # batched in one vmapped program) | "each" (one compiled single-setting program run for
    # each setting in turn, every step). Results are the same; only speed differs.
    sweep_form: str = "auto"

    def __post_init__(self) -> None:
        for name in ("content_layers", "style_layers"):
            object.__setattr__(self, name, _layer_table(name, getattr(self, name)))
        blend = self.style_blend
        if isinstance(blend, str) or not isinstance(blend, Sequence | np.ndarray):
            raise ValueError(f"StylizeConfig.style_blend must be a tuple of numbers, got {blend!r}")
        object.__setattr__(self, "style_blend", tuple(blend))
        validate(self)


# Numbers the compiled step takes as data (``nst.stylize.Hyper`` and the optimizer's
# injected learning rate; the seed draws the initial image): configs that differ only in
# these run as one program. The layer tables' weights are data too, their names are not.
SWEEPABLE = frozenset(
    {
        "content_weight",
        "style_weight",
        "tv_weight",
        "photo_weight",
        "temporal_weight",
        "lr",
        "seed",
        "content_layers",
        "style_layers",
    }
)

# Fields read on the host only (weights loading, targets, initial image, loop length,
# snapshots): they never change a compiled program.
HOST_FIELDS = frozenset(
    {
        "weights",
        "weights_seed",
        "cache_dir",
        "photo_eps",
        "style_blend",
        "preserve_color",
        "init",
        "steps",
        "size",
        "seed",
        "snapshot_every",
        "style_scale",
        "lbfgs_memory",
        "lbfgs_precondition",
        "lbfgs_cutoff",
        "stop_tol",
        "stop_window",
    }
)

# Fields with a fixed set of values.
_CHOICES = {
    "optimizer": optimizers.NAMES,
    "backbone": tuple(backbones.BACKBONES),
    "pooling": ("max", "avg"),
    "network_norm": ("none", "gatys"),
    "style_norm": ("gatys", "johnson", "mean"),
    "balance": ("none", "relative", "total"),
    "style_stat": style_stats.STYLE_STATS,  # read-only view: registered ones count too
    "content_norm": ("gatys", "mean"),
    "distance": ("squared", "abs", "huber", "smooth_l1"),
    "tv_kind": ("l1", "l2", "beta"),
    "preserve_color": ("none", "luminance", "histogram"),
    "loop": ("auto", "python", "scan"),
    "sweep_form": ("auto", "vmap", "each"),
}

# Numeric fields: (lower bound, lower bound allowed, upper bound (excluded) or None). Every one
# must also be finite: an inf or NaN weight or learning rate can only produce a saturated or
# black image.
_RANGES = {
    "size": (16, True, None),
    "steps": (1, True, None),
    "seed": (0, True, None),
    "weights_seed": (0, True, None),
    "lr": (0.0, False, None),
    "lbfgs_precondition": (0.0, True, 8.0),
    "lbfgs_cutoff": (0.0, False, None),
    "content_weight": (0.0, True, None),
    "style_weight": (0.0, True, None),
    "tv_weight": (0.0, True, None),
    "tv_beta": (0.0, False, None),
    "photo_weight": (0.0, True, None),
    "photo_eps": (0.0, False, None),
    "temporal_weight": (0.0, True, None),
    "style_mean_weight": (0.0, True, None),
    "delta": (0.0, False, None),
    "snapshot_every": (0, True, None),
    "stop_tol": (0.0, True, 1.0),
    "stop_window": (1, True, None),
    "scan_chunk": (1, True, None),
    "ema_decay": (0.0, True, 1.0),
}
_INTEGERS = (
    "size",
    "steps",
    "seed",
    "weights_seed",
    "snapshot_every",
    "scan_chunk",
    "stop_window",
)
_INITS = ("content", "noise", "uniform", "style")
MODEL_INIT = "model:"  # init="model:NAME": start at a feed-forward network's output


def _check_model_init(init: str) -> None:
    """``init="model:SOURCE"``: a bare name (a shipped network, looked up when the run loads
    it: ``nst.feedforward.zoo``) or the path of an existing model (nothing loaded here)."""
    source = init[len(MODEL_INIT) :]
    is_path = any(sep in source for sep in {os.sep, "/", os.altsep} - {None})
    if not source or ((is_path or source.endswith(".npz")) and not os.path.exists(source)):
        raise ValueError(
            f"StylizeConfig.init={init!r}: no model at {source!r} (model:NAME takes a shipped "
            "network's name or a model path)"
        )


def _layer_table(name: str, table: Any) -> tuple[tuple[str, float], ...] | None:
    """``table`` as a tuple of ``(layer, weight)`` pairs (from a sequence or a mapping)."""
    if table is None:
        return None
    if isinstance(table, Mapping):
        table = tuple(table.items())
    pairs = isinstance(table, Sequence) and not isinstance(table, str)
    pairs = pairs and all(
        isinstance(p, Sequence) and not isinstance(p, str) and len(p) == 2 for p in table
    )
    if not pairs or not all(isinstance(layer, str) for layer, _ in table):
        raise ValueError(
            f"StylizeConfig.{name} must be (layer name, weight) pairs such as "
            f"(('conv4_2', 1.0),), got {table!r}"
        )
    return tuple((layer, weight) for layer, weight in table)


def _check_number(name: str, value: Any, low: float, inclusive: bool, high: float | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"StylizeConfig.{name} must be a number, got {value!r}")
    bound = f"in [{low:g}, {high:g})" if high else f"{'>=' if inclusive else '>'} {low:g}"
    if not math.isfinite(value) or value < low or (value == low and not inclusive):
        raise ValueError(f"StylizeConfig.{name} must be finite and {bound}, got {value!r}")
    if high is not None and value >= high:
        raise ValueError(f"StylizeConfig.{name} must be finite and {bound}, got {value!r}")


def validate(config: StylizeConfig) -> None:
    """Checks every field of ``config``; ``StylizeConfig`` calls it when constructed.

    Raises:
      ValueError: naming the field (``StylizeConfig.lr must be finite and > 0, got nan``).
    """
    for name, valid in _CHOICES.items():
        value = getattr(config, name)
        if value not in valid:
            raise ValueError(
                f"StylizeConfig.{name} must be one of {', '.join(valid)}; got {value!r}"
            )
    for name, (low, inclusive, high) in _RANGES.items():
        _check_number(name, getattr(config, name), low, inclusive, high)
    for name in _INTEGERS:
        if not isinstance(getattr(config, name), int | np.integer):
            raise ValueError(
                f"StylizeConfig.{name} must be an integer, got {getattr(config, name)!r}"
            )
    for weight in config.style_blend:
        _check_number("style_blend", weight, 0.0, True, None)
    if config.lbfgs_memory is not None:
        if not isinstance(config.lbfgs_memory, int | np.integer):
            raise ValueError(
                f"StylizeConfig.lbfgs_memory must be an integer, got {config.lbfgs_memory!r}"
            )
        _check_number("lbfgs_memory", config.lbfgs_memory, 1, True, 1001)
    if config.style_scale is not None:
        _check_number("style_scale", config.style_scale, 0.0, False, None)
    if config.balance != "none" and not style_stats.get(config.style_stat).relative:
        raise ValueError(
            f"StylizeConfig.balance={config.balance!r} divides Gram terms by their target's size; "
            f"style_stat={config.style_stat!r} has no such target (use balance='none')"
        )
    if config.ema_decay and config.optimizer in ("lbfgs", *optimizers.HOST_DRIVEN):
        raise ValueError(
            f"StylizeConfig.ema_decay needs a first-order optimizer or lbfgs_optax, "
            f"not optimizer={config.optimizer!r}"
        )
    if config.network_norm != "none" and not config.backbone.startswith("vgg"):
        raise ValueError(
            f"StylizeConfig.network_norm={config.network_norm!r} is for VGG backbones, "
            f"not backbone={config.backbone!r}"
        )
    if isinstance(config.init, str) and config.init.startswith(MODEL_INIT):
        _check_model_init(config.init)
    elif not isinstance(config.init, str) or (
        config.init not in _INITS and not os.path.isfile(config.init)
    ):
        raise ValueError(
            f"StylizeConfig.init must be one of {', '.join(_INITS)}, an image file or "
            f"{MODEL_INIT}NAME, got {config.init!r}"
        )
    valid_layers = backbones.layer_names(config.backbone)
    for kind, table in (
        ("content_layers", content_layers(config)),
        ("style_layers", style_layers(config)),
    ):
        names = [layer for layer, _ in table]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(
                f"StylizeConfig.{kind} names {', '.join(repeated)} more than once; give each "
                "layer once (with the summed weight)"
            )
        unknown = [n for n in names if n not in valid_layers]
        if unknown:
            raise ValueError(
                f"StylizeConfig.{kind} {unknown} are not layers of {config.backbone}; valid: "
                + ", ".join(valid_layers)
            )
        for layer, weight in table:
            _check_number(f"{kind} weight of {layer}", weight, 0.0, True, None)


def _defaults(config: StylizeConfig, kind: str) -> tuple[tuple[str, float], ...]:
    names = backbones.DEFAULT_LAYERS[config.backbone][kind]
    return tuple((name, 1.0 / len(names)) for name in names)


def content_layers(config: StylizeConfig) -> tuple[tuple[str, float], ...]:
    """``config.content_layers``, or the backbone's defaults (equal weights summing to 1)."""
    table = config.content_layers
    return _defaults(config, "content") if table is None else table


def style_layers(config: StylizeConfig) -> tuple[tuple[str, float], ...]:
    """``config.style_layers``, or the backbone's defaults (equal weights summing to 1)."""
    table = config.style_layers
    return _defaults(config, "style") if table is None else table


def without_unused_layers(config: StylizeConfig) -> StylizeConfig:
    """``config`` with the zero-weight layers left out of its layer tables.

    A zero-weight layer adds nothing to the loss or its gradient, but the backbone still
    runs up to it (``nst.stylize.network``: the deepest layer named). Settings of a sweep
    keep them, so that they share one program; a setting run alone (a host-driven
    optimizer, one setting per group) runs only up to its deepest weighted layer: the
    {conv1_1} texture set of ``texture_synthesis`` through one layer instead of to pool4.
    A table whose weights are all 0 is kept as it is.
    """
    tables = {}
    for kind, table in (
        ("content_layers", content_layers(config)),
        ("style_layers", style_layers(config)),
    ):
        used = tuple((name, weight) for name, weight in table if weight != 0)
        if used and len(used) < len(table):
            tables[kind] = used
    return dataclasses.replace(config, **tables) if tables else config


def split(config: StylizeConfig) -> tuple[StylizeConfig, dict[str, Any]]:
    """The one split of a config into what fixes its program and the numbers it takes as data.

    Returns:
      ``(key, data)``. ``key``: the config with every ``SWEEPABLE`` number reset to its
      default and the layer tables resolved (``content_layers(config)``) with their weights
      set to 0, so configs with equal keys differ only in data and can run as one sweep.
      ``data``: {field: value} of the ``SWEEPABLE`` numbers, with the layer tables as
      {layer: weight} dicts.
    """
    tables = {"content_layers": content_layers(config), "style_layers": style_layers(config)}
    data = {name: getattr(config, name) for name in sorted(SWEEPABLE) if name not in tables}
    data.update({name: dict(table) for name, table in tables.items()})
    default = _DEFAULT
    reset = {name: getattr(default, name) for name in SWEEPABLE if name not in tables}
    reset.update({name: tuple((n, 0.0) for n, _ in table) for name, table in tables.items()})
    return dataclasses.replace(config, **reset), data


def program_key(config: StylizeConfig) -> StylizeConfig:
    """``split(config)[0]`` with the host-side fields (``HOST_FIELDS``) reset too.

    Configs with equal program keys share every compiled program of the engine (for equal
    image shapes): steps, sizes, seeds and initializations included.
    """
    key, _ = split(config)
    return dataclasses.replace(key, **{name: getattr(_DEFAULT, name) for name in HOST_FIELDS})


def replace(config: Any, **overrides: Any) -> Any:
    """``dataclasses.replace`` with a clear error for unknown field names."""
    names = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"unknown config field(s) {unknown}; valid: {sorted(names)}")
    return dataclasses.replace(config, **overrides)


_DEFAULT = StylizeConfig()
