"""nst command line: one stylization, or an experiment by name.

  python run.py --content=photo.jpg --style=painting.jpg --output=out.png
  python run.py --experiment=optimizer_sweep --quick --weights=random
  python run.py --list_experiments

Intentionally thin: parse flags, build a config, call the library. Every bad input ends
with one line on stderr and exit code 2.
"""

from __future__ import annotations

import logging as _pylogging
import math
import os
import signal
import sys
import time

from absl import app, flags, logging

import experiments.highres_cli
import experiments.video_cli  # noqa: F401  (defines the video mode's flags)
from nst import host_memory

# Before JAX starts any thread: glibc then reuses freed memory instead of handing XLA:CPU
# fresh pages every step (8% of a VGG19 step at 256 px; see nst/host_memory.py).
host_memory.keep_freed_memory()

# JAX reports at INFO level which plugin backends (TPU, ...) it could not open; under absl
# that lands on stderr at every start. Keep its warnings, drop that noise.
_pylogging.getLogger("jax._src.xla_bridge").setLevel(_pylogging.WARNING)

# Flags whose names are fixed (scripts and docs rely on them).
_CONTENT = flags.DEFINE_string("content", None, "Content photo (default: bundled tubingen).")
_STYLE = flags.DEFINE_multi_string(
    "style",
    None,
    "Style image(s) (default: starry_night). Spatial control: IMAGE:CONTENT_MASK[:STYLE_MASK] "
    "puts this style only where the content mask (an image, white = 1) is; pixels outside "
    "every mask keep the content photo. The optional style mask picks the part of the style "
    "image its statistics come from.",
)
_OUTPUT = flags.DEFINE_string("output", "out.png", "Output image (.png or .jpg).")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing output.")
_SIZE = flags.DEFINE_integer("size", 512, "Longest side of the working image, px.")
_STEPS = flags.DEFINE_integer(
    "steps", None, "Optimization steps (default: 120 for L-BFGS, 500 for first-order optimizers)."
)
_OPTIMIZER = flags.DEFINE_string(
    "optimizer",
    None,
    "adam | adagrad | rmsprop | sgd | lbfgs (per backend: SciPy on CPU, optax on GPU) "
    "| lbfgs_optax | lbfgs_scipy. Default: lbfgs for one image (reaches the loss of 500 Adam "
    "steps in ~0.28x the time: benchmarks/time_to_image.py), adam for video and tiled "
    "high resolution. --optimizer=adam gives the former default (500 Adam steps).",
)
_LR = flags.DEFINE_float("lr", 1e-2, "Learning rate (first-order optimizers).")
_BACKBONE = flags.DEFINE_string("backbone", "vgg19", "vgg16 | vgg19 | resnet18 | ...")
_WEIGHTS = flags.DEFINE_string("weights", "imagenet", "imagenet | random | PATH.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the noise initialization.")
_INIT = flags.DEFINE_string("init", "content", "content | noise | uniform | style | PATH.")
_CONTENT_WEIGHT = flags.DEFINE_float("content_weight", 1.0, "alpha.")
_STYLE_WEIGHT = flags.DEFINE_float("style_weight", 1e5, "beta.")
_TV_WEIGHT = flags.DEFINE_float("tv_weight", 0.0, "Total-variation weight.")
_EXPERIMENT = flags.DEFINE_string("experiment", None, "Run a registered experiment.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Experiment output dir (runs/NAME/<time>).")
_QUICK = flags.DEFINE_bool("quick", False, "Shrink an experiment to run in minutes on a CPU.")
_TIER = flags.DEFINE_enum(
    "tier",
    None,
    ["quick", "middle", "full"],
    "Experiment settings: quick (= --quick), middle (a convincing figure on a 2-core CPU in "
    "minutes), full (the paper's; the default).",
)
# Further knobs of nst.config.StylizeConfig.
_LIST = flags.DEFINE_bool("list_experiments", False, "List the registered experiments.")
_STYLE_BLEND = flags.DEFINE_list("style_blend", [], "Blend weights, one per --style.")
_POOLING = flags.DEFINE_string("pooling", "max", "VGG pooling: max | avg.")
_CONTENT_LAYERS = flags.DEFINE_list(
    "content_layers", None, "layer[:weight],... (default conv4_2; ResNets: their defaults)."
)
_STYLE_LAYERS = flags.DEFINE_list(
    "style_layers", None, "layer[:weight],... (default conv1_1..conv5_1 at 0.2)."
)
_STYLE_NORM = flags.DEFINE_string("style_norm", "gatys", "gatys | johnson.")
_STYLE_STAT = flags.DEFINE_string(
    "style_stat",
    "gram",
    "Style statistic: gram | mean_gram (Gram + feature means) | mean_cov_w2 (Wasserstein-2 "
    "between Gaussians) | mrf (Li & Wand 3x3 patch matching; use --style_layers=conv3_1,conv4_1).",
)
_STYLE_MEAN_WEIGHT = flags.DEFINE_float(
    "style_mean_weight", 1.0, "--style_stat=mean_gram: weight of the mean term vs the Gram term."
)
_EMA_DECAY = flags.DEFINE_float(
    "ema_decay",
    0.0,
    "Output the exponential moving average of the iterates with this decay (e.g. 0.99); "
    "0: the last iterate.",
)
_DISTANCE = flags.DEFINE_string("distance", "squared", "squared | abs | huber | smooth_l1.")
_DELTA = flags.DEFINE_float("delta", 1.0, "Huber delta / SmoothL1 beta.")
_TV_KIND = flags.DEFINE_string("tv_kind", "l1", "l1 | l2 | beta.")
_PHOTO_WEIGHT = flags.DEFINE_float("photo_weight", 0.0, "Matting-Laplacian weight.")
_PRESERVE = flags.DEFINE_string("preserve_color", "none", "none | luminance | histogram.")
_SNAPSHOT = flags.DEFINE_integer("snapshot_every", 0, "Save the image every N steps.")
_LOOP = flags.DEFINE_string("loop", "auto", "auto | python | scan.")
_SWEEP_FORM = flags.DEFINE_string(
    "sweep_form", "auto", "Sweeps: auto | vmap (one batched program) | each (setting by setting)."
)
_CACHE_DIR = flags.DEFINE_string("cache_dir", None, "Weights cache (default ~/.cache/nst).")
_WEIGHTS_SEED = flags.DEFINE_integer("weights_seed", 0, "Seed of --weights=random.")
_PROGRESS = flags.DEFINE_bool("progress", True, "Log progress every few seconds.")
# Several processes (hosts) running one job: started once per host with the same flags.
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "host:port of process 0; enables jax.distributed."
)
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", 1, "Processes in the job.")
_PROCESS_ID = flags.DEFINE_integer("process_id", 0, "This process's index, 0..num_processes-1.")
_DISTRIBUTED = flags.DEFINE_enum(
    "distributed",
    "off",
    ["off", "auto"],
    "auto: jax.distributed.initialize() detects the cluster (SLURM, Open MPI) itself.",
)
_DISTRIBUTED_TIMEOUT = flags.DEFINE_float(
    "distributed_timeout", 300.0, "Seconds to wait for every process to arrive."
)


