"""Overlapping tiles of one shape and their feathered blend weights (a partition of unity).

Coordinates: a tile grid over an ``[H, W]`` image, one axis at a time. Along an axis of
length ``L`` tiles of length ``t`` start every ``s = t - overlap`` pixels from ``-offset``
(``0 <= offset < s``): the grid moves with the offset, so tile borders never stay in one
place when the offset is drawn anew each step. Tiles reaching past the image read a
reflect-padded copy (every image is padded by ``s`` on each side, a fixed amount, so the
padded shape, and every compiled program that reads it, does not depend on the offset).
An axis no longer than ``t`` gets one tile of length ``L`` (no padding, no offset).

Weights: each tile carries a trapezoid ramp ``r(i) = min(1, (i + 1/2) / o, (t - i - 1/2) / o)``
(``o`` the overlap; ``r = 1`` when ``o = 0``), set to 0 outside the image, and divided by
the sum of the ramps of the tiles covering each pixel:

.. math::
  w_k(p) = \\frac{r_k(p)}{\\sum_j r_j(p)}, \\qquad \\sum_k w_k(p) = 1 \\text{ for every pixel } p.

Two-dimensional weights are outer products of the axis weights, so they sum to 1 as well.
Weights are computed in float64 on the host.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["TileGrid", "axis_tiles", "blend_weights", "merge", "pad", "split", "tile_grid"]


def _ramp(length: int, overlap: int) -> np.ndarray:
    i = np.arange(length, dtype=np.float64)
    if overlap <= 0:
        return np.ones(length)
    return np.minimum(1.0, np.minimum((i + 0.5) / overlap, (length - i - 0.5) / overlap))


def axis_tiles(length: int, tile: int, overlap: int, offset: int = 0):
    """Tiles along one axis: ``(origins [n] (image coordinates), weights [n, t], t)``.

    Args:
      length: the axis length ``L`` in pixels.
      tile: tile length in pixels; an axis with ``L <= tile`` gets one tile of length ``L``.
      overlap: pixels shared by neighbouring tiles, ``0 <= overlap < tile``.
      offset: shift of the grid, ``0 <= offset < tile - overlap``: the first tile starts at
        ``-offset``.

    Returns:
      origins: int64 ``[n]``, first pixel of each tile (negative: it starts in the padding).
      weights: float64 ``[n, t]``, each tile's blend weight per pixel (0 outside the image);
        for every pixel of the axis the weights of the tiles covering it sum to 1.
      t: the tile length used (``min(tile, length)``).
    """
    if tile < 1 or not 0 <= overlap < tile:
        raise ValueError(f"need tile >= 1 and 0 <= overlap < tile, got {tile=}, {overlap=}")
    if length <= tile:
        return np.zeros(1, np.int64), np.ones((1, length)), length
    stride = tile - overlap
    if not 0 <= offset < stride:
        raise ValueError(f"offset must be in [0, {stride}), got {offset}")
    # Fewest tiles from -offset that reach the end of the axis.
    n = 1 + max(0, -(-(length + offset - tile) // stride))
    origins = -offset + stride * np.arange(n, dtype=np.int64)
    positions = origins[:, None] + np.arange(tile)[None, :]
    ramps = np.where((positions >= 0) & (positions < length), _ramp(tile, overlap)[None], 0.0)
    total = np.zeros(length)
    np.add.at(total, np.clip(positions, 0, length - 1), ramps)
    weights = ramps / total[np.clip(positions, 0, length - 1)]
    return origins, np.where(ramps > 0, weights, 0.0), tile


@dataclasses.dataclass(frozen=True, eq=False)
class TileGrid:
    """Tiles of one shape ``tile`` covering an image of ``shape``, with their blend weights.

    Tile ``k`` is ``(iy, ix) = divmod(k, len(x_origins))``: rows of tiles, left to right.

    Attributes:
      shape: ``(H, W)`` of the image.
      tile: ``(ty, tx)``, every tile's shape.
      pad: ``(py, px)``: the image is reflect-padded by this much on each side (``split``).
      y_origins, x_origins: int64 ``[ny]``, ``[nx]`` tile starts in image coordinates.
      y_weights, x_weights: float64 ``[ny, ty]``, ``[nx, tx]`` axis blend weights.
    """

    shape: tuple[int, int]
    tile: tuple[int, int]
    pad: tuple[int, int]
    y_origins: np.ndarray
    x_origins: np.ndarray
    y_weights: np.ndarray
    x_weights: np.ndarray

    def __len__(self) -> int:
        return len(self.y_origins) * len(self.x_origins)

    @property
    def padded_shape(self) -> tuple[int, int]:
        return self.shape[0] + 2 * self.pad[0], self.shape[1] + 2 * self.pad[1]

    def origins(self) -> np.ndarray:
        """int32 ``[n, 2]``: each tile's top-left corner in padded coordinates."""
        y = np.repeat(self.y_origins, len(self.x_origins)) + self.pad[0]
        x = np.tile(self.x_origins, len(self.y_origins)) + self.pad[1]
        return np.stack([y, x], axis=1).astype(np.int32)

    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        """float32 ``([n, ty], [n, tx])``: each tile's axis weights; its 2-D weight is
        their outer product."""
        wy = np.repeat(self.y_weights, len(self.x_origins), axis=0)
        wx = np.tile(self.x_weights, (len(self.y_origins), 1))
        return wy.astype(np.float32), wx.astype(np.float32)


