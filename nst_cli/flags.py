"""Every flag of ``run.py``, defined once, and the one flags-to-config function.

Flags are grouped by what they serve (``GROUPS``, the sections of ``--help``: each flag
falls in the ``_section`` above its definition); their meaning does not change with the
mode. A flag named as a ``StylizeConfig`` field sets that field (but ``_NOT_AS_GIVEN``).
``config_from_flags(mode)`` is the only place flags become a ``StylizeConfig``: one image,
video frames, high resolution and the experiments' shared flags all go through it. Bundled
sample names (``--content=chelsea``, ``--style=brick``) are accepted wherever an image is
(``image_path``).

Every reader takes ``flag_values`` (absl's ``FLAGS`` by default; tests pass a stand-in with
``name in fv``, ``fv[name].value`` and ``fv[name].present``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

from absl import flags

from nst import image, style_stats
from nst.config import MODEL_INIT, StylizeConfig
from nst.image import sample_or_path as image_path  # --content=chelsea: a sample's file
from nst_cli.overrides import LAYER_WEIGHTS

FLAGS = flags.FLAGS
_DEFAULT = StylizeConfig()


_CONFIG_FIELDS = frozenset(f.name for f in dataclasses.fields(StylizeConfig))
_SECTIONS: list[tuple[str, int]] = []  # (title of a --help section, flags defined before it)


def _defined() -> list[str]:
    """The names of the flags this module defined so far, in order."""
    return [flag.name for flag in FLAGS.get_flags_for_module(__name__)]


def _section(title: str) -> None:
    """The flags defined after this call (up to the next one) form the ``--help`` section
    ``title``."""
    _SECTIONS.append((title, len(_defined())))


def _groups() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``(title, flag names)`` of every section, in order."""
    names = _defined()
    bounds = [start for _, start in _SECTIONS] + [len(names)]
    titles = [title for title, _ in _SECTIONS]
    return tuple((t, tuple(names[a:b])) for t, a, b in zip(titles, bounds, bounds[1:]))


_PATHS: list[str] = []  # flags naming files or folders, in definition order


def _path(holder: flags.FlagHolder) -> flags.FlagHolder:
    """Marks the flag of ``holder`` as a path (``expand_user_paths``)."""
    _PATHS.append(holder.name)
    return holder


def _field(name: str, help_text: str) -> flags.FlagHolder:
    """The flag of the StylizeConfig field ``name``: the field's type and default."""
    default = getattr(_DEFAULT, name)
    define = {int: flags.DEFINE_integer, float: flags.DEFINE_float, str: flags.DEFINE_string}
    return define[type(default)](name, default, help_text)


_section("Inputs and output")

CONTENT = _path(
    flags.DEFINE_string(
        "content",
        None,
        "Content photo: a file or a sample name (default tubingen). --model/--exported: also a "
        "folder or a comma-separated list.",
    )
)
STYLE = _path(
    flags.DEFINE_multi_string(
        "style",
        None,
        "Style image(s): a file or a sample name (default starry_night). Spatial control: "
        "IMAGE:CONTENT_MASK[:STYLE_MASK] puts this style only where the content mask (an image, "
        "white = 1) is; pixels outside every mask keep the content photo. The optional style mask "
        "picks the part of the style image its statistics come from.",
    )
)
OUTPUT = _path(
    flags.DEFINE_string(
        "output", "out.png", "Output image (.png/.jpg); --video: an .mp4 or a folder of PNGs."
    )
)
OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing output.")
PROGRESS = flags.DEFINE_bool("progress", True, "Show progress (a bar on a terminal).")

_section("Modes (default: stylize one image)")

VIDEO = _path(
    flags.DEFINE_string(
        "video", None, "Stylize a clip (MP4/MOV/AVI/WebM/GIF) or a folder of numbered frames."
    )
)
MODEL = _path(
    flags.DEFINE_string(
        "model",
        None,
        "Stylize with a trained feed-forward network: a shipped name (--list_models), a "
        "shipped .npz, a model dir or a training workdir.",
    )
)
EXPORTED = _path(
    flags.DEFINE_string(
        "exported", None, "Stylize --content with an exported program (.nstx) instead of --model."
    )
)
EXPERIMENT = flags.DEFINE_string(
    "experiment", None, "Run a registered experiment (--list_experiments; --config.FIELD=VALUE)."
)
LIST_EXPERIMENTS = flags.DEFINE_bool("list_experiments", False, "List the experiments.")
LIST_MODELS = flags.DEFINE_bool(
    "list_models", False, "List the shipped feed-forward networks (names for --model)."
)
LIST_LAYERS = flags.DEFINE_bool(
    "list_layers", False, "List --backbone's layer names (for --content_layers/--style_layers)."
)
VERSION = flags.DEFINE_bool("version", False, "Print the version of nst and exit.")
WORKDIR = _path(flags.DEFINE_string("workdir", None, "Experiment output dir (runs/NAME/<time>)."))
QUICK = flags.DEFINE_bool("quick", False, "Shrink an experiment to run in minutes on a CPU.")
TIER = flags.DEFINE_enum(
    "tier",
    None,
    ["quick", "middle", "full"],
    "Experiment settings: quick (= --quick), middle (a convincing figure on a 2-core CPU in "
    "minutes), full (the paper's; the default).",
)

