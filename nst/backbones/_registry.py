"""The registry: backbone name -> ``BackboneSpec`` (architecture, layers, defaults, checkpoint)."""

import dataclasses
import types
import zlib
from collections.abc import Callable, Mapping

import jax
import numpy as np
from flaxmodels.resnet import resnet as _flaxmodels_resnet
from flaxmodels.vgg import vgg as _flaxmodels_vgg

from nst.backbones import _ops, _resnet, _vgg


@dataclasses.dataclass(frozen=True, eq=False)
class BackboneSpec:
    """Everything known about one architecture, without its weights.

    Attributes:
      name: registry name, e.g. ``"vgg19"``.
      family: ``"vgg"`` or ``"resnet"``.
      layer_names: every feature name, ordered shallow to deep.
      param_shapes: flat ``{"conv1_1/kernel": (3, 3, 3, 64), ...}``: the params a checkpoint
        must hold (classifier heads excluded).
      default_layers: ``{"content": (...), "style": (...)}`` used by the Gatys engine.
      checkpoint_url: flaxmodels' published ImageNet ``.h5`` checkpoint.
      kernel_gain: random-init kernels are ``N(0, kernel_gain / fan_in)``.
      segments: ``segments(pooling=..., relu=...)`` -> the forward pass as named ops.
      head_layer_names: the classifier's layers after the last feature layer (VGG: ``fc6``,
        ``relu6``, ``fc7``, ``relu7``, ``fc8``); empty where none is provided.
      head_param_shapes: flat shapes of the classifier params (``include_head=True``).
      head: ``head(relu=...)`` -> the classifier as named ops, or None.
    """

    name: str
    family: str
    layer_names: tuple[str, ...]
    param_shapes: Mapping[str, tuple[int, ...]]
    default_layers: Mapping[str, tuple[str, ...]]
    checkpoint_url: str
    kernel_gain: float
    segments: Callable[..., list[_ops.Segment]] = dataclasses.field(repr=False)
    head_layer_names: tuple[str, ...] = ()
    head_param_shapes: Mapping[str, tuple[int, ...]] = dataclasses.field(
        default_factory=lambda: types.MappingProxyType({})
    )
    head: Callable[..., _ops.Segment] | None = dataclasses.field(default=None, repr=False)


# Gatys et al. (2016): content conv4_2 (output stride 8), style conv1_1 ... conv5_1.
_VGG_LAYERS = {
    "content": ("conv4_2",),
    "style": ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"),
}
# ResNets: content at the end of stage 2 (output stride 8, like VGG's conv4_2); style at the
# stem ReLU and every stage output (strides 2, 4, 8, 16, 32: one per resolution, like VGG's
# first conv of every block).
_RESNET_LAYERS = {
    "content": ("layer2",),
    "style": ("relu", "layer1", "layer2", "layer3", "layer4"),
}


def _spec(name: str) -> BackboneSpec:
    family = "vgg" if name.startswith("vgg") else "resnet"
    module = _vgg if family == "vgg" else _resnet
    urls = (_flaxmodels_vgg if family == "vgg" else _flaxmodels_resnet).URLS
    head = {}
    if family == "vgg":  # flaxmodels' VGG classifier (include_head=True); ResNets: none yet
        head = dict(
            head_layer_names=_vgg.HEAD_LAYERS,
            head_param_shapes=types.MappingProxyType(_vgg.head_param_shapes(name)),
            head=lambda **kw: _vgg.head(name, **kw),
        )
    return BackboneSpec(
        name=name,
        family=family,
        layer_names=module.layer_names(name),
        param_shapes=types.MappingProxyType(module.param_shapes(name)),
        default_layers=types.MappingProxyType(_VGG_LAYERS if family == "vgg" else _RESNET_LAYERS),
        checkpoint_url=urls[name],
        # He init for the plain VGG stack, LeCun init (flaxmodels' default) for the ResNets,
        # whose identity shortcuts already carry the signal. Feature std for U(0, 1) images:
        # VGG19 conv5_1 3.9 (He) vs 0.04 (LeCun); ResNet50 layer4 1.2 (LeCun) vs 530 (He).
        kernel_gain=2.0 if family == "vgg" else 1.0,
        segments=lambda **kw: module.segments(name, **kw),
        **head,
    )


BACKBONES: Mapping[str, BackboneSpec] = types.MappingProxyType(
    {name: _spec(name) for name in (*_vgg.DEPTHS, *_resnet.DEPTHS)}
)

DEFAULT_LAYERS: Mapping[str, Mapping[str, tuple[str, ...]]] = types.MappingProxyType(
    {name: spec.default_layers for name, spec in BACKBONES.items()}
)


def get(name: str) -> BackboneSpec:
    """The spec of ``name``; ``ValueError`` listing the registered names otherwise."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    return BACKBONES[name]


def random_params(spec: BackboneSpec, seed: int, *, include_head: bool = False) -> dict:
    """Random params with the layout of the checkpoints.

    Kernels ``N(0, gain / fan_in)`` (fan_in = kh * kw * in channels, or the in features of
    a dense layer; gain 2 (He) for VGG, 1 (LeCun) for ResNets), zero biases, and batch
    norms that are the identity: running mean 0, running variance 1, scale 1, bias 0. Drawn
    with NumPy (no compilation); each array depends only on ``seed`` and its own key, so
    VGG16 and VGG19 share their first layers. ``include_head`` adds the classifier (VGG16:
    124M more numbers, 0.5 GB).
    """
    shapes = dict(spec.param_shapes)
    if include_head:
        shapes.update(spec.head_param_shapes)
    flat = {}
    for path, shape in shapes.items():
        leaf = path.rsplit("/", 1)[1]
        if leaf == "kernel":
            fan_in = int(np.prod(shape[:-1]))
            std = np.float32((spec.kernel_gain / fan_in) ** 0.5)
            rng = np.random.default_rng([seed, zlib.crc32(path.encode())])
            flat[path] = std * rng.standard_normal(shape, np.float32)
        elif leaf in ("var", "scale"):
            flat[path] = np.ones(shape, np.float32)
        else:  # conv bias, batch-norm mean and bias
            flat[path] = np.zeros(shape, np.float32)
    return unflatten(jax.device_put(flat))  # one transfer, no per-shape compiles


def flatten(params: Mapping, prefix: str = "") -> dict:
    """``{"a": {"b": x}}`` -> ``{"a/b": x}``."""
    flat = {}
    for key, value in params.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, path + "/"))
        else:
            flat[path] = value
    return flat


def unflatten(flat: Mapping) -> dict:
    """``{"a/b": x}`` -> ``{"a": {"b": x}}``."""
    tree: dict = {}
    for path, value in flat.items():
        *parents, leaf = path.split("/")
        node = tree
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return tree
