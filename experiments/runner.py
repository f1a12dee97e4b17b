"""The one experiment runner: resume, manifest, figure, metrics and loss plots for every study.

A study hands the runner a ``Study``: what must match for a workdir to be resumed
(``identity``), its labelled outputs, a ``work`` function that computes the ones not
finished yet, and a ``summary`` of the finished study. The runner writes, under the
workdir::

    manifest.json        identity, the config actually used, the command's flags (only the
                         project's, given on the command line) and --config overrides, once;
                         weights, versions, git commit, device; one entry per (re)start
    images/<slug>.png    every labelled output image
    results/<slug>.json  per label: final losses, timings and the whole loss history
    figure.png           the labelled figure (says so when the weights are random), with
                         the claims' verdicts under it
    metrics.json/.csv    per label: final loss terms, steps, wall seconds, steps/s; and the
                         study's own numbers and claims
    loss_vs_step.png     total loss vs step, one line per curve, log scale
    loss_vs_time.png     total loss vs wall-clock seconds (compilation excluded)

Resuming: a label is finished once its ``results/<slug>.json`` exists (written atomically,
after its image). A rerun with the same workdir loads finished labels and computes the rest
(a study's ``work`` may resume inside a label: checkpoints, frames). A workdir holding
another study or other settings is refused; a complete one is reported and left untouched.

``run_study`` is the runner of the table studies: rows that differ only in numbers run as
one ``nst.stylize.sweep`` each (one compiled program: vmapped on accelerators, setting by
setting on CPU). Wall time in a sweep group is the group's: K settings share every step, so
their ``wall_seconds`` and ``steps_per_second`` are the group's (``sweep_size`` says K).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from absl import logging

from experiments import _claims, _outputs, _records
from experiments._manifest import existing_manifest, finish_manifest, new_manifest, start_session
from experiments._records import json_safe, read_json, write_json
from experiments._table import Config, Setting, configs, format_number, groups, slug
from nst import config as config_lib
from nst import image as nst_image
from nst import optimizers, stylize
from nst.config import StylizeConfig


def _never() -> bool:
    return False


@dataclasses.dataclass(frozen=True)
class Session:
    """How one command runs a study: recorded in the manifest, never part of its results.

    flags: the project's flags given on the command line (name -> value).
    overrides: the ``--config.field=value`` arguments, as given.
    should_stop: polled between steps; True stops after the current step (checkpointed).
    note: the tier's note for figure titles ("--quick", "--tier=middle", or "").
    progress: makes the progress display of one run: ``progress(total, start=steps_done,
      title=text)`` -> a context manager with ``update(step, rate=, loss=)`` (the command
      line passes ``nst_cli.progress.Progress``); None shows nothing.
    """

    flags: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    overrides: tuple[str, ...] = ()
    should_stop: Callable[[], bool] = _never
    note: str = ""
    progress: Callable[..., Any] | None = None


@dataclasses.dataclass
class Outcome:
    """A finished label: its image and its ``results/<slug>.json`` record."""

    label: str
    slug: str
    image: np.ndarray
    record: dict[str, Any]
    snapshots: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)
    """{step: image} taken while it ran (``StylizeConfig.snapshot_every``), from
    ``snapshots/<slug>/<step>.png``."""

    @property
    def history(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, np.float64) for k, v in self.record.get("history", {}).items()}

    @property
    def final(self) -> dict[str, float]:
        return self.record["final"]


@dataclasses.dataclass
class Report:
    """What a run did: every outcome (by label), what ran now, how it ended, its metrics."""

    workdir: str
    outcomes: dict[str, Outcome]
    ran: list[str]
    skipped: list[str]
    complete: bool
    interrupted: bool = False
    already_complete: bool = False
    metrics: dict[str, Any] | None = None  # metrics.json's content, once complete
    result: Any = None  # a study's own result (train_feedforward: its TrainResult)


@dataclasses.dataclass
class Summary:
    """What a finished study shows; the runner writes it.

    title: the figure's (and loss plots') title. layout: ``nst.image.grid`` keyword
    arguments plus an optional ``caption`` printed under the grid. cell: its cell side, px.
    claims: ``_claims.claim`` records (metrics.json ``claims``, under the figure, the log).
    metrics: the study's own keys of metrics.json. rows: per-label rows of metrics.json
    ``settings`` and metrics.csv (None: the outcomes' final losses and timings). curves:
    ``(label, history)`` pairs of the loss plots (None: the outcomes' histories).
    files: ``files(workdir)`` writes the study's own files.
    """

    title: str
    layout: Mapping[str, Any]
    cell: int = 256
    claims: Sequence[Mapping[str, Any]] = ()
    metrics: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    rows: Sequence[Mapping[str, Any]] | None = None
    curves: Sequence[tuple[str, Mapping[str, Any]]] | None = None
    files: Callable[[str], None] | None = None


# work(todo, save, session) -> interrupted: computes the labels in ``todo`` (in order),
# handing each finished one to ``save(label, image, record)``.
Save = Callable[..., Outcome]  # (label, image, record, snapshots={step: image}) -> Outcome
Work = Callable[[list[str], Save, Session], bool]


@dataclasses.dataclass(frozen=True)
class Study:
    """A study as the runner sees it.

    name: the experiment's registry name. identity: what must match for a workdir to be
    resumed (JSON-safe). config: the values actually used (manifest ``config``; a complete
    workdir whose config differs, within the same identity, is run again: training to more
    steps). labels: the outputs saved one by one (none: the study is one piece of work).
    work, summary: see ``Work`` and ``Summary``. weights: the manifest's weights record.
    prepare: called before the workdir is touched (load weights: a failure leaves nothing).
    manifest: the study's own manifest keys. primary: False on the processes of a
    multi-host run that write nothing.
    """

    name: str
    identity: Mapping[str, Any]
    config: Any
    labels: Sequence[str]
    work: Work
    summary: Callable[[list[Outcome]], Summary]
    weights: Mapping[str, Any]
    prepare: Callable[[], Any] = _never
    manifest: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    primary: bool = True


def run(study: Study, workdir: str, session: Session | None = None) -> Report:
    """Runs (or resumes) ``study`` in ``workdir`` and writes every common output.

    Raises ValueError for a workdir holding another study, other settings or foreign files.
    """
    session = session or Session()
    labels = list(study.labels)
    config = json_safe(study.config)
    manifest = existing_manifest(workdir, study.identity)
    if manifest is not None and manifest.get("status") == "complete":
        if manifest.get("config", config) == config:
            logging.info("%s: %s is already complete; nothing to do", study.name, workdir)
            outcomes = {label: load_outcome(workdir, label) for label in labels}
            path = os.path.join(workdir, "metrics.json")
            metrics = read_json(path) if os.path.exists(path) else None
            return Report(
                workdir, outcomes, [], labels, True, already_complete=True, metrics=metrics
            )
    study.prepare()  # weights first (a download, or a clear error offline): no workdir yet
    if manifest is None:
        manifest = new_manifest(
            study.identity,
            study.config,
            study.weights,
            session.flags,
            session.overrides,
            study.manifest,
        )
    manifest.update(status="running", config=config)
    if study.primary:
        start_session(workdir, manifest, session.flags, session.overrides)

    outcomes = _finished(study.name, workdir, labels)
    skipped = list(outcomes)
    ran: list[str] = []

    def save(
        label: str,
        image: np.ndarray,
        record: dict[str, Any],
        snapshots: Mapping[int, np.ndarray] | None = None,
    ) -> Outcome:
        s = slug(label)
        snapshots = {int(k): v for k, v in (snapshots or {}).items()}
        if study.primary:
            nst_image.save(os.path.join(workdir, "images", f"{s}.png"), image, overwrite=True)
            write_json(os.path.join(workdir, "results", f"{s}.json"), json_safe(record))
            # the sweep wrote each snapshot as it was taken (earlier sessions' too)
            snapshots = {**_snapshots(workdir, s), **snapshots}
        outcomes[label] = Outcome(label, s, image, json_safe(record), snapshots)
        ran.append(label)
        return outcomes[label]

    interrupted = study.work([lb for lb in labels if lb not in outcomes], save, session)
    complete = not interrupted and len(outcomes) == len(labels)
    if not complete:
        logging.warning("%s: stopped; state saved, rerun with --workdir=%s", study.name, workdir)
        return Report(workdir, outcomes, ran, skipped, False, True)
    ordered = [outcomes[label] for label in labels]
    summary = study.summary(ordered)
    metrics = json_safe(_metrics(ordered, summary))
    if study.primary:
        write_outputs(workdir, ordered, summary, metrics)
        finish_manifest(workdir, manifest)
    _claims.log_claims(study.name, summary.claims)
    logging.info("%s: complete; figure, metrics and loss plots in %s", study.name, workdir)
    return Report(workdir, outcomes, ran, skipped, True, metrics=metrics)


def _finished(name: str, workdir: str, labels: list[str]) -> dict[str, Outcome]:
    """The labels already finished in ``workdir`` (a rerun skips them), logged."""
    outcomes = {}
    for label in labels:
        done = load_outcome(workdir, label)
        if done is not None:
            outcomes[label] = done
    if outcomes:
        logging.info(
            "%s: %d/%d settings already done in %s", name, len(outcomes), len(labels), workdir
        )
    return outcomes


def run_once(
    name: str,
    config: Any,
    workdir: str,
    session: Session | None,
    compute: Callable[[Session], Summary | None],
    weights: Mapping[str, Any],
    manifest: Mapping[str, Any] | None = None,
) -> Report:
    """``run`` of a study that is one piece of work: ``compute(session)`` does it all and
    returns its ``Summary`` (None: stopped before the end; rerun to start again)."""
    found: dict[str, Summary] = {}

    def work(todo: list[str], save: Save, session: Session) -> bool:
        del todo, save
        summary = compute(session)
        if summary is not None:
            found["summary"] = summary
        return summary is None

    study = Study(
        name=name,
        identity=json_safe({"experiment": name, "config": config}),
        config=config,
        labels=[],
        work=work,
        summary=lambda outcomes: found["summary"],
        weights=weights,
        manifest=manifest or {},
    )
    return run(study, workdir, session)


def _metrics(outcomes: list[Outcome], summary: Summary) -> dict[str, Any]:
    rows = _outputs.metrics_rows(outcomes) if summary.rows is None else list(summary.rows)
    extra = dict(summary.metrics)
    if summary.claims:
        extra["claims"] = list(summary.claims)
    return {"settings": rows, **extra} if rows else extra


def write_outputs(
    workdir: str, outcomes: list[Outcome], summary: Summary, metrics: Mapping[str, Any]
) -> None:
    """figure.png (with the verdicts), metrics.json/.csv, the loss plots, the study's files."""
    layout = _claims.with_verdicts(summary.layout, summary.claims)
    _outputs.save_figure(os.path.join(workdir, "figure.png"), layout, summary.title, summary.cell)
    rows = metrics.get("settings", [])
    _outputs.write_metrics(workdir, rows, {k: v for k, v in metrics.items() if k != "settings"})
    curves = summary.curves
    if curves is None:
        curves = [(o.label, o.history) for o in outcomes]
    _outputs.save_loss_plots(workdir, curves, summary.title)
    if summary.files is not None:
        summary.files(workdir)


def load_outcome(workdir: str, label: str) -> Outcome | None:
    """The finished ``label`` in ``workdir`` (its image and record), or None."""
    s = slug(label)
    record_path = os.path.join(workdir, "results", f"{s}.json")
    image_path = os.path.join(workdir, "images", f"{s}.png")
    if not (os.path.exists(record_path) and os.path.exists(image_path)):
        return None
    image = nst_image.load(image_path, max_size=None)
    return Outcome(label, s, image, read_json(record_path), _snapshots(workdir, s))


def _snapshot_path(workdir: str, s: str, step: int) -> str:
    return os.path.join(workdir, "snapshots", s, f"{step:06d}.png")


def _snapshots(workdir: str, s: str) -> dict[int, np.ndarray]:
    """``{step: image}`` from ``snapshots/<s>/<step>.png`` ({} when there are none)."""
    folder = os.path.join(workdir, "snapshots", s)
    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    return {
        int(name[:-4]): nst_image.load(os.path.join(folder, name), max_size=None)
        for name in names
        if name.endswith(".png") and name[:-4].isdigit()
    }


# ------------------------------------------------------------------------- table studies

Figure = Callable[[Config, list[Outcome], Callable[[str], np.ndarray]], Mapping]
Claims = Callable[[Config, list[Outcome], Callable[[str], np.ndarray]], list]


def run_study(
    name: str,
    config: Config,
    table: Sequence[Setting],
    workdir: str,
    *,
    figure: Figure | None = None,
    extra_metrics: Callable[[list[Outcome]], Mapping[str, Any]] | None = None,
    extra_files: Callable[[str, list[Outcome]], None] | None = None,
    claims: Claims | None = None,
    session: Session | None = None,
) -> Report:
    """Runs every setting of ``table`` not finished yet in ``workdir``; writes the outputs.

    Args:
      name: the experiment's registry name.
      config: the experiment's config (base ``StylizeConfig`` and inputs).
      table: its ``Setting`` rows.
      workdir: the output folder (created); a rerun with the same folder resumes.
      figure: ``figure(config, outcomes, load) -> grid layout`` (``nst.image.grid`` keyword
        arguments, plus an optional ``caption`` printed under the grid); ``load(path)`` reads
        an input at the working size. Default: content, style, then one cell per setting.
      extra_metrics: ``extra_metrics(outcomes) -> {key: value}`` added to metrics.json.
      extra_files: ``extra_files(workdir, outcomes)`` writes study-specific files.
      claims: ``claims(config, outcomes, load) -> [claim(...), ...]``: the seed's claims and
        their verdicts on this run, written to metrics.json (``claims``), under the figure
        and to the log.
      session: the command line's flags, stop signal and tier note (``Session``).

    Returns:
      A ``Report``. Raises ValueError for a workdir holding another study's settings.
    """
    session = session or Session()
    table = [Setting(*row) for row in table]
    study = _TableStudy(name, config, table, workdir, figure, extra_metrics, extra_files, claims)
    return run(study.study(session.note), workdir, session)


@dataclasses.dataclass
class _TableStudy:
    """A table study as ``run`` drives it: its rows (config and inputs per setting), the
    inputs loaded once, the weights loaded by ``prepare``; each sweep group runs as one
    ``nst.stylize.sweep``."""

    name: str
    config: Config
    table: list[Setting]
    workdir: str
    figure: Figure | None
    extra_metrics: Callable[[list[Outcome]], Mapping[str, Any]] | None
    extra_files: Callable[[str, list[Outcome]], None] | None
    claims: Claims | None
    rows: list[tuple[StylizeConfig, dict]] = dataclasses.field(init=False)
    labels: list[str] = dataclasses.field(init=False)
    images: dict[tuple[str, int], np.ndarray] = dataclasses.field(default_factory=dict)
    params: dict[tuple, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rows = configs(self.config, self.table)
        self.labels = [s.label for s in self.table]

    def study(self, note: str) -> Study:
        return Study(
            name=self.name,
            identity=_identity(self.name, self.config, self.table, self.rows),
            config=self.config,
            labels=self.labels,
            work=self.work,
            summary=functools.partial(self.summary, note=note),
            weights=_records.weights_info(self.rows),
            prepare=self.prepare,
        )

    def load(self, path: str, size: int | None = None) -> np.ndarray:
        """An input image at ``size`` (default the config's), read once."""
        key = (path, size or self.config.stylize.size)
        if key not in self.images:
            self.images[key] = nst_image.load(path, max_size=key[1])
        return self.images[key]

    def prepare(self) -> None:
        self.params.update(_load_weights(self.rows))

    def work(self, todo: list[str], save: Save, session: Session) -> bool:
        """The groups holding labels of ``todo``, each one sweep; True when interrupted."""
        cache = stylize.Cache()  # groups with the same program (shapes, losses) compile once
        finished: list[str] = []
        for group in groups(self.config, self.table):
            indices = [i for i in group if self.labels[i] in todo]
            if not indices:
                continue
            t0 = time.perf_counter()
            results = self.sweep(indices, session, cache)
            if results is None:
                return True
            for i, result in zip(indices, results):
                self.save(i, result, len(indices), save)
                finished.append(self.labels[i])
            logging.info("%s: group done in %.1f s", self.name, time.perf_counter() - t0)
            if session.should_stop():
                return any(label not in finished for label in todo)
        return False

    def sweep(
        self, indices: list[int], session: Session, cache: stylize.Cache
    ) -> list[stylize.Result] | None:
        """The settings ``indices`` (one group) as one sweep, checkpointed in the workdir
        and shown by the session's progress; None when interrupted."""
        cfgs = [self.rows[i][0] for i in indices]
        if len(cfgs) == 1:  # alone: the network stops at its deepest weighted layer
            cfgs = [config_lib.without_unused_layers(cfgs[0])]
        base, inputs = cfgs[0], self.rows[indices[0]][1]
        labels = [self.labels[i] for i in indices]
        tag = hashlib.sha1("\n".join(labels).encode()).hexdigest()[:12]
        title = labels[0] + (f" (+{len(indices) - 1})" if len(indices) > 1 else "")
        checkpoint = os.path.join(self.workdir, "checkpoints", f"{tag}.npz")
        bar, show = _progress(
            session,
            base.steps,
            start=stylize.steps_saved(checkpoint),
            title=f"{self.name}: {title} ({base.steps} steps, sweep of {len(cfgs)})",
        )
        slugs = [slug(label) for label in labels]

        def snapshot(step: int, images: list[np.ndarray]) -> None:  # written as the run goes
            for s, image in zip(slugs, images):
                nst_image.save(_snapshot_path(self.workdir, s, step), image, overwrite=True)

        with bar:
            results = stylize.sweep(
                cfgs,
                self.load(inputs["content"], base.size),
                [self.load(p, base.size) for p in inputs["styles"]],
                net_params=(stylize.network(base), self.params[_weights_key(base)]),
                cache=cache,
                checkpoint=checkpoint,
                should_stop=session.should_stop,
                progress=show,
                on_snapshot=snapshot if base.snapshot_every else None,
            )
        if results[0].stopped == "interrupted":
            logging.warning(
                "%s: interrupted at step %d of %s", self.name, results[0].steps_done, title
            )
            return None
        return results

    def save(self, i: int, result: stylize.Result, sweep_size: int, save: Save) -> None:
        """Setting ``i``'s image and record, handed to the runner's ``save``; one log line."""
        label, (cfg, inputs) = self.labels[i], self.rows[i]
        record = _record(label, cfg, inputs, result, sweep_size)
        save(label, result.image, record, result.snapshots)
        logging.info(
            "%s: %s: %d steps in %.1f s (+%.1f s compile), loss %.4g%s",
            self.name, label, record["steps"], record["wall_seconds"],
            record["compile_seconds"], record["final"].get("total", float("nan")),
            f" [{result.stopped}]" if result.stopped else "",
        )  # fmt: skip

    def summary(self, outcomes: list[Outcome], note: str) -> Summary:
        config = self.config
        loader = lambda p: self.load(nst_image.sample_or_path(p))
        verdicts = list(self.claims(config, outcomes, loader)) if self.claims else []
        runs = _claims.convergence([o.record for o in outcomes])
        verdicts = [{"convergence": runs, **v} for v in verdicts]
        halves = [_claims.halfway(o.snapshots, o.record["steps"]) for o in outcomes]
        if verdicts and config.stylize.snapshot_every and all(halves):
            # The same claims on the images of half the run: had the verdicts settled?
            earlier = [dataclasses.replace(o, image=h[1]) for o, h in zip(outcomes, halves)]
            steps = [h[0] for h in halves]
            for verdict, then in zip(verdicts, self.claims(config, earlier, loader)):
                verdict["settled"] = _claims.settled(verdict, then, steps)
        layout = (self.figure or _default_figure)(config, outcomes, loader)
        extra_files = self.extra_files
        return Summary(
            title=_figure_title(self.name, self.rows, note),
            layout=layout,
            cell=int(np.clip(config.stylize.size, 128, 256)),
            claims=verdicts,
            metrics=dict(self.extra_metrics(outcomes)) if self.extra_metrics else {},
            files=(lambda w: extra_files(w, outcomes)) if extra_files else None,
        )


def _identity(name: str, config: Config, table: Sequence[Setting], rows) -> dict[str, Any]:
    """What must match for a workdir to be resumed: the study, its settings and inputs."""
    paths = sorted({p for _, inputs in rows for p in [inputs["content"], *inputs["styles"]]})
    return json_safe(
        {
            "experiment": name,
            "config": config,
            "settings": [
                {"label": s.label, "overrides": dict(s.overrides), "group": s.group}
                for s in map(lambda r: Setting(*r), table)
            ],
            "inputs": {p: _records.file_sha256(p) for p in paths},
        }
    )


def _default_figure(config: Config, outcomes: list[Outcome], load) -> Mapping[str, Any]:
    return _outputs.row_figure(outcomes, _outputs.references(config, load))


def _figure_title(name: str, rows, quick_note: str) -> str:
    cfg = rows[0][0]
    steps = sorted({c.steps for c, _ in rows})
    configs_ = [c for c, _ in sorted(rows, key=lambda r: r[0].backbone)]
    trained = [c for c in configs_ if not _records.weights_record(c)["random"]]
    network = _records.weights_label(trained or configs_)
    if cfg.network_norm == "gatys":
        network += ", normalized (mean activation 1 per filter, Gatys et al.)"
    if cfg.pooling != "max":
        network += f", {cfg.pooling} pooling"
    parts = [
        name,
        network,
        f"{cfg.size} px",
        f"{'/'.join(map(str, steps))} steps",
    ]
    parts += objective_note([c for c, _ in rows])
    random = [_records.weights_record(c)["random"] for c, _ in rows]
    text = _outputs.title(parts, quick_note, all(random))
    if any(random) and not all(random):
        names = sorted({c.backbone for (c, _), r in zip(rows, random) if r})
        total = len({c.backbone for c, _ in rows})
        text += (
            f" — {len(names)} of {total} networks on random weights ({', '.join(names)}): "
            "their panels are not paper quality and the comparison is not reproduced"
        )
    return text


# Weights as the seeds write them (the config's fields are in the seeds' units: nst.losses,
# Units), with the name a figure title gives them.
_WEIGHT_NAMES = (
    ("content_weight", "α"),
    ("style_weight", "β"),
    ("tv_weight", "TV"),
    ("photo_weight", "RL λ"),
    ("temporal_weight", "temporal"),
)


def objective_note(configs: Sequence[StylizeConfig]) -> list[str]:
    """What a figure title says about the objective its panels share: the weights in the
    seeds' units and the losses they belong to, the layers (names, one convention per
    figure), the optimizer and how a run ends. A field that differs between panels is left
    out (the panels' labels say it)."""

    def same(get):
        values = {repr(get(c)) for c in configs}
        return get(configs[0]) if len(values) == 1 else None

    weights = []
    for field, name in _WEIGHT_NAMES:
        value = same(lambda c, f=field: getattr(c, f))
        if value is not None and (value or field in ("content_weight", "style_weight")):
            weights.append(f"{name} {format_number(value)}")
    norms = same(lambda c: (c.content_norm, c.style_norm))
    if norms is not None:
        weights.append(f"losses {norms[0]}/{norms[1]}")
    parts = [", ".join(weights)] if weights else []
    for kind, table in (("content", config_lib.content_layers), ("style", config_lib.style_layers)):
        names = same(lambda c, table=table: tuple(n for n, w in table(c) if w))
        if names:
            parts.append(f"{kind} {','.join(names)}")
    optimizer = same(lambda c: c.optimizer)
    if optimizer is not None:
        how = optimizer
        if optimizer not in ("lbfgs", *optimizers.HOST_DRIVEN, "lbfgs_optax"):
            lr = same(lambda c: c.lr)
            how += f" {format_number(lr)}" if lr is not None else ""
        rule = same(lambda c: (c.stop_tol, c.stop_window))
        if rule and rule[0]:
            how += f", stop when the loss falls < {rule[0]:g} over {rule[1]} steps"
        parts.append(how)
    return parts


def _record(label: str, cfg: StylizeConfig, inputs: dict, result, sweep_size: int) -> dict:
    history = {k: np.asarray(v, np.float64) for k, v in result.history.items()}
    seconds = float(history["time"][-1]) if len(history.get("time", ())) else 0.0
    final = {k: float(v[-1]) for k, v in history.items() if k != "time" and len(v)}
    return json_safe(
        {
            "label": label,
            "steps": int(result.steps_done),
            "wall_seconds": seconds,
            "steps_per_second": result.steps_done / seconds if seconds > 0 else None,
            "compile_seconds": float(result.compile_seconds),
            "evaluations": int(result.evaluations),
            "sweep_size": sweep_size,
            "stopped": result.stopped,
            "converged": result.converged,
            "final": final,
            "config": cfg,
            "inputs": inputs,
            "history": {k: [float(x) for x in v] for k, v in history.items()},
        }
    )


def _progress(session: Session, total: int, **kwargs) -> tuple[Any, Callable | None]:
    """``(bar, the engine's progress callback)`` from ``session.progress``; a bar doing
    nothing and no callback when it is None."""
    if session.progress is None:
        return contextlib.nullcontext(), None
    bar = session.progress(total, **kwargs)
    return bar, functools.partial(_show, bar)


def _show(bar: Any, step: int, loss: float, rate: float) -> None:
    """The engine's progress callback on ``bar``."""
    bar.update(step, rate=rate, loss=loss)


def _weights_key(config: StylizeConfig) -> tuple:
    key = (config.backbone, config.weights, config.weights_seed, config.cache_dir)
    # normalized params depend on the pooling (the calibration's activations)
    return (*key, config.network_norm, config.pooling if config.network_norm != "none" else "")


def _load_weights(rows: Sequence[tuple[StylizeConfig, dict]]) -> dict[tuple, Any]:
    """Params of every backbone the settings use, loaded (or downloaded) once each."""
    params: dict[tuple, Any] = {}
    for cfg, _ in rows:
        key = _weights_key(cfg)
        if key not in params:
            params[key] = stylize.load_params(cfg)
    return params
