"""Training photos from a folder: random square crops, batched by a small threaded loader.

Any folder of images works (MS-COCO's ``train2014`` in the papers); subfolders are searched.
Without COCO, ``scripts/fetch_training_photos.py`` gathers 186 freely licensed photos from
Debian packages into ``data/train_photos/`` (docs/training_data.md).
Every batch is a deterministic function of ``(seed, batch number)``: batch ``k`` reads the
``B`` images at positions ``kB .. kB + B - 1`` of a stream of per-epoch permutations and
crops image ``j`` of it with ``np.random.default_rng((seed, k, j))``, so a resumed run reads
the batches a straight run would have, and ``rows`` of a batch can be made alone: on
several hosts each process decodes only its rows of every global batch (its share of the
folder) and gets exactly the crops a single process would. Worker threads decode (Pillow
releases the GIL) ``prefetch`` batches ahead of the training step.

Unreadable files (corrupt, truncated, not images) are skipped: the slot takes the next
readable file in the folder's order and the file is counted in ``ImageFolder.skipped``.
An empty folder, or one where nothing is readable, raises ``ValueError``.
"""

from __future__ import annotations

import collections
import concurrent.futures
import os
import pathlib
import threading
from collections.abc import Iterator

import numpy as np

from nst import image as nst_image

__all__ = ["IMAGE_EXTENSIONS", "ImageFolder", "batches", "random_crop"]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})


def random_crop(
    image: np.ndarray,
    size: int,
    rng: np.random.Generator,
    *,
    max_scale: float = 1.0,
    flip: bool = False,
) -> np.ndarray:
    """A random ``[size, size, 3]`` crop; a shorter side below ``size`` is first resized up.

    With ``max_scale > 1`` the shorter side is first scaled to a uniform draw in
    ``[size, max_scale * size]`` (capped at its own length: never enlarged), so a crop shows
    between the whole shorter side and ``1 / max_scale`` of it; ``flip`` mirrors the crop
    left-right with probability 1/2.

    >>> random_crop(np.zeros((10, 40, 3), np.float32), 16, np.random.default_rng(0)).shape
    (16, 16, 3)
    """
    height, width = image.shape[:2]
    short = min(height, width)
    target = short
    if short < size:
        target = size
    elif max_scale > 1.0:
        target = round(float(rng.uniform(size, min(short, max_scale * size))))
    if target != short:
        scale = target / short
        height, width = max(size, round(height * scale)), max(size, round(width * scale))
        image = nst_image.resize(image, (height, width))
    top = int(rng.integers(0, height - size + 1))
    left = int(rng.integers(0, width - size + 1))
    crop = image[top : top + size, left : left + size]
    if flip and rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop)


class ImageFolder:
    """The image files under ``folder`` (sorted, recursive), decoded on demand.

    Raises:
      ValueError: ``folder`` is missing, not a directory, or holds no image files.
    """

    def __init__(self, folder: str | os.PathLike, *, max_pixels: int = 50_000_000):
        self.folder = pathlib.Path(folder)
        if not self.folder.is_dir():
            raise ValueError(f"training folder {str(self.folder)!r} does not exist or is a file")
        self.paths = sorted(
            p for p in self.folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS
        )
        if not self.paths:
            extensions = " ".join(sorted(IMAGE_EXTENSIONS))
            raise ValueError(f"no image files ({extensions}) in {str(self.folder)!r}")
        self.max_pixels = max_pixels
        self._bad: dict[int, str] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def skipped(self) -> dict[str, str]:
        """``{path: reason}`` of every unreadable file met so far."""
        with self._lock:
            return {str(self.paths[i]): reason for i, reason in self._bad.items()}

    def load(self, index: int) -> np.ndarray:
        """The first readable image at or after ``index`` (wrapping), float32 ``[H, W, 3]``.

        Raises:
          ValueError: no file in the folder is readable.
        """
        n = len(self.paths)
        for offset in range(n):
            i = (index + offset) % n
            with self._lock:
                if i in self._bad:
                    continue
            try:
                return nst_image.load(self.paths[i], max_size=None, max_pixels=self.max_pixels)
            except nst_image.ImageError as e:
                with self._lock:
                    self._bad[i] = str(e)
        raise ValueError(
            f"no readable images in {str(self.folder)!r}: all {n} files failed to load, "
            f"e.g. {next(iter(self.skipped.values()))}"
        )


