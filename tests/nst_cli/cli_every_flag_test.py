"""Every flag of ``nst_cli.flags`` reaches its config field: one table-driven test.

The flags are read from the module itself (``flags.GROUPS`` and every flag it defines), so a
flag added later is covered without touching this file. A flag whose name (or alias, below)
is a field of a config that a mode builds from the flags must change that field when given
a legal non-default value, to that value, and leave the other fields alone; every other flag
is listed in ``NOT_CONFIG`` with the reason. The values are made from the flag's own type,
the choices its help text lists (``"l1 | l2 | beta."``), or ``SPECIAL``.

Where the flags become configs (the routes):

* ``stylize``, ``video``, ``highres``, ``experiment``: ``config_from_flags(mode)``, the
  ``StylizeConfig`` of each mode (``video``: the frames' config after ``nst_cli.video``
  sets the temporal weight);
* ``video clip``: ``nst.video.temporal.VideoConfig`` (``nst_cli.video.video_config``);
* ``levels``: ``nst.highres.HighresConfig`` (``nst_cli.highres.highres_config``);
* ``frames``: which frames of the clip are read (``nst_cli.video._select``).

Issue 31: ``tv_kind`` dropped from the flags-to-config table left the suite green.
"""

from __future__ import annotations

import dataclasses
import re
import types

import pytest
from absl import flags as absl_flags
from cli_fakes import FakeFlags

from nst.config import StylizeConfig
from nst_cli import flags
from nst_cli import highres as cli_highres
from nst_cli import video as cli_video

# Every flag of the table: the --help groups and whatever else nst_cli/flags.py defines.
ALL_FLAGS = tuple(
    dict.fromkeys(
        [name for _, names in flags.GROUPS for name in names]
        + sorted(
            name
            for name in flags.FLAGS
            if flags.FLAGS.find_module_defining_flag(name, default="") == "nst_cli.flags"
        )
    )
)

# Flags that are no config's field, and why.
NOT_CONFIG = {
    **dict.fromkeys(
        "content style output overwrite progress".split(),
        "the inputs and output: read by each mode's main (tests/run_test.py, cli_*_test.py)",
    ),
    **dict.fromkeys(
        "video model exported experiment list_experiments list_models workdir quick tier".split(),
        "pick the mode (run.py)",
    ),
    **dict.fromkeys(
        "version list_layers".split(),
        "print and exit (run.py; tests/nst_cli/cli_defaults_test.py)",
    ),
    **dict.fromkeys(
        "style_mix max_size batch_size export export_size".split(),
        "feed-forward networks: read by nst_cli.infer (tests/nst_cli/cli_infer_test.py)",
    ),
    **dict.fromkeys(
        "coordinator_address num_processes process_id distributed distributed_timeout".split(),
        "process set-up (nst_cli.app.init_distributed; tests/distributed_test.py)",
    ),
}

# Flags named other than their field.
ALIASES = {"memory_gib": "memory_budget"}
# Flags that reach their field in these routes only, and why.
ONLY = {"temporal_weight": ("video",)}  # the per-clip weight; one image has no temporal term
# Fields of the same name that are not the flag's, and why.
HOMONYMS = {("init", "video clip"): "VideoConfig.init (where frames start) has no flag"}
# Fields a flag also changes on purpose.
COUPLED = {
    "optimizer": {"steps"},  # steps default per optimizer (100 L-BFGS, 500 others)
    "balance": {"style_weight"},  # one image: 5 relative, the papers' 1e5 with none
}
# Values that the generic ones (type, help-text choices) cannot make legal.
SPECIAL = {
    "content_layers": ["conv3_1"],
    "style_layers": ["conv1_1:0.5,conv2_1"],
    "long_term": ["1,2,4"],
}
# Other flags a value needs to be legal.
CONTEXT = {"ema_decay": {"optimizer": "adam"}}  # not with L-BFGS, the one-image default


class _Clip(list):
    shape = (8, 8, 3)


def _video_frames(fv):
    """The StylizeConfig ``nst_cli.video`` hands the frames (the engine faked below)."""
    config = flags.config_from_flags("video", flag_values=fv)
    log = types.SimpleNamespace(step=None, bar=types.SimpleNamespace(note=lambda *a: None))
    video = cli_video.video_config(fv)
    _, used = cli_video._optimize(fv, config, video, [], _Clip([0]), "f", False, None, log)
    return used


def _video_config(fv):
    from nst.video import temporal

    video = cli_video.video_config(fv)
    temporal.validate(StylizeConfig(), video)
    return video


ROUTES = {
    "stylize": lambda fv: flags.config_from_flags("stylize", flag_values=fv),
    "video": _video_frames,
    "highres": lambda fv: flags.config_from_flags("highres", flag_values=fv),
    "experiment": lambda fv: flags.config_from_flags("experiment", StylizeConfig(), flag_values=fv),
    "video clip": _video_config,
    "levels": cli_highres.highres_config,
    "frames": cli_video._select,
}


