"""The objective: every term a call into ``nst.losses``, summed by ``losses.weighted_total``.

.. math::
  L = \\alpha \\sum_l w_l L_{content}^l + \\beta \\sum_l w_l E_l
      + \\lambda_{tv} TV(x) + \\lambda_m \\sum_c V_c^T \\mathcal{L} V_c + \\lambda_t L_{temporal}

The weights are data (``Hyper``), so configs that differ only in them share one program.
TV and the temporal term see the image in 0-255 units, the photorealism term in [0, 1]
(``nst.losses``, Units: where the papers whose weights they take evaluate them).

With ``config.balance="relative"`` every content and style layer term is divided by its
value at blank (all-zero) features, i.e. by the size of its own target:
:math:`\\sum \\rho(F - P) / \\sum \\rho(P)` and :math:`\\sum \\rho(G - A) / \\sum \\rho(A)` (the
normalization constants cancel). Each term is then a relative error, about 1 for the
content photo against a painting's Grams whatever the images, so one ``alpha`` and
``beta`` mean the same balance on every pair; with the Gatys normalization the style term
of the content photo ranges over orders of magnitude from one painting to the next.

With ``config.balance="total"`` the layers keep the papers' weighting (``style_norm``, the
layer weights) and each *whole* term is divided by its weighted sum at blank features:
:math:`\\sum_l w_l E_l / \\sum_l w_l E_l(0)`, the content term likewise. ``alpha`` and
``beta`` then mean the same on every pair while the layers weigh what the papers' formula
makes them weigh on the network in use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from nst import config as config_lib
from nst import losses, style_stats
from nst.config import StylizeConfig
from nst.stylize._targets import Net, Targets


class Hyper(NamedTuple):
    """The numbers a step takes as data (so a sweep over them is one program)."""

    content_weight: jax.Array
    style_weight: jax.Array
    tv_weight: jax.Array
    photo_weight: jax.Array
    temporal_weight: jax.Array
    content_layers: dict[str, jax.Array]
    style_layers: dict[str, jax.Array]


def make_hyper(config: StylizeConfig) -> Hyper:
    """``config``'s data (``nst.config.split``) as float32 arrays."""
    _, data = config_lib.split(config)
    f32 = lambda v: jnp.asarray(v, jnp.float32)
    return Hyper(
        **{name: f32(data[name]) for name in Hyper._fields if not name.endswith("_layers")},
        content_layers={n: f32(w) for n, w in data["content_layers"].items()},
        style_layers={n: f32(w) for n, w in data["style_layers"].items()},
    )


def _weighted_sum(terms: dict[str, jax.Array], weights: dict[str, jax.Array]) -> jax.Array:
    """``losses.weighted_total``'s total; 0 for no layers (a content- or style-only run)."""
    return losses.weighted_total(terms, weights)[0] if terms else jnp.float32(0.0)


def _blank_sum(blank: dict[str, jax.Array], weights: dict[str, jax.Array]) -> jax.Array:
    """The weighted sum of the terms at blank features: 1 when there are none (or all are
    0: a weighted-out term stays 0 instead of 0/0)."""
    value = _weighted_sum(blank, weights)
    return jnp.where(value > 0, value, 1.0)


