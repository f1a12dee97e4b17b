"""nst.measures on inputs whose answer is known (by hand or in closed form)."""

import numpy as np
import pytest

from nst import image as nst_image
from nst import measures


def _blur(x, sigma):
    """Circular Gaussian blur of [H, W] by FFT (sigma in px)."""
    fy = np.fft.fftfreq(x.shape[0])[:, None]
    fx = np.fft.fftfreq(x.shape[1])[None, :]
    kernel = np.exp(-2 * (np.pi * sigma) ** 2 * (fx**2 + fy**2))
    return np.real(np.fft.ifft2(np.fft.fft2(x) * kernel))


def test_psnr_by_hand(rng):
    x = rng.uniform(size=(8, 8, 3))
    assert measures.psnr(x, x) == np.inf  # a perfect reconstruction
    y = x + 0.1  # MSE 0.01 -> 20 dB
    assert measures.psnr(y, x) == pytest.approx(20.0, abs=1e-9)
    assert measures.psnr(x + 0.01, x) == pytest.approx(40.0, abs=1e-9)
    with pytest.raises(ValueError, match="same shape"):
        measures.psnr(x, x[:4])


def test_ssim_one_window_by_hand():
    # One 2x2 window: mu = 0.5 for both, variances 0.25, covariance 0, so
    # SSIM = (2*0.25 + C1) * C2 / ((0.5 + C1) * (0.5 + C2)) = C2 / (0.5 + C2).
    a = np.array([[0.0, 0.0], [1.0, 1.0]])
    b = np.array([[0.0, 1.0], [0.0, 1.0]])
    c2 = 0.03**2
    assert measures.ssim(a, b, window=2) == pytest.approx(c2 / (0.5 + c2), rel=1e-12)
    # b = a + 0.5 shifted brightness: sigma terms 1, luminance term by hand.
    c1 = 0.01**2
    mean_term = (2 * 0.5 * 1.0 + c1) / (0.5**2 + 1.0**2 + c1)
    assert measures.ssim(a, a + 0.5, window=2) == pytest.approx(mean_term, rel=1e-12)


def test_ssim_identical_unrelated_and_blurred(rng):
    x = rng.uniform(size=(32, 32, 3))
    assert measures.ssim(x, x) == pytest.approx(1.0, abs=1e-12)
    assert abs(measures.ssim(x, rng.uniform(size=x.shape))) < 0.1
    sharp = rng.uniform(size=(32, 32))
    assert measures.ssim(_blur(sharp, 1.0), sharp) < measures.ssim(_blur(sharp, 0.5), sharp)
    with pytest.raises(ValueError, match="smaller"):
        measures.ssim(x[:4, :4], x[:4, :4])


def test_high_frequency_share_known_spectra(rng):
    flat = np.full((16, 16, 3), 0.5)
    checker = (np.indices((16, 16)).sum(0) % 2).astype(float)
    assert measures.high_frequency_share(flat) == 0.0
    assert measures.high_frequency_share(checker) == pytest.approx(1.0)  # all at Nyquist
    x = np.arange(32)[None, :] * np.ones((32, 1))
    low = 0.5 + 0.5 * np.cos(2 * np.pi * x / 8)  # 0.125 cycles/px
    high = 0.5 + 0.5 * np.cos(2 * np.pi * x * 3 / 8)  # 0.375 cycles/px
    assert measures.high_frequency_share(low) == pytest.approx(0.0, abs=1e-12)
    assert measures.high_frequency_share(high) == pytest.approx(1.0, abs=1e-12)
    # White noise: the share of bins above the cutoff (3/4 of them); blurring lowers it.
    noise = rng.normal(size=(128, 128))
    assert measures.high_frequency_share(noise) == pytest.approx(0.75, abs=0.02)
    assert measures.high_frequency_share(_blur(noise, 1.5)) < 0.01


