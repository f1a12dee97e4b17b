"""ResNet34/101/152 features beyond shapes: residual blocks against NumPy, named layers.

ResNet18/50 are compared with flaxmodels' own modules in ``backbones_test.py``; the deeper
variants share the code but not the block tables (depths, where the projection shortcuts
and strides are). Here one plain block and one downsampling block of each, deep in the
network, are recomputed by hand in NumPy (float64) from the previous block's output, with
random weights and non-trivial batch-norm statistics; and every stage output ``layer{s}``
must be its last block's output.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nst import backbones

BN_EPS = 1e-5


# Deep truncated ResNets compile several times faster with fewer XLA passes.
pytestmark = pytest.mark.usefixtures("fast_compile")


def _np_conv(x, kernel, stride=1, pad=0):
    """NHWC x HWIO, zero padding, float64."""
    x = np.pad(np.asarray(x, np.float64), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    kernel = np.asarray(kernel, np.float64)
    kh, kw = kernel.shape[:2]
    ho, wo = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
    out = 0.0
    for i in range(kh):
        for j in range(kw):
            out = (
                out
                + x[
                    :,
                    i : i + stride * (ho - 1) + 1 : stride,
                    j : j + stride * (wo - 1) + 1 : stride,
                ]
                @ kernel[i, j]
            )
    return out


def _np_bn(x, p):
    p = {k: np.asarray(v, np.float64) for k, v in p.items()}
    return (x - p["mean"]) / np.sqrt(p["var"] + BN_EPS) * p["scale"] + p["bias"]


def _np_block(x, p, *, bottleneck, stride, downsample):
    """He et al. (2016) residual block, torchvision v1.5 (stride on the 3x3 convolution)."""
    relu = lambda v: np.maximum(v, 0)
    if bottleneck:
        y = relu(_np_bn(_np_conv(x, p["conv1"]["kernel"]), p["bn1"]))
        y = relu(_np_bn(_np_conv(y, p["conv2"]["kernel"], stride, 1), p["bn2"]))
        y = _np_bn(_np_conv(y, p["conv3"]["kernel"]), p["bn3"])
    else:
        y = relu(_np_bn(_np_conv(x, p["conv1"]["kernel"], stride, 1), p["bn1"]))
        y = _np_bn(_np_conv(y, p["conv2"]["kernel"], 1, 1), p["bn2"])
    shortcut = x
    if downsample:
        shortcut = _np_bn(
            _np_conv(x, p["downsample"]["conv"]["kernel"], stride), p["downsample"]["bn"]
        )
    else:
        assert "downsample" not in p
    return relu(y + shortcut)


def _randomize_bn(tree, rng):
    """Batch-norm statistics away from the identity (random init has mean 0, var 1)."""

    def leaf(path, value):
        name = getattr(path[-1], "key", None)
        if name in ("var", "scale"):
            return jnp.asarray(rng.uniform(0.5, 1.5, value.shape), jnp.float32)
        if name in ("mean", "bias"):
            return jnp.asarray(rng.normal(0, 0.2, value.shape), jnp.float32)
        return value

    return jax.tree_util.tree_map_with_path(leaf, tree)


# (backbone, a plain block deep in a long stage, a downsampling block and its predecessor)
CASES = [
    ("resnet34", ("block3", 4, 5), ("block1_2", "block2_0")),
    ("resnet101", ("block3", 21, 22), ("block3_22", "block4_0")),
    ("resnet152", ("block3", 34, 35), ("block2_7", "block3_0")),
]


@pytest.mark.parametrize("name, plain, down", CASES, ids=[c[0] for c in CASES])
def test_blocks_match_numpy_and_stages_are_their_last_blocks(name, plain, down):
    rng = np.random.default_rng(0)
    params = backbones.load_params(name, "random", seed=0)
    stage, before, block = plain
    prev_down, block_down = down
    stage_down, index_down = block_down[5], 0
    for s, i in ((int(stage[5]), block), (int(stage_down), index_down)):
        params[f"layer{s}"][f"block{i}"] = _randomize_bn(params[f"layer{s}"][f"block{i}"], rng)
    depth = backbones.layer_names(name)
    # Stage outputs 1-3 must be their last block (the depth table of this variant).
    depths = {"resnet34": (3, 4, 6), "resnet101": (3, 4, 23), "resnet152": (3, 8, 36)}[name]
    last = {f"layer{s}": f"block{s}_{d - 1}" for s, d in enumerate(depths, start=1)}
    for s, d in enumerate(depths, start=1):
        assert sum(n.startswith(f"block{s}_") for n in depth) == d
    wanted = (f"{stage}_{before}", f"{stage}_{block}", prev_down, block_down, *last.items())
    wanted = tuple(dict.fromkeys(n for item in wanted for n in np.atleast_1d(item)))
    net = backbones.Backbone(name, wanted)
    images = jnp.asarray(np.random.default_rng(1).uniform(size=(1, 64, 64, 3)), jnp.float32)
    feats = {k: np.asarray(v, np.float64) for k, v in jax.jit(net)(params, images).items()}
    bottleneck = name != "resnet34"

    s = int(stage[5])
    want = _np_block(
        feats[f"{stage}_{before}"],
        params[f"layer{s}"][f"block{block}"],
        bottleneck=bottleneck,
        stride=1,
        downsample=False,
    )
    scale = np.abs(want).max()
    assert scale > 0.1
    np.testing.assert_allclose(feats[f"{stage}_{block}"], want, atol=1e-4 * scale)

    s = int(stage_down)
    want = _np_block(
        feats[prev_down],
        params[f"layer{s}"]["block0"],
        bottleneck=bottleneck,
        stride=2,
        downsample=True,
    )
    assert want.shape[1] == feats[prev_down].shape[1] // 2
    scale = np.abs(want).max()
    np.testing.assert_allclose(feats[block_down], want, atol=1e-4 * scale)

    for layer, block_name in last.items():
        np.testing.assert_array_equal(feats[layer], feats[block_name])
