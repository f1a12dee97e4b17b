"""Image measures the studies' claims are checked with: fidelity, spectrum, scale, affinity.

Host-side NumPy functions of finished images (``[H, W, 3]`` or ``[H, W]`` floats in
``[0, 1]``), each returning one Python float; none reads a flag, prints or keeps state.
Colour images are measured on their luminance Y (``nst.image.rgb_to_yiq``) where a measure
is defined on one channel (SSIM, spectrum, scale, edges).

- ``psnr``: peak signal-to-noise ratio against a reference, dB.
- ``ssim``: structural similarity (Wang et al. 2004), uniform window.
- ``high_frequency_share``: share of spectral energy above a frequency.
- ``structure_scale``: the radius at which the image's autocorrelation falls to one half
  (of its value at 1 px, so that pixel noise does not count). A function of the power
  spectrum alone: it cannot tell a texture from its phase-randomized copy.
- ``laplacian_pyramid`` / ``pyramid_swd``: the sliced Wasserstein distance between the 7x7
  neighbourhoods of two images at every level of their Laplacian pyramids (Karras et al.
  2018's SWD): whether a synthesis reproduces its exemplar's structure at each scale;
  ``coarse_levels``: the levels that judge larger structure and hold enough
  neighbourhoods to tell.
- ``locally_affine_residual``: how far an output is from a locally affine function of a
  photo (the quantity Luan et al.'s matting-Laplacian term penalizes), measured directly.
- ``edge_correlation``: correlation of two images' gradient magnitudes.
- ``edge_alignment``: correlation of a saliency map's magnitude with an image's gradient
  magnitude (how sharply the map draws the image's edges).
- ``layout_similarity``: ``edge_correlation`` after a Gaussian blur of ``size / 128`` px:
  whether a stylized output keeps its photo's layout (strokes finer than the blur do not
  count).
- ``colour_distance`` / ``colour_shift``: sliced Wasserstein-1 distance between two
  images' pixel colour distributions, and how far an output's colours moved from its photo
  toward its style (0: the photo's, 1: as close to the style as the style is to itself).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nst import image as nst_image


def _gray(image: Any) -> np.ndarray:
    """``[H, W]`` float64: the luminance of an RGB image, or the single channel."""
    x = np.asarray(image, np.float64)
    if x.ndim == 3 and x.shape[-1] == 3:
        return nst_image.rgb_to_yiq(x)[..., 0]
    if x.ndim == 3 and x.shape[-1] == 1:
        return x[..., 0]
    if x.ndim == 2:
        return x
    raise ValueError(f"image must be [H, W], [H, W, 1] or [H, W, 3], got shape {x.shape}")


def _same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images must have the same shape, got {a.shape} and {b.shape}")


def psnr(a: Any, b: Any, *, peak: float = 1.0) -> float:
    r"""Peak signal-to-noise ratio of ``a`` against ``b``, all channels.

    .. math:: \mathrm{PSNR} = 10 \log_{10} \frac{\mathrm{peak}^2}{\mathrm{mean}((a - b)^2)}

    Args:
      a, b: images of one shape, values in ``[0, peak]``.

    Returns:
      Decibels; ``inf`` for identical images.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    _same_shape(a, b)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0.0 else float(10.0 * np.log10(peak**2 / mse))


