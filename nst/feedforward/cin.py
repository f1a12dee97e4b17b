r"""Conditional instance normalization (Dumoulin, Shlens & Kudlur 2017): N styles, one network.

Every normalization of a ``norm="conditional"`` network holds a ``[N, C]`` table of scales
``style_gamma`` and one of shifts ``style_beta``, one row per style. A style input is a
mixture weight vector :math:`w` (``[N]``, or ``[B, N]`` per image) and

.. math::

    \mathrm{CIN}(x; w) = \gamma(w) \frac{x - \mu(x)}{\sigma(x)} + \beta(w), \qquad
    \gamma(w) = w^\top \Gamma, \quad \beta(w) = w^\top B,

with :math:`\mu, \sigma` the per-image, per-channel mean and standard deviation over H, W.
A one-hot :math:`w` renders one style; a convex combination interpolates between styles
(the mixture is linear in gamma and beta, not in the output image).

A new style is learned by appending a row to every table (:func:`add_style`) and training
that row alone (:func:`train_only_style`): the rest of the network stays fixed.

References:
  Dumoulin, Shlens, Kudlur, "A Learned Representation for Artistic Style", ICLR 2017.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

__all__ = [
    "TABLE_NAMES",
    "ConditionalInstanceNorm",
    "add_style",
    "from_instance",
    "instance_normalize",
    "mixture",
    "select_style",
    "style_weights",
    "train_only_style",
]

#: Leaf names of the per-style tables.
TABLE_NAMES = ("style_gamma", "style_beta")


def instance_normalize(x: jax.Array, epsilon: float = 1e-5) -> jax.Array:
    """``(x - mean) / sqrt(var + epsilon)`` per image and channel over H, W of ``[N, H, W, C]``."""
    mean = jnp.mean(x, axis=(1, 2), keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=(1, 2), keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + epsilon)


class ConditionalInstanceNorm(nn.Module):
    """Instance norm whose affine map is the mixture ``w @ table`` of per-style rows."""

    num_styles: int
    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array, style: jax.Array) -> jax.Array:
        """``x``: ``[B, H, W, C]``; ``style``: mixture weights ``[B, num_styles]``."""
        channels = x.shape[-1]
        shape = (self.num_styles, channels)
        gamma_table = self.param(TABLE_NAMES[0], nn.initializers.ones, shape)
        beta_table = self.param(TABLE_NAMES[1], nn.initializers.zeros, shape)
        gamma = (style @ gamma_table)[:, None, None, :]
        beta = (style @ beta_table)[:, None, None, :]
        return instance_normalize(x, self.epsilon) * gamma + beta


def style_weights(style: Any, num_styles: int, batch: int) -> jax.Array:
    """Mixture weights ``[batch, num_styles]`` from ``style``.

    Args:
      style: ``None`` (only for a one-style network), an int style index, weights ``[N]``
        shared by the batch, or weights ``[batch, N]``.
      num_styles: N.
      batch: B.

    Raises:
      ValueError: a shape that fits neither form, or ``None`` for a multi-style network.
    """
    if style is None:
        if num_styles != 1:
            raise ValueError(f"style is required: this network renders {num_styles} styles")
        return jnp.ones((batch, 1), jnp.float32)
    if isinstance(style, int | np.integer):
        if not 0 <= style < num_styles:
            raise ValueError(f"style index {style} out of range for {num_styles} styles")
        return jnp.broadcast_to(jax.nn.one_hot(style, num_styles), (batch, num_styles))
    w = jnp.asarray(style, jnp.float32)
    if w.shape == (num_styles,):
        return jnp.broadcast_to(w, (batch, num_styles))
    if w.shape == (batch, num_styles):
        return w
    raise ValueError(
        f"style must be [{num_styles}] or [{batch}, {num_styles}] mixture weights, "
        f"got shape {tuple(w.shape)}"
    )


def mixture(values: Any, num_styles: int) -> np.ndarray:
    """Convex mixture weights ``[N]`` from user input (normalized to sum 1).

    >>> mixture([1, 3], 2).tolist()
    [0.25, 0.75]

    Raises:
      ValueError: the wrong count, a negative or non-finite weight, or a zero sum.
    """
    w = np.asarray(values, np.float64).reshape(-1)
    if w.shape != (num_styles,):
        raise ValueError(f"style mix needs {num_styles} weights (one per style), got {w.size}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"style mix weights must be >= 0 with a positive sum, got {w.tolist()}")
    return (w / w.sum()).astype(np.float32)


def _is_table(path: tuple[Any, ...]) -> bool:
    return getattr(path[-1], "key", None) in TABLE_NAMES


def add_style(config: Any, params: Any, name: str, *, init: str = "mean") -> tuple[Any, Any]:
    """Appends style ``name`` to a conditional network: one new row in every table.

    Args:
      config: the network's ``NetConfig`` (``norm="conditional"``).
      params: its ``params`` collection.
      name: the new style's name (must be new).
      init: the new row: ``"mean"`` of the existing rows, or ``"identity"`` (gamma 1, beta 0).

    Returns:
      ``(config, params)`` with ``num_styles + 1`` styles; the new style's index is the last.
    """
    if config.norm != "conditional":
        raise ValueError(f"add_style needs a norm='conditional' network, got {config.norm!r}")
    if name in config.styles:
        raise ValueError(f"style {name!r} already exists: {list(config.styles)}")
    if init not in ("mean", "identity"):
        raise ValueError(f"init must be 'mean' or 'identity', got {init!r}")

    def grow(path, leaf):
        if not _is_table(path):
            return leaf
        if init == "mean":
            row = jnp.mean(leaf, axis=0, keepdims=True)
        else:
            fill = 1.0 if path[-1].key == TABLE_NAMES[0] else 0.0
            row = jnp.full((1, leaf.shape[1]), fill, leaf.dtype)
        return jnp.concatenate([leaf, row], axis=0)

    params = jax.tree_util.tree_map_with_path(grow, params)
    return dataclasses.replace(config, styles=(*config.styles, name)), params


def _replace_norms(tree: Mapping[str, Any], old: str, new: str, convert) -> dict[str, Any]:
    """``tree`` with every ``old`` norm module's params replaced by ``{new: convert(them)}``."""
    out = {}
    for key, value in tree.items():
        if key == old:
            out[new] = convert(value)
        elif isinstance(value, Mapping):
            out[key] = _replace_norms(value, old, new, convert)
        else:
            out[key] = value
    return out


