"""nst_cli tests: tiny programs compiled fast."""

import jax
import pytest


@pytest.fixture(autouse=True, scope="module")
def fast_compile():
    """Tiny programs run in milliseconds: compile them with fewer XLA passes."""
    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", before)
