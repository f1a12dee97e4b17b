"""One jitted step for every optax optimizer, its loop forms, and the cache of compiled programs.

A program runs ``n`` steps of ``K`` settings (a leading axis of the state and the ``Hyper``):
``n = 1`` is one plain jitted call (the Python loop, fastest on XLA:CPU), ``n > 1`` a
``lax.scan`` chunk (accelerators). ``K`` settings run vmapped, or ("each") as the one-setting
program called for each in turn. Every program donates its state buffers and is compiled
ahead of time, once per ``Cache`` key.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from nst import _xla, optimizers
from nst import config as config_lib
from nst.config import StylizeConfig
from nst.stylize._objective import Hyper, make_objective
from nst.stylize._targets import Net, Targets


class State(NamedTuple):
    """The optimization state: image [H, W, 3], optimizer state, steps done (int32), and
    with ``config.ema_decay`` the iterates' moving average (``optax.EmaState``)."""

    image: jax.Array
    opt_state: Any
    step: jax.Array
    average: Any = None


def make_step(config: StylizeConfig, net: Net) -> Callable:
    """Returns ``step(state, hyper, targets, params) -> (state, terms at state.image)``.

    One step for every optax optimizer: the first-order ones take ``value_and_grad``;
    L-BFGS reuses the value and gradient its line search stored
    (``optax.value_and_grad_from_state``) and records the terms with one forward pass.
    A step whose loss, gradient or updated image is not finite leaves the state unchanged,
    so the last finite image survives; its total is NaN, so the host stops.
    """
    objective = make_objective(config, net)
    opt = optimizers.create(config.optimizer, config.lr)
    lbfgs = config.optimizer == "lbfgs_optax"
    ema = optax.ema(config.ema_decay, debias=True) if config.ema_decay else None

    def step(state: State, hyper: Hyper, targets: Targets, params) -> tuple[State, dict]:
        f = lambda x: objective(x, params, targets, hyper)
        x = state.image
        if lbfgs:
            value_fn = lambda y: f(y)[0]
            value, grad = optax.value_and_grad_from_state(value_fn)(x, state=state.opt_state)
            terms = dict(f(x)[1])
        else:
            (value, terms), grad = jax.value_and_grad(f, has_aux=True)(x)
            value_fn = None
        updates, opt_state = opt.update(
            grad, state.opt_state, x, value=value, grad=grad, value_fn=value_fn
        )
        new_x = optax.apply_updates(x, updates)
        if lbfgs:  # loss evaluations this step: the line search's trials
            trials = optax.tree_utils.tree_get(opt_state, "num_linesearch_steps")
            terms["evaluations"] = jnp.asarray(trials, jnp.float32)
        else:
            new_x = jnp.clip(new_x, 0.0, 1.0)
        # A non-finite loss, gradient or update (an overflowing learning rate) keeps the
        # state and reports a non-finite total: the host stops with the last finite image.
        ok = jnp.isfinite(value) & jnp.all(jnp.isfinite(grad)) & jnp.all(jnp.isfinite(new_x))
        average = ema.update(new_x, state.average)[1] if ema is not None else None
        new_state = State(new_x, opt_state, state.step + 1, average)
        new_state = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new_state, state)
        terms["total"] = jnp.where(ok, terms["total"], jnp.nan)
        return new_state, terms

    return step


def default_sweep_form() -> str:
    """How K settings run, measured per backend (``benchmarks/gatys_step.py --modes sweep``).

    XLA:CPU: the one-setting program run for each setting in turn ("each"): the batched
    program's activations outgrow the caches and its Gram products become batched dots
    (docs/engine.md, Vectorized sweeps). Elsewhere one vmapped program ("vmap"), which
    keeps an accelerator busy.
    """
    return "each" if jax.default_backend() == "cpu" else "vmap"


def default_loop() -> str:
    """The loop form measured fastest for the default backend (benchmarks/loop_form.py).

    XLA:CPU: the VGG gradient inside ``lax.scan`` runs several times slower than in a plain
    jitted call (docs/engine.md, Loop form per backend), so CPU uses a Python loop of jitted
    steps. On accelerators a scanned chunk removes per-step dispatch and host syncs.
    """
    return "python" if jax.default_backend() == "cpu" else "scan"


# ------------------------------------------------------------------------------- cache


