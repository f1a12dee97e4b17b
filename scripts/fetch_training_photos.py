#!/usr/bin/env python3
"""Free training photographs for the feed-forward networks, taken from Debian packages.

Johnson et al. trained on MS-COCO; any varied real photographs serve. This script gathers
186 freely licensed photographs that Debian 12 ships inside ordinary packages (desktop
wallpapers, the GCompris educational suite, the Palapeli and puzzle-jigsaw games, the
scikit-image / scikit-learn sample data, Scribus templates), resizes them to a longest
side of 512 px (JPEG, quality 90) and writes ``sources.csv`` and ``SOURCES.md`` with the
package, file, author and licence of every photo.

Every package is fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x`` into
a temporary folder: nothing is installed system-wide and no root is needed (run
``apt-get update`` once first if the package lists are empty, or pass ``--update`` as
root). The photographs were picked by eye from Debian 12 (bookworm): illustrations,
abstract wallpapers, paintings, cut-outs and images under 256 px are left out. A file
missing from another release's package is reported and skipped.

The bundled content photos (``tubingen``, ``chelsea``; ``nst/data/content``) are held out
for evaluation: a candidate named like them, or whose pixels match them, is never
written (scikit-image's ``chelsea.png`` is one such file).

Usage::

    python scripts/fetch_training_photos.py                 # -> data/train_photos/
    python scripts/fetch_training_photos.py --out DIR --debs ~/.cache/nst-debs

Only Pillow and NumPy are needed (the project's venv has both); ``apt-get`` and
``dpkg-deb`` must be on PATH. See docs/training_data.md.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import fnmatch
import io
import json
import os
import pathlib
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator

import numpy as np
from PIL import Image, ImageOps

REPO = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "data" / "train_photos"
HELD_OUT_DIR = REPO / "nst" / "data" / "content"
HELD_OUT_NAMES = ("tubingen", "tübingen", "neckarfront", "chelsea")
MAX_SIDE = 512
QUALITY = 90
MIN_SIDE = 256  # a source photo's shorter side must be at least this (crops are 256 px)
MANIFEST_FIELDS = (
    "file",
    "package",
    "version",
    "source",
    "source_size",
    "title",
    "author",
    "license",
    "license_from",
    "license_scope",
    "debian_copyright_license",
    "url",
    "notes",
)


# ---------------------------------------------------------------------------------------
# Readers: Qt resource bundles (GCompris) and Debian machine-readable copyright files.


def rcc_files(data: bytes) -> Iterator[tuple[str, bytes]]:
    """``(path, contents)`` of every file in a Qt binary resource bundle (``.rcc``).

    Format versions 1-3; zlib-compressed entries are inflated. Raises ``ValueError`` on
    a file that is not a bundle and on zstd-compressed entries (not needed here).
    """
    if data[:4] != b"qres":
        raise ValueError("not a Qt resource bundle (no 'qres' magic)")
    version, tree, payload, names = struct.unpack(">IIII", data[4:20])
    if version not in (1, 2, 3):
        raise ValueError(f"unknown Qt resource bundle version {version}")
    node_size = 14 if version == 1 else 22

    def name_at(offset: int) -> str:
        (length,) = struct.unpack(">H", data[names + offset : names + offset + 2])
        start = names + offset + 6  # length (2), hash (4), UTF-16 name
        return data[start : start + 2 * length].decode("utf-16-be")

    def walk(index: int, prefix: str) -> Iterator[tuple[str, bytes]]:
        base = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", data[base : base + 6])
        path = f"{prefix}/{name_at(name_offset)}" if index else ""
        if flags & 2:  # directory
            count, first = struct.unpack(">II", data[base + 6 : base + 14])
            for child in range(first, first + count):
                yield from walk(child, path)
            return
        (offset,) = struct.unpack(">I", data[base + 10 : base + 14])
        (size,) = struct.unpack(">I", data[payload + offset : payload + offset + 4])
        blob = data[payload + offset + 4 : payload + offset + 4 + size]
        if flags & 4:
            raise ValueError(f"{path}: zstd-compressed resource entries are not supported")
        if flags & 1:
            blob = zlib.decompress(blob[4:])  # 4-byte uncompressed length, then zlib
        yield path, blob

    yield from walk(0, "")


def parse_dep5(text: str) -> list[dict[str, str]]:
    """The paragraphs of a Debian copyright file as ``{field: value}`` dicts."""
    paragraphs: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if not line.strip():
            if current:
                paragraphs.append(current)
            current, key = {}, None
        elif line[0] in " \t" and key:
            current[key] += "\n" + line.strip()
        elif m := re.match(r"^([A-Za-z][A-Za-z0-9-]*):\s*(.*)$", line):
            key = m.group(1)
            current[key] = m.group(2)
    if current:
        paragraphs.append(current)
    return paragraphs


def dep5_lookup(paragraphs: list[dict[str, str]], path: str) -> dict[str, str] | None:
    """The ``Files:`` paragraph governing ``path`` (the last one that matches, as DEP-5 says)."""
    hit = None
    for paragraph in paragraphs:
        if any(fnmatch.fnmatchcase(path, p) for p in paragraph.get("Files", "").split()):
            hit = paragraph
    return hit


def first_line(value: str | None) -> str:
    return (value or "").split("\n")[0].strip()


def normalise_license(text: str) -> str:
    """'CC BY-SA 4.0' -> 'CC-BY-SA-4.0'; 'LGPLv3' -> 'LGPL-3'; others unchanged."""
    text = text.strip()
    if m := re.fullmatch(r"CC[ -]?(BY(?:-SA|-ND|-NC)*)[ -]?(\d\.\d)", text, re.I):
        return f"CC-{m.group(1).upper()}-{m.group(2)}"
    if m := re.fullmatch(r"(L?GPL)v?(\d)(\+?)", text):
        return f"{m.group(1)}-{m.group(2)}{m.group(3)}"
    return text


CREDIT = re.compile(
    r"""'"(?P<title>[^"]+)"\s*(?:by\s+|Photo:\s*)?(?P<author>.*?)\s*"""
    r"""\((?P<url>https?://\S+?)\),\s*(?P<license>CC[ -][A-Z-]+ \d\.\d|Public Domain)"""
    r"""(?:,\s*(?P<changes>[^']*))?'"""
)


