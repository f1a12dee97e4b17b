"""``stylize_large``: a coarse-to-fine pyramid whose fine levels may be tiled.

Levels run coarse to fine (``level_shapes``); each starts from the previous level's result,
upsampled (Lanczos), and has its own content photo and style images resized to its scale
(the style's longest side is ``style_scale`` times the level's). A level runs untiled on
the engine (``stylize.stylize`` with ``init_images``), or tiled (``optimize_tiled``) when
it is larger than ``tile_above``, or, by default, when its untiled estimate exceeds the
memory budget. Every level is planned and its memory estimated before any work starts; a
plan that does not fit raises ``MemoryEstimateError`` with one line naming the estimate.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from nst import backbones, optimizers, stylize
from nst import image as nst_image
from nst.config import StylizeConfig
from nst.highres import _memory, _tiled, _tiles
from nst.highres._config import HighresConfig, level_shapes, level_steps

__all__ = ["HighresResult", "Level", "bf16_loss_difference", "plan", "stylize_large"]


@dataclasses.dataclass(frozen=True)
class Level:
    """One planned level: its shape, steps, and how it runs.

    tile: ``(ty, tx)`` tile shape of a tiled level, None for an untiled one.
    estimate: the bytes the level is estimated to add (``nst.highres._memory``).
    """

    shape: tuple[int, int]
    steps: int
    tile: tuple[int, int] | None
    tiles: int  # tiles per step (at offset 0); 1 untiled
    estimate: int
    untiled_estimate: int


@dataclasses.dataclass
class HighresResult(stylize.Result):
    """A large output and how it was made (a ``stylize.Result``, plus its levels).

    image: float32 ``[H, W, 3]`` in [0, 1].
    history: per step over all levels: the loss terms (a tiled level's summed over its
      tiles), "level" (index), "time" (seconds since the first level started, compilation
      excluded).
    snapshots: {steps done: image} at the end of every level.
    levels: the plan, one ``Level`` per level, with "seconds" and "compile_seconds" added
      in ``level_times``.
    opt_state: None (each level starts its own).
    """

    levels: list[Level] = dataclasses.field(default_factory=list)
    level_times: list[dict[str, float]] = dataclasses.field(default_factory=list)
    budget: int | None = None


def _variant(net: backbones.Backbone, hi: HighresConfig) -> backbones.Backbone:
    dtype = jnp.bfloat16 if hi.bf16 else net.dtype
    return dataclasses.replace(net, remat=hi.remat or net.remat, dtype=dtype)


def budget(hi: HighresConfig) -> int | None:
    """The memory budget in bytes (``hi.memory_budget``, else a fraction of what is free)."""
    if hi.memory_budget is not None:
        return int(hi.memory_budget)
    available = _memory.available_bytes()
    return None if available is None else int(hi.memory_fraction * available)


def plan(
    config: StylizeConfig,
    hi: HighresConfig,
    shape: tuple[int, ...],
    net: backbones.Backbone,
    params: Any,
    *,
    memory: int | None = None,
) -> list[Level]:
    """Every level's shape, steps and mode, checked against the memory budget ``memory``.

    Raises:
      MemoryEstimateError: a level does not fit (the message names the estimate and
        suggests ``--tile_size``).
      ValueError: a ``config.style_stat`` without ``highres`` in ``nst.style_stats`` (all
        but "gram"), or options a tiled level cannot take (``_tiled.check_tileable``).
    """
    _tiled.check_style_stat(config)
    shapes = level_shapes(shape, hi)
    steps = level_steps(config.steps, len(shapes), hi)
    content_net = _tiled.content_backbone(config, net)
    levels = []
    for level_shape, n in zip(shapes, steps):
        untiled = _memory.estimate_untiled(net, params, level_shape)
        if not hi.tile_size or max(level_shape) <= hi.tile_size:
            tiled = False
        elif hi.tile_above is not None:
            tiled = max(level_shape) > hi.tile_above
        else:
            tiled = memory is not None and untiled > memory
        if tiled:
            grid = _tiles.tile_grid(level_shape, hi.tile_size, hi.tile_overlap)
            estimate = _memory.estimate_tiled(
                net, content_net, params, level_shape, grid.tile, grid.pad, hi.tile_batch
            )
            _memory.check(estimate, memory, level_shape, hi.tile_size)
            levels.append(Level(level_shape, n, grid.tile, len(grid), estimate, untiled))
        else:
            _memory.check(untiled, memory, level_shape, 0)
            levels.append(Level(level_shape, n, None, 1, untiled, untiled))
    if any(level.tile for level in levels):
        _tiled.check_tileable(config)
    return levels


def check_fits(
    config: StylizeConfig,
    hi: HighresConfig,
    shape: tuple[int, ...],
    net_params: tuple[backbones.Backbone, Any],
) -> tuple[list[Level], int | None]:
    """``(plan, memory budget)`` for an output of ``shape``, before any image is loaded.

    Raises:
      MemoryEstimateError: a level does not fit the budget.
    """
    net, params = net_params
    memory = budget(hi)
    return plan(config, hi, tuple(shape), _variant(net, hi), params, memory=memory), memory


def _resize_state(opt_state: Any, old: tuple[int, int], new: tuple[int, int]) -> Any:
    """Optimizer state with every image-shaped leaf (Adam's moments) resized to ``new``."""

    def resize(leaf):
        if hasattr(leaf, "shape") and tuple(leaf.shape) == (*old, 3):
            return jax.image.resize(jnp.asarray(leaf), (*new, 3), "linear")
        return leaf

    return jax.tree.map(resize, opt_state)


def _style_side(shape: tuple[int, int], hi: HighresConfig) -> int:
    return max(16, round(hi.style_scale * max(shape)))


def _checked(
    config: StylizeConfig,
    hi: HighresConfig,
    content: np.ndarray,
    styles: np.ndarray | Sequence[np.ndarray],
) -> tuple[np.ndarray, list[np.ndarray]]:
    """``(content, styles)`` as float32 arrays; ValueError for inputs or options that do not
    combine (checked before the backbone is built)."""
    if isinstance(styles, np.ndarray | jax.Array) and np.ndim(styles) == 3:
        styles = [styles]
    styles = [np.asarray(s, np.float32) for s in styles]
    if not styles:
        raise ValueError("at least one style image is needed")
    content = np.asarray(content, np.float32)
    if content.ndim != 3 or content.shape[-1] != 3:
        raise ValueError(f"content must be [H, W, 3], got shape {content.shape}")
    if hi.carry_optimizer_state:
        name = optimizers.resolve(config.optimizer, backend=jax.default_backend())
        if name not in optimizers.FIRST_ORDER:
            raise ValueError("carry_optimizer_state needs a first-order optimizer")
    return content, styles


def _first_level(resume: tuple[int, np.ndarray] | None, n_levels: int):
    """``(first level to run, image it starts from or None)``."""
    if resume is None:
        return 0, None
    first, image = resume[0], np.asarray(resume[1], np.float32)
    if not 0 < first < n_levels:
        raise ValueError(f"resume level {first} is not in 1..{n_levels - 1}")
    return first, image


@dataclasses.dataclass
class _Books:
    """The levels' books merged into one run's: every level's history appended (terms a
    level did not log are NaN there), a "level" index per step, times running on from the
    previous level's last; a snapshot and a ``level_times`` entry per level."""

    history: dict[str, list] = dataclasses.field(default_factory=dict)
    snapshots: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)
    times: list[dict[str, float]] = dataclasses.field(default_factory=list)
    done: int = 0
    time_offset: float = 0.0
    compile_seconds: float = 0.0

    def add(self, index: int, result: Any, seconds: float) -> None:
        """Appends level ``index``'s ``result`` (a ``stylize.Result`` or ``TiledResult``)
        that took ``seconds`` of wall time, compilation included."""
        history, steps, done = self.history, result.steps_done, self.done
        for key, values in result.history.items():
            if key != "time":
                history.setdefault(key, [np.nan] * done).extend(np.asarray(values)[:steps])
        history.setdefault("level", []).extend([index] * steps)
        level_time = np.asarray(result.history.get("time", np.zeros(steps)))[:steps]
        history.setdefault("time", []).extend(self.time_offset + level_time)
        self.time_offset += float(level_time[-1]) if steps else 0.0
        self.done += steps
        for values in history.values():  # terms this level did not log
            values.extend([np.nan] * (self.done - len(values)))
        self.compile_seconds += result.compile_seconds
        self.times.append(
            {
                "seconds": seconds,
                "compile_seconds": result.compile_seconds,
                "steps": steps,
                "seconds_per_step": float(level_time[-1]) / steps if steps else float("nan"),
            }
        )
        self.snapshots[self.done] = result.image

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, np.float32) for k, v in self.history.items()}


