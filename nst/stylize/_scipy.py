"""SciPy's L-BFGS-B driven from the host, with a jitted value and gradient (bounds [0, 1]).

The same books as the jitted steps (``_driver.Log``: history, snapshots, progress, the stop
on a non-finite loss) and the same checkpoints; only the loop is SciPy's.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nst import _xla
from nst import config as config_lib
from nst.config import StylizeConfig
from nst.stylize import _checkpoint
from nst.stylize._log import Log, Outcome, Run, resume
from nst.stylize._objective import make_hyper, make_objective
from nst.stylize._step import State
from nst.stylize._targets import Targets


def minimize(
    config: StylizeConfig,
    net: Any,
    params: Any,
    targets: Targets,
    x0: jax.Array,
    run: Run,
) -> Outcome:
    """Runs ``config.steps`` L-BFGS-B iterations from ``x0`` [H, W, 3].

    Each iteration's history entry holds the terms at its accepted point; ``evaluations``
    counts every objective call (line-search trials included). An interrupted run restarts
    from its checkpointed image for the remaining iterations with a fresh curvature memory
    (SciPy's internal state cannot be saved), so a resumed run is close to, not identical
    with, an uninterrupted one.
    """
    import scipy.optimize
    import threadpoolctl

    shape = tuple(x0.shape)
    hyper = make_hyper(config)
    batched_hyper = jax.tree.map(lambda a: np.asarray([a]), hyper)  # one setting
    key = (
        "scipy",
        config_lib.program_key(config),
        net,
        targets.laplacian is None,
        targets.temporal is None,
        targets.masks is None,
    )
    objective = make_objective(config, net)
    value_and_grad, _ = run.cache.get(  # one jitted function per program: reused by later calls
        key,
        lambda: jax.jit(
            jax.value_and_grad(objective, has_aux=True), compiler_options=_xla.compiler_options()
        ),
    )
    template = State(jnp.zeros((1, *shape), jnp.float32), (), jnp.zeros(1, jnp.int32))
    start, history = resume(run.checkpoint, template, run.fingerprint, config.steps)
    if start is not template:
        x0 = start.image[0]
    log = Log(config, history, int(np.asarray(start.step)[0]), run.progress)
    clock = {"last": None, "evaluations": 0}
    last: dict[str, Any] = {}
    best = {"x": np.asarray(x0, np.float64).ravel()}

    def as_steps(terms: dict) -> dict[str, np.ndarray]:
        return {name: np.asarray(v, np.float32).reshape(1, 1) for name, v in terms.items()}

    def fun(x):
        t = time.perf_counter()
        (value, terms), grad = value_and_grad(
            jnp.asarray(x.reshape(shape), jnp.float32), params, targets, hyper
        )
        value, terms, grad = jax.device_get((value, terms, grad))
        if clock["last"] is None:  # the first call compiles
            log.compile_seconds = time.perf_counter() - t
            clock["last"] = time.perf_counter()
        clock["evaluations"] += 1
        last["terms"] = terms
        if not np.isfinite(value):
            log.record(as_steps({**terms, "total": np.nan}), 0.0, batched_hyper)
            raise StopIteration
        return float(value), np.asarray(grad, np.float64).ravel()

    def callback(intermediate_result):
        best["x"] = np.asarray(intermediate_result.x).copy()
        now = time.perf_counter()
        log.record(as_steps(last["terms"]), now - clock["last"], batched_hyper)
        clock["last"] = now
        if log.snapshot_due():
            log.snapshots[log.done] = best["x"].reshape(1, *shape).astype(np.float32)
        if run.should_stop():
            log.stopped = "interrupted"
            raise StopIteration

    # SciPy's L-BFGS-B calls BLAS on vectors of H*W*3 numbers; OpenBLAS worker threads then
    # spin-wait and take cores from the XLA computation that follows (measured: per loss
    # evaluation 0.352 -> 0.315 s, VGG19 at 256 px on 2 cores): BLAS gets one thread here.
    try:
        with threadpoolctl.threadpool_limits(1, user_api="blas"):
            scipy.optimize.minimize(
                fun,
                best["x"],
                jac=True,
                method="L-BFGS-B",
                bounds=scipy.optimize.Bounds(0.0, 1.0),
                callback=callback,
                options={
                    "maxiter": max(config.steps - log.done, 0),
                    "maxfun": 20 * config.steps,
                    "maxcor": config.lbfgs_memory or 10,
                },
            )
    except StopIteration:
        pass
    image = best["x"].reshape(1, *shape).astype(np.float32)
    state = State(jnp.asarray(image), (), jnp.asarray([log.done], jnp.int32))
    _checkpoint.close(run.checkpoint, state, log.arrays(), run.fingerprint, log.stopped)
    return Outcome(image, log, [None], [clock["evaluations"]])
