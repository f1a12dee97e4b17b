"""Fault injection: full and read-only file systems, crafted files, non-finite numbers.

Each class of fault is checked for what the command line promises: the refusal is one line
naming the file and the reason (exit code 2 through run.py), nothing that existed changed,
nothing half-written is left, and a rerun without the fault completes.

File systems: a full disk is a real 1 MiB tmpfs filled to the last byte and a read-only
target a tmpfs mounted read-only (``mount`` needs root; as root ``chmod`` does not stop
writes). Without root those tests are skipped, and ``test_enospc_*`` (simulated: ``os.write``
and ``posix_fallocate`` patched to raise ENOSPC) still run.
"""

import contextlib
import dataclasses
import errno
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
import types

import numpy as np
import pytest

from experiments import _common
from nst import files, highres, stylize
from nst import image as nst_image
from nst.config import StylizeConfig
from nst.feedforward import checkpoint as ff_checkpoint
from nst.feedforward import nets
from nst.feedforward.config import NetConfig
from nst_cli import highres as cli_highres

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = ["--weights=random", "--size=32", "--steps=2", "--progress=false"]


# ------------------------------------------------------------------------------ helpers


def _mount(target: pathlib.Path, options: str) -> None:
    target.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {proc.stderr.strip()}")


@contextlib.contextmanager
def _tmpfs(target: pathlib.Path, size: str = "1m"):
    _mount(target, f"size={size}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def _fill(directory: pathlib.Path) -> None:
    """Writes a filler file until the file system is full (ENOSPC)."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as e:
        assert e.errno == errno.ENOSPC, e
    finally:
        os.close(fd)


@pytest.fixture
def full_dir(tmp_path):
    """A folder on a 1 MiB tmpfs with no byte left (an existing file ``keep.txt`` in it)."""
    with _tmpfs(tmp_path / "full") as d:
        (d / "keep.txt").write_text("precious")
        _fill(d)
        yield d


@pytest.fixture
def readonly_dir(tmp_path):
    """A folder on a read-only tmpfs (holding ``keep.txt``, written before the remount)."""
    d = tmp_path / "ro"
    with _tmpfs(d):
        (d / "keep.txt").write_text("precious")
        subprocess.run(["mount", "-o", "remount,ro", str(d)], check=True)
        yield d


def _tree(directory) -> dict[str, bytes]:
    """Every file under ``directory`` (relative path -> bytes): to assert nothing changed."""
    out = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, directory)] = f.read()
    return out


def _no_temp_files(directory) -> None:
    leftovers = [n for n in _tree(directory) if n.endswith(".tmp") or ".nst-space-check." in n]
    assert not leftovers, leftovers


def _run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def _one_line_exit_2(proc, *patterns):
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    for pattern in patterns:
        assert pattern in lines[0], lines[0]
    return lines[0]


# ----------------------------------------------------------- data loss: the one writer


def test_write_atomic_never_replaces_without_overwrite(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"precious")
    with pytest.raises(files.OutputError, match=r"a\.bin.*file exists"):
        files.write_atomic(path, b"new")
    assert path.read_bytes() == b"precious"
    with pytest.raises(files.OutputError, match="is a directory"):
        files.write_atomic(tmp_path, b"new", overwrite=True)
    files.write_atomic(path, b"new", overwrite=True)
    assert path.read_bytes() == b"new"
    with pytest.raises(files.OutputError, match=r"will not replace.*--overwrite"):
        files.refuse_existing([tmp_path / "missing", path])
    _no_temp_files(tmp_path)


def test_write_atomic_on_a_full_disk_keeps_the_old_file(full_dir):
    before = _tree(full_dir)
    for path, overwrite in ((full_dir / "keep.txt", True), (full_dir / "new.png", False)):
        with pytest.raises(files.OutputError, match="No space left on device") as info:
            files.write_atomic(path, b"x" * 100_000, overwrite=overwrite)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(nst_image.ImageError, match="No space left"):
        nst_image.save(full_dir / "img.png", np.random.default_rng(0).random((64, 64, 3)))
    assert _tree(full_dir) == before  # nothing changed, nothing half-written
    (full_dir / "filler").unlink()  # space again: the same write completes
    files.write_atomic(full_dir / "keep.txt", b"x" * 100_000, overwrite=True)
    assert (full_dir / "keep.txt").read_bytes() == b"x" * 100_000


def test_check_writable_reports_full_and_read_only_targets(full_dir, readonly_dir):
    before = _tree(full_dir)
    with pytest.raises(files.OutputError, match=r"No space left.*checked for 4,096 bytes"):
        files.check_writable(full_dir / "not" / "yet", 4096)
    assert _tree(full_dir) == before and not (full_dir / "not").exists()
    with pytest.raises(files.OutputError, match="Read-only file system") as info:
        files.check_writable(readonly_dir, 1)
    assert str(readonly_dir) in str(info.value)
    (full_dir / "filler").unlink()
    files.check_writable(full_dir / "not" / "yet", 4096)
    assert not (full_dir / "not").exists()  # the check creates nothing
    _no_temp_files(full_dir)


def test_enospc_simulated_write_and_check(tmp_path, monkeypatch):
    """Without root (no tmpfs): ENOSPC injected into os.write / posix_fallocate."""
    path = tmp_path / "keep.bin"
    path.write_bytes(b"precious")

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    with pytest.raises(files.OutputError, match="No space left on device"):
        files.check_writable(tmp_path, 10)

    monkeypatch.setattr(files.os, "fdopen", lambda fd, mode: _FullFile(fd))
    with pytest.raises(files.OutputError, match="No space left on device"):
        files.write_atomic(path, b"new data", overwrite=True)
    assert path.read_bytes() == b"precious"
    monkeypatch.undo()
    _no_temp_files(tmp_path)
    files.write_atomic(path, b"new data", overwrite=True)
    assert path.read_bytes() == b"new data"


class _FullFile:
    """A file object whose writes fail with ENOSPC (closes its descriptor)."""

    def __init__(self, fd):
        self.fd = fd

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        os.close(self.fd)

    def fileno(self):
        return self.fd

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def flush(self):
        pass


# ------------------------------------------------------------- resume files (checkpoints)

SHALLOW = StylizeConfig(
    weights="random",
    size=32,
    steps=3,
    content_layers=(("conv2_1", 1.0),),
    style_layers=(("conv1_1", 0.5), ("conv2_1", 0.5)),
    style_weight=1e3,
)


@pytest.fixture(scope="module")
def engine():
    rng = np.random.default_rng(0)
    content = rng.uniform(0, 1, (24, 32, 3)).astype(np.float32)
    style = rng.uniform(0, 1, (32, 32, 3)).astype(np.float32)
    return content, [style], stylize.create_backbone(SHALLOW)


def _stylize(engine, config=SHALLOW, **kw):
    content, styles, net_params = engine
    return stylize.stylize(config, content, styles, net_params=net_params, **kw)


def _stop_after(n):
    calls = iter(range(10**6))
    return lambda: next(calls) >= n


@pytest.fixture(scope="module")
def good_checkpoint(engine, tmp_path_factory):
    """The bytes of a real checkpoint: SHALLOW interrupted after 1 of 3 steps."""
    path = tmp_path_factory.mktemp("ckpt") / "state.npz"
    result = _stylize(engine, checkpoint=str(path), should_stop=_stop_after(1))
    assert result.stopped == "interrupted" and result.steps_done == 1
    return path.read_bytes()


def _crafted(good: bytes, path: pathlib.Path, change) -> None:
    import io

    with np.load(io.BytesIO(good)) as data:
        arrays = {k: data[k] for k in data.files}
    change(arrays)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _step_leaf(arrays):
    return max((k for k in arrays if k.startswith("leaf")), key=lambda k: int(k[4:]))


def _set(key_fn, value):
    def change(arrays):
        arrays[key_fn(arrays)] = value

    return change


CRAFTED = {
    "directory": (None, "is a directory"),
    "garbage": (b"not a zip file at all", "truncated or corrupt"),
    "empty": (b"", "truncated or corrupt"),
    "truncated": ("half", "truncated or corrupt"),
    "foreign npz": (lambda a: a.pop("fingerprint"), "not an nst checkpoint"),
    "other run": (_set(lambda a: "fingerprint", np.asarray("0" * 16)), "another run"),
    "negative step": (
        _set(_step_leaf, np.asarray([-5], np.int32)),
        "step -5 is outside [0, 3]",
    ),
    "huge step": (
        _set(_step_leaf, np.asarray([2**31 - 1], np.int32)),
        "step 2147483647 is outside [0, 3]",
    ),
    "wrong shape": (
        _set(lambda a: "leaf0", np.zeros((1, 7, 7, 3), np.float32)),
        "field leaf0 is float32[1, 7, 7, 3], expected float32[1, 24, 32, 3]",
    ),
    "wrong dtype": (
        lambda a: a.update(leaf0=a["leaf0"].astype(np.float64)),
        "field leaf0 is float64",
    ),
    "nan image": (
        lambda a: a.update(leaf0=np.full_like(a["leaf0"], np.nan)),
        "field leaf0 holds non-finite values",
    ),
    "missing field": (lambda a: a.pop("leaf1"), "field leaf1 is missing"),
    "history too long": (
        lambda a: a.update({"hist/total": np.zeros((9, 1), np.float32)}),
        "history 'total' has shape [9, 1] for 1 steps done",
    ),
    "pickled object": (
        lambda a: a.update({"hist/total": np.array([object()], dtype=object)}),
        "truncated or corrupt",
    ),
}


def _forged(good: bytes, path: pathlib.Path, name: str, shape: tuple) -> None:
    """``good`` with the array ``name`` replaced by one whose header declares ``shape``
    (float32) but which holds 16 bytes."""
    import io
    import zipfile

    header = io.BytesIO()
    fields = {"descr": "<f4", "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(header, fields)
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            forged = info.filename == f"{name}.npy"
            dst.writestr(info.filename, header.getvalue() + bytes(16) if forged else src.read(info))


@pytest.mark.parametrize(
    "name, shape, message",
    [
        (
            "leaf0",
            (1, 100_000, 100_000, 3),
            "field leaf0 is float32[1, 100000, 100000, 3], expected float32[1, 24, 32, 3]",
        ),
        ("hist/total", (10**12,), "history 'total' has shape [1000000000000] for 1 steps done"),
        ("hist/total", (1, 10**12), "field hist/total declares float32[1, 1000000000000] but"),
    ],
)
def test_checkpoint_declaring_a_huge_array_is_checked_from_its_header(
    name, shape, message, engine, good_checkpoint, tmp_path
):
    """Refused for what its header says, before anything is read or allocated."""
    path = tmp_path / "state.npz"
    _forged(good_checkpoint, path, name, shape)
    with pytest.raises(stylize.CheckpointError) as info:
        _stylize(engine, checkpoint=str(path))
    assert message in str(info.value) and str(path) in str(info.value), str(info.value)
    assert stylize.steps_saved(str(path)) == (shape[0] if name == "hist/total" else 1)


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_checkpoint_is_refused_naming_file_and_problem(
    case, engine, good_checkpoint, tmp_path
):
    path = tmp_path / "state.npz"
    craft, message = CRAFTED[case]
    if craft is None:
        path.mkdir()
    elif craft == "half":
        path.write_bytes(good_checkpoint[: len(good_checkpoint) // 2])
    elif isinstance(craft, bytes):
        path.write_bytes(craft)
    else:
        _crafted(good_checkpoint, path, craft)
    before = _tree(tmp_path)
    with pytest.raises(stylize.CheckpointError) as info:
        _stylize(engine, checkpoint=str(path))
    text = str(info.value)
    assert str(path) in text and message in text and "\n" not in text, text
    assert "too small" not in text  # not blamed on the user's image
    assert _tree(tmp_path) == before  # the bad file is left for the user to inspect
    if path.is_dir():
        path.rmdir()
    else:
        path.unlink()
    rerun = _stylize(engine, checkpoint=str(path))  # without the bad file: completes
    assert rerun.stopped is None and rerun.steps_done == 3


def test_interrupt_on_a_full_disk_keeps_the_last_good_checkpoint(engine, good_checkpoint, tmp_path):
    with _tmpfs(tmp_path / "fs", size="1m") as fs:
        path = fs / "state.npz"
        path.write_bytes(good_checkpoint)  # step 1, from an earlier interruption
        _fill(fs)
        # Resumes at step 1, is interrupted after step 2, and cannot save step 2.
        with pytest.raises(stylize.CheckpointError, match="No space left") as info:
            _stylize(engine, checkpoint=str(path), should_stop=_stop_after(1))
        assert "previous one is kept" in str(info.value) and str(path) in str(info.value)
        assert path.read_bytes() == good_checkpoint
        _no_temp_files(fs)
        (fs / "filler").unlink()
        rerun = _stylize(engine, checkpoint=str(path))  # still valid: resumes and completes
        assert rerun.stopped is None and rerun.steps_done == 3
        assert len(rerun.history["total"]) == 3 and not path.exists()


# ----------------------------------------------------------------- non-finite numbers


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("lr", float("inf"), "StylizeConfig.lr must be finite and > 0, got inf"),
        ("lr", float("nan"), "StylizeConfig.lr must be finite and > 0, got nan"),
        ("lr", 0.0, "StylizeConfig.lr must be finite and > 0, got 0.0"),
        ("style_weight", float("nan"), "StylizeConfig.style_weight must be finite and >= 0"),
        ("content_weight", -1.0, "StylizeConfig.content_weight must be finite and >= 0"),
        ("tv_weight", float("-inf"), "StylizeConfig.tv_weight must be finite and >= 0"),
        ("style_mean_weight", float("inf"), "StylizeConfig.style_mean_weight must be finite"),
        ("delta", 0.0, "StylizeConfig.delta must be finite and > 0"),
        ("snapshot_every", -1, "StylizeConfig.snapshot_every must be finite and >= 0"),
        ("steps", 0, "StylizeConfig.steps must be finite and >= 1"),
        ("steps", 2.0, "StylizeConfig.steps must be an integer, got 2.0"),
        ("size", 8, "StylizeConfig.size must be finite and >= 16"),
        ("ema_decay", 1.0, r"StylizeConfig.ema_decay must be finite and in \[0, 1\), got 1.0"),
        ("style_scale", -1.0, "StylizeConfig.style_scale must be finite and > 0"),
        ("lbfgs_precondition", -0.5, "StylizeConfig.lbfgs_precondition must be finite and in"),
        ("lbfgs_cutoff", 0.0, "StylizeConfig.lbfgs_cutoff must be finite and > 0"),
        ("style_blend", (1.0, float("nan")), "StylizeConfig.style_blend must be finite"),
        ("style_blend", "1,2", "StylizeConfig.style_blend must be a tuple of numbers"),
        ("style_layers", (("conv1_1", float("inf")),), "style_layers weight of conv1_1"),
        ("style_layers", ("conv1_1",), "StylizeConfig.style_layers must be .layer name, weight"),
        ("optimizer", "newton", "StylizeConfig.optimizer must be one of adam"),
        ("init", "no/such/file.png", "StylizeConfig.init must be one of content"),
        (
            "content_layers",
            (("conv4_2", 0.5), ("conv4_2", 0.5)),
            "StylizeConfig.content_layers names conv4_2 more than once",
        ),
        (
            "style_layers",
            (("conv1_1", 0.5), ("conv2_1", 0.2), ("conv1_1", 0.3)),
            "StylizeConfig.style_layers names conv1_1 more than once",
        ),
        ("style_layers", (("layer1", 1.0),), r"StylizeConfig.style_layers \['layer1'\] are not"),
    ],
)
def test_every_field_is_checked_when_the_config_is_made(field, value, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(StylizeConfig(weights="random"), **{field: value})
    with pytest.raises(ValueError, match=message):
        StylizeConfig(weights="random", **{field: value})


@pytest.mark.parametrize(
    "fields",
    [
        dict(lr=float("nan")),  # the loss and gradient are finite, the update is NaN
        dict(tv_weight=3e38),  # finite, but the weighted TV gradient overflows float32
    ],
)
def test_nan_guard_keeps_the_last_finite_image(engine, fields):
    content = engine[0]
    config = dataclasses.replace(SHALLOW)
    for name, value in fields.items():  # behind StylizeConfig's check: the engine's guard
        object.__setattr__(config, name, value)
    result = _stylize(engine, config)
    term = "gradient or update"  # every loss term finite: the step itself went bad
    assert result.stopped == f"non-finite loss at step 0 (term {term}, setting 0)"
    assert result.steps_done == 0 and len(result.history["total"]) == 0
    np.testing.assert_array_equal(result.image, content)  # init "content": the last finite


def test_highres_options_must_be_finite():
    with pytest.raises(ValueError, match="pyramid_ratio must be a finite number"):
        highres.HighresConfig(pyramid_ratio=float("inf"))
    with pytest.raises(ValueError, match="style_scale must be a finite number"):
        highres.HighresConfig(style_scale=float("nan"))


# ------------------------------------------------------------------------ sizes and images


def test_load_refuses_a_resize_beyond_memory_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "p.png"
    nst_image.save(path, np.zeros((30, 40, 3), np.float32))
    assert nst_image.peek_shape(path, 100_000) == (75_000, 100_000)
    assert nst_image.peek_shape(path, 64) == nst_image.load(path, 64).shape[:2]
    decoded = []
    monkeypatch.setattr(nst_image, "_decode", lambda *a: decoded.append(a))
    with pytest.raises(nst_image.ImageError, match=r"p\.png.*100000x75000.*too large"):
        nst_image.load(path, max_size=100_000)
    assert not decoded


class _Flags(dict):
    """What the CLI modules read of absl's FlagValues: ``flags[name].value``."""

    def __init__(self, **values):
        super().__init__(
            {k: types.SimpleNamespace(value=v, present=True) for k, v in values.items()}
        )


def test_highres_estimate_refuses_before_any_image_is_loaded(tmp_path, monkeypatch):
    def no_load(*args, **kwargs):
        raise AssertionError("an image was loaded before the memory estimate")

    monkeypatch.setattr(nst_image, "load", no_load)
    config = dataclasses.replace(SHALLOW, size=100_000)
    flag_values = _Flags(output=str(tmp_path / "big.png"), memory_gib=1.0)
    with pytest.raises(highres.MemoryEstimateError, match="GiB"):
        cli_highres.main(flag_values, config)
    assert list(tmp_path.iterdir()) == []


def test_highres_levels_folder_of_someone_else_is_refused(tmp_path):
    folder = tmp_path / "big.png.levels"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    flag_values = _Flags(output=str(tmp_path / "big.png"))
    with pytest.raises(ValueError, match=r"big\.png\.levels holds files this run did not write"):
        cli_highres.main(flag_values, dataclasses.replace(SHALLOW, size=2048))
    assert (folder / "notes.txt").read_text() == "mine"
    (folder / "levels.json").write_text("{broken")
    (folder / "notes.txt").unlink()
    with pytest.raises(ValueError, match=r"levels\.json is not valid JSON"):
        cli_highres._resume(str(folder), "f" * 16, 3)
    (folder / "levels.json").write_text(json.dumps({"fingerprint": "f" * 16, "done": [-1]}))
    with pytest.raises(ValueError, match=r"\"done\" must list level numbers in \[0, 3\)"):
        cli_highres._resume(str(folder), "f" * 16, 3)


# ---------------------------------------------------------------------- experiment workdirs


def test_workdir_of_someone_else_full_or_read_only_is_refused(tmp_path, full_dir, readonly_dir):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    with pytest.raises(ValueError, match=r"holds files of no nst run \(thesis\.tex\)"):
        _common.claim_workdir(str(mine))
    assert _tree(mine) == {"thesis.tex": b"precious"}
    before = _tree(full_dir)
    with pytest.raises(files.OutputError, match=r"runs.*No space left on device"):
        _common.claim_workdir(str(full_dir / "runs"))
    assert _tree(full_dir) == before
    with pytest.raises(files.OutputError, match="Read-only file system"):
        _common.claim_workdir(str(readonly_dir / "runs"))
    (full_dir / "filler").unlink()
    _common.claim_workdir(str(full_dir / "runs"), nbytes=100_000)  # room again: accepted


def test_corrupt_manifest_is_named(tmp_path):
    (tmp_path / "manifest.json").write_text('{"experiment": ')
    with pytest.raises(ValueError, match=r"manifest\.json is not valid JSON"):
        _common.existing_manifest(str(tmp_path), {"experiment": "x"})


# -------------------------------------------------------------------- --model directories

TINY_NET = NetConfig(width=4, num_residual=1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "model"
    ff_checkpoint.save_model(path, TINY_NET, nets.init(TINY_NET))
    return path


def _edit_net(field, value):
    def change(model):
        description = json.loads((model / "net.json").read_text())
        description["net"][field] = value
        (model / "net.json").write_text(json.dumps(description))

    return change


def _truncate_arrays(model):
    for f in (model / "variables").glob("ocdbt.process_*/d/*"):
        if f.is_file():
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


MODELS = {
    "width disagrees": (
        _edit_net("width", 8),
        "net.json does not match the stored weights: params/Conv_0/bias is [4], "
        "the network needs [8]",
    ),
    "more blocks": (_edit_net("num_residual", 2), "array(s) missing"),
    "fewer blocks": (_edit_net("num_residual", 0), "unexpected array(s)"),
    "absurd width": (_edit_net("width", 10**9), r"width must be in [1, 1024]"),
    "width a string": (_edit_net("width", "4"), "width must be an integer"),
    "unknown field": (_edit_net("depth", 3), "unknown network config field"),
    "garbled": (
        lambda m: (m / "net.json").write_text("{garbled"),
        "net.json is not valid JSON",
    ),
    "a list": (lambda m: (m / "net.json").write_text("[1, 2]"), 'no "net" object'),
    "no variables": (lambda m: shutil.rmtree(m / "variables"), "no variables/ folder"),
    # "truncated arrays" runs in a subprocess only (test_run_refuses_bad_numbers_and_model...):
    # orbax's reader leaves background errors that would surface in a later test here.
    "no metadata": (
        lambda m: [f.unlink() for f in (m / "variables").glob("*METADATA")],
        "unreadable weights",
    ),
}


@pytest.mark.parametrize("case", list(MODELS))
def test_model_directory_is_validated_before_building(case, model_dir, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    craft, message = MODELS[case]
    craft(model)
    with pytest.raises(ValueError) as info:
        ff_checkpoint.load_model(model)
    text = str(info.value)
    assert message in text and str(model) in text and "\n" not in text, text


# ------------------------------------------------------------ run.py end to end (subprocess)


def test_run_snapshot_is_not_clobbered_and_rerun_with_overwrite_completes(tmp_path):
    out = tmp_path / "o.png"
    snap = tmp_path / "o_step00001.png"
    snap.write_bytes(b"precious")
    proc = _run(*TINY, f"--output={out}", "--snapshot_every=1")
    _one_line_exit_2(proc, str(snap), "--overwrite")
    assert _tree(tmp_path) == {"o_step00001.png": b"precious"}  # nothing written at all
    proc = _run(*TINY, f"--output={out}", "--snapshot_every=1", "--overwrite")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(_tree(tmp_path)) == ["o.png", "o.png.json", "o_step00001.png", "o_step00002.png"]
    assert nst_image.load(snap, None).shape == (24, 32, 3)


def test_run_on_a_full_disk_fails_before_the_work_and_reruns(full_dir):
    before = _tree(full_dir)
    out = full_dir / "o.png"
    proc = _run(*TINY, "--steps=400", f"--output={out}")
    _one_line_exit_2(proc, str(full_dir), "No space left on device", "before starting")
    assert _tree(full_dir) == before
    (full_dir / "filler").unlink()
    proc = _run(*TINY, f"--output={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert nst_image.load(out, None).shape == (24, 32, 3)
    _no_temp_files(full_dir)


def test_run_read_only_output_and_crafted_resume_file(readonly_dir, tmp_path):
    proc = _run(*TINY, f"--output={readonly_dir / 'o.png'}")
    _one_line_exit_2(proc, str(readonly_dir), "Read-only file system")
    out = tmp_path / "o.png"
    ckpt = tmp_path / "o.png.ckpt.npz"
    ckpt.write_bytes(b"PK\x03\x04 cut short")
    proc = _run(*TINY, f"--output={out}")
    _one_line_exit_2(proc, str(ckpt), "truncated or corrupt", "remove it")
    assert ckpt.read_bytes() == b"PK\x03\x04 cut short" and not out.exists()
    ckpt.unlink()
    proc = _run(*TINY, f"--output={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert out.exists() and not ckpt.exists()


def test_run_refuses_bad_numbers_and_model_with_one_line(model_dir, tmp_path):
    for args, pattern in (
        (["--lr=inf"], "--lr must be a finite number, got inf"),
        (["--size=100000", "--memory_gib=4"], "GiB"),
    ):
        proc = _run(*TINY, f"--output={tmp_path / 'o.png'}", *args)
        _one_line_exit_2(proc, pattern)
    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    _truncate_arrays(model)
    proc = _run(f"--model={model}", f"--output={tmp_path / 'o.png'}", "--max_size=32")
    _one_line_exit_2(proc, "truncated or corrupt weights")  # no orbax thread noise after it
    assert sorted(os.listdir(tmp_path)) == ["model"]


def test_experiment_workdir_on_a_full_disk_fails_first_and_reruns(tmp_path):
    with _tmpfs(tmp_path / "fs", size="24m") as fs:
        (fs / "keep.txt").write_text("precious")
        _fill(fs)
        before = _tree(fs)
        workdir = fs / "runs" / "init"
        args = ["--experiment=init_comparison", "--quick", *TINY, f"--workdir={workdir}"]
        proc = _run(*args)
        _one_line_exit_2(proc, str(workdir), "No space left on device")
        assert _tree(fs) == before and not (fs / "runs").exists()
        (fs / "filler").unlink()
        proc = _run(*args)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert (workdir / "figure.png").is_file() and (workdir / "manifest.json").is_file()
        assert (fs / "keep.txt").read_text() == "precious"
        _no_temp_files(fs)


# A bad model whose loading wakes orbax's and tensorstore's reader threads: each prints a
# traceback ("Event loop is closed") and orbax logs its own errors, some after the failure.
_NOISY_LOAD = """
import logging, runpy, sys, threading, time, traceback
from nst.feedforward import infer

def noise(delay):
    time.sleep(delay)
    try:
        raise RuntimeError("Event loop is closed")
    except RuntimeError:
        traceback.print_exc()

def load(path):
    for _ in range(7):
        threading.Thread(target=noise, args=(0.0,)).start()
    threading.Thread(target=noise, args=(0.05,)).start()
    time.sleep(0.02)
    record = logging.makeLogRecord(dict(name="absl", levelno=logging.ERROR, levelname="ERROR",
        pathname="/site-packages/orbax/checkpoint/metadata.py", msg="Failed to json parse"))
    logging.getLogger("absl").handle(record)
    raise ValueError(f"{path}: truncated or corrupt weights (Encountered error)")

infer.load = load
sys.argv = ["run.py", *sys.argv[1:]]
runpy.run_path(%r, run_name="__main__")
"""


@pytest.mark.parametrize("mode", ["image", "video"])
def test_bad_model_is_one_line_whatever_orbax_threads_print(mode, tmp_path):
    args = [f"--model={tmp_path / 'model'}", f"--output={tmp_path / 'o.png'}"]
    if mode == "video":
        frames = tmp_path / "frames"
        for i in range(2):
            nst_image.save(frames / f"{i:04d}.png", np.zeros((16, 16, 3), np.float32))
        args = [f"--video={frames}", f"--model={tmp_path / 'model'}", f"--output={tmp_path / 'v'}"]
    proc = subprocess.run(
        [sys.executable, "-c", _NOISY_LOAD % str(ROOT / "run.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    time.sleep(0.1)
    _one_line_exit_2(proc, "truncated or corrupt weights")
