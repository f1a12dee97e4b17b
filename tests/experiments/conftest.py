"""Experiment tests: tiny programs, compiled fast (tests/conftest.py's fast_compile)."""

import pytest


@pytest.fixture(autouse=True, scope="module")
def _fast(fast_compile):
    del fast_compile
