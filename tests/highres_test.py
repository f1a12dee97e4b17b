"""nst.highres: partition of unity, exact tiling round trip, tiled vs untiled optimization,
pyramid levels, memory of a tiled step, and the memory refusal.

Images are 32-128 px, tiles 16-32 px, backbones VGG19 truncated at conv1_1/conv2_1 with
random weights, so the whole file runs in well under a minute on two CPU cores.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nst import highres, losses, stylize
from nst import image as nst_image
from nst.config import StylizeConfig
from nst.highres import _memory

SHALLOW = StylizeConfig(
    weights="random",
    content_layers=(("conv2_1", 1.0),),
    style_layers=(("conv1_1", 0.5), ("conv2_1", 0.5)),
    steps=4,
)


@pytest.fixture(scope="module")
def shallow():
    return stylize.create_backbone(SHALLOW)


@pytest.fixture(scope="module")
def photo():
    return nst_image.load(nst_image.sample("tubingen"), max_size=64)  # [48, 64, 3]


# ------------------------------------------------------------------------------- tiling

AXES = [  # (length, tile, overlap, offset)
    (100, 48, 16, 0),
    (100, 48, 16, 5),
    (100, 48, 16, 31),
    (37, 16, 4, 3),
    (1000, 512, 64, 447),
    (3840, 512, 64, 200),
    (100, 48, 0, 7),
    (40, 64, 8, 0),  # shorter than a tile: one tile
]


@pytest.mark.parametrize("length,tile,overlap,offset", AXES)
def test_axis_weights_are_a_partition_of_unity(length, tile, overlap, offset):
    origins, weights, t = highres.axis_tiles(length, tile, overlap, offset)
    total = np.zeros(length)
    for o, w in zip(origins, weights):
        inside = np.arange(t) + o
        keep = (inside >= 0) & (inside < length)
        total[inside[keep]] += w[keep]
        assert np.all(w[~keep] == 0)  # padding carries no weight
        assert np.all(w[keep] >= 0)
    np.testing.assert_allclose(total, 1.0, rtol=0, atol=1e-12)
    assert origins[0] == (-offset if length > tile else 0)
    assert origins[-1] + t >= length  # the tiles reach the end


def test_blend_weights_sum_to_one_in_2d():
    grid = highres.tile_grid((70, 90), 32, 8, offset=(5, 17))
    placed = np.zeros(grid.padded_shape)
    for (y, x), w in zip(grid.origins(), highres.blend_weights(grid)):
        placed[y : y + 32, x : x + 32] += w
    py, px = grid.pad
    np.testing.assert_allclose(placed[py : py + 70, px : px + 90], 1.0, rtol=0, atol=1e-12)
    assert placed.sum() == pytest.approx(70 * 90)  # nothing lands in the padding


@pytest.mark.parametrize("overlap,offset", [(8, (0, 0)), (8, (5, 23)), (0, (3, 7))])
def test_split_then_merge_returns_the_input(rng, overlap, offset):
    x = rng.random((70, 90, 3)).astype(np.float32)
    grid = highres.tile_grid(x.shape, 32, overlap, offset=offset)
    tiles = highres.split(x, grid)
    assert tiles.shape == (len(grid), 32, 32, 3)
    np.testing.assert_array_equal(np.asarray(highres.merge(tiles, grid)), x)  # bit for bit
    # Tiles that differ blend to the weighted mean: tile k holding the constant k gives
    # sum_k w_k k at each pixel, which lies between the smallest and largest tile index.
    index = jnp.arange(len(grid), dtype=jnp.float32)[:, None, None, None] * jnp.ones_like(tiles)
    blended = np.asarray(highres.merge(index, grid))
    assert blended.min() >= 0 and blended.max() <= len(grid) - 1


def test_tile_borders_move_with_the_offset():
    a = highres.tile_grid((100, 100), 32, 8, offset=(0, 0))
    b = highres.tile_grid((100, 100), 32, 8, offset=(11, 3))
    assert not set(a.y_origins) & set(b.y_origins)
    assert a.padded_shape == b.padded_shape  # one compiled program for every offset


# ------------------------------------------------------------------------------ pyramid


@pytest.mark.parametrize(
    "shape,ratio,start,expected",
    [
        ((2160, 3840), 2.0, 256, [(270, 480), (540, 960), (1080, 1920), (2160, 3840)]),
        ((512, 512), 2**0.5, 256, [(256, 256), (362, 362), (512, 512)]),
        ((384, 512), 2.0, 100, [(96, 128), (192, 256), (384, 512)]),
        ((512, 512), 2.0, 0, [(512, 512)]),  # no pyramid
        ((200, 200), 2.0, 256, [(200, 200)]),  # smaller than the start
        ((40, 1000), 2.0, 64, [(20, 500), (40, 1000)]),  # short side stays >= 16
    ],
)
def test_level_shapes(shape, ratio, start, expected):
    hi = highres.HighresConfig(pyramid_ratio=ratio, pyramid_start=start)
    assert highres.level_shapes(shape, hi) == expected


def test_level_steps_decay_and_explicit():
    hi = highres.HighresConfig(step_decay=0.5, min_steps=20)
    assert highres.level_steps(200, 4, hi) == [200, 100, 50, 25]
    assert highres.level_steps(100, 4, hi) == [100, 50, 25, 20]
    assert highres.level_steps(10, 2, hi) == [10, 10]  # min_steps never exceeds steps
    explicit = highres.HighresConfig(level_steps=(50, 5))
    assert highres.level_steps(999, 2, explicit) == [50, 5]
    with pytest.raises(ValueError, match="level_steps has 2 entries for 3 pyramid levels"):
        highres.level_steps(999, 3, explicit)


# ----------------------------------------------------------------------- optimization


def test_tiled_content_reconstruction_matches_untiled(photo):
    """Content-only reconstruction at conv1_1 from noise: tiles of 32 px (overlap 8, grid
    moving every step) against the whole 48x64 image, both with Adam for 40 steps.

    Tolerance: RMSE 0.01 between the two results (they start 0.36 from the content and end
    ~0.02 from it; measured tiled-vs-untiled RMSE 0.002-0.004).
    """
    config = dataclasses.replace(
        SHALLOW,
        content_layers=(("conv1_1", 1.0),),
        style_layers=(("conv1_1", 1.0),),
        style_weight=0.0,
        init="uniform",
        lr=0.05,
        steps=40,
    )
    net_params = stylize.create_backbone(config)
    whole = stylize.stylize(config, photo, [photo], net_params=net_params).image
    hi = highres.HighresConfig(tile_size=32, tile_overlap=8, tile_batch=4)
    tiled = highres.optimize_tiled(config, photo, [photo], hi=hi, net_params=net_params)
    assert tiled.steps_done == 40 and tiled.stopped is None
    assert len(tiled.history["total"]) == 40
    rmse = lambda a, b: float(np.sqrt(np.mean((a - b) ** 2)))
    init = np.asarray(stylize.initial_image(config, jax.random.key(0), photo, [photo]))
    assert rmse(init, photo) > 0.3
    assert rmse(whole, photo) < 0.05 and rmse(tiled.image, photo) < 0.05
    assert rmse(tiled.image, whole) < 0.01


def test_tiled_step_memory_depends_on_tile_not_image(shallow, photo):
    """``memory_analysis()`` of the compiled tile program: the same temp bytes for 64 and
    128 px images (16 px tiles); an untiled value-and-gradient grows ~4x per doubling."""
    net, params = shallow
    hyper = stylize.make_hyper(SHALLOW)
    tile = (16, 16)
    grams = stylize.gram_targets(SHALLOW, net, params, [photo], (*tile, 3))
    step = highres.make_tile_step(SHALLOW, net, tile)
    objective = stylize.make_objective(SHALLOW, net)
    tiled, untiled = [], []
    for side in (64, 128):
        grid = highres.tile_grid((side, side), 16, 4)
        padded = jnp.zeros((*grid.padded_shape, 3))
        args = (padded, padded, padded, jnp.zeros((2, 2), jnp.int32), jnp.zeros((2, 16)))
        args += (jnp.zeros((2, 16)), params, grams, hyper)
        memory = jax.jit(step, donate_argnums=2).lower(*args).compile().memory_analysis()
        tiled.append(memory.temp_size_in_bytes)
        image = jnp.zeros((side, side, 3))
        content = stylize.content_targets(SHALLOW, net, params, image)
        targets = stylize.Targets(content=content, grams=grams)
        vg = jax.jit(jax.value_and_grad(objective, has_aux=True))
        memory = vg.lower(image, params, targets, hyper).compile().memory_analysis()
        untiled.append(memory.temp_size_in_bytes)
    assert tiled[1] == pytest.approx(tiled[0], rel=0.02)
    assert untiled[1] > 3 * untiled[0]


def test_untiled_estimate_matches_xla(shallow):
    """The analytic estimate against XLA's buffer assignment (VGG19 through conv5_1)."""
    config = dataclasses.replace(SHALLOW, content_layers=None, style_layers=None)
    net, params = stylize.create_backbone(config)
    shape = (96, 128, 3)
    image = jnp.zeros(shape)
    grams = stylize.gram_targets(config, net, params, [np.zeros(shape, np.float32)], shape)
    targets = stylize.Targets(stylize.content_targets(config, net, params, image), grams)
    objective = stylize.make_objective(config, net)
    lowered = jax.jit(jax.value_and_grad(objective, has_aux=True)).lower(
        image, params, targets, stylize.make_hyper(config)
    )
    memory = lowered.compile().memory_analysis()
    estimate = highres.estimate_untiled(net, params, shape)
    temp, args = memory.temp_size_in_bytes, memory.argument_size_in_bytes
    assert 0.9 * temp < estimate < 1.3 * (temp + args)  # measured: estimate / temp = 1.04


