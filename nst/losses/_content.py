"""Content loss (Gatys et al.): distance between generated and content-image feature maps."""

import jax
import jax.numpy as jnp

from nst.losses import _checks
from nst.losses._distances import penalty

CONTENT_NORMS = ("gatys", "mean")


def content_loss(
    F: jax.typing.ArrayLike,
    P: jax.typing.ArrayLike,
    *,
    norm: str = "gatys",
    kind: str = "squared",
    delta: jax.typing.ArrayLike = 1.0,
) -> jax.Array:
    r"""Content loss between the generated features ``F`` and the content features ``P``.

    With :math:`\rho` the elementwise :func:`penalty` and the sums running over the positions
    :math:`(h, w)` and channels :math:`c` of one image:

    .. math::

        \mathcal{L}_\mathrm{gatys} = \tfrac12 \sum_{h,w,c} \rho(F_{hwc} - P_{hwc}),
        \qquad
        \mathcal{L}_\mathrm{mean} = \frac{1}{HWC} \sum_{h,w,c} \rho(F_{hwc} - P_{hwc}).

    With ``kind="squared"`` the gradient of the ``gatys`` form is :math:`F - P`.

    >>> import jax.numpy as jnp
    >>> float(content_loss(jnp.ones((2, 2, 3)), jnp.zeros((2, 2, 3))))
    6.0

    Args:
      F: generated features, ``[H, W, C]`` or ``[N, H, W, C]``.
      P: content features, the shape of ``F``, or ``[H, W, C]`` shared by a batched ``F``.
      norm: ``"gatys"`` (half the sum) or ``"mean"`` (mean over H, W, C).
      kind: penalty kind, see :func:`penalty`.
      delta: threshold of the ``huber`` / ``smooth_l1`` penalties.

    Returns:
      One loss per image: ``[]`` for ``[H, W, C]`` input, ``[N]`` for batched input. float32
      (float64 for float64 input).

    Raises:
      ValueError: ``F`` of rank other than 3 or 4, ``P`` of a mismatched shape, or an unknown
        ``norm``/``kind``.

    References:
      Gatys, Ecker, Bethge, "Image Style Transfer Using Convolutional Neural Networks",
      CVPR 2016, eq. (1).
    """
    _checks.check_option(norm, "norm", CONTENT_NORMS)
    F, P = _checks.as_float(F), _checks.as_float(P)
    _checks.check_rank(F, "F")
    _checks.check_target_shape(F, P, "F", "P")
    per_element = penalty(F - P, kind=kind, delta=delta)
    if norm == "gatys":
        return 0.5 * jnp.sum(per_element, axis=(-3, -2, -1))
    return jnp.mean(per_element, axis=(-3, -2, -1))
