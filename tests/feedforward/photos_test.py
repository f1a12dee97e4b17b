"""scripts/fetch_training_photos.py without the network: its readers, hold-outs and one run."""

import csv
import importlib.util
import io
import pathlib
import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "fetch_training_photos", REPO / "scripts" / "fetch_training_photos.py"
)
photos = importlib.util.module_from_spec(_spec)
sys.modules.setdefault(_spec.name, photos)  # dataclasses look their module up there
_spec.loader.exec_module(photos)


def _photo(rng, height, width):
    """A smooth random picture (noise would look the same to a 16x16 thumbnail)."""
    coarse = Image.fromarray(rng.integers(0, 256, (6, 8, 3), np.uint8))
    return coarse.resize((width, height), Image.Resampling.BICUBIC)


def _rcc(entries):
    """A version-3 Qt resource bundle: root/{x.txt, a/y.bin (zlib)} from ``entries``."""
    names = b""
    name_offsets = {}
    for name in ("x.txt", "a", "y.bin"):
        name_offsets[name] = len(names)
        encoded = name.encode("utf-16-be")
        names += struct.pack(">HI", len(name), 0) + encoded
    data = b""
    data_offsets = {}
    for name, (blob, compressed) in entries.items():
        data_offsets[name] = len(data)
        if compressed:
            blob = struct.pack(">I", len(blob)) + zlib.compress(blob)
        data += struct.pack(">I", len(blob)) + blob

    def directory(name_offset, count, first):
        return struct.pack(">IHII", name_offset, 2, count, first) + b"\0" * 8

    def file(name, compressed):
        flags = 1 if compressed else 0
        return struct.pack(">IHHHI", name_offsets[name], flags, 0, 0, data_offsets[name]) + (
            b"\0" * 8
        )

    tree = (
        directory(0, 2, 1)  # root: nodes 1, 2
        + file("x.txt", False)  # node 1
        + directory(name_offsets["a"], 1, 3)  # node 2: node 3
        + file("y.bin", True)  # node 3
    )
    header = 24
    data_at, names_at = header, header + len(data)
    tree_at = names_at + len(names)
    head = b"qres" + struct.pack(">IIIII", 3, tree_at, data_at, names_at, 0)
    return head + data + names + tree


def test_rcc_files_reads_plain_and_zlib_members():
    bundle = _rcc({"x.txt": (b"hello", False), "y.bin": (b"\x00\x01" * 500, True)})
    assert dict(photos.rcc_files(bundle)) == {"/x.txt": b"hello", "/a/y.bin": b"\x00\x01" * 500}
    with pytest.raises(ValueError, match="qres"):
        list(photos.rcc_files(b"not a bundle at all"))


def test_dep5_last_matching_paragraph_wins():
    text = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: 2020 Everyone\nLicense: GPL-2+\n\n"
        "Files: photos/*.jpg\n other/x.png\nCopyright: 2021 A Photographer\n"
        " 2022 Another\nLicense: CC-BY-SA-4.0\n"
    )
    paragraphs = photos.parse_dep5(text)
    assert photos.dep5_lookup(paragraphs, "photos/cat.jpg")["License"] == "CC-BY-SA-4.0"
    assert photos.dep5_lookup(paragraphs, "other/x.png")["Copyright"].count("\n") == 1
    assert photos.dep5_lookup(paragraphs, "src/main.c")["License"] == "GPL-2+"


def test_gcompris_credits_parse_titles_authors_urls_and_licences():
    info = (
        """credit: ("<ul><li>") +\n"""
        """('"Nagoya Castle(Edit2)" by Base64 (https://commons.wikimedia.org/wiki/"""
        """File:Nagoya_Castle(Edit2).jpg), CC BY-SA 3.0') + ("</li><li>") +\n"""
        """('"Penguin" Photo: Gordon Leggett / Wikimedia Commons (https://example.org/p.jpg)"""
        """, CC BY-SA 4.0, changes: cropping') + ("</li></ul>")"""
    )
    nagoya, penguin = photos.gcompris_credits(info)
    assert nagoya["title"] == "Nagoya Castle(Edit2)" and nagoya["author"] == "Base64"
    assert nagoya["url"].endswith("Nagoya_Castle(Edit2).jpg")
    assert nagoya["license"] == "CC-BY-SA-3.0"
    assert penguin["author"] == "Gordon Leggett" and penguin["changes"] == "changes: cropping"


