"""Process set-up shared by every mode: host allocator, logging, JAX caches, several hosts."""

from __future__ import annotations

import logging as _pylogging
import os
from collections.abc import Callable, Sequence

from nst import host_memory

# Before JAX starts any thread: glibc then reuses freed memory instead of handing XLA:CPU
# fresh pages every step (8% of a VGG19 step at 256 px; see nst/host_memory.py).
host_memory.keep_freed_memory()

# JAX reports at INFO level which plugin backends (TPU, ...) it could not open: keep its
# warnings, drop that noise.
_pylogging.getLogger("jax._src.xla_bridge").setLevel(_pylogging.WARNING)

from nst_cli import errors, flags, progress  # noqa: E402  (after the allocator set-up)


def enable_compilation_cache() -> None:
    """JAX's persistent compilation cache in the user's cache dir (repeat runs skip the
    XLA compiles of the step and the targets); ``$NST_JAX_CACHE_DIR`` overrides the place,
    ``NST_JAX_CACHE_DIR=off`` disables it. A cache set by the user (JAX_COMPILATION_CACHE_DIR)
    is left alone.

    Every program is kept, however fast it compiled: a run compiles many small programs
    whose compile times add up.
    """
    import jax

    if os.environ.get("JAX_COMPILATION_CACHE_DIR") or jax.config.jax_compilation_cache_dir:
        return
    where = os.environ.get("NST_JAX_CACHE_DIR")
    if where == "off":
        return
    if not where:
        from nst.backbones import default_cache_dir

        where = os.path.join(os.path.dirname(default_cache_dir()), "jax_cache")
    jax.config.update("jax_compilation_cache_dir", where)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def init_distributed() -> None:
    """jax.distributed from the flags (or the cluster's environment); no-op for one process."""
    import jax

    if flags.DISTRIBUTED.value == "auto":
        jax.distributed.initialize()
        return
    address, n, index = (
        flags.COORDINATOR_ADDRESS.value,
        flags.NUM_PROCESSES.value,
        flags.PROCESS_ID.value,
    )
    timeout = flags.DISTRIBUTED_TIMEOUT.value
    if address is None:
        if n != 1:
            raise flags.UsageError("--num_processes > 1 needs --coordinator_address=HOST:PORT")
        return
    if not 0 <= index < n:
        raise flags.UsageError(f"--process_id must be in [0, {n})")
    from nst import parallel

    if jax.config.jax_platforms in (None, "", "cpu"):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:  # jax aborts the process if a peer never arrives: check they all came first
        parallel.rendezvous(address, n, index, timeout)
    except (TimeoutError, OSError) as e:
        raise flags.UsageError(str(e)) from None
    jax.distributed.initialize(
        address, num_processes=n, process_id=index, initialization_timeout=int(timeout)
    )


def run(main: Callable[[list[str]], None], argv: Sequence[str]) -> None:
    """``main(overrides)`` after parsing ``argv`` and setting up the process; every
    ValueError or OSError ends as one line on stderr with exit code 2."""

    def parsed() -> None:
        rest, overrides = flags.split_overrides(argv)
        extra = flags.parse(rest)
        if len(extra) > 1:
            raise flags.UsageError(f"unexpected arguments: {' '.join(extra[1:])}")
        progress.plain_logging()
        enable_compilation_cache()
        init_distributed()
        main(overrides)

    errors.guard(parsed)
