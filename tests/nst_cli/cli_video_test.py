"""``run.py --video`` (nst_cli/video.py): MP4 out, metrics, resume, feed-forward, one-line
errors (exit 2)."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from cli_fakes import FakeFlags

from nst import image
from nst.feedforward import checkpoint, nets
from nst.feedforward.config import NetConfig
from nst.video import io, synthetic
from nst_cli import video

ROOT = pathlib.Path(__file__).resolve().parents[2]
ORIGIN = (110.0, 60.0)  # a textured window of tubingen at 256 px (tests/video/conftest.py)
# Tiny optimization: random weights, shallow layers, a few steps.
TINY = dict(
    weights="random",
    size=40,
    steps=2,
    first_frame_steps=3,
    content_layers=["conv2_1"],
    style_layers=["conv1_1", "conv2_1"],
    style_weight=1e3,
    lr=5e-2,
    progress=False,
)


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory):
    photo = image.load(image.sample("tubingen"), max_size=256)
    frames = synthetic.pan(photo, frames=6, size=(48, 64), velocity=(2.0, 1.0), origin=ORIGIN)
    path = tmp_path_factory.mktemp("clip") / "pan.mp4"
    io.write_mp4(path, frames, fps=8.0)
    return path


def _main(clip_path, output, **flags):
    values = {**TINY, "video": str(clip_path), "output": str(output), **flags}
    return video.main(FakeFlags(**values))


def test_mp4_metrics_and_resume(clip_path, tmp_path):
    output = tmp_path / "out.mp4"
    summary = _main(clip_path, output, max_frames=4)
    clip = io.load_clip(output)
    assert len(clip) == 4 and clip.fps == 8.0 and clip.shape == (30, 40, 3)
    folder = tmp_path / "out.mp4.frames"
    metrics = json.loads((folder / "metrics.json").read_text())
    errors = metrics["warping_error"]
    assert len(errors["per_frame"]) == 3 and len(errors["input_per_frame"]) == 3
    assert np.isfinite(errors["mean"]) and np.isfinite(errors["input_mean"])
    assert summary["frames_this_run"] == 4 and metrics["frames"] == 4
    assert metrics["config"]["temporal_weight"] > 0  # Ruder et al.'s balance, as computed
    pngs = [io.frame_path(folder, t).read_bytes() for t in range(4)]
    video = output.read_bytes()

    # A crash after frame 1: frames 2 and 3 and the video were never written.
    for t in (2, 3):
        io.frame_path(folder, t).unlink()
    output.unlink()
    again = _main(clip_path, output, max_frames=4)
    assert again["frames_this_run"] == 2
    assert [io.frame_path(folder, t).read_bytes() for t in range(4)] == pngs
    assert output.read_bytes() == video  # the same frames encode to the same file

    # The finished output is not replaced without --overwrite, and is with it.
    with pytest.raises(image.ImageError, match="exists; pass --overwrite"):
        _main(clip_path, output, max_frames=4)
    _main(clip_path, output, max_frames=4, overwrite=True)
    assert output.read_bytes() == video


def test_png_folder_output_and_seeds_variant(clip_path, tmp_path):
    output = tmp_path / "frames_out"
    _main(clip_path, output, max_frames=3, flow="none", temporal_weight=10.0, style=["brick"])
    names = sorted(p.name for p in output.iterdir())
    assert names[:3] == ["00000.png", "00001.png", "00002.png"] and "metrics.json" in names
    state = json.loads((output / "video.json").read_text())["identity"]
    assert state["video"]["flow"] == "none" and state["config"]["temporal_weight"] == 10.0
    # metrics.json records the values actually used: video mode's Adam, the flags given.
    used = json.loads((output / "metrics.json").read_text())
    assert used["config"]["optimizer"] == "adam" and used["config"]["steps"] == 2
    assert used["config"]["temporal_weight"] == 10.0 and used["video_config"]["flow"] == "none"


def test_feedforward_model(clip_path, tmp_path):
    config = NetConfig(width=4, num_residual=1)
    model = checkpoint.save_model(tmp_path / "model", config, nets.init(config))
    output = tmp_path / "fast.mp4"
    summary = _main(clip_path, output, model=str(model), batch_size=4, size=32)
    assert len(io.load_clip(output)) == 6 and summary["frames_per_second"] > 0
    folder = tmp_path / "fast.mp4.frames"
    records = [json.loads(line) for line in (folder / "frames.jsonl").read_text().splitlines()]
    assert [r["frames"] for r in records] == [[0, 1, 2, 3], [4, 5]]  # two batches, one program
    pngs = [io.frame_path(folder, t).read_bytes() for t in range(6)]
    io.frame_path(folder, 5).unlink()
    output.unlink()
    again = _main(clip_path, output, model=str(model), batch_size=4, size=32)
    assert again["frames_this_run"] == 1
    assert [io.frame_path(folder, t).read_bytes() for t in range(6)] == pngs


def _bad_inputs(tmp_path, clip_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 64)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    mixed = tmp_path / "mixed"
    image.save(mixed / "0.png", np.zeros((20, 30, 3), np.uint8))
    image.save(mixed / "1.png", np.zeros((20, 32, 3), np.uint8))
    existing = tmp_path / "existing.mp4"
    existing.write_bytes(b"keep me")
    return [
        ({"video": str(tmp_path / "missing.mp4")}, "does not exist"),
        ({"video": str(garbage)}, "cannot read video"),
        ({"video": str(empty)}, "cannot read video"),
        ({"video": str(mixed)}, "frame size changes"),
        ({"video": str(clip_path), "start": 60.0}, "has no frames after --start=60 s"),
        ({"video": str(clip_path), "output": str(existing)}, "exists; pass --overwrite"),
        ({"video": str(clip_path), "output": str(tmp_path / "o.avi")}, r"use a \.mp4 file"),
        ({"video": str(clip_path), "long_term": ["2", "4"]}, "must include 1"),
        ({"video": str(clip_path), "flow": "none", "long_term": ["1", "2"]}, "needs optical"),
        ({"video": str(clip_path), "style": [str(tmp_path / "no.jpg")]}, "no.jpg"),
    ]


def test_bad_input_raises_one_line_value_error(clip_path, tmp_path):
    for flags, message in _bad_inputs(tmp_path, clip_path):
        values = {**TINY, "output": str(tmp_path / "out.mp4"), **flags}
        with pytest.raises(ValueError, match=message) as info:
            video.main(FakeFlags(**values))
        assert "\n" not in str(info.value)
    assert (tmp_path / "existing.mp4").read_bytes() == b"keep me"
    assert not (tmp_path / "out.mp4").exists() and not (tmp_path / "out.mp4.frames").exists()


def test_run_py_exit_code_2_without_traceback(clip_path, tmp_path):
    for flags, message in _bad_inputs(tmp_path, clip_path)[:2]:
        args = [f"--{k}={v}" for k, v in flags.items()] + ["--output", str(tmp_path / "o.mp4")]
        proc = subprocess.run(
            [sys.executable, str(ROOT / "run.py"), *args, "--weights=random"],
            capture_output=True,
            text=True,
            timeout=240,
            env={**os.environ, "JAX_PLATFORMS": "cpu"},
        )
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert proc.returncode == 2, proc.stderr
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr


def test_default_output_name():
    output, kind, folder = video.resolve_output(FakeFlags(), "clips/walk.mov")
    assert (str(output), kind) == ("walk_stylized.mp4", "mp4")
    assert str(folder) == "walk_stylized.mp4.frames"
