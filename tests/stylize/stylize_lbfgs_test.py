"""nst.stylize._lbfgs: the two-loop direction against dense BFGS updates in NumPy, the
curvature skip, the ring buffer, and projected minimization of a box-constrained quadratic."""

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nst import stylize
from nst.config import StylizeConfig
from nst.stylize import _lbfgs

SIZE = 32
CONFIG = StylizeConfig(  # random weights, two tiny layers: the driver's wiring, not quality
    weights="random",
    size=SIZE,
    content_layers=(("conv1_2", 1.0),),
    style_layers=(("conv1_1", 0.3), ("conv2_1", 0.7)),
    content_weight=2.0,
    style_weight=1e7,
)


def _dense_direction(pairs, g, p=None):
    """-H g with H built by the BFGS inverse update (Nocedal & Wright eq. 7.19), float64.

    H_0 = gamma P (P = I when None), gamma = s.y / y.P y of the newest pair; then for each
    pair, oldest first, H <- (I - rho s y^T) H (I - rho y s^T) + rho s s^T.
    """
    n = g.size
    p = np.eye(n) if p is None else p
    if not pairs:
        return -p @ g / np.linalg.norm(p @ g)
    s_new, y_new = pairs[-1]
    h = p * (s_new @ y_new) / (y_new @ p @ y_new)
    for s, y in pairs:
        rho = 1.0 / (s @ y)
        v = np.eye(n) - rho * np.outer(y, s)
        h = v.T @ h @ v + rho * np.outer(s, s)
    return -h @ g


def _pairs(rng, n, k):
    """k pairs with positive curvature (y = A s for an SPD A)."""
    a = rng.normal(size=(n, n))
    spd = a @ a.T / n + np.eye(n)
    out = []
    for _ in range(k):
        s = rng.normal(size=n)
        out.append((s, spd @ s))
    return out


def _memory(pairs, n, m):
    memory = _lbfgs.init_memory(n, m)
    for s, y in pairs:
        memory = _lbfgs.push(memory, jnp.asarray(s, jnp.float32), jnp.asarray(y, jnp.float32))
    return memory


@pytest.mark.parametrize("k", [0, 1, 3, 5])
def test_direction_is_the_dense_bfgs_update(k):
    rng = np.random.default_rng(k)
    n, m = 7, 5
    pairs = _pairs(rng, n, k)
    g = rng.normal(size=n)
    got = _lbfgs.direction(_memory(pairs, n, m), jnp.asarray(g, jnp.float32))
    np.testing.assert_allclose(got, _dense_direction(pairs, g), rtol=2e-4, atol=1e-5)


