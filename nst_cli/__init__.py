"""The command line of nst (``run.py``): one module per mode, one flags module.

    flags.py       every flag, defined once; config_from_flags, the one flags -> config path
    app.py         process set-up (host memory, logging, compilation cache, jax.distributed)
    errors.py      one line on stderr, exit 2
    signals.py     StopFlag: SIGINT/SIGTERM -> a clean stop
    progress.py    progress bar / plain lines, messages without a logger prefix
    inputs.py      --content, --style (and masks): the images every mode takes
    stylize.py     one image (the default mode)
    highres.py     large outputs: pyramid and tiles (--size above 1024; run.py picks it)
    video.py       --video
    infer.py       --model, --exported, --export (feed-forward networks)
    experiment.py  --experiment

The library (``nst``) reads no flags and prints nothing; everything here is the user's side.
"""
