"""Training: the loss falls, checkpoints round-trip, resume and interruption keep the count."""

import dataclasses

import jax
import numpy as np
import pytest
from PIL import Image

from nst.feedforward import checkpoint, data, infer, train
from nst.feedforward import config as ff_config

# A tiny network and a shallow random-weight loss network: seconds on a CPU.
TINY = ff_config.replace(
    ff_config.get_config(quick=True),
    net=ff_config.NetConfig(width=4, num_residual=1),
    weights="random",
    content_layers=(("conv1_2", 1.0),),
    style_layers=(("conv1_1", 0.5), ("conv1_2", 0.5)),
    batch_size=4,
    crop_size=32,
    style_size=32,
    lr=1e-2,
    steps=30,
    checkpoint_every=1000,
    preview_every=0,
    log_every=1,
    prefetch=2,
)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(4):
        # Smooth random colour fields, upsampled: photo-like low-frequency content.
        small = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
        Image.fromarray(small).resize((40, 36), Image.Resampling.BILINEAR).save(folder / f"{i}.png")
    return data.ImageFolder(folder)


@pytest.fixture(scope="module")
def style():
    yy, xx = np.mgrid[0:48, 0:48] / 47.0
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * (xx + yy))
    return np.stack([stripes, 1 - stripes, 0.5 * np.ones_like(xx)], axis=-1).astype(np.float32)


def test_loss_falls_over_a_few_dozen_steps(photos, style, tmp_path):
    result = train.train(TINY, tmp_path, [style], dataset=photos)
    totals = np.array([line["total"] for line in result.history])
    assert len(totals) == 30 and np.all(np.isfinite(totals))
    assert totals[-5:].mean() < 0.7 * totals[:5].mean(), totals
    assert {"content", "style", "tv", "images_per_s"} <= set(result.history[-1])
    assert result.history[0]["compile_seconds"] > 0
    assert result.model_dir == tmp_path / "model" and not result.stopped


def test_resume_continues_the_step_count_and_interrupt_saves(photos, style, tmp_path):
    config = ff_config.replace(TINY, steps=3, checkpoint_every=2, log_every=100)
    stops = iter([False, True])  # stop after the second step
    first = train.train(config, tmp_path, [style], dataset=photos, should_stop=lambda: next(stops))
    assert first.stopped and first.steps_done == 2 and first.model_dir is None
    with checkpoint.TrainCheckpoints(tmp_path / "checkpoints") as saved:
        assert saved.latest_step() == 2
    longer = ff_config.replace(config, steps=4)
    second = train.train(longer, tmp_path, [style], dataset=photos)
    assert second.steps_done == 2 and [h["step"] for h in second.history] == [3, 4]
    config_b, _, info = checkpoint.load_model(tmp_path)
    assert info["steps"] == 4 and config_b == config.net
    other = ff_config.replace(config, net=dataclasses.replace(config.net, width=8))
    with pytest.raises(ValueError, match="another network"):
        train.train(other, tmp_path, [style], dataset=photos)


def test_texture_network_trains_from_noise_alone(style, tmp_path):
    net = ff_config.NetConfig(arch="ulyanov", width=4, scales=2, content_input=False)
    config = ff_config.replace(TINY, net=net, steps=2, batch_size=2, crop_size=16)
    result = train.train(config, tmp_path, [style], dataset=None)
    assert result.steps_done == 2 and "content" not in result.history[-1]
    model = infer.load(result.model_dir)
    out = infer.stylize(model, np.zeros((20, 28, 3), np.float32), seed=1)
    assert out.shape == (20, 28, 3) and out.std() > 0


def test_preview_images_are_written(photos, style, tmp_path):
    config = ff_config.replace(TINY, steps=2, preview_every=1)
    train.train(config, tmp_path, [style], dataset=photos, preview=style[:24, :24])
    assert sorted(p.name for p in (tmp_path / "previews").iterdir()) == [
        "step_00001.png",
        "step_00002.png",
    ]


def test_save_load_gives_identical_outputs(tmp_path, rng):
    from nst.feedforward import nets

    net = ff_config.NetConfig(width=4, num_residual=1, norm="batch")
    variables = nets.init(net, seed=3)
    variables["batch_stats"] = jax.tree.map(lambda x: x + 0.1, variables["batch_stats"])
    path = checkpoint.save_model(tmp_path / "m", net, variables, info={"styles": ["s"]})
    with pytest.raises(FileExistsError):
        checkpoint.save_model(path, net, variables)
    model = infer.load(path)
    assert model.config == net and model.info == {"styles": ["s"]}
    photo = rng.uniform(size=(24, 20, 3)).astype(np.float32)
    expected = nets.apply(net, variables, photo[None])[0][0]
    np.testing.assert_array_equal(infer.stylize(model, photo), expected)


