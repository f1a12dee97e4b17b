"""Tests for nst/backbones: layer tables, truncation, references, flaxmodels equivalence.

Weights files and the download are tested in backbones_weights_test.py. Everything runs on
tiny images with random weights; each compiled program is shared through setUpClass.
"""

import os
import tempfile

import chex
import flaxmodels
import h5py
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized

from nst import backbones
from nst.backbones import _registry

# ----------------------------------------------------------------------------- helpers

# Input sizes (H, W) of the pinned tables: a square one and an odd, non-square one that
# exercises the floor of VGG's pooling and the padding of ResNet's strided layers.
_SIZES = ((32, 32), (50, 37))

# Landmark layers -> their (h, w, c) at each of _SIZES. Derived by hand: VGG keeps the size
# through its 3x3 "same" convolutions and floors it at each 2x2 pooling; a ResNet's stem
# conv (7x7/2, pad 3) and max pooling (3x3/2, pad 1) and every strided 3x3 (pad 1) or 1x1
# map n -> floor((n - 1) / 2) + 1; bottleneck stages output 4x the width.
_VGG = {
    "conv1_1": ((32, 32, 64), (50, 37, 64)),
    "pool1": ((16, 16, 64), (25, 18, 64)),
    "conv2_1": ((16, 16, 128), (25, 18, 128)),
    "pool2": ((8, 8, 128), (12, 9, 128)),
    "conv3_1": ((8, 8, 256), (12, 9, 256)),
    "pool3": ((4, 4, 256), (6, 4, 256)),
    "conv4_1": ((4, 4, 512), (6, 4, 512)),
    "pool4": ((2, 2, 512), (3, 2, 512)),
    "conv5_1": ((2, 2, 512), (3, 2, 512)),
    "pool5": ((1, 1, 512), (1, 1, 512)),
}
_BASIC = {
    "conv1": ((16, 16, 64), (25, 19, 64)),
    "maxpool": ((8, 8, 64), (13, 10, 64)),
    "layer1": ((8, 8, 64), (13, 10, 64)),
    "layer2": ((4, 4, 128), (7, 5, 128)),
    "layer3": ((2, 2, 256), (4, 3, 256)),
    "layer4": ((1, 1, 512), (2, 2, 512)),
}
_BOTTLENECK = {
    "conv1": ((16, 16, 64), (25, 19, 64)),
    "maxpool": ((8, 8, 64), (13, 10, 64)),
    "layer1": ((8, 8, 256), (13, 10, 256)),
    "layer2": ((4, 4, 512), (7, 5, 512)),
    "layer3": ((2, 2, 1024), (4, 3, 1024)),
    "layer4": ((1, 1, 2048), (2, 2, 2048)),
}
# Every registered backbone: (number of layers, landmark table).
_PINNED = {
    "vgg16": (31, _VGG),  # 13 convs + 13 relus + 5 pools
    "vgg19": (37, _VGG),  # 16 + 16 + 5
    "resnet18": (16, _BASIC),  # 4 stem + 8 blocks + 4 stages
    "resnet34": (24, _BASIC),  # 4 + 16 + 4
    "resnet50": (24, _BOTTLENECK),
    "resnet101": (41, _BOTTLENECK),  # 4 + 33 + 4
    "resnet152": (58, _BOTTLENECK),  # 4 + 50 + 4
}


def _landmark(layer: str) -> str:
    """The landmark layer with the same output shape: conv3_2 -> conv3_1, block2_1 -> layer2."""
    if layer[:4] in ("conv", "relu") and "_" in layer:
        return f"conv{layer[4:].split('_')[0]}_1"
    if layer.startswith("block"):
        return f"layer{layer[5:].split('_')[0]}"
    return {"bn1": "conv1", "relu": "conv1"}.get(layer, layer)


def _abstract_params(name):
    shapes = backbones.BACKBONES[name].param_shapes
    return _registry.unflatten({k: jax.ShapeDtypeStruct(s, jnp.float32) for k, s in shapes.items()})


