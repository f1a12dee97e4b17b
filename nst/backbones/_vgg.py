"""VGG16 / VGG19 feature extractors (Simonyan & Zisserman 2015), and their classifier head.

Params layout (flaxmodels' ``VGG`` param tree, and its ``.h5`` checkpoints with ``weight``
for ``kernel``)::

    {"conv1_1": {"kernel": [3, 3, 3, 64], "bias": [64]}, "conv1_2": {...}, ...}
    # the classifier head, only when asked for (include_head=True):
    {"fc6": {"kernel": [25088, 4096], "bias": [4096]}, "fc7": {"kernel": [4096, 4096], ...},
     "fc8": {"kernel": [4096, 1000], "bias": [1000]}}

Layers, shallow to deep, per block ``b`` and conv ``k``: ``conv{b}_{k}`` (the convolution
output before its ReLU, as flaxmodels' activations), ``relu{b}_{k}``, and after each block
``pool{b}`` (2x2, stride 2, max or average). The head adds ``fc6``, ``relu6``, ``fc7``,
``relu7`` and ``fc8`` (the 1000 class scores before the softmax), ``[N, features]`` arrays;
``pool5`` is flattened in NCHW order first, as flaxmodels does for its PyTorch-converted
weights, so ``fc6`` needs 7x7 ``pool5`` maps: 224x224 images.
"""

import jax
import jax.numpy as jnp

from nst.backbones import _ops

# Convolutions per block, and their output channels.
DEPTHS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
_WIDTHS = (64, 128, 256, 512, 512)
# The classifier: (name, in features, out features); fc6 reads the flattened 7x7x512 pool5.
_HEAD = (("fc6", 7 * 7 * 512, 4096), ("fc7", 4096, 4096), ("fc8", 4096, 1000))
HEAD_LAYERS = ("fc6", "relu6", "fc7", "relu7", "fc8")


def _convs(arch: str) -> list[tuple[str, int, int]]:
    """``(name, in channels, out channels)`` of every convolution, in order."""
    convs, cin = [], 3
    for b, (depth, width) in enumerate(zip(DEPTHS[arch], _WIDTHS), start=1):
        for k in range(1, depth + 1):
            convs.append((f"conv{b}_{k}", cin, width))
            cin = width
    return convs


def param_shapes(arch: str) -> dict[str, tuple[int, ...]]:
    """Flat ``{"conv1_1/kernel": (3, 3, 3, 64), "conv1_1/bias": (64,), ...}``."""
    shapes = {}
    for name, cin, cout in _convs(arch):
        shapes[f"{name}/kernel"] = (3, 3, cin, cout)
        shapes[f"{name}/bias"] = (cout,)
    return shapes


def head_param_shapes(arch: str) -> dict[str, tuple[int, ...]]:
    """Flat ``{"fc6/kernel": (25088, 4096), "fc6/bias": (4096,), ...}`` (same for both archs)."""
    del arch
    shapes = {}
    for name, cin, cout in _HEAD:
        shapes[f"{name}/kernel"] = (cin, cout)
        shapes[f"{name}/bias"] = (cout,)
    return shapes


def layer_names(arch: str) -> tuple[str, ...]:
    return tuple(op.name for segment in segments(arch) for op in segment)


def segments(
    arch: str,
    *,
    pooling: str = "max",
    relu=jax.nn.relu,
) -> list[_ops.Segment]:
    """One segment per block: its convolutions and ReLUs, then the pooling."""

    def conv(name):
        def fn(p, x):
            layer = p[name]
            y = _ops.conv(x, layer["kernel"], padding=1, kernel_t=layer.get("kernel_t"))
            return y + layer["bias"].astype(x.dtype)

        return _ops.Op(name, fn, name)

    def pool(name):
        return _ops.Op(name, lambda p, x: _ops.pool_2x2(x, pooling, name=name))

    out = []
    for b, depth in enumerate(DEPTHS[arch], start=1):
        ops = []
        for k in range(1, depth + 1):
            ops += [conv(f"conv{b}_{k}"), _ops.Op(f"relu{b}_{k}", lambda p, x: relu(x))]
        out.append((*ops, pool(f"pool{b}")))
    return out


def head(arch: str, *, relu=jax.nn.relu) -> _ops.Segment:
    """The classifier after ``pool5``: NCHW flatten, fc6, relu6, fc7, relu7, fc8 (no softmax).

    The widths come from the params, so the checkpoints' 4096-wide head and a narrow test
    head run alike; ``fc6``'s kernel must have as many rows as the flattened ``pool5``.
    """
    del arch

    def dense(name, flatten=False):
        def fn(p, x):
            if name not in p:
                raise ValueError(
                    f"layer {name} needs the classifier head params: load them with "
                    "create(..., include_head=True) or load_params(..., include_head=True)"
                )
            kernel, bias = p[name]["kernel"], p[name]["bias"]
            if flatten:  # PyTorch (NCHW) order, as flaxmodels
                n, h, w, c = x.shape
                if kernel.shape[0] != h * w * c:
                    raise ValueError(
                        f"{name}: the classifier head reads {kernel.shape[0]} pool5 features but "
                        f"these images give {h}x{w}x{c} = {h * w * c}; the head needs 224x224 "
                        "images (7x7x512 pool5)"
                    )
                x = jnp.transpose(x, (0, 3, 1, 2)).reshape(n, h * w * c)
            return x @ kernel.astype(x.dtype) + bias.astype(x.dtype)

        return _ops.Op(name, fn)

    return (
        dense("fc6", flatten=True),
        _ops.Op("relu6", lambda p, x: relu(x)),
        dense("fc7"),
        _ops.Op("relu7", lambda p, x: relu(x)),
        dense("fc8"),
    )