def test_high_frequency_share_hann_window_drops_the_border_jump():
    # A smooth ramp has no fine detail, but the DFT sees a sawtooth (the jump from the right
    # border back to the left): the DFT of n = 0..N-1 has power N^2 / (4 sin^2(pi k / N)) at
    # bin k != 0, 2.8% of it above 0.25 cycles/px (|k| > N/4). The Hann window tapers the
    # jump away; a sinusoid keeps its place on either side of the cutoff.
    ramp = np.broadcast_to(np.linspace(0.0, 1.0, 64)[None, :], (64, 64))
    k = np.arange(1, 64)
    power = 1 / np.sin(np.pi * k / 64) ** 2
    sawtooth = power[np.abs(np.fft.fftfreq(64)[1:]) > 0.25].sum() / power.sum()
    assert measures.high_frequency_share(ramp) == pytest.approx(sawtooth, rel=1e-6)
    assert measures.high_frequency_share(ramp, window="hann") < 1e-3
    x = np.arange(64)[None, :] * np.ones((64, 1))
    low = 0.5 + 0.5 * np.cos(2 * np.pi * x / 8)
    high = 0.5 + 0.5 * np.cos(2 * np.pi * x * 3 / 8)
    assert measures.high_frequency_share(low, window="hann") == pytest.approx(0.0, abs=1e-6)
    assert measures.high_frequency_share(high, window="hann") == pytest.approx(1.0, abs=1e-6)
    spectrum = measures.luminance_spectrum(ramp)
    assert spectrum[0, 17:32].max() < 1e-3 * measures.luminance_spectrum(ramp, window=None)[0, 1]
    with pytest.raises(ValueError, match="window"):
        measures.high_frequency_share(ramp, window="hamming")


def test_structure_scale_known_answers(rng):
    # Gaussian-blurred white noise: autocorrelation exp(-r^2 / 4 sigma^2), which falls to half
    # its 1 px value at r = sqrt(1 + 4 sigma^2 ln 2).
    noise = rng.normal(size=(192, 192))
    for sigma in (2.0, 4.0):
        expected = np.sqrt(1 + 4 * sigma**2 * np.log(2))
        got = measures.structure_scale(_blur(noise, sigma))
        assert got == pytest.approx(expected, rel=0.1), (sigma, got)
    # A sinusoid of period P: the radial average is J0(2 pi r / P); J0(2 pi / 24) = 0.98294
    # (series 1 - z^2/4 + z^4/64), and J0(z) = 0.98294 / 2 at z = 1.5364 (tables), so
    # r = 1.5364 * 24 / (2 pi) = 5.869.
    x = np.arange(128)[None, :] * np.ones((128, 1))
    wave = np.cos(2 * np.pi * x / 24)
    assert measures.structure_scale(wave) == pytest.approx(5.869, rel=0.05)
    # White noise (no structure over 1 px): the plain half width, below one pixel.
    assert measures.structure_scale(noise) < 1.0
    assert measures.structure_scale(np.zeros((16, 16))) == 0.0


def test_structure_scale_ignores_pixel_noise(rng):
    pattern = _blur(rng.normal(size=(192, 192)), 3.0)
    clean = measures.structure_scale(pattern)
    # White noise with the pattern's variance: the plain half width would fall below 1 px.
    noisy = pattern + rng.normal(scale=pattern.std(), size=pattern.shape)
    assert measures.structure_scale(noisy) == pytest.approx(clean, rel=0.1)
    assert measures.structure_scale(noisy, noise_floor=1.1) < 1.0  # the plain half width


def test_structure_scale_shift_contrast_and_zoom(rng):
    pattern = _blur(rng.normal(size=(64, 64)), 1.5)
    base = measures.structure_scale(pattern)
    zoomed = np.kron(pattern, np.ones((2, 2)))  # every feature twice as large
    assert measures.structure_scale(zoomed) == pytest.approx(2 * base, rel=0.15)
    assert measures.structure_scale(3 * pattern + 1) == pytest.approx(base, rel=1e-9)
    shifted = np.roll(np.roll(pattern, 17, axis=0), 5, axis=1)
    assert measures.structure_scale(shifted) == pytest.approx(base, rel=0.05)


def test_autocorrelation_by_hand():
    # [1, -1] (mean 0, variance 1): R(0) = 1, R(+-1) = (1 * -1) / 1 = -1.
    r = measures.autocorrelation(np.array([[1.0, -1.0]]))
    np.testing.assert_allclose(r, [[-1.0, 1.0, -1.0]], atol=1e-12)


