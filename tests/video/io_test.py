"""Reading clips (files, frame folders, parts of them) and writing MP4s; bad input."""

import os
import sys

import numpy as np
import pytest
from PIL import Image
from video_helpers import ORIGIN

from nst import image
from nst.video import io, synthetic


@pytest.fixture(scope="module")
def frames():
    photo = image.load(image.sample("tubingen"), max_size=256)
    return synthetic.pan(photo, frames=6, size=(36, 48), velocity=(2.0, 1.0), origin=ORIGIN)


@pytest.fixture(scope="module")
def mp4(frames, tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "pan.mp4"
    io.write_mp4(path, frames, fps=10.0, crf=0)
    return path


def test_mp4_round_trip(mp4, frames):
    clip = io.load_clip(mp4)
    assert len(clip) == 6 and clip.fps == 10.0 and clip.shape == (36, 48, 3)
    assert clip.frames.dtype == np.uint8 and clip.indices == tuple(range(6))
    # crf 0 is lossless in YUV; the RGB <-> YUV 4:2:0 conversion costs a few levels.
    assert np.abs(clip.frames.astype(int) - frames).mean() < 6


def test_resize_start_max_frames_and_fps(mp4):
    clip = io.load_clip(mp4, size=24, start=0.2, max_frames=3)
    assert clip.shape == (18, 24, 3) and clip.indices == (2, 3, 4) and clip.fps == 10.0
    half = io.load_clip(mp4, fps=5.0)  # every other frame
    assert half.indices == (0, 2, 4) and half.fps == 5.0
    double = io.load_clip(mp4, fps=20.0, max_frames=4)  # each frame twice
    assert double.indices == (0, 0, 1, 1)
    np.testing.assert_array_equal(double.frames[0], double.frames[1])


def test_select_indices():
    assert list(io.select_indices(30.0, start=1.0, fps=10.0, count=3)) == [30, 33, 36]
    assert list(io.select_indices(25.0, count=3)) == [0, 1, 2]
    assert list(io.select_indices(10.0, fps=15.0, count=4)) == [0, 0, 1, 2]


def test_frame_folder_is_sorted_by_number(frames, tmp_path):
    for t, frame in enumerate(frames):
        image.save(tmp_path / f"frame_{t}.png", frame)  # frame_10 would sort after frame_9
    (tmp_path / "notes.txt").write_text("not a frame")
    clip = io.load_clip(tmp_path, max_frames=4, start=0.08)  # 25 fps: starts at frame 2
    assert clip.fps == io.FOLDER_FPS and clip.indices == (2, 3, 4, 5)
    np.testing.assert_array_equal(clip.frames, frames[2:6])
    assert io.load_clip(tmp_path, fps=12.0).fps == 12.0


def test_gif_input(frames, tmp_path):
    pictures = [Image.fromarray(f) for f in frames]
    pictures[0].save(tmp_path / "a.gif", save_all=True, append_images=pictures[1:], duration=100)
    clip = io.load_clip(tmp_path / "a.gif")
    assert len(clip) == 6 and clip.shape == (36, 48, 3)
    assert clip.fps == pytest.approx(10.0, rel=0.05)


def test_write_pads_odd_sizes_and_refuses_to_clobber(tmp_path):
    path = tmp_path / "odd.mp4"
    io.write_mp4(path, [np.full((7, 9, 3), 0.5, np.float32)] * 2, fps=5.0)
    clip = io.load_clip(path)
    assert clip.shape == (8, 10, 3) and len(clip) == 2
    before = path.read_bytes()
    with pytest.raises(io.VideoError, match="exists; pass --overwrite"):
        io.write_mp4(path, [np.zeros((8, 8, 3), np.uint8)], fps=5.0)
    assert path.read_bytes() == before
    io.write_mp4(path, [np.zeros((8, 8, 3), np.uint8)], fps=5.0, overwrite=True)
    assert io.load_clip(path).shape == (8, 8, 3)


def test_missing_codec_leaves_nothing(tmp_path):
    path = tmp_path / "x.mp4"
    with pytest.raises(io.VideoError, match="FFmpeg could not write"):
        io.write_mp4(path, [np.zeros((8, 8, 3), np.uint8)], fps=5.0, codec="no_such_codec")
    assert os.listdir(tmp_path) == []
    with pytest.raises(io.VideoError, match="no no_such_codec encoder"):
        io.check_encoder("no_such_codec")
    io.check_encoder()  # libx264 ships with imageio-ffmpeg


def test_bad_inputs(tmp_path, frames):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 100)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    (tmp_path / "no_frames").mkdir()
    mixed = tmp_path / "mixed"
    image.save(mixed / "0.png", frames[0])
    image.save(mixed / "1.png", frames[1][:30])
    cases = {
        tmp_path / "missing.mp4": "does not exist",
        garbage: "cannot read video",
        empty: "cannot read video",
        tmp_path / "no_frames": "holds no image files",
        mixed: "frame size changes",
    }
    for path, message in cases.items():
        with pytest.raises(image.ImageError, match=message):
            io.load_clip(path)
    with pytest.raises(io.VideoError, match="no frames after --start=9 s"):
        io.load_clip(_folder(tmp_path, frames), start=9.0)
    with pytest.raises(ValueError, match="max_frames"):
        io.load_clip(mixed, max_frames=0)


def _folder(tmp_path, frames):
    folder = tmp_path / "ok"
    for t, frame in enumerate(frames[:2]):
        image.save(folder / f"{t:03d}.png", frame, overwrite=True)
    return folder


def test_output_kind():
    assert io.output_kind("a.mp4") == "mp4" and io.output_kind("A.MP4") == "mp4"
    assert io.output_kind("frames/") == "folder" and io.output_kind("frames") == "folder"
    with pytest.raises(io.VideoError, match=r"use a \.mp4 file"):
        io.output_kind("a.avi")


@pytest.mark.parametrize(
    "module, package", [("cv2", "opencv-python-headless"), ("imageio_ffmpeg", "imageio-ffmpeg")]
)
def test_missing_extra_is_named(monkeypatch, tmp_path, module, package):
    monkeypatch.setitem(sys.modules, module, None)
    (tmp_path / "a.mp4").write_bytes(b"x")
    message = rf"pip install -e '\.\[video\]' \({package} is missing\)"
    with pytest.raises(io.VideoError, match=message):
        if module == "cv2":
            io.load_clip(tmp_path / "a.mp4")
        else:
            io.write_mp4(tmp_path / "b.mp4", [np.zeros((8, 8, 3), np.uint8)], fps=5.0)
