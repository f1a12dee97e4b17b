"""Tests for nst.visualize and the VGG classifier head of nst.backbones.

References are independent: the seed's worked 3x3 ReLU example (copied from the lecture),
NumPy hand computations of the three backward rules on a two-layer dense net and through the
backbone's first two convolutions, ``jax.grad`` for the vanilla rule, SciPy's Gaussian
filter, flaxmodels' own head code (NCHW flatten) and the receptive fields published for
VGG16 and ResNet18. Random weights, 32-64 px images, few steps.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage

from nst import backbones, image, visualize
from nst.backbones import _registry
from nst.visualize import _ascent, _saliency

pytestmark = pytest.mark.usefixtures("fast_compile")


@pytest.fixture(scope="module")
def vgg():
    """VGG16 random params (conv part only: 15M numbers, no compilation)."""
    return backbones.load_params("vgg16", "random", seed=0)


@pytest.fixture(scope="module")
def photo():
    """The bundled tubingen photo as a 32x32 batch of one."""
    picture = image.load(image.sample("tubingen"), max_size=None)
    h, w = picture.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image.resize(picture[top : top + side, left : left + side], (32, 32))[None]


def _images(n, h, w, seed=0):
    return jax.random.uniform(jax.random.key(seed), (n, h, w, 3), jnp.float32)


def _tiny_head(rows, width=8, classes=10, seed=0):
    """A narrow classifier head (the VGG head's layout) reading ``rows`` pool5 features."""
    rng = np.random.default_rng(seed)
    shapes = {"fc6": (rows, width), "fc7": (width, width), "fc8": (width, classes)}
    return {
        name: {
            "kernel": jnp.asarray(rng.normal(size=s) * np.sqrt(2 / s[0]), jnp.float32),
            "bias": jnp.asarray(rng.normal(size=s[1:]) * 0.1, jnp.float32),
        }
        for name, s in shapes.items()
    }


# ----------------------------------------------------------------------------- ReLU rules

# The seed's worked example ("Visualizing and Understanding" lecture): forward input, the
# gradient from above, and what each rule passes down.
_X = np.array([[1, -1, 5], [2, -5, -7], [-3, 2, 4]], np.float32)
_G = np.array([[-2, 3, -1], [6, -3, 1], [2, -1, 3]], np.float32)
_WORKED = {
    "backprop": [[-2, 0, -1], [6, 0, 0], [0, -1, 3]],
    "deconvnet": [[0, 3, 0], [6, 0, 1], [2, 0, 3]],
    "guided": [[0, 0, 0], [6, 0, 0], [0, 0, 3]],
}


@pytest.mark.parametrize("rule", sorted(_WORKED))
def test_worked_3x3_example_exactly(rule):
    relu = visualize.RELU_RULES[rule]
    out, vjp = jax.vjp(relu, jnp.asarray(_X))
    np.testing.assert_array_equal(out, np.maximum(_X, 0))
    np.testing.assert_array_equal(vjp(jnp.asarray(_G))[0], np.array(_WORKED[rule], np.float32))


@pytest.mark.parametrize("rule", sorted(_WORKED))
def test_rules_under_jit_and_vmap(rule):
    relu = visualize.RELU_RULES[rule]
    xs, gs = jnp.stack([_X, -_X]), jnp.stack([_G, _G[::-1]])
    backward = lambda x, g: jax.vjp(relu, x)[1](g)[0]
    looped = jnp.stack([backward(x, g) for x, g in zip(xs, gs)])
    np.testing.assert_array_equal(jax.jit(jax.vmap(backward))(xs, gs), looped)
    half = jax.vjp(relu, jnp.asarray(_X, jnp.bfloat16))[1](jnp.asarray(_G, jnp.bfloat16))[0]
    assert half.dtype == jnp.bfloat16


def test_backprop_rule_is_jax_nn_relu():
    x = jnp.linspace(-2, 2, 9)  # includes 0, where both gradients are 0
    ours = jax.grad(lambda v: jnp.sum(jnp.sin(visualize.relu_backprop(v))))(x)
    np.testing.assert_array_equal(ours, jax.grad(lambda v: jnp.sum(jnp.sin(jax.nn.relu(v))))(x))


def _numpy_rule(rule, h, g):
    """The backward rules written out: h = forward input of the ReLU, g = gradient above."""
    if rule == "backprop":
        return g * (h > 0)
    if rule == "deconvnet":
        return g * (g > 0)
    return g * (h > 0) * (g > 0)


@pytest.mark.parametrize("rule", sorted(_WORKED))
def test_two_layer_dense_net_against_numpy(rule):
    # score(x) = (relu(x W1 + b1) W2)[k]: the gradient by hand is W1 (rule(h, W2[:, k])).
    rng = np.random.default_rng(1)
    x, w1, b1, w2 = (rng.normal(size=s) for s in ((6,), (6, 5), (5,), (5, 4)))
    k = 2
    relu = visualize.RELU_RULES[rule]
    score = lambda x: (relu(x @ w1 + b1) @ w2)[k]
    expected = w1 @ _numpy_rule(rule, x @ w1 + b1, w2[:, k])
    got = jax.grad(score)(jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    if rule == "backprop":
        plain = lambda x: (jax.nn.relu(x @ w1 + b1) @ w2)[k]
        np.testing.assert_allclose(got, jax.grad(plain)(jnp.asarray(x, jnp.float32)), rtol=1e-6)


def _np_conv_same(x, kernel):
    """3x3 'same' convolution, NHWC x HWIO, float64 (cross-correlation, as lax.conv)."""
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    h, w = x.shape[1:3]
    return sum(xp[:, i : i + h, j : j + w] @ kernel[i, j] for i in range(3) for j in range(3))


def _np_conv_same_transpose(g, kernel):
    """The gradient of ``_np_conv_same`` with respect to its input."""
    h, w = g.shape[1:3]
    out = np.zeros((g.shape[0], h + 2, w + 2, kernel.shape[2]))
    for i in range(3):
        for j in range(3):
            out[:, i : i + h, j : j + w] += g @ kernel[i, j].T
    return out[:, 1:-1, 1:-1]


@pytest.mark.parametrize("rule", sorted(_WORKED))
def test_backbone_two_conv_layers_against_numpy(vgg, rule):
    # VGG's conv1_1 -> relu1_1 -> conv1_2 is a two-layer ReLU net: saliency of one conv1_2
    # neuron, through the backbone with the rule swapped in, against NumPy float64.
    images = np.asarray(_images(1, 8, 8, seed=3), np.float64)
    channel, (row, col) = 5, (3, 4)
    net = backbones.Backbone("vgg16", ("conv1_2",))
    target = visualize.Target("conv1_2", channel, (row, col))
    got = visualize.saliency(net, vgg, images.astype(np.float32), target, rule=rule)

    mean, std = np.array(backbones.IMAGENET_MEAN), np.array(backbones.IMAGENET_STD)
    k1, b1 = (np.asarray(vgg["conv1_1"][k], np.float64) for k in ("kernel", "bias"))
    k2 = np.asarray(vgg["conv1_2"]["kernel"], np.float64)
    h = _np_conv_same((images - mean) / std, k1) + b1  # relu1_1's input
    above = np.zeros((*h.shape[:3], k2.shape[-1]))
    above[0, row, col, channel] = 1.0
    g = _numpy_rule(rule, h, _np_conv_same_transpose(above, k2))
    expected = _np_conv_same_transpose(g, k1) / std
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    assert np.abs(expected).max() > 0


def test_vanilla_saliency_is_jax_grad(vgg):
    images = _images(2, 32, 32, seed=1)
    net = backbones.Backbone("vgg16", ("relu3_1",))
    target = visualize.Target("relu3_1", channel=7, reduce="mean")
    channel_mean = lambda x: jnp.sum(jnp.mean(net(vgg, x)["relu3_1"][..., 7], (1, 2)))
    expected = jax.jit(jax.grad(channel_mean))(images)
    got = visualize.saliency(net, vgg, images, target)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    # the other rules change the backward pass only
    guided = visualize.saliency(net, vgg, images, target, rule="guided")
    deconv = visualize.saliency(net, vgg, images, target, rule=visualize.relu_deconvnet)
    assert not np.allclose(guided, got) and not np.allclose(deconv, got)


def test_saliency_channels_batch_matches_one_by_one(vgg):
    images = _images(3, 16, 16, seed=2)
    net = backbones.Backbone("vgg16", ("relu2_1",))
    target = visualize.Target("relu2_1", reduce="max")
    channels = np.array([4, 9, 4], np.int32)
    batched = visualize.saliency(net, vgg, images, target, rule="guided", channels=channels)
    for n, c in enumerate(channels):
        one = visualize.Target("relu2_1", int(c), reduce="max")
        single = visualize.saliency(net, vgg, images[n : n + 1], one, rule="guided")
        np.testing.assert_allclose(batched[n], single[0], rtol=1e-5, atol=1e-8)


def test_one_program_per_layer_and_rule_and_channel_checks(vgg):
    net = backbones.Backbone("vgg16", ("relu2_1",))
    images = _images(1, 16, 16, seed=5)
    visualize.saliency(net, vgg, images, visualize.Target("relu2_1", 1, (2, 3)))
    compiled = _saliency._saliency._cache_size()
    for channel in (2, 3, 127):  # other channels: the same program
        visualize.saliency(net, vgg, images, visualize.Target("relu2_1", channel, (2, 3)))
    assert _saliency._saliency._cache_size() == compiled
    with pytest.raises(ValueError, match="channel 128 is out of range for relu2_1's 128"):
        visualize.saliency(net, vgg, images, visualize.Target("relu2_1"), channels=[128])
    with pytest.raises(ValueError, match=r"position \(9, 0\) is outside relu2_1's 8x8"):
        target = visualize.Target("relu2_1", position=(9, 0))
        visualize.gradient_ascent(jax.random.key(0), net, vgg, target, shape=(16, 16))


def test_unknown_rule():
    net = backbones.Backbone("vgg16", ("conv1_1",))
    with pytest.raises(ValueError, match="rule must be one of backprop, deconvnet, guided"):
        visualize.saliency(net, {}, _images(1, 8, 8), visualize.Target("conv1_1"), rule="nope")


# --------------------------------------------------------------------------------- targets


def test_score_reads_neurons_means_maxima_and_classes():
    f = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    at = visualize.Target("conv1_1", 2, (1, 3))
    np.testing.assert_array_equal(visualize.score(f, at), f[:, 1, 3, 2])
    mean = visualize.Target("conv1_1", 4)
    np.testing.assert_allclose(visualize.score(f, mean), f[..., 4].mean((1, 2)))
    peak = visualize.Target("conv1_1", 4, reduce="max")
    np.testing.assert_array_equal(
        visualize.score(f, peak, channel=[0, 3]), [f[0, ..., 0].max(), f[1, ..., 3].max()]
    )
    logits = np.arange(20, dtype=np.float32).reshape(2, 10)
    np.testing.assert_array_equal(visualize.score(logits, visualize.class_score(7)), [7, 17])
    assert visualize.class_score(281).label == "fc8 class 281"
    assert at.label == "conv1_1 ch 2 (1, 3)"


def test_score_errors():
    f = np.zeros((1, 3, 4, 5), np.float32)
    with pytest.raises(ValueError, match="channel 5 is out of range for conv1_1's 5 channels"):
        visualize.score(f, visualize.Target("conv1_1", 5))
    with pytest.raises(ValueError, match=r"position \(3, 0\) is outside conv1_1's 3x4"):
        visualize.score(f, visualize.Target("conv1_1", 0, (3, 0)))
    with pytest.raises(ValueError, match="fc8 has no spatial positions"):
        visualize.score(np.zeros((1, 10)), visualize.Target("fc8", 0, (0, 0)))
    with pytest.raises(ValueError, match="reduce must be one of mean, max"):
        visualize.Target("conv1_1", reduce="sum")
    with pytest.raises(ValueError, match="position must be"):
        visualize.Target("conv1_1", position=(1, -1))


def test_display_helpers():
    g = np.asarray(_images(2, 5, 6, seed=4)) - 0.5
    m = visualize.saliency_map(g)
    assert m.shape == (2, 5, 6)
    np.testing.assert_allclose(m.max(axis=(1, 2)), 1.0)
    np.testing.assert_allclose(m[0], np.abs(g[0]).max(-1) / np.abs(g[0]).max(), rtol=1e-6)
    shown = visualize.gradient_image(g)
    assert shown.shape == g.shape and 0 <= shown.min() and shown.max() <= 1
    np.testing.assert_array_equal(visualize.gradient_image(np.zeros((4, 4, 3))), 0.5)
    np.testing.assert_array_equal(visualize.saliency_map(np.zeros((4, 4, 3))), 0.0)


# ------------------------------------------------------------------------ classifier head


def test_head_layers_and_full_shapes():
    names = backbones.layer_names("vgg16", include_head=True)
    assert names[-5:] == ("fc6", "relu6", "fc7", "relu7", "fc8")
    assert backbones.layer_names("vgg16") == names[:-5]
    assert backbones.layer_names("resnet18", include_head=True) == backbones.layer_names("resnet18")
    # The full head, abstractly (no 0.5 GB allocation): flaxmodels' shapes.
    spec = backbones.BACKBONES["vgg19"]
    shapes = {**spec.param_shapes, **spec.head_param_shapes}
    assert spec.head_param_shapes["fc6/kernel"] == (25088, 4096)
    assert spec.head_param_shapes["fc8/kernel"] == (4096, 1000)
    abstract = _registry.unflatten(
        {k: jax.ShapeDtypeStruct(s, jnp.float32) for k, s in shapes.items()}
    )
    net = backbones.Backbone("vgg19", ("fc6", "relu7", "fc8"))
    out = jax.eval_shape(net, abstract, jax.ShapeDtypeStruct((2, 224, 224, 3), jnp.float32))
    assert {k: v.shape for k, v in out.items()} == {
        "fc6": (2, 4096),
        "relu7": (2, 4096),
        "fc8": (2, 1000),
    }


def test_head_matches_flaxmodels_flatten_order(vgg):
    # flaxmodels' VGG.__call__ (include_head=True): transpose pool5 to NCHW, reshape, then
    # Dense fc6 -> relu -> fc7 -> relu -> fc8. 64 px gives a 2x2 pool5, so the order matters.
    head = _tiny_head(2 * 2 * 512)
    net = backbones.Backbone("vgg16", ("pool5", "relu6", "fc8"))
    feats = jax.jit(net)({**vgg, **head}, _images(2, 64, 64, seed=6))
    pool5 = np.asarray(feats["pool5"], np.float64)
    x = pool5.transpose(0, 3, 1, 2).reshape(2, -1)
    dense = lambda x, name: x @ np.asarray(head[name]["kernel"]) + np.asarray(head[name]["bias"])
    relu6 = np.maximum(dense(x, "fc6"), 0)
    fc8 = dense(np.maximum(dense(relu6, "fc7"), 0), "fc8")
    np.testing.assert_allclose(feats["relu6"], relu6, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(feats["fc8"], fc8, rtol=1e-4, atol=1e-5)
    hwc = pool5.reshape(2, -1)  # the wrong (NHWC) order would give other scores
    assert not np.allclose(dense(np.maximum(dense(hwc, "fc6"), 0), "fc7"), dense(relu6, "fc7"))


def test_head_errors(vgg, tmp_path):
    net = backbones.Backbone("vgg16", ("fc8",))
    images = jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)  # trace only: errors come first
    with pytest.raises(ValueError, match="layer fc6 needs the classifier head params"):
        jax.eval_shape(net, vgg, images)
    full_rows = {**vgg, **_tiny_head(25088)}
    with pytest.raises(
        ValueError,
        match=r"reads 25088 pool5 features but these images give 1x1x512 = 512; the head "
        r"needs 224x224",
    ):
        jax.eval_shape(net, full_rows, images)
    with pytest.raises(ValueError, match="no classifier head is provided for resnet18"):
        backbones.load_params("resnet18", include_head=True)
    with pytest.raises(ValueError, match=r"unknown layer.*'fc8' for resnet18"):
        backbones.Backbone("resnet18", ("fc8",))
    path = backbones.save_params(tmp_path / "conv.npz", "vgg16", vgg)  # no head inside
    with pytest.raises(backbones.WeightsError, match="missing keys fc6/kernel, fc6/bias"):
        backbones.load_params("vgg16", path, include_head=True)
    assert "fc6" not in backbones.load_params("vgg16", path)


def test_class_saliency_and_ascent_with_a_narrow_head(vgg):
    params = {**vgg, **_tiny_head(2 * 2 * 512)}
    net = backbones.Backbone("vgg16", ("fc8",))
    images = _images(1, 64, 64, seed=7)
    target = visualize.class_score(3)
    expected = jax.jit(jax.grad(lambda x: net(params, x)["fc8"][0, 3]))(images)
    np.testing.assert_allclose(
        visualize.saliency(net, params, images, target), expected, rtol=1e-5, atol=1e-8
    )
    config = visualize.AscentConfig(steps=4, lr=0.1)
    result = visualize.gradient_ascent(
        jax.random.key(0), net, params, target, shape=(64, 64), channels=[3, 5], config=config
    )
    assert result.images.shape == (2, 64, 64, 3) and result.scores.shape == (4, 2)
    assert np.all(np.asarray(result.final) > result.scores[0] + 0.1)


# ---------------------------------------------------------------------- gradient ascent


def test_gradient_ascent_raises_the_score(vgg):
    net = backbones.Backbone("vgg16", ("relu3_1",))
    target = visualize.Target("relu3_1", channel=11)
    result = visualize.gradient_ascent(
        jax.random.key(0),
        net,
        vgg,
        target,
        shape=(32, 32),
        config=visualize.AscentConfig(steps=15, lr=0.1),
    )
    scores = result.scores[:, 0]
    assert float(result.final[0]) > 10 * max(abs(float(scores[0])), 1e-3)
    assert np.mean(np.diff(scores) > 0) > 0.8  # Adam climbs almost every step
    assert 0 <= float(result.images.min()) and float(result.images.max()) <= 1


def test_one_compiled_step_for_every_regularizer_setting(vgg):
    net = backbones.Backbone("vgg16", ("relu2_1",))
    target = visualize.Target("relu2_1", channel=3)
    base = visualize.AscentConfig(steps=4, blur_sigma=1.0)
    run = lambda **kw: visualize.gradient_ascent(
        jax.random.key(1), net, vgg, target, shape=(16, 16), config=dataclasses.replace(base, **kw)
    )
    run()
    compiled = _ascent._step._cache_size()
    results = [run(blur_every=2), run(jitter=3), run(norm_percentile=50.0), run(l2=0.1, lr=0.3)]
    assert _ascent._step._cache_size() == compiled
    for result in results:
        assert (
            np.all(np.isfinite(result.images))
            and 0 <= result.images.min() <= result.images.max() <= 1
        )
    # 50th-percentile clipping leaves about half the pixels at the mean colour (z = 0).
    z = (np.asarray(results[2].images[0]) - backbones.IMAGENET_MEAN) / backbones.IMAGENET_STD
    assert 0.45 <= np.mean(np.all(np.abs(z) < 1e-5, axis=-1)) <= 0.55


def test_one_sgd_step_is_the_gradient(vgg):
    # From the exact zero image (the mean colour) with biases (so the gradient is not 0):
    # z1 = lr * d score / dz = lr * std * d score / dI, the saliency at the mean image.
    params = dict(vgg, conv1_1={**vgg["conv1_1"], "bias": jnp.linspace(-0.5, 0.5, 64)})
    net = backbones.Backbone("vgg16", ("relu1_2",))
    target = visualize.Target("relu1_2", channel=2)
    config = visualize.AscentConfig(
        steps=1, optimizer="sgd", lr=0.5, l2=0.0, init_std=0.0, clip=False
    )
    result = visualize.gradient_ascent(
        jax.random.key(0), net, params, target, shape=(8, 8), config=config
    )
    mean = np.broadcast_to(np.asarray(backbones.IMAGENET_MEAN, np.float32), (1, 8, 8, 3))
    grad = visualize.saliency(net, params, mean, target)
    expected = np.clip(mean + np.asarray(backbones.IMAGENET_STD) ** 2 * 0.5 * grad, 0, 1)
    np.testing.assert_allclose(result.images, expected, rtol=1e-5, atol=1e-6)


def test_gaussian_blur_matches_scipy():
    x = np.asarray(_images(2, 9, 11, seed=8))
    got = visualize.gaussian_blur(x, 0.8, radius=3)
    expected = scipy.ndimage.gaussian_filter(x, (0, 0.8, 0.8, 0), mode="nearest", truncate=3 / 0.8)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_ascent_config_checks():
    with pytest.raises(ValueError, match="optimizer must be one of adam, sgd"):
        visualize.AscentConfig(optimizer="lbfgs")
    with pytest.raises(ValueError, match=r"AscentConfig\.norm_percentile is out of range"):
        visualize.AscentConfig(norm_percentile=100)
    assert visualize.AscentConfig(blur_sigma=1.0).blur_radius == 3


# -------------------------------------------------------------------- feature inversion


def test_feature_inversion_shallow_layers_reconstruct_closely(vgg, photo):
    # Measured (32x32 tubingen crop, random VGG16, 150 Adam steps, lambda 0.5): conv1_1
    # 40.3 dB, relu2_2 32.2 dB, relu3_3 18.1 dB. conv1_1 (64 filters 3x3x3) is nearly
    # invertible; every pooling and ReLU after it forgets more.
    config = visualize.InversionConfig(steps=150)
    psnr = {}
    for layer in ("conv1_1", "relu2_2", "relu3_3"):
        net = backbones.Backbone("vgg16", (layer,))
        result = visualize.invert(jax.random.key(0), net, vgg, photo, layer=layer, config=config)
        psnr[layer] = float(visualize.psnr(result.images, photo)[0])
        assert result.losses.shape == (150, 1)
        assert float(result.final[0]) < 0.1 * float(result.losses[0, 0])
    assert psnr["conv1_1"] > 35, psnr
    assert psnr["conv1_1"] > psnr["relu2_2"] > psnr["relu3_3"], psnr


def test_feature_distance_and_psnr():
    rng = np.random.default_rng(2)
    f, p = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(2, 3, 4, 5))
    expected = ((f - p) ** 2).sum((1, 2, 3)) / (p**2).sum((1, 2, 3))
    np.testing.assert_allclose(visualize.feature_distance(f, p), expected, rtol=1e-5)
    np.testing.assert_allclose(visualize.feature_distance(np.zeros((2, 5)), p[:, 0, 0, :]), 1.0)
    a = np.full((1, 4, 4, 3), 0.5, np.float32)
    np.testing.assert_allclose(visualize.psnr(a, a + 0.1), 20.0, rtol=1e-5)  # MSE 0.01
    assert np.isinf(visualize.psnr(a, a))
    with pytest.raises(ValueError, match="same shape"):
        visualize.psnr(a, a[:, :2])


# ------------------------------------------------------------------ receptive fields, patches


@pytest.mark.parametrize(
    "name, layer, size, stride",
    [
        # VGG16: the sizes published with the architecture (3, 5, 6, ... 196, 212).
        ("vgg16", "conv1_1", 3, 1),
        ("vgg16", "relu1_2", 5, 1),
        ("vgg16", "pool1", 6, 2),
        ("vgg16", "conv3_3", 40, 4),
        ("vgg16", "relu4_3", 92, 8),
        ("vgg16", "conv5_3", 196, 16),
        ("vgg16", "pool5", 212, 32),
        ("vgg19", "conv5_4", 252, 16),
        # ResNet18: 435 px at the end (Araujo et al., "Computing Receptive Fields", 2019).
        ("resnet18", "maxpool", 11, 4),
        ("resnet18", "layer1", 43, 4),
        ("resnet18", "layer4", 435, 32),
        ("resnet50", "layer4", 427, 32),  # torchvision: stride on the 3x3 (v1.5)
    ],
)
def test_receptive_field_table(name, layer, size, stride):
    field = visualize.receptive_field(name, layer)
    assert (field.size, field.stride) == (size, stride)


@pytest.mark.parametrize(
    "layer, unit", [("conv2_2", (5, 6)), ("pool2", (3, 4)), ("conv3_2", (4, 3))]
)
def test_receptive_field_is_the_gradient_support(vgg, layer, unit):
    # A linear, positive network (|kernels|, identity ReLU, average pooling) has a nonzero
    # input gradient exactly on the receptive field.
    positive = jax.tree.map(jnp.abs, vgg)
    net = backbones.Backbone("vgg16", (layer,), pooling="avg", relu=_identity)
    target = visualize.Target(layer, 0, unit)
    g = np.abs(np.asarray(visualize.saliency(net, positive, _images(1, 32, 32), target)[0])).sum(-1)
    rows, cols = np.nonzero(g > 0)
    top, left, size = visualize.receptive_field("vgg16", layer).box(*unit)
    assert (rows.min(), cols.min()) == (max(top, 0), max(left, 0))
    assert (rows.max(), cols.max()) == (min(top + size, 32) - 1, min(left + size, 32) - 1)


def _identity(x):
    return x


def test_receptive_field_errors():
    with pytest.raises(ValueError, match="'fc8' is not a feature layer of vgg16"):
        visualize.receptive_field("vgg16", "fc8")
    with pytest.raises(ValueError, match="unknown backbone 'alexnet'"):
        visualize.receptive_field("alexnet", "conv1")


def test_crop_fills_outside_the_image():
    x = np.arange(4 * 5 * 1, dtype=np.float32).reshape(4, 5, 1)
    out = visualize.crop(x, (-1, 3, 3), fill=-1.0)
    np.testing.assert_array_equal(out[..., 0], [[-1, -1, -1], [3, 4, -1], [8, 9, -1]])


def test_top_patches(vgg):
    images = [np.asarray(im) for im in _images(3, 24, 24, seed=9)] + [
        np.asarray(_images(1, 16, 32)[0])
    ]
    net = backbones.Backbone("vgg16", ("relu2_1",))
    patches = visualize.top_patches(net, vgg, images, layer="relu2_1", channels=[1, 6], k=4)
    field = visualize.receptive_field("vgg16", "relu2_1")
    for channel, found in patches.items():
        maps = [np.asarray(net(vgg, im[None])["relu2_1"][0, ..., channel]) for im in images]
        best = max(range(len(maps)), key=lambda i: maps[i].max())
        assert found[0].image == best
        np.testing.assert_allclose(found[0].value, maps[best].max(), rtol=1e-5)
        assert found[0].value == maps[best][found[0].row, found[0].col]
        values = [p.value for p in found]
        assert values == sorted(values, reverse=True) and len(found) == 4
        for p in found:
            assert p.crop.shape == (field.size, field.size, 3)
            assert p.box == field.box(p.row, p.col)
            np.testing.assert_allclose(p.value, maps[p.image][p.row, p.col], rtol=1e-5)
        for a in found:  # distinct: no two centres within half a field in one image
            for b in found:
                if a is not b and a.image == b.image:
                    assert (
                        max(abs(a.row - b.row), abs(a.col - b.col)) * field.stride >= field.size / 2
                    )
