"""Gatys et al. (2016) image optimization: the stylization engine.

Read top to bottom: options (``StylizeConfig``) -> targets computed once (``make_targets``)
-> objective (every formula a call into ``nst.losses``) -> one jit-compiled step shared by
all optax optimizers (``make_step``) -> the loop (a Python loop of jitted steps on CPU,
scanned chunks on GPU) -> snapshots, history, checkpoints.

Every run is a *sweep*: ``K`` configs that differ only in numbers (``config.SWEEPABLE``)
are stacked along a leading axis and optimized by ONE ``jax.vmap``-ed compiled step. A
single run is the sweep with ``K = 1``, so there is one code path.

Pixels stay valid: first-order optimizers clip to [0, 1] after every step; SciPy's
L-BFGS-B optimizes under box bounds [0, 1]; optax's L-BFGS is left unclipped during the
run (clipping would invalidate the value and gradient its line search stores) and the
final image is clipped.

References:
  Gatys, Ecker, Bethge. Image Style Transfer Using Convolutional Neural Networks. CVPR 2016.
  Gatys et al. Controlling Perceptual Factors in Neural Style Transfer. CVPR 2017.
  Luan et al. Deep Photo Style Transfer. CVPR 2017.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nst import _xla, backbones, files, losses, optimizers, parallel
from nst import config as config_lib
from nst import image as nst_image
from nst.config import STYLE_STATS, SWEEPABLE, StylizeConfig, replace

__all__ = [
    "CheckpointError",
    "Hyper",
    "Result",
    "State",
    "Targets",
    "blend_style_grams",
    "content_targets",
    "default_loop",
    "make_objective",
    "make_step",
    "make_targets",
    "region_targets",
    "scale_styles",
    "stat_targets",
    "style_blend",
    "style_targets",
    "stylize",
    "sweep",
]

# ImageNet statistics: "noise" init is N(0, 1) in the backbone's normalized input space.
_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)


class Targets(NamedTuple):
    """What the objective compares against, computed once per run.

    content: {layer: content-photo features [h, w, c]}.
    grams: {layer: target Gram [c, c]} already in the form ``losses.style_layer_loss``
      expects for the generated image (Gatys: un-normalized at the generated size M).
    laplacian: the content photo's matting Laplacian (BCOO) or None.
    temporal: None, or ``(previous [H, W, 3], mask [H, W])`` for video: the previous output
      warped into this frame and its reliability mask (``losses.temporal_loss``). Arrays,
      so a new frame reuses the compiled step.
    stats: None for ``style_stat="gram"``; else {statistic: {layer: target}} with "mean"
      ([c]), "cov" and "cov_sqrt" ([c, c], Wasserstein-2) or "patches" ([P, 9c], MRF).
    masks: None, or with spatial control {layer: [R, h, w]} the R regions' guidance
      channels at each layer's resolution; ``grams`` then holds {layer: [R, c, c]} guided
      targets per position (``losses.guided_style_loss``).
    """

    content: dict[str, jax.Array]
    grams: dict[str, jax.Array]
    laplacian: Any = None
    temporal: tuple[jax.Array, jax.Array] | None = None
    stats: dict[str, dict[str, jax.Array]] | None = None
    masks: dict[str, jax.Array] | None = None


class Hyper(NamedTuple):
    """The numbers a step takes as data (so a sweep over them is one program)."""

    content_weight: jax.Array
    style_weight: jax.Array
    tv_weight: jax.Array
    photo_weight: jax.Array
    temporal_weight: jax.Array
    content_layers: dict[str, jax.Array]
    style_layers: dict[str, jax.Array]


class State(NamedTuple):
    """The optimization state: image [H, W, 3], optimizer state, steps done (int32), and
    with ``config.ema_decay`` the iterates' moving average (``optax.EmaState``)."""

    image: jax.Array
    opt_state: Any
    step: jax.Array
    average: Any = None


@dataclasses.dataclass
class Result:
    """One setting's outcome.

    image: final image, float32 [H, W, 3] in [0, 1] (colour preservation applied).
    history: per step, arrays of length ``steps_done``: "total" (weighted sum), the raw
      (unweighted) terms "content", "style", "style/<layer>", "tv", "photo", and "time"
      (wall-clock seconds since the loop started, compile time excluded when known).
    snapshots: {step: image} every ``snapshot_every`` steps.
    stopped: None if the run finished, "interrupted", or "non-finite loss at step S (term T)".
    compile_seconds: time of the first step minus a typical step (or the compile itself).
    opt_state: the setting's final optimizer state (None for lbfgs_scipy), e.g. to continue
      at the next level of a pyramid (``nst.highres``).
    """

    image: np.ndarray
    history: dict[str, np.ndarray]
    snapshots: dict[int, np.ndarray]
    steps_done: int
    stopped: str | None = None
    compile_seconds: float = 0.0
    evaluations: int = 0
    opt_state: Any = None


# ----------------------------------------------------------------------------- layers


def _layers(config: StylizeConfig) -> tuple[tuple[tuple[str, float], ...], ...]:
    return config_lib.content_layers(config), config_lib.style_layers(config)


def _all_layers(config: StylizeConfig) -> tuple[str, ...]:
    content, style = _layers(config)
    names = list(dict.fromkeys([n for n, _ in content] + [n for n, _ in style]))
    return tuple(names)


def network(config: StylizeConfig) -> backbones.Backbone:
    """The backbone truncated at the deepest layer this config uses (no params loaded)."""
    return backbones.Backbone(config.backbone, _all_layers(config), pooling=config.pooling)


def create_backbone(config: StylizeConfig) -> tuple[Any, Any]:
    """``network(config)`` and its params (``config.weights``).

    The params carry the pre-transposed kernels of ``backbones.with_transposed_kernels``
    (made once here; every use in the engine takes image gradients), so callers reusing
    them across many sweeps (video frames, tiles) do not rebuild them per call.
    """
    params = backbones.load_params(
        config.backbone, config.weights, seed=config.weights_seed, cache_dir=config.cache_dir
    )
    return network(config), backbones.with_transposed_kernels(config.backbone, params)


# ----------------------------------------------------------------------------- targets


# The targets are each one compiled program (per network, layers and image shape): done as
# eager ops, every per-layer squeeze, Gram and scaling compiled on its own.
@functools.partial(jax.jit, static_argnums=(0, 3))
def _content_features(net, params, image, names):
    feats = net(params, image[None])
    return {name: feats[name][0] for name in names}


@functools.partial(jax.jit, static_argnums=(0, 3))
def _hw_grams(net, params, image, names):
    feats = net(params, image[None])
    return {name: losses.gram_matrix(feats[name][0], norm="hw") for name in names}


