"""Train a feed-forward style network (Johnson / conditional IN / Ulyanov) on a folder of photos.

    python run.py --experiment=train_feedforward --config.train_dir=coco/train2014 \\
        --style=painting.jpg
    python run.py --experiment=train_feedforward --config.train_dir=coco/train2014 \\
        --style=starry_night --style=the_scream          # one conditional network, 2 styles
    python run.py --experiment=train_feedforward --config.train.net.arch=ulyanov \\
        --config.texture=true --style=brick --steps=2000
    python run.py --experiment=train_feedforward --config.add_style=runs/.../model \\
        --style=new.jpg ...
    python run.py --experiment=train_feedforward --quick --weights=random   # minutes on a CPU

    python run.py --model=runs/train_feedforward/starry_night --content=photo.jpg --output=out.png
    python run.py --model=MODEL --content=photos/ --output=stylized/ --style_mix=0.5,0.5

Defaults are the paper's (``nst.feedforward.config.TrainConfig``, ``Config.train``): VGG19
loss network, content conv4_2, style conv1_1..conv5_1 at 0.2, lambda_c 2, lambda_s 40,
lambda_tv 200, Adam 1e-3, batch 8, 256 px crops, 2 epochs; every field is
``--config.train.FIELD=VALUE`` (the network's: ``--config.train.net.FIELD``). Shared run.py
flags set the fields of their name when given (--weights, --backbone, --lr,
--content_weight, --style_weight, --tv_weight, --seed, --steps, --batch_size,
--content_layers, --style_layers, --cache_dir, --weights_seed); --content sets the preview
photo (``preview``; the flags named other than their field are mapped in
``nst_cli/experiment.py``, ``FLAG_FIELDS``).

The default workdir depends only on the styles and the network, so rerunning the same
command resumes from the latest checkpoint (also with more --steps); Ctrl-C saves one and
exits with code 130. Outputs: ``checkpoints/``, ``previews/step_00500.png`` (step number, 5
digits), ``metrics.jsonl`` (one line per log line), ``model/`` (the final network,
``--model`` loads it), and what every experiment writes (``experiments/runner.py``):
``manifest.json``, ``metrics.json`` / ``.csv`` (the final losses), ``figure.png`` (the
styles, the preview photo and the network's last preview), ``loss_vs_step.png``,
``loss_vs_time.png``.
"""

from __future__ import annotations

import dataclasses
import json
import logging as std_logging
import os
import pathlib
import time
from typing import Any

import jax
import numpy as np
from absl import logging

from experiments import _common
from nst import image as nst_image
from nst.feedforward import cin, data, infer, train
from nst.feedforward import config as ff_config

NAME = "train_feedforward"

# Bundled photos: the --quick training folder.
_SAMPLE_PHOTOS = pathlib.Path(nst_image.sample("tubingen")).parent


@dataclasses.dataclass(frozen=True)
class Config:
    """A training run: the network and its training, the styles, the photos."""

    # Every knob of the training and the network (``train.net``); ``train.net.styles`` and
    # the conditional norm for several styles are set from ``styles`` (``resolve``).
    train: ff_config.TrainConfig = dataclasses.field(default_factory=ff_config.get_config)
    # Style images: bundled sample names or paths; several: one conditional network.
    styles: tuple[str, ...] = ("starry_night",)
    # Folder of training photos (MS-COCO train2014); None: the bundled photos (--quick only).
    train_dir: str | None = None
    # The photo of the previews (a sample name or a path).
    preview: str = "tubingen"
    # A trained conditional (or one-style instance-norm) model: learn ``styles`` (one) as a
    # new style, training only its gamma/beta rows (Dumoulin et al. 2017, sec. 4).
    add_style: str | None = None
    # A trained network of the same architecture and styles to start from (all its weights
    # train): e.g. a conditional network whose styles were added one at a time, trained on
    # all of them together.
    init_from: str | None = None
    # ulyanov: texture synthesis from noise alone (no content input).
    texture: bool = False
    # The --quick preset (bundled photos without train_dir; a "_quick" default workdir).
    quick: bool = False


def get_config(quick: bool = False) -> Config:
    return Config(train=ff_config.get_config(quick), quick=quick)


def _quiet_orbax() -> None:
    """Orbax logs every checkpoint step at INFO through absl: keep its warnings only."""
    logger = std_logging.getLogger("absl")
    if not any(isinstance(f, _OrbaxFilter) for f in logger.filters):
        logger.addFilter(_OrbaxFilter())


