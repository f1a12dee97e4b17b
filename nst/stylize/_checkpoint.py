"""Checkpoints of an interrupted run: its state and history in one .npz, tied to the run.

The file holds the state's leaves (image, optimizer state, steps done: ``State``), the
history so far and a fingerprint of the settings and input images, so a resume never mixes
two runs. Written atomically (``nst.files.write_atomic``); nothing read back is trusted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from nst import _npz, files, parallel
from nst import config as config_lib
from nst.config import StylizeConfig


def fingerprint(configs: Sequence[StylizeConfig], content, styles, regions=None) -> str:
    """Hash of the settings (but the run's length and loop form), the input images and the
    spatial-control masks: which content mask and style mask (or none) go with which style,
    so masks grouped otherwise are another run even when their arrays are the same."""
    h = hashlib.sha256()
    for c in configs:
        fields = {f.name: getattr(c, f.name) for f in dataclasses.fields(c)}
        fields.update(steps=0, snapshot_every=0, loop="")
        fields.update(
            content_layers=config_lib.content_layers(c), style_layers=config_lib.style_layers(c)
        )
        h.update(f"StylizeConfig({', '.join(f'{k}={v!r}' for k, v in fields.items())})".encode())
    for a in (content, *styles):
        h.update(np.ascontiguousarray(a, np.float32).tobytes())
    for r, (content_mask, style_mask) in enumerate(regions or ()):
        for what, mask in (("content", content_mask), ("style", style_mask)):
            h.update(f"region {r} {what} mask".encode())
            if mask is not None:
                mask = np.ascontiguousarray(mask, np.float32)
                h.update(f"{mask.shape}".encode() + mask.tobytes())
    return h.hexdigest()[:16]


class CheckpointError(ValueError):
    """A resume file cannot be read, does not belong to this run, or cannot be written."""


def save_checkpoint(path: str, state: Any, history: dict, fingerprint: str) -> None:
    """Writes state and history atomically (temp file + rename) as one .npz.

    Raises:
      CheckpointError: the write failed (disk full, read-only...); the file at ``path``, if
        any, is unchanged, so the last good checkpoint stays valid.
    """
    leaves = jax.tree.leaves(parallel.to_host(state))
    if jax.process_index() != 0:  # one writer across hosts
        return
    arrays = {f"leaf{i}": np.asarray(v) for i, v in enumerate(leaves)}
    arrays.update({f"hist/{k}": np.asarray(v) for k, v in history.items()})
    arrays["fingerprint"] = np.asarray(fingerprint)
    try:
        files.write_atomic(path, lambda f: np.savez(f, **arrays), overwrite=True)
    except files.OutputError as e:
        kept = "; the previous one is kept" if os.path.isfile(path) else ""
        raise CheckpointError(f"cannot save checkpoint {path!r}: {e.reason}{kept}") from None


def load_checkpoint(
    path: str, template: Any, fingerprint: str, *, steps: int | None = None
) -> tuple[Any, dict] | None:
    """Restores a checkpoint written by ``save_checkpoint`` for the same run, else None.

    Nothing read is trusted: every leaf must have the template's shape and dtype and be
    finite, the step counters must agree and lie in ``[0, steps]``, and the history must
    hold one finite entry per step done.

    Raises:
      CheckpointError: naming ``path`` and what is wrong (a directory, not a checkpoint,
        truncated or corrupt, another run's, a bad field).
    """
    if not os.path.lexists(path):
        return None

    def bad(reason: str) -> CheckpointError:
        return CheckpointError(
            f"checkpoint {path!r}: {reason}; remove it to start over (or use another output)"
        )

    if os.path.isdir(path):
        raise bad("is a directory, not a checkpoint file")
    leaves, treedef = jax.tree.flatten(template)

    def corrupt(e: Exception) -> CheckpointError:
        first = (str(e).splitlines() or [""])[0]
        return bad(f"truncated or corrupt ({type(e).__name__}: {first})")

    try:  # every array's shape and dtype from its header, before any is loaded
        headers = _npz.headers(path)
        data = np.load(path, allow_pickle=False)
    except Exception as e:  # zipfile and numpy raise many kinds for bad bytes
        raise corrupt(e) from None
    with data:

        def load(name: str) -> np.ndarray:
            """The array ``name``, once its header says the file holds all of it."""
            shape, dtype, size = headers[name]
            if not headers[name].complete:
                raise bad(
                    f"field {name} declares {dtype}{list(shape)} but holds {size} bytes "
                    "(truncated or corrupt)"
                )
            try:
                return np.asarray(data[name])
            except Exception as e:  # zipfile and numpy raise many kinds for bad bytes
                raise corrupt(e) from None

        shape, dtype, _ = headers.get("fingerprint", (None, np.dtype(bool), 0))
        if shape != () or dtype.kind != "U":
            raise bad("not an nst checkpoint (no fingerprint)")
        if str(load("fingerprint")) != fingerprint:
            raise bad("belongs to another run (different settings or images)")
        restored = []
        for i, leaf in enumerate(leaves):
            name = f"leaf{i}"
            if name not in headers:
                raise bad(f"field {name} is missing")
            (shape, dtype, _), want = headers[name], np.dtype(leaf.dtype)
            if shape != tuple(leaf.shape) or dtype != want:
                raise bad(
                    f"field {name} is {dtype}{list(shape)}, expected {want}{list(leaf.shape)}"
                )
            value = load(name)
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise bad(f"field {name} holds non-finite values")
            restored.append(value)
        if f"leaf{len(leaves)}" in headers:
            raise bad(f"holds more state fields than this run's {len(leaves)}")
        state = jax.tree.unflatten(treedef, restored)
        step = np.asarray(state.step)
        if step.size == 0 or np.any(step != step.flat[0]):
            raise bad(f"step counters disagree: {step.tolist()}")
        done = int(step.flat[0])
        if done < 0 or (steps is not None and done > steps):
            limit = f"[0, {steps}]" if steps is not None else ">= 0"
            raise bad(f"step {done} is outside {limit}")
        history = {}
        for key, (shape, _, _) in headers.items():
            if not key.startswith("hist/"):
                continue
            what = f"history {key[5:]!r}"
            if len(shape) not in (1, 2) or shape[0] != done:
                raise bad(f"{what} has shape {list(shape)} for {done} steps done")
            value = load(key)
            if value.dtype.kind != "f":
                raise bad(f"{what} is {value.dtype}, not floats")
            if not np.all(np.isfinite(value)):
                raise bad(f"{what} holds non-finite values")
            history[key[5:]] = value
    state = jax.tree.map(lambda a, t: jnp.asarray(a, t.dtype), state, template)
    return state, history


def steps_saved(path: str) -> int:
    """Steps done by the interrupted run saved in the checkpoint at ``path``, read from the
    history's header alone; 0 when there is none or it is not readable (``load_checkpoint``
    then says why)."""
    try:
        shape = _npz.headers(path)["hist/total"].shape
        return int(shape[0]) if len(shape) in (1, 2) else 0
    except Exception:  # none, or zipfile and numpy raise many kinds for bad bytes
        return 0


def close(path: str | None, state: Any, history: dict, fingerprint: str, stopped: str | None):
    """At the end of a run: saves the state when it was interrupted, removes the file when
    the run finished (a non-finite stop keeps the last good checkpoint)."""
    if not path:
        return
    if stopped == "interrupted":
        save_checkpoint(path, state, history, fingerprint)
    elif stopped is None and os.path.exists(path):
        os.remove(path)
