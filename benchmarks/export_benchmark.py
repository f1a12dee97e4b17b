r"""Exported feed-forward programs vs the model directory: load time and seconds per image.

    python benchmarks/export_benchmark.py                  # 256 and 512 px
    python benchmarks/export_benchmark.py --sizes=512 --repeats=5

The paper-size Johnson network (width 32, 5 residual blocks, instance norm; random weights,
time does not depend on them) is saved as a model directory (``checkpoint.save_model``) and
exported twice (``nst.feedforward.export``): for any size (symbolic batch and sides) and for
one size. Each way of running it is timed in a fresh interpreter, as a user meets it:

* ``import``: seconds to import what it needs beyond jax and numpy (the model directory:
  ``nst.feedforward.infer``, with flax and orbax; the exported program: nothing).
* ``load``: model directory -> ``infer.load`` (orbax restore); program -> read the file and
  ``jax.export.deserialize`` (what ``nst.feedforward.export.load`` does, here without nst).
* ``first``: the first image (compile + run); ``per_image``: median of ``--repeats`` more.

One JSON line per (way, size).
"""

import json
import pathlib
import subprocess
import sys
import tempfile
import textwrap

from absl import app, flags

_SIZES = flags.DEFINE_list("sizes", ["256", "512"], "Square image sides, px.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed images after the first (median).")

ROOT = pathlib.Path(__file__).resolve().parents[1]

_CHILD = textwrap.dedent(
    """
    import json, statistics, struct, sys, time
    way, path, size, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    from nst import host_memory
    host_memory.keep_freed_memory()
    import jax, numpy as np
    t = time.perf_counter()
    if way == "model_dir":
        from nst.feedforward import infer
    t_import = time.perf_counter() - t
    t = time.perf_counter()
    if way == "model_dir":
        model = infer.load(path)
        jax.block_until_ready(jax.tree.leaves(model.variables))
        run = lambda x: infer.stylize(model, x)
    else:  # the file and jax alone (the layout of nst/feedforward/export.py)
        data = open(path, "rb").read()
        (n,) = struct.unpack("<I", data[4:8])
        divisor = json.loads(data[8 : 8 + n])["divisor"]
        exported = jax.export.deserialize(bytearray(data[8 + n :]))

        def run(x):
            h, w = x.shape[:2]
            x = np.pad(x, ((0, -h % divisor), (0, -w % divisor), (0, 0)), mode="reflect")
            out = exported.call(x[None], np.ones((1, 1), np.float32), np.uint32(0))
            return np.asarray(out)[0, :h, :w]
    t_load = time.perf_counter() - t
    photo = np.random.default_rng(0).uniform(size=(size, size, 3)).astype(np.float32)
    t = time.perf_counter()
    run(photo)
    t_first = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run(photo)
        times.append(time.perf_counter() - t)
    print(json.dumps(dict(way=sys.argv[5], size=size, import_s=round(t_import, 3),
        load_s=round(t_load, 3), first_s=round(t_first, 3),
        per_image_s=round(statistics.median(times), 4),
        device=jax.devices()[0].device_kind)))
    """
)


def main(argv):
    del argv
    from nst.feedforward import checkpoint, export, infer, nets
    from nst.feedforward.config import NetConfig

    config = NetConfig()  # width 32, 5 residual blocks, instance norm
    sizes = [int(s) for s in _SIZES.value]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        model_dir = checkpoint.save_model(tmp / "model", config, nets.init(config))
        model = infer.load(model_dir)
        ways = [("model_dir", "model_dir", model_dir, None)]
        any_size = export.save(tmp / "any.nstx", export.export_model(model))
        ways.append(("exported", "exported_any_size", any_size, None))
        for size in sizes:
            path = export.save(tmp / f"{size}.nstx", export.export_model(model, size=(size, size)))
            ways.append(("exported", f"exported_{size}px", path, size))
        for way, label, path, only in ways:
            for size in sizes if only is None else [only]:
                args = [way, str(path), str(size), str(_REPEATS.value), label]
                out = subprocess.run(
                    [sys.executable, "-c", _CHILD, *args],
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                    check=True,
                )
                record = json.loads(out.stdout.strip().splitlines()[-1])
                record["file_mb"] = round(
                    sum(p.stat().st_size for p in pathlib.Path(path).rglob("*") if p.is_file())
                    / 1e6
                    if pathlib.Path(path).is_dir()
                    else pathlib.Path(path).stat().st_size / 1e6,
                    2,
                )
                print(json.dumps(record), flush=True)


if __name__ == "__main__":
    app.run(main)