def test_locally_affine_residual_known_answers(rng):
    photo = rng.uniform(size=(24, 24, 3))
    matrix = rng.normal(size=(3, 3))
    affine = photo @ matrix.T + np.array([0.1, -0.2, 0.3])
    assert measures.locally_affine_residual(affine, photo) < 1e-9
    # Plus noise of std s: a least-squares fit of 4 parameters to 9 points leaves
    # s^2 (9 - 4) / 9 per pixel on average.
    s = 0.05
    noisy = affine + rng.normal(scale=s, size=affine.shape)
    got = measures.locally_affine_residual(noisy, photo)
    assert got == pytest.approx(s**2 * 5 / 9, rel=0.1)
    # A brute-force fit of one window agrees.
    win_o, win_p = noisy[:3, :3].reshape(9, 3), photo[:3, :3].reshape(9, 3)
    x = np.concatenate([win_p, np.ones((9, 1))], axis=1)
    coef, *_ = np.linalg.lstsq(x, win_o, rcond=None)
    by_hand = np.mean((win_o - x @ coef) ** 2)
    one = measures.locally_affine_residual(noisy[:3, :3], photo[:3, :3], eps=0.0)
    assert one == pytest.approx(by_hand, rel=1e-9)


def test_edge_correlation(rng):
    x = _blur(rng.uniform(size=(32, 32)), 1.0)
    assert measures.edge_correlation(x, x) == pytest.approx(1.0)
    assert measures.edge_correlation(x, 2 * x + 0.3) == pytest.approx(1.0)
    assert abs(measures.edge_correlation(x, _blur(rng.uniform(size=(32, 32)), 1.0))) < 0.3
    assert measures.edge_correlation(x, np.zeros_like(x)) == 0.0


def test_edge_correlation_sees_moved_edges_not_their_statistics():
    """The photorealism claim "keeps the photo's edges": a recoloured photo (every pixel's
    colour mapped, its edges in place) scores near 1; the photo's own 16 px blocks shuffled
    (the same pixels, so the same gradient statistics within blocks, the edges moved)
    scores low, though its gradient-magnitude histogram is nearly the photo's."""
    photo = nst_image.load(nst_image.sample("tubingen"), max_size=128)
    recoloured = np.clip(photo[..., ::-1] ** 1.5 * 0.8 + 0.1, 0, 1)
    shuffled = block_shuffled(photo, 16, np.random.default_rng(0))
    crop = photo[: shuffled.shape[0], : shuffled.shape[1]]
    assert measures.edge_correlation(crop, recoloured[: crop.shape[0], : crop.shape[1]]) > 0.8
    assert measures.edge_correlation(crop, shuffled) < 0.3

    # the statistics the claim is not about: away from the seams, the same gradient
    # magnitudes (their mean and 90th percentile within 5%)
    def magnitudes(x):
        grey = x @ np.array([0.299, 0.587, 0.114])
        g = np.hypot(*np.gradient(grey))
        inside = (np.arange(g.shape[0]) % 16 >= 2) & (np.arange(g.shape[0]) % 16 <= 13)
        across = (np.arange(g.shape[1]) % 16 >= 2) & (np.arange(g.shape[1]) % 16 <= 13)
        return g[np.ix_(inside, across)]

    a, b = magnitudes(crop), magnitudes(shuffled)
    assert b.mean() == pytest.approx(a.mean(), rel=0.05)
    assert np.percentile(b, 90) == pytest.approx(np.percentile(a, 90), rel=0.05)


def _photo_like(rng, size=128):
    """A smooth random 'photo': large blobs (layout) plus fine texture."""
    base = _blur(rng.normal(size=(size, size)), 8.0)
    base = (base - base.min()) / (base.max() - base.min())
    rgb = np.stack([base, base**2, 1 - base], -1)
    return np.clip(rgb + 0.03 * rng.normal(size=rgb.shape), 0, 1)


def block_shuffled(x, block, rng):
    """``x`` cut to whole ``block`` px blocks, the blocks shuffled: its pixels, not its layout."""
    h, w = x.shape[0] // block, x.shape[1] // block
    tiles = [
        x[i * block : (i + 1) * block, j * block : (j + 1) * block]
        for i in range(h)
        for j in range(w)
    ]
    order = rng.permutation(len(tiles))
    rows = [np.concatenate([tiles[order[i * w + j]] for j in range(w)], 1) for i in range(h)]
    return np.concatenate(rows, 0)


