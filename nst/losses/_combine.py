"""Weighted combination of loss terms, keeping every term for logging."""

import functools
import operator
from collections.abc import Mapping

import jax
import jax.numpy as jnp

from nst.losses import _checks


def weighted_total(
    terms: Mapping[str, jax.typing.ArrayLike],
    weights: Mapping[str, jax.typing.ArrayLike],
) -> tuple[jax.Array, dict[str, jax.Array]]:
    r"""Weighted sum of named loss terms, and each weighted term for logging.

    .. math::

        \mathcal{L}_\mathrm{total} = \sum_t w_t \mathcal{L}_t
        \quad \text{e.g.} \quad
        \alpha \mathcal{L}_\mathrm{content} + \beta \mathcal{L}_\mathrm{style}
        + \lambda_\mathrm{TV} \mathrm{TV} + \lambda_m \mathcal{L}_m + \ldots

    Every term needs a weight and every weight a term, so a misspelled name fails loudly
    instead of silently dropping a term. A weight of 0 keeps the term in the logs.

    >>> import jax.numpy as jnp
    >>> total, parts = weighted_total(
    ...     {"content": jnp.array(2.0), "style": jnp.array(3.0)}, {"content": 1.0, "style": 10.0}
    ... )
    >>> float(total), {k: float(v) for k, v in parts.items()}
    (32.0, {'content': 2.0, 'style': 30.0})

    Args:
      terms: term name -> loss, each ``[]`` or ``[N]`` (shapes must broadcast together).
      weights: term name -> weight, a number or a traced scalar (e.g. swept with ``jax.vmap``).

    Returns:
      ``(total, parts)``: the total, ``[]`` or ``[N]``; and term name -> weighted term
      :math:`w_t \mathcal{L}_t`, in the order of ``terms``.

    Raises:
      ValueError: ``terms`` or ``weights`` not a mapping, empty ``terms``, names in one
        mapping but not the other, or term shapes that do not broadcast.
    """
    _checks.check_mapping(terms, "terms", "{'content': loss, 'style': loss}")
    _checks.check_mapping(weights, "weights", "{'content': 1.0, 'style': 1e5}")
    if not terms:
        raise ValueError("terms must contain at least one loss term, got an empty mapping")
    unweighted = [name for name in terms if name not in weights]
    if unweighted:
        raise ValueError(f"weights has no entry for terms {unweighted}; weights: {list(weights)}")
    orphaned = [name for name in weights if name not in terms]
    if orphaned:
        raise ValueError(f"terms has no entry for weights {orphaned}; terms: {list(terms)}")
    parts = {name: weights[name] * jnp.asarray(term) for name, term in terms.items()}
    try:
        jnp.broadcast_shapes(*(part.shape for part in parts.values()))
    except ValueError as e:
        shapes = {name: tuple(part.shape) for name, part in parts.items()}
        raise ValueError(f"terms must have broadcastable shapes, got {shapes}") from e
    total = functools.reduce(operator.add, parts.values())
    return total, parts
