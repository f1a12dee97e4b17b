"""Large outputs (nst_cli/highres.py): the pyramid and tiles end to end, resume, refusals."""

import json
import os

import pytest
from cli_fakes import FakeFlags

from nst import image
from nst.config import StylizeConfig
from nst_cli import highres


def test_highres_writes_the_output_resumes_and_refuses(tmp_path):
    config = StylizeConfig(
        weights="random",
        size=64,
        steps=2,
        content_layers=(("conv2_1", 1.0),),
        style_layers=(("conv1_1", 0.5), ("conv2_1", 0.5)),
    )
    output = tmp_path / "big.png"
    values = FakeFlags(output=str(output), pyramid_start=32, tile_size=32, tile_overlap=8)
    values.update(FakeFlags(tile_above=32, progress=False))
    assert highres.wanted(values)
    assert not highres.wanted(FakeFlags())
    assert highres.wanted(FakeFlags(size=2048))
    result = highres.main(values, config)
    assert image.load(output, max_size=None).shape == (48, 64, 3)
    assert [lv.tile for lv in result.levels] == [None, (32, 32)]
    assert not os.path.exists(str(output) + ".levels")  # removed once the output is written
    with pytest.raises(ValueError, match="exists; pass --overwrite"):
        highres.main(values, config)
    # A memory budget too small for anything: one line naming the estimate.
    # Resume: level 0 saved by an interrupted run with the same settings and images.
    resumed = tmp_path / "resumed.png"
    values = FakeFlags(output=str(resumed), pyramid_start=32, tile_size=32, tile_overlap=8)
    values.update(FakeFlags(tile_above=32, progress=False, level_steps=["3", "2"]))
    content = image.load(image.sample("tubingen"), max_size=64)
    styles = [image.load(image.sample("starry_night"), max_size=64)]
    hi = highres.highres_config(values)
    folder = tmp_path / "resumed.png.levels"
    image.save(folder / "level0.png", content[::2, ::2])
    fingerprint = highres._fingerprint(config, hi, content, styles)
    (folder / "levels.json").write_text(json.dumps({"fingerprint": fingerprint, "done": [0]}))
    result = highres.main(values, config)
    assert result.steps_done == 2 and resumed.exists()  # only level 1 ran
    folder.mkdir()  # removed with the output written above
    (folder / "levels.json").write_text(json.dumps({"fingerprint": "other", "done": [0]}))
    values = FakeFlags(output=str(tmp_path / "other.png"), pyramid_start=32, tile_size=32)
    values.update(FakeFlags(tile_overlap=8, progress=False))
    os.rename(folder, tmp_path / "other.png.levels")
    with pytest.raises(ValueError, match="holds levels of another run"):
        highres.main(values, config)

    values = FakeFlags(output=str(tmp_path / "x.png"), tile_size=0, memory_gib=0.001)
    message = r"^estimated 0\.\d GiB for 64x48 untiled > 0\.0 GiB available; use --tile_size=512"
    with pytest.raises(ValueError, match=message):
        highres.main(values, config)
    assert not os.path.exists(tmp_path / "x.png")
