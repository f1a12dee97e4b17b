"""The stop flag (nst_cli.signals): SIGTERM (as a scheduler sends) and SIGINT both ask for a
clean stop; the process set-up of run.py (nst_cli.app): the compilation cache.

The subprocess test in run_test.py sends SIGINT to a real run; this one checks, in process,
that SIGTERM reaches the same flag the engine polls, and that a second signal exits at once.
"""

import os
import signal

import pytest

from nst_cli import app
from nst_cli.signals import StopFlag


@pytest.fixture
def restore_handlers():
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_sets_the_stop_flag_and_a_second_one_exits(sig, restore_handlers):
    stop = StopFlag()
    assert stop() is False
    os.kill(os.getpid(), sig)  # delivered to the main thread before kill returns
    assert stop() is True
    with pytest.raises(SystemExit) as exit_info:
        os.kill(os.getpid(), sig)
    assert exit_info.value.code == 130


def test_restore_puts_the_previous_handlers_back(restore_handlers):
    before = signal.getsignal(signal.SIGTERM)
    with StopFlag() as stop:
        assert signal.getsignal(signal.SIGTERM) == stop._handler
    assert signal.getsignal(signal.SIGTERM) == before


def test_compilation_cache_goes_to_the_users_cache_dir(monkeypatch, tmp_path):
    """run.py keeps JAX's persistent compilation cache (NST_JAX_CACHE_DIR, else next to the
    weights cache), every program in it; =off disables it; a cache the user set is left
    alone."""
    import jax

    saved = jax.config.jax_compilation_cache_dir
    saved_min = jax.config.jax_persistent_cache_min_compile_time_secs
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    try:
        jax.config.update("jax_compilation_cache_dir", None)
        monkeypatch.setenv("NST_JAX_CACHE_DIR", "off")
        app.enable_compilation_cache()
        assert jax.config.jax_compilation_cache_dir is None
        monkeypatch.delenv("NST_JAX_CACHE_DIR")
        monkeypatch.setenv("NST_CACHE_DIR", str(tmp_path))
        app.enable_compilation_cache()
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "jax_cache")
        assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.0  # small ones too
        monkeypatch.setenv("NST_JAX_CACHE_DIR", str(tmp_path / "other"))
        app.enable_compilation_cache()  # already set: left alone
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "jax_cache")
    finally:
        jax.config.update("jax_compilation_cache_dir", saved)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", saved_min)
