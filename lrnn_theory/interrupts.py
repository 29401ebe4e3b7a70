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

EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143   # 128 + SIGTERM
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a command killed by it

#: Longest message printed (characters); longer ones are cut in the middle.
MAX_MESSAGE = 600


class Terminated(BaseException):
    """SIGTERM (or SIGHUP) arrived: unwinds the stack like KeyboardInterrupt so that temporary files are removed."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


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
    with contextlib.suppress(OSError, ValueError):
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
