"""Image I/O, resizing, colour preservation and labelled figures.

This is the NumPy side of the package: it reads and writes files, so it returns NumPy arrays,
and the engine moves them onto the device with ``jnp.asarray``.

Conventions, stated once:

* An image is an array of shape ``[H, W, 3]`` (RGB), ``float32`` with values in ``[0, 1]``.
  Functions that take images also accept ``uint8`` in ``[0, 255]``, grayscale ``[H, W]`` or
  ``[H, W, 1]``, and JAX arrays; floats outside ``[0, 1]`` are clipped where a file or a figure
  is written.
* A size given as a pair is ``(height, width)``, the order of the array's axes (Pillow uses
  ``(width, height)``; only this module talks to Pillow). A size given as one ``int`` is the
  length of the longest side.
* Every problem with a file (missing, a directory, not an image, truncated, too large, an
  unknown extension, an existing file that would be overwritten) raises :class:`ImageError`,
  a ``ValueError`` whose one-line message names the path. Bad arguments raise ``ValueError`` or
  ``TypeError`` naming the argument.

Colour preservation (Gatys, Bethge, Hertzmann & Shechtman 2017, "Preserving color in neural
artistic style transfer", arXiv:1606.05897) offers two methods, both here:
:func:`match_histogram` recolours the style image to the content's colour histogram before
transfer, and :func:`luminance_transfer` keeps the luminance of the stylized result and the
chroma of the content photo (YIQ space, :func:`rgb_to_yiq`).

Bundled samples (licenses in ``nst/data/SOURCES.md``)::

    >>> from nst import image
    >>> content = image.load(image.sample("tubingen"), max_size=256)
    >>> content.shape, content.dtype
    ((192, 256, 3), dtype('float32'))
"""

from __future__ import annotations

import importlib.resources
import math
import os
import pathlib
import types
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from nst import files
from nst._layout import nchw_hint

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "SAMPLES",
    "ImageError",
    "grid",
    "load",
    "luminance_transfer",
    "match_histogram",
    "match_luminance",
    "peek_shape",
    "resize",
    "rgb_to_yiq",
    "sample",
    "sample_or_path",
    "save",
    "save_grid",
    "save_strip",
    "strip",
    "to_float",
    "to_uint8",
    "yiq_to_rgb",
]

PathLike = str | os.PathLike

# Pillow's own hard limit: Image.MAX_IMAGE_PIXELS (89,478,485) warns, twice that raises.
DEFAULT_MAX_PIXELS = 178_956_970

# Extension -> (Pillow format, save options).
_FORMATS: Mapping[str, tuple[str, dict[str, Any]]] = types.MappingProxyType(
    {
        ".png": ("PNG", {}),
        ".jpg": ("JPEG", {"quality": 95, "subsampling": 0}),
        ".jpeg": ("JPEG", {"quality": 95, "subsampling": 0}),
        ".webp": ("WEBP", {"quality": 95}),
        ".tif": ("TIFF", {"compression": "tiff_deflate"}),
        ".tiff": ("TIFF", {"compression": "tiff_deflate"}),
        ".bmp": ("BMP", {}),
    }
)
_NO_ALPHA_FORMATS = frozenset({"JPEG"})

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


class ImageError(ValueError):
    """A file cannot be read or written as an image; the message names the path."""


# ---------------------------------------------------------------------------------------------
# Bundled samples.

_SAMPLE_FILES: Mapping[str, str] = types.MappingProxyType(
    {
        "tubingen": "content/tubingen.jpg",
        "chelsea": "content/chelsea.jpg",
        "starry_night": "style/starry_night.jpg",
        "the_scream": "style/the_scream.jpg",
        "woman_with_hat": "style/woman_with_hat.jpg",
        "brick": "texture/brick.png",
    }
)


def _sample_path(relative: str) -> pathlib.Path:
    resource = importlib.resources.files("nst").joinpath("data", *relative.split("/"))
    # A regular (unzipped) install, editable or from a wheel, gives a real path.
    return pathlib.Path(os.fspath(resource))


#: Read-only map from sample name to the bundled file (content: ``tubingen``, ``chelsea``;
#: style: ``starry_night``, ``the_scream``, ``woman_with_hat``; texture: ``brick``).
#: Sources in ``SOURCES.md``.
SAMPLES: Mapping[str, pathlib.Path] = types.MappingProxyType(
    {name: _sample_path(relative) for name, relative in _SAMPLE_FILES.items()}
)