class Cache:
    """Compiled programs kept between engine calls: frames of a clip, settings of a study,
    tiles of a large image, levels of a pyramid.

    Keys name what changes a program (``nst.config.program_key``, the backbone, the shapes
    of the arguments, the steps per call); give one ``Cache`` to every call that may share
    programs.
    """

    def __init__(self) -> None:
        self._programs: dict[Hashable, Any] = {}

    @classmethod
    def of(cls, cache: Cache | None) -> Cache:
        """``cache`` itself, or a new cache for None."""
        if isinstance(cache, Cache):
            return cache
        if cache is None:
            return cls()
        raise ValueError(f"cache must be an nst.stylize.Cache, got {type(cache).__name__}")

    def get(self, key: Hashable, build: Callable[[], Any]) -> tuple[Any, float]:
        """The program under ``key``, built by ``build()`` if missing, and the seconds the
        build took (0.0 when it was cached)."""
        if key in self._programs:
            return self._programs[key], 0.0
        start = time.perf_counter()
        self._programs[key] = build()
        return self._programs[key], time.perf_counter() - start

    def __contains__(self, key: Hashable) -> bool:
        return key in self._programs

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._programs)

    def __len__(self) -> int:
        return len(self._programs)


def program_cache_key(kind: str, config: StylizeConfig, net: Net, args: Any, n: int) -> tuple:
    """``(kind, (program key, net), tree structure, leaf shapes, n)``: the key of a program
    of ``kind`` running ``n`` steps on arguments shaped like ``args``."""
    shapes = jax.tree.map(lambda a: (a.shape, a.dtype), args)
    program = (config_lib.program_key(config), net)
    return (kind, program, str(jax.tree.structure(shapes)), str(jax.tree.leaves(shapes)), n)


def steps_program(
    cache: Cache,
    config: StylizeConfig,
    net: Net,
    n: int,
    state: State,
    hyper: Hyper,
    targets: Targets,
    params: Any,
    *,
    each: bool = False,
) -> tuple[Callable, float]:
    """``run(state, hyper, targets, params) -> (state, terms [n, K])`` for ``n`` steps of the
    ``K`` settings in ``state`` and ``hyper``, and its compile seconds (0.0 when cached).

    One AOT-compiled jitted call with the state donated. ``each`` runs the one-setting
    program (the one a single run uses) for every setting in turn.
    """
    k = len(state.step)
    kind = "each" if each else "steps"
    key = program_cache_key(kind, config, net, (state, hyper, targets), n)
    if each:

        def build():
            one = jax.tree.map(lambda a: a[:1], (state, hyper))
            single, _ = steps_program(cache, config, net, n, *one, targets, params)
            return _each_setting(single, k, state, hyper)

        return cache.get(key, build)

    def build():
        step = _batched(make_step(config, net), k)

        def run(state, hyper, targets, params):
            if n == 1:
                new_state, terms = step(state, hyper, targets, params)
                return new_state, jax.tree.map(lambda t: t[None], terms)
            return jax.lax.scan(lambda s, _: step(s, hyper, targets, params), state, length=n)

        lowered = jax.jit(run, donate_argnums=0).lower(state, hyper, targets, params)
        return lowered.compile(_xla.compiler_options())

    return cache.get(key, build)


def _batched(step: Callable, k: int) -> Callable:
    """``step`` over a leading settings axis of ``state`` and ``hyper`` (size ``k``).

    ``jax.vmap`` for a sweep; for one setting the axis is dropped and restored around the
    plain step instead: vmapped, XLA:CPU lays the Gram products out as batched dots with
    transposes, a slower step (docs/engine.md, Speed on XLA:CPU).
    """
    if k > 1:
        return jax.vmap(step, in_axes=(0, 0, None, None))

    def single(state, hyper, targets, params):
        drop = lambda tree: jax.tree.map(lambda a: a[0], tree)
        new_state, terms = step(drop(state), drop(hyper), targets, params)
        return jax.tree.map(lambda a: jnp.asarray(a)[None], (new_state, terms))

    return single


def _each_setting(single: Any, k: int, state: State, hyper: Hyper) -> Callable:
    """One step of ``k`` settings by running the compiled one-setting ``single`` on each.

    Same signature and shapes as the vmapped program (terms ``[1, k]``). The settings are
    split and joined by one compiled call each (not one dispatch per array and setting),
    compiled here with the example ``state`` and ``hyper`` so the first step pays nothing.
    """

    def split_fn(tree):
        return [jax.tree.map(lambda a, i=i: a[i : i + 1], tree) for i in range(k)]

    def join_fn(states, terms):
        cat = lambda axis: lambda *xs: jnp.concatenate(xs, axis=axis)
        return jax.tree.map(cat(0), *states), jax.tree.map(cat(1), *terms)

    split_state = jax.jit(split_fn).lower(state).compile()
    new_state, terms = single.out_info
    join = jax.jit(join_fn).lower([new_state] * k, [terms] * k).compile()
    split_hyper = jax.jit(split_fn).lower(hyper).compile()

    def run(state, hyper, targets, params):
        pairs = zip(split_state(state), split_hyper(hyper), strict=True)
        outs = [single(s, h, targets, params) for s, h in pairs]
        return join([o[0] for o in outs], [o[1] for o in outs])

    return run
