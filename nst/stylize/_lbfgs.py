"""L-BFGS driven from the host, every vector operation jitted: ``optimizer="lbfgs_host"``.

The loop is Python (one plain jitted value-and-gradient per loss evaluation: XLA:CPU runs
the VGG gradient ~2.8x slower inside ``lax.while_loop``, which optax's line search needs);
the curvature memory and the two-loop recursion live on the device in float32, so an
iteration costs the loss evaluation plus one small fused program. SciPy's L-BFGS-B spends
0.15-0.3 s per iteration in single-threaded Fortran on H*W*3 float64 vectors at 512 px
(its bounds' Cauchy point and subspace step), 10-25% of a VGG19 evaluation on two cores.

Algorithm (Nocedal & Wright, Numerical Optimization, 2nd ed., Alg. 7.4 and 7.5):

* direction :math:`d_k = -H_k g_k`, :math:`H_k` the L-BFGS inverse-Hessian approximation
  from the last ``m`` pairs :math:`s_i = x_{i+1} - x_i`, :math:`y_i = g_{i+1} - g_i`, built
  on :math:`H_k^0 = \\gamma_k P` with :math:`\\gamma_k = s^T y / y^T P y` of the newest pair
  (the first step: :math:`-P g / \\lVert P g \\rVert`, a unit step, as SciPy's);
* :math:`P` the spectral preconditioner :math:`P v = \\mathcal{F}^{-1}(w \\cdot \\mathcal{F} v)`
  over each channel of the [H, W, 3] image, :math:`w(f) = (1 + (f / f_0)^2)^{-\\alpha}` at
  spatial frequency :math:`f = \\sqrt{f_y^2 + f_x^2}` in cycles per pixel (symmetric
  positive definite: ``w`` is real, positive and even). It lets the coarse structure move
  more per step than the pixel-scale texture; :math:`\\alpha = 0` is plain L-BFGS
  (:math:`P = I`). The preconditioner changes only the first step and the initial scaling
  of every step: the memory's pairs still correct it toward the true curvature. Screened at
  512 px (bundled pair, real VGG19, 50 pairs; iterations to the final loss of 500 Adam
  steps, deterministic on one machine): plain 93; :math:`\\alpha = 0.5` with
  :math:`f_0` = 0.15 / 0.05 / 0.02 / 0.01 / 0.005 cycles/px: 87 / 84 / 81 / 80 / 80;
  :math:`f_0 = 0.01` with :math:`\\alpha` = 0.35 / 0.65: 79 / 86; :math:`\\alpha = 1,
  f_0 = 0.05`: 97 (too smooth); a diagonal Adam-like :math:`P` (running mean of
  :math:`g^2`, 0.99): 92. Default :math:`\\alpha = 0.35, f_0 = 0.01`. Cost: two FFT pairs per
  iteration (3.6 ms each at 512x384 on two cores);
* a pair is kept only when :math:`s^T y > 10^{-8} \\lVert s \\rVert \\lVert y \\rVert`
  (the curvature condition; a projected step can violate it);
* step :math:`x_{k+1} = \\Pi_{[0,1]}(x_k + t d_k)`, :math:`t = 1, 1/2, 1/4, \\dots` until
  the Armijo condition :math:`f(x_{k+1}) \\le f(x_k) + 10^{-4} g_k^T (x_{k+1} - x_k)` holds
  (projected L-BFGS: the pixels stay in [0, 1] without SciPy's bound machinery). With the
  initial scaling the first trial is almost always accepted: one evaluation per iteration.
"""

from __future__ import annotations

import functools
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nst.config import StylizeConfig
from nst.stylize import _host
from nst.stylize._log import Outcome, Run
from nst.stylize._targets import Targets

ARMIJO = 1e-4  # sufficient-decrease constant c1
CURVATURE_COS = 1e-8  # pairs with s.y <= this * |s| |y| are skipped
MIN_STEP = 2.0**-30  # the line search gives up below this step: the run has converged
DEFAULT_MEMORY = 50  # pairs when StylizeConfig.lbfgs_memory is None (benchmarks/time_to_image.py)


