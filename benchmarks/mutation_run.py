"""Mutation testing with cosmic-ray over the modules of issue 31, each with its own tests.

Where ``benchmarks/mutation_check.py`` applies bugs written by hand, this lets a tool make
them: cosmic-ray (``pip install cosmic-ray``) mutates one operator, constant or condition at
a time, and a mutant that the module's tests still pass is a "survivor". Every module runs
in a temporary copy of the tree (cosmic-ray edits the files it mutates), with the tests
named for it below (``-x``: the first failure ends a mutant's run). Not part of CI: on the
2-core machine a mutant costs the test run (a few seconds for the command line, up to ~30 s
for the engine), so the full set takes hours; ``--max`` samples a module's mutants with a
fixed seed.

    python benchmarks/mutation_run.py --list                     # modules, tests, mutant counts
    python benchmarks/mutation_run.py flags guided --max 60      # a sample of two modules
    python benchmarks/mutation_run.py                            # everything (hours)
    python benchmarks/mutation_run.py flags --rerun mutation_runs --out mutation_runs/2
                                          # only the survivors of an earlier run, again

Writes ``mutation_runs/<module>.json`` (each mutant: operator, line, the line mutated,
killed or survived) and prints a markdown table of scores and the survivors.

Operators: one replacement per kind (``+`` -> ``-``, ``<`` -> ``<=``, ``==`` -> ``!=``, ``and``
-> ``or``, ``not`` added or removed, numbers +-1, ``True``/``False`` swapped, ``break`` /
``continue`` swapped, loops run zero times, ``except`` clauses that no longer catch). Left
out: cosmic-ray's other cross-replacements of the same operator (``+`` -> ``*``, ``%``, ``<<``
...: the same line again, ten times over), decorator removal (dropping ``jax.jit`` gives the
same numbers) and the variable replacers (random).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from mutation_check import _copy_tree  # the working tree copied, as there

ROOT = pathlib.Path(__file__).resolve().parents[1]
PYTEST = f"{sys.executable} -m pytest -q -x -p no:cacheprovider -n 0 --tb=no"

KEEP = {
    f"core/{name}"
    for name in (
        "ReplaceBinaryOperator_Add_Sub ReplaceBinaryOperator_Sub_Add "
        "ReplaceBinaryOperator_Mul_Div ReplaceBinaryOperator_Div_Mul "
        "ReplaceBinaryOperator_FloorDiv_Div ReplaceBinaryOperator_Mod_FloorDiv "
        "ReplaceBinaryOperator_Pow_Mul ReplaceBinaryOperator_BitOr_BitAnd "
        "ReplaceBinaryOperator_BitAnd_BitOr "
        "ReplaceComparisonOperator_Eq_NotEq ReplaceComparisonOperator_NotEq_Eq "
        "ReplaceComparisonOperator_Lt_LtE ReplaceComparisonOperator_LtE_Lt "
        "ReplaceComparisonOperator_Gt_GtE ReplaceComparisonOperator_GtE_Gt "
        "ReplaceComparisonOperator_Is_IsNot ReplaceComparisonOperator_IsNot_Is "
        "ReplaceComparisonOperator_In_NotIn ReplaceComparisonOperator_NotIn_In "
        "ReplaceUnaryOperator_USub_UAdd ReplaceUnaryOperator_Delete_Not AddNot "
        "ReplaceTrueWithFalse ReplaceFalseWithTrue ReplaceAndWithOr ReplaceOrWithAnd "
        "ReplaceBreakWithContinue ReplaceContinueWithBreak NumberReplacer "
        "ZeroIterationForLoop ExceptionReplacer"
    ).split()
}


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    paths: tuple[str, ...]
    tests: str  # pytest arguments
    timeout: float = 120.0  # seconds per mutant (a mutant that hangs counts as killed)


TARGETS = [
    Target(
        "flags",
        ("nst_cli/flags.py",),
        "tests/nst_cli/cli_flags_test.py tests/nst_cli/cli_every_flag_test.py "
        "tests/nst_cli/cli_flags_parse_test.py tests/nst_cli/cli_defaults_test.py "
        "tests/nst_cli/config_overrides_test.py -k 'not version_and_layer_list'",
        60.0,
    ),
    Target(
        "guided",
        ("nst/losses/_guided.py",),
        "tests/losses/guided_test.py tests/losses/guided_regions_test.py tests/api_test.py "
        "tests/stylize/stylize_reach_test.py::test_a_style_mask_selects_the_styles_own_region "
        "tests/stylize/stylize_peer_features_test.py "
        "-k 'not unmasked and (guided or region or mask)'",
        90.0,
    ),
    Target(
        "temporal",
        ("nst/video/temporal.py",),
        "tests/video/long_term_test.py tests/video/temporal_wiring_test.py "
        "tests/video/records_test.py tests/video/stylize_video_test.py",
        240.0,
    ),
    Target(
        "export",
        ("nst/feedforward/export.py",),
        "tests/feedforward/export_test.py tests/feedforward/export_edges_test.py",
        180.0,
    ),
    Target(
        "checkpoint",
        ("nst/stylize/_checkpoint.py",),
        "tests/stylize/stylize_reach_test.py tests/stylize/stylize_checkpoint_edges_test.py "
        "tests/reliability_test.py -k 'fingerprint or checkpoint or resume or steps'",
        120.0,
    ),
    Target(
        "lbfgs",
        ("nst/stylize/_lbfgs.py", "nst/stylize/_log.py"),
        "tests/stylize/stylize_lbfgs_test.py tests/stylize/stylize_stopping_test.py",
        120.0,
    ),
    Target(
        "tiled",
        ("nst/highres/_tiled.py", "nst/highres/_tiles.py"),
        "tests/highres_test.py -k 'tile or blend or seam or partition'",
        240.0,
    ),
    Target(
        "stylize",
        tuple(f"nst/stylize/{p.name}" for p in sorted((ROOT / "nst/stylize").glob("*.py"))),
        "tests/stylize/engine_wiring_test.py tests/stylize/stylize_reach_test.py "
        "tests/stylize/stylize_test.py tests/stylize/stylize_peer_features_test.py "
        "tests/stylize/stylize_lbfgs_test.py tests/reliability_test.py",
        600.0,
    ),
    Target(
        "highres",
        tuple(f"nst/highres/{p.name}" for p in sorted((ROOT / "nst/highres").glob("*.py"))),
        "tests/highres_test.py tests/nst_cli/cli_highres_test.py",
        600.0,
    ),
]


def _config(target: Target) -> str:
    paths = ", ".join(json.dumps(p) for p in target.paths)
    return (
        "[cosmic-ray]\n"
        f"module-path = [{paths}]\n"
        f"timeout = {target.timeout}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(PYTEST + ' ' + target.tests)}\n"
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
    )


def _bin(name: str) -> str:
    return str(pathlib.Path(sys.executable).with_name(name))


def _init(
    target: Target,
    tree: pathlib.Path,
    max_mutants: int | None,
    seed: int,
    only: set[tuple[str, str]] | None = None,
) -> int:
    """Creates the session; skips the operators not kept and all but a sample (or, with
    ``only``, all but the mutants of these (operator, source line) pairs: an earlier run's
    survivors, found again after the lines moved). Returns the number of mutants to run."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    (tree / "cr.toml").write_text(_config(target))
    subprocess.run(
        [_bin("cosmic-ray"), "init", "cr.toml", "session.sqlite", "--force"], cwd=tree, check=True
    )
    with use_db(str(tree / "session.sqlite"), WorkDB.Mode.open) as db:
        items = list(db.pending_work_items)
        keep = [i for i in items if all(m.operator_name in KEEP for m in i.mutations)]
        if only is not None:
            keep = [i for i in keep if _key(tree, i.mutations[0]) in only]
        if max_mutants is not None and len(keep) > max_mutants:
            keep = random.Random(seed).sample(keep, max_mutants)
        chosen = {i.job_id for i in keep}
        skip = [i.job_id for i in items if i.job_id not in chosen]
        db.set_multiple_results(
            skip, WorkResult(output="not sampled", worker_outcome=WorkerOutcome.SKIPPED)
        )
    return len(chosen)


