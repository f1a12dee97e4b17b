"""Checkpoint edges where mutants passed the resume tests (benchmarks/mutation_run.py,
docs/testing.md): a run interrupted before its first step, a negative step counter, the
error named for a corrupt file, and the steps a checkpoint reports for the progress bar."""

import numpy as np
import pytest

from nst import stylize


def _state(k: int, step: int) -> stylize.State:
    return stylize.State(
        image=np.zeros((k, 4, 4, 3), np.float32),
        opt_state=(np.ones((k, 4, 4, 3), np.float32),),
        step=np.full((k,), step, np.int32),
    )


def _save(path, k, step):
    history = {"total": np.ones((step, k) if k > 1 else (step,), np.float32)}
    stylize.save_checkpoint(str(path), _state(k, step), history, "f" * 16)


def test_interrupted_before_the_first_step_resumes_at_0(tmp_path):
    path = tmp_path / "run.ckpt.npz"
    _save(path, 1, 0)
    state, history = stylize.load_checkpoint(str(path), _state(1, 0), "f" * 16, steps=5)
    assert int(state.step[0]) == 0 and len(history["total"]) == 0


def test_a_negative_step_counter_is_refused(tmp_path):
    path = tmp_path / "run.ckpt.npz"
    state = _state(1, 0)._replace(step=np.full((1,), -1, np.int32))
    stylize.save_checkpoint(str(path), state, {"total": np.ones((0,), np.float32)}, "f" * 16)
    with pytest.raises(stylize.CheckpointError, match=r"step -1 is outside \[0, 5\]"):
        stylize.load_checkpoint(str(path), _state(1, 0), "f" * 16, steps=5)


def test_a_corrupt_file_names_the_error(tmp_path):
    path = tmp_path / "run.ckpt.npz"
    path.write_bytes(b"not a zip archive at all")
    with pytest.raises(stylize.CheckpointError) as info:
        stylize.load_checkpoint(str(path), _state(1, 0), "f" * 16)
    message = str(info.value)
    assert "truncated or corrupt (BadZipFile: File is not a zip file)" in message, message


@pytest.mark.parametrize("k", [1, 3])
def test_steps_saved_is_the_steps_done(tmp_path, k):
    path = tmp_path / "run.ckpt.npz"
    _save(path, k, 4)
    assert stylize.steps_saved(str(path)) == 4
    assert stylize.steps_saved(str(tmp_path / "missing.npz")) == 0
