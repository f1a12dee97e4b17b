"""The time-to-image panel: content x style pairs chosen to be hard in different ways.

Some inputs are bundled samples, some are made here (drawn with Pillow, or a bundled photo
darkened, brightened or shrunk), so the panel needs nothing outside the repository.
``make(out_dir)`` writes the made images once and returns {pair name: (content path, style
path)}. ``TUNING`` are the pairs the optimizer's defaults were chosen on; ``HELD_OUT`` were
only ever measured.

    python benchmarks/panel.py --out /tmp/panel   # writes the images, prints the pairs
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np
from PIL import Image, ImageDraw

from nst import image

# pair name -> (content, style, why it is hard); a name with "/" is a made image.
PAIRS: dict[str, tuple[str, str, str]] = {
    "tubingen_starry": ("tubingen", "starry_night", "the pair the defaults were first tuned on"),
    "chelsea_flat": (
        "chelsea",
        "made/flat_strokes",
        "bold flat-colour strokes: pixels at the bounds",
    ),
    "tubingen_ink": ("tubingen", "made/ink", "near-monochrome, high-contrast ink on white"),
    "dark_scream": ("made/tubingen_dark", "the_scream", "a dark, under-exposed photo"),
    "fog_starry": ("made/tubingen_fog", "starry_night", "a bright, low-texture photo (fog)"),
    "chelsea_tinystyle": ("chelsea", "made/scream_96", "the style far smaller than the photo"),
    "tinyphoto_starry": ("made/chelsea_96", "starry_night", "the photo far smaller than the style"),
    "tubingen_brick": ("tubingen", "brick", "a grey texture as style"),
    "chelsea_scream": ("chelsea", "the_scream", "out of the optimizer's tuning: a bundled pair"),
    "tubingen_flat": (
        "tubingen",
        "made/flat_strokes_b",
        "out of the optimizer's tuning: another flat painting",
    ),
}
TUNING = ("tubingen_starry", "chelsea_flat")
HELD_OUT = tuple(name for name in PAIRS if name not in TUNING)


def flat_strokes(size: int = 512, seed: int = 0) -> np.ndarray:
    """A 'painting' of bold strokes in six saturated flat colours on a white ground."""
    rng = np.random.default_rng(seed)
    palette = [
        (230, 20, 20),
        (20, 40, 220),
        (250, 210, 0),
        (0, 150, 60),
        (10, 10, 10),
        (255, 120, 0),
    ]
    canvas = Image.new("RGB", (size, size), (250, 250, 245))
    draw = ImageDraw.Draw(canvas)
    for _ in range(60):
        x0, y0 = rng.integers(0, size, 2)
        x1, y1 = np.clip(np.array([x0, y0]) + rng.integers(-size // 2, size // 2, 2), 0, size)
        width = int(rng.integers(size // 40, size // 10))
        draw.line(
            [(int(x0), int(y0)), (int(x1), int(y1))], fill=palette[rng.integers(6)], width=width
        )
    for _ in range(12):
        x, y = rng.integers(0, size, 2)
        r = int(rng.integers(size // 30, size // 8))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=palette[rng.integers(6)])
    return np.asarray(canvas, np.float32) / 255.0


def ink(size: int = 512, seed: int = 1) -> np.ndarray:
    """Black ink hatching and blots on white: near-monochrome, most pixels at 0 or 1."""
    rng = np.random.default_rng(seed)
    canvas = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(canvas)
    for _ in range(40):  # hatched patches
        x, y = rng.integers(0, size, 2)
        angle = rng.uniform(0, np.pi)
        length = rng.integers(size // 10, size // 4)
        for k in range(int(rng.integers(5, 15))):
            dx, dy = np.cos(angle) * length, np.sin(angle) * length
            ox, oy = -np.sin(angle) * 4 * k, np.cos(angle) * 4 * k
            draw.line([(x + ox, y + oy), (x + ox + dx, y + oy + dy)], fill=0, width=2)
    for _ in range(15):
        x, y = rng.integers(0, size, 2)
        r = int(rng.integers(3, size // 20))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=0)
    return np.repeat(np.asarray(canvas, np.float32)[..., None] / 255.0, 3, axis=-1)


def _made(name: str) -> np.ndarray:
    if name == "flat_strokes":
        return flat_strokes()
    if name == "flat_strokes_b":
        return flat_strokes(seed=7)
    if name == "ink":
        return ink()
    if name == "tubingen_dark":
        return image.load(image.sample("tubingen"), max_size=None) ** 2.6 * 0.6
    if name == "tubingen_fog":
        x = image.load(image.sample("tubingen"), max_size=None)
        blurred = (
            np.asarray(
                Image.fromarray(np.uint8(x * 255))
                .resize((64, 48))
                .resize(x.shape[1::-1], Image.BICUBIC),
                np.float32,
            )
            / 255
        )
        return 0.75 + 0.22 * blurred  # bright, washed out, little texture
    if name == "scream_96":
        return image.load(image.sample("the_scream"), max_size=96)  # loaded as is
    if name == "chelsea_96":
        return image.load(image.sample("chelsea"), max_size=96)
    raise KeyError(name)


def make(out_dir: str | pathlib.Path) -> dict[str, tuple[str, str]]:
    """Writes the made images into ``out_dir`` (once) and returns {pair: (content, style)}
    as file paths."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def path(name: str) -> str:
        if not name.startswith("made/"):
            return str(image.sample(name))
        target = out / (name[5:] + ".png")
        if not target.exists():
            image.save(str(target), np.clip(_made(name[5:]), 0, 1), overwrite=True)
        return str(target)

    return {pair: (path(c), path(s)) for pair, (c, s, _) in PAIRS.items()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/panel")
    args = parser.parse_args()
    for pair, (c, s) in make(args.out).items():
        print(f"{pair:18s} {c} x {s}  ({PAIRS[pair][2]})")
