"""Memory estimates for a Gatys step, and the refusal when a size will not fit.

The estimate is analytic: ``A``, the bytes of every backbone activation up to the deepest
layer used (from ``jax.eval_shape``, no compilation), times a factor measured with XLA's
buffer assignment (``jax.jit(value_and_grad).lower(...).compile().memory_analysis()``):
VGG19 through conv5_1, float32, XLA:CPU, temp bytes of the objective's value and gradient:

=============  =========  =========  ==========
size           A          temp       temp / A
=============  =========  =========  ==========
64x64          10.0 MB    63.3 MB    (constant ~54 MB: kernel transposes)
512x512        0.64 GB    0.73 GB    1.15
1024x1024      2.55 GB    2.78 GB    1.09
2160x3840      20.2 GB    21.6 GB    1.07
=============  =========  =========  ==========

so ``temp = 1.1 A + P`` (``P`` the bytes of the parameters the backbone reads).
Rematerialization (``Backbone.remat``) left the CPU figure unchanged (21.8 GB at
2160x3840); it is not credited. Image-sized buffers (the image, Adam's two moments, the
gradient, padded copies, host copies) are added per mode; ``tests/highres_test.py``
checks the estimate against ``memory_analysis()`` at a small size.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from nst import backbones

__all__ = [
    "MemoryEstimateError",
    "activation_bytes",
    "available_bytes",
    "estimate_tiled",
    "estimate_untiled",
    "gib",
    "gib_to_bytes",
]

# temp / A of the value and gradient (the table above, rounded up).
ACTIVATION_FACTOR = 1.1
# Image-sized float32 buffers alive around an untiled engine step: image, two Adam moments,
# gradient, update, new image, content copy on the host and the result.
_UNTILED_IMAGES = 8
# Around a tiled step (padded size): image, padded image, padded content, accumulated
# gradient, two Adam moments, update temporaries (3), host content, result, init.
_TILED_IMAGES = 13
# The content tile's forward pass (features only, no gradient) holds about two of its
# largest activations at once: ~ this fraction of its A.
_FORWARD_FACTOR = 0.3


class MemoryEstimateError(ValueError):
    """A size needs more memory than is available (raised before any work starts)."""


def gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def gib_to_bytes(value: float) -> int:
    """A memory budget given in GiB, in bytes (``HighresConfig.memory_budget``).

    Raises:
      ValueError: ``value`` is not a finite number > 0.
    """
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"must be a finite number > 0, got {value}")
    return int(value * 2**30)


def _param_bytes(params, net: backbones.Backbone | None = None) -> int:
    """Bytes of the params ``net`` reads (top-level keys up to its deepest layer; all of
    them when the layout does not tell)."""
    if net is not None and hasattr(params, "keys"):
        names = backbones.layer_names(net.name)
        deepest = max(names.index(layer) for layer in net.layers if layer in names)
        used = [params[k] for k in params if k in names[: deepest + 1]]
        if used:
            params = used
    return int(sum(np.prod(np.shape(p)) * 4 for p in jax.tree.leaves(params)))


def activation_bytes(
    net: backbones.Backbone, params, shape: tuple[int, ...], *, batch: int = 1
) -> int:
    """``A``: bytes of every activation of ``net`` (all layers up to its deepest one) for
    ``batch`` images of ``shape`` ``[H, W, 3]``, in the net's compute dtype."""
    names = backbones.layer_names(net.name)
    deepest = max(names.index(layer) for layer in net.layers if layer in names)
    every = dataclasses.replace(net, layers=names[: deepest + 1], remat=False)
    spec = jax.ShapeDtypeStruct((batch, *tuple(shape[:2]), 3), jnp.float32)
    shapes = jax.eval_shape(every, params, spec)
    itemsize = jnp.dtype(net.dtype).itemsize
    return int(sum(np.prod(s.shape) for s in shapes.values()) * itemsize)


def estimate_untiled(net: backbones.Backbone, params, shape: tuple[int, ...]) -> int:
    """Bytes an untiled engine step at ``shape`` adds to the process (Adam)."""
    image = int(np.prod(shape[:2])) * 3 * 4
    return int(
        ACTIVATION_FACTOR * activation_bytes(net, params, shape)
        + _param_bytes(params, net)
        + _UNTILED_IMAGES * image
    )


def estimate_tiled(
    net: backbones.Backbone,
    content_net: backbones.Backbone,
    params,
    shape: tuple[int, ...],
    tile: tuple[int, int],
    pad: tuple[int, int],
    batch: int,
) -> int:
    """Bytes a tiled step adds: ``batch`` tiles' value and gradient, their content
    forward pass, and the image-sized buffers at the padded size."""
    tile_shape = (*tile, 3)
    per_batch = ACTIVATION_FACTOR * activation_bytes(net, params, tile_shape, batch=batch)
    per_batch += _FORWARD_FACTOR * activation_bytes(content_net, params, tile_shape, batch=batch)
    padded = (shape[0] + 2 * pad[0]) * (shape[1] + 2 * pad[1]) * 3 * 4
    return int(per_batch + _param_bytes(params, net) + _TILED_IMAGES * padded)


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _cgroup_available() -> int | None:
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        with open("/sys/fs/cgroup/memory.current") as f:
            current = int(f.read().strip())
    except (OSError, ValueError):
        return None
    return None if limit == "max" else int(limit) - current


def available_bytes(device: jax.Device | None = None) -> int | None:
    """Memory a new allocation can take now, or None when unknown.

    Accelerators: the device's ``bytes_limit - bytes_in_use`` (``Device.memory_stats()``).
    CPU: ``MemAvailable`` of ``/proc/meminfo``, capped by a cgroup v2 limit if one is set.
    """
    device = device or jax.devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
        return None
    found = [v for v in (_meminfo_available(), _cgroup_available()) if v is not None]
    return min(found) if found else None


def _suggest_tile(tile_size: int) -> int:
    return max(128, tile_size // 2) if tile_size else 512


def check(estimate: int, budget: int | None, shape: tuple[int, ...], tile_size: int) -> None:
    """Raises ``MemoryEstimateError`` (one line) when ``estimate`` exceeds ``budget``.

    ``tile_size`` is the tile side of a tiled level (0: untiled); the message suggests a
    tile size (smaller than the current one when tiled).
    """
    if budget is None or estimate <= budget:
        return
    h, w = shape[:2]
    mode = f"tiled {tile_size}px" if tile_size else "untiled"
    suggestion = _suggest_tile(tile_size)
    raise MemoryEstimateError(
        f"estimated {gib(estimate)} for {w}x{h} {mode} > {gib(budget)} available; "
        f"use --tile_size={suggestion} (or a smaller --size)"
    )
