"""Screen of ``lbfgs_host`` variants on one panel pair, counted in objective evaluations.

Why does the one-image default (``BoxLBFGS`` on the relative-balance objective) need more
than 0.2x of Adam-500's evaluations to reach Adam-500's final loss? Each variant below runs
in this one process from the content photo (targets and the jitted value-and-gradient built
once), for at most ``--max_evals`` evaluations, and the loss after each iteration is kept
against the evaluations spent; ``--adam`` adds 500 Adam steps (lr 1e-2, clipped to [0, 1],
as the engine runs them) for the target. Evaluations, not seconds: the machine is shared.

    python benchmarks/lbfgs_screen.py --pair tubingen_starry --size 128 --adam \
        --out runs/panel_screen/tubingen_starry_128.json
    python benchmarks/lbfgs_screen.py --report runs/panel_screen/*.json

Results: docs/benchmarks.md ("Screen: what would close the last percent").
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nst.stylize import _lbfgs as L
from nst_cli.flags import RELATIVE_STYLE_WEIGHT  # the command's beta

# (label, kind, overrides): kind "lbfgs" is BoxLBFGS as shipped (a: lbfgs_precondition,
# c: lbfgs_cutoff, m: lbfgs_memory); "diag" adds an Adam-like per-pixel scaling D to the
# initial inverse Hessian (H0 = gamma D^1/2 P D^1/2, D = (sqrt(v) + eps)^-p, v an EMA of g^2);
# "twometric" sends coordinates within e of a bound whose gradient pushes outward to the
# bound (Bertsekas 1982) and runs L-BFGS on the rest; "polish" switches to Adam at lr after
# sw evaluations; "nobox" is L-BFGS without the box (the curve also keeps each iterate's loss
# clipped to [0, 1], ``clipped``: is the box what holds it back?); "adam" runs optax's Adam
# from lr to 0 over n steps, cosine or linear (can a schedule do in n what 500 steps do?);
# "sigmoid" runs unconstrained L-BFGS on z with the image sigmoid(z) (always in [0, 1]);
# "penalty" runs L-BFGS without the box on the loss plus mu/2 mean(distance to [0, 1])^2
# (``clipped`` as for nobox); "scipy" and "optax" are the library forms as the engine runs
# them (``_scipy``, ``_optax``: short copies of the engine's loops, because its drivers run
# a whole config with logs and snapshots and SciPy's counts only all evaluations together,
# where this screen needs the count at every iterate and this one evaluate).
VARIANTS: tuple[tuple[str, str, dict], ...] = (
    ("lbfgs", "lbfgs", {}),
    ("lbfgs:a=0", "lbfgs", {"a": 0.0}),
    ("lbfgs:a=0.2", "lbfgs", {"a": 0.2}),
    ("lbfgs:a=0.6", "lbfgs", {"a": 0.6}),
    ("lbfgs:c=0.003", "lbfgs", {"c": 0.003}),
    ("lbfgs:c=0.03", "lbfgs", {"c": 0.03}),
    ("lbfgs:m=15", "lbfgs", {"m": 15}),
    ("lbfgs:m=100", "lbfgs", {"m": 100}),
    ("diag:p=1", "diag", {"p": 1.0}),
    ("diag:p=0.5", "diag", {"p": 0.5}),
    ("diag:p=1:c=0.03", "diag", {"p": 1.0, "c": 0.03}),
    ("twometric:e=0.02", "twometric", {"e": 0.02}),
    ("twometric:e=0.005", "twometric", {"e": 0.005}),
    ("polish:sw=80:lr=2e-3", "polish", {"sw": 80, "lr": 2e-3}),
    ("nobox", "nobox", {}),
    ("sigmoid", "sigmoid", {}),
    *((f"penalty:mu={mu:g}", "penalty", {"mu": mu}) for mu in (100.0, 1e3, 1e4)),
    ("scipy", "scipy", {"m": 10}),  # as the engine runs lbfgs_scipy (maxcor 10)
    ("optax", "optax", {}),  # as the engine runs lbfgs_optax (memory 10, zoom search, no box)
    *(
        (f"adam:{sched}:lr={lr:g}:n=100", "adam", {"sched": sched, "lr": lr, "n": 100})
        for sched in ("cos", "lin")
        for lr in (0.02, 0.05, 0.1)
    ),
)


def _direction_scaled(memory, g, weights, dsqrt):
    """The two-loop recursion of ``L.direction`` on H0 = gamma D^1/2 P D^1/2."""
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
    h0 = lambda v: dsqrt * L.precondition(dsqrt * v, weights)
    pq = h0(q)
    gamma = jnp.where(
        stored > 0,
        1.0 / (memory.rho[newest] * jnp.vdot(y_new, h0(y_new))),
        1.0 / jnp.linalg.norm(pq),
    )

    def oldest_first(j, r):
        i = (memory.count - stored + j) % m
        b = memory.rho[i] * jnp.vdot(memory.y[i], r)
        return jnp.where(j < stored, r + memory.s[i] * (alpha[i] - b), r)

    return -jax.lax.fori_loop(0, m, oldest_first, gamma * pq)


@functools.partial(jax.jit, static_argnames=("power",))
def _next_diag(memory, s, y, g, x, weights, v, beta, power):
    memory = L.push(memory, s, y)
    v = beta * v + (1 - beta) * g * g
    d = (jnp.sqrt(v) + 1e-3 * jnp.sqrt(jnp.mean(v))) ** (-power)
    d = d / jnp.mean(d)
    free = L.free_mask(x, g)
    return memory, free * _direction_scaled(memory, free * g, weights, jnp.sqrt(d)), v


@jax.jit
def _next_twometric(memory, s, y, g, x, weights, eps):
    memory = L.push(memory, s, y)
    lo = (x <= eps) & (g > 0)
    hi = (x >= 1 - eps) & (g < 0)
    free = jnp.where(lo | hi, 0.0, 1.0).astype(g.dtype)
    d = free * L.direction(memory, free * g, weights)
    return memory, jnp.where(lo, -x, jnp.where(hi, 1.0 - x, d))


class Variant(L.BoxLBFGS):
    """``BoxLBFGS`` with its next direction computed by ``next_direction``."""

    def __init__(self, *args, next_direction, **kwargs):
        super().__init__(*args, **kwargs)
        self.next_direction = next_direction
        self.v = self.g * self.g

    def step(self):
        if self.converged:
            return None
        found = self._search(self.d)
        restarted = False
        if found is None:
            restarted = True
            self.memory = L.init_memory(self.x.shape, self.m)
            d = L._steepest(self.g, self.x, self.weights, jnp.float32(self.last_length))
            found = self._search(d)
            if found is None:
                self.converged = "stationary"
                return None
        x_t, value, aux, g_t, trials = found
        s, y, length = L._pair(x_t, self.x, g_t, self.g)
        self.last_length = float(length)
        self.memory, self.d = self.next_direction(self, s, y, g_t, x_t)
        self.x, self.f, self.g, self.value, self.aux = x_t, value * self.scale, g_t, value, aux
        return L.Iterate(x_t, value, aux, trials, restarted)


def run_variant(kind, o, evaluate, x0, max_evals):
    shape = x0.shape
    weights = L.spectral_weights(*shape[:2], o.get("a", 0.35), o.get("c", 0.01))
    memory = int(o.get("m", 50))
    if kind == "adam":
        return _adam(evaluate, x0, o)
    if kind == "scipy":
        return _scipy(evaluate, x0, int(o["m"]), max_evals)
    if kind == "optax":
        return _optax(evaluate, x0, max_evals)
    if kind == "sigmoid":  # x = sigmoid(z), dL/dz = dL/dx x (1 - x); the start 1e-3 inside

        def evaluate_z(z):
            x = jax.nn.sigmoid(z)
            value, aux, g = evaluate(x)
            return value, aux, g * x * (1.0 - x)

        z0 = jax.scipy.special.logit(jnp.clip(x0, 1e-3, 1.0 - 1e-3))
        bounds = (-np.inf, np.inf)
        solver = L.BoxLBFGS(evaluate_z, z0, memory=memory, weights=weights, bounds=bounds)
    elif kind == "penalty":  # no box: mu/2 mean(distance to [0, 1]^2) added, clipped at the end

        def evaluate_p(x):
            value, aux, g = evaluate(x)
            out = jnp.minimum(x, 0.0) + jnp.maximum(x - 1.0, 0.0)
            n = x.size
            return value + 0.5 * o["mu"] * jnp.sum(out * out) / n, aux, g + o["mu"] * out / n

        bounds = (-np.inf, np.inf)
        solver = L.BoxLBFGS(evaluate_p, x0, memory=memory, weights=weights, bounds=bounds)
    elif kind in ("lbfgs", "polish", "nobox"):
        bounds = (-np.inf, np.inf) if kind == "nobox" else (0.0, 1.0)
        solver = L.BoxLBFGS(evaluate, x0, memory=memory, weights=weights, bounds=bounds)
    elif kind == "diag":

        def nd(self, s, y, g, x):
            memory, d, self.v = _next_diag(
                self.memory, s, y, g, x, self.weights, self.v, jnp.float32(0.9), o["p"]
            )
            return memory, d

        solver = Variant(evaluate, x0, memory=memory, weights=weights, next_direction=nd)
    elif kind == "twometric":
        nd = lambda self, s, y, g, x: _next_twometric(
            self.memory, s, y, g, x, self.weights, jnp.float32(o["e"])
        )
        solver = Variant(evaluate, x0, memory=memory, weights=weights, next_direction=nd)
    else:
        raise KeyError(kind)
    switch = int(o["sw"]) if kind == "polish" else max_evals
    curve, evals, clipped = [], [], []
    while solver.evaluations < min(max_evals, switch):
        it = solver.step()
        if it is None:
            break
        curve.append(it.value)
        evals.append(solver.evaluations)
        if kind in ("nobox", "penalty"):  # not counted: a measurement, not a step of the method
            clipped.append(float(evaluate(jnp.clip(solver.x, 0.0, 1.0))[0]))
    if kind in ("nobox", "penalty"):
        return {"curve": curve, "evals": evals, "clipped": clipped}
    if kind == "polish":  # Adam from the L-BFGS point, one evaluation per step
        x, opt, n = solver.x, optax.adam(o["lr"]), solver.evaluations
        state = opt.init(x)
        while n < max_evals:
            value, _, g = evaluate(x)
            n += 1
            curve.append(float(value))
            evals.append(n)
            updates, state = opt.update(g, state, x)
            x = jnp.clip(optax.apply_updates(x, updates), 0.0, 1.0)
    return {"curve": curve, "evals": evals}


def _scipy(evaluate, x0, memory: int, max_evals: int):
    """SciPy's L-BFGS-B on [0, 1] (as ``nst.stylize._scipy``): the loss at each accepted
    iterate against the evaluations spent (line-search trials included)."""
    import scipy.optimize
    import threadpoolctl

    shape, count, curve, evals = x0.shape, [0], [], []

    def fun(x):
        value, _, g = evaluate(jnp.asarray(x.reshape(shape), jnp.float32))
        count[0] += 1
        return float(value), np.asarray(g, np.float64).ravel()

    def callback(intermediate_result):
        curve.append(float(intermediate_result.fun))
        evals.append(count[0])

    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        scipy.optimize.minimize(
            fun,
            np.asarray(x0, np.float64).ravel(),
            jac=True,
            method="L-BFGS-B",
            bounds=scipy.optimize.Bounds(0.0, 1.0),
            callback=callback,
            options={"maxiter": max_evals, "maxfun": max_evals, "maxcor": memory},
        )
    return {"curve": curve, "evals": evals}


def _optax(evaluate, x0, max_evals: int):
    """optax's L-BFGS as the engine runs ``lbfgs_optax`` (``nst.stylize._step``: memory 10,
    zoom line search of at most 20 steps, no box, the value and gradient at each iterate
    reused from the line search, the output clipped to [0, 1] when saved): evaluations are
    the line search's trials; ``clipped`` keeps each iterate's loss clipped (not counted)."""
    from nst import optimizers

    opt = optimizers.create("lbfgs_optax", None)
    value_fn = evaluate.value  # the objective's value alone, differentiated by the search

    @jax.jit
    def step(x, state):
        value, g = optax.value_and_grad_from_state(value_fn)(x, state=state)
        updates, state = opt.update(g, state, x, value=value, grad=g, value_fn=value_fn)
        trials = optax.tree_utils.tree_get(state, "num_linesearch_steps")
        return optax.apply_updates(x, updates), state, trials

    x, state, n, curve, evals, clipped = x0, opt.init(x0), 1, [], [], []
    while n < max_evals:
        x, state, trials = step(x, state)
        n += int(trials)
        curve.append(float(optax.tree_utils.tree_get(state, "value")))
        evals.append(n)
        clipped.append(float(evaluate(jnp.clip(x, 0.0, 1.0))[0]))
    return {"curve": curve, "evals": evals, "clipped": clipped}


def _adam_curve(evaluate, x0, lr, n: int, final: bool) -> list[float]:
    """optax's Adam (``lr`` a number or a schedule) for ``n`` steps clipped to [0, 1], as the
    engine runs it: the loss before each step, and with ``final`` the end image's too."""
    opt, x = optax.adam(lr), x0
    state, curve = opt.init(x), []
    for _ in range(n):
        value, _, g = evaluate(x)
        curve.append(float(value))
        updates, state = opt.update(g, state, x)
        x = jnp.clip(optax.apply_updates(x, updates), 0.0, 1.0)
    if final:
        curve.append(float(evaluate(x)[0]))
    return curve


