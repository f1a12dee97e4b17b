"""Inputs reach what the user gets (issue 31: each of these could be broken with every test
green): a style's own mask selects the region its statistics come from; the iterate average
(``ema_decay``) is what snapshots and the output show alike; the checkpoint fingerprint
changes with every input that changes the result, so a resume never continues another run.

Tiny images, random VGG19 weights, a handful of steps.
"""

import dataclasses

import numpy as np
import pytest

from nst import config as config_lib
from nst import losses, stylize
from nst.config import StylizeConfig
from nst.stylize import _checkpoint

SIZE = 24
LAYERS = (("conv1_1", 0.5), ("conv2_1", 0.5))
BASE = StylizeConfig(
    weights="random", size=SIZE, steps=4, lr=2e-2, style_weight=1e3, style_layers=LAYERS
)


@pytest.fixture(scope="module", autouse=True)
def _fast(fast_compile):
    del fast_compile


@pytest.fixture(scope="module")
def net_params():
    return stylize.create_backbone(BASE)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    content = rng.uniform(size=(SIZE, SIZE, 3)).astype(np.float32)
    styles = [rng.uniform(size=(SIZE, SIZE, 3)).astype(np.float32) for _ in range(2)]
    return content, styles


def _half(shape, axis, first=True):
    mask = np.zeros(shape, np.float32)
    index = [slice(None)] * 2
    index[axis] = slice(0, shape[axis] // 2) if first else slice(shape[axis] // 2, None)
    mask[tuple(index)] = 1.0
    return mask


# ------------------------------------------------------------------------------ masks


def test_a_style_mask_selects_the_styles_own_region(images, net_params):
    # Content mask: the left half of the photo; style mask: the top half of the painting.
    # The target is the guided Gram of the painting's features under its own mask, resampled
    # to each layer (computed here in NumPy), not under the content mask.
    content, (style, _) = images
    net, params = net_params
    left, top = _half(content.shape[:2], 1), _half(style.shape[:2], 0)
    targets = stylize.make_targets(BASE, net, params, content, [style], regions=[(left, top)])
    feats = {k: np.asarray(v[0], np.float64) for k, v in net(params, style[None]).items()}
    for name, _ in LAYERS:
        h, w, c = feats[name].shape
        f = feats[name].reshape(-1, c)
        for mask, own in ((top, True), (left, False)):
            t = np.asarray(losses.resize_mask(mask, (h, w)), np.float64).reshape(-1, 1)
            gram = (f * t**2).T @ f / np.sum(t**2)
            close = np.allclose(targets.grams[name][0], gram, rtol=1e-4, atol=1e-6)
            assert close == own, (name, "style mask" if own else "content mask")
        assert targets.masks[name].shape[0] == 1


# ------------------------------------------------------------------------------- EMA


def test_ema_reaches_snapshots_and_output_alike(images, net_params):
    # The raw iterates of a run without averaging (a snapshot every step), averaged here:
    # a <- d a + (1 - d) x_t, shown as a / (1 - d^t) at every step t. Every snapshot of the
    # averaged run is that average at its step, and its last snapshot is its output.
    content, (style, _) = images
    plain = stylize.stylize(
        dataclasses.replace(BASE, snapshot_every=1), content, [style], net_params=net_params
    )
    decay = 0.6
    averaged = stylize.stylize(
        dataclasses.replace(BASE, snapshot_every=1, ema_decay=decay),
        content,
        [style],
        net_params=net_params,
    )
    assert sorted(averaged.snapshots) == list(range(1, BASE.steps + 1))
    a = np.zeros_like(content, np.float64)
    for step in range(1, BASE.steps + 1):
        a = decay * a + (1 - decay) * plain.snapshots[step]
        np.testing.assert_allclose(
            averaged.snapshots[step], a / (1 - decay**step), atol=1e-5, err_msg=f"step {step}"
        )
        if step > 1:  # from step 2 on, the average is not the iterate
            assert np.abs(averaged.snapshots[step] - plain.snapshots[step]).max() > 1e-4
    np.testing.assert_allclose(averaged.snapshots[BASE.steps], averaged.image, atol=1e-6)


# ----------------------------------------------------------------------- fingerprint

# Fields left out of the fingerprint on purpose: the run's length and how it is looped (a
# resume may ask for more steps or snapshots; the loop form gives the same numbers).
NOT_FINGERPRINTED = {"steps", "snapshot_every", "loop"}
SPECIAL = {
    "content_layers": (("conv3_1", 1.0),),
    "style_layers": (("conv1_1", 1.0),),
    "style_blend": (0.5,),
    "init": "noise",
    "weights": "random",
}


def _other_value(field: dataclasses.Field):
    """A legal value of ``field`` other than its default (the config checks itself)."""
    default = getattr(StylizeConfig(), field.name)
    if field.name in SPECIAL:
        return SPECIAL[field.name]
    choices = list(config_lib._CHOICES.get(field.name, ()))
    for value in [*choices, 0.5, 7, 3.0, 64, 0.25, "elsewhere", True]:
        if value == default or (isinstance(default, str) and not isinstance(value, str)):
            continue
        if isinstance(default, bool) != isinstance(value, bool):
            continue
        try:
            StylizeConfig(**{field.name: value})
        except (ValueError, TypeError):
            continue
        return value
    raise AssertionError(f"no legal non-default value found for StylizeConfig.{field.name}")


_FIELDS = [f for f in dataclasses.fields(StylizeConfig)]


@pytest.mark.parametrize("field", _FIELDS, ids=[f.name for f in _FIELDS])
def test_fingerprint_follows_every_config_field(field, images):
    content, styles = images
    other = StylizeConfig(**{field.name: _other_value(field)})
    base = _checkpoint.fingerprint([StylizeConfig()], content, styles)
    changed = _checkpoint.fingerprint([other], content, styles)
    assert (changed == base) == (field.name in NOT_FINGERPRINTED), field.name
    # In a sweep, every setting counts.
    sweep = _checkpoint.fingerprint([StylizeConfig(), StylizeConfig()], content, styles)
    if field.name not in NOT_FINGERPRINTED:
        assert _checkpoint.fingerprint([StylizeConfig(), other], content, styles) != sweep


class _Stop(Exception):
    pass


def _engine_fingerprint(monkeypatch, net_params, content, styles, regions):
    """The fingerprint the engine checks a checkpoint against, for these inputs."""
    seen = []

    def spy(path, template, fingerprint, **kw):
        seen.append(fingerprint)
        raise _Stop

    monkeypatch.setattr(_checkpoint, "load_checkpoint", spy)
    with pytest.raises(_Stop):
        stylize.stylize(
            BASE, content, styles, net_params=net_params, regions=regions, checkpoint="x.npz"
        )
    return seen[0]


def _changed(a):
    a = np.array(a, copy=True)
    a[0, 0] = 0.5 * a[0, 0] + 0.25
    return a


def test_fingerprint_follows_every_image_and_mask(monkeypatch, images, net_params):
    content, (s1, s2) = images
    a, b = _half(content.shape[:2], 1), _half(content.shape[:2], 1, first=False)
    c = _half(s1.shape[:2], 0)
    base = (content, [s1, s2], [(a, c), (b, None)])
    other_inputs = {
        "content": (_changed(content), [s1, s2], base[2]),
        "first style": (content, [_changed(s1), s2], base[2]),
        "second style": (content, [s1, _changed(s2)], base[2]),
        "styles swapped": (content, [s2, s1], base[2]),
        "first content mask": (content, [s1, s2], [(_changed(a), c), (b, None)]),
        "second content mask": (content, [s1, s2], [(a, c), (_changed(b), None)]),
        "style mask": (content, [s1, s2], [(a, _changed(c)), (b, None)]),
        "style mask dropped": (content, [s1, s2], [(a, None), (b, None)]),
        "style mask added": (content, [s1, s2], [(a, c), (b, c)]),
        "style mask on the other style": (content, [s1, s2], [(a, None), (b, c)]),
        "no masks": (content, [s1, s2], None),
        # The same arrays in the same order, grouped otherwise: style 2 now goes where c is.
        "masks regrouped": (content, [s1, s2], [(a, None), (c, b)]),
    }
    reference = _engine_fingerprint(monkeypatch, net_params, *base)
    assert _engine_fingerprint(monkeypatch, net_params, *base) == reference  # deterministic
    for what, inputs in other_inputs.items():
        assert _engine_fingerprint(monkeypatch, net_params, *inputs) != reference, what


def test_a_resume_with_other_masks_is_refused(tmp_path, images, net_params):
    # Interrupted after 2 of 4 steps; the same command resumes, one with another style mask
    # (or content mask) is refused rather than continuing the first run.
    content, (style, _) = images
    left, top = _half(content.shape[:2], 1), _half(style.shape[:2], 0)
    checkpoint = str(tmp_path / "run.ckpt.npz")
    cache = stylize.Cache()
    polls = iter([False, False, True])
    kw = dict(net_params=net_params, checkpoint=checkpoint, cache=cache)
    first = stylize.stylize(
        BASE, content, [style], regions=[(left, top)], should_stop=lambda: next(polls), **kw
    )
    assert first.stopped == "interrupted" and first.steps_done == 2
    for regions in ([(left, 1.0 - top)], [(1.0 - left, top)], [(left, None)]):
        with pytest.raises(stylize.CheckpointError, match="another run"):
            stylize.stylize(BASE, content, [style], regions=regions, **kw)
    resumed = stylize.stylize(BASE, content, [style], regions=[(left, top)], **kw)
    assert resumed.steps_done == BASE.steps and len(resumed.history["total"]) == BASE.steps