@jax.jit
def _blend_grams(grams, weights, mul, div):
    """``sum_i weights[i] * grams[i] * mul / div`` per layer (``mul``, ``div``: {layer: scalar})."""
    return {
        name: sum(g[name] * w for g, w in zip(grams, weights, strict=True)) * mul[name] / div[name]
        for name in mul
    }


def content_targets(
    config: StylizeConfig, net: Callable[..., dict[str, jax.Array]], params: Any, content
) -> dict[str, jax.Array]:
    """{content layer: features [h, w, c] of the content photo}."""
    content_layers, _ = _layers(config)
    names = tuple(name for name, _ in content_layers)
    return _content_features(net, params, jnp.asarray(content, jnp.float32), names)


def style_targets(
    config: StylizeConfig,
    net: Callable[..., dict[str, jax.Array]],
    params: Any,
    styles: Sequence[np.ndarray],
    image_shape: tuple[int, ...],
    *,
    content: np.ndarray | None = None,
) -> dict[str, jax.Array]:
    """{style layer: target Gram [c, c]} for a generated image of ``image_shape``.

    A style image may have another size than the generated image. Its Gram is taken per
    position (``norm="hw"``), blended over styles with ``config.style_blend`` and, for the
    Gatys normalization (un-normalized Grams), scaled by the generated image's M = h*w at
    that layer, so the target means the same statistics whatever the style image's size.
    ``content`` is needed for ``preserve_color="histogram"`` (styles matched to its colours).
    ``config.style_scale`` resizes the styles first (``scale_styles``).
    """
    style_blend(config, len(styles))  # a bad blend fails before any forward pass
    names = tuple(name for name, _ in _layers(config)[1])
    grams = []
    for style in scale_styles(config, styles, image_shape):
        if config.preserve_color == "histogram":
            style = nst_image.match_histogram(style, content)
        grams.append(_hw_grams(net, params, jnp.asarray(style, jnp.float32), names))
    return blend_style_grams(config, net, params, grams, image_shape)


def scale_styles(
    config: StylizeConfig, styles: Sequence[np.ndarray], image_shape: tuple[int, ...]
) -> list[np.ndarray]:
    """The style images resized for ``config.style_scale`` (jcjohnson's ``-style_scale``).

    None keeps them as given; a scale ``s`` resizes each (Lanczos, aspect kept) so that its
    longest side is ``round(s * max(H, W))`` of the generated image ``image_shape``. The
    network sees the style's motifs at their size in pixels, so a larger style image gives
    larger strokes and motifs in the output (docs/figures/style_scale.png).
    """
    if config.style_scale is None:
        return list(styles)
    if not config.style_scale > 0:
        raise ValueError(f"style_scale must be > 0, got {config.style_scale}")
    side = max(1, round(config.style_scale * max(image_shape[:2])))
    return [nst_image.resize(np.asarray(style, np.float32), side) for style in styles]


