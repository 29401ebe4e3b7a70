"""Whole-or-nothing file output: write to temporary files beside the targets, then rename them over the targets.

A set of files (``write_files_whole``) is written as one: every file is staged first; the renames run with SIGINT
and SIGTERM held back (``signals_deferred``), and if a rename fails the targets already replaced are put back from
hard-linked backups. Temporary files are removed on every exit path, including Ctrl-C and SIGTERM (the command line
turns SIGTERM into an exception, see ``lrnn_theory.interrupts``). An existing target that is read-only, or a
symbolic link, is not replaced silently: the write is refused with a one-line ``LrnnInputError`` naming the
parameter.
"""
from __future__ import annotations

import contextlib
import fnmatch
import math
import os
import signal
import stat
import sys
import tempfile
import threading
from io import BytesIO
from pathlib import Path

import numpy as np

from .errors import LrnnInputError

#: Temporary files of writes in progress (removed by the writers; ``remove_temporaries`` is the last resort).
TEMPORARIES: set = set()

#: Files this process has written, in order (the command line says so when interrupted after a write).
WRITTEN: list = []


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _new_file_mode(path) -> int:
    """The permissions a written file gets: those of the file it replaces (a 0600 file stays 0600), else the
    usual ``0666 & ~umask`` (mkstemp's temporaries are 0600)."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except (OSError, ValueError):
        return 0o666 & ~_umask()
    return stat.S_IMODE(info.st_mode) if stat.S_ISREG(info.st_mode) else 0o666 & ~_umask()


def _flush_stdout() -> None:
    """Push what the command printed so far to stdout before outputs are committed: a full or closed stdout then
    fails the command before any file is replaced (``lrnn_theory.interrupts.StreamError``)."""
    stream = sys.stdout
    if stream is not None:
        stream.flush()


def same_file(first, second) -> bool:
    """True when two paths name one file: the same inode when both exist (hard links, symbolic links, ``..``),
    else the same resolved path."""
    try:
        if os.path.exists(first) and os.path.exists(second):
            return os.path.samefile(first, second)
        return Path(first).resolve() == Path(second).resolve()
    except (OSError, ValueError, RuntimeError):  # a loop of links, a NUL: the readers and writers report those
        return False


def check_outputs_apart(outputs, inputs) -> None:
    """Refuse, in one line naming the parameter, an output path that is one of the inputs (it would be overwritten).

    ``outputs``: ``(path, param)`` pairs; ``inputs``: ``(path, label, pattern)`` triples, where ``label`` says what
    the input is ("task file") and ``pattern`` is None for an input file, or a glob (``"*.json"``) for an input
    directory whose matching files are read. Runs before any work (``lrnn_theory.cli.runner`` applies it to every
    command's arguments).
    """
    for out, out_param in outputs:
        for source, label, pattern in inputs:
            if out is None or source is None:
                continue
            if pattern is None:
                clash = same_file(out, source)
            else:
                parent = Path(out).parent if str(Path(out).parent) else Path(".")
                clash = fnmatch.fnmatch(Path(out).name, pattern) and os.path.isdir(source) and same_file(parent, source)
            if clash:
                what = f"a {label} read from '{show_path(source)}'" if pattern else f"the {label} '{show_path(source)}'"
                raise LrnnInputError(f"parameter '{out_param}' must not be {what} (it would be overwritten); give "
                                     "another path")


def show_path(path) -> str:
    """A path for a one-line message: control characters escaped, undecodable bytes shown, long paths shortened."""
    text = os.fsdecode(path) if isinstance(path, bytes) else str(path)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return text if len(text) <= 120 else f"{text[:60]}...{text[-40:]} ({len(text)} characters)"


def check_writable(path, param: str = "out") -> Path:
    """Fail early, naming ``param``, when ``path`` cannot be written: missing directory, a directory itself, a
    read-only file or a symbolic link (neither is replaced without the user saying so), a path too long."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    shown = show_path(path)
    try:
        if not directory.is_dir():
            raise LrnnInputError(f"parameter '{param}': directory '{show_path(directory)}' does not exist (output file "
                                 f"'{shown}')")
        if path.is_symlink():
            raise LrnnInputError(f"parameter '{param}': '{shown}' is a symbolic link (to "
                                 f"'{show_path(os.readlink(path))}'); lrnn does not replace links or write through "
                                 "them: give the target's path or remove the link")
        if path.is_dir():
            raise LrnnInputError(f"parameter '{param}': '{shown}' is a directory, not a file")
        if path.exists() and not path.is_file():
            raise LrnnInputError(f"parameter '{param}': '{shown}' exists and is not a regular file")
        if path.exists() and (not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222):  # root: mode bits
            raise LrnnInputError(f"parameter '{param}': '{shown}' is read-only; lrnn does not replace read-only "
                                 "files: make it writable or remove it")
    except OSError as exc:  # a path too long, a loop of links in the directory part
        raise LrnnInputError(f"parameter '{param}': cannot write '{shown}' ({exc.strerror})") from None
    return path


def check_out_path(path, suffixes=(".csv", ".npz"), param: str = "out") -> Path:
    """Check an output file's suffix and that it can be written, before any work is done: a file is created and
    removed at once next to it, so a directory that takes no new file (read-only, on /proc) is refused now, with the
    line the write would give after the work."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise LrnnInputError(f"parameter '{param}' must end in {' or '.join(suffixes)}, got '{path}'")
    path = check_writable(path, param)
    _remove(_new_temporary(path, param))
    return path


def make_out_dir(path, param: str = "out") -> Path:
    """Create the output directory ``path`` (and its parents) if needed, or fail in one line naming ``param``."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LrnnInputError(f"parameter '{param}': cannot use '{path}' as an output directory "
                             f"({exc.strerror})") from None
    return path