@pytest.fixture(autouse=True)
def _no_engine(monkeypatch):
    """The video route stops where the engine would start."""
    from nst import stylize
    from nst.video import temporal

    monkeypatch.setattr(stylize, "create_backbone", lambda config: (None, None))
    monkeypatch.setattr(temporal, "ruder_temporal_weight", lambda *a: 123.0)
    monkeypatch.setattr(temporal, "stylize_video", lambda *a, **k: types.SimpleNamespace(ran=[]))


def _fields(made) -> dict:
    if dataclasses.is_dataclass(made):
        return {f.name: getattr(made, f.name) for f in dataclasses.fields(made)}
    return dict(made)


def _route_fields(route: str) -> set[str]:
    """The fields route ``route`` makes: its config's fields (a dict route: its keys)."""
    if route == "video":  # the frames' StylizeConfig (made with the engine faked)
        return {f.name for f in dataclasses.fields(StylizeConfig)}
    return set(_fields(ROUTES[route](FakeFlags())))


_FIELD_SETS = {route: _route_fields(route) for route in ROUTES}


def _targets(name: str) -> list[str]:
    field = ALIASES.get(name, name)
    routes = [
        r for r, fields in _FIELD_SETS.items() if field in fields and (name, r) not in HOMONYMS
    ]
    return [r for r in routes if r in ONLY.get(name, routes)]


def test_every_flag_is_a_config_field_or_listed_as_not_one():
    assert set(NOT_CONFIG) <= set(ALL_FLAGS), set(NOT_CONFIG) - set(ALL_FLAGS)  # none stale
    for name in ALL_FLAGS:
        targets = _targets(name)
        assert targets or name in NOT_CONFIG, (
            f"--{name} reaches no config field: map it in nst_cli (or list it in NOT_CONFIG "
            "here, with the reason)"
        )
        assert not (targets and name in NOT_CONFIG), f"--{name} is {targets}'s field"
    for name, routes in ONLY.items():
        assert set(routes) <= set(ROUTES) and _targets(name), name


def _candidates(name: str) -> list[str]:
    """Command-line values to try, in order: legal non-default ones come first."""
    flag = flags.FLAGS[name]
    parser = flag.parser
    if name in SPECIAL:
        return SPECIAL[name]
    if isinstance(parser, absl_flags.BooleanParser):
        return ["true", "false"]
    if isinstance(parser, absl_flags.EnumParser):
        return list(parser.enum_values)
    if isinstance(parser, absl_flags.IntegerParser):
        return ["7", "64", "256", "2", "1"]
    if isinstance(parser, absl_flags.FloatParser):
        return ["0.5", "3.0", "0.25", "2.0"]
    if isinstance(parser, absl_flags.ListParser):
        return ["1,2", "0.5,0.5"]
    parts = flag.help.split("|")
    if len(parts) > 1:  # "l1 | l2 | beta.": the choices
        first = re.findall(r"\w+", parts[0])[-1:]
        return first + [m.group(1) for p in parts[1:] if (m := re.match(r"\s*(\w+)", p))]
    return ["elsewhere"]


def _expected(name: str, given, field_value):
    """What field ``field_value`` must hold for flag value ``given``."""
    if name in ("content_layers", "style_layers"):
        return flags.layer_table(given, 1.0 if name == "content_layers" else 0.2)
    if name == "init":
        return flags.image_path(given)
    if name == "memory_gib":
        return int(given * 2**30)
    if (
        isinstance(given, list)
        and isinstance(field_value, tuple)
        and len(given) == len(field_value)
    ):
        return tuple(type(f)(g) for f, g in zip(field_value, given, strict=True))
    return given


_CASES = [(name, route) for name in ALL_FLAGS for route in _targets(name)]


@pytest.mark.parametrize("name, route", _CASES, ids=[f"{n}-{r}" for n, r in _CASES])
def test_flag_reaches_its_field(name, route):
    make, field = ROUTES[route], ALIASES.get(name, name)
    context = CONTEXT.get(name, {})
    before = _fields(make(FakeFlags(**context)))
    tried = []
    for text in _candidates(name):
        given = flags.FLAGS[name].parser.parse(text)
        try:
            after = _fields(make(FakeFlags(**context, **{name: given})))
        except ValueError as e:  # UsageError included: not legal, try the next value
            tried.append(f"{text}: {e}")
            continue
        if after[field] == before[field]:
            tried.append(f"{text}: {field} stays {before[field]!r}")
            continue
        assert after[field] == _expected(name, given, after[field]), (name, text, after[field])
        changed = {k for k in after if after[k] != before[k]} - {field} - COUPLED.get(name, set())
        assert not changed, f"--{name}={text} also changed {sorted(changed)}"
        return
    pytest.fail(f"--{name} never reached {route}'s {field}: {tried}")
