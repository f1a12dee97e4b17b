"""Hand-written mutants of the engine, resume, video, feed-forward and colour code.

Each mutant is one exact text replacement in one source file (the "bug"), applied to a
temporary copy of the tree; the tests named for it are then run there and the tests that
fail are recorded. A mutant that no test catches ("SURVIVED") is a hole in the suite.
Not part of CI (a run takes ~15-25 min on 2 shared cores); run it by hand:

    python benchmarks/mutation_check.py                 # every mutant, markdown table
    python benchmarks/mutation_check.py --only clip     # mutants whose name contains "clip"
    python benchmarks/mutation_check.py --list

The first 13 rows are the bugs of issue 17 (which the suite let through before); the rest
are further wiring bugs of the same kind.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]

PYTEST = [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", "--tb=no"]
ENGINE = ["tests/stylize/engine_wiring_test.py"]
VIDEO = ["tests/video/temporal_wiring_test.py"]
FF = ["tests/feedforward/formulas_test.py"]
STUDIES = ["tests/experiments/tv_sweep_test.py", "tests/experiments/weight_tradeoff_test.py"]
REACH = ["tests/stylize/stylize_reach_test.py"]
CLI_INPUTS = ["tests/nst_cli/cli_stylize_inputs_test.py"]
CLI_FLAGS = ["tests/nst_cli/cli_every_flag_test.py"]
LONG_TERM = ["tests/video/long_term_test.py"]


@dataclasses.dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


M = Mutant
MUTANTS = [
    # -- the 13 of issue 17
    M(
        "engine ignores --distance",
        "nst/stylize/_objective.py",
        "distance = dict(kind=config.distance, delta=config.delta)",
        'distance = dict(kind="squared", delta=config.delta)',
        ENGINE,
    ),
    M(
        "engine ignores --delta",
        "nst/stylize/_objective.py",
        "distance = dict(kind=config.distance, delta=config.delta)",
        "distance = dict(kind=config.distance, delta=1.0)",
        ENGINE,
    ),
    M(
        "engine ignores --tv_kind",
        "nst/stylize/_objective.py",
        "losses.total_variation(pixels, kind=config.tv_kind, beta=config.tv_beta)",
        'losses.total_variation(pixels, kind="l1", beta=config.tv_beta)',
        ENGINE,
    ),
    M(
        "engine ignores --tv_beta",
        "nst/stylize/_objective.py",
        "losses.total_variation(pixels, kind=config.tv_kind, beta=config.tv_beta)",
        "losses.total_variation(pixels, kind=config.tv_kind, beta=2.0)",
        ENGINE,
    ),
    M(
        "engine ignores the content-layer weights",
        "nst/stylize/_objective.py",
        '"content": _weighted_sum(content_layers, hyper.content_layers),',
        '"content": _weighted_sum(content_layers, {k: 1.0 for k in hyper.content_layers}),',
        ENGINE,
    ),
    M(
        "engine ignores Johnson style normalization (loss)",
        "nst/stylize/_objective.py",
        "layer = losses.style_layer_loss(f, targets.grams[n], norm=config.style_norm, **distance)",
        'layer = losses.style_layer_loss(f, targets.grams[n], norm="gatys", **distance)',
        ENGINE,
    ),
    M(
        "per-step clip to [0, 1] removed",
        "nst/stylize/_step.py",
        "new_x = jnp.clip(new_x, 0.0, 1.0)",
        "new_x = new_x",
        ENGINE,
    ),
    M(
        "a matching checkpoint is ignored",
        "nst/stylize/_log.py",
        "    return restored if restored is not None else (state, {})",
        "    return (state, {})",
        ENGINE,
    ),
    M(
        "video reliability mask replaced by ones",
        "nst/video/temporal.py",
        "return warp_lib.warp(image, backward), warp_lib.reliability_mask(backward, forward)",
        "return warp_lib.warp(image, backward), jnp.ones(image.shape[:2], jnp.float32)",
        VIDEO,
    ),
    M(
        "NaN steps kept in the history",
        "nst/stylize/_log.py",
        "self.history.setdefault(name, []).extend(np.asarray(values)[:n])",
        "self.history.setdefault(name, []).extend(np.asarray(values))",
        ENGINE,
    ),
    M(
        "instance norm divides by the variance",
        "nst/feedforward/cin.py",
        "return (x - mean) * jax.lax.rsqrt(var + epsilon)",
        "return (x - mean) / (var + epsilon)",
        FF,
    ),
    M(
        "feed-forward TV without its normalization",
        "nst/feedforward/train.py",
        'losses.total_variation(out, kind="l2") / (3 * height * width)',
        'losses.total_variation(out, kind="l2")',
        FF,
    ),
    M(
        "YIQ weights swapped",
        "nst/image.py",
        "[0.299, 0.587, 0.114],",
        "[0.587, 0.299, 0.114],",
        ENGINE,
    ),
    # -- further wiring bugs
    M(
        "engine ignores Johnson style normalization (targets)",
        "nst/stylize/_targets.py",
        'gatys = config.style_norm == "gatys"',
        "gatys = True",
        ENGINE,
    ),
    M(
        "engine ignores content_norm",
        "nst/stylize/_objective.py",
        "norm=config.content_norm, **distance",
        'norm="gatys", **distance',
        ENGINE,
    ),
    M(
        "engine ignores the style-layer weights",
        "nst/stylize/_objective.py",
        '"style": _weighted_sum(style_layers, hyper.style_layers),',
        '"style": _weighted_sum(style_layers, {k: 1.0 for k in hyper.style_layers}),',
        ENGINE,
    ),
    M(
        "engine drops the photorealism term from the total",
        "nst/stylize/_objective.py",
        'weights["photo"] = hyper.photo_weight',
        'weights["photo"] = 0.0',
        ENGINE,
    ),
    M(
        "matting Laplacian built with the default eps",
        "nst/stylize/_targets.py",
        "losses.matting_laplacian(content, eps=config.photo_eps)",
        "losses.matting_laplacian(content)",
        ENGINE,
    ),
    M(
        "backbone built without the pooling option",
        "nst/stylize/_targets.py",
        "return backbones.Backbone(config.backbone, layers, pooling=config.pooling)",
        "return backbones.Backbone(config.backbone, layers)",
        ENGINE,
    ),
    M(
        "compile cache key forgets the distance",
        "nst/config.py",
        '        "weights_seed",\n',
        '        "weights_seed",\n        "distance",\n',
        ENGINE,
    ),
    M(
        "histogram colour preservation ignored",
        "nst/stylize/_targets.py",
        'if config.preserve_color == "histogram":',
        "if False:",
        ENGINE,
    ),
    M(
        "luminance colour preservation ignored",
        "nst/stylize/_driver.py",
        'if config.preserve_color == "luminance":',
        "if False:",
        ENGINE,
    ),
    M(
        "style_blend ignored",
        "nst/stylize/_targets.py",
        "blend = np.asarray(config.style_blend or [1.0] * n_styles, np.float64)",
        "blend = np.asarray([1.0] * n_styles, np.float64)",
        ENGINE,
    ),
    M(
        "init=style starts from the content",
        "nst/stylize/_driver.py",
        "return jnp.asarray(nst_image.resize(styles[0], shape[:2]), jnp.float32)",
        "return jnp.asarray(content, jnp.float32)",
        ENGINE,
    ),
    M(
        "init=noise not in ImageNet-normalized space",
        "nst/stylize/_driver.py",
        "return jnp.clip(_MEAN + _STD * z, 0.0, 1.0)",
        "return jnp.clip(0.5 + 0.25 * z, 0.0, 1.0)",
        ENGINE,
    ),
    M(
        "snapshot taken one step late",
        "nst/stylize/_log.py",
        "        self.snapshots[self.done] = images()\n",
        "        self.snapshots[self.done + 1] = images()\n",
        ENGINE,
    ),
    M(
        "resumed run drops the earlier history",
        "nst/stylize/_log.py",
        "self.history = {name: list(v) for name, v in history.items()}",
        "self.history = {}",
        ENGINE,
    ),
    M(
        "video: frames start from the smeared warp everywhere",
        "nst/video/temporal.py",
        "init = np.where(masks[0][..., None] > 0, warped[0], current).astype(np.float32)",
        "init = warped[0].astype(np.float32)",
        VIDEO,
    ),
    M(
        "video: flow pair in the wrong direction",
        "nst/video/temporal.py",
        "flow_lib.flow_pair(current, inputs(t - j), method=video.flow)",
        "flow_lib.flow_pair(inputs(t - j), current, method=video.flow)",
        VIDEO,
    ),
    M(
        "CIN: gamma and beta swapped",
        "nst/feedforward/cin.py",
        "return instance_normalize(x, self.epsilon) * gamma + beta",
        "return instance_normalize(x, self.epsilon) * beta + gamma",
        FF,
    ),
    M(
        "feed-forward content loss: sum instead of mean",
        "nst/feedforward/train.py",
        'losses.content_loss(feats[n], reference[n], norm="mean")',
        'losses.content_loss(feats[n], reference[n], norm="gatys")',
        FF,
    ),
    M(
        "ResNet152: stage 3 one block short",
        "nst/backbones/_resnet.py",
        '"resnet152": (3, 8, 36, 3),',
        '"resnet152": (3, 8, 35, 3),',
        ("tests/resnet_features_test.py",),
    ),
    M(
        "ResNet bottleneck: stride on the 1x1 convolution (v1)",
        "nst/backbones/_resnet.py",
        "convs = [(1, 0), (stride, 1), (1, 0)]",
        "convs = [(stride, 0), (1, 1), (1, 0)]",
        ("tests/resnet_features_test.py",),
    ),
    M(
        "studies: every setting of a sweep runs the first setting's numbers",
        "experiments/runner.py",
        "cfgs = [self.rows[i][0] for i in indices]",
        "cfgs = [self.rows[indices[0]][0] for i in indices]",
        STUDIES,
    ),
    M(
        "studies: results written under the wrong labels",
        "experiments/runner.py",
        "for i, result in zip(indices, results):",
        "for i, result in zip(indices, results[::-1]):",
        STUDIES,
    ),
    # -- issue 31: each left every test green before tests/{stylize_reach,
    #    nst_cli/cli_every_flag, nst_cli/cli_stylize_inputs, video/long_term}_test.py
    M(
        "i31: a style's own mask replaced by the content mask (CLI)",
        "nst_cli/inputs.py",
        "None if sm is None else _load_mask(sm, style.shape[:2])",
        "None if sm is None else _load_mask(cm, style.shape[:2])",
        CLI_INPUTS,
    ),
    M(
        "i31: a style's own mask replaced by the content mask (engine)",
        "nst/stylize/_targets.py",
        "for style, (_, style_mask) in zip(",
        "for style, (style_mask, _) in zip(",
        REACH,
    ),
    M(
        "i31: styles not resized to the working size (CLI)",
        "nst_cli/stylize.py",
        "style_size = None if config.style_scale is not None else config.size",
        "style_size = None",
        CLI_INPUTS,
    ),
    M(
        "i31: snapshots show the raw iterate, not the EMA",
        "nst/stylize/_driver.py",
        "lambda state=state: _output_image(state, base.ema_decay)",
        "lambda state=state: _output_image(state, 0.0)",
        REACH,
    ),
    M(
        "i31: --tv_kind never reaches the config",
        "nst_cli/flags.py",
        '"style_blend", "temporal_weight"}',
        '"style_blend", "temporal_weight", "tv_kind"}',
        CLI_FLAGS,
    ),
    M(
        "i31: --long_term=1,2,4 acts as 1 (video)",
        "nst/video/temporal.py",
        "for j in sorted(video.long_term):",
        "for j in sorted(video.long_term)[:1]:",
        LONG_TERM,
    ),
    M(
        "i31: --long_term=1,2,4 acts as 1 (CLI)",
        "nst_cli/video.py",
        "long_term=long_term,",
        "long_term=long_term[:1],",
        CLI_FLAGS,
    ),
    M(
        "i31: the checkpoint fingerprint ignores the masks (driver)",
        "nst/stylize/_driver.py",
        "_checkpoint.fingerprint(configs, content, styles, regions)",
        "_checkpoint.fingerprint(configs, content, styles)",
        REACH,
    ),
    M(
        "i31: the checkpoint fingerprint ignores the masks (fingerprint)",
        "nst/stylize/_checkpoint.py",
        "enumerate(regions or ())",
        "enumerate(())",
        REACH,
    ),
    M(
        "i31: the checkpoint fingerprint flattens the masks (ungrouped)",
        "nst/stylize/_checkpoint.py",
        'h.update(f"region {r} {what} mask".encode())',
        "pass",
        REACH,
    ),
    M(
        "lbfgs on CPU runs optax's L-BFGS instead of the host-driven one",
        "nst/optimizers.py",
        'return "lbfgs_host" if backend == "cpu" and not vectorized else "lbfgs_optax"',
        'return "lbfgs_optax"',
        ENGINE,
    ),
]


def _copy_tree(dst: pathlib.Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for f in files:
        if not (ROOT / f).is_file():
            continue
        (dst / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, dst / f)


def _run(mutant: Mutant, tree: pathlib.Path) -> tuple[list[str], float, str]:
    path = tree / mutant.path
    original = path.read_text()
    count = original.count(mutant.old)
    if count != 1:
        raise SystemExit(f"{mutant.name}: {mutant.old!r} occurs {count} times in {mutant.path}")
    path.write_text(original.replace(mutant.old, mutant.new))
    try:
        env = dict(os.environ, PYTHONPATH=str(tree))
        t = time.perf_counter()
        proc = subprocess.run(
            [*PYTEST, *mutant.tests],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - t
    finally:
        path.write_text(original)
    failed = re.findall(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", proc.stdout, flags=re.M)
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:]
    return failed, seconds, tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run mutants whose name contains this")
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    mutants = [m for m in MUTANTS if args.only.lower() in m.name.lower()]
    if args.list:
        for m in mutants:
            print(f"{m.name}  ({m.path})")
        return
    print("| # | mutation | file | tests that fail on it |")
    print("|---|---|---|---|")
    survived = 0
    with tempfile.TemporaryDirectory() as tmp:
        tree = pathlib.Path(tmp)
        _copy_tree(tree)
        for i, mutant in enumerate(mutants, start=1):
            failed, seconds, tail = _run(mutant, tree)
            names = [
                pathlib.Path(f.split("::", 1)[0]).stem + "::" + f.split("::", 1)[-1] for f in failed
            ]
            shown = ", ".join(f"`{n}`" for n in names[:3]) + (
                f" (+{len(names) - 3} more)" if len(names) > 3 else ""
            )
            if not failed:
                survived += 1
                shown = f"SURVIVED ({tail})"
            print(f"| {i} | {mutant.name} | {mutant.path} | {shown} |", flush=True)
            print(f"<!-- {mutant.name}: {seconds:.0f} s; {tail} -->", file=sys.stderr, flush=True)
    print(f"\n{len(mutants) - survived} of {len(mutants)} mutants caught.")
    sys.exit(1 if survived else 0)


if __name__ == "__main__":
    main()