def sample(name: str) -> pathlib.Path:
    """Returns the path of a bundled sample image.

    Args:
      name: one of ``SAMPLES``: ``"tubingen"``, ``"chelsea"`` (content photos),
        ``"starry_night"``, ``"the_scream"``, ``"woman_with_hat"`` (paintings), ``"brick"``
        (a grayscale texture).

    Returns:
      The file's path inside the installed package.

    Raises:
      ImageError: for an unknown name (the message lists the known ones).

    >>> sample("starry_night").name
    'starry_night.jpg'
    """
    try:
        return SAMPLES[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(SAMPLES))
        raise ImageError(f"unknown sample image {name!r}; known samples: {known}") from None


def sample_or_path(name: str | os.PathLike) -> str:
    """A sample name (``SAMPLES``) -> its bundled file; anything else is taken as a path.

    >>> sample_or_path("photos/me.jpg")
    'photos/me.jpg'
    """
    return str(SAMPLES[name]) if name in SAMPLES else str(name)


# ---------------------------------------------------------------------------------------------
# Conversions.


def to_float(image: Any) -> np.ndarray:
    """Returns ``image`` as a ``float32`` NumPy array in ``[0, 1]`` (shape unchanged).

    ``uint8`` is divided by 255; floats are clipped to ``[0, 1]`` with NaN read as 0.

    Raises:
      TypeError: for a dtype that is neither ``uint8`` nor floating point.
    """
    array = np.asarray(image)
    if array.dtype == np.uint8:
        return array.astype(np.float32) / np.float32(255)
    if np.issubdtype(array.dtype, np.floating):
        array = np.nan_to_num(array.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        return np.clip(array, 0.0, 1.0)
    raise TypeError(f"image: expected uint8 or floating point, got dtype {array.dtype}")


def to_uint8(image: Any) -> np.ndarray:
    """Returns ``image`` as ``uint8`` in ``[0, 255]`` (shape unchanged).

    Floats are clipped to ``[0, 1]`` (NaN read as 0) and rounded: ``round(255 * x)``.
    ``uint8`` input is returned as is.

    Raises:
      TypeError: for a dtype that is neither ``uint8`` nor floating point.

    >>> to_uint8(np.array([0.0, 0.5, 1.0, 2.0])).tolist()
    [0, 128, 255, 255]
    """
    array = np.asarray(image)
    if array.dtype == np.uint8:
        return array
    return np.round(to_float(array) * 255).astype(np.uint8)


def _check_image(image: Any, name: str) -> np.ndarray:
    """Returns ``image`` as a NumPy array of shape [H, W] or [H, W, C] with C in {1, 3, 4}."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] in (1, 3, 4):
        pass
    elif array.ndim != 2:
        raise ValueError(
            f"{name}: expected an image of shape [H, W, 3], [H, W, 1] or [H, W], "
            f"got shape {array.shape}{nchw_hint(array.shape)}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name}: image has zero size, shape {array.shape}")
    return array


def _to_rgb_uint8(image: Any, name: str) -> np.ndarray:
    array = to_uint8(_check_image(image, name))
    if array.ndim == 2:
        array = array[..., None]
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    elif array.shape[-1] == 4:
        array = _composite_on_white(array.astype(np.float32) / 255)
        array = to_uint8(array)
    return array


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """``rgb * alpha + 1 * (1 - alpha)`` for float RGBA in [0, 1]."""
    rgb, alpha = rgba[..., :3], rgba[..., 3:]
    return rgb * alpha + (1.0 - alpha)


# ---------------------------------------------------------------------------------------------
# Loading.


def load(
    path: PathLike,
    max_size: int | None = 512,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Reads an image file as float32 RGB in [0, 1].

    Reads every format Pillow decodes (JPEG, PNG, WebP, TIFF, BMP, GIF, ...), and any mode:
    8- and 16-bit grayscale (16-bit is scaled by 1/65535, keeping its precision), palette,
    grayscale + alpha, RGBA, CMYK. The EXIF orientation tag is applied, so a phone photo comes
    out upright. Transparent pixels are composited on white:
    ``rgb = rgb * alpha + (1 - alpha)``. Multi-frame files (GIF, TIFF) give the first frame.
    (Pillow reads 16-bit RGB PNGs as 8-bit; 16-bit grayscale keeps 16 bits.)

    After compositing (so no colour bleeds in from transparent pixels) the image is resized
    with a Lanczos filter so that its longest side is exactly ``max_size``: large images
    shrink and small ones grow, because ``max_size`` is the working size of the optimization.
    A JPEG at least four times larger than ``max_size`` is decoded at 1/2, 1/4 or 1/8 of its
    size (Pillow's draft mode), never below twice ``max_size``, before that resize.

    Args:
      path: the file.
      max_size: length in pixels of the longest side after resizing; ``None`` keeps the size.
      max_pixels: refuse images with more than this many pixels (``width * height`` read from
        the header, before decoding), a guard against decompression bombs. The resized
        image is bounded too: a ``max_size`` giving more than ``DEFAULT_MAX_PIXELS`` pixels
        is refused before anything is decoded. Pillow refuses
        more than 178,956,970 pixels on its own, so a larger value does not raise the limit.

    Returns:
      ``float32`` array of shape ``[H, W, 3]`` with values in ``[0, 1]``.

    Raises:
      ImageError: the file is missing, a directory, empty, not an image, truncated or
        corrupt, larger than ``max_pixels``, or of zero size.
      ValueError: ``max_size`` is not a positive int.
    """
    if max_size is not None and (
        not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 1
    ):
        raise ValueError(f"max_size: expected a positive int or None, got {max_size!r}")
    path = pathlib.Path(path)

    def error(reason: str) -> ImageError:
        return ImageError(f"cannot load image {str(path)!r}: {reason}")

    if not path.exists():
        raise error("no such file")
    if path.is_dir():
        raise error("is a directory")
    if path.stat().st_size == 0:
        raise error("file is empty (0 bytes)")

    try:
        with warnings.catch_warnings():
            # Pillow warns above half its hard limit; the limit here is max_pixels.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width == 0 or height == 0:
                    raise error(f"image has zero size ({width}x{height})")
                if width * height > max_pixels:
                    raise error(
                        f"{width}x{height} = {width * height:,} pixels is more than the "
                        f"{max_pixels:,} allowed (possible decompression bomb)"
                    )
                if max_size is not None:  # the resized copy is bounded too, before decoding
                    th, tw = _target_size((height, width), max_size)
                    if th * tw > DEFAULT_MAX_PIXELS:
                        raise error(
                            f"resizing to {tw}x{th} = {th * tw:,} pixels is more than the "
                            f"{DEFAULT_MAX_PIXELS:,} allowed (max_size={max_size} is too large)"
                        )
                # The size after EXIF rotation (width and height swap for 5 to 8).
                swapped = img.getexif().get(_ORIENTATION) in (5, 6, 7, 8)
                shape = (width, height) if swapped else (height, width)
                if max_size is not None:
                    _draft(img, max_size)
                img.load()  # Full decode now: truncated or corrupt data fails here.
                img = ImageOps.exif_transpose(img)
                array = _decode(img, error)
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise error(f"too many pixels (possible decompression bomb): {e}") from None
    except PermissionError:
        raise error("permission denied") from None
    except UnidentifiedImageError:
        raise error("not an image file (or a format Pillow cannot read)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise error(f"truncated or corrupt image data: {e}") from None

    if max_size is not None:  # from the file's size: a draft's rounding does not count
        array = resize(array, _target_size(shape, max_size))
    return array


_ORIENTATION = 0x0112  # the EXIF orientation tag


def _draft(img: Image.Image, max_size: int) -> None:
    """Lets a JPEG decode at 1/2, 1/4 or 1/8 of its size (in the DCT, much faster than the
    full decode) where that keeps at least twice ``max_size`` on the longest side, so the
    Lanczos resize that follows still shrinks by 2x or more."""
    width, height = img.size
    factor = max(width, height) / (2 * max_size)
    if img.format == "JPEG" and factor >= 2:
        img.draft(img.mode, (math.ceil(width / factor), math.ceil(height / factor)))


def peek_shape(path: PathLike, max_size: int | None = None) -> tuple[int, int]:
    """``(height, width)`` :func:`load` will return, read from the header (nothing decoded).

    The EXIF orientation is applied, as ``load`` does. Raises ``ImageError`` as ``load``.
    """
    path = pathlib.Path(path)
    error = lambda reason: ImageError(f"cannot load image {str(path)!r}: {reason}")
    if not path.is_file():
        raise error("is a directory" if path.is_dir() else "no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                orientation = img.getexif().get(0x0112, 1)
    except Image.DecompressionBombError as e:
        raise error(f"too many pixels (possible decompression bomb): {e}") from None
    except UnidentifiedImageError:
        raise error("not an image file (or a format Pillow cannot read)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise error(f"truncated or corrupt image data: {e}") from None
    if width == 0 or height == 0:
        raise error(f"image has zero size ({width}x{height})")
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    if max_size is None:
        return height, width
    return _target_size((height, width), max_size)


def _decode(img: Image.Image, error) -> np.ndarray:
    """Returns a decoded Pillow image as float32 RGB [H, W, 3] in [0, 1]."""
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES:
        gray = np.asarray(img).astype(np.float32) / np.float32(65535)
    elif mode == "I":  # 32-bit int, what older Pillows give for 16-bit PNG: 16-bit range.
        gray = np.clip(np.asarray(img).astype(np.float32) / np.float32(65535), 0.0, 1.0)
    elif mode == "F":  # 32-bit float (TIFF): taken to be in [0, 1].
        gray = to_float(np.asarray(img))
    elif mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = np.asarray(img.convert("RGBA")).astype(np.float32) / np.float32(255)
        return np.ascontiguousarray(_composite_on_white(rgba), dtype=np.float32)
    else:
        try:
            rgb = img.convert("RGB")
        except ValueError:
            raise error(f"unsupported image mode {mode!r}") from None
        return np.asarray(rgb).astype(np.float32) / np.float32(255)
    return np.repeat(gray[..., None], 3, axis=-1)


# ---------------------------------------------------------------------------------------------
# Resizing.


def _target_size(shape: tuple[int, ...], size: int | tuple[int, int]) -> tuple[int, int]:
    height, width = shape[:2]
    if isinstance(size, int | np.integer) and not isinstance(size, bool):
        if size < 1:
            raise ValueError(f"size: expected a positive int, got {size}")
        scale = size / max(height, width)
        return max(1, round(height * scale)), max(1, round(width * scale))
    if (
        isinstance(size, Sequence)
        and len(size) == 2
        and all(isinstance(s, int | np.integer) and s >= 1 for s in size)
    ):
        return int(size[0]), int(size[1])
    raise ValueError(f"size: expected an int or a (height, width) pair, got {size!r}")


def resize(image: Any, size: int | tuple[int, int]) -> np.ndarray:
    """Resizes an image with a Lanczos (windowed sinc, a = 3) filter.

    Each channel is resampled in 32-bit float, so 16-bit sources keep their precision; the
    filter's overshoot at edges is clipped back to ``[0, 1]``.

    Args:
      image: ``[H, W]`` or ``[H, W, C]``, float in ``[0, 1]`` or ``uint8``.
      size: an ``int``, the new length of the longest side (aspect ratio kept, each side
        rounded, at least 1), or a ``(height, width)`` pair.

    Returns:
      ``float32`` array of shape ``[height, width]`` or ``[height, width, C]`` in ``[0, 1]``.

    >>> resize(np.zeros((100, 50, 3), np.float32), 64).shape
    (64, 32, 3)
    """
    array = to_float(_check_image(image, "image"))
    height, width = _target_size(array.shape, size)
    if (height, width) == array.shape[:2]:
        return array
    channels = array[..., None] if array.ndim == 2 else array
    resized = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(channels[..., c])).resize(
                (width, height), Image.Resampling.LANCZOS
            )
        )
        for c in range(channels.shape[-1])
    ]
    out = np.clip(np.stack(resized, axis=-1), 0.0, 1.0).astype(np.float32)
    return out[..., 0] if array.ndim == 2 else out


# ---------------------------------------------------------------------------------------------
# Saving.


def save(path: PathLike, image: Any, *, overwrite: bool = False) -> pathlib.Path:
    """Writes an image file atomically, by extension: PNG, JPEG, WebP, TIFF or BMP.

    The file is written to a temporary file in the same folder and then moved into place
    (``os.replace``, or a hard link when not overwriting), so a reader never sees a partial
    file and a crash leaves no half-written output. Missing parent folders are created.
    JPEG and WebP are written at quality 95 (JPEG without chroma subsampling).

    Args:
      path: the file to write; its extension (``.png``, ``.jpg``/``.jpeg``, ``.webp``,
        ``.tif``/``.tiff``, ``.bmp``, any case) picks the format.
      image: ``[H, W, 3]`` RGB, ``[H, W, 1]`` or ``[H, W]`` grayscale, or ``[H, W, 4]`` RGBA
        (not for JPEG); float in ``[0, 1]`` (clipped, then rounded to 8 bits) or ``uint8``;
        NumPy or JAX.
      overwrite: replace an existing file; when ``False`` an existing file is left untouched.

    Returns:
      The path written.

    Raises:
      ImageError: unknown extension, the file exists and ``overwrite`` is ``False``, the path
        is a directory, or the file cannot be written.
      ValueError, TypeError: ``image`` has the wrong shape or dtype.
    """
    path = pathlib.Path(path)

    def error(reason: str) -> ImageError:
        return ImageError(f"cannot save image {str(path)!r}: {reason}")

    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        known = ", ".join(_FORMATS)
        raise error(f"unknown extension {path.suffix!r} (use one of {known})")
    fmt, options = _FORMATS[suffix]
    array = to_uint8(_check_image(image, "image"))
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 3 and array.shape[-1] == 4 and fmt in _NO_ALPHA_FORMATS:
        raise ValueError(f"image: {fmt} has no alpha channel; pass [H, W, 3], got {array.shape}")

    def write(f) -> None:
        Image.fromarray(np.ascontiguousarray(array)).save(f, format=fmt, **options)

    try:
        files.write_atomic(path, write, overwrite=overwrite)
    except files.OutputError as e:
        raise error(e.reason) from None
    return path


# ---------------------------------------------------------------------------------------------
# Colour preservation.

# NTSC (FCC) RGB -> YIQ, the space used by Gatys et al. (2017) for luminance-only transfer.
_RGB_TO_YIQ = np.array(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ],
    dtype=np.float64,
)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def rgb_to_yiq(image: Any) -> Any:
    """Converts RGB to YIQ (NTSC): luminance Y and two chroma channels I, Q.

    .. math::

      \\begin{pmatrix} Y \\\\ I \\\\ Q \\end{pmatrix} =
      \\begin{pmatrix} 0.299 & 0.587 & 0.114 \\\\
                       0.595716 & -0.274453 & -0.321263 \\\\
                       0.211456 & -0.522591 & 0.311135 \\end{pmatrix}
      \\begin{pmatrix} R \\\\ G \\\\ B \\end{pmatrix}

    Y is in ``[0, 1]`` for RGB in ``[0, 1]``; I in about ``[-0.60, 0.60]``, Q in about
    ``[-0.52, 0.52]``. A plain matrix product on the last axis, so it takes NumPy or JAX
    arrays of shape ``[..., 3]`` (batches too), returns the same kind, and works under
    ``jax.jit``.
    """
    return image @ _RGB_TO_YIQ.T.astype(_float_dtype(image))


