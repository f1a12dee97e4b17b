"""Photorealism regularizer (Luan et al.): the matting Laplacian of Levin et al. and V^T L V."""

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse
from jax.experimental import sparse as jsparse

from nst.losses import _checks


def matting_laplacian(
    image: jax.typing.ArrayLike,
    *,
    eps: float = 1e-7,
    radius: int = 1,
) -> scipy.sparse.csr_matrix:
    r"""Closed-form matting Laplacian of an RGB image (Levin, Lischinski, Weiss 2008).

    For every :math:`(2r+1) \times (2r+1)` window :math:`w_k` lying fully inside the image, with
    :math:`\mu_k` and :math:`\Sigma_k` the mean and (biased) covariance of its RGB colours and
    :math:`|w_k| = (2r+1)^2`, every pixel pair :math:`i, j \in w_k` receives

    .. math::

        L_{ij} \mathrel{+}= \delta_{ij} - \frac{1}{|w_k|}\left(1 + (I_i - \mu_k)^\top
            \left(\Sigma_k + \frac{\epsilon}{|w_k|} \mathrm{Id}_3\right)^{-1}
            (I_j - \mu_k)\right).

    :math:`L` is symmetric positive semi-definite, its rows sum to 0 (a constant image costs
    nothing), and :math:`V^\top L V \approx 0` for any ``V`` locally affine in the image's
    colours.

    Built vectorized in NumPy, in float64: one batched 3x3 inverse for all windows, then the
    overlapping windows' blocks are summed into a banded array (one vectorized add per window
    pixel, never a loop over image pixels or windows) that becomes a canonical CSR matrix
    directly. This is host-side preprocessing, not traceable by ``jax.jit``: build it once per
    content image, then pass :func:`laplacian_to_bcoo` of it to :func:`photorealism_loss`.

    >>> import numpy as np
    >>> L = matting_laplacian(np.random.default_rng(0).random((4, 5, 3)))
    >>> L.shape, bool(abs(L.sum(axis=1)).max() < 1e-9)
    ((20, 20), True)

    Args:
      image: RGB image in [0, 1], ``[H, W, 3]`` (NumPy or JAX array), with ``H`` and ``W`` at
        least ``2 * radius + 1``.
      eps: regularizer :math:`\epsilon` of the window covariances (in squared colour units);
        must be > 0. Larger values smooth the matte.
      radius: window radius :math:`r` in pixels (windows are ``2r+1`` pixels wide); >= 1.

    Returns:
      ``scipy.sparse.csr_matrix`` of shape ``(H*W, H*W)``, float64, pixels in row-major order
      (pixel ``(y, x)`` is index ``y * W + x``).

    Raises:
      ValueError: ``image`` not ``[H, W, 3]`` or smaller than one window, ``eps <= 0`` or
        ``radius < 1``.

    References:
      Levin, Lischinski, Weiss, "A Closed-Form Solution to Natural Image Matting", IEEE TPAMI
      30(2), 2008, eq. (12). Luan, Paris, Shechtman, Bala, "Deep Photo Style Transfer",
      CVPR 2017, sec. 3.1.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must have shape [H, W, 3] (RGB), got shape {image.shape}")
    _checks.check_positive(eps, "eps")
    if int(radius) != radius or radius < 1:
        raise ValueError(f"radius must be an integer >= 1, got {radius!r}")
    radius = int(radius)
    height, width, _ = image.shape
    size = 2 * radius + 1
    if height < size or width < size:
        raise ValueError(
            f"image must be at least {size}x{size} pixels for radius={radius}, "
            f"got shape {image.shape}"
        )
    n = size * size  # |w_k|, pixels per window
    num_pixels = height * width
    span = 4 * radius + 1  # pixels i, j share a window iff |y_i - y_j|, |x_i - x_j| <= 2r
    windows_y, windows_x = height - 2 * radius, width - 2 * radius  # window positions

    # [K, n, 3] colours of the K = windows_y * windows_x windows, window pixels row-major.
    windows = np.lib.stride_tricks.sliding_window_view(image, (size, size), axis=(0, 1))
    windows = windows.reshape(-1, 3, n).transpose(0, 2, 1)
    # Batched matmuls (several times faster than the equivalent np.einsum on 3x3 blocks).
    centred = windows - windows.mean(axis=1, keepdims=True)  # I_i - mu_k, [K, n, 3]
    centred_t = centred.transpose(0, 2, 1)  # [K, 3, n]
    covariance = (centred_t @ centred) / n  # Sigma_k, [K, 3, 3]
    inverse = np.linalg.inv(covariance + (eps / n) * np.eye(3))
    affinity = (centred @ inverse) @ centred_t  # [K, n, n]

    # Sum the windows' [n, n] blocks into a band: band[y, x, t] = L[(y, x), (y, x) + offset t],
    # t indexing the span x span neighbour offsets. The loop runs over the n pixels of a window
    # (9 for r = 1); each step adds the block rows of all K windows at once.
    band = np.zeros((height, width, span * span))
    in_window_y, in_window_x = np.divmod(np.arange(n), size)
    for a in range(n):
        block_row = -(1.0 + affinity[:, a, :]) / n  # [K, n]: pixel a against every pixel b
        block_row[:, a] += 1.0  # delta_ab
        offsets = (in_window_y - in_window_y[a] + 2 * radius) * span + (
            in_window_x - in_window_x[a] + 2 * radius
        )  # distinct for distinct b
        y, x = in_window_y[a], in_window_x[a]
        band[y : y + windows_y, x : x + windows_x, offsets] += block_row.reshape(
            windows_y, windows_x, n
        )

    # Band -> CSR, dropping offsets that leave the image. Offsets are ordered (dy, dx), so
    # each row's column indices come out sorted: canonical CSR without a sort.
    offset_y, offset_x = np.divmod(np.arange(span * span), span)
    neighbour_y = np.arange(height)[:, None, None] + (offset_y - 2 * radius)
    neighbour_x = np.arange(width)[None, :, None] + (offset_x - 2 * radius)
    inside = (
        (neighbour_y >= 0) & (neighbour_y < height) & (neighbour_x >= 0) & (neighbour_x < width)
    )
    index_dtype = np.int32 if num_pixels * span * span < 2**31 else np.int64
    columns = (neighbour_y * width + neighbour_x)[inside].astype(index_dtype)
    row_starts = np.zeros(num_pixels + 1, index_dtype)
    np.cumsum(inside.sum(axis=-1).ravel(), out=row_starts[1:])
    return scipy.sparse.csr_matrix(
        (band[inside], columns, row_starts), shape=(num_pixels, num_pixels)
    )


def laplacian_to_bcoo(
    L: scipy.sparse.spmatrix | scipy.sparse.sparray,
    *,
    dtype: jax.typing.DTypeLike = jnp.float32,
) -> jsparse.BCOO:
    """Converts a SciPy sparse matrix (e.g. :func:`matting_laplacian`) to a JAX ``BCOO``.

    The result is a JAX pytree: pass it to jitted functions as an argument (or close over it)
    and use it with :func:`photorealism_loss`.

    Args:
      L: square SciPy sparse matrix ``(H*W, H*W)``, any format.
      dtype: dtype of the stored values; float32 by default.

    Returns:
      ``jax.experimental.sparse.BCOO`` of the same shape, duplicates summed, indices sorted
      row-major, int32.

    Raises:
      ValueError: ``L`` is not a square 2-D SciPy sparse matrix.
    """
    if not scipy.sparse.issparse(L) or len(L.shape) != 2 or L.shape[0] != L.shape[1]:
        raise ValueError(
            f"L must be a square 2-D scipy.sparse matrix, got {type(L).__name__} of shape "
            f"{getattr(L, 'shape', None)}"
        )
    csr = scipy.sparse.csr_matrix(L)  # copy: canonicalizing must not modify the caller's L
    csr.sum_duplicates()
    csr.sort_indices()
    coo = csr.tocoo()
    indices = np.stack([coo.row, coo.col], axis=1).astype(np.int32)
    return jsparse.BCOO(
        (jnp.asarray(coo.data, dtype=dtype), jnp.asarray(indices)),
        shape=csr.shape,
        indices_sorted=True,
        unique_indices=True,
    )


def photorealism_loss(
    output: jax.typing.ArrayLike,
    laplacian: jsparse.BCOO | scipy.sparse.spmatrix | scipy.sparse.sparray,
) -> jax.Array:
    r"""Photorealism regularizer: the matting-Laplacian quadratic form of each colour channel.

    With :math:`V_c` the channel :math:`c` of ``output`` flattened row-major to :math:`HW`
    entries and :math:`\mathcal{M}` the matting Laplacian of the content image:

    .. math::

        \mathcal{L}_m = \sum_{c=1}^{3} V_c^\top \mathcal{M} V_c,
        \qquad \frac{\partial \mathcal{L}_m}{\partial V_c} = 2 \mathcal{M} V_c.

    It is small when the output is locally an affine function of the content image's colours.
    All channels (and images of a batch) share one sparse-dense product
    :math:`\mathcal{M} [V_1 \cdots V_{3N}]`. Differentiable and jittable.

    >>> import numpy as np
    >>> content = np.random.default_rng(0).random((4, 5, 3))
    >>> L = laplacian_to_bcoo(matting_laplacian(content))
    >>> bool(abs(photorealism_loss(np.full((4, 5, 3), 0.5), L)) < 1e-5)  # constant: ~0
    True

    Args:
      output: the generated image, ``[H, W, 3]`` or ``[N, H, W, 3]`` (all images share one
        Laplacian).
      laplacian: the content image's matting Laplacian ``(H*W, H*W)`` as a
        ``jax.experimental.sparse.BCOO`` (see :func:`laplacian_to_bcoo`); a SciPy sparse matrix
        is also accepted and converted, outside jit only (the conversion runs on every call).

    Returns:
      One value per image: ``[]`` or ``[N]``. float32 (float64 for float64 input).

    Raises:
      ValueError: ``output`` not ``[H, W, 3]`` / ``[N, H, W, 3]``, or ``laplacian`` not
        ``(H*W, H*W)``.

    References:
      Luan, Paris, Shechtman, Bala, "Deep Photo Style Transfer", CVPR 2017, eq. (2).
    """
    output = _checks.as_float(output)
    _checks.check_image(output, "output", layout="[H, W, 3] or [N, H, W, 3]")
    if output.shape[-1] != 3:
        raise ValueError(f"output must have 3 (RGB) channels, got shape {tuple(output.shape)}")
    if scipy.sparse.issparse(laplacian):
        laplacian = laplacian_to_bcoo(laplacian, dtype=output.dtype)
    height, width, _ = output.shape[-3:]
    num_pixels = height * width
    if tuple(laplacian.shape) != (num_pixels, num_pixels):
        raise ValueError(
            f"laplacian must have shape {(num_pixels, num_pixels)} (H*W, H*W) for output of "
            f"shape {tuple(output.shape)}; got shape {tuple(laplacian.shape)}"
        )
    if laplacian.dtype != output.dtype:
        laplacian = laplacian.astype(output.dtype)
    batch = output.shape[:-3]
    # [..., H, W, 3] -> [HW, B*3]: every channel of every image is one column.
    columns = jnp.moveaxis(output.reshape(-1, num_pixels, 3), 1, 0).reshape(num_pixels, -1)
    quadratic = jnp.sum(columns * (laplacian @ columns), axis=0)  # V_c^T L V_c, [B*3]
    return jnp.sum(quadratic.reshape(*batch, 3), axis=-1)
