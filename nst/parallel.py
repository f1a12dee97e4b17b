"""Spreading a leading axis (sweep settings, a data batch) over devices with jax.sharding.

One 1-D mesh over the devices, axis ``"batch"``. Arrays whose leading axis is split over
it (``shard_leading``) and replicated arrays (``replicate``) fed to a jitted function make
XLA run it SPMD: each device computes its share; cross-device reductions (a mean over the
batch, a gradient all-reduce) are inserted by the compiler. The same code runs on one CPU,
on 4 forced host devices (``XLA_FLAGS=--xla_force_host_platform_device_count=4``, set before
JAX initializes), on the GPUs of one host, and across hosts after
``jax.distributed.initialize`` (then ``jax.devices()`` spans every process).
"""

from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = [
    "AXIS",
    "any_process",
    "from_local_rows",
    "local_rows",
    "mesh",
    "rendezvous",
    "replicate",
    "shard_leading",
    "to_host",
]

AXIS = "batch"


def mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh over ``devices`` (default: ``jax.devices()``, every process's), axis "batch"."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (AXIS,))


def _global(x: Any, sharding: NamedSharding) -> jax.Array:
    # Every process holds the whole array (settings are built identically everywhere);
    # each device takes its slice. Works on one host and across hosts alike.
    x = np.asarray(x) if not isinstance(x, jax.Array) or x.is_fully_addressable else x
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        return x
    return jax.make_array_from_callback(np.shape(x), sharding, lambda index: x[index])


def shard_leading(tree: Any, m: Mesh) -> Any:
    """Places every array of ``tree`` split along its leading axis over ``m``'s devices."""
    devices = m.shape[AXIS]
    for leaf in jax.tree.leaves(tree):
        if np.shape(leaf)[0] % devices:
            raise ValueError(f"leading axis {np.shape(leaf)[0]} not divisible by {devices} devices")
    sharding = NamedSharding(m, PartitionSpec(AXIS))
    return jax.tree.map(lambda x: _global(x, sharding), tree)


def replicate(tree: Any, m: Mesh) -> Any:
    """Places every array of ``tree`` whole on every device of ``m``."""
    sharding = NamedSharding(m, PartitionSpec())
    return jax.tree.map(lambda x: _global(x, sharding), tree)


def local_rows(m: Mesh, n: int) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of a length-``n`` leading axis split over ``m`` held by this process.

    ``(0, n)`` on one host; with ``P`` processes of ``D`` devices each (``jax.devices()``
    lists them process by process), process ``p`` holds rows ``[p n / P, (p + 1) n / P)``.

    Raises:
      ValueError: ``n`` not divisible by the devices, or this process's rows not contiguous.
    """
    if n % m.shape[AXIS]:
        raise ValueError(f"leading axis {n} not divisible by {m.shape[AXIS]} devices")
    sharding = NamedSharding(m, PartitionSpec(AXIS))
    spans = {
        index[0].indices(n)[:2] for index in sharding.addressable_devices_indices_map((n,)).values()
    }
    lo, hi = min(a for a, _ in spans), max(b for _, b in spans)
    if sum(b - a for a, b in spans) != hi - lo:
        raise ValueError(f"this process's rows {sorted(spans)} of the mesh are not contiguous")
    return lo, hi


def from_local_rows(tree: Any, m: Mesh, n: int) -> Any:
    """Global arrays of leading size ``n`` split over ``m``, from each process's own rows.

    Every process passes only its ``local_rows(m, n)`` (e.g. the images it decoded);
    ``jax.make_array_from_process_local_data`` assembles the global batch without any
    process holding the whole of it.
    """
    sharding = NamedSharding(m, PartitionSpec(AXIS))
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(sharding, x, (n, *np.shape(x)[1:])), tree
    )


def any_process(flag: bool) -> bool:
    """True on every process when ``flag`` is True on any (e.g. one host got SIGTERM)."""
    if jax.process_count() == 1:
        return bool(flag)
    from jax.experimental import multihost_utils

    return bool(np.any(multihost_utils.process_allgather(np.asarray(flag, np.int32))))


def to_host(tree: Any) -> Any:
    """NumPy copies of every leaf, gathered from all processes when the array spans hosts."""
    from jax.experimental import multihost_utils

    def get(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree.map(get, tree)


def rendezvous(coordinator_address: str, num_processes: int, process_id: int, timeout: float):
    """Waits until all ``num_processes`` processes have started, or raises TimeoutError.

    ``jax.distributed.initialize`` aborts the whole process (a C++ check failure, no Python
    exception) when a peer never arrives. This pre-flight barrier on the coordinator's port
    + 1 turns that into a clear error: process 0 listens, the others connect and say who
    they are, process 0 answers once everyone is there. Call it right before
    ``jax.distributed.initialize`` with the same address.

    Raises:
      TimeoutError: naming the processes that did not arrive within ``timeout`` seconds.
    """
    import socket
    import time

    host, _, port = coordinator_address.rpartition(":")
    address = (host or "127.0.0.1", int(port) + 1)
    deadline = time.monotonic() + timeout
    if process_id == 0:
        with socket.create_server(address, reuse_port=False) as server:
            arrived, peers = set(), []
            while len(arrived) < num_processes - 1:
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = sorted(set(range(1, num_processes)) - arrived)
                    for peer in peers:
                        peer.close()
                    raise TimeoutError(
                        f"process(es) {missing} did not arrive at {coordinator_address} "
                        f"within {timeout:g} s; start every process with the same "
                        "--coordinator_address and --num_processes"
                    )
                server.settimeout(left)
                try:
                    peer, _ = server.accept()
                except TimeoutError:
                    continue
                peer.settimeout(max(deadline - time.monotonic(), 0.1))
                arrived.add(int(peer.recv(16).decode() or -1))
                peers.append(peer)
            for peer in peers:
                peer.sendall(b"go")
                peer.close()
        return
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(
                f"no coordinator (process 0) answered at {coordinator_address} within {timeout:g} s"
            )
        try:
            conn = socket.create_connection(address, timeout=min(1.0, left))
        except OSError:
            time.sleep(0.2)
            continue
        with conn:
            conn.sendall(str(process_id).encode())
            conn.settimeout(max(deadline - time.monotonic(), 0.1))
            try:
                reply = conn.recv(2)
            except OSError:
                reply = b""
        if reply == b"go":
            return
        raise TimeoutError(
            f"the coordinator at {coordinator_address} gave up waiting for the other processes"
        )