def gcompris_credits(activity_info: str) -> list[dict[str, str]]:
    """The per-image credits in a GCompris ``ActivityInfo.qml`` (title, author, url, licence)."""
    credits = []
    for m in CREDIT.finditer(activity_info):
        credit = {k: (v or "").strip() for k, v in m.groupdict().items()}
        credit["author"] = re.sub(r"\s*/\s*Wikimedia Commons$", "", credit["author"])
        credit["license"] = normalise_license(credit["license"])
        credits.append(credit)
    return credits


# ---------------------------------------------------------------------------------------
# What to take from each package. A Candidate carries its bytes and what is known about it.


@dataclasses.dataclass
class Candidate:
    name: str  # output stem, unique
    source: str  # path inside the package (an .rcc member as 'bundle.rcc!/member')
    data: bytes
    copyright_path: str | None = None  # path to look up in debian/copyright (DEP-5)
    title: str = ""
    author: str = ""
    license: str = ""  # from upstream metadata, overrides debian/copyright when set
    license_from: str = ""
    url: str = ""
    notes: str = ""


@dataclasses.dataclass(frozen=True)
class Source:
    package: str
    collect: Callable[[pathlib.Path], Iterator[Candidate]]
    about: str


def _files(root: pathlib.Path, folder: str, names: tuple[str, ...]) -> Iterator[pathlib.Path]:
    for name in names:
        path = root / folder / name
        if path.is_file():
            yield path
        else:
            print(f"  missing in this version: {folder}/{name}", file=sys.stderr)


def _rel(root: pathlib.Path, path: pathlib.Path) -> str:
    return str(path.relative_to(root))


