"""Wiring of the engine: every option of ``StylizeConfig`` reaches its formula.

The formula tests (``tests/losses/``) check ``nst.losses``; these check that the engine
(``nst.stylize``) calls them with the option the config names. Each option test runs the
engine for one step from a fixed image ``X0`` and reads the objective it evaluated there
(``history[...][0]``), then recomputes that objective directly from ``nst.losses`` and a
backbone built here, with the option's non-default value: the two must agree, and the
direct value with the default option must differ from it by far more than the tolerance
(so an engine that ignored the option would fail).

Tiny images (32 px content, 48 px style so the Gram rescaling to the generated size is
exercised), VGG19 truncated at conv2_1 with random weights, one ``stylize.Cache`` shared
by the whole module: a program is compiled once per distinct option, and a cache key that
forgot an option would hand one option's program to another (and fail here).
"""

import dataclasses
import functools

import jax
import numpy as np
import pytest

from nst import backbones, losses, stylize
from nst import image as nst_image
from nst.config import StylizeConfig

SIZE = 32
RTOL = 2e-5
# The engine's value with the option set must differ from the default's by more than this
# relative amount: far beyond RTOL, so the comparison can tell the two apart.
APART = 100 * RTOL

BASE = StylizeConfig(
    weights="random",
    size=SIZE,
    steps=1,
    lr=1e-2,
    content_layers=(("conv1_2", 1.0), ("conv2_1", 1.0)),
    style_layers=(("conv1_1", 0.5), ("conv2_1", 0.5)),
    content_weight=1.0,
    style_weight=1e5,
    tv_weight=1.0 / 255,  # TV on the 0-255 image: the balance of weight 1 on [0, 1]
)
LAYERS = ("conv1_1", "conv1_2", "conv2_1")
COMPILED = stylize.Cache()  # shared by every engine run of this module


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    content = np.stack([yy, xx, 0.5 * (yy + xx)], -1).astype(np.float32)
    style = rng.uniform(0, 1, (48, 48, 3)).astype(np.float32)
    x0 = np.clip(content + 0.3 * rng.normal(size=content.shape), 0, 1).astype(np.float32)
    return content, style, x0


@pytest.fixture(scope="module")
def net_params():
    return stylize.create_backbone(BASE)


def _engine(config, images, net_params=None, **kw):
    """The engine's raw terms at X0 (its first step's history) and the Result."""
    content, style, x0 = images
    kw.setdefault("init_images", x0)
    result = stylize.stylize(config, content, [style], net_params=net_params, cache=COMPILED, **kw)
    return {k: float(v[0]) for k, v in result.history.items()}, result


@functools.lru_cache(maxsize=2)
def _random_params(seed):
    return backbones.load_params("vgg19", "random", seed=seed)


def _direct(config: StylizeConfig, images, x=None, style=None) -> dict[str, float]:
    """The objective at ``x`` (default X0) computed from nst.losses and a fresh backbone."""
    content, style_default, x0 = images
    x = x0 if x is None else x
    style = style_default if style is None else style
    net = backbones.Backbone("vgg19", LAYERS, pooling=config.pooling)
    params = _random_params(config.weights_seed)
    fx, fc, fs = (net(params, a[None]) for a in (x, content, style))
    kw = {"kind": config.distance, "delta": config.delta}
    terms = {}
    terms["content"] = sum(
        w * losses.content_loss(fx[n][0], fc[n][0], norm=config.content_norm, **kw)
        for n, w in config.content_layers
    )
    style_sum = 0.0
    for n, w in config.style_layers:
        if config.style_norm == "gatys":  # per-position Gram of the style, times M generated
            m = fx[n].shape[1] * fx[n].shape[2]
            target = losses.gram_matrix(fs[n][0], norm="hw") * m
        else:
            target = losses.style_targets({n: fs[n][0]}, norm=config.style_norm)[n]
        layer = losses.style_layer_loss(fx[n][0], target, norm=config.style_norm, **kw)
        terms[f"style/{n}"] = float(layer)
        style_sum = style_sum + w * layer
    terms["style"] = style_sum
    # TV on the 0-255 image (nst.losses, Units), the photorealism term on [0, 1].
    terms["tv"] = losses.total_variation(255.0 * x, kind=config.tv_kind, beta=config.tv_beta)
    total = (
        config.content_weight * terms["content"]
        + config.style_weight * terms["style"]
        + config.tv_weight * terms["tv"]
    )
    if config.photo_weight:
        lap = losses.laplacian_to_bcoo(losses.matting_laplacian(content, eps=config.photo_eps))
        terms["photo"] = losses.photorealism_loss(x, lap)
        total = total + config.photo_weight * terms["photo"]
    terms["total"] = total
    return {k: float(v) for k, v in terms.items()}


