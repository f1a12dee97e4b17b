"""Runner helpers shared by the four visualization experiments.

guided_backprop, class_visualization, feature_inversion and max_activating_patches each have a
frozen ``Config`` (not a ``StylizeConfig``), a ``config_from_flags(config, flag_values)``, a
``validate(config)`` and a ``run(config, workdir, ...)``; these helpers give them the same
flags handling, workdir, figure title, manifest and metrics files, and ``main``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

from experiments import _common


def override(
    config: Any,
    flag_values: Any,
    *,
    name: str,
    shared: Sequence[str],
    own: Mapping[str, str],
    not_here: Sequence[str],
) -> Any:
    """``config`` with the flags given on the command line.

    ``shared``: run.py flags that set the field of the same name; ``own``: flag -> field for
    the experiment's own flags (lists become tuples); ``not_here``: run.py flags that mean
    nothing to this experiment (giving one is a ValueError, not a silent no-op).
    """
    if flag_values is None:
        return config
    present = lambda flag: flag in flag_values and flag_values[flag].present
    for flag in not_here:
        if present(flag):
            raise ValueError(f"--{flag} does not apply to {name}")
    changes = {flag: flag_values[flag].value for flag in shared if present(flag)}
    for flag, field in own.items():
        if present(flag):
            value = flag_values[flag].value
            changes[field] = tuple(value) if isinstance(value, list) else value
    return dataclasses.replace(config, **changes)


def workdir_for(name: str, flag_values: Any) -> str:
    """--workdir or runs/NAME/<time>; FileExistsError if it holds a figure (no --overwrite)."""
    workdir = _common.flag_value(flag_values, "workdir", None) or _common.default_workdir(name)
    if os.path.exists(os.path.join(workdir, "figure.png")) and not _common.flag_value(
        flag_values, "overwrite", False
    ):
        raise FileExistsError(f"{workdir} already holds a figure; pass --overwrite to replace it")
    _common.claim_workdir(workdir)  # another's files, a full disk: refused before the work
    return workdir


def figure_title(text: str, config: Any, quick_note: str = "") -> str:
    """``text, VGG16, 224 px[, --quick]`` and, for random weights, the warning."""
    parts = [text, _common.weights_label([config]), f"{config.size} px"]
    if quick_note:
        parts.append(quick_note)
    title = ", ".join(parts)
    if config.weights == "random":
        title += (
            f" — {_common.RANDOM_NOTE}: the pictures show the method, not what a trained "
            "network has learned"
        )
    return title


def write_manifest(
    workdir: str, name: str, config: Any, flag_values: Any, started: str, **extra: Any
) -> None:
    """manifest.json: experiment, config, flags, weights, versions, device, git commit."""
    record = _common.weights_record(config)
    manifest = {
        "experiment": name,
        "status": "complete",
        "created": started,
        "finished": _common.utc_now(),
        "config": config,
        "flags": _common.flags_record(flag_values),
        "weights": {"weights": config.weights, **record},
        "versions": _common.package_versions(),
        "device": _common.device_info(),
        "git": _common.git_info(),
        **extra,
    }
    _common.write_json(os.path.join(workdir, "manifest.json"), _common.json_safe(manifest))


def write_metrics(workdir: str, metrics: Any) -> None:
    """metrics.json, written atomically (dataclasses and NumPy scalars made JSON values)."""
    _common.write_json(os.path.join(workdir, "metrics.json"), _common.json_safe(metrics))


def cell_size(size: int) -> int:
    """Figure cell side for images of ``size`` px: between 128 and 224."""
    return max(128, min(size, 224))


def main(module: ModuleType, flag_values: Any) -> dict:
    """``run.py --experiment=NAME`` for the visualization experiment ``module``."""
    quick = bool(_common.flag_value(flag_values, "quick", False))
    config = module.config_from_flags(module.get_config(quick), flag_values)
    module.validate(config)
    workdir = workdir_for(module.NAME, flag_values)
    note = "--quick" if quick else ""
    return module.run(config, workdir, flag_values=flag_values, quick_note=note)
