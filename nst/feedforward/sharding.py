"""Data parallelism over the local devices with ``jax.sharding``: one mesh axis, ``"data"``.

Batches are split along their leading axis across the devices; params, optimizer state and
targets are replicated. A jitted step fed such arrays runs SPMD: XLA inserts the gradient
all-reduce, and means over the batch (the loss, batch-norm statistics) are global, so the
result matches one device up to float summation order.

Test on a CPU with ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (set before JAX
initializes).
"""

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["DATA_AXIS", "batch_sharding", "data_mesh", "replicate", "replicated", "shard_batch"]

DATA_AXIS = "data"


def data_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh over ``devices`` (default: all local devices), axis ``"data"``."""
    devices = jax.local_devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading axis split over the ``"data"`` axis, the rest whole."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    """A full copy on every device."""
    return NamedSharding(mesh, PartitionSpec())


def shard_batch(batch: Any, mesh: Mesh) -> Any:
    """Places every array of ``batch`` split along its leading axis.

    Raises:
      ValueError: a leading axis not divisible by the number of devices.
    """
    devices = mesh.shape[DATA_AXIS]
    for leaf in jax.tree.leaves(batch):
        if np.shape(leaf)[0] % devices:
            raise ValueError(
                f"batch size {np.shape(leaf)[0]} is not divisible by the {devices} devices"
            )
    return jax.device_put(batch, batch_sharding(mesh))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Places every array of ``tree`` on every device of ``mesh``."""
    return jax.device_put(tree, replicated(mesh))
