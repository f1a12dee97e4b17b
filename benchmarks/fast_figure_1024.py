"""The figure of a shipped network at full size: a held-out photo at 1024 px and its
stylization, titled with the pass's time (median of 5 after compiling) on this machine.

    python benchmarks/fast_figure_1024.py --model=starry_night \\
        --out docs/figures/fast_starry_1024.jpg
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from nst import image
from nst.feedforward import infer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="starry_night")
    parser.add_argument("--photo", default="tubingen", help="held out: not a training photo")
    parser.add_argument("--size", type=int, default=1024, help="longest side, px")
    parser.add_argument("--out", default="docs/figures/fast_starry_1024.jpg")
    args = parser.parse_args()
    photo = image.load(image.sample_or_path(args.photo), max_size=args.size)
    output, timing = infer.time_forward(infer.load(args.model), photo, repeats=5)
    h, w = photo.shape[:2]
    fig, axes = plt.subplots(1, 2, figsize=(10.4, 5.8))
    for ax, picture, title in (
        (axes[0], photo, f"held-out photo ({w}x{h})"),
        (axes[1], output, f"{args.model} network, one pass: {timing.median:.2f} s on this CPU"),
    ):
        ax.imshow(picture)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.suptitle(f"run.py --model={args.model}: the shipped network at full size", fontsize=12)
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"{args.out}: {w}x{h}, {timing.median:.3f} s per pass")


if __name__ == "__main__":
    main()
