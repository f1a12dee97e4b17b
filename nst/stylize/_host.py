"""What the two host-driven L-BFGS drivers (``_lbfgs``, ``_scipy``) share: the cached jitted
value-and-gradient, resuming from a checkpoint, the books, and closing the run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nst import _xla
from nst import config as config_lib
from nst.config import StylizeConfig
from nst.stylize import _checkpoint
from nst.stylize._log import Log, Outcome, Run, resume
from nst.stylize._objective import Hyper, make_hyper, make_objective
from nst.stylize._step import State
from nst.stylize._targets import Targets


class Start(NamedTuple):
    """A host-driven run ready to go."""

    value_and_grad: Callable  # (image [H, W, 3], params, targets, hyper) -> ((total, terms), grad)
    hyper: Hyper
    batched_hyper: Hyper  # the same numbers as one setting, for ``Log.record``
    x0: jax.Array  # the initial image, or the checkpoint's when resuming
    log: Log


def start(
    driver: str,
    config: StylizeConfig,
    net: Any,
    targets: Targets,
    x0: jax.Array,
    run: Run,
) -> Start:
    """The jitted value-and-gradient (one per program and ``driver``, kept in ``run.cache``
    for later calls), the hyperparameters, and the books, resumed from ``run.checkpoint``."""
    key = (
        driver,
        config_lib.program_key(config),
        net,
        targets.laplacian is None,
        targets.temporal is None,
        targets.masks is None,
    )
    objective = make_objective(config, net)
    value_and_grad, _ = run.cache.get(
        key,
        lambda: jax.jit(
            jax.value_and_grad(objective, has_aux=True), compiler_options=_xla.compiler_options()
        ),
    )
    hyper = make_hyper(config)
    shape = tuple(x0.shape)
    template = State(jnp.zeros((1, *shape), jnp.float32), (), jnp.zeros(1, jnp.int32))
    state, history = resume(run.checkpoint, template, run.fingerprint, config.steps)
    if state is not template:
        x0 = state.image[0]
    log = Log(config, history, int(np.asarray(state.step)[0]), run.progress, run.on_snapshot)
    batched_hyper = jax.tree.map(lambda a: np.asarray([a]), hyper)
    return Start(value_and_grad, hyper, batched_hyper, x0, log)


def one_step(terms: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """One step's terms in ``Log.record``'s layout, {name: [1 step, 1 setting]}."""
    terms = jax.device_get(dict(terms))
    return {name: np.asarray(v, np.float32).reshape(1, 1) for name, v in terms.items()}


def finish(image: np.ndarray, log: Log, run: Run, evaluations: int) -> Outcome:
    """Closes the checkpoint (kept when interrupted) and hands back the run's outcome."""
    state = State(jnp.asarray(image), (), jnp.asarray([log.done], jnp.int32))
    _checkpoint.close(run.checkpoint, state, log.arrays(), run.fingerprint, log.stopped)
    return Outcome(image, log, [None], [evaluations])