def test_layout_similarity_known_answers(rng):
    photo = _photo_like(rng)
    assert measures.layout_similarity(photo, photo) == pytest.approx(1.0)
    # fine strokes on top (finer than the blur) keep the layout
    strokes = np.clip(photo + 0.3 * (rng.uniform(size=photo.shape) - 0.5), 0, 1)
    assert measures.layout_similarity(photo, strokes) > 0.6
    # the same pixels with the blocks shuffled: the photo's statistics, not its layout
    shuffled = block_shuffled(photo, 32, rng)
    assert measures.layout_similarity(photo, shuffled) < 0.4
    assert abs(measures.layout_similarity(photo, _photo_like(rng))) < 0.4  # another photo
    assert measures.layout_similarity(photo, np.full_like(photo, 0.5)) == 0.0


def test_colour_distance_and_shift_known_answers(rng):
    photo = _photo_like(rng)
    # same colours, another layout: distance 0
    assert measures.colour_distance(photo, photo[::-1, ::-1]) == pytest.approx(0.0, abs=1e-12)
    # a constant offset c in RGB moves every projection by theta.c: mean |theta.c| by hand
    theta = np.random.default_rng(0).normal(size=(3, 64))
    theta /= np.linalg.norm(theta, axis=0)
    c = np.array([0.1, -0.05, 0.2])
    want = np.mean(np.abs(c @ theta))
    assert measures.colour_distance(photo, photo + c) == pytest.approx(want, rel=1e-6)
    style = rng.uniform(size=(64, 80, 3))  # any size
    assert measures.colour_shift(photo, style, photo) == pytest.approx(0.0)
    assert measures.colour_shift(photo, style, style) == pytest.approx(1.0)
    halfway = 0.5 * photo + 0.5 * rng.uniform(size=photo.shape)
    assert 0.1 < measures.colour_shift(photo, style, halfway) < 0.9


# ---------------------------------------------------------------- pyramid SWD (Karras et al.)


def _dead_leaves(size, rng, *, rmin=2.0, rmax=48.0):
    """A stationary texture with structure at every scale up to rmax: opaque discs of random
    colour, radii with density ~ r^-3 on [rmin, rmax], dropped until the canvas is covered
    (each pixel takes the first disc that covers it; Lee, Mumford & Huang 2001)."""
    img = np.full((size, size, 3), np.nan)
    yy, xx = np.mgrid[0:size, 0:size]
    while np.isnan(img[..., 0]).any():
        u = rng.uniform()
        r = 1.0 / np.sqrt(1.0 / rmin**2 - u * (1.0 / rmin**2 - 1.0 / rmax**2))
        cy, cx = rng.uniform(-rmax, size + rmax, size=2)
        y0, y1 = max(int(cy - r), 0), min(int(cy + r) + 1, size)
        x0, x1 = max(int(cx - r), 0), min(int(cx + r) + 1, size)
        if y0 >= y1 or x0 >= x1:
            continue
        sub = img[y0:y1, x0:x1]
        disc = (yy[y0:y1, x0:x1] - cy) ** 2 + (xx[y0:y1, x0:x1] - cx) ** 2 <= r * r
        sub[disc & np.isnan(sub[..., 0])] = rng.uniform(size=3)
    return img


def _phase_randomized(x, rng):
    """The same amplitude spectrum (so the same power spectrum and autocorrelation) with the
    phases of white noise: one random phase field for all channels, the mean kept."""
    phase = np.angle(np.fft.fft2(rng.normal(size=x.shape[:2])))
    phase[0, 0] = 0.0
    spectrum = np.fft.fft2(x, axes=(0, 1)) * np.exp(1j * phase)[..., None]
    return np.real(np.fft.ifft2(spectrum, axes=(0, 1)))


