"""run.py with the peer features (issue 22): the flags in --help, style masks end to end, and
one-line errors for bad values."""

import numpy as np
import pytest
from run_test import TINY, _assert_one_line_error, _run

from nst import image


def test_help_lists_the_flags():
    proc = _run("--help")
    assert proc.returncode == 0, proc.stderr
    for flag in ("--style_stat", "--ema_decay", "--style_scale", "CONTENT_MASK", "--exported"):
        assert flag in proc.stdout, flag


def test_style_mask_keeps_the_rest_of_the_photo(tmp_path):
    content = image.load(image.sample("tubingen"), max_size=32)
    mask = np.zeros((*content.shape[:2], 3), np.float32)
    mask[: content.shape[0] // 2] = 1.0
    image.save(tmp_path / "mask.png", mask)
    style = str(image.sample("starry_night"))
    out = tmp_path / "o.png"
    proc = _run(
        *TINY,
        "--style_weight=1e6",
        "--lr=0.05",
        f"--style={style}:{tmp_path / 'mask.png'}",
        f"--output={out}",
        "--ema_decay=0.5",
        "--optimizer=adam",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    result = image.load(out, max_size=None)
    half = content.shape[0] // 2
    np.testing.assert_allclose(result[half:], content[half:], atol=1 / 255 + 1e-6)
    assert np.abs(result[:half] - content[:half]).max() > 2 / 255


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["--style_stat=histogram"], "--style_stat must be one of"),
        (["--ema_decay=1.5"], "--ema_decay must be finite and in [0, 1)"),
        (["--ema_decay=0.9", "--optimizer=lbfgs"], "--ema_decay needs a first-order optimizer"),
        (["--style_scale=-1"], "--style_scale must be finite and > 0"),
        (["--style=/nonexistent/a.jpg:/nonexistent/m.png"], "no such file, nor a sample name"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(args, pattern, tmp_path):
    proc = _run(*TINY, f"--output={tmp_path / 'o.png'}", *args, cwd=tmp_path)
    _assert_one_line_error(proc, pattern)
    assert not (tmp_path / "o.png").exists()