def test_style_grams_by_windows_match_the_engine(shallow, rng):
    net, params = shallow
    style = rng.random((80, 72, 3)).astype(np.float32)
    exact = stylize.gram_targets(SHALLOW, net, params, [style], (32, 32, 3))
    windows = highres.style_grams(SHALLOW, net, params, [style], (32, 32, 3), max_side=32)
    # conv1_1: no pooling, a 1 px receptive-field radius inside the halo: equal.
    np.testing.assert_allclose(windows["conv1_1"], exact["conv1_1"], rtol=1e-4)
    # conv2_1: pooled once; window origins need not be even: close.
    np.testing.assert_allclose(windows["conv2_1"], exact["conv2_1"], rtol=0.05)


@pytest.mark.parametrize("max_side", [32, 1024])  # style Grams by windows, or whole
def test_untiled_level_targets_are_the_engines(shallow, photo, rng, max_side):
    """An untiled level's targets (``make_targets`` with ``style_grams``) equal those built
    term by term: content features, Grams, matting Laplacian."""
    net, params = shallow
    config = dataclasses.replace(SHALLOW, photo_weight=1.0)
    styles = [rng.random((80, 72, 3)).astype(np.float32), photo[::-1]]
    grams = highres.style_grams(config, net, params, styles, photo.shape, max_side=max_side)
    made = stylize.make_targets(config, net, params, photo, styles, grams=grams)
    laplacian = losses.laplacian_to_bcoo(losses.matting_laplacian(photo, eps=config.photo_eps))
    by_hand = stylize.Targets(
        content=stylize.content_targets(config, net, params, photo),
        grams=grams,
        laplacian=laplacian,
    )
    assert made.stats is None and made.masks is None and made.temporal is None
    for name in ("content", "grams"):
        a, b = getattr(made, name), getattr(by_hand, name)
        assert sorted(a) == sorted(b)
        for layer in a:
            np.testing.assert_array_equal(a[layer], b[layer])
    np.testing.assert_array_equal(made.laplacian.todense(), by_hand.laplacian.todense())


