"""Reading clips and writing videos: files via FFmpeg (imageio-ffmpeg), or frame folders.

Conventions, stated once:

* A clip is held as ``uint8`` frames ``[T, H, W, 3]`` (RGB) at the working size: each
  decoded frame is resized like an image (``nst.image.resize``, Lanczos, longest side
  ``size``) and rounded to 8 bits. ``Clip.frame(t)`` gives frame ``t`` as ``float32`` in
  ``[0, 1]``, the engine's image convention.
* Time is in seconds; ``fps`` is frames per second. A folder of numbered frames has no rate
  of its own: it plays at ``fps`` (25 by default).
* Every problem with an input or output (missing, unreadable or empty video, no frames left
  after ``start``, frames of different sizes in a folder, an output that exists, a missing
  encoder or the optional dependency missing) raises :class:`VideoError`, an
  ``nst.image.ImageError`` (so a ``ValueError``) whose one-line message names the path.

Input: a video file, decoded by OpenCV's bundled FFmpeg (MP4, MOV, AVI, WebM, MKV, GIF,
...), or a folder of images sorted by the number in their names (``frame_2.png`` before
``frame_10.png``). Output: an MP4 (H.264, yuv420p) encoded by the FFmpeg binary of the
``imageio-ffmpeg`` wheel, written through a temporary file and moved into place, or a folder
of PNG frames. Both come with the optional extra ``pip install -e .[video]``.

A frame whose size differs from the first frame's is refused. (FFmpeg usually scales the
frames of one video file to its first frame's size while decoding; in a folder of images a
different size is common, and refused.)
"""

from __future__ import annotations

import dataclasses
import math
import os
import pathlib
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from PIL import Image

from nst import image as nst_image

__all__ = [
    "FOLDER_FPS",
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "Clip",
    "VideoError",
    "check_encoder",
    "frame_path",
    "load_clip",
    "numbered_frames",
    "output_kind",
    "read_frames_folder",
    "select_indices",
    "write_mp4",
]

FOLDER_FPS = 25.0  # frame rate of a folder of frames when none is given
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".avi", ".webm", ".mkv", ".m4v", ".gif"})
_EXTRA = "pip install -e '.[video]'"


class VideoError(nst_image.ImageError):
    """A video input or output problem; the message is one line naming the path."""


def _ffmpeg_module():
    try:
        import imageio_ffmpeg
    except ImportError:
        raise VideoError(
            f"writing MP4 needs the optional video extra: {_EXTRA} (imageio-ffmpeg is missing)"
        ) from None
    return imageio_ffmpeg


def ffmpeg_exe() -> str:
    """The FFmpeg binary shipped with imageio-ffmpeg (or $IMAGEIO_FFMPEG_EXE)."""
    try:
        return _ffmpeg_module().get_ffmpeg_exe()
    except RuntimeError as e:
        raise VideoError(f"no FFmpeg binary: {e}") from None


# --------------------------------------------------------------------------------- clips


