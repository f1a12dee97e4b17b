"""Feed-forward style transfer: networks trained once per style, then one pass per photo.

* ``johnson``: Johnson et al. (2016) image transformation network.
* ``cin``: conditional instance norm (Dumoulin et al. 2017): one network, N styles, mixtures.
* ``ulyanov``: Ulyanov et al. (2016) multi-scale texture network (noise, optional content).
* ``nets``: ``NetConfig`` -> module, init, apply. ``config``: ``NetConfig``, ``TrainConfig``.
* ``train``: perceptual loss, jitted data-parallel step, the resumable training loop.
* ``data``: training photos from a folder, random crops, threaded prefetch.
* Data parallelism: ``nst.parallel`` (batches split over a device mesh).
* ``checkpoint``: orbax models (``net.json`` + variables) and training checkpoints.
* ``infer``: load a model and stylize photos, with compile time reported separately.
* ``zoo``: networks shipped in the package (float16 ``.npz``), loaded by name.

Conventions: images are NHWC float32 in [0, 1]; a network maps ``[B, H, W, 3]`` photos
(any H, W) to ``[B, H, W, 3]`` images; style inputs are mixture weights ``[N]`` or ``[B, N]``.

Example::

    from nst.feedforward import config, data, infer, train
    cfg = config.get_config()
    train.train(cfg, "runs/ff", [painting], dataset=data.ImageFolder("coco/train2014"))
    out = infer.stylize(infer.load("runs/ff"), photo)
"""

from nst.feedforward import (
    checkpoint,
    cin,
    config,
    data,
    infer,
    johnson,
    nets,
    train,
    ulyanov,
    zoo,
)
from nst.feedforward.config import NetConfig, TrainConfig, get_config

__all__ = [
    "NetConfig",
    "TrainConfig",
    "checkpoint",
    "cin",
    "config",
    "data",
    "get_config",
    "infer",
    "johnson",
    "nets",
    "train",
    "ulyanov",
    "zoo",
]