def _layer_shapes(net, params, image_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """{layer: (h, w, c)} of the features of an image of ``image_shape``, without running."""
    spec = jax.ShapeDtypeStruct((1, *tuple(image_shape)), jnp.float32)
    return {name: f.shape[1:] for name, f in jax.eval_shape(net, params, spec).items()}


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def _layer_stats(net, params, image, names, stat):
    """{layer: (mean [c], srm [c, c])} or, for "mrf", {layer: 3x3 patches [P, 9c]}."""
    feats = net(params, image[None])
    if stat == "mrf":
        return {name: losses.mrf_patches(feats[name][0]) for name in names}
    return {name: losses.feature_moments(feats[name][0]) for name in names}


@functools.partial(jax.jit, static_argnums=(2,))
def _gaussians(moments, weights, eps):
    """Blended (mean, srm) per layer -> {"mean", "cov", "cov_sqrt"} (cov_sqrt of cov + eps I)."""
    out = {"mean": {}, "cov": {}, "cov_sqrt": {}}
    for name in moments[0]:
        mean = sum(m[name][0] * w for m, w in zip(moments, weights, strict=True))
        srm = sum(m[name][1] * w for m, w in zip(moments, weights, strict=True))
        cov = srm - jnp.outer(mean, mean)
        out["mean"][name], out["cov"][name] = mean, cov
        out["cov_sqrt"][name] = losses.sqrtm_psd(cov + eps * jnp.eye(cov.shape[-1]))
    return out


# Similarity entries (generated patches x style patches) above which an MRF layer is refused:
# 2^28 float32 numbers are 1 GiB per step.
_MRF_LIMIT = 2**28
W2_EPS = 1e-4  # eps of losses.wasserstein_style_loss in the engine


def stat_targets(
    config: StylizeConfig,
    net: Callable[..., dict[str, jax.Array]],
    params: Any,
    styles: Sequence[np.ndarray],
    image_shape: tuple[int, ...],
    *,
    content: np.ndarray | None = None,
) -> dict[str, dict[str, jax.Array]] | None:
    """Targets of ``config.style_stat`` beyond the Gram (``Targets.stats``); None for "gram".

    "mean_gram": {"mean": {layer: [c]}}, blended with ``style_blend``. "mean_cov_w2":
    also "cov" and "cov_sqrt" ([c, c]), from the blended mean and second raw moment (which,
    unlike covariances, mix linearly). "mrf": {"patches": {layer: [P, 9c]}}, the 3x3
    patches of every style image together (blend weights do not apply).
    """
    stat = config.style_stat
    if stat == "gram":
        return None
    if stat not in STYLE_STATS:
        raise ValueError(f"style_stat must be one of {', '.join(STYLE_STATS)}; got {stat!r}")
    names = tuple(name for name, _ in _layers(config)[1])
    styles = scale_styles(config, styles, image_shape)
    if config.preserve_color == "histogram":
        styles = [nst_image.match_histogram(s, content) for s in styles]
    per_style = [
        _layer_stats(
            net, params, jnp.asarray(s, jnp.float32), names, "mrf" if stat == "mrf" else "moments"
        )
        for s in styles
    ]
    if stat == "mrf":
        shapes = _layer_shapes(net, params, image_shape)
        patches = {}
        for name in names:
            patches[name] = jnp.concatenate([p[name] for p in per_style])
            h, w, _ = shapes[name]
            entries = max(h - 2, 0) * max(w - 2, 0) * patches[name].shape[0]
            if entries > _MRF_LIMIT:
                raise ValueError(
                    f"style_stat='mrf' at {name}: {entries:.3g} patch comparisons per step "
                    f"(limit {_MRF_LIMIT:.3g}); use deeper style layers (e.g. conv3_1,conv4_1) "
                    "or a smaller size"
                )
        return {"patches": patches}
    blend = [jnp.float32(w) for w in style_blend(config, len(styles))]
    gaussians = _gaussians(per_style, blend, W2_EPS)
    if stat == "mean_gram":
        return {"mean": gaussians["mean"]}
    return gaussians


@functools.partial(jax.jit, static_argnums=(0, 3))
def _guided_targets(net, params, image, names, mask):
    """{layer: guided Gram [c, c] per position} of a style image with its mask [h, w]."""
    feats = net(params, image[None])
    out = {}
    for name in names:
        f = feats[name][0]
        out[name] = losses.guided_gram_matrix(f, losses.resize_mask(mask, f.shape[:2]), norm="mass")
    return out


def region_targets(
    config: StylizeConfig,
    net: Callable[..., dict[str, jax.Array]],
    params: Any,
    styles: Sequence[np.ndarray],
    regions: Sequence[tuple[np.ndarray, np.ndarray | None]],
    image_shape: tuple[int, ...],
) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
    """Spatial control (Gatys et al. 2017): guided targets and per-layer masks.

    ``regions[r] = (content_mask [H, W], style_mask [h, w] or None)`` for ``styles[r]``: the
    content mask says where on the generated image style r goes (values in [0, 1]); the
    style mask which part of the style image its statistics come from (None: all of it).
    Masks are resampled to every layer's resolution (``losses.resize_mask``).

    Returns:
      ``(grams, masks)``: {layer: [R, c, c]} guided Grams per position of the styles, and
      {layer: [R, h, w]} the content masks at the generated image's layer resolutions.
    """
    if len(regions) != len(styles):
        raise ValueError(f"{len(regions)} masks for {len(styles)} style images")
    if config.style_stat != "gram":
        raise ValueError(f"style masks need style_stat='gram', got {config.style_stat!r}")
    if config.style_blend:
        raise ValueError("style_blend does not apply to masked styles (each has its region)")
    names = tuple(name for name, _ in _layers(config)[1])
    content_masks = np.stack([_check_mask(m, image_shape[:2], "content") for m, _ in regions])
    grams = []
    for style, (_, style_mask) in zip(
        scale_styles(config, styles, image_shape), regions, strict=True
    ):
        if style_mask is None:
            style_mask = np.ones(style.shape[:2], np.float32)
        style_mask = nst_image.resize(_check_mask(style_mask, None, "style"), style.shape[:2])
        image = jnp.asarray(style, jnp.float32)
        grams.append(_guided_targets(net, params, image, names, jnp.asarray(style_mask)))
    shapes = _layer_shapes(net, params, image_shape)
    masks = {
        name: losses.resize_mask(jnp.asarray(content_masks), shapes[name][:2]) for name in names
    }
    return {name: jnp.stack([g[name] for g in grams]) for name in names}, masks


def _check_mask(mask: np.ndarray, shape: tuple[int, int] | None, what: str) -> np.ndarray:
    mask = np.asarray(mask, np.float32)
    if mask.ndim != 2 or (shape is not None and mask.shape != tuple(shape)):
        want = "[H, W]" if shape is None else f"{tuple(shape)} (the image's H, W)"
        raise ValueError(f"{what} mask must be {want}, got shape {mask.shape}")
    if mask.min() < 0 or mask.max() > 1:
        raise ValueError(f"{what} mask values must lie in [0, 1]")
    return mask


def style_blend(config: StylizeConfig, n_styles: int) -> np.ndarray:
    """``config.style_blend`` (default: equal) checked and normalized to sum 1, float32."""
    blend = np.asarray(config.style_blend or [1.0] * n_styles, np.float64)
    if len(blend) != n_styles:
        raise ValueError(f"style_blend has {len(blend)} weights for {n_styles} style images")
    if np.any(blend < 0) or blend.sum() <= 0:
        raise ValueError(f"style_blend must be non-negative with a positive sum, got {blend}")
    if config.style_norm not in ("gatys", "johnson"):
        raise ValueError(f"style_norm must be 'gatys' or 'johnson', got {config.style_norm!r}")
    return (blend / blend.sum()).astype(np.float32)


def blend_style_grams(
    config: StylizeConfig,
    net: Callable[..., dict[str, jax.Array]],
    params: Any,
    grams: Sequence[Mapping[str, jax.Array]],
    image_shape: tuple[int, ...],
) -> dict[str, jax.Array]:
    """Style targets from per-style, per-position Grams (``gram_matrix(F, norm="hw")``).

    ``grams[i]``: {style layer: [c, c]} of style image i, however computed (whole image,
    or window by window for images too large for one pass: ``nst.highres.hw_grams``).
    Blended with ``config.style_blend`` and scaled for a generated image of
    ``image_shape`` as ``style_targets`` describes; one compiled program.
    """
    blend = style_blend(config, len(grams))
    names = tuple(name for name, _ in _layers(config)[1])
    spec = jax.ShapeDtypeStruct((1, *tuple(image_shape)), jnp.float32)
    generated = jax.eval_shape(net, params, spec)
    gatys = config.style_norm == "gatys"
    mul, div = {}, {}
    for name in names:
        h, w, c = generated[name].shape[1:]
        mul[name], div[name] = np.float32(h * w if gatys else 1), np.float32(1 if gatys else c)
    grams = [{name: g[name] for name in names} for g in grams]
    return _blend_grams(grams, list(blend), mul, div)


def make_targets(
    config: StylizeConfig,
    net: Callable[..., dict[str, jax.Array]],
    params: Any,
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    *,
    photo: bool | None = None,
    regions: Sequence[tuple[np.ndarray, np.ndarray | None]] | None = None,
) -> Targets:
    """Content features, blended style Grams (or ``config.style_stat``'s statistics), and
    the Laplacian, computed once.

    ``photo`` forces (or skips) the matting Laplacian; by default it is built when
    ``config.photo_weight`` is non-zero. ``regions``: one ``(content_mask, style_mask)``
    per style for spatial control (``region_targets``).
    """
    content = np.asarray(content, np.float32)
    laplacian = None
    if photo if photo is not None else config.photo_weight:
        laplacian = losses.laplacian_to_bcoo(
            losses.matting_laplacian(content, eps=config.photo_eps)
        )
    masks = None
    if regions is not None:
        grams, masks = region_targets(config, net, params, styles, regions, content.shape)
    else:
        grams = style_targets(config, net, params, styles, content.shape, content=content)
    return Targets(
        content=content_targets(config, net, params, content),
        grams=grams,
        laplacian=laplacian,
        stats=stat_targets(config, net, params, styles, content.shape, content=content),
        masks=masks,
    )


def make_hyper(config: StylizeConfig) -> Hyper:
    content_layers, style_layers = _layers(config)
    f32 = lambda v: jnp.asarray(v, jnp.float32)
    return Hyper(
        content_weight=f32(config.content_weight),
        style_weight=f32(config.style_weight),
        tv_weight=f32(config.tv_weight),
        photo_weight=f32(config.photo_weight),
        temporal_weight=f32(config.temporal_weight),
        content_layers={n: f32(w) for n, w in content_layers},
        style_layers={n: f32(w) for n, w in style_layers},
    )


# --------------------------------------------------------------------------- objective


def make_objective(
    config: StylizeConfig, net: Callable[..., dict[str, jax.Array]]
) -> Callable[..., tuple[jax.Array, dict[str, jax.Array]]]:
    """Returns ``objective(image, params, targets, hyper) -> (total, raw terms)``.

    .. math::
      L = \\alpha \\sum_l w_l L_{content}^l + \\beta \\sum_l w_l E_l
          + \\lambda_{tv} TV(x) + \\lambda_m \\sum_c V_c^T \\mathcal{L} V_c

    image is one [H, W, 3] picture; the raw (unweighted) terms are returned for logging.
    """
    kw = dict(kind=config.distance, delta=config.delta)
    stat = config.style_stat

    def style_layer(f: jax.Array, n: str, targets: Targets) -> jax.Array:
        """One layer's style term for ``config.style_stat`` (guided with region masks)."""
        if targets.masks is not None:
            return losses.guided_style_loss(
                f, targets.masks[n], targets.grams[n], norm=config.style_norm, **kw
            )
        if stat != "gram" and targets.stats is None:
            raise ValueError(f"style_stat={stat!r} needs Targets.stats (stylize.make_targets)")
        if stat == "mean_cov_w2":
            s = targets.stats
            return losses.wasserstein_style_loss(
                f, s["mean"][n], s["cov"][n], eps=W2_EPS, target_cov_sqrt=s["cov_sqrt"][n]
            )
        if stat == "mrf":
            return losses.mrf_loss(f, targets.stats["patches"][n])
        layer = losses.style_layer_loss(f, targets.grams[n], norm=config.style_norm, **kw)
        if stat == "mean_gram":
            mean = targets.stats["mean"][n]
            mean_term = losses.style_mean_loss(f, mean, norm=config.style_norm, **kw)
            layer = layer + config.style_mean_weight * mean_term
        return layer

    def objective(image, params, targets: Targets, hyper: Hyper):
        feats = net(params, image[None])
        terms: dict[str, jax.Array] = {}
        content = sum(
            w * losses.content_loss(feats[n][0], targets.content[n], norm=config.content_norm, **kw)
            for n, w in hyper.content_layers.items()
        )
        style = 0.0
        for n, w in hyper.style_layers.items():
            layer = style_layer(feats[n][0], n, targets)
            terms[f"style/{n}"] = layer
            style = style + w * layer
        terms["content"] = content
        terms["style"] = style
        total = hyper.content_weight * content + hyper.style_weight * style
        terms["tv"] = losses.total_variation(image, kind=config.tv_kind, beta=config.tv_beta)
        total = total + hyper.tv_weight * terms["tv"]
        if targets.laplacian is not None:
            terms["photo"] = losses.photorealism_loss(image, targets.laplacian)
            total = total + hyper.photo_weight * terms["photo"]
        if targets.temporal is not None:
            previous, mask = targets.temporal
            terms["temporal"] = losses.temporal_loss(image, previous, mask)
            total = total + hyper.temporal_weight * terms["temporal"]
        terms["total"] = total
        return total, terms

    return objective


# -------------------------------------------------------------------------------- step


def make_step(config: StylizeConfig, net: Callable[..., dict[str, jax.Array]]) -> Callable:
    """Returns ``step(state, hyper, targets, params) -> (state, terms at state.image)``.

    One step for every optax optimizer: the first-order ones take ``value_and_grad``;
    L-BFGS reuses the value and gradient its line search stored
    (``optax.value_and_grad_from_state``) and records the terms with one forward pass.
    A step whose loss, gradient or updated image is not finite leaves the state unchanged,
    so the last finite image survives; its total is NaN, so the host stops.
    """
    objective = make_objective(config, net)
    opt = optimizers.create(config.optimizer, config.lr)
    lbfgs = config.optimizer == "lbfgs_optax"
    ema = optax.ema(config.ema_decay, debias=True) if config.ema_decay else None

    def step(state: State, hyper: Hyper, targets: Targets, params) -> tuple[State, dict]:
        f = lambda x: objective(x, params, targets, hyper)
        x = state.image
        if lbfgs:
            value_fn = lambda y: f(y)[0]
            value, grad = optax.value_and_grad_from_state(value_fn)(x, state=state.opt_state)
            terms = dict(f(x)[1])
        else:
            (value, terms), grad = jax.value_and_grad(f, has_aux=True)(x)
            value_fn = None
        updates, opt_state = opt.update(
            grad, state.opt_state, x, value=value, grad=grad, value_fn=value_fn
        )
        new_x = optax.apply_updates(x, updates)
        if lbfgs:  # loss evaluations this step: the line search's trials
            trials = optax.tree_utils.tree_get(opt_state, "num_linesearch_steps")
            terms["evaluations"] = jnp.asarray(trials, jnp.float32)
        else:
            new_x = jnp.clip(new_x, 0.0, 1.0)
        # A non-finite loss, gradient or update (an overflowing learning rate) keeps the
        # state and reports a non-finite total: the host stops with the last finite image.
        ok = jnp.isfinite(value) & jnp.all(jnp.isfinite(grad)) & jnp.all(jnp.isfinite(new_x))
        average = ema.update(new_x, state.average)[1] if ema is not None else None
        new_state = State(new_x, opt_state, state.step + 1, average)
        new_state = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new_state, state)
        terms["total"] = jnp.where(ok, terms["total"], jnp.nan)
        return new_state, terms

    return step


