"""texture_synthesis end to end on a tiny preset."""

import dataclasses

import jax
import pytest
from common_test import check_objective, smoke, tiny

from experiments import _common, texture_synthesis


def test_smoke(tmp_path):
    config = dataclasses.replace(tiny(texture_synthesis), styles=("brick",))
    report = smoke(texture_synthesis, tmp_path, config)
    assert "brick: conv1_1" in report.outcomes
    # A texture: no content term, and the Gram distance of the chosen layers falls.
    configs = check_objective(report)
    for label, outcome in report.outcomes.items():
        assert configs[label].content_weight == 0.0, label
        style = outcome.history["style"]
        assert style[-1] < 0.9 * style[0], (label, style)


def test_rows_per_texture_and_no_content():
    config = texture_synthesis.get_config()
    table = texture_synthesis.settings(config)
    assert len(table) == 2 * len(texture_synthesis.LAYER_SETS)
    # L-BFGS (lbfgs_host on CPU) runs one setting at a time; optax's sweeps a texture.
    one_each = [[i] for i in range(10)]
    per_texture = [list(range(5)), list(range(5, 10))]
    cpu = jax.default_backend() == "cpu"
    assert _common.groups(config, table) == (one_each if cpu else per_texture)
    with pytest.raises(ValueError, match="no --content"):
        texture_synthesis.settings(dataclasses.replace(config, content="tubingen"))
