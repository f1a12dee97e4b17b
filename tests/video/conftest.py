"""Video test setup: fixtures (the helpers are in ``video_helpers``)."""

import numpy as np
import pytest

from nst import image


@pytest.fixture(autouse=True, scope="module")
def _fast_compile(fast_compile):
    """Every video test compiles its tiny programs with fewer XLA passes (tests/conftest.py)."""


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    return image.load(image.sample("tubingen"), max_size=256)


@pytest.fixture(scope="session")
def style() -> np.ndarray:
    return image.load(image.sample("starry_night"), max_size=48)
