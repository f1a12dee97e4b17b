"""Saving and loading networks with orbax: self-describing models and resumable training.

A *model* is a directory holding ``net.json`` (the ``NetConfig``, style names and training
information) and ``variables/`` (an orbax checkpoint of ``{"params", "batch_stats"}``): it
loads for inference without any training flag. A *training workdir* holds
``checkpoints/<step>/`` (orbax ``CheckpointManager``: the whole train state and the same
JSON) and, once training finishes, the exported ``model/``. :func:`load_model` accepts any
of the three: a model, a training workdir, or its ``checkpoints/`` folder (latest step).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pathlib
import shutil
from collections.abc import Iterator
from typing import Any

import jax
import orbax.checkpoint as ocp

from nst.feedforward import nets
from nst.feedforward.config import NetConfig

__all__ = ["MODEL_JSON", "TrainCheckpoints", "load_model", "net_json", "save_model"]

MODEL_JSON = "net.json"
FORMAT = 1


def net_json(config: NetConfig, info: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON-able description saved beside the weights."""
    return {"format": FORMAT, "net": json.loads(config.to_json()), "info": dict(info or {})}


def _parse_net_json(values: Any, where: str) -> tuple[NetConfig, dict[str, Any]]:
    if not isinstance(values, dict) or not isinstance(values.get("net"), dict):
        raise ValueError(f'{where}: not a feed-forward network description (no "net" object)')
    info = values.get("info", {})
    if not isinstance(info, dict):
        raise ValueError(f'{where}: "info" must be an object')
    try:
        return NetConfig.from_dict(values["net"]), dict(info)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{where}: not a valid network description ({e})") from None


def _flat_shapes(tree: Any) -> dict[str, tuple[int, ...]]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {
        jax.tree_util.keystr(path, simple=True, separator="/"): tuple(leaf.shape)
        for path, leaf in leaves
    }


def check_shapes(config: NetConfig, stored: Any, where: str) -> None:
    """ValueError naming ``where`` unless ``stored`` (arrays or metadata with ``.shape``,
    ``{"params", "batch_stats"}``) has exactly the variables ``config``'s network makes."""
    expected = nets.variable_shapes(config)
    want = _flat_shapes({k: expected.get(k, {}) for k in ("params", "batch_stats")})
    have = _flat_shapes({k: stored.get(k, {}) for k in ("params", "batch_stats")})
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    wrong = sorted(k for k in set(want) & set(have) if want[k] != have[k])
    if missing or extra or wrong:
        if wrong:
            k = wrong[0]
            detail = f"{k} is {list(have[k])}, the network needs {list(want[k])}"
        elif missing:
            detail = f"{len(missing)} array(s) missing, e.g. {missing[0]}"
        else:
            detail = f"{len(extra)} unexpected array(s), e.g. {extra[0]}"
        raise ValueError(f"{where} does not match the stored weights: {detail}")


def _first_line(e: BaseException) -> str:
    line = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return line.split(" See full TensorStore details")[0][:300]


