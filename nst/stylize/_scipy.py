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

from nst.config import StylizeConfig
from nst.stylize import _host
from nst.stylize._log import Outcome, Run
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
    value_and_grad, hyper, batched_hyper, x0, log = _host.start(
        "scipy", config, net, targets, x0, run
    )
    clock = {"last": None, "evaluations": 0}
    last: dict[str, Any] = {}
    best = {"x": np.asarray(x0, np.float64).ravel()}

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
            log.record(_host.one_step({**terms, "total": np.nan}), 0.0, batched_hyper)
            raise StopIteration
        return float(value), np.asarray(grad, np.float64).ravel()

    def callback(intermediate_result):
        best["x"] = np.asarray(intermediate_result.x).copy()
        now = time.perf_counter()
        log.record(_host.one_step(last["terms"]), now - clock["last"], batched_hyper)
        clock["last"] = now
        log.snapshot(lambda: best["x"].reshape(1, *shape).astype(np.float32))
        if log.converged:
            raise StopIteration
        if run.should_stop():
            log.stopped = "interrupted"
            raise StopIteration

    # SciPy's L-BFGS-B calls BLAS on vectors of H*W*3 numbers; OpenBLAS worker threads then
    # spin-wait and take cores from the XLA computation that follows (docs/engine.md, Speed
    # on XLA:CPU): BLAS gets one thread here.
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
    return _host.finish(image, log, run, clock["evaluations"])