def _box_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Means over every ``window x window`` block fully inside ``x`` ("valid"): [H-w+1, W-w+1]."""
    c = np.pad(np.cumsum(np.cumsum(x, 0), 1), ((1, 0), (1, 0)))
    w = window
    return (c[w:, w:] - c[:-w, w:] - c[w:, :-w] + c[:-w, :-w]) / (w * w)


def ssim(a: Any, b: Any, *, window: int = 7, peak: float = 1.0) -> float:
    r"""Mean structural similarity of the luminances of ``a`` and ``b`` (Wang et al. 2004).

    For every ``window x window`` block inside the image (uniform weights, population
    moments :math:`\mu, \sigma^2, \sigma_{ab}` over the block):

    .. math::
      \mathrm{SSIM} = \frac{(2\mu_a\mu_b + C_1)(2\sigma_{ab} + C_2)}
                           {(\mu_a^2 + \mu_b^2 + C_1)(\sigma_a^2 + \sigma_b^2 + C_2)},
      \quad C_1 = (0.01\,\mathrm{peak})^2,\ C_2 = (0.03\,\mathrm{peak})^2

    averaged over the blocks. 1 for identical images, about 0 for unrelated ones.

    Args:
      a, b: images of one shape (``[H, W]``, ``[H, W, 1]`` or RGB ``[H, W, 3]``), H, W >=
        ``window``.
      window: side of the square block, px.

    References:
      Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error visibility to
      structural similarity", IEEE TIP 2004.
    """
    x, y = _gray(a), _gray(b)
    _same_shape(x, y)
    if min(x.shape) < window:
        raise ValueError(f"images of {x.shape} are smaller than the {window} px window")
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    mx, my = _box_mean(x, window), _box_mean(y, window)
    vx = _box_mean(x * x, window) - mx**2
    vy = _box_mean(y * y, window) - my**2
    cxy = _box_mean(x * y, window) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(s.mean())


def hann_window(shape: tuple[int, ...]) -> np.ndarray:
    """The separable 2-D Hann window of ``shape[:2]``, ``[H, W]`` float64 (periodic form)."""
    h, w = int(shape[0]), int(shape[1])
    wy = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(h) / h)
    wx = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(w) / w)
    return wy[:, None] * wx[None, :]


def luminance_spectrum(image: Any, *, window: str | None = "hann") -> np.ndarray:
    """|FFT2| of the luminance (mean removed), ``[H, W]``, unshifted (zero frequency at
    ``[0, 0]``). ``window="hann"`` (default) tapers the image to 0 at its borders first, so
    the jump between opposite borders (the DFT's periodic wrap) adds no bright cross along
    the axes; None: the plain DFT."""
    if window not in (None, "hann"):
        raise ValueError(f"window must be 'hann' or None, got {window!r}")
    y = _gray(image)
    y = y - y.mean()
    if window == "hann":
        y = y * hann_window(y.shape)
    return np.abs(np.fft.fft2(y))


def _spectrum_power(image: Any, window: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """|FFT2|^2 of the luminance (mean removed, ``window`` applied) and the frequencies
    (cycles/px) of its bins."""
    power = luminance_spectrum(image, window=window) ** 2
    fy = np.fft.fftfreq(power.shape[0])[:, None]
    fx = np.fft.fftfreq(power.shape[1])[None, :]
    return power, fy, fx


def high_frequency_share(image: Any, *, cutoff: float = 0.25, window: str | None = None) -> float:
    r"""Share of the luminance's spectral energy above ``cutoff`` cycles/px.

    .. math:: \frac{\sum_{\max(|f_x|, |f_y|) > f_c} |\hat{Y}(f)|^2}{\sum_f |\hat{Y}(f)|^2}

    with :math:`\hat{Y}` the 2-D DFT of the luminance minus its mean (times a Hann window
    with ``window="hann"``: then the jump between opposite borders, which the plain DFT
    spreads along the frequency axes, does not count as high frequency); the default
    :math:`f_c = 0.25` is half the Nyquist frequency (0.5 cycles/px). 0 for a flat image.

    Returns:
      A fraction in ``[0, 1]``.
    """
    power, fy, fx = _spectrum_power(image, window)
    total = float(power.sum())
    if total <= 0.0:
        return 0.0
    high = np.maximum(np.abs(fy), np.abs(fx)) > cutoff
    return float(power[np.broadcast_to(high, power.shape)].sum() / total)


def mean_gradient(image: Any) -> float:
    r"""The mean absolute difference between neighbouring pixels, all channels: the
    anisotropic total variation per pixel,

    .. math:: \frac{1}{|\Omega_x|} \sum |x_{i, j+1} - x_{i, j}|
              + \frac{1}{|\Omega_y|} \sum |x_{i+1, j} - x_{i, j}|

    (means over every horizontal and every vertical pair, and over channels), in the
    image's units. 0 for a flat image; 1/(W - 1) for a single vertical edge of height 1.
    Unlike a spectral share it counts the many small steps of colour noise as much as one
    strong edge of the same total height: what an L1 total-variation term removes.
    """
    x = np.asarray(image, np.float64)
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3 or min(x.shape[:2]) < 2:
        raise ValueError(f"mean_gradient needs an [H, W(, C)] image of at least 2x2, got {x.shape}")
    return float(np.abs(np.diff(x, axis=1)).mean() + np.abs(np.diff(x, axis=0)).mean())


def autocorrelation(image: Any) -> np.ndarray:
    r"""Normalized autocorrelation of the luminance (mean removed), by displacement.

    .. math::
      R(d) = \frac{1}{\sigma^2 |\Omega_d|} \sum_{p \in \Omega_d} \tilde{Y}(p)\,\tilde{Y}(p + d)

    over the pixels :math:`\Omega_d` whose displaced partner is inside the image (no
    wrap-around), :math:`\tilde{Y} = Y - \bar{Y}`. Computed with a zero-padded FFT.

    Returns:
      ``[2H - 1, 2W - 1]``, displacement ``(0, 0)`` at the centre, ``R(0) = 1``; zeros for
      a flat image.
    """
    y = _gray(image)
    y = y - y.mean()
    h, w = y.shape
    shape = (2 * h - 1, 2 * w - 1)
    f = np.fft.rfft2(y, s=shape)
    raw = np.fft.irfft2(f * np.conj(f), s=shape)
    ones = np.fft.rfft2(np.ones_like(y), s=shape)
    counts = np.fft.irfft2(ones * np.conj(ones), s=shape)
    raw = np.fft.fftshift(raw)
    counts = np.maximum(np.rint(np.fft.fftshift(counts)), 1.0)
    r = raw / counts
    zero = r[h - 1, w - 1]
    return r / zero if zero > 0 else np.zeros_like(r)


def structure_scale(image: Any, *, level: float = 0.5, noise_floor: float = 0.1) -> float:
    r"""The scale of an image's structure: where its autocorrelation falls to ``level``.

    The radial average :math:`\bar{R}(r)` of ``autocorrelation(image)`` (annuli of width
    1 px, displacements up to half the shorter side), taken relative to its value at
    1 px, and the radius :math:`r^*` (px) where :math:`\bar{R}(r) / \bar{R}(1)` first drops
    below ``level`` (default 1/2), interpolated linearly between annuli:

    .. math:: \bar{R}(r^*) = \mathrm{level} \cdot \bar{R}(1)

    Why relative to 1 px: pixel-independent noise (what an optimizer started from noise
    leaves behind) adds to :math:`R(0)` only, so :math:`\bar{R}(r)/\bar{R}(1)` measures the
    structure underneath it and adding white noise leaves the value unchanged. When less
    than ``noise_floor`` of the variance is correlated over 1 px (:math:`\bar{R}(1) <`
    ``noise_floor``: the image is mostly pixel noise) the plain half width
    :math:`\bar{R}(r^*) = \mathrm{level}` is returned instead, below 1 px.

    Known values: Gaussian-blurred white noise of :math:`\sigma` px has
    :math:`R(r) = e^{-r^2 / 4\sigma^2}`, so :math:`r^* = \sqrt{1 + 4\sigma^2 \ln 2}`; a
    sinusoid of period P has :math:`J_0(2\pi r / P)`, so :math:`r^*` solves
    :math:`J_0(2\pi r^*/P) = J_0(2\pi/P)/2`. Invariant to shifting the pattern and to
    contrast; drawing the pattern twice as large about doubles it.

    What it cannot see: the autocorrelation is the inverse Fourier transform of the power
    spectrum (Wiener-Khinchin), so an image with the same spectrum and random phases (no
    edges, no objects, no arrangement) has the same structure scale (tested). To judge
    whether a synthesis reproduces its exemplar's structure use ``pyramid_swd``.

    Returns:
      Pixels; the largest radius measured when the autocorrelation never falls to the level
      (the structure is as large as the measurable range), 0 for a flat image.
    """
    r = autocorrelation(image)
    if not np.any(r):
        return 0.0
    h, w = (s // 2 for s in r.shape)
    dy = np.arange(r.shape[0])[:, None] - h
    dx = np.arange(r.shape[1])[None, :] - w
    radius = np.rint(np.hypot(dy, dx)).astype(int)
    top = max(2, min(h, w) // 2)
    inside = radius <= top
    sums = np.bincount(radius[inside], weights=r[inside], minlength=top + 1)
    counts = np.bincount(radius[inside], minlength=top + 1)
    profile = sums / np.maximum(counts, 1)
    threshold, first = level, 0
    if profile[1] >= noise_floor:
        threshold, first = level * profile[1], 1
    below = np.nonzero(profile[first:] < threshold)[0]
    if not len(below):
        return float(top)
    k = int(below[0]) + first
    hi, lo = profile[k - 1], profile[k]
    return float(k - 1 + (hi - threshold) / (hi - lo))


# The 5-tap binomial filter of Burt & Adelson's pyramid (OpenCV's pyrDown / pyrUp, and
# Karras et al.'s SWD code).
_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _binomial_blur(x: np.ndarray) -> np.ndarray:
    """Separable 5-tap binomial blur over the first two axes, mirrored borders."""
    from scipy import ndimage

    for axis in (0, 1):
        x = ndimage.convolve1d(x, _BINOMIAL, axis=axis, mode="mirror")
    return x


def _expand(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Upsample ``x`` by 2 to ``shape[:2]``: zeros between the samples, blurred, times 4."""
    up = np.zeros((*shape[:2], *x.shape[2:]), x.dtype)
    up[::2, ::2] = x
    return 4.0 * _binomial_blur(up)


def laplacian_pyramid(image: Any, *, min_size: int = 16) -> list[np.ndarray]:
    r"""Laplacian pyramid of an image (Burt & Adelson 1983), finest level first.

    With :math:`G_0` the image and :math:`G_{k+1} = \downarrow_2 (g * G_k)` (``g`` the
    5-tap binomial filter [1, 4, 6, 4, 1] / 16 along each axis, mirrored borders, every
    other pixel kept), the levels are :math:`L_k = G_k - \uparrow_2 G_{k+1}` (zeros inserted,
    blurred by ``g``, times 4) and the last level is the low-pass residual :math:`G_K`.
    Halving stops before a side would fall below ``min_size``. ``sum`` of the levels, each
    expanded back up, returns the image exactly (tested).

    Args:
      image: ``[H, W]`` or ``[H, W, C]``.
      min_size: smallest side of the coarsest level, px (16 as Karras et al.).

    Returns:
      ``[L_0, ..., L_K]``, float64, each half the size of the one before (rounded up).
    """
    g = np.asarray(image, np.float64)
    if g.ndim not in (2, 3) or min(g.shape[:2]) < 1:
        raise ValueError(f"image must be [H, W] or [H, W, C], got shape {g.shape}")
    levels = []
    while min(g.shape[:2]) // 2 >= min_size:
        smaller = _binomial_blur(g)[::2, ::2]
        levels.append(g - _expand(smaller, g.shape))
        g = smaller
    levels.append(g)
    return levels


def _neighbourhoods(level: np.ndarray, size: int, count: int, rng) -> np.ndarray:
    """``[n, size * size * C]``: ``size x size`` neighbourhoods at up to ``count`` random
    positions (all of them when there are fewer), each channel standardized by the mean and
    standard deviation of that channel over the sampled neighbourhoods."""
    if level.ndim == 2:
        level = level[..., None]
    rows, cols = level.shape[0] - size + 1, level.shape[1] - size + 1
    if rows < 1 or cols < 1:
        raise ValueError(f"a pyramid level of {level.shape[:2]} is smaller than {size} px")
    positions = rows * cols
    picked = np.arange(positions) if positions <= count else rng.choice(positions, count, False)
    y, x = np.divmod(picked, cols)
    offset = np.arange(size)
    patches = level[y[:, None, None] + offset[:, None], x[:, None, None] + offset[None, :]]
    mean = patches.mean(axis=(0, 1, 2))
    std = patches.std(axis=(0, 1, 2))
    patches = (patches - mean) / np.where(std > 0, std, 1.0)
    return patches.reshape(len(patches), -1)


def pyramid_swd(
    synthesis: Any,
    exemplar: Any,
    *,
    patch: int = 7,
    patches: int = 8192,
    projections: int = 512,
    min_size: int = 16,
    seed: int = 0,
) -> list[float]:
    r"""Sliced Wasserstein distance between two images' neighbourhoods, per pyramid level.

    The SWD of Karras et al. (2018, sec. 5 and appendix D), for one synthesis against its
    exemplar: both images are split into Laplacian pyramids (``laplacian_pyramid``; levels
    down to ``min_size`` px); at each level ``patches`` random ``patch x patch``
    neighbourhoods of each image (every one when the level has fewer) are flattened to
    vectors, each channel standardized by its mean and standard deviation over that image's
    neighbourhoods at that level (so the level's contrast does not count, only the shapes);
    the distance of the two clouds of vectors is

    .. math::
      \mathrm{SWD} = \frac{1}{K} \sum_{k=1}^{K} \frac{1}{n} \sum_{i=1}^{n}
        \left| \mathrm{sort}(A \theta_k)_i - \mathrm{sort}(B \theta_k)_i \right|

    over ``projections`` random unit directions :math:`\theta_k` (the 1-D Wasserstein-1
    distance of each projection, equal sample counts :math:`n`: the larger set is
    subsampled). Karras et al. report it times :math:`10^3`.

    Level ``k`` sees structure of about :math:`\text{patch} \cdot 2^k` px: the fine levels
    edges and grain, the coarse ones the arrangement of larger parts. A block-shuffled copy
    of a texture moves away at every level once its blocks are smaller than what the level
    sees, a phase-randomized copy (the same power spectrum, so the same ``structure_scale``)
    loses its edges and shapes, noise is furthest; a new sample of the same texture scores
    lowest (tested). The distance between two samples of one texture is not 0: it falls as
    the number of distinct neighbourhoods grows, so the coarsest levels of a small image are
    noisy (a 256 px image has ~100 neighbourhoods at 16 px).

    Args:
      synthesis, exemplar: ``[H, W]`` or ``[H, W, C]`` with the same number of channels
        (colour images are compared in all channels); sizes may differ, and the two
        pyramids are compared level by level up to the shorter one.
      patch: side of the neighbourhoods, px.
      patches: neighbourhoods sampled per image and level.
      projections: random directions.
      min_size: smallest side of a pyramid level, px (at least ``patch``).
      seed: seeds the positions and directions (the same call gives the same numbers).

    Returns:
      One distance per level, finest first; 0 at every level for identical images.

    References:
      Karras, Aila, Laine, Lehtinen, "Progressive Growing of GANs for Improved Quality,
      Stability, and Variation", ICLR 2018 (the SWD metric). Burt & Adelson, "The Laplacian
      Pyramid as a Compact Image Code", IEEE Trans. Commun. 1983. Rabin, Peyré, Delon,
      Bernot, "Wasserstein Barycenter and its Application to Texture Mixing", SSVM 2011
      (sliced Wasserstein).
    """
    a, b = np.asarray(synthesis, np.float64), np.asarray(exemplar, np.float64)
    if (a.shape[2:] if a.ndim == 3 else ()) != (b.shape[2:] if b.ndim == 3 else ()):
        raise ValueError(f"images must have the same channels, got {a.shape} and {b.shape}")
    if min_size < patch:
        raise ValueError(f"min_size must be >= patch ({patch}), got {min_size}")
    distances = []
    levels = zip(laplacian_pyramid(a, min_size=min_size), laplacian_pyramid(b, min_size=min_size))
    for k, (la, lb) in enumerate(levels):
        # The same positions in both images when they have the same size (identical images
        # are 0 apart); the directions drawn apart.
        da = _neighbourhoods(la, patch, patches, np.random.default_rng((seed, k)))
        db = _neighbourhoods(lb, patch, patches, np.random.default_rng((seed, k)))
        rng = np.random.default_rng((seed, k, 1))
        n = min(len(da), len(db))
        da = da if len(da) == n else da[rng.choice(len(da), n, replace=False)]
        db = db if len(db) == n else db[rng.choice(len(db), n, replace=False)]
        theta = rng.normal(size=(da.shape[1], projections))
        theta /= np.linalg.norm(theta, axis=0)
        pa, pb = np.sort(da @ theta, axis=0), np.sort(db @ theta, axis=0)
        distances.append(float(np.mean(np.abs(pa - pb))))
    return distances


def coarse_levels(
    shape: tuple[int, ...], *, patch: int = 7, min_size: int = 16, min_neighbourhoods: int = 1000
) -> list[int]:
    """The levels of ``pyramid_swd`` that judge structure larger than the finest detail.

    Levels ``k >= 1`` (a neighbourhood sees ``patch * 2**k`` px or more) of an image of
    ``shape`` that hold at least ``min_neighbourhoods`` positions: below that, two samples
    of one texture are as far apart as a shuffled copy (``tests/measures_test.py``: at
    676 neighbourhoods, a 32 px level of a 256 px texture, a new sample and 32 px blocks
    score alike). ``[1]`` when no level qualifies, ``[0]`` for a one-level pyramid.
    """
    sizes = [lv.shape[:2] for lv in laplacian_pyramid(np.zeros(shape[:2]), min_size=min_size)]
    counts = [(h - patch + 1) * (w - patch + 1) for h, w in sizes]
    chosen = [k for k in range(1, len(counts)) if counts[k] >= min_neighbourhoods]
    return chosen or [min(1, len(counts) - 1)]


def locally_affine_residual(
    output: Any, photo: Any, *, radius: int = 1, eps: float = 1e-7
) -> float:
    r"""How far ``output`` is from a locally affine colour function of ``photo``.

    For every ``(2 radius + 1)^2`` window :math:`w` fully inside the image, the ridge
    least-squares fit of each output channel on the photo's colours,

    .. math::
      \min_{a, b} \frac{1}{|w|} \sum_{i \in w} (O_i - a^\top I_i - b)^2 + \epsilon \|a\|^2,

    and the mean over windows and channels of the fit's squared residual (the data term
    only). Luan et al.'s photorealism term :math:`\sum_c V_c^\top \mathcal{L} V_c` is this
    energy (with their :math:`\epsilon`) summed instead of averaged; here it is computed
    directly by least squares, independently of ``nst.losses.matting_laplacian``. 0 when the
    output is an affine colour transform of the photo; for an affine transform plus noise of
    standard deviation :math:`\sigma` it is about :math:`\sigma^2 (|w| - 4) / |w|`.

    Args:
      output, photo: RGB ``[H, W, 3]`` of one shape.
      radius: window radius, px (1: 3x3 windows, as Luan et al.).
      eps: ridge weight on the affine coefficients.
    """
    o, p = np.asarray(output, np.float64), np.asarray(photo, np.float64)
    _same_shape(o, p)
    if o.ndim != 3:
        raise ValueError(f"images must be [H, W, C], got shape {o.shape}")
    k = 2 * radius + 1
    view = lambda x: np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(0, 1))
    # [n, k*k, C] windows of each image
    ow = view(o).reshape(-1, o.shape[-1], k * k).transpose(0, 2, 1)
    pw = view(p).reshape(-1, p.shape[-1], k * k).transpose(0, 2, 1)
    x = np.concatenate([pw, np.ones((*pw.shape[:2], 1))], axis=-1)  # [n, k*k, C+1]
    n = k * k
    ridge = np.diag([eps * n] * p.shape[-1] + [0.0])
    gram = np.einsum("nki,nkj->nij", x, x) + ridge
    coef = np.linalg.solve(gram, np.einsum("nki,nkc->nic", x, ow))  # [n, C+1, C_out]
    residual = ow - np.einsum("nki,nic->nkc", x, coef)
    return float(np.mean(residual**2))