class _Problem(NamedTuple):
    """What every level shares: the options, the network, the full-size inputs, the cache
    of compiled programs, the tile offsets' generator and the caller's hooks."""

    hi: HighresConfig
    net: backbones.Backbone
    params: Any
    content: np.ndarray
    styles: list[np.ndarray]
    cache: stylize.Cache
    rng: np.random.Generator
    should_stop: Callable[[], bool]
    progress: Callable[[int, float, float], None] | None
    on_level: Callable[[int, np.ndarray], None] | None


def _offset(
    progress: Callable[[int, float, float], None] | None, start: int
) -> Callable[[int, float, float], None]:
    """A level's progress callback: its steps counted from ``start`` (the steps before it)."""

    def level_progress(step: int, loss: float, rate: float) -> None:
        if progress is not None:
            progress(start + step, loss, rate)

    return level_progress


def _run_level(
    problem: _Problem,
    cfg: StylizeConfig,
    level: Level,
    image: np.ndarray | None,
    opt_state: Any,
    start: int,
) -> stylize.Result | _tiled.TiledResult:
    """One level from the previous level's ``image`` (None: ``cfg.init``) and optimizer
    state, on the engine (untiled) or through tiles; ``start``: the steps before it."""
    hi, net, params = problem.hi, problem.net, problem.params
    should_stop, progress = problem.should_stop, _offset(problem.progress, start)
    content = nst_image.resize(problem.content, level.shape)
    styles = [nst_image.resize(s, _style_side(level.shape, hi)) for s in problem.styles]
    init = None if image is None else nst_image.resize(image, level.shape)
    if level.tile is not None:
        return _tiled.optimize_tiled(
            cfg,
            content,
            styles,
            init_image=init,
            hi=hi,
            net_params=(net, params),
            opt_state=opt_state,
            rng=problem.rng,
            cache=problem.cache,
            should_stop=should_stop,
            progress=progress,
        )
    grams = _tiled.style_grams(
        cfg, net, params, styles, content.shape, content=content, max_side=hi.style_tile
    )
    extra = {"init_opt_state": opt_state} if hi.carry_optimizer_state else {}
    return stylize.stylize(
        cfg,
        content,
        styles,
        net_params=(net, params),
        targets=stylize.make_targets(cfg, net, params, content, styles, grams=grams),
        init_images=init,
        cache=problem.cache,
        should_stop=should_stop,
        progress=progress,
        **extra,
    )


