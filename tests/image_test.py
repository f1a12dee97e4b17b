"""Tests for nst.image: every file format and mode, errors, atomic saves, figures, colour.

Every odd file is made here with Pillow in ``tmp_path``, so the tests need no data files
except the bundled samples, which they check.
"""

import io
import os
import pathlib
import re
import struct
import zlib

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from nst import image

# ---------------------------------------------------------------------------------------------
# Helpers.


def _gradient(height=24, width=32) -> np.ndarray:
    """A uint8 RGB test picture with distinct channels."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack(
        [x * 255 // (width - 1), y * 255 // (height - 1), np.full_like(x, 60)], axis=-1
    ).astype(np.uint8)


def _write(path: pathlib.Path, img: Image.Image, **kwargs) -> pathlib.Path:
    img.save(path, **kwargs)
    return path


def _opened(path: pathlib.Path) -> tuple[str | None, str, tuple[int, int], np.ndarray]:
    """(format, mode, size, pixels) of a file, read by Pillow alone and closed again."""
    with Image.open(path) as img:
        return img.format, img.mode, img.size, np.asarray(img)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def _one_bit_png(width: int, height: int) -> bytes:
    """A valid all-black 1-bit grayscale PNG, built by hand: 25 MB of pixels in a few KB."""
    row = b"\x00" * (1 + (width + 7) // 8)  # Filter byte 0, then the packed bits.
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------------------------------------
# Loading: formats and modes.


@pytest.mark.parametrize(
    ("suffix", "options", "atol"),
    [
        (".jpg", {"quality": 95, "subsampling": 0}, 12 / 255),
        (".png", {}, 0.0),
        (".webp", {"lossless": True}, 0.0),
        (".webp", {"quality": 90}, 24 / 255),
        (".tif", {}, 0.0),
        (".bmp", {}, 0.0),
        (".gif", {}, 40 / 255),  # Palette quantization.
    ],
)
def test_load_formats(tmp_path, suffix, options, atol):
    pixels = _gradient()
    path = _write(tmp_path / f"picture{suffix}", Image.fromarray(pixels), **options)
    loaded = image.load(path, max_size=None)
    assert loaded.shape == (24, 32, 3)
    assert loaded.dtype == np.float32
    assert 0.0 <= loaded.min() and loaded.max() <= 1.0
    np.testing.assert_allclose(loaded, pixels / 255, atol=atol + 1e-6)


def test_load_png_16bit_grayscale_keeps_precision(tmp_path):
    values = np.array([[0, 32768, 65535, 1]], dtype=np.uint16)
    path = _write(tmp_path / "deep.png", Image.fromarray(values))
    assert _opened(path)[1].startswith("I")
    loaded = image.load(path, max_size=None)
    assert loaded.shape == (1, 4, 3)
    np.testing.assert_allclose(loaded[0, :, 0], [0.0, 32768 / 65535, 1.0, 1 / 65535], atol=1e-7)
    np.testing.assert_array_equal(loaded[..., 0], loaded[..., 2])  # Gray stays gray.


def test_load_grayscale_l(tmp_path):
    values = np.array([[0, 128, 255]], dtype=np.uint8)
    loaded = image.load(_write(tmp_path / "l.png", Image.fromarray(values)), max_size=None)
    np.testing.assert_allclose(loaded[0], np.repeat([[0.0], [128 / 255], [1.0]], 3, axis=1))


def test_load_rgba_composites_on_white(tmp_path):
    rgba = np.array([[[0, 0, 0, 0], [255, 0, 0, 128], [0, 0, 255, 255]]], dtype=np.uint8)
    loaded = image.load(_write(tmp_path / "rgba.png", Image.fromarray(rgba)), max_size=None)
    half = 128 / 255
    expected = [[1.0, 1.0, 1.0], [1.0, 1.0 - half, 1.0 - half], [0.0, 0.0, 1.0]]
    np.testing.assert_allclose(loaded[0], expected, atol=1e-6)


def test_load_la_composites_on_white(tmp_path):
    la = Image.fromarray(np.array([[[0, 0], [0, 255], [0, 128]]], dtype=np.uint8), mode="LA")
    loaded = image.load(_write(tmp_path / "la.png", la), max_size=None)
    np.testing.assert_allclose(loaded[0, :, 0], [1.0, 0.0, 1.0 - 128 / 255], atol=1e-6)


def test_load_palette_with_transparency(tmp_path):
    img = Image.new("P", (3, 1))
    img.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    img.putdata([0, 1, 2])
    path = _write(tmp_path / "palette.png", img, transparency=1)  # Green is transparent.
    assert _opened(path)[1] == "P"
    loaded = image.load(path, max_size=None)
    np.testing.assert_allclose(loaded[0], [[1, 0, 0], [1, 1, 1], [0, 0, 1]], atol=1e-6)


def test_load_palette_without_transparency(tmp_path):
    img = Image.fromarray(_gradient()).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    loaded = image.load(_write(tmp_path / "palette.png", img), max_size=None)
    np.testing.assert_allclose(loaded, np.asarray(img.convert("RGB")) / 255, atol=1e-6)


def test_load_cmyk_jpeg(tmp_path):
    path = _write(tmp_path / "cmyk.jpg", Image.new("CMYK", (8, 8), (0, 255, 255, 0)), quality=95)
    assert _opened(path)[1] == "CMYK"
    loaded = image.load(path, max_size=None)
    np.testing.assert_allclose(loaded[4, 4], [1.0, 0.0, 0.0], atol=0.1)  # Red.


@pytest.mark.parametrize(
    ("orientation", "corner", "opposite"),
    [
        (6, (0, -1), (-1, 0)),  # Rotate 90° clockwise to display: top-left -> top-right.
        (8, (-1, 0), (0, -1)),  # Rotate 90° counter-clockwise: top-left -> bottom-left.
        (3, (-1, -1), (0, 0)),  # Rotate 180°.
    ],
)
def test_load_applies_exif_orientation(tmp_path, orientation, corner, opposite):
    pixels = np.zeros((20, 40, 3), np.uint8)  # Stored landscape, 20 high, 40 wide.
    pixels[:4, :4] = 255  # White marker at the stored top-left.
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = _write(tmp_path / "phone.png", Image.fromarray(pixels), exif=exif)
    loaded = image.load(path, max_size=None)
    assert loaded.shape == ((20, 40, 3) if orientation == 3 else (40, 20, 3))
    assert loaded[corner][0] == 1.0
    assert loaded[opposite][0] == 0.0


# ---------------------------------------------------------------------------------------------
# Loading: sizes.


@pytest.mark.parametrize(
    ("max_size", "expected"),
    [(16, (12, 16)), (64, (48, 64)), (32, (24, 32)), (None, (24, 32))],
)
def test_load_resizes_longest_side(tmp_path, max_size, expected):
    path = _write(tmp_path / "p.png", Image.fromarray(_gradient(24, 32)))
    loaded = image.load(path, max_size=max_size)
    assert loaded.shape == (*expected, 3)
    assert 0.0 <= loaded.min() and loaded.max() <= 1.0


@pytest.mark.parametrize("orientation", [1, 6])
def test_load_decodes_a_large_jpeg_at_a_fraction_of_its_size(tmp_path, monkeypatch, orientation):
    """A 2000x1504 JPEG loaded at 120 px is decoded at 1/8 (250x188), not 2000x1504, and
    matches the full decode resized (within JPEG's own noise); EXIF rotation still applies."""
    rng = np.random.default_rng(0)
    smooth = Image.fromarray(rng.integers(0, 256, (47, 63, 3), np.uint8)).resize((2000, 1504))
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = _write(tmp_path / "big.jpg", smooth, quality=95, exif=exif)
    decoded = []
    real_decode = image._decode
    monkeypatch.setattr(
        image, "_decode", lambda img, e: decoded.append(img.size) or real_decode(img, e)
    )
    loaded = image.load(path, max_size=120)
    shape = (120, 90) if orientation == 6 else (90, 120)
    assert loaded.shape == (*shape, 3)
    assert max(decoded[0]) == 250  # >= 2 x 120, the largest power-of-2 reduction that keeps it
    full = image.resize(image.load(path, max_size=None), shape)
    assert np.abs(loaded - full).mean() < 0.01
    # At 700 px a 1/2 decode (1000 px) would leave less than 2 x 700: decoded whole.
    assert max(image.load(path, max_size=700).shape) == 700
    assert max(decoded[-1]) == 2000


def test_load_rejects_bad_max_size(tmp_path):
    path = _write(tmp_path / "p.png", Image.fromarray(_gradient()))
    with pytest.raises(ValueError, match="max_size"):
        image.load(path, max_size=0)


def test_resize_pairs_are_height_width_and_keep_flat_values():
    flat = np.full((10, 20, 3), 0.25, np.float32)
    out = image.resize(flat, (7, 13))
    assert out.shape == (7, 13, 3)
    np.testing.assert_allclose(out, 0.25, atol=1e-5)
    assert image.resize(flat[..., 0], 40).shape == (20, 40)
    assert image.resize(jnp.asarray(flat), 10).shape == (5, 10, 3)


# ---------------------------------------------------------------------------------------------
# Loading: errors. Every message is one line and names the path.


def _assert_load_error(path, pattern, **kwargs):
    with pytest.raises(image.ImageError, match=pattern) as info:
        image.load(path, **kwargs)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    return message


def test_load_missing_file(tmp_path):
    _assert_load_error(tmp_path / "nope.jpg", "no such file")


def test_load_directory(tmp_path):
    _assert_load_error(tmp_path, "directory")


def test_load_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    _assert_load_error(path, "empty")


def test_load_text_file(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("not a picture\n" * 10)
    _assert_load_error(path, "not an image")


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_load_truncated_file(tmp_path, suffix):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)  # Incompressible: big file.
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="JPEG" if suffix == ".jpg" else "PNG")
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    _assert_load_error(path, "truncated or corrupt")