def _images(n, h, w, seed=0):
    return jax.random.uniform(jax.random.key(seed), (n, h, w, 3), jnp.float32)


def _np_conv(x, kernel, stride=1, pad=0):
    """NumPy float64 reference: NHWC input, HWIO kernel, zero padding, no bias."""
    x = np.pad(np.asarray(x, np.float64), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    kernel = np.asarray(kernel, np.float64)
    kh, kw = kernel.shape[:2]
    ho = (x.shape[1] - kh) // stride + 1
    wo = (x.shape[2] - kw) // stride + 1
    out = 0.0
    for i in range(kh):
        for j in range(kw):
            window = x[
                :, i : i + stride * (ho - 1) + 1 : stride, j : j + stride * (wo - 1) + 1 : stride
            ]
            out = out + window @ kernel[i, j]
    return out


def _np_normalize(images):
    # ImageNet statistics as published by torchvision (and used by flaxmodels).
    mean = np.array([0.485, 0.456, 0.406])
    std = np.array([0.229, 0.224, 0.225])
    return (np.asarray(images, np.float64) - mean) / std


def _n_convs(net, params, images):
    return str(jax.make_jaxpr(net)(params, images)).count("conv_general_dilated")


# ----------------------------------------------------------------------------- tables


class LayerTableTest(parameterized.TestCase):
    def test_every_backbone_has_a_pinned_table(self):
        self.assertEqual(set(_PINNED), set(backbones.BACKBONES))
        self.assertEqual(set(backbones.DEFAULT_LAYERS), set(backbones.BACKBONES))

    @parameterized.parameters(*_PINNED)
    def test_shapes(self, name):
        n_layers, table = _PINNED[name]
        names = backbones.layer_names(name)
        self.assertLen(names, n_layers)
        self.assertLen(set(names), n_layers)
        self.assertContainsSubset(table, names)
        net = backbones.Backbone(name, names)
        for s, (h, w) in enumerate(_SIZES):
            images = jax.ShapeDtypeStruct((2, h, w, 3), jnp.float32)
            feats = jax.eval_shape(net, _abstract_params(name), images)
            self.assertCountEqual(feats, names)
            for layer, out in feats.items():
                expected = (2, *table[_landmark(layer)][s])
                self.assertEqual(
                    (out.shape, out.dtype), (expected, jnp.float32), (name, layer, h, w)
                )

    def test_layer_names(self):
        self.assertEqual(
            backbones.layer_names("resnet18"),
            (
                "conv1",
                "bn1",
                "relu",
                "maxpool",
                "block1_0",
                "block1_1",
                "layer1",
                "block2_0",
                "block2_1",
                "layer2",
                "block3_0",
                "block3_1",
                "layer3",
                "block4_0",
                "block4_1",
                "layer4",
            ),
        )
        vgg19 = backbones.layer_names("vgg19")
        self.assertEqual(
            vgg19[:6], ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1", "conv2_1")
        )
        self.assertEqual(vgg19[-3:], ("conv5_4", "relu5_4", "pool5"))

    @parameterized.parameters(*_PINNED)
    def test_default_layers_exist(self, name):
        defaults = backbones.DEFAULT_LAYERS[name]
        self.assertEqual(set(defaults), {"content", "style"})
        self.assertContainsSubset(
            defaults["content"] + defaults["style"], backbones.layer_names(name)
        )

    def test_default_layers_values(self):
        self.assertEqual(backbones.DEFAULT_LAYERS["vgg19"]["content"], ("conv4_2",))
        self.assertEqual(
            backbones.DEFAULT_LAYERS["vgg19"]["style"],
            ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"),
        )
        with self.assertRaises(TypeError):
            backbones.BACKBONES["vgg20"] = backbones.BACKBONES["vgg19"]  # read-only registry


class ValidationTest(absltest.TestCase):
    def test_unknown_names(self):
        with self.assertRaisesRegex(ValueError, r"unknown backbone 'vgg20'; choose one of vgg16"):
            backbones.Backbone("vgg20", ("conv1_1",))
        with self.assertRaisesRegex(
            ValueError, r"unknown layer\(s\) 'conv6_1' for vgg16; valid names.*conv1_1, relu1_1"
        ):
            backbones.Backbone("vgg16", ("conv1_1", "conv6_1"))
        with self.assertRaisesRegex(ValueError, r"layers is empty"):
            backbones.Backbone("vgg16", ())

    def test_options(self):
        with self.assertRaisesRegex(ValueError, r"pooling must be 'max' or 'avg'"):
            backbones.Backbone("vgg16", ("conv1_1",), pooling="min")
        with self.assertRaisesRegex(ValueError, r"for VGG backbones only"):
            backbones.Backbone("resnet18", ("layer1",), pooling="avg")
        with self.assertRaisesRegex(TypeError, r"dtype must be a float dtype"):
            backbones.Backbone("vgg16", ("conv1_1",), dtype=jnp.int32)

    def test_hashable_and_normalized(self):
        a = backbones.Backbone("vgg16", "conv1_1", dtype="float32")
        b = backbones.Backbone("vgg16", ["conv1_1"], dtype=jnp.float32)
        self.assertEqual(a, b)
        self.assertEqual(hash(a), hash(b))
        self.assertEqual(a.layers, ("conv1_1",))

    def test_compiles_once_per_shape(self):
        fn = jax.jit(lambda net, params, images: net(params, images), static_argnums=0)
        params = {"conv1_1": {"kernel": jnp.ones((3, 3, 3, 64)), "bias": jnp.zeros(64)}}
        fn(backbones.Backbone("vgg16", ("conv1_1",)), params, _images(1, 8, 8))
        fn(backbones.Backbone("vgg16", ["conv1_1"]), params, _images(1, 8, 8, seed=1))
        self.assertEqual(fn._cache_size(), 1)  # equal backbones: one program
        fn(backbones.Backbone("vgg16", ("conv1_1",)), params, _images(1, 8, 16))
        self.assertEqual(fn._cache_size(), 2)

    def test_bad_images(self):
        net = backbones.Backbone("vgg16", ("conv1_1",))
        params = _abstract_params("vgg16")
        with self.assertRaisesRegex(ValueError, r"images must be \[N, H, W, 3\].*\(1, 8, 8, 4\)"):
            jax.eval_shape(net, params, jax.ShapeDtypeStruct((1, 8, 8, 4), jnp.float32))
        with self.assertRaisesRegex(
            TypeError, r"images must be floats in \[0, 1\], got dtype uint8"
        ):
            jax.eval_shape(net, params, jax.ShapeDtypeStruct((1, 8, 8, 3), jnp.uint8))
        deep = backbones.Backbone("vgg16", ("pool5",))
        with self.assertRaisesRegex(ValueError, r"pool5: the input image is too small"):
            jax.eval_shape(deep, params, jax.ShapeDtypeStruct((1, 16, 16, 3), jnp.float32))

    def test_bad_params(self):
        params = _abstract_params("resnet18")
        params["layer2"]["block0"]["bn1"]["var"] = jax.ShapeDtypeStruct((64,), jnp.float32)
        del params["layer2"]["block0"]["downsample"]["conv"]
        net = backbones.Backbone("resnet18", ("layer2",))
        with self.assertRaisesRegex(
            ValueError,
            r"params of layer block2_0 does not fit resnet18: missing keys downsample/conv/kernel; "
            r"shape mismatch bn1/var: expected \(128,\), got \(64,\)",
        ):
            jax.eval_shape(net, params, jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32))


