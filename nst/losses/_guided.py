"""Spatial control (Gatys et al. 2017): guided Gram matrices of masked features, per region."""

import jax
import jax.numpy as jnp

from nst.losses import _checks
from nst.losses._distances import penalty
from nst.losses._style import STYLE_NORMS

GUIDED_NORMS = ("none", "mass")


def resize_mask(mask: jax.typing.ArrayLike, size: tuple[int, int]) -> jax.Array:
    r"""A guidance mask resampled to a feature map's ``(h, w)``.

    Bilinear resampling, antialiased when shrinking (a triangle filter widened by the scale
    factor, as PIL's ``BILINEAR``): each position of a layer gets the average mask value of
    the pixels it sees, the "simply downsampled" guidance channels of Gatys et al. (2017) and
    the masks of Luan et al. (2017).

    >>> import jax.numpy as jnp
    >>> mask = jnp.zeros((8, 6)).at[:, :3].set(1.0)  # left half; the edge blurs
    >>> [round(float(v), 3) for v in resize_mask(mask, (4, 2))[0]]
    [0.875, 0.125]

    Args:
      mask: ``[H, W]`` or ``[..., H, W]`` (regions or images first), values in [0, 1].
      size: ``(h, w)`` of the target feature map.

    Returns:
      ``[..., h, w]``, float32 (float64 for float64 input).

    Raises:
      ValueError: ``mask`` of rank < 2 or a non-positive ``size``.

    References:
      Gatys, Ecker, Bethge, Hertzmann, Shechtman, "Controlling Perceptual Factors in Neural
      Style Transfer", CVPR 2017, sec. 4.1.
    """
    mask = _checks.as_float(mask)
    if mask.ndim < 2:
        raise ValueError(f"mask must have rank >= 2 ([..., H, W]), got shape {tuple(mask.shape)}")
    h, w = (int(s) for s in size)
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {tuple(size)}")
    if mask.shape[-2:] == (h, w):
        return mask
    return jax.image.resize(mask, (*mask.shape[:-2], h, w), method="linear", antialias=True)


def _check_masks(F: jax.Array, masks: jax.Array, name: str, regions: bool) -> None:
    hw = tuple(F.shape[-3:-1])
    lead = (F.shape[0],) if F.ndim == 4 else ()
    ranks = (3,) if regions else (2,)
    ok = masks.shape[-2:] == hw and (
        masks.ndim in ranks or (lead and masks.ndim == ranks[0] + 1 and masks.shape[0] == lead[0])
    )
    if not ok:
        layout = "[R, h, w]" if regions else "[h, w]"
        raise ValueError(
            f"{name} must be {layout} (or one per image) at F's resolution {hw} (see "
            f"resize_mask) for F of shape {tuple(F.shape)}; got shape {tuple(masks.shape)}"
        )


def _guided(F: jax.Array, mask: jax.Array, norm: str) -> jax.Array:
    """Guided Gram of F [..., H, W, C] with mask [..., H, W] (broadcast): [..., C, C]."""
    height, width, channels = F.shape[-3:]
    flat = F.reshape(*F.shape[:-3], height * width, channels)
    weights = jnp.square(mask).reshape(*mask.shape[:-2], height * width)
    gram = jnp.einsum("...mi,...m,...mj->...ij", flat, weights, flat)
    if norm == "mass":
        mass = jnp.sum(weights, axis=-1)[..., None, None]
        return gram / jnp.maximum(mass, jnp.finfo(gram.dtype).tiny)
    return gram


def guided_gram_matrix(
    F: jax.typing.ArrayLike, mask: jax.typing.ArrayLike, *, norm: str = "none"
) -> jax.Array:
    r"""Guided Gram matrix: the Gram of the features weighted by a guidance channel.

    With :math:`T` the guidance channel at the feature map's resolution (:func:`resize_mask`)
    and :math:`F_T = T \circ F` (every channel multiplied by :math:`T`), over the :math:`M =
    HW` positions:

    .. math::

        G^T_{ij} = \frac{1}{Z} \sum_{k=1}^{M} T_k^2 F_{ki} F_{kj}, \qquad
        Z = \begin{cases} 1 & \texttt{none} \\ \sum_k T_k^2 & \texttt{mass} \end{cases}

    ``mass`` is the Gram per position of the region, comparable between regions and images
    of different sizes (an empty region gives 0). With :math:`T \equiv 1` it is
    ``gram_matrix(F, norm="hw")``.

    >>> import jax.numpy as jnp
    >>> F = jnp.array([[[1.0], [3.0]]])
    >>> guided_gram_matrix(F, jnp.array([[1.0, 0.0]])).tolist()
    [[1.0]]

    Args:
      F: features, ``[H, W, C]`` or ``[N, H, W, C]``.
      mask: guidance channel ``[H, W]`` at ``F``'s resolution (shared by a batch) or
        ``[N, H, W]``.
      norm: ``"none"`` or ``"mass"``.

    Returns:
      ``[C, C]`` or ``[N, C, C]``.

    Raises:
      ValueError: bad ranks, a mask not at ``F``'s resolution, or an unknown ``norm``.

    References:
      Gatys, Ecker, Bethge, Hertzmann, Shechtman, "Controlling Perceptual Factors in Neural
      Style Transfer", CVPR 2017, sec. 4.1, eq. (5).
    """
    _checks.check_option(norm, "norm", GUIDED_NORMS)
    F, mask = _checks.as_float(F), _checks.as_float(mask)
    _checks.check_rank(F, "F")
    _check_masks(F, mask, "mask", regions=False)
    return _guided(F, mask, norm)


