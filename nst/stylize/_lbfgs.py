"""L-BFGS driven from the host, every vector operation jitted: ``optimizer="lbfgs_host"``.

The loop is Python (one plain jitted value-and-gradient per loss evaluation: XLA:CPU runs
the VGG gradient several times slower inside ``lax.while_loop``, which optax's line search
needs); the curvature memory and the two-loop recursion live on the device in float32, so an
iteration costs the loss evaluation plus one small fused program, where SciPy's L-BFGS-B
spends single-threaded Fortran time on H*W*3 float64 vectors (its bounds' Cauchy point and
subspace step). The measurements: docs/benchmarks.md.

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
  of every step: the memory's pairs still correct it toward the true curvature. The
  defaults :math:`\\alpha = 0.35, f_0 = 0.01` come from a screen of both (docs/benchmarks.md,
  "The preconditioner"). Cost: two FFT pairs per iteration;
* the objective is divided by its value at the start (L-BFGS is scale-invariant; the Gatys
  style loss reaches ~1e17, with gradients whose squared norms would overflow float32 in the
  curvature test, dropping every pair);
* a pair is kept only when :math:`s^T y > 10^{-8} \\lVert s \\rVert \\lVert y \\rVert`;
* projected onto the box [0, 1] with the binding set held fixed (``free_mask``: pixels at
  a bound whose gradient pushes outward): :math:`d = -F H F g`, a descent direction for
  any positive definite :math:`H`. Without it the quasi-Newton step pushes saturated
  pixels through the bounds, the projection cuts it, and the line search backtracks to
  nothing (tests/stylize/stylize_lbfgs_test.py, a box quadratic with most of its minimizer
  at the bounds);
* step :math:`x_{k+1} = \\Pi_{[0,1]}(x_k + t d_k)`, :math:`t = 1` then quadratic
  interpolation (clamped to [0.1 t, 0.5 t]) until the Armijo condition
  :math:`f(x_{k+1}) \\le f(x_k) + 10^{-4} g_k^T (x_{k+1} - x_k)` holds, or, when f changed
  by less than float32 can show (``NOISE``), Hager & Zhang's approximate Wolfe condition;
* the stall guard: after ``MAX_TRIALS`` failed trials the memory is dropped and a
  steepest-descent step as long as the last accepted one is searched; if that fails too,
  the point is stationary and the run ends as converged (not as an error).
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
MAX_TRIALS = 8  # evaluations per line search before the stall guard restarts
NOISE = 1e-6  # relative change of f within float32 rounding (a few ulps of a 24-bit mantissa)
APPROX_WOLFE = 0.8  # 1 - 2 delta, delta = 0.1 (Hager & Zhang 2005)
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
    keep = sy > CURVATURE_COS * jnp.linalg.norm(s) * jnp.linalg.norm(y)  # no |s|^2 |y|^2
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


def free_mask(x: jax.Array, g: jax.Array, lower: float = 0.0, upper: float = 1.0) -> jax.Array:
    """1 where a coordinate may move, 0 where it sits at a bound and the gradient pushes it
    outward (the binding set of projected methods: Bertsekas 1982; Kim, Sra & Dhillon 2010)."""
    binding = ((x <= lower) & (g > 0)) | ((x >= upper) & (g < 0))
    return jnp.where(binding, 0.0, 1.0).astype(g.dtype)


@functools.partial(jax.jit, donate_argnums=(0,))
def _next_direction(
    memory: Memory,
    s: jax.Array,
    y: jax.Array,
    g: jax.Array,
    x: jax.Array,
    weights: jax.Array | None = None,
    bounds: tuple[float, float] = (0.0, 1.0),
) -> tuple[Memory, jax.Array]:
    """The memory with the pair ``(s, y)`` (``y`` restricted to the coordinates that were
    free) and the next direction at ``x`` with gradient ``g``: :math:`F (-H F g)`, ``F`` the
    free coordinates' mask, so the bound coordinates stay put and the direction is one of
    descent whenever ``H`` is positive definite (:math:`g^T d = -(Fg)^T H (Fg)`)."""
    memory = push(memory, s, y)
    free = free_mask(x, g, *bounds)
    return memory, free * direction(memory, free * g, weights)


@jax.jit
def _steepest(
    g: jax.Array,
    x: jax.Array,
    weights: jax.Array | None = None,
    length: jax.Array | float = 1.0,
    bounds: tuple[float, float] = (0.0, 1.0),
) -> jax.Array:
    """:math:`-F P F g` scaled to ``length`` (a unit step at the start, as SciPy's; after a
    restart the length of the last accepted step)."""
    free = free_mask(x, g, *bounds)
    pg = free * precondition(free * g, weights)
    return -length * pg / jnp.maximum(jnp.linalg.norm(pg), jnp.finfo(g.dtype).tiny)


@jax.jit
def _trial(x: jax.Array, d: jax.Array, t: jax.Array, g: jax.Array, bounds=(0.0, 1.0)):
    """The projected trial point and the Armijo bound's decrease term ``g.(x_t - x)``."""
    x_t = jnp.clip(x + t * d, *bounds)
    return x_t, jnp.vdot(g, x_t - x)


