r"""Perceptual-loss training of the feed-forward networks (Johnson et al. 2016).

Read top to bottom: the loss network and the style Grams, computed once per style
(:func:`make_style_targets`) -> the loss (every formula a call into ``nst.losses``,
:func:`make_loss`) -> one jitted, buffer-donating train step (:func:`make_train_step`) ->
the loop (:func:`train`): sharded batches from the threaded loader, logs, previews,
checkpoints at intervals and on interruption, resume from the latest checkpoint, and the
exported model.

.. math::

    L(y, x, s) = \lambda_c \sum_l w_l \frac{\lVert \phi_l(y) - \phi_l(x) \rVert^2}{C_l H_l W_l}
      + \lambda_s \sum_l w_l \lVert G_l(y) - G_l(s) \rVert_F^2
      + \lambda_{tv} \frac{\mathrm{TV}_{\ell_2}(y)}{3 H W},
    \qquad G_l = \frac{\phi_l \phi_l^\top}{C_l H_l W_l},

averaged over the batch, with :math:`y = f_W(x, s)` the network's output for photo
:math:`x` and style :math:`s`. Conditional networks draw a style per image; its target
Gram is that style's (a mixture's target is the mixture of the targets).

No flags, prints or logging here: progress goes to the ``log`` callback.

References:
  Johnson, Alahi, Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
  Super-Resolution", ECCV 2016. Dumoulin, Shlens, Kudlur, "A Learned Representation for
  Artistic Style", ICLR 2017. Ulyanov et al., "Texture Networks", ICML 2016.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import pathlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from nst import _xla, backbones, losses, parallel
from nst import image as nst_image
from nst.feedforward import checkpoint, cin, data, nets
from nst.feedforward.config import TrainConfig

__all__ = [
    "TrainResult",
    "TrainState",
    "content_term",
    "create_loss_net",
    "init_state",
    "make_loss",
    "make_optimizer",
    "make_style_targets",
    "make_train_step",
    "style_batch",
    "style_term",
    "total_steps",
    "train",
]


class TrainState(NamedTuple):
    """Everything a step changes; checkpointed whole."""

    step: jax.Array  # int32 []
    params: Any
    batch_stats: Any
    opt_state: Any


@dataclasses.dataclass
class TrainResult:
    """Outcome of :func:`train`.

    history: one dict per log line (step, images_per_s, loss terms).
    model_dir: the exported model (None when interrupted: load the workdir instead).
    stopped: True when ``should_stop`` ended the run early (a checkpoint was saved).
    """

    steps_done: int
    history: list[dict[str, float]]
    model_dir: pathlib.Path | None
    stopped: bool
    compile_seconds: float
    skipped: dict[str, str]


# ------------------------------------------------------------------ loss network, targets


def create_loss_net(config: TrainConfig) -> tuple[backbones.Backbone, Any]:
    """The loss network truncated at the deepest layer used, and its params."""
    names = [n for n, _ in config.content_layers] + [n for n, _ in config.style_layers]
    layers = tuple(n for n in backbones.layer_names(config.backbone) if n in set(names))
    return backbones.create(
        config.backbone,
        layers,
        weights=config.weights,
        seed=config.weights_seed,
        cache_dir=config.cache_dir,
    )


def make_style_targets(
    config: TrainConfig, loss_net: backbones.Backbone, net_params: Any, styles: Sequence[Any]
) -> dict[str, jax.Array]:
    """Johnson-normalized target Grams of every style: ``{layer: [S, C, C]}``, once.

    Each style image is resized to ``config.style_size`` (longest side); the ``C H W``
    normalization makes the Grams comparable with those of the training crops. A ``None``
    style (one that is not trained) gets zero Grams.
    """
    features = jax.jit(loss_net)
    per_style = []
    for style in styles:
        if style is not None:
            style = nst_image.resize(style, config.style_size)
            feats = features(net_params, jnp.asarray(style)[None])
            per_style.append(losses.style_targets(feats, norm="johnson"))
        else:
            per_style.append(None)
    known = next(t for t in per_style if t is not None)
    per_style = [jax.tree.map(jnp.zeros_like, known) if t is None else t for t in per_style]
    return {n: jnp.concatenate([t[n] for t in per_style]) for n, _ in config.style_layers}


# ----------------------------------------------------------------------------- loss


def content_term(features: jax.Array, reference: jax.Array, relative: bool) -> jax.Array:
    """``[B]`` content losses (mean squared feature difference, Johnson et al.); with
    ``relative``, each divided by its value at zero features, the photo's mean ``P^2``."""
    term = losses.content_loss(features, reference, norm="mean")
    return term / jnp.mean(jnp.square(reference), axis=(1, 2, 3)) if relative else term


