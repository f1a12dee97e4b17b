"""Layer primitives shared by the VGG and ResNet forward passes (NHWC activations, HWIO kernels).

Every function is pure and shape-static, so it traces once per input shape. The pooling
functions avoid ``lax.reduce_window``: its gradient (``select_and_scatter``) is slow on
XLA:CPU, while a max over a reshape or over strided slices gives the same values with a
cheaper gradient (see the "Pooling" lead in the project's benchmark notes).
"""

import functools
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


def normalize(images: jax.Array, transform: Mapping[str, jax.Array] | None = None) -> jax.Array:
    """The network's input from RGB ``images`` in [0, 1], in float32.

    Args:
      images: ``[..., 3]`` RGB in [0, 1].
      transform: the params' ``input`` node, ``{"matrix": [3, 3], "offset": [3]}``:
        ``x[..., c] = sum_k images[..., k] * matrix[k, c] + offset[c]`` (written as three
        broadcast multiply-adds: exact float32 arithmetic on every backend, no matmul that
        a GPU would round to TF32). Caffe VGG weights carry one (RGB -> BGR, x255, minus the
        BGR mean pixel). None: the torchvision / flaxmodels convention,
        ``(images - IMAGENET_MEAN) / IMAGENET_STD``.
    """
    x = images.astype(jnp.float32)
    if transform is None:
        mean = np.asarray(IMAGENET_MEAN, np.float32)
        std = np.asarray(IMAGENET_STD, np.float32)
        return (x - mean) / std
    matrix = jnp.asarray(transform["matrix"], jnp.float32)
    offset = jnp.asarray(transform["offset"], jnp.float32)
    return x[..., 0:1] * matrix[0] + x[..., 1:2] * matrix[1] + x[..., 2:3] * matrix[2] + offset


def conv(
    x: jax.Array,
    kernel: jax.Array,
    *,
    stride: int = 1,
    padding: int = 0,
    kernel_t: jax.Array | None = None,
) -> jax.Array:
    """2-D convolution, NHWC input, HWIO kernel, symmetric zero padding, no bias.

    ``kernel_t``: optionally ``transpose_kernel(kernel)``, computed once outside the
    jitted function (stride 1 only). The gradient with respect to ``x`` then convolves with
    it instead of flipping and transposing ``kernel`` on every call: with the kernels as
    arguments (not constants), that copy cost ~40 ms of a 0.35 s VGG19 step at 256 px on
    XLA:CPU. The function is then a ``custom_vjp``: reverse mode only, no ``jax.jvp``.
    Gradients with respect to the kernel still go to ``kernel``; ``kernel_t`` gets zeros.
    """
    kernel = kernel.astype(x.dtype)
    if kernel_t is None:
        return _conv(x, kernel, stride, padding)
    if stride != 1:
        raise ValueError(f"kernel_t is for stride-1 convolutions, got stride {stride}")
    return _conv_pretransposed(x, kernel, kernel_t.astype(x.dtype), padding)


def transpose_kernel(kernel: jax.Array) -> jax.Array:
    """``[kh, kw, in, out] -> [kh, kw, out, in]``, flipped in space: the input gradient's."""
    return jnp.flip(kernel, (0, 1)).swapaxes(2, 3)


def _conv(x: jax.Array, kernel: jax.Array, stride: int, padding: int) -> jax.Array:
    return jax.lax.conv_general_dilated(
        x,
        kernel,
        window_strides=(stride, stride),
        padding=((padding, padding), (padding, padding)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _conv_pretransposed(x, kernel, kernel_t, padding):
    return _conv(x, kernel, 1, padding)


def _conv_pretransposed_fwd(x, kernel, kernel_t, padding):
    return _conv(x, kernel, 1, padding), (x, kernel, kernel_t)


def _conv_pretransposed_bwd(padding, residuals, g):
    x, kernel, kernel_t = residuals
    size = kernel.shape[0]  # square kernels; stride 1: a "full" correlation of g
    dx = _conv(g, kernel_t, 1, size - 1 - padding)
    _, kernel_vjp = jax.vjp(lambda k: _conv(x, k, 1, padding), kernel)  # DCE'd under jit
    return dx, kernel_vjp(g)[0], jnp.zeros_like(kernel_t)  # when unused


_conv_pretransposed.defvjp(_conv_pretransposed_fwd, _conv_pretransposed_bwd)


def pool_2x2(x: jax.Array, kind: str, *, name: str) -> jax.Array:
    """2x2 pooling with stride 2: "max" or "avg"; odd rows/columns are dropped (floor).

    Same values as ``flax.linen.max_pool(x, (2, 2), (2, 2))`` / ``avg_pool`` with VALID
    padding, computed as a reduction over a reshape. The max's derivative sends each
    window's tangent (cotangent) to its first maximum in row-major order, as
    ``reduce_window``'s gradient (``select_and_scatter``, flax and PyTorch) does.
    """
    n, h, w, c = x.shape
    if h < 2 or w < 2:
        raise ValueError(
            f"{name}: the input image is too small: features of {h}x{w} pixels cannot be "
            "pooled 2x2; use a larger image or a shallower layer"
        )
    x = x[:, : h // 2 * 2, : w // 2 * 2, :]
    if kind == "max":
        return _max_pool_2x2(x)
    return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def _windows(x: jax.Array) -> tuple[jax.Array, ...]:
    """The four ``[N, H/2, W/2, C]`` corners of the 2x2 windows, row-major."""
    n, h, w, c = x.shape
    x = x.reshape(n, h // 2, 2, w // 2, 2, c)
    return x[:, :, 0, :, 0], x[:, :, 0, :, 1], x[:, :, 1, :, 0], x[:, :, 1, :, 1]


@jax.custom_jvp
def _max_pool_2x2(x: jax.Array) -> jax.Array:
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


@_max_pool_2x2.defjvp
def _max_pool_2x2_jvp(primals, tangents):
    # The tangent of the first maximum, by elementwise selects. Autodiff of the reshape
    # max instead counts the ties with a reduction (slow on XLA:CPU) and splits among them.
    (x,), (t,) = primals, tangents
    y = _max_pool_2x2(x)
    (a, b, c, _), (ta, tb, tc, td) = _windows(x), _windows(t)
    return y, jnp.where(a == y, ta, jnp.where(b == y, tb, jnp.where(c == y, tc, td)))


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