def _dense_filter(height, width, channels, alpha, cutoff):
    """P as an n x n matrix (n = H W C, row-major [H, W, C] order): each channel's 2-D DFT
    (NumPy's complex fft2 over the full frequency grid), times w(f), inverse DFT."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    w = (1.0 + (fy**2 + fx**2) / cutoff**2) ** (-alpha)
    n = height * width * channels
    columns = []
    for j in range(n):
        e = np.zeros(n)
        e[j] = 1.0
        e = e.reshape(height, width, channels)
        out = np.fft.ifft2(np.fft.fft2(e, axes=(0, 1)) * w[..., None], axes=(0, 1))
        columns.append(out.real.reshape(-1))
    return np.stack(columns, axis=1)


def test_spectral_weights_are_the_formula():
    w = np.asarray(_lbfgs.spectral_weights(4, 6, 0.5, 0.05))
    assert w.shape == (4, 4, 1)
    # row 1 is fy = 1/4, column 2 is fx = 2/6 cycles per pixel
    np.testing.assert_allclose(
        w[1, 2, 0], (1 + (0.25**2 + (2 / 6) ** 2) / 0.05**2) ** -0.5, rtol=1e-6
    )
    np.testing.assert_allclose(w[2, 0, 0], (1 + 0.5**2 / 0.05**2) ** -0.5, rtol=1e-6)
    assert w[0, 0, 0] == 1.0
    assert _lbfgs.spectral_weights(4, 6, 0.0, 0.05) is None


@pytest.mark.parametrize("height,width", [(4, 6), (5, 3)])
def test_preconditioner_is_a_symmetric_positive_definite_filter(height, width):
    p = _dense_filter(height, width, 3, 0.7, 0.1)
    np.testing.assert_allclose(p, p.T, atol=1e-12)
    assert np.linalg.eigvalsh(p).min() > 0
    v = np.random.default_rng(6).normal(size=(height, width, 3))
    got = _lbfgs.precondition(
        jnp.asarray(v, jnp.float32), _lbfgs.spectral_weights(height, width, 0.7, 0.1)
    )
    np.testing.assert_allclose(np.asarray(got).reshape(-1), p @ v.reshape(-1), rtol=1e-5, atol=1e-6)
    assert _lbfgs.precondition(v, None) is v


@pytest.mark.parametrize("k", [0, 1, 3, 5])
def test_preconditioned_direction_is_the_dense_bfgs_update(k):
    rng = np.random.default_rng(10 + k)
    shape = (3, 4, 3)
    n = int(np.prod(shape))
    p = _dense_filter(*shape, 0.5, 0.2)
    pairs = _pairs(rng, n, k)
    g = rng.normal(size=n)
    memory = _lbfgs.init_memory(shape, 6)
    for s, y in pairs:
        memory = _lbfgs.push(
            memory,
            jnp.asarray(s.reshape(shape), jnp.float32),
            jnp.asarray(y.reshape(shape), jnp.float32),
        )
    weights = _lbfgs.spectral_weights(3, 4, 0.5, 0.2)
    got = _lbfgs.direction(memory, jnp.asarray(g.reshape(shape), jnp.float32), weights)
    want = _dense_direction(pairs, g, p)
    np.testing.assert_allclose(np.asarray(got).reshape(-1), want, rtol=2e-4, atol=1e-5)
    assert not np.allclose(want, _dense_direction(pairs, g), rtol=1e-2)  # P matters here
    inside = jnp.full(shape, 0.5, jnp.float32)  # every coordinate free
    first = _lbfgs._steepest(jnp.asarray(g.reshape(shape), jnp.float32), inside, weights)
    np.testing.assert_allclose(
        np.asarray(first).reshape(-1), _dense_direction([], g, p), rtol=2e-4, atol=1e-6
    )


def test_memory_keeps_only_the_newest_pairs():
    rng = np.random.default_rng(0)
    n, m = 6, 3
    pairs = _pairs(rng, n, 5)
    g = rng.normal(size=n)
    memory = _memory(pairs, n, m)
    assert int(memory.count) == 5
    got = _lbfgs.direction(memory, jnp.asarray(g, jnp.float32))
    np.testing.assert_allclose(got, _dense_direction(pairs[-m:], g), rtol=2e-4, atol=1e-5)


def test_pair_without_positive_curvature_is_skipped():
    rng = np.random.default_rng(1)
    n = 5
    pairs = _pairs(rng, n, 2)
    memory = _memory(pairs, n, 4)
    s, y = pairs[0]
    skipped = _lbfgs.push(memory, jnp.asarray(s, jnp.float32), jnp.asarray(-y, jnp.float32))
    assert int(skipped.count) == 2
    g = jnp.asarray(rng.normal(size=n), jnp.float32)
    np.testing.assert_array_equal(_lbfgs.direction(skipped, g), _lbfgs.direction(memory, g))


def test_direction_is_the_same_under_jit():
    rng = np.random.default_rng(2)
    pairs = _pairs(rng, 8, 4)
    memory = _memory(pairs, 8, 6)
    g = jnp.asarray(rng.normal(size=8), jnp.float32)
    np.testing.assert_allclose(
        jax.jit(_lbfgs.direction)(memory, g), _lbfgs.direction(memory, g), rtol=1e-6
    )


def test_memory_of_zero_pairs_is_refused():
    with pytest.raises(ValueError, match=">= 1 pair"):
        _lbfgs.init_memory(4, 0)


def _solve(value_and_grad, x, steps, m, weights=None, bounds=(0.0, 1.0)):
    """``BoxLBFGS`` (the engine's driver) on a test problem: the final point, the values."""
    solver = _lbfgs.BoxLBFGS(
        _evaluator(value_and_grad), x, memory=m, weights=weights, bounds=bounds
    )
    values = [solver.value]
    for _ in range(steps):
        if solver.step() is None:
            break
        values.append(solver.value)
    return solver.x, values


def _evaluator(value_and_grad):
    """``value_and_grad(x) -> (f, g)`` as ``BoxLBFGS``'s ``evaluate(x) -> (f, aux, g)``."""

    def evaluate(x):
        f, g = value_and_grad(x)
        return f, {}, g

    return evaluate


def _quadratic(d, c, scale=1.0):
    """f = scale * 0.5 (x - c)^T D (x - c) with its gradient, jitted (D diagonal)."""
    d, c = jnp.asarray(d, jnp.float32), jnp.asarray(c, jnp.float32)
    return jax.jit(jax.value_and_grad(lambda x: scale * 0.5 * jnp.sum(d * (x - c) ** 2)))


def test_box_constrained_quadratic_reaches_its_minimizer():
    # f = 0.5 (x - c)^T D (x - c), D diagonal (condition number 100) and c partly outside
    # [0, 1]: the minimizer over the box is clip(c, 0, 1).
    rng = np.random.default_rng(3)
    n = 200
    c = rng.uniform(-0.3, 1.3, n)
    value_and_grad = _quadratic(np.geomspace(1.0, 100.0, n), c)
    x, values = _solve(value_and_grad, jnp.full((n,), 0.5, jnp.float32), 60, 10)
    np.testing.assert_allclose(x, np.clip(c, 0.0, 1.0), atol=1e-3)
    assert all(b <= a for a, b in itertools.pairwise(values))  # Armijo: monotone


@pytest.mark.parametrize("bounds", [(-0.5, 0.25), (-np.inf, np.inf)])
def test_other_bounds_reach_the_clipped_minimizer(bounds):
    # The same quadratic, c in [-0.3, 1.3]: the minimizer over ``bounds`` is clip(c, *bounds)
    # (c itself when unconstrained); on [0, 1] the solver would stop at clip(c, 0, 1).
    rng = np.random.default_rng(4)
    n = 200
    c = rng.uniform(-0.3, 1.3, n)
    value_and_grad = _quadratic(np.geomspace(1.0, 100.0, n), c)
    x0 = jnp.full((n,), 0.1, jnp.float32)
    x, _ = _solve(value_and_grad, x0, 60, 10, bounds=bounds)
    np.testing.assert_allclose(x, np.clip(c, *bounds), atol=1e-3)


def test_quadratic_with_most_coordinates_at_a_bound():
    # 90% of the minimizer's coordinates lie beyond a bound (far: the gradient there keeps
    # pushing outward), the rest inside, with a dense coupling among all of them: projecting
    # unrestricted L-BFGS directions stalls here; the free-set direction reaches clip(c).
    rng = np.random.default_rng(7)
    n = 300
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = q @ np.diag(np.geomspace(1.0, 50.0, n)) @ q.T
    c = np.where(rng.uniform(size=n) < 0.9, rng.choice([-2.0, 3.0], n), rng.uniform(0.2, 0.8, n))
    a32, c32 = jnp.asarray(a, jnp.float32), jnp.asarray(c, jnp.float32)
    value_and_grad = jax.jit(jax.value_and_grad(lambda x: 0.5 * (x - c32) @ a32 @ (x - c32)))
    # the box minimizer, by SciPy's L-BFGS-B in float64 (an independent solver)
    import scipy.optimize

    ref = scipy.optimize.minimize(
        lambda x: (0.5 * (x - c) @ a @ (x - c), a @ (x - c)),
        np.full(n, 0.5),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, 1.0)] * n,
        options={"maxiter": 2000, "gtol": 1e-12, "ftol": 1e-15},
    )
    x, values = _solve(value_and_grad, jnp.full((n,), 0.5, jnp.float32), 40, 10)
    assert values[-1] <= ref.fun + 1e-4 * abs(ref.fun)
    np.testing.assert_allclose(x, ref.x, atol=2e-3)