@contextlib.contextmanager
def signals_deferred():
    """Hold back SIGINT and SIGTERM for the duration (in the main thread), so that a set of renames is not cut."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _new_temporary(path: Path, param: str, suffix: str = ".tmp") -> str:
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name[:100]}.",
                                   suffix=suffix)
    except OSError as exc:
        raise LrnnInputError(f"parameter '{param}': cannot write '{show_path(path)}' ({exc.strerror})") from None
    TEMPORARIES.add(tmp)
    os.close(fd)
    return tmp


def _remove(tmp: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(tmp)
    TEMPORARIES.discard(tmp)


def remove_temporaries() -> None:
    """Remove every temporary file of a write still in progress (for signal handlers and exit paths)."""
    for tmp in list(TEMPORARIES):
        _remove(tmp)


@contextlib.contextmanager
def atomic_write(path, mode: str = "w", param: str = "out"):
    """Open a temporary file for writing; on success it replaces ``path``, on error it is removed.

    A reader (or a crashed run) therefore sees either the previous file or the complete new one. Errors of the
    file system become ``LrnnInputError`` naming ``param``.
    """
    path = check_writable(path, param)
    tmp = _new_temporary(path, param)
    try:
        with open(tmp, mode) as fh:
            yield fh
        os.chmod(tmp, _new_file_mode(path))
        _flush_stdout()
        _install([(tmp, path, param)])
    except OSError as exc:
        raise LrnnInputError(f"parameter '{param}': cannot write '{show_path(path)}' ({exc.strerror})") from None
    finally:
        _remove(tmp)


#: Resolution of every figure lrnn writes (dots per inch).
SAVE_DPI = 120
#: zlib level of the PNGs ``render_figure`` cuts from the canvas: a third less time than matplotlib's 6 for 5% more
#: bytes on lrnn's figures.
PNG_COMPRESS_LEVEL = 3


def render_figure(fig, fmt: str = "png") -> bytes:
    """A matplotlib figure as the bytes of an image file (cropped to its content, ``SAVE_DPI`` dpi)."""
    buf = BytesIO()
    engine = fig.get_layout_engine()
    if not _crops_on_its_canvas(fig, fmt):
        fig.savefig(buf, format=fmt, dpi=SAVE_DPI, bbox_inches="tight", **_png_options(fmt))
        return buf.getvalue()
    # One layout pass and one renderer instead of matplotlib's two of each: the content's box (what
    # bbox_inches="tight" measures, a layout pass) and the drawing share the canvas's renderer at the saving dpi, so
    # every text is measured and every math tick label parsed once (a figure made at SAVE_DPI, as plot_trajectories
    # does, measured them for its tight_layout already), and the drawing reuses the ticks the box computed
    # (measuring_once). The drawing is of the whole canvas, cut to the whole pixels around the padded box, and where
    # only the padding passes the canvas's edge (a suptitle near the top) the canvas's margin colour continues, as
    # savefig's figure patch does. Content beyond the canvas (a legend hung outside) takes savefig with the box
    # instead (issue 25).
    dpi, canvas = fig.dpi, fig.canvas
    fig._layout_engine = None  # not set_layout_engine(None): that installs rcParams["figure.autolayout"]'s engine
    image = None
    try:
        fig.dpi = SAVE_DPI
        with measuring_once(fig):
            renderer = canvas.get_renderer()
            content = fig.get_tightbbox(renderer)
            box = content.padded(sys.modules["matplotlib"].rcParams["savefig.pad_inches"])
            sides = _margin_sides(content, box, renderer.width, renderer.height)
            if sides is not None:
                saving, canvas._is_saving = canvas._is_saving, True  # as savefig: animated artists are drawn too
                try:
                    canvas.draw()
                finally:
                    canvas._is_saving = saving
                background = np.round(np.array(sys.modules["matplotlib.colors"].to_rgba(fig.get_facecolor())) * 255)
                image = _cut(np.asarray(canvas.buffer_rgba()), box, sides, background.astype(np.uint8))
        if image is None:
            fig.savefig(buf, format=fmt, dpi=SAVE_DPI, bbox_inches=box, **_png_options(fmt))
        else:
            sys.modules["matplotlib.image"].imsave(buf, image, format="png", origin="upper", dpi=SAVE_DPI,
                                                   pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    finally:
        fig.dpi = dpi
        fig._layout_engine = engine
    return buf.getvalue()


def _png_options(fmt: str) -> dict:
    """savefig's options for ``fmt``: PNGs at ``PNG_COMPRESS_LEVEL``, whichever path writes them."""
    return {"pil_kwargs": {"compress_level": PNG_COMPRESS_LEVEL}} if fmt == "png" else {}


