"""Wiring of the video path: the temporal target and mask the engine receives per frame.

The clip is a still photo panned by a known whole-pixel shift, so the previous output warped
into the next frame and the strip the camera uncovers (disoccluded: no earlier pixel) are
known exactly. A spy around ``nst.stylize.stylize`` records what ``stylize_video`` hands the
engine for every frame.
"""

import dataclasses

import numpy as np
import pytest
from video_helpers import TINY, pan_clip

from nst import stylize
from nst.video import flow as flow_lib
from nst.video import io, synthetic, temporal

SHIFT = 3  # px per frame, to the right: frame t(x) = frame t-1(x + SHIFT)
SIZE = (36, 48)
WEIGHT = 50.0


@pytest.fixture(scope="module")
def net_params():
    return stylize.create_backbone(TINY)


def _spy_run(monkeypatch, tmp_path, clip, style, net_params, *, true_flow):
    calls = []
    real = stylize.stylize

    def spy(config, content, styles, **kw):
        result = real(config, content, styles, **kw)
        previous, mask = (np.asarray(a) for a in kw["targets"].temporal)
        calls.append(
            {
                "content": np.asarray(content),
                "init": None if kw["init_images"] is None else np.asarray(kw["init_images"]),
                "previous": previous,
                "mask": mask,
                "weight": config.temporal_weight,
                "result": result,
            }
        )
        return result

    monkeypatch.setattr(temporal.stylize, "stylize", spy)
    if true_flow:
        flow = synthetic.true_flow(SIZE, (SHIFT, 0.0))
        monkeypatch.setattr(flow_lib, "flow_pair", lambda *a, **k: (flow, -flow))
    config = dataclasses.replace(TINY, temporal_weight=WEIGHT)
    video = temporal.VideoConfig(first_frame_steps=3)
    temporal.stylize_video(
        config, clip, [style], str(tmp_path / "frames"), video=video, net_params=net_params
    )
    return calls


@pytest.fixture(scope="module")
def clip(photo):
    return pan_clip(photo, frames=3, size=SIZE, velocity=(float(SHIFT), 0.0))


def test_frames_get_the_shifted_previous_output_and_the_disocclusion_mask(
    monkeypatch, tmp_path, clip, style, net_params
):
    calls = _spy_run(monkeypatch, tmp_path, clip, style, net_params, true_flow=True)
    assert len(calls) == 3
    first = calls[0]
    assert first["init"] is None and not first["mask"].any()  # frame 0: no temporal term
    width = SIZE[1]
    for t in (1, 2):
        call, before = calls[t], calls[t - 1]["result"].image
        saved = io.read_frames_folder(str(tmp_path / "frames"), 3)[t - 1]
        mask, previous = call["mask"], call["previous"]
        # The uncovered strip on the right has no earlier pixel: mask 0; the rest 1.
        np.testing.assert_array_equal(mask[:, width - SHIFT :], 0.0)
        np.testing.assert_array_equal(mask[:, : width - SHIFT], 1.0)
        # The target is the previous output (as saved) shifted by the pan.
        np.testing.assert_allclose(
            previous[:, : width - SHIFT], saved[:, SHIFT:], atol=1e-5, err_msg=f"frame {t}"
        )
        assert np.abs(saved - before).max() < 1 / 255 + 1e-6
        # The start: the warped previous output where reliable, the input frame elsewhere.
        np.testing.assert_allclose(call["init"][:, : width - SHIFT], previous[:, : width - SHIFT])
        np.testing.assert_allclose(
            call["init"][:, width - SHIFT :], call["content"][:, width - SHIFT :]
        )
        assert call["weight"] == WEIGHT
        history = call["result"].history["temporal"]
        np.testing.assert_allclose(history[0], 0.0, atol=1e-10)  # starts on its target
        assert history[-1] > 0  # and the term is live


def test_estimated_flow_finds_the_strip(monkeypatch, tmp_path, clip, style, net_params):
    calls = _spy_run(monkeypatch, tmp_path, clip, style, net_params, true_flow=False)
    mask = calls[1]["mask"]
    width = SIZE[1]
    assert mask[:, width - SHIFT :].mean() < 0.2  # the uncovered strip is unreliable
    assert mask[:, 4 : width - 2 * SHIFT].mean() > 0.8  # the interior is reliable