@pytest.mark.parametrize("scale", [1.0, 1e20])
def test_loss_scale_does_not_change_the_iterates(scale):
    # Style losses reach ~1e17 (gradients ~1e14 per pixel): the products in the curvature
    # test overflowed float32 and every pair was dropped. L-BFGS is scale-invariant: the
    # same problem times 1e20 must take the same path and reach the minimizer.
    rng = np.random.default_rng(8)
    n = 100
    d, c = np.geomspace(1.0, 1e3, n), rng.uniform(0.1, 0.9, n)
    x0 = jnp.full((n,), 0.5, jnp.float32)
    _x_ref, v_ref = _solve(_quadratic(d, c), x0, 30, 10)
    _x, values = _solve(_quadratic(d, c, scale), x0, 30, 10)
    np.testing.assert_allclose(np.asarray(values) / scale, v_ref, rtol=1e-3, atol=1e-9)
    assert values[-1] < 1e-2 * values[0]


def test_line_search_rejects_a_step_without_sufficient_decrease():
    # Curvatures 1e3-1e4 around a point 0.01 away: the first (unit) step overshoots and
    # raises f ~100-fold. The Armijo test must reject it: more than one trial, and every
    # accepted point lowers f by at least c1 g.(x_t - x).
    rng = np.random.default_rng(9)
    n = 50
    c = 0.5 + 0.01 * rng.uniform(-1, 1, n)
    value_and_grad = _quadratic(np.geomspace(1e3, 1e4, n), c)
    solver = _lbfgs.BoxLBFGS(_evaluator(value_and_grad), jnp.full((n,), 0.5, jnp.float32))
    for k in range(8):
        x, f, g = solver.x, solver.value, value_and_grad(solver.x)[1]
        it = solver.step()
        assert it is not None
        bound = f + _lbfgs.ARMIJO * float(jnp.vdot(g, it.x - x))
        assert it.value <= bound, (k, it.value, bound)
        if k == 0:
            assert it.trials > 1