def test_laplacian_pyramid_reconstructs(rng):
    x = rng.uniform(size=(70, 45, 3))
    levels = measures.laplacian_pyramid(x, min_size=8)
    assert [lv.shape[:2] for lv in levels] == [(70, 45), (35, 23), (18, 12)]  # 9x6 < 8
    # Collapse: expand the residual and add each level back, coarse to fine.
    image = levels[-1]
    for level in levels[-2::-1]:
        image = level + measures._expand(image, level.shape)
    np.testing.assert_allclose(image, x, atol=1e-12)
    # A constant image is all in the residual (binomial weights sum to 1, mirrored borders).
    flat = measures.laplacian_pyramid(np.full((32, 32), 0.3), min_size=8)
    assert all(np.abs(lv).max() < 1e-12 for lv in flat[:-1])
    np.testing.assert_allclose(flat[-1], 0.3)


def test_pyramid_swd_identical_and_arguments(rng):
    x = rng.uniform(size=(64, 64, 3))
    assert measures.pyramid_swd(x, x) == [0.0, 0.0, 0.0]  # 64, 32, 16 px
    with pytest.raises(ValueError, match="same channels"):
        measures.pyramid_swd(x, x[..., 0])
    with pytest.raises(ValueError, match="min_size"):
        measures.pyramid_swd(x, x, min_size=4)


@pytest.fixture(scope="module")
def dead_leaves_study():
    """SWD per level against a dead-leaves exemplar of: another sample of the texture (the
    held-out crop), its block-shuffled copies, its phase-randomized copy, and noise."""
    rng = np.random.default_rng(0)
    exemplar, held = _dead_leaves(256, rng), _dead_leaves(256, rng)
    candidates = {
        "held-out": held,
        **{f"blocks {b}": block_shuffled(held, b, rng) for b in (64, 32, 8)},
        "phase-randomized": _phase_randomized(held, rng),
        "noise": rng.uniform(size=held.shape),
    }
    return {k: np.array(measures.pyramid_swd(v, exemplar)) for k, v in candidates.items()}


def test_pyramid_swd_known_ranking_dead_leaves(dead_leaves_study):
    swd = dead_leaves_study
    # Levels: 256, 128, 64, 32, 16 px; a 7x7 neighbourhood sees 7, 14, 28, 56, 112 px. The
    # 32 and 16 px levels hold 676 and 100 neighbourhoods: there two samples of one texture
    # are as far apart as anything else (their values are noise, not checked).
    assert len(swd["held-out"]) == 5
    # A new sample of the same texture is the closest at the levels with enough of them.
    for name, values in swd.items():
        if name != "held-out":
            assert np.all(values[:2] > swd["held-out"][:2]), (name, values, swd["held-out"])
    # Block shuffles in block order: smaller blocks, more neighbourhoods across a seam.
    for level in (0, 1):
        order = [swd[k][level] for k in ("held-out", "blocks 64", "blocks 32", "blocks 8")]
        assert np.all(np.diff(order) > 0), (level, order)
    assert swd["blocks 8"][2] > 1.05 * swd["held-out"][2]
    # The same power spectrum, no edges or discs: far at the fine and middle levels.
    assert np.all(swd["phase-randomized"][:2] > 1.7 * swd["held-out"][:2])
    # Noise: the furthest at the levels that can tell.
    others = [v[:3] for k, v in swd.items() if k != "noise"]
    assert np.all(swd["noise"][:3] > np.max(others, axis=0))


