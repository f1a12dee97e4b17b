"""The one place a bad input ends the program: one line on stderr, exit code 2."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

PROGRAM = "run.py"


def fail(message: str) -> None:
    """Writes ``run.py: error: MESSAGE`` (its first line) and exits 2 at once: no library
    thread (orbax's readers, an asyncio loop) or exit handler prints a traceback after it."""
    first = str(message).splitlines()[0] if str(message).strip() else "error"
    sys.stdout.flush()
    sys.stderr.write(f"{PROGRAM}: error: {first}\n")
    sys.stderr.flush()
    os._exit(2)


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
