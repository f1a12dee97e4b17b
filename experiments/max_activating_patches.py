"""Maximally activating patches: for a few channels of a layer, their top-k receptive fields.

    python run.py --experiment=max_activating_patches --quick --weights=random
    python run.py --experiment=max_activating_patches --config.images=photos/ --config.layer=relu4_3
    python run.py --experiment=max_activating_patches --config.channels=3,17,42 --config.k=16

Over a folder of images (default: the five bundled samples), every unit of ``--config.layer``
is a candidate, and for each chosen channel the ``--config.k`` strongest units are shown as
crops of their receptive fields (``nst.visualize.top_patches``; Zeiler & Fergus 2014, Fig.
2): rows are channels, columns the patches, largest first, each captioned with its image
and activation. Near-duplicates (a field centred within half a field of a chosen one, in
the same image) are skipped. Without ``--config.channels`` the channels are those with the
largest top activation over the images. Each image is centre-cropped to a square and
resized to ``--size`` (one compiled program for the whole folder); white is outside the
image, where the network saw zero padding.

Defaults: VGG16 ImageNet weights, relu4_3 (receptive field 92 px) at 224 px, the 6 most
active channels, 9 patches each. ``--quick``: 96 px, relu3_3 (40 px), 4 channels, 4 patches.
Shared flags: --backbone, --weights, --weights_seed, --cache_dir, --size, --workdir.

Outputs in --workdir (default runs/max_activating_patches/<time>): ``figure.png``,
``images/ch<c>_<rank>.png``, ``metrics.json`` (per channel: image, unit, activation, box
and occlusion ratios of every patch; the verdict of ``claims``, a property: the seeds state
no claim here), ``manifest.json``, and the loss plots every experiment writes (empty axes
where no loss is optimized; ``experiments/runner.py``).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import sys

import jax
import numpy as np
from absl import logging

from experiments import _common, _visual
from nst import backbones, visualize
from nst import image as nst_image

NAME = "max_activating_patches"

_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


@dataclasses.dataclass(frozen=True)
class Config(_visual.Network):
    """The study: which network, which images, which channels."""

    # A folder of images; None: the bundled samples (nst.image.SAMPLES).
    images: str | None = None
    # Side of the square each image is centre-cropped and resized to, px.
    size: int = 224
    # The layer whose channels are ranked.
    layer: str = "relu4_3"
    # The channels; () picks the `channels_auto` with the largest top activation.
    channels: tuple[int, ...] = ()
    channels_auto: int = 6
    # Patches per channel.
    k: int = 9


def get_config(quick: bool = False) -> Config:
    config = Config()
    if quick:
        config = dataclasses.replace(config, size=96, layer="relu3_3", channels_auto=4, k=4)
    return config


def validate(config: Config) -> None:
    valid = backbones.layer_names(config.backbone)  # unknown backbone: ValueError
    if config.layer not in valid:
        raise ValueError(f"--config.layer={config.layer!r} is not a layer of {config.backbone}")
    if config.k < 1 or config.channels_auto < 1:
        raise ValueError(f"--config.k must be >= 1, got {config.k}")
    if config.channels and min(config.channels) < 0:
        raise ValueError(f"--config.channels must be >= 0, got {config.channels}")
    if config.size < 16:
        raise ValueError(f"--size must be >= 16 px, got {config.size}")
    if config.images is not None and not os.path.isdir(config.images):
        raise ValueError(f"--config.images={config.images!r} is not a folder")


def image_paths(config: Config) -> list[tuple[str, pathlib.Path]]:
    """``(name, path)`` of every image: the folder's (sorted) or the bundled samples."""
    if config.images is None:
        return sorted(nst_image.SAMPLES.items())
    paths = sorted(
        p for p in pathlib.Path(config.images).iterdir() if p.suffix.lower() in _EXTENSIONS
    )
    if not paths:
        raise ValueError(
            f"--config.images={config.images!r} holds no images ({', '.join(_EXTENSIONS)})"
        )
    return [(p.stem, p) for p in paths]


