"""Train a feed-forward style network (Johnson / conditional IN / Ulyanov) on a folder of photos.

    python run.py --experiment=train_feedforward --train_dir=coco/train2014 --style=painting.jpg
    python run.py --experiment=train_feedforward --train_dir=coco/train2014 \\
        --style=starry_night --style=the_scream          # one conditional network, 2 styles
    python run.py --experiment=train_feedforward --arch=ulyanov --texture --style=brick --steps=2000
    python run.py --experiment=train_feedforward --add_style=runs/.../model --style=new.jpg ...
    python run.py --experiment=train_feedforward --quick --weights=random   # minutes on a CPU

    python run.py --model=runs/train_feedforward/starry_night --content=photo.jpg  # nst_cli.infer

Defaults are the paper's (``nst.feedforward.config.TrainConfig``): VGG19 loss network,
content conv4_2, style conv1_1..conv5_1 at 0.2, lambda_c 2, lambda_s 40, lambda_tv 200, Adam
1e-3, batch 8, 256 px crops, 2 epochs. Shared run.py flags override them only when given
(--weights, --backbone, --lr, --content_weight, --style_weight, --tv_weight, --seed,
--steps, --content_layers, --style_layers, --cache_dir, --weights_seed).

The default workdir depends only on the styles and the network, so rerunning the same
command resumes from the latest checkpoint; Ctrl-C saves one and exits with code 130.
Outputs: ``checkpoints/``, ``previews/step_00500.png`` (step number, 5 digits),
``metrics.jsonl``, ``model/`` (the final network, ``--model`` loads it), ``manifest.json``.
"""

from __future__ import annotations

import dataclasses
import json
import logging as std_logging
import os
import pathlib
import sys
from typing import Any

import jax
from absl import flags, logging

from experiments import _common
from nst import image as nst_image
from nst.feedforward import cin, data, infer, train
from nst.feedforward import config as ff_config
from nst_cli import flags as cli_flags

NAME = "train_feedforward"

# Training (every default: nst.feedforward.config.get_config; shown values are the paper's).
_TRAIN_DIR = flags.DEFINE_string(
    "train_dir", None, "Folder of training photos (MS-COCO train2014); --quick: bundled photos."
)
_ARCH = flags.DEFINE_enum("arch", None, list(ff_config.ARCHS), "Network (default johnson).")
_NORM = flags.DEFINE_enum(
    "norm",
    None,
    list(ff_config.NORMS),
    "Normalization (default instance; conditional with several --style).",
)
_UPSAMPLE = flags.DEFINE_enum(
    "upsample", None, list(ff_config.UPSAMPLES), "johnson upsampling (default nearest)."
)
_WIDTH = flags.DEFINE_integer("width", None, "Channels of the first layer (johnson 32).")
_NUM_RESIDUAL = flags.DEFINE_integer("num_residual", None, "johnson residual blocks (5).")
_SCALES = flags.DEFINE_integer("scales", None, "ulyanov noise scales K (5).")
_TEXTURE = flags.DEFINE_bool("texture", False, "ulyanov: texture synthesis from noise alone.")
_BATCH_SIZE = cli_flags.BATCH_SIZE  # shared with inference: nst_cli.flags
_EPOCHS = flags.DEFINE_float("epochs", None, "Passes over --train_dir (2); --steps overrides.")
_CROP_SIZE = flags.DEFINE_integer("crop_size", None, "Random crop side, px (256).")
_STYLE_SIZE = flags.DEFINE_integer("style_size", None, "Style image longest side, px (512).")
_CHECKPOINT_EVERY = flags.DEFINE_integer("checkpoint_every", None, "Steps per checkpoint (1000).")
_PREVIEW_EVERY = flags.DEFINE_integer("preview_every", None, "Steps per preview (500; 0 never).")
_LOG_EVERY = flags.DEFINE_integer("log_every", None, "Steps per log line (50).")
_PREVIEW = flags.DEFINE_string("preview", None, "Preview photo (default: --content or tubingen).")
_ADD_STYLE = flags.DEFINE_string(
    "add_style",
    None,
    "A trained conditional model: learn --style as a new style (gamma/beta only).",
)
_LOADER_THREADS = flags.DEFINE_integer("loader_threads", None, "Image decoding threads (2).")
# Shared run.py flags -> TrainConfig fields (applied only when given on the command line).
_SHARED = (
    "backbone",
    "weights",
    "weights_seed",
    "cache_dir",
    "seed",
    "lr",
    "content_weight",
    "style_weight",
    "tv_weight",
    "steps",
)
_OWN = {
    "batch_size": _BATCH_SIZE,
    "epochs": _EPOCHS,
    "crop_size": _CROP_SIZE,
    "style_size": _STYLE_SIZE,
    "checkpoint_every": _CHECKPOINT_EVERY,
    "preview_every": _PREVIEW_EVERY,
    "log_every": _LOG_EVERY,
    "loader_threads": _LOADER_THREADS,
}
_NET = {
    "arch": _ARCH,
    "norm": _NORM,
    "upsample": _UPSAMPLE,
    "width": _WIDTH,
    "num_residual": _NUM_RESIDUAL,
    "scales": _SCALES,
}
# Bundled photos: the --quick training folder.
_SAMPLE_PHOTOS = pathlib.Path(nst_image.sample("tubingen")).parent


