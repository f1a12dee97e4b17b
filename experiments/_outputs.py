"""The outputs every study writes: the labelled figure, loss plots, metrics.json / .csv."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from experiments._records import weights_label, weights_record, write_atomic, write_json
from nst import image as nst_image

RANDOM_NOTE = "random weights — not paper quality"


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


def references(config: Any, load: Any) -> list[tuple[str, np.ndarray]]:
    """The inputs shown before the outputs: ``("content", image)`` (when the study has a
    content photo) then ``("style", image)`` per style; ``load(name)`` reads one."""
    out = [("content", load(config.content))] if config.content else []
    return out + [("style", load(s)) for s in config.styles]


def row_figure(
    outcomes: Sequence[Any],
    references: Sequence[tuple[str, np.ndarray]] = (),
    caption: Callable[[Any], str] | None = None,
) -> dict[str, Any]:
    """The default layout: references (content, style) then one cell per setting
    (``outcomes``: ``runner.Outcome``s), titled ``caption(outcome)`` (default: the label
    and the final total loss)."""
    caption = caption or (lambda o: f"{o.label}\nloss {o.final['total']:.3g}")
    images = [img for _, img in references] + [o.image for o in outcomes]
    titles = [name for name, _ in references] + [caption(o) for o in outcomes]
    return {"images": [images], "titles": [titles]}


def title(parts: Sequence[str], quick_note: str, random_weights: bool) -> str:
    """A figure title: the parts, the --quick note, and RANDOM_NOTE for random weights.

    The parts name the network and its weights (``weights_label``)."""
    text = ", ".join([*parts, quick_note] if quick_note else parts)
    return f"{text} — {RANDOM_NOTE}" if random_weights else text


def study_title(name: str, config: Any, quick_note: str, *parts: str) -> str:
    """``name, <network and weights>, <size> px, parts..., [tier note]``, and the random
    weights warning (``config``: the study's ``StylizeConfig``)."""
    head = [name, weights_label([config]), f"{config.size} px", *parts]
    return title(head, quick_note, weights_record(config)["random"])


def save_figure(path: str, layout: Mapping[str, Any], title: str, cell: int) -> None:
    """``nst.image.grid`` of the layout (+ an optional ``caption`` below), saved."""
    layout = dict(layout)
    caption = layout.pop("caption", None)
    picture = nst_image.grid(title=title, cell_size=cell, **layout)
    if caption:
        picture = np.concatenate([picture, _caption_block(caption, picture.shape[1])], axis=0)
    nst_image.save(path, picture, overwrite=True)


def save_loss_plots(
    workdir: str, curves: Sequence[tuple[str, Mapping[str, np.ndarray]]], title: str
) -> None:
    """``loss_vs_step.png`` and ``loss_vs_time.png``: total loss, one line per curve, log y.

    curves: ``(label, history)`` pairs; a history's ``total`` is plotted against its step
    (1, 2, ... or its ``step`` entry) and its ``time`` (seconds). Studies without a loss
    (no curve) still get both files, with empty axes."""
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
        for label, history in curves:
            y = np.asarray(history.get("total", ()), np.float64)
            if not len(y) or (x_key == "time" and "time" not in history):
                continue
            steps = history.get("step", np.arange(1, len(y) + 1))
            x = np.asarray(steps if x_key == "step" else history["time"], np.float64)
            y = np.where(np.isfinite(y) & (y > 0), y, np.nan)
            if np.all(np.isnan(y)):
                continue
            ax.plot(x, y, label=label, linewidth=1.2)
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
    "converged",
    "sweep_size",
    "stopped",
)


def metrics_rows(outcomes: Sequence[Any]) -> list[dict[str, Any]]:
    """Per setting: final loss terms (``loss/<term>``), steps, wall time, steps/s, ..."""
    rows = []
    for o in outcomes:
        r = o.record
        row = {k: r.get(k) for k in _METRIC_COLUMNS}
        row.update({f"loss/{k}": v for k, v in r["final"].items()})
        rows.append(row)
    return rows


def write_metrics(
    workdir: str, rows: Sequence[Mapping[str, Any]], extra: Mapping[str, Any]
) -> dict[str, Any]:
    """metrics.json (``{"settings": rows, **extra}``; ``extra`` alone without rows) and,
    with rows, metrics.csv (one line per row, list values left out). Returns what it wrote."""
    metrics = {"settings": list(rows), **extra} if rows else dict(extra)
    write_json(os.path.join(workdir, "metrics.json"), metrics)
    if rows:
        flat = [{k: v for k, v in r.items() if not isinstance(v, list | dict)} for r in rows]
        write_csv(os.path.join(workdir, "metrics.csv"), flat)
    return metrics


def write_csv(path: str, rows: Sequence[Mapping[str, Any]]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    write_atomic(path, buffer.getvalue().encode())
