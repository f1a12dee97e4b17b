"""The papers' pixel-space weights mean what they meant (nst.losses, Units).

On the bundled tubingen x starry_night pair (64 px, the real Caffe VGG19), with the papers'
own perceptual normalization and weights, each pixel-space term at the paper's weight takes
between 1% and 99% of the gradient: it neither vanishes nor swamps the perceptual terms.

The gradient is taken where the term is not yet satisfied: at the image a short run of the
objective *without* the term reaches from the content photo (40 Adam steps, lr 2e-2). The
share is ``|w dT/dx| / (|w dT/dx| + |dR/dx|)`` with ``R`` the rest of the objective.

The papers' objectives (their code: jcjohnson's neural-style and the code built on it,
Ruder et al.'s artistic-videos and Luan et al.'s deep-photo-styletransfer) take means of
squared feature differences (``content_norm="mean"``) and of squared Gram differences with
Grams over ``C H W`` (``style_norm="mean"``), every style layer at the style weight. The TV
sweep's seed takes the PyTorch tutorial's losses, the same means, its style weight spread
over five layers (0.2 each), and L1 TV.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nst import image as nst_image
from nst import stylize
from nst.config import StylizeConfig

SIZE = 64
STEPS = 40

# conv1_1 ... conv5_1, each at the style weight (neural-style sums its style layers).
EACH_LAYER = tuple((f"conv{b}_1", 1.0) for b in range(1, 6))
_PAPERS = dict(
    weights="imagenet",
    size=SIZE,
    content_norm="mean",
    style_norm="mean",
    optimizer="adam",
    lr=2e-2,
    steps=STEPS,
    stop_tol=0.0,
    tv_kind="l1",
)
# tv_sweep's seed: alpha 1, beta 1e3 (0.2 per style layer), L1 TV 10 and 100.
TV_SEED = StylizeConfig(**_PAPERS, content_weight=1.0, style_weight=1e3)
# Luan et al. 2017 (deep-photo-styletransfer defaults): content 5, style 100, lambda 1e4.
# Ruder et al. 2016 (artistic-videos defaults): content 5, style 100, temporal 1e3.
NEURAL_STYLE = StylizeConfig(
    **_PAPERS, content_weight=5.0, style_weight=100.0, style_layers=EACH_LAYER
)


@pytest.fixture(scope="module")
def pair():
    content = nst_image.load(nst_image.sample("tubingen"), max_size=SIZE)
    style = nst_image.load(nst_image.sample("starry_night"), max_size=SIZE)
    return content, style


@pytest.fixture(scope="module")
def net_params():
    return stylize.create_backbone(NEURAL_STYLE)


@pytest.fixture(scope="module")
def free_runs(pair, net_params):
    """Where each objective gets without the pixel-space term: the TV seed's and the
    neural-style objective's runs from the content photo, and the latter's from noise
    (an independently stylized frame, Ruder et al.'s flicker)."""
    content, style = pair
    noise = np.random.default_rng(0).uniform(size=content.shape).astype(np.float32)
    results = stylize.sweep(
        [TV_SEED, NEURAL_STYLE, NEURAL_STYLE],
        content,
        [style],
        net_params=net_params,
        init_images=np.stack([content, content, noise]),
    )
    return {k: r.image for k, r in zip(("tv seed", "neural-style", "from noise"), results)}


def _share(config, net_params, targets, image, term, weight):
    """The term's share of the gradient norm at ``image`` (the engine's objective)."""
    net, params = net_params
    objective = stylize.make_objective(config, net)
    zero = dict(tv_weight=0.0, photo_weight=0.0, temporal_weight=0.0)
    rest = stylize.make_hyper(dataclasses.replace(config, **zero))
    alone = stylize.make_hyper(
        dataclasses.replace(
            config, content_weight=0.0, style_weight=0.0, **{**zero, f"{term}_weight": weight}
        )
    )
    grad = lambda hyper: jax.grad(lambda x: objective(x, params, targets, hyper)[0])(image)
    g_term = float(jnp.linalg.norm(grad(alone)))
    g_rest = float(jnp.linalg.norm(grad(rest)))
    return g_term / (g_term + g_rest)


@pytest.mark.parametrize("weight", [10.0, 100.0])
def test_tv_at_the_seeds_weight(weight, pair, net_params, free_runs):
    content, style = pair
    net, params = net_params
    targets = stylize.make_targets(TV_SEED, net, params, content, [style])
    share = _share(TV_SEED, net_params, targets, free_runs["tv seed"], "tv", weight)
    assert 0.01 < share < 0.99, share


def test_photorealism_at_luans_weight(pair, net_params, free_runs):
    content, style = pair
    net, params = net_params
    targets = stylize.make_targets(NEURAL_STYLE, net, params, content, [style], photo=True)
    image = free_runs["neural-style"]
    share = _share(NEURAL_STYLE, net_params, targets, image, "photo", 1e4)
    assert 0.01 < share < 0.99, share


def test_temporal_at_ruders_weight(pair, net_params, free_runs):
    content, style = pair
    net, params = net_params
    targets = stylize.make_targets(NEURAL_STYLE, net, params, content, [style])
    previous = jnp.asarray(free_runs["from noise"])
    targets = targets._replace(temporal=(previous, jnp.ones(content.shape[:2], jnp.float32)))
    image = free_runs["neural-style"]
    share = _share(NEURAL_STYLE, net_params, targets, image, "temporal", 1e3)
    assert 0.01 < share < 0.99, share