LOMIRI_1604 = (
    "Bridge_by_Sander_Klootwijk.jpg",
    "Dragonfly_by_Bolly.jpg",
    "Picture_0B_by_freespace.jpg",
    "Picture_1A_by_freespace.jpg",
    "Wine_by_Jakkub_Mede.jpg",
    "aitzgorri_by_Aitzol_Berasategi.jpg",
    "free_by_Peter_Nerlich.jpg",
    "friends_by_Aitzol_Berasategi.jpg",
    "greentock_by_Peter_Nerlich.jpg",
    "life_by_Aitzol_Berasategi.jpg",
    "picosdeeuropa_by_Aitzol_Berasategi.jpg",
    "seeding_by_Clements_Engelhardt.jpg",
    "sunset_by_Aitzol_Berasategi.jpg",
)  # left out: analogpattern, umang (abstract)


def _lomiri(series: str, names: tuple[str, ...]) -> Callable[[pathlib.Path], Iterator[Candidate]]:
    def collect(root: pathlib.Path) -> Iterator[Candidate]:
        for path in _files(root, "usr/share/backgrounds", names):
            yield Candidate(
                name=path.stem,
                source=_rel(root, path),
                data=path.read_bytes(),
                copyright_path=f"{series}/{path.name}",
                title=path.stem.split("_by_")[0].replace("_", " "),
            )

    return collect


MATE_NATURE = (
    "Aqua.jpg",
    "Blinds.jpg",
    "Dune.jpg",
    "FreshFlower.jpg",
    "Garden.jpg",
    "GreenMeadow.jpg",
    "LadyBird.jpg",
    "RainDrops.jpg",
    "Storm.jpg",
    "TwoWings.jpg",
    "Wood.jpg",
    "YellowFlower.jpg",
)  # mate/abstract and mate/desktop are illustrations


def _mate(root: pathlib.Path) -> Iterator[Candidate]:
    for path in _files(root, "usr/share/backgrounds/mate/nature", MATE_NATURE):
        yield Candidate(
            name=path.stem,
            source=_rel(root, path),
            data=path.read_bytes(),
            copyright_path=f"nature/{path.name}",
            title=path.stem,
        )


PLASMA_PHOTOS = (
    "BytheWater",
    "ColdRipple",
    "ColorfulCups",
    "DarkestHour",
    "EveningGlow",
    "FallenLeaf",
    "Grey",
    "Kite",
    "OneStandsOut",
    "Path",
    "summer_1am",
)  # the other Plasma 5.27 wallpapers are illustrations or renders


def _plasma(root: pathlib.Path) -> Iterator[Candidate]:
    base = root / "usr/share/wallpapers"
    for wallpaper in PLASMA_PHOTOS:
        images = sorted(
            (base / wallpaper / "contents/images").glob("*.*"),
            key=lambda p: -_pixels(p.stem),
        )
        if not images:
            print(f"  missing in this version: wallpapers/{wallpaper}", file=sys.stderr)
            continue
        meta = {}
        if (base / wallpaper / "metadata.json").is_file():
            meta = json.loads((base / wallpaper / "metadata.json").read_text())["KPlugin"]
        authors = ", ".join(a.get("Name", "") for a in meta.get("Authors", []))
        yield Candidate(
            name=wallpaper,
            source=_rel(root, images[0]),  # the largest size
            data=images[0].read_bytes(),
            copyright_path=f"{wallpaper}/contents/images/{images[0].name}",
            title=meta.get("Name", wallpaper),
            author=authors,
            license=normalise_license(meta.get("License", "")),
            license_from=f"{wallpaper}/metadata.json" if meta.get("License") else "",
        )


def _pixels(stem: str) -> int:
    m = re.fullmatch(r"(\d+)x(\d+)", stem)
    return int(m.group(1)) * int(m.group(2)) if m else 0


