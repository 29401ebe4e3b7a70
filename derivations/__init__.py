"""Symbolic derivations (sympy), one module per result of the paper.

Every module that defines ``RESULT`` (a short name) and ``report(task=None, fmt="pretty") -> str`` is a printable
result: ``lrnn derive --result NAME`` prints it, and ``python -m lrnn_theory.derivations.MODULE`` runs it end to end.
The symbolic side only returns sympy expressions; numeric code lives in ``lrnn_theory`` (``compile_*``, integrators).
"""
from __future__ import annotations

import importlib
import pkgutil

#: Output formats of every derivation report (here, not in mode_flow, so the command line reads them without sympy).
FORMATS = ("latex", "pretty", "text")
#: Old result names still accepted by ``lrnn derive --result`` (old name -> current name).
RESULT_ALIASES = {"io-solution": "frozen"}
#: Deprecated modules kept only so old imports work (they warn on import); result discovery skips them.
DEPRECATED_MODULES = ("io_solution",)


def available_results() -> dict:
    """Mapping from result name to its module's ``report`` function, discovered from this package."""
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name in DEPRECATED_MODULES:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "RESULT") and hasattr(module, "report"):
            found[module.RESULT] = module.report
    return found


def print_report(report, doc: str, argv=None) -> None:
    """Command line of a derivation module: ``python -m lrnn_theory.derivations.MODULE [--format ...]``."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--format", choices=FORMATS, default="pretty")
    args = parser.parse_args(argv)
    print(report(None, args.format), end="")