def _check(engine, want, default, names):
    for name in names:
        np.testing.assert_allclose(engine[name], want[name], rtol=RTOL, err_msg=name)
        gap = abs(want[name] - default[name]) / abs(want[name])
        assert gap > APART, f"{name}: option and default too close ({gap:.2e}): test is blind"


def test_base_objective_equals_nst_losses(images, net_params):
    engine, _ = _engine(BASE, images, net_params)
    want = _direct(BASE, images)
    for name in ("content", "style", "style/conv1_1", "style/conv2_1", "tv", "total"):
        np.testing.assert_allclose(engine[name], want[name], rtol=RTOL, err_msg=name)
    # Every term carries weight in the total (an engine dropping one would be seen).
    for name, w in (("content", 1.0), ("style", 1e5), ("tv", BASE.tv_weight)):
        assert w * want[name] > 1e-3 * want["total"], name


OPTIONS = [
    # (overrides, terms the option changes)
    ({"distance": "abs"}, ("content", "style", "total")),
    ({"distance": "huber", "delta": 0.5}, ("content", "style", "total")),
    ({"distance": "smooth_l1", "delta": 0.5}, ("content", "style", "total")),
    ({"tv_kind": "l2"}, ("tv", "total")),
    ({"tv_kind": "beta", "tv_beta": 1.5}, ("tv", "total")),
    ({"style_norm": "johnson"}, ("style", "style/conv1_1", "total")),
    ({"style_norm": "mean"}, ("style", "style/conv1_1", "total")),
    ({"content_norm": "mean"}, ("content", "total")),
    ({"content_layers": (("conv1_2", 0.3), ("conv2_1", 2.0))}, ("content", "total")),
    ({"style_layers": (("conv1_1", 0.9), ("conv2_1", 0.1))}, ("style", "total")),
    ({"content_weight": 3.0, "style_weight": 2e3, "tv_weight": 0.5}, ("total",)),
    ({"photo_weight": 1e2}, ("total",)),
]


def _option_id(overrides):
    return ",".join(f"{k}={v[0][1] if isinstance(v, tuple) else v}" for k, v in overrides.items())


@pytest.mark.parametrize("overrides, names", OPTIONS, ids=[_option_id(o) for o, _ in OPTIONS])
def test_option_reaches_its_formula(overrides, names, images, net_params):
    config = dataclasses.replace(BASE, **overrides)
    engine, _ = _engine(config, images, net_params)
    _check(engine, _direct(config, images), _direct(BASE, images), names)


def test_photo_eps_reaches_the_laplacian(images, net_params):
    photo = dataclasses.replace(BASE, photo_weight=1e2)
    other = dataclasses.replace(photo, photo_eps=1e-3)
    engine, _ = _engine(other, images, net_params)
    _check(engine, _direct(other, images), _direct(photo, images), ("photo", "total"))


def test_huber_delta_reaches_the_penalty(images, net_params):
    huber = dataclasses.replace(BASE, distance="huber", delta=0.5)
    other = dataclasses.replace(huber, delta=0.05)
    engine, _ = _engine(other, images, net_params)
    _check(engine, _direct(other, images), _direct(huber, images), ("content", "style"))


@pytest.mark.parametrize("overrides", [{"pooling": "avg"}, {"weights_seed": 1}], ids=str)
def test_backbone_options_reach_the_backbone_the_engine_builds(overrides, images):
    config = dataclasses.replace(BASE, **overrides)
    engine, _ = _engine(config, images)  # no net_params: the engine builds its own
    # conv2_1 is behind the first pooling: its terms see the pooling kind.
    _check(engine, _direct(config, images), _direct(BASE, images), ("style/conv2_1", "total"))


