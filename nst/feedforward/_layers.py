"""Layers shared by the feed-forward networks: reflect-padded convolutions and normalizations.

Images and activations are NHWC float32. ``Norm`` dispatches on the network's ``norm``:
instance norm (per image and channel over H, W), batch norm (running averages in the
``batch_stats`` collection, batch statistics while training) or conditional instance norm
(:mod:`nst.feedforward.cin`).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from nst.feedforward import cin

EPSILON = 1e-5


def reflect_pad(x: jax.Array, pad_h: tuple[int, int], pad_w: tuple[int, int]) -> jax.Array:
    """Reflect-pads the H and W axes of ``[N, H, W, C]``."""
    return jnp.pad(x, ((0, 0), pad_h, pad_w, (0, 0)), mode="reflect")


def pad_to_multiple(x: jax.Array, divisor: int) -> jax.Array:
    """Reflect-pads H and W of ``[N, H, W, C]`` at the bottom/right up to a multiple."""
    pad_h, pad_w = -x.shape[1] % divisor, -x.shape[2] % divisor
    if not pad_h and not pad_w:
        return x
    mode = "reflect" if min(x.shape[1:3]) > max(pad_h, pad_w) else "edge"
    return jnp.pad(x, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode=mode)


class Conv(nn.Module):
    """``kernel x kernel`` convolution with reflect padding (output H/stride, W/stride)."""

    features: int
    kernel: int
    stride: int = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        p = self.kernel // 2
        x = reflect_pad(x, (p, p), (p, p))
        conv = nn.Conv(self.features, (self.kernel,) * 2, strides=self.stride, padding="VALID")
        return conv(x)


class InstanceNorm(nn.Module):
    """Instance normalization (Ulyanov, Vedaldi & Lempitsky 2017) with a learned affine map."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        channels = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (channels,))
        bias = self.param("bias", nn.initializers.zeros, (channels,))
        return cin.instance_normalize(x, EPSILON) * scale + bias


class Norm(nn.Module):
    """The normalization named by ``kind``: ``instance`` | ``batch`` | ``conditional``."""

    kind: str
    num_styles: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, style: jax.Array, train: bool) -> jax.Array:
        if self.kind == "instance":
            return InstanceNorm()(x)
        if self.kind == "batch":
            return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=EPSILON)(x)
        return cin.ConditionalInstanceNorm(self.num_styles)(x, style)
