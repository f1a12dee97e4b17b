"""Every Python snippet of README.md and docs/*.md runs as written.

The snippets of one page run in order in one namespace (as a reader pasting them into one
session), in a temporary folder. A snippet that cannot run here says why in the markdown,
on the line before its fence::

    <!-- snippet: skip (downloads VGG16's ImageNet weights: no offline source) -->

and is reported as skipped with that reason; nothing else is left out.
"""

import os
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python\s*$")
SKIP = re.compile(r"^<!--\s*snippet:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->\s*$")
MARKER = re.compile(r"<!--\s*snippet")


def snippets(text: str) -> list[tuple[int, str, str | None]]:
    """``[(line number of the fence, code, skip reason or None)]`` of a markdown page."""
    lines = text.splitlines()
    found = []
    i = 0
    while i < len(lines):
        if FENCE.match(lines[i]):
            start = i
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            skip = SKIP.match(before.strip())
            if MARKER.search(before) and not skip:
                raise ValueError(f"line {i}: malformed snippet marker {before.strip()!r}")
            code = "\n".join(lines[start + 1 : end])
            found.append((start + 1, code, skip["reason"] if skip else None))
            i = end
        i += 1
    return found


def test_the_extractor_finds_fences_and_reasons():
    page = "\n".join(
        [
            "text",
            "```python",
            "x = 1",
            "```",
            "<!-- snippet: skip (needs a GPU) -->",
            "```python",
            "y = 2",
            "```",
            "```bash",
            "echo no",
            "```",
        ]
    )
    assert snippets(page) == [(2, "x = 1", None), (6, "y = 2", "needs a GPU")]
    with pytest.raises(ValueError, match="malformed"):
        snippets("<!-- snippet: skip -->\n```python\nz = 3\n```")


PAGES_WITH_CODE = [p for p in PAGES if snippets(p.read_text())]


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_snippets_run_as_written(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__snippet__"}
    skipped = []
    for line, code, reason in snippets(page.read_text()):
        where = f"{page.relative_to(ROOT)}:{line}"
        if reason is not None:
            skipped.append(f"{where}: {reason}")
            continue
        try:
            exec(compile(code, where, "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"the snippet at {where} fails: {type(e).__name__}: {e}") from e
    if skipped:
        pytest.skip("; ".join(skipped))


def test_pages_are_listed():
    assert ROOT / "README.md" in PAGES_WITH_CODE
    assert all(os.path.isfile(p) for p in PAGES)