def test_other_style_statistics_are_refused(shallow, photo):
    net, params = shallow
    config = dataclasses.replace(SHALLOW, style_stat="mean_cov_w2")
    message = r"nst\.highres supports style_stat='gram' only, got 'mean_cov_w2'"
    hi = highres.HighresConfig(pyramid_start=0, tile_size=0)
    with pytest.raises(ValueError, match=message):
        highres.plan(config, hi, photo.shape, net, params)
    with pytest.raises(ValueError, match=message):
        highres.stylize_large(config, hi, photo, [photo], net_params=shallow)
    with pytest.raises(ValueError, match=message):
        highres.optimize_tiled(config, photo, [photo], net_params=shallow)


def test_stylize_large_pyramid_with_a_tiled_level(shallow, photo):
    """Two levels (24x32 untiled on the engine, 48x64 tiled), Adam moments carried."""
    hi = highres.HighresConfig(
        pyramid_start=32,
        tile_size=32,
        tile_overlap=8,
        tile_above=32,
        tile_batch=2,
        carry_optimizer_state=True,
        level_steps=(3, 2),
    )
    planned, finished = [], []
    result = highres.stylize_large(
        SHALLOW,
        hi,
        photo,
        [photo[::-1]],
        net_params=shallow,
        on_plan=lambda levels, budget: planned.extend(levels),
        on_level=lambda k, image: finished.append((k, image.shape)),
    )
    assert [(lv.shape, lv.steps, lv.tile) for lv in planned] == [
        ((24, 32), 3, None),
        ((48, 64), 2, (32, 32)),
    ]
    assert finished == [(0, (24, 32, 3)), (1, (48, 64, 3))]
    assert result.image.shape == photo.shape and result.stopped is None
    assert result.steps_done == 5
    np.testing.assert_array_equal(result.history["level"], [0, 0, 0, 1, 1])
    assert np.all(np.isfinite(result.history["total"]))
    assert np.all(np.diff(result.history["time"]) >= 0)
    assert sorted(result.snapshots) == [3, 5]
    assert 0.0 <= result.image.min() and result.image.max() <= 1.0
    # Resuming at level 1 from level 0's image runs only the tiled level.
    resumed = highres.stylize_large(
        SHALLOW, hi, photo, [photo[::-1]], net_params=shallow, resume=(1, result.snapshots[3])
    )
    assert resumed.steps_done == 2


