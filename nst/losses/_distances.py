"""Elementwise penalties applied to a difference ``d`` (features minus target, Gram minus Gram)."""

import jax
import jax.numpy as jnp

from nst.losses import _checks

PENALTY_KINDS = ("squared", "abs", "huber", "smooth_l1")


def penalty(
    d: jax.typing.ArrayLike,
    *,
    kind: str = "squared",
    delta: jax.typing.ArrayLike = 1.0,
) -> jax.Array:
    r"""Elementwise penalty of a difference ``d``.

    .. math::

        \mathrm{squared}(d) &= d^2 \\
        \mathrm{abs}(d) &= |d| \\
        \mathrm{huber}_\delta(d) &= \begin{cases} \tfrac12 d^2 & |d| \le \delta \\
            \delta\,(|d| - \tfrac12 \delta) & \text{otherwise} \end{cases} \\
        \mathrm{smooth\_l1}_\beta(d) &= \begin{cases} \tfrac12 d^2 / \beta & |d| < \beta \\
            |d| - \tfrac12 \beta & \text{otherwise} \end{cases}, \quad \beta = \delta

    ``huber`` follows ``optax.losses.huber_loss``; ``smooth_l1`` follows PyTorch's
    ``SmoothL1Loss`` with ``beta=delta`` (it equals ``huber`` divided by ``delta``). Every kind
    has gradient 0 at ``d = 0`` (``abs`` takes the subgradient 0 there).

    >>> import jax.numpy as jnp
    >>> penalty(jnp.array([-3.0, 0.5]), kind="huber", delta=1.0).tolist()
    [2.5, 0.125]

    Args:
      d: differences, any shape ``[...]``.
      kind: one of ``"squared"``, ``"abs"``, ``"huber"``, ``"smooth_l1"``.
      delta: threshold between the quadratic and linear parts of ``huber`` and ``smooth_l1``
        (in the units of ``d``); must be > 0. Ignored by ``squared`` and ``abs``. May be traced.

    Returns:
      The penalty, same shape as ``d``, float32 (float64 if ``d`` is float64; bfloat16 and
      float16 are promoted to float32).

    Raises:
      ValueError: unknown ``kind`` or ``delta <= 0``.

    References:
      Huber, "Robust Estimation of a Location Parameter", Annals of Mathematical Statistics,
      1964. Girshick, "Fast R-CNN", ICCV 2015 (smooth L1).
    """
    _checks.check_option(kind, "kind", PENALTY_KINDS)
    d = _checks.as_float(d)
    if kind == "squared":
        return jnp.square(d)
    if kind == "abs":
        # |d| as sign(d) * d: the gradient is sign(d), i.e. the subgradient 0 at d = 0
        # (jnp.abs has gradient 1 there, which would push flat regions apart).
        return jnp.sign(d) * d
    _checks.check_positive(delta, "delta")
    # min/subtract form (as in optax) so the gradient is exact on both sides of |d| = delta.
    abs_d = jnp.abs(d)
    quadratic = jnp.minimum(abs_d, delta)
    linear = abs_d - quadratic
    huber = 0.5 * jnp.square(quadratic) + delta * linear
    if kind == "huber":
        return huber
    return huber / delta