def test_held_out_content_photos_are_recognised_by_name_and_by_pixels():
    held_out = photos.HeldOut()
    assert {name for name, _, _ in held_out.images} >= {"tubingen", "chelsea"}
    for name in ("tubingen", "chelsea"):
        with Image.open(REPO / "nst" / "data" / "content" / f"{name}.jpg") as im:
            copy = im.convert("RGB").resize((im.width * 3 // 4, im.height * 3 // 4))
        buffer = io.BytesIO()
        copy.save(buffer, "PNG")
        assert held_out.match("some_photo", Image.open(buffer)) == name
    other = _photo(np.random.default_rng(0), 300, 451)  # chelsea's size, other pixels
    assert held_out.match("cat_photo", other) is None
    assert held_out.match("skimage_chelsea", other) == "chelsea"


def test_resize_to_jpeg_caps_the_longest_side_and_never_enlarges():
    big = Image.new("RGBA", (1000, 600), (10, 200, 30, 128))
    out = Image.open(io.BytesIO(photos.resize_to_jpeg(big)))
    assert out.format == "JPEG" and out.mode == "RGB" and out.size == (512, 307)
    small = Image.new("RGB", (300, 260), "red")
    assert Image.open(io.BytesIO(photos.resize_to_jpeg(small))).size == (300, 260)


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_fetch_writes_photos_and_manifest_and_skips_held_out_small_and_duplicates(
    tmp_path, monkeypatch
):
    rng = np.random.default_rng(1)
    pkg = tmp_path / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN" / "control").write_text(
        "Package: fake-photos\nVersion: 1.0-1\nArchitecture: all\n"
        "Maintainer: Nobody <nobody@example.org>\nDescription: test photos\n"
    )
    doc = pkg / "usr/share/doc/fake-photos"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: 2024 Someone\nLicense: GPL-2+\n\n"
        "Files: pics/forest.png\nCopyright: 2023 A. Photographer\nLicense: CC-BY-4.0\n"
    )
    pics = pkg / "usr/share/fake"
    pics.mkdir(parents=True)
    forest = _photo(rng, 400, 700)
    forest.save(pics / "forest.png")
    forest.resize((600, 343)).save(pics / "forest_copy.png")  # a duplicate
    _photo(rng, 900, 600).save(pics / "lake.png")
    _photo(rng, 100, 150).save(pics / "tiny.png")
    with Image.open(REPO / "nst" / "data" / "content" / "chelsea.jpg") as im:
        im.save(pics / "cat.png")  # the held-out content photo under another name
    debs = tmp_path / "debs"
    debs.mkdir()
    deb = debs / "fake-photos_1.0-1_all.deb"
    subprocess.run(["dpkg-deb", "--build", str(pkg), str(deb)], check=True, capture_output=True)

    def collect(root):
        for path in sorted((root / "usr/share/fake").glob("*.png")):
            yield photos.Candidate(
                name=path.stem,
                source=str(path.relative_to(root)),
                data=path.read_bytes(),
                copyright_path=f"pics/{path.name}",
                title=path.stem,
            )

    monkeypatch.setattr(photos, "SOURCES", (photos.Source("fake-photos", collect, "test"),))
    monkeypatch.setattr(photos, "download", lambda packages, dest, update: {"fake-photos": deb})
    out = tmp_path / "out"
    rows = photos.fetch(out)
    assert [r["file"] for r in rows] == ["fake-photos__forest.jpg", "fake-photos__lake.jpg"]
    forest_row, lake_row = rows
    assert forest_row["license"] == "CC-BY-4.0" and forest_row["license_scope"] == "file"
    assert forest_row["author"] == "2023 A. Photographer" and forest_row["version"] == "1.0-1"
    assert lake_row["license"] == "GPL-2+" and lake_row["license_scope"] == "package"
    assert lake_row["author"] == "not stated" and "2024 Someone" in lake_row["notes"]
    with Image.open(out / "fake-photos__lake.jpg") as lake:
        assert lake.size == (341, 512)
    with open(out / "sources.csv", newline="", encoding="utf-8") as f:
        assert [r["file"] for r in csv.DictReader(f)] == [r["file"] for r in rows]
    assert "fake-photos__forest.jpg" in (out / "SOURCES.md").read_text()
    assert sorted(p.name for p in out.iterdir()) == [
        "SOURCES.md",
        "fake-photos__forest.jpg",
        "fake-photos__lake.jpg",
        "sources.csv",
    ]
    # A rerun replaces the previous run's photos; a folder of someone else's JPEGs is refused.
    assert len(photos.fetch(out)) == 2
    (tmp_path / "mine").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "mine" / "holiday.jpg")
    with pytest.raises(SystemExit, match="refusing"):
        photos.fetch(tmp_path / "mine")
