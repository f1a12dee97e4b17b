"""Engine tests of the peer features (issue 22): style statistics, spatial control, iterate
averaging and style scale. Tiny images, random VGG19 weights, a handful of steps."""

import dataclasses

import jax
import numpy as np
import pytest
import scipy.linalg

from nst import image, losses, style_stats, stylize
from nst.config import StylizeConfig

SIZE = 32
LAYERS = (("conv1_1", 0.5), ("conv2_1", 0.5))


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    content = np.stack([yy, xx, 0.5 * (yy + xx)], -1).astype(np.float32)
    style = rng.uniform(0, 1, (24, SIZE, 3)).astype(np.float32)
    return content, style


BASE = StylizeConfig(
    weights="random", size=SIZE, steps=4, lr=2e-2, style_weight=1e3, style_layers=LAYERS
)


@pytest.fixture(scope="module")
def net_params():
    return stylize.create_backbone(BASE)


def _features(net_params, img):
    net, params = net_params
    return {k: np.asarray(v[0], np.float64) for k, v in net(params, img[None]).items()}


def _style_term(config, net_params, content, styles, **kw):
    net, params = net_params
    targets = stylize.make_targets(config, net, params, content, styles, **kw)
    objective = stylize.make_objective(config, net)
    _, terms = objective(content, params, targets, stylize.make_hyper(config))
    return terms


@pytest.mark.parametrize("stat", [stat.name for stat in style_stats.BUILTIN])
def test_every_style_stat_runs_and_lowers_its_loss(stat, images, net_params):
    content, style = images
    config = dataclasses.replace(BASE, style_stat=stat, content_weight=0.0, steps=6)
    result = stylize.stylize(config, content, [style], net_params=net_params)
    assert result.stopped is None
    style_loss = result.history["style"]
    assert np.all(np.isfinite(style_loss))
    assert style_loss[-1] < style_loss[0], style_loss


def test_w2_term_matches_scipy(images, net_params):
    # The engine's style term for mean_cov_w2 against W2^2 / C computed from the style and
    # content features in NumPy / SciPy (sqrtm), eps as the engine uses it.
    content, style = images
    config = dataclasses.replace(BASE, style_stat="mean_cov_w2")
    terms = _style_term(config, net_params, content, [style])
    eps = stylize.W2_EPS
    gen, sty = _features(net_params, content), _features(net_params, style)
    for name, _ in LAYERS:
        c = gen[name].shape[-1]
        f, s = gen[name].reshape(-1, c), sty[name].reshape(-1, c)
        cov1 = np.cov(f, rowvar=False, bias=True) + eps * np.eye(c)
        cov2 = np.cov(s, rowvar=False, bias=True) + eps * np.eye(c)
        root = scipy.linalg.sqrtm(cov2).real
        cross = scipy.linalg.sqrtm(root @ cov1 @ root).real
        w2 = np.sum((f.mean(0) - s.mean(0)) ** 2) + np.trace(cov1 + cov2 - 2 * cross)
        np.testing.assert_allclose(terms[f"style/{name}"], w2 / c, rtol=2e-3)


def test_mean_gram_adds_the_mean_term(images, net_params):
    content, style = images
    gram = _style_term(BASE, net_params, content, [style])
    mean_gram = _style_term(
        dataclasses.replace(BASE, style_stat="mean_gram", style_mean_weight=3.0),
        net_params,
        content,
        [style],
    )
    gen, sty = _features(net_params, content), _features(net_params, style)
    for name, _ in LAYERS:
        d = gen[name].mean((0, 1)) - sty[name].mean((0, 1))
        expected = float(gram[f"style/{name}"]) + 3.0 * 0.25 * np.mean(d**2)
        np.testing.assert_allclose(mean_gram[f"style/{name}"], expected, rtol=1e-4)


def test_mrf_refuses_layers_too_large():
    net, params = stylize.create_backbone(BASE)
    config = dataclasses.replace(BASE, style_stat="mrf")
    big = np.zeros((512, 512, 3), np.float32)
    with pytest.raises(ValueError, match="style_stat='mrf' at conv1_1"):
        stylize.stat_targets(config, net, params, [big], big.shape)


def test_one_full_region_equals_plain_gram(images, net_params):
    # A content mask of ones and no style mask: the guided term is the plain Gatys term.
    content, style = images
    plain = _style_term(BASE, net_params, content, [style])
    ones = np.ones(content.shape[:2], np.float32)
    guided = _style_term(BASE, net_params, content, [style], regions=[(ones, None)])
    np.testing.assert_allclose(guided["style"], plain["style"], rtol=1e-4)