def save_model(
    path: str | os.PathLike,
    config: NetConfig,
    variables: dict[str, Any],
    *,
    info: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> pathlib.Path:
    """Writes a model directory (``net.json`` + ``variables/``); returns its path.

    After ``jax.distributed.initialize`` every process calls it with the same (global)
    variables: process 0 prepares the directory and writes the JSON, orbax writes each
    array once.

    Raises:
      FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    path = pathlib.Path(path).absolute()
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    primary = jax.process_index() == 0
    if primary:
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
    variables = {"params": variables["params"], "batch_stats": variables["batch_stats"]}
    if jax.process_count() == 1:
        variables = jax.device_get(variables)
    else:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(f"nst save_model {path}")
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(path / "variables", variables)
    if primary:
        (path / MODEL_JSON).write_text(json.dumps(net_json(config, info), indent=2) + "\n")
    return path


def load_model(path: str | os.PathLike) -> tuple[NetConfig, dict[str, Any], dict[str, Any]]:
    """``(config, variables, info)`` of a model, a training workdir or its checkpoints.

    Raises:
      ValueError: ``path`` is none of those (one line naming the path).
    """
    path = pathlib.Path(path).absolute()
    if not path.exists():
        raise ValueError(f"model {str(path)!r} does not exist")
    for candidate in (path, path / "model"):
        if (candidate / MODEL_JSON).is_file():
            where = str(candidate / MODEL_JSON)
            try:
                description = json.loads((candidate / MODEL_JSON).read_bytes().decode())
            except OSError as e:
                raise ValueError(f"{where}: unreadable ({e.strerror or e})") from None
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise ValueError(f"{where}: net.json is not valid JSON ({e})") from None
            config, info = _parse_net_json(description, where)
            variables_dir = candidate / "variables"
            if not variables_dir.is_dir():
                raise ValueError(f"model {str(candidate)!r}: no variables/ folder")
            # Validated before any array is read or any network built; orbax's reader
            # threads are closed by the context manager before an error propagates.
            with ocp.StandardCheckpointer() as checkpointer:
                try:
                    saved = checkpointer.metadata(variables_dir).item_metadata
                except Exception as e:  # orbax / tensorstore raise many kinds for bad files
                    raise ValueError(
                        f"{variables_dir}: unreadable weights ({_first_line(e)})"
                    ) from None
                if not hasattr(saved, "keys"):
                    raise ValueError(f"{variables_dir}: unreadable weights (no array metadata)")
                check_shapes(config, {k: saved[k] for k in saved.keys()}, where)
                try:
                    variables = checkpointer.restore(variables_dir, _on_one_device(saved))
                except Exception as e:  # a truncated or corrupt array file
                    raise ValueError(
                        f"{variables_dir}: truncated or corrupt weights ({_first_line(e)})"
                    ) from None
            return config, dict(variables), info
    for candidate in (path / "checkpoints", path):
        if candidate.is_dir() and any(p.name.isdigit() for p in candidate.iterdir()):
            with TrainCheckpoints(candidate) as checkpoints:
                step = checkpoints.latest_step()
                if step is not None:
                    where = f"{candidate}/{step}"
                    try:
                        state, description = checkpoints.restore(step)
                    except Exception as e:  # a truncated or corrupt checkpoint
                        raise ValueError(
                            f"{where}: truncated or corrupt checkpoint ({_first_line(e)})"
                        ) from None
                    config, info = _parse_net_json(description, where)
                    if not isinstance(state, dict) or not {"params", "batch_stats"} <= set(state):
                        raise ValueError(f"{where}: not a training checkpoint of a network")
                    variables = {"params": state["params"], "batch_stats": state["batch_stats"]}
                    check_shapes(config, variables, where)
                    return config, variables, info
    raise ValueError(
        f"{str(path)!r} is not a model: expected {MODEL_JSON} + variables/, a training "
        "workdir, or a checkpoints folder"
    )


def _on_one_device(metadata: Any) -> Any:
    """Restore targets on the first local device for saved array metadata.

    Arrays written by several processes (sharded over their devices) cannot be restored
    without a target; inference and inspection want them on one device.
    """
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), metadata)


def _os_error(error: BaseException) -> OSError | None:
    """The OSError (disk full, read-only, ...) behind ``error``, if any: orbax re-raises a
    background writer's error as it is, or as the cause or context of its own."""
    seen = 0
    while error is not None and seen < 8:
        if isinstance(error, OSError) and error.errno is not None:
            return error
        error = error.__cause__ or error.__context__
        seen += 1
    return None


class _DropWriteErrors(logging.Filter):
    """Drops orbax's logged tracebacks of a failed write (an OSError), and once a write
    failed every traceback its abandoned writer threads log on the way out:
    ``TrainCheckpoints`` raises the error itself, as one line naming the step and the
    checkpoint kept."""

    failed = False

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if "orbax" not in record.pathname or error is None:
            return True
        return not (self.failed or _os_error(error))


class TrainCheckpoints:
    """Step-numbered training checkpoints (orbax ``CheckpointManager``, async writes).

    Each step holds ``state`` (any pytree: step, params, batch_stats, opt_state) and
    ``net`` (the ``net_json`` description). Use as a context manager, or call ``close``.

    A write that fails (a full disk, a read-only folder) raises, at the next ``save``,
    ``wait`` or ``close``, an ``OSError`` whose one line names the step, the folder, the
    reason and the last complete checkpoint, which stays as it was: orbax writes a step
    into ``<step>.orbax-checkpoint-tmp`` and renames it only once complete, and
    ``latest_step``/``load_model`` skip such a folder.
    """

    def __init__(self, directory: str | os.PathLike, *, keep: int = 3):
        self.directory = pathlib.Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
        self._manager = ocp.CheckpointManager(self.directory, options=options)
        self._writing: int | None = None  # the step whose write may still be going on
        self._quiet = _DropWriteErrors()
        logging.getLogger("absl").addFilter(self._quiet)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state: Any, description: dict[str, Any]) -> None:
        """Starts writing ``state`` at ``step`` (returns while the write goes on).

        Raises:
          OSError: this write, or the previous one still going on, failed (one line).
        """
        if step in self._manager.all_steps():
            return
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(state), net=ocp.args.JsonSave(description)
        )
        with self._failures(step):
            self._manager.save(step, args=args, force=True)
        self._writing = step

    @contextlib.contextmanager
    def _failures(self, step: int | None) -> Iterator[None]:
        """Turns a failed write (surfacing here, of the step in flight or ``step``) into
        one ``OSError`` line; removes the failed step's temporary folder."""
        try:
            yield
        except Exception as e:
            cause = _os_error(e)
            if cause is None:
                raise
            failed = self._writing if self._writing is not None else step
            self._writing = None
            self._quiet.failed = True
            raise self._failed(failed, cause) from e

    def _failed(self, step: int | None, cause: OSError) -> OSError:
        complete = sorted(
            int(p.name) for p in self.directory.iterdir() if p.name.isdigit() and p.is_dir()
        )
        complete = [s for s in complete if s != step]
        kept = (
            f"the last complete checkpoint, step {complete[-1]}, is kept (resume from it once "
            "there is room)"
            if complete
            else "no earlier checkpoint exists"
        )
        reason = cause.strerror or str(cause) or type(cause).__name__
        what = f"checkpoint step {step}" if step is not None else "a checkpoint"
        return OSError(
            cause.errno, f"cannot write training {what}: {reason}; {kept}", str(self.directory)
        )

    def restore(self, step: int, abstract_state: Any = None) -> tuple[Any, dict[str, Any]]:
        """``(state, description)`` at ``step``; ``abstract_state`` gives structure/shardings.

        Without it, the arrays come back on one device (whatever topology saved them).
        """
        if abstract_state is None:
            abstract_state = _on_one_device(self._manager.item_metadata(step).state)
        args = ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state), net=ocp.args.JsonRestore()
        )
        restored = self._manager.restore(step, args=args)
        return restored.state, restored.net

    def description(self, step: int) -> dict[str, Any]:
        """The ``net_json`` saved at ``step`` (without reading the arrays)."""
        args = ocp.args.Composite(net=ocp.args.JsonRestore())
        return self._manager.restore(step, args=args).net

    def wait(self) -> None:
        """Waits for the write in flight. Raises: OSError, as ``save``."""
        with self._failures(None):
            self._manager.wait_until_finished()
        self._writing = None

    def close(self) -> None:
        """Finishes the write in flight and closes. Raises: OSError, as ``save``."""
        try:
            with self._failures(None):
                self._manager.close()
        finally:
            if not self._quiet.failed:  # else kept: orbax's abandoned threads log as they end
                logging.getLogger("absl").removeFilter(self._quiet)

    def __enter__(self) -> TrainCheckpoints:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