#: The math-text parser of every Agg renderer that ``measuring_once`` sees, one per renderer class and set of
#: ``mathtext.*`` rcParams: matplotlib gives each renderer its own, whose cache then parses the same log-axis tick
#: labels ($10^{-4}$, ~10 ms of pyparsing each) again for every figure. A parse depends on what keys that cache (text,
#: font, size, dpi) and on those rcParams.
_MATH_PARSERS: dict = {}


@contextlib.contextmanager
def measuring_once(fig):
    """Lay out, measure or draw ``fig`` in the block with matplotlib's own code, less its repeats; what is drawn is
    unchanged, byte for byte.

    matplotlib computes an axis's ticks (locations, labels, tick artists) again for every box it measures: the axis,
    each spine, each sibling's label position, the title, ~7 times per axis in one layout pass or drawing, and
    measures the tick labels 2 or 3 times. In the block an axis does each once per state (view limits, axes box,
    scale, locators and formatters: a drawing that moves an axes, sets limits or changes the scale, as a secondary
    axis does, computes them anew). The figure's Agg
    renderer parses math text with the parser of ``_MATH_PARSERS``, which keeps its parses from figure to figure.
    """
    if hasattr(fig.canvas, "get_renderer"):
        renderer = fig.canvas.get_renderer()
        if hasattr(renderer, "mathtext_parser"):  # one per renderer class and mathtext.* settings (not in the cache key)
            rc = sys.modules["matplotlib"].rcParams
            settings = tuple((name, repr(rc[name])) for name in sorted(rc) if name.startswith("mathtext."))
            renderer.mathtext_parser = _MATH_PARSERS.setdefault((type(renderer), settings), renderer.mathtext_parser)
    axes = [axis for ax in fig.get_axes() for owner in (ax, *ax.child_axes) for axis in (owner.xaxis, owner.yaxis)]
    kept = [(axis, name) for axis in axes for name in _KEPT if callable(getattr(type(axis), name, None))]
    for axis, name in kept:
        setattr(axis, name, _once_per_state(axis, getattr(type(axis), name)))
    try:
        yield
    finally:
        for axis, name in kept:
            vars(axis).pop(name, None)