GCOMPRIS = {  # activity bundle -> (folder inside it, member file names or '*')
    "erase": ("resource", "*"),
    "explore_monuments": ("resource/*", "*"),
    "explore_world_animals": ("resource/animals", "*"),
    "explore_farm_animals": ("resource/animals", "*"),
    "explore_world_music": ("resource/music", "*"),
    "clickgame": ("resource", "sea*"),
    "details": (
        "resource/image",
        (
            "Chenonceau_background",
            "EgeskovSlotSpejling_background",
            "EilanDonanCastle_background",
            "FanoeWindmill_background",
            "GizahPyramids_background",
            "Louvre_2007_02_24_c_background",
            "NDP_background",
            "Nagoya_background",
            "Neuschwanstein_background",
            "OperaSidney_background",
            "TajMahal_background",
            "TourEiffel_background",
            "TowerBridgeLondon_background",
        ),  # the others are paintings (van Gogh)
    ),
}
# Photo stem -> the title its credit has in the activity's ActivityInfo.qml (where the two
# differ; otherwise the stem with spaces for underscores is the title).
GCOMPRIS_CREDIT_TITLES = {
    "bee": "Pollinationn",
    "chamaeleon": "Chamaeleo chamaeleon",
    "gibbon": "Hylobates lar",
    "kitten": "A posing kitten",
    "Chenonceau_background": "Chateau de Chenonceau",
    "EgeskovSlotSpejling_background": "Egeskov Slot",
    "EilanDonanCastle_background": "Eilean Donan",
    "FanoeWindmill_background": "DK Fanoe",
    "GizahPyramids_background": "Pyramids at Gizah",
    "Louvre_2007_02_24_c_background": "Louvre 2007",
    "NDP_background": "NotreDameDeParis",
    "Nagoya_background": "Nagoya Castle",
    "Neuschwanstein_background": "Castle Neuschwanstein",
    "OperaSidney_background": "Sydney Opera",
    "TajMahal_background": "Taj Mahal in March",
    "TourEiffel_background": "Tour Eiffel",
    "TowerBridgeLondon_background": "Tower Bridge",
    "chichenItza": "Chichen Itza",
    "christTheRedeemer": "1 cristor redentor",
    "tajMahal": "Taj Mahal, Agra",
    "america": "Onalaska-Practice",
    "australia": "Australia Aboriginal Culture",
    "ireland": "Lunny irvine",
}


def _gcompris(root: pathlib.Path) -> Iterator[Candidate]:
    bundles = root / "usr/share/gcompris-qt/rcc"
    for activity, (folder, names) in GCOMPRIS.items():
        bundle = bundles / f"{activity}.rcc"
        if not bundle.is_file():
            print(f"  missing in this version: rcc/{activity}.rcc", file=sys.stderr)
            continue
        members = dict(rcc_files(bundle.read_bytes()))
        prefix = f"/gcompris/src/activities/{activity}/"
        info = members.get(prefix + "ActivityInfo.qml", b"").decode("utf-8", "replace")
        credits = gcompris_credits(info)
        general = re.search(r'credit:\s*qsTr\("([^"]*)"\)', info)  # e.g. "Photos taken from ..."
        patterns = (names,) if isinstance(names, str) else names
        for member in sorted(members):
            rel = member[len(prefix) :] if member.startswith(prefix) else None
            if rel is None or not rel.lower().endswith((".webp", ".jpg", ".jpeg", ".png")):
                continue
            folder_of, _, file_name = rel.rpartition("/")
            stem = file_name.rsplit(".", 1)[0]
            if not fnmatch.fnmatchcase(folder_of, folder):
                continue
            if not any(fnmatch.fnmatchcase(stem, p) for p in patterns):
                continue
            wanted = GCOMPRIS_CREDIT_TITLES.get(stem, stem.replace("_", " ")).lower()
            credit = next((c for c in credits if c["title"].lower().startswith(wanted)), None)
            candidate = Candidate(
                name=f"{activity}__{stem}",
                source=f"{_rel(root, bundle)}!{member}",
                data=members[member],
                copyright_path=member.removeprefix("/gcompris/"),
                title=stem.replace("_background", "").replace("_", " "),
            )
            if general:
                candidate.notes = f"upstream credit for the activity: {general.group(1)}"
            if credit:
                candidate.title = credit["title"]
                candidate.author = credit["author"]
                candidate.license = credit["license"]
                candidate.url = credit["url"]
                candidate.license_from = f"{activity}/ActivityInfo.qml credits"
                candidate.notes = credit.get("changes", "")
            yield candidate


