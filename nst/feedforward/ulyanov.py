"""Ulyanov et al. (2016) multi-scale texture network: noise at K scales in, an image out.

With ``H x W`` the output size, scale ``i = 0 .. K-1`` works at ``H/2^i x W/2^i``. Its input
is uniform noise (``noise_channels`` channels), plus, for style transfer
(``content_input=True``), the content image average-pooled to that scale. Every scale runs
a conv block (3x3, 3x3, 1x1 convs, each followed by a normalization and LeakyReLU 0.01),
``w = width`` channels. From the coarsest scale down, the running result is upsampled x2
(nearest neighbour), normalized, concatenated with the next scale's block output and run
through a block with the summed channels (``w (K - i)`` at scale i). A 1x1 conv and a scaled
tanh give the RGB image. Sides are reflect-padded up to a multiple of ``2^(K-1)`` inside and
the output cropped back, so any size works.

Noise is drawn from the ``"noise"`` RNG stream: ``apply(..., rngs={"noise": key})``.
Texture synthesis (``content_input=False``) reads only the shape of ``images``.

References:
  Ulyanov, Lebedev, Vedaldi, Lempitsky, "Texture Networks: Feed-forward Synthesis of
  Textures and Stylized Images", ICML 2016, fig. 2.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from nst.feedforward import cin
from nst.feedforward._layers import Conv, Norm, pad_to_multiple
from nst.feedforward.config import NetConfig

__all__ = ["ConvBlock", "TextureNet"]


class ConvBlock(nn.Module):
    """3x3, 3x3, 1x1 convolutions, each followed by a normalization and LeakyReLU(0.01)."""

    features: int
    norm: str
    num_styles: int

    @nn.compact
    def __call__(self, x: jax.Array, style: jax.Array, train: bool) -> jax.Array:
        for kernel in (3, 3, 1):
            x = Conv(self.features, kernel)(x)
            x = nn.leaky_relu(Norm(self.norm, self.num_styles)(x, style, train), 0.01)
        return x


def _downsample(x: jax.Array, factor: int) -> jax.Array:
    """Average pooling by ``factor`` (sides must be multiples of it)."""
    if factor == 1:
        return x
    n, h, w, c = x.shape
    return x.reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


class TextureNet(nn.Module):
    """The multi-scale generator of Ulyanov et al. (2016)."""

    config: NetConfig

    @nn.compact
    def __call__(self, images: jax.Array, style: Any = None, *, train: bool = False) -> jax.Array:
        """An image per input: ``[B, H, W, 3]`` in, ``[B, H, W, 3]`` in [0, 1] out."""
        cfg = self.config
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be [B, H, W, 3], got shape {images.shape}")
        batch, height, width = images.shape[:3]
        style = cin.style_weights(style, cfg.num_styles, batch)
        content = pad_to_multiple(images.astype(jnp.float32), cfg.divisor)
        padded_h, padded_w = content.shape[1:3]
        key = self.make_rng("noise")

        def scale_input(i: int) -> jax.Array:
            shape = (batch, padded_h >> i, padded_w >> i, cfg.noise_channels)
            z = jax.random.uniform(jax.random.fold_in(key, i), shape)
            if cfg.content_input:
                z = jnp.concatenate([_downsample(content, 2**i), z], axis=-1)
            return z

        def block(x: jax.Array, features: int) -> jax.Array:
            return ConvBlock(features, cfg.norm, cfg.num_styles)(x, style, train)

        k = cfg.scales
        x = block(scale_input(k - 1), cfg.width)
        for i in range(k - 2, -1, -1):
            up = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
            up = Norm(cfg.norm, cfg.num_styles)(up, style, train)
            finer = Norm(cfg.norm, cfg.num_styles)(block(scale_input(i), cfg.width), style, train)
            x = block(jnp.concatenate([finer, up], axis=-1), cfg.width * (k - i))
        x = nn.Conv(3, (1, 1))(x)
        return (0.5 * (jnp.tanh(x) + 1.0))[:, :height, :width, :]
