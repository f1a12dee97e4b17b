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
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nst import backbones, optimizers, style_stats, stylize
from nst import config as config_lib
from nst import image as nst_image
from nst.config import StylizeConfig
from nst.highres import _tiles
from nst.highres._config import HighresConfig

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


def check_style_stat(config: StylizeConfig) -> None:
    """ValueError unless ``config.style_stat``'s registry entry has ``highres`` ("gram"):
    large outputs take their style targets as Grams (by windows for large style images,
    normalized per tile)."""
    if not style_stats.get(config.style_stat).highres:
        usable = " or ".join(repr(s.name) for s in style_stats.STYLE_STATS.values() if s.highres)
        raise ValueError(
            f"nst.highres supports style_stat={usable} only, got {config.style_stat!r} "
            "(use nst.stylize for other style statistics)"
        )


def check_tileable(config: StylizeConfig) -> str:
    """The optimizer's resolved name; ValueError unless ``config`` can run tile by tile: a
    first-order optimizer (each tile takes its own steps; L-BFGS's line search needs the
    whole image) and no matting Laplacian (it couples every pixel)."""
    check_style_stat(config)
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

    ``stylize.gram_targets`` for style images up to ``max_side`` px; larger ones take
    their Grams window by window (``hw_grams``); both blend and scale them with
    ``stylize.blend_style_grams``.
    """
    if all(max(np.shape(s)[:2]) <= max_side for s in styles):
        return stylize.gram_targets(config, net, params, styles, image_shape, content=content)
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


def _aot(cache: stylize.Cache, key: Any, fn: Callable, args: tuple, donate: tuple[int, ...]):
    """An AOT-compiled ``fn`` for ``args`` (cached under ``key``) and the seconds it took."""
    return cache.get(key, lambda: jax.jit(fn, donate_argnums=donate).lower(*args).compile())


class _Problem(NamedTuple):
    """What every step of one tiled optimization shares."""

    config: StylizeConfig  # its optimizer resolved
    hi: HighresConfig
    net: backbones.Backbone
    params: Any
    grams: dict[str, jax.Array]
    hyper: stylize.Hyper
    grid: _tiles.TileGrid  # at offset 0 (the pads are the same for every offset)
    padded_content: jax.Array


class _Programs(NamedTuple):
    """The compiled programs of a ``_Problem`` and the seconds compiling them took."""

    tile_step: Callable  # (padded, padded_content, acc, origins, wy, wx, params, grams, hyper)
    update: Callable  # (image, opt_state, acc) -> (image, opt_state)
    pad: Callable  # image -> padded image
    compile_seconds: float


def _zeros(grid: _tiles.TileGrid) -> jax.Array:
    """A padded image's worth of zeros (the blended gradient starts from it)."""
    return jnp.zeros((*grid.padded_shape, 3), jnp.float32)


def _compile(
    problem: _Problem, image: jax.Array, opt_state: Any, cache: stylize.Cache
) -> _Programs:
    """The tile program and the update, AOT-compiled for ``image`` (or taken from ``cache``)."""
    config, grid, b = problem.config, problem.grid, problem.hi.tile_batch
    tile = grid.tile
    pad = jax.jit(lambda x: _tiles.pad(x, grid))
    program = (config_lib.program_key(config), problem.net, tile, b)
    probe = (
        pad(image),
        problem.padded_content,
        _zeros(grid),
        jnp.zeros((b, 2), jnp.int32),
        jnp.zeros((b, tile[0]), jnp.float32),
        jnp.zeros((b, tile[1]), jnp.float32),
        problem.params,
        problem.grams,
        problem.hyper,
    )
    tile_step, seconds = _aot(
        cache,
        ("tile", program, grid.padded_shape),
        make_tile_step(config, problem.net, tile),
        probe,
        (2,),
    )
    update, more = _aot(
        cache,
        ("update", program, config.optimizer, grid.shape, grid.pad),
        make_update(config, grid),
        (image, opt_state, _zeros(grid)),
        (0, 1),
    )
    return _Programs(tile_step, update, pad, seconds + more)


def _batched_tiles(problem: _Problem, offset: tuple[int, int]):
    """``(origins [B', 2], wy [B', ty], wx [B', tx], n)``: the ``n`` tiles of the grid at
    ``offset``, the last batch filled with weightless copies of tile 0 (``B'`` a multiple of
    ``tile_batch``)."""
    hi, tile = problem.hi, problem.grid.tile
    grid = _tiles.tile_grid(problem.grid.shape, hi.tile_size, hi.tile_overlap, offset)
    origins = grid.origins()
    wy, wx = grid.weights()
    n = len(origins)
    spare = -n % hi.tile_batch
    origins = np.concatenate([origins, np.repeat(origins[:1], spare, axis=0)])
    wy = np.concatenate([wy, np.zeros((spare, tile[0]), np.float32)])
    wx = np.concatenate([wx, np.zeros((spare, tile[1]), np.float32)])
    return origins, wy, wx, n


