"""Engine tests: tiny images, random VGG19 weights, a handful of steps."""

import dataclasses

import numpy as np
import pytest

from nst import backbones, losses, stylize
from nst import config as config_lib
from nst.config import StylizeConfig

SIZE = 32


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    content = np.stack([yy, xx, 0.5 * (yy + xx)], -1).astype(np.float32)
    style = rng.uniform(0, 1, (SIZE, SIZE, 3)).astype(np.float32)
    return content, style


BASE = StylizeConfig(weights="random", size=SIZE, steps=6, lr=2e-2, style_weight=1e3)


@pytest.fixture(scope="module")
def net_params():
    return stylize.create_backbone(BASE)


def _run(config, images, net_params, **kw):
    content, style = images
    return stylize.stylize(config, content, [style], net_params=net_params, **kw)


@pytest.mark.parametrize(
    "optimizer", ["adam", "adagrad", "rmsprop", "sgd", "lbfgs_optax", "lbfgs_scipy", "lbfgs_host"]
)
def test_loss_decreases_for_every_optimizer(optimizer, images, net_params):
    lr = {"sgd": 1e-6, "adagrad": 5e-2}.get(optimizer, 2e-2)
    config = dataclasses.replace(BASE, optimizer=optimizer, lr=lr, steps=5)
    result = _run(config, images, net_params)
    total = result.history["total"]
    assert result.stopped is None
    assert result.steps_done == 5 and len(total) == 5
    assert np.all(np.isfinite(total))
    assert total[-1] < total[0], total
    assert result.image.shape == (SIZE, SIZE, 3)
    assert 0.0 <= result.image.min() and result.image.max() <= 1.0


def test_content_only_from_noise_moves_toward_photo(images, net_params):
    content, _ = images
    config = dataclasses.replace(
        BASE,
        init="noise",
        style_weight=0.0,
        content_weight=1.0,
        lr=5e-2,
        steps=15,
        content_layers=(("conv2_1", 1.0),),
    )
    result = _run(config, images, net_params)
    c = result.history["content"]
    assert c[-1] < 0.5 * c[0]
    start = stylize.initial_image(config, __import__("jax").random.key(0), content, [])
    assert np.mean((result.image - content) ** 2) < np.mean((np.asarray(start) - content) ** 2)


def test_style_only_drives_gram_distance_down(images, net_params):
    config = dataclasses.replace(BASE, content_weight=0.0, init="uniform", steps=10, lr=5e-2)
    result = _run(config, images, net_params)
    s = result.history["style"]
    assert s[-1] < 0.5 * s[0]


@pytest.mark.parametrize(
    "optimizer, lrs, form",
    [
        ("sgd", (1e-6, 2e-6, 3e-6), "vmap"),
        ("adam", (2e-2, 1e-2, 3e-2), "vmap"),
        ("adam", (2e-2, 1e-2, 3e-2), "each"),
    ],
)
def test_sweep_equals_sequential(optimizer, lrs, form, images, net_params):
    content, style = images
    base = dataclasses.replace(BASE, optimizer=optimizer, sweep_form=form)
    configs = [
        dataclasses.replace(base, style_weight=1e3, lr=lrs[0]),
        dataclasses.replace(base, style_weight=1e2, lr=lrs[1], tv_weight=1e-3),
        dataclasses.replace(base, content_weight=0.5, lr=lrs[2], seed=3),
    ]
    swept = stylize.sweep(configs, content, [style], net_params=net_params)
    for config, result in zip(configs, swept, strict=True):
        alone = _run(dataclasses.replace(config, sweep_form="auto"), images, net_params)
        np.testing.assert_allclose(result.history["total"], alone.history["total"], rtol=1e-4)
        # SGD is linear in the gradient: batched and single convolutions agree to float32
        # rounding. Adam divides by sqrt(v): where a gradient is ~0 its rounding noise can
        # flip a step's sign, so a few pixels may differ by a step or two (lr; 1.003 lr seen
        # on an AVX-512 EPYC), while the image as a whole agrees to a fraction of a step.
        atol = 1e-6 if optimizer == "sgd" else 2 * config.lr
        np.testing.assert_allclose(result.image, alone.image, atol=atol)
        mean = 1e-6 if optimizer == "sgd" else 0.2 * config.lr  # 0.11 lr seen (AVX-512)
        assert np.mean(np.abs(result.image - alone.image)) < mean
        assert np.abs(result.image - content).max() > 10 * 1e-6  # the images did move