class UsageError(Exception):
    """A bad flag value or input: reported as one line, exit code 2."""


def _fail(message: str) -> None:
    """The one line, then exit 2 at once: no library thread (orbax's readers, an asyncio
    loop) or exit handler gets to print a traceback after it."""
    sys.stdout.flush()
    sys.stderr.write(f"run.py: error: {message}\n")
    sys.stderr.flush()
    os._exit(2)


def _layer_table(values: list[str] | None, default_weight: float):
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


# Single images default to L-BFGS (Gatys et al.'s optimizer): 120 iterations reach the final
# loss of 500 Adam steps (4.6e12 at 512 px, bundled pair, real VGG19: 113 iterations;
# benchmarks/time_to_image.py). Video frames and tiled high resolution keep Adam (L-BFGS
# compiles per frame there / cannot be tiled).
IMAGE_OPTIMIZER, OTHER_OPTIMIZER = "lbfgs", "adam"
LBFGS_STEPS, FIRST_ORDER_STEPS = 120, 500


def default_steps(optimizer: str) -> int:
    return LBFGS_STEPS if optimizer.startswith("lbfgs") else FIRST_ORDER_STEPS


def build_config(mode: str = "image"):
    """The StylizeConfig of the flags; ``mode`` ("image" or "other") picks the defaults of
    --optimizer and --steps when they are not given."""
    from nst.config import StylizeConfig

    try:
        blend = tuple(float(v) for v in _STYLE_BLEND.value)
    except ValueError:
        raise UsageError(f"--style_blend must be numbers, got {_STYLE_BLEND.value}") from None
    backbone = _BACKBONE.value
    default_layers = StylizeConfig()
    is_vgg = backbone.startswith("vgg")
    content_layers = _layer_table(_CONTENT_LAYERS.value, 1.0)
    style_layers = _layer_table(_STYLE_LAYERS.value, 0.2)
    if content_layers is None:
        content_layers = default_layers.content_layers if is_vgg else None
    if style_layers is None:
        style_layers = default_layers.style_layers if is_vgg else None
    optimizer = _OPTIMIZER.value or (IMAGE_OPTIMIZER if mode == "image" else OTHER_OPTIMIZER)
    return StylizeConfig(
        backbone=backbone,
        weights=_WEIGHTS.value,
        weights_seed=_WEIGHTS_SEED.value,
        pooling=_POOLING.value,
        cache_dir=_CACHE_DIR.value,
        content_layers=content_layers,
        style_layers=style_layers,
        content_weight=_CONTENT_WEIGHT.value,
        style_weight=_STYLE_WEIGHT.value,
        tv_weight=_TV_WEIGHT.value,
        tv_kind=_TV_KIND.value,
        photo_weight=_PHOTO_WEIGHT.value,
        style_norm=_STYLE_NORM.value,
        style_stat=_STYLE_STAT.value,
        style_mean_weight=_STYLE_MEAN_WEIGHT.value,
        style_scale=flags.FLAGS["style_scale"].value,  # defined in experiments/highres_cli.py
        ema_decay=_EMA_DECAY.value,
        distance=_DISTANCE.value,
        delta=_DELTA.value,
        style_blend=blend,
        preserve_color=_PRESERVE.value,
        init=_INIT.value,
        optimizer=optimizer,
        lr=_LR.value,
        steps=default_steps(optimizer) if _STEPS.value is None else _STEPS.value,
        size=_SIZE.value,
        seed=_SEED.value,
        snapshot_every=_SNAPSHOT.value,
        loop=_LOOP.value,
        sweep_form=_SWEEP_FORM.value,
    )