def _quiet_orbax() -> None:
    """Orbax logs every checkpoint step at INFO through absl: keep its warnings only."""
    logger = std_logging.getLogger("absl")
    if not any(isinstance(f, _OrbaxFilter) for f in logger.filters):
        logger.addFilter(_OrbaxFilter())


class _OrbaxFilter(std_logging.Filter):
    def filter(self, record: std_logging.LogRecord) -> bool:
        return record.levelno >= std_logging.WARNING or "orbax" not in record.pathname


def _present(flag_values: Any, name: str) -> bool:
    return name in flag_values and flag_values[name].present


def _value(flag_values: Any, name: str, default: Any = None) -> Any:
    return flag_values[name].value if name in flag_values else default


def build_config(flag_values: Any, style_names: list[str]) -> ff_config.TrainConfig:
    """``get_config(--quick)`` with the flags given on the command line applied."""
    config = ff_config.get_config(_common.quick_from_flags(flag_values, NAME))
    if _present(flag_values, "size"):
        raise ValueError("--size does not apply to training: use --crop_size / --style_size")
    fields: dict[str, Any] = {}
    for name in _SHARED:
        if _present(flag_values, name):
            fields[name] = flag_values[name].value
    for name in ("content_layers", "style_layers"):
        if _present(flag_values, name):
            default_weight = 1.0 if name == "content_layers" else 0.2
            fields[name] = _common.parse_layers(flag_values[name].value, default_weight)
    for name, holder in _OWN.items():
        if holder.value is not None:
            fields[name] = holder.value
    net = {name: holder.value for name, holder in _NET.items() if holder.value is not None}
    if _TEXTURE.value:
        net["content_input"] = False
        net.setdefault("arch", "ulyanov")
        if net["arch"] != "ulyanov":
            raise ValueError("--texture needs --arch=ulyanov")
    if len(style_names) > 1:
        if net.get("norm", "conditional") != "conditional":
            raise ValueError(f"{len(style_names)} styles need --norm=conditional")
        net["norm"] = "conditional"
    net["styles"] = tuple(style_names)
    fields["net"] = dataclasses.replace(config.net, **net)
    return ff_config.replace(config, **fields)


def _default_workdir(config: ff_config.TrainConfig, quick: bool) -> str:
    name = "+".join(config.net.styles)
    suffix = config.net.arch if config.net.content_input else "texture"
    return os.path.join("runs", NAME, f"{name}_{suffix}{'_quick' if quick else ''}")


