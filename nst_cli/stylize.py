"""The default mode: one image by Gatys et al. optimization (``nst.stylize.stylize``).

    run.py --content=photo.jpg --style=painting.jpg --output=out.png
    run.py --content=chelsea --style=starry.jpg:sky.png --style=brick:ground.png

Outputs larger than ``highres.HIGHRES_ABOVE`` (or any tiling flag) go to ``highres``
instead (run.py picks the mode).
Snapshots (``--snapshot_every``) are written as the run goes. Ctrl-C saves
``OUTPUT.ckpt.npz`` and the image so far as ``OUTPUT_interrupted.EXT``; the same command
continues from the checkpoint. The run ends after ``--steps`` or earlier by the stopping
rule (``--stop_tol``); the last line gives the loss and each term's share of it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from nst_cli import flags, outputs, progress
from nst_cli.flags import FLAGS, UsageError
from nst_cli.inputs import content_path, load_regions, style_specs
from nst_cli.signals import StopFlag


def snapshot_paths(output: str, config) -> dict[int, str]:
    """{step: OUTPUT_stepNNNNN.EXT} of every snapshot this run can write. When it continues
    an interrupted run (``OUTPUT.ckpt.npz``), the snapshots of the steps that run did are
    its own: kept as they are, neither refused as existing files nor written again."""
    from nst import stylize

    if not config.snapshot_every:
        return {}
    root, ext = os.path.splitext(output)
    done = stylize.steps_saved(output + ".ckpt.npz")
    first = (done // config.snapshot_every + 1) * config.snapshot_every
    steps = range(first, config.steps + 1, config.snapshot_every)
    return {step: f"{root}_step{step:05d}{ext}" for step in steps}


def record_path(output: str) -> str:
    """Where the run's settings are recorded: OUTPUT.json (e.g. out.png.json)."""
    return output + ".json"


def write_record(output: str, config, result, flag_values: Any, overwrite: bool) -> None:
    """OUTPUT.json: the flags given, every config field used, the weights, how the run
    ended, its loss and terms: enough to rerun it and to know what the image is."""
    import dataclasses
    import json

    from nst import backbones, files

    history = result.history
    record = {
        "output": output,
        "flags": flags.record(flag_values),
        "config": dataclasses.asdict(config),
        "weights": backbones.describe_weights(config.backbone, config.weights),
        "steps_done": result.steps_done,
        "converged": result.converged,
        "final": {name: float(v[-1]) for name, v in history.items() if len(v)},
        "seconds": float(history["time"][-1]) if len(history.get("time", [])) else 0.0,
    }
    payload = json.dumps(record, indent=1, default=str).encode()
    files.write_atomic(record_path(output), payload, overwrite=overwrite)


def interrupted_path(output: str) -> str:
    """Where an interrupted run leaves the image so far: OUTPUT_interrupted.EXT."""
    root, ext = os.path.splitext(output)
    return f"{root}_interrupted{ext}"


def shares(config, history: dict) -> str:
    """``content 41% + style 57% + tv 2%``: each weighted term's share of the final total."""
    weights = {
        "content": config.content_weight,
        "style": config.style_weight,
        "tv": config.tv_weight,
        "photo": config.photo_weight,
    }
    parts = {
        name: w * float(history[name][-1])
        for name, w in weights.items()
        if name in history and len(history[name]) and w
    }
    total = sum(parts.values())
    if not total:
        return ""
    return " + ".join(f"{name} {100 * v / total:.0f}%" for name, v in parts.items())


def main(flag_values: Any = FLAGS) -> None:
    """Stylizes --content with --style into --output."""
    from nst import files, image, stylize

    config = flags.config_from_flags("stylize", flag_values=flag_values)
    output = flags.value("output", "out.png", flag_values)
    overwrite = bool(flags.value("overwrite", False, flag_values))
    snapshots = snapshot_paths(output, config)
    also = [*snapshots.values(), record_path(output)]
    outputs.check_image_output(output, overwrite=overwrite, also=also)
    content = image.load(content_path(flag_values), max_size=config.size)
    specs = style_specs(flag_values)
    # With --style_scale the library resizes the styles (stylize.scale_styles).
    style_size = None if config.style_scale is not None else config.size
    styles = [image.load(path, max_size=style_size) for path, _, _ in specs]
    regions = load_regions(specs, content.shape[:2], styles)
    # Room for the output, the snapshots and an interrupted run's state (image + optimizer
    # moments, float32), checked now rather than after the optimization.
    pixels = content.shape[0] * content.shape[1] * 3
    files.check_writable(
        os.path.dirname(os.path.abspath(output)),
        pixels * (1 + len(snapshots)) + 16 * pixels + (1 << 16),
    )
    checkpoint = output + ".ckpt.npz"
    bar = progress.Progress(
        config.steps,
        start=stylize.steps_saved(checkpoint),
        enabled=bool(flags.value("progress", True, flag_values)),
        title=f"{config.optimizer}, {config.steps} steps at {max(content.shape[:2])} px on "
        f"{config.backbone} ({config.weights} weights)",
    )
    import jax

    writer = jax.process_index() == 0  # every process computes the same image; one writes

    def write_snapshot(step: int, picture) -> None:
        if writer and step in snapshots:
            image.save(snapshots[step], picture, overwrite=True)  # checked before the run

    with StopFlag() as stop, bar:
        result = stylize.stylize(
            config,
            content,
            styles,
            checkpoint=checkpoint,
            should_stop=stop,
            progress=lambda step, loss, rate: bar.update(step, rate=rate, loss=loss),
            regions=regions,
            on_snapshot=write_snapshot,
        )
    if result.stopped == "interrupted":
        partial = interrupted_path(output)
        if writer:
            image.save(partial, result.image, overwrite=True)
        progress.warn(
            f"interrupted at step {result.steps_done}; the image so far is {partial}, "
            f"the state {checkpoint}"
        )
        progress.warn("run the same command again to continue")
        sys.exit(130)
    if not writer:
        return
    image.save(output, result.image, overwrite=overwrite)
    write_record(output, config, result, flag_values, overwrite)
    if result.stopped:
        raise UsageError(
            f"{progress.diverged(result.stopped)}; kept the last finite image in {output}"
        )
    seconds = float(result.history["time"][-1]) if len(result.history.get("time", [])) else 0.0
    ended = f" ({result.converged})" if result.converged else ""
    split = shares(config, result.history)
    progress.say(
        f"wrote {output}: {result.steps_done} steps{ended} in {seconds:.1f} s "
        f"(+{result.compile_seconds:.1f} s compile), final loss "
        f"{float(result.history['total'][-1]):.4g}" + (f" = {split}" if split else "")
    )