class Memory(NamedTuple):
    """The last ``m`` curvature pairs, a ring buffer: row ``i % m`` holds pair ``i``."""

    s: jax.Array  # [m, *shape] parameter differences
    y: jax.Array  # [m, *shape] gradient differences
    rho: jax.Array  # [m] 1 / (s_i . y_i)
    count: jax.Array  # [] int32, pairs stored so far


def init_memory(shape: int | tuple[int, ...], m: int) -> Memory:
    """An empty memory for parameters of ``shape`` (an image [H, W, 3], or ``n`` numbers)
    and ``m`` pairs."""
    if m < 1:
        raise ValueError(f"the L-BFGS memory must hold >= 1 pair, got {m}")
    shape = (shape,) if isinstance(shape, int | np.integer) else tuple(shape)
    pairs = lambda: jnp.zeros((m, *shape), jnp.float32)  # two buffers: both are donated
    return Memory(pairs(), pairs(), jnp.zeros((m,), jnp.float32), jnp.zeros((), jnp.int32))


def spectral_weights(height: int, width: int, alpha: float, cutoff: float) -> jax.Array | None:
    """The preconditioner's gains :math:`w(f) = (1 + (f / f_0)^2)^{-\\alpha}` [H, W // 2 + 1, 1]
    on ``rfft2``'s frequency grid (cycles per pixel), or None (:math:`P = I`) when
    ``alpha`` is 0."""
    if alpha == 0:
        return None
    if alpha < 0 or cutoff <= 0:
        raise ValueError(
            f"spectral preconditioner: need alpha >= 0, cutoff > 0; got {alpha}, {cutoff}"
        )
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    w = (1.0 + (fy**2 + fx**2) / cutoff**2) ** (-alpha)
    return jnp.asarray(w[..., None], jnp.float32)


def precondition(v: jax.Array, weights: jax.Array | None) -> jax.Array:
    """:math:`P v`: each channel of ``v`` [H, W, C] filtered by ``weights`` [H, W // 2 + 1, 1]
    in the Fourier domain; ``v`` itself when ``weights`` is None."""
    if weights is None:
        return v
    spectrum = jnp.fft.rfft2(v, axes=(0, 1)) * weights
    return jnp.fft.irfft2(spectrum, s=v.shape[:2], axes=(0, 1)).astype(v.dtype)


def push(memory: Memory, s: jax.Array, y: jax.Array) -> Memory:
    """``memory`` with the pair ``(s, y)`` added (the oldest dropped), or unchanged when
    the pair fails the curvature condition."""
    sy = jnp.vdot(s, y)
    keep = sy > CURVATURE_COS * jnp.sqrt(jnp.vdot(s, s) * jnp.vdot(y, y))
    i = memory.count % memory.rho.shape[0]
    return Memory(
        jnp.where(keep, memory.s.at[i].set(s), memory.s),
        jnp.where(keep, memory.y.at[i].set(y), memory.y),
        jnp.where(keep, memory.rho.at[i].set(1.0 / sy), memory.rho),
        memory.count + keep.astype(jnp.int32),
    )


def direction(memory: Memory, g: jax.Array, weights: jax.Array | None = None) -> jax.Array:
    """The L-BFGS direction :math:`-H g` (two-loop recursion, newest pair first) on
    :math:`H^0 = \\gamma P` (``weights``: ``precondition``'s; None: :math:`P = I`).

    With no pair stored yet: :math:`-P g / \\lVert P g \\rVert`.
    """
    m = memory.rho.shape[0]
    stored = jnp.minimum(memory.count, m)

    def newest_first(j, carry):
        q, alpha = carry
        i = (memory.count - 1 - j) % m
        a = jnp.where(j < stored, memory.rho[i] * jnp.vdot(memory.s[i], q), 0.0)
        return q - a * memory.y[i], alpha.at[i].set(a)

    q, alpha = jax.lax.fori_loop(0, m, newest_first, (g, jnp.zeros((m,), g.dtype)))
    newest = (memory.count - 1) % m
    y_new = memory.y[newest]
    pq = precondition(q, weights)
    gamma = jnp.where(
        stored > 0,
        1.0 / (memory.rho[newest] * jnp.vdot(y_new, precondition(y_new, weights))),
        1.0 / jnp.linalg.norm(pq),
    )

    def oldest_first(j, r):
        i = (memory.count - stored + j) % m
        b = memory.rho[i] * jnp.vdot(memory.y[i], r)
        return jnp.where(j < stored, r + memory.s[i] * (alpha[i] - b), r)

    return -jax.lax.fori_loop(0, m, oldest_first, gamma * pq)


