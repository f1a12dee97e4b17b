"""style_layer_ablation end to end on a tiny preset."""

import jax
import numpy as np
from common_test import check_objective, smoke, tiny

from experiments import _common, style_layer_ablation


def test_smoke(tmp_path):
    # 40 px: starry_night is then 25x40; at 32 px (20x32) conv4/conv5 are 2 pixels high, a
    # shape XLA:CPU convolves ~10x slower.
    report = smoke(style_layer_ablation, tmp_path, tiny(style_layer_ablation, size=40))
    first = next(iter(report.outcomes.values())).record
    assert first["sweep_size"] == (1 if jax.default_backend() == "cpu" else 6)
    assert first["inputs"]["content"] == first["inputs"]["styles"][0]
    # Each setting optimized its own layer set: the logged style term is the sum over the
    # active layers only, and the settings' images differ.
    configs = check_objective(report)
    table = style_layer_ablation.settings(tiny(style_layer_ablation, size=40))
    for row in table:
        active = {n for n, w in configs[row.label].style_layers if w}
        assert active == {n for n, w in row.overrides["style_layers"] if w}, row.label
    images = [o.image for o in report.outcomes.values()]
    assert np.abs(images[0] - images[4]).mean() > 1e-3


def test_layer_sets():
    config = style_layer_ablation.get_config()
    table = style_layer_ablation.settings(config)
    active = [tuple(n for n, w in row.overrides["style_layers"] if w) for row in table]
    assert active == [
        ("relu1_1",),
        ("relu1_1", "relu2_1"),
        ("relu1_1", "relu2_1", "relu3_1"),
        ("relu1_1", "relu2_1", "relu3_1", "relu4_1"),
        ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
        ("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1"),
    ]
    cpu = jax.default_backend() == "cpu"  # lbfgs_host: one setting at a time
    assert _common.groups(config, table) == ([[i] for i in range(6)] if cpu else [list(range(6))])
