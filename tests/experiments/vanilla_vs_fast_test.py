"""vanilla_vs_fast's loss comparison: the Gatys-equivalent training weights against the two
objectives computed by hand from nst.losses, and the iteration a network's loss matches."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from experiments import vanilla_vs_fast
from nst import losses, stylize
from nst.config import StylizeConfig

SIZE = 32
CONFIG = StylizeConfig(
    weights="random",
    size=SIZE,
    content_layers=(("conv1_2", 1.0),),
    style_layers=(("conv1_1", 0.3), ("conv2_1", 0.7)),
    content_weight=2.0,
    style_weight=1e7,  # random weights: the two terms of similar size (asserted below)
)


def test_gatys_equivalent_weights_make_johnsons_loss_the_gatys_objective():
    rng = np.random.default_rng(0)
    photo, style, x = (rng.uniform(0, 1, (SIZE, SIZE, 3)).astype(np.float32) for _ in range(3))
    net, params = stylize.create_backbone(CONFIG)
    targets = stylize.make_targets(CONFIG, net, params, photo, [style])
    gatys, _ = stylize.make_objective(CONFIG, net)(x, params, targets, stylize.make_hyper(CONFIG))
    # Johnson's training loss by hand: mean content term, Grams normalized by C H W.
    f, p, s = (net(params, jnp.asarray(im)[None]) for im in (x, photo, style))
    content = losses.content_loss(f["conv1_2"][0], p["conv1_2"][0], norm="mean")
    style_term = sum(
        w
        * losses.style_layer_loss(f[n][0], losses.gram_matrix(s[n][0], norm="chw"), norm="johnson")
        for n, w in CONFIG.style_layers
    )
    w = vanilla_vs_fast.gatys_equivalent_weights(CONFIG, SIZE)
    johnson = w["content_weight"] * content + w["style_weight"] * style_term
    share = w["style_weight"] * style_term / johnson
    assert 0.1 < share < 0.9, share  # both terms matter: a wrong weight shows
    c_h_w = np.prod(f["conv1_2"].shape[1:])
    np.testing.assert_allclose(
        float(gatys), 0.5 * CONFIG.content_weight * c_h_w * johnson, rtol=1e-4
    )


def test_matching_iterations():
    history = [10.0, 6.0, 4.0, 3.0]
    assert vanilla_vs_fast.matching_iterations(history, 5.0) == 3
    assert vanilla_vs_fast.matching_iterations(history, 10.0) == 1
    assert vanilla_vs_fast.matching_iterations(history, 2.0) is None


def test_every_tier_measures_a_row_and_a_table_of_guesses_is_refused():
    """The speed claim reads measured rows only: each tier runs at least its smallest row
    (``--quick`` once ran 2 steps against rows of 100-1000 and failed at the end)."""
    for tier in ("quick", "middle", "full"):
        config = vanilla_vs_fast.get_config(tier=tier)
        assert min(config.iterations) <= config.gatys_steps, tier
        vanilla_vs_fast.validate(config)
    guesses = dataclasses.replace(vanilla_vs_fast.get_config(quick=True), iterations=(100,))
    with pytest.raises(ValueError, match="no row would be measured"):
        vanilla_vs_fast.validate(guesses)


def test_matched_claim_by_hand():
    """The optimization reaches the network's loss at iteration 9, 3.0 s in; one pass takes
    0.075 s: 40x, below 100x (not held, margin log10(0.4)). Never reached: the whole run
    (60 s) is a lower bound: 800x, held."""
    losses = {
        "256": {
            "feed_forward_equals_gatys_iterations": 9,
            "feed_forward_equals_gatys_seconds": 3.0,
            "gatys_seconds": 60.0,
            "feed_forward_seconds": 0.075,
        }
    }
    claim = vanilla_vs_fast.matched_claim(losses, 256)
    assert claim["values"]["speedup"] == pytest.approx(40.0) and not claim["held"]
    assert claim["margin"] == pytest.approx(np.log10(0.4)) and not claim["values"]["bound"]
    losses["256"].update(feed_forward_equals_gatys_iterations=None)
    never = vanilla_vs_fast.matched_claim(losses, 256)
    assert never["held"] and never["values"]["bound"]
    assert never["values"]["speedup"] == pytest.approx(800.0)