@functools.partial(jax.jit, donate_argnums=(0,))
def _next_direction(
    memory: Memory, s: jax.Array, y: jax.Array, g: jax.Array, weights: jax.Array | None = None
) -> tuple[Memory, jax.Array]:
    memory = push(memory, s, y)
    return memory, direction(memory, g, weights)


@jax.jit
def _steepest(g: jax.Array, weights: jax.Array | None = None) -> jax.Array:
    """The first direction, :math:`-P g / \\lVert P g \\rVert` (a unit step, as SciPy's)."""
    pg = precondition(g, weights)
    return -pg / jnp.linalg.norm(pg)


@jax.jit
def _trial(x: jax.Array, d: jax.Array, t: jax.Array, g: jax.Array):
    """The projected trial point and the Armijo bound's decrease term ``g.(x_t - x)``."""
    x_t = jnp.clip(x + t * d, 0.0, 1.0)
    return x_t, jnp.vdot(g, x_t - x)


def minimize(
    config: StylizeConfig,
    net: Any,
    params: Any,
    targets: Targets,
    x0: jax.Array,
    run: Run,
) -> Outcome:
    """Runs ``config.steps`` iterations from ``x0`` [H, W, 3] (memory ``config.lbfgs_memory``).

    ``evaluations`` counts every objective call (line-search trials included). An
    interrupted run restarts from its checkpointed image with an empty memory.
    """
    shape = tuple(x0.shape)
    value_and_grad, hyper, batched_hyper, x0, log = _host.start(
        "host-lbfgs", config, net, targets, x0, run
    )
    evaluations = 0

    def evaluate(x: jax.Array):
        nonlocal evaluations
        evaluations += 1
        (value, terms), grad = value_and_grad(x, params, targets, hyper)
        return value, terms, grad

    x = jnp.clip(jnp.asarray(x0, jnp.float32).reshape(shape), 0.0, 1.0)
    t0 = time.perf_counter()
    f, _, g = evaluate(x)
    f = float(f)
    log.compile_seconds = time.perf_counter() - t0
    memory = init_memory(shape, config.lbfgs_memory or DEFAULT_MEMORY)
    weights = spectral_weights(*shape[:2], config.lbfgs_precondition, config.lbfgs_cutoff)
    d = _steepest(g, weights)  # = direction(memory, g, weights) with no pair, without its loops
    clock = time.perf_counter()
    while log.done < config.steps and not log.stopped:
        t = 1.0
        while True:
            x_t, decrease = _trial(x, d, jnp.float32(t), g)
            f_t, terms, g_t = evaluate(x_t)
            f_t = float(f_t)
            if not np.isfinite(f_t) or f_t <= f + ARMIJO * float(decrease) or t < MIN_STEP:
                break
            t *= 0.5
        now = time.perf_counter()
        log.record(_host.one_step({**terms, "total": f_t}), now - clock, batched_hyper)
        clock = now
        if log.stopped:  # non-finite: the last finite image stays
            break
        converged = t < MIN_STEP and f_t > f
        if converged:
            log.stopped = "converged (no decrease along the L-BFGS direction)"
        memory, d = _next_direction(memory, x_t - x, g_t - g, g_t, weights)
        x, f, g = x_t, f_t, g_t
        if log.snapshot_due():
            log.snapshots[log.done] = np.asarray(x)[None]
        if not log.stopped and run.should_stop():
            log.stopped = "interrupted"
    return _host.finish(np.asarray(x)[None], log, run, evaluations)
