r"""The figures of docs/peer_features.md: style statistics, spatial control, iterate averaging
and style scale, on the real VGG19 (``weights="imagenet"``).

    python docs/make_peer_figures.py                      # all four, 256 px, 100 steps
    python docs/make_peer_figures.py --only=stats --steps=100 --weights=random

Every run is Gatys et al. from the content photo (tubingen), Adam, VGG19 content conv4_2.
Results are kept in ``--workdir`` (one .npz per run), so a rerun only redoes what is missing;
the figures go to ``docs/figures/`` and the numbers to ``docs/figures/peer_features.json``.
"""

import dataclasses
import json
import pathlib
import time

import jax
import numpy as np
from absl import app, flags, logging

from experiments import _common
from nst import image, losses, stylize
from nst.config import StylizeConfig

_SIZE = flags.DEFINE_integer("size", 256, "Longest side, px.")
_STEPS = flags.DEFINE_integer("steps", 100, "Adam steps per run.")
_WEIGHTS = flags.DEFINE_string("weights", "imagenet", "imagenet | random.")
_ONLY = flags.DEFINE_list("only", ["stats", "regions", "ema", "scale"], "Figures to make.")
_WORKDIR = flags.DEFINE_string("workdir", "runs/peer_figures", "Per-run results.")
_OUT = flags.DEFINE_string("out", "docs/figures", "Figure folder.")

MRF_LAYERS = (("conv3_1", 0.5), ("conv4_1", 0.5))  # Li & Wand's relu3_1 / relu4_1


def _base() -> StylizeConfig:
    return StylizeConfig(
        weights=_WEIGHTS.value, size=_SIZE.value, steps=_STEPS.value, lr=3e-2, style_weight=1e5
    )


class Runner:
    """Runs (or loads) one stylization per name; keeps the backbone per layer set."""

    def __init__(self, content: np.ndarray):
        self.content = content
        self.nets: dict = {}
        self.records: dict[str, dict] = {}
        pathlib.Path(_WORKDIR.value).mkdir(parents=True, exist_ok=True)

    def net(self, config: StylizeConfig):
        key = (config.style_layers, config.content_layers)
        if key not in self.nets:
            self.nets[key] = stylize.create_backbone(config)
        return self.nets[key]

    def run(self, name: str, config: StylizeConfig, styles, **kw) -> np.ndarray:
        path = pathlib.Path(_WORKDIR.value) / f"{name}_{config.size}_{config.steps}.npz"
        if path.exists():
            with np.load(path, allow_pickle=False) as data:
                self.records[name] = json.loads(str(data["record"]))
                return data["image"]
        t = time.perf_counter()
        result = stylize.stylize(config, self.content, styles, net_params=self.net(config), **kw)
        seconds = time.perf_counter() - t
        record = {
            "seconds": round(seconds, 1),
            "steps": result.steps_done,
            "s_per_step": round(float(result.history["time"][-1]) / result.steps_done, 3),
            "style_first": float(result.history["style"][0]),
            "style_last": float(result.history["style"][-1]),
            "total_last": float(result.history["total"][-1]),
        }
        logging.info("%s: %s", name, record)
        np.savez(path, image=result.image, record=json.dumps(record))
        self.records[name] = record
        return result.image

    def terms(self, config: StylizeConfig, styles, x: np.ndarray, **kw) -> dict[str, float]:
        """The raw loss terms of ``config`` at image ``x``."""
        net, params = self.net(config)
        targets = stylize.make_targets(config, net, params, self.content, styles, **kw)
        objective = stylize.make_objective(config, net)
        _, terms = objective(x, params, targets, stylize.make_hyper(config))
        return {k: float(v) for k, v in terms.items()}


def _title(text: str, config: StylizeConfig) -> str:
    return (
        f"{text} — {_common.weights_label([config])}, {config.size} px, {config.steps} Adam steps"
    )


def stats_figure(runner: Runner, style: np.ndarray) -> dict:
    """Gram, mean + Gram, W2 (mean + covariance), MRF.

    The statistics' losses differ in scale and order (the Gram term is 4th order in the
    features, W2 and the MRF term 2nd), so each gets the style weight that gives it, at the
    image the Gram run ends on, the Gram's weighted style term there: the same balance
    against the content term where the Gram loss settled. mean_gram's mean term is weighted
    to equal its Gram term at the content photo.
    """
    base = _base()
    x_gram = runner.run("stat_gram", base, [style])
    gram_ref = runner.terms(base, [style], x_gram)["style"]
    rows, labels, info = [], [], {}
    for stat in ("gram", "mean_gram", "mean_cov_w2", "mrf"):
        config = dataclasses.replace(base, style_stat=stat)
        if stat == "mrf":
            config = dataclasses.replace(config, style_layers=MRF_LAYERS)
        if stat == "mean_gram":
            gram_start = runner.terms(base, [style], runner.content)["style"]
            probe = dataclasses.replace(config, style_mean_weight=1e6)  # (float32 sums)
            mean_start = (runner.terms(probe, [style], runner.content)["style"] - gram_start) / 1e6
            mean_weight = float(f"{gram_start / mean_start:.3g}")
            config = dataclasses.replace(config, style_mean_weight=mean_weight)
        weight = float(
            f"{base.style_weight * gram_ref / runner.terms(config, [style], x_gram)['style']:.3g}"
        )
        config = dataclasses.replace(config, style_weight=weight)
        rows.append(runner.run(f"stat_{stat}", config, [style]))
        info[stat] = {"style_weight": weight, **runner.records[f"stat_{stat}"]}
        labels.append(f"{stat} (β {weight:.3g})")
        if stat == "mean_gram":
            info[stat]["style_mean_weight"] = config.style_mean_weight
            labels[-1] = f"mean_gram (β {weight:.3g}, mean x{config.style_mean_weight:.3g})"
    labels[-1] += ", conv3_1+4_1"
    image.save_grid(
        pathlib.Path(_OUT.value) / "style_stats.png",
        [[runner.content, style, *rows]],
        col_titles=["content", "style", *labels],
        title=_title("Style statistics (style_stat)", base),
        overwrite=True,
    )
    return info


