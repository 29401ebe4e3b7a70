"""Reading task files safely: whatever the file holds, the result is a parsed JSON value or one ``LrnnInputError``.

The reader is bounded by construction: only regular files are opened for reading (a FIFO, a device such as
``/dev/zero`` or a socket is refused without reading, and a FIFO is opened non-blocking so that the check cannot
hang); at most ``MAX_TASK_FILE_BYTES`` are read; the text must be UTF-8; arrays and objects may nest at most
``MAX_NESTING`` deep; every number must lie within floating-point range (an integer literal of thousands of digits is
refused before Python converts it); a task ``name`` must be at most ``MAX_NAME_LENGTH`` characters of valid Unicode.
Nothing in the file is evaluated. ``Task.from_json`` reads through ``read_task_data`` and then builds the task with
``Task.from_dict`` as before.
"""
from __future__ import annotations

import errno
import json
import math
import os
import stat
import zipfile
import zlib
from pathlib import Path

import numpy as np

from . import resources
from .errors import LrnnInputError
from .io import show_path

#: Largest number of singular values (K * T) a task may hold: 10^8 floats are 800 MB.
MAX_TASK_SIZE = 10**8

#: Largest task file read (bytes). A (K, T) task of 10^6 singular values is about 20 MB of JSON.
MAX_TASK_FILE_BYTES = 64 * 2**20

#: Deepest nesting of arrays and objects: a task needs 3 (object, modes, steps).
MAX_NESTING = 16

#: Most decimal digits in an integer literal: 10^309 is beyond floating point already.
MAX_INTEGER_DIGITS = 310

#: Longest task name (characters): it is printed in messages and plot titles.
MAX_NAME_LENGTH = 200

_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


def _os_message(path, exc: OSError, what: str = "task file") -> LrnnInputError:
    shown = show_path(path)
    if exc.errno == errno.ENOENT:
        return LrnnInputError(f"{what} '{shown}' does not exist")
    if exc.errno == errno.ENAMETOOLONG:
        return LrnnInputError(f"{what} '{shown}' cannot be read: the path is too long for the file system")
    if exc.errno == errno.ELOOP:
        return LrnnInputError(f"{what} '{shown}' cannot be read: too many levels of symbolic links (a loop)")
    return LrnnInputError(f"{what} '{shown}' cannot be read: {exc.strerror or exc.__class__.__name__}")


def open_regular_file(path, max_bytes: int, what: str = "task file"):
    """An open binary file object of ``path`` when it is a regular file of at most ``max_bytes``, else
    ``LrnnInputError`` naming ``what``: FIFOs, devices (``/dev/zero``, also through a link), sockets and directories
    are refused without reading, and the open never blocks (O_NONBLOCK, cleared once the file is known regular).
    The one gate of every file lrnn reads: task JSON, NPZ data, figure JSON."""
    if isinstance(path, str) and "\x00" in path:
        raise LrnnInputError(f"{what} '{show_path(path)}' is not a valid path (it holds a NUL character)")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except (OSError, ValueError) as exc:  # ValueError: an embedded NUL character
        if isinstance(exc, ValueError):
            raise LrnnInputError(f"{what} '{show_path(path)}' is not a valid path (it holds a NUL character)") \
                from None
        raise _os_message(path, exc, what) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
            raise LrnnInputError(f"{what} '{show_path(path)}' is {kind}; give a regular file")
        if info.st_size > max_bytes:
            raise LrnnInputError(f"{what} '{show_path(path)}' is {info.st_size} bytes, more than the {max_bytes} "
                                 f"a {what} may have")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_task_bytes(path, max_bytes: int = MAX_TASK_FILE_BYTES, what: str = "task file") -> bytes:
    """The bytes of a regular file of at most ``max_bytes``, or ``LrnnInputError`` (never blocks on a FIFO)."""
    with open_regular_file(path, max_bytes, what) as fh:
        try:
            data = fh.read(max_bytes + 1)  # never past the limit (the file may grow while being read)
        except OSError as exc:
            raise _os_message(path, exc, what) from None
    if len(data) > max_bytes:
        raise LrnnInputError(f"{what} '{show_path(path)}' is more than the {max_bytes} bytes a {what} may have")
    return data