def default_sweep_form() -> str:
    """How K settings run, measured per backend (``benchmarks/gatys_step.py --modes sweep``).

    XLA:CPU: the one-setting program run for each setting in turn ("each"): the batched
    program's activations outgrow the caches and its Gram products become batched dots
    (VGG19, 128 px, 2 cores, seconds per step of all K: K=4 0.316 vmapped vs 0.297 each,
    K=16 1.40 vs 1.19). Elsewhere one vmapped program ("vmap"), which keeps an
    accelerator busy.
    """
    return "each" if jax.default_backend() == "cpu" else "vmap"


def default_loop() -> str:
    """The loop form measured fastest for the default backend (benchmarks/loop_form.py).

    XLA:CPU: the VGG gradient inside ``lax.scan`` runs ~2.8x slower than in a plain jitted
    call, so CPU uses a Python loop of jitted steps. On accelerators a scanned chunk
    removes per-step dispatch and host syncs.
    """
    return "python" if jax.default_backend() == "cpu" else "scan"


# ---------------------------------------------------------------------------- init


def _initial_image(
    config: StylizeConfig, key: jax.Array, content: np.ndarray, styles: Sequence[np.ndarray]
) -> jax.Array:
    shape = content.shape
    if config.init == "content":
        return jnp.asarray(content, jnp.float32)
    if config.init == "noise":
        z = jax.random.normal(key, shape, jnp.float32)
        return jnp.clip(_MEAN + _STD * z, 0.0, 1.0)
    if config.init == "uniform":
        return jax.random.uniform(key, shape, jnp.float32)
    if config.init == "style":
        return jnp.asarray(nst_image.resize(styles[0], shape[:2]), jnp.float32)
    return jnp.asarray(nst_image.resize(nst_image.load(config.init, None), shape[:2]))


