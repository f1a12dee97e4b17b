"""What the objective compares against, computed once per run: content features, the style
Grams (or another style statistic), region masks and the matting Laplacian.

Every target is one compiled program per (network, layers, image shape): done as eager ops,
every per-layer squeeze, Gram and scaling would compile on its own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nst import backbones, losses, style_stats
from nst import config as config_lib
from nst import image as nst_image
from nst.config import StylizeConfig

Net = Callable[..., dict[str, jax.Array]]


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


# ---------------------------------------------------------------------------- backbone


def _names(table: Sequence[tuple[str, float]]) -> tuple[str, ...]:
    return tuple(name for name, _ in table)


def network(config: StylizeConfig) -> backbones.Backbone:
    """The backbone truncated at the deepest layer this config uses (no params loaded)."""
    content = _names(config_lib.content_layers(config))
    style = _names(config_lib.style_layers(config))
    layers = tuple(dict.fromkeys(content + style))
    return backbones.Backbone(config.backbone, layers, pooling=config.pooling)


def create_backbone(config: StylizeConfig) -> tuple[Any, Any]:
    """``network(config)`` and its params (``config.weights``).

    The params carry the pre-transposed kernels of ``backbones.with_transposed_kernels``
    (made once here; every use in the engine takes image gradients), so callers reusing
    them across many sweeps (video frames, tiles) do not rebuild them per call.
    """
    params = load_params(config)
    return network(config), backbones.with_transposed_kernels(config.backbone, params)


#: The images ``network_norm="gatys"`` calibrates on (bundled: photos, paintings, texture).
CALIBRATION = ("tubingen", "chelsea", "starry_night", "the_scream", "woman_with_hat", "brick")
CALIBRATION_SIZE = 256


def load_params(config: StylizeConfig) -> Any:
    """The backbone's params (``config.weights``), normalized as ``config.network_norm``
    says: ``"gatys"``, every filter's mean rectified activation over ``CALIBRATION`` (at
    ``CALIBRATION_SIZE`` px) and positions is 1 (``backbones.normalize_activations``)."""
    params = backbones.load_params(
        config.backbone, config.weights, seed=config.weights_seed, cache_dir=config.cache_dir
    )
    if config.network_norm == "gatys":
        images = [
            nst_image.load(nst_image.sample(name), max_size=CALIBRATION_SIZE)
            for name in CALIBRATION
        ]
        params, _ = backbones.normalize_activations(
            config.backbone, params, images, pooling=config.pooling
        )
    return params


# ----------------------------------------------------------------------- content, Grams


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


def content_targets(config: StylizeConfig, net: Net, params: Any, content) -> dict[str, jax.Array]:
    """{content layer: features [h, w, c] of the content photo}."""
    names = _names(config_lib.content_layers(config))
    return _content_features(net, params, jnp.asarray(content, jnp.float32), names)


def gram_targets(
    config: StylizeConfig,
    net: Net,
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

    Unlike ``nst.losses.style_targets`` (the Grams of given features, at their own size),
    these are ready for the generated image of ``image_shape``.
    """
    style_blend(config, len(styles))  # a bad blend fails before any forward pass
    names = _names(config_lib.style_layers(config))
    grams = [
        _hw_grams(net, params, jnp.asarray(style, jnp.float32), names)
        for style in _prepared(config, styles, image_shape, content)
    ]
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
    side = max(1, round(config.style_scale * max(image_shape[:2])))
    return [nst_image.resize(np.asarray(style, np.float32), side) for style in styles]


def _prepared(
    config: StylizeConfig,
    styles: Sequence[np.ndarray],
    image_shape: tuple[int, ...],
    content: np.ndarray | None,
) -> list[np.ndarray]:
    """The styles as the statistics see them: resized for ``config.style_scale``, and with
    ``preserve_color="histogram"`` matched to the content's colours."""
    styles = scale_styles(config, styles, image_shape)
    if config.preserve_color == "histogram":
        styles = [nst_image.match_histogram(style, content) for style in styles]
    return styles


def style_blend(config: StylizeConfig, n_styles: int) -> np.ndarray:
    """``config.style_blend`` (default: equal) checked and normalized to sum 1, float32."""
    blend = np.asarray(config.style_blend or [1.0] * n_styles, np.float64)
    if len(blend) != n_styles:
        raise ValueError(f"style_blend has {len(blend)} weights for {n_styles} style images")
    if blend.sum() <= 0:
        raise ValueError(f"style_blend must be non-negative with a positive sum, got {blend}")
    return (blend / blend.sum()).astype(np.float32)