PALAPELI_LICENSES = {"FDL": "GFDL", "GNU-FDL": "GFDL", "Public Domain": "public domain"}


def _palapeli(root: pathlib.Path) -> Iterator[Candidate]:
    folder = root / "usr/share/palapeli/collection"
    for desktop in sorted(folder.glob("*.desktop")):
        fields = dict(re.findall(r"^([A-Za-z-]+)=(.*)$", desktop.read_text(errors="replace"), re.M))
        image = folder / fields.get("Image", desktop.stem + ".jpg")
        license_ = fields.get("X-KDE-PluginInfo-License", "")
        if not image.is_file():
            continue
        yield Candidate(
            name=image.stem,
            source=_rel(root, image),
            data=image.read_bytes(),
            copyright_path=f"puzzles/{image.name}",
            title=fields.get("Name", image.stem),
            author=fields.get("X-KDE-PluginInfo-Author", ""),
            license=PALAPELI_LICENSES.get(license_, license_),
            license_from=desktop.name if license_ else "",
            url=fields.get("X-KDE-PluginInfo-Website", ""),
        )


def _puzzle_jigsaw(root: pathlib.Path) -> Iterator[Candidate]:
    folder = root / "usr/share/puzzle-jigsaw/samples"
    for path in sorted(folder.glob("*")):
        if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
            yield Candidate(
                name=path.stem,
                source=_rel(root, path),
                data=path.read_bytes(),
                copyright_path=f"samples/{path.name}",
                title=path.stem,
                author="Pexels",
            )


# The licences stated where these files come from: the docstrings of skimage.data and
# sklearn/datasets/images/README.txt (neither package's debian/copyright covers them).
SKIMAGE = {
    "astronaut.png": ("Eileen Collins", "NASA", "public domain", "skimage.data.astronaut"),
    "coffee.png": ("Coffee", "Rachel Michetti", "CC0-1.0", "skimage.data.coffee"),
    "rocket.jpg": ("DSCOVR launch on Falcon 9", "SpaceX", "public domain", "skimage.data.rocket"),
}  # chelsea.png is held out; camera, moon, coins are grayscale; motorcycle has no licence
SKLEARN = {
    "china.jpg": ("China (Summer Palace)", "danielbuechele (Flickr)", "CC-BY-2.0"),
    "flower.jpg": ("Flower", "vultilion (Flickr)", "CC-BY-2.0"),
}


def _skimage(root: pathlib.Path) -> Iterator[Candidate]:
    folder = "usr/lib/python3/dist-packages/skimage/data"
    for path in _files(root, folder, tuple(SKIMAGE)):
        title, author, license_, where = SKIMAGE[path.name]
        yield Candidate(
            name=path.stem,
            source=_rel(root, path),
            data=path.read_bytes(),
            copyright_path=f"skimage/data/{path.name}",
            title=title,
            author=author,
            license=license_,
            license_from=f"docstring of {where}",
        )


def _sklearn(root: pathlib.Path) -> Iterator[Candidate]:
    folder = "usr/lib/python3/dist-packages/sklearn/datasets/images"
    for path in _files(root, folder, tuple(SKLEARN)):
        title, author, license_ = SKLEARN[path.name]
        yield Candidate(
            name=path.stem,
            source=_rel(root, path),
            data=path.read_bytes(),
            copyright_path=f"sklearn/datasets/images/{path.name}",
            title=title,
            author=author,
            license=license_,
            license_from="sklearn/datasets/images/README.txt",
            notes="the README credits danielbuechele for both; flower.jpg links to vultilion",
        )