def yiq_to_rgb(image: Any) -> Any:
    """Converts YIQ back to RGB with the exact inverse of :func:`rgb_to_yiq`'s matrix.

    Not clipped: a Y and IQ taken from different images can leave ``[0, 1]``. Takes NumPy or
    JAX arrays of shape ``[..., 3]`` and returns the same kind.
    """
    return image @ _YIQ_TO_RGB.T.astype(_float_dtype(image))


def _float_dtype(image: Any) -> np.dtype:
    dtype = np.dtype(getattr(image, "dtype", np.float64))
    return dtype if np.issubdtype(dtype, np.floating) else np.dtype(np.float32)


def luminance_transfer(stylized: Any, content: Any) -> np.ndarray:
    """Keeps the stylized luminance and the content's colour (Gatys et al. 2017, §3).

    .. math::

      \\mathrm{out} = \\mathrm{RGB}(Y_{\\text{stylized}}, I_{\\text{content}},
                                  Q_{\\text{content}})

    Args:
      stylized: ``[H, W, 3]`` result of style transfer, float in ``[0, 1]`` or ``uint8``.
      content: ``[H', W', 3]`` content photo; resized (Lanczos) to ``[H, W]`` if it differs.

    Returns:
      ``float32`` ``[H, W, 3]`` in ``[0, 1]`` (clipped).

    References:
      Gatys, Bethge, Hertzmann & Shechtman, "Preserving color in neural artistic style
      transfer", arXiv:1606.05897, 2016.
    """
    stylized = _rgb_float(stylized, "stylized")
    content = _rgb_float(content, "content")
    if content.shape[:2] != stylized.shape[:2]:
        content = resize(content, stylized.shape[:2])
    y = rgb_to_yiq(stylized)[..., :1]
    iq = rgb_to_yiq(content)[..., 1:]
    out = yiq_to_rgb(np.concatenate([y, iq], axis=-1))
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def match_luminance(style: Any, content: Any) -> np.ndarray:
    """Matches the style image's luminance mean and spread to the content's (Gatys 2017).

    The style's Y channel is shifted and scaled; its chroma is kept:

    .. math::

      Y_s' = \\frac{\\sigma_c}{\\sigma_s} (Y_s - \\mu_s) + \\mu_c

    with :math:`\\mu, \\sigma` the mean and standard deviation of each image's luminance.
    Used before luminance-only transfer so the style's brightness fits the photo.

    Args:
      style: ``[H, W, 3]`` float in ``[0, 1]`` or ``uint8``.
      content: ``[H', W', 3]``, any size.

    Returns:
      ``float32`` ``[H, W, 3]`` in ``[0, 1]`` (clipped).
    """
    style = _rgb_float(style, "style")
    content = _rgb_float(content, "content")
    yiq = rgb_to_yiq(style.astype(np.float64))
    y_style = yiq[..., 0]
    y_content = rgb_to_yiq(content.astype(np.float64))[..., 0]
    sigma_style = max(float(y_style.std()), 1e-8)
    yiq[..., 0] = y_content.std() / sigma_style * (y_style - y_style.mean()) + y_content.mean()
    return np.clip(yiq_to_rgb(yiq), 0.0, 1.0).astype(np.float32)