def test_every_direction_is_the_dense_preconditioned_update():
    # Inside the box, along several iterations: each direction the solver takes is -H_k g_k
    # with H_k built densely in float64 from the pairs seen so far on gamma * P.
    shape = (4, 5, 3)
    n = int(np.prod(shape))
    rng = np.random.default_rng(11)
    d, c = np.geomspace(0.5, 5.0, n), rng.uniform(0.3, 0.7, n).reshape(shape)
    value_and_grad = _quadratic(d.reshape(shape), c)
    weights = _lbfgs.spectral_weights(4, 5, 0.5, 0.2)
    p = _dense_filter(*shape, 0.5, 0.2)
    solver = _lbfgs.BoxLBFGS(
        _evaluator(value_and_grad), jnp.full(shape, 0.5, jnp.float32), memory=3, weights=weights
    )
    pairs = []
    x_prev, g_prev = None, None
    for _k in range(6):
        x = np.asarray(solver.x, np.float64).reshape(-1)
        g = np.asarray(value_and_grad(solver.x)[1], np.float64).reshape(-1)
        if x_prev is not None:
            pairs = ([*pairs, (x - x_prev, g - g_prev)])[-3:]
        want = _dense_direction(pairs, g, p)
        got = np.asarray(solver.d, np.float64).reshape(-1)
        if pairs:  # scale-free: the solver's gradient is divided by f(x0)
            np.testing.assert_allclose(got, want, rtol=5e-3, atol=1e-6 * np.abs(want).max())
        else:
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-7)
        x_prev, g_prev = x, g
        assert solver.step() is not None


