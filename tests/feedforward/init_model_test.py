"""``init="model:NAME"`` (``--init=model:NAME``): the optimization starts at a feed-forward
network's output for the content photo, not at the photo (issue 29, item 5)."""

import dataclasses
import types

import jax
import numpy as np
import pytest

from nst import image, stylize
from nst.config import StylizeConfig
from nst.feedforward import checkpoint, infer, nets, zoo
from nst.feedforward.config import NetConfig
from nst_cli import flags

NET = NetConfig(width=4, num_residual=1)
CONFIG = StylizeConfig(
    weights="random", size=32, steps=3, optimizer="adam", lr=0.05, style_layers=(("conv1_1", 1),)
)


def _flags(**values):
    """absl's FlagValues as ``nst_cli.flags`` reads them (as tests/nst_cli/cli_fakes.py)."""
    return {k: types.SimpleNamespace(value=v, present=1) for k, v in values.items()}


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A tiny random network, shipped as ``<folder>/tiny.npz``: ``(folder, file)``."""
    root = tmp_path_factory.mktemp("init_model")
    rng = np.random.default_rng(3)
    variables = jax.tree.map(
        lambda a: a + 0.2 * rng.standard_normal(a.shape).astype(np.float32),
        nets.init(NET, seed=1),
    )
    checkpoint.save_model(root / "tiny", NET, variables)
    return root / "models", zoo.ship(root / "tiny", "tiny", root / "models")


@pytest.fixture(scope="module")
def pair():
    content = image.load(image.sample("chelsea"), 32)
    style = image.load(image.sample("starry_night"), 32)
    return content, style


def test_the_first_iterate_is_the_networks_output(shipped, pair):
    _, file = shipped
    content, style = pair
    config = dataclasses.replace(CONFIG, init=f"model:{file}")
    expected = infer.stylize(infer.load(file), content)
    assert np.abs(expected - content).max() > 0.1  # the option shows in the image
    first = stylize.initial_image(config, jax.random.key(0), content, [style])
    np.testing.assert_allclose(np.asarray(first), expected, atol=1e-6)
    # The engine starts there: stopped before its first step, the image is the start.
    start = stylize.stylize(config, content, [style], should_stop=lambda: True)
    assert start.steps_done == 0
    np.testing.assert_allclose(start.image, expected, atol=1e-6)
    # And moves on from there: after steps, closer to the network's output than to the photo.
    ran = stylize.stylize(config, content, [style])
    assert ran.steps_done == CONFIG.steps
    assert np.abs(ran.image - expected).mean() < np.abs(ran.image - content).mean()


def test_a_shipped_name_and_the_flag(shipped, monkeypatch):
    folder, _ = shipped
    monkeypatch.setattr(zoo, "MODELS", folder)
    assert dataclasses.replace(CONFIG, init="model:tiny").init == "model:tiny"
    config = flags.config_from_flags("stylize", flag_values=_flags(init="model:tiny"))
    assert config.init == "model:tiny"
    with pytest.raises(ValueError, match=r"--init='model:nope': unknown model 'nope'.* tiny"):
        flags.config_from_flags("stylize", flag_values=_flags(init="model:nope"))
    with pytest.raises(ValueError, match="no model at '/nonexistent/m'"):
        StylizeConfig(init="model:/nonexistent/m")
