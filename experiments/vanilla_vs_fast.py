"""Optimization-based (Gatys) vs feed-forward stylization: seconds per image, and interpolation.

    python run.py --experiment=vanilla_vs_fast --model=runs/train_feedforward/MODEL
    python run.py --experiment=vanilla_vs_fast --quick --weights=random

Johnson et al. (2016, Table 1) timed Gatys et al.'s optimization at 100, 300 and 500
iterations against one pass of the transformation network, on one photo at several sizes.
This reruns that table on this machine: for each of ``--config.sizes`` the photo
(``--content``, default tubingen) is resized to that longest side, ``nst.stylize`` runs
``--steps`` iterations (``--config.gatys_steps``; compilation timed apart), and the
network stylizes the same photo ``--config.repeats`` times after one compile (median).
Rows with more iterations than were run are the median measured seconds per iteration
times the iterations, and say so (``measured: false``); pass ``--steps=500`` to measure
every row.

Without ``--model`` a two-style conditional network (Dumoulin et al. 2017) is trained first
(briefly: its timing does not depend on training, its pictures do). The style-interpolation
figure renders the photo with mixtures 0, 0.25, 0.5, 0.75, 1 of the first two styles of a
multi-style network.

Outputs under --workdir (default runs/vanilla_vs_fast/<time>): ``table.csv``,
``metrics.json``, ``comparison.png`` (photo, style, Gatys, feed-forward; also ``figure.png``),
``interpolation.png``, ``manifest.json``, ``loss_vs_step.png`` / ``loss_vs_time.png`` (the
Gatys runs); ``training/`` when a network was trained here.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Any

import jax
import numpy as np
from absl import logging

from experiments import _common
from experiments import train_feedforward as _train_ff
from experiments._common import Session
from nst import backbones, stylize
from nst import config as nst_config
from nst import image as nst_image
from nst.config import StylizeConfig
from nst.feedforward import config as ff_config
from nst.feedforward import data, infer, train

NAME = "vanilla_vs_fast"

MIXTURES = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclasses.dataclass(frozen=True)
class Config:
    """The comparison's settings (``--config.FIELD=VALUE``; shared flags set the fields of
    their name: --model, --content, --style, and the Gatys runs' --backbone, --weights, --lr,
    ..., whose loss network the trained network shares; --steps sets ``gatys_steps``, as
    mapped in ``nst_cli/experiment.py``, ``FLAG_FIELDS``)."""

    sizes: tuple[int, ...] = (256, 512)  # longest side of the photo, px
    iterations: tuple[int, ...] = (100, 300, 500, 1000)  # Gatys rows of the table
    # Iterations actually run per size (--steps), seed 000's 1000 Adam steps; rows beyond
    # them are extrapolated and marked ``measured: false``.
    gatys_steps: int = 1000
    repeats: int = 5  # timed feed-forward passes per size
    content: str = "tubingen"
    styles: tuple[str, ...] = ("starry_night", "the_scream")
    # A trained network (model dir or training workdir); None: train one here first.
    model: str | None = None
    # Its training photos when trained here; None: the bundled photos.
    train_dir: str | None = None
    gatys: StylizeConfig = dataclasses.field(default_factory=StylizeConfig)
    # The network trained when no --model is given: two styles, conditional instance norm.
    train: ff_config.TrainConfig = dataclasses.field(
        default_factory=lambda: ff_config.replace(
            ff_config.get_config(),
            net=ff_config.NetConfig(norm="conditional", styles=("starry_night", "the_scream")),
            batch_size=4,
            crop_size=128,
            style_size=256,
            steps=200,
            checkpoint_every=100,
            preview_every=100,
            log_every=20,
        )
    )


def get_config(quick: bool = False, tier: str | None = None) -> Config:
    """``full``: seed 000's table (1000 Adam steps, 256 and 512 px); ``middle``: the same at
    256 px only, with a single-style network trained here for 600 steps (CPU: ~10 min at
    128 px crops of the bundled photos, or pass --config.model); ``quick``: smoke test."""
    tier = _common.tier_of(quick, tier)
    config = Config()
    if tier == "middle":
        return dataclasses.replace(
            config,
            sizes=(256,),
            styles=("starry_night",),
            train=ff_config.replace(config.train, steps=600, checkpoint_every=50),
        )
    if tier == "quick":
        config = dataclasses.replace(
            config,
            sizes=(64,),
            gatys_steps=2,
            iterations=(1, 2),  # measured: the claim reads measured rows only
            repeats=2,
            train=ff_config.replace(
                config.train,
                net=dataclasses.replace(config.train.net, width=8, num_residual=1),
                batch_size=2,
                crop_size=32,
                style_size=64,
                steps=4,
                checkpoint_every=4,
                preview_every=0,
                log_every=2,
            ),
        )
    return config


# The loss network's fields the trained network takes from the Gatys runs.
_SHARED_LOSS = (
    "backbone",
    "weights",
    "weights_seed",
    "cache_dir",
    "content_layers",
    "style_layers",
)


def validate(config: Config) -> None:
    """ValueError naming the bad field, before any work."""
    for name in ("sizes", "iterations"):
        values = getattr(config, name)
        if not values or min(values) < 1:
            raise ValueError(f"--config.{name} must be positive integers, got {values}")
    if config.repeats < 1 or config.gatys_steps < 1:
        raise ValueError("--config.repeats and --steps (--config.gatys_steps) must be >= 1")
    if not config.styles:
        raise ValueError("vanilla_vs_fast needs a style image (--style)")
    if min(config.iterations) > config.gatys_steps:
        raise ValueError(
            f"--config.iterations {config.iterations} are all beyond the {config.gatys_steps} "
            "steps run (--steps): no row would be measured"
        )


def training(config: Config) -> ff_config.TrainConfig:
    """The network trained when no model is given: the styles' names, conditional norm for
    several, the Gatys runs' loss network and, for one content layer, their loss weights
    (``gatys_equivalent_weights``), so both methods minimize the same objective."""
    names = tuple(_common.image_name(s) for s in config.styles)
    net = dataclasses.replace(
        config.train.net, styles=names, norm="conditional" if len(names) > 1 else "instance"
    )
    shared = {
        k: getattr(config.gatys, k) for k in _SHARED_LOSS if getattr(config.gatys, k) is not None
    }
    if len(nst_config.content_layers(config.gatys)) == 1 and config.gatys.tv_weight == 0:
        shared.update(gatys_equivalent_weights(config.gatys, config.sizes[0]), tv_weight=0.0)
    return ff_config.replace(config.train, net=net, **shared)


def gatys_equivalent_weights(gatys: StylizeConfig, size: int) -> dict[str, float]:
    r"""Training weights under which Johnson's loss is the Gatys objective at ``size`` px.

    With one content layer of shape ``C x h x w`` (for a ``size`` x ``size`` image), Gatys'
    content term is :math:`\tfrac12 \sum (F - P)^2 = \tfrac12 C h w \, L_c^{johnson}` and each
    style layer's :math:`E_l = \sum (G - A)^2 / (4 N^2 M^2) = L_s^{johnson} / 4`, so
    :math:`\alpha L_c^{gatys} + \beta L_s^{gatys} = \tfrac12 \alpha C h w\,
    (L_c^{johnson} + \lambda_s L_s^{johnson})` with :math:`\lambda_s = \beta / (2 \alpha C h w)`
    (content weight 1). Same layer tables; no TV term.
    """
    ((layer, weight),) = nst_config.content_layers(gatys)
    net = stylize.network(gatys)
    params = jax.eval_shape(lambda: backbones.load_params(gatys.backbone, "random"))
    shape = jax.eval_shape(net, params, jax.ShapeDtypeStruct((1, size, size, 3), np.float32))
    c_h_w = float(np.prod(shape[layer].shape[1:]))
    alpha = gatys.content_weight * weight
    return {"content_weight": 1.0, "style_weight": gatys.style_weight / (2.0 * alpha * c_h_w)}


def _gatys_rows(config: Config, size: int, result: stylize.Result) -> list[dict[str, Any]]:
    times = np.asarray(result.history["time"], np.float64)  # cumulative, compile excluded
    per_step = float(np.median(np.diff(times, prepend=0.0)))
    rows = []
    for n in config.iterations:
        measured = n <= len(times)
        rows.append(
            {
                "method": f"Gatys et al. ({config.gatys.optimizer})",
                "iterations": n,
                "size": size,
                "seconds_per_image": float(times[n - 1]) if measured else per_step * n,
                "measured": measured,
                "compile_seconds": result.compile_seconds,
            }
        )
    return rows


def objective_terms(
    config: StylizeConfig,
    net_params: tuple[Any, Any],
    targets: stylize.Targets,
    images: list[np.ndarray],
) -> list[dict[str, float]]:
    """The Gatys objective's weighted content, style and total (``config``'s weights and
    layers, against ``targets``, the optimization's own) of each image: the same scale for
    the optimization's output and the network's."""
    net, params = net_params
    objective = jax.jit(stylize.make_objective(config, net))
    hyper = stylize.make_hyper(config)
    out = []
    for image in images:
        total, terms = objective(np.asarray(image, np.float32), params, targets, hyper)
        out.append(
            {
                "content": float(config.content_weight * terms["content"]),
                "style": float(config.style_weight * terms["style"]),
                "total": float(total),
            }
        )
    return out


def matching_iterations(history_total: Any, loss: float) -> int | None:
    """The first optimization iteration whose total loss is at or below ``loss`` (None when
    the optimization never gets there): how many iterations the network's pass is worth."""
    below = np.nonzero(np.asarray(history_total) <= loss)[0]
    return int(below[0]) + 1 if below.size else None


