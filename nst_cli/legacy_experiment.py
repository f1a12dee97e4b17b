"""``--experiment`` until ``nst_cli/experiment.py`` (issue 18's experiment runner) lands:
today's path, experiments reading the absl flags. Delete this file then."""

from __future__ import annotations

from collections.abc import Sequence

import experiments
from nst_cli.flags import FLAGS, UsageError


def main(overrides: Sequence[str]) -> None:
    if overrides:
        raise UsageError(f"--{overrides[0]}: --config.* overrides need nst_cli/experiment.py")
    experiments.get(FLAGS.experiment).main(FLAGS)
