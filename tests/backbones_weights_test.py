"""Tests for nst/backbones/_weights.py: weights files, and the download over a loopback server.

The "ImageNet" checkpoint here is a real-shaped ResNet18 checkpoint with random values (45
MB), written in flaxmodels' .h5 layout and served from 127.0.0.1: no test touches the
network.
"""

import http.server
import io
import os
import pathlib
import socket
import tempfile
import threading
import time
import zipfile
from unittest import mock

import chex
import h5py
import jax
import numpy as np
from absl.testing import absltest, parameterized

from nst import backbones
from nst.backbones import _registry

_NAME = "resnet18"


def _random_params(seed=3):
    """Random ResNet18 params with non-trivial batch-norm statistics, as NumPy float32."""
    rng = np.random.default_rng(seed)
    flat = {}
    for key, shape in backbones.BACKBONES[_NAME].param_shapes.items():
        low = 0.5 if key.endswith(("/var", "/scale")) else -0.5
        flat[key] = rng.uniform(low, low + 1.0, shape).astype(np.float32)
    return _registry.unflatten(flat)


def _write_flaxmodels_h5(path, params):
    """flaxmodels' checkpoint layout, written independently of nst: kernels as "weight"."""
    with h5py.File(path, "w") as f:
        for key, value in _registry.flatten(params).items():
            f[key.replace("/kernel", "/weight")] = value
        f["fc/weight"] = np.zeros((512, 1000), np.float32)  # the head, unused
        f["fc/bias"] = np.zeros((1000,), np.float32)


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FilesTest(parameterized.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.params = _random_params()
        cls.net = staticmethod(jax.jit(backbones.Backbone(_NAME, ("relu", "layer1"))))
        cls.images = jax.random.uniform(jax.random.key(0), (1, 32, 32, 3))

    def setUp(self):
        super().setUp()
        self.dir = pathlib.Path(self.create_tempdir().full_path)

    def assert_same(self, loaded):
        chex.assert_trees_all_equal(loaded, self.params)
        chex.assert_trees_all_equal(
            self.net(loaded, self.images), self.net(self.params, self.images)
        )

    @parameterized.parameters("npz", "safetensors")
    def test_round_trip(self, suffix):
        path = backbones.save_params(self.dir / f"w.{suffix}", _NAME, self.params)
        self.assertEqual(os.listdir(self.dir), [f"w.{suffix}"])  # no temporary file left
        self.assert_same(backbones.load_params(_NAME, path))
        self.assert_same(backbones.load_params(_NAME, str(path)))

    def test_flat_keys(self):
        path = backbones.save_params(self.dir / "w.npz", _NAME, self.params)
        with np.load(path) as f:
            self.assertIn("layer2/block0/downsample/bn/var", f.files)
            self.assertIn("conv1/kernel", f.files)
            self.assertLen(f.files, len(backbones.BACKBONES[_NAME].param_shapes))

    def test_flaxmodels_h5(self):
        _write_flaxmodels_h5(self.dir / "w.h5", self.params)
        self.assert_same(backbones.load_params(_NAME, self.dir / "w.h5"))

    def test_vgg_h5_ignores_head(self):
        params = backbones.load_params("vgg16", "random", seed=4)
        with h5py.File(self.dir / "vgg.h5", "w") as f:
            for key, value in _registry.flatten(params).items():
                f[key.replace("/kernel", "/weight")] = np.asarray(value)
            f["fc8/weight"] = np.zeros((4, 10), np.float32)
        chex.assert_trees_all_equal(backbones.load_params("vgg16", self.dir / "vgg.h5"), params)

    def test_incomplete_file(self):
        flat = _registry.flatten(self.params)
        del flat["layer3/block1/conv2/kernel"], flat["bn1/mean"]
        flat["conv1/kernel"] = np.zeros((7, 7, 3, 32), np.float32)
        flat["conv1/weights"] = np.zeros((1,), np.float32)
        np.savez(self.dir / "bad.npz", **flat)
        with self.assertRaisesRegex(
            backbones.WeightsError,
            r"weights file .*bad\.npz does not fit resnet18: missing keys bn1/mean, "
            r"layer3/block1/conv2/kernel; shape mismatch conv1/kernel: expected \(7, 7, 3, 64\), "
            r"got \(7, 7, 3, 32\); unexpected keys conv1/weights",
        ):
            backbones.load_params(_NAME, self.dir / "bad.npz")

    def test_npz_declaring_huge_arrays_is_checked_from_its_headers(self):
        """A member whose header declares 4 TB: refused by shape (or as truncated when the
        shape fits), never allocated (a MemoryError, not a WeightsError, before)."""
        path = backbones.save_params(self.dir / "w.npz", _NAME, self.params)

        def forge(name, shape):
            header = io.BytesIO()
            fields = {"descr": "<f4", "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_1_0(header, fields)
            forged = self.dir / f"{name.replace('/', '_')}.npz"
            with zipfile.ZipFile(path) as src, zipfile.ZipFile(forged, "w") as dst:
                for info in src.infolist():
                    if info.filename != f"{name}.npy":
                        dst.writestr(info.filename, src.read(info))
                dst.writestr(f"{name}.npy", header.getvalue() + bytes(16))  # replaced or added
            return forged

        with self.assertRaisesRegex(
            backbones.WeightsError, r"shape mismatch conv1/kernel: .*got \(1000000000000,\)"
        ):
            backbones.load_params(_NAME, forge("conv1/kernel", (10**12,)))
        huge_head = forge("fc/kernel", (10**12,))  # added: a head the backbone never reads
        self.assert_same(backbones.load_params(_NAME, huge_head))
        with self.assertRaisesRegex(backbones.WeightsError, r"declares more bytes than the file"):
            backbones.load_params(_NAME, forge("bn1/mean", (64,)))

    def test_wrong_backbone(self):
        path = backbones.save_params(self.dir / "w.safetensors", _NAME, self.params)
        with self.assertRaisesRegex(
            backbones.WeightsError, r"does not fit vgg16: missing keys conv1_1/kernel, .*more"
        ):
            backbones.load_params("vgg16", path)

    def test_unreadable_files(self):
        with self.assertRaisesRegex(backbones.WeightsError, r"weights file .*nope\.h5 not found"):
            backbones.load_params(_NAME, self.dir / "nope.h5")
        with self.assertRaisesRegex(backbones.WeightsError, r"not found; weights must be"):
            backbones.load_params(_NAME, "imagenet-v2")
        (self.dir / "junk.h5").write_bytes(b"not hdf5")
        with self.assertRaisesRegex(backbones.WeightsError, r"junk\.h5 could not be read"):
            backbones.load_params(_NAME, self.dir / "junk.h5")
        (self.dir / "w.pt").write_bytes(b"")
        with self.assertRaisesRegex(backbones.WeightsError, r"unknown format '\.pt'"):
            backbones.load_params(_NAME, self.dir / "w.pt")

    def test_save_checks_params(self):
        bad = {**self.params, "bn1": {**self.params["bn1"], "var": np.ones(3, np.float32)}}
        with self.assertRaisesRegex(
            backbones.WeightsError, r"bn1/var: expected \(64,\), got \(3,\)"
        ):
            backbones.save_params(self.dir / "w.npz", _NAME, bad)
        with self.assertRaisesRegex(backbones.WeightsError, r"use a \.npz or \.safetensors path"):
            backbones.save_params(self.dir / "w.h5", _NAME, self.params)
        self.assertEqual(os.listdir(self.dir), [])


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves the checkpoint at /good.h5, half of it at /truncated.h5, junk at /junk.h5."""

    body: bytes = b""
    requests: list = []  # noqa: RUF012 (one list per server class, reset in setUp)

    def do_GET(self):
        type(self).requests.append(self.path)
        if self.path == "/stall.h5":
            time.sleep(2.0)
        if self.path in ("/good.h5", "/truncated.h5", "/stall.h5"):
            body = self.body
        elif self.path == "/junk.h5":
            body = b"<html>this is not a checkpoint</html>"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path == "/truncated.h5":
            body = body[: len(body) // 2]  # then close: the client sees a short body
            self.close_connection = True
        try:
            self.wfile.write(body)
        except OSError:  # the client gave up (timeout test)
            pass

    def log_message(self, *args):
        pass


class DownloadTest(absltest.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.params = _random_params(seed=5)
        with tempfile.TemporaryDirectory() as tmp:
            _write_flaxmodels_h5(os.path.join(tmp, "w.h5"), cls.params)
            cls.handler = type("Handler", (_Handler,), {})
            cls.handler.body = pathlib.Path(tmp, "w.h5").read_bytes()
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), cls.handler)
        cls.server.daemon_threads = True
        cls.server.block_on_close = False
        cls.thread = threading.Thread(target=cls.server.serve_forever, daemon=True)
        cls.thread.start()
        cls.base = f"http://127.0.0.1:{cls.server.server_address[1]}"

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.handler.requests = []
        self.cache = pathlib.Path(self.create_tempdir().full_path) / "weights"
        self.final = self.cache / "resnet18_weights.h5"

    def load(self, path):
        return backbones.load_params(_NAME, "imagenet", cache_dir=self.cache, url=self.base + path)

    def test_download_once_then_offline(self):
        chex.assert_trees_all_equal(self.load("/good.h5"), self.params)
        self.assertEqual(self.handler.requests, ["/good.h5"])
        self.assertEqual(os.listdir(self.cache), [self.final.name])
        # Cached: no request at all, even with the URL pointing at a closed port.
        closed = f"http://127.0.0.1:{_closed_port()}/good.h5"
        params = backbones.load_params(_NAME, "imagenet", cache_dir=self.cache, url=closed)
        chex.assert_trees_all_equal(params, self.params)
        self.assertEqual(self.handler.requests, ["/good.h5"])

    def test_interrupted_download(self):
        url = self.base + "/truncated.h5"
        with self.assertRaisesRegex(
            backbones.WeightsError, r"incomplete download: got \d+ of \d+ bytes"
        ):
            self.load("/truncated.h5")
        self.assertEqual(os.listdir(self.cache), [])  # neither the final name nor a .part
        with self.assertRaisesRegex(backbones.WeightsError, url):
            self.load("/truncated.h5")
        chex.assert_trees_all_equal(self.load("/good.h5"), self.params)  # a later retry works
        self.assertTrue(self.final.is_file())

    def test_invalid_or_missing_content(self):
        with self.assertRaisesRegex(backbones.WeightsError, r"from .*/junk\.h5 into .*OSError"):
            self.load("/junk.h5")
        with self.assertRaisesRegex(backbones.WeightsError, r"HTTPError: HTTP Error 404"):
            self.load("/missing.h5")
        self.assertEqual(os.listdir(self.cache), [])

    def test_offline_message(self):
        url = f"http://127.0.0.1:{_closed_port()}/resnet18_weights.h5"
        start = time.monotonic()
        with self.assertRaises(backbones.WeightsError) as caught:
            backbones.load_params(_NAME, "imagenet", cache_dir=self.cache, url=url)
        self.assertLess(time.monotonic() - start, 3.0)
        message = str(caught.exception)
        for part in (url, str(self.final), "weights='random'", "--weights=random", "weights=PATH"):
            self.assertIn(part, message)
        self.assertIsNone(caught.exception.__cause__)  # one message, no chained traceback
        self.assertFalse(self.final.exists())

    def test_stalled_server_times_out(self):
        start = time.monotonic()
        with self.assertRaisesRegex(backbones.WeightsError, r"stall\.h5.*(timed out|Timeout)"):
            backbones.download_weights(
                _NAME, cache_dir=self.cache, url=self.base + "/stall.h5", timeout=0.3
            )
        self.assertLess(time.monotonic() - start, 1.5)
        self.assertEqual(os.listdir(self.cache), [])

    def test_url_and_cache_overrides(self):
        default = backbones.BACKBONES["vgg19"].checkpoint_url
        self.assertStartsWith(default, "https://www.dropbox.com/")
        env = {"NST_WEIGHTS_URL_VGG19": "", "NST_WEIGHTS_BASE_URL": ""}
        with mock.patch.dict(os.environ, env):
            self.assertEqual(backbones.checkpoint_url("vgg19"), default)
            self.assertEqual(backbones.checkpoint_url("vgg19", "http://x/y.h5"), "http://x/y.h5")
            os.environ["NST_WEIGHTS_BASE_URL"] = "http://mirror/nst/"
            self.assertEqual(
                backbones.checkpoint_url("vgg19"), "http://mirror/nst/vgg19_weights.h5"
            )
            os.environ["NST_WEIGHTS_URL_VGG19"] = "http://one/v.h5"
            self.assertEqual(backbones.checkpoint_url("vgg19"), "http://one/v.h5")
        with mock.patch.dict(os.environ, {"NST_CACHE_DIR": "/c/nst", "XDG_CACHE_HOME": "/x"}):
            self.assertEqual(backbones.default_cache_dir(), pathlib.Path("/c/nst/weights"))
            os.environ["NST_CACHE_DIR"] = ""
            self.assertEqual(backbones.default_cache_dir(), pathlib.Path("/x/nst/weights"))

    def test_env_url_used_by_load(self):
        with mock.patch.dict(os.environ, {"NST_WEIGHTS_URL_RESNET18": self.base + "/good.h5"}):
            backbones.load_params(_NAME, "imagenet", cache_dir=self.cache)
        self.assertEqual(self.handler.requests, ["/good.h5"])


if __name__ == "__main__":
    absltest.main()
