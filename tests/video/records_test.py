"""What ``stylize_video`` reports (the per-frame records behind ``metrics.json`` and the
progress line) and Ruder et al.'s default temporal weight, by hand: mutants of both passed
the suite before (benchmarks/mutation_run.py, docs/testing.md). The engine is a spy that
returns its content frame with a made-up history; nothing is optimized."""

import dataclasses

import numpy as np
import pytest
from video_helpers import TINY

from nst import backbones, stylize
from nst.video import flow as flow_lib
from nst.video import io, temporal

H, W = 8, 12
HISTORY = {
    "total": np.array([3.0, 2.0], np.float32),
    "content": np.array([1.0, 0.5], np.float32),
    "time": np.array([0.25, 1.5], np.float32),
}


@pytest.fixture(scope="module")
def net_params():
    return stylize.create_backbone(TINY)


def test_records_hold_each_frames_steps_time_losses_and_reliable_share(
    monkeypatch, tmp_path, style, net_params
):
    # Frame t > 0: the flow is 0 except a strip of 3 columns that points out of the frame
    # (unreliable), so the reliable share is known.
    backward = np.zeros((H, W, 2), np.float32)
    backward[:, :3, 0] = 1000.0
    monkeypatch.setattr(flow_lib, "flow_pair", lambda *a, **k: (backward, -backward))
    masks = []

    def engine(config, content, styles, **kw):
        assert kw["net_params"][1] is net_params[1]  # the caller's network, not a new one
        masks.append(np.asarray(kw["targets"].temporal[1]))
        history = {k: v.copy() for k, v in HISTORY.items()}
        return stylize.Result(image=content, history=history, snapshots={}, steps_done=2)

    monkeypatch.setattr(temporal.stylize, "stylize", engine)
    frames = np.random.default_rng(0).integers(0, 256, (3, H, W, 3), dtype=np.uint8)
    clip = io.Clip(frames, 10.0, "random", 10.0, (H, W), (0, 1, 2))
    seen = []
    result = temporal.stylize_video(
        TINY,
        clip,
        [style],
        str(tmp_path / "frames"),
        video=temporal.VideoConfig(first_frame_steps=1),
        net_params=net_params,
        progress=lambda t, total, record: seen.append((t, total, record)),
    )
    assert result.ran == [0, 1, 2] and result.done == 3 and result.stopped is None
    assert result.seconds == pytest.approx(3 * 1.5)  # each frame's time, compilation apart
    for t, record in enumerate(result.records):
        assert record["frame"] == t and record["steps"] == 2
        assert record["seconds"] == pytest.approx(1.5)  # the history's last time
        assert 0.0 <= record["wall_seconds"] < 60.0
        assert record["loss"] == {"total": 2.0, "content": 0.5}  # last values, no "time"
        if t == 0:
            assert record["reliable"] is None  # no earlier frame
        else:
            assert record["reliable"] == pytest.approx(float(np.mean(masks[t])))
            assert 0.0 < record["reliable"] < 1.0
    assert [(t, total) for t, total, _ in seen] == [(0, 3), (1, 3), (2, 3)]


def test_input_scale_of_caffe_and_normalized_weights():
    # The Caffe VGG19's input node scales 0-1 pixels to 0-255 (BGR): 255 per pixel unit.
    caffe = {"input": {"matrix": np.fliplr(np.eye(3)) * 255.0, "bias": np.zeros(3)}}
    assert temporal.input_scale(caffe) == pytest.approx(255.0)
    # ImageNet mean/std normalization: 1 / std, averaged over the channels.
    expected = np.mean([1 / 0.229, 1 / 0.224, 1 / 0.225])
    assert temporal.input_scale({}) == pytest.approx(expected)
    assert backbones.IMAGENET_STD == (0.229, 0.224, 0.225)


@pytest.mark.parametrize("norm, per_layer", [("gatys", lambda n: n / 2), ("mean", lambda n: 1.0)])
def test_ruder_temporal_weight_by_hand(net_params, norm, per_layer):
    # lambda_t = 1e3 / 5 * alpha * sum_l w_l * (N_l / 2 | 1) * (s / 255)^2 (Ruder et al.'s
    # content weight 5 and temporal weight 1e3; s the input scale, random weights: 1 / std).
    net, params = net_params
    config = dataclasses.replace(TINY, content_weight=3.0, content_norm=norm)
    shape = (16, 24, 3)
    n = 8 * 12 * 128  # conv2_1 of a 16x24 image: half the size, 128 channels
    s = np.mean([1 / 0.229, 1 / 0.224, 1 / 0.225])
    expected = 200.0 * 3.0 * per_layer(n) * (s / 255.0) ** 2
    got = temporal.ruder_temporal_weight(config, net, params, shape)
    assert got == pytest.approx(expected, rel=1e-6)


def test_a_frame_that_ran_no_step_records_no_time(monkeypatch, tmp_path, style, net_params):
    # The engine stopped at its first step (a non-finite loss): no history, 0 seconds.
    def engine(config, content, styles, **kw):
        return stylize.Result(
            image=content, history={}, snapshots={}, steps_done=0, stopped="non-finite loss"
        )

    monkeypatch.setattr(temporal.stylize, "stylize", engine)
    frames = np.zeros((1, H, W, 3), np.uint8)
    clip = io.Clip(frames, 10.0, "black", 10.0, (H, W), (0,))
    result = temporal.stylize_video(
        TINY, clip, [style], str(tmp_path / "frames"), net_params=net_params
    )
    (record,) = result.records
    assert record["seconds"] == 0.0 and record["loss"] == {} and result.seconds == 0.0
    assert result.stopped == "frame 0: non-finite loss"
