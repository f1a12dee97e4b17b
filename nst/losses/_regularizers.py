"""Image priors: total variation in its L1, L2 and beta (Mahendran & Vedaldi) forms."""

import jax
import jax.numpy as jnp

from nst.losses import _checks
from nst.losses._distances import penalty

TV_KINDS = ("l1", "l2", "beta")


def _safe_pow(s: jax.Array, exponent: jax.typing.ArrayLike) -> jax.Array:
    """``s ** exponent`` for ``s >= 0``, with value and gradient 0 at ``s == 0``.

    The double ``where`` keeps the infinite derivative of ``s ** p`` (``p < 1``) at 0 out of
    the backward pass.
    """
    positive = s > 0
    safe = jnp.where(positive, s, 1.0)
    return jnp.where(positive, safe**exponent, 0.0)


def total_variation(
    x: jax.typing.ArrayLike,
    *,
    kind: str = "l1",
    beta: jax.typing.ArrayLike = 2.0,
) -> jax.Array:
    r"""Total variation of an image (or feature map), summed over pixels and channels.

    With :math:`x_{i,j,c}` the value at row :math:`i`, column :math:`j`, channel :math:`c`:

    .. math::

        \mathrm{TV}_{\ell_1} &= \sum_{i,j,c} |x_{i+1,j,c} - x_{i,j,c}|
            + \sum_{i,j,c} |x_{i,j+1,c} - x_{i,j,c}| \\
        \mathrm{TV}_{\ell_2} &= \sum_{i,j,c} (x_{i+1,j,c} - x_{i,j,c})^2
            + \sum_{i,j,c} (x_{i,j+1,c} - x_{i,j,c})^2 \\
        \mathrm{TV}_{\beta} &= \sum_{i<H-1,\ j<W-1,\ c}
            \left((x_{i,j+1,c} - x_{i,j,c})^2 + (x_{i+1,j,c} - x_{i,j,c})^2\right)^{\beta/2}

    The ``l1``/``l2`` sums run over every valid neighbouring pair; the ``beta`` sum only over
    pixels that have both a right and a lower neighbour. Gradients are finite everywhere,
    including flat images: the ``l1`` and ``beta`` terms use the subgradient 0 at a zero
    difference. Sums are not normalized by the image size.

    >>> import jax.numpy as jnp
    >>> x = jnp.array([[0.0, 1.0], [1.0, 1.0]])[..., None]
    >>> float(total_variation(x)), round(float(total_variation(x, kind="beta", beta=1.0)), 4)
    (2.0, 1.4142)

    Args:
      x: image or features, ``[H, W, C]`` or ``[N, H, W, C]``.
      kind: ``"l1"``, ``"l2"`` or ``"beta"``.
      beta: exponent of ``beta`` TV (Mahendran & Vedaldi use 1 to 2); must be > 0. May be traced.
        Ignored by ``l1`` and ``l2``.

    Returns:
      One value per image: ``[]`` or ``[N]``. float32 (float64 for float64 input).

    Raises:
      ValueError: ``x`` of rank other than 3 or 4, an unknown ``kind``, or ``beta <= 0``.

    References:
      Rudin, Osher, Fatemi, "Nonlinear total variation based noise removal algorithms",
      Physica D, 1992. Mahendran, Vedaldi, "Understanding Deep Image Representations by
      Inverting Them", CVPR 2015, sec. 3.
    """
    _checks.check_option(kind, "kind", TV_KINDS)
    x = _checks.as_float(x)
    _checks.check_image(x, "x")
    down = x[..., 1:, :, :] - x[..., :-1, :, :]  # [.., H-1, W, C]
    right = x[..., :, 1:, :] - x[..., :, :-1, :]  # [.., H, W-1, C]
    axes = (-3, -2, -1)
    if kind in ("l1", "l2"):
        elementwise = "abs" if kind == "l1" else "squared"
        down_sum = jnp.sum(penalty(down, kind=elementwise), axis=axes)
        return down_sum + jnp.sum(penalty(right, kind=elementwise), axis=axes)
    _checks.check_positive(beta, "beta")
    squared = jnp.square(down[..., :, :-1, :]) + jnp.square(right[..., :-1, :, :])
    return jnp.sum(_safe_pow(squared, 0.5 * beta), axis=axes)
