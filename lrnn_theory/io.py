"""Whole-or-nothing file output: write to a temporary file beside the target, then rename over it."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import LrnnInputError


@contextlib.contextmanager
def atomic_write(path, mode: str = "w"):
    """Open a temporary file for writing; on success it replaces ``path``, on error it is removed.

    A reader (or a crashed run) therefore sees either the previous file or the complete new one.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise LrnnInputError(f"output directory '{directory}' does not exist (for output file '{path}')")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_figure(fig, path) -> None:
    """Save a matplotlib figure whole-or-nothing; the format follows the suffix (PNG by default)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format=fmt, dpi=120, bbox_inches="tight")
