"""Style statistics beyond the Gram matrix: feature means and covariances.

``feature_moments`` gives the mean and the second raw moment of a feature map (both linear in
the image statistics, so several style images blend by weighted sums); ``style_mean_loss`` adds
a mean term to the Gram loss ("mean plus Gram"); ``wasserstein_style_loss`` matches the
Gaussian (mean, covariance) of the features in the Wasserstein-2 distance, with the
eigendecomposition square root ``sqrtm_psd``.
"""

import jax
import jax.numpy as jnp

from nst.losses import _checks
from nst.losses._distances import penalty
from nst.losses._style import STYLE_NORMS


def feature_moments(F: jax.typing.ArrayLike) -> tuple[jax.Array, jax.Array]:
    r"""Mean and second raw moment of a feature map over its positions.

    With the :math:`M = HW` positions flattened, :math:`F` is :math:`M \times C` and

    .. math::

        \mu_i = \frac{1}{M} \sum_k F_{ki}, \qquad
        S_{ij} = \frac{1}{M} \sum_k F_{ki} F_{kj}, \qquad
        \Sigma = S - \mu \mu^\top.

    Unlike the covariance :math:`\Sigma`, :math:`(\mu, S)` of several images blend linearly
    (a weighted sum of moments is the moment of the mixture). :math:`S` is
    ``gram_matrix(F, norm="hw")``.

    >>> import jax.numpy as jnp
    >>> mean, srm = feature_moments(jnp.array([[[1.0], [3.0]]]))
    >>> mean.tolist(), srm.tolist()
    ([2.0], [[5.0]])

    Args:
      F: features, ``[H, W, C]`` or ``[N, H, W, C]``.

    Returns:
      ``(mean, srm)``: ``[C]`` and ``[C, C]`` (``[N, C]`` and ``[N, C, C]`` for a batch).

    Raises:
      ValueError: ``F`` of rank other than 3 or 4.

    References:
      Crowson, style-transfer-pytorch (2021), ``StyleLossW2.get_target``.
    """
    F = _checks.as_float(F)
    _checks.check_rank(F, "F")
    height, width, channels = F.shape[-3:]
    flat = F.reshape(*F.shape[:-3], height * width, channels)
    mean = jnp.mean(flat, axis=-2)
    srm = jnp.einsum("...mi,...mj->...ij", flat, flat) / (height * width)
    return mean, srm