def square(image: np.ndarray, size: int) -> np.ndarray:
    """The centred square of ``image``, resized to ``size`` x ``size``."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return nst_image.resize(image[top : top + side, left : left + side], (size, size))


def _filled(image: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    """``image`` with the square ``(top, left, size)`` (clipped) set to its mean colour."""
    out = image.copy()
    out[max(top, 0) : top + size, max(left, 0) : left + size] = image.mean(axis=(0, 1))
    return out


def occlusion(forward, params, images, layer: str, patches) -> list[dict]:
    """Zeiler & Fergus's occlusion test of each patch (``(channel, Patch)`` pairs): the unit's
    activation with its receptive field filled with the image's mean colour, and with an
    equal square as far from it as the image allows (the mirrored corner), each over the
    activation itself. Outside the field a unit cannot see the change: the control is 1
    unless the two squares overlap (then it is skipped: ``None``)."""
    out = []
    for channel, patch in patches:
        image = images[patch.image]
        top, left, size = patch.box
        h, w = image.shape[:2]
        far = (h - size - top, w - size - left)
        apart = abs(far[0] - top) >= size or abs(far[1] - left) >= size
        where = (0, patch.row, patch.col, channel)
        inside = float(forward(params, _filled(image, top, left, size)[None])[layer][where])
        control = None
        if apart:
            control = float(forward(params, _filled(image, *far, size)[None])[layer][where])
            control /= patch.value
        inside /= patch.value
        out.append({"channel": channel, "inside": inside, "elsewhere": control})
    return out


def claims(occluded: list[dict]) -> list[dict]:
    """(No seed claim; a property, Zeiler & Fergus 2014, sec. 4.2) the crop shown is what
    drives the unit: filling it with the mean colour lowers the activation far more than
    filling an equal square elsewhere. Median over the patches of each ratio; held when
    the field's median is below half and below the elsewhere median; margin = the
    elsewhere median minus the field's."""
    inside = float(np.median([o["inside"] for o in occluded]))
    apart = [o["elsewhere"] for o in occluded if o["elsewhere"] is not None]
    elsewhere = float(np.median(apart)) if apart else float("nan")
    return [
        _common.claim(
            "(no seed claim; a property, Zeiler & Fergus 2014) the receptive field shown is "
            "what drives the unit: occluding it lowers the activation far more than "
            "occluding an equal square elsewhere",
            "the unit's activation with the square filled by the image's mean colour over "
            f"the activation, median over {len(occluded)} patches ({len(apart)} with a "
            "control square clear of the field); held when the field's median is below 0.5 "
            "and the control's; margin = control median - field median; no optimization",
            {"receptive field occluded": inside, "elsewhere occluded": elsewhere},
            inside < 0.5 and inside < elsewhere,
            elsewhere - inside,
        )
    ]


def run(config: Config, workdir: str, session: _common.Session | None = None) -> _common.Report:
    """Ranks the channels' units over the images; ``Report.metrics`` holds metrics.json."""
    return _visual.run(sys.modules[__name__], config, workdir, session)


def compute(config: Config, workdir: str, quick_note: str) -> _common.Summary:
    """The whole study (``run`` calls it under the runner): images, layout, metrics."""
    named = image_paths(config)
    names = [name for name, _ in named]
    images = np.stack(
        [square(nst_image.load(path, max_size=None), config.size) for _, path in named]
    )
    net, params = config.create([config.layer])
    forward = jax.jit(net)
    channels = config.channels
    if not channels:  # the most active: largest top activation over the images
        peak = np.max(
            [
                np.asarray(forward(params, images[i : i + 8])[config.layer]).max(axis=(0, 1, 2))
                for i in range(0, len(images), 8)
            ],
            axis=0,
        )
        channels = tuple(int(c) for c in np.argsort(-peak, kind="stable")[: config.channels_auto])
    width = jax.eval_shape(net, params, images[:1])[config.layer].shape[-1]
    if max(channels) >= width:
        raise ValueError(f"--config.channels: {config.layer} has {width} channels, got {channels}")
    patches = visualize.top_patches(
        net, params, images, layer=config.layer, channels=channels, k=config.k
    )
    field = visualize.receptive_field(config.backbone, config.layer)
    os.makedirs(os.path.join(workdir, "images"), exist_ok=True)
    rows, captions, records = [], [], []
    for channel in channels:
        row, caps = [], []
        for rank, patch in enumerate(patches[channel]):
            path = os.path.join(workdir, "images", f"ch{channel}_{rank}.png")
            nst_image.save(path, patch.crop, overwrite=True)
            row.append(patch.crop)
            caps.append(f"{names[patch.image]} {patch.value:.3g}")
            records.append(
                {
                    "channel": channel,
                    "rank": rank,
                    "image": names[patch.image],
                    "unit": (patch.row, patch.col),
                    "activation": patch.value,
                    "box": patch.box,
                }
            )
        rows.append(row)
        captions.append(caps)
        logging.info("channel %d: top activation %.3g", channel, patches[channel][0].value)
    occluded = occlusion(
        forward, params, images, config.layer, [(c, p) for c in channels for p in patches[c]]
    )
    for record, o in zip(records, occluded, strict=True):
        record["occluded"] = {"inside": o["inside"], "elsewhere": o["elsewhere"]}
    text = (
        f"Maximally activating patches of {config.layer} (receptive field {field.size} px) "
        f"over {len(names)} images"
    )
    return _common.Summary(
        title=_visual.figure_title(text, config, quick_note),
        layout={
            "images": rows,
            "row_titles": [f"ch {c}" for c in channels],
            "col_titles": [f"#{i + 1}" for i in range(max(len(r) for r in rows))],
            "titles": captions,
        },
        cell=max(96, min(field.size, 160)),
        claims=claims(occluded),
        metrics={
            "experiment": NAME,
            "layer": config.layer,
            "receptive_field": field._asdict(),
            "images": names,
            "patches": records,
        },
        rows=[],
        curves=[],
    )
