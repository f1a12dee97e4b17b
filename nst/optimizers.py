"""Optimizers for image optimization: name -> optax factory, one update signature.

Every optimizer is an ``optax.GradientTransformationExtraArgs`` whose learning rate lives
in its state (``optax.inject_hyperparams``), so configs that differ only in the learning
rate can share one compiled, vmapped step: the rate is data, not a compile-time constant.

``lbfgs`` is optax's L-BFGS with its zoom line search (learning rate ``None`` means the
line search picks the step). Its update needs ``value``, ``grad`` and ``value_fn`` extra
arguments, which the engine always passes; the first-order optimizers ignore them.
``lbfgs_scipy`` is not an optax optimizer: it is SciPy's L-BFGS-B driven from the host with
a jit-compiled value-and-gradient (see ``nst.stylize``), listed here so names validate in
one place.
"""

from collections.abc import Callable, Mapping
from types import MappingProxyType

import optax

__all__ = ["FIRST_ORDER", "NAMES", "OPTAX_OPTIMIZERS", "create"]


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
        "lbfgs": _lbfgs,
    }
)
FIRST_ORDER = ("adam", "adagrad", "rmsprop", "sgd")
NAMES = (*OPTAX_OPTIMIZERS, "lbfgs_scipy")


def create(name: str, learning_rate: float) -> optax.GradientTransformationExtraArgs:
    """Returns the optax optimizer ``name`` with the given (initial) learning rate.

    Args:
      name: one of ``adam``, ``adagrad``, ``rmsprop``, ``sgd``, ``lbfgs``.
      learning_rate: step size for the first-order optimizers (stored in the state, so it
        can be vmapped over); ignored by ``lbfgs``, whose line search picks the step.

    Returns:
      An optimizer with ``init(image)`` and ``update(g, state, image, **extra_args)``.
    """
    if name not in OPTAX_OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(NAMES)}; got {name!r}")
    return optax.with_extra_args_support(OPTAX_OPTIMIZERS[name](learning_rate))
