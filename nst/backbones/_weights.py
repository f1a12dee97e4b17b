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
"""

import contextlib
import logging
import os
import pathlib
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping

import h5py
import jax.numpy as jnp
import numpy as np

from nst.backbones import _registry

_LOG = logging.getLogger(__name__)
_CHUNK = 1 << 20
_MAX_LISTED = 8
DEFAULT_TIMEOUT_S = 10.0

Shapes = Mapping[str, tuple[int, ...]]


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
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        yield {k: a.shape for k, a in arrays.items()}, arrays.__getitem__
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
            flat = {key: jnp.asarray(np.asarray(read(key), np.float32)) for key in expected}
    except (OSError, ValueError, KeyError) as err:
        if isinstance(err, WeightsError):
            raise
        raise WeightsError(f"{source} could not be read: {type(err).__name__}: {err}") from None
    return _registry.unflatten(flat)


def save_params(path: str | os.PathLike, name: str, params: Mapping) -> pathlib.Path:
    """Writes ``params`` of backbone ``name`` to ``.npz`` or ``.safetensors``, atomically.

    The file is written to a temporary name in the same directory and renamed when
    complete, so a crash never leaves a truncated file under ``path``. Keys are the flat
    layout of the module docstring; arrays are stored as float32.

    Returns:
      The path written.
    """
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".safetensors"):
        raise WeightsError(f"cannot save weights as {path}: use a .npz or .safetensors path")
    flat = _registry.flatten(params)
    check_shapes(name, {k: np.shape(v) for k, v in flat.items()}, f"params for {path}")
    arrays = {
        k: np.ascontiguousarray(flat[k], np.float32) for k in _registry.get(name).param_shapes
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if suffix == ".npz":
                np.savez(f, **arrays)
            else:
                import safetensors.numpy  # optional dependency

                f.write(safetensors.numpy.save(arrays))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    return path


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
