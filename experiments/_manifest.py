"""A workdir's ``manifest.json``: what run it holds, how it was started, whether it is done.

It holds the study's identity (what must match for the workdir to be resumed), the config
actually used, the command's flags and ``--config`` overrides (once, at the top), weights,
package versions, git commit and device, one entry per (re)start under ``sessions``, and
``status`` ("running" or "complete").
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from experiments import _records
from experiments._records import json_safe, read_json, utc_now, write_json


def existing_manifest(workdir: str, identity: Mapping[str, Any]) -> dict[str, Any] | None:
    """``workdir``'s manifest.json if it holds this run (None if there is none yet).

    ValueError if it holds a run whose ``identity`` (study, settings, inputs) differs, or
    fails ``claim_workdir`` (foreign files, not writable, full).
    """
    _records.claim_workdir(workdir)
    path = os.path.join(workdir, "manifest.json")
    if not os.path.exists(path):
        return None
    manifest = read_json(path)
    if not isinstance(manifest, dict):
        raise ValueError(f"{path} is not an nst manifest (a JSON object)")
    diff = _records.differences({k: manifest.get(k) for k in identity}, identity)
    if diff:
        raise ValueError(
            f"workdir {workdir} holds a run with other settings (differs in "
            f"{', '.join(diff[:4])}); use another --workdir"
        )
    return manifest


def new_manifest(
    identity: Mapping[str, Any],
    config: Any,
    weights: Mapping[str, Any],
    flags: Mapping[str, Any],
    overrides: Sequence[str],
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """A study's first manifest: identity, config, command, flags and overrides, weights,
    versions, git, device, and the study's own keys ``extra``."""
    return json_safe(
        {
            **identity,
            "config": config,
            "status": "running",
            "created": utc_now(),
            "command": list(sys.argv),
            "flags": dict(flags),
            "overrides": list(overrides),
            "weights": weights,
            "versions": _records.package_versions(),
            "git": _records.git_info(),
            "device": _records.device_info(),
            "sessions": [],
            **extra,
        }
    )


def start_session(
    workdir: str, manifest: dict[str, Any], flags: Mapping[str, Any], overrides: Sequence[str]
) -> None:
    """Records this (re)start in ``manifest["sessions"]`` and writes manifest.json.

    The flags and overrides are recorded once, at the top; a session lists them only when
    they differ from the first one's."""
    entry: dict[str, Any] = {"started": utc_now()}
    for key, value in (("flags", dict(flags)), ("overrides", list(overrides))):
        if json_safe(value) != manifest.get(key):
            entry[key] = value
    entry.update(git=_records.git_info(), device=_records.device_info())
    manifest.setdefault("sessions", []).append(json_safe(entry))
    write_json(os.path.join(workdir, "manifest.json"), manifest)


def finish_manifest(workdir: str, manifest: dict[str, Any]) -> None:
    """Marks the study complete (with the time) and writes manifest.json."""
    manifest["status"] = "complete"
    manifest["finished"] = utc_now()
    write_json(os.path.join(workdir, "manifest.json"), manifest)
