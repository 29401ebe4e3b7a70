"""Symbolic derivations (sympy), one module per result of the paper.

Every module that defines ``RESULT`` (a short name) and ``report(task=None, fmt="pretty") -> str`` is a printable
result: ``lrnn derive --result NAME`` prints it. The derivations return sympy expressions only; the numeric core
compiles them (``lrnn_theory.compiled``) and the command line (``lrnn_theory.cli``) prints them.
"""
from __future__ import annotations

import importlib
import pkgutil

#: Output formats of every derivation report (here, not in mode_flow, so the command line reads them without sympy).
FORMATS = ("latex", "pretty", "text")


def per_mode(value, mode: int):
    """Entry ``mode`` of a task parameter given per mode (a sequence) or once for every mode (a number)."""
    try:
        values = list(value)
    except TypeError:  # a number (or a 0-d array): the same for every mode
        return value
    return values[mode] if len(values) > 1 else values[0]


def available_results() -> dict:
    """Mapping from result name to its module's ``report`` function, discovered from this package."""
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "RESULT") and hasattr(module, "report"):
            found[module.RESULT] = module.report
    return found