def _eig_sqrt(A: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(sqrt(A), sqrt of the clamped eigenvalues, eigenvectors)`` of a symmetric ``A``."""
    A = 0.5 * (A + jnp.swapaxes(A, -1, -2))
    vals, vecs = jnp.linalg.eigh(A)
    roots = jnp.sqrt(jnp.maximum(vals, 0.0))
    return (vecs * roots[..., None, :]) @ jnp.swapaxes(vecs, -1, -2), roots, vecs


@jax.custom_jvp
def _sqrtm(A: jax.Array) -> jax.Array:
    return _eig_sqrt(A)[0]


@_sqrtm.defjvp
def _sqrtm_jvp(primals, tangents):
    # S = V diag(d) V^T solves S dS + dS S = dA: in the eigenbasis dS'_ij = dA'_ij / (d_i + d_j).
    # No 1 / (l_i - l_j) terms (the eigh derivative's), so repeated eigenvalues are fine; the
    # denominators are floored so a singular A gives large but finite derivatives.
    (A,), (dA,) = primals, tangents
    root, d, vecs = _eig_sqrt(A)
    vecs_t = jnp.swapaxes(vecs, -1, -2)
    dA = 0.5 * (dA + jnp.swapaxes(dA, -1, -2))
    denom = d[..., :, None] + d[..., None, :]
    floor = jnp.finfo(denom.dtype).eps * jnp.max(denom, axis=(-2, -1), keepdims=True)
    denom = jnp.maximum(denom, jnp.maximum(floor, jnp.finfo(denom.dtype).tiny))
    return root, vecs @ ((vecs_t @ dA @ vecs) / denom) @ vecs_t


def sqrtm_psd(A: jax.typing.ArrayLike) -> jax.Array:
    r"""Square root of a symmetric positive semi-definite matrix, by eigendecomposition.

    .. math::

        A = V \operatorname{diag}(\lambda) V^\top \;\Rightarrow\;
        A^{1/2} = V \operatorname{diag}(\sqrt{\max(\lambda, 0)}) V^\top

    ``A`` is symmetrized first, and negative rounding-error eigenvalues are clamped to 0. The
    derivative solves the Sylvester equation :math:`A^{1/2} X + X A^{1/2} = \dot A` in the
    eigenbasis, :math:`X'_{ij} = \dot A'_{ij} / (\sqrt{\lambda_i} + \sqrt{\lambda_j})`: it stays
    finite for repeated eigenvalues (where ``jnp.linalg.eigh``'s own derivative is not) and,
    with the denominators floored, for singular ``A``.

    >>> import jax.numpy as jnp
    >>> sqrtm_psd(jnp.array([[4.0, 0.0], [0.0, 9.0]])).tolist()
    [[2.0, 0.0], [0.0, 3.0]]

    Args:
      A: symmetric PSD matrices, ``[C, C]`` or ``[..., C, C]``.

    Returns:
      The symmetric PSD square root, shape of ``A``, float32 (float64 for float64 input).

    Raises:
      ValueError: ``A`` not square in its last two axes.

    References:
      Higham, "Functions of Matrices", SIAM 2008, sec. 6.1. Crowson, style-transfer-pytorch
      (2021), ``SqrtmEig``.
    """
    A = _checks.as_float(A)
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"A must be square matrices [..., C, C], got shape {tuple(A.shape)}")
    return _sqrtm(A)


def _check_mean(F: jax.Array, mean: jax.Array, name: str) -> None:
    channels = F.shape[-1]
    if mean.shape != (channels,) and not (F.ndim == 4 and mean.shape == (F.shape[0], channels)):
        raise ValueError(
            f"{name} must have shape ({channels},) (or [N, {channels}]) for F of shape "
            f"{tuple(F.shape)}; got shape {tuple(mean.shape)}"
        )


def _check_matrix(F: jax.Array, matrix: jax.Array, name: str) -> None:
    c = F.shape[-1]
    if matrix.shape != (c, c) and not (F.ndim == 4 and matrix.shape == (F.shape[0], c, c)):
        raise ValueError(
            f"{name} must have shape ({c}, {c}) (or [N, {c}, {c}]) for F of shape "
            f"{tuple(F.shape)}; got shape {tuple(matrix.shape)}"
        )


def style_mean_loss(
    F: jax.typing.ArrayLike,
    target_mean: jax.typing.ArrayLike,
    *,
    norm: str = "gatys",
    kind: str = "squared",
    delta: jax.typing.ArrayLike = 1.0,
) -> jax.Array:
    r"""Distance between the feature means of ``F`` and a target mean: the "mean" of
    mean-plus-Gram style losses.

    .. math::

        E^\mu = \frac{s}{C} \sum_{i=1}^{C} \rho(\mu_i - \mu^*_i), \qquad
        s = \begin{cases} 1/4 & \texttt{gatys} \\ 1 & \texttt{johnson} \\
            1 / C^2 & \texttt{mean} \end{cases}

    with :math:`\mu` the mean of ``F`` over its positions (:func:`feature_moments`). ``s``
    matches the Gram loss of the same ``norm`` written per position: :func:`style_layer_loss`
    is :math:`s \cdot \tfrac{1}{C^2} \sum_{ij} \rho(G^{hw}_{ij} - A^{hw}_{ij})` for squared
    differences, so ``style_layer_loss + style_mean_loss`` weighs both statistics alike.

    >>> import jax.numpy as jnp
    >>> float(style_mean_loss(jnp.ones((2, 2, 2)), jnp.zeros(2)))
    0.25

    Args:
      F: generated features, ``[H, W, C]`` or ``[N, H, W, C]``.
      target_mean: ``[C]`` (shared by a batch) or ``[N, C]``: the style features' mean.
      norm: ``"gatys"``, ``"johnson"`` or ``"mean"``, as in :func:`style_layer_loss`.
      kind: penalty kind, see :func:`penalty`.
      delta: threshold of the ``huber`` / ``smooth_l1`` penalties.

    Returns:
      One loss per image: ``[]`` or ``[N]``.

    Raises:
      ValueError: bad ranks or shapes, or an unknown ``norm``/``kind``.

    References:
      Li, Wang, Liu, Hou, "Demystifying Neural Style Transfer", IJCAI 2017 (style as matching
      feature statistics; BN mean and variance).
    """
    _checks.check_option(norm, "norm", STYLE_NORMS)
    F, target_mean = _checks.as_float(F), _checks.as_float(target_mean)
    _checks.check_rank(F, "F")
    _check_mean(F, target_mean, "target_mean")
    mean = jnp.mean(F, axis=(-3, -2))
    scale = {"gatys": 0.25, "johnson": 1.0, "mean": 1.0 / F.shape[-1] ** 2}[norm]
    return scale * jnp.mean(penalty(mean - target_mean, kind=kind, delta=delta), axis=-1)


def wasserstein_style_loss(
    F: jax.typing.ArrayLike,
    target_mean: jax.typing.ArrayLike,
    target_cov: jax.typing.ArrayLike,
    *,
    eps: float = 1e-4,
    target_cov_sqrt: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Squared Wasserstein-2 distance between Gaussians fitted to the features, per channel.

    With :math:`(\mu, \Sigma)` the mean and covariance of ``F`` over its positions
    (:func:`feature_moments`), :math:`(\mu^*, \Sigma^*)` the target's, and both covariances
    regularized by :math:`\epsilon I`:

    .. math::

        E = \frac{1}{C} \Big( \lVert \mu - \mu^* \rVert^2
            + \operatorname{tr}\big( \Sigma + \Sigma^*
            - 2 \big( \Sigma^{*1/2} \Sigma \Sigma^{*1/2} \big)^{1/2} \big) \Big)
          = \frac{W_2^2\big(\mathcal N(\mu, \Sigma), \mathcal N(\mu^*, \Sigma^*)\big)}{C}

    Square roots by :func:`sqrtm_psd`, whose derivative is finite at repeated eigenvalues.

    >>> import jax.numpy as jnp
    >>> F = jnp.array([[[1.0], [3.0]]])  # mean 2, variance 1
    >>> round(float(wasserstein_style_loss(F, jnp.array([0.0]), jnp.array([[4.0]]), eps=0.0)), 4)
    5.0

    Args:
      F: generated features, ``[H, W, C]`` or ``[N, H, W, C]``.
      target_mean: ``[C]`` (shared by a batch) or ``[N, C]``.
      target_cov: target covariance :math:`\Sigma^*` (without ``eps``), ``[C, C]`` or
        ``[N, C, C]``.
      eps: added to both covariances' diagonals (keeps the square roots' derivatives bounded).
      target_cov_sqrt: optional precomputed ``sqrtm_psd(target_cov + eps * I)``, to skip one
        eigendecomposition per call when the target is fixed.

    Returns:
      One loss per image: ``[]`` or ``[N]``.

    Raises:
      ValueError: bad ranks or shapes, or ``eps < 0``.

    References:
      Dowson, Landau, "The Frechet distance between multivariate normal distributions", J.
      Multivariate Analysis 1982. Crowson, style-transfer-pytorch (2021), ``StyleLossW2``.
    """
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps!r}")
    F = _checks.as_float(F)
    target_mean, target_cov = _checks.as_float(target_mean), _checks.as_float(target_cov)
    _checks.check_rank(F, "F")
    _check_mean(F, target_mean, "target_mean")
    _check_matrix(F, target_cov, "target_cov")
    eye = eps * jnp.eye(F.shape[-1], dtype=F.dtype)
    mean, srm = feature_moments(F)
    cov = srm - mean[..., :, None] * mean[..., None, :] + eye
    target_cov = target_cov + eye
    if target_cov_sqrt is None:
        root = sqrtm_psd(target_cov)
    else:
        root = _checks.as_float(target_cov_sqrt)
        _check_matrix(F, root, "target_cov_sqrt")
    cross = sqrtm_psd(root @ cov @ root)
    trace = lambda a: jnp.trace(a, axis1=-2, axis2=-1)
    mean_term = jnp.sum(jnp.square(mean - target_mean), axis=-1)
    cov_term = trace(cov) + trace(target_cov) - 2.0 * trace(cross)
    return (mean_term + cov_term) / F.shape[-1]
