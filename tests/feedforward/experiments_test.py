"""Inference with a trained feed-forward network (``run.py --model``); training and
vanilla_vs_fast are tested in tests/experiments/train_feedforward_test.py."""

import dataclasses
import types

import numpy as np
import pytest
from absl.testing import flagsaver

from experiments import train_feedforward
from nst import image
from nst.feedforward import config as ff_config


class FakeFlags(dict):
    """The run.py flags an experiment reads: name -> (value, present)."""

    def __init__(self, **values):
        super().__init__({k: types.SimpleNamespace(value=v, present=1) for k, v in values.items()})

    def flag_values_dict(self):
        return {k: v.value for k, v in self.items()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny two-style network, trained by the experiment (tests/experiments has its tests)."""
    workdir = tmp_path_factory.mktemp("train")
    config = train_feedforward.get_config(quick=True)
    train_config = ff_config.replace(
        config.train,
        weights="random",
        content_layers=(("conv1_2", 1.0),),
        style_layers=(("conv1_1", 0.2), ("conv1_2", 0.2)),
        steps=2,
        crop_size=32,
        style_size=32,
        batch_size=2,
        net=dataclasses.replace(config.train.net, width=4, num_residual=1),
    )
    config = dataclasses.replace(config, train=train_config, styles=("starry_night", "the_scream"))
    train_feedforward.run(config, str(workdir))
    return workdir


def test_infer_main_single_photo_folder_and_errors(trained, tmp_path):
    workdir = trained
    out = tmp_path / "out.png"
    photo = image.sample("chelsea")
    fv = FakeFlags(model=str(workdir), content=str(photo), output=str(out), seed=0)
    with flagsaver.flagsaver(style_mix=["1", "3"], max_size=40):
        (written,) = train_feedforward.infer_main(fv)
    assert written == out and max(image.load(out, None).shape[:2]) == 40
    with pytest.raises(ValueError, match="exists"):
        train_feedforward.infer_main(fv)
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        image.save(folder / name, np.full((20, 16, 3), 0.5, np.float32))
    fv = FakeFlags(model=str(workdir), content=str(folder), output=str(tmp_path / "outs"))
    written = train_feedforward.infer_main(fv)
    assert [p.name for p in written] == ["a_stylized.png", "b_stylized.png"]
    with flagsaver.flagsaver(style_mix=["1"]), pytest.raises(ValueError, match="2 weights"):
        train_feedforward.infer_main(FakeFlags(model=str(workdir), output=str(tmp_path / "x.png")))
    with pytest.raises(ValueError, match="not a model"):
        train_feedforward.infer_main(FakeFlags(model=str(tmp_path)))
