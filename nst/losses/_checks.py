"""Trace-time validation helpers for the loss functions.

Shapes and ranks are static under ``jax.jit``, so these checks cost nothing at run time. Each
helper raises ``ValueError`` naming the offending argument, in the spirit of optax's
``check_rank`` / ``check_shapes_equal``.
"""

import numbers
from collections.abc import Collection, Mapping, Sequence

import jax
import jax.numpy as jnp

from nst._layout import nchw_hint

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


def check_image(x: jax.Array, name: str, layout: str = IMAGE_LAYOUT) -> None:
    """``check_rank`` for an image; a channels-first (NCHW) image is named as such.

    An image's channels (RGB: 3) come last; ``[N, 3, H, W]`` / ``[3, H, W]`` with a last
    axis that is not a channel count is refused instead of read as 3 rows of W channels.
    """
    check_rank(x, name, layout=layout)
    hint = nchw_hint(x.shape)
    if hint:
        raise ValueError(f"{name} must be {layout}, got shape {tuple(x.shape)}{hint}")


def check_mapping(value: object, name: str, example: str) -> None:
    """Raises ``ValueError`` unless ``value`` is a mapping (``{name: value}``), naming it."""
    if not isinstance(value, Mapping):
        raise ValueError(
            f"{name} must be a mapping such as {example}, got {type(value).__name__} {value!r:.80}"
        )


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