SCRIBUS = ("br2/nature.jpg", "br2/sunset.jpg", "menu2/pizza.jpg")


def _scribus(root: pathlib.Path) -> Iterator[Candidate]:
    for path in _files(root, "usr/share/scribus/templates", SCRIBUS):
        yield Candidate(
            name=f"{path.parent.name}_{path.stem}",
            source=_rel(root, path),
            data=path.read_bytes(),
            title=path.stem,
            author="Riku Leino (template author)",
            license="public domain",
            license_from="debian/copyright (templates br2, menu2 placed in the public domain)",
        )


SOURCES = (
    Source("gcompris-qt-data", _gcompris, "GCompris activities: animals, monuments, music"),
    Source("lomiri-wallpapers-16.04", _lomiri("16.04", LOMIRI_1604), "Ubuntu 16.04 wallpapers"),
    Source(
        "lomiri-wallpapers-20.04",
        _lomiri("20.04", ("Kleiber_by_Lukas_Baubkus.jpg",)),
        "Ubuntu 20.04 wallpapers",
    ),
    Source("mate-backgrounds", _mate, "MATE nature backgrounds"),
    Source("plasma-workspace-wallpapers", _plasma, "KDE Plasma wallpapers"),
    Source("palapeli-data", _palapeli, "Palapeli jigsaw puzzles"),
    Source("puzzle-jigsaw", _puzzle_jigsaw, "puzzle-jigsaw samples"),
    Source("python3-skimage", _skimage, "scikit-image sample data"),
    Source("python3-sklearn", _sklearn, "scikit-learn sample images"),
    Source("scribus-template", _scribus, "Scribus template photos"),
)


# ---------------------------------------------------------------------------------------
# Hold-outs, resizing, the manifest.


def _signature(image: Image.Image) -> np.ndarray:
    """A 16x16 grayscale thumbnail: equal (within noise) for resized or re-encoded copies."""
    small = image.convert("L").resize((16, 16), Image.Resampling.BOX)
    return np.asarray(small, np.float32)


class HeldOut:
    """The bundled content photos, matched by name and by pixels."""

    def __init__(self, folder: pathlib.Path = HELD_OUT_DIR, names=HELD_OUT_NAMES):
        self.names = tuple(n.lower() for n in names)
        self.images = []
        for path in sorted(folder.glob("*")) if folder.is_dir() else ():
            with Image.open(path) as im:
                self.images.append((path.stem, im.width / im.height, _signature(im)))

    def match(self, name: str, image: Image.Image) -> str | None:
        """The held-out photo that ``name``/``image`` is, or ``None``."""
        lowered = name.lower()
        for held in self.names:
            if held in lowered:
                return held
        signature, aspect = _signature(image), image.width / image.height
        for held, held_aspect, held_signature in self.images:
            close = abs(np.log(aspect / held_aspect)) < 0.05
            if close and np.abs(signature - held_signature).mean() < 6.0:
                return held
        return None


