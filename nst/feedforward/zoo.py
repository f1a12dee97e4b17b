"""Networks shipped inside the package, used by name: ``nst/data/models/<name>.npz``.

A shipped network is one ``.npz`` file: every variable in float16 (half the bytes of a
float32 model; a half-width (16) Johnson network, 425k weights, is ~0.8 MB) under its path
(``params/ConvBlock_0/Conv_0/kernel``) and ``net.json``, the same description a model
directory holds (``checkpoint.net_json``: the ``NetConfig``, style names, and the training
``info``: command, steps, images seen, final losses), as UTF-8 bytes. It loads back to
float32. Reading checks every member's header first (``nst._npz``): a truncated, corrupt or
mismatched file is a one-line ``ValueError`` before any array is read.

    zoo.ship("runs/models/starry_night", "starry_night")   # -> nst/data/models/starry_night.npz
    zoo.names()                                             # ("starry_night", ...)
    config, variables, info = zoo.load("starry_night")
    nst.feedforward.infer.load("starry_night")              # a Model, by name or by path

A bare name (``is_name``: no path separator, not an existing path) means a shipped network.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import zipfile
from typing import Any

import jax
import numpy as np

from nst import _npz, files
from nst.feedforward import checkpoint
from nst.feedforward.config import NetConfig

__all__ = ["MODELS", "SUFFIX", "describe", "is_name", "load", "names", "path", "read", "ship"]

# The package's folder of shipped networks (pyproject.toml ships nst/data/**).
MODELS = pathlib.Path(__file__).resolve().parents[1] / "data" / "models"
SUFFIX = ".npz"
_JSON = "net.json"
_DTYPE = np.dtype(np.float16)
_MAX_JSON_BYTES = 1 << 20


def is_name(value: str | os.PathLike) -> bool:
    """True when ``value`` names a shipped network rather than a path: no path separator,
    no ``.npz`` suffix, and nothing of that name exists here."""
    text = os.fspath(value)
    seps = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return (
        bool(text)
        and not any(s in text for s in seps)
        and not text.endswith(SUFFIX)
        and not os.path.exists(text)
    )


def names(folder: str | os.PathLike | None = None) -> tuple[str, ...]:
    """The shipped networks' names, sorted (``folder``: default ``MODELS``)."""
    folder = pathlib.Path(MODELS if folder is None else folder)
    if not folder.is_dir():
        return ()
    return tuple(sorted(p.stem for p in folder.glob(f"*{SUFFIX}") if p.is_file()))


def path(name: str, folder: str | os.PathLike | None = None) -> pathlib.Path:
    """The file of the shipped network ``name``.

    Raises:
      ValueError: no such network (one line listing the known names).
    """
    known = names(folder)
    if name not in known:
        listed = ", ".join(known) if known else "none are installed"
        raise ValueError(f"unknown model {name!r}: shipped models are {listed} (--list_models)")
    return pathlib.Path(MODELS if folder is None else folder) / f"{name}{SUFFIX}"


def _flatten(variables: dict[str, Any]) -> dict[str, np.ndarray]:
    tree = {k: variables.get(k, {}) for k in ("params", "batch_stats")}
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {
        jax.tree_util.keystr(p, simple=True, separator="/"): np.asarray(leaf) for p, leaf in leaves
    }


def _unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {"params": {}, "batch_stats": {}}
    for key, leaf in flat.items():
        *parents, last = key.split("/")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = leaf
    return tree