def _run_levels(
    problem: _Problem,
    config: StylizeConfig,
    levels: list[Level],
    first: int,
    image: np.ndarray | None,
) -> tuple[np.ndarray, _Books, str | None]:
    """Levels ``first`` on, each from the previous one's ``image`` (None: ``config.init``):
    ``(the last image, the books, why it stopped or None)``."""
    # Colour: luminance transfer once at the end (not at every level).
    luminance = config.preserve_color == "luminance"
    level_config = dataclasses.replace(config, preserve_color="none") if luminance else config
    books = _Books()
    opt_state, previous_shape = None, problem.content.shape[:2]
    for index in range(first, len(levels)):
        level = levels[index]
        cfg = dataclasses.replace(level_config, steps=level.steps, size=max(level.shape))
        if opt_state is not None:
            opt_state = _resize_state(opt_state, previous_shape, level.shape)
        t = time.perf_counter()
        result = _run_level(problem, cfg, level, image, opt_state, books.done)
        books.add(index, result, time.perf_counter() - t)
        opt_state = result.opt_state if problem.hi.carry_optimizer_state else None
        previous_shape, image = level.shape, result.image
        if result.stopped:
            return image, books, result.stopped
        if problem.on_level is not None:
            problem.on_level(index, image)
    return image, books, None


