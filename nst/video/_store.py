"""The folder of finished frames that makes a video run resumable.

Layout::

    00000.png, 00001.png, ...   finished frames, lossless, each saved atomically when done
    video.json                  what run the frames belong to (settings, input hashes)
    frames.jsonl                one JSON record per finished frame (steps, seconds, losses)
    .frame00012.ckpt.npz        the optimizer state of an interrupted frame (engine format)
    metrics.json                warping errors, once the clip is complete

A run continues after the last contiguous finished frame; the next frame starts from the
saved PNG of the previous one (never from a float kept in memory), so an interrupted run
and an uninterrupted one compute on the same numbers.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from nst import files
from nst import image as nst_image
from nst.video.io import VideoError, frame_path

STATE = "video.json"
LOG = "frames.jsonl"
METRICS = "metrics.json"
_OWN = re.compile(
    r"^(\d{5,}\.png|video\.json|frames\.jsonl|metrics\.json|\.frame\d+\.ckpt\.npz"
    r"|\..+\.tmp|tmp\w*\.tmp\.npz)$"
)


def digest(arrays: Iterable[Any]) -> str:
    """sha256 (first 16 hex digits) of arrays' shapes and bytes."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(repr((a.shape, str(a.dtype))).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def json_safe(value: Any) -> Any:
    """A JSON round trip (tuples become lists), so stored and fresh identities compare."""
    return json.loads(json.dumps(value, default=str))


def write_json(path: str | os.PathLike, data: Any) -> None:
    """JSON written atomically (``nst.files.write_atomic``)."""
    text = json.dumps(data, indent=1, allow_nan=True) + "\n"
    files.write_atomic(path, text.encode(), overwrite=True)


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b)):
            out += _differences(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".") or "value"]


class FrameStore:
    """Finished frames of one run in ``folder`` (see the module docstring).

    Args:
      folder: the frames folder (created).
      identity: JSON-able description of the run; a folder holding another run's frames is
        refused, unless ``restart``.
      restart: delete another run's frames (only the files this class writes) and start over.

    Raises:
      VideoError: ``folder`` is a file, holds frames of another run (without ``restart``),
        or holds files of its own that this class did not write.
    """

    def __init__(
        self, folder: str | os.PathLike, identity: Mapping[str, Any], *, restart: bool = False
    ) -> None:
        self.folder = pathlib.Path(folder)
        self.identity = json_safe(dict(identity))
        if self.folder.exists() and not self.folder.is_dir():
            raise VideoError(f"frames folder {str(self.folder)!r} is a file")
        state = self.folder / STATE
        if state.exists():
            try:
                stored = json.loads(state.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
                raise VideoError(f"{str(state)!r} is unreadable ({e})") from None
            if not isinstance(stored, dict):
                raise VideoError(f"{str(state)!r} is not a frames record (a JSON object)")
            diff = _differences(stored.get("identity"), self.identity)
            if diff:
                if not restart:
                    raise VideoError(
                        f"{str(self.folder)!r} holds frames of another run (differs in "
                        f"{', '.join(diff[:3])}); pass --overwrite to start over, or choose "
                        "another --output"
                    )
                self._clear()
        elif self.folder.exists() and any(_OWN.match(p.name) for p in self.folder.iterdir()):
            if not restart:
                raise VideoError(
                    f"{str(self.folder)!r} holds frames of an unknown run; pass --overwrite "
                    "to replace them"
                )
            self._clear()
        self.folder.mkdir(parents=True, exist_ok=True)
        write_json(state, {"identity": self.identity})

    def _clear(self) -> None:
        for p in self.folder.iterdir():
            if _OWN.match(p.name):
                p.unlink()

    def path(self, t: int) -> pathlib.Path:
        return frame_path(self.folder, t)

    def done(self, total: int) -> int:
        """Frames ``0 .. done-1`` are finished (the first missing one is ``done``)."""
        t = 0
        while t < total and self.path(t).exists():
            t += 1
        return t

    def save(self, t: int, image: Any) -> np.ndarray:
        """Writes frame ``t`` (PNG, atomic); returns it as read back: ``float32 [H, W, 3]``."""
        nst_image.save(self.path(t), image, overwrite=True)
        return nst_image.to_float(nst_image.to_uint8(image))

    def load(self, t: int) -> np.ndarray:
        """Finished frame ``t``: ``float32 [H, W, 3]``."""
        return nst_image.load(self.path(t), max_size=None)

    def checkpoint(self, t: int) -> str:
        """Where the engine keeps frame ``t``'s optimizer state if interrupted."""
        return str(self.folder / f".frame{t:05d}.ckpt.npz")

    def log(self, record: Mapping[str, Any]) -> None:
        """Appends one frame's record to ``frames.jsonl``."""
        with open(self.folder / LOG, "a") as f:
            f.write(json.dumps(json_safe(dict(record))) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def records(self) -> dict[int, dict[str, Any]]:
        """``{frame: its latest record}`` from ``frames.jsonl``."""
        return read_records(self.folder)


def read_records(folder: str | os.PathLike) -> dict[int, dict[str, Any]]:
    """``{frame: its latest record}`` from ``folder/frames.jsonl``."""
    out: dict[int, dict[str, Any]] = {}
    path = pathlib.Path(folder) / LOG
    if not path.exists():
        return out
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
        frame = record.get("frame") if isinstance(record, dict) else None
        if isinstance(frame, int) and not isinstance(frame, bool) and frame >= 0:
            out[frame] = record  # anything else is not a record this module wrote
    return out


def write_metrics(folder: str | os.PathLike, metrics: Mapping[str, Any]) -> pathlib.Path:
    """``folder/metrics.json``, atomically."""
    path = pathlib.Path(folder) / METRICS
    write_json(path, json_safe(dict(metrics)))
    return path


def check_no_foreign(folder: pathlib.Path) -> None:
    """Raises when a PNG output folder holds files other than this run's."""
    if folder.is_dir():
        foreign = sorted(p.name for p in folder.iterdir() if not _OWN.match(p.name))
        if foreign:
            raise VideoError(
                f"output folder {str(folder)!r} holds other files ({', '.join(foreign[:3])}); "
                "choose an empty or new folder"
            )
