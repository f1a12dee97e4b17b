"""Exported feed-forward programs (nst.feedforward.export): the same output as the model
they come from, any size and batch, self-contained (loads with jax alone), and the run.py
commands that write and run them."""

import pathlib
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from nst import image
from nst.feedforward import checkpoint, export, infer, nets
from nst.feedforward.config import NetConfig

ROOT = pathlib.Path(__file__).resolve().parents[2]
JOHNSON = NetConfig(width=4, num_residual=1)
MULTI = NetConfig(width=4, num_residual=1, norm="conditional", styles=("a", "b"))
TEXTURE = NetConfig(arch="ulyanov", width=2, scales=3, content_input=False)


def _model(config):
    """Initial weights plus noise (so conditional styles' gamma/beta rows differ)."""
    rng = np.random.default_rng(7)
    variables = jax.tree.map(
        lambda a: a + 0.2 * rng.standard_normal(a.shape).astype(np.float32),
        nets.init(config, seed=1),
    )
    return infer.Model(config, variables, {})


@pytest.fixture(scope="module")
def johnson_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "johnson.nstx"
    export.save(path, export.export_model(_model(JOHNSON)))
    return path


@pytest.mark.parametrize("shape", [(5, 7, 3), (33, 46, 3), (3, 16, 20, 3)])
def test_any_size_matches_the_model(johnson_file, shape):
    program = export.load(johnson_file)
    x = np.random.default_rng(0).uniform(size=shape).astype(np.float32)
    out = export.stylize(program, x)
    model = _model(JOHNSON)
    expected = infer.stylize_many(model, list(x) if x.ndim == 4 else [x])[0]
    expected = np.stack(expected) if x.ndim == 4 else expected[0]
    assert out.shape == shape
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_conditional_mixture_matches_the_model(tmp_path):
    model = _model(MULTI)
    export.save(tmp_path / "m.nstx", export.export_model(model))
    program = export.load(tmp_path / "m.nstx")
    assert program.styles == ("a", "b")
    x = np.random.default_rng(1).uniform(size=(20, 24, 3)).astype(np.float32)
    for mix in ([1.0, 0.0], [0.3, 0.7]):
        np.testing.assert_allclose(
            export.stylize(program, x, style=mix),
            infer.stylize(model, x, style=mix),
            atol=1e-5,
        )
    a, b = (export.stylize(program, x, style=m) for m in ([1.0, 0.0], [0.0, 1.0]))
    assert np.abs(a - b).max() > 1e-4  # the style input reaches the program


def test_texture_network_exports_for_one_size(tmp_path):
    model = _model(TEXTURE)
    with pytest.raises(ValueError, match="exports for one size only"):
        export.export_model(model)
    export.save(tmp_path / "t.nstx", export.export_model(model, size=(18, 22)))
    program = export.load(tmp_path / "t.nstx")
    blank = np.zeros((18, 22, 3), np.float32)
    out = export.stylize(program, blank, seed=3)
    np.testing.assert_allclose(out, infer.stylize(model, blank, seed=3), atol=1e-5)
    with pytest.raises(ValueError, match="exported for 18x22 images, got 20x22"):
        export.stylize(program, np.zeros((20, 22, 3), np.float32))


def test_bad_files_and_no_clobber(johnson_file, tmp_path):
    bad = tmp_path / "bad.nstx"
    bad.write_bytes(b"not a program")
    with pytest.raises(ValueError, match="not an exported nst network"):
        export.load(bad)
    truncated = tmp_path / "truncated.nstx"
    truncated.write_bytes(johnson_file.read_bytes()[:200])
    with pytest.raises(ValueError, match="unreadable exported network"):
        export.load(truncated)
    with pytest.raises(FileExistsError):
        export.save(johnson_file, export.load(johnson_file))


def test_runs_with_jax_alone(johnson_file, tmp_path):
    # A fresh interpreter where importing nst (or flax, or orbax) fails: the file and jax suffice.
    x = np.random.default_rng(2).uniform(size=(1, 16, 24, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(
        f"""
        import json, struct, sys
        for name in ("nst", "flax", "orbax"):
            sys.modules[name] = None
        import jax, numpy as np
        data = open({str(johnson_file)!r}, "rb").read()
        (n,) = struct.unpack("<I", data[4:8])
        exported = jax.export.deserialize(bytearray(data[8 + n:]))
        x = np.load({str(tmp_path / "x.npy")!r})
        out = exported.call(x, np.ones((1, 1), np.float32), np.uint32(0))
        np.save({str(tmp_path / "y.npy")!r}, np.asarray(out))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    expected = infer.stylize(_model(JOHNSON), x[0])
    np.testing.assert_allclose(np.load(tmp_path / "y.npy")[0], expected, atol=1e-5)


def test_run_py_export_and_exported(tmp_path):
    model_dir = checkpoint.save_model(tmp_path / "model", JOHNSON, nets.init(JOHNSON, seed=1))
    run = lambda *args: subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args], capture_output=True, text=True, cwd=tmp_path
    )
    proc = run(f"--model={model_dir}", "--export=m.nstx")
    assert proc.returncode == 0, proc.stderr
    photo = tmp_path / "photo.png"
    image.save(photo, image.load(image.sample("chelsea"), max_size=40))
    proc = run("--exported=m.nstx", f"--content={photo}", "--output=out.png")
    assert proc.returncode == 0, proc.stderr
    expected = infer.stylize(infer.load(model_dir), image.load(photo, max_size=None))
    out = image.load(tmp_path / "out.png", max_size=None)
    np.testing.assert_allclose(out, expected, atol=1 / 255 + 1e-6)
    proc = run("--exported=m.nstx", f"--content={photo}", "--output=out.png")
    assert proc.returncode == 2 and "exists" in proc.stderr
    proc = run("--exported=missing.nstx", f"--content={photo}", "--output=o2.png")
    assert proc.returncode == 2 and "missing.nstx" in proc.stderr
    assert len([ln for ln in proc.stderr.splitlines() if ln.strip()]) == 1
