"""``--config.field=value`` (nst_cli.overrides): paths into nested frozen dataclasses, values
parsed by the field's type, one-line errors; and the experiment mode that applies them."""

from __future__ import annotations

import dataclasses

import pytest

from nst_cli import overrides


@dataclasses.dataclass(frozen=True)
class Inner:
    steps: int = 10
    lr: float = 0.1
    name: str = "adam"
    on: bool = False
    layers: tuple[str, ...] = ("a",)
    sizes: tuple[int, ...] = (1, 2)
    pair: tuple[float, float] = (1.0, 2.0)
    maybe: int | None = None
    style_layers: tuple[tuple[str, float], ...] | None = (("conv1_1", 1.0),)

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"Inner.steps must be >= 1, got {self.steps}")


@dataclasses.dataclass(frozen=True)
class Outer:
    inner: Inner = Inner()
    scale: float = 1.0
    video: str | None = "clip.mp4"


def test_every_type_is_parsed_from_text():
    cases = {
        "scale=2.5": ("scale", 2.5),
        "inner.steps=3": ("inner.steps", 3),
        "inner.lr=1e-3": ("inner.lr", 1e-3),
        "inner.name=sgd": ("inner.name", "sgd"),
        "inner.on=true": ("inner.on", True),
        "inner.on=0": ("inner.on", False),
        "inner.layers=relu1_1,relu2_1": ("inner.layers", ("relu1_1", "relu2_1")),
        "inner.layers=": ("inner.layers", ()),
        "inner.sizes=64, 128": ("inner.sizes", (64, 128)),
        "inner.pair=3,4": ("inner.pair", (3.0, 4.0)),
        "inner.maybe=7": ("inner.maybe", 7),
        "inner.maybe=none": ("inner.maybe", None),
        "video=None": ("video", None),
        # Layer tables: name:weight; a bare style layer weighs 1/5, as --style_layers.
        "inner.style_layers=conv2_1:0.5,conv3_1": (
            "inner.style_layers",
            (("conv2_1", 0.5), ("conv3_1", 0.2)),
        ),
    }
    for arg, (path, want) in cases.items():
        got = overrides.apply(Outer(), [f"--config.{arg}"])
        value = got
        for name in path.split("."):
            value = getattr(value, name)
        assert value == want and type(value) is type(want), arg
    # Everything else unchanged, and the original left alone (frozen, replaced).
    got = overrides.apply(Outer(), ["--config.inner.steps=3", "--config.scale=2"])
    assert got == Outer(inner=Inner(steps=3), scale=2.0)
    assert Outer().inner.steps == 10


def test_later_overrides_win():
    got = overrides.apply(Outer(), ["--config.scale=2", "--config.scale=3"])
    assert got.scale == 3.0


@pytest.mark.parametrize(
    "arg, pattern",
    [
        ("--config.scle=2", "--config.scle=2: Outer has no field 'scle'; valid: inner, scale"),
        ("--config.inner.stepz=2", "Inner has no field 'stepz'"),
        ("--config.scale=big", "--config.scale=big: expected a number, got 'big'"),
        ("--config.inner.steps=1.5", "expected an integer, got '1.5'"),
        ("--config.inner.on=maybe", "expected true or false, got 'maybe'"),
        ("--config.inner.pair=1", "expected 2 comma-separated values"),
        ("--config.inner=3", "inner is a group of fields; set one of them (steps, lr"),
        ("--config.scale.x=3", "scale is a float, not a group of fields"),
        ("--config.inner.steps=0", "--config.inner.steps=0: Inner.steps must be >= 1, got 0"),
        ("--config.inner.style_layers=conv1_1:x", "bad layer weight in 'conv1_1:x'"),
        ("--config.scale", "expected --config.FIELD=VALUE"),
    ],
)
def test_errors_are_one_line_naming_the_argument(arg, pattern):
    with pytest.raises(ValueError) as info:
        overrides.apply(Outer(), [arg])
    message = str(info.value)
    assert pattern in message and "\n" not in message


def test_dashes_may_be_left_out():
    """As nst_cli.flags.split_overrides hands them to the experiment mode."""
    assert overrides.apply(Outer(), ["config.scale=2"]).scale == 2.0