#: The axis methods whose results ``measuring_once`` keeps for each state of the axis: its ticks, and the boxes of
#: their labels.
_KEPT = ("_update_ticks", "_get_ticklabel_bboxes")


def _once_per_state(axis, compute):
    """``compute(axis, *args)`` run once per state of the axis (its view limits, its axes' box on the canvas, its
    scale and the very locator and formatter objects) and arguments (the very objects: the last call's are held, so
    that an identity means the same object)."""
    last = {}

    def once(*args, **kwargs):
        if kwargs:  # a signature of another matplotlib: not ours to keep
            return compute(axis, *args, **kwargs)
        state = (tuple(axis.get_view_interval()), axis.axes.bbox.bounds, axis.get_scale(),
                 *(getattr(ticker, part) for ticker in (axis.major, axis.minor) for part in ("locator", "formatter")))
        same = (last and len(last["args"]) == len(args) and all(a is b for a, b in zip(last["args"], args))
                and len(last["state"]) == len(state)
                and all(a is b or a == b for a, b in zip(last["state"], state)))
        if not same:
            last.update(state=state, args=args, result=compute(axis, *args))
        return last["result"]

    return once


def _crops_on_its_canvas(fig, fmt: str) -> bool:
    """Whether ``render_figure`` may draw ``fig`` on its own canvas and cut the PNG out: an Agg canvas, no layout
    engine left to run (tight_layout() leaves a placeholder), the default savefig colours."""
    rc = sys.modules["matplotlib"].rcParams
    return (fmt == "png" and type(fig.canvas).__name__ == "FigureCanvasAgg"
            and type(fig.get_layout_engine()).__name__ in ("NoneType", "PlaceHolderLayoutEngine")
            and rc["savefig.facecolor"] == "auto" and rc["savefig.edgecolor"] == "auto"
            and not rc["savefig.transparent"]
            and not (fig.patch.get_linewidth() > 0 and fig.patch.get_edgecolor()[3] > 0))  # savefig redraws a border


def _pixel_edges(box) -> tuple:
    """(left, bottom, right, top) pixels at ``SAVE_DPI`` of ``box`` (inches, origin at the bottom left), widened to
    whole pixels."""
    return (math.floor(box.x0 * SAVE_DPI), math.floor(box.y0 * SAVE_DPI), math.ceil(box.x1 * SAVE_DPI),
            math.ceil(box.y1 * SAVE_DPI))


def _margin_sides(content, box, width: int, height: int):
    """The sides of a ``width`` x ``height`` canvas that the padded ``box`` passes, each with a margin of at least a
    pixel between the ``content`` and the canvas's edge (the edge's pixels are then the background); None when the
    box passes a side without such a margin (content at or beyond the edge)."""
    outer, inner = _pixel_edges(box), _pixel_edges(content)
    beyond = (outer[0] < 0, outer[1] < 0, outer[2] > width, outer[3] > height)
    margin = (inner[0] >= 1, inner[1] >= 1, inner[2] <= width - 1, inner[3] <= height - 1)
    if any(passes and not kept for passes, kept in zip(beyond, margin)):
        return None
    return [side for side, passes in zip(("left", "bottom", "right", "top"), beyond) if passes]