def edge_correlation(a: Any, b: Any) -> float:
    r"""Pearson correlation of the luminance gradient magnitudes of ``a`` and ``b``.

    :math:`\mathrm{corr}(|\nabla Y_a|, |\nabla Y_b|)` over pixels (central differences,
    ``np.gradient``): 1 when ``b``'s edges are ``a``'s up to contrast and brightness, about
    0 for unrelated images, 0 when either is flat.
    """
    ga, gb = (np.hypot(*np.gradient(_gray(x))) for x in (a, b))
    _same_shape(ga, gb)
    ga, gb = ga - ga.mean(), gb - gb.mean()
    denominator = float(np.sqrt((ga**2).sum() * (gb**2).sum()))
    return float((ga * gb).sum() / denominator) if denominator > 0 else 0.0


def edge_alignment(saliency: Any, image: Any) -> float:
    r"""How sharply a saliency map draws ``image``'s edges: the Pearson correlation of the
    map's magnitude with the image's luminance gradient magnitude.

    :math:`\mathrm{corr}(\sum_c |S_c|, |\nabla Y|)` over pixels (central differences,
    ``np.gradient``). 1 when the map is the edge map up to scale and offset; about 0 for
    speckle unrelated to the edges; 0 when either is flat. Springenberg et al. (2015) show
    guided backpropagation's maps as sharp reconstructions of the image's edges, the plain
    gradient's as noise: this is the number for it.

    Args:
      saliency: ``[H, W, C]`` or ``[H, W]`` map (signed; its magnitude is summed over C).
      image: ``[H, W, 3]`` or ``[H, W]`` image in ``[0, 1]``, the map's size.
    """
    m = np.abs(np.asarray(saliency, np.float64))
    m = m.sum(-1) if m.ndim == 3 else m
    edges = np.hypot(*np.gradient(_gray(image)))
    _same_shape(m, edges)
    m, edges = m - m.mean(), edges - edges.mean()
    denominator = float(np.sqrt((m**2).sum() * (edges**2).sum()))
    return float((m * edges).sum() / denominator) if denominator > 0 else 0.0


