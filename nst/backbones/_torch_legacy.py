"""A torch-free reader of PyTorch's legacy (non-zip) ``torch.save`` files, for tensors only.

Layout of such a file (``torch/serialization.py``, ``_legacy_save``), five parts in a row:

1. a pickled magic number ``0x1950a86a20f9469cfc6c``;
2. a pickled protocol version (1001);
3. a pickled sys-info dict (``little_endian``, ``type_sizes``, ...);
4. the pickled object (here a dict of tensors). Each tensor is
   ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)``,
   its storage a persistent id ``("storage", StorageType, key, location, numel, view)``;
5. the pickled list of storage keys, then for each key in that order the storage: its
   element count as a little-endian int64, then ``numel * itemsize`` raw little-endian bytes.

The unpickler is restricted: ``find_class`` resolves only ``torch._utils._rebuild_tensor_v2``,
the typed ``torch.*Storage`` classes and ``collections.OrderedDict``, to local stand-ins
that build NumPy arrays; any other global (``os.system``, ``builtins.eval``, ...) raises
``LegacyFormatError`` before it is called, so no code from the file ever runs.
"""

import collections
import io
import pickle
import struct
from collections.abc import Mapping
from typing import Any, BinaryIO

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

# torch.<Name>Storage -> NumPy dtype (little-endian).
STORAGE_DTYPES: Mapping[str, np.dtype] = {
    "ByteStorage": np.dtype("u1"),
    "CharStorage": np.dtype("i1"),
    "ShortStorage": np.dtype("<i2"),
    "IntStorage": np.dtype("<i4"),
    "LongStorage": np.dtype("<i8"),
    "HalfStorage": np.dtype("<f2"),
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "BoolStorage": np.dtype("?"),
}
_MAX_NUMEL = 1 << 34  # bound on a storage's declared size, checked before allocating


class LegacyFormatError(ValueError):
    """The file is not a tensors-only legacy ``torch.save`` file, or it is damaged."""


class _StorageType:
    def __init__(self, name: str):
        self.name, self.dtype = name, STORAGE_DTYPES[name]


class _Storage:
    """A storage declared in the pickle; ``data`` is filled from part 5 of the file."""

    def __init__(self, key: str, dtype: np.dtype, numel: int):
        self.key, self.dtype, self.numel = key, dtype, numel
        self.data: np.ndarray | None = None


class _LazyTensor:
    """A tensor whose storage bytes come after the pickle: built by ``materialize``."""

    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def materialize(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise LegacyFormatError(f"storage {self.storage.key!r} has no data in the file")
        size, stride = tuple(self.size), tuple(self.stride)
        if len(size) != len(stride) or any(s < 0 for s in size + stride) or self.offset < 0:
            raise LegacyFormatError(f"tensor of storage {self.storage.key!r}: bad size/stride")
        extent = self.offset + sum((n - 1) * s for n, s in zip(size, stride) if n > 0)
        if any(n == 0 for n in size):
            return np.zeros(size, data.dtype)
        if extent >= data.size:
            raise LegacyFormatError(
                f"tensor of storage {self.storage.key!r} reaches element {extent} of {data.size}"
            )
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=size,
            strides=tuple(s * data.itemsize for s in stride),
            writeable=False,
        )
        return np.array(view)  # a copy: the caller owns it


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, *extra):
    del requires_grad, hooks, extra
    if not isinstance(storage, _Storage):
        raise LegacyFormatError("_rebuild_tensor_v2 called without a storage")
    if not (isinstance(offset, int) and isinstance(size, tuple) and isinstance(stride, tuple)):
        raise LegacyFormatError("_rebuild_tensor_v2 called with malformed arguments")
    if not all(isinstance(v, int) for v in size + stride):
        raise LegacyFormatError("_rebuild_tensor_v2 called with non-integer sizes")
    return _LazyTensor(storage, offset, size, stride)


_ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("collections", "OrderedDict"): collections.OrderedDict,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, storages: dict[str, _Storage] | None = None):
        super().__init__(file)
        self.storages = {} if storages is None else storages

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise LegacyFormatError(
                f"refused: the pickle names the global {module}.{name}, which a tensors-only "
                "file never needs (only torch._utils._rebuild_tensor_v2, torch.*Storage and "
                "collections.OrderedDict are allowed)"
            ) from None

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise LegacyFormatError(f"unknown persistent id {str(pid)[:80]}")
        storage_type, key, _location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise LegacyFormatError("persistent id without a storage type")
        if not (isinstance(key, str) and isinstance(numel, int) and 0 <= numel <= _MAX_NUMEL):
            raise LegacyFormatError(f"storage {key!r}: bad key or size {numel!r}")
        if len(pid) > 5 and pid[5] is not None:
            raise LegacyFormatError(f"storage {key!r}: storage views are not supported")
        if key in self.storages:
            if self.storages[key].dtype != storage_type.dtype:
                raise LegacyFormatError(f"storage {key!r} declared with two types")
            return self.storages[key]
        storage = _Storage(key, storage_type.dtype, numel)
        self.storages[key] = storage
        return storage


