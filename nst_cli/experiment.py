"""``run.py --experiment=NAME``: the experiment mode.

The experiment's config at the tier asked for (``--quick``, ``--tier``), then the shared
flags given on the command line (``apply_flags``), then the ``--config.field=value``
overrides (``nst_cli.overrides``); then its ``run(config, workdir, session)`` under the
runner (``experiments.runner``), which records the flags given and the overrides in the
manifest. Ctrl-C stops after the current step, checkpointed (exit code 130).
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import os
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

from absl import flags

import experiments
from nst.highres import gib_to_bytes
from nst_cli import flags as cli_flags
from nst_cli import overrides as overrides_lib
from nst_cli import progress
from nst_cli.signals import StopFlag

# Flags the experiment mode reads itself (never a config field).
RUNNER_FLAGS = frozenset({"experiment", "quick", "tier", "workdir", "progress"})
# Flags that set up the process for every mode (compilation cache, multi-host).
PROCESS_FLAGS = frozenset(
    {"coordinator_address", "num_processes", "process_id", "distributed", "distributed_timeout"}
)
# Flags whose field has another name: flag -> field.
RENAMED = {"style": "styles"}
# Flags whose field has another name in one study: study NAME -> {flag: field, dotted path
# (a nested config's field), or (field, convert) for a value in other units}. The studies
# know their fields only; the flag names are this module's.
FLAG_FIELDS: Mapping[str, Mapping[str, Any]] = {
    # The highres mode's flags set ``config.highres`` (StylizeConfig has a style_scale too).
    "large_scale": {
        "style_scale": "highres.style_scale",
        "memory_gib": ("highres.memory_budget", gib_to_bytes),
    },
    "train_feedforward": {"content": "preview"},  # the preview photo
    "vanilla_vs_fast": {"steps": "gatys_steps"},  # the Gatys runs' iterations
    "video_temporal": {"max_frames": "frames"},  # flag of the video mode
}
# run.py flags that mean nothing to an experiment: giving one is an error, not a no-op.
NOT_FOR_EXPERIMENTS = ("output", "overwrite", "snapshot_every")


def main(overrides: Sequence[str]) -> None:
    """Runs the experiment named by ``--experiment``; exits 130 when interrupted.

    ``overrides``: the ``--config.field=value`` arguments (run.py takes them out of argv).
    Bad flags or overrides raise ValueError (run.py prints its one line, exit 2) before
    anything is created.
    """
    overrides = [arg if arg.startswith("--") else f"--{arg}" for arg in overrides]
    values = flags.FLAGS
    module = experiments.get(values["experiment"].value)
    tier = experiments.tier_of(bool(values["quick"].value), values["tier"].value)
    given = cli_flags.record(values)
    config = build(module, tier, given, overrides)
    workdir = values["workdir"].value or default_workdir(module, config)
    session = experiments.Session(
        flags=given,
        overrides=tuple(overrides),
        note=experiments.tier_note(tier),
        progress=functools.partial(progress.Progress, enabled=bool(values["progress"].value)),
    )
    stop = StopFlag()
    try:
        report = module.run(config, workdir, dataclasses.replace(session, should_stop=stop))
    finally:
        stop.restore()
    if report.interrupted:
        sys.exit(130)


def build(module: ModuleType, tier: str, given: Mapping[str, Any], overrides: Sequence[str]):
    """``module``'s config at ``tier`` with the flags ``given`` and the ``overrides`` applied,
    checked (its ``settings`` or ``validate`` raise ValueError for a bad one)."""
    config = experiments.tier_config(module, tier)
    config = apply_flags(module, config, given)
    config = overrides_lib.apply(config, overrides)
    check = getattr(module, "validate", None)
    if check is not None:
        check(config)
    else:  # a table study: every row's config is checked
        experiments.configs(config, module.settings(config))
    return config


def apply_flags(module: ModuleType, config: Any, given: Mapping[str, Any]) -> Any:
    """``config`` with the shared flags ``given`` on the command line.

    A flag sets the config field of its name (``--style`` sets ``styles``; ``FLAG_FIELDS``
    maps more for a study: flag -> field, dotted path, or ``(field, convert)``): a top-
    level field first, then one of a nested config (``stylize``, ``highres``, ``train``
    ...), depth first. A flag with no such field, a run.py flag meaning nothing to
    experiments, or one for a field the study varies (a key of its settings' overrides) is a
    ValueError naming the flag. The value is parsed by the field's type (as
    ``--config.field=value``; layer tables as ``--content_layers``). The flags of
    ``config.stylize`` go through ``nst_cli.flags.config_from_flags`` as in every mode.
    """
    name = module.NAME
    renamed = {**RENAMED, **FLAG_FIELDS.get(name, {})}
    swept = _swept(module, config)
    changes: dict[tuple[str, ...], dict[str, Any]] = {}  # holder path -> {field: value}
    flag_of: dict[str, str] = {}  # field -> the flag that set it (for error messages)
    stylize: dict[str, Any] = {}  # flags of config.stylize: nst_cli.flags.config_from_flags
    for flag, value in given.items():
        if flag in RUNNER_FLAGS or flag in PROCESS_FLAGS:
            continue
        if flag in NOT_FOR_EXPERIMENTS:
            raise ValueError(f"--{flag} does not apply to experiments (outputs go to --workdir)")
        field, convert = renamed.get(flag, flag), None
        if isinstance(field, tuple):  # (field, convert): a value in other units
            field, convert = field
            try:
                value = convert(value)
            except ValueError as e:
                raise ValueError(f"--{flag} {e}") from None
        path = field.split(".") if "." in field else _find(config, field)
        if path is None:
            raise ValueError(f"--{flag} does not apply to {name}")
        field, where = path[-1], tuple(path[:-1])
        if path == ["stylize", field] and field in swept:
            raise ValueError(
                f"--{flag} cannot be set for this experiment: it is one of the settings it varies"
            )
        if path == ["stylize", field] and flag == field:
            stylize[flag] = value
            continue
        holder = _holder(config, path)
        text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        try:
            parsed = overrides_lib.parse(
                typing.get_type_hints(type(holder))[field], "none" if value is None else text, field
            )
        except ValueError as e:
            raise ValueError(f"--{flag}: {e}") from None
        changes.setdefault(where, {})[field] = parsed
        flag_of[field] = flag
        if field == "backbone":  # another network: its own default layers, unless given
            for k in overrides_lib.LAYER_WEIGHTS:
                if hasattr(holder, k) and k not in given and k not in swept:
                    if _allows_none(holder, k):
                        changes[where].setdefault(k, None)
    if stylize:  # the one flags -> StylizeConfig function (layer tables, samples, --backbone)
        base = flags_lib_values(stylize)
        config = dataclasses.replace(
            config,
            stylize=cli_flags.config_from_flags("experiment", config.stylize, flag_values=base),
        )
    for where, fields in changes.items():  # each holder replaced once: it checks itself
        holder = _holder(config, [*where, ""])
        try:
            new = dataclasses.replace(holder, **fields)
        except ValueError as e:  # "StylizeConfig.lr must ..." -> "--lr must ..."
            message = str(e).splitlines()[0]
            prefix, _, rest = message.partition(" ")
            field = prefix.removeprefix(f"{type(holder).__name__}.")
            if field in flag_of:
                raise ValueError(f"--{flag_of[field]} {rest}") from None
            raise ValueError(message) from None
        config = _replace_at(config, list(where), new)
    return config


def flags_lib_values(given: Mapping[str, Any]) -> dict[str, Any]:
    """``given`` as the flag values ``nst_cli.flags`` reads: name -> (value, present)."""
    return {k: types.SimpleNamespace(value=v, present=True) for k, v in given.items()}


def _swept(module: ModuleType, config: Any) -> set[str]:
    """The ``StylizeConfig`` fields the study varies: the keys of its settings' overrides
    (``module.swept_settings``, where its table varies more than ``StylizeConfig`` fields)."""
    table_fn = getattr(module, "swept_settings", None) or getattr(module, "settings", None)
    if table_fn is None or not hasattr(config, "stylize"):
        return set()
    return {k for row in table_fn(config) for k in experiments.Setting(*row).overrides}


def _holder(config: Any, path: list[str]) -> Any:
    """The dataclass holding the field at ``path``."""
    for name in path[:-1]:
        config = getattr(config, name)
    return config


def _find(config: Any, field: str) -> list[str] | None:
    """The dotted path of ``field`` in ``config``: top level first, then nested configs."""
    if not dataclasses.is_dataclass(config):
        return None
    names = [f.name for f in dataclasses.fields(config)]
    if field in names:
        return [field]
    for n in names:
        inner = _find(getattr(config, n), field)
        if inner is not None:
            return [n, *inner]
    return None


def _allows_none(holder: Any, field: str) -> bool:
    kind = typing.get_type_hints(type(holder)).get(field)
    return type(None) in typing.get_args(kind)


def _replace_at(config: Any, path: list[str], value: Any) -> Any:
    if not path:
        return value
    inner = _replace_at(getattr(config, path[0]), path[1:], value)
    return dataclasses.replace(config, **{path[0]: inner})


def default_workdir(module: ModuleType, config: Any) -> str:
    """``module.default_workdir(config)`` if it has one, else ``runs/NAME/<time>``."""
    custom = getattr(module, "default_workdir", None)
    if custom is not None:
        return custom(config)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", module.NAME, stamp)
