"""run.py's stop flag: SIGTERM (as a scheduler sends) and SIGINT both ask for a clean stop.

The subprocess test in run_test.py sends SIGINT to a real run; this one checks, in process,
that SIGTERM reaches the same flag the engine polls, and that a second signal exits at once.
"""

import importlib
import os
import pathlib
import signal
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run_module():
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("run")  # once per process: it defines absl flags


@pytest.fixture
def restore_handlers():
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_sets_the_stop_flag_and_a_second_one_exits(sig, run_module, restore_handlers):
    stop = run_module._StopFlag()
    assert stop() is False
    os.kill(os.getpid(), sig)  # delivered to the main thread before kill returns
    assert stop() is True
    with pytest.raises(SystemExit) as exit_info:
        os.kill(os.getpid(), sig)
    assert exit_info.value.code == 130


def test_compilation_cache_goes_to_the_users_cache_dir(run_module, monkeypatch, tmp_path):
    """run.py keeps JAX's persistent compilation cache (NST_JAX_CACHE_DIR, else next to the
    weights cache); =off disables it; a cache the user set is left alone."""
    import jax

    saved = jax.config.jax_compilation_cache_dir
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    try:
        jax.config.update("jax_compilation_cache_dir", None)
        monkeypatch.setenv("NST_JAX_CACHE_DIR", "off")
        run_module.enable_compilation_cache()
        assert jax.config.jax_compilation_cache_dir is None
        monkeypatch.delenv("NST_JAX_CACHE_DIR")
        monkeypatch.setenv("NST_CACHE_DIR", str(tmp_path))
        run_module.enable_compilation_cache()
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "jax_cache")
        monkeypatch.setenv("NST_JAX_CACHE_DIR", str(tmp_path / "other"))
        run_module.enable_compilation_cache()  # already set: left alone
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "jax_cache")
    finally:
        jax.config.update("jax_compilation_cache_dir", saved)


def test_single_images_default_to_lbfgs_other_modes_to_adam(run_module):
    from absl import flags

    assert flags.FLAGS["optimizer"].value is None and flags.FLAGS["steps"].value is None
    image = run_module.build_config("image")
    other = run_module.build_config("other")
    assert (image.optimizer, image.steps) == ("lbfgs", 120)
    assert (other.optimizer, other.steps) == ("adam", 500)
    assert run_module.default_steps("lbfgs_scipy") == 120
