"""What the user sees while a run works: a progress bar on a terminal, periodic plain lines
otherwise, and messages without a logger's prefix.

    progress = Progress(total=500, label="step", start=resumed)
    progress.update(step, loss=1.2e4)        # rate and ETA are measured here
    progress.close()

Everything goes to stderr (stdout stays for ``--list_experiments`` and ``--help``).
"""

from __future__ import annotations

import logging as std_logging
import math
import sys
import time
from typing import Any, TextIO

BAR_WIDTH = 24


def say(message: str) -> None:
    """One plain line for the user."""
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()


def warn(message: str) -> None:
    say(f"warning: {message}")


def duration(seconds: float) -> str:
    """``75`` -> ``"1m15s"``; ``"?"`` for NaN or infinity."""
    if not math.isfinite(seconds):
        return "?"
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def line(step: int, total: int, rate: float, label: str = "step", **numbers: float) -> str:
    """``step 12/400 (3%)  loss 1.2e+04  3.40 steps/s  ETA 1m54s``."""
    pct = 100 * step // total if total else 100
    shown = "".join(f"  {k} {v:.4g}" for k, v in numbers.items())
    eta = (total - step) / rate if rate > 0 else math.nan
    return f"{label} {step}/{total} ({pct}%){shown}  {rate:.3g} {label}s/s  ETA {duration(eta)}"


def bar(step: int, total: int, rate: float, label: str = "step", **numbers: float) -> str:
    """``[#########---------------]  37% 148/400 loss 1.2e+04 3.4 steps/s ETA 1m14s``."""
    frac = min(max(step / total, 0.0), 1.0) if total else 1.0
    filled = round(frac * BAR_WIDTH)
    shown = "".join(f" {k} {v:.4g}" for k, v in numbers.items())
    eta = (total - step) / rate if rate > 0 else math.nan
    return (
        f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {100 * frac:3.0f}% {step}/{total}"
        f"{shown} {rate:.3g} {label}s/s ETA {duration(eta)}"
    )


class Progress:
    """Progress of ``total`` units (steps, frames, ...) named ``label``.

    Args:
      total: units of the whole run.
      label: the unit's name ("step", "frame").
      start: units done before this run (a resumed run says "resuming from step N").
      enabled: False shows nothing (``--progress=false``) but the resume line.
      every: seconds between plain lines when not on a terminal.
      stream: where to write (default stderr); a terminal gets a bar redrawn in place.
      title: a line shown before the first update (the settings in use): after the set-up,
        so that a run that fails before its first step shows only its error.
    """

    def __init__(
        self,
        total: int,
        label: str = "step",
        *,
        start: int = 0,
        enabled: bool = True,
        every: float = 5.0,
        stream: TextIO | None = None,
        title: str | None = None,
    ) -> None:
        self.total, self.label, self.start = int(total), label, int(start)
        self.enabled, self.every = enabled, every
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._first: tuple[int, float] | None = None
        self._last_shown = -math.inf
        self._drawn = False
        self.title = title
        if self.start:
            self._write(f"resuming from {label} {self.start} of {self.total}\n")

    def rate(self, step: int, now: float) -> float:
        """Units per second since the first update (the first one pays for compiling)."""
        if self._first is None or now <= self._first[1] or step <= self._first[0]:
            return 0.0
        return (step - self._first[0]) / (now - self._first[1])

    def update(self, step: int, *, rate: float | None = None, **numbers: Any) -> None:
        """``step`` units done; ``numbers`` (loss=...) are shown with it."""
        now = time.monotonic()
        if self._first is None:
            self._first = (step, now)
            if self.enabled and self.title:
                self._write(f"{self.title}\n")
        if not self.enabled:
            return
        rate = self.rate(step, now) if rate is None else rate
        last = step >= self.total
        numbers = {k: float(v) for k, v in numbers.items() if v is not None}
        if self.tty:
            if last or now - self._last_shown >= 0.1:
                self._last_shown = now
                self._write("\r" + bar(step, self.total, rate, self.label, **numbers) + "\033[K")
                self._drawn = True
        elif last or now - self._last_shown >= self.every:
            self._last_shown = now
            self._write(line(step, self.total, rate, self.label, **numbers) + "\n")

    def note(self, message: str) -> None:
        """A line of its own above the bar (the bar is redrawn at the next update)."""
        if self._drawn:
            self._write("\r\033[K")
            self._drawn = False
        self._write(f"{message}\n")

    def close(self) -> None:
        """Ends the bar's line (a terminal)."""
        if self._drawn:
            self._write("\n")
            self._drawn = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def diverged(stopped: str) -> str:
    """The engine's ``"non-finite loss at step S (term T)"`` said in words."""
    if stopped.startswith("non-finite loss"):
        where = stopped[len("non-finite loss") :].strip()
        return (
            f"the optimization diverged: the loss became infinite or NaN {where}; "
            "try a smaller --lr or loss weights"
        )
    return stopped


class _PlainFormatter(std_logging.Formatter):
    def format(self, record: std_logging.LogRecord) -> str:
        text = record.getMessage()
        if record.levelno >= std_logging.ERROR:
            return f"error: {text}"
        return f"warning: {text}" if record.levelno >= std_logging.WARNING else text


def _not_orbax(record: std_logging.LogRecord) -> bool:
    """Orbax logs every checkpoint step at INFO, and its internals at every level (a
    truncated model: errors before the one-line one that says what is wrong): left out."""
    return "orbax" not in record.pathname


def plain_logging() -> None:
    """absl/std logging at INFO to stderr as plain lines, without the time/thread/file:line
    prefix (the library and the experiments log; the user reads), orbax's left out. The
    command line owns the process: every handler of the root logger is replaced."""
    from absl import logging

    root = std_logging.getLogger()
    for handler in list(root.handlers):  # absl's, or basicConfig's from a log before this
        root.removeHandler(handler)
    handler = std_logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PlainFormatter())
    handler.addFilter(_not_orbax)
    root.addHandler(handler)
    logging.set_verbosity(logging.INFO)
