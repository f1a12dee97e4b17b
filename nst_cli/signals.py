"""The one stop-signal handler of every mode and experiment."""

from __future__ import annotations

import signal
import sys


class StopFlag:
    """SIGINT/SIGTERM set the flag: the engine polls it between steps, saves its state and
    stops; a second signal exits at once (code 130). ``restore()`` (or leaving the ``with``
    block) puts the previous handlers back.

    >>> with StopFlag() as stop:
    ...     stop()
    False
    """

    def __init__(self) -> None:
        self.raised = False
        self._previous = {sig: signal.signal(sig, self._handler) for sig in _SIGNALS}

    def _handler(self, signum: int, frame: object) -> None:
        del frame
        if self.raised:  # second signal: give up immediately
            sys.exit(130)
        self.raised = True
        sys.stderr.write(f"signal {signum}: saving the state after the current step\n")
        sys.stderr.flush()

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def __call__(self) -> bool:
        return self.raised

    def __enter__(self) -> StopFlag:
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()


_SIGNALS = (signal.SIGINT, signal.SIGTERM)