_section("Optimization (one image, video frames, high resolution, experiments)")

SIZE = _field("size", "Longest side of the working image, px.")
STEPS = flags.DEFINE_integer(
    "steps", None, "Optimization steps (default: 100 for L-BFGS, 500 for first-order optimizers)."
)
OPTIMIZER = flags.DEFINE_string(
    "optimizer",
    None,
    "adam | adagrad | rmsprop | sgd | lbfgs (per backend: lbfgs_host on CPU, optax on GPU) "
    "| lbfgs_host | lbfgs_optax | lbfgs_scipy. Default: lbfgs for one image (reaches the "
    "loss of 500 Adam steps in a fraction of the time: benchmarks/time_to_image.py), adam for "
    "video and tiled high resolution.",
)
LR = _field("lr", "Learning rate (first-order optimizers).")
LBFGS_MEMORY = flags.DEFINE_integer(
    "lbfgs_memory", None, "Curvature pairs kept by lbfgs_host (default 50) / lbfgs_scipy (10)."
)
LBFGS_PRECONDITION = _field(
    "lbfgs_precondition",
    "lbfgs_host's spectral preconditioner exponent alpha: frequency f scaled by "
    "(1 + (f / lbfgs_cutoff)^2)^-alpha; 0: plain L-BFGS.",
)
LBFGS_CUTOFF = _field("lbfgs_cutoff", "The preconditioner's corner frequency, cycles/px.")
INIT = _path(
    _field(
        "init",
        "content | noise | uniform | style | an image (file or sample name) | model:NAME (the "
        "output of a feed-forward network, shipped name or path, for the content photo).",
    )
)
SEED = _field("seed", "Seed of the noise initialization.")
BALANCE = _field(
    "balance",
    "relative | total | none. relative (one image's default): each content and style layer "
    "term divided by its target's size, so the weights mean the same balance for any pair; "
    "total: the layers weighted as in the papers, each whole term divided by its target's "
    "size; none: the papers' units (experiments).",
)
CONTENT_WEIGHT = _field(
    "content_weight", "alpha: higher keeps more of the photo (its edges and layout)."
)
STYLE_WEIGHT = _field(
    "style_weight",
    "beta: higher paints more of the style over the photo. One image: default 5 with "
    "--balance=relative, 10 with total (0.5-50 is the useful range); 1e5 in the papers' "
    "units.",
)
STOP_TOL = _field(
    "stop_tol",
    "Stop once the loss fell by less than this fraction over the last --stop_window steps "
    "(one image: default 0.01; 0: run all --steps).",
)
STOP_WINDOW = _field("stop_window", "Steps the stopping rule looks back over.")
TV_WEIGHT = _field("tv_weight", "Total-variation weight.")
TV_KIND = _field("tv_kind", "l1 | l2 | beta.")
PHOTO_WEIGHT = _field("photo_weight", "Matting-Laplacian weight.")
STYLE_BLEND = flags.DEFINE_list("style_blend", [], "Blend weights, one per --style.")
STYLE_NORM = _field(
    "style_norm",
    "gatys | johnson | mean. Gatys: sums; Johnson: C H W-normalized Grams; mean: means.",
)
STYLE_STAT = _field(
    "style_stat",
    "Style statistic: "
    + " | ".join(f"{s.name} ({s.summary})" for s in style_stats.STYLE_STATS.values())
    + ".",
)
STYLE_MEAN_WEIGHT = _field(
    "style_mean_weight",
    "--style_stat=mean_gram: weight of the mean term vs the Gram term.",
)
STYLE_SCALE = flags.DEFINE_float(
    "style_scale",
    None,
    "Style image's longest side as a multiple of the working image's (jcjohnson's "
    "-style_scale; of each pyramid level's for large outputs). Default: the style at --size.",
)
DISTANCE = _field("distance", "squared | abs | huber | smooth_l1.")
DELTA = _field("delta", "Huber delta / SmoothL1 beta.")
PRESERVE_COLOR = _field("preserve_color", "none | luminance | histogram.")
EMA_DECAY = _field(
    "ema_decay",
    "Output the exponential moving average of the iterates with this decay (e.g. 0.99); "
    "0: the last iterate.",
)
SNAPSHOT_EVERY = _field("snapshot_every", "Save the image every N steps.")
LOOP = _field("loop", "auto | python | scan.")
SWEEP_FORM = _field(
    "sweep_form",
    "Sweeps: auto | vmap (one batched program) | each (setting by setting).",
)

