"""Layer primitives shared by the VGG and ResNet forward passes (NHWC activations, HWIO kernels).

Every function is pure and shape-static, so it traces once per input shape. The pooling
functions avoid ``lax.reduce_window``: its gradient (``select_and_scatter``) is slow on
XLA:CPU, while a max over a reshape or over strided slices gives the same values with a
cheaper gradient (see the "Pooling" lead in the project's benchmark notes).
"""

from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Batch-norm epsilon of the torchvision-derived flaxmodels ResNets.
BN_EPSILON = 1e-5

Params = Mapping[str, "Params | jax.Array"]


class Op(NamedTuple):
    """One named layer of a forward pass: ``x = fn(params, x)``.

    ``param_path`` is the ``/``-separated path of the params subtree the op reads ("" for
    none); ``Backbone`` checks the shapes under it before running the op.
    """

    name: str
    fn: Callable[[Params, jax.Array], jax.Array]
    param_path: str = ""


# A segment is a run of ops that is rematerialized as one unit (a VGG block, a residual
# block, the ResNet stem) when ``Backbone.remat`` is set.
Segment = tuple[Op, ...]


def normalize(images: jax.Array) -> jax.Array:
    """``(images - mean) / std`` with the ImageNet RGB statistics, in float32."""
    mean = np.asarray(IMAGENET_MEAN, np.float32)
    std = np.asarray(IMAGENET_STD, np.float32)
    return (images.astype(jnp.float32) - mean) / std


def conv(
    x: jax.Array,
    kernel: jax.Array,
    *,
    stride: int = 1,
    padding: int = 0,
) -> jax.Array:
    """2-D convolution, NHWC input, HWIO kernel, symmetric zero padding, no bias."""
    return jax.lax.conv_general_dilated(
        x,
        kernel.astype(x.dtype),
        window_strides=(stride, stride),
        padding=((padding, padding), (padding, padding)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )


def pool_2x2(x: jax.Array, kind: str, *, name: str) -> jax.Array:
    """2x2 pooling with stride 2: "max" or "avg"; odd rows/columns are dropped (floor).

    Same values as ``flax.linen.max_pool(x, (2, 2), (2, 2))`` / ``avg_pool`` with VALID
    padding, computed as a reduction over a reshape.
    """
    n, h, w, c = x.shape
    if h < 2 or w < 2:
        raise ValueError(
            f"{name}: the input image is too small: features of {h}x{w} pixels cannot be "
            "pooled 2x2; use a larger image or a shallower layer"
        )
    x = x[:, : h // 2 * 2, : w // 2 * 2, :].reshape(n, h // 2, 2, w // 2, 2, c)
    if kind == "max":
        return x.max(axis=(2, 4))
    return x.mean(axis=(2, 4))


def max_pool_3x3_s2(x: jax.Array) -> jax.Array:
    """3x3 max pooling, stride 2, padding 1 (torchvision ResNet stem).

    Same values as ``flax.linen.max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))``,
    computed separably as maxima of three strided slices along H, then along W.
    """
    x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-jnp.inf)
    for axis in (1, 2):
        out = (x.shape[axis] - 3) // 2 + 1
        taps = [
            jax.lax.slice_in_dim(x, k, k + 2 * (out - 1) + 1, stride=2, axis=axis) for k in range(3)
        ]
        x = jnp.maximum(jnp.maximum(taps[0], taps[1]), taps[2])
    return x


def batch_norm(x: jax.Array, p: Params) -> jax.Array:
    """Inference-mode batch norm with running statistics ``p = {mean, var, scale, bias}``.

    ``(x - mean) * scale / sqrt(var + eps) + bias``, the statistics combined in float32 in
    the same order as flaxmodels' ``BatchNorm(use_running_average=True)``.
    """
    mul = jax.lax.rsqrt(p["var"].astype(jnp.float32) + BN_EPSILON) * p["scale"]
    mean = p["mean"].astype(x.dtype)
    return (x - mean) * mul.astype(x.dtype) + p["bias"].astype(x.dtype)