def ship(
    source: str | os.PathLike,
    name: str,
    folder: str | os.PathLike | None = None,
    *,
    overwrite: bool = False,
    info: dict[str, Any] | None = None,
) -> pathlib.Path:
    """Writes the network at ``source`` as ``<folder>/<name>.npz`` (float16); returns the path.

    Args:
      source: a model directory, a training workdir or its ``checkpoints/``
        (``checkpoint.load_model``), or a shipped ``.npz``.
      name: the name it is used by (``--model=NAME``): letters, digits, ``_`` and ``-``.
      folder: where to write (default ``MODELS``, the package's own folder).
      overwrite: replace an existing file of that name.
      info: JSON-able facts added to the saved ``info`` (e.g. the training command, images
        seen, the losses reached).

    Raises:
      ValueError: a bad name or source, a weight that float16 cannot hold (beyond +-65504),
        or an existing file without ``overwrite``.
    """
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"model name must be letters, digits, _ or -, got {name!r}")
    info_extra = info
    source = pathlib.Path(source)
    if source.suffix == SUFFIX and source.is_file():
        config, variables, info = read(source)
    else:
        config, variables, info = checkpoint.load_model(source)
    arrays = {}
    for key, value in _flatten(jax.device_get(variables)).items():
        if not np.all(np.abs(value) <= np.finfo(_DTYPE).max):  # NaN and inf fail too
            raise ValueError(f"{source}: {key} does not fit in float16 (|x| up to 65504)")
        arrays[key] = value.astype(_DTYPE)
    description = json.dumps(checkpoint.net_json(config, {**info, **(info_extra or {})}), indent=1)
    description = description.encode()
    arrays[_JSON] = np.frombuffer(description, np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    out = pathlib.Path(MODELS if folder is None else folder) / f"{name}{SUFFIX}"
    files.write_atomic(out, buffer.getvalue(), overwrite=overwrite, what="cannot ship model")
    return out


def read(file: str | os.PathLike) -> tuple[NetConfig, dict[str, Any], dict[str, Any]]:
    """``(config, variables, info)`` of a shipped ``.npz``, the variables in float32.

    Raises:
      ValueError: not a readable shipped network (one line naming the file): not a zip,
        truncated, a corrupt member, a wrong dtype, or arrays that do not match the network.
    """
    where = str(file)
    try:
        declared = _npz.headers(file)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"{where}: not a shipped model ({_why(e)})") from None
    head = declared.get(_JSON)
    if head is None:
        raise ValueError(f"{where}: not a shipped model (no {_JSON})")
    if head.dtype != np.uint8 or len(head.shape) != 1 or head.shape[0] > _MAX_JSON_BYTES:
        raise ValueError(f"{where}: {_JSON} must be at most {_MAX_JSON_BYTES} bytes of uint8")
    weights = {k: h for k, h in declared.items() if k != _JSON}
    for key, h in declared.items():
        if not h.complete:
            raise ValueError(f"{where}: truncated ({key} holds {h.size} bytes of its declared)")
    for key, h in weights.items():
        if h.dtype != _DTYPE:
            raise ValueError(f"{where}: {key} is {h.dtype}, shipped weights are float16")
    try:
        with np.load(file, allow_pickle=False) as npz:
            try:
                description = json.loads(npz[_JSON].tobytes().decode())
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise ValueError(f"{where}: {_JSON} is not valid JSON ({e})") from None
            config, info = checkpoint._parse_net_json(description, f"{where}:{_JSON}")
            shapes = {k: jax.ShapeDtypeStruct(h.shape, h.dtype) for k, h in weights.items()}
            checkpoint.check_shapes(config, _unflatten(shapes), where)
            flat = {key: npz[key].astype(np.float32) for key in weights}
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"{where}: corrupt shipped model ({_why(e)})") from None
    return config, _unflatten(flat), info


def load(
    name: str, folder: str | os.PathLike | None = None
) -> tuple[NetConfig, dict[str, Any], dict[str, Any]]:
    """``(config, variables, info)`` of the shipped network ``name`` (float32 variables).

    Raises:
      ValueError: an unknown name (listing the shipped ones) or an unreadable file.
    """
    return read(path(name, folder))


def describe(name: str, folder: str | os.PathLike | None = None) -> dict[str, Any]:
    """``name``, ``styles``, ``kind`` (johnson | conditional | ulyanov), ``bytes``,
    ``steps`` and ``info`` of a shipped network, for ``--list_models``."""
    file = path(name, folder)
    config, _, info = read(file)
    if config.arch == "ulyanov":
        kind = "ulyanov"
    else:
        kind = "conditional" if config.num_styles > 1 else "johnson"
    return {
        "name": name,
        "styles": tuple(config.styles),
        "kind": kind,
        "bytes": file.stat().st_size,
        "steps": info.get("steps"),
        "info": info,
    }


def _why(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