def style_term(
    features: Mapping[str, jax.Array],
    grams: Mapping[str, jax.Array],
    layers: Mapping[str, float],
    relative: bool,
) -> jax.Array:
    """``[B]`` weighted style losses against per-image target Grams ``[B, C, C]`` (Johnson
    normalization); with ``relative``, each layer's term divided by its value at ``G = 0``,
    the squared Frobenius norm of its target."""
    if not relative:
        return losses.style_loss(features, grams, layers, norm="johnson")
    return sum(
        w
        * losses.style_layer_loss(features[n], grams[n], norm="johnson")
        / jnp.sum(jnp.square(grams[n]), axis=(-2, -1))
        for n, w in layers.items()
    )


def make_loss(config: TrainConfig, loss_net: backbones.Backbone) -> Callable:
    """``loss(params, batch_stats, images, style_w, targets, net_params, key, style_scale=1)``.

    ``style_scale`` multiplies the style term (the warm-up of ``config.style_warmup``).
    Returns ``(mean total, (weighted terms, new batch_stats))``. ``style_w`` is ``[B, S]``
    mixture weights, ``targets`` ``{layer: [S, C, C]}``. Texture networks
    (``content_input=False``) have no content term. With ``config.balance="relative"`` each
    content and style layer term is divided by its value at zero features (per image: the
    photo's feature energy, the squared norm of its target Gram), as ``nst.stylize`` does.
    """
    content_layers = dict(config.content_layers)
    style_layers = dict(config.style_layers)
    use_content = config.net.arch == "johnson" or config.net.content_input
    content_net = dataclasses.replace(loss_net, layers=tuple(content_layers))
    weights = {"content": config.content_weight, "style": config.style_weight}
    weights["tv"] = config.tv_weight
    if not use_content:
        del weights["content"]
    relative = config.balance == "relative"

    def loss(params, batch_stats, images, style_w, targets, net_params, key, style_scale=1.0):
        variables = {"params": params, "batch_stats": batch_stats}
        out, new_stats = nets.apply(config.net, variables, images, style_w, train=True, key=key)
        feats = loss_net(net_params, out)
        terms = {}
        if use_content:
            reference = content_net(net_params, images)
            terms["content"] = sum(
                w * content_term(feats[n], reference[n], relative)
                for n, w in content_layers.items()
            )
        grams = {n: jnp.einsum("bs,scd->bcd", style_w, targets[n]) for n in style_layers}
        terms["style"] = style_scale * style_term(feats, grams, style_layers, relative)
        height, width = out.shape[1:3]
        terms["tv"] = losses.total_variation(out, kind="l2") / (3 * height * width)
        total, parts = losses.weighted_total(terms, weights)
        parts = {name: jnp.mean(v) for name, v in parts.items()}
        return jnp.mean(total), (parts, new_stats)

    return loss


# ----------------------------------------------------------------------------- step


def make_optimizer(config: TrainConfig, params: Any, only_style: int | None = None):
    """Adam; with ``only_style`` only that style's gamma/beta rows train."""
    tx = optax.adam(config.lr)
    return tx if only_style is None else cin.train_only_style(tx, params, only_style)


