"""MRF (patch-matching) style loss of Li & Wand (2016): every feature patch of the generated
image is pulled towards its most similar style patch."""

import jax
import jax.numpy as jnp

from nst.losses import _checks

MRF_NORMS = ("mean", "sum")


def _patches(F: jax.Array, patch_size: int, stride: int) -> jax.Array:
    """``[..., H, W, C] -> [..., P, k*k*C]``: all ``k x k`` windows (valid, strided), flattened."""
    batch = F.shape[:-3]
    x = F.reshape(-1, *F.shape[-3:])
    p = jax.lax.conv_general_dilated_patches(
        x,
        filter_shape=(patch_size, patch_size),
        window_strides=(stride, stride),
        padding="VALID",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    return p.reshape(*batch, -1, p.shape[-1])


def _check_patch_options(F: jax.Array, patch_size: int, stride: int) -> None:
    if patch_size < 1 or stride < 1:
        raise ValueError(f"patch_size and stride must be >= 1, got {patch_size}, {stride}")
    if min(F.shape[-3:-1]) < patch_size:
        raise ValueError(
            f"F of shape {tuple(F.shape)} is smaller than one {patch_size}x{patch_size} patch"
        )


def mrf_patches(F: jax.typing.ArrayLike, *, patch_size: int = 3, stride: int = 1) -> jax.Array:
    r"""All ``patch_size x patch_size`` patches of a feature map, flattened: MRF targets.

    Patch :math:`p` at window position :math:`(y, x)` (valid windows, ``stride`` apart) holds
    :math:`F_{y+a, x+b, c}` for :math:`a, b < k`, flattened in a fixed order
    (``lax.conv_general_dilated_patches``'s: channel-major); :func:`mrf_loss` only compares
    patches of this one layout.

    >>> import jax.numpy as jnp
    >>> mrf_patches(jnp.zeros((4, 5, 2))).shape  # (4-2) * (5-2) windows of 3*3*2 numbers
    (6, 18)

    Args:
      F: features, ``[H, W, C]`` or ``[N, H, W, C]``.
      patch_size: side ``k`` of the square patches, in feature-map positions.
      stride: step between windows, in positions.

    Returns:
      ``[P, k*k*C]`` (``[N, P, k*k*C]`` for a batch), ``P`` the number of windows.

    Raises:
      ValueError: ``F`` of rank other than 3 or 4, smaller than a patch, or
        ``patch_size``/``stride`` < 1.

    References:
      Li, Wand, "Combining Markov Random Fields and Convolutional Neural Networks for Image
      Synthesis", CVPR 2016, sec. 3.
    """
    F = _checks.as_float(F)
    _checks.check_rank(F, "F")
    _check_patch_options(F, patch_size, stride)
    return _patches(F, patch_size, stride)


def _normalized(p: jax.Array) -> jax.Array:
    norm = jnp.sqrt(jnp.sum(jnp.square(p), axis=-1, keepdims=True))
    return p / jnp.maximum(norm, 1e-8)


def mrf_loss(
    F: jax.typing.ArrayLike,
    patches: jax.typing.ArrayLike,
    *,
    patch_size: int = 3,
    stride: int = 1,
    norm: str = "mean",
) -> jax.Array:
    r"""MRF style loss: each patch of ``F`` against its nearest style patch.

    With :math:`\Psi_i(F)` the patches of ``F`` (:func:`mrf_patches`) and :math:`\Psi_j(F_s)`
    the style patches, the match of patch :math:`i` maximizes the normalized
    cross-correlation

    .. math::

        \mathrm{NN}(i) = \arg\max_j
            \frac{\Psi_i(F) \cdot \Psi_j(F_s)}{\lVert\Psi_i(F)\rVert \, \lVert\Psi_j(F_s)\rVert},
        \qquad
        E = \frac{1}{Z} \sum_i \lVert \Psi_i(F) - \Psi_{\mathrm{NN}(i)}(F_s) \rVert^2,

    :math:`Z = 1` (``sum``, Li & Wand's eq. 2) or the number of patch entries summed
    (``mean``, pystiche's ``mrf_loss``). The matching is held fixed in the gradient (the
    argmax is piecewise constant): :math:`\partial E / \partial \Psi_i = 2 (\Psi_i -
    \Psi_{\mathrm{NN}(i)}) / Z`.

    >>> import jax.numpy as jnp
    >>> F = jnp.ones((3, 3, 1))
    >>> float(mrf_loss(F, jnp.stack([2 * jnp.ones(9), -jnp.ones(9)]), norm="sum"))
    9.0

    Args:
      F: generated features, ``[H, W, C]`` or ``[N, H, W, C]``.
      patches: style patches ``[P_s, k*k*C]`` from :func:`mrf_patches` with the same
        ``patch_size`` (shared by a batch; patches of several style images may be
        concatenated along the first axis).
      patch_size: side ``k`` of the patches, in positions.
      stride: step between the generated image's windows.
      norm: ``"mean"`` or ``"sum"``.

    Returns:
      One loss per image: ``[]`` or ``[N]``.

    Raises:
      ValueError: bad ranks, ``patches`` not ``[P_s, k*k*C]``, or an unknown ``norm``.

    References:
      Li, Wand, "Combining Markov Random Fields and Convolutional Neural Networks for Image
      Synthesis", CVPR 2016, eqs. (2)-(3). Meyer et al., pystiche (2021), ``MRFLoss``.
    """
    _checks.check_option(norm, "norm", MRF_NORMS)
    F, patches = _checks.as_float(F), _checks.as_float(patches)
    _checks.check_rank(F, "F")
    _check_patch_options(F, patch_size, stride)
    size = patch_size * patch_size * F.shape[-1]
    if patches.ndim != 2 or patches.shape[-1] != size:
        raise ValueError(
            f"patches must have shape [P_s, {size}] ({patch_size}x{patch_size} patches of "
            f"{F.shape[-1]} channels); got shape {tuple(patches.shape)}"
        )
    own = _patches(F, patch_size, stride)
    similarity = jax.lax.stop_gradient(_normalized(own)) @ _normalized(patches).T
    nearest = patches[jnp.argmax(jax.lax.stop_gradient(similarity), axis=-1)]
    total = jnp.sum(jnp.square(own - jax.lax.stop_gradient(nearest)), axis=(-2, -1))
    if norm == "mean":
        return total / (own.shape[-2] * own.shape[-1])
    return total