def _adam(evaluate, x0, o):
    """Adam with lr decayed to 0 over n steps (cosine or linear); n + 1 evaluations."""
    n = int(o["n"])
    schedule = {"cos": optax.cosine_decay_schedule, "lin": optax.linear_schedule}[o["sched"]]
    lr = schedule(o["lr"], n) if o["sched"] == "cos" else schedule(o["lr"], 0.0, n)
    return {"curve": _adam_curve(evaluate, x0, lr, n, final=True), "evals": list(range(1, n + 2))}


def screen(args):
    import panel

    from nst import image, stylize
    from nst.config import StylizeConfig
    from nst.stylize._objective import make_hyper, make_objective
    from nst_cli.flags import layer_table  # the CLI's --style_layers syntax

    c_path, s_path = panel.make(args.images)[args.pair]
    content = image.load(image.sample_or_path(c_path), max_size=args.size)
    style = image.load(image.sample_or_path(s_path), max_size=args.size)
    layers = layer_table(args.style_layers.split(","), 0.2) if args.style_layers else None
    config = StylizeConfig(
        size=args.size, balance=args.objective, style_weight=args.beta, style_layers=layers
    )
    net, params = stylize.create_backbone(config)
    targets = stylize.make_targets(config, net, params, content, [style])
    objective = make_objective(config, net)
    value_and_grad = jax.jit(jax.value_and_grad(objective, has_aux=True))
    hyper = make_hyper(config)

    def evaluate(x):
        (value, _), g = value_and_grad(x, params, targets, hyper)
        return value, None, g

    evaluate.value = lambda x: objective(x, params, targets, hyper)[0]

    if args.init == "histogram":  # the photo with the painting's per-channel histograms
        x0 = jnp.asarray(image.match_histogram(content, style), jnp.float32)
    else:
        x0 = jnp.asarray(content, jnp.float32)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(out.read_text()) if out.exists() else {}
    if args.adam and "adam500" not in results:
        curve = _adam_curve(evaluate, x0, 1e-2, 500, final=False)
        results["adam500"] = {"curve": curve, "evals": list(range(1, 501))}
        out.write_text(json.dumps(results))
    wanted = args.variants.split(",") if args.variants else [v[0] for v in VARIANTS]
    for label, kind, overrides in VARIANTS:
        if label not in wanted or label in results:
            continue
        t0 = time.perf_counter()
        results[label] = run_variant(kind, overrides, evaluate, x0, args.max_evals)
        results[label]["seconds"] = time.perf_counter() - t0
        print(label, results[label]["curve"][-1], flush=True)
        out.write_text(json.dumps(results))


