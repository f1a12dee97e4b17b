"""Frozen, hashable configs: safe as jit static arguments, overridden with ``replace``."""

import dataclasses
from typing import Any

__all__ = ["STYLE_STATS", "SWEEPABLE", "StylizeConfig", "replace"]

# The style statistics of StylizeConfig.style_stat.
STYLE_STATS = ("gram", "mean_gram", "mean_cov_w2", "mrf")

_VGG_STYLE = tuple((f"conv{b}_1", 0.2) for b in range(1, 6))


@dataclasses.dataclass(frozen=True)
class StylizeConfig:
    """Every knob of Gatys et al. image optimization.

    Layer tables are tuples of ``(layer name, weight)`` pairs so the config stays hashable.
    Fields listed in ``SWEEPABLE`` are numbers the compiled step takes as data: configs that
    differ only in those run as one vmapped program (``nst.stylize.sweep``).
    """

    # Backbone (nst.backbones): name, weights ("imagenet" | "random" | path), VGG pooling.
    backbone: str = "vgg19"
    weights: str = "imagenet"
    weights_seed: int = 0  # seed of weights="random"
    pooling: str = "max"  # "max" | "avg" (Gatys et al. prefer avg)
    cache_dir: str | None = None  # weights download cache (None: $NST_CACHE_DIR or ~/.cache/nst)
    # Layers and their weights; None picks the backbone's defaults (VGG: conv4_2 / conv1_1..5_1).
    content_layers: tuple[tuple[str, float], ...] | None = (("conv4_2", 1.0),)
    style_layers: tuple[tuple[str, float], ...] | None = _VGG_STYLE
    # Loss weights: alpha * content + beta * style + tv_weight * TV + photo_weight * L_m.
    content_weight: float = 1.0
    style_weight: float = 1e5
    tv_weight: float = 0.0
    tv_kind: str = "l1"  # "l1" | "l2" | "beta"
    tv_beta: float = 2.0
    photo_weight: float = 0.0  # matting-Laplacian photorealism (Luan et al. 2017)
    photo_eps: float = 1e-7
    temporal_weight: float = 0.0  # video: weight of losses.temporal_loss (Ruder et al. 2016)
    # Loss forms (nst.losses): style normalization "gatys" | "johnson"; content "gatys" | "mean";
    # feature distance "squared" | "abs" | "huber" | "smooth_l1" with its delta.
    style_norm: str = "gatys"
    # Style statistic (nst.losses): "gram" (Gatys) | "mean_gram" (Gram + feature means) |
    # "mean_cov_w2" (Wasserstein-2 between Gaussians: means and covariances, Crowson's
    # style-transfer-pytorch) | "mrf" (Li & Wand 2016 3x3 patch matching; use it on mid-level
    # layers such as conv3_1, conv4_1: every generated patch is compared with every style patch).
    style_stat: str = "gram"
    # mean_gram: weight of the mean term (losses.style_mean_loss) against the Gram term. The
    # Gram term is 4th order in the features, the mean term 2nd: with ImageNet VGG19 features
    # the mean term at weight 1 is ~1e-6 of the Gram term (docs/peer_features.md).
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
    # | "uniform" (U(0,1) pixels) | "style" | a path to an image.
    init: str = "content"
    # Optimizer (nst.optimizers): adam | adagrad | rmsprop | sgd | lbfgs | lbfgs_scipy | auto-lbfgs.
    optimizer: str = "adam"
    lr: float = 1e-2
    steps: int = 500
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


def replace(config: StylizeConfig, **overrides: Any) -> StylizeConfig:
    """``dataclasses.replace`` with a clear error for unknown field names."""
    names = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"unknown config field(s) {unknown}; valid: {sorted(names)}")
    return dataclasses.replace(config, **overrides)
