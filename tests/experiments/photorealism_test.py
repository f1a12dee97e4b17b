"""photorealism end to end on a tiny preset."""

import dataclasses

import pytest
from common_test import check_objective, smoke, tiny

from experiments import _common, photorealism
from nst import image, losses


def test_smoke(tmp_path):
    # The literal weights: with random weights at 32 px the default unit (1e10, for the
    # Caffe VGG19's loss scale) would make Adam's first steps from the photo raise the loss.
    report = smoke(photorealism, tmp_path, dataclasses.replace(tiny(photorealism), scale=1.0))
    finals = {o.label: o.final for o in report.outcomes.values()}
    assert "photo" not in finals["no regularizer"]
    assert finals["RL 100"]["photo"] >= 0.0 and finals["RL 100 + TV 1e-2"]["photo"] >= 0.0
    configs = check_objective(report)  # the photo term is in the regularized settings' totals
    assert configs["RL 100"].photo_weight == 100.0
    # What the study shows: the matting-Laplacian term keeps the output locally affine in
    # the content's colours: its Laplacian energy is below the unregularized output's.
    content = report.outcomes["no regularizer"].record["inputs"]["content"]
    photo = image.load(content, max_size=report.outcomes["RL 100"].image.shape[1])
    laplacian = losses.laplacian_to_bcoo(losses.matting_laplacian(photo, eps=1e-7))
    energy = {
        k: float(losses.photorealism_loss(o.image, laplacian)) for k, o in report.outcomes.items()
    }
    assert energy["RL 100"] < energy["no regularizer"], energy


def test_settings_with_the_laplacian_run_apart():
    config = photorealism.get_config()
    assert _common.groups(config, photorealism.settings(config)) == [[0], [1, 2]]
    assert config.stylize.steps == 8000 and config.stylize.style_weight == 1e6


def test_scale_sets_the_unit_of_the_seed_weights():
    literal = dataclasses.replace(photorealism.get_config(), scale=1.0)
    table = photorealism.settings(literal)
    assert [r.label for r in table] == ["no regularizer", "RL 100", "RL 100 + TV 1e-2"]
    assert table[2].overrides == {"photo_weight": 100.0, "tv_weight": 0.01}
    with pytest.raises(ValueError, match=r"--config\.scale must be > 0"):
        photorealism.settings(dataclasses.replace(literal, scale=-1.0))
