"""Frozen configs of the feed-forward networks and of their training.

``NetConfig`` describes a network completely: it is saved as JSON beside the weights, so a
checkpoint loads for inference without the flags it was trained with. ``TrainConfig`` holds
every training knob; ``get_config(quick=False)`` gives the defaults and a quick variant.
Both are frozen (hashable), so they are valid ``jax.jit`` static arguments.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from nst.config import replace

__all__ = [
    "ARCHS",
    "BALANCES",
    "NORMS",
    "UPSAMPLES",
    "NetConfig",
    "TrainConfig",
    "get_config",
    "replace",
]

ARCHS = ("johnson", "ulyanov")
NORMS = ("instance", "batch", "conditional")
UPSAMPLES = ("nearest", "transpose")
BALANCES = ("none", "relative")

_VGG_STYLE = tuple((f"conv{b}_1", 0.2) for b in range(1, 6))


def _check(value: str, name: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"{name} must be one of {', '.join(valid)}; got {value!r}")


# Integer fields of NetConfig and their ranges: generous for real networks, and a bound on
# what a model directory's net.json can ask the loader to build.
_INT_RANGES = {
    "width": (1, 1024),
    "num_residual": (0, 64),
    "scales": (1, 12),
    "noise_channels": (1, 256),
}
_MAX_STYLES = 4096


@dataclasses.dataclass(frozen=True)
class NetConfig:
    """One feed-forward network, everything needed to rebuild it.

    Attributes:
      arch: ``"johnson"`` (image transformation network, Johnson et al. 2016) or
        ``"ulyanov"`` (multi-scale texture network, Ulyanov et al. 2016).
      norm: ``"instance"`` (Ulyanov et al. 2017, the improved default), ``"batch"`` (the
        original papers) or ``"conditional"`` (Dumoulin et al. 2017: per-style gamma/beta).
      upsample: johnson only: ``"nearest"`` (nearest-neighbour x2 then a 3x3 conv) or
        ``"transpose"`` (fractionally strided 3x3 conv, the paper's choice).
      width: channels of the first layer; johnson uses width, 2 width, 4 width (paper: 32);
        ulyanov adds width channels per scale (paper: 8). Tests use tiny widths.
      num_residual: johnson: residual blocks (paper: 5).
      scales: ulyanov: K, the number of noise scales (paper: 5 or 6).
      noise_channels: ulyanov: channels of the noise at each scale.
      content_input: ulyanov: ``True`` feeds the content image, downsampled to each scale,
        beside the noise (style transfer); ``False`` synthesizes a texture from noise alone.
      styles: names of the styles the network renders. Conditional networks hold one
        gamma/beta row per name; other networks hold exactly one name.
    """

    arch: str = "johnson"
    norm: str = "instance"
    upsample: str = "nearest"
    width: int = 32
    num_residual: int = 5
    scales: int = 5
    noise_channels: int = 3
    content_input: bool = True
    styles: tuple[str, ...] = ("style",)

    def __post_init__(self):
        if isinstance(self.styles, str) or not isinstance(self.styles, list | tuple):
            raise ValueError(f"styles must be a list of names, got {self.styles!r}")
        object.__setattr__(self, "styles", tuple(self.styles))
        for name in ("arch", "norm", "upsample"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a string, got {getattr(self, name)!r}")
        _check(self.arch, "arch", ARCHS)
        _check(self.norm, "norm", NORMS)
        _check(self.upsample, "upsample", UPSAMPLES)
        if not isinstance(self.content_input, bool):
            raise ValueError(f"content_input must be true or false, got {self.content_input!r}")
        for name, (low, high) in _INT_RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, got {value!r}")
            if not low <= value <= high:
                raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
        if not self.styles:
            raise ValueError("styles must name at least one style")
        if len(self.styles) > _MAX_STYLES or not all(isinstance(n, str) for n in self.styles):
            raise ValueError(f"styles must be at most {_MAX_STYLES} names (strings)")
        if self.norm != "conditional" and len(self.styles) != 1:
            raise ValueError(
                f"norm={self.norm!r} renders one style; use norm='conditional' for "
                f"{len(self.styles)} styles"
            )

    @property
    def num_styles(self) -> int:
        return len(self.styles)

    @property
    def divisor(self) -> int:
        """Input sides are padded to a multiple of this inside the network."""
        return 4 if self.arch == "johnson" else 2 ** (self.scales - 1)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> NetConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown network config field(s) {unknown}; valid: {sorted(names)}")
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every knob of perceptual-loss training (Johnson et al. 2016), with the paper's defaults.

    The loss is ``content_weight * L_c + style_weight * L_s + tv_weight * TV`` averaged over
    the batch, with Johnson's normalizations: ``L_c`` the mean squared feature difference
    (``content_loss(norm="mean")``), ``L_s`` the squared Frobenius distance of Grams divided
    by ``C H W`` (``style_loss(norm="johnson")``), TV the mean squared neighbour difference.
    """

    net: NetConfig = NetConfig()
    # Loss network (nst.backbones) and its layers: (name, weight) pairs.
    backbone: str = "vgg19"
    weights: str = "imagenet"  # "imagenet" | "random" | path
    weights_seed: int = 0
    cache_dir: str | None = None
    content_layers: tuple[tuple[str, float], ...] = (("conv4_2", 1.0),)
    style_layers: tuple[tuple[str, float], ...] = _VGG_STYLE
    # "none": Johnson's terms as written; "relative": each content and style layer term divided
    # by its value at zero features (the photo's feature energy, the target Gram's squared
    # norm), as the single-image default (nst.config.StylizeConfig.balance): weights then mean
    # the same balance for every style, which a network holding several styles needs.
    balance: str = "none"
    # Loss weights lambda_c, lambda_s, lambda_tv.
    content_weight: float = 2.0
    style_weight: float = 40.0
    tv_weight: float = 200.0
    # Optimization.
    lr: float = 1e-3  # Adam
    # Steps over which the style weight grows linearly from 0 to style_weight (0: none): a
    # network first learns to keep the photo. Without it, a style weight that the
    # optimization from the photo handles well (relative balance, 10) lets a network from
    # random init settle on the texture alone (content error ~1 after 400 steps).
    style_warmup: int = 0
    batch_size: int = 8  # global batch, split over the local devices
    crop_size: int = 256  # square random crops of the training photos, px
    style_size: int = 512  # longest side of the style image(s) for the target Grams, px
    # Augmentation: each photo's shorter side is first scaled to a uniform draw in
    # [crop_size, max_scale * crop_size] (never above its own; 1: crops at full resolution),
    # then cropped at random and, with ``flip``, mirrored left-right half the time.
    max_scale: float = 1.0
    flip: bool = False
    epochs: float = 2.0  # passes over the training folder (texture training: see steps)
    steps: int = 0  # > 0 overrides epochs
    seed: int = 0
    # Bookkeeping.
    checkpoint_every: int = 1000  # steps between checkpoints (and one at the end/interrupt)
    preview_every: int = 500  # steps between previews of a fixed photo (0: never)
    log_every: int = 50  # steps between log lines
    keep_checkpoints: int = 3
    prefetch: int = 4  # batches prepared ahead by the loader threads
    loader_threads: int = 2

    def __post_init__(self):
        if self.style_warmup < 0:
            raise ValueError(f"style_warmup must be >= 0, got {self.style_warmup}")
        for name in ("batch_size", "crop_size", "style_size", "keep_checkpoints", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr", "epochs", "content_weight", "style_weight", "tv_weight"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number, got {getattr(self, name)}")
        _check(self.balance, "balance", BALANCES)
        if not self.max_scale >= 1.0:
            raise ValueError(f"max_scale must be >= 1, got {self.max_scale}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.epochs <= 0 and self.steps <= 0:
            raise ValueError("epochs or steps must be > 0")
        if min(self.content_weight, self.style_weight, self.tv_weight) < 0:
            raise ValueError("loss weights must be >= 0")
        if self.crop_size % self.net.divisor:
            raise ValueError(
                f"crop_size {self.crop_size} must be a multiple of {self.net.divisor} "
                f"for arch={self.net.arch!r}"
            )


def get_config(quick: bool = False) -> TrainConfig:
    """The paper defaults, or (``quick``) a run of a few minutes on a CPU."""
    config = TrainConfig()
    if quick:
        config = replace(
            config,
            net=dataclasses.replace(config.net, width=8, num_residual=2),
            batch_size=2,
            crop_size=64,
            style_size=128,
            steps=20,
            checkpoint_every=10,
            preview_every=10,
            log_every=5,
        )
    return config