def tile_grid(
    shape: tuple[int, ...],
    tile_size: int | tuple[int, int],
    overlap: int,
    offset: tuple[int, int] = (0, 0),
) -> TileGrid:
    """The grid of ``tile_size`` tiles over an image of ``shape`` (``[H, W, ...]``).

    Args:
      shape: the image shape; its first two entries are ``H, W``.
      tile_size: tile side in pixels (or ``(ty, tx)``); an image side no longer than the
        tile gets a single tile of that side's length.
      overlap: pixels shared by neighbouring tiles (the width of the feathered ramps).
      offset: ``(oy, ox)`` grid shift, each in ``[0, tile - overlap)`` (0 on an axis with one
        tile).

    >>> g = tile_grid((100, 60, 3), 48, 16, offset=(5, 0))
    >>> g.tile, len(g), g.pad
    ((48, 48), 8, (32, 32))
    """
    h, w = int(shape[0]), int(shape[1])
    ty, tx = (tile_size, tile_size) if isinstance(tile_size, int) else tile_size
    y0, wy, ty = axis_tiles(h, ty, overlap, offset[0] if h > ty else 0)
    x0, wx, tx = axis_tiles(w, tx, overlap, offset[1] if w > tx else 0)
    pad = (ty - overlap if h > ty else 0, tx - overlap if w > tx else 0)
    return TileGrid((h, w), (ty, tx), pad, y0, x0, wy, wx)


def blend_weights(grid: TileGrid) -> np.ndarray:
    """float64 ``[n, ty, tx]``: every tile's 2-D blend weight (outer product of its axis
    weights); placed on the image they sum to 1 at every pixel (see ``merge``)."""
    wy = np.repeat(grid.y_weights, len(grid.x_origins), axis=0)
    wx = np.tile(grid.x_weights, (len(grid.y_origins), 1))
    return wy[:, :, None] * wx[:, None, :]


def pad(image: jax.typing.ArrayLike, grid: TileGrid) -> jax.Array:
    """``image [H, W, C]`` reflect-padded by ``grid.pad`` on each side."""
    py, px = grid.pad
    return jnp.pad(jnp.asarray(image), ((py, py), (px, px), (0, 0)), mode="reflect")


def _crop(padded: jax.Array, origin: jax.Array, tile: tuple[int, int]) -> jax.Array:
    return jax.lax.dynamic_slice(padded, (origin[0], origin[1], 0), (*tile, padded.shape[-1]))


