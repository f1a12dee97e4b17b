"""photorealism end to end on a tiny preset."""

import jax
import jax.numpy as jnp
import numpy as np
from common_test import check_objective, smoke, tiny

from experiments import _common, photorealism
from nst import image, losses


def test_smoke(tmp_path):
    # Random weights at 32 px: their features are far smaller than the Caffe VGG19's, so at
    # Luan et al.'s style weight 100 the photorealism term at 1e4 outweighs everything and
    # Adam's first steps from the photo raise the loss. Style weight 1e8 for this wiring test.
    report = smoke(photorealism, tmp_path, tiny(photorealism, style_weight=1e8))
    finals = {o.label: o.final for o in report.outcomes.values()}
    assert "photo" not in finals["no regularizer"]
    assert finals["RL 1e4"]["photo"] >= 0.0 and finals["RL 1e4 + TV 1e-3"]["photo"] >= 0.0
    configs = check_objective(report)  # the photo term is in the regularized settings' totals
    assert configs["RL 1e4"].photo_weight == 1e4  # Luan et al.'s lambda, as written
    # What the study shows: the matting-Laplacian term keeps the output locally affine in
    # the content's colours: its Laplacian energy is below the unregularized output's.
    content = report.outcomes["no regularizer"].record["inputs"]["content"]
    photo = image.load(content, max_size=report.outcomes["RL 1e4"].image.shape[1])
    laplacian = losses.laplacian_to_bcoo(losses.matting_laplacian(photo, eps=1e-7))
    energy = {
        k: float(losses.photorealism_loss(o.image, laplacian)) for k, o in report.outcomes.items()
    }
    assert energy["RL 1e4"] < energy["no regularizer"], energy


def test_settings_with_the_laplacian_run_apart():
    config = photorealism.get_config()
    assert _common.groups(config, photorealism.settings(config)) == [[0], [1, 2]]
    assert config.stylize.steps == 8000


def test_luans_weights_as_written():
    config = photorealism.get_config()
    cfg = config.stylize
    assert (cfg.content_weight, cfg.style_weight) == (5.0, 100.0)
    assert (cfg.content_norm, cfg.style_norm) == ("mean", "mean")
    assert [w for _, w in cfg.style_layers] == [1.0] * 5  # every layer at the style weight
    table = photorealism.settings(config)
    assert [r.label for r in table] == ["no regularizer", "RL 1e4", "RL 1e4 + TV 1e-3"]
    assert table[2].overrides == {"photo_weight": 1e4, "tv_weight": 5e-4}


def _neural_style_tv_gradient(x: np.ndarray, strength: float) -> np.ndarray:
    """jcjohnson/neural-style's TVLoss:updateGradInput, ported line by line ([C, H, W])."""
    grad = np.zeros_like(x)
    x_diff = x[:, :-1, :-1] - x[:, :-1, 1:]
    y_diff = x[:, :-1, :-1] - x[:, 1:, :-1]
    grad[:, :-1, :-1] += x_diff + y_diff
    grad[:, :-1, 1:] -= x_diff
    grad[:, 1:, :-1] -= y_diff
    return strength * grad


def test_the_tv_weight_is_luans_1e_3_on_neural_styles_tv_loss(rng):
    """Luan et al.'s TV 1e-3 is neural-style's TVLoss strength; this engine's beta-2 TV of
    the same weight/2 has the same gradient (the label prints their 1e-3)."""
    x = rng.uniform(0, 255, (9, 11, 3))
    ours = jax.grad(lambda v: photorealism.TV_WEIGHT * losses.total_variation(v, kind="beta"))
    theirs = _neural_style_tv_gradient(x.transpose(2, 0, 1), photorealism.TV_SEED)
    np.testing.assert_allclose(
        np.asarray(ours(jnp.asarray(x))), theirs.transpose(1, 2, 0), rtol=1e-4, atol=1e-6
    )
    assert photorealism.TV_SEED == 1e-3
