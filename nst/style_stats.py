"""Style statistics by name: one ``StyleStat`` per ``StylizeConfig.style_stat``, both halves.

Each entry holds what the engine needs of its statistic: the targets made once from the
style images' features (``per_style`` inside the forward pass of each style image,
``combine`` over the style images), the loss of one style layer against them, and what the
statistic supports (``balance="relative"``, style masks, ``nst.highres``). The engine
(``nst.stylize``), ``nst.config`` (the valid names and the options each needs) and
``nst.highres`` all read this one table, so adding a statistic is one ``register`` call.

Conventions: ``F`` is one image's features at one layer, ``[h, w, c]``. Every statistic is
given the blended target Gram of its layer (``nst.stylize.Targets.grams``, made for every
statistic) and its own targets at that layer, ``{statistic: target}`` from ``combine``
(None for a statistic without ``combine``). Loss options (``style_norm``, ``distance``,
``delta``, ``balance``, ``style_mean_weight``) come from the ``StylizeConfig``.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from nst import losses


class StylizeConfig(Protocol):
    """The fields of ``nst.config.StylizeConfig`` a statistic reads (a structural type, so
    this module does not import the config module, which imports it)."""

    style_norm: str
    distance: str
    delta: float
    balance: str
    style_mean_weight: float


__all__ = ["BUILTIN", "STYLE_STATS", "W2_EPS", "StyleStat", "get", "register", "unregister"]

# Similarity entries (generated patches x style patches) above which an MRF layer is refused:
# 2^28 float32 numbers are 1 GiB per step.
_MRF_LIMIT = 2**28
W2_EPS = 1e-4  # eps of losses.wasserstein_style_loss in the engine

PerLayer = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class StyleStat:
    """One style statistic: its targets, its per-layer loss and what it supports.

    Attributes:
      name: the ``StylizeConfig.style_stat`` value.
      summary: what it is, in a few words (``--help`` lists it).
      loss: ``loss(F, gram, stats, config) -> []``, the style term of one layer: ``F``
        ``[h, w, c]`` the generated image's features, ``gram`` the layer's blended target
        Gram ``[c, c]``, ``stats`` ``{statistic: target}`` at this layer (None without
        ``combine``).
      per_style: ``per_style(F) -> pytree``, what one style image contributes at one layer
        (``F`` ``[h, w, c]``), computed inside its compiled forward pass; None: the
        statistic needs only the Gram targets.
      combine: ``combine(per_style, blend, shapes) -> {statistic: {layer: target}}``:
        ``per_style`` one ``{layer: per_style(F)}`` per style image, ``blend`` their weights
        (``[K]`` float32, summing to 1), ``shapes`` ``{layer: (h, w, c)}`` of the generated
        image's features. The result is ``nst.stylize.Targets.stats``. Required with
        ``per_style``.
      guided_loss: ``guided_loss(F, masks, grams, config) -> []`` with spatial control:
        ``masks`` ``[R, h, w]`` the regions at this layer, ``grams`` ``[R, c, c]`` their
        guided targets (``losses.guided_style_loss``); None: style masks are refused.
      relative: supports ``balance="relative"`` and ``"total"`` (its terms divided by their
        value at zero features, layer by layer or summed).
      highres: usable by ``nst.highres``, whose style targets are Grams made window by
        window and tile by tile (so not with ``combine``).
    """

    name: str
    summary: str
    loss: Callable[..., jax.Array] = dataclasses.field(repr=False)
    per_style: Callable[[jax.Array], Any] | None = dataclasses.field(default=None, repr=False)
    combine: Callable[..., dict[str, PerLayer]] | None = dataclasses.field(default=None, repr=False)
    guided_loss: Callable[..., jax.Array] | None = dataclasses.field(default=None, repr=False)
    relative: bool = False
    highres: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"StyleStat.name must be an identifier, got {self.name!r}")
        if (self.per_style is None) != (self.combine is None):
            raise ValueError(f"StyleStat {self.name!r}: give per_style and combine together")
        if self.highres and self.combine is not None:
            raise ValueError(f"StyleStat {self.name!r}: nst.highres has Gram targets only")


# ------------------------------------------------------------------------------- losses


def _distance(config: StylizeConfig) -> dict[str, Any]:
    return dict(kind=config.distance, delta=config.delta)


def _blank_gram(F: jax.Array, gram: jax.Array, config: StylizeConfig) -> jax.Array:
    """``losses.style_layer_loss`` at zero features, from the target alone (no Gram of zeros)."""
    height, width, channels = F.shape
    total = jnp.sum(losses.penalty(gram, **_distance(config)))
    if config.style_norm == "gatys":
        return total / (4.0 * channels**2 * (height * width) ** 2)
    if config.style_norm == "mean":
        return total / channels**2
    return total


def _gram_loss(F: jax.Array, gram: jax.Array, stats: Any, config: StylizeConfig) -> jax.Array:
    """Gatys et al.: ``losses.style_layer_loss`` (a relative error with balance="relative")."""
    layer = losses.style_layer_loss(F, gram, norm=config.style_norm, **_distance(config))
    if config.balance == "relative":
        layer = layer / _blank_gram(F, gram, config)
    return layer


def _guided_gram_loss(
    F: jax.Array, masks: jax.Array, grams: jax.Array, config: StylizeConfig
) -> jax.Array:
    """Gatys et al. 2017 spatial control: ``losses.guided_style_loss`` (relative: divided by
    its value at zero features, from the targets and masks alone)."""
    distance = _distance(config)
    layer = losses.guided_style_loss(F, masks, grams, norm=config.style_norm, **distance)
    if config.balance != "relative":
        return layer
    height, width, channels = F.shape
    share = jnp.sum(jnp.square(masks), axis=(-2, -1)) / (height * width)
    per_region = jnp.sum(losses.penalty(grams, **distance), axis=(-2, -1))
    scale = {"gatys": 0.25, "johnson": 1.0, "mean": 1.0 / channels**2}[config.style_norm]
    return layer / (scale / channels**2 * jnp.sum(share * per_region))


def _mean_gram_loss(
    F: jax.Array, gram: jax.Array, stats: Mapping[str, jax.Array], config: StylizeConfig
) -> jax.Array:
    """The Gram term plus ``style_mean_weight`` times ``losses.style_mean_loss``."""
    distance = _distance(config)
    layer = _gram_loss(F, gram, stats, config)
    mean_term = losses.style_mean_loss(F, stats["mean"], norm=config.style_norm, **distance)
    if config.balance == "relative":
        zero = jnp.zeros_like(F)
        mean_term = mean_term / losses.style_mean_loss(
            zero, stats["mean"], norm=config.style_norm, **distance
        )
    return layer + config.style_mean_weight * mean_term


def _w2_loss(
    F: jax.Array, gram: jax.Array, stats: Mapping[str, jax.Array], config: StylizeConfig
) -> jax.Array:
    """``losses.wasserstein_style_loss`` between the features' Gaussian and the target's."""
    return losses.wasserstein_style_loss(
        F, stats["mean"], stats["cov"], eps=W2_EPS, target_cov_sqrt=stats["cov_sqrt"]
    )


def _mrf_loss(
    F: jax.Array, gram: jax.Array, stats: Mapping[str, jax.Array], config: StylizeConfig
) -> jax.Array:
    """``losses.mrf_loss`` against the style images' 3x3 patches."""
    return losses.mrf_loss(F, stats["patches"])