def _key(tree: pathlib.Path, m) -> tuple[str, str]:
    line = (tree / m.module_path).read_text().splitlines()[m.start_pos[0] - 1]
    return m.operator_name.removeprefix("core/"), line.strip()


def _results(target: Target, tree: pathlib.Path) -> list[dict]:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome

    out = []
    with use_db(str(tree / "session.sqlite"), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                continue
            (m,) = item.mutations
            source = (tree / m.module_path).read_text().splitlines()
            out.append(
                {
                    "module": str(m.module_path),
                    "operator": m.operator_name.removeprefix("core/"),
                    "line": m.start_pos[0],
                    "code": source[m.start_pos[0] - 1].strip(),
                    "occurrence": m.occurrence,
                    "outcome": (result.test_outcome or result.worker_outcome).value,
                    "diff": result.diff,
                }
            )
    return sorted(out, key=lambda r: (r["module"], r["line"], r["operator"]))


def run(
    target: Target,
    max_mutants: int | None,
    seed: int,
    out_dir: pathlib.Path,
    rerun: pathlib.Path | None = None,
) -> dict:
    only = None
    if rerun is not None:  # an earlier run's survivors only
        earlier = json.loads((rerun / f"{target.name}.json").read_text())["results"]
        only = {
            (r["operator"], r["code"]) for r in earlier if r["outcome"].lower().endswith("survived")
        }
    with tempfile.TemporaryDirectory(prefix=f"mut-{target.name}-") as tmp:
        tree = pathlib.Path(tmp)
        _copy_tree(tree)
        n = _init(target, tree, None if only is not None else max_mutants, seed, only)
        print(f"{target.name}: {n} mutants, tests: {target.tests}", flush=True)
        env = dict(os.environ, PYTHONPATH=str(tree))
        # The unmutated tree must pass, or every mutant would count as killed.
        base = subprocess.run(
            f"{PYTEST} {target.tests}",
            shell=True,
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
        )
        if base.returncode != 0:
            raise SystemExit(
                f"{target.name}: the tests fail without a mutant:\n{base.stdout[-2000:]}"
            )
        start = time.perf_counter()
        subprocess.run(
            [_bin("cosmic-ray"), "exec", "cr.toml", "session.sqlite"], cwd=tree, env=env, check=True
        )
        seconds = time.perf_counter() - start
        mutants = _results(target, tree)
    killed = sum(r["outcome"] != "survived" for r in mutants)
    summary = {
        "target": target.name,
        "paths": list(target.paths),
        "tests": target.tests,
        "sampled": max_mutants,
        "mutants": len(mutants),
        "killed": killed,
        "seconds": round(seconds),
        "results": mutants,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{target.name}.json").write_text(json.dumps(summary, indent=1))
    return summary


def _count(target: Target) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tree = pathlib.Path(tmp)
        for p in target.paths:
            (tree / p).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / p, tree / p)
        return _init(target, tree, None, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help=f"of {[t.name for t in TARGETS]} (all)")
    parser.add_argument("--max", type=int, default=None, help="sample this many per module")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "mutation_runs"))
    parser.add_argument(
        "--rerun", default=None, help="a folder of earlier results: run their survivors only"
    )
    args = parser.parse_args()
    targets = [t for t in TARGETS if not args.targets or t.name in args.targets]
    if args.list:
        for t in targets:
            print(f"{t.name}: {_count(t)} mutants in {', '.join(t.paths)}; tests: {t.tests}")
        return
    print("| module | mutants run | killed | score | seconds |\n|---|---|---|---|---|")
    rerun = pathlib.Path(args.rerun) if args.rerun else None
    summaries = [run(t, args.max, args.seed, pathlib.Path(args.out), rerun) for t in targets]
    for s in summaries:
        score = s["killed"] / s["mutants"] if s["mutants"] else float("nan")
        print(f"| {s['target']} | {s['mutants']} | {s['killed']} | {score:.0%} | {s['seconds']} |")
    for s in summaries:
        for r in s["results"]:
            if r["outcome"] == "survived":
                code = re.sub(r"\s+", " ", r["code"])[:90]
                print(f"survived: {r['module']}:{r['line']} {r['operator']}: `{code}`")


if __name__ == "__main__":
    main()
