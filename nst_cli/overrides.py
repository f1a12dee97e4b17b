"""``--config.field=value``: the one way to change an experiment's config from the command line.

As flax's ``config_flags``: a dotted path into the experiment's nested frozen dataclasses,
the value parsed by the field's type::

    --config.inversion.tv_weight=0.1         float
    --config.stylize.steps=3                 int (a field of a nested dataclass)
    --config.layers=relu1_2,relu2_2          tuple[str, ...]: comma-separated
    --config.stylize.style_layers=conv1_1:0.5,conv2_1:0.5   layer table: name:weight
    --config.video=none                      ``X | None``: "none" is None
    --config.train.net.texture=true          bool: true/false, 1/0, yes/no

An unknown field, a value of the wrong type, or a path to a whole dataclass is a
``ValueError`` whose one line names the argument (the CLI prints it and exits 2).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from typing import Any

PREFIX = "--config."
# Layer tables given as bare names take these weights (here and in the --content_layers /
# --style_layers flags): a content layer 1, a style layer 1/5.
LAYER_WEIGHTS = {"content_layers": 1.0, "style_layers": 0.2}
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


def apply(config: Any, overrides: Sequence[str]) -> Any:
    """``config`` with every ``--config.path=value`` of ``overrides`` applied, in order (the
    leading dashes may be left out, as ``nst_cli.flags.split_overrides`` hands them)."""
    for arg in overrides:
        arg = arg if arg.startswith("--") else f"--{arg}"
        if not arg.startswith(PREFIX) or "=" not in arg:
            raise ValueError(f"{arg}: expected {PREFIX}FIELD=VALUE")
        path, _, text = arg[len(PREFIX) :].partition("=")
        config = _set(config, path.split("."), text, arg)
    return config


def _set(obj: Any, names: list[str], text: str, arg: str) -> Any:
    name = names[0]
    hints = _hints(obj)
    if name not in hints:
        valid = ", ".join(sorted(hints))
        raise ValueError(f"{arg}: {type(obj).__name__} has no field {name!r}; valid: {valid}")
    value = getattr(obj, name)
    if len(names) > 1:
        if not _is_dataclass(value):
            raise ValueError(f"{arg}: {name} is a {type(value).__name__}, not a group of fields")
        return dataclasses.replace(obj, **{name: _set(value, names[1:], text, arg)})
    if _is_dataclass(value):
        fields = ", ".join(f.name for f in dataclasses.fields(value))
        raise ValueError(f"{arg}: {name} is a group of fields; set one of them ({fields})")
    try:
        parsed = parse(hints[name], text, name)
    except ValueError as e:
        raise ValueError(f"{arg}: {e}") from None
    try:
        return dataclasses.replace(obj, **{name: parsed})
    except (TypeError, ValueError) as e:  # the dataclass's own validation
        raise ValueError(f"{arg}: {str(e).splitlines()[0]}") from None


def _is_dataclass(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _hints(obj: Any) -> dict[str, Any]:
    """Field name -> resolved type of the dataclass ``obj`` (postponed annotations too)."""
    if not _is_dataclass(obj):
        return {}
    hints = typing.get_type_hints(type(obj))
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(obj) if f.init}


def parse(kind: Any, text: str, name: str = "value") -> Any:
    """``text`` as a value of type ``kind``; ValueError saying what was expected.

    Types: bool, int, float, str, ``X | None`` ("none" -> None), ``tuple[X, ...]`` and
    ``tuple[X, Y]`` (comma-separated; "" -> ()), and layer tables
    ``tuple[tuple[str, float], ...]`` ("conv1_1:0.5,conv2_1", bare names weighted as in
    ``LAYER_WEIGHTS``).
    """
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and text.strip().lower() == "none":
            return None
        others = [a for a in args if a is not type(None)]
        errors = []
        for option in others:
            try:
                return parse(option, text, name)
            except ValueError as e:
                errors.append(str(e))
        raise ValueError(errors[0] if len(errors) == 1 else f"{text!r} fits none of {kind}")
    if origin is tuple:
        items = [t.strip() for t in text.split(",")] if text.strip() else []
        if args == (tuple[str, float], Ellipsis):
            return tuple(_layer(item, LAYER_WEIGHTS.get(name, 1.0)) for item in items)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(parse(args[0], item, name) for item in items)
        if len(items) != len(args):
            raise ValueError(f"expected {len(args)} comma-separated values, got {text!r}")
        return tuple(parse(a, item, name) for a, item in zip(args, items))
    if kind is bool:
        low = text.strip().lower()
        if low in _TRUE or low in _FALSE:
            return low in _TRUE
        raise ValueError(f"expected true or false, got {text!r}")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {text!r}") from None
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
    if kind is str or kind is Any:
        return text
    raise ValueError(f"fields of type {kind} cannot be set from the command line")


def _layer(item: str, default: float) -> tuple[str, float]:
    layer, _, weight = item.partition(":")
    if not layer.strip():
        raise ValueError(f"bad layer {item!r}: expected name or name:weight")
    try:
        return layer.strip(), float(weight) if weight.strip() else default
    except ValueError:
        raise ValueError(f"bad layer weight in {item!r}: expected layer:weight") from None
