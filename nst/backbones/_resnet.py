"""ResNet18/34/50/101/152 feature extractors (He et al. 2016), torchvision variant.

The same computation as flaxmodels' ``ResNet(..., train=False)`` (weights converted from
torchvision): stem 7x7/2 convolution, batch norm, ReLU, 3x3/2 max pooling with padding 1;
four stages of residual blocks whose first block downsamples with stride 2 (except stage 1)
and a 1x1 projection shortcut. Bottleneck blocks (ResNet50+) put the stride on their 3x3
convolution ("ResNet v1.5"). Batch norm uses the running statistics (inference mode).

Params layout (the groups of flaxmodels' ``.h5`` checkpoints, ``weight`` read as ``kernel``)::

    conv1/kernel [7, 7, 3, 64]     bn1/{mean, var, scale, bias} [64]
    layer{s}/block{i}/conv{j}/kernel, layer{s}/block{i}/bn{j}/{mean, var, scale, bias}
    layer{s}/block0/downsample/conv/kernel, layer{s}/block0/downsample/bn/{...}

with ``j`` in 1..2 (basic blocks) or 1..3 (bottlenecks), ``s`` in 1..4, ``i`` from 0.

Layers, shallow to deep: ``conv1`` (stem convolution, before batch norm, as flaxmodels'
activations), ``bn1``, ``relu``, ``maxpool``, then ``block{s}_{i}`` (the output of block
``i`` of stage ``s``, after its final ReLU, flaxmodels' activation names), and ``layer{s}``
(the stage output: the same tensor as its last block, torchvision's name).
"""

import jax

from nst.backbones import _ops

# Blocks per stage, and whether the blocks are bottlenecks (expansion 4).
DEPTHS = {
    "resnet18": (2, 2, 2, 2),
    "resnet34": (3, 4, 6, 3),
    "resnet50": (3, 4, 6, 3),
    "resnet101": (3, 4, 23, 3),
    "resnet152": (3, 8, 36, 3),
}
_BOTTLENECK = {"resnet18": False, "resnet34": False}
_WIDTHS = (64, 128, 256, 512)


def _blocks(arch: str) -> list[tuple[int, int, int, int, int, bool]]:
    """``(stage, index, in channels, width, stride, downsample)`` of every residual block."""
    bottleneck = _BOTTLENECK.get(arch, True)
    blocks, cin = [], 64
    for s, (depth, width) in enumerate(zip(DEPTHS[arch], _WIDTHS), start=1):
        cout = 4 * width if bottleneck else width
        for i in range(depth):
            stride = 2 if (i == 0 and s > 1) else 1
            # flaxmodels: a projection shortcut where the shape changes (block 0 of every
            # stage, except stage 1 of the basic-block ResNets, whose shape is unchanged).
            downsample = i == 0 and (s > 1 or bottleneck)
            blocks.append((s, i, cin, width, stride, downsample))
            cin = cout
    return blocks


def _bn(shapes: dict, prefix: str, c: int) -> None:
    for leaf in ("mean", "var", "scale", "bias"):
        shapes[f"{prefix}/{leaf}"] = (c,)


def param_shapes(arch: str) -> dict[str, tuple[int, ...]]:
    """Flat ``{"conv1/kernel": (7, 7, 3, 64), "bn1/mean": (64,), ...}``."""
    bottleneck = _BOTTLENECK.get(arch, True)
    shapes = {"conv1/kernel": (7, 7, 3, 64)}
    _bn(shapes, "bn1", 64)
    for s, i, cin, width, _, downsample in _blocks(arch):
        p = f"layer{s}/block{i}"
        if bottleneck:
            convs = [(1, cin, width), (3, width, width), (1, width, 4 * width)]
        else:
            convs = [(3, cin, width), (3, width, width)]
        for j, (k, ci, co) in enumerate(convs, start=1):
            shapes[f"{p}/conv{j}/kernel"] = (k, k, ci, co)
            _bn(shapes, f"{p}/bn{j}", co)
        if downsample:
            cout = convs[-1][2]
            shapes[f"{p}/downsample/conv/kernel"] = (1, 1, cin, cout)
            _bn(shapes, f"{p}/downsample/bn", cout)
    return shapes


def layer_names(arch: str) -> tuple[str, ...]:
    return tuple(op.name for segment in segments(arch) for op in segment)


def segments(arch: str, *, pooling: str = "max", relu=jax.nn.relu) -> list[_ops.Segment]:
    """The stem, then one segment per residual block (the stage output joins its last block)."""
    del pooling  # the stem max pooling is part of the architecture
    bottleneck = _BOTTLENECK.get(arch, True)

    def stem_conv(p, x):
        return _ops.conv(x, p["conv1"]["kernel"], stride=2, padding=3)

    out = [
        (
            _ops.Op("conv1", stem_conv, "conv1"),
            _ops.Op("bn1", lambda p, x: _ops.batch_norm(x, p["bn1"]), "bn1"),
            _ops.Op("relu", lambda p, x: relu(x)),
            _ops.Op("maxpool", lambda p, x: _ops.max_pool_3x3_s2(x)),
        )
    ]
    depths = DEPTHS[arch]
    for s, i, _, _, stride, downsample in _blocks(arch):
        fn = _block(s, i, stride, downsample, bottleneck, relu)
        segment = (_ops.Op(f"block{s}_{i}", fn, f"layer{s}/block{i}"),)
        if i == depths[s - 1] - 1:
            segment += (_ops.Op(f"layer{s}", lambda p, x: x),)
        out.append(segment)
    return out


def _block(s: int, i: int, stride: int, downsample: bool, bottleneck: bool, relu):
    """``fn(params, x)`` of one residual block, reading ``params["layer{s}"]["block{i}"]``."""
    if bottleneck:
        # 1x1 reduce, 3x3 (strided), 1x1 expand.
        convs = [(1, 0), (stride, 1), (1, 0)]
    else:
        convs = [(stride, 1), (1, 1)]

    def fn(params, x):
        p = params[f"layer{s}"][f"block{i}"]
        y = x
        for j, (conv_stride, padding) in enumerate(convs, start=1):
            y = _ops.conv(y, p[f"conv{j}"]["kernel"], stride=conv_stride, padding=padding)
            y = _ops.batch_norm(y, p[f"bn{j}"])
            if j < len(convs):
                y = relu(y)
        if downsample:
            shortcut = _ops.conv(x, p["downsample"]["conv"]["kernel"], stride=stride)
            x = _ops.batch_norm(shortcut, p["downsample"]["bn"])
        return relu(y + x)

    return fn
