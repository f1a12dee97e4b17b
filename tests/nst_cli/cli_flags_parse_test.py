"""``nst_cli.flags`` beyond the config: parsing (--help, bad values, non-finite floats), the
one-line messages, path flags, the flags a manifest records, and the defaults a user gets
without a flag. Each test here kills mutants that survived ``benchmarks/mutation_run.py``
(docs/testing.md)."""

import pytest
from absl import flags as absl_flags
from cli_fakes import FakeFlags

from nst import image
from nst_cli import flags


def test_help_prints_the_grouped_help_and_exits_0(capsys):
    for argv in (["myprog", "-h"], ["myprog", "--size=64", "--help"], ["myprog", "-?"]):
        with pytest.raises(SystemExit) as info:
            flags.parse(argv)
        assert info.value.code == 0, argv
        out = capsys.readouterr().out
        assert out.startswith("usage: myprog [--content=PHOTO]"), out[:80]
        assert "\nOptimization (" in out and "--size=VALUE" in out


@pytest.fixture
def own_flags(monkeypatch):
    """``flags.FLAGS`` replaced by a few flags of each kind, so parsing leaves absl's alone."""
    fv = absl_flags.FlagValues()
    absl_flags.DEFINE_integer("size", 512, "px", flag_values=fv)
    absl_flags.DEFINE_float("lr", 0.01, "rate", flag_values=fv)
    absl_flags.DEFINE_float("fps", None, "rate", flag_values=fv)
    absl_flags.DEFINE_string("init", None, "start", flag_values=fv)
    monkeypatch.setattr(flags, "FLAGS", fv)
    return fv


def test_parse_returns_the_other_arguments(own_flags):
    assert flags.parse(["run.py", "--size=64", "--lr=0.5", "extra"]) == ["run.py", "extra"]
    assert own_flags.size == 64 and own_flags.lr == 0.5


@pytest.mark.parametrize(
    "arg, message",
    [
        ("--size=abc", "flag --size=abc: invalid literal for int() with base 10: 'abc'"),
        ("--lr=nan", "--lr must be a finite number, got nan"),
        ("--lr=-inf", "--lr must be a finite number, got -inf"),
        ("--fps=inf", "--fps must be a finite number, got inf"),
    ],
)
def test_bad_values_are_one_line_usage_errors(own_flags, arg, message):
    with pytest.raises(flags.UsageError) as info:
        flags.parse(["run.py", "--size=64", arg])
    assert str(info.value) == message


def test_messages_keep_their_first_line_with_flag_names():
    text = "StylizeConfig.lr must be finite and > 0, got 0\nsecond line"
    assert flags.flag_message(text) == "--lr must be finite and > 0, got 0"
    assert flags.flag_message("") == "invalid value"


def test_record_keeps_only_the_project_flags_given():
    fv = FakeFlags(size=64, logtostderr=True)  # absl's own flag: not recorded
    fv["steps"] = type(fv["size"])(value=7, present=0)  # a default, not given
    assert flags.record(fv) == {"size": 64}


def test_image_files_exist_or_are_samples(tmp_path):
    path = tmp_path / "photo.png"
    image.save(path, image.load(image.sample("chelsea"), max_size=16))
    assert flags.image_file(str(path), "content") == str(path)
    assert flags.image_file("chelsea", "style") == str(image.sample("chelsea"))
    with pytest.raises(flags.UsageError, match=r"--content=nope.png: no such file.*tubingen"):
        flags.image_file("nope.png", "content")


def test_tilde_in_path_flags_after_one_not_given(monkeypatch, tmp_path):
    # --video is not given; the path flags after it in PATH_FLAGS are expanded all the same.
    home = str(tmp_path / "someone")
    monkeypatch.setenv("HOME", home)
    fv = FakeFlags(workdir="~/w", cache_dir="~/c", weights="~/v.npz", lr=0.5)
    flags.expand_user_paths(fv)
    assert fv["workdir"].value == f"{home}/w"
    assert fv["cache_dir"].value == f"{home}/c"
    assert fv["weights"].value == f"{home}/v.npz"


# What a user gets without the flag (each shown by --help as its default).
DEFAULTS = {
    "output": "out.png",
    "overwrite": False,
    "progress": True,
    "list_experiments": False,
    "list_layers": False,
    "version": False,
    "quick": False,
    "flow": "dis",
    "long_term": ["1"],
    "max_frames": 0,  # to the end of the clip
    "start": 0.0,
    "num_processes": 1,
    "process_id": 0,
    "distributed": "off",
    "distributed_timeout": 300.0,
}


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_defaults_without_the_flag(name):
    assert flags.FLAGS[name].default == DEFAULTS[name]
    shown = DEFAULTS[name]
    shown = ",".join(shown) if isinstance(shown, list) else shown
    if not isinstance(shown, bool) and shown not in (None, "", 0):
        assert f"(default: {shown})" in flags._describe(name).replace("\n        ", " ")


def test_help_shows_no_empty_defaults():
    text = flags.help_text()
    assert "(default: None)" not in text and "(default: )" not in text
    assert "(default: 512)" in flags._describe("size")


@pytest.mark.parametrize("name", ["content", "output", "video", "overwrite", "workdir"])
def test_flags_that_are_no_field_leave_the_config_alone(name):
    value = {"overwrite": True}.get(name, "x.png")
    baseline = flags.config_from_flags("stylize", flag_values=FakeFlags())
    assert flags.config_from_flags("stylize", flag_values=FakeFlags(**{name: value})) == baseline
    assert name not in flags.stylize_overrides(FakeFlags(**{name: value}))


def test_the_balances_default_weights_are_5_and_10():
    # --style_weight's help: "One image: default 5 with --balance=relative, 10 with total".
    assert flags.config_from_flags("stylize", flag_values=FakeFlags()).style_weight == 5.0
    assert "default 5 with --balance=relative, 10 with total" in " ".join(
        flags.FLAGS["style_weight"].help.split()
    )
    relative = FakeFlags(balance="relative")
    assert flags.config_from_flags("stylize", flag_values=relative).style_weight == 5.0
    total = flags.config_from_flags("stylize", flag_values=FakeFlags(balance="total"))
    assert (total.balance, total.style_weight) == ("total", 10.0)
    none = flags.config_from_flags("stylize", flag_values=FakeFlags(balance="none"))
    assert none.style_weight == 1e5