def parse_style(value: str) -> tuple[str, str | None, str | None]:
    """``IMAGE[:CONTENT_MASK[:STYLE_MASK]]`` -> (image, content mask, style mask) paths.

    A value naming an existing file is taken whole (a path may contain ':')."""
    if os.path.exists(value):
        return value, None, None
    parts = value.split(":")
    if len(parts) > 3 or not all(parts):
        raise UsageError(f"--style={value!r}: expected IMAGE[:CONTENT_MASK[:STYLE_MASK]]")
    for part in parts:
        if not os.path.exists(part):
            raise UsageError(f"--style={value!r}: {part} does not exist")
    return parts[0], (parts[1] if len(parts) > 1 else None), (parts[2] if len(parts) > 2 else None)


def _load_mask(path: str, shape: tuple[int, int] | None):
    """A mask image as [H, W] floats in [0, 1] (channel mean), resized to ``shape``."""
    from nst import image

    mask = image.load(path, max_size=None).mean(axis=-1)
    return mask if shape is None else image.resize(mask, shape)


def load_regions(specs, content_shape: tuple[int, int], styles):
    """None without masks; else one (content mask, style mask or None) per style."""
    if all(content_mask is None for _, content_mask, _ in specs):
        return None
    if any(content_mask is None for _, content_mask, _ in specs):
        raise UsageError("with spatial control every --style needs a content mask (IMAGE:MASK)")
    return [
        (_load_mask(cm, content_shape), None if sm is None else _load_mask(sm, style.shape[:2]))
        for (_, cm, sm), style in zip(specs, styles, strict=True)
    ]


def _validate(config) -> None:
    """Every bad field -> ValueError naming the flag (shared with the experiments)."""
    from experiments import _common

    _common.validate(config)


class _StopFlag:
    """SIGINT/SIGTERM set the flag; the engine polls it between steps and checkpoints."""

    def __init__(self) -> None:
        self.raised = False
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handler)

    def _handler(self, signum, frame) -> None:
        del frame
        if self.raised:  # second signal: give up immediately
            sys.exit(130)
        self.raised = True
        logging.warning("signal %d: saving state after the current step", signum)

    def __call__(self) -> bool:
        return self.raised