def match_histogram(source: Any, template: Any) -> np.ndarray:
    """Gives each channel of ``source`` the value distribution of ``template``'s channel.

    Classic histogram specification per channel: each source value maps through its own
    empirical CDF and then the template's inverse CDF (sorted values, linearly interpolated):

    .. math::

      \\mathrm{out}_c(x) = F_{t,c}^{-1}\\big(F_{s,c}(x)\\big)

    Equal source values map to equal outputs, and the output keeps the source's order. For
    colour preservation (Gatys et al. 2017, §2) pass the style image as ``source`` and the
    content photo as ``template`` to recolour the painting before transfer.

    Args:
      source: ``[..., C]`` float in ``[0, 1]`` or ``uint8`` (e.g. ``[H, W, 3]``).
      template: ``[..., C]`` with the same ``C``; its size may differ.

    Returns:
      ``float32`` array of ``source``'s shape, in ``[0, 1]``.

    >>> out = match_histogram(np.array([[[0.0], [1.0]]]), np.array([[[0.25], [0.5]]]))
    >>> out[..., 0].tolist()
    [[0.25, 0.5]]
    """
    source = to_float(source)
    template = to_float(template)
    if source.ndim < 2 or template.ndim < 2 or source.shape[-1] != template.shape[-1]:
        raise ValueError(
            "source, template: expected [..., C] arrays with the same C, got shapes "
            f"{source.shape} and {template.shape}"
        )
    channels = source.shape[-1]
    src = source.reshape(-1, channels)
    tmpl = template.reshape(-1, channels)
    out = np.empty_like(src)
    for c in range(channels):
        _, src_index, src_counts = np.unique(src[:, c], return_inverse=True, return_counts=True)
        tmpl_values, tmpl_counts = np.unique(tmpl[:, c], return_counts=True)
        src_quantiles = np.cumsum(src_counts) / src.shape[0]
        tmpl_quantiles = np.cumsum(tmpl_counts) / tmpl.shape[0]
        mapped = np.interp(src_quantiles, tmpl_quantiles, tmpl_values)
        out[:, c] = mapped[src_index.reshape(-1)]
    return out.reshape(source.shape).astype(np.float32)


