"""Symbolic derivations (sympy), one module per result of the paper.

The derivations return sympy objects only: the numeric core compiles them (``lrnn_theory.compiled``) and the command
line renders them (``lrnn_theory.cli.reports``: ``lrnn derive --result NAME`` prints a result's derivations and,
for a task, its own numbers). A derivation costs up to seconds of sympy and is asked for by the command line, the
compiled functions and many tests alike, so each is derived once per process (``derivation``); sums of several terms
go to sympy term by term (``summation_by_terms``).
"""
from __future__ import annotations

import dataclasses
import functools
import numbers

import sympy as sp


def derivation(function=None, *, maxsize=None):
    """Memoise a pure derivation by its arguments: sympy takes seconds per derivation, and the same one is asked for
    by the command line, the compiled numeric functions and several tests in one process. ``maxsize`` bounds the
    memo (``derivation(maxsize=4096)``, for functions of expressions that vary with the task, such as printing).

    Every call hands back fresh containers (dicts, lists, sets, dataclasses, mutable matrices are copied; the sympy
    expressions inside are immutable and shared), so a caller that edits its result cannot change what the next
    caller gets. Only calls whose arguments are values (numbers, strings, sympy expressions, tuples of them) are
    memoised; any other argument (a task, a dict of rates) is derived afresh, as it may change between calls.
    """
    if function is None:
        return functools.partial(derivation, maxsize=maxsize)
    memo = functools.lru_cache(maxsize=maxsize, typed=True)(function)  # typed: 1 and 1.0 derive differently

    @functools.wraps(function)
    def cached(*args, **kwargs):
        if not all(_is_value(arg) for arg in (*args, *kwargs.values())):
            return function(*args, **kwargs)
        return fresh_copy(memo(*args, **kwargs))

    cached.cache_clear = memo.cache_clear
    cached.cache_info = memo.cache_info
    return cached


def _is_value(arg) -> bool:
    """Whether ``arg`` is an immutable value that identifies a derivation (a cache key)."""
    if isinstance(arg, (tuple, frozenset)):
        return all(_is_value(item) for item in arg)
    return arg is None or isinstance(arg, (numbers.Number, str, sp.Basic))  # (the name complex is a submodule)


def fresh_copy(value):
    """``value`` with every mutable container copied (recursively); sympy expressions and other objects as they are."""
    if isinstance(value, dict):
        return {key: fresh_copy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        items = [fresh_copy(item) for item in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)  # a namedtuple, or not
    if isinstance(value, sp.MatrixBase) and not isinstance(value, sp.Basic):  # immutable matrices are Basic
        return value.copy()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: fresh_copy(getattr(value, f.name))
                                             for f in dataclasses.fields(value) if f.init})
    return value


def summation_by_terms(summand, limits):
    """``sympy.summation`` of the expanded ``summand`` over ``limits`` (i, first, last), one term at a time.

    Given a sum of terms, sympy first tries to pair them telescopically, a ``solve`` per pair that never applies to
    the geometric and power sums here and costs up to half of the summation; term by term it sums each the way it
    would have after that attempt, to the same closed form.
    """
    return sp.Add(*[sp.summation(term, limits) for term in sp.Add.make_args(sp.expand(summand))])


def per_mode(value, mode: int):
    """Entry ``mode`` of a task parameter given per mode (a sequence) or once for every mode (a number)."""
    try:
        values = list(value)
    except TypeError:  # a number (or a 0-d array): the same for every mode
        return value
    return values[mode] if len(values) > 1 else values[0]
