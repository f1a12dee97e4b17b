"""Experiments registry: a read-only mapping from name to module, built at import.

Each experiment module is data plus one function, and defines no flags: a docstring whose
first line summarizes it, ``NAME``, ``get_config(quick=False[, tier])`` (its ``Config``, a
frozen dataclass), ``settings(config)`` (its table) or ``validate(config)``, and
``run(config, workdir, session=None) -> runner.Report``. ``run.py --experiment=NAME`` reaches
it through ``nst_cli.experiment`` (shared flags, ``--config.field=value`` overrides).

Besides the registry, what a caller needs to run one: the tiers (``tier_of``,
``tier_config``, ``tier_note``), a study's table (``Setting``, ``configs``) and the
``Session`` the runner takes.
"""

import importlib
from collections.abc import Mapping
from types import MappingProxyType, ModuleType

from experiments._table import Setting, configs, tier_config, tier_note, tier_of
from experiments.runner import Session

__all__ = [
    "EXPERIMENTS",
    "Session",
    "Setting",
    "configs",
    "get",
    "summaries",
    "tier_config",
    "tier_note",
    "tier_of",
]

_NAMES: tuple[str, ...] = (
    "optimizer_sweep",
    "loss_type_sweep",
    "backbone_sweep",
    "content_layer_ablation",
    "style_layer_ablation",
    "weight_tradeoff",
    "tv_sweep",
    "init_comparison",
    "photorealism",
    "texture_synthesis",
    "train_feedforward",
    "vanilla_vs_fast",
    "video_temporal",
    "guided_backprop",
    "class_visualization",
    "feature_inversion",
    "max_activating_patches",
    "large_scale",
)

EXPERIMENTS: Mapping[str, ModuleType] = MappingProxyType(
    {name: importlib.import_module(f"experiments.{name}") for name in _NAMES}
)


def get(name: str) -> ModuleType:
    """The experiment module ``name``; ValueError listing the valid names otherwise."""
    if name not in EXPERIMENTS:
        valid = ", ".join(EXPERIMENTS) or "(none registered yet)"
        raise ValueError(f"unknown experiment {name!r}; valid: {valid}")
    return EXPERIMENTS[name]


def summaries() -> dict[str, str]:
    """{name: first line of the module docstring}, for ``run.py --list_experiments``."""
    return {n: (m.__doc__ or "").strip().splitlines()[0] for n, m in EXPERIMENTS.items()}
