"""Layers shared by the feed-forward networks: reflect-padded convolutions and normalizations.

Images and activations are NHWC float32. ``Norm`` dispatches on the network's ``norm``:
instance norm (per image and channel over H, W), batch norm (running averages in the
``batch_stats`` collection, batch statistics while training) or conditional instance norm
(:mod:`nst.feedforward.cin`).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from nst.feedforward import cin

EPSILON = 1e-5
# Inputs with a side below this take the direct path of ``reflect_conv`` (one convolution,
# cheaper to compile); larger ones the strip-corrected zero-padded convolution (faster).
STRIP_MIN_SIZE = 96
# Stride-1 kernels at least this wide, on large inputs with even sides, are computed on 2x2
# blocks (``_space_to_depth_conv``): XLA:CPU's 9x9 convolutions are slow per tap.
BLOCK_MIN_KERNEL = 7


def reflect_pad(x: jax.Array, pad_h: tuple[int, int], pad_w: tuple[int, int]) -> jax.Array:
    """Reflect-pads the H and W axes of ``[N, H, W, C]``."""
    return jnp.pad(x, ((0, 0), pad_h, pad_w, (0, 0)), mode="reflect")


def pad_to_multiple(x: jax.Array, divisor: int) -> jax.Array:
    """Reflect-pads H and W of ``[N, H, W, C]`` at the bottom/right up to a multiple."""
    pad_h, pad_w = -x.shape[1] % divisor, -x.shape[2] % divisor
    if not pad_h and not pad_w:
        return x
    # Side by side, not min(): the comparisons stay decidable for symbolic (exported) shapes.
    long_enough = all(side > max(pad_h, pad_w) for side in x.shape[1:3])
    mode = "reflect" if long_enough else "edge"
    return jnp.pad(x, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode=mode)


def _block_kernel(kernel: jax.Array) -> jax.Array:
    """The ``[k, k, C, F]`` kernel (k odd) as a ``[(k+1)/2, (k+1)/2, 4C, 4F]`` kernel on 2x2
    blocks: output block position (r, s) of block (I, J) reads input block (I+p, J+q) at
    position (u, v) with tap (2p+u-r, 2q+v-s) of the original, 0 where that is outside it."""
    k = kernel.shape[0]
    blocks = (k + 1) // 2
    p, q, u, v, r, s = np.indices((blocks, blocks, 2, 2, 2, 2))
    a, b = 2 * p + u - r, 2 * q + v - s
    inside = (a >= 0) & (a < k) & (b >= 0) & (b < k)
    taps = kernel[np.clip(a, 0, k - 1), np.clip(b, 0, k - 1)]  # [kb, kb, 2, 2, 2, 2, C, F]
    taps = jnp.where(inside[..., None, None], taps, 0.0)
    taps = taps.transpose(0, 1, 2, 3, 6, 4, 5, 7)  # [p, q, u, v, C, r, s, F]
    c, f = kernel.shape[2:]
    return taps.reshape(blocks, blocks, 4 * c, 4 * f)


def _space_to_depth_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """Stride-1 ``reflect_conv`` of ``[N, H, W, C]`` (H, W even) computed on 2x2 blocks: the
    reflect-padded input as ``[N, H/2 + p, W/2 + p, 4C]`` convolved with ``_block_kernel``,
    the ``4F`` outputs put back as 2x2 pixels. The same sums in another order, faster on
    XLA:CPU for 9x9 kernels (measured in docs/fast.md, Speed)."""
    n, height, width, c = x.shape
    k, f = kernel.shape[0], kernel.shape[3]
    p = k // 2
    padded = reflect_pad(x, (p, p), (p, p))  # sides H + 2p, W + 2p: even
    h2, w2 = padded.shape[1] // 2, padded.shape[2] // 2
    blocks = padded.reshape(n, h2, 2, w2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    blocks = blocks.reshape(n, h2, w2, 4 * c)
    # One zero row and column (cropped away) keep XLA:CPU off its slow unpadded path.
    out = jax.lax.conv_general_dilated(
        blocks,
        _block_kernel(kernel),
        (1, 1),
        ((0, 1), (0, 1)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )[:, : height // 2, : width // 2]
    out = out.reshape(n, height // 2, width // 2, 2, 2, f).transpose(0, 1, 3, 2, 4, 5)
    return out.reshape(n, height, width, f)


def reflect_conv(x: jax.Array, kernel: jax.Array, stride: int = 1) -> jax.Array:
    """Convolution of ``x`` reflect-padded by ``k // 2`` (``VALID`` on the padded input).

    ``x`` is ``[N, H, W, C]``, ``kernel`` ``[k, k, C, F]`` (k odd); the output is
    ``[N, ceil(H / stride), ceil(W / stride), F]``.

    Inputs with both sides >= ``STRIP_MIN_SIZE`` are computed as a zero-padded
    convolution, exact away from the borders, whose border rows and columns are then
    recomputed from thin reflect-padded strips. On XLA:CPU this is
    several times faster than convolving a materialized reflect-padded tensor: a convolution
    without padding takes a slow path (3x3, 128 -> 128 channels at 128 px: 0.149 vs 0.045 s)
    and materializing the padded copy of a large activation costs as much again (Johnson
    network at 512 px: 3.4 s plain, 0.7 s this way).
    """
    k = kernel.shape[0]
    p = k // 2
    dn = ("NHWC", "HWIO", "NHWC")

    def conv(y, padding):
        return jax.lax.conv_general_dilated(
            y, kernel, (stride, stride), padding, dimension_numbers=dn
        )

    if p == 0:
        return conv(x, "VALID")
    height, width = x.shape[1:3]
    # Symbolic sides (a program exported for any size, nst.feedforward.export) take the
    # direct path: its branches do not depend on the size.
    symbolic = not all(isinstance(side, int) for side in (height, width))
    small = max(STRIP_MIN_SIZE, 2 * k)
    if symbolic or height < small or width < small:
        # Small input: convolve the padded copy, with one extra zero row and column (cropped
        # away) that keeps XLA:CPU on its fast path. One convolution: quicker to compile.
        padded = reflect_pad(x, (p, p), (p, p))
        rows = (padded.shape[1] - k) // stride + 1
        cols = (padded.shape[2] - k) // stride + 1
        return conv(padded, ((0, 1), (0, 1)))[:, :rows, :cols]
    if stride == 1 and k >= BLOCK_MIN_KERNEL and height % 2 == 0 and width % 2 == 0:
        return _space_to_depth_conv(x, kernel)
    out = conv(x, ((p, p), (p, p)))
    n_first = -(-p // stride)  # outputs whose window starts before row/column 0
    first_in = (n_first - 1) * stride + p + 1  # input rows/columns those windows read
    last_row = (height - 1 - p) // stride + 1  # first output whose window passes the end
    last_col = (width - 1 - p) // stride + 1
    out = out.at[:, :n_first].set(conv(reflect_pad(x[:, :first_in], (p, 0), (p, p)), "VALID"))
    if last_row < out.shape[1]:
        strip = reflect_pad(x[:, last_row * stride - p :], (0, p), (p, p))
        out = out.at[:, last_row:].set(conv(strip, "VALID"))
    left = reflect_pad(x[:, :, :first_in], (p, p), (p, 0))
    out = out.at[:, :, :n_first].set(conv(left, "VALID"))
    if last_col < out.shape[2]:
        strip = reflect_pad(x[:, :, last_col * stride - p :], (p, p), (0, p))
        out = out.at[:, :, last_col:].set(conv(strip, "VALID"))
    return out


class Conv(nn.Module):
    """``kernel x kernel`` convolution with reflect padding (output H/stride, W/stride)."""

    features: int
    kernel: int
    stride: int = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        shape = (self.kernel, self.kernel, x.shape[-1], self.features)
        kernel = self.param("kernel", nn.initializers.lecun_normal(), shape)
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        return reflect_conv(x, kernel, self.stride) + bias


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
