"""Video test setup: clips cut from the bundled tubingen photo by a known camera motion."""

import numpy as np
import pytest

from nst import image
from nst.config import StylizeConfig
from nst.video import io, synthetic

# A textured window of tubingen at 256 px (the houses; the sky has nothing to track).
ORIGIN = (110.0, 60.0)
# Tiny stylization: random VGG19 weights, two shallow layers (fast to compile), few steps.
TINY = StylizeConfig(
    weights="random",
    size=48,
    steps=3,
    lr=5e-2,
    content_layers=(("conv2_1", 1.0),),
    style_layers=(("conv1_1", 0.5), ("conv2_1", 0.5)),
    style_weight=1e3,
    init="noise",
)


@pytest.fixture(autouse=True, scope="module")
def _fast_compile(fast_compile):
    """Every video test compiles its tiny programs with fewer XLA passes (tests/conftest.py)."""


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    return image.load(image.sample("tubingen"), max_size=256)


@pytest.fixture(scope="session")
def style() -> np.ndarray:
    return image.load(image.sample("starry_night"), max_size=48)


def pan_clip(photo, *, frames=5, size=(36, 48), velocity=(2.0, 1.0), fps=10.0) -> io.Clip:
    """A ``Clip`` panning over ``photo`` (backward flow ``velocity`` everywhere)."""
    array = synthetic.pan(photo, frames=frames, size=size, velocity=velocity, origin=ORIGIN)
    return io.Clip(array, fps, "pan", fps, size, tuple(range(frames)))
