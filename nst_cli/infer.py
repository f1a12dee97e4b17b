"""Feed-forward networks: stylize photos with a trained model, export it, run an export.

    run.py --list_models                  the networks shipped in the package
    run.py --model=starry_night --content=photo.jpg --output=out.png
    run.py --model=styles3 --content=photo.jpg --style_mix=starry_night:0.7,the_scream:0.3
    run.py --model=styles3 --content=photo.jpg --style_mix=0.5,0.25,0.25
    run.py --model=runs/train_feedforward/starry_night --content=photos/ --output=stylized/
    run.py --model=MODEL --export=m.nstx [--export_size=H,W]
    run.py --exported=m.nstx --content=photo.jpg --output=out.png
    run.py --content=photo.jpg --style=starry_night --init=model:starry_night

``--model`` is a shipped network's name (a bare word, no path separator, that is no
existing path: ``nst/data/models/NAME.npz``, offline), a shipped ``.npz``, a model directory
or a training workdir; an unknown name ends with the shipped names (exit code 2).
``--style_mix`` sets a conditional network's style weights: numbers in the model's style
order, or ``STYLE:WEIGHT`` items (styles not named weigh 0); the weights are normalized to
sum 1. ``--init=model:NAME`` (the one-image optimization, ``nst_cli.stylize``) starts the
optimization at the network's output for the content photo instead of the photo.

``--content`` may be a file, a sample name, a folder or a comma-separated list; with several
photos ``--output`` is a folder and each result is named after its photo. Photos keep their
resolution unless ``--max_size``. Training: ``run.py --experiment=train_feedforward``;
shipping a trained network: ``nst.feedforward.zoo.ship(workdir, name)``.
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from nst_cli import errors, flags, outputs, progress
from nst_cli.flags import FLAGS, UsageError
from nst_cli.inputs import DEFAULT_CONTENT, load_model, style_mix


def inputs(content: str | None) -> list[pathlib.Path]:
    """--content: a file or sample name, a folder of photos, or a comma-separated list."""
    from nst.feedforward import data

    if content is None:
        return [pathlib.Path(flags.image_path(DEFAULT_CONTENT))]
    path = pathlib.Path(content)
    if path.is_dir():
        paths = sorted(p for p in path.iterdir() if p.suffix.lower() in data.IMAGE_EXTENSIONS)
        if not paths:
            raise UsageError(f"no image files in {content!r}")
        return paths
    return [pathlib.Path(flags.image_path(p.strip())) for p in content.split(",") if p.strip()]


def output_paths(paths: list[pathlib.Path], flag_values: Any) -> list[pathlib.Path]:
    """One output per photo: ``--output`` itself for one photo, else ``--output/NAME_stylized.png``;
    refused (before any work) when one exists without --overwrite or is not an image name."""
    output = pathlib.Path(flags.value("output", None, flag_values) or "out.png")
    if len(paths) == 1 and output.suffix:
        results = [output]
    elif output.suffix:
        raise UsageError(f"{len(paths)} photos: --output must be a folder, got {output}")
    else:
        results = [output / f"{p.stem}_stylized.png" for p in paths]
    overwrite = bool(flags.value("overwrite", False, flag_values))
    for out in results:
        outputs.check_image_output(str(out), overwrite=overwrite)
    return results


def _save(paths: list[pathlib.Path], images: list[Any], flag_values: Any) -> None:
    from nst import image

    overwrite = bool(flags.value("overwrite", False, flag_values))
    for out, img in zip(paths, images, strict=True):
        out.parent.mkdir(parents=True, exist_ok=True)
        image.save(out, img, overwrite=overwrite)


def main(flag_values: Any = FLAGS) -> list[pathlib.Path]:
    """``run.py --model=MODEL --content=PHOTO --output=out.png``: stylize photos."""
    from nst import image
    from nst.feedforward import infer

    model = load_model(flags.value("model", None, flag_values))
    max_size = flags.value("max_size", None, flag_values)
    weights = infer.style_vector(model, style_mix(flag_values, model.styles))
    if model.config.num_styles > 1:
        shown = ", ".join(f"{n} {w:.2f}" for n, w in zip(model.styles, weights, strict=True))
        progress.say(f"style mixture: {shown}")
    texture = not model.config.content_input and model.config.arch == "ulyanov"
    content = flags.value("content", None, flag_values)
    if texture and content is None:
        side = max_size or 256
        paths, photos = [pathlib.Path("texture.png")], [np.zeros((side, side, 3), np.float32)]
    else:
        paths = inputs(content)
        photos = None
    results = output_paths(paths, flag_values)
    if photos is None:
        photos = [image.load(p, max_size=max_size) for p in paths]
    batch = flags.value("batch_size", None, flag_values) or 4
    images, timing = infer.stylize_many(
        model,
        photos,
        style=weights,
        batch_size=batch,
        seed=int(flags.value("seed", 0, flag_values)),
    )
    _save(results, images, flag_values)
    where = results[0] if len(results) == 1 else results[0].parent
    progress.say(
        f"stylized {len(images)} photo(s): {timing.median:.4f} s per image (median), "
        f"compile {timing.compile:.2f} s; wrote {where}"
    )
    return results


def list_models() -> None:
    """``run.py --list_models``: one line per shipped network (name, kind, size, steps,
    styles)."""
    from nst.feedforward import zoo

    names = zoo.names()
    if not names:
        print(f"no models shipped (none in {zoo.MODELS})")
        return
    with errors.library_threads_quiet():
        described = [zoo.describe(name) for name in names]
    for d in described:
        steps = "?" if d["steps"] is None else f"{d['steps']}"
        print(
            f"{d['name']:20s} {d['kind']:12s} {d['bytes'] / 1e6:6.2f} MB  {steps:>7s} steps  "
            f"styles: {', '.join(d['styles'])}"
        )


def export_main(flag_values: Any = FLAGS) -> pathlib.Path:
    """``run.py --model=MODEL --export=model.nstx [--export_size=H,W]``."""
    from nst.feedforward import export

    path = pathlib.Path(flags.value("export", None, flag_values))
    overwrite = bool(flags.value("overwrite", False, flag_values))
    if path.exists() and not overwrite:
        raise UsageError(f"{path} exists; pass --overwrite to replace it")
    size = None
    raw = flags.value("export_size", None, flag_values)
    if raw:
        try:
            size = tuple(int(v) for v in raw)
        except ValueError:
            size = ()
        if len(size) != 2 or min(size) < 5:
            raise UsageError(f"--export_size must be H,W (each >= 5), got {','.join(raw)}")
    program = export.export_model(load_model(flags.value("model", None, flag_values)), size=size)
    export.save(path, program, overwrite=overwrite)
    progress.say(f"wrote {path} ({path.stat().st_size} bytes)")
    return path


def exported_main(flag_values: Any = FLAGS) -> list[pathlib.Path]:
    """``run.py --exported=model.nstx --content=PHOTO --output=out.png``: runs the program
    alone (``nst.feedforward.export``); --max_size and --style_mix as with --model."""
    from nst import image
    from nst.feedforward import export

    name = flags.value("exported", None, flag_values)
    program = export.load(name)
    style = style_mix(flag_values, program.styles)
    paths = inputs(flags.value("content", None, flag_values))
    results = output_paths(paths, flag_values)
    seed = int(flags.value("seed", 0, flag_values))
    max_size = flags.value("max_size", None, flag_values)
    images = [
        export.stylize(program, image.load(p, max_size=max_size), style=style, seed=seed)
        for p in paths
    ]
    _save(results, images, flag_values)
    where = str(results[0]) if len(results) == 1 else f"{results[0].parent}/ ({len(results)} files)"
    progress.say(f"stylized {len(paths)} photo(s) with {name}: wrote {where}")
    return results