# Seed 000's table: 49.43 s per image for the optimization, 0.04 s for the network.
SEED_SPEEDUP = 49.43 / 0.04


def speed_claim(rows: list[dict[str, Any]], size: int) -> dict[str, Any]:
    """A feed-forward pass is >= 100x faster than the optimization, measured rows only.

    The optimization's time is its largest measured iteration count at ``size`` (never an
    extrapolated row); margin: log10(speedup / 100), orders of magnitude beyond 100x.
    """
    at = [r for r in rows if r["size"] == size]
    gatys = max(
        (r for r in at if r["method"].startswith("Gatys") and r["measured"]),
        key=lambda r: r["iterations"],
    )
    fast = next(r for r in at if r["method"].startswith("feed-forward"))
    speedup = gatys["seconds_per_image"] / fast["seconds_per_image"]
    return _common.claim(
        f"one feed-forward pass stylizes a photo orders of magnitude faster than the "
        f"optimization (seed 000: {SEED_SPEEDUP:.0f}x)",
        f"measured seconds per image at {size} px: optimization at {gatys['iterations']} "
        "iterations (measured, not extrapolated) / one feed-forward pass; held when >= 100x; "
        "margin = log10(speedup / 100)",
        {
            "optimization_seconds": gatys["seconds_per_image"],
            "optimization_iterations": gatys["iterations"],
            "feed_forward_seconds": fast["seconds_per_image"],
            "speedup": speedup,
        },
        speedup >= 100,
        float(np.log10(speedup / 100)),
        unit="orders of magnitude",
    )