def test_unconstrained_quadratic_converges_superlinearly_with_memory():
    # Inside the box (c in [0.2, 0.8]) with an ill-conditioned dense SPD Hessian: more
    # memory, fewer iterations to 1e-8 of the start's value.
    rng = np.random.default_rng(4)
    n = 60
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    a = jnp.asarray(q @ np.diag(np.geomspace(1.0, 1e3, n)) @ q.T, jnp.float32)
    c = jnp.asarray(rng.uniform(0.2, 0.8, n), jnp.float32)
    value_and_grad = jax.jit(jax.value_and_grad(lambda x: 0.5 * (x - c) @ a @ (x - c)))
    x0 = jnp.full((n,), 0.5, jnp.float32)

    def iterations(m):
        _, values = _solve(value_and_grad, x0, 150, m)
        return next(i for i, v in enumerate(values) if v <= 1e-8 * values[0])

    assert iterations(20) < iterations(2)


def test_first_direction_is_the_empty_memory_direction():
    g = jnp.asarray(np.random.default_rng(5).normal(size=9), jnp.float32)
    inside = jnp.full((9,), 0.5, jnp.float32)
    np.testing.assert_allclose(
        _lbfgs._steepest(g, inside), _lbfgs.direction(_lbfgs.init_memory(9, 4), g), rtol=1e-6
    )
    np.testing.assert_allclose(_lbfgs._steepest(g, inside), -g / np.linalg.norm(g), rtol=1e-6)


def test_bound_coordinates_pushed_outward_do_not_move():
    x = jnp.asarray([0.0, 0.0, 1.0, 1.0, 0.5], jnp.float32)
    g = jnp.asarray([1.0, -1.0, -1.0, 1.0, 1.0], jnp.float32)
    np.testing.assert_array_equal(_lbfgs.free_mask(x, g), [0, 1, 0, 1, 1])
    d = _lbfgs._steepest(g, x)
    np.testing.assert_array_equal(np.asarray(d) == 0, [True, False, True, False, False])


def _runs(optimizer, **changes):
    rng = np.random.default_rng(1)
    content, style = (rng.uniform(0, 1, (SIZE, SIZE, 3)).astype(np.float32) for _ in range(2))
    net_params = stylize.create_backbone(CONFIG)
    config = dataclasses.replace(CONFIG, optimizer=optimizer, steps=10)
    [(field, values)] = changes.items()
    return [
        stylize.stylize(
            dataclasses.replace(config, **{field: v}), content, [style], net_params=net_params
        )
        for v in values
    ]


@pytest.mark.parametrize("optimizer", ["lbfgs_host", "lbfgs_scipy"])
def test_lbfgs_memory_reaches_the_driver(optimizer):
    # One curvature pair against ten: the same first two iterates, then other images.
    runs = _runs(optimizer, lbfgs_memory=(1, 10))
    a, b = (r.history["total"] for r in runs)
    np.testing.assert_allclose(a[:2], b[:2], rtol=1e-5)
    assert np.abs(runs[0].image - runs[1].image).max() > 1e-3


def test_preconditioner_reaches_the_driver():
    # Plain against preconditioned: other first steps, both lower the loss by >2x.
    runs = _runs("lbfgs_host", lbfgs_precondition=(0.0, 0.5))
    a, b = (np.asarray(r.history["total"]) for r in runs)
    assert abs(a[0] - b[0]) > 1e-4 * abs(a[0])
    assert a[-1] < 0.5 * a[0] and b[-1] < 0.5 * b[0]
    assert np.abs(runs[0].image - runs[1].image).max() > 1e-3


def test_preconditioner_cutoff_reaches_the_driver():
    # The same exponent with another corner frequency: another first step, another image.
    runs = _runs("lbfgs_host", lbfgs_cutoff=(0.01, 0.2))
    a, b = (np.asarray(r.history["total"]) for r in runs)
    assert abs(a[0] - b[0]) > 1e-4 * abs(a[0])
    assert np.abs(runs[0].image - runs[1].image).max() > 1e-3


