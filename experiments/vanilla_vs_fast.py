"""Optimization-based (Gatys) vs feed-forward stylization: seconds per image, and interpolation.

    python run.py --experiment=vanilla_vs_fast --model=runs/train_feedforward/MODEL
    python run.py --experiment=vanilla_vs_fast --quick --weights=random

Johnson et al. (2016, Table 1) timed Gatys et al.'s optimization at 100, 300 and 500
iterations against one pass of the transformation network, on one photo at several sizes.
This reruns that table on this machine: for each ``--table_sizes`` the photo (``--content``,
default tubingen) is resized to that longest side, ``nst.stylize`` runs ``--steps``
iterations (compilation timed apart), and the network stylizes the same photo
``--timing_repeats`` times after one compile (median). Rows with more iterations than were
run are the median measured seconds per iteration times the iterations, and say so
(``measured: false``); pass ``--steps=500`` to measure every row.

Without ``--model`` a two-style conditional network (Dumoulin et al. 2017) is trained first
(briefly: its timing does not depend on training, its pictures do). The style-interpolation
figure renders the photo with mixtures 0, 0.25, 0.5, 0.75, 1 of the first two styles of a
multi-style network.

Outputs under --workdir (default runs/vanilla_vs_fast/<time>): ``table.csv``,
``metrics.json``, ``comparison.png`` (photo, style, Gatys, feed-forward), ``interpolation.png``,
``manifest.json``; ``training/`` when a network was trained here.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Any

import numpy as np
from absl import flags, logging

from experiments import _common
from experiments import train_feedforward as _train_ff
from nst import image as nst_image
from nst import stylize
from nst.config import StylizeConfig
from nst.feedforward import config as ff_config
from nst.feedforward import data, infer, train

NAME = "vanilla_vs_fast"

_TABLE_SIZES = flags.DEFINE_list(
    "table_sizes", None, "Longest sides of the timed photo, px (256,512; --quick 64)."
)
_GATYS_ITERATIONS = flags.DEFINE_list(
    "gatys_iterations", None, "Iteration counts of the Gatys rows (100,300,500)."
)
_TIMING_REPEATS = flags.DEFINE_integer(
    "timing_repeats", None, "Timed feed-forward passes per size (5); the median is reported."
)

MIXTURES = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclasses.dataclass(frozen=True)
class Config:
    """The comparison's settings (flags override them when given)."""

    sizes: tuple[int, ...] = (256, 512)  # longest side of the photo, px
    iterations: tuple[int, ...] = (100, 300, 500)  # Gatys rows of the table
    gatys_steps: int = 10  # iterations actually run per size (--steps); the rest extrapolated
    repeats: int = 5  # timed feed-forward passes per size
    content: str = "tubingen"
    styles: tuple[str, ...] = ("starry_night", "the_scream")
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
    gatys: StylizeConfig = dataclasses.field(default_factory=StylizeConfig)


def get_config(quick: bool = False) -> Config:
    config = Config()
    if quick:
        config = dataclasses.replace(
            config,
            sizes=(64,),
            gatys_steps=2,
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


def _present(flag_values: Any, name: str) -> bool:
    return name in flag_values and flag_values[name].present


def _ints(values: list[str], flag: str) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in values)
    except ValueError:
        raise ValueError(f"--{flag} must be integers, got {','.join(values)}") from None
    if not out or min(out) < 1:
        raise ValueError(f"--{flag} must be positive integers, got {','.join(values)}")
    return out


def apply_flags(config: Config, flag_values: Any) -> Config:
    """Flags given on the command line override the config."""
    changes: dict[str, Any] = {}
    if _TABLE_SIZES.value:
        changes["sizes"] = _ints(_TABLE_SIZES.value, "table_sizes")
    if _GATYS_ITERATIONS.value:
        changes["iterations"] = _ints(_GATYS_ITERATIONS.value, "gatys_iterations")
    if _TIMING_REPEATS.value is not None:
        changes["repeats"] = _TIMING_REPEATS.value
    if _present(flag_values, "steps"):
        changes["gatys_steps"] = flag_values["steps"].value
    if _present(flag_values, "content"):
        changes["content"] = flag_values["content"].value
    if _present(flag_values, "style"):
        changes["styles"] = tuple(flag_values["style"].value)
    gatys, training = {}, {}
    for name in ("backbone", "weights", "weights_seed", "cache_dir"):
        if _present(flag_values, name):
            gatys[name] = training[name] = flag_values[name].value
    for name in ("optimizer", "lr", "content_weight", "style_weight", "tv_weight", "seed"):
        if _present(flag_values, name):
            gatys[name] = flag_values[name].value
    for name in ("content_layers", "style_layers"):
        if _present(flag_values, name):
            default_weight = 1.0 if name == "content_layers" else 0.2
            layers = _common.parse_layers(flag_values[name].value, default_weight)
            gatys[name] = training[name] = layers
    changes["gatys"] = dataclasses.replace(config.gatys, **gatys)
    names = tuple(_common.image_name(s) for s in changes.get("styles", config.styles))
    net = dataclasses.replace(
        config.train.net, styles=names, norm="conditional" if len(names) > 1 else "instance"
    )
    changes["train"] = ff_config.replace(config.train, net=net, **training)
    return dataclasses.replace(config, **changes)


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