class _OrbaxFilter(std_logging.Filter):
    def filter(self, record: std_logging.LogRecord) -> bool:
        return record.levelno >= std_logging.WARNING or "orbax" not in record.pathname


def resolve(config: Config, styles: tuple[str, ...] | None = None) -> ff_config.TrainConfig:
    """``config.train`` with the network's styles (``styles``, default ``config.styles``'
    names), conditional norm for several, and the texture settings; ValueError otherwise."""
    names = styles or tuple(_common.image_name(s) for s in config.styles)
    net = config.train.net
    if config.texture:
        if net.arch != "ulyanov":
            raise ValueError("--config.texture needs --config.train.net.arch=ulyanov")
        net = dataclasses.replace(net, content_input=False)
    if len(names) > 1:
        if net.norm not in ("instance", "conditional"):
            raise ValueError(f"{len(names)} styles need --config.train.net.norm=conditional")
        net = dataclasses.replace(net, norm="conditional")
    return ff_config.replace(config.train, net=dataclasses.replace(net, styles=names))


def validate(config: Config) -> None:
    """ValueError naming the bad field, before any work."""
    if not config.styles:
        raise ValueError("train_feedforward needs a style image (--style)")
    if config.add_style and config.init_from:
        raise ValueError("--config.add_style and --config.init_from exclude each other")
    if config.add_style and len(config.styles) != 1:
        raise ValueError("--config.add_style learns one new style: pass exactly one --style")
    resolve(config)


def default_workdir(config: Config) -> str:
    """``runs/train_feedforward/<styles>_<arch or texture>[_quick]``: the same command resumes."""
    net = resolve(config).net
    suffix = net.arch if net.content_input else "texture"
    name = "+".join(net.styles)
    return os.path.join("runs", NAME, f"{name}_{suffix}{'_quick' if config.quick else ''}")


def _weights_note(config: ff_config.TrainConfig) -> dict[str, Any]:
    record = _common.weights_record(config)
    return {
        "weights": record["source"],
        "weights_label": record["label"],
        "random_weights": record["random"],
    }


