"""VGG16 / VGG19 feature extractors (Simonyan & Zisserman 2015), convolutional part only.

Params layout (flaxmodels' ``VGG`` param tree, and its ``.h5`` checkpoints with ``weight``
for ``kernel``)::

    {"conv1_1": {"kernel": [3, 3, 3, 64], "bias": [64]}, "conv1_2": {...}, ...}

Layers, shallow to deep, per block ``b`` and conv ``k``: ``conv{b}_{k}`` (the convolution
output before its ReLU, as flaxmodels' activations), ``relu{b}_{k}``, and after each block
``pool{b}`` (2x2, stride 2, max or average).
"""

import jax

from nst.backbones import _ops

# Convolutions per block, and their output channels.
DEPTHS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
_WIDTHS = (64, 128, 256, 512, 512)


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
            return _ops.conv(x, p[name]["kernel"], padding=1) + p[name]["bias"].astype(x.dtype)

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