# ----------------------------------------------------------------------------- truncation


class TruncationTest(parameterized.TestCase):
    @parameterized.parameters(
        ("vgg19", ("conv1_1",), 1),
        ("vgg19", ("conv2_1",), 3),  # conv1_1, conv1_2, conv2_1: nothing of block 3
        ("vgg19", ("relu1_2", "pool2"), 4),
        ("vgg19", ("conv4_2", "conv1_1"), 10),
        ("resnet18", ("maxpool",), 1),
        ("resnet18", ("block2_0",), 1 + 2 * 2 + 3),  # stem, 2 blocks, conv+conv+shortcut
        ("resnet50", ("layer1",), 1 + 3 * 3 + 1),
    )
    def test_stops_at_deepest_layer(self, name, layers, n_convs):
        net = backbones.Backbone(name, layers)
        images = jax.ShapeDtypeStruct((1, 32, 32, 3), jnp.float32)
        self.assertEqual(_n_convs(net, _abstract_params(name), images), n_convs)

    def test_deeper_params_not_needed(self):
        params = backbones.load_params("vgg16", "random")
        shallow = {k: params[k] for k in ("conv1_1", "conv1_2", "conv2_1")}
        net = backbones.Backbone("vgg16", ("conv2_1",))
        images = _images(1, 16, 16)
        np.testing.assert_array_equal(
            net(shallow, images)["conv2_1"], net(params, images)["conv2_1"]
        )


