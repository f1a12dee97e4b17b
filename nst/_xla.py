"""XLA compiler options for the gradient-heavy programs, chosen per backend by measurement."""

import jax

__all__ = ["compiler_options"]


def compiler_options() -> dict[str, str] | None:
    """Options for ``jit(..., compiler_options=...)`` / ``lowered.compile(...)``.

    XLA:CPU: the memory-optimized HLO scheduler. The default one maximizes concurrency, so
    independent kernels (a layer's Gram product and its gradient next to the next
    convolution) share the cores and the convolutions' thread partitions wait on each
    other. Measured, VGG19 Gatys step at 256 px, 2 cores, one process, interleaved, 12
    repeats: min 0.323 -> 0.297 s, median 0.371 -> 0.354 s (``benchmarks/gatys_step.py``);
    a Johnson training step (VGG19 loss, batch 4 of 128 px): min 1.195 -> 1.005 s, median
    1.340 -> 1.189 s.
    Other backends: XLA's defaults (None).
    """
    if jax.default_backend() == "cpu":
        return {"xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"}
    return None