def resize_to_jpeg(image: Image.Image, max_side: int = MAX_SIDE, quality: int = QUALITY) -> bytes:
    """RGB JPEG bytes with the longest side at most ``max_side`` (never enlarged)."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P", "PA"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    image = image.convert("RGB")
    if max(image.size) > max_side:
        scale = max_side / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()


def write_manifest(out: pathlib.Path, rows: list[dict[str, str]], summary: str) -> None:
    with open(out / "sources.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        "# Training photos: sources and licences",
        "",
        "Written by `scripts/fetch_training_photos.py` (see docs/training_data.md). Every photo",
        "was taken from a Debian package and resized to a longest side of "
        f"{MAX_SIDE} px (JPEG quality {QUALITY}).",
        "`license` is the licence stated for the image itself where the package says one",
        "(upstream metadata, named in `license_from`), else the package's debian/copyright",
        "entry for the file. Keep this file with any copy: CC BY and CC BY-SA photos need",
        "their author credited, and CC BY-SA/GPL/GFDL derivatives must keep the licence.",
        "The bundled content photos (tubingen, chelsea) are held out and never included.",
        "",
        summary,
        "",
        "| file | package | source | title | author | license | scope | debian/copyright |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            r["file"],
            f"{r['package']} {r['version']}",
            r["source"],
            r["title"],
            r["author"],
            r["license"] + (f" ({r['license_from']})" if r["license_from"] else ""),
            r["license_scope"],
            r["debian_copyright_license"],
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    (out / "SOURCES.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------
# apt.


def download(packages: list[str], dest: pathlib.Path, update: bool) -> dict[str, pathlib.Path]:
    """``{package: .deb}`` for the packages apt can fetch (already present ones are reused)."""
    if update:
        subprocess.run(["apt-get", "update", "-qq"], check=False)
    options = ["-o", "APT::Sandbox::User=root"] if os.geteuid() == 0 else []

    def have() -> dict[str, pathlib.Path]:
        found = {}
        for deb in sorted(dest.glob("*.deb")):
            found.setdefault(deb.name.split("_", 1)[0], deb)
        return found

    missing = [p for p in packages if p not in have()]
    if missing:
        cmd = ["apt-get", "download", "-q", *options]
        if subprocess.run([*cmd, *missing], cwd=dest, check=False).returncode != 0:
            for package in missing:  # one at a time: which ones are not to be had
                subprocess.run([*cmd, package], cwd=dest, check=False)
    found = have()
    for package in packages:
        if package not in found:
            print(
                f"warning: apt-get could not download {package} "
                "(run 'apt-get update' first, or pass --update as root)",
                file=sys.stderr,
            )
    return {p: found[p] for p in packages if p in found}


def deb_version(deb: pathlib.Path) -> str:
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True, check=True
    ).stdout.strip()


# ---------------------------------------------------------------------------------------


def fetch(
    out: pathlib.Path,
    *,
    debs: pathlib.Path | None = None,
    packages: list[str] | None = None,
    update: bool = False,
    max_side: int = MAX_SIDE,
    quality: int = QUALITY,
    min_side: int = MIN_SIDE,
    held_out: HeldOut | None = None,
) -> list[dict[str, str]]:
    """Download, extract, filter, resize; write the photos and the manifest to ``out``."""
    start = time.perf_counter()
    sources = [s for s in SOURCES if packages is None or s.package in packages]
    held_out = held_out or HeldOut()
    out.mkdir(parents=True, exist_ok=True)
    old = out / "sources.csv"
    if old.is_file():  # a previous run's photos: replace them all
        with open(old, newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                (out / row["file"]).unlink(missing_ok=True)
    elif any(out.glob("*.jpg")):
        raise SystemExit(f"{out} holds JPEGs but no sources.csv: refusing to mix, pick --out")

    rows: list[dict[str, str]] = []
    seen: list[tuple[str, np.ndarray]] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="nst-photos-") as tmp:
        deb_dir = debs or pathlib.Path(tmp) / "debs"
        deb_dir.mkdir(parents=True, exist_ok=True)
        fetched = download([s.package for s in sources], deb_dir, update)
        for source in sources:
            if source.package not in fetched:
                skipped.append(f"{source.package}: not downloadable")
                continue
            deb = fetched[source.package]
            root = pathlib.Path(tmp) / source.package
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
            version = deb_version(deb)
            copyright_file = root / "usr/share/doc" / source.package / "copyright"
            copyright_text = copyright_file.read_text(errors="replace")
            paragraphs = parse_dep5(copyright_text) if "Files:" in copyright_text else []
            print(f"{source.package} {version}: {source.about}")
            for c in source.collect(root):
                try:
                    image = Image.open(io.BytesIO(c.data))
                    image.load()
                except Exception as e:  # any undecodable file is skipped
                    skipped.append(f"{c.source}: unreadable ({e})")
                    continue
                if min(image.size) < min_side:
                    skipped.append(f"{c.source}: {image.width}x{image.height} < {min_side} px")
                    continue
                if held := held_out.match(c.name, image):
                    skipped.append(f"{c.source}: held-out content photo '{held}'")
                    continue
                signature = _signature(image)
                if dup := next((n for n, s in seen if np.abs(s - signature).mean() < 4.0), None):
                    skipped.append(f"{c.source}: duplicate of {dup}")
                    continue
                file_name = f"{source.package}__{c.name}.jpg"
                (out / file_name).write_bytes(resize_to_jpeg(image, max_side, quality))
                seen.append((file_name, signature))
                stanza = dep5_lookup(paragraphs, c.copyright_path) if c.copyright_path else None
                debian_license = first_line(stanza.get("License")) if stanza else ""
                if not stanza and "Files:" not in copyright_text:
                    debian_license = "(not machine-readable; see license_from)"
                holders = [h for h in (stanza or {}).get("Copyright", "").split("\n") if h]
                if len(holders) > 3:
                    holders = [*holders[:2], f"and {len(holders) - 2} others"]
                package_wide = not c.license and (stanza or {}).get("Files", "").strip() == "*"
                author, notes = c.author or "; ".join(holders), c.notes
                if package_wide and not c.author:  # the package's copyright holders, not
                    author = "not stated"  # the photographer: keep them as a note
                    notes = "; ".join(
                        filter(None, [notes, "debian/copyright 'Files: *': " + "; ".join(holders)])
                    )
                rows.append(
                    {
                        "file": file_name,
                        "package": source.package,
                        "version": version,
                        "source": c.source,
                        "source_size": f"{image.width}x{image.height}",
                        "title": c.title,
                        "author": author,
                        "license": c.license or debian_license,
                        "license_from": c.license_from
                        or ("debian/copyright" if debian_license else ""),
                        "license_scope": "package" if package_wide else "file",
                        "debian_copyright_license": debian_license,
                        "url": c.url,
                        "notes": notes,
                    }
                )
            shutil.rmtree(root, ignore_errors=True)

    total = sum((out / r["file"]).stat().st_size for r in rows)
    package_wide = sum(r["license_scope"] == "package" for r in rows)
    per_package = {}
    for r in rows:
        per_package[r["package"]] = per_package.get(r["package"], 0) + 1
    summary = (
        f"{len(rows)} photos, {total / 1e6:.1f} MB, from "
        + ", ".join(f"{p} ({n})" for p, n in per_package.items())
        + f"; fetched in {time.perf_counter() - start:.0f} s. {package_wide} of them have only"
        " their package's catch-all licence ('Files: *' in debian/copyright, license_scope"
        " 'package'); the others have a licence stated for the file itself."
    )
    write_manifest(out, rows, summary)
    for line in skipped:
        print(f"  skipped {line}")
    print(summary)
    print(f"photos and SOURCES.md / sources.csv in {out}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help="target folder")
    parser.add_argument(
        "--debs", type=pathlib.Path, help="keep/reuse the .deb files here (default: temp)"
    )
    parser.add_argument("--packages", nargs="+", help="only these packages (default: all)")
    parser.add_argument("--update", action="store_true", help="apt-get update first (root)")
    parser.add_argument("--max-side", type=int, default=MAX_SIDE)
    parser.add_argument("--quality", type=int, default=QUALITY)
    parser.add_argument("--min-side", type=int, default=MIN_SIDE)
    parser.add_argument("--list", action="store_true", help="list the packages and exit")
    args = parser.parse_args(argv)
    if args.list:
        for s in SOURCES:
            print(f"{s.package:30s} {s.about}")
        return 0
    unknown = set(args.packages or ()) - {s.package for s in SOURCES}
    if unknown:
        parser.error(f"unknown packages: {', '.join(sorted(unknown))}")
    rows = fetch(
        args.out,
        debs=args.debs,
        packages=args.packages,
        update=args.update,
        max_side=args.max_side,
        quality=args.quality,
        min_side=args.min_side,
    )
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
