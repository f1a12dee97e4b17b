"""A run's books, shared by every driver (jitted steps, the host-driven L-BFGS forms): per-step
terms and times, snapshots, progress calls, the stop on a non-finite loss, and resuming."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

from nst.config import StylizeConfig
from nst.stylize import _checkpoint
from nst.stylize._objective import Hyper
from nst.stylize._step import Cache, State


def blame(terms: Mapping[str, np.ndarray], hyper: Hyper, k: int) -> str:
    """The first weighted term of setting ``k`` that is not finite, else "gradient or update"."""
    weights = {
        "content": hyper.content_weight,
        "style": hyper.style_weight,
        "tv": hyper.tv_weight,
        "photo": hyper.photo_weight,
        "temporal": hyper.temporal_weight,
    }
    for name, w in weights.items():
        if name in terms:
            value = float(terms[name][k]) * float(np.asarray(w)[k])
            if not np.isfinite(float(terms[name][k])) or not np.isfinite(value):
                return name
    return "gradient or update"


class Log:
    """A run's books: per-step terms and times, snapshots, progress calls, why it stopped.

    A resumed run continues the history it was saved with (times go on from its last).
    """

    def __init__(
        self,
        config: StylizeConfig,
        history: Mapping[str, np.ndarray],
        done: int,
        progress: Callable[[int, float, float], None] | None,
        on_snapshot: Callable[[int, np.ndarray], None] | None = None,
    ) -> None:
        self.config = config
        self.on_snapshot = on_snapshot
        self.history = {name: list(v) for name, v in history.items()}
        self.time_offset = float(self.history["time"][-1]) if self.history.get("time") else 0.0
        self.done = self.start = done
        self.progress = progress
        self.elapsed = 0.0  # seconds of stepping in this call, compilation excluded
        self.compile_seconds = 0.0
        self.snapshots: dict[int, np.ndarray] = {}
        self.stopped: str | None = None  # interrupted, or a non-finite loss
        self.converged: str | None = None  # ended early and well: the stopping rule

    def record(self, terms: Mapping[str, np.ndarray], seconds: float, hyper: Hyper) -> None:
        """Adds ``n`` steps that took ``seconds`` (terms {name: [n, K]}); at the first
        non-finite total the run stops and only the steps before it are kept."""
        total = np.asarray(terms["total"])
        n = total.shape[0]
        times = self.time_offset + self.elapsed + seconds * np.arange(1, n + 1) / n
        self.elapsed += seconds
        bad = ~np.isfinite(total)
        if bad.any():
            j, k = (int(i) for i in np.argwhere(bad)[0])
            term = blame({name: v[j] for name, v in terms.items()}, hyper, k)
            self.stopped = f"non-finite loss at step {self.done + j} (term {term}, setting {k})"
            n = j
        for name, values in terms.items():
            self.history.setdefault(name, []).extend(np.asarray(values)[:n])
        self.history.setdefault("time", []).extend(times[:n])
        self.done += n
        if n and self.progress is not None:
            rate = (self.done - self.start) / max(self.elapsed, 1e-9)
            self.progress(self.done, float(total[n - 1][0]), rate)
        if n and not self.stopped:
            self.converged = stopping_rule(self.history["total"], self.config)

    def snapshot_due(self) -> bool:
        every = self.config.snapshot_every
        return bool(every) and self.done % every == 0 and not self.stopped and self.done > 0

    def snapshot(self, images: Callable[[], np.ndarray]) -> None:
        """When a snapshot is due: keeps ``images()`` ([K, H, W, 3]) and hands it to
        ``on_snapshot`` at once (the CLI writes it while the run goes on)."""
        if not self.snapshot_due():
            return
        self.snapshots[self.done] = images()
        if self.on_snapshot is not None:
            self.on_snapshot(self.done, self.snapshots[self.done])

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, np.float32) for k, v in self.history.items()}


def stopping_rule(totals: Any, config: StylizeConfig) -> str | None:
    """Why the run may end now, or None: the total loss fell by less than
    ``config.stop_tol`` of its value over the last ``config.stop_window`` steps (every
    setting of a sweep; a non-finite value never counts as converged)."""
    window, tol = config.stop_window, config.stop_tol
    if not tol or len(totals) <= window:
        return None
    before = np.asarray(totals[-window - 1], np.float64)
    now = np.asarray(totals[-1], np.float64)
    fall = (before - now) / np.maximum(np.abs(now), np.finfo(np.float64).tiny)
    if not np.all(np.isfinite(fall)) or np.any(fall >= tol):
        return None
    fell = f"{np.max(fall):.2g}"
    return f"converged: the loss fell {fell} over the last {window} steps (stop_tol {tol:g})"


class Run(NamedTuple):
    """What both drivers take besides the problem: where programs and state are kept, and
    the caller's hooks."""

    cache: Cache
    checkpoint: str | None
    fingerprint: str
    should_stop: Callable[[], bool]
    progress: Callable[[int, float, float], None] | None
    on_snapshot: Callable[[int, np.ndarray], None] | None = None  # (step, images [K, H, W, 3])


class Outcome(NamedTuple):
    """What a run hands back: final images [K, H, W, 3] (unclipped), its books, and per
    setting its optimizer state (or None) and loss evaluations."""

    images: np.ndarray
    log: Log
    opt_states: list[Any]
    evaluations: list[int]


def resume(
    checkpoint: str | None, state: State, fingerprint: str, steps: int
) -> tuple[State, Mapping[str, np.ndarray]]:
    """``state`` and an empty history, or those of the checkpoint of this run."""
    restored = None
    if checkpoint:
        restored = _checkpoint.load_checkpoint(checkpoint, state, fingerprint, steps=steps)
    return restored if restored is not None else (state, {})
