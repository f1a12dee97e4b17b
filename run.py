"""nst command line: one image, a video, a large output, a trained network, or an experiment.

    .venv/bin/python run.py --content=chelsea --style=starry_night --output=out.png
    .venv/bin/python run.py --video=clip.mp4 --style=brick --output=out.mp4
    .venv/bin/python run.py --model=starry_night --content=photo.jpg --output=out.png
    .venv/bin/python run.py --experiment=optimizer_sweep --quick --config.FIELD=VALUE
    .venv/bin/python run.py --help

Parse the flags, pick the mode, call it; the modes live in nst_cli/ (one module each). Every
bad input ends with one line on stderr and exit code 2.
"""

import importlib.util
import sys

if importlib.util.find_spec("absl") is None:  # not the project's Python (README's set-up)
    sys.stderr.write(
        f"run.py: error: nst is not installed for {sys.executable}; run README.md's set-up "
        "line, then .venv/bin/python run.py\n"
    )
    sys.exit(2)

from nst_cli import app, experiment, flags, highres, infer, stylize, video


def main(overrides: list[str]) -> None:
    flags.expand_user_paths()
    if flags.VERSION.value:
        import nst

        print(f"nst {nst.__version__}")
    elif flags.LIST_LAYERS.value:
        from nst import backbones

        names = backbones.layer_names(flags.BACKBONE.value)
        print(f"{flags.BACKBONE.value}: {' '.join(names)}")
    elif flags.LIST_EXPERIMENTS.value:
        import experiments

        for name, summary in experiments.summaries().items():
            print(f"{name:24s} {summary}")
    elif flags.LIST_MODELS.value:
        infer.list_models()
    elif flags.EXPERIMENT.value:
        experiment.main(overrides)
    elif overrides:
        raise flags.UsageError(f"--{overrides[0]}: --config.* applies to --experiment only")
    elif flags.VIDEO.value:  # a clip: per-frame optimization, or a --model network
        video.main()
    elif flags.EXPORTED.value:  # an exported feed-forward program
        infer.exported_main()
    elif flags.MODEL.value and flags.EXPORT.value:
        infer.export_main()
    elif flags.MODEL.value:  # a trained feed-forward network
        infer.main()
    elif highres.wanted():  # a large output: pyramid and tiles
        highres.main()
    else:  # one image
        stylize.main()


if __name__ == "__main__":
    app.run(main, sys.argv)