def run(
    config: Config,
    workdir: str,
    *,
    model: infer.Model,
    random_weights: bool,
    quick_note: str = "",
) -> dict[str, Any]:
    """Times both methods at every size and draws the figures; returns the metrics."""
    content_path = _common.resolve_image(config.content)
    style = nst_image.load(_common.resolve_image(config.styles[0]), max_size=None)
    rows: list[dict[str, Any]] = []
    pictures: dict[str, np.ndarray] = {}
    for size in config.sizes:
        photo = nst_image.load(content_path, max_size=size)
        gatys_config = dataclasses.replace(config.gatys, size=size, steps=config.gatys_steps)
        logging.info("Gatys: %d steps at %d px", config.gatys_steps, size)
        result = stylize.stylize(gatys_config, photo, [nst_image.resize(style, size)])
        gatys_rows = _gatys_rows(config, size, result)
        rows.extend(gatys_rows)
        out, timing = infer.time_forward(model, photo, style=0, repeats=config.repeats)
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
            }
        )
        if size == config.sizes[0]:
            pictures = {"photo": photo, "gatys": result.image, "fast": out}

    note = f", loss network {_common.weights_label([config.gatys])}"
    note += f" — {_common.RANDOM_NOTE}" if random_weights else ""
    note += f" ({quick_note})" if quick_note else ""
    nst_image.save_strip(
        os.path.join(workdir, "comparison.png"),
        [pictures["photo"], style, pictures["gatys"], pictures["fast"]],
        ["photo", "style", f"Gatys, {config.gatys_steps} its", "feed-forward"],
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
    claims = [speed_claim(rows, config.sizes[0])]
    _common.log_claims(NAME, claims)
    metrics = {
        "rows": rows,
        "interpolation": interpolation,
        "random_weights": random_weights,
        "claims": claims,
    }
    _common.write_json(os.path.join(workdir, "metrics.json"), _common.json_safe(metrics))
    table = [{k: v for k, v in r.items() if k != "speedup"} for r in rows]
    _common.write_csv(os.path.join(workdir, "table.csv"), table)
    return metrics


def main(flag_values: Any) -> dict[str, Any]:
    """``run.py --experiment=vanilla_vs_fast``."""
    _train_ff._quiet_orbax()
    quick = _common.quick_from_flags(flag_values, NAME)
    config = apply_flags(get_config(quick), flag_values)
    workdir = (flag_values["workdir"].value if "workdir" in flag_values else None) or (
        _common.default_workdir(NAME)
    )
    _common.claim_workdir(workdir)  # another's files, a full disk: refused before training
    os.makedirs(workdir, exist_ok=True)
    model_path = _common.flag_value(flag_values, "model", None)  # --model: nst_cli.flags
    weights = config.gatys.weights
    if model_path:
        model = infer.load(model_path)
        random_weights = _common.weights_record(config.gatys)["random"] or bool(
            model.info.get("random_weights")
        )
    else:
        train_dir = _train_ff._TRAIN_DIR.value or pathlib.Path(nst_image.sample("tubingen")).parent
        styles = [nst_image.load(_common.resolve_image(s), None) for s in config.styles]
        logging.info("training a %d-style network for %d steps", len(styles), config.train.steps)
        result = train.train(
            config.train,
            os.path.join(workdir, "training"),
            styles,
            dataset=data.ImageFolder(train_dir),
            info={"styles": list(config.train.net.styles), "weights": weights},
            log=lambda line: logging.info("train step %d  loss %.4g", line["step"], line["total"]),
        )
        model = infer.load(result.model_dir)
        random_weights = _common.weights_record(config.gatys)["random"]
    _train_ff._manifest(
        workdir,
        flag_values,
        {
            "experiment": NAME,
            "config": config,
            "model": str(model_path or os.path.join(workdir, "training", "model")),
            "weights": _common.weights_record(config.gatys),
            "random_weights": random_weights,
        },
    )
    return run(
        config,
        workdir,
        model=model,
        random_weights=random_weights,
        quick_note="--quick" if quick else "",
    )
