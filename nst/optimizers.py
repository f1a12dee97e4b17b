"""Optimizers for image optimization: name -> optax factory, one update signature.

Every optimizer is an ``optax.GradientTransformationExtraArgs`` whose learning rate lives
in its state (``optax.inject_hyperparams``), so configs that differ only in the learning
rate can share one compiled, vmapped step: the rate is data, not a compile-time constant.

L-BFGS (what Gatys et al. use) comes in two forms:

* ``lbfgs_optax``: optax's L-BFGS with its zoom line search. Its update needs ``value``,
  ``grad`` and ``value_fn`` extra arguments, which the engine always passes (the
  first-order optimizers ignore them). The line search runs inside ``lax.while_loop``,
  where XLA:CPU runs the VGG gradient several times slower than in a plain jitted call
  (docs/engine.md).
* ``lbfgs_scipy``: SciPy's L-BFGS-B driven from the host with a jit-compiled
  value-and-gradient (see ``nst.stylize``), with box bounds [0, 1] on the pixels.
* ``lbfgs_host``: L-BFGS driven from the host with a jit-compiled value-and-gradient and a
  jit-compiled two-loop recursion on the device (``nst.stylize._lbfgs``): projected onto
  [0, 1], Armijo backtracking, no SciPy bookkeeping between evaluations.

``lbfgs`` picks one by backend (``resolve``): ``lbfgs_host`` on CPU, where it was measured
fastest to a finished image (benchmarks/time_to_image.py), optax elsewhere, where
everything stays on the device; a vectorized sweep of several settings always uses optax.
"""

from collections.abc import Callable, Mapping
from types import MappingProxyType

import optax

__all__ = ["FIRST_ORDER", "HOST_DRIVEN", "NAMES", "OPTAX_OPTIMIZERS", "create", "resolve"]


def _lbfgs(learning_rate: float | None) -> optax.GradientTransformationExtraArgs:
    # Line search picks the step; a given rate caps it (max_learning_rate).
    linesearch = optax.scale_by_zoom_linesearch(max_linesearch_steps=20)
    return optax.lbfgs(learning_rate=None, linesearch=linesearch)


OPTAX_OPTIMIZERS: Mapping[str, Callable[..., optax.GradientTransformation]] = MappingProxyType(
    {
        "adam": optax.inject_hyperparams(optax.adam),
        "adagrad": optax.inject_hyperparams(optax.adagrad),
        "rmsprop": optax.inject_hyperparams(optax.rmsprop),
        "sgd": optax.inject_hyperparams(optax.sgd),
        "lbfgs_optax": _lbfgs,
    }
)
FIRST_ORDER = ("adam", "adagrad", "rmsprop", "sgd")
NAMES = (*FIRST_ORDER, "lbfgs", "lbfgs_optax", "lbfgs_scipy", "lbfgs_host")
# The L-BFGS forms driven from the host: one setting at a time, no optax state.
HOST_DRIVEN = ("lbfgs_scipy", "lbfgs_host")


def resolve(name: str, *, backend: str, vectorized: bool = False) -> str:
    """The concrete optimizer for ``name``: ``lbfgs`` becomes lbfgs_host or lbfgs_optax.

    Args:
      name: one of ``NAMES``.
      backend: ``jax.default_backend()`` ("cpu", "gpu", "tpu").
      vectorized: True for a sweep of several settings in one program (SciPy cannot).
    """
    if name not in NAMES:
        raise ValueError(f"optimizer must be one of {', '.join(NAMES)}; got {name!r}")
    if name != "lbfgs":
        return name
    return "lbfgs_host" if backend == "cpu" and not vectorized else "lbfgs_optax"


def create(name: str, learning_rate: float) -> optax.GradientTransformationExtraArgs:
    """Returns the optax optimizer ``name`` with the given (initial) learning rate.

    Args:
      name: one of ``adam``, ``adagrad``, ``rmsprop``, ``sgd``, ``lbfgs_optax``.
      learning_rate: step size for the first-order optimizers (stored in the state, so it
        can be vmapped over); ignored by ``lbfgs``, whose line search picks the step.

    Returns:
      An optimizer with ``init(image)`` and ``update(g, state, image, **extra_args)``.
    """
    if name not in OPTAX_OPTIMIZERS:
        raise ValueError(
            f"optax optimizer must be one of {', '.join(OPTAX_OPTIMIZERS)}; got {name!r}"
        )
    return optax.with_extra_args_support(OPTAX_OPTIMIZERS[name](learning_rate))
