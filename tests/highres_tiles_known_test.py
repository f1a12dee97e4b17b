"""nst.highres tiles: the feather ramp and the style windows' row ownership, by hand."""

import numpy as np

from nst.highres import _tiled, _tiles


def test_feather_ramp_rises_linearly_over_the_overlap():
    # (i + 0.5) / overlap up the first `overlap` pixels, 1 in the middle, mirrored at the end
    ramp = _tiles._ramp(10, 4)
    np.testing.assert_allclose(ramp, [0.125, 0.375, 0.625, 0.875, 1, 1, 0.875, 0.625, 0.375, 0.125])
    np.testing.assert_allclose(_tiles._ramp(5, 0), np.ones(5))


def test_axis_tiles_refuse_a_tile_shorter_than_one_pixel_only():
    origins, weights, t = _tiles.axis_tiles(5, 1, 0)  # a 1 px tile is legal
    assert t == 1 and len(origins) == 5
    np.testing.assert_allclose(weights.sum(), 5.0)


def test_window_rows_are_owned_by_the_core_holding_their_centre():
    # 8 feature rows over a 16 px window starting at image row 10: centres 11, 13, ..., 25
    owned = _tiled._owned(8, 10, 16, 14, 20)  # the core [14, 20): centres 15, 17, 19
    np.testing.assert_array_equal(owned, [0, 0, 1, 1, 1, 0, 0, 0])
