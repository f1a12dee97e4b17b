"""What an ``.npz`` file declares, read from its members' ``.npy`` headers without loading
any array: a file that declares a huge array is checked before anything is allocated."""

from __future__ import annotations

import math
import os
import zipfile
from typing import NamedTuple

import numpy as np

_READ_HEADER = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


class Header(NamedTuple):
    """One array's declaration: its shape and dtype, and the bytes its member holds after
    the header."""

    shape: tuple[int, ...]
    dtype: np.dtype
    size: int

    @property
    def complete(self) -> bool:
        """The member holds every byte the header declares."""
        return math.prod(self.shape) * self.dtype.itemsize <= self.size


def headers(path: str | os.PathLike) -> dict[str, Header]:
    """``{name: Header}`` of every array in the ``.npz`` at ``path`` (names as ``np.load``
    gives them, without ``.npy``).

    Raises:
      OSError, ValueError, zipfile.BadZipFile: not a readable ``.npz``.
    """
    found = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with archive.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version not in _READ_HEADER:
                    raise ValueError(f"{info.filename}: unsupported .npy version {version}")
                shape, _, dtype = _READ_HEADER[version](f)
                size = info.file_size - f.tell()
            found[info.filename[: -len(".npy")]] = Header(tuple(shape), np.dtype(dtype), size)
    return found