def test_pyramid_swd_sees_what_structure_scale_cannot():
    """Brick (bundled): the left half is the exemplar, the right half the held-out crop."""
    from nst import image as nst_image

    brick = nst_image.load(nst_image.sample("brick"), max_size=None).astype(np.float64)
    exemplar, held = brick[:, :128], brick[:, 128:]
    rng = np.random.default_rng(1)
    phase = _phase_randomized(held, rng)
    # The autocorrelation is the power spectrum's transform: the phase-randomized copy has
    # the held-out crop's structure scale ...
    scale = measures.structure_scale(held)
    assert measures.structure_scale(phase) == pytest.approx(scale, rel=0.1)
    # ... while its neighbourhoods (no mortar lines, no bricks) are twice as far.
    swd = {
        "held-out": measures.pyramid_swd(held, exemplar),
        "phase-randomized": measures.pyramid_swd(phase, exemplar),
        "blocks 64": measures.pyramid_swd(block_shuffled(held, 64, rng), exemplar),
        "blocks 8": measures.pyramid_swd(block_shuffled(held, 8, rng), exemplar),
        "noise": measures.pyramid_swd(rng.uniform(size=held.shape), exemplar),
    }
    swd = {k: np.array(v) for k, v in swd.items()}
    assert swd["phase-randomized"][0] > 1.7 * swd["held-out"][0]
    # Bricks cut into 8 px blocks: further than the crop at the 256, 128 and 64 px levels
    # (the 32 px level has 260 neighbourhoods), and than 64 px blocks at the two finest.
    assert np.all(swd["blocks 8"][:3] > 1.1 * swd["held-out"][:3])
    assert np.all(swd["blocks 8"][:2] > 1.1 * swd["blocks 64"][:2])
    others = [v[:3] for k, v in swd.items() if k != "noise"]
    assert np.all(swd["noise"][:3] > np.max(others, axis=0))


def test_coarse_levels():
    # 256 px: levels 256, 128, 64, 32, 16 px hold 62500, 14884, 3364, 676, 100 positions.
    assert measures.coarse_levels((256, 256)) == [1, 2]
    assert measures.coarse_levels((512, 512, 3)) == [1, 2, 3]
    assert measures.coarse_levels((96, 96)) == [1]  # 96, 48 (1764), 24 (324)
    assert measures.coarse_levels((40, 40)) == [1]  # none qualifies: the coarser of two
    assert measures.coarse_levels((20, 20)) == [0]  # one level


def test_edge_alignment_known_answers(rng):
    # A photo-like image: blurred noise. Its own edge map (any scale, sign, offset) scores 1;
    # a map of independent speckle about 0; a blurred edge map in between; flat maps 0.
    image = _blur(rng.uniform(size=(64, 64)), 2.0)
    image = (image - image.min()) / (image.max() - image.min())
    edges = np.hypot(*np.gradient(image))
    assert measures.edge_alignment(edges, image) == pytest.approx(1.0, abs=1e-12)
    signed = -3.0 * edges[..., None] * np.ones(3)
    assert measures.edge_alignment(signed, image) == pytest.approx(1.0, abs=1e-12)
    assert abs(measures.edge_alignment(rng.normal(size=(64, 64, 3)), image)) < 0.1
    blurred = measures.edge_alignment(_blur(edges, 3.0), image)
    assert 0.1 < blurred < 0.95
    assert measures.edge_alignment(np.zeros((64, 64)), image) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        measures.edge_alignment(edges[:8], image)


def test_mean_gradient_known_answers(rng):
    flat = np.full((8, 10, 3), 0.3)
    assert measures.mean_gradient(flat) == 0.0
    step = np.zeros((8, 10, 3))
    step[:, 5:] = 1.0  # one vertical edge of height 1
    assert measures.mean_gradient(step) == pytest.approx(1 / 9)
    assert measures.mean_gradient(step + 0.5) == pytest.approx(1 / 9)  # offsets do not count
    assert measures.mean_gradient(step[..., 0]) == pytest.approx(1 / 9)  # grey [H, W]
    # Same pixels (same histogram), other arrangement: a smooth ramp against its shuffle.
    ramp = np.broadcast_to(np.linspace(0, 1, 64)[None, :, None], (64, 64, 3)).copy()
    shuffled = rng.permutation(ramp.reshape(-1, 3)).reshape(ramp.shape)
    assert measures.mean_gradient(ramp) == pytest.approx(1 / 63)
    assert measures.mean_gradient(shuffled) > 10 * measures.mean_gradient(ramp)
    # By hand on a 2x2 image: |b - a| + |d - c| over 2, plus |c - a| + |d - b| over 2.
    a, b, c, d = 0.1, 0.7, 0.4, 0.2
    tiny = np.array([[a, b], [c, d]])
    expected = (abs(b - a) + abs(d - c)) / 2 + (abs(c - a) + abs(d - b)) / 2
    assert measures.mean_gradient(tiny) == pytest.approx(expected)
    with pytest.raises(ValueError, match="at least 2x2"):
        measures.mean_gradient(np.zeros((1, 5, 3)))
