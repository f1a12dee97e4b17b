"""Feed-forward formulas against NumPy: instance norm, CIN and the training loss by hand.

Instance norm (Ulyanov et al. 2017): ``(x - mean) / sqrt(var + eps) * scale + bias`` per
image and channel over H, W. CIN (Dumoulin et al. 2017): the same with ``gamma = w @ G``,
``beta = w @ B``. The perceptual loss (Johnson et al. 2016, ``nst.feedforward.train``):

    content = sum_l w_l mean_{hwc} (phi_l(y) - phi_l(x))^2
    style   = sum_l w_l sum_ij (G_l(y) - G_l(s))^2,   G = F^T F / (C H W)
    tv      = (sum (y[i+1, j] - y[i, j])^2 + sum (y[i, j+1] - y[i, j])^2) / (3 H W)
    total   = mean over the batch of lc * content + ls * style + ltv * tv
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nst import image as nst_image
from nst.feedforward import _layers, cin, nets, train
from nst.feedforward import config as ff_config

EPS = 1e-5


def _instance_norm(x):
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=(1, 2), keepdims=True)
    return (x - mean) / np.sqrt(var + EPS)


@pytest.fixture(scope="module")
def activations():
    rng = np.random.default_rng(0)
    # Channels with different offsets and spreads (variance far from 1 and from 0).
    scale = np.array([0.2, 1.0, 3.0, 7.0])
    return (rng.normal(size=(2, 5, 6, 4)) * scale + np.array([1.0, -2.0, 0.5, 4.0])).astype(
        np.float32
    )


def test_instance_norm_module_is_the_formula(activations):
    rng = np.random.default_rng(1)
    scale, bias = rng.normal(size=4).astype(np.float32), rng.normal(size=4).astype(np.float32)
    module = _layers.InstanceNorm()
    params = {"params": {"scale": jnp.asarray(scale), "bias": jnp.asarray(bias)}}
    out = module.apply(params, jnp.asarray(activations))
    want = _instance_norm(activations.astype(np.float64)) * scale + bias
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        cin.instance_normalize(activations), _instance_norm(activations), atol=1e-5
    )


def test_conditional_instance_norm_is_the_mixture_formula(activations):
    rng = np.random.default_rng(2)
    gamma_table = rng.normal(size=(3, 4)).astype(np.float32)
    beta_table = rng.normal(size=(3, 4)).astype(np.float32)
    weights = np.array([[0.2, 0.5, 0.3], [0.0, 1.0, 0.0]], np.float32)  # one row per image
    params = {"params": {"style_gamma": gamma_table, "style_beta": beta_table}}
    out = cin.ConditionalInstanceNorm(3).apply(params, jnp.asarray(activations), weights)
    gamma, beta = weights @ gamma_table, weights @ beta_table  # [B, C]
    want = (
        _instance_norm(activations.astype(np.float64)) * gamma[:, None, None] + beta[:, None, None]
    )
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


CONFIG = ff_config.replace(
    ff_config.get_config(quick=True),
    net=ff_config.NetConfig(width=4, num_residual=1),
    weights="random",
    content_layers=(("conv1_2", 0.7), ("conv2_1", 0.3)),
    style_layers=(("conv1_1", 0.5), ("conv2_1", 0.25)),
    content_weight=2.0,
    style_weight=40.0,
    tv_weight=200.0,
    batch_size=2,
    crop_size=16,
    style_size=24,
)


def _gram(f):
    f = np.asarray(f, np.float64)
    b, h, w, c = f.shape
    flat = f.reshape(b, h * w, c)
    return np.einsum("bmi,bmj->bij", flat, flat) / (c * h * w)


def test_training_loss_is_the_sum_of_its_terms_by_hand():
    rng = np.random.default_rng(3)
    images = rng.uniform(size=(2, 16, 16, 3)).astype(np.float32)
    style = rng.uniform(size=(40, 32, 3)).astype(np.float32)
    loss_net, net_params = train.create_loss_net(CONFIG)
    targets = train.make_style_targets(CONFIG, loss_net, net_params, [style])
    variables = nets.init(CONFIG.net, 0)
    # Distinct instance-norm affine maps so the network's output is not near-constant.
    variables["params"] = jax.tree.map(
        lambda a: a + 0.3 * jnp.asarray(rng.normal(size=a.shape), jnp.float32),
        variables["params"],
    )
    style_w = np.ones((2, 1), np.float32)
    key = jax.random.key(0)
    total, (parts, _) = train.make_loss(CONFIG, loss_net)(
        variables["params"], variables["batch_stats"], images, style_w, targets, net_params, key
    )

    out = np.asarray(nets.apply(CONFIG.net, variables, images, style_w, train=True, key=key)[0])
    fy, fx = loss_net(net_params, out), loss_net(net_params, images)
    fy = {k: np.asarray(v, np.float64) for k, v in fy.items()}
    fx = {k: np.asarray(v, np.float64) for k, v in fx.items()}
    small = nst_image.resize(style, CONFIG.style_size)
    assert max(small.shape[:2]) == CONFIG.style_size
    fs = loss_net(net_params, small[None])
    content = sum(w * ((fy[n] - fx[n]) ** 2).mean(axis=(1, 2, 3)) for n, w in CONFIG.content_layers)
    style_term = 0.0
    for n, w in CONFIG.style_layers:
        target = _gram(fs[n])  # [1, C, C]
        np.testing.assert_allclose(targets[n], target, rtol=1e-4, atol=1e-7)
        style_term = style_term + w * ((_gram(fy[n]) - target) ** 2).sum(axis=(1, 2))
    y = out.astype(np.float64)
    tv = ((y[:, 1:] - y[:, :-1]) ** 2).sum(axis=(1, 2, 3)) + (
        (y[:, :, 1:] - y[:, :, :-1]) ** 2
    ).sum(axis=(1, 2, 3))
    tv = tv / (3 * 16 * 16)
    want = {
        "content": CONFIG.content_weight * content,
        "style": CONFIG.style_weight * style_term,
        "tv": CONFIG.tv_weight * tv,
    }
    for name, value in want.items():
        np.testing.assert_allclose(parts[name], value.mean(), rtol=1e-4, err_msg=name)
        assert value.mean() > 1e-3 * float(total), name  # every term counts in the total
    np.testing.assert_allclose(total, sum(v.mean() for v in want.values()), rtol=1e-4)
