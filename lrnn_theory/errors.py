"""Exceptions raised by lrnn-theory, and the validators that raise them.

Every message is one line that names the offending parameter and echoes its value and type, so the CLI can print
it as-is (exit code 2) and a library user can read what went wrong without a traceback.
"""
from __future__ import annotations

import math
from numbers import Real

import numpy as np


class LrnnError(Exception):
    """Base class of every error lrnn-theory raises on purpose."""


class LrnnInputError(LrnnError, ValueError):
    """A parameter, file or field has a value that cannot be used."""


class DivergenceError(LrnnError, ArithmeticError):
    """The learning dynamics (ODE flow or gradient descent) blew up.

    Attributes
    ----------
    time : float or None
        Theory time t/tau (or training step for the harness) at which divergence was detected.
    mode : int or None
        Index of the first mode that diverged, numbered from 0.
    """

    def __init__(self, message: str, time: float | None = None, mode: int | None = None):
        super().__init__(message)
        self.time = time
        self.mode = mode


class IntegrationError(LrnnError, RuntimeError):
    """The ODE solver could not make progress (for example a step-size underflow on a badly scaled problem)."""


def describe(value) -> str:
    """``repr`` of a value followed by its type, shortened for arrays."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} ({value.dtype})"
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})"


def bad(name: str, value, requirement: str) -> LrnnInputError:
    """Build the standard one-line error: ``parameter 'name' must <requirement>, got <value> (<type>)``."""
    return LrnnInputError(f"parameter '{name}' must {requirement}, got {describe(value)}")


def not_defined(result: str, task, why: str) -> LrnnInputError:
    """The one-line refusal of a result whose mathematics does not exist for this kind of task.

    ``task.kind`` names the kind ("real", "complex", "every-step", "complex every-step"); ``why`` says what is
    missing, e.g. "the paper's Dirac family has no every-step form".
    """
    kind = getattr(task, "kind", "this")
    return LrnnInputError(f"parameter 'task': {result} is not defined for {kind} tasks: {why}")


def check_real(name: str, value, *, positive: bool = False, nonnegative: bool = False) -> float:
    """Return ``value`` as a finite float, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (Real, np.floating, np.integer)):
        raise bad(name, value, "be a real number")
    value = float(value)
    if not math.isfinite(value):
        raise bad(name, value, "be finite")
    if positive and value <= 0:
        raise bad(name, value, "be > 0")
    if nonnegative and value < 0:
        raise bad(name, value, "be >= 0")
    return value


def check_int(name: str, value, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise bad(name, value, "be an integer")
    value = int(value)
    if minimum is not None and value < minimum:
        raise bad(name, value, f"be >= {minimum}")
    return value


def check_finite_array(name: str, value, *, ndim: int | None = None, allow_complex: bool = False) -> np.ndarray:
    """Convert ``value`` to a non-empty, finite float (or complex) array, or raise naming ``name``."""
    if _holds_bool(value):
        raise bad(name, value, "hold numbers, not true/false")
    if isinstance(value, np.ma.MaskedArray):  # np.asarray would silently use the values under the mask
        if np.ma.is_masked(value):
            raise bad(name, value, "hold no masked entries (fill or drop them first)")
        value = value.data
    try:
        arr = np.asarray(value)
    except ValueError:  # ragged nested lists
        raise bad(name, value, "be a rectangular array (rows of equal length)") from None
    if arr.dtype == object:
        raise bad(name, value, "be a rectangular array of numbers (rows of equal length)")
    if arr.dtype.kind not in "iufc":
        raise bad(name, value, "hold numbers")
    if arr.dtype.kind == "c" and not allow_complex:
        raise bad(name, value, "be real (complex values are not supported here)")
    arr = arr.astype(complex if arr.dtype.kind == "c" else float)
    if arr.size == 0:
        raise bad(name, value, "be non-empty")
    if ndim is not None and arr.ndim != ndim:
        raise LrnnInputError(f"parameter '{name}' must have {ndim} dimension(s), got an array of shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise bad(name, value, "hold only finite values (no NaN or inf)")
    return arr


def _holds_bool(value) -> bool:
    """True for a bool, a boolean array, or a (nested) list holding a bool (numpy would silently make it 0 or 1)."""
    if isinstance(value, (bool, np.bool_)):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind == "b"
    if isinstance(value, (list, tuple)):
        return any(_holds_bool(v) for v in value)
    return False