def test_sweep_rejects_non_numeric_differences(images, net_params):
    content, style = images
    configs = [BASE, dataclasses.replace(BASE, optimizer="sgd")]
    with pytest.raises(ValueError, match="optimizer"):
        stylize.sweep(configs, content, [style], net_params=net_params)


def test_scan_loop_equals_python_loop(images, net_params):
    # SGD: linear in the gradient, so the two loop forms agree to float32 rounding (Adam
    # would amplify rounding noise where a gradient is ~0, see the sweep test).
    config = dataclasses.replace(BASE, optimizer="sgd", lr=2e-5, steps=5)
    python = _run(dataclasses.replace(config, loop="python"), images, net_params)
    scanned = _run(dataclasses.replace(config, loop="scan", scan_chunk=2), images, net_params)
    assert np.abs(python.image - images[0]).max() > 1e-3  # the image did move
    np.testing.assert_allclose(python.image, scanned.image, atol=1e-5)
    np.testing.assert_allclose(python.history["total"], scanned.history["total"], rtol=1e-4)
    assert len(scanned.history["time"]) == 5


def test_resume_equals_uninterrupted(images, net_params, tmp_path):
    config = dataclasses.replace(BASE, steps=6)
    full = _run(config, images, net_params)
    ckpt = str(tmp_path / "state.npz")
    calls = iter(range(100))
    stop_after_3 = lambda: next(calls) >= 3
    part = _run(config, images, net_params, checkpoint=ckpt, should_stop=stop_after_3)
    assert part.stopped == "interrupted" and part.steps_done == 3
    resumed = _run(config, images, net_params, checkpoint=ckpt)
    assert resumed.stopped is None and resumed.steps_done == 6
    np.testing.assert_allclose(resumed.image, full.image, atol=1e-6)
    np.testing.assert_allclose(resumed.history["total"], full.history["total"], rtol=1e-5)
    assert len(resumed.history["time"]) == 6
    assert not (tmp_path / "state.npz").exists()  # a finished run removes its checkpoint


def test_checkpoint_of_another_run_is_refused(images, net_params, tmp_path):
    ckpt = str(tmp_path / "state.npz")
    calls = iter(range(100))
    _run(BASE, images, net_params, checkpoint=ckpt, should_stop=lambda: next(calls) >= 1)
    with pytest.raises(ValueError, match="another run"):
        _run(dataclasses.replace(BASE, style_weight=7.0), images, net_params, checkpoint=ckpt)


def test_nan_guard_stops_names_term_and_keeps_finite_image(images, net_params):
    # A NaN weight set behind StylizeConfig's own check (which refuses it): the engine's
    # guard against a term going non-finite at run time is the subject here.
    config = dataclasses.replace(BASE)
    object.__setattr__(config, "style_weight", float("nan"))
    result = _run(config, images, net_params)
    assert result.stopped is not None and "step 0" in result.stopped
    assert "style" in result.stopped
    assert np.all(np.isfinite(result.image))
    np.testing.assert_allclose(result.image, images[0])  # the last finite image: the init


def test_targets_match_hand_computed_grams(images, net_params):
    content, style = images
    net, params = net_params
    config = dataclasses.replace(BASE, style_blend=(0.25, 0.75))
    style2 = np.asarray(style[::-1], np.float32)
    targets = stylize.make_targets(config, net, params, content, [style, style2])
    feats_c = net(params, content[None])
    f1, f2 = net(params, style[None]), net(params, style2[None])
    for name in ("conv1_1", "conv3_1"):
        m = feats_c[name].shape[1] * feats_c[name].shape[2]

        def gram_hw(f):
            f = np.asarray(f[0], np.float64).reshape(-1, f.shape[-1])
            return f.T @ f / f.shape[0]

        want = (0.25 * gram_hw(f1[name]) + 0.75 * gram_hw(f2[name])) * m
        scale = np.abs(want).max()
        np.testing.assert_allclose(targets.grams[name], want, rtol=2e-4, atol=1e-5 * scale)
    want = np.asarray(feats_c["conv4_2"][0])  # eager ops vs one compiled program: rounding
    scale = np.abs(want).max()
    np.testing.assert_allclose(targets.content["conv4_2"], want, rtol=1e-5, atol=1e-6 * scale)