def _rgb_float(image: Any, name: str) -> np.ndarray:
    array = _check_image(image, name)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"{name}: expected an RGB image [H, W, 3], got shape {array.shape}")
    return to_float(array)


# ---------------------------------------------------------------------------------------------
# Figures.

_WHITE = (255, 255, 255)
_INK = (20, 20, 20)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans from matplotlib (wide Unicode coverage), else Pillow's default font."""
    try:
        import matplotlib

        return ImageFont.truetype(
            os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf"), size
        )
    except (ImportError, OSError):
        return ImageFont.load_default(size)


def _wrap(text: str, font, width: int) -> list[str]:
    """Greedy word wrap of ``text`` (which may hold newlines) to ``width`` pixels."""
    lines = []
    for paragraph in str(text).split("\n"):
        words = paragraph.split(" ")
        line = ""
        for word in words:
            candidate = f"{line} {word}" if line else word
            if not line or font.getlength(candidate) <= width:
                line = candidate
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return lines


def _text_block(text: str | None, font, width: int, *, align: str = "center") -> Image.Image:
    """Renders wrapped text into a white block ``width`` pixels wide (0 high if no text)."""
    if not text:
        return Image.new("RGB", (max(width, 1), 0), _WHITE)
    lines = _wrap(text, font, width)
    ascent, descent = font.getmetrics()
    line_height = ascent + descent + 2
    block = Image.new("RGB", (max(width, 1), line_height * len(lines) + 4), _WHITE)
    draw = ImageDraw.Draw(block)
    for i, line in enumerate(lines):
        x = (width - font.getlength(line)) / 2 if align == "center" else 0
        draw.text((max(x, 0), 2 + i * line_height), line, fill=_INK, font=font)
    return block


