"""Host allocator settings for XLA:CPU programs (glibc only; opt-in, process-wide).

XLA:CPU allocates each execution's buffers afresh. With glibc's defaults, buffers larger
than the mmap threshold (or, in the per-thread arenas XLA's worker threads use, larger than
a 64 MiB arena heap) are ``mmap``-ed and ``munmap``-ed on every call, so every step touches
brand-new pages and takes a minor page fault (a zeroed 4 KiB page) per page. Measured,
VGG19 Gatys step at 256 px on 2 cores: 21,700 minor faults per step (~85 MiB of fresh
pages), step min 0.304 -> 0.278 s and 0 faults with the settings below (the same as
``LD_PRELOAD``-ing tcmalloc: 0.279 s). The PyTorch peer does not gain from them
(``benchmarks/gatys_step.py --peer_malloc``).

This changes process-wide state, so the library never calls it: entry points (``run.py``,
the benchmarks) call :func:`keep_freed_memory` first thing, before JAX starts any thread.
Called later, threads already attached to their own arenas keep them and nothing changes.
Library users get the same effect from the environment, set before Python starts::

    MALLOC_ARENA_MAX=1 MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647 python ...

The costs: freed memory stays with the process (its resident size stays at its peak) instead
of going back to the kernel, and compiling is ~0.2 s slower (the 256 px step: 0.66-0.89 ->
0.87-1.07 s; XLA's compiler threads share the one arena).
"""

import ctypes
import importlib.metadata
import importlib.util
import os
import pkgutil
import platform

__all__ = ["ENV_SETTINGS", "keep_freed_memory"]

# mallopt parameters, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8

# The same settings as environment variables (glibc reads them at start-up).
ENV_SETTINGS = {
    "MALLOC_ARENA_MAX": "1",  # one arena: its heap grows by brk, no 64 MiB cap
    "MALLOC_MMAP_MAX_": "0",  # no mmap-ed chunks: large buffers come from the heap
    "MALLOC_TRIM_THRESHOLD_": str(2**31 - 1),  # never give the heap's top back
}


def keep_freed_memory() -> bool:
    """Make glibc keep and reuse freed memory: one arena, no mmap-ed chunks, no trimming.

    Returns True if the settings were applied; False (nothing changed) on a non-glibc
    platform, when ``LD_PRELOAD`` names another allocator, when the environment already
    sets any of :data:`ENV_SETTINGS` (the user's own settings win), or when JAX will run
    on an accelerator (its buffers are not the host's; the one arena would only slow the
    compiler's threads): a GPU/TPU plugin is installed and ``JAX_PLATFORMS`` does not
    start with ``cpu``.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if "malloc" in os.environ.get("LD_PRELOAD", "") or any(k in os.environ for k in ENV_SETTINGS):
        return False
    if _accelerator_expected():
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    settings = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1))
    return all(libc.mallopt(param, value) == 1 for param, value in settings)


def _accelerator_expected() -> bool:
    """Whether JAX will pick a GPU/TPU backend, judged without importing JAX."""
    platforms = os.environ.get("JAX_PLATFORMS", "").strip()
    if platforms:
        return platforms.split(",")[0].strip() != "cpu"
    if importlib.metadata.entry_points(group="jax_plugins"):
        return True
    if importlib.util.find_spec("jax_plugins") is not None:  # namespace-package plugins
        return True
    prefixes = ("jax_cuda", "jax_rocm", "libtpu")
    return any(m.name.startswith(prefixes) for m in pkgutil.iter_modules())