def _snapshot_paths(output: str, config) -> dict[int, str]:
    """{step: OUTPUT_stepNNNNN.EXT} of every snapshot the run can write."""
    if not config.snapshot_every:
        return {}
    root, ext = os.path.splitext(output)
    steps = range(config.snapshot_every, config.steps + 1, config.snapshot_every)
    return {step: f"{root}_step{step:05d}{ext}" for step in steps}


def stylize_main() -> None:
    from nst import files, image, stylize

    config = build_config()
    _validate(config)
    from experiments import highres_cli

    if highres_cli.wanted(flags.FLAGS, config):  # large output: pyramid and tiles (issue 9)
        config = build_config("other")
        _validate(config)
        masked = any(parse_style(v)[1] for v in _STYLE.value or [])
        if masked or config.style_stat != "gram" or config.ema_decay:
            raise UsageError(
                "style masks, --style_stat and --ema_decay are not available for large "
                "outputs (nst.highres); use --size <= 1024"
            )
        highres_cli.highres_main(flags.FLAGS, config)
        return
    output = _OUTPUT.value
    if os.path.isdir(output):
        raise UsageError(f"--output {output} is a directory; give a file name")
    if os.path.splitext(output)[1].lower() not in (".png", ".jpg", ".jpeg"):
        raise UsageError(f"--output must end in .png, .jpg or .jpeg, got {output}")
    snapshot_paths = _snapshot_paths(output, config)
    if not _OVERWRITE.value:  # every file this run writes, before any work
        files.refuse_existing([output, *snapshot_paths.values()])
    content = image.load(_CONTENT.value or image.sample("tubingen"), max_size=config.size)
    specs = [parse_style(v) for v in _STYLE.value or [str(image.sample("starry_night"))]]
    # With --style_scale the library resizes the styles (stylize.scale_styles).
    style_size = None if config.style_scale is not None else config.size
    styles = [image.load(path, max_size=style_size) for path, _, _ in specs]
    regions = load_regions(specs, content.shape[:2], styles)
    # Room for the output, the snapshots and an interrupted run's state (image + optimizer
    # moments, float32), checked now rather than after the optimization.
    pixels = content.shape[0] * content.shape[1] * 3
    files.check_writable(
        os.path.dirname(os.path.abspath(output)),
        pixels * (1 + len(snapshot_paths)) + 16 * pixels + (1 << 16),
    )
    stop = _StopFlag()
    last_log = [0.0]

    def progress(step: int, loss: float, rate: float) -> None:
        if _PROGRESS.value and (time.monotonic() - last_log[0] > 5 or step == config.steps):
            last_log[0] = time.monotonic()
            eta = (config.steps - step) / rate if rate > 0 else float("nan")
            logging.info(
                "step %d/%d (%d%%)  loss %.4g  %.2f steps/s  ETA %s",
                step,
                config.steps,
                100 * step // config.steps,
                loss,
                rate,
                _duration(eta),
            )

    checkpoint = output + ".ckpt.npz"
    result = stylize.stylize(
        config,
        content,
        styles,
        checkpoint=checkpoint,
        should_stop=stop,
        progress=progress,
        regions=regions,
    )
    if result.stopped == "interrupted":
        logging.warning("interrupted at step %d; state saved to %s", result.steps_done, checkpoint)
        logging.warning("run the same command again to continue")
        sys.exit(130)
    import jax

    if jax.process_index() != 0:  # every process computed the same image; one writes it
        return
    image.save(output, result.image, overwrite=_OVERWRITE.value)
    for step, snap in result.snapshots.items():
        image.save(snapshot_paths[step], snap, overwrite=_OVERWRITE.value)
    if result.stopped:
        raise UsageError(f"{result.stopped}; kept the last finite image in {output}")
    seconds = float(result.history["time"][-1]) if len(result.history.get("time", [])) else 0.0
    logging.info(
        "wrote %s: %d steps in %.1f s (+%.1f s compile), final loss %.4g",
        output,
        result.steps_done,
        seconds,
        result.compile_seconds,
        float(result.history["total"][-1]),
    )


