r"""Feature-extraction time of a backbone: forward, and forward + gradient w.r.t. the image.

    python benchmarks/features_benchmark.py                      # VGG19, 256 and 512 px
    python benchmarks/features_benchmark.py --sizes=256 --backbone=resnet50 --layers=layer2

Random weights (the time does not depend on them), one image, the Gatys layers by default
(conv1_1 .. conv5_1 and conv4_2). Each program is compiled and run once (warm-up), then
timed ``--repeats`` times; the median is printed as one JSON line per (size, pass). The
gradient pass differentiates ``sum_l mean(F_l ** 2)``, so its cost is the backbone's
backward pass plus a negligible reduction.

``--pool=reduce_window`` swaps VGG's reshape-based 2x2 max pooling for
``flax.linen.max_pool`` (``lax.reduce_window``), to measure that choice.
"""

import json
import statistics
import time

from nst import host_memory

host_memory.keep_freed_memory()  # as run.py does, before JAX starts any thread

import flax.linen as nn
import jax
import jax.numpy as jnp
from absl import app, flags

from nst import backbones
from nst.backbones import _ops

_BACKBONE = flags.DEFINE_string("backbone", "vgg19", "Backbone name.")
_LAYERS = flags.DEFINE_list(
    "layers",
    ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv4_2", "conv5_1"],
    "Layers to extract.",
)
_SIZES = flags.DEFINE_list("sizes", ["256", "512"], "Square image sizes, px.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed runs per measurement (median reported).")
_POOL = flags.DEFINE_enum("pool", "reshape", ["reshape", "reduce_window"], "VGG max pooling.")
_REMAT = flags.DEFINE_bool("remat", False, "Rematerialize each block on the backward pass.")
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "Compute dtype.")


def _time(fn, *args) -> tuple[float, float]:
    """(first call incl. compilation, median of the timed calls), in seconds."""
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - start
    times = []
    for _ in range(_REPEATS.value):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return first, statistics.median(times)


def main(argv):
    del argv
    if _POOL.value == "reduce_window":
        _ops.pool_2x2 = lambda x, kind, *, name: nn.max_pool(x, (2, 2), (2, 2))
    net, params = backbones.create(
        _BACKBONE.value, _LAYERS.value, remat=_REMAT.value, dtype=jnp.dtype(_DTYPE.value)
    )

    def loss(params, image):
        return sum(jnp.mean(f**2) for f in net(params, image).values())

    forward = jax.jit(net)
    gradient = jax.jit(jax.value_and_grad(loss, argnums=1))
    for size in map(int, _SIZES.value):
        image = jax.random.uniform(jax.random.key(0), (1, size, size, 3))
        for name, fn in (("forward", forward), ("forward+grad", gradient)):
            first, median = _time(fn, params, image)
            record = {
                "backbone": _BACKBONE.value,
                "pass": name,
                "size": size,
                "median_s": round(median, 4),
                "first_call_s": round(first, 2),
                "pool": _POOL.value,
                "remat": _REMAT.value,
                "dtype": _DTYPE.value,
                "device": jax.devices()[0].device_kind,
            }
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    app.run(main)
