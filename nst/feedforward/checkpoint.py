"""Saving and loading networks with orbax: self-describing models and resumable training.

A *model* is a directory holding ``net.json`` (the ``NetConfig``, style names and training
information) and ``variables/`` (an orbax checkpoint of ``{"params", "batch_stats"}``): it
loads for inference without any training flag. A *training workdir* holds
``checkpoints/<step>/`` (orbax ``CheckpointManager``: the whole train state and the same
JSON) and, once training finishes, the exported ``model/``. :func:`load_model` accepts any
of the three: a model, a training workdir, or its ``checkpoints/`` folder (latest step).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
from typing import Any

import jax
import orbax.checkpoint as ocp

from nst.feedforward.config import NetConfig

__all__ = ["MODEL_JSON", "TrainCheckpoints", "load_model", "net_json", "save_model"]

MODEL_JSON = "net.json"
FORMAT = 1


def net_json(config: NetConfig, info: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON-able description saved beside the weights."""
    return {"format": FORMAT, "net": json.loads(config.to_json()), "info": dict(info or {})}


def _parse_net_json(values: dict[str, Any], where: str) -> tuple[NetConfig, dict[str, Any]]:
    try:
        return NetConfig.from_dict(values["net"]), dict(values.get("info", {}))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{where}: not a feed-forward network description ({e})") from None


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
                description = json.loads((candidate / MODEL_JSON).read_text())
            except (OSError, json.JSONDecodeError) as e:
                raise ValueError(f"{where}: unreadable ({e})") from None
            config, info = _parse_net_json(description, where)
            with ocp.StandardCheckpointer() as checkpointer:
                saved = checkpointer.metadata(candidate / "variables").item_metadata
                variables = checkpointer.restore(candidate / "variables", _on_one_device(saved))
            return config, dict(variables), info
    for candidate in (path / "checkpoints", path):
        if candidate.is_dir() and any(p.name.isdigit() for p in candidate.iterdir()):
            with TrainCheckpoints(candidate) as checkpoints:
                step = checkpoints.latest_step()
                if step is not None:
                    state, description = checkpoints.restore(step)
                    config, info = _parse_net_json(description, f"{candidate}/{step}")
                    variables = {"params": state["params"], "batch_stats": state["batch_stats"]}
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


class TrainCheckpoints:
    """Step-numbered training checkpoints (orbax ``CheckpointManager``, async writes).

    Each step holds ``state`` (any pytree: step, params, batch_stats, opt_state) and
    ``net`` (the ``net_json`` description). Use as a context manager, or call ``close``.
    """

    def __init__(self, directory: str | os.PathLike, *, keep: int = 3):
        self.directory = pathlib.Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state: Any, description: dict[str, Any]) -> None:
        """Starts writing ``state`` at ``step`` (returns while the write goes on)."""
        if step in self._manager.all_steps():
            return
        args = ocp.args.Composite(
            state=ocp.args.StandardSave(state), net=ocp.args.JsonSave(description)
        )
        self._manager.save(step, args=args, force=True)

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
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()

    def __enter__(self) -> TrainCheckpoints:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
