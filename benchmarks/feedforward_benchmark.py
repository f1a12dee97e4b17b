r"""Feed-forward style transfer: inference seconds per image, and training images per second.

    python benchmarks/feedforward_benchmark.py                       # 512 and 1024 px, train 256
    python benchmarks/feedforward_benchmark.py --sizes=512 --norm=conditional --num_styles=4
    python benchmarks/feedforward_benchmark.py --skip_train --arch=ulyanov

The paper-size Johnson network (width 32, 5 residual blocks, instance norm, nearest
upsampling) with random weights (time does not depend on them) stylizes one square image
per size: compiled once (timed apart), then run ``--repeats`` times; the median is printed.
Training runs the full step (network forward and backward, VGG19 loss network through
conv5_1 for the output and through conv4_2 for the photo, Adam) on ``--batch_size`` random
crops of ``--train_size`` px, sharded over every local device; images/s is the batch size
over the median step time. One JSON line per measurement.

``--strip_min_size=100000`` measures reflect padding done the plain way (convolving a
materialized padded copy) instead of the strip-corrected zero-padded convolution;
``--block_min_kernel=99`` the 9x9 convolutions strip-corrected instead of on 2x2 blocks.
"""

import json
import statistics
import time

from nst import host_memory

host_memory.keep_freed_memory()  # as run.py does, before JAX starts any thread

import jax
import numpy as np
from absl import app, flags

from nst import parallel
from nst.feedforward import _layers, infer, nets, train
from nst.feedforward import config as ff_config

_SIZES = flags.DEFINE_list("sizes", ["512", "1024"], "Inference image sides, px.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed runs per measurement (median).")
_ARCH = flags.DEFINE_enum("arch", "johnson", list(ff_config.ARCHS), "Network.")
_NORM = flags.DEFINE_enum("norm", "instance", list(ff_config.NORMS), "Normalization.")
_NUM_STYLES = flags.DEFINE_integer("num_styles", 1, "Styles of a conditional network.")
_WIDTH = flags.DEFINE_integer("width", None, "First-layer channels (johnson 32, ulyanov 8).")
_TRAIN_SIZE = flags.DEFINE_integer("train_size", 256, "Training crop side, px.")
_BATCH = flags.DEFINE_integer("batch_size", 8, "Training batch.")
_TRAIN_STEPS = flags.DEFINE_integer("train_steps", 3, "Timed training steps (median).")
_SKIP_TRAIN = flags.DEFINE_bool("skip_train", False, "Inference only.")
_STRIP_MIN = flags.DEFINE_integer(
    "strip_min_size",
    None,
    "Override nst.feedforward._layers.STRIP_MIN_SIZE (e.g. 100000: every reflect-padded "
    "convolution on a materialized padded copy), to measure that choice.",
)
_BLOCK_MIN = flags.DEFINE_integer(
    "block_min_kernel",
    None,
    "Override nst.feedforward._layers.BLOCK_MIN_KERNEL (e.g. 99: the 9x9 convolutions "
    "strip-corrected instead of on 2x2 blocks), to measure that choice.",
)


def _net_config() -> ff_config.NetConfig:
    styles = tuple(f"s{i}" for i in range(_NUM_STYLES.value))
    width = _WIDTH.value or (32 if _ARCH.value == "johnson" else 8)
    return ff_config.NetConfig(arch=_ARCH.value, norm=_NORM.value, width=width, styles=styles)


def _emit(**record) -> None:
    record.update(device=jax.devices()[0].device_kind, devices=jax.device_count())
    print(json.dumps(record), flush=True)


def bench_inference(net: ff_config.NetConfig) -> None:
    model = infer.Model(net, jax.device_put(nets.init(net, 0)), {})
    rng = np.random.default_rng(0)
    for size in map(int, _SIZES.value):
        photo = rng.uniform(size=(size, size, 3)).astype(np.float32)
        _, timing = infer.time_forward(model, photo, repeats=_REPEATS.value)
        _emit(
            what="inference",
            arch=net.arch,
            norm=net.norm,
            width=net.width,
            size=size,
            seconds_per_image=timing.median,
            compile_seconds=timing.compile,
        )


def bench_training(net: ff_config.NetConfig) -> None:
    config = ff_config.replace(
        ff_config.get_config(),
        net=net,
        weights="random",
        batch_size=_BATCH.value,
        crop_size=_TRAIN_SIZE.value,
        style_size=_TRAIN_SIZE.value,
    )
    mesh = parallel.mesh()
    loss_net, net_params = train.create_loss_net(config)
    rng = np.random.default_rng(0)
    style = rng.uniform(size=(config.style_size, config.style_size, 3)).astype(np.float32)
    targets = train.make_style_targets(config, loss_net, net_params, [style] * net.num_styles)
    shared = parallel.replicate((targets, net_params), mesh)
    tx = train.make_optimizer(config, None)
    state = parallel.replicate(train.init_state(tx, nets.init(net, 0)), mesh)
    shape = (config.batch_size, config.crop_size, config.crop_size, 3)
    images = rng.uniform(size=shape).astype(np.float32)
    style_w = train.style_batch(config, 0, range(net.num_styles), net.num_styles)
    batch = parallel.shard_leading((images, style_w), mesh)
    step = train.make_train_step(config, loss_net, tx)
    t0 = time.perf_counter()
    step = step.lower(state, *batch, *shared).compile()
    compile_seconds = time.perf_counter() - t0
    times = []
    for _ in range(_TRAIN_STEPS.value):
        t0 = time.perf_counter()
        state, terms = step(state, *batch, *shared)
        jax.block_until_ready(terms)
        times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    _emit(
        what="training",
        arch=net.arch,
        norm=net.norm,
        width=net.width,
        size=config.crop_size,
        batch_size=config.batch_size,
        seconds_per_step=seconds,
        images_per_s=config.batch_size / seconds,
        compile_seconds=compile_seconds,
    )


def main(argv):
    del argv
    if _STRIP_MIN.value is not None:
        _layers.STRIP_MIN_SIZE = _STRIP_MIN.value
    if _BLOCK_MIN.value is not None:
        _layers.BLOCK_MIN_KERNEL = _BLOCK_MIN.value
    net = _net_config()
    bench_inference(net)
    if not _SKIP_TRAIN.value:
        bench_training(net)


if __name__ == "__main__":
    app.run(main)