def _at(curve, evals, n, target) -> str:
    """The loss after at most ``n`` evaluations against ``target``."""
    return f"{curve[evals <= n][-1] / target - 1:+.2%}" if (evals <= n).any() else "-"


def report(paths, adam_loss=None):
    """Per variant: evaluations to Adam-500's final loss, the loss after 100 and 150
    evaluations against it (100 = 0.2x of Adam's 500)."""
    for path in paths:
        results = json.loads(pathlib.Path(path).read_text())
        target = results["adam500"]["curve"][-1] if "adam500" in results else adam_loss
        print(f"{path}: Adam-500 final loss {target:.5g}")
        for label, rec in results.items():
            if label == "adam500":
                continue
            e = np.asarray(rec["evals"])
            curves = [(label, rec["curve"])]
            if rec.get("clipped"):  # nobox: its iterates clipped to [0, 1]
                curves.append((f"{label} (clipped)", rec["clipped"]))
            for name, curve in curves:
                c = np.asarray(curve)
                hit = np.nonzero(c <= target)[0]
                reach = int(e[hit[0]]) if len(hit) else None
                at100, at150 = (_at(c, e, n, target) for n in (100, 150))
                print(f"  {name:26s} to target: {reach} evals   at 100: {at100}   at 150: {at150}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", default="tubingen_starry")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--variants", default="", help="comma list of labels (all if empty)")
    parser.add_argument("--max_evals", type=int, default=160)
    parser.add_argument("--adam", action="store_true", help="also 500 Adam steps (the target)")
    parser.add_argument("--images", default="runs/panel_images")
    parser.add_argument(
        "--objective",
        default="relative",
        choices=("relative", "total"),
        help="the objective's balance (StylizeConfig.balance): relative (each layer term over "
        "its blank value, the default's) or total (each whole term over its blank total)",
    )
    parser.add_argument("--beta", type=float, default=RELATIVE_STYLE_WEIGHT, help="the command's")
    parser.add_argument("--style_layers", default="", help="as run.py's: layer[:weight],...")
    parser.add_argument(
        "--init", default="photo", choices=("photo", "histogram"), help="the L-BFGS start"
    )
    parser.add_argument("--out", default="runs/panel_screen/screen.json")
    parser.add_argument("--report", nargs="*", help="print the table of these result files")
    parser.add_argument("--adam_loss", type=float, help="the target when a file has no Adam")
    args = parser.parse_args()
    if args.report:
        report(args.report, args.adam_loss)
    else:
        screen(args)
