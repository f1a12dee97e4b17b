"""Training checkpoints (nst/feedforward/checkpoint.py ``TrainCheckpoints``) when the disk
fills up during a write: one line naming the step and the checkpoint kept, which still
restores (issue 30)."""

import errno
import logging
import os

import numpy as np
import orbax.checkpoint as ocp
import pytest

from nst.feedforward import checkpoint
from nst.feedforward.config import NetConfig
from nst_cli import errors

DESCRIPTION = checkpoint.net_json(NetConfig(width=4, num_residual=1), {"steps": 1})


def _state(step):
    return {"params": {"w": np.full((3,), step, np.float32)}, "step": np.int32(step)}


async def _disk_full(self, *args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


# The simulated full disk strikes in orbax's background writer of the JSON item (private:
# orbax 0.12's ``JsonCheckpointHandler._save_fn``): the write goes on after ``save``
# returns and its error surfaces at ``wait`` (or the next ``save``).
WRITER = "_save_fn"


def test_a_full_disk_is_one_line_and_the_last_checkpoint_stays(tmp_path, monkeypatch, caplog):
    folder = tmp_path / "checkpoints"
    caplog.set_level(logging.ERROR)
    with checkpoint.TrainCheckpoints(folder, keep=1) as checkpoints:
        checkpoints.save(1, _state(1), DESCRIPTION)
        checkpoints.wait()
        with monkeypatch.context() as patch:
            patch.setattr(ocp.handlers.JsonCheckpointHandler, WRITER, _disk_full)
            with pytest.raises(OSError) as raised:
                checkpoints.save(2, _state(2), DESCRIPTION)
                checkpoints.wait()
    assert raised.value.errno == errno.ENOSPC
    assert errors.one_line(raised.value) == (
        f"{folder}: cannot write training checkpoint step 2: No space left on device; the last "
        "complete checkpoint, step 1, is kept (resume from it once there is room)"
    )
    assert not [r for r in caplog.records if r.exc_info], "orbax's tracebacks were logged"
    with checkpoint.TrainCheckpoints(folder) as again:  # a resumed run
        assert again.latest_step() == 1
        state, description = again.restore(1)
    np.testing.assert_array_equal(state["params"]["w"], [1, 1, 1])
    assert description == DESCRIPTION


def test_a_full_disk_before_any_checkpoint_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(ocp.handlers.JsonCheckpointHandler, WRITER, _disk_full)
    with checkpoint.TrainCheckpoints(tmp_path) as checkpoints:
        with pytest.raises(OSError, match="step 5: No space left on device; no earlier"):
            checkpoints.save(5, _state(5), DESCRIPTION)
            checkpoints.wait()
