#!/usr/bin/env python3
"""Train the feed-forward networks that ship with nst (``run.py --model=NAME``), resumable.

Every network is one ``run.py --experiment=train_feedforward`` command (printed before it
runs), trained on the photos of ``scripts/fetch_training_photos.py`` with the recipe below,
in ``runs/models/<name>``. A rerun continues each network from its latest checkpoint, and
one with larger ``--steps`` trains it further; Ctrl-C saves a checkpoint.

    .venv/bin/python scripts/fetch_training_photos.py        # once: data/train_photos/
    .venv/bin/python scripts/train_models.py                 # all of MODELS, in order
    .venv/bin/python scripts/train_models.py styles3_joint   # then all weights, all styles
    .venv/bin/python scripts/train_models.py starry_night --steps=3000

The recipe (``RECIPE``), chosen to fit a 2-core CPU (docs/fast.md): Johnson et al.'s
network at half width (16, 32, 64 channels; 5 residual blocks; instance norm, nearest
upsampling), 128 px crops of photos scaled so a crop shows 1/2 to all of the shorter side,
flipped at random, batch 4, Adam 1e-3; the loss is the single-image default's objective
(VGG19 conv4_2 content, conv1_1..conv5_1 style at 0.2, ``balance="relative"``, content
weight 1, style weight 10, ramped up from 0 over the first 300 steps so that the network
first learns to keep the photo) plus a small TV term; the style image at 256 px (twice the
crop, as Johnson et al.'s 512 px styles for 256 px crops). The conditional network
``styles3`` is ``starry_night`` with The Scream and Woman with a Hat added one at a time,
each by training only its own gamma/beta rows (1,600 numbers per style at this width;
Dumoulin et al. 2017, sec. 4), 400 steps each, then every weight trained on the three
styles together for 2,200 steps (``styles3_joint``; 18,000 images in all, the budget of
the three separate networks ``starry_night``, ``the_scream``, ``woman_with_hat``).
``--ship`` then writes each network (its latest checkpoint) into
``nst/data/models/<name>.npz`` in half precision (``nst.feedforward.zoo.ship``) instead of
training.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pathlib
import shlex
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: Training flags shared by every shipped network.
RECIPE = (
    "--config.train.net.width=16",
    "--config.train.crop_size=128",
    "--config.train.batch_size=4",
    "--config.train.style_size=256",
    "--config.train.max_scale=2.0",
    "--config.train.flip=true",
    "--config.train.balance=relative",
    "--config.train.content_weight=1",
    "--config.train.style_weight=10",
    "--config.train.tv_weight=20",
    "--config.train.lr=1e-3",
    "--config.train.checkpoint_every=100",
    "--config.train.preview_every=250",
    "--config.train.log_every=25",
)

#: name -> (styles, steps, base). Without a base: a Johnson network (one style) or one
#: conditional network (several), trained whole. With a base (another entry, trained first):
#: the base network plus one new style whose gamma/beta rows alone are trained (Dumoulin et
#: al. 2017, sec. 4), the base's weights and styles kept.
MODELS = {
    "starry_night": (("starry_night",), 1500, None),
    "the_scream": (("the_scream",), 1500, None),
    "woman_with_hat": (("woman_with_hat",), 1500, None),
    "styles2": (("the_scream",), 400, "starry_night"),
    "styles3": (("woman_with_hat",), 400, "styles2"),
}
#: name -> (styles, steps, start): every weight trained on all the styles, from ``start``.
JOINT = {
    # 2,200 steps: with the 400 of each added style, the three styles' networks see
    # 18,000 images in all, as many as three separate networks of 1,500 steps.
    "styles3_joint": (("starry_night", "the_scream", "woman_with_hat"), 2200, "styles3"),
}
#: name -> (styles, steps, flags): networks trained for a comparison, not shipped.
#: ``brick_texture``: Ulyanov et al.'s (2016) texture network (noise in, no photo; their
#: width 8 per scale) on the brick at 128 px, scored by benchmarks/texture_net.py.
#: ``starry_night_batchnorm``: ``starry_night``'s recipe and seed with batch instead of
#: instance norm (Ulyanov et al. 2017), compared on the same steps of the same stream.
COMPARISONS = {
    "brick_texture": (
        ("brick",),
        600,
        (
            "--config.texture=true",
            "--config.train.net.arch=ulyanov",
            "--config.train.net.width=8",
            "--config.train.style_size=128",
        ),
    ),
    "starry_night_batchnorm": (
        ("starry_night",),
        600,
        ("--config.train.net.norm=batch", "--config.train.style_warmup=300"),
    ),
}
#: What ships (``--ship``), name -> the workdir it comes from; the others are steps on the way.
SHIPPED = {
    "starry_night": "starry_night",
    "the_scream": "the_scream",
    "woman_with_hat": "woman_with_hat",
    "styles3": "styles3_joint",
}


def command(name: str, steps: int | None = None, photos: str = "data/train_photos") -> list[str]:
    if name in JOINT:
        styles, default_steps, start = JOINT[name]
        extra = [f"--config.init_from=runs/models/{start}"]
    elif name in COMPARISONS:
        styles, default_steps, flags = COMPARISONS[name]
        extra = list(flags)
    else:
        styles, default_steps, base = MODELS[name]
        # A network trained whole first learns to keep the photo; an added style starts there.
        extra = (
            [f"--config.add_style=runs/models/{base}"]
            if base
            else ["--config.train.style_warmup=300"]
        )
    return [
        sys.executable,
        "run.py",
        "--experiment=train_feedforward",
        *(f"--style={s}" for s in styles),
        f"--config.train_dir={photos}",
        f"--workdir=runs/models/{name}",
        f"--steps={steps or default_steps}",
        *RECIPE,
        *extra,  # after the recipe: a comparison's flags win
    ]


def training_record(name: str) -> dict:
    """What a shipped network says of its training: the commands (its base's first), steps,
    images seen, the losses of its last 100 steps' log lines, and compute seconds."""
    chain, entry = [], name
    while entry:
        chain.insert(0, entry)
        entry = JOINT[entry][2] if entry in JOINT else MODELS.get(entry, (0, 0, None))[2]
    record = {"training": []}
    for entry in chain:
        lines = [
            json.loads(line)
            for line in (ROOT / "runs" / "models" / entry / "metrics.jsonl")
            .read_text()
            .splitlines()
            if line.strip()
        ]
        last = [h for h in lines if h["step"] > lines[-1]["step"] - 100]
        cmd = command(entry)
        record["training"].append(
            {
                "network": entry,
                "command": shlex.join([".venv/bin/python", *cmd[1:]]),
                "steps": lines[-1]["step"],
                "images_seen": lines[-1]["step"] * 4,
                "final_losses_mean_of_last_100_steps": {
                    k: sum(h[k] for h in last) / len(last)
                    for k in ("total", "content", "style", "tv")
                },
                "wall_seconds_shared_cpu": sum(
                    h["time"] - p["time"]
                    for p, h in itertools.pairwise(lines)
                    if h["time"] > p["time"]
                ),
            }
        )
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"networks to train (default all: {list(MODELS)})")
    parser.add_argument("--steps", type=int, default=None, help="train to this step instead")
    parser.add_argument("--photos", default="data/train_photos", help="training photo folder")
    parser.add_argument("--ship", action="store_true", help="ship the trained networks instead")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(MODELS) - set(JOINT) - set(COMPARISONS))
    if unknown:
        parser.error(f"unknown network(s) {unknown}; known: {list(MODELS)}")
    if args.ship:
        sys.path.insert(0, str(ROOT))
        from nst.feedforward import zoo

        for name in args.names or SHIPPED:
            source = SHIPPED.get(name, name)
            workdir = ROOT / "runs" / "models" / source
            if workdir.is_dir():
                path = zoo.ship(workdir, name, overwrite=True, info=training_record(source))
                print(f"{name}: {path} ({path.stat().st_size:,} bytes)")
        return 0
    if not pathlib.Path(ROOT, args.photos).is_dir():
        parser.error(f"no training photos in {args.photos}: run scripts/fetch_training_photos.py")
    for name in args.names or MODELS:
        cmd = command(name, args.steps, args.photos)
        print("+", shlex.join([os.path.relpath(cmd[0]), *cmd[1:]]), flush=True)
        code = subprocess.call(cmd, cwd=ROOT)
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
