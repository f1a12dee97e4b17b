"""Gatys et al.'s normalized VGG: every filter's mean activation over images and positions is 1.

Gatys, Ecker & Bethge (2015, 2016) synthesize with "a normalized version of the 16
convolutional and 5 pooling layers of the 19-layer VGG network": the weights are scaled so
that the mean activation of each convolutional filter over images and positions is one.
With rectifying non-linearities and pooling (both positively homogeneous per channel) this
changes no decision of the network: filter ``o`` of layer ``l`` is divided by its mean
rectified activation ``m_l[o]`` (kernel and bias), and the next layer's weights reading
channel ``o`` are multiplied by it, so every pre-activation of the normalized network is
the original's divided by ``m_l`` per channel. What changes is the scale of each layer's
features, and so the balance of the Gram (style) terms across layers: on the original
Caffe VGG19 the deeper layers' Gram terms are orders of magnitude larger than conv1_1's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nst.backbones import _vgg
from nst.backbones._api import Backbone


def activation_means(
    name: str, params: Any, images: Sequence[Any], *, pooling: str = "max"
) -> dict[str, np.ndarray]:
    """``{conv: [C]}``: each filter's rectified activation (``relu{b}_{k}``) averaged over
    positions, then over ``images`` (each ``[H, W, 3]`` in [0, 1], any sizes)."""
    convs = [conv for conv, _, _ in _vgg._convs(name)]
    relus = tuple("relu" + conv[4:] for conv in convs)
    net = Backbone(name, relus, pooling=pooling)
    forward = jax.jit(lambda p, x: {k: jnp.mean(v, axis=(0, 1, 2)) for k, v in net(p, x).items()})
    sums = {conv: 0.0 for conv in convs}
    for image in images:
        means = forward(params, jnp.asarray(image, jnp.float32)[None])
        for conv, relu in zip(convs, relus):
            sums[conv] = sums[conv] + np.asarray(means[relu], np.float64)
    return {conv: sums[conv] / len(images) for conv in convs}


def normalize_activations(
    name: str, params: Any, images: Sequence[Any], *, pooling: str = "max"
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """VGG ``params`` rescaled so that every filter's mean rectified activation over
    ``images`` and positions is 1 (Gatys et al. 2015, sec. 2); filters that never fire
    there (mean 0) keep their scale.

    Returns:
      ``(params, means)``: the normalized params (same tree; a classifier head, if present,
      is left as it was and no longer matches) and each conv's original means ``{conv: [C]}``.
    """
    if name not in _vgg.DEPTHS:
        raise ValueError(f"normalize_activations is for VGG backbones, not {name!r}")
    if not len(images):
        raise ValueError("normalize_activations needs at least one image")
    means = activation_means(name, params, images, pooling=pooling)
    out = dict(params)
    previous = np.ones(3)
    for conv, _, _ in _vgg._convs(name):
        m = np.where(means[conv] > 0, means[conv], 1.0)
        layer = params[conv]
        kernel = np.asarray(layer["kernel"], np.float64)  # [3, 3, C_in, C_out]
        kernel = kernel * previous[None, None, :, None] / m[None, None, None, :]
        bias = np.asarray(layer["bias"], np.float64) / m
        dtype = np.asarray(layer["kernel"]).dtype
        out[conv] = {"kernel": jnp.asarray(kernel, dtype), "bias": jnp.asarray(bias, dtype)}
        previous = m
    return out, means
