"""Checks of what a mode will write, done before any work."""

from __future__ import annotations

import os
from collections.abc import Iterable

from nst import files
from nst_cli.flags import UsageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def check_image_output(output: str, *, overwrite: bool, also: Iterable[str] = ()) -> None:
    """``output`` names an image file (.png/.jpg/.jpeg, not a folder); without
    ``overwrite`` neither it nor any path of ``also`` may exist yet."""
    output = str(output)
    if os.path.isdir(output):
        raise UsageError(f"--output {output} is a directory; give a file name")
    if os.path.splitext(output)[1].lower() not in IMAGE_SUFFIXES:
        raise UsageError(f"--output must end in .png, .jpg or .jpeg, got {output}")
    if not overwrite:
        files.refuse_existing([output, *also])
