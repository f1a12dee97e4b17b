"""Writing files without losing any: one atomic, no-clobber writer and its pre-flight checks.

Every file the package and its command line write goes through :func:`write_atomic` (images
through ``nst.image.save``, which uses it): the bytes go to a temporary file in the target's
folder, are flushed to disk, then moved into place, so a crash or a full disk leaves either
the old file or the new one, never half of one. Without ``overwrite`` an existing file is
never replaced (the move is a hard link, which fails if the name exists). A failure raises
:class:`OutputError`, a ``ValueError`` whose one-line message names the file and the reason
(``No space left on device``, ``Read-only file system``, ...).

:func:`check_writable` is the pre-flight check a long run makes before any work: it reserves
the bytes the run will write in the destination folder (``posix_fallocate``, then removes
them), so a full disk or a read-only folder is reported in seconds, not after the run.
:func:`refuse_existing` refuses, before any work, names a run would replace.
"""

from __future__ import annotations

import errno
import os
import pathlib
import tempfile
from collections.abc import Callable, Iterable
from typing import BinaryIO

__all__ = ["OutputError", "check_writable", "refuse_existing", "write_atomic"]

PathLike = str | os.PathLike


class OutputError(ValueError):
    """A file cannot be written (or would replace one): ``path`` and ``reason`` name why."""

    def __init__(self, path: PathLike, reason: str, *, what: str = "cannot write") -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{what} {self.path!r}: {reason}")


def _reason(e: OSError) -> str:
    return e.strerror or str(e) or type(e).__name__


def _umask() -> int:
    mask = os.umask(0o022)  # Reading the umask means setting it; restore it at once.
    os.umask(mask)
    return mask


def write_atomic(
    path: PathLike,
    payload: bytes | Callable[[BinaryIO], None],
    *,
    overwrite: bool = False,
    what: str = "cannot write",
) -> pathlib.Path:
    """Writes ``payload`` (bytes, or a function writing to a binary file) to ``path``.

    Temp file in the same folder, ``fsync``, then moved into place: readers see the old file
    or the new one. Missing parent folders are created.

    Args:
      path: the file.
      payload: the bytes, or ``payload(f)`` that writes them to the open file ``f``.
      overwrite: replace an existing file; otherwise an existing ``path`` is left untouched
        and refused (no check-then-write race: the move is a hard link).
      what: the start of the error message (``"cannot save image"``...).

    Raises:
      OutputError: ``path`` exists (without ``overwrite``) or is a directory, or the write
        failed (disk full, read-only, permission); nothing is left behind and an existing
        file is unchanged.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        raise OutputError(path, "is a directory", what=what)
    if path.exists() and not overwrite:
        raise OutputError(
            path, "file exists (pass overwrite=True, or --overwrite, to replace it)", what=what
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise OutputError(path, _reason(e), what=what) from None
    tmp = pathlib.Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            if os.chmod in os.supports_fd:  # mkstemp makes 0600 files; use the usual mode.
                os.chmod(f.fileno(), 0o666 & ~_umask())
            if callable(payload):
                payload(f)
            else:
                f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _move_no_clobber(tmp, path, what)
    except OSError as e:
        raise OutputError(path, _reason(e), what=what) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _move_no_clobber(tmp: pathlib.Path, path: pathlib.Path, what: str) -> None:
    """Moves ``tmp`` to ``path`` unless ``path`` exists, without a check-then-write race."""
    exists = OutputError(
        path, "file exists (pass overwrite=True, or --overwrite, to replace it)", what=what
    )
    try:
        os.link(tmp, path)  # Atomic, and fails if path exists.
    except FileExistsError:
        raise exists from None
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        # No hard links on this file system: fall back to check, then replace.
        if path.exists():
            raise exists from None
        os.replace(tmp, path)


def refuse_existing(paths: Iterable[PathLike], *, flag: str = "--overwrite") -> None:
    """Raises ``OutputError`` naming the first of ``paths`` that exists (before any work)."""
    for p in paths:
        if os.path.lexists(p):
            raise OutputError(p, f"exists; pass {flag} to replace it", what="will not replace")


def _existing_ancestor(path: pathlib.Path) -> pathlib.Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable(directory: PathLike, nbytes: int = 0) -> None:
    """Checks, before a long run, that ``directory`` can take ``nbytes`` more bytes.

    Creates nothing that stays: a temporary file in ``directory`` (or, when it does not exist
    yet, in its nearest existing parent, where it will be created) gets ``nbytes`` reserved
    with ``posix_fallocate`` (written where that is not supported) and is removed.

    Raises:
      OutputError: ``directory`` is a file, not writable, or has no room for ``nbytes``.
    """
    directory = pathlib.Path(directory)
    where = _existing_ancestor(directory)
    if not where.is_dir():
        raise OutputError(directory, f"{str(where)!r} is not a directory")
    what = "cannot write to"
    try:
        fd, tmp = tempfile.mkstemp(dir=where, prefix=".nst-space-check.", suffix=".tmp")
    except OSError as e:
        raise OutputError(directory, _reason(e), what=what) from None
    try:
        if nbytes > 0:
            try:
                os.posix_fallocate(fd, 0, int(nbytes))
            except OSError as e:
                if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                    raise
                block = b"\0" * min(int(nbytes), 1 << 20)
                left = int(nbytes)
                while left > 0:
                    left -= os.write(fd, block[: min(left, len(block))])
            os.fsync(fd)
    except OSError as e:
        raise OutputError(
            directory, f"{_reason(e)} (checked for {nbytes:,} bytes before starting)", what=what
        ) from None
    finally:
        os.close(fd)
        os.unlink(tmp)
