"""nst_cli.flags: the one flags -> StylizeConfig path, per-mode defaults, layer tables, sample
names, --config.* splitting, the grouped --help."""

import dataclasses

import pytest
from cli_fakes import FakeFlags

from nst import image
from nst.config import StylizeConfig
from nst_cli import flags


def test_per_mode_defaults_one_image_lbfgs_other_modes_adam():
    one = flags.config_from_flags("stylize", flag_values=FakeFlags())
    assert (one.optimizer, one.steps) == ("lbfgs", 100)
    for mode in ("video", "highres"):
        other = flags.config_from_flags(mode, flag_values=FakeFlags())
        assert (other.optimizer, other.steps) == ("adam", 500)
    given = flags.config_from_flags("stylize", flag_values=FakeFlags(optimizer="adam"))
    assert (given.optimizer, given.steps) == ("adam", 500)  # steps follow the optimizer
    given = flags.config_from_flags("video", flag_values=FakeFlags(optimizer="lbfgs_scipy"))
    assert given.steps == flags.default_steps("lbfgs_scipy") == 100
    # absl's own FLAGS (nothing given under pytest): the same defaults.
    assert flags.config_from_flags("stylize").optimizer == "lbfgs"


def test_every_field_flag_reaches_the_config():
    fv = FakeFlags(
        size=64, lr=0.5, style_weight=3.0, tv_weight=2.0, seed=7, weights="random",
        content_layers=["conv3_1"], style_layers=["conv1_1:0.5", "conv2_1"],
        style_blend=["0.7", "0.3"], ema_decay=0.5, style_scale=2.0, optimizer="adam",
        lbfgs_memory=7, lbfgs_precondition=0.25, lbfgs_cutoff=0.03,
    )  # fmt: skip
    config = flags.config_from_flags("stylize", flag_values=fv)
    assert (config.size, config.lr, config.style_weight, config.tv_weight) == (64, 0.5, 3.0, 2.0)
    assert (config.seed, config.weights, config.ema_decay, config.style_scale) == (
        7, "random", 0.5, 2.0,
    )  # fmt: skip
    assert config.content_layers == (("conv3_1", 1.0),)
    assert config.style_layers == (("conv1_1", 0.5), ("conv2_1", 0.2))
    assert config.style_blend == (0.7, 0.3)
    assert (config.lbfgs_memory, config.lbfgs_precondition, config.lbfgs_cutoff) == (7, 0.25, 0.03)


def test_experiment_mode_overrides_only_what_was_given():
    base = StylizeConfig(size=96, steps=7, optimizer="sgd", style_weight=9.0)
    config = flags.config_from_flags("experiment", base, flag_values=FakeFlags(size=64))
    assert config == dataclasses.replace(base, size=64)
    assert flags.config_from_flags("experiment", base, flag_values=FakeFlags()) == base


def test_a_new_backbone_takes_its_own_layers():
    overrides = flags.stylize_overrides(FakeFlags(backbone="resnet18"))
    assert overrides == {"backbone": "resnet18", "content_layers": None, "style_layers": None}
    kept = flags.stylize_overrides(FakeFlags(backbone="vgg16", style_layers=["conv1_1"]))
    assert kept["style_layers"] == (("conv1_1", 0.2),) and kept["content_layers"] is None


@pytest.mark.parametrize(
    "values, message",
    [
        ({"style_layers": ["conv1_1:x"]}, "bad layer weight in 'conv1_1:x'"),
        ({"style_blend": ["a"]}, "--style_blend must be numbers"),
        ({"optimizer": "newton"}, "--optimizer must be one of"),
        ({"steps": 0}, "--steps must be finite and >= 1"),
        ({"style_layers": ["conv9_9"]}, "conv9_9"),
    ],
)
def test_bad_values_are_usage_errors_naming_the_flag(values, message):
    with pytest.raises(flags.UsageError, match=message) as info:
        flags.config_from_flags("stylize", flag_values=FakeFlags(**values))
    assert "\n" not in str(info.value)


def test_library_field_names_become_flag_names():
    message = "StylizeConfig.style_weight must be finite and >= 0, got nan"
    assert flags.flag_message(message) == "--style_weight must be finite and >= 0, got nan"
    assert flags.flag_message("StylizeConfig.content_norm x") == "StylizeConfig.content_norm x"


def test_sample_names_resolve_to_bundled_files_and_paths_stay():
    for name in image.SAMPLES:
        assert flags.image_path(name) == str(image.sample(name))
    assert flags.image_path("photos/me.jpg") == "photos/me.jpg"
    config = flags.config_from_flags("stylize", flag_values=FakeFlags(init="chelsea"))
    assert config.init == str(image.sample("chelsea"))
    assert flags.config_from_flags("video", flag_values=FakeFlags(init="style")).init == "style"


def test_config_overrides_are_split_off():
    argv = ["run.py", "--experiment=tv_sweep", "--config.gatys.steps=3", "--quick"]
    rest, overrides = flags.split_overrides(argv)
    assert rest == ["run.py", "--experiment=tv_sweep", "--quick"]
    assert overrides == ["config.gatys.steps=3"]


def test_help_groups_every_mode_and_lists_the_samples():
    text = flags.help_text()
    titles = [title for title, _ in flags.GROUPS]
    positions = [text.index(f"\n{title}:\n") for title in titles]
    assert positions == sorted(positions)  # every group, in order
    for name in ("--video=", "--model=", "--experiment=", "--exported=", "--tile_size="):
        assert name in text, name
    assert all(name in text for name in image.SAMPLES)
    grouped = [name for _, names in flags.GROUPS for name in names]
    assert len(grouped) == len(set(grouped))  # each flag in one group
    defined = [flag.name for flag in flags.FLAGS.get_flags_for_module("nst_cli.flags")]
    assert sorted(grouped) == sorted(defined)  # every flag of run.py in its section
    assert "Experiments' own flags" not in text


def test_record_keeps_the_project_flags_given():
    fv = FakeFlags(size=64, style=["brick"])
    assert flags.record(fv) == {"size": 64, "style": ["brick"]}