# ----------------------------------------------------------------------------- checkpoint


def _fingerprint(configs: Sequence[StylizeConfig], content, styles) -> str:
    """Hash of the settings (but the run's length and loop form) and the input images."""
    h = hashlib.sha256()
    for c in configs:
        fields = {f.name: getattr(c, f.name) for f in dataclasses.fields(c)}
        fields.update(steps=0, snapshot_every=0, loop="")
        fields.update(content_layers=_layers(c)[0], style_layers=_layers(c)[1])
        h.update(f"StylizeConfig({', '.join(f'{k}={v!r}' for k, v in fields.items())})".encode())
    for a in (content, *styles):
        h.update(np.ascontiguousarray(a, np.float32).tobytes())
    return h.hexdigest()[:16]


class CheckpointError(ValueError):
    """A resume file cannot be read, does not belong to this run, or cannot be written."""


def save_checkpoint(path: str, state: State, history: dict, fingerprint: str) -> None:
    """Writes state and history atomically (temp file + rename) as one .npz.

    Raises:
      CheckpointError: the write failed (disk full, read-only...); the file at ``path``, if
        any, is unchanged, so the last good checkpoint stays valid.
    """
    leaves = jax.tree.leaves(parallel.to_host(state))
    if jax.process_index() != 0:  # one writer across hosts
        return
    arrays = {f"leaf{i}": np.asarray(v) for i, v in enumerate(leaves)}
    arrays.update({f"hist/{k}": np.asarray(v) for k, v in history.items()})
    arrays["fingerprint"] = np.asarray(fingerprint)
    try:
        files.write_atomic(path, lambda f: np.savez(f, **arrays), overwrite=True)
    except files.OutputError as e:
        kept = "; the previous one is kept" if os.path.isfile(path) else ""
        raise CheckpointError(f"cannot save checkpoint {path!r}: {e.reason}{kept}") from None


def load_checkpoint(
    path: str, template: State, fingerprint: str, *, steps: int | None = None
) -> tuple[State, dict] | None:
    """Restores a checkpoint written by ``save_checkpoint`` for the same run, else None.

    Nothing read is trusted: every leaf must have the template's shape and dtype and be
    finite, the step counters must agree and lie in ``[0, steps]``, and the history must
    hold one finite entry per step done.

    Raises:
      CheckpointError: naming ``path`` and what is wrong (a directory, not a checkpoint,
        truncated or corrupt, another run's, a bad field).
    """
    if not os.path.lexists(path):
        return None

    def bad(reason: str) -> CheckpointError:
        return CheckpointError(
            f"checkpoint {path!r}: {reason}; remove it to start over (or use another output)"
        )

    if os.path.isdir(path):
        raise bad("is a directory, not a checkpoint file")
    leaves, treedef = jax.tree.flatten(template)
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as data:
            contents = {name: np.asarray(data[name]) for name in data.files}
    except CheckpointError:
        raise
    except Exception as e:  # zipfile and numpy raise many kinds for bad bytes
        first = (str(e).splitlines() or [""])[0]
        raise bad(f"truncated or corrupt ({type(e).__name__}: {first})") from None
    stored = contents.get("fingerprint")
    if stored is None or stored.shape != () or stored.dtype.kind != "U":
        raise bad("not an nst checkpoint (no fingerprint)")
    if str(stored) != fingerprint:
        raise bad("belongs to another run (different settings or images)")
    restored = []
    for i, leaf in enumerate(leaves):
        name = f"leaf{i}"
        if name not in contents:
            raise bad(f"field {name} is missing")
        value, want = contents[name], np.dtype(leaf.dtype)
        if value.shape != tuple(leaf.shape) or value.dtype != want:
            raise bad(
                f"field {name} is {value.dtype}{list(value.shape)}, "
                f"expected {want}{list(leaf.shape)}"
            )
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise bad(f"field {name} holds non-finite values")
        restored.append(value)
    if f"leaf{len(leaves)}" in contents:
        raise bad(f"holds more state fields than this run's {len(leaves)}")
    state = jax.tree.unflatten(treedef, restored)
    step = np.asarray(state.step)
    if step.size == 0 or np.any(step != step.flat[0]):
        raise bad(f"step counters disagree: {step.tolist()}")
    done = int(step.flat[0])
    if done < 0 or (steps is not None and done > steps):
        limit = f"[0, {steps}]" if steps is not None else ">= 0"
        raise bad(f"step {done} is outside {limit}")
    history = {}
    for key, value in contents.items():
        if not key.startswith("hist/"):
            continue
        if value.ndim not in (1, 2) or value.shape[0] != done or value.dtype.kind != "f":
            raise bad(f"history {key[5:]!r} has shape {list(value.shape)} for {done} steps done")
        if not np.all(np.isfinite(value)):
            raise bad(f"history {key[5:]!r} holds non-finite values")
        history[key[5:]] = value
    state = jax.tree.map(lambda a, t: jnp.asarray(a, t.dtype), state, template)
    return state, history


# ------------------------------------------------------------------------------- loops


def _check_sweep(configs: Sequence[StylizeConfig]) -> None:
    """Every config shares the first one's ``config.split`` key (they differ only in data)."""
    base = config_lib.split(configs[0])[0]
    for c in configs[1:]:
        key = config_lib.split(c)[0]
        for field in dataclasses.fields(key):
            a, b = getattr(base, field.name), getattr(key, field.name)
            if a == b:
                continue
            if field.name in ("content_layers", "style_layers"):
                raise ValueError(
                    f"configs in one sweep must use the same {field.name} names "
                    f"(weights may differ): {[n for n, _ in a]} vs {[n for n, _ in b]}"
                )
            raise ValueError(
                f"configs in one sweep may differ only in {sorted(SWEEPABLE)}; "
                f"they differ in {field.name!r}: {a!r} vs {b!r}"
            )