def matched_claim(losses: dict[str, Any], size: int) -> dict[str, Any]:
    """At matched quality: the optimization's time to the network's loss (its first
    iterate at or below it) over one pass; held when >= 100x (the seed's order of
    magnitude); margin log10(speedup / 100). When no iterate reaches the network's loss,
    the whole run's time is a lower bound (``bound`` in the values)."""
    at = losses[str(size)]
    iterations = at["feed_forward_equals_gatys_iterations"]
    bound = iterations is None
    seconds = at["gatys_seconds"] if bound else at["feed_forward_equals_gatys_seconds"]
    speedup = seconds / at["feed_forward_seconds"]
    return _common.claim(
        "at matched quality, one feed-forward pass is orders of magnitude faster than the "
        "optimization",
        f"seconds the optimization takes to reach the network's loss (one objective) at {size} "
        "px over one pass (the whole run's, a lower bound, if it never does); held when "
        ">= 100x; margin = log10(speedup / 100)",
        {
            "optimization_iterations_to_the_network_loss": iterations,
            "optimization_seconds": seconds,
            "feed_forward_seconds": at["feed_forward_seconds"],
            "speedup": speedup,
            "bound": bound,
        },
        speedup >= 100,
        float(np.log10(speedup / 100)),
        unit="orders of magnitude",
    )


