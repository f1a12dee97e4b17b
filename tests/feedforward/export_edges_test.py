"""Edges of ``nst.feedforward.export`` where mutants passed ``export_test.py``
(benchmarks/mutation_run.py, docs/testing.md): a header cut short, the smallest image, style
weights."""

import json

import jax
import numpy as np
import pytest

from nst.feedforward import export, infer, nets
from nst.feedforward.config import NetConfig

MULTI = NetConfig(width=4, num_residual=1, norm="conditional", styles=("a", "b"))


@pytest.fixture(scope="module")
def program():
    rng = np.random.default_rng(7)
    variables = jax.tree.map(
        lambda a: a + 0.2 * rng.standard_normal(a.shape).astype(np.float32),
        nets.init(MULTI, seed=1),
    )
    return export.export_model(infer.Model(MULTI, variables, {}))


@pytest.mark.parametrize("tail", [b"", b"\x01", b"\x01\x00\x00"])
def test_a_header_cut_short_is_not_a_program(tmp_path, tail):
    path = tmp_path / "short.nstx"
    path.write_bytes(export.MAGIC + tail)  # the length field needs 4 bytes
    with pytest.raises(ValueError, match="not an exported nst network"):
        export.load(path)


def test_images_from_5x5_up(program):
    photo = np.random.default_rng(0).uniform(size=(5, 6, 3)).astype(np.float32)
    assert export.stylize(program, photo).shape == (5, 6, 3)
    for shape in [(4, 6, 3), (6, 4, 3), (2, 4, 4, 3)]:
        with pytest.raises(ValueError, match="at least 5x5"):
            export.stylize(program, np.zeros(shape, np.float32))


def test_style_weights_are_normalized_and_checked(program):
    photo = np.random.default_rng(1).uniform(size=(8, 8, 3)).astype(np.float32)
    first = export.stylize(program, photo)
    np.testing.assert_allclose(export.stylize(program, photo, style=[3.0, 0.0]), first, atol=1e-6)
    mix = export.stylize(program, photo, style=[1.0, 1.0])
    np.testing.assert_allclose(export.stylize(program, photo, style=[0.5, 0.5]), mix, atol=1e-6)
    assert np.abs(mix - first).max() > 1e-4
    for bad in ([1.0], [-1.0, 2.0], [0.0, 0.0]):
        with pytest.raises(ValueError, match="2 non-negative weights with a positive sum"):
            export.stylize(program, photo, style=bad)


def test_the_file_layout(program, tmp_path):
    # NSTX, a little-endian uint32 n, n bytes of JSON (format 1), then the program.
    path = export.save(tmp_path / "m.nstx", program)
    data = path.read_bytes()
    n = int.from_bytes(data[4:8], "little")
    header = json.loads(data[8 : 8 + n])
    assert data[:4] == b"NSTX"
    assert header == {"format": 1, "divisor": 4, "styles": ["a", "b"], "size": None}


def test_images_must_have_three_channels(program):
    for shape in [(8, 8, 4), (2, 8, 8, 1), (8, 8)]:
        with pytest.raises(ValueError, match=r"images must be \[H, W, 3\] or \[N, H, W, 3\]"):
            export.stylize(program, np.zeros(shape, np.float32))