def init_state(tx: optax.GradientTransformation, variables: Mapping[str, Any]) -> TrainState:
    params = variables["params"]
    return TrainState(jnp.zeros((), jnp.int32), params, variables["batch_stats"], tx.init(params))


def make_train_step(
    config: TrainConfig, loss_net: backbones.Backbone, tx: optax.GradientTransformation
) -> Callable:
    """``step(state, images, style_w, targets, net_params) -> (state, terms)``, jitted.

    ``state`` is donated. The noise key of texture networks is ``fold_in(seed, step)``. With
    ``config.style_warmup = N > 0`` the style term is scaled by ``min(1, (step + 1) / N)``:
    the network first learns to keep the photo, then its style.
    Fed a batch sharded over a mesh and replicated everything else, the step runs data
    parallel (``nst.parallel``).
    """
    loss = make_loss(config, loss_net)
    grad_fn = jax.value_and_grad(loss, has_aux=True)

    def step(state: TrainState, images, style_w, targets, net_params):
        key = jax.random.fold_in(nets.noise_key(config.seed), state.step)
        ramp = 1.0
        if config.style_warmup > 0:  # the style weight grows linearly to its value
            ramp = jnp.minimum(1.0, (state.step + 1) / config.style_warmup)
        (total, (terms, stats)), grads = grad_fn(
            state.params, state.batch_stats, images, style_w, targets, net_params, key, ramp
        )
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return TrainState(state.step + 1, params, stats, opt_state), {"total": total, **terms}

    return jax.jit(step, donate_argnums=(0,))


def style_batch(
    config: TrainConfig, step: int, styles: Sequence[int], num_styles: int
) -> np.ndarray:
    """One-hot ``[B, S]`` style weights of step ``step``: a style drawn per image."""
    rng = np.random.default_rng((config.seed, step, 1))
    chosen = rng.choice(np.asarray(styles), size=config.batch_size)
    return np.eye(num_styles, dtype=np.float32)[chosen]


def total_steps(config: TrainConfig, num_images: int | None) -> int:
    """``config.steps`` if set, else ``ceil(epochs * images / batch)``."""
    if config.steps > 0:
        return config.steps
    if num_images is None:
        raise ValueError("texture training (no training photos) needs steps > 0")
    return max(1, math.ceil(config.epochs * num_images / config.batch_size))


# ----------------------------------------------------------------------------- loop


