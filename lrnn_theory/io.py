"""Whole-or-nothing file output: write to a temporary file beside the target, then rename over it."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import LrnnInputError


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def check_writable(path, param: str = "out") -> Path:
    """Fail early, naming ``param``, when ``path`` cannot be written: missing directory, or a directory itself."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise LrnnInputError(f"parameter '{param}': directory '{directory}' does not exist (output file '{path}')")
    if path.is_dir():
        raise LrnnInputError(f"parameter '{param}': '{path}' is a directory, not a file")
    return path


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", param: str = "out"):
    """Open a temporary file for writing; on success it replaces ``path``, on error it is removed.

    A reader (or a crashed run) therefore sees either the previous file or the complete new one. Errors of the
    file system become ``LrnnInputError`` naming ``param``.
    """
    path = check_writable(path, param)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.",
                                   suffix=".tmp")
    except OSError as exc:
        raise LrnnInputError(f"parameter '{param}': cannot write '{path}' ({exc.strerror})") from None
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise LrnnInputError(f"parameter '{param}': cannot write '{path}' ({exc.strerror})") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def render_figure(fig, fmt: str = "png") -> bytes:
    """A matplotlib figure as the bytes of an image file."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=120, bbox_inches="tight")
    return buf.getvalue()


def save_figure(fig, path, param: str = "plot") -> None:
    """Save a matplotlib figure whole-or-nothing; the format follows the suffix (PNG by default)."""
    path = Path(path)
    data = render_figure(fig, path.suffix.lstrip(".").lower() or "png")
    with atomic_write(path, "wb", param) as fh:
        fh.write(data)


def write_files_whole(files) -> None:
    """Write several files as one: each to a temporary file first, renamed into place only when all are written.

    ``files`` is a sequence of ``(path, data: bytes, param)``; on any failure no target file is created or changed.
    """
    staged = []
    try:
        for path, data, param in files:
            path = check_writable(path, param)
            try:
                fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.",
                                           suffix=".tmp")
                staged.append((tmp, path, param))
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.chmod(tmp, 0o666 & ~_umask())
            except OSError as exc:
                raise LrnnInputError(f"parameter '{param}': cannot write '{path}' ({exc.strerror})") from None
        for tmp, path, param in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