def make_objective(
    config: StylizeConfig, net: Net
) -> Callable[..., tuple[jax.Array, dict[str, jax.Array]]]:
    """Returns ``objective(image, params, targets, hyper) -> (total, raw terms)``.

    .. math::
      L = \\alpha \\sum_l w_l L_{content}^l + \\beta \\sum_l w_l E_l
          + \\lambda_{tv} TV(x) + \\lambda_m \\sum_c V_c^T \\mathcal{L} V_c

    image is one [H, W, 3] picture in [0, 1]; TV and the temporal term are evaluated on
    ``losses.PIXEL_SCALE * image`` (0-255), the photorealism term on ``image`` (``nst.losses``,
    Units). The raw (unweighted) terms, in those units, are returned for logging: "content",
    "style", "style/<layer>", "tv", "photo" and "temporal" (when their targets exist), and
    "total".
    """
    distance = dict(kind=config.distance, delta=config.delta)
    stat = style_stats.get(config.style_stat)
    relative = config.balance == "relative"
    whole = config.balance == "total"

    def check(targets: Targets) -> None:
        """Targets from ``losses.style_targets`` remember their normalization: it must be
        the config's (a Gatys target under a Johnson loss is off by ``C H W``)."""
        made_for = getattr(targets.grams, "norm", config.style_norm)
        if made_for != config.style_norm:
            raise ValueError(
                f"Targets.grams were made for style_norm={made_for!r}, the config has "
                f"style_norm={config.style_norm!r}; make them with the config's "
                "(stylize.make_targets)"
            )

    def style_layer(f: jax.Array, n: str, targets: Targets) -> jax.Array:
        """One layer's style term: the statistic's loss (``nst.style_stats``), guided with
        region masks."""
        if targets.masks is not None:
            if stat.guided_loss is None:
                raise ValueError(f"style_stat={stat.name!r} does not take style masks")
            return stat.guided_loss(f, targets.masks[n], targets.grams[n], config)
        if stat.combine is not None and targets.stats is None:
            raise ValueError(f"style_stat={stat.name!r} needs Targets.stats (stylize.make_targets)")
        stats = None if targets.stats is None else {k: v[n] for k, v in targets.stats.items()}
        return stat.loss(f, targets.grams[n], stats, config)

    def content_layer(f: jax.Array, n: str, targets: Targets) -> jax.Array:
        return losses.content_loss(f, targets.content[n], norm=config.content_norm, **distance)

    def objective(image, params, targets: Targets, hyper: Hyper):
        check(targets)
        feats = {name: f[0] for name, f in net(params, image[None]).items()}
        content_layers = {n: content_layer(feats[n], n, targets) for n in hyper.content_layers}
        style_layers = {n: style_layer(feats[n], n, targets) for n in hyper.style_layers}
        # The same losses at zero features: from the targets alone.
        blank = lambda layer, n: layer(jnp.zeros_like(feats[n]), n, targets)
        if relative:  # content here; each statistic divides its own style terms
            content_layers = {n: v / blank(content_layer, n) for n, v in content_layers.items()}
        content = _weighted_sum(content_layers, hyper.content_layers)
        style = _weighted_sum(style_layers, hyper.style_layers)
        if whole:  # each whole term over its weighted sum at zero features
            zero_content = {n: blank(content_layer, n) for n in content_layers}
            zero_style = {n: blank(style_layer, n) for n in style_layers}
            content = content / _blank_sum(zero_content, hyper.content_layers)
            style = style / _blank_sum(zero_style, hyper.style_layers)
        # TV and the temporal term on the 0-255 image (nst.losses, Units: the papers' units).
        pixels = losses.PIXEL_SCALE * image
        terms = {
            "content": content,
            "style": style,
            "tv": losses.total_variation(pixels, kind=config.tv_kind, beta=config.tv_beta),
        }
        weights = {
            "content": hyper.content_weight,
            "style": hyper.style_weight,
            "tv": hyper.tv_weight,
        }
        if targets.laplacian is not None:  # on [0, 1], as Luan et al.'s code
            terms["photo"] = losses.photorealism_loss(image, targets.laplacian)
            weights["photo"] = hyper.photo_weight
        if targets.temporal is not None:
            previous, mask = targets.temporal
            terms["temporal"] = losses.temporal_loss(
                pixels, losses.PIXEL_SCALE * jnp.asarray(previous), mask
            )
            weights["temporal"] = hyper.temporal_weight
        total, _ = losses.weighted_total(terms, weights)
        logged = {f"style/{n}": v for n, v in style_layers.items()}
        return total, {**logged, **terms, "total": total}

    return objective