def _load_one(f: BinaryIO, storages: dict[str, _Storage] | None = None) -> Any:
    try:
        return _Unpickler(f, storages).load()
    except LegacyFormatError:
        raise
    except Exception as err:  # truncated or garbled pickle
        raise LegacyFormatError(f"unreadable pickle: {type(err).__name__}: {err}") from None


def _materialize(obj: Any) -> Any:
    if isinstance(obj, _LazyTensor):
        return obj.materialize()
    if isinstance(obj, dict):
        return {k: _materialize(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_materialize(v) for v in obj)
    return obj


def load(f: BinaryIO | bytes) -> Any:
    """The object of a legacy ``torch.save`` file, tensors as NumPy arrays (dicts stay dicts).

    Raises:
      LegacyFormatError: a bad magic number or protocol, a big-endian file, a refused
        global, a truncated storage, or trailing bytes.
    """
    if isinstance(f, bytes | bytearray):
        f = io.BytesIO(f)
    if _load_one(f) != MAGIC_NUMBER:
        raise LegacyFormatError("not a legacy torch.save file (wrong magic number)")
    if _load_one(f) != PROTOCOL_VERSION:
        raise LegacyFormatError(f"unsupported protocol version (expected {PROTOCOL_VERSION})")
    sys_info = _load_one(f)
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise LegacyFormatError("only little-endian files are supported")
    storages: dict[str, _Storage] = {}
    obj = _load_one(f, storages)
    keys = _load_one(f)
    if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
        raise LegacyFormatError("malformed storage key list")
    if sorted(keys) != sorted(storages):
        raise LegacyFormatError("the storage key list does not match the storages used")
    for key in keys:
        storage = storages[key]
        header = f.read(8)
        if len(header) != 8:
            raise LegacyFormatError(f"truncated file: storage {key!r} is missing")
        (numel,) = struct.unpack("<q", header)
        if numel != storage.numel:
            raise LegacyFormatError(
                f"storage {key!r}: {numel} elements in the data, {storage.numel} declared"
            )
        nbytes = numel * storage.dtype.itemsize
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise LegacyFormatError(
                f"truncated file: storage {key!r} has {len(raw)} of {nbytes} bytes"
            )
        storage.data = np.frombuffer(raw, storage.dtype)
    if f.read(1):
        raise LegacyFormatError("trailing bytes after the last storage")
    return _materialize(obj)


def save(path_or_file: Any, tensors: Mapping[str, np.ndarray]) -> None:
    """Writes ``tensors`` (name -> array) in the legacy format, as ``torch.save`` would.

    For tests and for making small files of this format without torch: each tensor gets
    its own storage keyed by its name. ``path_or_file``: a path or a binary file object.
    """
    names = {np.dtype(v): k for k, v in STORAGE_DTYPES.items()}
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    for key, v in arrays.items():
        if v.dtype not in names:
            raise ValueError(f"{key}: unsupported dtype {v.dtype}")
    out = io.BytesIO()
    for header in (
        MAGIC_NUMBER,
        PROTOCOL_VERSION,
        {"protocol_version": PROTOCOL_VERSION, "little_endian": True, "type_sizes": {}},
    ):
        pickle.dump(header, out, protocol=2)
    out.write(_pickle_tensor_dict(arrays, names))
    pickle.dump(list(arrays), out, protocol=2)
    for a in arrays.values():
        out.write(struct.pack("<q", a.size))
        out.write(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())
    if hasattr(path_or_file, "write"):
        path_or_file.write(out.getvalue())
    else:
        with open(path_or_file, "wb") as fh:
            fh.write(out.getvalue())


def _pickle_tensor_dict(arrays: Mapping[str, np.ndarray], names: Mapping[np.dtype, str]) -> bytes:
    """Protocol-2 opcodes of ``OrderedDict(name -> tensor)``, as ``torch.save`` writes them.

    Written by hand (GLOBAL, BINPERSID, REDUCE, ...) so no torch classes are needed.
    """
    out = io.BytesIO()

    def uni(s: str) -> bytes:
        b = s.encode("utf-8")
        return b"X" + struct.pack("<I", len(b)) + b

    def integer(v: int) -> bytes:
        return b"J" + struct.pack("<i", v)

    def tup(items: list[bytes]) -> bytes:
        return b"(" + b"".join(items) + b"t"

    out.write(b"\x80\x02")  # PROTO 2
    out.write(b"ccollections\nOrderedDict\n)R")  # OrderedDict()
    out.write(b"(")  # MARK for SETITEMS
    for key, a in arrays.items():
        out.write(uni(key))
        out.write(b"ctorch._utils\n_rebuild_tensor_v2\n")
        storage_type = f"ctorch\n{names[a.dtype]}\n".encode()
        pid = b"(" + uni("storage") + storage_type + uni(key) + uni("cpu") + integer(a.size)
        pid += b"Nt"  # view metadata None, TUPLE
        stride = [s // a.itemsize for s in a.strides] if a.size else [1] * a.ndim
        args = (
            pid
            + b"Q"  # BINPERSID
            + integer(0)
            + tup([integer(n) for n in a.shape])
            + tup([integer(s) for s in stride])
            + b"\x89"  # False
            + b"ccollections\nOrderedDict\n)R"
        )
        out.write(b"(" + args + b"tR")  # args TUPLE, REDUCE
    out.write(b"u.")  # SETITEMS, STOP
    return out.getvalue()
