"""The tiled optimizer: one Gatys image optimized through overlapping tiles of one shape.

One step, for an image ``x [H, W, 3]``:

1. draw a grid offset ``(oy, ox)`` (a ``numpy.random.Generator`` seeded from
   ``config.seed``), so tile borders move every step;
2. reflect-pad ``x`` by the tile stride (a fixed amount per level; the content photo is
   padded once);
3. for each batch of ``tile_batch`` tiles (one compiled program, vmapped over the batch):
   the content features of the content tile (a forward pass through the content layers, no
   gradient), then the value and gradient of the engine's objective
   (``stylize.make_objective``) for the tile, with the *global* style Grams (from the whole
   style image, normalized for the tile's shape) and the tile's own content features; the
   gradients are blended into one image gradient with the partition-of-unity weights,
   :math:`g = \\sum_k w_k \\odot \\nabla_k`;
4. one optimizer update of the whole image (optax, jitted, buffers donated), clipped to
   [0, 1].

Memory: the compiled tile program holds ``tile_batch`` tiles' activations whatever the
image size (``tests/highres_test.py`` checks ``memory_analysis()``); the image-sized buffers
(image, padded image and content, gradient, Adam moments) take ~13 x 12 bytes per pixel.
Compute: the content forward pass per tile (through conv4_2) and the overlap
(``(t / (t - overlap))**2``, 1.31x for 512 px tiles overlapping by 64).

History per step: the loss terms summed over the step's tiles (a tiled loss: comparable
between steps, not with an untiled run's values) and the wall time.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nst import backbones, optimizers, stylize
from nst import config as config_lib
from nst import image as nst_image
from nst.config import StylizeConfig
from nst.highres import _tiles

__all__ = [
    "TiledResult",
    "content_backbone",
    "hw_grams",
    "make_tile_step",
    "optimize_tiled",
    "style_grams",
    "tile_hyper",
]


def content_backbone(config: StylizeConfig, net: backbones.Backbone) -> backbones.Backbone:
    """``net`` returning only the content layers (its forward pass stops at the deepest)."""
    return dataclasses.replace(net, layers=tuple(stylize.make_hyper(config).content_layers))


# ------------------------------------------------------------------------------ style Grams


def _cores(length: int, max_side: int, halo: int) -> tuple[list[tuple[int, int, int]], int]:
    """Cores ``(start, stop, window origin)`` partitioning an axis, and the window length."""
    n = max(1, math.ceil(length / max_side))
    bounds = [round(k * length / n) for k in range(n + 1)]
    window = min(length, max(b - a for a, b in itertools.pairwise(bounds)) + 2 * halo)
    cores = [(a, b, min(max(0, a - halo), length - window)) for a, b in itertools.pairwise(bounds)]
    return cores, window


def _owned(count: int, origin: int, window: int, start: int, stop: int) -> np.ndarray:
    """1 for the feature rows (of ``count`` over a ``window`` from ``origin``) whose centre
    lies in ``[start, stop)``."""
    centres = origin + (np.arange(count) + 0.5) * (window / count)
    return ((centres >= start) & (centres < stop)).astype(np.float32)


def _gram_sums(net, params, window, masks):
    """{layer: (sum over owned positions of f f^T [c, c], owned positions)} of one window."""
    feats = net(params, window[None])
    return {
        n: (jnp.einsum("hwi,hwj,hw->ij", feats[n][0], feats[n][0], m), jnp.sum(m))
        for n, m in masks.items()
    }


_gram_sums_jit = jax.jit(_gram_sums, static_argnums=0)


def hw_grams(
    net: backbones.Backbone,
    params: Any,
    image: np.ndarray,
    layers: Sequence[str],
    *,
    max_side: int = 1024,
    halo: int = 64,
) -> dict[str, jax.Array]:
    """Per-position Grams (``gram_matrix(F, norm="hw")``) of a large image, by windows.

    The image is cut into cores of at most ``max_side`` px that partition it; each core is
    read through a window ``halo`` px larger on every side (fixed shape, shifted inside the
    image at its borders, so one program serves every window), and only the feature
    positions whose centre lies in the core are summed. Memory is one window's forward
    pass. Equal to the whole image's Gram at layers whose receptive field fits in the halo
    and whose stride divides the window origins (conv1_1: up to rounding), close elsewhere.
    """
    image = np.asarray(image, np.float32)
    h, w = image.shape[:2]
    ycores, wy = _cores(h, max_side, halo)
    xcores, wx = _cores(w, max_side, halo)
    shapes = jax.eval_shape(net, params, jax.ShapeDtypeStruct((1, wy, wx, 3), jnp.float32))
    sums: dict[str, Any] = {}
    counts: dict[str, Any] = {}
    for y0, y1, oy in ycores:
        for x0, x1, ox in xcores:
            masks = {}
            for name in layers:
                fh, fw = shapes[name].shape[1:3]
                my = _owned(fh, oy, wy, y0, y1)
                mx = _owned(fw, ox, wx, x0, x1)
                masks[name] = jnp.asarray(my[:, None] * mx[None, :])
            window = jnp.asarray(image[oy : oy + wy, ox : ox + wx])
            out = _gram_sums_jit(net, params, window, masks)
            for name, (g, c) in out.items():
                sums[name] = sums.get(name, 0.0) + g
                counts[name] = counts.get(name, 0.0) + c
    return {name: sums[name] / counts[name] for name in layers}


def check_tileable(config: StylizeConfig) -> str:
    """The optimizer's resolved name; ValueError unless ``config`` can run tile by tile: a
    first-order optimizer (each tile takes its own steps; L-BFGS's line search needs the
    whole image) and no matting Laplacian (it couples every pixel)."""
    name = optimizers.resolve(config.optimizer, backend=jax.default_backend())
    if name not in optimizers.FIRST_ORDER:
        raise ValueError(
            f"tiled levels need a first-order optimizer ({', '.join(optimizers.FIRST_ORDER)}"
            f"), got --optimizer={config.optimizer}"
        )
    if config.photo_weight:
        raise ValueError("photo_weight (matting Laplacian) is not supported on tiled levels")
    return name


def style_grams(
    config: StylizeConfig,
    net: backbones.Backbone,
    params: Any,
    styles: Sequence[np.ndarray],
    image_shape: tuple[int, ...],
    *,
    content: np.ndarray | None = None,
    max_side: int = 1024,
) -> dict[str, jax.Array]:
    """Global style targets for a generated image (or tile) of ``image_shape``.

    ``stylize.style_targets`` for style images up to ``max_side`` px; larger ones take
    their Grams window by window (``hw_grams``); both blend and scale them with
    ``stylize.blend_style_grams``.
    """
    if all(max(np.shape(s)[:2]) <= max_side for s in styles):
        return stylize.style_targets(config, net, params, styles, image_shape, content=content)
    stylize.style_blend(config, len(styles))  # a bad blend fails before any forward pass
    layers = list(stylize.make_hyper(config).style_layers)
    grams = []
    for style in styles:
        if config.preserve_color == "histogram":
            style = nst_image.match_histogram(style, content)
        grams.append(hw_grams(net, params, style, layers, max_side=max_side))
    return stylize.blend_style_grams(config, net, params, grams, image_shape)


# ---------------------------------------------------------------------------- tile program


def tile_hyper(
    config: StylizeConfig, tile: tuple[int, int], shape: tuple[int, ...]
) -> stylize.Hyper:
    """The loss weights of one tile, so that blended tile gradients have the whole image's
    per-pixel scale.

    Terms summed over pixels (Gatys content loss, total variation) have a per-pixel
    gradient independent of the image size; the style loss (Gatys or Johnson normalization)
    and the ``mean`` content loss are normalized by the size, so their per-pixel gradient
    is ``M_image / M_tile`` times larger in a tile. Their weights are multiplied by
    ``r = (ty * tx) / (H * W)``:

    .. math::
      \\nabla_p \\big(r\\,E^{tile}\\big) = \\frac{F_p (g_{tile} - a)}{N^2 M_{image}},

    the whole image's style gradient with the tile's per-position Gram ``g_tile`` in place
    of the image's.
    """
    hyper = stylize.make_hyper(config)
    ratio = (tile[0] * tile[1]) / (shape[0] * shape[1])
    content = ratio if config.content_norm == "mean" else 1.0
    return hyper._replace(
        style_weight=hyper.style_weight * ratio, content_weight=hyper.content_weight * content
    )


def make_tile_step(
    config: StylizeConfig, net: backbones.Backbone, tile: tuple[int, int]
) -> Callable[..., tuple[jax.Array, dict[str, jax.Array]]]:
    """Returns ``tile_step(padded, padded_content, acc, origins, wy, wx, params, grams,
    hyper) -> (acc, terms)``.

    For a batch of ``B`` tiles at ``origins [B, 2]`` (padded coordinates) of the padded image
    ``[H', W', 3]``: the tiles' losses (``terms``: ``{name: [B]}``) and their gradients,
    blended into ``acc [H', W', 3]`` with weights ``wy[b] (outer) wx[b]``.
    """
    objective = stylize.make_objective(config, net)
    content_net = content_backbone(config, net)

    def tile_step(padded, padded_content, acc, origins, wy, wx, params, grams, hyper):
        crop = jax.vmap(lambda image, o: _tiles._crop(image, o, tile), in_axes=(None, 0))
        tiles = crop(padded, origins)
        content = jax.lax.stop_gradient(content_net(params, crop(padded_content, origins)))

        def one(x, features):
            targets = stylize.Targets(content=features, grams=grams)
            return jax.value_and_grad(objective, has_aux=True)(x, params, targets, hyper)

        (_, terms), grads = jax.vmap(one)(tiles, content)
        return _tiles.accumulate(acc, grads, origins, wy, wx), terms

    return tile_step


def make_update(
    config: StylizeConfig, grid: _tiles.TileGrid
) -> Callable[[jax.Array, Any, jax.Array], tuple[jax.Array, Any]]:
    """``update(image, opt_state, acc) -> (image, opt_state)``: one optax step on the
    blended gradient (``acc`` cropped to the image), pixels clipped to [0, 1]."""
    opt = optimizers.create(config.optimizer, config.lr)
    (py, px), (h, w) = grid.pad, grid.shape

    def update(image, opt_state, acc):
        grad = acc[py : py + h, px : px + w]
        updates, opt_state = opt.update(grad, opt_state, image)
        return jnp.clip(optax.apply_updates(image, updates), 0.0, 1.0), opt_state

    return update


# ------------------------------------------------------------------------------------ loop


@dataclasses.dataclass
class TiledResult:
    """One tiled optimization: image, optimizer state, per-step history, how it ended.

    history: per step, the loss terms summed over the step's tiles ("total", "content",
      "style", "style/<layer>", "tv"), "tiles" (tiles in the step) and "time" (seconds
      since the loop started, compilation excluded).
    """

    image: np.ndarray
    opt_state: Any
    history: dict[str, np.ndarray]
    steps_done: int
    stopped: str | None = None
    compile_seconds: float = 0.0
    tile: tuple[int, int] = (0, 0)


def _aot(compiled: dict, key: Any, fn: Callable, args: tuple, donate: tuple[int, ...]):
    """An AOT-compiled ``fn`` for ``args`` (cached under ``key``) and the seconds it took."""
    if key in compiled:
        return compiled[key], 0.0
    t = time.perf_counter()
    compiled[key] = jax.jit(fn, donate_argnums=donate).lower(*args).compile()
    return compiled[key], time.perf_counter() - t


def optimize_tiled(
    config: StylizeConfig,
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    *,
    init_image: np.ndarray | None = None,
    net_params: tuple[backbones.Backbone, Any] | None = None,
    tile_size: int = 512,
    overlap: int = 64,
    tile_batch: int = 1,
    grams: dict[str, jax.Array] | None = None,
    opt_state: Any = None,
    rng: np.random.Generator | None = None,
    compiled: dict | None = None,
    style_max_side: int = 1024,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int, float, float], None] | None = None,
) -> TiledResult:
    """Optimizes ``config.steps`` steps of a Gatys image through overlapping tiles.

    Args:
      config: the stylization (a first-order optimizer: adam, adagrad, rmsprop, sgd).
      content: content photo ``[H, W, 3]`` in [0, 1] at the working size.
      styles: style images ``[h, w, 3]``, already at the scale wanted (their Grams are
        global: from the whole image, never per tile).
      init_image: ``[H, W, 3]`` start (default ``config.init``).
      net_params: ``(backbone, params)`` (default ``stylize.create_backbone(config)``).
      tile_size, overlap: tile side and overlap in pixels; tile_batch: tiles per program.
      grams: precomputed style targets for the tile shape (else from ``styles``).
      opt_state: optimizer state to continue from (e.g. resized from a coarser level).
      rng: the generator of tile offsets (default ``numpy.random.default_rng(config.seed)``).
      compiled: a dict kept between calls to reuse compiled programs.
      style_max_side: style images larger than this take their Grams by windows.
      should_stop: polled between steps; True stops after the current step.
      progress: called after every step with (steps done, total loss, steps per second).

    Returns:
      A ``TiledResult``.
    """
    name = check_tileable(config)
    content = np.asarray(content, np.float32)
    if content.ndim != 3 or content.shape[-1] != 3:
        raise ValueError(f"content must be [H, W, 3], got shape {content.shape}")
    net, params = net_params if net_params is not None else stylize.create_backbone(config)
    rng = np.random.default_rng(config.seed) if rng is None else rng
    compiled = {} if compiled is None else compiled
    shape = content.shape
    grid = _tiles.tile_grid(shape, tile_size, overlap)
    tile = grid.tile
    if grams is None:
        grams = style_grams(
            config, net, params, styles, (*tile, 3), content=content, max_side=style_max_side
        )
    hyper = tile_hyper(config, tile, shape)
    if init_image is None:
        key = jax.random.key(config.seed)
        image = stylize._initial_image(config, key, content, list(styles))
    else:
        image = jnp.array(init_image, jnp.float32)  # a copy: the update donates it
    if image.shape != shape:
        raise ValueError(f"init_image has shape {image.shape}, content {shape}")
    if opt_state is None:
        opt_state = optimizers.create(name, config.lr).init(image)
    else:
        opt_state = jax.tree.map(jnp.array, opt_state)  # a copy: the update donates it
    padded_content = _tiles.pad(content, grid)
    base_grid = grid  # the pads are the same for every offset
    pad_fn = jax.jit(lambda x: _tiles.pad(x, base_grid))
    program = (config_lib.program_key(config), net, tile, tile_batch)
    zeros = lambda: jnp.zeros((*grid.padded_shape, 3), jnp.float32)
    b = tile_batch
    probe = (
        pad_fn(image),
        padded_content,
        zeros(),
        jnp.zeros((b, 2), jnp.int32),
        jnp.zeros((b, tile[0]), jnp.float32),
        jnp.zeros((b, tile[1]), jnp.float32),
        params,
        grams,
        hyper,
    )
    tile_step, compile_seconds = _aot(
        compiled,
        ("tile", program, grid.padded_shape),
        make_tile_step(config, net, tile),
        probe,
        (2,),
    )
    update, seconds = _aot(
        compiled,
        ("update", program, name, shape, grid.pad),
        make_update(dataclasses.replace(config, optimizer=name), grid),
        (image, opt_state, zeros()),
        (0, 1),
    )
    compile_seconds += seconds
    del probe

    history: dict[str, list] = {}
    stopped = None
    elapsed = 0.0
    done = 0
    stride = (tile[0] - overlap, tile[1] - overlap)
    while done < config.steps:
        if should_stop():
            stopped = "interrupted"
            break
        t = time.perf_counter()
        offset = tuple(int(rng.integers(0, s)) if s > 0 else 0 for s in stride)
        grid = _tiles.tile_grid(shape, tile_size, overlap, offset)
        origins = grid.origins()
        wy, wx = grid.weights()
        n = len(origins)
        spare = -n % b  # the last batch is filled with weightless copies of tile 0
        origins = np.concatenate([origins, np.repeat(origins[:1], spare, axis=0)])
        wy = np.concatenate([wy, np.zeros((spare, tile[0]), np.float32)])
        wx = np.concatenate([wx, np.zeros((spare, tile[1]), np.float32)])
        padded = pad_fn(image)
        acc = zeros()
        batches = []
        for i in range(0, n + spare, b):
            s = slice(i, i + b)
            acc, terms = tile_step(
                padded, padded_content, acc, origins[s], wy[s], wx[s], params, grams, hyper
            )
            batches.append(terms)
        del padded
        terms = jax.device_get(batches)
        totals = {k: float(np.concatenate([t_[k] for t_ in terms])[:n].sum()) for k in terms[0]}
        if not np.isfinite(totals["total"]):
            bad = [k for k, v in totals.items() if not np.isfinite(v)]
            stopped = f"non-finite loss at step {done} (term {bad[0]})"
            break
        image, opt_state = update(image, opt_state, acc)
        image.block_until_ready()
        elapsed += time.perf_counter() - t
        done += 1
        for k, v in totals.items():
            history.setdefault(k, []).append(v)
        history.setdefault("tiles", []).append(n)
        history.setdefault("time", []).append(elapsed)
        if progress is not None:
            progress(done, totals["total"], done / max(elapsed, 1e-9))
    return TiledResult(
        image=np.clip(np.asarray(image), 0.0, 1.0),
        opt_state=opt_state,
        history={k: np.asarray(v, np.float32) for k, v in history.items()},
        steps_done=done,
        stopped=stopped,
        compile_seconds=compile_seconds,
        tile=tile,
    )