def run(config: Config, workdir: str, session: _common.Session | None = None) -> _common.Report:
    """Trains (or resumes) the network in ``workdir``, then writes the common outputs.

    ``Report.result`` is the ``nst.feedforward.train.TrainResult`` of this session.
    """
    session = session or _common.Session()
    _quiet_orbax()
    validate(config)
    style_names = [_common.image_name(s) for s in config.styles]
    styles = [nst_image.load(nst_image.sample_or_path(s), None) for s in config.styles]
    init_variables, only_style = None, None
    train_config = resolve(config)
    if config.add_style:
        base = infer.load(config.add_style)
        base_config, params = base.config, base.variables["params"]
        if base_config.norm == "instance":  # a one-style network: its conditional twin
            base_config, params = cin.from_instance(base_config, params)
        net_config, params = cin.add_style(base_config, params, style_names[0])
        init_variables = {"params": params, "batch_stats": base.variables["batch_stats"]}
        only_style = net_config.num_styles - 1
        styles = [None] * only_style + styles
        train_config = ff_config.replace(resolve(config, net_config.styles), net=net_config)
    if config.init_from:
        start = infer.load(config.init_from)
        if start.config != train_config.net:
            raise ValueError(
                f"--config.init_from={config.init_from} is another network ({start.config}); "
                f"this run trains {train_config.net}"
            )
        init_variables = {
            "params": start.variables["params"],
            "batch_stats": start.variables["batch_stats"],
        }
    dataset = None
    if train_config.net.arch == "johnson" or train_config.net.content_input:
        folder = config.train_dir or (_SAMPLE_PHOTOS if config.quick else None)
        if folder is None:
            raise ValueError("--config.train_dir is required: a folder of training photos")
        dataset = data.ImageFolder(folder)
    preview = nst_image.load(nst_image.sample_or_path(config.preview), max_size=256)
    steps = train.total_steps(train_config, None if dataset is None else len(dataset))
    used = dataclasses.replace(config, train=train_config)
    info = {"styles": style_names, **_weights_note(train_config)}
    # Across hosts every process trains; process 0 alone writes the manifest and metrics
    # (checkpoints and the model go through orbax, which coordinates the hosts).
    primary = jax.process_index() == 0
    metrics_path = os.path.join(workdir, "metrics.jsonl")
    state: dict[str, Any] = {}

    def work(todo: list[str], save: _common.runner.Save, session: _common.Session) -> bool:
        del todo, save
        logging.info(
            "training %s (%s norm, styles %s) for %d steps of %d images; workdir %s",
            train_config.net.arch, train_config.net.norm, ", ".join(train_config.net.styles),
            steps, train_config.batch_size, workdir,
        )  # fmt: skip
        if dataset is not None:
            logging.info("%d training images in %s", len(dataset), dataset.folder)
        start = time.perf_counter()

        def log(line: dict[str, float]) -> None:
            line = {**line, "time": time.perf_counter() - start}
            if primary:
                with open(metrics_path, "a") as f:
                    f.write(json.dumps(line) + "\n")
            if "compile_seconds" in line:
                logging.info("step %d compiled in %.1f s", line["step"], line["compile_seconds"])
            terms = "  ".join(
                f"{k} {line[k]:.4g}" for k in ("total", "content", "style", "tv") if k in line
            )
            logging.info(
                "step %d/%d  %s  %.1f images/s", line["step"], steps, terms, line["images_per_s"]
            )

        result = state["result"] = train.train(
            train_config,
            workdir,
            styles,
            dataset=dataset,
            init_variables=init_variables,
            only_style=only_style,
            preview=preview,
            info=info,
            log=log,
            should_stop=session.should_stop,
        )
        if result.skipped:
            logging.warning(
                "skipped %d unreadable files, e.g. %s",
                len(result.skipped),
                next(iter(result.skipped.values())),
            )
        if result.stopped:
            logging.warning("interrupted: checkpoint saved in %s", workdir)
            return True
        logging.info(
            "model saved to %s (.venv/bin/python run.py --model=%s --content=PHOTO)",
            result.model_dir,
            workdir,
        )
        return False

    def summary(outcomes: list[_common.Outcome]) -> _common.Summary:
        del outcomes
        history = _history(metrics_path)
        last = history[-1] if history else {}
        figure = [*(s for s in styles if s is not None), preview]
        titles = [*(f"style {n}" for n in style_names), "preview photo"]
        previews = sorted(pathlib.Path(workdir, "previews").glob("step_*.png"))
        if previews:
            figure.append(nst_image.load(previews[-1], max_size=None))
            titles.append(f"network, {previews[-1].stem.replace('_', ' ')}")
        curve = {k: np.asarray([h.get(k, np.nan) for h in history]) for k in ("step", "total")}
        if history and all("time" in h for h in history):
            curve["time"] = _session_times(history)
        row = {
            "label": "training",
            "steps": int(last.get("step", 0)),
            "wall_seconds": float(curve["time"][-1]) if "time" in curve else None,
            "images_per_second": last.get("images_per_s"),
            **{f"loss/{k}": last[k] for k in ("total", "content", "style", "tv") if k in last},
        }
        note = f", {session.note}" if session.note else ""
        title = f"{NAME}: {train_config.net.arch}, {_weights_note(train_config)['weights_label']}"
        if _weights_note(train_config)["random_weights"]:
            title += f" — {_common.RANDOM_NOTE}"
        return _common.Summary(
            title=title + note,
            layout={"images": [figure], "titles": [titles]},
            cell=256,
            metrics={"steps": steps, "styles": style_names},
            rows=[row],
            curves=[("training", curve)],
        )

    json_config = _common.json_safe(used)
    for key in ("steps", "epochs"):  # training to more steps continues the same run
        json_config["train"].pop(key)
    study = _common.Study(
        name=NAME,
        identity={"experiment": NAME, "training": json_config},
        config=used,
        labels=[],
        work=work,
        summary=summary,
        weights=_common.weights_info([(train_config, {})]),
        manifest={"steps": steps, **info},
        primary=primary,
    )
    report = _common.run(study, workdir, session)
    report.result = state.get("result")
    return report


def _history(path: str) -> list[dict[str, Any]]:
    """The log lines of ``metrics.jsonl`` (every session's), in order."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _session_times(history: list[dict[str, Any]]) -> np.ndarray:
    """Cumulative seconds over sessions: each session's clock restarts at its first line."""
    out, offset, previous = [], 0.0, 0.0
    for h in history:
        if h["time"] < previous:  # a new session
            offset += previous
        previous = h["time"]
        out.append(offset + h["time"])
    return np.asarray(out, np.float64)