def _manifest(workdir: str, flag_values: Any, extra: dict[str, Any]) -> None:
    """manifest.json: flags, versions, device, git commit, and the run's own facts."""
    manifest = {
        "experiment": extra.pop("experiment", NAME),
        "created": _common.utc_now(),
        "flags": _common.flags_record(flag_values),
        "versions": _common.package_versions(),
        "device": _common.device_info(),
        "git": _common.git_info(),
        **extra,
    }
    _common.write_json(os.path.join(workdir, "manifest.json"), _common.json_safe(manifest))


def _weights_note(config: ff_config.TrainConfig) -> dict[str, Any]:
    record = _common.weights_record(config)
    return {
        "weights": record["source"],
        "weights_label": record["label"],
        "random_weights": record["random"],
    }


def _load_styles(flag_values: Any) -> tuple[list[str], list[Any]]:
    names = list(_value(flag_values, "style", None) or ["starry_night"])
    paths = [_common.resolve_image(n) for n in names]
    return [_common.image_name(n) for n in names], [nst_image.load(p, None) for p in paths]


def main(flag_values: Any) -> train.TrainResult:
    """``run.py --experiment=train_feedforward``: train (or resume), then export the model."""
    _quiet_orbax()
    quick = _common.quick_from_flags(flag_values, NAME)
    style_names, styles = _load_styles(flag_values)
    init_variables, only_style = None, None
    if _ADD_STYLE.value:
        if len(styles) != 1:
            raise ValueError("--add_style learns one new style: pass exactly one --style")
        base = infer.load(_ADD_STYLE.value)
        net_config, params = cin.add_style(base.config, base.variables["params"], style_names[0])
        init_variables = {"params": params, "batch_stats": base.variables["batch_stats"]}
        only_style = net_config.num_styles - 1
        styles = [None] * only_style + styles
        config = build_config(flag_values, list(net_config.styles))
        config = ff_config.replace(config, net=net_config)
    else:
        config = build_config(flag_values, style_names)

    dataset = None
    if config.net.arch == "johnson" or config.net.content_input:
        folder = _TRAIN_DIR.value or (_SAMPLE_PHOTOS if quick else None)
        if folder is None:
            raise ValueError("--train_dir is required: a folder of training photos (MS-COCO)")
        dataset = data.ImageFolder(folder)
    preview_path = _PREVIEW.value or _value(flag_values, "content") or "tubingen"
    preview = nst_image.load(_common.resolve_image(preview_path), max_size=256)

    workdir = _value(flag_values, "workdir") or _default_workdir(config, quick)
    _common.claim_workdir(workdir)  # another's files, a full disk: refused before training
    os.makedirs(workdir, exist_ok=True)
    steps = train.total_steps(config, None if dataset is None else len(dataset))
    logging.info(
        "training %s (%s norm, styles %s) for %d steps of %d images; workdir %s",
        config.net.arch,
        config.net.norm,
        ", ".join(config.net.styles),
        steps,
        config.batch_size,
        workdir,
    )
    if dataset is not None:
        logging.info("%d training images in %s", len(dataset), dataset.folder)
    info = {"styles": style_names, **_weights_note(config)}
    # Across hosts every process trains; process 0 alone writes the manifest and metrics
    # (checkpoints and the model go through orbax, which coordinates the hosts).
    primary = jax.process_index() == 0
    if primary:
        _manifest(workdir, flag_values, {"config": config, "steps": steps, **info})
    metrics_path = os.path.join(workdir, "metrics.jsonl")

    def log(line: dict[str, float]) -> None:
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

    stop = _common.StopFlag()
    try:
        result = train.train(
            config,
            workdir,
            styles,
            dataset=dataset,
            init_variables=init_variables,
            only_style=only_style,
            preview=preview,
            info=info,
            log=log,
            should_stop=stop,
        )
    finally:
        stop.restore()
    if result.skipped:
        logging.warning(
            "skipped %d unreadable files, e.g. %s",
            len(result.skipped),
            next(iter(result.skipped.values())),
        )
    if result.stopped:
        logging.warning("interrupted: checkpoint saved in %s; rerun the command to resume", workdir)
        sys.exit(130)
    logging.info(
        "model saved to %s (python run.py --model=%s --content=PHOTO)", result.model_dir, workdir
    )
    return result