# ------------------------------------------------------------------------------ targets


@functools.partial(jax.jit, static_argnums=(2,))
def _gaussians(moments, weights, eps):
    """Blended (mean, srm) per layer -> {"mean", "cov", "cov_sqrt"} (cov_sqrt of cov + eps I)."""
    out = {"mean": {}, "cov": {}, "cov_sqrt": {}}
    for name in moments[0]:
        mean = sum(m[name][0] * w for m, w in zip(moments, weights, strict=True))
        srm = sum(m[name][1] * w for m, w in zip(moments, weights, strict=True))
        cov = srm - jnp.outer(mean, mean)
        out["mean"][name], out["cov"][name] = mean, cov
        out["cov_sqrt"][name] = losses.sqrtm_psd(cov + eps * jnp.eye(cov.shape[-1]))
    return out


def _w2_targets(per_style: Sequence[PerLayer], blend: np.ndarray, shapes) -> dict[str, PerLayer]:
    """{"mean": [c], "cov", "cov_sqrt": [c, c]} per layer, from the blended mean and second
    raw moment (which, unlike covariances, mix linearly)."""
    return _gaussians(list(per_style), [jnp.float32(w) for w in blend], W2_EPS)


def _mean_targets(per_style: Sequence[PerLayer], blend: np.ndarray, shapes) -> dict[str, PerLayer]:
    """{"mean": {layer: [c]}}, blended."""
    return {"mean": _w2_targets(per_style, blend, shapes)["mean"]}


