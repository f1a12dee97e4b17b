"""A study as data: its base config, its table of settings, their configs and sweep groups.

An experiment is a table of ``Setting(label, overrides)`` rows over one base
``nst.config.StylizeConfig`` (``Config.stylize``). Rows that differ only in numbers
(``nst.config.SWEEPABLE``) form one group: one ``nst.stylize.sweep``, one compiled program.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from nst import image as nst_image
from nst import optimizers
from nst.config import StylizeConfig, split

# Keys of a setting's overrides that pick input images instead of config fields.
_IMAGE_KEYS = ("content", "styles")


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


def slug(label: str) -> str:
    """A file-name-safe form of a label: ``"Adam lr=1e-2"`` -> ``"adam-lr-1e-2"``."""
    text = label.lower().replace("α", "alpha").replace("β", "beta").replace("λ", "lambda")
    text = re.sub(r"[^a-z0-9.+]+", "-", text).strip("-.")
    return text or "setting"


def image_name(name: str) -> str:
    """A short name for an input: the sample name, or the file name without extension."""
    return name if name in nst_image.SAMPLES else os.path.splitext(os.path.basename(name))[0]


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


def tier_config(module: Any, tier: str) -> Any:
    """``module.get_config`` at ``tier``; ValueError for a middle tier the study lacks."""
    if tier == "middle" and "tier" not in inspect.signature(module.get_config).parameters:
        raise ValueError(f"{module.NAME} has no --tier=middle; use --quick or the full settings")
    if tier == "middle":
        return module.get_config(tier=tier)
    return module.get_config(tier == "quick")


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
        cfg = dataclasses.replace(config.stylize, **fields)  # it checks itself
        content = row.overrides.get("content", config.content)
        styles = row.overrides.get("styles", config.styles)
        if isinstance(styles, str):
            styles = (styles,)
        if content is None and not styles:
            raise ValueError(f"setting {row.label!r} has neither a content nor a style image")
        content = styles[0] if content is None else content  # style-only: the style's canvas
        styles = tuple(styles) or (content,)  # content-only: the style image is not used
        inputs = {
            "content": nst_image.sample_or_path(content),
            "styles": [nst_image.sample_or_path(s) for s in styles],
        }
        out.append((cfg, inputs))
    return out


def _group_key(cfg: StylizeConfig, inputs: dict, group: str) -> str:
    """Rows with equal keys may share one sweep: the same program (``nst.config.split``),
    inputs and group. A sweep with the photorealism term pays its sparse Laplacian product
    for every setting: settings without it are kept apart."""
    return repr((group, split(cfg)[0], bool(cfg.photo_weight), inputs))


def groups(config: Config, table: Sequence[Setting]) -> list[list[int]]:
    """Row indices grouped into vmappable sweeps, in table order. An optimizer driven from
    the host (``lbfgs`` on CPU is ``lbfgs_host``) runs one setting at a time: every row is
    its own group (they still share one compiled objective)."""
    rows = configs(config, table)
    keyed: dict[str, list[int]] = {}
    for i, ((cfg, inputs), row) in enumerate(zip(rows, table)):
        key = _group_key(cfg, inputs, Setting(*row).group)
        if optimizers.resolve(cfg.optimizer, backend=jax.default_backend()) in (
            optimizers.HOST_DRIVEN
        ):
            key = f"{key}#{i}"
        keyed.setdefault(key, []).append(i)
    return list(keyed.values())


# The seed studies' base: Gatys et al. (2016) on the backbone's default layers (VGG19 content
# conv4_2, style conv1_1..conv5_1 at 1/5 each), alpha 1, beta 1e5, Adam 1e-2 from the
# content photo, 2000 steps at 512 px. Each study changes what it studies.
GATYS = StylizeConfig(
    content_layers=None,
    style_layers=None,
    init="content",
    optimizer="adam",
    lr=1e-2,
    content_weight=1.0,
    style_weight=1e5,
    steps=2000,
    size=512,
)


def gatys(
    tier: str,
    shrunk: Mapping[str, Mapping[str, Any]],
    *,
    cls: type = Config,
    content: str | None = "tubingen",
    styles: tuple[str, ...] = ("starry_night",),
    options: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Any:
    """A seed study's config at ``tier``: ``GATYS`` with the study's own fields.

    ``fields`` set the study's ``StylizeConfig`` fields (the full tier's values);
    ``shrunk[tier]`` (``{"size", "steps", ...}``) shrinks them for the ``middle`` and
    ``quick`` tiers; a tier not in ``shrunk`` and not ``full`` is refused. ``cls`` /
    ``options``: a study's ``Config`` subclass and its own fields.
    """
    if tier != "full" and tier not in shrunk:
        raise ValueError(f"this study has no --tier={tier}")
    stylize = dataclasses.replace(GATYS, **{**fields, **shrunk.get(tier, {})})
    return cls(stylize=stylize, content=content, styles=styles, **(options or {}))
