"""The images a run is given: ``--content``, ``--style`` (with spatial-control masks).

Shared by every mode that takes them (one image, large outputs, video, feed-forward
networks), so no mode imports another for its inputs.

    --content=photo.jpg             a file, or a bundled sample name (default tubingen)
    --style=painting.jpg            repeatable (default starry_night)
    --style=starry.jpg:sky.png      IMAGE:CONTENT_MASK[:STYLE_MASK]: spatial control
    --model=starry_night            a trained feed-forward network (shipped name or path)
    --style_mix=0.5,0.5             a conditional feed-forward network's style weights
    --style_mix=starry_night:0.7,the_scream:0.3   the same, by style name
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from nst_cli import errors, flags
from nst_cli.flags import FLAGS, UsageError

DEFAULT_CONTENT, DEFAULT_STYLE = "tubingen", "starry_night"


def parse_style(value: str) -> tuple[str, str | None, str | None]:
    """``IMAGE[:CONTENT_MASK[:STYLE_MASK]]`` -> (image, content mask, style mask) paths.

    IMAGE is a file or a sample name. A value naming an existing file is taken whole (a path
    may contain ':')."""
    if os.path.exists(value) or ":" not in value:
        return flags.image_file(value, "style"), None, None
    parts = value.split(":")
    if len(parts) > 3 or not all(parts):
        raise UsageError(f"--style={value!r}: expected IMAGE[:CONTENT_MASK[:STYLE_MASK]]")
    parts[0] = flags.image_file(parts[0], "style")
    for part in parts[1:]:
        if not os.path.exists(part):
            raise UsageError(f"--style={value!r}: {part} does not exist")
    return parts[0], (parts[1] if len(parts) > 1 else None), (parts[2] if len(parts) > 2 else None)


def style_specs(flag_values: Any = FLAGS) -> list[tuple[str, str | None, str | None]]:
    """Every ``--style`` as (image, content mask, style mask); the bundled painting by default."""
    return [parse_style(v) for v in flags.value("style", None, flag_values) or [DEFAULT_STYLE]]


def content_path(flag_values: Any = FLAGS) -> str:
    """``--content``: a file or a sample name (the bundled photo by default)."""
    return flags.image_file(flags.value("content", None, flag_values) or DEFAULT_CONTENT, "content")


def style_mix(flag_values: Any = FLAGS, styles: Sequence[str] = ()) -> list[float] | None:
    """``--style_mix``: a conditional network's weights per style (None: the model's
    default style).

    Numbers give one weight per style in the model's order (``0.5,0.5``); ``NAME:WEIGHT``
    items name the styles (``starry_night:0.7,the_scream:0.3``), those not named weigh 0.
    ``styles``: the model's style names, which ``NAME:WEIGHT`` items need."""
    raw = flags.value("style_mix", None, flag_values)
    if not raw:
        return None
    if not any(":" in item for item in raw):
        return list(flags.numbers("style_mix", float, flag_values))
    weights = dict.fromkeys(styles, 0.0)
    for item in raw:
        name, _, weight = item.partition(":")
        name = name.strip()
        if name not in weights:
            known = ", ".join(styles) or "none"
            raise UsageError(f"--style_mix: no style {name!r} in the model (its styles: {known})")
        try:
            weights[name] = float(weight)
        except ValueError:
            raise UsageError(f"--style_mix={item}: expected STYLE:WEIGHT") from None
    return list(weights.values())


def load_model(path: str):
    """``--model``: a trained feed-forward network (``nst.feedforward.infer.load``).

    A bad model raises ValueError with one line; what orbax's reader threads print about
    it on the way is dropped (``errors.library_threads_quiet``)."""
    from nst.feedforward import infer

    with errors.library_threads_quiet():
        return infer.load(path)


def _load_mask(path: str, shape: tuple[int, int] | None) -> np.ndarray:
    """A mask image as [H, W] floats in [0, 1] (channel mean), resized to ``shape``."""
    from nst import image

    mask = image.load(path, max_size=None).mean(axis=-1)
    return mask if shape is None else image.resize(mask, shape)


def load_regions(specs, content_shape: tuple[int, int], styles):
    """None without masks; else one (content mask, style mask or None) per style."""
    if all(content_mask is None for _, content_mask, _ in specs):
        return None
    if any(content_mask is None for _, content_mask, _ in specs):
        raise UsageError("with spatial control every --style needs a content mask (IMAGE:MASK)")
    return [
        (_load_mask(cm, content_shape), None if sm is None else _load_mask(sm, style.shape[:2]))
        for (_, cm, sm), style in zip(specs, styles, strict=True)
    ]