def guided_style_loss(
    F: jax.typing.ArrayLike,
    masks: jax.typing.ArrayLike,
    A: jax.typing.ArrayLike,
    *,
    norm: str = "gatys",
    kind: str = "squared",
    delta: jax.typing.ArrayLike = 1.0,
) -> jax.Array:
    r"""Style loss of one layer with spatial control: one target Gram per region.

    Region :math:`r` has the guidance channel :math:`T_r` (``masks[r]``) on the generated
    image and the target :math:`A_r`, the ``mass``-normalized guided Gram of the style
    features with the style image's own mask for that region (the whole style image when it
    has none). With :math:`G_r` = ``guided_gram_matrix(F, T_r, norm="mass")``,
    :math:`m_r = \frac{1}{M}\sum_k T_{r,k}^2` the region's share of the image and
    :math:`\rho` the elementwise :func:`penalty`:

    .. math::

        E = \sum_r m_r \, \frac{s}{C^2} \sum_{i,j} \rho(G_{r,ij} - A_{r,ij}), \qquad
        s = \begin{cases} 1/4 & \texttt{gatys} \\ 1 & \texttt{johnson} \\
            1 / C^2 & \texttt{mean} \end{cases}

    One region covering the image (:math:`T \equiv 1`) with squared differences gives
    exactly :func:`style_layer_loss` (targets rescaled to its normalization). Positions
    outside every region feel no style term.

    >>> import jax.numpy as jnp
    >>> F = jnp.ones((2, 2, 1))
    >>> float(guided_style_loss(F, jnp.ones((1, 2, 2)), jnp.zeros((1, 1, 1))))
    0.25

    Args:
      F: generated features, ``[H, W, C]`` or ``[N, H, W, C]``.
      masks: guidance channels ``[R, H, W]`` at ``F``'s resolution (shared by a batch) or
        ``[N, R, H, W]``; values in [0, 1].
      A: per-region targets ``[R, C, C]`` (per position, ``guided_gram_matrix(...,
        norm="mass")``) or ``[N, R, C, C]``.
      norm: ``"gatys"``, ``"johnson"`` or ``"mean"``.
      kind: penalty kind, see :func:`penalty`.
      delta: threshold of the ``huber`` / ``smooth_l1`` penalties.

    Returns:
      One loss per image: ``[]`` or ``[N]``.

    Raises:
      ValueError: bad ranks or shapes, or an unknown ``norm``/``kind``.

    References:
      Gatys, Ecker, Bethge, Hertzmann, Shechtman, "Controlling Perceptual Factors in Neural
      Style Transfer", CVPR 2017, sec. 4.1. Luan, Paris, Shechtman, Bala, "Deep Photo Style
      Transfer", CVPR 2017, eq. (3).
    """
    _checks.check_option(norm, "norm", STYLE_NORMS)
    F, masks, A = _checks.as_float(F), _checks.as_float(masks), _checks.as_float(A)
    _checks.check_rank(F, "F")
    _check_masks(F, masks, "masks", regions=True)
    height, width, channels = F.shape[-3:]
    regions = masks.shape[-3]
    want = (regions, channels, channels)
    if A.shape != want and not (F.ndim == 4 and A.shape == (F.shape[0], *want)):
        raise ValueError(
            f"A must have shape {want} (one target per region) for masks of shape "
            f"{tuple(masks.shape)} and F of shape {tuple(F.shape)}; got shape {tuple(A.shape)}"
        )
    grams = _guided(F[..., None, :, :, :], masks, "mass")  # [..., R, C, C]
    share = jnp.sum(jnp.square(masks), axis=(-2, -1)) / (height * width)  # [..., R]
    per_region = jnp.sum(penalty(grams - A, kind=kind, delta=delta), axis=(-2, -1))
    scale = {"gatys": 0.25, "johnson": 1.0, "mean": 1.0 / channels**2}[norm] / channels**2
    return scale * jnp.sum(share * per_region, axis=-1)
