"""Maximally activating patches (Zeiler & Fergus 2014; Girshick et al. 2014): for chosen
channels of a layer, the image regions, over a set of images, where they respond most."""

import dataclasses
import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import numpy as np

from nst import backbones
from nst.backbones import Backbone


class ReceptiveField(NamedTuple):
    """Where a feature map's units look, in input pixels.

    size: side of the (square) receptive field; stride: pixels between neighbouring units;
    offset: the centre of unit ``(0, 0)`` in continuous coordinates (pixel ``i`` spans
    ``[i, i + 1)``), so unit ``i`` is centred at ``offset + i * stride``.
    """

    size: int
    stride: int
    offset: float

    def box(self, row: int, col: int) -> tuple[int, int, int]:
        """``(top, left, size)``: the receptive field of unit ``(row, col)``; may leave the
        image (the padding the network saw)."""
        top = round(self.offset + row * self.stride - self.size / 2)
        left = round(self.offset + col * self.stride - self.size / 2)
        return top, left, self.size


def _vgg_ops(name: str, layer: str) -> list[tuple[int, int, int]]:
    ops = []
    for op in backbones.layer_names(name):
        if op.startswith("conv"):
            ops.append((3, 1, 1))
        elif op.startswith("pool"):
            ops.append((2, 2, 0))
        if op == layer:
            return ops
    raise AssertionError(layer)