@dataclasses.dataclass(frozen=True, eq=False)
class Clip:
    """Frames of a video at the working size.

    frames: ``uint8 [T, H, W, 3]``.
    fps: the rate the frames play at (the output's frame rate).
    source: the input path.
    source_fps: the input's own rate (a folder: ``fps``).
    source_size: ``(height, width)`` of the input's frames before resizing.
    indices: for each frame, its index among the input's frames.
    """

    frames: np.ndarray
    fps: float
    source: str
    source_fps: float
    source_size: tuple[int, int]
    indices: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(H, W, 3)`` of one frame."""
        return tuple(self.frames.shape[1:])  # type: ignore[return-value]

    def frame(self, t: int) -> np.ndarray:
        """Frame ``t`` as ``float32 [H, W, 3]`` in ``[0, 1]``."""
        return nst_image.to_float(self.frames[t])


def select_indices(
    source_fps: float, *, start: float = 0.0, fps: float | None = None, count: int | None = None
) -> Iterator[int]:
    """Source frame indices, in order, for a clip starting at ``start`` s played at ``fps``.

    Output frame ``k`` shows the source frame on screen at time ``start + k / fps``:
    ``floor((start + k / fps) * source_fps)`` (with a 1e-6 tolerance against rounding).
    Frames repeat when ``fps`` exceeds ``source_fps`` and are skipped when it is lower.
    Without ``fps`` the source rate is kept: ``start_index, start_index + 1, ...``.

    >>> list(select_indices(30.0, start=1.0, fps=10.0, count=3))
    [30, 33, 36]
    """
    fps = source_fps if fps is None else fps
    k = 0
    while count is None or k < count:
        yield math.floor((start + k / fps) * source_fps + 1e-6)
        k += 1


def _check_selection(start: float, max_frames: int | None, fps: float | None) -> None:
    if not (isinstance(start, int | float) and math.isfinite(start) and start >= 0):
        raise ValueError(f"start must be a number of seconds >= 0, got {start!r}")
    if max_frames is not None and (not isinstance(max_frames, int) or max_frames < 1):
        raise ValueError(f"max_frames must be a positive int or None, got {max_frames!r}")
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be > 0, got {fps!r}")


def _natural_key(path: pathlib.Path) -> tuple:
    numbers = re.findall(r"\d+", path.stem)
    return (int(numbers[-1]) if numbers else -1, path.name)


def numbered_frames(folder: str | os.PathLike) -> list[pathlib.Path]:
    """The image files of ``folder`` sorted by the last number in their names."""
    folder = pathlib.Path(folder)
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    ]
    return sorted(files, key=_natural_key)


def load_clip(
    path: str | os.PathLike,
    *,
    size: int | None = None,
    start: float = 0.0,
    max_frames: int | None = None,
    fps: float | None = None,
) -> Clip:
    """Reads (part of) a video file or a folder of numbered frames.

    Args:
      path: a video file FFmpeg reads, or a folder of numbered image files.
      size: longest side of the frames after resizing, px (``None``: as stored).
      start: seconds into the clip where reading starts.
      max_frames: the most frames to keep (``None``: to the end).
      fps: the frame rate to take frames at (``select_indices``); a folder of frames plays
        at this rate without resampling. ``None``: the input's rate (folders:
        ``FOLDER_FPS``).

    Returns:
      The ``Clip``. Everything is decoded before it returns, so a bad input fails before any
      work starts.

    Raises:
      VideoError: the input is missing, unreadable or empty, no frame is left after
        ``start``, or a folder's frames differ in size.
      ValueError: bad ``size``, ``start``, ``max_frames`` or ``fps``.
    """
    _check_selection(start, max_frames, fps)
    if size is not None and (not isinstance(size, int) or size < 1):
        raise ValueError(f"size must be a positive int or None, got {size!r}")
    path = pathlib.Path(path)
    if not path.exists():
        raise VideoError(f"video {str(path)!r} does not exist")
    if path.is_dir():
        return _load_folder(path, size=size, start=start, max_frames=max_frames, fps=fps)
    return _load_file(path, size=size, start=start, max_frames=max_frames, fps=fps)


def _resize(frame: np.ndarray, size: int | None) -> np.ndarray:
    if size is None:
        return frame
    return nst_image.to_uint8(nst_image.resize(frame, size))


def _finish(frames: list[np.ndarray], path: pathlib.Path, start: float, **fields: Any) -> Clip:
    if not frames:
        where = f" after --start={start:g} s" if start else ""
        raise VideoError(f"video {str(path)!r} has no frames{where}")
    return Clip(frames=np.stack(frames), source=str(path), **fields)


def _load_folder(path, *, size, start, max_frames, fps) -> Clip:
    files = numbered_frames(path)
    if not files:
        raise VideoError(f"video folder {str(path)!r} holds no image files")
    rate = fps or FOLDER_FPS
    first = math.floor(start * rate + 1e-6)
    chosen = files[first : None if max_frames is None else first + max_frames]
    sizes = {}
    for p in files:  # headers only: the whole folder must be one size
        try:
            with Image.open(p) as im:
                sizes[p] = im.size
        except (OSError, ValueError) as e:
            raise VideoError(f"frame {str(p)!r} is not a readable image ({e})") from None
    expected = sizes[files[0]]
    for p in files:
        if sizes[p] != expected:
            raise VideoError(
                f"frame size changes in {str(path)!r}: {p.name} is {sizes[p][0]}x{sizes[p][1]}"
                f", {files[0].name} is {expected[0]}x{expected[1]}"
            )
    frames = [_resize(nst_image.to_uint8(nst_image.load(p, max_size=None)), size) for p in chosen]
    return _finish(
        frames,
        path,
        start,
        fps=rate,
        source_fps=rate,
        source_size=(expected[1], expected[0]),
        indices=tuple(range(first, first + len(frames))),
    )


def _cv2():
    # OpenCV's FFmpeg prints decoder complaints ("moov atom not found") to stderr; this
    # module reports a bad file in one line of its own. Read once, when OpenCV first opens
    # a video; a value set by the user wins.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    try:
        import cv2
    except ImportError:
        raise VideoError(
            f"video files need the optional video extra: {_EXTRA} "
            "(opencv-python-headless is missing)"
        ) from None
    return cv2


def _load_file(path, *, size, start, max_frames, fps) -> Clip:
    cv2 = _cv2()
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise VideoError(
                f"cannot read video {str(path)!r}: not a video, or a format FFmpeg cannot decode"
            )
        source_fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        if not (math.isfinite(source_fps) and source_fps > 0):
            source_fps = fps or FOLDER_FPS
        wanted = select_indices(source_fps, start=start, fps=fps, count=max_frames)
        frames: list[np.ndarray] = []
        indices: list[int] = []
        target = next(wanted, None)
        first_shape = None
        index = 0
        while target is not None:
            ok, bgr = capture.read()
            if not ok:
                break
            if first_shape is None:
                first_shape = bgr.shape
            elif bgr.shape != first_shape:
                raise VideoError(
                    f"frame size changes in {str(path)!r}: frame {index} is "
                    f"{bgr.shape[1]}x{bgr.shape[0]}, frame 0 is {first_shape[1]}x{first_shape[0]}"
                )
            if index >= target:
                frame = _resize(np.ascontiguousarray(bgr[..., ::-1]), size)
                while target == index:  # a frame shown several times at a higher fps
                    frames.append(frame)
                    indices.append(index)
                    target = next(wanted, None)
            index += 1
    finally:
        capture.release()
    if first_shape is None:
        raise VideoError(f"video {str(path)!r} has no frames")
    return _finish(
        frames,
        path,
        start,
        fps=fps or source_fps,
        source_fps=source_fps,
        source_size=(first_shape[0], first_shape[1]),
        indices=tuple(indices),
    )


# -------------------------------------------------------------------------------- output


def output_kind(path: str | os.PathLike) -> str:
    """``"mp4"`` for a path ending in ``.mp4``; ``"folder"`` for a folder (no extension,
    a trailing separator, or an existing directory) of PNG frames.

    Raises:
      VideoError: any other extension.
    """
    text = os.fspath(path)
    p = pathlib.Path(text)
    if p.is_dir() or text.endswith((os.sep, "/")):
        return "folder"
    if p.suffix.lower() == ".mp4":
        return "mp4"
    if not p.suffix:
        return "folder"
    raise VideoError(f"video output {text!r}: use a .mp4 file (H.264) or a folder for PNG frames")


def frame_path(folder: str | os.PathLike, t: int) -> pathlib.Path:
    """``folder/00012.png``: where frame ``t`` is written."""
    return pathlib.Path(folder) / f"{t:05d}.png"


def check_encoder(codec: str = "libx264") -> None:
    """Raises VideoError unless FFmpeg can encode ``codec`` (checked before any work)."""
    try:
        listing = subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-encoders"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise VideoError(f"cannot run FFmpeg: {e}") from None
    if not re.search(rf"^\s*V\S*\s+{re.escape(codec)}\s", listing, flags=re.MULTILINE):
        raise VideoError(f"FFmpeg has no {codec} encoder: cannot write MP4 (H.264)")


def write_mp4(
    path: str | os.PathLike,
    frames: Iterable[Any],
    *,
    fps: float,
    overwrite: bool = False,
    codec: str = "libx264",
    crf: int = 18,
) -> pathlib.Path:
    """Encodes frames into an MP4 (H.264, yuv420p), atomically.

    The video is written to a temporary file beside ``path`` and moved into place once
    FFmpeg succeeds, so a failure never leaves a partial file nor touches an existing one.
    yuv420p needs even sides: a frame with an odd side is padded by repeating its last row
    or column.

    Args:
      path: the ``.mp4`` to write.
      frames: ``[H, W, 3]`` images (``uint8``, or float in ``[0, 1]``), all the same size.
      fps: frames per second.
      overwrite: replace an existing file.
      codec: the FFmpeg video encoder.
      crf: H.264 constant rate factor (0 lossless, 18 visually lossless, 23 FFmpeg's default).

    Returns:
      The path written.

    Raises:
      VideoError: the file exists (without ``overwrite``), no frames, frames of different
        sizes, or FFmpeg fails (for instance a missing encoder).
    """
    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise VideoError(f"{str(path)!r} exists; pass --overwrite to replace it")
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be > 0, got {fps!r}")
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise VideoError(f"no frames to write to {str(path)!r}")
    first = nst_image.to_uint8(first)
    height, width = first.shape[:2]
    even = (height + height % 2, width + width % 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".mp4")
    os.close(fd)
    tmp = pathlib.Path(tmp_name)
    command = [
        ffmpeg_exe(),
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{even[1]}x{even[0]}",
        "-r",
        f"{fps:.6g}",
        "-i",
        "-",
        "-an",
        "-c:v",
        codec,
        "-pix_fmt",
        "yuv420p",
        "-crf",
        str(crf),
        "-movflags",
        "+faststart",
        str(tmp),
    ]
    try:
        with tempfile.TemporaryFile() as log:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=log)
            try:
                for i, frame in enumerate(_chain(first, frames)):
                    frame = nst_image.to_uint8(frame)
                    if frame.shape[:2] != (height, width):
                        raise VideoError(
                            f"frame {i} is {frame.shape[1]}x{frame.shape[0]}, the first "
                            f"is {width}x{height}: cannot write {str(path)!r}"
                        )
                    padded = np.pad(
                        frame, ((0, even[0] - height), (0, even[1] - width), (0, 0)), "edge"
                    )
                    process.stdin.write(np.ascontiguousarray(padded).tobytes())
            except BrokenPipeError:
                pass  # FFmpeg stopped early; its return code and log say why
            finally:
                try:
                    process.stdin.close()
                except BrokenPipeError:
                    pass
                code = process.wait()
            if code != 0:
                log.seek(0)
                lines = log.read().decode(errors="replace").strip().splitlines()
                reason = lines[-1] if lines else f"exit code {code}"
                raise VideoError(f"FFmpeg could not write {str(path)!r} ({codec}): {reason}")
        mask = os.umask(0o022)  # reading the umask means setting it; restore it at once
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600 files; use the usual mode
        if overwrite:
            os.replace(tmp, path)
        else:
            _move_no_clobber(tmp, path)
    except OSError as e:
        raise VideoError(f"cannot write video {str(path)!r}: {e}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _move_no_clobber(tmp: pathlib.Path, path: pathlib.Path) -> None:
    exists = VideoError(f"{str(path)!r} exists; pass --overwrite to replace it")
    try:
        os.link(tmp, path)  # atomic, and fails if path exists
    except FileExistsError:
        raise exists from None
    except OSError:  # no hard links here: check, then replace
        if path.exists():
            raise exists from None
        os.replace(tmp, path)


def _chain(first: np.ndarray, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


def read_frames_folder(folder: str | os.PathLike, count: int) -> Sequence[np.ndarray]:
    """Frames ``0 .. count-1`` written by ``frame_path``, as ``float32 [H, W, 3]``."""
    return [nst_image.load(frame_path(folder, t), max_size=None) for t in range(count)]
