"""Symbolic derivations (sympy), one module per result of the paper.

The derivations return sympy objects only: the numeric core compiles them (``lrnn_theory.compiled``) and the command
line renders them (``lrnn_theory.cli.reports``: ``lrnn derive --result NAME`` prints a result's derivations and,
for a task, its own numbers). A derivation costs up to seconds of sympy and is asked for by the command line, the
compiled functions and many tests alike, so each is derived once per process (``derivation``) and kept on disk for
the next process (``lrnn_theory.cache``: renewed whenever a derivation module, sympy or Python changes); sums of
several terms go to sympy term by term (``summation_by_terms``).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import numbers
import sys
from pathlib import Path

import sympy as sp

from .. import cache


def derivation(function=None, *, maxsize=None, keep_on_disk=None):
    """Memoise a pure derivation by its arguments: sympy takes seconds per derivation, and the same one is asked for
    by the command line, the compiled numeric functions and several tests in one process. ``maxsize`` bounds the
    memo (``derivation(maxsize=4096)``, for functions of expressions that vary with the task, such as printing).

    Every call hands back fresh containers (dicts, lists, sets, dataclasses, mutable matrices are copied; the sympy
    expressions inside are immutable and shared), so a caller that edits its result cannot change what the next
    caller gets. Only calls whose arguments are values (numbers, strings, sympy expressions, tuples of them) are
    memoised; any other argument (a task, a dict of rates) is derived afresh, as it may change between calls.

    The memoised results of the derivation modules' functions are also kept on disk (``lrnn_theory.cache``), so
    another process loads them instead of deriving them again (``LRNN_THEORY_CACHE=off``: every process derives
    afresh). ``keep_on_disk=True`` keeps those of a function defined elsewhere too, keyed by its own module's source
    as well; ``False`` keeps none. Never kept, whatever is asked: a function without a source file, a lambda, a
    function defined inside another (its name cannot tell two of them apart, nor their closures).
    """
    if function is None:
        return functools.partial(derivation, maxsize=maxsize, keep_on_disk=keep_on_disk)
    made = function
    if keep_on_disk is not False:
        def made(*args, **kwargs):
            origin = _origin(function, keep_on_disk)
            if origin is None:  # not one to keep
                return function(*args, **kwargs)
            key = call_key(origin, args, kwargs)
            result = _STORE.load(key)
            if result is cache.MISSING:
                result = function(*args, **kwargs)
                _STORE.store(key, result)
            return result

    memo = functools.lru_cache(maxsize=maxsize, typed=True)(made)  # typed: 1 and 1.0 derive differently

    @functools.wraps(function)
    def cached(*args, **kwargs):
        if not all(_is_value(arg) for arg in (*args, *kwargs.values())):
            return function(*args, **kwargs)
        return fresh_copy(memo(*args, **kwargs))

    cached.cache_clear = memo.cache_clear
    cached.cache_info = memo.cache_info
    return cached


def _sources_digest(folder: Path = Path(__file__).parent) -> str:
    """What the derivations' results depend on: the derivation modules' sources, sympy's version and Python's."""
    digest = hashlib.sha256(f"{sp.__version__}|{sys.version_info[:2]}".encode())
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


#: The derivations kept on disk, renewed with their sources.
_STORE = cache.ResultStore("derivations", _sources_digest())


@functools.lru_cache(maxsize=None)
def _origin(function, keep_elsewhere) -> str | None:
    """The name a function's results are kept on disk under, or None for a function whose results are not kept
    (see ``derivation``): module and qualified name, and for a function outside the derivation modules (whose
    sources are in ``_STORE``'s version) a digest of its own module's source."""
    name = f"{function.__module__}.{function.__qualname__}"
    try:
        path = Path(inspect.getsourcefile(function) or "")
    except TypeError:  # a builtin
        return None
    if "<" in function.__qualname__ or function.__closure__ or not path.is_file():  # <lambda>, <locals>
        return None
    if path.parent == Path(__file__).parent:
        return name
    if not keep_elsewhere:
        return None
    return f"{name}@{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}"


def call_key(name: str, args: tuple, kwargs: dict) -> str:
    """A text that identifies a memoised call, the same in every process: sympy arguments by ``srepr`` (names and
    assumptions), numbers by type and value (1 and 1.0 derive differently)."""
    def text(arg):
        if isinstance(arg, sp.Basic):
            return sp.srepr(arg)
        if isinstance(arg, tuple):
            return "(" + ",".join(map(text, arg)) + ")"
        if isinstance(arg, frozenset):
            return "{" + ",".join(sorted(map(text, arg))) + "}"
        return f"{type(arg).__name__}:{arg!r}"
    return name + text(args) + text(tuple(sorted((key, text(value)) for key, value in kwargs.items())))


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
