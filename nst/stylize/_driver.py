"""The driver: K settings from their initial images to their results, with history,
snapshots, progress, a stop on the first non-finite loss, and checkpoints.

````sweep`` reads top to bottom: check the inputs -> targets once -> initial images -> run
(jitted steps, or SciPy's L-BFGS-B from the host: ``_scipy``) -> results. Both runs keep
their books in one ``_log.Log``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nst import backbones, optimizers, parallel
from nst import config as config_lib
from nst import image as nst_image
from nst._layout import nchw_hint
from nst.config import StylizeConfig, replace
from nst.stylize import _checkpoint, _lbfgs, _scipy
from nst.stylize._log import Log, Outcome, Run, resume
from nst.stylize._objective import make_hyper
from nst.stylize._step import Cache, State, default_loop, default_sweep_form, steps_program
from nst.stylize._targets import Targets, create_backbone, make_targets

# ImageNet statistics: "noise" init is N(0, 1) in the backbone's normalized input space.
_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)

Regions = Sequence[tuple[np.ndarray, np.ndarray | None]]


@dataclasses.dataclass
class Result:
    """One setting's outcome.

    image: final image, float32 [H, W, 3] in [0, 1] (colour preservation applied).
    history: per step, arrays of length ``steps_done``: "total" (weighted sum), the raw
      (unweighted) terms "content", "style", "style/<layer>", "tv", "photo", and "time"
      (wall-clock seconds since the loop started, compile time excluded when known).
    snapshots: {step: image} every ``snapshot_every`` steps.
    stopped: None if the run finished, "interrupted", or "non-finite loss at step S (term T)".
    converged: None, or why the run ended before ``config.steps`` with a usable image (the
      stopping rule ``config.stop_tol``, or L-BFGS found no decrease at float32 resolution).
    compile_seconds: time of the first step minus a typical step (or the compile itself).
    opt_state: the setting's final optimizer state (None for lbfgs_scipy), e.g. to continue
      at the next level of a pyramid (``nst.highres``).
    """

    image: np.ndarray
    history: dict[str, np.ndarray]
    snapshots: dict[int, np.ndarray]
    steps_done: int
    stopped: str | None = None
    converged: str | None = None
    compile_seconds: float = 0.0
    evaluations: int = 0
    opt_state: Any = None


def initial_image(
    config: StylizeConfig, key: jax.Array, content: np.ndarray, styles: Sequence[np.ndarray]
) -> jax.Array:
    """The starting image of ``config.init``, float32 of ``content``'s shape [H, W, 3].

    "content": the content photo; "noise": N(0, 1) in the backbone's normalized input space
    (ImageNet mean and std), clipped to [0, 1]; "uniform": U(0, 1) pixels; "style": the
    first style image resized to H, W; "model:NAME": the feed-forward network NAME's output
    for ``content`` (``nst.feedforward.infer.load``: a shipped name or a model path; a
    conditional network's first style); otherwise the image file at ``config.init``,
    resized. ``key`` draws the random ones.
    """
    shape = content.shape
    if config.init.startswith(config_lib.MODEL_INIT):
        from nst.feedforward import infer

        network = infer.load(config.init[len(config_lib.MODEL_INIT) :])
        return jnp.asarray(infer.stylize(network, np.asarray(content, np.float32)))
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


# --------------------------------------------------------------------------------- sweep


def sweep(
    configs: Sequence[StylizeConfig],
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    *,
    net_params: tuple[Any, Any] | None = None,
    targets: Targets | None = None,
    init_images: np.ndarray | None = None,
    init_opt_state: Any = None,
    cache: Cache | None = None,
    devices: Sequence[jax.Device] | None = None,
    checkpoint: str | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int, float, float], None] | None = None,
    regions: Regions | None = None,
    on_snapshot: Callable[[int, list[np.ndarray]], None] | None = None,
) -> list[Result]:
    """Optimizes K images, one per config, as one vmapped compiled program.

    Args:
      configs: K configs that differ only in data (``nst.config.split``: weights, learning
        rate, seed, layer weights), so they share one program.
      content: content photo, float [H, W, 3] in [0, 1] (already at the working size).
      styles: one or more style images, float [h, w, 3] in [0, 1], any size.
      net_params: a ``(backbone, params)`` pair to reuse (else built from the config).
      targets: precomputed ``Targets`` (e.g. style Grams computed once per video clip, a
        new frame's content features and temporal term); else computed here.
      init_images: [K, H, W, 3] (or [H, W, 3]) starting images instead of ``config.init``.
      init_opt_state: one setting's optimizer state to start every setting from (e.g.
        Adam's moments resized from a coarser pyramid level), instead of a fresh one.
      cache: a ``Cache`` the caller keeps between calls to reuse compiled programs (frames
        of a clip, settings of an experiment).
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
      on_snapshot: called with (step, one finished image per config) each time a snapshot
        is taken (``config.snapshot_every``), while the run goes on: a caller can write it
        at once.

    Returns:
      One ``Result`` per config, in order.
    """
    configs, content = _checked(configs, content, styles)
    base = configs[0]
    net, params = net_params if net_params is not None else create_backbone(base)
    if targets is None:
        photo = any(c.photo_weight for c in configs)
        targets = make_targets(base, net, params, content, styles, photo=photo, regions=regions)
    # Every step takes image gradients: the convolutions' flipped kernels, once.
    params = backbones.with_transposed_kernels(net.name, params)
    fingerprint = _checkpoint.fingerprint(configs, content, styles, regions)
    if init_images is not None:
        images = jnp.broadcast_to(
            jnp.asarray(init_images, jnp.float32), (len(configs), *content.shape)
        )
    else:
        keys = [jax.random.key(c.seed) for c in configs]
        images = jnp.stack(
            [initial_image(c, key, content, styles) for c, key in zip(configs, keys)]
        )
    cache = Cache.of(cache)
    hook = None
    if on_snapshot is not None:
        finished = lambda images: [
            _finished(images[i], c, content, regions) for i, c in enumerate(configs)
        ]
        hook = lambda step, images: on_snapshot(step, finished(images))
    run = Run(cache, checkpoint, fingerprint, should_stop, progress, hook)
    if base.optimizer == "lbfgs_scipy":
        outcome = _scipy.minimize(base, net, params, targets, images[0], run)
    elif base.optimizer == "lbfgs_host":
        outcome = _lbfgs.minimize(base, net, params, targets, images[0], run)
    else:
        outcome = _optimize(configs, net, params, targets, images, init_opt_state, devices, run)
    return _results(configs, content, regions, outcome)


def stylize(
    config: StylizeConfig,
    content: np.ndarray,
    styles: np.ndarray | Sequence[np.ndarray],
    **kwargs: Any,
) -> Result:
    """Stylizes one image: ``sweep([config], ...)[0]``. See ``sweep`` for the arguments."""
    if isinstance(styles, np.ndarray | jax.Array) and np.ndim(styles) == 3:
        styles = [styles]
    if kwargs.get("on_snapshot") is not None:  # one setting: its image, not a list
        hook = kwargs["on_snapshot"]
        kwargs["on_snapshot"] = lambda step, images: hook(step, images[0])
    return sweep([config], content, list(styles), **kwargs)[0]


def _checked(
    configs: Sequence[StylizeConfig], content: np.ndarray, styles: Sequence[np.ndarray]
) -> tuple[list[StylizeConfig], np.ndarray]:
    """The configs (one program: ``check_sweep``; optimizer resolved) and the content."""
    configs = list(configs)
    if not configs:
        raise ValueError("sweep needs at least one config")
    check_sweep(configs)
    content = np.asarray(content, np.float32)
    if content.ndim != 3 or content.shape[-1] != 3:
        raise ValueError(
            f"content must be [H, W, 3], got shape {content.shape}{nchw_hint(content.shape)}"
        )
    if not styles:
        raise ValueError("at least one style image is needed")
    for i, style in enumerate(styles):
        if np.ndim(style) != 3 or np.shape(style)[-1] != 3:
            shape = np.shape(style)
            raise ValueError(f"styles[{i}] must be [h, w, 3], got shape {shape}{nchw_hint(shape)}")
    base = configs[0]
    optimizer = optimizers.resolve(
        base.optimizer, backend=jax.default_backend(), vectorized=len(configs) > 1
    )
    if optimizer in optimizers.HOST_DRIVEN:
        if len(configs) != 1:
            raise ValueError(f"{optimizer} runs one setting at a time; use lbfgs_optax to sweep")
        if base.ema_decay:
            raise ValueError(f"ema_decay needs a jitted optimizer, not {optimizer}")
    configs = [c if c.optimizer == optimizer else replace(c, optimizer=optimizer) for c in configs]
    return configs, content


def check_sweep(configs: Sequence[StylizeConfig]) -> None:
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
                f"configs in one sweep may differ only in {sorted(config_lib.SWEEPABLE)}; "
                f"they differ in {field.name!r}: {a!r} vs {b!r}"
            )


# ------------------------------------------------------------------------- jitted steps


def _optimize(
    configs: list[StylizeConfig],
    net: Any,
    params: Any,
    targets: Targets,
    images: jax.Array,
    init_opt_state: Any,
    devices: Sequence[jax.Device] | None,
    run: Run,
) -> Outcome:
    """The K settings' steps, as compiled programs of ``chunk`` steps, until done or stopped."""
    base = configs[0]
    n_settings = len(configs)
    # Settings are spread over the devices (every process's, after jax.distributed
    # initialization): K settings on D devices run K/D per device in one program; a K that
    # does not divide D is padded with copies of the last setting, never dropped.
    devices = jax.devices() if devices is None else list(devices)
    mesh = parallel.mesh(devices) if len(devices) > 1 and n_settings > 1 else None
    if mesh is not None:
        padding = -n_settings % len(devices)
        configs = configs + [configs[-1]] * padding
        images = jnp.concatenate([images, jnp.stack([images[-1]] * padding)]) if padding else images
    k = len(configs)
    hyper = hyper_host = _stack([make_hyper(c) for c in configs])
    state = _initial_state(base, images, [c.lr for c in configs], init_opt_state)
    state, history = resume(run.checkpoint, state, run.fingerprint, base.steps)
    log = Log(base, history, int(np.asarray(state.step)[0]), run.progress, run.on_snapshot)
    if mesh is not None:
        state, hyper = parallel.shard_leading((state, hyper), mesh)
        targets, params = parallel.replicate((targets, params), mesh)
    loop = default_loop() if base.loop == "auto" else base.loop
    form = default_sweep_form() if base.sweep_form == "auto" else base.sweep_form
    each = form == "each" and k > 1 and mesh is None and loop == "python"
    chunk = max(1, min(base.scan_chunk, base.steps)) if loop == "scan" else 1
    programs: dict[int, Callable] = {}  # by steps per call: the chunk and the remainder
    while log.done < base.steps and not log.converged:
        if parallel.any_process(run.should_stop()):  # hosts stop together, at the same step
            log.stopped = "interrupted"
            break
        n = min(chunk, base.steps - log.done)
        if n not in programs:
            args = (state, hyper, targets, params)
            programs[n], seconds = steps_program(run.cache, base, net, n, *args, each=each)
            log.compile_seconds += seconds
        start = time.perf_counter()
        state, terms = programs[n](state, hyper, targets, params)
        terms = parallel.to_host(terms)  # {term: [n, K]}
        log.record(terms, time.perf_counter() - start, hyper_host)
        log.snapshot(lambda state=state: _output_image(state, base.ema_decay))
        if log.stopped:
            break
    history = log.arrays()
    _checkpoint.close(run.checkpoint, state, history, run.fingerprint, log.stopped)
    evaluations = history.get("evaluations")
    return Outcome(
        images=_output_image(state, base.ema_decay),
        log=log,
        opt_states=[jax.tree.map(lambda a, i=i: a[i], state.opt_state) for i in range(k)],
        evaluations=[
            int(evaluations[:, i].sum()) if evaluations is not None else log.done for i in range(k)
        ],
    )


def _initial_state(
    config: StylizeConfig, images: jax.Array, lrs: Sequence[float], init_opt_state: Any
) -> State:
    """Steps 0 of K settings: their images, fresh (or given) optimizer states, the EMA."""
    k = len(images)
    lrs = jnp.asarray(lrs, jnp.float32)
    opt_state = jax.vmap(lambda x, lr: optimizers.create(config.optimizer, lr).init(x))(images, lrs)
    if init_opt_state is not None:
        opt_state = jax.tree.map(lambda a: jnp.stack([jnp.asarray(a)] * k), init_opt_state)
    average = jax.vmap(optax.ema(config.ema_decay).init)(images) if config.ema_decay else None
    return State(images, opt_state, jnp.zeros((k,), jnp.int32), average)


def _stack(trees: Sequence[Any]) -> Any:
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def _output_image(state: State, ema_decay: float) -> np.ndarray:
    """The images to show, on the host: the iterates, or their bias-corrected EMA."""
    if not ema_decay:
        return parallel.to_host(state.image)
    average = parallel.to_host(state.average)
    count = np.asarray(average.count, np.float64).reshape(-1, 1, 1, 1)
    correction = 1.0 - ema_decay ** np.maximum(count, 1)
    return (np.asarray(average.ema) / correction).astype(np.float32)


# ------------------------------------------------------------------------------ results


def _finished(
    image: np.ndarray, config: StylizeConfig, content: np.ndarray, regions: Regions | None
) -> np.ndarray:
    """An iterate as the user sees it: clipped to [0, 1], kept only inside the regions
    (spatial control), with its colours preserved."""
    image = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
    if regions is not None:
        keep = np.clip(sum(np.asarray(m, np.float32) for m, _ in regions), 0.0, 1.0)[..., None]
        image = keep * image + (1.0 - keep) * content
    if config.preserve_color == "luminance":
        image = nst_image.luminance_transfer(image, content)
    return image


def _results(
    configs: Sequence[StylizeConfig], content: np.ndarray, regions: Regions | None, outcome
) -> list[Result]:
    """One ``Result`` per config: its image clipped to [0, 1], kept only inside the regions
    (spatial control), with its colours preserved; its slice of the books."""
    log = outcome.log
    history = log.arrays()
    results = []
    for i, config in enumerate(configs):
        results.append(
            Result(
                image=_finished(outcome.images[i], config, content, regions),
                history={name: (v[:, i] if v.ndim == 2 else v) for name, v in history.items()},
                snapshots={step: images[i] for step, images in log.snapshots.items()},
                steps_done=log.done,
                stopped=log.stopped,
                converged=log.converged,
                compile_seconds=log.compile_seconds,
                evaluations=outcome.evaluations[i],
                opt_state=outcome.opt_states[i],
            )
        )
    return results