def _letterbox(image: np.ndarray, height: int, width: int) -> Image.Image:
    """Scales ``image`` to fit in ``height x width`` (aspect kept) and centres it on white."""
    cell = Image.new("RGB", (width, height), _WHITE)
    h, w = image.shape[:2]
    scale = min(height / h, width / w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    picture = Image.fromarray(image)
    if (new_w, new_h) != (w, h):
        picture = picture.resize((new_w, new_h), Image.Resampling.LANCZOS)
    cell.paste(picture, ((width - new_w) // 2, (height - new_h) // 2))
    return cell


def grid(
    images: Sequence[Sequence[Any]],
    *,
    row_titles: Sequence[str | None] | None = None,
    col_titles: Sequence[str | None] | None = None,
    titles: Sequence[Sequence[str | None]] | None = None,
    title: str | None = None,
    cell_size: int | None = None,
    pad: int = 6,
    font_size: int = 16,
) -> np.ndarray:
    """Lays images out in a labelled grid, like the comparison figures of the papers.

    Every cell has the same size: by default the largest height and the largest width among
    the images, or a square of ``cell_size`` pixels. Each image is scaled (Lanczos) to fit its
    cell with its aspect ratio kept and is centred on white (letterboxed). Long titles wrap.

    Layout, top to bottom: ``title`` (a figure-wide line, e.g. ``"random weights — not paper
    quality"``), ``col_titles`` above the columns, then the rows, each with its
    ``row_titles`` entry on the left and a caption from ``titles`` under each cell.

    Args:
      images: rows of images (a list of lists); rows may be of different lengths, and a
        ``None`` cell is left blank. Each image is ``[H, W, 3]``, ``[H, W, 1]``, ``[H, W]`` or
        ``[H, W, 4]`` (composited on white), float in ``[0, 1]`` or ``uint8``, NumPy or JAX.
      row_titles: one label per row, or ``None``.
      col_titles: one label per column, or ``None``.
      titles: per-cell captions, shaped like ``images`` (``None`` entries for no caption).
      title: a line above the whole figure.
      cell_size: the longest side of a (square) cell in pixels; ``None`` fits the largest
        image.
      pad: white space between cells, in pixels.
      font_size: text size in pixels.

    Returns:
      ``uint8`` ``[H, W, 3]`` RGB array.

    >>> tile = np.zeros((32, 48, 3), np.float32)
    >>> grid([[tile, tile], [tile, None]], col_titles=["a", "b"]).dtype
    dtype('uint8')
    """
    rows = [list(row) for row in images]
    if not rows or not any(cell is not None for row in rows for cell in row):
        raise ValueError("images: expected a non-empty list of rows of images")
    n_rows = len(rows)
    n_cols = max(len(row) for row in rows)
    for row in rows:
        row.extend([None] * (n_cols - len(row)))
    _check_len(row_titles, n_rows, "row_titles")
    _check_len(col_titles, n_cols, "col_titles")
    if titles is not None:
        _check_len(titles, n_rows, "titles")
        for i, row in enumerate(titles):
            if row is not None and len(row) > n_cols:
                raise ValueError(f"titles[{i}]: {len(row)} captions for {n_cols} columns")

    pictures = [
        [
            None if cell is None else _to_rgb_uint8(cell, f"images[{i}][{j}]")
            for j, cell in enumerate(row)
        ]
        for i, row in enumerate(rows)
    ]
    if cell_size is not None:
        cell_h = cell_w = int(cell_size)
    else:
        shapes = [p.shape for row in pictures for p in row if p is not None]
        cell_h = max(s[0] for s in shapes)
        cell_w = max(s[1] for s in shapes)

    font = _font(font_size)
    # Row titles sit in a left column as wide as the longest one (at most one cell width).
    if row_titles is not None and any(row_titles):
        label_w = min(cell_w, max(int(font.getlength(str(t or ""))) + 1 for t in row_titles))
        label_w = max(label_w, font_size)
    else:
        label_w = 0
    left = label_w + (pad if label_w else 0)

    def caption(i: int, j: int) -> str | None:
        if titles is None or titles[i] is None or j >= len(titles[i]):
            return None
        return titles[i][j]

    width = left + n_cols * cell_w + (n_cols + 1) * pad
    blocks = []  # (image, x, y) pieces, laid out downward.
    y = pad
    header = _text_block(title, _font(round(font_size * 1.25)), width - 2 * pad)
    blocks.append((header, pad, y))
    y += header.height
    if col_titles is not None and any(col_titles):
        heads = [_text_block(t, font, cell_w) for t in col_titles]
        band = max(h.height for h in heads)
        for j, head in enumerate(heads):
            blocks.append((head, left + pad + j * (cell_w + pad), y + band - head.height))
        y += band
    for i in range(n_rows):
        caps = [_text_block(caption(i, j), font, cell_w) for j in range(n_cols)]
        cap_h = max(c.height for c in caps)
        if label_w:
            label = _text_block(row_titles[i], font, label_w)
            blocks.append((label, pad, y + (cell_h - label.height) // 2))
        for j, picture in enumerate(pictures[i]):
            x = left + pad + j * (cell_w + pad)
            if picture is not None:
                blocks.append((_letterbox(picture, cell_h, cell_w), x, y))
            blocks.append((caps[j], x, y + cell_h))
        y += cell_h + cap_h + pad

    canvas = Image.new("RGB", (width, y), _WHITE)
    for block, bx, by in blocks:
        if block.height:
            canvas.paste(block, (bx, by))
    return np.asarray(canvas)


def _check_len(values: Sequence[Any] | None, expected: int, name: str) -> None:
    if values is not None and len(values) != expected:
        raise ValueError(f"{name}: expected {expected} entries, got {len(values)}")


def strip(
    images: Sequence[Any],
    labels: Sequence[str | None] | None = None,
    *,
    title: str | None = None,
    cell_size: int | None = None,
) -> np.ndarray:
    """Images side by side in one row, each labelled above; see :func:`grid`.

    Args:
      images: the images, each as in :func:`grid` (``None`` for a blank).
      labels: one label per image, or ``None``.
      title: a line above the figure.
      cell_size: the longest side of a cell; ``None`` fits the largest image.

    Returns:
      ``uint8`` ``[H, W, 3]`` RGB array.
    """
    return grid([list(images)], col_titles=labels, title=title, cell_size=cell_size)


def save_grid(
    path: PathLike,
    images: Sequence[Sequence[Any]],
    *,
    overwrite: bool = False,
    **kwargs: Any,
) -> pathlib.Path:
    """Builds :func:`grid` (``kwargs`` are its options) and :func:`save` s it to ``path``."""
    return save(path, grid(images, **kwargs), overwrite=overwrite)


def save_strip(
    path: PathLike,
    images: Sequence[Any],
    labels: Sequence[str | None] | None = None,
    *,
    overwrite: bool = False,
    **kwargs: Any,
) -> pathlib.Path:
    """Builds :func:`strip` (``kwargs`` are its options) and :func:`save` s it to ``path``."""
    return save(path, strip(images, labels, **kwargs), overwrite=overwrite)