def run(config: Config, workdir: str, session: Session | None = None) -> _common.Report:
    """Times both methods at every size and draws the figures; ``Report.metrics`` holds
    metrics.json."""
    session = session or Session()
    _train_ff._quiet_orbax()
    validate(config)
    train_config = training(config)
    config = dataclasses.replace(config, train=train_config)

    def compute(session: Session) -> _common.Summary | None:
        if config.model:
            model = infer.load(config.model)
            random_weights = _common.weights_record(config.gatys)["random"] or bool(
                model.info.get("random_weights")
            )
        else:
            train_dir = config.train_dir or pathlib.Path(nst_image.sample("tubingen")).parent
            styles = [nst_image.load(nst_image.sample_or_path(s), None) for s in config.styles]
            logging.info(
                "training a %d-style network for %d steps", len(styles), train_config.steps
            )
            result = train.train(
                train_config,
                os.path.join(workdir, "training"),
                styles,
                dataset=data.ImageFolder(train_dir),
                info={"styles": list(train_config.net.styles), "weights": config.gatys.weights},
                log=lambda line: logging.info(
                    "train step %d  loss %.4g", line["step"], line["total"]
                ),
                should_stop=session.should_stop,
            )
            if result.stopped:
                return None
            model = infer.load(result.model_dir)
            random_weights = _common.weights_record(config.gatys)["random"]
        return _compare(config, workdir, model, random_weights, session.note)

    manifest = {
        "model": str(config.model or os.path.join(workdir, "training", "model")),
        "random_weights": _common.weights_record(config.gatys)["random"],
    }
    weights = _common.weights_info([(config.gatys, {})])
    return _common.runner.run_once(NAME, config, workdir, session, compute, weights, manifest)


