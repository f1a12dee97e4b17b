"""Network factory: ``NetConfig`` -> Flax module, initial variables, and a pure apply.

Variables are always ``{"params": ..., "batch_stats": ...}`` (``batch_stats`` empty unless
``norm="batch"``), so training, checkpoints and inference handle every network alike.
"""

import zlib
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nst.feedforward import cin, johnson, ulyanov
from nst.feedforward.config import NetConfig

__all__ = ["Variables", "apply", "create", "init", "noise_key"]

Variables = dict[str, Any]


def create(config: NetConfig) -> nn.Module:
    """The Flax module of ``config``: ``TransformNet`` (johnson) or ``TextureNet`` (ulyanov)."""
    if config.arch == "johnson":
        return johnson.TransformNet(config)
    return ulyanov.TextureNet(config)


def variable_shapes(config: NetConfig) -> Any:
    """The variables ``init`` makes, as ``jax.ShapeDtypeStruct`` leaves (nothing computed)."""
    size = config.divisor * 2
    images = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
    style = jax.ShapeDtypeStruct((1, config.num_styles), jnp.float32)
    key = jax.random.key(0)
    return jax.eval_shape(
        lambda x, w: create(config).init({"params": key, "noise": key}, x, w, train=False),
        images,
        style,
    )


def init(config: NetConfig, seed: int = 0) -> Variables:
    """Initial variables: Flax's default initializers, drawn with NumPy (nothing to compile).

    Kernels are LeCun-normal (truncated normal, variance ``1 / fan_in``, fan_in = kh kw
    c_in), biases and shifts 0, scales 1, batch-norm running mean 0 and variance 1. Each
    array depends only on ``seed`` and its path. (Compiling ``module.init`` costs ~10 s on
    a CPU for the threefry random draws alone.)
    """
    shapes = variable_shapes(config)

    def draw(path, leaf):
        name = jax.tree_util.keystr(path, simple=True, separator="/")
        last = name.rsplit("/", 1)[-1]
        if last == "kernel":
            fan_in = int(np.prod(leaf.shape[:-1]))
            rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
            x = rng.standard_normal(leaf.shape)
            while np.any(bad := np.abs(x) > 2):  # truncate to 2 standard deviations
                x[bad] = rng.standard_normal(int(bad.sum()))
            # 0.8796 is the std of a unit normal truncated to [-2, 2] (Flax's constant).
            return jnp.asarray(x * (np.sqrt(1.0 / fan_in) / 0.87962566103423978), jnp.float32)
        if last in ("scale", "var", cin.TABLE_NAMES[0]):
            return jnp.ones(leaf.shape, jnp.float32)
        return jnp.zeros(leaf.shape, jnp.float32)

    variables = jax.tree_util.tree_map_with_path(draw, shapes)
    return {"params": variables["params"], "batch_stats": variables.get("batch_stats", {})}


def noise_key(seed: int | jax.Array) -> jax.Array:
    """The noise key of texture networks: an ``rbg`` key (its random draws compile about
    twice as fast as threefry's on a CPU)."""
    return jax.random.key(seed, impl="rbg")


def apply(
    config: NetConfig,
    variables: Variables,
    images: jax.Array,
    style: Any = None,
    *,
    train: bool = False,
    key: jax.Array | None = None,
) -> tuple[jax.Array, Any]:
    """Runs the network: ``(output [B, H, W, 3] in [0, 1], batch_stats)``.

    Args:
      config: the network.
      variables: ``{"params", "batch_stats"}``.
      images: ``[B, H, W, 3]`` in [0, 1] (texture networks read only the shape).
      style: mixture weights for conditional networks (``cin.style_weights``).
      train: batch norm: use batch statistics and return updated running averages.
      key: the noise of ulyanov networks (default ``noise_key(0)``).

    Returns:
      The stylized images and the (possibly updated) ``batch_stats``.
    """
    module = create(config)
    rngs = {"noise": noise_key(0) if key is None else key}
    if train and config.norm == "batch":
        out, updates = module.apply(
            variables, images, style, train=True, rngs=rngs, mutable=["batch_stats"]
        )
        return out, updates["batch_stats"]
    return module.apply(variables, images, style, train=train, rngs=rngs), variables["batch_stats"]
