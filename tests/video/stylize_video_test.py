"""Per-frame optimization with the temporal loss: consistency, one compile, resume."""

import dataclasses

import numpy as np
import pytest
from video_helpers import TINY, pan_clip

from experiments import _common, video_temporal
from nst import stylize
from nst.video import _store, io, metrics, temporal

FIRST = 5  # steps of frame 0 (later frames: TINY.steps = 3)


@pytest.fixture(scope="module")
def net_params():
    return stylize.create_backbone(TINY)


@pytest.fixture(scope="module")
def cache():
    return stylize.Cache()  # one program for every test of this module (same size and layers)


@pytest.fixture(scope="module")
def clip(photo):
    return pan_clip(photo, frames=5)


def _run(tmp_path, name, clip, style, net_params, cache, overrides, **kw):
    weight = overrides.get(
        "temporal_weight", temporal.ruder_temporal_weight(TINY, *net_params, clip.shape)
    )
    config = dataclasses.replace(TINY, temporal_weight=weight)
    fields = {k: v for k, v in overrides.items() if k != "temporal_weight"}
    video = temporal.VideoConfig(first_frame_steps=FIRST, **fields)
    folder = tmp_path / name
    result = temporal.stylize_video(
        config,
        clip,
        [style],
        str(folder),
        video=video,
        net_params=net_params,
        cache=cache,
        **kw,
    )
    return result, folder


def _png_bytes(folder, count):
    return [io.frame_path(folder, t).read_bytes() for t in range(count)]


# The experiment's table drives this test: every temporal setting against independent frames.
@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, clip, style, net_params, cache):
    tmp_path = tmp_path_factory.mktemp("settings")
    out = {}
    for label, overrides in video_temporal.SETTINGS:
        name = _common.slug(label)
        result, folder = _run(tmp_path, name, clip, style, net_params, cache, overrides)
        out[label] = (result, io.read_frames_folder(folder, len(clip)))
    return out


def test_one_program_serves_every_frame_and_setting(outcomes, clip):
    for result, frames in outcomes.values():
        assert result.done == len(clip) == len(frames) and result.stopped is None
        assert [r["steps"] for r in result.records] == [FIRST] + [TINY.steps] * (len(clip) - 1)
        assert all(r["compile_seconds"] == 0.0 for r in result.records[1:])
    compile_times = [r.compile_seconds for r, _ in outcomes.values()]
    assert compile_times[0] > 0 and compile_times[1:] == [0.0] * (len(compile_times) - 1)


def test_flow_settings_lower_the_warping_error(outcomes, clip):
    labels = [label for label, _ in video_temporal.SETTINGS]
    frames = [outcomes[label][1] for label in labels]
    scores = metrics.clip_warping_errors(frames[0], clip.frame, len(clip), outputs_many=frames[1:])
    errors = dict(zip(labels, [scores["mean"]] + [m["mean"] for m in scores["many"]]))
    independent = errors["independent frames"]
    # Measured (5 frames, 36x48, 3 steps from noise): independent 0.11, seeds 0.12, flow +
    # mask 0.0014, long-term 0.0014; the input clip itself 0.0002.
    assert errors["flow + mask (Ruder et al.)"] < 0.25 * independent, errors
    assert errors["flow + mask + long-term 1,2,4"] < 0.25 * independent, errors


def test_resume_after_interrupt_gives_the_same_frames(tmp_path, clip, style, net_params, cache):
    overrides = {"flow": "dis"}
    _, full = _run(tmp_path, "full", clip, style, net_params, cache, overrides)
    polls = iter(range(100))
    stop = lambda: next(polls) >= FIRST + TINY.steps + 1  # in frame 2, after one step
    first, folder = _run(
        tmp_path, "resumed", clip, style, net_params, cache, overrides, should_stop=stop
    )
    assert first.stopped == "interrupted" and first.done == 2 and first.ran == [0, 1]
    assert (folder / ".frame00002.ckpt.npz").exists()  # frame 2's optimizer state
    second, _ = _run(tmp_path, "resumed", clip, style, net_params, cache, overrides)
    assert second.ran == [2, 3, 4] and second.stopped is None
    assert _png_bytes(folder, len(clip)) == _png_bytes(full, len(clip))  # byte-identical PNGs
    assert not (folder / ".frame00002.ckpt.npz").exists()
    records = _store.read_records(folder)
    assert sorted(records) == list(range(len(clip)))
    # A finished folder is not recomputed.
    third, _ = _run(tmp_path, "resumed", clip, style, net_params, cache, overrides)
    assert third.ran == [] and third.done == len(clip)


def test_another_runs_folder_is_refused(tmp_path, clip, style, net_params, cache):
    few = io.Clip(clip.frames[:2], clip.fps, "pan", clip.fps, clip.source_size, (0, 1))
    _run(tmp_path, "x", few, style, net_params, cache, {"flow": "dis"})
    with pytest.raises(io.VideoError, match=r"holds frames of another run .*video\.flow"):
        _run(tmp_path, "x", few, style, net_params, cache, {"flow": "farneback"})
    result, _ = _run(
        tmp_path, "x", few, style, net_params, cache, {"flow": "farneback"}, restart=True
    )
    assert result.ran == [0, 1]


def test_compose_takes_the_nearest_reliable_frame():
    h, w = 4, 6
    warped = [np.full((h, w, 3), v, np.float32) for v in (1.0, 2.0, 4.0)]  # t-1, t-2, t-4
    masks = [np.zeros((h, w), np.float32) for _ in range(3)]
    masks[0][:, :2] = 1  # t-1 reliable on the left
    masks[1][:, :4] = 1  # t-2 on the left two thirds
    masks[2][:2] = 1  # t-4 on the top half
    previous, mask = temporal.compose(warped, masks)
    np.testing.assert_array_equal(previous[0, :, 0], [1, 1, 2, 2, 4, 4])
    np.testing.assert_array_equal(previous[3, :, 0], [1, 1, 2, 2, 1, 1])  # none: t-1's warp
    np.testing.assert_array_equal(mask[3], [1, 1, 1, 1, 0, 0])
    assert mask.max() == 1.0


def test_seeds_variant_uses_the_unwarped_previous_output(clip):
    outputs = {0: np.full(clip.shape, 0.25, np.float32)}
    video = temporal.VideoConfig(flow="none")
    _, previous, mask = temporal.temporal_target(1, video, clip.frame, outputs.__getitem__)
    np.testing.assert_array_equal(previous, outputs[0])
    assert mask.min() == 1.0 and temporal.frame_init(video) == "init"


@pytest.mark.parametrize(
    "video, message",
    [
        (temporal.VideoConfig(flow="deepflow"), "--flow='deepflow' is not one of"),
        (temporal.VideoConfig(long_term=(2, 4)), "must include 1"),
        (temporal.VideoConfig(long_term=(1, 0)), "distinct positive"),
        (temporal.VideoConfig(flow="none", long_term=(1, 2)), "needs optical flow"),
        (temporal.VideoConfig(first_frame_steps=0), "--first_frame_steps must be >= 1"),
    ],
)
def test_bad_settings_raise(video, message):
    with pytest.raises(ValueError, match=message):
        temporal.validate(TINY, video)
