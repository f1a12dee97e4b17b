"""The one place a bad input ends the program: one line on stderr, exit code 2."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator

PROGRAM = "run.py"


def fail(message: str) -> None:
    """Writes ``run.py: error: MESSAGE`` (its first line) and exits 2 at once: no library
    thread (orbax's readers, an asyncio loop) or exit handler prints a traceback after it."""
    first = str(message).splitlines()[0] if str(message).strip() else "error"
    sys.stdout.flush()
    sys.stderr.write(f"{PROGRAM}: error: {first}\n")
    sys.stderr.flush()
    os._exit(2)


class _MainThreadOnly:
    """A stand-in for ``sys.stderr`` that drops what other threads write (the tracebacks a
    library's reader threads print when the files under them are bad)."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        if threading.current_thread() is threading.main_thread():
            return self.stream.write(text)
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


@contextlib.contextmanager
def library_threads_quiet() -> Iterator[None]:
    """While the block runs, what other threads write to ``sys.stderr`` is dropped: orbax's
    and tensorstore's reader threads print a traceback each when a model's arrays are
    truncated, before the one-line error. When the block raises, they stay quiet (the
    process is about to end with ``fail``; stderr of the main thread is unchanged)."""
    real = sys.stderr
    sys.stderr = _MainThreadOnly(real)
    yield
    sys.stderr = real


def one_line(error: BaseException) -> str:
    """The line to show for ``error``: its message, or for an OSError the file and reason."""
    if isinstance(error, OSError) and not isinstance(error, FileExistsError | FileNotFoundError):
        if error.strerror:
            where = f"{error.filename}: " if error.filename else ""
            return f"{where}{error.strerror}"
    text = str(error)
    return text.splitlines()[0] if text.strip() else type(error).__name__


def guard(main: Callable[[], None]) -> None:
    """Runs ``main``; a ValueError (every usage, image, weights and config error is one) or
    an OSError ends with ``fail``, naming ``--field`` where the library names
    ``StylizeConfig.field``."""
    from nst_cli.flags import flag_message

    try:
        main()
    except (ValueError, OSError) as e:
        fail(flag_message(one_line(e)))
