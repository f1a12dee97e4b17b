"""What the one-image mode (``nst_cli.stylize``) hands the engine: the style images at the
working size, and each style's own mask (issue 31: both could be broken with every test
green). The engine is a spy that records its arguments; nothing is optimized."""

import numpy as np
import pytest
from cli_fakes import FakeFlags

from nst import image, stylize
from nst_cli import stylize as cli_stylize

SIZE = 32


@pytest.fixture
def files(tmp_path):
    """A 24x40 photo, a 120x60 painting (larger than the working size, another aspect), a
    content mask (left half) and a style mask (top third), as files."""
    rng = np.random.default_rng(0)
    paths = {}
    arrays = {
        "content": rng.uniform(size=(24, 40, 3)),
        "style": rng.uniform(size=(120, 60, 3)),
        "content_mask": np.zeros((24, 40, 3)),
        "style_mask": np.zeros((120, 60, 3)),
    }
    arrays["content_mask"][:, :20] = 1.0
    arrays["style_mask"][:40] = 1.0
    for name, array in arrays.items():
        paths[name] = str(tmp_path / f"{name}.png")
        image.save(paths[name], array.astype(np.float32))
    return paths


@pytest.fixture
def engine(monkeypatch):
    """Replaces ``nst.stylize.stylize``; returns the list its calls are recorded in."""
    calls = []

    def spy(config, content, styles, **kw):
        calls.append({"config": config, "content": content, "styles": list(styles), **kw})
        history = {"total": np.ones(1, np.float32), "time": np.ones(1, np.float32)}
        return stylize.Result(image=content, history=history, snapshots={}, steps_done=1)

    monkeypatch.setattr(stylize, "stylize", spy)
    return calls


def _run(tmp_path, style, **values):
    fv = FakeFlags(
        content=values.pop("content"),
        style=[style],
        output=str(tmp_path / "out.png"),
        size=SIZE,
        weights="random",
        progress=False,
        **values,
    )
    cli_stylize.main(fv)


def test_styles_are_loaded_at_the_working_size(tmp_path, files, engine):
    _run(tmp_path, files["style"], content=files["content"])
    (call,) = engine
    assert max(call["content"].shape[:2]) == SIZE
    assert call["styles"][0].shape == (SIZE, SIZE // 2, 3)  # 120x60 -> 32x16
    np.testing.assert_allclose(
        call["styles"][0], image.load(files["style"], max_size=SIZE), atol=1e-6
    )


def test_with_style_scale_the_styles_come_whole(tmp_path, files, engine):
    # The library resizes them (stylize.scale_styles) relative to the working image.
    _run(tmp_path, files["style"], content=files["content"], style_scale=0.5)
    assert engine[0]["styles"][0].shape == (120, 60, 3)
    assert engine[0]["config"].style_scale == 0.5


def test_each_mask_is_its_own_file_at_its_image_size(tmp_path, files, engine):
    spec = f"{files['style']}:{files['content_mask']}:{files['style_mask']}"
    _run(tmp_path, spec, content=files["content"])
    (call,) = engine
    ((content_mask, style_mask),) = call["regions"]
    content_shape, style_shape = call["content"].shape[:2], call["styles"][0].shape[:2]
    assert content_mask.shape == content_shape and style_mask.shape == style_shape
    # The content mask: the left half of the photo; the style mask: the top third of the
    # painting (its own file, not the content mask resized).
    expected_content = image.load(files["content_mask"], max_size=None).mean(-1)
    expected_style = image.resize(
        image.load(files["style_mask"], max_size=None).mean(-1), style_shape
    )
    np.testing.assert_allclose(
        content_mask, image.resize(expected_content, content_shape), atol=1e-6
    )
    np.testing.assert_allclose(style_mask, expected_style, atol=1e-6)
    assert style_mask[: style_shape[0] // 4].min() > 0.99  # top: selected
    assert style_mask[style_shape[0] // 2 :].max() < 0.01  # bottom: not
    assert np.ptp(style_mask[:, : style_shape[1] // 2]) > 0.9  # not the left/right split


def test_no_style_mask_is_the_whole_style(tmp_path, files, engine):
    _run(tmp_path, f"{files['style']}:{files['content_mask']}", content=files["content"])
    ((_, style_mask),) = engine[0]["regions"]
    assert style_mask is None
