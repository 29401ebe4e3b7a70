"""The ``lrnn`` command line: the top layer of the package (nothing below imports it).

Each command is a module here with ``add_arguments(parser)`` and ``run(args) -> exit code``, listed in
``registry.COMMANDS``; ``runner`` parses the arguments, imports the chosen command's module only, runs it and turns
every failure into a one-line message and an exit code (``exit_codes``). The console script ``lrnn`` is ``run``.

This package's own import is standard-library only (``runner`` loads on first use of ``main``), so that ``run``
catches Ctrl-C and SIGTERM while numpy, scipy and sympy are still being imported.
"""
from __future__ import annotations

import importlib

from lrnn_theory import interrupts

#: Names of ``runner`` served from here on first use.
_RUNNER_NAMES = ("main", "build_parser", "ArgumentParser")

__all__ = ["run", *_RUNNER_NAMES]


def run() -> int:
    """Console entry point: catch Ctrl-C and SIGTERM from the start, then hand over to ``runner.main``."""
    try:
        with interrupts.signals_as_exceptions():
            from .runner import main  # inside: the handlers must be installed before numpy is imported
    except (KeyboardInterrupt, interrupts.Terminated) as exc:
        message, code = interrupts.interrupted_message(exc)
        interrupts.say("", message)
        return code
    return main()


def __getattr__(name):
    if name in _RUNNER_NAMES:
        return getattr(importlib.import_module(f"{__name__}.runner"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