def test_histogram_preservation_matches_the_style_to_the_content(images, net_params):
    content, style, _ = images
    config = dataclasses.replace(BASE, preserve_color="histogram")
    engine, _ = _engine(config, images, net_params)
    matched = nst_image.match_histogram(style, content)
    want = _direct(config, images, style=matched)
    _check(engine, want, _direct(BASE, images), ("style", "total"))


def test_style_blend_weights_the_style_grams(images, net_params):
    content, style, x0 = images
    other = np.ascontiguousarray(style[::-1, ::-1, ::-1])
    config = dataclasses.replace(BASE, style_blend=(0.2, 0.8))
    result = stylize.stylize(
        config, content, [style, other], net_params=net_params, init_images=x0, cache=COMPILED
    )
    net = backbones.Backbone("vgg19", LAYERS)
    params = _random_params(0)
    fx, f1, f2 = (net(params, a[None]) for a in (x0, style, other))
    for name in ("conv1_1", "conv2_1"):
        m = fx[name].shape[1] * fx[name].shape[2]
        gram = lambda f, name=name, m=m: losses.gram_matrix(f[name][0], norm="hw") * m
        for blend, match in (((0.2, 0.8), True), ((0.5, 0.5), False)):
            target = blend[0] * gram(f1) + blend[1] * gram(f2)
            want = float(losses.style_layer_loss(fx[name][0], target))
            close = np.isclose(result.history[f"style/{name}"][0], want, rtol=RTOL)
            assert close == match, (name, blend)


# ------------------------------------------------------------------------ init, colour


def _init_image(config, images, net_params):
    """The image the engine starts from: one step at learning rate 0 leaves it unchanged."""
    content, style, _ = images
    frozen = dataclasses.replace(config, lr=1e-30)  # a step too small to move a float32 pixel
    return stylize.stylize(frozen, content, [style], net_params=net_params, cache=COMPILED).image


def test_init_content(images, net_params):
    np.testing.assert_allclose(_init_image(BASE, images, net_params), images[0], atol=1e-7)


def test_init_noise_is_imagenet_gaussian_of_the_seed(images, net_params):
    config = dataclasses.replace(BASE, init="noise", seed=5)
    z = np.asarray(jax.random.normal(jax.random.key(5), (SIZE, SIZE, 3)))
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    want = np.clip(mean + std * z, 0, 1)
    np.testing.assert_allclose(_init_image(config, images, net_params), want, atol=1e-6)


def test_init_uniform_is_uniform_of_the_seed(images, net_params):
    config = dataclasses.replace(BASE, init="uniform", seed=7)
    want = np.asarray(jax.random.uniform(jax.random.key(7), (SIZE, SIZE, 3)))
    np.testing.assert_allclose(_init_image(config, images, net_params), want, atol=1e-7)


def test_init_style_is_the_resized_style_image(images, net_params):
    content, style, _ = images
    config = dataclasses.replace(BASE, init="style")
    want = nst_image.resize(style, (SIZE, SIZE))
    got = _init_image(config, images, net_params)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert np.abs(got - content).max() > 0.1


def test_init_path_loads_that_image(images, net_params, tmp_path):
    rng = np.random.default_rng(3)
    picture = nst_image.to_uint8(rng.uniform(0, 1, (SIZE, SIZE, 3)))
    path = str(tmp_path / "start.png")
    nst_image.save(path, picture)
    config = dataclasses.replace(BASE, init=path)
    got = _init_image(config, images, net_params)
    np.testing.assert_allclose(got, picture / 255.0, atol=1e-6)


NTSC = np.array(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)


def test_luminance_preservation_is_the_yiq_formula(images, net_params):
    content, style, x0 = images
    config = dataclasses.replace(BASE, preserve_color="luminance", lr=1e-30)  # x stays x0
    result = stylize.stylize(
        config, content, [style], net_params=net_params, init_images=x0, cache=COMPILED
    )
    # Y from the stylized image (here X0, lr 0), I and Q from the content (hand formula).
    yiq = np.concatenate([x0 @ NTSC[:1].T, content @ NTSC[1:].T], -1)
    want = np.clip(yiq @ np.linalg.inv(NTSC).T, 0, 1)
    np.testing.assert_allclose(result.image, want, atol=1e-5)
    assert np.abs(want - x0).max() > 0.1


