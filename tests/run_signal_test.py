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