# ----------------------------------------------------------------------------- references


class ReferenceTest(absltest.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.images = _images(2, 11, 9, seed=3)
        cls.vgg = backbones.load_params("vgg16", "random", seed=1)

    def test_vgg_normalization_and_first_conv(self):
        feats = backbones.Backbone("vgg16", ("conv1_1", "relu1_1"))(self.vgg, self.images)
        p = self.vgg["conv1_1"]
        expected = _np_conv(_np_normalize(self.images), p["kernel"], pad=1) + np.asarray(p["bias"])
        np.testing.assert_allclose(feats["conv1_1"], expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(feats["relu1_1"], np.maximum(expected, 0), rtol=1e-5, atol=1e-5)

    def test_resnet_stem(self):
        params = backbones.load_params("resnet18", "random", seed=1)
        rng = np.random.default_rng(0)
        bn = {k: jnp.asarray(rng.uniform(0.5, 1.5, 64), jnp.float32) for k in ("mean", "var")}
        bn |= {k: jnp.asarray(rng.normal(size=64), jnp.float32) for k in ("scale", "bias")}
        params = {**params, "bn1": bn}
        net = backbones.Backbone("resnet18", ("conv1", "bn1", "relu", "maxpool"))
        feats = net(params, self.images)
        conv = _np_conv(_np_normalize(self.images), params["conv1"]["kernel"], stride=2, pad=3)
        bn = {k: np.asarray(v, np.float64) for k, v in bn.items()}
        normed = (conv - bn["mean"]) / np.sqrt(bn["var"] + 1e-5) * bn["scale"] + bn["bias"]
        relu = np.maximum(normed, 0)
        padded = np.pad(relu, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
        pooled = np.empty((2, 3, 3, 64))  # 6x5 -> 3x3 windows of 3x3, stride 2
        for i in range(3):
            for j in range(3):
                pooled[:, i, j] = padded[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].max(axis=(1, 2))
        for layer, expected in zip(
            ("conv1", "bn1", "relu", "maxpool"), (conv, normed, relu, pooled)
        ):
            np.testing.assert_allclose(feats[layer], expected, rtol=1e-5, atol=1e-5, err_msg=layer)

    def test_avg_pooling(self):
        net = backbones.Backbone("vgg16", ("relu1_2", "pool1"), pooling="avg")
        feats = net(self.vgg, self.images)
        relu = np.asarray(feats["relu1_2"])[:, :10, :8]  # 11x9: the last row and column drop
        expected = relu.reshape(2, 5, 2, 4, 2, 64).mean(axis=(2, 4))
        np.testing.assert_allclose(feats["pool1"], expected, rtol=1e-6)

    def test_relu_replacement(self):
        leaky = lambda x: jnp.where(x > 0, x, 0.1 * x)
        feats = backbones.Backbone("vgg16", ("conv1_1", "relu1_1"), relu=leaky)(
            self.vgg, self.images
        )
        np.testing.assert_allclose(feats["relu1_1"], leaky(feats["conv1_1"]), rtol=1e-6)


class FlaxmodelsEquivalenceTest(parameterized.TestCase):
    """Same params, same features as flaxmodels' own modules (output="activations")."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.images = _images(2, 37, 45, seed=5)  # odd sizes: pooling floor, stride padding
        cls.tmp = tempfile.TemporaryDirectory()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()
        super().tearDownClass()

    def assert_features_equal(self, ours, ref):
        for layer in ref:
            scale = float(jnp.max(jnp.abs(ref[layer])))
            np.testing.assert_allclose(
                ours[layer], ref[layer], rtol=1e-4, atol=1e-4 * scale, err_msg=layer
            )

    def test_vgg19(self):
        # flaxmodels' VGG param tree is our layout as is: same keys and shapes as its init.
        model = flaxmodels.VGG19(output="activations", pretrained=None, include_head=False)
        abstract = jax.ShapeDtypeStruct(self.images.shape, jnp.float32)
        init = jax.eval_shape(model.init, jax.random.key(0), abstract)["params"]
        params = backbones.load_params("vgg19", "random", seed=6)
        self.assertEqual(jax.tree.map(np.shape, params), jax.tree.map(np.shape, init))
        ref = jax.jit(model.apply)({"params": params}, self.images)
        self.assertLen(ref, 32)  # conv and relu of all 16 layers
        ours = jax.jit(backbones.Backbone("vgg19", tuple(ref)))(params, self.images)
        self.assert_features_equal(ours, ref)

    @parameterized.parameters("resnet18", "resnet50")
    def test_resnet(self, name):
        # Random params with non-trivial batch-norm statistics, written as a flaxmodels
        # checkpoint, which flaxmodels itself then loads ("imagenet" from its cache dir).
        rng = np.random.default_rng(0)
        flat = {}
        for key, shape in backbones.BACKBONES[name].param_shapes.items():
            leaf = key.rsplit("/", 1)[1]
            if leaf == "kernel":
                flat[key] = rng.normal(0, (1 / np.prod(shape[:3])) ** 0.5, shape)
            elif leaf in ("var", "scale"):
                flat[key] = rng.uniform(0.5, 1.5, shape)
            else:
                flat[key] = rng.normal(0, 0.1, shape)
        path = os.path.join(self.tmp.name, "flaxmodels", f"{name}_weights.h5")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with h5py.File(path, "w") as f:
            for key, value in flat.items():
                f[key.replace("/kernel", "/weight")] = value.astype(np.float32)
            width = 512 if name == "resnet18" else 2048
            f["fc/weight"] = np.zeros((width, 1000), np.float32)
            f["fc/bias"] = np.zeros((1000,), np.float32)
        model = getattr(flaxmodels, name.replace("resnet", "ResNet"))(
            output="activations", pretrained="imagenet", ckpt_dir=self.tmp.name
        )
        abstract = jax.ShapeDtypeStruct(self.images.shape, jnp.float32)
        variables = model.lazy_init(jax.random.key(0), abstract, train=False)
        ref = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, self.images)
        del ref["fc"]
        blocks = [layer for layer in backbones.layer_names(name) if layer.startswith("block")]
        self.assertCountEqual(ref, ["conv1", *blocks])
        params = backbones.load_params(name, path)
        ours = jax.jit(backbones.Backbone(name, tuple(ref)))(params, self.images)
        self.assert_features_equal(ours, ref)


class RandomInitTest(parameterized.TestCase):
    @parameterized.parameters(
        ("vgg19", ("conv1_1", "conv3_1", "conv5_1", "relu5_4")),
        ("resnet18", ("relu", "layer2", "layer4")),
        ("resnet50", ("relu", "layer2", "layer4")),
    )
    def test_feature_scale(self, name, layers):
        # He init (VGG) / LeCun init (ResNets) keep the features O(1) through the network.
        params = backbones.load_params(name, "random", seed=0)
        feats = jax.jit(backbones.Backbone(name, layers))(params, _images(1, 64, 64))
        for layer, value in feats.items():
            self.assertBetween(float(jnp.std(value)), 0.1, 10.0, msg=layer)

    def test_seeds(self):
        a = backbones.load_params("resnet18", "random", seed=0)
        b = backbones.load_params("resnet18", "random", seed=0)
        c = backbones.load_params("resnet18", "random", seed=1)
        chex.assert_trees_all_equal(a, b)
        self.assertFalse(np.array_equal(a["conv1"]["kernel"], c["conv1"]["kernel"]))
        np.testing.assert_array_equal(a["bn1"]["var"], 1.0)
        np.testing.assert_array_equal(a["bn1"]["mean"], 0.0)
        shapes = jax.tree.map(np.shape, a)
        expected = _registry.unflatten(backbones.BACKBONES["resnet18"].param_shapes)
        self.assertEqual(shapes, expected)


# ----------------------------------------------------------------------------- transforms


class TransformsTest(chex.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.net = backbones.Backbone("resnet18", ("relu", "layer1", "layer2"))
        cls.params = backbones.load_params("resnet18", "random", seed=2)
        cls.images = _images(3, 24, 20, seed=7)

    @chex.variants(with_jit=True, without_jit=True)
    def test_jit_matches_eager(self):
        expected = self.net(self.params, self.images)
        feats = self.variant(self.net)(self.params, self.images)
        chex.assert_trees_all_close(feats, expected, rtol=1e-5, atol=1e-5)

    def test_vmap_matches_batch(self):
        batched = jax.jit(self.net)(self.params, self.images)
        mapped = jax.jit(jax.vmap(self.net, in_axes=(None, 0)))(self.params, self.images)
        chex.assert_trees_all_close(mapped, batched, rtol=1e-5, atol=1e-5)

    def test_remat_same_values_and_grads(self):
        def loss(net, x):
            return sum(jnp.sum(v**2) for v in net(self.params, x).values())

        remat = backbones.Backbone("resnet18", self.net.layers, remat=True)
        self.assertIn("remat", str(jax.make_jaxpr(remat)(self.params, self.images)))
        value, grad = jax.jit(jax.value_and_grad(lambda x: loss(self.net, x)))(self.images)
        value_r, grad_r = jax.jit(jax.value_and_grad(lambda x: loss(remat, x)))(self.images)
        np.testing.assert_allclose(value_r, value, rtol=1e-5)
        np.testing.assert_allclose(grad_r, grad, rtol=1e-4, atol=1e-6 * float(jnp.abs(grad).max()))
        self.assertTrue(np.isfinite(grad).all())

    def test_bfloat16(self):
        net = backbones.Backbone("resnet18", self.net.layers, dtype=jnp.bfloat16)
        feats = jax.jit(net)(self.params, self.images)
        expected = jax.jit(self.net)(self.params, self.images)
        for layer, value in feats.items():
            self.assertEqual(value.dtype, jnp.float32)
            scale = float(jnp.abs(expected[layer]).max())
            np.testing.assert_allclose(value, expected[layer], atol=0.05 * scale, err_msg=layer)


class DerivativesTest(absltest.TestCase):
    """The hand-written derivatives (max pooling, pre-transposed kernels) against autodiff."""

    def test_max_pool_gradient_matches_select_and_scatter(self):
        import flax.linen as nn

        from nst.backbones import _ops

        rng = np.random.default_rng(3)
        x = rng.standard_normal((2, 7, 6, 5)).astype(np.float32)
        # ties: whole windows equal, and two equal maxima in one window
        x[0, :2, :2, :] = 1.5
        x[1, 2, 2, 0] = x[1, 3, 3, 0] = 9.0
        w = rng.standard_normal((2, 3, 3, 5)).astype(np.float32)
        ours = lambda x: jnp.sum(w * _ops.pool_2x2(x, "max", name="p"))
        flax_ = lambda x: jnp.sum(w * nn.max_pool(x, (2, 2), (2, 2)))
        np.testing.assert_array_equal(ours(x), flax_(x))
        g = jax.grad(ours)(x)
        np.testing.assert_array_equal(g, jax.grad(flax_)(x))
        # each tied window sends its gradient to its first maximum, row-major, only
        self.assertEqual(g[0, 0, 0, 0], w[0, 0, 0, 0])
        self.assertTrue(np.all(g[0, :2, :2, 0].ravel()[1:] == 0))
        self.assertEqual(g[1, 3, 3, 0], 0.0)
        self.assertTrue(np.all(g[:, 6, :, :] == 0))  # the dropped odd row
        # forward mode: the tangent of the first maximum
        t = rng.standard_normal(x.shape).astype(np.float32)
        _, tangent = jax.jvp(lambda x: _ops.pool_2x2(x, "max", name="p"), (x,), (t,))
        np.testing.assert_array_equal(tangent, _first_max_tangent(x, t))

    def test_transposed_kernels_same_values_and_gradients(self):
        net = backbones.Backbone("vgg16", ("conv1_2", "pool1", "relu2_1"))
        params = backbones.load_params("vgg16", "random", seed=4)
        fast = backbones.with_transposed_kernels("vgg16", params)
        self.assertEqual(fast["conv1_1"]["kernel_t"].shape, (3, 3, 64, 3))
        np.testing.assert_array_equal(
            fast["conv1_2"]["kernel_t"][0, 2, 5, 7], params["conv1_2"]["kernel"][2, 0, 7, 5]
        )
        self.assertIs(
            backbones.with_transposed_kernels("vgg16", fast)["conv1_1"]["kernel_t"],
            fast["conv1_1"]["kernel_t"],
        )  # idempotent
        resnet = {"conv1": {"kernel": np.zeros((7, 7, 3, 64))}}
        self.assertIs(backbones.with_transposed_kernels("resnet18", resnet), resnet)

        images = _images(2, 13, 10, seed=8)
        loss = lambda p, x: sum(jnp.sum(jnp.sin(v)) for v in net(p, x).values())
        grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
        (v0, (gp0, gx0)), (v1, (gp1, gx1)) = grad(params, images), grad(fast, images)
        np.testing.assert_allclose(v1, v0, rtol=1e-6)
        np.testing.assert_allclose(gx1, gx0, rtol=1e-5, atol=1e-6 * float(np.abs(gx0).max()))
        for layer in ("conv1_1", "conv1_2", "conv2_1"):
            scale = float(np.abs(gp0[layer]["kernel"]).max())
            np.testing.assert_allclose(
                gp1[layer]["kernel"], gp0[layer]["kernel"], atol=1e-5 * scale
            )
            self.assertFalse(np.any(gp1[layer]["kernel_t"]))
        # finite differences (float64) of one convolution with its pre-transposed kernel
        from jax.test_util import check_grads

        from nst.backbones import _ops

        with jax.enable_x64(True):
            rng = np.random.default_rng(9)
            x = jnp.asarray(rng.standard_normal((2, 6, 5, 4)))
            k = jnp.asarray(rng.standard_normal((3, 3, 4, 7)))
            kt = _ops.transpose_kernel(k)
            f = lambda x, k: jnp.sum(jnp.sin(_ops.conv(x, k, padding=1, kernel_t=kt)))
            check_grads(f, (x, k), order=1, modes=["rev"])
        with self.assertRaisesRegex(TypeError, "forward-mode"):
            jax.jvp(lambda x: net(fast, x)["conv1_2"], (images,), (images,))


def _first_max_tangent(x, t):
    """NumPy: each 2x2 window's tangent at its first maximum (row-major)."""
    n, h, w, c = x.shape
    out = np.zeros((n, h // 2, w // 2, c), np.float32)
    for b in range(n):
        for i in range(h // 2):
            for j in range(w // 2):
                for k in range(c):
                    win = x[b, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2, k].ravel()
                    first = int(np.argmax(win))
                    out[b, i, j, k] = t[b, 2 * i + first // 2, 2 * j + first % 2, k]
    return out


if __name__ == "__main__":
    absltest.main()