def test_objective_terms_are_nst_losses(images, net_params):
    content, style = images
    net, params = net_params
    config = dataclasses.replace(BASE, tv_weight=0.5)
    targets = stylize.make_targets(config, net, params, content, [style])
    hyper = stylize.make_hyper(config)
    x = np.clip(content + 0.1, 0, 1)
    total, terms = stylize.make_objective(config, net)(x, params, targets, hyper)
    feats = net(params, x[None])
    style_sum = sum(
        0.2 * losses.style_layer_loss(feats[n][0], targets.grams[n])
        for n, _ in config_lib.style_layers(BASE)
    )
    content_term = losses.content_loss(feats["conv4_2"][0], targets.content["conv4_2"])
    tv = losses.total_variation(255.0 * x)  # on the 0-255 image (nst.losses, Units)
    np.testing.assert_allclose(terms["style"], style_sum, rtol=1e-5)
    np.testing.assert_allclose(total, content_term + 1e3 * style_sum + 0.5 * tv, rtol=1e-5)


def test_luminance_preservation_keeps_content_chroma(images, net_params):
    from nst import image

    content, _ = images
    config = dataclasses.replace(BASE, preserve_color="luminance", steps=3)
    result = _run(config, images, net_params)
    yiq_out, yiq_content = image.rgb_to_yiq(result.image), image.rgb_to_yiq(content)
    inside = (result.image > 0.02).all(-1) & (result.image < 0.98).all(-1)  # unclipped pixels
    np.testing.assert_allclose(yiq_out[..., 1:][inside], yiq_content[..., 1:][inside], atol=2e-3)


def test_backbone_is_truncated_at_deepest_layer():
    config = dataclasses.replace(
        BASE, content_layers=(("conv2_1", 1.0),), style_layers=(("conv1_1", 1.0),)
    )
    net, _ = stylize.create_backbone(config)
    assert set(net.layers) == {"conv1_1", "conv2_1"}
    assert "conv5_1" in backbones.layer_names("vgg19")


def test_compiled_step_is_reused_across_calls_with_new_numbers(images, net_params):
    content, style = images
    cache = stylize.Cache()
    first = stylize.stylize(BASE, content, [style], net_params=net_params, cache=cache)
    assert first.compile_seconds > 0 and len(cache) == 1
    # New data (nst.config.split): weights, rate, seed, steps, and the default layer table
    # given explicitly with other weights.
    layers = tuple((name, 0.1 * i) for i, (name, _) in enumerate(config_lib.style_layers(BASE)))
    other = dataclasses.replace(
        BASE, lr=0.5, style_weight=3.0, seed=9, steps=2, style_layers=layers
    )
    second = stylize.stylize(other, content[::-1], [style], net_params=net_params, cache=cache)
    assert second.compile_seconds == 0.0 and len(cache) == 1  # new numbers, same program
    assert not np.allclose(first.image[:, :, 0], second.image[:, :, 0])
    with pytest.raises(ValueError, match=r"cache must be an nst\.stylize\.Cache, got dict"):
        stylize.stylize(other, content, [style], net_params=net_params, cache={})