# ------------------------------------------------------------- range, snapshots, NaN


def test_every_intermediate_image_is_in_unit_range(images, net_params):
    content, style, _ = images
    for optimizer in ("adam", "adagrad", "rmsprop", "sgd", "lbfgs_scipy", "lbfgs_host"):
        lr = {"sgd": 3e-5, "rmsprop": 3e-2, "adagrad": 0.3}.get(optimizer, 0.1)
        config = dataclasses.replace(
            BASE, optimizer=optimizer, lr=lr, steps=6, snapshot_every=1, style_weight=1e5
        )
        result = stylize.stylize(config, content, [style], net_params=net_params, cache=COMPILED)
        snaps = np.stack([result.snapshots[s] for s in sorted(result.snapshots)])
        assert sorted(result.snapshots) == list(range(1, result.steps_done + 1)), optimizer
        assert snaps.min() >= 0.0 and snaps.max() <= 1.0, (optimizer, snaps.min(), snaps.max())
        # The bounds were active (pixels sit on them): without them the run leaves [0, 1].
        on_bounds = np.mean((snaps[-1] == 0.0) | (snaps[-1] == 1.0))
        assert on_bounds > 0.002, (optimizer, on_bounds)


def test_snapshots_are_the_states_of_shorter_runs(images, net_params):
    content, style, _ = images
    config = dataclasses.replace(BASE, steps=6, snapshot_every=2, lr=5e-2)
    result = stylize.stylize(config, content, [style], net_params=net_params, cache=COMPILED)
    assert sorted(result.snapshots) == [2, 4, 6]
    short = dataclasses.replace(config, steps=2, snapshot_every=0)
    two = stylize.stylize(short, content, [style], net_params=net_params, cache=COMPILED)
    np.testing.assert_allclose(result.snapshots[2], two.image, atol=1e-6)
    np.testing.assert_allclose(result.snapshots[6], result.image, atol=1e-6)
    assert np.abs(result.snapshots[2] - result.snapshots[6]).max() > 1e-2


@dataclasses.dataclass(frozen=True)
class _NanAbove:
    """A backbone whose features turn NaN once the image's mean exceeds ``threshold``."""

    net: backbones.Backbone
    threshold: float

    @property
    def name(self):
        return self.net.name

    def __call__(self, params, images):
        feats = self.net(params, images)
        bad = jax.numpy.mean(images) > self.threshold
        return {k: jax.numpy.where(bad, jax.numpy.nan, v) for k, v in feats.items()}


def test_lbfgs_host_backtracks_from_a_non_finite_trial(images, net_params):
    # For the line search a non-finite trial point is a step too long: it backtracks and
    # never accepts it; the run keeps going below the threshold and every kept value is
    # finite (an accepted point is always finite).
    content, style, _ = images
    net, params = net_params
    bright, dark = np.full_like(content, 0.9), np.full_like(content, 0.1)
    config = dataclasses.replace(
        BASE, optimizer="lbfgs_host", steps=12, style_weight=0.0, tv_weight=0.0
    )
    targets = stylize.make_targets(config, net, params, bright, [style])
    kw = dict(net_params=(_NanAbove(net, 0.25), params), init_images=dark, targets=targets)
    result = stylize.stylize(config, bright, [style], **kw)
    assert result.stopped is None
    assert result.steps_done > 2
    for name, values in result.history.items():
        assert np.all(np.isfinite(values)), name
    assert result.image.mean() <= 0.25 < 0.9
    assert (
        np.all(np.diff(result.history["total"]) <= 0)
        and result.history["total"][-1] < 0.9 * result.history["total"][0]
    )


