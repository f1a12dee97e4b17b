"""Johnson et al. (2016) image transformation network, fully convolutional.

Layers (``w = config.width``, paper: 32), every convolution reflect-padded and followed by
a normalization and a ReLU except the last::

    9x9 conv w -> 3x3 conv 2w, stride 2 -> 3x3 conv 4w, stride 2
    -> num_residual x [3x3 conv 4w -> norm -> ReLU -> 3x3 conv 4w -> norm, + input]
    -> upsample x2 to 2w -> upsample x2 to w -> 9x9 conv 3 -> (tanh + 1) / 2

Upsampling is nearest-neighbour x2 followed by a 3x3 conv (``upsample="nearest"``, free of
checkerboard artefacts, Odena et al. 2016) or a fractionally strided 3x3 conv
(``"transpose"``, the paper). Inputs of any size work: sides are reflect-padded up to a
multiple of 4 and the output is cropped back, so the output has the input's size.

References:
  Johnson, Alahi, Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
  Super-Resolution", ECCV 2016, and its supplementary material.
  Ulyanov, Vedaldi, Lempitsky, "Improved Texture Networks", CVPR 2017 (instance norm).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from nst.feedforward import cin
from nst.feedforward._layers import Conv, Norm, pad_to_multiple
from nst.feedforward.config import NetConfig

__all__ = ["ResidualBlock", "TransformNet", "Upsample"]


class ResidualBlock(nn.Module):
    """Two 3x3 convs with normalization, ReLU between them, and an identity shortcut."""

    features: int
    norm: str
    num_styles: int

    @nn.compact
    def __call__(self, x: jax.Array, style: jax.Array, train: bool) -> jax.Array:
        y = Conv(self.features, 3)(x)
        y = nn.relu(Norm(self.norm, self.num_styles)(y, style, train))
        y = Conv(self.features, 3)(y)
        return x + Norm(self.norm, self.num_styles)(y, style, train)


class Upsample(nn.Module):
    """x2 upsampling: nearest-neighbour + 3x3 conv, or a fractionally strided 3x3 conv."""

    features: int
    kind: str

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        if self.kind == "transpose":
            return nn.ConvTranspose(self.features, (3, 3), strides=(2, 2), padding="SAME")(x)
        x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
        return Conv(self.features, 3)(x)


class TransformNet(nn.Module):
    """The image transformation network; ``config.norm="conditional"`` makes it N-style."""

    config: NetConfig

    @nn.compact
    def __call__(self, images: jax.Array, style: Any = None, *, train: bool = False) -> jax.Array:
        """Stylizes ``images``.

        Args:
          images: ``[B, H, W, 3]`` floats in [0, 1], any H, W >= 5.
          style: mixture weights for a conditional network (see ``cin.style_weights``).
          train: batch norm uses batch statistics and updates ``batch_stats``.

        Returns:
          ``[B, H, W, 3]`` in [0, 1].
        """
        cfg = self.config
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be [B, H, W, 3], got shape {images.shape}")
        batch, height, width = images.shape[:3]
        style = cin.style_weights(style, cfg.num_styles, batch)

        def norm_relu(x):
            return nn.relu(Norm(cfg.norm, cfg.num_styles)(x, style, train))

        w = cfg.width
        x = pad_to_multiple(images.astype(jnp.float32), cfg.divisor)
        x = norm_relu(Conv(w, 9)(x))
        x = norm_relu(Conv(2 * w, 3, stride=2)(x))
        x = norm_relu(Conv(4 * w, 3, stride=2)(x))
        for _ in range(cfg.num_residual):
            x = ResidualBlock(4 * w, cfg.norm, cfg.num_styles)(x, style, train)
        x = norm_relu(Upsample(2 * w, cfg.upsample)(x))
        x = norm_relu(Upsample(w, cfg.upsample)(x))
        x = Conv(3, 9)(x)
        return (0.5 * (jnp.tanh(x) + 1.0))[:, :height, :width, :]