def test_region_targets_are_guided_grams_of_resized_masks(images, net_params):
    content, style = images
    net, params = net_params
    left = np.zeros(content.shape[:2], np.float32)
    left[:, : SIZE // 2] = 1.0
    style_mask = np.zeros(style.shape[:2], np.float32)
    style_mask[:12] = 1.0
    grams, masks = stylize.region_targets(
        BASE, net, params, [style, style], [(left, style_mask), (1 - left, None)], content.shape
    )
    sty = _features(net_params, style)
    for name, _ in LAYERS:
        h, w, c = sty[name].shape
        assert masks[name].shape == (2, *_features(net_params, content)[name].shape[:2])
        # Hand computation: mask resampled to the layer (PIL-equivalent bilinear), then
        # sum_k T_k^2 F_k F_k^T / sum_k T_k^2.
        t = np.asarray(losses.resize_mask(style_mask, (h, w)), np.float64).reshape(-1)
        f = sty[name].reshape(-1, c)
        expected = (f * t[:, None] ** 2).T @ f / np.sum(t**2)
        np.testing.assert_allclose(grams[name][0], expected, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(grams[name][1], f.T @ f / (h * w), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs_scipy", "lbfgs_host"])
def test_unmasked_pixels_keep_the_content(optimizer, images, net_params):
    content, style = images
    top = np.zeros(content.shape[:2], np.float32)
    top[: SIZE // 2] = 1.0
    config = dataclasses.replace(BASE, optimizer=optimizer)
    result = stylize.stylize(config, content, [style], net_params=net_params, regions=[(top, None)])
    np.testing.assert_array_equal(result.image[SIZE // 2 :], content[SIZE // 2 :])
    assert np.abs(result.image[: SIZE // 2] - content[: SIZE // 2]).max() > 1e-3


def test_region_errors(images, net_params):
    content, style = images
    net, params = net_params
    ones = np.ones(content.shape[:2], np.float32)
    with pytest.raises(ValueError, match="content mask must be"):
        stylize.region_targets(BASE, net, params, [style], [(ones[:5], None)], content.shape)
    with pytest.raises(ValueError, match="2 masks for 1 style images"):
        stylize.region_targets(
            BASE, net, params, [style], [(ones, None), (ones, None)], content.shape
        )
    mrf = dataclasses.replace(BASE, style_stat="mrf")
    with pytest.raises(ValueError, match="style masks need style_stat='gram'"):
        stylize.region_targets(mrf, net, params, [style], [(ones, None)], content.shape)


def test_ema_output_is_the_bias_corrected_average_of_the_iterates(images, net_params):
    # Iterates from a run without averaging (a snapshot every step), averaged in NumPy:
    # a <- d a + (1 - d) x_t, output a / (1 - d^T) (optax.ema with debias).
    content, style = images
    plain = stylize.stylize(
        dataclasses.replace(BASE, snapshot_every=1), content, [style], net_params=net_params
    )
    decay = 0.6
    averaged = stylize.stylize(
        dataclasses.replace(BASE, ema_decay=decay), content, [style], net_params=net_params
    )
    a = np.zeros_like(content, np.float64)
    for step in range(1, BASE.steps + 1):
        a = decay * a + (1 - decay) * plain.snapshots[step]
    expected = a / (1 - decay**BASE.steps)
    np.testing.assert_allclose(averaged.image, expected, atol=1e-5)
    assert np.abs(averaged.image - plain.image).max() > 1e-4  # it does change the output
    np.testing.assert_allclose(averaged.history["total"], plain.history["total"], rtol=1e-5)


def test_ema_refused_with_scipy():
    with pytest.raises(ValueError, match=r"StylizeConfig\.ema_decay needs a first-order"):
        dataclasses.replace(BASE, optimizer="lbfgs_scipy", ema_decay=0.9)


def test_style_scale_resizes_the_style_before_its_grams(images, net_params):
    content, style = images
    net, params = net_params
    scaled = dataclasses.replace(BASE, style_scale=0.5)
    by_config = stylize.gram_targets(scaled, net, params, [style], content.shape)
    # By hand: longest side 0.5 * 32 = 16 px (24x32 -> 12x16), then the unscaled path.
    small = image.resize(style, 16)
    assert small.shape == (12, 16, 3)
    by_hand = stylize.gram_targets(BASE, net, params, [small], content.shape)
    unscaled = stylize.gram_targets(BASE, net, params, [style], content.shape)
    for name, _ in LAYERS:
        np.testing.assert_allclose(by_config[name], by_hand[name], rtol=1e-5)
        assert not np.allclose(by_config[name], unscaled[name], rtol=1e-2)
    assert [s.shape for s in stylize.scale_styles(scaled, [style], (64, 40, 3))] == [(24, 32, 3)]


def test_new_fields_jit_and_sweep_agree(images, net_params):
    # One config through the vmapped sweep path (K=2, equal settings) gives the single run.
    content, style = images
    config = dataclasses.replace(BASE, style_stat="mean_cov_w2", ema_decay=0.5, steps=2)
    single = stylize.stylize(config, content, [style], net_params=net_params)
    swept = stylize.sweep(
        [config, dataclasses.replace(config, lr=1e-3)],
        content,
        [style],
        net_params=net_params,
        devices=jax.devices()[:1],
    )
    np.testing.assert_allclose(swept[0].image, single.image, atol=1e-5)