def layout_similarity(photo: Any, output: Any, *, sigma: float | None = None) -> float:
    r"""``edge_correlation`` of the two images blurred by a Gaussian of ``sigma`` px
    (default: the longer side / 128, 2 px at 256 px): 1 for the photo itself (or any
    change finer than the blur), about 0 for an image with the photo's statistics but not
    its layout (its blocks shuffled) or an unrelated one.
    """
    from scipy import ndimage

    a, b = _gray(photo), _gray(output)
    _same_shape(a, b)
    sigma = max(a.shape) / 128 if sigma is None else sigma
    return edge_correlation(ndimage.gaussian_filter(a, sigma), ndimage.gaussian_filter(b, sigma))


def colour_distance(a: Any, b: Any, *, projections: int = 64, quantiles: int = 256) -> float:
    r"""Sliced Wasserstein-1 distance between the RGB colour distributions of ``a`` and ``b``.

    .. math:: \mathrm{SW}_1 = \frac{1}{K} \sum_k \int_0^1 |F^{-1}_{a,k}(q) - F^{-1}_{b,k}(q)| dq

    over ``projections`` fixed unit directions :math:`\theta_k` in RGB space (a seeded draw,
    the same for every call), :math:`F^{-1}` the quantile function of the projected pixels,
    integrated at ``quantiles`` points. Images may differ in size; 0 for equal colour
    distributions whatever the layout.
    """
    pixels = [np.asarray(x, np.float64).reshape(-1, 3) for x in (a, b)]
    theta = np.random.default_rng(0).normal(size=(3, projections))
    theta /= np.linalg.norm(theta, axis=0)
    q = (np.arange(quantiles) + 0.5) / quantiles
    qa, qb = (np.quantile(p @ theta, q, axis=0) for p in pixels)
    return float(np.mean(np.abs(qa - qb)))


def colour_shift(photo: Any, style: Any, output: Any) -> float:
    """``1 - colour_distance(output, style) / colour_distance(photo, style)``: 0 when the
    output has the photo's colours, 1 when it has the style's (negative: further away)."""
    before = colour_distance(photo, style)
    return 1.0 - colour_distance(output, style) / before if before > 0 else 0.0