def split(image: jax.typing.ArrayLike, grid: TileGrid) -> jax.Array:
    """The tiles of ``image [H, W, C]``: ``[n, ty, tx, C]`` (edge tiles read the reflect
    padding)."""
    padded = pad(image, grid)
    origins = jnp.asarray(grid.origins())
    return jax.vmap(lambda o: _crop(padded, o, grid.tile))(origins)


def accumulate(
    acc: jax.Array, tiles: jax.Array, origins: jax.Array, wy: jax.Array, wx: jax.Array
) -> jax.Array:
    """``acc`` (padded ``[H', W', C]``) plus every weighted tile placed at its origin.

    ``tiles [B, ty, tx, C]``, ``origins [B, 2]`` (padded coordinates), ``wy [B, ty]``,
    ``wx [B, tx]``. Traceable: the tile loop is unrolled over the static ``B``.
    """
    ty, tx = tiles.shape[1:3]
    for b in range(tiles.shape[0]):
        start = (origins[b, 0], origins[b, 1], 0)
        window = jax.lax.dynamic_slice(acc, start, (ty, tx, acc.shape[-1]))
        weight = (wy[b][:, None] * wx[b][None, :])[..., None].astype(tiles.dtype)
        acc = jax.lax.dynamic_update_slice(acc, window + weight * tiles[b], start)
    return acc


def _axis_owners(origins: np.ndarray, weights: np.ndarray, length: int) -> np.ndarray:
    """float32 ``[n, t]``: 1 where a tile has the largest weight of a pixel (first on ties)."""
    n, t = weights.shape
    positions = origins[:, None] + np.arange(t)[None, :]
    placed = np.full((n, length), -1.0)
    inside = (positions >= 0) & (positions < length)
    rows = np.repeat(np.arange(n)[:, None], t, axis=1)
    placed[rows[inside], positions[inside]] = weights[inside]
    owner = np.argmax(placed, axis=0)  # [length]
    return (inside & (owner[np.clip(positions, 0, length - 1)] == rows)).astype(np.float32)


def merge(tiles: jax.typing.ArrayLike, grid: TileGrid) -> jax.Array:
    """Blends tiles ``[n, ty, tx, C]`` back into an ``[H, W, C]`` image,
    :math:`x(p) = \\sum_k w_k(p)\\, x_k(p)`.

    Computed as :math:`r(p) + \\sum_k w_k(p) (x_k(p) - r(p))` with ``r`` the tile of largest
    weight at each pixel (equal, as the weights sum to 1), so tiles that agree, such as
    ``split(x, grid)``, give back ``x`` bit for bit: ``merge(split(x, g), g) == x``.
    """
    tiles = jnp.asarray(tiles)
    n = len(grid.x_origins)
    oy = np.repeat(_axis_owners(grid.y_origins, grid.y_weights, grid.shape[0]), n, axis=0)
    ox = np.tile(
        _axis_owners(grid.x_origins, grid.x_weights, grid.shape[1]), (len(grid.y_origins), 1)
    )
    origins = jnp.asarray(grid.origins())
    ty, tx = grid.tile
    reference = jnp.zeros((*grid.padded_shape, tiles.shape[-1]), tiles.dtype)
    for k in range(len(grid)):
        start = (origins[k, 0], origins[k, 1], 0)
        window = jax.lax.dynamic_slice(reference, start, (ty, tx, tiles.shape[-1]))
        owned = (oy[k][:, None] * ox[k][None, :])[..., None] > 0
        reference = jax.lax.dynamic_update_slice(
            reference, jnp.where(owned, tiles[k], window), start
        )
    residuals = tiles - jax.vmap(lambda o: _crop(reference, o, grid.tile))(origins)
    wy, wx = grid.weights()
    acc = accumulate(reference, residuals, origins, jnp.asarray(wy), jnp.asarray(wx))
    (py, px), (h, w) = grid.pad, grid.shape
    return acc[py : py + h, px : px + w]
