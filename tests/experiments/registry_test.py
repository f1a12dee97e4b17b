"""The experiments registry: every registered experiment has a smoke test, and vice versa."""

import inspect
import pathlib
import re

import pytest
from absl import flags

import experiments

TESTS = pathlib.Path(__file__).resolve().parents[1]


def _tested_experiments() -> set[str]:
    """Names with a ``<name>_test.py``, or imported / run by name in some test file."""
    tested = set()
    for path in TESTS.rglob("*_test.py"):
        tested.add(path.name.removesuffix("_test.py"))
        text = path.read_text()
        for names in re.findall(r"from experiments import ([\w, ()\n]+)", text):
            tested.update(re.findall(r"\w+", names))
        tested.update(re.findall(r"--experiment=(\w+)", text))
        tested.update(re.findall(r"experiments\.get\([\"'](\w+)[\"']\)", text))
    return tested


def test_every_registered_experiment_has_a_smoke_test():
    missing = sorted(set(experiments.EXPERIMENTS) - _tested_experiments())
    assert not missing, f"experiments no test runs (add a <name>_test.py): {missing}"


def test_every_experiment_test_is_registered():
    here = pathlib.Path(__file__).parent
    studies = {p.name.removesuffix("_test.py") for p in here.glob("*_test.py")}
    studies -= {"registry", "common"}
    assert studies <= set(experiments.EXPERIMENTS)


def test_registry_is_read_only_and_get_names_the_valid_ones():
    with pytest.raises(TypeError):
        experiments.EXPERIMENTS["x"] = None  # type: ignore[index]
    with pytest.raises(ValueError, match="unknown experiment 'nope'; valid: optimizer_sweep"):
        experiments.get("nope")


@pytest.mark.parametrize("name", sorted(experiments.EXPERIMENTS))
def test_module_interface(name):
    module = experiments.get(name)
    assert module.__doc__ and module.__doc__.strip().splitlines()[0]
    assert module.NAME == name and not hasattr(module, "main")
    assert list(inspect.signature(module.run).parameters) == ["config", "workdir", "session"]
    assert hasattr(module, "settings") or hasattr(module, "validate")
    if hasattr(module, "settings"):  # the Gatys studies (experiments/_common.py)
        assert module.NAME == name
        assert f"--experiment={name} --quick" in module.__doc__
        for quick in (False, True):
            config = module.get_config(quick)
            assert module.settings(config)
        full, quick = module.get_config(False), module.get_config(True)
        assert full.stylize.weights == "imagenet"
        assert 64 <= quick.stylize.size <= 128 < full.stylize.size
        assert quick.stylize.steps <= 100 < full.stylize.steps


def test_experiments_define_no_flags():
    """Study options are config fields (--config.field=value), never flags."""
    import nst_cli.flags  # noqa: F401  (every flag of the command line)

    defining = {m for m in flags.FLAGS.flags_by_module_dict() if m.startswith("experiments")}
    assert not defining, defining