def _blended_gradient(
    problem: _Problem, programs: _Programs, image: jax.Array, offset: tuple[int, int]
) -> tuple[jax.Array, dict[str, float], int]:
    """``(gradient, loss terms summed over the tiles, tiles)`` of ``image`` through the
    tiles of the grid at ``offset``; the gradient is padded (``update`` crops it)."""
    origins, wy, wx, n = _batched_tiles(problem, offset)
    b = problem.hi.tile_batch
    padded = programs.pad(image)
    acc = _zeros(problem.grid)
    batches = []
    for i in range(0, len(origins), b):
        s = slice(i, i + b)
        acc, terms = programs.tile_step(
            padded,
            problem.padded_content,
            acc,
            origins[s],
            wy[s],
            wx[s],
            problem.params,
            problem.grams,
            problem.hyper,
        )
        batches.append(terms)
    del padded
    terms = jax.device_get(batches)
    totals = {k: float(np.concatenate([t_[k] for t_ in terms])[:n].sum()) for k in terms[0]}
    return acc, totals, n


def _start(
    config: StylizeConfig,
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    init_image: np.ndarray | None,
    opt_state: Any,
) -> tuple[jax.Array, Any]:
    """The first image (``init_image`` or ``config.init``) and optimizer state (given or
    fresh), both new buffers: the update donates them."""
    if init_image is None:
        image = stylize.initial_image(config, jax.random.key(config.seed), content, list(styles))
    else:
        image = jnp.array(init_image, jnp.float32)
    if image.shape != content.shape:
        raise ValueError(f"init_image has shape {image.shape}, content {content.shape}")
    if opt_state is None:
        return image, optimizers.create(config.optimizer, config.lr).init(image)
    return image, jax.tree.map(jnp.array, opt_state)


def optimize_tiled(
    config: StylizeConfig,
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    *,
    hi: HighresConfig | None = None,
    init_image: np.ndarray | None = None,
    net_params: tuple[backbones.Backbone, Any] | None = None,
    grams: dict[str, jax.Array] | None = None,
    opt_state: Any = None,
    rng: np.random.Generator | None = None,
    cache: stylize.Cache | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int, float, float], None] | None = None,
) -> TiledResult:
    """Optimizes ``config.steps`` steps of a Gatys image through overlapping tiles.

    Args:
      config: the stylization (a first-order optimizer: adam, adagrad, rmsprop, sgd).
      content: content photo ``[H, W, 3]`` in [0, 1] at the working size.
      styles: style images ``[h, w, 3]``, already at the scale wanted (their Grams are
        global: from the whole image, never per tile).
      hi: the tiling (default ``HighresConfig()``): ``tile_size`` and ``tile_overlap`` in
        pixels, ``tile_batch`` tiles per program, style images larger than ``style_tile``
        take their Grams by windows; its pyramid options do not apply here.
      init_image: ``[H, W, 3]`` start (default ``config.init``).
      net_params: ``(backbone, params)`` (default ``stylize.create_backbone(config)``).
      grams: precomputed style targets for the tile shape (else from ``styles``).
      opt_state: optimizer state to continue from (e.g. resized from a coarser level).
      rng: the generator of tile offsets (default ``numpy.random.default_rng(config.seed)``).
      cache: a ``stylize.Cache`` kept between calls to reuse compiled programs.
      should_stop: polled between steps; True stops after the current step.
      progress: called after every step with (steps done, total loss, steps per second).

    Returns:
      A ``TiledResult``.
    """
    hi = HighresConfig() if hi is None else hi
    config = dataclasses.replace(config, optimizer=check_tileable(config))
    content = np.asarray(content, np.float32)
    if content.ndim != 3 or content.shape[-1] != 3:
        raise ValueError(f"content must be [H, W, 3], got shape {content.shape}")
    net, params = net_params if net_params is not None else stylize.create_backbone(config)
    grid = _tiles.tile_grid(content.shape, hi.tile_size, hi.tile_overlap)
    if grams is None:
        grams = style_grams(
            config, net, params, styles, (*grid.tile, 3), content=content, max_side=hi.style_tile
        )
    hyper = tile_hyper(config, grid.tile, content.shape)
    image, opt_state = _start(config, content, styles, init_image, opt_state)
    problem = _Problem(config, hi, net, params, grams, hyper, grid, _tiles.pad(content, grid))
    programs = _compile(problem, image, opt_state, stylize.Cache.of(cache))
    rng = np.random.default_rng(config.seed) if rng is None else rng
    return _loop(problem, programs, image, opt_state, rng, should_stop, progress)


def _loop(
    problem: _Problem,
    programs: _Programs,
    image: jax.Array,
    opt_state: Any,
    rng: np.random.Generator,
    should_stop: Callable[[], bool],
    progress: Callable[[int, float, float], None] | None,
) -> TiledResult:
    """The steps: a grid offset drawn from ``rng``, the blended gradient, one update."""
    history: dict[str, list] = {}
    stopped = None
    elapsed = 0.0
    done = 0
    tile, overlap = problem.grid.tile, problem.hi.tile_overlap
    stride = (tile[0] - overlap, tile[1] - overlap)
    while done < problem.config.steps:
        if should_stop():
            stopped = "interrupted"
            break
        t = time.perf_counter()
        offset = tuple(int(rng.integers(0, s)) if s > 0 else 0 for s in stride)
        acc, totals, n = _blended_gradient(problem, programs, image, offset)
        if not np.isfinite(totals["total"]):
            bad = [k for k, v in totals.items() if not np.isfinite(v)]
            stopped = f"non-finite loss at step {done} (term {bad[0]})"
            break
        image, opt_state = programs.update(image, opt_state, acc)
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
        compile_seconds=programs.compile_seconds,
        tile=tile,
    )