def blend_style_grams(
    config: StylizeConfig,
    net: Net,
    params: Any,
    grams: Sequence[Mapping[str, jax.Array]],
    image_shape: tuple[int, ...],
) -> dict[str, jax.Array]:
    """Style targets from per-style, per-position Grams (``gram_matrix(F, norm="hw")``).

    ``grams[i]``: {style layer: [c, c]} of style image i, however computed (whole image,
    or window by window for images too large for one pass: ``nst.highres.hw_grams``).
    Blended with ``config.style_blend`` and scaled for a generated image of
    ``image_shape`` as ``gram_targets`` describes; one compiled program.
    """
    blend = style_blend(config, len(grams))
    names = _names(config_lib.style_layers(config))
    generated = _layer_shapes(net, params, image_shape)
    gatys = config.style_norm == "gatys"
    mul, div = {}, {}
    for name in names:
        h, w, c = generated[name]
        mul[name], div[name] = np.float32(h * w if gatys else 1), np.float32(1 if gatys else c)
    grams = [{name: g[name] for name in names} for g in grams]
    return _blend_grams(grams, list(blend), mul, div)


def _layer_shapes(net, params, image_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """{layer: (h, w, c)} of the features of an image of ``image_shape``, without running."""
    spec = jax.ShapeDtypeStruct((1, *tuple(image_shape)), jnp.float32)
    return {name: f.shape[1:] for name, f in jax.eval_shape(net, params, spec).items()}


# ------------------------------------------------------------------ other style statistics


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def _layer_stats(net, params, image, names, per_style):
    """{layer: per_style(features [h, w, c])} of one style image (``StyleStat.per_style``)."""
    feats = net(params, image[None])
    return {name: per_style(feats[name][0]) for name in names}


def stat_targets(
    config: StylizeConfig,
    net: Net,
    params: Any,
    styles: Sequence[np.ndarray],
    image_shape: tuple[int, ...],
    *,
    content: np.ndarray | None = None,
) -> dict[str, dict[str, jax.Array]] | None:
    """Targets of ``config.style_stat`` beyond the Gram (``Targets.stats``): its registry
    entry's ``per_style`` for each style image, ``combine``d (``nst.style_stats``); None
    for a statistic that needs only the Grams ("gram").

    "mean_gram": {"mean": {layer: [c]}}, blended with ``style_blend``. "mean_cov_w2":
    also "cov" and "cov_sqrt" ([c, c]), from the blended mean and second raw moment (which,
    unlike covariances, mix linearly). "mrf": {"patches": {layer: [P, 9c]}}, the 3x3
    patches of every style image together (blend weights do not apply).
    """
    stat = style_stats.get(config.style_stat)
    if stat.per_style is None:
        return None
    names = _names(config_lib.style_layers(config))
    styles = _prepared(config, styles, image_shape, content)
    per_style = [
        _layer_stats(net, params, jnp.asarray(s, jnp.float32), names, stat.per_style)
        for s in styles
    ]
    shapes = _layer_shapes(net, params, image_shape)
    return stat.combine(per_style, style_blend(config, len(styles)), shapes)


# ------------------------------------------------------------------------ spatial control


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
    net: Net,
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
    if style_stats.get(config.style_stat).guided_loss is None:
        guided = " or ".join(
            repr(s.name) for s in style_stats.STYLE_STATS.values() if s.guided_loss
        )
        raise ValueError(f"style masks need style_stat={guided}, got {config.style_stat!r}")
    if config.style_blend:
        raise ValueError("style_blend does not apply to masked styles (each has its region)")
    names = _names(config_lib.style_layers(config))
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


# ---------------------------------------------------------------------------- all at once


def make_targets(
    config: StylizeConfig,
    net: Net,
    params: Any,
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    *,
    photo: bool | None = None,
    regions: Sequence[tuple[np.ndarray, np.ndarray | None]] | None = None,
    grams: dict[str, jax.Array] | None = None,
) -> Targets:
    """Content features, blended style Grams (or ``config.style_stat``'s statistics), and
    the Laplacian, computed once.

    ``photo`` forces (or skips) the matting Laplacian; by default it is built when
    ``config.photo_weight`` is non-zero. ``regions``: one ``(content_mask, style_mask)``
    per style for spatial control (``region_targets``). ``grams``: the style Grams, already
    made for this content's shape (``nst.highres.style_grams`` takes those of large style
    images window by window); not with ``regions``.
    """
    content = np.asarray(content, np.float32)
    laplacian = None
    if photo if photo is not None else config.photo_weight:
        laplacian = losses.laplacian_to_bcoo(
            losses.matting_laplacian(content, eps=config.photo_eps)
        )
    masks = None
    if regions is not None:
        if grams is not None:
            raise ValueError("make_targets takes regions or precomputed grams, not both")
        grams, masks = region_targets(config, net, params, styles, regions, content.shape)
    elif grams is None:
        grams = gram_targets(config, net, params, styles, content.shape, content=content)
    return Targets(
        content=content_targets(config, net, params, content),
        grams=grams,
        laplacian=laplacian,
        stats=stat_targets(config, net, params, styles, content.shape, content=content),
        masks=masks,
    )