@pytest.mark.parametrize("optimizer", ["adam"])
def test_nan_step_is_not_kept_and_the_last_finite_state_is(optimizer, images, net_params):
    content, style, _ = images
    net, params = net_params
    # Content only, towards a bright target from a dark start: the mean brightness rises
    # step by step and passes the threshold after a few steps.
    bright = np.full_like(content, 0.9)
    dark = np.full_like(content, 0.1)
    config = dataclasses.replace(
        BASE, optimizer=optimizer, steps=12, lr=5e-2, style_weight=0.0, tv_weight=0.0
    )
    targets = stylize.make_targets(config, net, params, bright, [style])  # finite targets
    kw = dict(net_params=(_NanAbove(net, 0.25), params), init_images=dark, targets=targets)
    result = stylize.stylize(config, bright, [style], **kw)
    done = result.steps_done
    assert result.stopped is not None and f"at step {done}" in result.stopped
    assert 0 < done < 12
    for name, values in result.history.items():
        assert len(values) == done, name
        assert np.all(np.isfinite(values)), name
    short = stylize.stylize(dataclasses.replace(config, steps=done), bright, [style], **kw)
    assert short.stopped is None
    np.testing.assert_allclose(result.image, short.image, atol=1e-7)
    np.testing.assert_allclose(result.history["total"], short.history["total"], rtol=1e-6)


def test_nan_at_the_first_step_keeps_no_history(images, net_params):
    # A finite weight whose weighted style term overflows float32 (NaN weights are refused
    # by StylizeConfig itself).
    config = dataclasses.replace(BASE, style_weight=3e38, loop="scan", scan_chunk=3)
    content, style, _ = images
    result = stylize.stylize(config, content, [style], net_params=net_params)
    assert result.steps_done == 0 and "step 0" in result.stopped
    assert all(len(v) == 0 for v in result.history.values())


# ------------------------------------------------------------------------------ resume


def test_resume_runs_only_the_remaining_steps(images, net_params, tmp_path):
    content, style, _ = images
    config = dataclasses.replace(BASE, steps=6, lr=5e-2)
    ckpt = str(tmp_path / "state.npz")
    kw = dict(net_params=net_params, cache=COMPILED, checkpoint=ckpt)
    polls = []

    def stop_after(n):
        def should_stop():
            polls.append(1)
            return len(polls) > n

        return should_stop

    part = stylize.stylize(config, content, [style], should_stop=stop_after(3), **kw)
    assert part.stopped == "interrupted" and part.steps_done == 3
    polls.clear()
    seen = []
    resumed = stylize.stylize(
        config,
        content,
        [style],
        should_stop=stop_after(100),
        progress=lambda done, *_: seen.append(done),
        **kw,
    )
    assert seen == [4, 5, 6]  # the steps this call ran
    assert len(polls) == 3  # one poll before each of them
    # A run of only the remaining 3 steps from the interrupted state gives the same image.
    rest = stylize.stylize(
        dataclasses.replace(config, steps=3),
        content,
        [style],
        net_params=net_params,
        cache=COMPILED,
        init_images=part.image,
        init_opt_state=part.opt_state,
    )
    np.testing.assert_allclose(resumed.image, rest.image, atol=1e-6)
    np.testing.assert_allclose(resumed.history["total"][3:], rest.history["total"], rtol=1e-5)
    np.testing.assert_allclose(resumed.history["total"][:3], part.history["total"], rtol=1e-6)
    assert np.abs(resumed.image - part.image).max() > 1e-2  # the last 3 steps moved it


# ------------------------------------------------------------------- loop, sweep form


def test_cpu_runs_a_python_loop_and_each_setting_sweeps(images, net_params):
    assert jax.default_backend() == "cpu"
    assert stylize.default_loop() == "python" and stylize.default_sweep_form() == "each"
    content, style, _ = images
    cache = stylize.Cache()
    configs = [dataclasses.replace(BASE, steps=2), dataclasses.replace(BASE, steps=2, lr=0.1)]
    stylize.sweep(configs, content, [style], net_params=net_params, cache=cache)
    kinds = {(key[0], key[-1]) for key in cache}
    assert ("each", 1) in kinds and not any(kind == "steps" and n > 1 for kind, n in kinds)
    # One L-BFGS run on CPU is the host-driven L-BFGS (no optax state).
    lbfgs = dataclasses.replace(BASE, optimizer="lbfgs", steps=2)
    result = stylize.stylize(lbfgs, content, [style], net_params=net_params, cache=cache)
    assert result.opt_state is None and result.evaluations >= 2
    assert any(key[0] == "host-lbfgs" for key in cache)
    scan = [dataclasses.replace(c, loop="scan", scan_chunk=2, sweep_form="vmap") for c in configs]
    stylize.sweep(scan, content, [style], net_params=net_params, cache=cache)
    assert ("steps", 2) in {(key[0], key[-1]) for key in cache}