def _cut(pixels: np.ndarray, box, sides, background) -> np.ndarray | None:
    """The whole pixels of the canvas's drawing ``pixels`` (rows from the top) around ``box``; beyond the canvas's
    ``sides`` the figure's ``background`` (RGBA bytes) continues. None when those sides' edge pixels are not all the
    background (something is drawn at the edge)."""
    height, width = pixels.shape[:2]
    left, bottom, right, top = _pixel_edges(box)
    inside = pixels[max(height - top, 0):height - max(bottom, 0), max(left, 0):min(right, width)]
    if not sides:
        return inside
    edge = {"left": pixels[:, 0], "bottom": pixels[-1], "right": pixels[:, -1], "top": pixels[0]}
    edges = np.concatenate([edge[side] for side in sides])
    if (edges != background).any():
        return None
    image = np.empty((top - bottom, right - left, 4), dtype=pixels.dtype)
    image[...] = background
    row, column = max(top - height, 0), max(-left, 0)
    image[row:row + inside.shape[0], column:column + inside.shape[1]] = inside
    return image


def save_figure(fig, path, param: str = "plot") -> None:
    """Save a matplotlib figure whole-or-nothing; the format follows the suffix (PNG by default)."""
    path = Path(path)
    data = render_figure(fig, path.suffix.lstrip(".").lower() or "png")
    write_files_whole([(path, data, param)])


def _install(staged) -> None:
    """Rename staged temporaries over their targets as one step: all of them, or (after a failure) none.

    ``staged`` is a sequence of ``(tmp, path, param)``. Existing targets are first hard-linked to backups, so that
    targets replaced before a failed rename can be put back.
    """
    for _, path, param in staged:
        check_writable(path, param)  # again: the target may have changed while the data were computed
    backups = {}
    done = []
    with signals_deferred():
        try:
            for tmp, path, param in staged:
                if path.exists():
                    backup = _new_temporary(path, param, ".bak")
                    try:
                        os.unlink(backup)
                        os.link(path, backup)
                        backups[path] = backup
                    except OSError:  # no hard links here: the old file cannot be put back after a failed rename
                        _remove(backup)
            for tmp, path, param in staged:
                try:
                    os.replace(tmp, path)
                except OSError as exc:
                    raise LrnnInputError(f"parameter '{param}': cannot write '{show_path(path)}' ({exc.strerror})") \
                        from None
                TEMPORARIES.discard(tmp)
                done.append(path)
        except BaseException:
            for path in reversed(done):  # put the set back as it was
                with contextlib.suppress(OSError):
                    if path in backups:
                        os.replace(backups[path], path)
                    else:
                        os.unlink(path)
            raise
        finally:
            for backup in backups.values():
                _remove(backup)
        WRITTEN.extend(str(p) for p in done)


def write_files_whole(files) -> None:
    """Write several files as one: each to a temporary file first, renamed into place only when all are written.

    ``files`` is a sequence of ``(path, data: bytes, param)``; on any failure or interruption no target file is
    created or changed, and no temporary file is left behind.
    """
    staged = []
    try:
        for path, data, param in files:
            path = check_writable(path, param)
            tmp = _new_temporary(path, param)
            staged.append((tmp, path, param))
            try:
                with open(tmp, "wb") as fh:
                    fh.write(data)
                os.chmod(tmp, _new_file_mode(path))
            except OSError as exc:
                raise LrnnInputError(f"parameter '{param}': cannot write '{show_path(path)}' "
                                     f"({exc.strerror})") from None
        _flush_stdout()
        _install(staged)
    finally:
        for tmp, _, _ in staged:
            _remove(tmp)
