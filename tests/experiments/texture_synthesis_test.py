"""texture_synthesis end to end on a tiny preset."""

import dataclasses

import jax
import numpy as np
import pytest
from common_test import check_objective, smoke, tiny

from experiments import _common, texture_synthesis
from nst import image


def test_smoke(tmp_path, monkeypatch):
    from experiments import runner

    networks = []  # the network each sweep ran (the runner's own call, spied on)
    sweep = runner.stylize.sweep

    def spy(cfgs, *args, net_params, **kwargs):
        networks.append(net_params[0].layers)
        return sweep(cfgs, *args, net_params=net_params, **kwargs)

    monkeypatch.setattr(runner.stylize, "sweep", spy)
    config = dataclasses.replace(tiny(texture_synthesis), styles=("brick",))
    report = smoke(texture_synthesis, tmp_path, config)
    assert "brick: conv1_1" in report.outcomes
    if jax.default_backend() == "cpu":
        # Each set runs alone (host L-BFGS), its zero-weight layers left out: {conv1_1}
        # does not run VGG19 to pool4 (~200x the work).
        assert [layers[-1] for layers in networks] == list(texture_synthesis.UNION)
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


def test_snapshots_are_kept_and_the_verdict_is_checked_half_way(tmp_path):
    """Snapshots are written while the run goes (an interrupted setting keeps its own),
    come back with the outcomes, and the claim is recomputed on the half-way ones."""
    config = tiny(texture_synthesis, steps=4, snapshot_every=2)
    config = dataclasses.replace(config, styles=("brick",))
    labels = [row.label for row in texture_synthesis.settings(config)]
    polls = {"n": 0}

    def stop_in_second_setting():
        if (tmp_path / "results").exists():
            polls["n"] += 1
        return polls["n"] > 2  # after the second setting's step-2 snapshot

    report = texture_synthesis.run(
        config, str(tmp_path), _common.Session(should_stop=stop_in_second_setting)
    )
    assert report.interrupted
    second = tmp_path / "snapshots" / _common.slug(labels[1])
    assert (second / "000002.png").exists()  # written before the setting finished
    assert not (tmp_path / "results" / f"{_common.slug(labels[1])}.json").exists()

    report = texture_synthesis.run(config, str(tmp_path))
    assert report.complete
    for label in labels:
        outcome = report.outcomes[label]
        assert sorted(outcome.snapshots) == [2, 4], label
        np.testing.assert_allclose(outcome.snapshots[4], outcome.image, atol=1 / 255)
    (claim,) = report.metrics["claims"]
    settled = claim["settled"]
    assert settled["at_steps"] == [2] * len(labels)
    assert set(settled["values"]) == set(claim["values"])
    # The half-way values are the measure on the step-2 images, not the final ones.
    brick = image.load(image.sample("brick"), max_size=config.stylize.size)
    first = _common.structure_distances(brick, report.outcomes[labels[0]].snapshots[2])
    assert settled["values"][labels[0].split(": ")[1]] == pytest.approx(first["coarse"])
    again = texture_synthesis.run(config, str(tmp_path))  # complete: loaded from disk
    assert sorted(again.outcomes[labels[0]].snapshots) == [2, 4]