def test_temporal_term_and_init_images(images, net_params):
    content, style = images
    net, params = net_params
    config = dataclasses.replace(BASE, temporal_weight=7.0, steps=3)
    targets = stylize.make_targets(config, net, params, content, [style])
    previous = np.full_like(content, 0.5)
    mask = (np.arange(SIZE)[:, None] < SIZE // 2) * np.ones((SIZE, SIZE), np.float32)
    with_t = targets._replace(temporal=(previous, mask))
    objective = stylize.make_objective(config, net)
    hyper = stylize.make_hyper(config)
    total, terms = objective(content, params, with_t, hyper)
    base_total, _ = objective(content, params, targets, hyper)
    # mean over H, W, C, on the 0-255 image (nst.losses, Units)
    want = np.mean(mask[..., None] * (255.0 * (content - previous)) ** 2)
    np.testing.assert_allclose(terms["temporal"], want, rtol=1e-5)
    np.testing.assert_allclose(total, base_total + 7.0 * want, rtol=1e-5)
    result = stylize.stylize(
        config, content, [style], net_params=net_params, targets=with_t, init_images=previous
    )
    np.testing.assert_allclose(result.history["temporal"][0], 0.0, atol=1e-12)  # starts there
    assert result.history["temporal"][-1] > 0


def test_scipy_lbfgs_interrupt_and_resume(tmp_path):
    """L-BFGS-B (SciPy): an interrupted run checkpoints its image and steps; the rerun runs
    only the remaining iterations from that image and removes the checkpoint."""
    rng = np.random.default_rng(0)
    content = rng.uniform(0, 1, (24, 24, 3)).astype(np.float32)
    style = rng.uniform(0, 1, (24, 24, 3)).astype(np.float32)
    config = StylizeConfig(
        weights="random", size=24, steps=6, optimizer="lbfgs_scipy", style_weight=1e3
    )
    ckpt = str(tmp_path / "run.ckpt.npz")
    polls = {"n": 0}

    def stop_after_two():
        polls["n"] += 1
        return polls["n"] >= 2

    first = stylize.stylize(config, content, style, checkpoint=ckpt, should_stop=stop_after_two)
    assert first.stopped == "interrupted" and first.steps_done == 2
    assert (tmp_path / "run.ckpt.npz").exists()
    seen = []
    second = stylize.stylize(
        config, content, style, checkpoint=ckpt, progress=lambda s, loss, r: seen.append(s)
    )
    assert second.stopped is None and second.steps_done == 6
    assert seen[0] == 3 and seen[-1] == 6  # only the remaining iterations ran
    assert len(second.history["total"]) == 6
    np.testing.assert_allclose(second.history["total"][:2], first.history["total"][:2])
    assert not (tmp_path / "run.ckpt.npz").exists()
    # A different run refuses the checkpoint of another.
    stylize.stylize(config, content, style, checkpoint=ckpt, should_stop=stop_after_two)
    with pytest.raises(ValueError, match="belongs to another run"):
        stylize.stylize(
            dataclasses.replace(config, style_weight=2e3), content, style, checkpoint=ckpt
        )


@pytest.mark.parametrize("balance", ["relative", "total"])
@pytest.mark.parametrize("distance", ["squared", "huber"])
@pytest.mark.parametrize("style_norm", ["gatys", "johnson", "mean"])
def test_balance_divides_by_the_terms_at_zero_features(
    balance, distance, style_norm, images, net_params
):
    # By hand in float64 NumPy. relative: each layer's penalty sum over the penalty sum of
    # its target (the normalization constants cancel); total: the papers' weighted sum of
    # layer terms (their normalization kept) over the same sum of the target Grams alone.
    content, style = images
    net, params = net_params
    config = dataclasses.replace(
        BASE, balance=balance, distance=distance, style_norm=style_norm, delta=0.5
    )
    targets = stylize.make_targets(config, net, params, content, [style])
    x = np.clip(content + 0.1, 0, 1)
    total, terms = stylize.make_objective(config, net)(
        x, params, targets, stylize.make_hyper(config)
    )
    feats = {n: np.asarray(f[0], np.float64) for n, f in net(params, x[None]).items()}
    rho = lambda v: np.sum(np.asarray(losses.penalty(v, kind=distance, delta=0.5), np.float64))
    per_layer = style_sum = blank_sum = 0.0
    for n, w in config_lib.style_layers(config):
        m = feats[n].reshape(-1, feats[n].shape[-1])
        c, positions = m.shape[1], m.shape[0]
        # Gatys: the raw Gram, the sum over 4 C^2 M^2; Johnson: the Gram over C H W, the
        # sum; "mean": that Gram, the sum over C^2.
        g = m.T @ m if style_norm == "gatys" else m.T @ m / m.size
        norm = {"gatys": 1 / (4 * c**2 * positions**2), "johnson": 1.0, "mean": 1 / c**2}
        a = np.asarray(targets.grams[n], np.float64)
        per_layer += w * rho(g - a) / rho(a)
        style_sum += w * norm[style_norm] * rho(g - a)
        blank_sum += w * norm[style_norm] * rho(a)
    style_term = per_layer if balance == "relative" else style_sum / blank_sum
    p = np.asarray(targets.content["conv4_2"], np.float64)
    content_term = rho(feats["conv4_2"] - p) / rho(p)
    np.testing.assert_allclose(terms["style"], style_term, rtol=2e-4)
    np.testing.assert_allclose(terms["content"], content_term, rtol=2e-4)
    np.testing.assert_allclose(total, content_term + 1e3 * style_term, rtol=2e-4)
    # The two balances differ here: the layers' shares differ by orders of magnitude.
    assert abs(per_layer / (style_sum / blank_sum) - 1) > 0.05


@pytest.mark.parametrize("balance", ["relative", "total"])
def test_balance_is_the_same_for_a_brighter_painting(balance, images, net_params):
    # The content photo against a painting and the same painting at 3x the contrast: the
    # Gatys style term changes by orders of magnitude, a balanced one stays of order 1.
    content, style = images
    net, params = net_params
    loud = np.clip(0.5 + 3.0 * (style - 0.5), 0, 1)

    def style_term(balance, painting):
        config = dataclasses.replace(BASE, balance=balance)
        targets = stylize.make_targets(config, net, params, content, [painting])
        _, terms = stylize.make_objective(config, net)(
            content, params, targets, stylize.make_hyper(config)
        )
        return float(terms["style"])

    gatys = style_term("none", loud) / style_term("none", style)
    balanced = style_term(balance, loud) / style_term(balance, style)
    assert gatys > 3.0
    assert 0.3 < balanced < 3.0 and abs(np.log(balanced)) < 0.5 * abs(np.log(gatys))


@pytest.mark.parametrize("balance", ["relative", "total"])
def test_balance_with_masks_divides_by_the_loss_at_zero_features(balance, images, net_params):
    # relative: each layer over its own blank loss; total: the sums over each other.
    content, style = images
    net, params = net_params
    half = np.zeros(content.shape[:2], np.float32)
    half[:, : SIZE // 2] = 1.0
    regions = [(half, None), (1.0 - half, None)]
    config = dataclasses.replace(BASE, balance=balance)
    targets = stylize.make_targets(config, net, params, content, [style, content], regions=regions)
    x = np.clip(content + 0.1, 0, 1)
    _, terms = stylize.make_objective(config, net)(x, params, targets, stylize.make_hyper(config))
    feats = net(params, x[None])
    per_layer = loss_sum = blank_sum = 0.0
    for n, w in config_lib.style_layers(config):
        f = feats[n][0]
        loss = float(losses.guided_style_loss(f, targets.masks[n], targets.grams[n]))
        blank = losses.guided_style_loss(np.zeros_like(f), targets.masks[n], targets.grams[n])
        per_layer += w * loss / float(blank)
        loss_sum, blank_sum = loss_sum + w * loss, blank_sum + w * float(blank)
    want = per_layer if balance == "relative" else loss_sum / blank_sum
    np.testing.assert_allclose(terms["style"], want, rtol=1e-4)


def test_relative_balance_refuses_statistics_without_a_gram_target():
    with pytest.raises(ValueError, match="balance='relative'"):
        dataclasses.replace(BASE, balance="relative", style_stat="mrf")
    with pytest.raises(ValueError, match="balance='total'"):
        dataclasses.replace(BASE, balance="total", style_stat="mean_cov_w2")
