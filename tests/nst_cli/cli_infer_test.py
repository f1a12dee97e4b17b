"""Feed-forward modes (nst_cli/infer.py): --model on a photo, a folder, a sample name; export
and the exported program; one-line errors."""

import numpy as np
import pytest
from cli_fakes import FakeFlags

from nst import image
from nst.feedforward import checkpoint, infer, nets
from nst.feedforward.config import NetConfig
from nst_cli import infer as infer_mode

# A tiny conditional network of two styles, saved as a training workdir holds it.
CONFIG = NetConfig(width=4, num_residual=1, norm="conditional", styles=("a", "b"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    checkpoint.save_model(root / "model", CONFIG, nets.init(CONFIG, seed=1))
    return root


def test_single_photo_folder_mix_and_errors(workdir, tmp_path):
    out = tmp_path / "out.png"
    photo = image.sample("chelsea")
    fv = FakeFlags(
        model=str(workdir), content=str(photo), output=str(out), style_mix=["1", "3"], max_size=40
    )
    (written,) = infer_mode.main(fv)
    assert written == out and max(image.load(out, None).shape[:2]) == 40
    model = infer.load(workdir)
    expected = infer.stylize(model, image.load(photo, 40), style=[0.25, 0.75])
    np.testing.assert_allclose(image.load(out, None), expected, atol=1 / 255 + 1e-6)
    with pytest.raises(ValueError, match="exists"):
        infer_mode.main(fv)
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        image.save(folder / name, np.full((20, 16, 3), 0.5, np.float32))
    fv = FakeFlags(model=str(workdir), content=str(folder), output=str(tmp_path / "outs"))
    written = infer_mode.main(fv)
    assert [p.name for p in written] == ["a_stylized.png", "b_stylized.png"]
    fv = FakeFlags(model=str(workdir), output=str(tmp_path / "x.png"), style_mix=["1"])
    with pytest.raises(ValueError, match="2 weights"):
        infer_mode.main(fv)
    with pytest.raises(ValueError, match="not a model"):
        infer_mode.main(FakeFlags(model=str(tmp_path)))
    with pytest.raises(ValueError, match="--style_mix must be numbers"):
        infer_mode.main(FakeFlags(model=str(workdir), style_mix=["a"]))


def test_sample_names_and_lists_resolve_to_the_bundled_files():
    assert infer_mode.inputs("chelsea") == [image.sample("chelsea")]
    assert infer_mode.inputs("chelsea, tubingen") == [
        image.sample("chelsea"),
        image.sample("tubingen"),
    ]
    assert infer_mode.inputs(None) == [image.sample("tubingen")]


def test_export_then_exported_matches_the_model(workdir, tmp_path):
    program = tmp_path / "m.nstx"
    fv = FakeFlags(model=str(workdir), export=str(program))
    assert infer_mode.export_main(fv) == program and program.stat().st_size > 0
    with pytest.raises(ValueError, match="exists; pass --overwrite"):
        infer_mode.export_main(fv)
    with pytest.raises(ValueError, match="--export_size must be H,W"):
        infer_mode.export_main(FakeFlags(model=str(workdir), export="x.nstx", export_size=["9"]))
    out = tmp_path / "o.png"
    fv = FakeFlags(exported=str(program), content="chelsea", output=str(out), max_size=24)
    assert infer_mode.exported_main(fv) == [out]
    expected = infer.stylize(infer.load(workdir), image.load(image.sample("chelsea"), 24))
    np.testing.assert_allclose(image.load(out, None), expected, atol=2 / 255)