def stylize_large(
    config: StylizeConfig,
    hi: HighresConfig,
    content: np.ndarray,
    styles: np.ndarray | Sequence[np.ndarray],
    *,
    net_params: tuple[backbones.Backbone, Any] | None = None,
    cache: stylize.Cache | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int, float, float], None] | None = None,
    on_plan: Callable[[list[Level], int | None], None] | None = None,
    on_level: Callable[[int, np.ndarray], None] | None = None,
    resume: tuple[int, np.ndarray] | None = None,
) -> HighresResult:
    """Stylizes ``content`` at its full size through a pyramid of levels, tiled where large.

    Args:
      config: the stylization; ``config.steps`` are the coarsest level's steps (see
        ``HighresConfig.level_steps``), ``config.seed`` also seeds the tile offsets;
        ``config.style_stat`` must be one whose ``nst.style_stats`` entry has ``highres``
        ("gram").
      hi: pyramid, tiling and memory options.
      content: the content photo ``[H, W, 3]`` in [0, 1] at the output size.
      styles: style image(s) ``[h, w, 3]``, any size (resized to each level's scale).
      net_params: ``(backbone, params)`` to reuse (else ``stylize.create_backbone``); the
        backbone is switched to ``hi.remat`` / ``hi.bf16``.
      cache: a ``stylize.Cache`` kept between calls to reuse compiled programs.
      should_stop: polled between steps; True ends the run after the current step with
        ``stopped="interrupted"`` and the image so far.
      progress: ``progress(steps done over all levels, loss, steps per second)``.
      on_plan: called with the plan and the memory budget before any level runs.
      on_level: called with (level index, its result image) after every finished level.
      resume: ``(k, image)``: levels before ``k`` are done and ``image`` is level
        ``k - 1``'s result (saved by ``on_level``); the run continues at level ``k``.

    Returns:
      A ``HighresResult``.

    Raises:
      MemoryEstimateError: a level's estimate exceeds the budget (before any work).
      ValueError: options that do not combine (L-BFGS or photorealism on tiled levels,
        a ``style_stat`` without ``highres``, ``level_steps`` of the wrong length).
    """
    content, styles = _checked(config, hi, content, styles)
    net, params = net_params if net_params is not None else stylize.create_backbone(config)
    net = _variant(net, hi)
    levels, memory = check_fits(config, hi, content.shape, (net, params))
    if on_plan is not None:
        on_plan(levels, memory)
    problem = _Problem(
        hi,
        net,
        params,
        content,
        styles,
        stylize.Cache.of(cache),
        np.random.default_rng(config.seed),
        should_stop,
        progress,
        on_level,
    )
    image, books, stopped = _run_levels(problem, config, levels, *_first_level(resume, len(levels)))
    if config.preserve_color == "luminance":
        image = nst_image.luminance_transfer(image, nst_image.resize(content, image.shape[:2]))
    return HighresResult(
        image=image,
        history=books.arrays(),
        snapshots=books.snapshots,
        steps_done=books.done,
        stopped=stopped,
        compile_seconds=books.compile_seconds,
        evaluations=books.done,
        levels=levels,
        level_times=books.times,
        budget=memory,
    )


def bf16_loss_difference(
    config: StylizeConfig,
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    image: np.ndarray,
    *,
    net_params: tuple[backbones.Backbone, Any] | None = None,
) -> dict[str, float]:
    """Relative difference of every loss term, bfloat16 vs float32 activations.

    Targets and the objective are computed with each backbone dtype at ``image``'s size
    (untiled); returns ``{term: |L_bf16 - L_f32| / |L_f32|}``.
    """
    net, params = net_params if net_params is not None else stylize.create_backbone(config)
    values = {}
    for dtype in (jnp.float32, jnp.bfloat16):
        variant = dataclasses.replace(net, dtype=dtype)
        targets = stylize.Targets(
            content=stylize.content_targets(config, variant, params, content),
            grams=stylize.gram_targets(config, variant, params, styles, content.shape),
        )
        objective = jax.jit(stylize.make_objective(config, variant))
        _, terms = objective(jnp.asarray(image), params, targets, stylize.make_hyper(config))
        values[jnp.dtype(dtype).name] = {k: float(v) for k, v in terms.items()}
    f32, bf16 = values["float32"], values["bfloat16"]
    return {k: abs(bf16[k] - f32[k]) / max(abs(f32[k]), 1e-30) for k in f32}