def _resnet_ops(name: str, layer: str) -> list[tuple[int, int, int]]:
    shapes = backbones.BACKBONES[name].param_shapes
    ops = []
    for op in backbones.layer_names(name):
        if op == "conv1":
            ops.append((7, 2, 3))
        elif op == "maxpool":
            ops.append((3, 2, 1))
        elif op.startswith("block"):
            s, i = (int(v) for v in op[len("block") :].split("_"))
            stride = 2 if (i == 0 and s > 1) else 1  # on the block's first 3x3 convolution
            j = 1
            while (key := f"layer{s}/block{i}/conv{j}/kernel") in shapes:
                k = shapes[key][0]
                ops.append((k, stride if k == 3 else 1, (k - 1) // 2))
                if k == 3:
                    stride = 1
                j += 1
        if op == layer:
            return ops
    raise AssertionError(layer)


def receptive_field(name: str, layer: str) -> ReceptiveField:
    r"""The receptive field of ``layer``'s units in backbone ``name``.

    Composed over the convolutions and poolings up to ``layer`` (kernel :math:`k`, stride
    :math:`s`, padding :math:`p`):

    .. math::

        r \leftarrow r + (k - 1) j, \qquad
        o \leftarrow o + \left(\tfrac{k - 1}{2} - p\right) j, \qquad
        j \leftarrow j s,

    from :math:`r = j = 1, o = 0.5`. A residual block's field is its longer branch's.

    >>> receptive_field("vgg16", "conv5_3")
    ReceptiveField(size=196, stride=16, offset=8.0)

    Raises:
      ValueError: an unknown backbone or layer, or a classifier layer (it sees the whole
        image).
    """
    spec = backbones.BACKBONES.get(name)
    if spec is None:
        raise ValueError(
            f"unknown backbone {name!r}; choose one of {', '.join(backbones.BACKBONES)}"
        )
    if layer not in spec.layer_names:
        raise ValueError(
            f"{layer!r} is not a feature layer of {name}: choose one of "
            f"{', '.join(spec.layer_names)} (classifier layers see the whole image)"
        )
    ops = _vgg_ops(name, layer) if spec.family == "vgg" else _resnet_ops(name, layer)
    size, jump, offset = 1, 1, 0.5
    for k, s, p in ops:
        size += (k - 1) * jump
        offset += ((k - 1) / 2 - p) * jump
        jump *= s
    return ReceptiveField(size, jump, offset)


def crop(image: np.ndarray, box: tuple[int, int, int], *, fill: float = 1.0) -> np.ndarray:
    """The square ``box = (top, left, size)`` of ``[H, W, C]``, ``fill`` outside the image."""
    top, left, size = box
    h, w = image.shape[:2]
    out = np.full((size, size, image.shape[2]), fill, dtype=image.dtype)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + size, h), min(left + size, w)
    if y1 > y0 and x1 > x0:
        out[y0 - top : y1 - top, x0 - left : x1 - left] = image[y0:y1, x0:x1]
    return out


class Patch(NamedTuple):
    """One maximally activating patch: ``image`` (index into the images), the unit
    ``(row, col)`` in the feature map, its activation ``value``, its receptive field
    ``box = (top, left, size)`` in the image, and the ``crop`` itself (``[size, size, 3]``,
    white outside the image)."""

    image: int
    row: int
    col: int
    value: float
    box: tuple[int, int, int]
    crop: np.ndarray


@functools.partial(jax.jit, static_argnames=("net", "layer"))
def _channels(params, images, channels, *, net, layer):
    return net(params, images)[layer][..., channels]


def top_patches(
    net: Backbone,
    params,
    images: Sequence[np.ndarray] | np.ndarray,
    *,
    layer: str,
    channels: Sequence[int],
    k: int = 9,
    batch_size: int = 8,
    distinct: bool = True,
) -> dict[int, list[Patch]]:
    """The top-``k`` receptive-field crops of each channel over a set of images.

    Every image's ``layer`` features are computed (images of one shape in batches of
    ``batch_size``: one compilation per shape), every unit of every image is a candidate,
    and the ``k`` largest activations of each channel are kept, largest first. With
    ``distinct``, a candidate is skipped when its receptive field's centre lies within half
    a field of an already chosen one in the same image, so one strong region does not fill
    the top-k with near-copies.

    Args:
      net: a backbone (``layers`` is replaced by ``(layer,)``).
      params: its params.
      images: ``[H, W, 3]`` arrays in [0, 1] (sizes may differ), or one ``[N, H, W, 3]``.
      layer: a feature layer (``conv``, ``relu``, ``pool``; ResNet ``block``/``layer``).
      channels: the channels to rank.
      k: patches per channel.
      batch_size: images per forward pass.
      distinct: suppress near-duplicate patches (see above).

    Returns:
      ``{channel: [Patch, ...]}``, at most ``k`` each, by decreasing activation.

    References:
      Zeiler, Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014,
      Fig. 2. Girshick, Donahue, Darrell, Malik, "Rich feature hierarchies", CVPR 2014,
      sec. 3.1.
    """
    images = [np.asarray(im, np.float32) for im in images]
    if not images:
        raise ValueError("images is empty")
    for i, im in enumerate(images):
        if im.ndim != 3 or im.shape[-1] != 3:
            raise ValueError(f"images[{i}] must be [H, W, 3], got shape {im.shape}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    channels = [int(c) for c in channels]
    rf = receptive_field(net.name, layer)
    net = dataclasses.replace(net, layers=(layer,))
    index = np.asarray(channels, np.int32)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, im in enumerate(images):
        by_shape.setdefault(im.shape, []).append(i)
    maps: dict[int, np.ndarray] = {}  # image -> [h, w, len(channels)]
    for ids in by_shape.values():
        for start in range(0, len(ids), batch_size):
            chunk = ids[start : start + batch_size]
            batch = np.stack([images[i] for i in chunk])
            feats = np.asarray(_channels(params, batch, index, net=net, layer=layer))
            maps.update(zip(chunk, feats))
    order = sorted(maps)
    shapes = [maps[i].shape[:2] for i in order]
    out = {}
    for c_pos, channel in enumerate(channels):
        values = np.concatenate([maps[i][..., c_pos].ravel() for i in order])
        owner = np.concatenate([np.full(h * w, n) for n, (h, w) in enumerate(shapes)])
        cell = np.concatenate([np.arange(h * w) for h, w in shapes])
        chosen: list[Patch] = []
        for j in np.argsort(-values, kind="stable"):
            if len(chosen) == k:
                break
            i = order[owner[j]]
            r, c = divmod(int(cell[j]), shapes[owner[j]][1])
            if distinct and any(
                p.image == i and max(abs(p.row - r), abs(p.col - c)) * rf.stride < rf.size / 2
                for p in chosen
            ):
                continue
            box = rf.box(r, c)
            chosen.append(Patch(i, r, c, float(values[j]), box, crop(images[i], box)))
        out[channel] = chosen
    return out