def test_stall_guard_restarts_from_steepest_descent():
    # A direction along which nothing decreases (here: uphill) is what a corrupted memory
    # gives: the guard must notice within one iteration, drop the memory and go on.
    rng = np.random.default_rng(12)
    n = 40
    value_and_grad = _quadratic(np.geomspace(1.0, 10.0, n), rng.uniform(0.2, 0.8, n))
    solver = _lbfgs.BoxLBFGS(_evaluator(value_and_grad), jnp.full((n,), 0.5, jnp.float32))
    assert solver.step() is not None and solver.step() is not None
    f = solver.value
    solver.d = -solver.d * 0 + solver.g  # uphill
    it = solver.step()
    assert it is not None and it.restarted and it.value < f
    assert int(solver.memory.count) == 1  # the memory restarted with the new pair
    assert solver.restarts == 1


def test_stationary_point_is_reported_as_converged():
    # Started at the minimizer: no step can lower f; the solver says so instead of looping.
    c = jnp.asarray(np.linspace(0.2, 0.8, 30), jnp.float32)
    value_and_grad = _quadratic(np.ones(30), c)
    solver = _lbfgs.BoxLBFGS(_evaluator(value_and_grad), c)
    assert solver.step() is None
    assert "stationary" in solver.converged
    assert solver.evaluations <= 1 + 2 * _lbfgs.MAX_TRIALS


def test_a_good_direction_costs_one_evaluation_per_iteration():
    # Inside the box, well scaled: the Armijo test accepts the first trial nearly always
    # (a line search that never accepted by Armijo would backtrack on every iteration).
    rng = np.random.default_rng(13)
    n = 60
    value_and_grad = _quadratic(np.geomspace(1.0, 20.0, n), rng.uniform(0.3, 0.7, n))
    solver = _lbfgs.BoxLBFGS(_evaluator(value_and_grad), jnp.full((n,), 0.5, jnp.float32))
    trials = [solver.step().trials for _ in range(15)]
    assert sum(t == 1 for t in trials) >= 12, trials


def test_backtracking_lands_on_the_minimum_along_the_step():
    # f = 0.5 a |x - c|^2: the direction points at c, the unit step overshoots 100-fold;
    # quadratic interpolation through f, its slope and f(t) finds the exact minimizer
    # along the step (clamped to [0.1 t, 0.5 t] per trial: t = 1, 0.1, then exact).
    rng = np.random.default_rng(14)
    n = 50
    c = 0.5 + 0.01 * rng.uniform(-1, 1, n)
    value_and_grad = _quadratic(np.full(n, 1e4), c)
    solver = _lbfgs.BoxLBFGS(_evaluator(value_and_grad), jnp.full((n,), 0.5, jnp.float32))
    f0 = solver.value
    it = solver.step()
    assert it.trials == 3
    assert it.value < 1e-6 * f0
    np.testing.assert_allclose(it.x, c, atol=1e-5)


def test_a_decrease_float32_cannot_show_is_still_taken():
    # f = 1e4 + 0.5 |x - c|^2 from 1e-3 away: the decrease (~1e-5) is below float32's
    # resolution of 1e4 (~1e-3): the values come out equal and cannot pass Armijo; the
    # slope at the trial point (approximate Wolfe) can, and the step to c is taken.
    n = 20
    c = jnp.asarray(np.linspace(0.3, 0.7, n), jnp.float32)
    value_and_grad = jax.jit(jax.value_and_grad(lambda x: 1e4 + 0.5 * jnp.sum((x - c) ** 2)))
    x0 = c + 1e-3
    solver = _lbfgs.BoxLBFGS(_evaluator(value_and_grad), x0)
    for _ in range(3):
        if solver.step() is None:
            break
    assert float(jnp.abs(solver.x - c).max()) < 1e-4