def test_load_max_pixels(tmp_path):
    path = _write(tmp_path / "p.png", Image.fromarray(_gradient(24, 32)))
    _assert_load_error(path, "decompression bomb", max_pixels=24 * 32 - 1)
    assert image.load(path, max_pixels=24 * 32).shape == (384, 512, 3)


def test_load_refuses_real_decompression_bomb(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_one_bit_png(20_000, 10_000))  # 200 M pixels in a few KB.
    assert path.stat().st_size < 100_000
    _assert_load_error(path, "decompression bomb")


def test_unsupported_argument_types():
    with pytest.raises(TypeError, match="dtype"):
        image.to_uint8(np.zeros((2, 2, 3), np.int32))
    with pytest.raises(ValueError, match="shape"):
        image.resize(np.zeros((2, 2, 2)), 4)
    with pytest.raises(ValueError, match="size"):
        image.resize(np.zeros((2, 2, 3)), (0, 4))


# ---------------------------------------------------------------------------------------------
# Saving.


def test_save_png_round_trip_is_exact(tmp_path):
    pixels = _gradient()
    path = image.save(tmp_path / "out.png", pixels)
    np.testing.assert_array_equal(_opened(path)[3], pixels)
    np.testing.assert_array_equal(image.to_uint8(image.load(path, max_size=None)), pixels)


