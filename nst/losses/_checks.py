"""Trace-time validation helpers for the loss functions.

Shapes and ranks are static under ``jax.jit``, so these checks cost nothing at run time. Each
helper raises ``ValueError`` naming the offending argument, in the spirit of optax's
``check_rank`` / ``check_shapes_equal``.
"""

import numbers
from collections.abc import Collection, Sequence

import jax
import jax.numpy as jnp

IMAGE_LAYOUT = "[H, W, C] or [N, H, W, C]"


def as_float(x: jax.typing.ArrayLike) -> jax.Array:
    """Returns ``x`` as a JAX array of at least float32 precision.

    bfloat16 and float16 inputs are promoted to float32 (sums of many squared terms lose too much
    in 8 mantissa bits); float64 stays float64; integers and booleans become float32.
    """
    x = jnp.asarray(x)
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def check_rank(
    x: jax.Array,
    name: str,
    ranks: Sequence[int] = (3, 4),
    layout: str = IMAGE_LAYOUT,
) -> None:
    """Raises ``ValueError`` unless ``x.ndim`` is one of ``ranks``."""
    if x.ndim not in ranks:
        wanted = " or ".join(str(r) for r in ranks)
        raise ValueError(f"{name} must have rank {wanted} ({layout}), got shape {tuple(x.shape)}")


def check_option(value: str, name: str, options: Collection[str]) -> None:
    """Raises ``ValueError`` listing the valid ``options`` unless ``value`` is one of them."""
    if value not in options:
        valid = ", ".join(repr(o) for o in options)
        raise ValueError(f"{name} must be one of {valid}; got {value!r}")


def check_positive(value: object, name: str) -> None:
    """Raises ``ValueError`` if ``value`` is a concrete Python/NumPy number that is not > 0.

    Traced values (e.g. a ``delta`` swept with ``jax.vmap``) cannot be checked and pass through.
    """
    if isinstance(value, numbers.Real) and not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


def check_target_shape(x: jax.Array, target: jax.Array, x_name: str, target_name: str) -> None:
    """Raises ``ValueError`` unless ``target`` has ``x``'s shape or, for batched ``x``, its
    unbatched shape (one target shared by the whole batch)."""
    shared = x.ndim == 4 and target.shape == x.shape[1:]
    if target.shape != x.shape and not shared:
        also = f" (or {tuple(x.shape[1:])}, shared by the batch)" if x.ndim == 4 else ""
        raise ValueError(
            f"{target_name} must have the shape of {x_name}, {tuple(x.shape)}{also}; "
            f"got shape {tuple(target.shape)}"
        )