def train(
    config: TrainConfig,
    workdir: str | os.PathLike,
    styles: Sequence[Any],
    *,
    dataset: data.ImageFolder | None,
    init_variables: Mapping[str, Any] | None = None,
    only_style: int | None = None,
    preview: Any = None,
    info: Mapping[str, Any] | None = None,
    log: Callable[[dict[str, float]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    mesh: jax.sharding.Mesh | None = None,
) -> TrainResult:
    """Trains ``config.net`` on ``dataset`` for ``styles``; resumes from ``workdir``.

    Args:
      config: every knob; ``config.net.styles`` names ``styles`` in order.
      workdir: checkpoints go to ``workdir/checkpoints``, previews to
        ``workdir/previews/step_00500.png`` (step number, 5 digits), the final model to
        ``workdir/model``. A rerun with the same workdir continues from the latest checkpoint.
      styles: style images, ``[H, W, 3]`` in [0, 1], one per ``config.net.styles``; None
        for a style that is not trained (with ``only_style``).
      dataset: training photos; ``None`` for a texture network fed noise only.
      init_variables: start from these instead of a random init (e.g. after
        ``cin.add_style``).
      only_style: train only this style's gamma/beta rows, on this style alone.
      preview: a fixed photo stylized every ``config.preview_every`` steps.
      info: extra JSON-able facts saved with the model (style files, weights, ...).
      log: receives a dict per log line: step, total, content, style, tv, images_per_s,
        and ``compile_seconds`` on the first line.
      should_stop: polled after every step; True saves a checkpoint and returns.
      mesh: devices to split batches over (default ``nst.parallel.mesh()``: every device).

    Returns:
      A ``TrainResult``.

    Raises:
      ValueError: mismatched styles, a batch not divisible by the devices, a workdir
        holding another network, an empty or unreadable training folder.
    """
    net_config = config.net
    trained = list(range(net_config.num_styles)) if only_style is None else [only_style]
    if len(styles) != net_config.num_styles or any(styles[i] is None for i in trained):
        raise ValueError(
            f"need {net_config.num_styles} style images (styles {list(net_config.styles)}; "
            f"None only for styles not trained), got {len(styles)}"
        )
    if dataset is None and (net_config.arch == "johnson" or net_config.content_input):
        raise ValueError(f"arch={net_config.arch!r} with content input needs training photos")
    workdir = pathlib.Path(workdir).absolute()
    mesh = parallel.mesh() if mesh is None else mesh
    if config.batch_size % mesh.size:
        raise ValueError(f"batch_size {config.batch_size} is not divisible by {mesh.size} devices")
    log = log or (lambda _: None)
    should_stop = should_stop or (lambda: False)
    description = checkpoint.net_json(net_config, {**(info or {}), "config": _jsonable(config)})

    # Loss network and targets, once.
    loss_net, net_params = create_loss_net(config)
    targets = make_style_targets(config, loss_net, net_params, styles)
    # Every step takes image gradients through the loss network: flipped kernels, once.
    net_params = backbones.with_transposed_kernels(config.backbone, net_params)
    net_params, targets = parallel.replicate((net_params, targets), mesh)

    # Network, optimizer, state: fresh, given, or resumed.
    variables = init_variables or nets.init(net_config, config.seed)
    tx = make_optimizer(config, variables["params"], only_style)
    state = parallel.replicate(init_state(tx, variables), mesh)
    checkpoints = checkpoint.TrainCheckpoints(workdir / "checkpoints", keep=config.keep_checkpoints)
    try:
        latest = checkpoints.latest_step()
        if latest is not None:
            abstract = jax.tree.map(
                lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
                state._asdict(),
            )
            saved = checkpoints.description(latest)
            if saved.get("net") != description["net"]:
                raise ValueError(
                    f"{workdir} holds checkpoints of another network ({saved.get('net')}); "
                    "use another workdir"
                )
            restored, _ = checkpoints.restore(latest, abstract)
            state = TrainState(**restored)
        return _loop(
            config,
            workdir,
            state,
            tx,
            loss_net,
            net_params,
            targets,
            dataset=dataset,
            styles=trained,
            preview=preview,
            description=description,
            checkpoints=checkpoints,
            log=log,
            should_stop=should_stop,
            mesh=mesh,
        )
    finally:
        checkpoints.close()


def _loop(
    config: TrainConfig,
    workdir: pathlib.Path,
    state: TrainState,
    tx: optax.GradientTransformation,
    loss_net: backbones.Backbone,
    net_params: Any,
    targets: Mapping[str, jax.Array],
    *,
    dataset: data.ImageFolder | None,
    styles: Sequence[int],
    preview: Any,
    description: dict[str, Any],
    checkpoints: checkpoint.TrainCheckpoints,
    log: Callable[[dict[str, float]], None],
    should_stop: Callable[[], bool],
    mesh: jax.sharding.Mesh,
) -> TrainResult:
    net_config = config.net
    start = step = int(state.step)
    end = total_steps(config, None if dataset is None else len(dataset))
    # This process decodes only its rows of every global batch (all of them on one host).
    rows = parallel.local_rows(mesh, config.batch_size)
    if dataset is None:
        shape = (rows[1] - rows[0], config.crop_size, config.crop_size, 3)
        loader = itertools.repeat(np.zeros(shape, np.float32))
    else:
        loader = data.batches(
            dataset,
            batch_size=config.batch_size,
            crop_size=config.crop_size,
            seed=config.seed,
            start=start,
            stop=end,
            threads=config.loader_threads,
            prefetch=config.prefetch,
            rows=rows,
            max_scale=config.max_scale,
            flip=config.flip,
        )

    def batch_at(step: int):
        images = parallel.from_local_rows(next(loader), mesh, config.batch_size)
        style_w = style_batch(config, step, styles, net_config.num_styles)  # same everywhere
        return images, parallel.shard_leading(style_w, mesh)

    render = _previewer(net_config, preview, workdir / "previews")
    history: list[dict[str, float]] = []
    stopped = False
    compile_seconds = 0.0
    try:
        if start < end:
            images, style_w = batch_at(start)
            t0 = time.perf_counter()
            step_fn = make_train_step(config, loss_net, tx)
            lowered = step_fn.lower(state, images, style_w, targets, net_params)
            step_fn = lowered.compile(_xla.compiler_options())
            compile_seconds = time.perf_counter() - t0
        t_log, n_log = time.perf_counter(), 0
        while step < end and not stopped:
            state, terms = step_fn(state, images, style_w, targets, net_params)
            step += 1
            n_log += config.batch_size
            last = step == end
            stopped = not last and parallel.any_process(should_stop())
            if step % config.log_every == 0 or step == start + 1 or last or stopped:
                terms = {k: float(v) for k, v in jax.device_get(terms).items()}
                line = {"step": step, **terms}
                line["images_per_s"] = n_log / max(time.perf_counter() - t_log, 1e-9)
                if step == start + 1:
                    line["compile_seconds"] = compile_seconds
                history.append(line)
                log(line)
                t_log, n_log = time.perf_counter(), 0
                if not all(math.isfinite(v) for v in terms.values()):
                    raise FloatingPointError(f"non-finite loss at step {step}: {terms}")
            if step % config.checkpoint_every == 0 or last or stopped:
                checkpoints.save(step, _saveable(state._asdict()), description)
            if render and config.preview_every and (step % config.preview_every == 0 or last):
                render(step, {"params": state.params, "batch_stats": state.batch_stats})
            if not (last or stopped):
                images, style_w = batch_at(step)
    finally:
        if hasattr(loader, "close"):
            loader.close()
    checkpoints.wait()
    model_dir = None
    if not stopped:
        model_dir = checkpoint.save_model(
            workdir / "model",
            net_config,
            {"params": state.params, "batch_stats": state.batch_stats},
            info={**description["info"], "steps": step},
            overwrite=True,
        )
    skipped = dataset.skipped if dataset is not None else {}
    return TrainResult(step - start, history, model_dir, stopped, compile_seconds, skipped)


def _saveable(tree: Any) -> Any:
    """What the async checkpoint writer may keep while the next step donates ``tree``.

    Host copies on one process; across processes, device copies of the global arrays (orbax
    coordinates the hosts and writes each array once).
    """
    if jax.process_count() == 1:
        return jax.device_get(tree)
    return jax.tree.map(jnp.copy, tree)


def _previewer(net_config, preview, folder: pathlib.Path):
    """A function saving the preview strip of a step, or None without a preview photo."""
    if preview is None:
        return None
    photo = jnp.asarray(nst_image.to_float(preview))[None]
    shown = list(range(min(net_config.num_styles, 4)))
    eye = jnp.eye(net_config.num_styles)[jnp.asarray(shown)]

    @jax.jit
    def run(variables):  # the eval-mode network on the fixed photo, one row per style
        batch = jnp.broadcast_to(photo, (len(shown), *photo.shape[1:]))
        return nets.apply(net_config, variables, batch, eye)[0]

    def render(step: int, variables) -> None:
        out = np.asarray(run(variables))  # every process runs the program; process 0 writes
        if jax.process_index() != 0:
            return
        labels = [net_config.styles[i] for i in shown]
        folder.mkdir(parents=True, exist_ok=True)
        nst_image.save_strip(
            folder / f"step_{step:05d}.png",
            [np.asarray(preview), *out],
            ["photo", *labels],
            title=f"step {step}",
            overwrite=True,
        )

    return render


def _jsonable(config: TrainConfig) -> dict[str, Any]:
    values = dataclasses.asdict(config)
    values.pop("net")
    return values