_section("Backbone and layers")

BACKBONE = _field("backbone", "vgg16 | vgg19 | resnet18 | ...")
WEIGHTS = _path(_field("weights", "imagenet | random | PATH."))
WEIGHTS_SEED = _field("weights_seed", "Seed of --weights=random.")
POOLING = _field("pooling", "VGG pooling: max | avg.")
CACHE_DIR = _path(flags.DEFINE_string("cache_dir", None, "Weights cache (default ~/.cache/nst)."))
CONTENT_LAYERS = flags.DEFINE_list(
    "content_layers", None, "layer[:weight],... (default conv4_2; ResNets: their defaults)."
)
STYLE_LAYERS = flags.DEFINE_list(
    "style_layers", None, "layer[:weight],... (default conv1_1..conv5_1 at 0.2)."
)

_section("Video (--video)")

TEMPORAL_WEIGHT = flags.DEFINE_float(
    "temporal_weight",
    None,
    "Weight of the temporal loss (default: Ruder et al.'s balance against the content loss, "
    "nst.video.temporal.ruder_temporal_weight; 0 stylizes frames independently).",
)
FLOW = flags.DEFINE_enum(
    "flow",
    "dis",
    ["dis", "farneback", "none"],
    "Optical flow of the input frames: OpenCV DIS, Farneback, or none (temporal loss against "
    "the unwarped previous output, every frame started from --init).",
)
LONG_TERM = flags.DEFINE_list(
    "long_term", ["1"], "Earlier frames the temporal loss looks at, e.g. 1,2,4 (long-term)."
)
MAX_FRAMES = flags.DEFINE_integer("max_frames", 0, "Frames to stylize (0: to the end).")
START = flags.DEFINE_float("start", 0.0, "Seconds into the clip where stylization starts.")
FPS = flags.DEFINE_float(
    "fps", None, "Frame rate to take frames at (default: the clip's; a frame folder: 25)."
)
FIRST_FRAME_STEPS = flags.DEFINE_integer(
    "first_frame_steps", None, "Steps of the first frame (default: 2 * --steps)."
)

_section("High resolution (--size above 1024, or any of these)")

TILE_SIZE = flags.DEFINE_integer(
    "tile_size", None, "Tile side, px (default 512; 0: never tile, refuse what cannot fit)."
)
TILE_OVERLAP = flags.DEFINE_integer(
    "tile_overlap", None, "Overlap of neighbouring tiles, px: the feathered seam (default 64)."
)
TILE_BATCH = flags.DEFINE_integer(
    "tile_batch", None, "Tiles per backbone call (default 1; more is faster on a GPU)."
)
TILE_ABOVE = flags.DEFINE_integer(
    "tile_above", None, "Tile levels longer than this, px (default: those that do not fit)."
)
PYRAMID_RATIO = flags.DEFINE_float(
    "pyramid_ratio", None, "Side ratio of neighbouring pyramid levels, e.g. 2 or 1.414."
)
PYRAMID_START = flags.DEFINE_integer(
    "pyramid_start", None, "Longest side of the coarsest level, px (default 256; 0: one level)."
)
LEVEL_STEPS = flags.DEFINE_list(
    "level_steps", None, "Steps per pyramid level, coarse to fine (default: --steps, halving)."
)
REMAT = flags.DEFINE_bool("remat", None, "Rematerialize backbone blocks (jax.checkpoint).")
BF16 = flags.DEFINE_bool("bf16", None, "bfloat16 backbone activations.")
CARRY_OPTIMIZER_STATE = flags.DEFINE_bool(
    "carry_optimizer_state", None, "Carry Adam's moments (resized) from level to level."
)
MEMORY_GIB = flags.DEFINE_float(
    "memory_gib", None, "Memory budget, GiB (default: 0.9 x what is available now)."
)

