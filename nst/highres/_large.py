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
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nst import backbones, losses, optimizers, stylize
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
    """
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


def stylize_large(
    config: StylizeConfig,
    hi: HighresConfig,
    content: np.ndarray,
    styles: np.ndarray | Sequence[np.ndarray],
    *,
    net_params: tuple[backbones.Backbone, Any] | None = None,
    cache: stylize.Cache | dict | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int, float, float], None] | None = None,
    on_plan: Callable[[list[Level], int | None], None] | None = None,
    on_level: Callable[[int, np.ndarray], None] | None = None,
    resume: tuple[int, np.ndarray] | None = None,
) -> HighresResult:
    """Stylizes ``content`` at its full size through a pyramid of levels, tiled where large.

    Args:
      config: the stylization; ``config.steps`` are the coarsest level's steps (see
        ``HighresConfig.level_steps``), ``config.seed`` also seeds the tile offsets.
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
        ``level_steps`` of the wrong length).
    """
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
    net, params = net_params if net_params is not None else stylize.create_backbone(config)
    net = _variant(net, hi)
    levels, memory = check_fits(config, hi, content.shape, (net, params))
    if on_plan is not None:
        on_plan(levels, memory)
    cache = stylize.Cache.of(cache)
    rng = np.random.default_rng(config.seed)
    # Colour: luminance transfer once at the end (not at every level).
    level_config = dataclasses.replace(
        config,
        preserve_color="none" if config.preserve_color == "luminance" else config.preserve_color,
    )
    history: dict[str, list] = {}
    snapshots: dict[int, np.ndarray] = {}
    times: list[dict[str, float]] = []
    image: np.ndarray | None = None
    opt_state = None
    previous_shape = content.shape[:2]
    done = 0
    t_offset = 0.0
    compile_seconds = 0.0
    stopped = None
    first = 0
    if resume is not None:
        first, image = resume[0], np.asarray(resume[1], np.float32)
        if not 0 < first < len(levels):
            raise ValueError(f"resume level {first} is not in 1..{len(levels) - 1}")
    for index, level in enumerate(levels):
        if index < first:
            continue
        cfg = dataclasses.replace(level_config, steps=level.steps, size=max(level.shape))
        content_l = nst_image.resize(content, level.shape)
        styles_l = [nst_image.resize(s, _style_side(level.shape, hi)) for s in styles]
        init = None if image is None else nst_image.resize(image, level.shape)
        if opt_state is not None:
            opt_state = _resize_state(opt_state, previous_shape, level.shape)
        start = done

        def level_progress(step, loss, rate, start=start):
            if progress is not None:
                progress(start + step, loss, rate)

        t = time.perf_counter()
        if level.tile is None:
            targets = stylize.Targets(
                content=stylize.content_targets(cfg, net, params, content_l),
                grams=_tiled.style_grams(
                    cfg,
                    net,
                    params,
                    styles_l,
                    content_l.shape,
                    content=content_l,
                    max_side=hi.style_tile,
                ),
                laplacian=(
                    losses.laplacian_to_bcoo(losses.matting_laplacian(content_l, eps=cfg.photo_eps))
                    if cfg.photo_weight
                    else None
                ),
            )
            extra = {"init_opt_state": opt_state} if hi.carry_optimizer_state else {}
            result = stylize.stylize(
                cfg,
                content_l,
                styles_l,
                net_params=(net, params),
                targets=targets,
                init_images=init,
                cache=cache,
                should_stop=should_stop,
                progress=level_progress,
                **extra,
            )
            opt_state = result.opt_state if hi.carry_optimizer_state else None
        else:
            result = _tiled.optimize_tiled(
                cfg,
                content_l,
                styles_l,
                init_image=init,
                net_params=(net, params),
                tile_size=hi.tile_size,
                overlap=hi.tile_overlap,
                tile_batch=hi.tile_batch,
                opt_state=opt_state,
                rng=rng,
                cache=cache,
                style_max_side=hi.style_tile,
                should_stop=should_stop,
                progress=level_progress,
            )
            opt_state = result.opt_state if hi.carry_optimizer_state else None
        previous_shape = level.shape
        image = result.image
        hist = result.history
        steps = result.steps_done
        for key, values in hist.items():
            if key == "time":
                continue
            history.setdefault(key, [np.nan] * done).extend(np.asarray(values)[:steps])
        history.setdefault("level", []).extend([index] * steps)
        level_time = np.asarray(hist.get("time", np.zeros(steps)))[:steps]
        history.setdefault("time", []).extend(t_offset + level_time)
        t_offset += float(level_time[-1]) if steps else 0.0
        done += steps
        for values in history.values():  # terms a level did not log
            values.extend([np.nan] * (done - len(values)))
        compile_seconds += result.compile_seconds
        times.append(
            {
                "seconds": time.perf_counter() - t,
                "compile_seconds": result.compile_seconds,
                "steps": steps,
                "seconds_per_step": float(level_time[-1]) / steps if steps else float("nan"),
            }
        )
        snapshots[done] = image
        if result.stopped:
            stopped = result.stopped
            break
        if on_level is not None:
            on_level(index, image)
    if config.preserve_color == "luminance":
        image = nst_image.luminance_transfer(image, nst_image.resize(content, image.shape[:2]))
    return HighresResult(
        image=image,
        history={k: np.asarray(v, np.float32) for k, v in history.items()},
        snapshots=snapshots,
        steps_done=done,
        stopped=stopped,
        compile_seconds=compile_seconds,
        evaluations=done,
        levels=levels,
        level_times=times,
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