def _parse_int(text: str):
    digits = len(text.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        raise LrnnInputError(f"file holds an integer of {digits} digits, beyond floating-point range")
    value = int(text)
    if abs(value) > 1.7976931348623157e308:
        raise LrnnInputError(f"file holds the integer {text[:20]}... ({digits} digits), beyond floating-point "
                             "range")
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        shown = text if len(text) <= 30 else text[:27] + "..."
        raise LrnnInputError(f"file holds the number {shown}, beyond floating-point range (largest about "
                             "1.8e308)")
    return value


def _reject_constant(token: str):
    raise LrnnInputError(f"file holds the non-finite number {token}; numbers must be finite")


def _reject_duplicate_keys(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise LrnnInputError(f"file gives field '{show_path(key)}' twice")
        seen[key] = value
    return seen


def _nesting_depth(value) -> int:
    """Deepest nesting of lists and dicts, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            if depth > MAX_NESTING:
                return depth
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def check_task_name(value, param: str = "name") -> str:
    """A task name the task reader accepts (the same rule, ``_check_text``), or one line naming ``param``."""
    try:
        _check_text("name", value)
    except LrnnInputError as exc:
        raise LrnnInputError(f"parameter '{param}': {exc}") from None
    return value


def _check_text(name: str, value) -> None:
    """A string field must be valid Unicode (no lone surrogates) of bounded length."""
    if not isinstance(value, str):
        return
    if len(value) > MAX_NAME_LENGTH:
        raise LrnnInputError(f"field '{name}' must be at most {MAX_NAME_LENGTH} characters, got {len(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise LrnnInputError(f"field '{name}' must be valid Unicode text, got a lone surrogate "
                             f"{value.encode('utf-8', 'backslashreplace').decode()[:40]!r}") from None


def parse_json_text(raw: bytes, source: str = "JSON file"):
    """Parse bytes into a JSON value: UTF-8, finite numbers in floating-point range, no duplicate keys, at most
    ``MAX_NESTING`` deep (a file nested 100,000 deep is refused, not recursed into), or one ``LrnnInputError``."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LrnnInputError(f"{source} is not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int, parse_float=_parse_float,
                          object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise LrnnInputError(f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") \
            from None
    except RecursionError:
        raise LrnnInputError(f"{source} nests arrays or objects more than {MAX_NESTING} deep") from None
    if _nesting_depth(data) > MAX_NESTING:
        raise LrnnInputError(f"{source} nests arrays or objects more than {MAX_NESTING} deep")
    return data


def parse_task_text(raw: bytes, source: str = "task file"):
    """Parse the bytes of a task file into a JSON value, refusing anything outside the limits above."""
    data = parse_json_text(raw, source)
    if isinstance(data, dict):
        for key in data:
            _check_text("field name", key)
        _check_text("name", data.get("name"))
        for key in ("family", "base"):
            if isinstance(data.get(key), str) and len(data[key]) > 40:
                raise LrnnInputError(f"field '{key}' must be a family name, got a string of {len(data[key])} "
                                     "characters")
    return data


def read_task_data(path):
    """Read and parse a task file safely (see the module docstring); returns the JSON value."""
    if isinstance(path, (str, bytes, os.PathLike)):
        shown = show_path(path)
    else:
        raise LrnnInputError(f"parameter 'task' must be a path, got {type(path).__name__}")
    if isinstance(path, str) and "\x00" in path:
        raise LrnnInputError(f"task file '{shown}' is not a valid path (it holds a NUL character)")
    raw = read_task_bytes(Path(os.fsdecode(path)) if isinstance(path, bytes) else path)
    data = parse_task_text(raw, f"task file '{shown}'")
    guard_family_size(data)
    return data


def guard_family_size(data) -> None:
    """A family task is built from a few numbers but may be huge (T = 10^8): check its size against the resource
    guard before it is built."""
    if not isinstance(data, dict) or "family" not in data:
        return
    T = data.get("T")
    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        return  # Task.from_dict reports it
    K = max([len(v) for k in ("delta", "lambda", "kappa", "beta") if isinstance(v := data.get(k), list)] or [1])
    if K * T > MAX_TASK_SIZE:
        return  # Task.from_family refuses it with its own message
    resources.guard(resources.task_estimate(K, T), "building the task")


# ---- other files: figure JSON, NPZ data ------------------------------------------------------------------------
#: Largest JSON file other than a task read (bytes): a figure's key numbers are kilobytes.
MAX_JSON_FILE_BYTES = 16 * 2**20

#: Peak memory of reading and checking an NPZ's arrays, per byte of the unpacked arrays (measured about 2.2:
#: the arrays, their float copies and the sums of the estimate).
NPZ_MEMORY_FACTOR = 2.5


def read_json_file(path, what: str = "JSON file", max_bytes: int = MAX_JSON_FILE_BYTES):
    """A JSON value from a regular file of at most ``max_bytes`` (``open_regular_file``, ``parse_json_text``)."""
    return parse_json_text(read_task_bytes(path, max_bytes, what), f"{what} '{show_path(path)}'")


def _npy_header(member, name: str, source: str):
    """(shape, dtype) from a .npy member's header, read without reading its data."""
    version = np.lib.format.read_magic(member)
    reader = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
    if reader is None:
        raise LrnnInputError(f"{source}: array '{name}' has .npy format version {version[0]}.{version[1]}; save it "
                             "with numpy.savez")
    shape, _, dtype = reader(member)
    return shape, dtype


def read_npz_arrays(path, names=("X", "Y"), what: str = "data file") -> tuple:
    """The arrays ``names`` of an NPZ file, read through one bounded gate: a regular file (``open_regular_file``)
    no larger than the memory limit; the unpacked sizes in the zip headers held against the resource guard before
    anything is unpacked; each array's header checked (numbers, a shape its stored bytes can hold) before its data
    are read; no pickles. A damaged archive (a bad CRC) or any other fault is one ``LrnnInputError`` naming the
    file."""
    shown = show_path(path)
    source = f"{what} '{shown}'"
    with open_regular_file(path, resources.limit(), what) as fh:
        try:
            with zipfile.ZipFile(fh) as archive:
                members = {info.filename: info for info in archive.infolist()}
                found = [n[:-4] for n in members if n.endswith(".npy")]
                missing = [n for n in names if f"{n}.npy" not in members]
                if missing:
                    raise LrnnInputError(f"{source} has no array '{missing[0]}' (found: {', '.join(found) or 'none'})")
                unpacked = sum(members[f"{n}.npy"].file_size for n in names)
                resources.guard(resources.Estimate(memory=NPZ_MEMORY_FACTOR * unpacked, seconds=None,
                                                   drivers=f"arrays {', '.join(names)} of "
                                                           f"{resources.format_size(unpacked)} unpacked"),
                                f"reading {source}")
                for name in names:  # every header first: nothing is unpacked unless all arrays are sound
                    info = members[f"{name}.npy"]
                    with archive.open(info) as member:
                        shape, dtype = _npy_header(member, name, source)
                    if dtype.hasobject or dtype.kind not in "biufc":
                        raise LrnnInputError(f"{source}: array '{name}' holds {dtype} values, not numbers")
                    needed = int(np.prod(shape, dtype=object)) * dtype.itemsize
                    if needed > info.file_size:
                        raise LrnnInputError(f"{source}: array '{name}' declares shape {shape} ({needed} bytes) but "
                                             f"holds {info.file_size} bytes; the file is damaged")
                arrays = []
                for name in names:
                    with archive.open(members[f"{name}.npy"]) as member:
                        arrays.append(np.lib.format.read_array(member, allow_pickle=False))
                return tuple(arrays)
        except LrnnInputError:
            raise
        except zipfile.BadZipFile as exc:
            detail = " ".join(str(exc).split())
            if "CRC" in detail:
                raise LrnnInputError(f"{source} is damaged ({detail})") from None
            raise LrnnInputError(f"{source} is not an NPZ archive ({detail}); save it with numpy.savez(path, X=X, "
                                 "Y=Y)") from None
        except (ValueError, EOFError, OSError, zlib.error, NotImplementedError, RuntimeError) as exc:
            raise LrnnInputError(f"{source} cannot be read as NPZ arrays: "
                                 f"{' '.join(str(exc).split())[:200] or exc.__class__.__name__}") from None
