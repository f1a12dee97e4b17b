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
    first = _lbfgs._steepest(jnp.asarray(g.reshape(shape), jnp.float32), weights)
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


def _projected_lbfgs(value_and_grad, x, steps, m):
    """The driver's loop without the engine around it (same functions, same rule)."""
    f, g = value_and_grad(x)
    memory = _lbfgs.init_memory(x.size, m)
    d = _lbfgs.direction(memory, g)
    values = [float(f)]
    for _ in range(steps):
        t = 1.0
        while True:
            x_t, decrease = _lbfgs._trial(x, d, jnp.float32(t), g)
            f_t, g_t = value_and_grad(x_t)
            if float(f_t) <= float(f) + _lbfgs.ARMIJO * float(decrease) or t < _lbfgs.MIN_STEP:
                break
            t *= 0.5
        memory, d = _lbfgs._next_direction(memory, x_t - x, g_t - g, g_t)
        x, f, g = x_t, f_t, g_t
        values.append(float(f))
    return x, values


def test_box_constrained_quadratic_reaches_its_minimizer():
    # f = 0.5 (x - c)^T D (x - c), D diagonal (condition number 100) and c partly outside
    # [0, 1]: the minimizer over the box is clip(c, 0, 1).
    rng = np.random.default_rng(3)
    n = 200
    d = jnp.asarray(np.geomspace(1.0, 100.0, n), jnp.float32)
    c = jnp.asarray(rng.uniform(-0.3, 1.3, n), jnp.float32)
    value_and_grad = jax.jit(jax.value_and_grad(lambda x: 0.5 * jnp.sum(d * (x - c) ** 2)))
    x, values = _projected_lbfgs(value_and_grad, jnp.full((n,), 0.5, jnp.float32), 60, 10)
    np.testing.assert_allclose(x, np.clip(c, 0.0, 1.0), atol=1e-3)
    assert all(b <= a for a, b in itertools.pairwise(values))  # Armijo: monotone


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
        _, values = _projected_lbfgs(value_and_grad, x0, 150, m)
        return next(i for i, v in enumerate(values) if v <= 1e-8 * values[0])

    assert iterations(20) < iterations(2)


def test_first_direction_is_the_empty_memory_direction():
    g = jnp.asarray(np.random.default_rng(5).normal(size=9), jnp.float32)
    np.testing.assert_allclose(
        _lbfgs._steepest(g), _lbfgs.direction(_lbfgs.init_memory(9, 4), g), rtol=1e-6
    )
    np.testing.assert_allclose(_lbfgs._steepest(g), -g / np.linalg.norm(g), rtol=1e-6)


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
