"""Signals, broken pipes and one-line messages for the ``lrnn`` command line.

Standard library only: the console entry point (``lrnn_theory.cli.run``) installs these handlers before numpy,
scipy and sympy are imported, and the file writers (``lrnn_theory.io``) unwind on ``Terminated`` like on Ctrl-C.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
import unicodedata

EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143   # 128 + SIGTERM
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a command killed by it
EXIT_IO_ERROR = 74      # EX_IOERR: standard output is closed or full

#: Longest message printed (characters); longer ones are cut in the middle.
MAX_MESSAGE = 600


class Terminated(BaseException):
    """SIGTERM (or SIGHUP) arrived: unwinds the stack like KeyboardInterrupt so that temporary files are removed."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class StreamError(Exception):
    """Standard output cannot be written (closed, or its device full): exit code 74 with one line."""


#: Plain-ASCII spellings of the non-ASCII characters lrnn prints, for a stdout that cannot encode them
#: (``PYTHONIOENCODING=ascii``); anything else becomes a backslash escape.
ASCII_SPELLING = {"\u03c4": "tau", "\u2265": ">=", "\u2264": "<=", "\u03bb": "lambda", "\u039b": "Lambda",
                  "\u03c3": "sigma", "\u03a3": "Sigma", "\u03b4": "delta", "\u0394": "Delta", "\u03b7": "eta",
                  "\u03ba": "kappa", "\u03b2": "beta", "\u03b1": "alpha", "\u03b8": "theta", "\u03c9": "omega",
                  "\u03c6": "phi", "\u03c0": "pi", "\u00d7": "x", "\u22c5": "*", "\u00b7": "*", "\u2212": "-",
                  "\u2013": "-", "\u2014": "--", "\u2192": "->", "\u2026": "...", "\u221e": "inf",
                  "\u00b1": "+-", "\u2248": "~", "\u2260": "!=", "\u00b2": "^2", "\u00b3": "^3", "\u221a": "sqrt",
                  "\u2211": "sum", "\u2202": "d", "\u2032": "'", "\u2018": "'", "\u2019": "'", "\u201c": '"',
                  "\u201d": '"'}


def ascii_text(text: str) -> str:
    """``text`` in plain ASCII: known symbols spelled out (``ASCII_SPELLING``), subscripts and superscripts as
    their digits, anything else as a backslash escape."""
    out = []
    for ch in text:
        if ch < "\x80":
            out.append(ch)
        elif ch in ASCII_SPELLING:
            out.append(ASCII_SPELLING[ch])
        else:
            plain = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append(plain or ch.encode("ascii", "backslashreplace").decode())
    return "".join(out)


def stdout_takes_unicode() -> bool:
    """Whether standard output's encoding holds the box-drawing and Greek characters of pretty-printed formulas."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        "\u03c4\u2500\u239b".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


class CheckedStdout:
    """Standard output for one command: a write that fails for lack of space or a closed descriptor raises
    ``StreamError`` (a closed pipe stays ``BrokenPipeError``, exit 141), and text the stream's encoding cannot hold
    is written in ASCII (``ascii_text``)."""

    def __init__(self, stream):
        self.stream = stream
        self._encoding = getattr(stream, "encoding", None) or "utf-8"

    def _call(self, method, *args):
        try:
            return method(*args)
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as exc:  # ValueError: I/O on a closed file
            reason = getattr(exc, "strerror", None) or str(exc)
            raise StreamError(f"cannot write to standard output ({reason})") from None

    def write(self, text):
        try:
            text.encode(self._encoding)
        except UnicodeEncodeError:
            text = ascii_text(text).encode(self._encoding, "backslashreplace").decode(self._encoding)
        except (LookupError, AttributeError):
            pass
        return self._call(self.stream.write, text)

    def flush(self):
        return self._call(self.stream.flush)

    def __getattr__(self, name):
        return getattr(self.stream, name)


@contextlib.contextmanager
def checked_streams():
    """For one command: stdout checked (``CheckedStdout``), and a closed stderr replaced by /dev/null so that exit
    codes stay as they are; yields whether stdout is open at all (the runner refuses to start when it is not)."""
    saved = sys.stdout, sys.stderr
    if sys.stderr is None:
        with contextlib.suppress(OSError):
            sys.stderr = open(os.devnull, "w")
    try:
        if sys.stdout is not None:
            sys.stdout = CheckedStdout(sys.stdout)
        yield sys.stdout is not None
    finally:
        if isinstance(sys.stdout, CheckedStdout):
            sys.stdout = saved[0]
        if saved[1] is None and sys.stderr is not None:
            with contextlib.suppress(OSError):
                sys.stderr.close()
            sys.stderr = None


def worker_signals() -> None:
    """Initializer of a worker process: SIGTERM and SIGHUP end it at once (the default action) instead of raising
    ``Terminated`` into the pool's job loop, which would only fail the current job and take the next; SIGINT (a
    Ctrl-C reaches the whole process group) is left to the parent, which then stops the workers (``stop_pool``)."""
    for name, action in (("SIGTERM", signal.SIG_DFL), ("SIGHUP", signal.SIG_DFL), ("SIGINT", signal.SIG_IGN)):
        signum = getattr(signal, name, None)
        if signum is not None:
            signal.signal(signum, action)


def stop_pool(pool, timeout: float = 5.0) -> None:
    """Stop a ``ProcessPoolExecutor`` now: queued jobs cancelled, running workers sent SIGTERM (SIGKILL after
    ``timeout`` seconds) and joined, so that an interrupted command leaves no process behind."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public way before Python 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    deadline = time.monotonic() + timeout
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(1.0)


def _raise_terminated(signum, frame):
    raise Terminated(signum)


@contextlib.contextmanager
def signals_as_exceptions():
    """SIGTERM and SIGHUP raise ``Terminated`` (SIGINT already raises KeyboardInterrupt) within the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None:
            previous[signum] = signal.signal(signum, _raise_terminated)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def one_line(text) -> str:
    """``text`` as one printable line: control characters (newlines in paths) escaped, lone surrogates shown as
    escapes, long text cut in the middle."""
    text = str(text)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    if len(text) > MAX_MESSAGE:
        text = f"{text[:MAX_MESSAGE // 2]} ...[{len(text) - MAX_MESSAGE} characters]... {text[-MAX_MESSAGE // 3:]}"
    return text


def say(prefix: str, message) -> None:
    """Print ``lrnn: prefix: message`` to stderr as one line (never raising, even on a closed stderr)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # AttributeError: no stderr at all
        sys.stderr.write(f"lrnn: {prefix}: {one_line(message)}\n" if prefix else f"lrnn: {one_line(message)}\n")
        sys.stderr.flush()


def silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so that the interpreter's last flush does not fail again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def interrupted_message(exc, written=()) -> tuple:
    """(message, exit code) for Ctrl-C or SIGTERM, saying whether any output had already been written."""
    what = "interrupted" if isinstance(exc, KeyboardInterrupt) else "terminated"
    code = EXIT_INTERRUPTED if isinstance(exc, KeyboardInterrupt) else EXIT_TERMINATED
    if written:
        return f"{what} after writing {', '.join(written)}", code
    return f"{what}; no output written", code
