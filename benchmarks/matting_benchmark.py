"""Times the matting Laplacian build and the photorealism loss (value + gradient).

    python benchmarks/matting_benchmark.py [--image PATH] [--sizes 256 512] [--repeats 5]

Prints one JSON object per measurement. Not a test: nothing here asserts a time.
"""

import argparse
import json
import pathlib
import statistics
import time

from nst import host_memory

host_memory.keep_freed_memory()  # as run.py does, before JAX starts any thread

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from nst import losses

_DEFAULT_IMAGE = pathlib.Path("/work/shared/data/content/tubingen.jpg")


def _load(path: pathlib.Path | None, size: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """An RGB image in [0, 1] resized to ``size`` x ``size``, or uniform noise if none."""
    if path is not None and path.exists():
        with Image.open(path) as image:
            resized = image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
        return np.asarray(resized, np.float64) / 255.0, str(path)
    return rng.random((size, size, 3)), "random"


def _median_seconds(fn, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=pathlib.Path, default=_DEFAULT_IMAGE)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--loss_size", type=int, default=512, help="size of the loss timing")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--eps", type=float, default=1e-7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    device = str(jax.devices()[0])

    for size in args.sizes:
        image, source = _load(args.image, size, rng)
        seconds, times = _median_seconds(
            lambda image=image: losses.matting_laplacian(image, eps=args.eps), args.repeats
        )
        laplacian = losses.matting_laplacian(image, eps=args.eps)
        record = {
            "what": "matting_laplacian",
            "size": size,
            "image": source,
            "nnz": int(laplacian.nnz),
            "median_s": round(seconds, 4),
            "times_s": [round(t, 4) for t in times],
        }
        print(json.dumps(record), flush=True)

    size = args.loss_size
    image, source = _load(args.image, size, rng)
    start = time.perf_counter()
    bcoo = losses.laplacian_to_bcoo(losses.matting_laplacian(image, eps=args.eps))
    convert_s = time.perf_counter() - start
    output = jnp.asarray(rng.random((size, size, 3)), jnp.float32)
    value_and_grad = jax.jit(jax.value_and_grad(losses.photorealism_loss))
    start = time.perf_counter()
    jax.block_until_ready(value_and_grad(output, bcoo))  # compile + warm-up
    compile_s = time.perf_counter() - start
    seconds, times = _median_seconds(
        lambda: jax.block_until_ready(value_and_grad(output, bcoo)), args.repeats
    )
    record = {
        "what": "photorealism_loss value_and_grad (jit)",
        "size": size,
        "image": source,
        "device": device,
        "build_and_convert_s": round(convert_s, 4),
        "first_call_s": round(compile_s, 4),
        "median_s": round(seconds, 5),
        "times_s": [round(t, 5) for t in times],
    }
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