def test_batch_not_divisible_by_devices_and_missing_styles_raise(photos, style, tmp_path):
    from nst import parallel

    with pytest.raises(ValueError, match="style images"):
        train.train(TINY, tmp_path, [], dataset=photos)
    two = parallel.mesh(jax.devices() * 2)  # the same device twice: a 2-device mesh
    with pytest.raises(ValueError, match="not divisible"):
        train.train(
            ff_config.replace(TINY, batch_size=3), tmp_path, [style], dataset=photos, mesh=two
        )


def test_relative_terms_match_numpy_by_hand(rng):
    # Content: mean (F - P)^2 over mean P^2 per image; style: each layer's squared Gram error
    # (Grams F^T F / (C H W)) over the target's squared norm, weighted, per image.
    f = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    p = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    content = np.asarray(train.content_term(f, p, relative=True))
    want = ((f - p) ** 2).mean(axis=(1, 2, 3)) / (p**2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(content, want, rtol=1e-5)
    np.testing.assert_allclose(
        train.content_term(f, p, relative=False), ((f - p) ** 2).mean(axis=(1, 2, 3)), rtol=1e-5
    )
    feats = {"a": f, "b": 2.0 * p}
    targets = {n: rng.normal(size=(2, 5, 5)).astype(np.float32) for n in feats}
    layers = {"a": 0.3, "b": 0.7}
    style = np.asarray(train.style_term(feats, targets, layers, relative=True))
    want = 0
    for n, w in layers.items():
        x = feats[n].reshape(2, 12, 5)
        gram = np.einsum("bkc,bkd->bcd", x, x) / (5 * 12)
        err = ((gram - targets[n]) ** 2).sum(axis=(1, 2))
        want = want + w * err / (targets[n] ** 2).sum(axis=(1, 2))
    np.testing.assert_allclose(style, want, rtol=1e-4)


def test_relative_balance_is_used_by_the_training_loss(photos, style):
    # The relative loss of a style scaled 10x in brightness-independent units: the style term
    # is a relative error (about 1 at the start) whatever the target's magnitude.
    images = np.stack(
        [data.random_crop(photos.load(i), 32, np.random.default_rng(i)) for i in (0, 1)]
    )
    values = {}
    for balance in ("none", "relative"):
        config = ff_config.replace(TINY, balance=balance, content_weight=1.0, style_weight=1.0)
        loss_net, net_params = train.create_loss_net(config)
        targets = train.make_style_targets(config, loss_net, net_params, [style])
        variables = train.nets.init(config.net, 0)
        loss = train.make_loss(config, loss_net)
        style_w = np.ones((2, 1), np.float32)
        _, (parts, _) = loss(
            variables["params"], variables["batch_stats"], images, style_w, targets,
            net_params, jax.random.key(0),
        )  # fmt: skip
        values[balance] = {k: float(v) for k, v in parts.items()}
    assert values["none"]["style"] != pytest.approx(values["relative"]["style"], rel=0.1)
    assert 0.05 < values["relative"]["style"] < 3.0, values
    assert 0.05 < values["relative"]["content"] < 3.0, values


def test_style_warmup_scales_the_first_steps_style_term(photos, style):
    # Step 0 of a 4-step warm-up weighs the style term by 1/4: same init, same batch.
    images = np.stack(
        [data.random_crop(photos.load(i), 32, np.random.default_rng(i)) for i in (0, 1)]
    )
    style_w = np.ones((2, 1), np.float32)
    terms = {}
    for warmup in (0, 4):
        config = ff_config.replace(TINY, style_warmup=warmup, batch_size=2)
        loss_net, net_params = train.create_loss_net(config)
        targets = train.make_style_targets(config, loss_net, net_params, [style])
        tx = train.make_optimizer(config, None)
        state = train.init_state(tx, train.nets.init(config.net, 0))
        step = train.make_train_step(config, loss_net, tx)
        _, out = step(state, images, style_w, targets, net_params)
        terms[warmup] = {k: float(v) for k, v in out.items()}
    assert terms[4]["style"] == pytest.approx(terms[0]["style"] / 4, rel=1e-4)
    assert terms[4]["content"] == pytest.approx(terms[0]["content"], rel=1e-4)
    with pytest.raises(ValueError, match="style_warmup"):
        ff_config.replace(TINY, style_warmup=-1)


def test_training_hands_its_augmentation_to_the_loader(photos, style, tmp_path, monkeypatch):
    # max_scale and flip reach data.batches (a loader called without them ignores them).
    seen = {}
    real = data.batches

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(train.data, "batches", spy)
    config = ff_config.replace(TINY, steps=1, max_scale=1.5, flip=True)
    train.train(config, tmp_path, [style], dataset=photos)
    assert seen["max_scale"] == 1.5 and seen["flip"] is True
