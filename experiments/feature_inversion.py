"""Feature inversion (Mahendran & Vedaldi 2015): reconstruct a photo from one VGG layer at a time.

    python run.py --experiment=feature_inversion --quick --weights=random
    python run.py --experiment=feature_inversion                      # VGG19, ImageNet weights
    python run.py --experiment=feature_inversion --config.layers=conv1_1,relu3_4 --size=128

The seed's "reconstructing from different layers of VGG-16" figure: for each layer,
``nst.visualize.invert`` finds the image whose features match the photo's,
``min ||Phi(x) - Phi_0||^2 / ||Phi_0||^2 + lambda R_beta(x) / (H W)`` with the beta-TV prior
``nst.losses.total_variation(kind="beta")``, by Adam from gray noise. Shallow layers give
the photo back almost exactly; deep ones keep the layout and lose the pixels, which is why
content losses use a deep layer. The figure has the original, then one reconstruction per
layer captioned with its PSNR against the original; ``metrics.json`` has the PSNR and the
final feature distance per layer.

Defaults: VGG19 ImageNet weights (the network available offline), the bundled tubingen
photo at 224 px, the seed's layers moved to VGG19 (``LAYERS``: conv1_1, relu1_2, relu2_2,
relu3_4, relu4_4, relu5_1, relu5_4, the ends of the blocks where the seed's VGG16 has
relu3_3, relu4_3, relu5_3; ``--backbone=vgg16`` takes the seed's names); 500 Adam steps at
0.02, lambda 0.5, beta 2. ``--quick``: 64 px, 150 steps, 4 layers. Shared flags:
--backbone, --weights, --weights_seed, --cache_dir, --content, --size, --steps, --lr,
--seed, --workdir.

Tiers: full (the defaults above); ``--tier=middle``: 128 px, 300 steps, all seven layers;
``--quick`` as above.

Claim (seed 001, Mahendran & Vedaldi 2015): the reconstruction's PSNR against the photo
falls with depth. Held when it falls at every deeper layer; margin = the smallest drop (dB).
``metrics.json`` has it under ``claims``, the figure under its grid, and the log.

Outputs in --workdir (default runs/feature_inversion/<time>): ``figure.png``,
``images/original.png``, ``images/<layer>.png``, ``metrics.json``, ``manifest.json``, and
the loss plots every experiment writes (empty axes where no loss is optimized;
``experiments/runner.py``).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time

import jax
import numpy as np
from absl import logging

from experiments import _common, _visual
from nst import image as nst_image
from nst import visualize

NAME = "feature_inversion"

# The seed's layers on VGG16 (the first conv, then the last ReLU of every block, and
# relu5_1), and the same places in VGG19, whose blocks 3-5 have four convs (relu3_4, not
# relu3_3, ends block 3).
LAYERS = {
    "vgg16": ("conv1_1", "relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_1", "relu5_3"),
    "vgg19": ("conv1_1", "relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_1", "relu5_4"),
}


def layers_of(config: Config) -> tuple[str, ...]:
    """``config.layers``, or the backbone's row of ``LAYERS`` when None."""
    if config.layers is not None:
        return config.layers
    if config.backbone not in LAYERS:
        raise ValueError(f"{config.backbone} has no default layers; give --config.layers")
    return LAYERS[config.backbone]


@dataclasses.dataclass(frozen=True)
class Config(_visual.Network):
    """The study: which network, which photo, which layers, how long."""

    # The photo to invert: a bundled sample name or a path; its longest side in px.
    content: str = "tubingen"
    size: int = 224
    # The layers to reconstruct from, shallow to deep (one reconstruction each); None: the
    # backbone's row of LAYERS (the seed's VGG16 layers, or their VGG19 counterparts).
    layers: tuple[str, ...] | None = None
    # The optimization (nst.visualize.InversionConfig): steps, Adam rate, prior.
    inversion: visualize.InversionConfig = dataclasses.field(
        default_factory=lambda: visualize.InversionConfig(
            steps=500, lr=0.02, tv_weight=0.5, beta=2.0
        )
    )
    # Seed of the initial noise.
    seed: int = 0


def get_config(quick: bool = False, tier: str | None = None) -> Config:
    tier = _common.tier_of(quick, tier)
    config = Config()
    if tier == "middle":
        config = dataclasses.replace(
            config, size=128, inversion=dataclasses.replace(config.inversion, steps=300)
        )
    if tier == "quick":
        config = dataclasses.replace(
            config,
            size=64,
            layers=("conv1_1", "relu2_2", "relu3_4", "relu4_4"),
            inversion=dataclasses.replace(config.inversion, steps=150, lr=0.03),
        )
    return config


def validate(config: Config) -> None:
    _visual.check_layers(dataclasses.replace(config, layers=layers_of(config)))


def run(config: Config, workdir: str, session: _common.Session | None = None) -> _common.Report:
    """Reconstructs the photo from every layer; ``Report.metrics`` holds metrics.json."""
    return _visual.run(sys.modules[__name__], config, workdir, session)


def compute(config: Config, workdir: str, quick_note: str) -> _common.Summary:
    """The whole study (``run`` calls it under the runner): images, layout, metrics."""
    photo = nst_image.load(nst_image.sample_or_path(config.content), max_size=config.size)
    layers = layers_of(config)
    net, params = config.create(layers)
    os.makedirs(os.path.join(workdir, "images"), exist_ok=True)
    nst_image.save(os.path.join(workdir, "images", "original.png"), photo, overwrite=True)
    key = jax.random.key(config.seed)
    rows, curves = [], []
    pictures, captions = [photo], ["original"]
    for layer in layers:
        start = time.perf_counter()
        result = visualize.invert(
            key, net, params, photo[None], layer=layer, config=config.inversion
        )
        reconstruction = np.asarray(result.images[0])
        curves.append((layer, {"total": np.asarray(result.losses[:, 0])}))
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
    claims = [
        _common.trend_claim(
            "reconstructions lose detail with depth: PSNR against the photo falls",
            "PSNR (dB) of each layer's reconstruction against the photo",
            [row["layer"] for row in rows],
            [row["psnr_db"] for row in rows],
            increasing=False,
            unit="dB",
        )
    ]
    return _common.Summary(
        title=_visual.figure_title(text, config, quick_note),
        layout={"images": [pictures], "titles": [captions]},
        cell=_visual.cell_size(config.size),
        claims=claims,
        metrics={"experiment": NAME, "layers": rows},
        rows=[],
        curves=curves,
    )
