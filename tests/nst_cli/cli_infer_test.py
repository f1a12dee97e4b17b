"""Feed-forward modes (nst_cli/infer.py): --model on a photo, a folder, a sample name; export
and the exported program; one-line errors."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest
from cli_fakes import FakeFlags

from nst import image
from nst.feedforward import checkpoint, infer, nets, zoo
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


def test_a_shipped_model_by_name_with_named_style_weights(workdir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(zoo, "MODELS", tmp_path / "models")
    zoo.ship(workdir, "tiny_ab")
    out = tmp_path / "out.png"
    fv = FakeFlags(
        model="tiny_ab", content="chelsea", output=str(out), style_mix=["b:3", "a:1"], max_size=40
    )
    assert infer_mode.main(fv) == [out]
    expected = infer.stylize(
        infer.load(workdir), image.load(image.sample("chelsea"), 40), style=[0.25, 0.75]
    )
    # float16 weights (tests/feedforward/zoo_test.py) plus the PNG's 8 bits.
    np.testing.assert_allclose(image.load(out, None), expected, atol=1e-2 + 1 / 255)
    for mix, match in (
        (["c:1"], r"--style_mix: no style 'c' in the model \(its styles: a, b\)"),
        (["a:x"], "--style_mix=a:x: expected STYLE:WEIGHT"),
        (["a:0", "b:0"], "positive sum"),
    ):
        with pytest.raises(ValueError, match=match):
            infer_mode.main(
                FakeFlags(model="tiny_ab", style_mix=mix, output=str(tmp_path / "x.png"))
            )
    with pytest.raises(ValueError, match=r"unknown model 'nope': shipped models are tiny_ab"):
        infer_mode.main(FakeFlags(model="nope"))
    capsys.readouterr()
    infer_mode.list_models()
    (line,) = capsys.readouterr().out.splitlines()
    assert line.split()[:2] == ["tiny_ab", "conditional"] and line.endswith("styles: a, b")


def test_run_py_unknown_model_and_list_models():
    run = pathlib.Path(__file__).resolve().parents[2] / "run.py"
    proc = subprocess.run(
        [sys.executable, str(run), "--model=no_such_model"], capture_output=True, text=True
    )
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "unknown model 'no_such_model': shipped models are" in lines[0]
    proc = subprocess.run(
        [sys.executable, str(run), "--list_models"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr
    assert len(proc.stdout.splitlines()) == max(1, len(zoo.names()))


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