def _mrf_targets(per_style: Sequence[PerLayer], blend: np.ndarray, shapes) -> dict[str, PerLayer]:
    """{"patches": {layer: [P, 9c]}}, the 3x3 patches of every style image together (blend
    weights do not apply); a layer whose similarity matrix would pass ``_MRF_LIMIT`` entries
    is refused."""
    patches = {}
    for name in per_style[0]:
        patches[name] = jnp.concatenate([p[name] for p in per_style])
        h, w, _ = shapes[name]
        entries = max(h - 2, 0) * max(w - 2, 0) * patches[name].shape[0]
        if entries > _MRF_LIMIT:
            raise ValueError(
                f"style_stat='mrf' at {name}: {entries:.3g} patch comparisons per step "
                f"(limit {_MRF_LIMIT:.3g}); use deeper style layers (e.g. conv3_1,conv4_1) "
                "or a smaller size"
            )
    return {"patches": patches}


# ----------------------------------------------------------------------------- registry

BUILTIN = (
    StyleStat(
        "gram",
        "Gatys et al.'s Gram matrices",
        _gram_loss,
        guided_loss=_guided_gram_loss,
        relative=True,
        highres=True,
    ),
    StyleStat(
        "mean_gram",
        "Gram + feature means",
        _mean_gram_loss,
        per_style=losses.feature_moments,
        combine=_mean_targets,
        relative=True,
    ),
    StyleStat(
        "mean_cov_w2",
        "Wasserstein-2 between Gaussians",
        _w2_loss,
        per_style=losses.feature_moments,
        combine=_w2_targets,
    ),
    StyleStat(
        "mrf",
        "Li & Wand 3x3 patch matching; use --style_layers=conv3_1,conv4_1",
        _mrf_loss,
        per_style=losses.mrf_patches,
        combine=_mrf_targets,
    ),
)
_REGISTRY: dict[str, StyleStat] = {stat.name: stat for stat in BUILTIN}
# Every registered statistic by name, read-only (``register`` adds to it).
STYLE_STATS: Mapping[str, StyleStat] = types.MappingProxyType(_REGISTRY)


def get(name: str) -> StyleStat:
    """The registered statistic ``name``; ValueError naming the valid ones."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown style_stat {name!r}; choose one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def register(stat: StyleStat) -> StyleStat:
    """Adds ``stat``: ``StylizeConfig(style_stat=stat.name)`` is then valid and the engine
    uses its targets and loss. ValueError if the name is taken."""
    if not isinstance(stat, StyleStat):
        raise ValueError(f"register takes a StyleStat, got {type(stat).__name__}")
    if stat.name in _REGISTRY:
        raise ValueError(f"style_stat {stat.name!r} is already registered")
    _REGISTRY[stat.name] = stat
    return stat


def unregister(name: str) -> None:
    """Removes a statistic added by ``register`` (the built-in ones stay)."""
    if any(stat.name == name for stat in BUILTIN):
        raise ValueError(f"style_stat {name!r} is built in")
    if name not in _REGISTRY:
        raise ValueError(f"style_stat {name!r} is not registered")
    del _REGISTRY[name]