def _compare(
    config: Config, workdir: str, model: infer.Model, random_weights: bool, quick_note: str
) -> _common.Summary:
    """The table, comparison.png, interpolation.png, table.csv: the study's ``Summary``."""
    content_path = nst_image.sample_or_path(config.content)
    style = nst_image.load(nst_image.sample_or_path(config.styles[0]), max_size=None)
    rows: list[dict[str, Any]] = []
    pictures: dict[str, np.ndarray] = {}
    curves = []
    losses: dict[str, dict[str, Any]] = {}
    for size in config.sizes:
        photo = nst_image.load(content_path, max_size=size)
        gatys_config = dataclasses.replace(config.gatys, size=size, steps=config.gatys_steps)
        logging.info("Gatys: %d steps at %d px", config.gatys_steps, size)
        net_params = stylize.create_backbone(gatys_config)
        style_at = nst_image.resize(style, size)
        targets = stylize.make_targets(gatys_config, *net_params, photo, [style_at])
        result = stylize.stylize(
            gatys_config, photo, [style_at], net_params=net_params, targets=targets
        )
        gatys_rows = _gatys_rows(config, size, result)
        curves.append((f"Gatys et al., {size} px", result.history))
        out, timing = infer.time_forward(model, photo, style=0, repeats=config.repeats)
        scored = objective_terms(gatys_config, net_params, targets, [photo, result.image, out])
        times = np.asarray(result.history["time"], np.float64)  # cumulative, compile apart
        matched = matching_iterations(result.history["total"], scored[2]["total"])
        losses[str(size)] = {
            **dict(zip(("photo", "gatys", "feed_forward"), scored, strict=True)),
            "feed_forward_equals_gatys_iterations": matched,
            "feed_forward_equals_gatys_seconds": float(times[matched - 1]) if matched else None,
            "gatys_seconds": float(times[-1]),
            "feed_forward_seconds": timing.median,
        }
        for row in gatys_rows:
            n = row["iterations"]
            row["loss_total"] = float(result.history["total"][n - 1]) if row["measured"] else None
        rows.extend(gatys_rows)
        speedups = {r["iterations"]: r["seconds_per_image"] / timing.median for r in gatys_rows}
        logging.info(
            "%d px: feed-forward %.4f s/image (compile %.2f s); Gatys %s",
            size,
            timing.median,
            timing.compile,
            ", ".join(
                f"{n} its {r['seconds_per_image']:.1f} s"
                for n, r in zip(config.iterations, gatys_rows, strict=True)
            ),
        )
        rows.append(
            {
                "method": "feed-forward (" + model.config.arch + ")",
                "iterations": 1,
                "size": size,
                "seconds_per_image": timing.median,
                "measured": True,
                "compile_seconds": timing.compile,
                "speedup": {str(k): v for k, v in speedups.items()},
                "loss_total": scored[2]["total"],
            }
        )
        if size == config.sizes[0]:
            pictures = {"photo": photo, "gatys": result.image, "fast": out}

    g = config.gatys
    note = (
        f", network {model.info.get('name', config.model or 'trained here')} "
        f"({model.config.arch}, {model.info.get('steps', '?')} steps); the objective both "
        f"are scored on: balance {g.balance}, content weight {g.content_weight:g}, style "
        f"weight {g.style_weight:g}; optimization {g.optimizer} lr {g.lr:g}; loss network "
        f"{_common.weights_label([config.gatys])}"
    )
    note += f" — {_common.RANDOM_NOTE}" if random_weights else ""
    note += f" ({quick_note})" if quick_note else ""
    comparison = [pictures["photo"], style, pictures["gatys"], pictures["fast"]]
    first = losses[str(config.sizes[0])]
    matched = first["feed_forward_equals_gatys_iterations"]
    captions = [
        f"photo (loss {first['photo']['total']:.3g})",
        "style",
        f"Gatys, {config.gatys_steps} its (loss {first['gatys']['total']:.3g})",
        f"feed-forward (loss {first['feed_forward']['total']:.3g}"
        + (f", = Gatys at {matched} its)" if matched else ", above every Gatys iterate)"),
    ]
    nst_image.save_strip(
        os.path.join(workdir, "comparison.png"),
        comparison,
        captions,
        title=f"{config.sizes[0]} px{note}",
        overwrite=True,
    )
    interpolation = None
    if model.config.num_styles >= 2:
        photo = pictures["photo"]
        a, b = model.styles[:2]
        mixes = [
            np.eye(model.config.num_styles)[0] * (1 - t) + np.eye(model.config.num_styles)[1] * t
            for t in MIXTURES
        ]
        images = [infer.stylize(model, photo, style=m) for m in mixes]
        labels = [f"{b} weight {t:.2f}" for t in MIXTURES]
        interpolation = os.path.join(workdir, "interpolation.png")
        nst_image.save_strip(
            interpolation,
            images,
            labels,
            title=f"style interpolation {a} -> {b}{note}",
            cell_size=max(192, max(photo.shape[:2])),
            overwrite=True,
        )
    else:
        logging.warning("single-style model: no interpolation figure")
    table = [{k: v for k, v in r.items() if k != "speedup"} for r in rows]
    _common.write_csv(os.path.join(workdir, "table.csv"), table)
    return _common.Summary(
        title=f"{NAME}: {config.sizes[0]} px{note}",
        layout={"images": [comparison], "titles": [captions]},
        cell=max(192, min(max(pictures["photo"].shape[:2]), 256)),
        claims=[speed_claim(rows, config.sizes[0]), matched_claim(losses, config.sizes[0])],
        metrics={
            "rows": rows,
            "losses": losses,
            "interpolation": interpolation,
            "random_weights": random_weights,
        },
        rows=[],
        curves=curves,
    )