_section("Feed-forward networks (--model, --exported)")

STYLE_MIX = flags.DEFINE_list(
    "style_mix",
    None,
    "Conditional model: weights per style, e.g. 0.5,0.5, or by name, e.g. "
    "starry_night:0.7,the_scream:0.3 (styles not named: 0). Default: style 0.",
)
MAX_SIZE = flags.DEFINE_integer(
    "max_size", None, "Longest side of the photos (default: their own size)."
)
BATCH_SIZE = flags.DEFINE_integer(
    "batch_size", None, "Images per network call (4); train_feedforward: the global batch (8)."
)
EXPORT = _path(
    flags.DEFINE_string(
        "export",
        None,
        "With --model: write the network as a self-contained jax.export program (any size; "
        "texture networks at --export_size).",
    )
)
EXPORT_SIZE = flags.DEFINE_list(
    "export_size", None, "H,W: export for one image size only (required for texture networks)."
)

_section("Several processes (hosts)")

COORDINATOR_ADDRESS = flags.DEFINE_string(
    "coordinator_address", None, "host:port of process 0; enables jax.distributed."
)
NUM_PROCESSES = flags.DEFINE_integer("num_processes", 1, "Processes in the job.")
PROCESS_ID = flags.DEFINE_integer("process_id", 0, "This process's index, 0..num_processes-1.")
DISTRIBUTED = flags.DEFINE_enum(
    "distributed",
    "off",
    ["off", "auto"],
    "auto: jax.distributed.initialize() detects the cluster (SLURM, Open MPI) itself.",
)
DISTRIBUTED_TIMEOUT = flags.DEFINE_float(
    "distributed_timeout", 300.0, "Seconds to wait for every process to arrive."
)

# The sections of --help, in order: (title, flag names), as defined above.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = _groups()

# Single images default to L-BFGS (Gatys et al.'s optimizer; benchmarks/time_to_image.py
# measures it against Adam). Video frames and tiled high resolution use Adam: L-BFGS would
# compile once per frame there, and its line search cannot be tiled.
MODE_OPTIMIZER = {"stylize": "lbfgs", "video": "adam", "highres": "adam"}
LBFGS_STEPS, FIRST_ORDER_STEPS = 100, 500
# One image by default: weights that mean the same balance for any pair, and a stopping
# rule (benchmarks/balance_panel.py and benchmarks/time_to_image.py chose them on the panel
# of benchmarks/panel.py; docs/benchmarks.md).
# --style_weight's default follows --balance: 5 relative (the largest tried that keeps every
# panel photo recognizable, the brick texture's included; 10 until 2026-12-07), 10 total,
# the library's 1e5 with none.
MODE_DEFAULTS = {"stylize": {"balance": "relative", "stop_tol": 0.01}}
RELATIVE_STYLE_WEIGHT = 5.0
TOTAL_STYLE_WEIGHT = 10.0

# Flags that are StylizeConfig fields of the same name, taken as given; but these: the layer
# tables and blend weights are parsed (stylize_overrides), the temporal weight is the video
# mode's (nst_cli.video).
_NOT_AS_GIVEN = frozenset({"content_layers", "style_layers", "style_blend", "temporal_weight"})
_FIELDS = tuple(
    name
    for _, names in GROUPS
    for name in names
    if name in _CONFIG_FIELDS and name not in _NOT_AS_GIVEN
)


class UsageError(ValueError):
    """A bad flag value or input: reported as one line, exit code 2 (``nst_cli.errors``)."""


# ------------------------------------------------------------------------------ reading


def present(name: str, flag_values: Any = FLAGS) -> bool:
    """True when ``--name`` was given on the command line."""
    return name in flag_values and bool(flag_values[name].present)


def value(name: str, default: Any = None, flag_values: Any = FLAGS) -> Any:
    """``--name``'s value (its default when not given), or ``default`` if it is not defined."""
    return flag_values[name].value if name in flag_values else default


def image_file(name: str, flag: str) -> str:
    """``image_path(name)``, refused in one line naming ``--flag`` and the samples when it
    is neither an existing file nor a sample name."""
    path = image_path(name)
    if not os.path.exists(path):
        samples = ", ".join(image.SAMPLES)
        raise UsageError(f"--{flag}={name}: no such file, nor a sample name ({samples})")
    return path