def _indices(n: int, seed: int, start: int, count: int) -> np.ndarray:
    """Positions ``start .. start + count - 1`` of the stream of per-epoch permutations."""
    out = []
    position = start
    while len(out) < count:
        epoch, offset = divmod(position, n)
        perm = np.random.default_rng((seed, epoch)).permutation(n)
        take = perm[offset : offset + count - len(out)]
        out.extend(take.tolist())
        position += len(take)
    return np.asarray(out)


def make_batch(
    dataset: ImageFolder,
    batch_index: int,
    *,
    batch_size: int,
    crop_size: int,
    seed: int,
    rows: tuple[int, int] | None = None,
    max_scale: float = 1.0,
    flip: bool = False,
) -> np.ndarray:
    """Rows ``[lo, hi)`` (default all) of global batch ``batch_index``, float32 in [0, 1].

    ``max_scale`` and ``flip``: the augmentation of :func:`random_crop`.

    Returns ``[hi - lo, crop_size, crop_size, 3]``; row ``j`` is the same whichever rows
    are asked for.
    """
    lo, hi = (0, batch_size) if rows is None else rows
    if not 0 <= lo < hi <= batch_size:
        raise ValueError(f"rows {rows} are not a non-empty range within a batch of {batch_size}")
    indices = _indices(len(dataset), seed, batch_index * batch_size + lo, hi - lo)
    return np.stack(
        [
            random_crop(
                dataset.load(int(i)),
                crop_size,
                np.random.default_rng((seed, batch_index, j)),
                max_scale=max_scale,
                flip=flip,
            )
            for j, i in zip(range(lo, hi), indices, strict=True)
        ]
    )


def batches(
    dataset: ImageFolder,
    *,
    batch_size: int,
    crop_size: int,
    seed: int = 0,
    start: int = 0,
    stop: int | None = None,
    threads: int = 2,
    prefetch: int = 4,
    rows: tuple[int, int] | None = None,
    max_scale: float = 1.0,
    flip: bool = False,
) -> Iterator[np.ndarray]:
    """Batches ``start, start + 1, ...`` (up to ``stop``), prepared ahead by worker threads.

    Args:
      dataset: the folder.
      batch_size: images per batch.
      crop_size: side of the square crops, px.
      seed: seeds the epoch permutations and the crops.
      start: the first batch number (a resumed run passes its step).
      stop: one past the last batch number; ``None`` runs forever.
      threads: decoding threads.
      prefetch: batches in flight ahead of the consumer (>= 1).
      rows: ``(lo, hi)``: only these rows of every batch (this process's share).
      max_scale, flip: the augmentation of :func:`random_crop`.

    Yields:
      ``[hi - lo, crop_size, crop_size, 3]`` float32 NumPy arrays (all rows by default),
      in order.
    """
    prefetch = max(1, prefetch)
    pool = concurrent.futures.ThreadPoolExecutor(max(1, threads), thread_name_prefix="nst-data")
    pending: collections.deque = collections.deque()
    next_index = start

    def submit() -> None:
        nonlocal next_index
        if stop is None or next_index < stop:
            pending.append(
                pool.submit(
                    make_batch,
                    dataset,
                    next_index,
                    batch_size=batch_size,
                    crop_size=crop_size,
                    seed=seed,
                    rows=rows,
                    max_scale=max_scale,
                    flip=flip,
                )
            )
            next_index += 1

    try:
        for _ in range(prefetch):
            submit()
        while pending:
            batch = pending.popleft().result()
            submit()
            yield batch
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