def test_save_float_jax_and_grayscale(tmp_path):
    floats = jnp.asarray(_gradient() / 255, dtype=jnp.float32)
    path = image.save(tmp_path / "jax.png", floats)
    np.testing.assert_array_equal(_opened(path)[3], _gradient())
    gray = np.linspace(-0.5, 1.5, 12, dtype=np.float32).reshape(3, 4)  # Clipped to [0, 1].
    for name, value in [("g2.png", gray), ("g3.png", gray[..., None])]:
        saved = _opened(image.save(tmp_path / name, value))[3]
        np.testing.assert_array_equal(saved, image.to_uint8(gray))


@pytest.mark.parametrize(
    ("suffix", "fmt"),
    [(".jpg", "JPEG"), (".JPEG", "JPEG"), (".webp", "WEBP"), (".tiff", "TIFF"), (".bmp", "BMP")],
)
def test_save_format_by_extension(tmp_path, suffix, fmt):
    path = image.save(tmp_path / f"out{suffix}", _gradient())
    with Image.open(path) as img:
        assert img.format == fmt
        assert img.size == (32, 24)


def test_save_unknown_extension(tmp_path):
    with pytest.raises(image.ImageError, match=r"unknown extension '\.xyz'"):
        image.save(tmp_path / "out.xyz", _gradient())
    assert not list(tmp_path.iterdir())


