"""An interrupted one-image run (``nst_cli.stylize``) continued by the same command: the
snapshots written before the interruption are kept, the rest are written, nothing is
refused as an existing file."""

import numpy as np
import pytest
from cli_fakes import FakeFlags

from nst import image
from nst_cli import stylize as cli_stylize


class _StopAfter:
    """A StopFlag that asks for a stop at its ``polls``-th poll."""

    def __init__(self, polls):
        self.left = polls

    def __call__(self):
        self.left -= 1
        return self.left < 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def _flags(tmp_path):
    return FakeFlags(
        content="chelsea",
        style=["brick"],
        output=str(tmp_path / "out.png"),
        size=24,
        steps=4,
        snapshot_every=1,
        optimizer="adam",
        weights="random",
        progress=False,
    )


def test_resume_keeps_the_snapshots_from_before_the_interruption(tmp_path, monkeypatch):
    monkeypatch.setattr(cli_stylize, "StopFlag", lambda: _StopAfter(2))
    with pytest.raises(SystemExit) as info:
        cli_stylize.main(_flags(tmp_path))
    assert info.value.code == 130
    before = {p.name: p.read_bytes() for p in tmp_path.glob("out_step*.png")}
    assert before and (tmp_path / "out.png.ckpt.npz").exists()

    monkeypatch.setattr(cli_stylize, "StopFlag", lambda: _StopAfter(10**6))
    cli_stylize.main(_flags(tmp_path))
    names = sorted(p.name for p in tmp_path.glob("out_step*.png"))
    assert names == [f"out_step{s:05d}.png" for s in range(1, 5)]
    for name, data in before.items():  # the interrupted run's own, untouched
        assert (tmp_path / name).read_bytes() == data
    assert image.load(tmp_path / "out.png", max_size=None).shape[:2] == (16, 24)
    assert not (tmp_path / "out.png.ckpt.npz").exists()
    assert np.isfinite(image.load(tmp_path / "out_step00004.png", max_size=None)).all()