def test_engine_continues_from_a_carried_optimizer_state(shallow, photo):
    """The engine hook the pyramid uses: ``Result.opt_state`` in, ``init_opt_state`` out."""
    first = stylize.stylize(
        dataclasses.replace(SHALLOW, steps=2), photo, [photo], net_params=shallow
    )
    counts = lambda state: {
        int(a) for a in jax.tree.leaves(state) if jnp.issubdtype(a.dtype, jnp.integer)
    }
    assert counts(first.opt_state) == {2}
    second = stylize.stylize(
        dataclasses.replace(SHALLOW, steps=1),
        photo,
        [photo],
        net_params=shallow,
        init_images=first.image,
        init_opt_state=first.opt_state,
    )
    assert counts(second.opt_state) == {3}  # Adam's step count went on


def test_bf16_loss_difference_is_small(shallow, photo):
    difference = highres.bf16_loss_difference(
        SHALLOW, photo, [photo[::-1]], photo[:, ::-1], net_params=shallow
    )
    assert set(difference) >= {"total", "content", "style"}
    assert difference["total"] < 0.05


# ------------------------------------------------------------------------------ memory


def test_refusal_names_the_estimate_and_suggests_tile_size(shallow):
    net, params = shallow
    no_tiles = highres.HighresConfig(tile_size=0, pyramid_start=0)
    message = (
        r"^estimated \d+\.\d GiB for 3840x2160 untiled > 0\.0 GiB available; "
        r"use --tile_size=512 \(or a smaller --size\)$"
    )
    with pytest.raises(highres.MemoryEstimateError, match=message):
        highres.plan(SHALLOW, no_tiles, (2160, 3840, 3), net, params, memory=2**20)
    # A tiled level too large for the budget: the suggestion is a smaller tile.
    tiled = highres.HighresConfig(tile_size=512, pyramid_start=0, tile_above=0)
    with pytest.raises(ValueError, match=r"for 3840x2160 tiled 512px > .* --tile_size=256 "):
        highres.plan(SHALLOW, tiled, (2160, 3840, 3), net, params, memory=2**20)
    # With room for tiles but not for the whole image, the level is tiled automatically.
    untiled = _memory.estimate_untiled(net, params, (2160, 3840))
    auto = highres.HighresConfig(tile_size=512, pyramid_start=0)
    (level,) = highres.plan(SHALLOW, auto, (2160, 3840, 3), net, params, memory=untiled // 4)
    assert level.tile == (512, 512) and level.estimate < untiled // 4


def test_stylize_large_refuses_before_any_work(shallow, photo):
    hi = highres.HighresConfig(tile_size=0, memory_budget=1000)
    calls = []
    with pytest.raises(highres.MemoryEstimateError, match=r"untiled > 0\.0 GiB available"):
        highres.stylize_large(
            SHALLOW, hi, photo, [photo], net_params=shallow, progress=lambda *a: calls.append(a)
        )
    assert not calls


def test_tiled_levels_need_a_first_order_optimizer(shallow):
    net, params = shallow
    hi = highres.HighresConfig(tile_size=32, tile_overlap=8, pyramid_start=0, tile_above=0)
    config = dataclasses.replace(SHALLOW, optimizer="lbfgs_scipy")
    with pytest.raises(ValueError, match="tiled levels need a first-order optimizer"):
        highres.plan(config, hi, (64, 64, 3), net, params, memory=None)


def test_available_bytes_is_positive():
    available = highres.available_bytes()
    assert available is None or available > 0


def test_config_validation():
    with pytest.raises(ValueError, match="tile_overlap must be in"):
        highres.HighresConfig(tile_size=64, tile_overlap=40)
    with pytest.raises(ValueError, match="pyramid_ratio must be > 1"):
        highres.HighresConfig(pyramid_ratio=1.0)