def test_resumed_sweep_equals_uninterrupted(images, net_params, tmp_path):
    content, style, _ = images
    configs = [
        dataclasses.replace(BASE, steps=4, lr=5e-2),
        dataclasses.replace(BASE, steps=4, lr=2e-2, style_weight=1e4),
    ]
    kw = dict(net_params=net_params, cache=COMPILED)
    full = stylize.sweep(configs, content, [style], **kw)
    ckpt = str(tmp_path / "sweep.npz")
    polls = iter(range(100))
    part = stylize.sweep(
        configs, content, [style], checkpoint=ckpt, should_stop=lambda: next(polls) >= 2, **kw
    )
    assert [r.steps_done for r in part] == [2, 2]
    seen = []
    resumed = stylize.sweep(
        configs, content, [style], checkpoint=ckpt, progress=lambda d, *_: seen.append(d), **kw
    )
    assert seen == [3, 4]
    for a, b in zip(resumed, full, strict=True):
        np.testing.assert_allclose(a.image, b.image, atol=1e-6)
        np.testing.assert_allclose(a.history["total"], b.history["total"], rtol=1e-5)
    assert np.abs(full[0].image - full[1].image).max() > 1e-2  # the settings differ


@pytest.mark.parametrize("optimizer", ["lbfgs_scipy", "lbfgs_host"])
def test_interrupted_host_lbfgs_resumes_the_remaining_iterations(
    optimizer, images, net_params, tmp_path
):
    # The host-driven L-BFGS forms restart from the saved image with a fresh curvature
    # memory, so only the count and the kept history are exact, not the final image.
    content, style, _ = images
    config = dataclasses.replace(BASE, optimizer=optimizer, steps=6)
    ckpt = tmp_path / "state.npz"
    kw = dict(net_params=net_params, cache=COMPILED, checkpoint=str(ckpt))
    polls = iter(range(100))
    part = stylize.stylize(config, content, [style], should_stop=lambda: next(polls) >= 2, **kw)
    assert part.stopped == "interrupted" and part.steps_done == 3  # polled after each iteration
    assert ckpt.exists()
    seen = []
    resumed = stylize.stylize(config, content, [style], progress=lambda d, *_: seen.append(d), **kw)
    assert seen == [4, 5, 6] and resumed.steps_done == 6 and resumed.stopped is None
    assert len(resumed.history["total"]) == 6
    np.testing.assert_allclose(resumed.history["total"][:3], part.history["total"], rtol=1e-6)
    assert resumed.history["total"][-1] < part.history["total"][-1]
    assert not ckpt.exists()


def test_zero_weight_layers_left_out_give_the_same_run(images):
    """``config.without_unused_layers``: the network stops at the deepest weighted layer and
    the L-BFGS run is the same (a zero-weight layer adds nothing to loss or gradient)."""
    from nst import config as config_lib

    content, style, _ = images
    config = dataclasses.replace(
        BASE,
        optimizer="lbfgs",
        steps=3,
        content_layers=(("conv1_2", 1.0), ("conv2_1", 0.0)),
        style_layers=(("conv1_1", 1.0), ("conv2_1", 0.0)),
    )
    alone = config_lib.without_unused_layers(config)
    assert stylize.network(alone).layers == ("conv1_2", "conv1_1")
    runs = []
    for cfg in (config, alone):
        net = stylize.network(cfg)
        params = backbones.load_params(cfg.backbone, "random")
        params = backbones.with_transposed_kernels(cfg.backbone, params)
        runs.append(stylize.stylize(cfg, content, [style], net_params=(net, params)))
    np.testing.assert_allclose(runs[1].history["total"], runs[0].history["total"], rtol=1e-5)
    np.testing.assert_allclose(runs[1].image, runs[0].image, atol=1e-5)
