"""Training photos from a folder: crops, deterministic batches, empty and unreadable files."""

import numpy as np
import pytest
from PIL import Image

from nst.feedforward import data


def _write_images(folder, rng, sizes=((40, 48), (20, 30), (64, 33))):
    folder.mkdir(parents=True, exist_ok=True)
    for i, (h, w) in enumerate(sizes):
        pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"photo_{i}.png")
    return folder


def test_empty_folder_raises(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match="no image files"):
        data.ImageFolder(tmp_path)


def test_missing_folder_raises(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        data.ImageFolder(tmp_path / "nope")


def test_unreadable_files_are_skipped_and_counted(tmp_path, rng):
    folder = _write_images(tmp_path / "photos", rng)
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    (folder / "sub").mkdir()
    (folder / "sub" / "empty.png").write_bytes(b"")
    dataset = data.ImageFolder(folder)
    assert len(dataset) == 5  # subfolders are searched
    batches = data.batches(dataset, batch_size=5, crop_size=16, seed=0, stop=2)
    for batch in batches:
        assert batch.shape == (5, 16, 16, 3) and batch.dtype == np.float32
        assert 0 <= batch.min() and batch.max() <= 1
    assert sorted(p.rsplit("/", 1)[1] for p in dataset.skipped) == ["corrupt.jpg", "empty.png"]


def test_folder_of_only_unreadable_files_raises(tmp_path):
    (tmp_path / "a.png").write_bytes(b"garbage")
    (tmp_path / "b.jpg").write_bytes(b"more garbage")
    dataset = data.ImageFolder(tmp_path)
    with pytest.raises(ValueError, match="no readable images"):
        next(data.batches(dataset, batch_size=2, crop_size=8))


def test_batches_are_deterministic_and_resume_in_place(tmp_path, rng):
    dataset = data.ImageFolder(_write_images(tmp_path, rng))
    kw = dict(batch_size=2, crop_size=16, seed=3)
    straight = list(data.batches(dataset, stop=4, **kw))
    resumed = list(data.batches(dataset, start=2, stop=4, threads=1, prefetch=1, **kw))
    np.testing.assert_array_equal(straight[2], resumed[0])
    np.testing.assert_array_equal(straight[3], resumed[1])
    assert not np.array_equal(straight[0], straight[1])


def test_random_crop_resizes_small_images_up(rng):
    image = rng.uniform(size=(10, 40, 3)).astype(np.float32)
    crop = data.random_crop(image, 16, rng)
    assert crop.shape == (16, 16, 3)


def test_rows_of_a_batch_equal_the_same_rows_of_the_whole_batch(tmp_path, rng):
    # Each host decodes only its rows; together they are the batch one host would make.
    dataset = data.ImageFolder(_write_images(tmp_path, rng))
    kw = dict(batch_size=4, crop_size=16, seed=5)
    whole = data.make_batch(dataset, 3, **kw)
    halves = [data.make_batch(dataset, 3, rows=r, **kw) for r in ((0, 2), (2, 4))]
    np.testing.assert_array_equal(np.concatenate(halves), whole)
    streamed = next(data.batches(dataset, start=3, rows=(2, 4), **kw))
    np.testing.assert_array_equal(streamed, whole[2:])
    with pytest.raises(ValueError, match="rows"):
        data.make_batch(dataset, 0, rows=(3, 3), **kw)


def test_random_crop_scales_down_within_max_scale_and_flips(rng):
    # A horizontal ramp of 1/400 per pixel: a crop's step per pixel is 1 / (400 scale).
    row = np.arange(400, dtype=np.float32) / 400
    ramp = np.broadcast_to(row[None, :, None], (200, 400, 3)).copy()
    steps, flipped = [], 0
    for seed in range(40):
        crop = data.random_crop(ramp, 50, np.random.default_rng(seed), max_scale=2.0, flip=True)
        step = 400 * np.median(np.diff(crop[25, :, 0]))
        flipped += step < 0
        steps.append(abs(step))
    # Short side 200 -> drawn in [50, 100]: scale in [1/4, 1/2], steps in [2, 4].
    assert min(steps) > 1.9, steps  # never finer than scale 1/2 (a crop ignoring max_scale: 1)
    assert max(steps) < 4.2, steps  # never coarser than scale 1/4
    assert max(steps) - min(steps) > 0.8, steps  # scales drawn, not one fixed scale
    assert 8 < flipped < 32
    plain = data.random_crop(ramp, 50, np.random.default_rng(0))
    np.testing.assert_allclose(400 * np.diff(plain[25, :, 0]), 1.0, rtol=1e-3)