def _stack(trees: Sequence[Any]) -> Any:
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def _blame(terms: Mapping[str, np.ndarray], hyper: Hyper, k: int) -> str:
    weights = {
        "content": hyper.content_weight,
        "style": hyper.style_weight,
        "tv": hyper.tv_weight,
        "photo": hyper.photo_weight,
        "temporal": hyper.temporal_weight,
    }
    for name, w in weights.items():
        if name in terms:
            value = float(terms[name][k]) * float(np.asarray(w)[k])
            if not np.isfinite(float(terms[name][k])) or not np.isfinite(value):
                return name
    return "gradient or update"


def sweep(
    configs: Sequence[StylizeConfig],
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    *,
    net_params: tuple[Any, Any] | None = None,
    targets: Targets | None = None,
    init_images: np.ndarray | None = None,
    init_opt_state: Any = None,
    compiled: dict | None = None,
    devices: Sequence[jax.Device] | None = None,
    checkpoint: str | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int, float, float], None] | None = None,
    regions: Sequence[tuple[np.ndarray, np.ndarray | None]] | None = None,
) -> list[Result]:
    """Optimizes K images, one per config, as one vmapped compiled program.

    Args:
      configs: K configs that differ only in ``config.SWEEPABLE`` fields (same layer names).
      content: content photo, float [H, W, 3] in [0, 1] (already at the working size).
      styles: one or more style images, float [h, w, 3] in [0, 1], any size.
      net_params: a ``(backbone, params)`` pair to reuse (else built from the config).
      targets: precomputed ``Targets`` (e.g. style Grams computed once per video clip, a
        new frame's content features and temporal term); else computed here.
      init_images: [K, H, W, 3] (or [H, W, 3]) starting images instead of ``config.init``.
      init_opt_state: one setting's optimizer state to start every setting from (e.g.
        Adam's moments resized from a coarser pyramid level), instead of a fresh one.
      compiled: a dict the caller keeps between calls to reuse compiled steps (frames of a
        clip, settings of an experiment); keyed by what changes the program.
      devices: devices to spread the settings over (default ``jax.devices()``: all local
        devices, or every host's after ``jax.distributed.initialize``).
      checkpoint: path of a resumable state file: resumed from when it exists and matches
        this run, written when the run is interrupted.
      should_stop: polled between steps; True interrupts the run (state checkpointed).
      progress: called after every step (or chunk) with (steps done, total loss of the
        first setting, steps per second).
      regions: spatial control, one ``(content_mask [H, W], style_mask [h, w] or None)``
        per style image (``region_targets``): style i only where content mask i is. Pixels
        outside every content mask keep the content photo in the output (the result is
        ``U * x + (1 - U) * content``, ``U`` the masks' sum clipped to [0, 1]).

    Returns:
      One ``Result`` per config, in order.
    """
    configs = list(configs)
    if not configs:
        raise ValueError("sweep needs at least one config")
    _check_sweep(configs)
    base = configs[0]
    content = np.asarray(content, np.float32)
    if content.ndim != 3 or content.shape[-1] != 3:
        raise ValueError(f"content must be [H, W, 3], got shape {content.shape}")
    if not styles:
        raise ValueError("at least one style image is needed")
    optimizer = optimizers.resolve(
        base.optimizer, backend=jax.default_backend(), vectorized=len(configs) > 1
    )
    configs = [c if c.optimizer == optimizer else replace(c, optimizer=optimizer) for c in configs]
    base = configs[0]
    net, params = net_params if net_params is not None else create_backbone(base)
    if targets is None:
        photo = any(c.photo_weight for c in configs)
        targets = make_targets(base, net, params, content, styles, photo=photo, regions=regions)
    # Every step takes image gradients: the convolutions' flipped kernels, once.
    params = backbones.with_transposed_kernels(net.name, params)
    keep = None  # spatial control: where the output is the stylized image
    if regions is not None:
        keep = np.clip(sum(np.asarray(m, np.float32) for m, _ in regions), 0.0, 1.0)[..., None]
    if base.optimizer == "lbfgs_scipy":
        if base.ema_decay:
            raise ValueError("ema_decay needs a jitted optimizer, not SciPy's L-BFGS-B")
        if len(configs) != 1:
            raise ValueError("lbfgs_scipy runs one setting at a time; use lbfgs_optax to sweep")
        x0 = (
            np.asarray(init_images, np.float32).reshape(content.shape)
            if init_images is not None
            else np.asarray(_initial_image(base, jax.random.key(base.seed), content, styles))
        )
        compiled = {} if compiled is None else compiled
        resume = None
        masks = [m for region in regions or () for m in region if m is not None]
        fingerprint = _fingerprint(configs, content, [*styles, *masks])
        if checkpoint:  # the image, steps done and history of an interrupted run
            template = State(
                jnp.zeros((1, *content.shape), jnp.float32), (), jnp.zeros(1, jnp.int32)
            )
            resume = load_checkpoint(checkpoint, template, fingerprint, steps=base.steps)
        result = _run_scipy(
            base, net, params, targets, content, x0, should_stop, progress, compiled, resume
        )
        if checkpoint and result.stopped == "interrupted":
            state = State(
                jnp.asarray(result.image)[None], (), jnp.asarray([result.steps_done], jnp.int32)
            )
            save_checkpoint(checkpoint, state, dict(result.history), fingerprint)
        elif checkpoint and result.stopped is None and os.path.exists(checkpoint):
            os.remove(checkpoint)
        if keep is not None:  # after the checkpoint, which holds the optimized image itself
            result.image = keep * result.image + (1.0 - keep) * content
        return [result]

    n_settings = len(configs)
    # Settings are spread over the devices (every process's, after jax.distributed
    # initialization): K settings on D devices run K/D per device in one program; a K that
    # does not divide D is padded with copies of the last setting, never dropped.
    devices = jax.devices() if devices is None else list(devices)
    m = parallel.mesh(devices) if len(devices) > 1 and n_settings > 1 else None
    if m is not None:
        configs = configs + [configs[-1]] * (-n_settings % len(devices))
    k = len(configs)
    hyper = _stack([make_hyper(c) for c in configs])
    if init_images is not None:
        images = jnp.broadcast_to(jnp.asarray(init_images, jnp.float32), (k, *content.shape))
    else:
        images = jnp.stack(
            [_initial_image(c, jax.random.key(c.seed), content, styles) for c in configs]
        )
    lrs = jnp.asarray([c.lr for c in configs], jnp.float32)
    opt_state = jax.vmap(lambda x, lr: optimizers.create(base.optimizer, lr).init(x))(images, lrs)
    if init_opt_state is not None:
        opt_state = jax.tree.map(lambda a: jnp.stack([jnp.asarray(a)] * k), init_opt_state)
    average = None
    if base.ema_decay:
        if not 0.0 < base.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {base.ema_decay}")
        average = jax.vmap(optax.ema(base.ema_decay).init)(images)
    state = State(images, opt_state, jnp.zeros((k,), jnp.int32), average)
    history: dict[str, list] = {}
    masks = [m for region in regions or () for m in region if m is not None]
    fingerprint = _fingerprint(configs[:n_settings], content, [*styles, *masks])
    if checkpoint:
        restored = load_checkpoint(checkpoint, state, fingerprint, steps=base.steps)
        if restored is not None:
            state, hist = restored
            history = {name: list(v) for name, v in hist.items()}

    done = int(np.asarray(state.step)[0])
    hyper_host = hyper
    if m is not None:
        state, hyper = parallel.shard_leading((state, hyper), m)
        targets, params = parallel.replicate((targets, params), m)
    loop = default_loop() if base.loop == "auto" else base.loop
    if loop not in ("python", "scan"):
        raise ValueError(f"loop must be 'auto', 'python' or 'scan', got {base.loop!r}")
    form = default_sweep_form() if base.sweep_form == "auto" else base.sweep_form
    if form not in ("vmap", "each"):
        raise ValueError(f"sweep_form must be 'auto', 'vmap' or 'each', got {base.sweep_form!r}")
    each = form == "each" and k > 1 and m is None and loop == "python"
    compiled = {} if compiled is None else compiled
    program = (config_lib.program_key(base), net)

    def key_of(kind: str, state, hyper) -> tuple:  # append n
        shapes = jax.tree.map(lambda a: (a.shape, a.dtype), (state, hyper, targets))
        return (kind, program, str(jax.tree.structure(shapes)), str(jax.tree.leaves(shapes)))

    def compile_steps(n: int, state, hyper):
        """The jitted program for n steps of these settings (compiled once per shapes)."""
        key = (*key_of("steps", state, hyper), n)
        if key not in compiled:
            step = _batched(make_step(base, net), len(state.step))

            def run(state, hyper, targets, params):
                if n == 1:
                    new_state, terms = step(state, hyper, targets, params)
                    return new_state, jax.tree.map(lambda t: t[None], terms)
                return jax.lax.scan(lambda s, _: step(s, hyper, targets, params), state, length=n)

            lowered = jax.jit(run, donate_argnums=0).lower(state, hyper, targets, params)
            compiled[key] = lowered.compile(_xla.compiler_options())
        return compiled[key]

    sweep_key = key_of("each" if each else "steps", state, hyper)  # shapes fixed from here on

    def steps_fn(n: int):
        """The program for n steps and its compile seconds (0 when cached; AOT, so measured).

        "each" runs the one-setting program (the one a single run uses) for every setting.
        """
        key = (*sweep_key, n)
        if key in compiled:
            return compiled[key], 0.0
        t = time.perf_counter()
        if each:
            one = jax.tree.map(lambda a: a[:1], (state, hyper))
            compiled[key] = _each_setting(compile_steps(n, *one), k, state, hyper)
        else:
            compile_steps(n, state, hyper)
        return compiled[key], time.perf_counter() - t

    chunk = max(1, min(base.scan_chunk, base.steps)) if loop == "scan" else 1
    compile_seconds = 0.0
    start = done
    t_offset = float(history["time"][-1]) if history.get("time") else 0.0
    snapshots: dict[int, np.ndarray] = {}
    stopped = None
    elapsed = 0.0  # seconds of stepping in this call, compilation excluded
    while done < base.steps:
        if parallel.any_process(should_stop()):  # hosts stop together, at the same step
            stopped = "interrupted"
            break
        n = min(chunk, base.steps - done)
        run_steps, seconds = steps_fn(n)
        compile_seconds += seconds
        t = time.perf_counter()
        state, terms = run_steps(state, hyper, targets, params)
        terms = parallel.to_host(terms)  # {term: [n, K]}
        dt = time.perf_counter() - t
        times = t_offset + elapsed + dt * np.arange(1, n + 1) / n
        elapsed += dt
        bad = ~np.isfinite(np.asarray(terms["total"]))
        if bad.any():
            j, kk = (int(i) for i in np.argwhere(bad)[0])
            blame = _blame({t_: v[j] for t_, v in terms.items()}, hyper_host, kk)
            stopped = f"non-finite loss at step {done + j} (term {blame}, setting {kk})"
            n = j
        for name, values in terms.items():
            history.setdefault(name, []).extend(np.asarray(values)[:n])
        history.setdefault("time", []).extend(times[:n])
        done += n
        if base.snapshot_every and done % base.snapshot_every == 0 and not stopped:
            snapshots[done] = _output_image(state, base.ema_decay)
        if progress is not None and n:
            progress(done, float(terms["total"][n - 1][0]), (done - start) / max(elapsed, 1e-9))
        if stopped:
            break
    hist = _arrays(history)
    if checkpoint and stopped == "interrupted":
        save_checkpoint(checkpoint, state, hist, fingerprint)
    elif checkpoint and stopped is None and os.path.exists(checkpoint):
        os.remove(checkpoint)
    final = np.clip(_output_image(state, base.ema_decay), 0.0, 1.0)
    results = []
    for i, c in enumerate(configs[:n_settings]):
        image = final[i]
        if keep is not None:
            image = keep * image + (1.0 - keep) * content
        if c.preserve_color == "luminance":
            image = nst_image.luminance_transfer(image, content)
        results.append(
            Result(
                image=image,
                history={name: (v[:, i] if v.ndim == 2 else v) for name, v in hist.items()},
                snapshots={s: im[i] for s, im in snapshots.items()},
                steps_done=done,
                stopped=stopped,
                compile_seconds=compile_seconds,
                evaluations=int(hist["evaluations"][:, i].sum()) if "evaluations" in hist else done,
                opt_state=jax.tree.map(lambda a, i=i: a[i], state.opt_state),
            )
        )
    return results