def layer_table(values: Sequence[str] | None, default_weight: float):
    """``["conv4_2", "conv5_1:0.5"]`` -> ``(("conv4_2", default_weight), ("conv5_1", 0.5))``;
    None stays None (the backbone's defaults)."""
    if values is None:
        return None
    table = []
    for item in values:
        name, _, weight = item.partition(":")
        try:
            table.append((name.strip(), float(weight) if weight else default_weight))
        except ValueError:
            raise UsageError(f"bad layer weight in {item!r}: expected layer:weight") from None
    return tuple(table)


def numbers(name: str, kind: type = float, flag_values: Any = FLAGS) -> tuple | None:
    """A list flag (``--style_blend=0.7,0.3``) as a tuple of ``kind``; None when unset."""
    raw = value(name, None, flag_values)
    if raw is None:
        return None
    try:
        return tuple(kind(v) for v in raw)
    except ValueError:
        what = "integers" if kind is int else "numbers"
        raise UsageError(f"--{name} must be {what}, got {','.join(map(str, raw))}") from None


def stylize_overrides(flag_values: Any = FLAGS) -> dict[str, Any]:
    """The StylizeConfig fields given on the command line, parsed: {field: value}.

    A new ``--backbone`` without layer flags resets the layers to that backbone's defaults."""
    fields = {name: flag_values[name].value for name in _FIELDS if present(name, flag_values)}
    for name, weight in LAYER_WEIGHTS.items():
        if present(name, flag_values):
            fields[name] = layer_table(flag_values[name].value, weight)
        elif "backbone" in fields:
            fields[name] = None
    if present("style_blend", flag_values):
        fields["style_blend"] = numbers("style_blend", float, flag_values)
    if "init" in fields:  # --init=chelsea: a sample as the starting image
        fields["init"] = image_path(fields["init"])
    return fields


# Flags that name files or folders (defined with ``_path``): a leading ~ is the user's home
# (a shell leaves it as is inside --flag=~/x).
PATH_FLAGS = tuple(_PATHS)


def expand_user_paths(flag_values: Any = FLAGS) -> None:
    """``~`` and ``~user`` expanded in every path flag given (``PATH_FLAGS``)."""
    for name in PATH_FLAGS:
        if not present(name, flag_values):
            continue
        v = flag_values[name].value
        if isinstance(v, str):
            flag_values[name].value = os.path.expanduser(v)
        elif isinstance(v, list):
            flag_values[name].value = [os.path.expanduser(x) for x in v]


def default_steps(optimizer: str) -> int:
    """Steps when --steps is not given: 100 L-BFGS iterations, else 500 steps."""
    return LBFGS_STEPS if optimizer.startswith("lbfgs") else FIRST_ORDER_STEPS


def config_from_flags(
    mode: str, base: StylizeConfig | None = None, *, flag_values: Any = FLAGS
) -> StylizeConfig:
    """THE flags -> ``StylizeConfig`` function of every mode.

    Args:
      mode: "stylize" (one image), "video", "highres" or "experiment".
      base: the config the flags given override (an experiment's ``config.stylize``);
        None: ``StylizeConfig()`` with the mode's optimizer and steps defaults (``stylize``:
        100 L-BFGS iterations; ``video`` / ``highres``: 500 Adam steps).
      flag_values: absl's FLAGS or a stand-in.

    Returns:
      The config (checked by its own constructor).

    Raises:
      UsageError: a bad value, naming the flag (one line).
    """
    if mode not in (*MODE_OPTIMIZER, "experiment"):
        raise ValueError(f"unknown mode {mode!r}")
    fields = stylize_overrides(flag_values)
    if base is None:
        base = _DEFAULT
        if mode != "experiment":
            fields.setdefault("optimizer", MODE_OPTIMIZER[mode])
            fields.setdefault("steps", default_steps(fields["optimizer"]))
            stat = style_stats.STYLE_STATS.get(fields.get("style_stat", _DEFAULT.style_stat))
            if stat is not None and not stat.relative:
                fields.setdefault("balance", "none")  # W2 / MRF: no Gram target to scale by
            for name, default in MODE_DEFAULTS.get(mode, {}).items():
                fields.setdefault(name, default)
            weight = {"relative": RELATIVE_STYLE_WEIGHT, "total": TOTAL_STYLE_WEIGHT}
            if fields.get("balance") in weight:
                fields.setdefault("style_weight", weight[fields["balance"]])
    try:  # StylizeConfig checks itself (nst.config.validate)
        config = dataclasses.replace(base, **fields)
    except (ValueError, TypeError) as e:
        raise UsageError(flag_message(str(e))) from None
    _check_shipped_init(config.init)
    return config


