"""The user's cache directory, shared by everything lrnn-theory keeps between processes.

Two things are kept there, each renewed when the code that makes it changes:

* the memoised sympy derivations (``derivations.derivation``), pickled under ``derivations-<digest>/``, where the
  digest is that of the derivation modules' sources, sympy's version and Python's: a new process (a command, a
  test run, a pool worker) loads a result in milliseconds instead of deriving it again (up to seconds each);
* the compiled exact map's kernels (``lrnn_theory.native``, the ``fast`` extra).

The directory is ``$LRNN_THEORY_CACHE``, else ``$XDG_CACHE_HOME/lrnn-theory`` (an absolute ``XDG_CACHE_HOME`` only,
as the XDG rules say), else ``~/.cache/lrnn-theory``. ``LRNN_THEORY_CACHE=off`` keeps nothing: every process derives
afresh (the compiled map then goes to a private temporary directory, as it does when the cache cannot be written).
A file that cannot be read back (cut short, from another version, larger than ``MAX_ENTRY_BYTES``) is a miss, never
an error, and a directory that cannot be written only costs the time the cache would have saved. Results are
unpickled (and generated code run) only from a directory that is this user's and writable by nobody else, and only
files this user owns (``trusted``): anything else is a miss, as if the cache were off.

This module sits in the lowest layer with ``lrnn_theory.errors``: the standard library only.
"""
from __future__ import annotations

import getpass
import hashlib
import os
import pickle
import re
import stat
import tempfile
from pathlib import Path

#: ``LRNN_THEORY_CACHE`` values that turn the cache off.
OFF = ("off", "0", "no", "none", "false")
#: Entries are read only up to this size: a reader of the cache is bounded like every other reader.
MAX_ENTRY_BYTES = 64 * 2**20
#: Raised with the layout of the pickled entries, so that a change of it renews them.
FORMAT = 1

_MISSING = object()


def enabled() -> bool:
    """Whether results are kept between processes (``LRNN_THEORY_CACHE`` is not ``off``)."""
    return os.environ.get("LRNN_THEORY_CACHE", "").strip().lower() not in OFF


def cache_directory() -> Path:
    """The cache directory (see the module's text); read at each use, so a process may change it."""
    chosen = os.environ.get("LRNN_THEORY_CACHE")
    if chosen and enabled():
        return Path(chosen).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache") / "lrnn-theory"


def trusted(directory: Path) -> bool:
    """Whether what ``directory`` holds may be loaded (unpickled, or run as code): it is a directory of this user's
    that nobody else can write to."""
    try:
        status = directory.stat()
    except OSError:
        return False
    return stat.S_ISDIR(status.st_mode) and status.st_uid == _user_id(status) and not status.st_mode & 0o022


def _user_id(status) -> int:
    """This process's user id (where the platform has one; else the owner's, so that ownership is not checked)."""
    return getattr(os, "getuid", lambda: status.st_uid)()


def write_whole(path: Path, data: bytes, mode: int = 0o644):
    """Write ``data`` to ``path`` whole or not at all (another process may be reading it)."""
    handle, staged = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(staged, mode)
        os.replace(staged, path)
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise


def private_temporary_directory() -> Path:
    """``lrnn-theory-USER`` in the temporary directory when it is this user's and writable by nobody else (code is
    loaded from it), else a new directory of its own (no reuse across processes)."""
    directory = Path(tempfile.gettempdir()) / f"lrnn-theory-{getpass.getuser()}"
    try:
        directory.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        pass
    return directory if trusted(directory) else Path(tempfile.mkdtemp(prefix="lrnn-theory-"))


class ResultStore:
    """Pickled results of pure functions under ``<cache>/<kind>-<version>/``, one file per call key.

    ``version`` names what made the results (a digest of the code's sources and the libraries' versions: 16
    hexadecimal digits); the store's own directories of the same ``kind`` with another version (``<kind>-`` and 16
    hexadecimal digits, holding only entries' names) are emptied and removed when the first result of this one is
    stored. Only results that come back from pickle equal to themselves are stored.
    """

    def __init__(self, kind: str, version: str):
        if not re.fullmatch(r"[0-9a-f]{16}", version):
            raise ValueError(f"version must be 16 hexadecimal digits, got {version!r}")
        self.kind, self.version = kind, version
        self._cleaned = False

    def _folder(self) -> Path:
        return cache_directory() / f"{self.kind}-{self.version}"

    def _path(self, key: str) -> Path:
        return self._folder() / (hashlib.sha256(f"{FORMAT}|{key}".encode()).hexdigest()[:32] + ".pickle")

    def load(self, key: str, default=_MISSING):
        """The result stored under ``key``, or ``default`` (``MISSING``) when there is none that can be read."""
        if not enabled() or not (trusted(self._folder()) and trusted(self._folder().parent)):
            return default
        try:
            with open(self._path(key), "rb") as file:
                status = os.fstat(file.fileno())
                if status.st_uid != _user_id(status):
                    return default
                data = file.read(MAX_ENTRY_BYTES + 1)
            if len(data) > MAX_ENTRY_BYTES:
                return default
            stored_key, value = pickle.loads(data)
        except Exception:  # absent, unreadable, cut short, or pickled by other code: a miss
            return default
        return value if stored_key == key else default  # a hash collision is a miss too

    def store(self, key: str, value) -> bool:
        """Keep ``value`` under ``key``; False (and nothing written) when it cannot be pickled faithfully or the
        directory cannot be written."""
        if not enabled():
            return False
        try:
            data = pickle.dumps((key, value), protocol=pickle.HIGHEST_PROTOCOL)
            if len(data) > MAX_ENTRY_BYTES or pickle.loads(data)[1] != value:
                return False
            folder = self._folder()
            folder.mkdir(parents=True, exist_ok=True)
            if not (trusted(folder) and trusted(folder.parent)):  # it would not be loaded
                return False
            self._remove_other_versions(folder)
            write_whole(self._path(key), data)
        except Exception:  # unpicklable (a lambda inside), unwritable or full: the result is only not kept
            return False
        return True

    def _remove_other_versions(self, folder: Path):
        """Remove this store's directories of other versions (once per process): only the entries it names, and the
        directory when nothing else is left in it."""
        if self._cleaned:
            return
        self._cleaned = True
        for other in folder.parent.glob(f"{self.kind}-*"):
            if other == folder or not re.fullmatch(re.escape(self.kind) + r"-[0-9a-f]{16}", other.name):
                continue
            if not trusted(other):
                continue
            for entry in other.iterdir():
                if re.fullmatch(r"[0-9a-f]{32}\.pickle", entry.name) and entry.is_file():
                    entry.unlink(missing_ok=True)
            try:
                other.rmdir()
            except OSError:  # another process is writing there, or foreign files: left alone
                pass


MISSING = _MISSING
