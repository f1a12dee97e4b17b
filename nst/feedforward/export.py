"""Trained networks as self-contained serialized programs (``jax.export``, StableHLO).

    program = export.export_model(infer.load("runs/ff/model"))  # weights baked in
    export.save("starry.nstx", program)
    out = export.stylize(export.load("starry.nstx"), photo)       # [H, W, 3] -> [H, W, 3]

The file holds the network's forward pass with its weights as constants: running it needs
JAX (and numpy), not Flax, orbax or this package's training code. Layout: the 4 bytes
``NSTX``, a little-endian uint32 ``n``, ``n`` bytes of UTF-8 JSON (``divisor``, ``styles``,
``size``, ``format``), then the bytes of ``jax.export.Exported.serialize()``. A program for
any size has symbolic dimensions: batch ``b`` and sides ``divisor * k``; photos are
reflect-padded to a multiple of ``divisor`` (as the network does inside) and cropped back.
The program takes ``(images [b, H, W, 3] float32 in [0, 1], style weights [b, S] float32,
seed uint32 [])`` and returns ``[b, H, W, 3]``.

Any size works for Johnson networks; texture (Ulyanov) networks are exported for one
``size`` (their noise pyramid's shapes are computed in Python).
"""

from __future__ import annotations

import json
import os
import pathlib
import struct
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import export as jax_export

from nst import files

__all__ = ["MAGIC", "Program", "export_model", "load", "save", "stylize"]

MAGIC = b"NSTX"
FORMAT = 1


@dataclass(frozen=True)
class Program:
    """An exported network: the ``jax.export.Exported`` and its description."""

    exported: jax_export.Exported
    divisor: int
    styles: tuple[str, ...]
    size: tuple[int, int] | None  # None: any size

    def describe(self) -> dict[str, Any]:
        size = None if self.size is None else list(self.size)
        return {
            "format": FORMAT,
            "divisor": self.divisor,
            "styles": list(self.styles),
            "size": size,
        }


def export_model(model: Any, *, size: tuple[int, int] | None = None) -> Program:
    """Exports a loaded model (``nst.feedforward.infer.Model``) with its weights baked in.

    Args:
      model: the network (``infer.load(path)``).
      size: ``(H, W)`` to export for one image size (any batch); None (default) exports for
        any size, as sides ``divisor * k`` (Johnson networks only).

    Returns:
      The ``Program``.

    Raises:
      ValueError: ``size=None`` for a texture (Ulyanov) network.
    """
    from nst.feedforward import nets

    config, variables = model.config, model.variables
    if size is None and config.arch != "johnson":
        raise ValueError(f"arch={config.arch!r} exports for one size only: pass size=(H, W)")

    def forward(images, style_w, seed):
        return nets.apply(config, variables, images, style_w, key=nets.noise_key(seed))[0]

    d = config.divisor
    if size is None:
        dims = f"b, {d}*hh, {d}*ww"
        b, h, w = jax_export.symbolic_shape(dims, constraints=("hh >= 2", "ww >= 2"))
    else:
        (b,) = jax_export.symbolic_shape("b")
        h, w = (-(-int(s) // d) * d for s in size)  # padded like the runner pads
    args = (
        jax.ShapeDtypeStruct((b, h, w, 3), jnp.float32),
        jax.ShapeDtypeStruct((b, config.num_styles), jnp.float32),
        jax.ShapeDtypeStruct((), jnp.uint32),
    )
    exported = jax_export.export(jax.jit(forward))(*args)
    fixed = None if size is None else (int(size[0]), int(size[1]))
    return Program(exported, d, tuple(config.styles), fixed)


def save(path: str | os.PathLike, program: Program, *, overwrite: bool = False) -> pathlib.Path:
    """Writes ``program`` to ``path`` atomically (``nst.files.write_atomic``).

    Raises:
      FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    header = json.dumps(program.describe()).encode()
    payload = MAGIC + struct.pack("<I", len(header)) + header + bytes(program.exported.serialize())
    return files.write_atomic(path, payload, overwrite=True)


def load(path: str | os.PathLike) -> Program:
    """Reads a program written by :func:`save`.

    Raises:
      ValueError: ``path`` is not such a file (one line naming it).
    """
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"exported model {str(path)!r}: {e.strerror or e}") from None
    if data[:4] != MAGIC or len(data) < 8:
        raise ValueError(f"{path} is not an exported nst network (no {MAGIC.decode()} header)")
    (n,) = struct.unpack("<I", data[4:8])
    try:
        info = json.loads(data[8 : 8 + n])
        exported = jax_export.deserialize(bytearray(data[8 + n :]))
    except Exception as e:  # a truncated or corrupted file
        raise ValueError(f"{path}: unreadable exported network ({type(e).__name__})") from None
    size = info.get("size")
    return Program(
        exported, int(info["divisor"]), tuple(info["styles"]), None if size is None else tuple(size)
    )


def _pad(images: np.ndarray, divisor: int) -> np.ndarray:
    """Bottom/right padding to a multiple of ``divisor``: reflect, or edge for tiny sides
    (the network's own ``pad_to_multiple``)."""
    pad_h, pad_w = -images.shape[1] % divisor, -images.shape[2] % divisor
    if not pad_h and not pad_w:
        return images
    mode = "reflect" if min(images.shape[1:3]) > max(pad_h, pad_w) else "edge"
    return np.pad(images, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode=mode)


def stylize(program: Program, images: Any, *, style: Any = None, seed: int = 0) -> np.ndarray:
    """Runs the program on ``[H, W, 3]`` or ``[N, H, W, 3]`` float images in [0, 1].

    ``style``: mixture weights ``[S]`` (normalized to sum 1), or None for the first style.
    Each new input shape compiles once (``Exported.call`` is jitted).

    Raises:
      ValueError: a shape the program was not exported for, or bad style weights.
    """
    x = np.asarray(images, np.float32)
    single = x.ndim == 3
    x = x[None] if single else x
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"images must be [H, W, 3] or [N, H, W, 3], got shape {x.shape}")
    height, width = x.shape[1:3]
    if program.size is not None and (height, width) != tuple(program.size):
        raise ValueError(
            f"this program was exported for {program.size[0]}x{program.size[1]} images, "
            f"got {height}x{width}"
        )
    if min(height, width) < 5:
        raise ValueError(f"images must be at least 5x5, got {height}x{width}")
    n_styles = len(program.styles)
    w = np.eye(n_styles, dtype=np.float32)[0] if style is None else np.asarray(style, np.float32)
    if w.shape != (n_styles,) or np.any(w < 0) or not w.sum() > 0:
        raise ValueError(f"style must be {n_styles} non-negative weights with a positive sum")
    style_w = np.broadcast_to(w / w.sum(), (x.shape[0], n_styles))
    out = program.exported.call(_pad(x, program.divisor), style_w, np.uint32(seed))
    out = np.asarray(out)[:, :height, :width]
    return out[0] if single else out
