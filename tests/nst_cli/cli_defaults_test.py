"""One image's defaults (balance, stopping rule), ~ in paths, --version, --list_layers."""

import os
import subprocess
import sys

import pytest
from cli_fakes import FakeFlags

from nst import backbones
from nst_cli import flags

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_one_image_defaults_to_the_relative_balance_and_a_stopping_rule():
    config = flags.config_from_flags("stylize", flag_values=FakeFlags())
    assert config.balance == "relative"
    assert config.style_weight == flags.RELATIVE_STYLE_WEIGHT
    assert config.stop_tol == 0.01 and config.optimizer == "lbfgs"


def test_papers_units_bring_the_papers_weight_back():
    config = flags.config_from_flags("stylize", flag_values=FakeFlags(balance="none"))
    assert config.balance == "none" and config.style_weight == 1e5
    given = FakeFlags(style_weight=3.0, stop_tol=0.0)
    config = flags.config_from_flags("stylize", flag_values=given)
    assert config.style_weight == 3.0 and config.stop_tol == 0.0


@pytest.mark.parametrize("stat", ["mean_cov_w2", "mrf"])
def test_statistics_without_a_gram_target_keep_the_papers_units(stat):
    given = FakeFlags(style_stat=stat, style_layers=["conv3_1", "conv4_1"])
    config = flags.config_from_flags("stylize", flag_values=given)
    assert config.balance == "none" and config.style_weight == 1e5


@pytest.mark.parametrize("mode", ["video", "highres", "experiment"])
def test_other_modes_keep_the_library_defaults(mode):
    config = flags.config_from_flags(mode, flag_values=FakeFlags())
    assert config.balance == "none" and config.stop_tol == 0.0


def test_tilde_is_the_home_folder_in_every_path_flag(monkeypatch, tmp_path):
    home = str(tmp_path / "someone")
    monkeypatch.setenv("HOME", home)
    fv = FakeFlags(content="~/a.jpg", style=["~/b.jpg", "c.jpg"], output="~/o.png", size=32)
    flags.expand_user_paths(fv)
    assert fv["content"].value == f"{home}/a.jpg"
    assert fv["style"].value == [f"{home}/b.jpg", "c.jpg"]
    assert fv["output"].value == f"{home}/o.png"
    assert fv["size"].value == 32


def _run(*args):
    cmd = [sys.executable, os.path.join(ROOT, "run.py"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_version_and_layer_list():
    import nst

    proc = _run("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"nst {nst.__version__}"
    proc = _run("--list_layers", "--backbone=vgg16")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[1:] == list(backbones.layer_names("vgg16"))
