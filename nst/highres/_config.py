"""``HighresConfig``: the pyramid, tiling and memory options of a large output."""

from __future__ import annotations

import dataclasses
import math

__all__ = ["HighresConfig", "level_shapes", "level_steps"]


@dataclasses.dataclass(frozen=True)
class HighresConfig:
    """How a large output is made: coarse-to-fine levels, tiles at the fine ones.

    The base ``StylizeConfig`` keeps its meaning: ``size`` is the output's longest side,
    ``steps`` the steps of the coarsest level, ``seed`` also seeds the tile offsets.
    """

    # Pyramid (Gatys et al. 2017): level sizes size / ratio**k, coarsest >= pyramid_start.
    pyramid_ratio: float = 2.0  # sqrt(2) or 2: side ratio of neighbouring levels
    pyramid_start: int = 256  # longest side of the coarsest level is in [start, start*ratio)
    # (0: no pyramid, one level at the full size).
    # Steps per level: explicit (coarse to fine; one entry per level), or config.steps at
    # the coarsest level times step_decay per finer level, at least min_steps.
    level_steps: tuple[int, ...] = ()
    step_decay: float = 0.5
    min_steps: int = 20
    style_scale: float = 1.0  # style image's longest side = style_scale x the level's
    carry_optimizer_state: bool = False  # Adam moments resized to the next level
    # Tiling: tile side and overlap (px); 0 disables tiling (an untiled size that does not
    # fit is then refused).
    tile_size: int = 512
    tile_overlap: int = 64
    tile_batch: int = 1  # tiles per backbone call (vmapped); more uses more memory
    # Levels whose longest side exceeds tile_above are tiled; None: levels whose untiled
    # estimate exceeds the memory budget (the fastest choice that fits).
    tile_above: int | None = None
    remat: bool = False  # jax.checkpoint per backbone block (no gain measured on XLA:CPU)
    bf16: bool = False  # bfloat16 backbone activations (features and losses in float32)
    # Memory budget: memory_fraction x what is available (MemAvailable on the CPU, the
    # device's free bytes on an accelerator), or memory_budget bytes when set.
    memory_fraction: float = 0.9
    memory_budget: int | None = None
    style_tile: int = 1024  # style images larger than this (longest side) give Grams by tiles

    def __post_init__(self):
        for name in ("pyramid_ratio", "step_decay", "style_scale", "memory_fraction"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number, got {getattr(self, name)}")
        if self.memory_budget is not None and not self.memory_budget > 0:
            raise ValueError(f"memory_budget must be > 0 bytes, got {self.memory_budget}")
        if not self.pyramid_ratio > 1.0:
            raise ValueError(f"pyramid_ratio must be > 1, got {self.pyramid_ratio}")
        if self.pyramid_start < 0:
            raise ValueError(
                f"pyramid_start must be >= 0 (0: no pyramid), got {self.pyramid_start}"
            )
        if self.tile_size < 0 or (self.tile_size and self.tile_size < 32):
            raise ValueError(f"tile_size must be 0 (no tiling) or >= 32 px, got {self.tile_size}")
        if self.tile_size and not 0 <= self.tile_overlap <= self.tile_size // 2:
            raise ValueError(
                f"tile_overlap must be in [0, tile_size / 2], got {self.tile_overlap} "
                f"for tile_size {self.tile_size}"
            )
        if self.tile_batch < 1:
            raise ValueError(f"tile_batch must be >= 1, got {self.tile_batch}")
        if self.style_scale <= 0:
            raise ValueError(f"style_scale must be > 0, got {self.style_scale}")
        if any(s < 1 for s in self.level_steps):
            raise ValueError(f"level_steps must be >= 1 each, got {self.level_steps}")
        if not 0 < self.step_decay <= 1:
            raise ValueError(f"step_decay must be in (0, 1], got {self.step_decay}")
        if not 0 < self.memory_fraction <= 1:
            raise ValueError(f"memory_fraction must be in (0, 1], got {self.memory_fraction}")


def level_shapes(shape: tuple[int, ...], hi: HighresConfig) -> list[tuple[int, int]]:
    """``(H, W)`` of every level, coarse to fine; the last is ``shape[:2]``.

    Level ``k`` (from the finest, ``k = 0``) has longest side ``round(L / ratio**k)``; the
    coarsest is the smallest one not below ``pyramid_start`` and with a short side of at
    least 16 px (VGG's deepest pooling).

    >>> level_shapes((2160, 3840), HighresConfig(pyramid_start=256))
    [(270, 480), (540, 960), (1080, 1920), (2160, 3840)]
    >>> level_shapes((512, 512), HighresConfig(pyramid_ratio=2**0.5, pyramid_start=256))
    [(256, 256), (362, 362), (512, 512)]
    """
    h, w = int(shape[0]), int(shape[1])
    longest = max(h, w)
    levels = [(h, w)]
    if not hi.pyramid_start or hi.pyramid_start >= longest:
        return levels
    ratio = math.log(longest / hi.pyramid_start) / math.log(hi.pyramid_ratio)
    count = math.floor(ratio + 1e-9)
    count = max(0, count)
    for k in range(1, count + 1):
        side = round(longest / hi.pyramid_ratio**k)
        level = (max(1, round(h * side / longest)), max(1, round(w * side / longest)))
        if min(level) < 16 or level == levels[-1]:
            break
        levels.append(level)
    return levels[::-1]


def level_steps(steps: int, levels: int, hi: HighresConfig) -> list[int]:
    """Steps per level, coarse to fine.

    >>> level_steps(200, 4, HighresConfig(min_steps=20))
    [200, 100, 50, 25]
    """
    if hi.level_steps:
        if len(hi.level_steps) != levels:
            raise ValueError(
                f"level_steps has {len(hi.level_steps)} entries for {levels} pyramid levels"
            )
        return list(hi.level_steps)
    floor = min(hi.min_steps, steps)
    return [max(floor, round(steps * hi.step_decay**k)) for k in range(levels)]
