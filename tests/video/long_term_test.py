"""Long-term temporal consistency: every offset of ``long_term`` contributes (issue 31: with
``long_term=(1, 2, 4)`` acting as ``(1,)`` every test stayed green).

Flat frames and made-up flows: offset ``j`` is unreliable (its flow leaves the frame) in
its own band of columns, so each pixel's nearest reliable earlier frame is known, and the
earlier outputs are flat colours that tell which frame a pixel of the target came from.
"""

import dataclasses

import numpy as np
import pytest
from video_helpers import TINY

from nst import stylize
from nst.video import flow as flow_lib
from nst.video import io, temporal
from nst.video import warp as warp_lib

H, W = 8, 24
STEP = 30  # grey levels between consecutive input frames: the flow spy reads j from them
# Columns where the warp from frame t - j is unreliable: 1 misses the left half, 2 all but
# the left quarter, 4 nothing. The nearest reliable frame: 2 on the left, 4 in the middle
# (and on the bands' edges, where the motion boundary also masks), 1 on the right.
UNRELIABLE = {1: slice(0, 12), 2: slice(6, W), 4: slice(0, 0)}


def _flows(j):
    backward = np.zeros((H, W, 2), np.float32)
    backward[:, UNRELIABLE[j], 0] = 1000.0  # points far outside the frame
    return backward, -backward


def _fake_flow_pair(current, earlier, method="dis"):
    j = round(float(np.mean(current) - np.mean(earlier)) * 255 / STEP)
    return _flows(j)


def _input(t):
    return np.full((H, W, 3), (20 + STEP * t) / 255, np.float32)


def _by_hand(outputs, t, offsets):
    """Ruder et al. eq. 8: c_j^long = max(c_j - sum_{k<j} c_k, 0) (nearest first); where
    no frame is reliable (weight 0) the target is the nearest frame's."""
    previous = np.asarray(outputs(t - min(offsets)), np.float64)
    mask = np.zeros((H, W))
    covered = np.zeros((H, W))
    for j in sorted(offsets):
        c = np.asarray(warp_lib.reliability_mask(*_flows(j)), np.float64)
        long = np.maximum(c - covered, 0.0)[..., None]
        previous = (1 - long) * previous + long * np.asarray(outputs(t - j))
        mask += long[..., 0]
        covered += c
    return previous, np.minimum(mask, 1.0)


def test_every_offset_contributes_to_the_target(monkeypatch):
    monkeypatch.setattr(flow_lib, "flow_pair", _fake_flow_pair)
    colours = {0: 0.9, 2: 0.6, 3: 0.3}  # outputs of frames t - 4, t - 2, t - 1
    outputs = lambda s: np.full((H, W, 3), colours[s], np.float32)
    video = temporal.VideoConfig(long_term=(1, 2, 4))
    init, previous, mask = temporal.temporal_target(4, video, _input, outputs)
    expected_previous, expected_mask = _by_hand(outputs, 4, video.long_term)
    np.testing.assert_array_equal(mask, 1.0)  # offset 4 covers what 1 and 2 miss
    np.testing.assert_allclose(mask, expected_mask)
    np.testing.assert_allclose(previous, expected_previous, atol=1e-6)
    for s, colour in colours.items():  # every offset supplies some pixels
        assert np.isclose(previous[..., 0], colour).any(), f"frame {s} (offset {4 - s})"
    # The start is the nearest frame's warp where it is reliable, the input elsewhere.
    right = np.asarray(warp_lib.reliability_mask(*_flows(1))) > 0
    np.testing.assert_allclose(init[right], colours[3])
    np.testing.assert_allclose(init[~right], _input(4)[~right])
    # Only the nearest frame: the left half has no target.
    _, _, short = temporal.temporal_target(4, temporal.VideoConfig(), _input, outputs)
    assert short.sum() < mask.sum()


@pytest.fixture(scope="module")
def net_params():
    return stylize.create_backbone(TINY)


def test_the_engine_gets_the_long_term_target_of_every_frame(
    monkeypatch, tmp_path, style, net_params
):
    # stylize_video over 5 flat frames with long_term=(1, 2, 4); the engine is a spy that
    # returns its content frame as the output. Frame t's target comes from the saved outputs
    # of frames t - 1, t - 2, t - 4 (those that exist), by the rule above.
    monkeypatch.setattr(flow_lib, "flow_pair", _fake_flow_pair)
    targets = {}

    def engine(config, content, styles, **kw):
        previous, mask = (np.asarray(a) for a in kw["targets"].temporal)
        targets[len(targets)] = (previous, mask, config.temporal_weight)
        history = {"total": np.ones(1, np.float32), "time": np.ones(1, np.float32)}
        return stylize.Result(image=content, history=history, snapshots={}, steps_done=1)

    monkeypatch.setattr(temporal.stylize, "stylize", engine)
    frames = np.stack([np.round(_input(t) * 255).astype(np.uint8) for t in range(5)])
    clip = io.Clip(frames, 10.0, "flat", 10.0, (H, W), tuple(range(5)))
    folder = tmp_path / "frames"
    video = temporal.VideoConfig(long_term=(1, 2, 4), first_frame_steps=1)
    config = dataclasses.replace(TINY, temporal_weight=7.0)
    temporal.stylize_video(config, clip, [style], str(folder), video=video, net_params=net_params)
    saved = io.read_frames_folder(str(folder), 5)
    assert sorted(targets) == list(range(5))
    for t in range(1, 5):
        offsets = [j for j in video.long_term if t - j >= 0]
        previous, mask, weight = targets[t]
        expected_previous, expected_mask = _by_hand(lambda s: saved[s], t, offsets)
        np.testing.assert_allclose(mask, expected_mask, err_msg=f"frame {t}")
        np.testing.assert_allclose(previous, expected_previous, atol=1e-6, err_msg=f"frame {t}")
        assert weight == 7.0
    assert targets[4][1].min() == 1.0  # frame 4: offsets 1, 2 and 4 cover every pixel