def _check_shipped_init(init: str) -> None:
    """``--init=model:NAME`` names a shipped network, before any work (the library looks the
    name up only when the run loads it)."""
    from nst.feedforward import zoo

    if not init.startswith(MODEL_INIT):
        return
    source = init[len(MODEL_INIT) :]
    if zoo.is_name(source):
        try:
            zoo.path(source)
        except ValueError as e:
            raise UsageError(f"--init={init!r}: {e}") from None


def flag_message(message: str) -> str:
    """A library message naming ``StylizeConfig.field`` names ``--field`` instead, when that
    field is a flag of the same name."""
    first = message.splitlines()[0] if message else "invalid value"
    return re.sub(
        r"StylizeConfig\.(\w+)",
        lambda m: f"--{m.group(1)}" if m.group(1) in FLAGS else m.group(0),
        first,
    )


def record(flag_values: Any = FLAGS) -> dict[str, Any]:
    """{name: value} of the project's flags given on the command line (for manifests)."""
    return {
        name: flag_values[name].value
        for name in sorted(flag_values)
        if present(name, flag_values) and _ours(name)
    }


# ------------------------------------------------------------------------------- parsing


def _ours(name: str) -> bool:
    """A flag of this project (not one of absl's or a library's)."""
    module = FLAGS.find_module_defining_flag(name, default="") if name in FLAGS else ""
    return module.split(".")[0] in ("nst_cli", "experiments", "run", "__main__")


HELP_ARGS = ("--help", "-h", "-help", "--helpfull", "--helpshort", "-?")


def split_overrides(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(argv without --config.* args, the --config.* args without the leading dashes)``."""
    rest, overrides = [], []
    for arg in argv:
        if arg.startswith("--config."):
            overrides.append(arg[2:])
        else:
            rest.append(arg)
    return rest, overrides


def parse(argv: Sequence[str]) -> list[str]:
    """Parses ``argv`` (program name first) into FLAGS; returns the non-flag arguments.

    ``--help`` prints the grouped help and exits 0. Raises UsageError for an unknown flag, a
    bad value, or a non-finite float."""
    if any(arg in HELP_ARGS for arg in argv[1:]):
        sys.stdout.write(help_text(argv[0] if argv else "run.py"))
        sys.exit(0)
    try:
        rest = FLAGS(list(argv))
    except flags.Error as e:
        raise UsageError(str(e).splitlines()[0]) from None
    for name in FLAGS:  # every float flag given, of every mode: finite or refused
        flag = FLAGS[name]
        if flag.present and isinstance(flag.value, float) and not math.isfinite(flag.value):
            raise UsageError(f"--{name} must be a finite number, got {flag.value}")
    return rest


def _describe(name: str) -> str:
    flag = FLAGS[name]
    default = flag.default
    shown = ""
    if default not in (None, [], ""):
        shown = f" (default: {','.join(default) if isinstance(default, list) else default})"
    head = f"  --[no]{name}" if flag.boolean else f"  --{name}=VALUE"
    text = re.sub(r";\s+repeat this option to specify a list of values", " (repeatable)", flag.help)
    body = textwrap.fill(text + shown, width=96, initial_indent=" " * 8, subsequent_indent=" " * 8)
    return f"{head}\n{body}\n"


def help_text(program: str = "run.py") -> str:
    """``--help``: usage, the sample names, then every flag by group."""
    samples = ", ".join(image.SAMPLES)
    text = [
        f"usage: {program} [--content=PHOTO] [--style=PAINTING] [--output=out.png] [flags]\n"
        f"       {program} --video=CLIP [--model=MODEL] ...\n"
        f"       {program} --model=NAME|MODEL --content=PHOTO ...   (--list_models)\n"
        f"       {program} --experiment=NAME [--quick] [--config.FIELD=VALUE ...]\n\n"
        f"Bundled sample images, usable as names wherever an image goes: {samples}.\n"
    ]
    listed: set[str] = set()
    for title, names in GROUPS:
        text.append(f"\n{title}:\n")
        text.extend(_describe(name) for name in names)
        listed.update(names)
    others = [name for name in sorted(FLAGS) if name not in listed and _ours(name)]
    if others:
        text.append("\nExperiments' own flags:\n")
        text.extend(_describe(name) for name in others)
    return "".join(text)