def _output_image(state: State, ema_decay: float) -> np.ndarray:
    """The images to show, on the host: the iterates, or their bias-corrected EMA."""
    if not ema_decay:
        return parallel.to_host(state.image)
    average = parallel.to_host(state.average)
    count = np.asarray(average.count, np.float64).reshape(-1, 1, 1, 1)
    correction = 1.0 - ema_decay ** np.maximum(count, 1)
    return (np.asarray(average.ema) / correction).astype(np.float32)


def _each_setting(single: Any, k: int, state: State, hyper: Hyper) -> Callable:
    """One step of ``k`` settings by running the compiled one-setting ``single`` on each.

    Same signature and shapes as the vmapped program (terms ``[1, k]``). The settings are
    split and joined by one compiled call each (not one dispatch per array and setting),
    compiled here with the example ``state`` and ``hyper`` so the first step pays nothing.
    """

    def split_fn(tree):
        return [jax.tree.map(lambda a, i=i: a[i : i + 1], tree) for i in range(k)]

    def join_fn(states, terms):
        cat = lambda axis: lambda *xs: jnp.concatenate(xs, axis=axis)
        return jax.tree.map(cat(0), *states), jax.tree.map(cat(1), *terms)

    split_state = jax.jit(split_fn).lower(state).compile()
    new_state, terms = single.out_info
    join = jax.jit(join_fn).lower([new_state] * k, [terms] * k).compile()
    split_hyper = jax.jit(split_fn).lower(hyper).compile()

    def run(state, hyper, targets, params):
        pairs = zip(split_state(state), split_hyper(hyper), strict=True)
        outs = [single(s, h, targets, params) for s, h in pairs]
        return join([o[0] for o in outs], [o[1] for o in outs])

    return run