@jax.jit
def _slope(g_t: jax.Array, x_t: jax.Array, x: jax.Array) -> jax.Array:
    return jnp.vdot(g_t, x_t - x)


@jax.jit
def _scaled(g: jax.Array, scale: jax.Array) -> jax.Array:
    return g * scale


@jax.jit
def _pair(x_t, x, g_t, g, bounds=(0.0, 1.0)):
    """``s = x_t - x``, ``y = F (g_t - g)`` with ``F`` the free coordinates at ``x``
    (``free_mask(x, g)``), and ``|s|``: one fused program."""
    return x_t - x, free_mask(x, g, *bounds) * (g_t - g), jnp.linalg.norm(x_t - x)


class Iterate(NamedTuple):
    """One accepted iteration of ``BoxLBFGS``."""

    x: jax.Array  # the new point
    value: float  # the objective there, in the caller's units
    aux: Any  # what ``evaluate`` returned beside the value there
    trials: int  # objective evaluations this iteration took
    restarted: bool  # the memory was dropped and a steepest-descent step taken


class BoxLBFGS:
    """Projected L-BFGS on the box ``bounds`` ([0, 1]; ``(-inf, inf)``: unconstrained): one
    ``step()`` per iteration, driven from the host.

    ``evaluate(x) -> (value, aux, grad)`` is the objective (``value`` a number, ``grad`` an
    array like ``x``). Internally the objective is divided by its value at ``x0``, so every
    inner product stays far from float32's range whatever the loss's units (a style loss of
    ~1e17 has gradients whose squared norms, multiplied together, overflowed the curvature
    test before; L-BFGS itself is invariant to the scale). The direction works on the free
    coordinates only (``free_mask``); the step is backtracked with quadratic interpolation
    until the Armijo condition holds on the projected point, ``MAX_TRIALS`` evaluations at
    most. When that fails the memory is dropped and a (preconditioned) steepest-descent step
    as long as the last accepted one is searched the same way: a stall is noticed and
    recovered from within one iteration. When that fails too the point is stationary to
    float32's resolution: ``step()`` returns None and ``converged`` says why.
    """

    def __init__(
        self,
        evaluate: Any,
        x0: jax.Array,
        *,
        memory: int = DEFAULT_MEMORY,
        weights: jax.Array | None = None,
        bounds: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        self.evaluate = evaluate
        self.m = memory
        self.weights = weights
        self.bounds = tuple(jnp.float32(b) for b in bounds)
        self.x = jnp.clip(jnp.asarray(x0, jnp.float32), *self.bounds)
        value, self.aux, g = evaluate(self.x)
        self.value = float(value)
        self.scale = 1.0 / abs(self.value) if np.isfinite(self.value) and self.value else 1.0
        self.f = self.value * self.scale
        self.g = _scaled(g, jnp.float32(self.scale))
        self.memory = init_memory(self.x.shape, memory)
        self.d = _steepest(self.g, self.x, weights, bounds=self.bounds)
        self.last_length = 1.0
        self.evaluations = 1
        self.restarts = 0
        self.converged: str | None = None

    def _search(self, d: jax.Array):
        """(x_t, value, aux, scaled grad, trials) at the first point along ``d`` that passes
        the Armijo test, or None after ``MAX_TRIALS`` evaluations."""
        t = 1.0
        for trials in range(1, MAX_TRIALS + 1):
            x_t, decrease = _trial(self.x, d, jnp.float32(t), self.g, self.bounds)
            decrease = float(decrease)
            if not decrease < 0:  # the projected step moves nothing downhill
                return None
            value, aux, g_t = self.evaluate(x_t)
            self.evaluations += 1
            f_t = float(value) * self.scale
            g_t = _scaled(g_t, jnp.float32(self.scale))
            if np.isfinite(f_t) and f_t <= self.f + ARMIJO * decrease:
                return x_t, float(value), aux, g_t, trials
            # Within float32's rounding of f the values cannot show a decrease: accept a
            # point not far past the minimum along the step instead (Hager & Zhang's
            # approximate Wolfe condition, slope at x_t <= (1 - 2 delta) |slope at x|).
            noise = NOISE * abs(self.f)
            if np.isfinite(f_t) and abs(f_t - self.f) <= noise:
                if float(_slope(g_t, x_t, self.x)) <= APPROX_WOLFE * -decrease:
                    return x_t, float(value), aux, g_t, trials
            if np.isfinite(f_t):  # the minimum of the quadratic through f, its slope, f_t
                slope = decrease / t
                curvature = f_t - self.f - slope * t
                t_min = -slope * t * t / (2.0 * curvature) if curvature > 0 else 0.5 * t
                t = float(np.clip(t_min, 0.1 * t, 0.5 * t))
            else:
                t *= 0.1
        return None

    def step(self) -> Iterate | None:
        """One iteration; None once converged (``converged`` says why)."""
        if self.converged:
            return None
        found = self._search(self.d)
        restarted = False
        if found is None:  # a stall: drop the memory, search steepest descent
            restarted = True
            self.restarts += 1
            self.memory = init_memory(self.x.shape, self.m)
            d = _steepest(self.g, self.x, self.weights, jnp.float32(self.last_length), self.bounds)
            found = self._search(d)
            if found is None:
                self.converged = (
                    "stationary: no decrease along steepest descent at float32 resolution"
                )
                return None
        x_t, value, aux, g_t, trials = found
        s, y, length = _pair(x_t, self.x, g_t, self.g, self.bounds)
        self.last_length = float(length)
        self.memory, self.d = _next_direction(
            self.memory, s, y, g_t, x_t, self.weights, self.bounds
        )
        self.x, self.f, self.g, self.value, self.aux = x_t, value * self.scale, g_t, value, aux
        return Iterate(x_t, value, aux, trials, restarted)


def minimize(
    config: StylizeConfig,
    net: Any,
    params: Any,
    targets: Targets,
    x0: jax.Array,
    run: Run,
) -> Outcome:
    """Runs ``config.steps`` iterations of ``BoxLBFGS`` from ``x0`` [H, W, 3] (memory
    ``config.lbfgs_memory``, preconditioner ``config.lbfgs_precondition`` / ``lbfgs_cutoff``).

    ``evaluations`` counts every objective call (line-search trials included). An
    interrupted run restarts from its checkpointed image with an empty memory.
    """
    shape = tuple(x0.shape)
    value_and_grad, hyper, batched_hyper, x0, log = _host.start(
        "host-lbfgs", config, net, targets, x0, run
    )

    def evaluate(x: jax.Array):
        (value, terms), grad = value_and_grad(x, params, targets, hyper)
        return value, terms, grad

    t0 = time.perf_counter()
    weights = spectral_weights(*shape[:2], config.lbfgs_precondition, config.lbfgs_cutoff)
    solver = BoxLBFGS(
        evaluate,
        jnp.asarray(x0, jnp.float32).reshape(shape),
        memory=config.lbfgs_memory or DEFAULT_MEMORY,
        weights=weights,
    )
    log.compile_seconds = time.perf_counter() - t0
    clock = time.perf_counter()
    while log.done < config.steps and not log.stopped and not log.converged:
        it = solver.step()
        if it is None:
            log.converged = solver.converged
            break
        now = time.perf_counter()
        log.record(_host.one_step({**it.aux, "total": it.value}), now - clock, batched_hyper)
        clock = now
        if log.stopped:  # non-finite: the last finite image stays
            break
        log.snapshot(lambda: np.asarray(solver.x)[None])
        if not log.stopped and run.should_stop():
            log.stopped = "interrupted"
    return _host.finish(np.asarray(solver.x)[None], log, run, solver.evaluations)
