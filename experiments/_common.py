"""What every experiment uses, in one import: ``from experiments import _common``.

Re-exports, one line per job (the code lives in the module named):

* ``_table``: a study as data: ``Config``, ``Setting`` rows, tiers, settings -> configs,
  sweep groups, input names;
* ``validate``: ``nst.config.validate`` (a ``StylizeConfig`` checks itself when made);
* ``_claims``: a seed's claim and its verdict on a run;
* ``_records``: JSON files, provenance (versions, git, device, weights), workdir checks;
* ``_outputs``: figure, loss plots, metrics.json / .csv;
* ``runner``: the one runner (resume, manifest, the common outputs) and ``run_study``;
  ``runner`` itself for its types (``runner.Save``).
"""

from experiments import runner
from experiments._claims import (
    claim,
    log_claims,
    monotone_margin,
    trend_claim,
    verdict_lines,
    with_verdicts,
)
from experiments._outputs import (
    RANDOM_NOTE,
    metrics_rows,
    references,
    row_figure,
    save_figure,
    save_loss_plots,
    study_title,
    title,
    write_csv,
)
from experiments._records import (
    claim_workdir,
    describe_weights,
    device_info,
    differences,
    file_sha256,
    git_info,
    imagenet_available,
    json_safe,
    package_versions,
    read_json,
    utc_now,
    weights_info,
    weights_label,
    weights_record,
    write_atomic,
    write_json,
)
from experiments._table import (
    TIERS,
    Config,
    Setting,
    configs,
    format_number,
    gatys,
    groups,
    image_name,
    layer_table,
    shrink,
    slug,
    subset_weights,
    tier_config,
    tier_note,
    tier_of,
)
from experiments.runner import (
    Outcome,
    Report,
    Session,
    Study,
    Summary,
    existing_manifest,
    load_outcome,
    run,
    run_once,
    run_study,
)
from nst.config import validate

__all__ = [
    "RANDOM_NOTE",
    "TIERS",
    "Config",
    "Outcome",
    "Report",
    "Session",
    "Setting",
    "Study",
    "Summary",
    "claim",
    "claim_workdir",
    "configs",
    "describe_weights",
    "device_info",
    "differences",
    "existing_manifest",
    "file_sha256",
    "format_number",
    "gatys",
    "git_info",
    "groups",
    "image_name",
    "imagenet_available",
    "json_safe",
    "layer_table",
    "load_outcome",
    "log_claims",
    "metrics_rows",
    "monotone_margin",
    "package_versions",
    "read_json",
    "references",
    "row_figure",
    "run",
    "run_once",
    "run_study",
    "runner",
    "save_figure",
    "save_loss_plots",
    "shrink",
    "slug",
    "study_title",
    "subset_weights",
    "tier_config",
    "tier_note",
    "tier_of",
    "title",
    "trend_claim",
    "utc_now",
    "validate",
    "verdict_lines",
    "weights_info",
    "weights_label",
    "weights_record",
    "with_verdicts",
    "write_atomic",
    "write_csv",
    "write_json",
]