def _band_masks(shape: tuple[int, int], split: float, soft: float = 0.04) -> np.ndarray:
    """[2, H, W]: top and bottom of a horizontal split with a smooth edge (soft x H wide)."""
    h, w = shape
    y = (np.arange(h) / h)[:, None] * np.ones((1, w))
    top = np.clip(0.5 - (y - split) / soft, 0.0, 1.0).astype(np.float32)
    return np.stack([top, 1.0 - top])


def regions_figure(runner: Runner, starry: np.ndarray, scream: np.ndarray) -> dict:
    """One photo, two regions (sky band / town), two styles; and one region kept as is."""
    base = _base()
    top, bottom = _band_masks(runner.content.shape[:2], 0.42)
    two = runner.run("regions_two", base, [starry, scream], regions=[(top, None), (bottom, None)])
    one = runner.run("regions_keep", base, [starry], regions=[(top, None)])
    plain = runner.run("stat_gram", base, [starry])  # the same run as the Gram panel
    mask_rgb = np.stack([top, np.zeros_like(top), bottom], -1)
    kept = float(np.abs(one[top < 1e-3] - runner.content[top < 1e-3]).max())
    image.save_grid(
        pathlib.Path(_OUT.value) / "spatial_control.png",
        [[runner.content, mask_rgb, two, one, plain]],
        col_titles=[
            "content",
            "masks (red: starry night, blue: the scream)",
            "two regions, two styles",
            "top stylized, bottom kept",
            "no masks (starry night)",
        ],
        title=_title("Spatial control (guided Gram matrices, Gatys et al. 2017)", base),
        overwrite=True,
    )
    return {
        "two_regions": runner.records["regions_two"],
        "keep": {**runner.records["regions_keep"], "max_change_outside_mask": kept},
        "plain": runner.records["stat_gram"],
    }


def ema_figure(runner: Runner, style: np.ndarray) -> dict:
    """The last iterate vs the EMA of the iterates (the same run otherwise)."""
    base = _base()
    last = runner.run("stat_gram", base, [style])  # the same run as the Gram panel
    decay = 0.95
    averaged = runner.run("ema_on", dataclasses.replace(base, ema_decay=decay), [style])
    info = {}
    for name, x in (("last_iterate", last), ("ema", averaged)):
        terms = runner.terms(base, [style], x)
        tv = float(losses.total_variation(x, kind="l2"))
        info[name] = {"total": terms["total"], "style": terms["style"], "tv_l2": tv}
    diff = np.clip(np.abs(last - averaged) * 5, 0, 1)
    image.save_grid(
        pathlib.Path(_OUT.value) / "ema.png",
        [[last, averaged, diff]],
        col_titles=[
            "last iterate: loss {total:.4g}, TV {tv_l2:.3g}".format(**info["last_iterate"]),
            f"EMA {decay}: " + "loss {total:.4g}, TV {tv_l2:.3g}".format(**info["ema"]),
            "|difference| x 5",
        ],
        title=_title(f"Iterate averaging (ema_decay, Adam lr {base.lr})", base),
        overwrite=True,
    )
    return {"decay": decay, "lr": base.lr, **info}


def scale_figure(runner: Runner, style: np.ndarray) -> dict:
    """The style image at 0.5x, 1x and 2x the content's size (jcjohnson's -style_scale).

    Scale 1 is the Gram panel's run: its style is the same resize of the full image."""
    base = _base()
    rows, info = [], {}
    for scale in (0.5, 1.0, 2.0):
        config = dataclasses.replace(base, style_scale=scale)
        name = "stat_gram" if scale == 1.0 else f"scale_{scale}"
        if scale == 1.0:
            config, style_in = base, image.resize(style, base.size)
        else:
            style_in = style
        rows.append(runner.run(name, config, [style_in]))
        info[str(scale)] = runner.records[name]
    image.save_grid(
        pathlib.Path(_OUT.value) / "style_scale.png",
        [[style, *rows]],
        col_titles=["style", "style_scale 0.5", "style_scale 1", "style_scale 2"],
        title=_title("Style scale (style image's size relative to the content)", base),
        overwrite=True,
    )
    return info


def main(argv):
    del argv
    size = _SIZE.value
    content = image.load(image.sample("tubingen"), max_size=size)
    starry_full = image.load(image.sample("starry_night"), max_size=None)
    starry = image.resize(starry_full, size)
    scream = image.load(image.sample("the_scream"), max_size=size)
    runner = Runner(content)
    out = pathlib.Path(_OUT.value) / "peer_features.json"
    results = json.loads(out.read_text()) if out.exists() else {}
    if "regions" in _ONLY.value:
        results["spatial_control"] = regions_figure(runner, starry, scream)
    if "ema" in _ONLY.value:
        results["ema"] = ema_figure(runner, starry)
    if "scale" in _ONLY.value:
        results["style_scale"] = scale_figure(runner, starry_full)
    if "stats" in _ONLY.value:  # last: the longest runs
        results["style_stats"] = stats_figure(runner, starry)
    results["setup"] = {
        "size": size,
        "steps": _STEPS.value,
        "weights": _common.weights_label([_base()]),
        "device": jax.devices()[0].device_kind,
    }
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    app.run(main)
