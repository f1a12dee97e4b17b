"""nst.style_stats: one registry entry per style statistic, read by the config, the engine
and nst.highres. A toy statistic registered here must work end to end: if any of them kept
its own list of statistics, these tests fail."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from nst import highres, style_stats, stylize
from nst.config import StylizeConfig

SIZE = 24
LAYERS = (("conv1_1", 0.5), ("conv2_1", 0.5))
BASE = StylizeConfig(
    weights="random", size=SIZE, steps=3, lr=2e-2, style_weight=1e3, style_layers=LAYERS
)


def _channel_means(F):
    """[c] mean of each channel of one style image's features [h, w, c]."""
    return jnp.mean(F, axis=(0, 1))


def _blended(per_style, blend, shapes):
    names = per_style[0]
    return {"means": {n: sum(p[n] * w for p, w in zip(per_style, blend)) for n in names}}


def _toy_loss(F, gram, stats, config):
    return 7.0 * jnp.sum(jnp.square(jnp.mean(F, axis=(0, 1)) - stats["means"]))


TOY = style_stats.StyleStat(
    "toy_means", "channel means", _toy_loss, per_style=_channel_means, combine=_blended
)


@pytest.fixture
def toy():
    style_stats.register(TOY)
    yield TOY
    style_stats.unregister(TOY.name)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    content = rng.uniform(0, 1, (SIZE, SIZE, 3)).astype(np.float32)
    styles = [rng.uniform(0, 1, (20, SIZE, 3)).astype(np.float32) for _ in range(2)]
    return content, styles


@pytest.fixture(scope="module")
def net_params():
    return stylize.create_backbone(BASE)


def test_the_config_accepts_exactly_the_registered_names(toy):
    assert dataclasses.replace(BASE, style_stat="toy_means").style_stat == "toy_means"
    style_stats.unregister("toy_means")
    with pytest.raises(ValueError, match=r"StylizeConfig\.style_stat must be one of"):
        dataclasses.replace(BASE, style_stat="toy_means")
    style_stats.register(TOY)  # for the fixture's unregister


def test_the_engine_takes_targets_and_loss_from_the_entry(toy, images, net_params):
    content, styles = images
    net, params = net_params
    config = dataclasses.replace(BASE, style_stat="toy_means", style_blend=(0.25, 0.75))
    targets = stylize.make_targets(config, net, params, content, styles)
    _, terms = stylize.make_objective(config, net)(
        content, params, targets, stylize.make_hyper(config)
    )
    feats = lambda image: {
        k: np.asarray(v[0], np.float64) for k, v in net(params, image[None]).items()
    }
    generated, per_style = feats(content), [feats(s) for s in styles]
    for name, _ in LAYERS:
        # Hand computation: the blended channel means of the styles, the toy loss on them.
        target = 0.25 * per_style[0][name].mean((0, 1)) + 0.75 * per_style[1][name].mean((0, 1))
        np.testing.assert_allclose(targets.stats["means"][name], target, rtol=1e-5, atol=1e-6)
        want = 7.0 * np.sum((generated[name].mean((0, 1)) - target) ** 2)
        np.testing.assert_allclose(terms[f"style/{name}"], want, rtol=1e-4, atol=1e-7)


def test_a_run_with_the_toy_statistic_lowers_its_loss(toy, images, net_params):
    content, styles = images
    config = dataclasses.replace(BASE, style_stat="toy_means", content_weight=0.0, steps=4)
    result = stylize.stylize(config, content, styles[:1], net_params=net_params)
    style = result.history["style"]
    assert np.all(np.isfinite(style)) and style[-1] < style[0], style


def test_capabilities_come_from_the_entry(toy, images, net_params):
    content, styles = images
    net, params = net_params
    config = dataclasses.replace(BASE, style_stat="toy_means")
    with pytest.raises(ValueError, match="style_stat='toy_means' has no such target"):
        dataclasses.replace(config, balance="relative")
    mask = np.ones((SIZE, SIZE), np.float32)
    with pytest.raises(ValueError, match="style masks need style_stat='gram', got 'toy_means'"):
        stylize.make_targets(config, net, params, content, styles[:1], regions=[(mask, None)])
    with pytest.raises(ValueError, match=r"nst\.highres supports style_stat='gram' only"):
        hi = highres.HighresConfig(pyramid_start=0, tile_size=0)
        highres.plan(config, hi, (SIZE, SIZE, 3), net, params)


def test_registering_checks_the_entry():
    with pytest.raises(ValueError, match="already registered"):
        style_stats.register(dataclasses.replace(TOY, name="gram"))
    with pytest.raises(ValueError, match="built in"):
        style_stats.unregister("gram")
    with pytest.raises(ValueError, match="per_style and combine together"):
        style_stats.StyleStat("half", "no combine", _toy_loss, per_style=_channel_means)
    with pytest.raises(ValueError, match="Gram targets only"):
        dataclasses.replace(TOY, highres=True)
    with pytest.raises(ValueError, match="unknown style_stat 'nope'; choose one of gram"):
        style_stats.get("nope")


def test_every_builtin_statistic_is_registered_with_its_capabilities():
    table = {
        s.name: (s.relative, s.guided_loss is not None, s.highres) for s in style_stats.BUILTIN
    }
    assert table == {
        "gram": (True, True, True),
        "mean_gram": (True, False, False),
        "mean_cov_w2": (False, False, False),
        "mrf": (False, False, False),
    }
    assert all(style_stats.STYLE_STATS[name] is s for name, s in zip(table, style_stats.BUILTIN))
