"""Symbolic derivations (sympy), one module per result of the paper.

The derivations return sympy objects only: the numeric core compiles them (``lrnn_theory.compiled``) and the command
line renders them (``lrnn_theory.cli.reports``: ``lrnn derive --result NAME`` prints a result's derivations and,
for a task, its own numbers).
"""
from __future__ import annotations


def per_mode(value, mode: int):
    """Entry ``mode`` of a task parameter given per mode (a sequence) or once for every mode (a number)."""
    try:
        values = list(value)
    except TypeError:  # a number (or a 0-d array): the same for every mode
        return value
    return values[mode] if len(values) > 1 else values[0]
