"""run.py end to end: exit codes, one-line errors, --overwrite, resume after a signal."""

import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from nst import image
from nst_cli.flags import RELATIVE_STYLE_WEIGHT

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = ["--weights=random", "--size=32", "--steps=2", "--progress=false"]


def _run(*args, cwd=None, timeout=240):
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
    )


def _assert_one_line_error(proc, pattern):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert pattern in lines[0], lines[0]


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["--optimizer=newton"], "--optimizer must be one of"),
        (["--backbone=alexnet"], "--backbone must be one of"),
        (["--steps=0"], "--steps must be finite and >= 1, got 0"),
        (["--size=abc"], "size"),
        (["--no_such_flag=1"], "no_such_flag"),
        (["--content=/nonexistent/photo.jpg"], "/nonexistent/photo.jpg"),
        (["--style_blend=a,b"], "--style_blend must be numbers"),
        (["--experiment=nope"], "unknown experiment 'nope'"),
        (["--output=out.gif"], "--output must end in"),
        (["--style_layers=conv9_9"], "conv9_9"),
        (["--weights=/nonexistent/w.npz"], "/nonexistent/w.npz"),
        (["stray"], "unexpected arguments"),
        (["--experiment=tv_sweep", "--quick", "--tier=middle"], "contradict each other"),
        (["--experiment=tv_sweep", "--tier=huge"], "tier"),
        (["--experiment=loss_type_sweep", "--tier=middle"], "no --tier=middle"),
        (["--experiment=backbone_sweep", "--tier=middle"], "no --tier=middle"),
        (["--config.steps=3"], "--config.* applies to --experiment only"),
        (["--content=monalisa"], "monalisa"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, pattern, tmp_path):
    proc = _run(*TINY, f"--output={tmp_path / 'o.png'}", *args, cwd=tmp_path)
    _assert_one_line_error(proc, pattern)
    assert not (tmp_path / "o.png").exists()


def test_help_exits_0_and_shows_every_mode_grouped():
    proc = _run("--help")
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    for text in ("--video=", "--model=", "--experiment=", "--exported=", "Video (--video):"):
        assert text in proc.stdout, text
    assert "chelsea" in proc.stdout and "brick" in proc.stdout  # the sample names


def test_sample_names_and_plain_progress_lines(tmp_path):
    out = tmp_path / "o.png"
    args = ["--weights=random", "--size=32", "--steps=2", "--content=chelsea", "--style=brick"]
    proc = _run(*args, f"--output={out}")
    assert proc.returncode == 0, proc.stderr
    expected = image.load(image.sample("chelsea"), max_size=32).shape
    assert image.load(out, max_size=None).shape == expected
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("lbfgs, 2 steps at 32 px")  # the values actually used
    assert any(ln.startswith("step 2/2 (100%)") for ln in lines), lines
    assert lines[-1].startswith(f"wrote {out}")
    assert not any(re.match(r"[IWEF]\d{4} ", ln) for ln in lines)  # no logger prefix


def test_stylize_writes_output_and_respects_overwrite(tmp_path):
    out = tmp_path / "o.png"
    proc = _run(*TINY, f"--output={out}")
    assert proc.returncode == 0, proc.stderr
    first = image.load(out, max_size=None)
    assert first.shape[:2] in ((32, 24), (24, 32))  # bundled tubingen, 4:3
    stamp = out.stat().st_mtime_ns
    proc = _run(*TINY, f"--output={out}", "--steps=3")
    _assert_one_line_error(proc, "exists; pass --overwrite")
    assert out.stat().st_mtime_ns == stamp
    proc = _run(*TINY, f"--output={out}", "--steps=3", "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_mtime_ns != stamp


def test_sigint_saves_state_and_rerun_resumes(tmp_path):
    # Snapshots appear while the run goes on; Ctrl-C leaves the checkpoint and the image
    # so far; the same command continues.
    out = tmp_path / "o.png"
    args = [
        sys.executable,
        str(ROOT / "run.py"),
        "--weights=random",
        "--size=32",
        "--steps=400",
        "--optimizer=adam",  # exact resume (L-BFGS-B resume: tests/stylize/stylize_test.py)
        "--stop_tol=0",  # all 400 steps: time to interrupt
        "--snapshot_every=5",
        f"--output={out}",
        "--progress=true",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 180
    lines = []
    first_snapshot = tmp_path / "o_step00005.png"
    for line in proc.stdout:  # wait until the first snapshot is on disk
        lines.append(line)
        if first_snapshot.exists() or time.time() > deadline:
            break
    assert first_snapshot.exists() and proc.poll() is None  # written during the run
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=120)
    log = "".join(lines) + rest
    assert proc.returncode == 130, log
    partial = tmp_path / "o_interrupted.png"
    assert f"the image so far is {partial}" in log
    ckpt = pathlib.Path(str(out) + ".ckpt.npz")
    assert ckpt.exists() and not out.exists() and partial.exists()
    assert image.load(partial, max_size=None).shape[:2] in ((32, 24), (24, 32))
    with np.load(ckpt) as data:
        done_before = len(data["hist/total"])
    assert 0 < done_before < 400
    rerun = _run(
        "--weights=random",
        "--size=32",
        "--steps=400",
        "--optimizer=adam",
        "--stop_tol=0",
        "--snapshot_every=5",
        "--overwrite",
        f"--output={out}",
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming from step {done_before} of 400" in rerun.stderr
    assert out.exists() and not ckpt.exists()
    assert os.path.getsize(out) > 0


def test_end_line_gives_each_terms_share_and_why_it_stopped(tmp_path):
    out = tmp_path / "o.png"
    proc = _run(*TINY[:-2], "--steps=60", "--stop_tol=0.5", "--tv_weight=1", f"--output={out}")
    assert proc.returncode == 0, proc.stderr
    last = proc.stderr.splitlines()[-1]
    shares = [int(v) for v in re.findall(r"(?:content|style|tv) (\d+)%", last)]
    assert len(shares) == 3 and abs(sum(shares) - 100) <= 2, last
    assert "converged: the loss fell" in last and "steps (converged" in last, last
    import json

    record = json.loads((tmp_path / "o.png.json").read_text())
    assert record["flags"]["stop_tol"] == 0.5 and record["config"]["stop_tol"] == 0.5
    config = record["config"]  # the one-image defaults (nst_cli.flags), in the sidecar
    assert config["balance"] == "relative" and config["style_weight"] == RELATIVE_STYLE_WEIGHT
    assert "converged" in record["converged"] and record["final"]["total"] > 0
    assert "random" in record["weights"]


def test_imagenet_offline_fails_fast_naming_the_alternative(tmp_path):
    env = dict(os.environ, NST_WEIGHTS_URL_VGG19="http://127.0.0.1:9/vgg19_weights.h5")
    t = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "run.py"),
            "--size=32",
            "--steps=2",
            f"--output={tmp_path / 'o.png'}",
            f"--cache_dir={tmp_path / 'cache'}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert time.monotonic() - t < 60
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("run.py: error:") and "--weights=random" in last
    assert "127.0.0.1:9" in last and str(tmp_path / "cache") in last
    assert "Traceback" not in proc.stderr