def from_instance(config: Any, params: Any) -> tuple[Any, Any]:
    """A single-style instance-norm network as the equivalent conditional network.

    Every ``InstanceNorm`` (scale, bias) becomes a ``ConditionalInstanceNorm`` with one row
    (gamma = scale, beta = bias): the same function of the photo, now able to
    :func:`add_style` (Dumoulin et al. 2017, sec. 4: a new style costs only its gamma/beta).

    Raises:
      ValueError: a network whose norm is not ``"instance"``.
    """
    if config.norm != "instance":
        raise ValueError(f"from_instance needs a norm='instance' network, got {config.norm!r}")
    tables = lambda v: {
        TABLE_NAMES[0]: jnp.asarray(v["scale"])[None],
        TABLE_NAMES[1]: jnp.asarray(v["bias"])[None],
    }
    params = _replace_norms(params, "InstanceNorm_0", "ConditionalInstanceNorm_0", tables)
    return dataclasses.replace(config, norm="conditional"), params


def select_style(config: Any, params: Any, index: int) -> tuple[Any, Any]:
    """Style ``index`` of a conditional network as a single-style instance-norm network
    (the inverse of :func:`from_instance`): the same output as the conditional network
    rendering that style alone."""
    if config.norm != "conditional":
        raise ValueError(f"select_style needs a norm='conditional' network, got {config.norm!r}")
    if not 0 <= index < config.num_styles:
        raise ValueError(f"style index {index} out of range for {config.num_styles} styles")
    row = lambda v: {
        "scale": jnp.asarray(v[TABLE_NAMES[0]])[index],
        "bias": jnp.asarray(v[TABLE_NAMES[1]])[index],
    }
    params = _replace_norms(params, "ConditionalInstanceNorm_0", "InstanceNorm_0", row)
    single = dataclasses.replace(config, norm="instance", styles=(config.styles[index],))
    return single, params


def train_only_style(
    tx: optax.GradientTransformation, params: Any, index: int
) -> optax.GradientTransformation:
    """``tx`` restricted to row ``index`` of the gamma/beta tables; every other param frozen.

    Non-table params get zero updates (``optax.set_to_zero``, no optimizer state); table
    updates are masked to row ``index``, so even decoupled weight decay leaves other styles
    untouched.
    """
    labels = jax.tree_util.tree_map_with_path(
        lambda path, _: "style" if _is_table(path) else "frozen", params
    )

    def keep_row(updates, params):
        del params
        return jax.tree.map(
            lambda u: u * (jnp.arange(u.shape[0]) == index)[:, None].astype(u.dtype), updates
        )

    style_tx = optax.chain(tx, optax.stateless(keep_row))
    return optax.multi_transform({"style": style_tx, "frozen": optax.set_to_zero()}, labels)