def _duration(seconds: float) -> str:
    if not seconds == seconds:  # NaN
        return "?"
    seconds = round(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def enable_compilation_cache() -> None:
    """JAX's persistent compilation cache in the user's cache dir (repeat runs skip the
    XLA compiles of the step and the targets); ``$NST_JAX_CACHE_DIR`` overrides the place,
    ``NST_JAX_CACHE_DIR=off`` disables it. A cache set by the user (JAX_COMPILATION_CACHE_DIR)
    is left alone."""
    import jax

    if os.environ.get("JAX_COMPILATION_CACHE_DIR") or jax.config.jax_compilation_cache_dir:
        return
    where = os.environ.get("NST_JAX_CACHE_DIR")
    if where == "off":
        return
    if not where:
        from nst.backbones import default_cache_dir

        where = os.path.join(os.path.dirname(default_cache_dir()), "jax_cache")
    jax.config.update("jax_compilation_cache_dir", where)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def init_distributed() -> None:
    """jax.distributed from flags (or the cluster's environment); no-op for one process."""
    import jax

    if _DISTRIBUTED.value == "auto":
        jax.distributed.initialize()
        return
    if _COORDINATOR.value is None:
        if _NUM_PROCESSES.value != 1:
            raise UsageError("--num_processes > 1 needs --coordinator_address=HOST:PORT")
        return
    if not 0 <= _PROCESS_ID.value < _NUM_PROCESSES.value:
        raise UsageError(f"--process_id must be in [0, {_NUM_PROCESSES.value})")
    from nst import parallel

    if jax.config.jax_platforms in (None, "", "cpu"):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:  # jax aborts the process if a peer never arrives: check they all came first
        parallel.rendezvous(
            _COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value, _DISTRIBUTED_TIMEOUT.value
        )
    except (TimeoutError, OSError) as e:
        raise UsageError(str(e)) from None
    jax.distributed.initialize(
        _COORDINATOR.value,
        num_processes=_NUM_PROCESSES.value,
        process_id=_PROCESS_ID.value,
        initialization_timeout=int(_DISTRIBUTED_TIMEOUT.value),
    )


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    enable_compilation_cache()
    init_distributed()
    import experiments

    if _LIST.value:
        for name, summary in experiments.summaries().items():
            print(f"{name:24s} {summary}")
        return
    if _EXPERIMENT.value:
        from nst_cli import experiment

        experiment.main(_OVERRIDES)
        return
    if flags.FLAGS["video"].value:  # a clip: per-frame optimization, or a --model network
        from experiments import video_cli

        config = None if flags.FLAGS["model"].value else build_config("other")
        video_cli.nst_video_main(flags.FLAGS, config)
        return
    if flags.FLAGS["exported"].value:  # an exported feed-forward program (issue 22)
        experiments.get("train_feedforward").exported_main(flags.FLAGS)
        return
    if flags.FLAGS["model"].value:  # a trained feed-forward network (issue 6)
        if flags.FLAGS["export"].value:
            experiments.get("train_feedforward").export_main(flags.FLAGS)
            return
        experiments.get("train_feedforward").infer_main(flags.FLAGS)
        return
    stylize_main()


def _run(argv: list[str]) -> None:
    from nst.backbones import WeightsError
    from nst.image import ImageError

    try:
        main(argv)
    except (UsageError, ImageError, WeightsError, FileExistsError, FileNotFoundError) as e:
        _fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
    except ValueError as e:  # config validation inside the library
        _fail(str(e).splitlines()[0])
    except OSError as e:  # a file system failure no check above foresaw: still one line
        where = f"{e.filename}: " if e.filename else ""
        _fail(f"{where}{e.strerror or e}")


# --config.field=value arguments: the experiment mode's overrides (nst_cli.overrides).
_OVERRIDES: list[str] = []


def _parse_flags(argv: list[str]) -> list[str]:
    import experiments
    import experiments.highres_cli
    import experiments.video_cli  # noqa: F401  (the video mode's flags)
    from nst_cli import overrides

    argv, given = overrides.split_argv(argv)
    _OVERRIDES[:] = given

    # Flags defined beside the code that reads them, listed in run.py's own --help.
    for name in ("style_scale", "export", "export_size", "exported"):
        flags.declare_key_flag(name)

    try:
        rest = flags.FLAGS(argv)
    except flags.Error as e:
        _fail(str(e).splitlines()[0])
        raise  # unreachable
    for name in flags.FLAGS:  # every float flag given, of every mode: finite or refused
        flag = flags.FLAGS[name]
        if flag.present and isinstance(flag.value, float) and not math.isfinite(flag.value):
            _fail(f"--{name} must be a finite number, got {flag.value}")
    return rest


if __name__ == "__main__":
    app.run(_run, flags_parser=_parse_flags)