def _batched(step: Callable, k: int) -> Callable:
    """``step`` over a leading settings axis of ``state`` and ``hyper`` (size ``k``).

    ``jax.vmap`` for a sweep; for one setting the axis is dropped and restored around the
    plain step instead: vmapped, XLA:CPU lays the Gram products out as batched dots with
    transposes (VGG19 step at 256 px: 0.361 s vmapped over 1 vs 0.314 s plain).
    """
    if k > 1:
        return jax.vmap(step, in_axes=(0, 0, None, None))

    def single(state, hyper, targets, params):
        drop = lambda tree: jax.tree.map(lambda a: a[0], tree)
        new_state, terms = step(drop(state), drop(hyper), targets, params)
        return jax.tree.map(lambda a: jnp.asarray(a)[None], (new_state, terms))

    return single


def _arrays(history: Mapping[str, list]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, np.float32) for k, v in history.items()}


def stylize(
    config: StylizeConfig,
    content: np.ndarray,
    styles: np.ndarray | Sequence[np.ndarray],
    **kwargs: Any,
) -> Result:
    """Stylizes one image: ``sweep([config], ...)[0]``. See ``sweep`` for the arguments."""
    if isinstance(styles, np.ndarray | jax.Array) and np.ndim(styles) == 3:
        styles = [styles]
    return sweep([config], content, list(styles), **kwargs)[0]


# ----------------------------------------------------------------------- SciPy L-BFGS-B


def _run_scipy(
    config, net, params, targets, content, x0, should_stop, progress, compiled, resume=None
) -> Result:
    """SciPy's L-BFGS-B from the host with a jitted value-and-gradient (bounds [0, 1]).

    Each iteration's history entry holds the terms at its accepted point; ``evaluations``
    counts every objective call (line-search trials included). ``resume``: ``(State,
    history)`` of an interrupted run: L-BFGS-B restarts from its image for the remaining
    iterations with a fresh curvature memory (SciPy's internal state cannot be saved), so
    a resumed run is close to, not identical with, an uninterrupted one.
    """
    import scipy.optimize
    import threadpoolctl

    objective = make_objective(config, net)
    hyper = make_hyper(config)
    key = (
        "scipy",
        config_lib.program_key(config),
        net,
        targets.laplacian is None,
        targets.temporal is None,
        targets.masks is None,
    )
    if key not in compiled:  # one jitted function per program: reused by later calls
        compiled[key] = jax.jit(
            jax.value_and_grad(objective, has_aux=True),
            compiler_options=_xla.compiler_options(),
        )
    value_and_grad = compiled[key]
    shape = content.shape
    history: dict[str, list] = {}
    last: dict[str, Any] = {}
    state = {"evals": 0, "done": 0, "t0": None, "compile": 0.0, "stopped": None}
    if resume is not None:
        saved, saved_history = resume
        x0 = np.asarray(saved.image[0], np.float32)
        state["done"] = int(np.asarray(saved.step)[0])
        history = {k: [float(v) for v in vals] for k, vals in saved_history.items()}
        offset = history.get("time", [0.0])[-1] if history.get("time") else 0.0
    else:
        offset = 0.0
    first_step = state["done"]

    def fun(x):
        t = time.perf_counter()
        (value, terms), grad = value_and_grad(
            jnp.asarray(x.reshape(shape), jnp.float32), params, targets, hyper
        )
        value, terms, grad = jax.device_get((value, terms, grad))
        if state["t0"] is None:
            state["compile"] = time.perf_counter() - t
            state["t0"] = time.perf_counter()
        state["evals"] += 1
        last.update(terms=terms, x=x.copy())
        if not np.isfinite(value):
            state["stopped"] = (
                f"non-finite loss at step {state['done']} (term "
                + _blame(
                    {k: np.asarray([v]) for k, v in terms.items()},
                    jax.tree.map(lambda a: np.asarray([a]), hyper),
                    0,
                )
                + ")"
            )
            raise StopIteration
        return float(value), np.asarray(grad, np.float64).ravel()

    snapshots: dict[int, np.ndarray] = {}
    best = {"x": x0.ravel().astype(np.float64)}

    def callback(intermediate_result):
        state["done"] += 1
        best["x"] = np.asarray(intermediate_result.x).copy()
        for name, v in last["terms"].items():
            history.setdefault(name, []).append(float(v))
        history.setdefault("time", []).append(offset + time.perf_counter() - state["t0"])
        if config.snapshot_every and state["done"] % config.snapshot_every == 0:
            snapshots[state["done"]] = best["x"].reshape(shape).astype(np.float32)
        if progress is not None:
            elapsed = max(time.perf_counter() - state["t0"], 1e-9)
            rate = (state["done"] - first_step) / elapsed
            progress(state["done"], float(last["terms"]["total"]), rate)
        if should_stop():
            state["stopped"] = "interrupted"
            raise StopIteration

    # SciPy's L-BFGS-B calls BLAS on vectors of H*W*3 numbers; OpenBLAS worker threads then
    # spin-wait and take cores from the XLA computation that follows (measured: per loss
    # evaluation 0.352 -> 0.315 s, VGG19 at 256 px on 2 cores): BLAS gets one thread here.
    try:
        with threadpoolctl.threadpool_limits(1, user_api="blas"):
            scipy.optimize.minimize(
                fun,
                best["x"],
                jac=True,
                method="L-BFGS-B",
                bounds=scipy.optimize.Bounds(0.0, 1.0),
                callback=callback,
                options={
                    "maxiter": max(config.steps - state["done"], 0),
                    "maxfun": 20 * config.steps,
                    "maxcor": 10,
                },
            )
    except StopIteration:
        pass
    image = np.clip(best["x"].reshape(shape), 0, 1).astype(np.float32)
    if config.preserve_color == "luminance" and state["stopped"] != "interrupted":
        image = nst_image.luminance_transfer(image, content)
    return Result(
        image=image,
        history=_arrays(history),
        snapshots=snapshots,
        steps_done=state["done"],
        stopped=state["stopped"],
        compile_seconds=state["compile"],
        evaluations=state["evals"],
    )