def test_save_creates_folders_and_leaves_no_temp_files(tmp_path):
    path = image.save(tmp_path / "a" / "b" / "out.png", _gradient())
    assert path.is_file()
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.png"]
    image.save(path, _gradient() // 2, overwrite=True)
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.png"]
    np.testing.assert_array_equal(_opened(path)[3], _gradient() // 2)


def test_save_refuses_to_overwrite(tmp_path):
    path = tmp_path / "out.png"
    path.write_bytes(b"precious")
    with pytest.raises(image.ImageError, match=r"exists.*overwrite=True") as info:
        image.save(path, _gradient())
    assert str(path) in str(info.value)
    assert path.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_save_to_directory_fails(tmp_path):
    (tmp_path / "d.png").mkdir()
    with pytest.raises(image.ImageError, match="directory"):
        image.save(tmp_path / "d.png", _gradient(), overwrite=True)


def test_save_file_mode_follows_umask(tmp_path):
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    path = image.save(tmp_path / "out.png", _gradient())
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_save_rejects_bad_shapes(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        image.save(tmp_path / "batch.png", np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="alpha"):
        image.save(tmp_path / "rgba.jpg", np.zeros((8, 8, 4), np.float32))


# ---------------------------------------------------------------------------------------------
# Conversions.


def test_to_uint8_and_to_float():
    values = np.array([-1.0, 0.0, 0.5, 1.0, 3.0, np.nan], np.float32)
    np.testing.assert_array_equal(image.to_uint8(values), [0, 0, 128, 255, 255, 0])
    pixels = np.arange(256, dtype=np.uint8)
    assert image.to_uint8(pixels) is pixels
    np.testing.assert_array_equal(image.to_uint8(image.to_float(pixels)), pixels)


# ---------------------------------------------------------------------------------------------
# Colour preservation.


def test_yiq_round_trip_is_identity(rng):
    rgb = rng.random((6, 5, 3))
    np.testing.assert_allclose(image.yiq_to_rgb(image.rgb_to_yiq(rgb)), rgb, atol=1e-12)
    # Gray has no chroma and its luminance is the gray level (rows of the matrix sum to 1, 0, 0).
    yiq = image.rgb_to_yiq(np.full((2, 2, 3), 0.4))
    np.testing.assert_allclose(yiq, np.broadcast_to([0.4, 0.0, 0.0], (2, 2, 3)), atol=1e-6)


def test_yiq_works_on_jax_arrays(rng):
    rgb = jnp.asarray(rng.random((2, 4, 4, 3)), dtype=jnp.float32)
    yiq = image.rgb_to_yiq(rgb)
    assert isinstance(yiq, type(rgb)) and yiq.dtype == jnp.float32
    np.testing.assert_allclose(image.yiq_to_rgb(yiq), rgb, atol=1e-5)


def test_luminance_transfer_keeps_content_chroma_and_stylized_luminance(rng):
    # Mid-range colours so that the recombined image needs no clipping.
    stylized = 0.3 + 0.4 * rng.random((8, 8, 3))
    content = 0.3 + 0.4 * rng.random((8, 8, 3))
    out = image.luminance_transfer(stylized, content)
    assert out.shape == (8, 8, 3) and out.dtype == np.float32
    out_yiq, sty_yiq, con_yiq = (
        image.rgb_to_yiq(x.astype(np.float64)) for x in [out, stylized, content]
    )
    np.testing.assert_allclose(out_yiq[..., 0], sty_yiq[..., 0], atol=1e-5)
    np.testing.assert_allclose(out_yiq[..., 1:], con_yiq[..., 1:], atol=1e-5)
    # Content of another size is resized to the stylized image.
    assert image.luminance_transfer(stylized, np.ones((16, 16, 3))).shape == (8, 8, 3)


def test_match_luminance_moments(rng):
    style = rng.random((16, 16, 3)) * 0.3 + 0.6  # Bright, low contrast.
    content = rng.random((12, 20, 3)) * 0.5 + 0.2
    out = image.match_luminance(style, content)
    y_out = image.rgb_to_yiq(out.astype(np.float64))[..., 0]
    y_content = image.rgb_to_yiq(content)[..., 0]
    np.testing.assert_allclose(y_out.mean(), y_content.mean(), atol=1e-3)
    np.testing.assert_allclose(y_out.std(), y_content.std(), atol=1e-3)


def test_match_histogram_takes_template_quantiles(rng):
    source = rng.random((32, 32, 3)).astype(np.float32)
    template = np.stack(
        [rng.random((32, 32)) ** 3, 0.2 + 0.1 * rng.random((32, 32)), rng.random((32, 32))],
        axis=-1,
    ).astype(np.float32)
    out = image.match_histogram(source, template)
    assert out.shape == source.shape and out.dtype == np.float32
    for c in range(3):
        # Same size, no ties: the output's sorted values are exactly the template's.
        np.testing.assert_allclose(
            np.sort(out[..., c].ravel()), np.sort(template[..., c].ravel()), atol=1e-6
        )
        # Order is kept: the ranks of the output are the ranks of the source.
        np.testing.assert_array_equal(
            np.argsort(out[..., c].ravel()), np.argsort(source[..., c].ravel())
        )


def test_match_histogram_other_size_and_ties(rng):
    source = image.to_uint8(rng.random((20, 30, 3)))  # uint8: many ties.
    template = rng.random((50, 40, 3)) * 0.5
    out = image.match_histogram(source, template)
    for c in range(3):
        np.testing.assert_allclose(
            np.quantile(out[..., c], [0.1, 0.5, 0.9]),
            np.quantile(template[..., c], [0.1, 0.5, 0.9]),
            atol=0.02,
        )
    # Equal source values get equal outputs.
    flat_src, flat_out = source[..., 0].ravel(), out[..., 0].ravel()
    for value in np.unique(flat_src)[:5]:
        assert np.ptp(flat_out[flat_src == value]) == 0.0
    with pytest.raises(ValueError, match="same C"):
        image.match_histogram(source, template[..., :2])


# ---------------------------------------------------------------------------------------------
# Figures.


def test_grid_size_titles_and_letterbox():
    red = np.zeros((40, 60, 3), np.float32)
    red[..., 0] = 1.0
    tall = np.zeros((60, 20), np.uint8)  # Grayscale, a different size: letterboxed.
    figure = image.grid(
        [[red, tall], [None, red]],
        row_titles=["row one", "row two"],
        col_titles=["first", "second"],
        titles=[["a", None], [None, "d"]],
        title="random weights — not paper quality",
    )
    assert figure.dtype == np.uint8 and figure.ndim == 3 and figure.shape[-1] == 3
    # Cells are 60x60 (largest height and width); two columns plus labels and padding.
    assert 2 * 60 + 40 < figure.shape[1] < 2 * 60 + 200
    assert 2 * 60 + 60 < figure.shape[0] < 2 * 60 + 200
    # The figure title is drawn in a band at the top, above any image.
    top_band = figure[:20]
    assert (top_band < 200).any()
    red_rows = np.where(((figure[..., 0] > 200) & (figure[..., 1] < 50)).any(axis=1))[0]
    assert red_rows.min() > 20
    # Both red images are drawn at full size (40x60 fits a 60x60 cell unscaled).
    assert (figure == [255, 0, 0]).all(axis=-1).sum() == 2 * 40 * 60


def test_grid_cell_size_and_errors():
    tile = np.full((100, 50, 3), 0.5, np.float32)
    figure = image.grid([[tile, tile, tile]], cell_size=32, pad=0)
    assert figure.shape == (32, 96, 3)
    with pytest.raises(ValueError, match="col_titles"):
        image.grid([[tile, tile]], col_titles=["only one"])
    with pytest.raises(ValueError, match="images"):
        image.grid([[None]])


def test_strip_and_save(tmp_path):
    tiles = [np.full((30, 30, 3), v, np.float32) for v in (0.0, 0.5, 1.0)]
    figure = image.strip(tiles, ["black", "gray", "white"])
    assert 90 < figure.shape[1] < 140 and figure.shape[0] > 30
    assert (figure[: figure.shape[0] - 30 - 6] < 200).any()  # Labels above the images.
    path = image.save_strip(tmp_path / "figs" / "strip.png", tiles, ["a", "b", "c"])
    np.testing.assert_array_equal(_opened(path)[3], image.strip(tiles, ["a", "b", "c"]))
    grid_path = image.save_grid(tmp_path / "grid.jpg", [tiles], title="t")
    assert _opened(grid_path)[0] == "JPEG"
    with pytest.raises(image.ImageError, match="exists"):
        image.save_grid(grid_path, [tiles])


# ---------------------------------------------------------------------------------------------
# Bundled samples.


def test_samples_load_and_are_documented():
    sources = (pathlib.Path(image.__file__).parent / "data" / "SOURCES.md").read_text()
    total = 0
    assert set(image.SAMPLES) == {
        "tubingen",
        "chelsea",
        "starry_night",
        "the_scream",
        "woman_with_hat",
        "brick",
    }
    for name, path in image.SAMPLES.items():
        assert image.sample(name) == path
        loaded = image.load(path, max_size=None)
        assert loaded.ndim == 3 and loaded.shape[-1] == 3 and max(loaded.shape[:2]) <= 512
        relative = path.relative_to(pathlib.Path(image.__file__).parent / "data").as_posix()
        assert re.search(rf"\| `{name}` \| {re.escape(relative)} \|", sources), name
        total += path.stat().st_size
    assert total < 500_000


def test_unknown_sample_lists_names():
    with pytest.raises(image.ImageError, match=r"unknown sample.*starry_night.*tubingen"):
        image.sample("mona_lisa")
