"""Large outputs within memory: a coarse-to-fine pyramid, tiles at the fine levels.

Conventions: images are float32 ``[H, W, 3]`` in [0, 1]; sizes are ``(H, W)`` in pixels;
memory is in bytes. Nothing here reads flags or prints.

* ``stylize_large(config, hi, content, styles)``: the pyramid (Gatys et al. 2017): levels
  from a small size up to the output's, each started from the previous one upsampled, with
  fewer steps at finer levels; style targets per level from the style image at the matching
  scale. Levels too large for memory run tiled.
* ``optimize_tiled``: one image optimized through overlapping tiles of one shape, vmapped in
  batches; global style Grams, per-tile content features; tile gradients blended with a
  feathered partition of unity; the grid shifted by a random offset every step.
* ``tile_grid`` / ``split`` / ``merge`` / ``blend_weights``: the tiling itself.
* ``estimate_untiled`` / ``estimate_tiled`` / ``available_bytes``: the memory a size needs,
  and what there is; ``plan`` refuses a plan that does not fit (``MemoryEstimateError``, one
  line naming the estimate and suggesting ``--tile_size``).

Example::

    hi = HighresConfig(tile_size=512, tile_overlap=64, pyramid_start=256)
    result = stylize_large(StylizeConfig(size=3840, steps=200), hi, content, [style])

References:
  Gatys, Ecker, Bethge, Hertzmann, Shechtman. Controlling Perceptual Factors in Neural
  Style Transfer. CVPR 2017 (coarse-to-fine).
  Crowson. style-transfer-pytorch (github.com/crowsonkb/style-transfer-pytorch): the
  coarse-to-fine scales, each started from the previous result upsampled.
"""

from nst.highres._config import HighresConfig, level_shapes, level_steps
from nst.highres._large import (
    HighresResult,
    Level,
    bf16_loss_difference,
    check_fits,
    plan,
    stylize_large,
)
from nst.highres._memory import (
    MemoryEstimateError,
    activation_bytes,
    available_bytes,
    estimate_tiled,
    estimate_untiled,
    gib_to_bytes,
)
from nst.highres._tiled import (
    TiledResult,
    content_backbone,
    hw_grams,
    make_tile_step,
    optimize_tiled,
    style_grams,
    tile_hyper,
)
from nst.highres._tiles import TileGrid, axis_tiles, blend_weights, merge, split, tile_grid

__all__ = [
    "HighresConfig",
    "HighresResult",
    "Level",
    "MemoryEstimateError",
    "TileGrid",
    "TiledResult",
    "activation_bytes",
    "available_bytes",
    "axis_tiles",
    "bf16_loss_difference",
    "blend_weights",
    "check_fits",
    "content_backbone",
    "estimate_tiled",
    "estimate_untiled",
    "gib_to_bytes",
    "hw_grams",
    "level_shapes",
    "level_steps",
    "make_tile_step",
    "merge",
    "optimize_tiled",
    "plan",
    "split",
    "style_grams",
    "stylize_large",
    "tile_grid",
    "tile_hyper",
]
