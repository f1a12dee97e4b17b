"""Several processes on 127.0.0.1 (gloo CPU collectives) run one job like one process."""

import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]

_SWEEP = """
import json, sys, dataclasses
import jax
pid, n, port = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if n > 1:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    from nst import parallel
    parallel.rendezvous(f"127.0.0.1:{port}", n, pid, 60)
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=n, process_id=pid)
import numpy as np
from nst import stylize
from nst.config import StylizeConfig
# From uniform noise, so the content term moves every setting (pixels move by more than 0.1
# in 3 SGD steps, far beyond the comparison's tolerance).
base = StylizeConfig(weights="random", size=32, steps=3, optimizer="sgd", init="uniform",
                     content_layers=(("conv2_1", 1.0),), style_layers=(("conv1_1", 1.0),))
configs = [dataclasses.replace(base, style_weight=10.0 ** i, lr=1e-4 * (i + 1)) for i in range(4)]
rng = np.random.default_rng(0)
content = rng.uniform(0, 1, (32, 32, 3)).astype(np.float32)
style = rng.uniform(0, 1, (32, 32, 3)).astype(np.float32)
res = stylize.sweep(configs, content, [style])
start = jax.random.uniform(jax.random.key(0), (32, 32, 3)).tolist()
print(json.dumps({"devices": jax.device_count(), "process": jax.process_index(), "start": start,
                  "images": [r.image.tolist() for r in res],
                  "totals": [r.history["total"].tolist() for r in res]}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env():
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    return env


def _last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def test_sweep_on_two_processes_equals_one_process(tmp_path):
    port = _free_port()
    # Output to files, not pipes: a process blocked on a full pipe would stall its peer.
    logs = [(tmp_path / f"out{i}.txt", tmp_path / f"err{i}.txt") for i in range(2)]
    procs = []
    for i, (out, err) in enumerate(logs):
        with open(out, "w") as o, open(err, "w") as e:
            cmd = [sys.executable, "-c", _SWEEP, str(i), "2", str(port)]
            procs.append(subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=o, stderr=e))
    for p, (_, err) in zip(procs, logs, strict=True):
        p.wait(timeout=300)
        assert p.returncode == 0, err.read_text()[-2000:]
    two = [_last_json(out.read_text()) for out, _ in logs]
    single = subprocess.run(
        [sys.executable, "-c", _SWEEP, "0", "1", "0"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert single.returncode == 0, single.stderr[-2000:]
    one = _last_json(single.stdout)
    assert [t["devices"] for t in two] == [2, 2] and one["devices"] == 1
    atol, rtol = 1e-5, 1e-4
    for t in two:  # every process sees the gathered results of all 4 settings
        np.testing.assert_allclose(t["images"], one["images"], atol=atol)
        np.testing.assert_allclose(t["totals"], one["totals"], rtol=rtol)
    # Every setting moved far beyond the tolerance (else equality would prove nothing).
    moved = np.abs(np.asarray(one["images"]) - np.asarray(one["start"])).max(axis=(1, 2, 3))
    assert np.all(moved > 100 * atol), moved
    totals = np.asarray(one["totals"])
    assert np.all(np.abs(totals[:, -1] / totals[:, 0] - 1) > 100 * rtol), totals


def _run_py(pid: int, n: int, port: int, out: pathlib.Path, timeout_s: float = 60):
    log = open(out.parent / f"log{pid}.txt", "w")
    return log, subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "run.py"),
            "--weights=random",
            "--size=32",
            "--steps=2",
            "--progress=false",
            f"--output={out}",
            f"--coordinator_address=127.0.0.1:{port}",
            f"--num_processes={n}",
            f"--process_id={pid}",
            f"--distributed_timeout={timeout_s}",
        ],
        cwd=out.parent,
        env=_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def test_two_processes_write_the_output_once(tmp_path):
    port = _free_port()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "o.png"
    runs = [_run_py(i, 2, port, out) for i in range(2)]
    for log, p in runs:
        p.wait(timeout=300)
        log.close()
    logs = [(out_dir / f"log{i}.txt").read_text()[-1500:] for i in range(2)]
    assert [p.returncode for _, p in runs] == [0, 0], logs
    assert out.exists()
    assert sorted(f for f in os.listdir(out_dir) if not f.startswith("log")) == [
        "o.png",
        "o.png.json",
    ]


def test_missing_worker_fails_with_one_line_within_timeout(tmp_path):
    t = time.monotonic()
    log, proc = _run_py(0, 2, _free_port(), tmp_path / "o.png", timeout_s=3)
    proc.wait(timeout=120)
    log.close()
    err = (tmp_path / "log0.txt").read_text()
    assert time.monotonic() - t < 60
    assert proc.returncode == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "did not arrive" in lines[0], err
    assert not (tmp_path / "o.png").exists()


def _train_cmd(workdir: pathlib.Path, steps: int, pid: int = 0, n: int = 1, port: int = 0):
    cmd = [
        sys.executable,
        str(ROOT / "run.py"),
        "--experiment=train_feedforward",
        "--quick",
        "--weights=random",
        "--backbone=vgg16",
        "--content_layers=conv1_2",
        "--style_layers=conv1_1,conv1_2",
        "--config.train.net.width=4",
        "--config.train.net.num_residual=1",
        "--config.train.crop_size=32",
        "--config.train.style_size=32",
        "--batch_size=4",
        "--config.train.preview_every=0",
        "--config.train.log_every=1",
        "--config.train.checkpoint_every=1",
        "--progress=false",
        f"--steps={steps}",
        f"--workdir={workdir}",
    ]
    if n > 1:
        cmd += [f"--coordinator_address=127.0.0.1:{port}", f"--num_processes={n}"]
        cmd += [f"--process_id={pid}", "--distributed_timeout=120"]
    return cmd


def _train_two_processes(workdir: pathlib.Path, steps: int, logs: pathlib.Path) -> None:
    port = _free_port()
    procs = []
    for pid in range(2):
        with open(logs / f"train{steps}_{pid}.txt", "w") as log:
            cmd = _train_cmd(workdir, steps, pid, 2, port)
            procs.append(subprocess.Popen(cmd, cwd=logs, env=_env(), stdout=log, stderr=log))
    for pid, p in enumerate(procs):
        p.wait(timeout=400)
        text = (logs / f"train{steps}_{pid}.txt").read_text()
        assert p.returncode == 0, text[-3000:]


def _metrics(workdir: pathlib.Path) -> list[dict]:
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_training_on_two_processes_resumes_and_equals_one_process(tmp_path):
    from nst.feedforward import checkpoint

    two, one = tmp_path / "two", tmp_path / "one"
    # Two processes train 2 steps, then the same command with --steps=3 resumes on both.
    _train_two_processes(two, 2, tmp_path)
    _train_two_processes(two, 3, tmp_path)
    single = subprocess.run(
        _train_cmd(one, 3), cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=400
    )
    assert single.returncode == 0, single.stderr[-3000:]

    # Process 0 alone wrote the metrics: each step once, and the resumed run went on at 3.
    assert [m["step"] for m in _metrics(two)] == [1, 2, 3]
    assert (two / "manifest.json").is_file()
    for a, b in zip(_metrics(two), _metrics(one), strict=True):
        np.testing.assert_allclose(a["total"], b["total"], rtol=1e-4)
    totals = [m["total"] for m in _metrics(one)]
    assert abs(totals[-1] / totals[0] - 1) > 100 * 1e-4, totals  # training moved the loss
    # The exported models (orbax, written across hosts) compute the same images. (Raw
    # weights are no test: biases before instance norm get ~0 gradients, which Adam
    # normalizes into steps of noise.)
    from nst.feedforward import nets

    photo = np.random.default_rng(0).uniform(size=(1, 24, 24, 3)).astype(np.float32)
    outs = []
    for workdir in (two, one):
        config, variables, info = checkpoint.load_model(workdir)
        assert info["steps"] == 3
        outs.append(np.asarray(nets.apply(config, variables, photo, np.ones((1, 1)))[0]))
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-4)
    assert np.abs(outs[0] - photo).max() > 1e-3  # a real image, not the input passed through
    # Three steps moved the network's output far beyond the tolerance from its initial one.
    initial = np.asarray(nets.apply(config, nets.init(config, 0), photo, np.ones((1, 1)))[0])
    assert np.abs(outs[1] - initial).max() > 100 * 1e-4
