"""Video test helpers: clips cut from the bundled tubingen photo by a known camera motion.

A module of its own (not ``conftest``): test files import it by a name no other test folder
uses, so collecting ``tests/video`` together with another folder's ``conftest`` works.
"""

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


def pan_clip(photo, *, frames=5, size=(36, 48), velocity=(2.0, 1.0), fps=10.0) -> io.Clip:
    """A ``Clip`` panning over ``photo`` (backward flow ``velocity`` everywhere)."""
    array = synthetic.pan(photo, frames=frames, size=size, velocity=velocity, origin=ORIGIN)
    return io.Clip(array, fps, "pan", fps, size, tuple(range(frames)))
