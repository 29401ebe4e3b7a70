"""Resource guard: estimate the memory (and roughly the time) of heavy work before doing it, refuse above a limit.

The estimates are upper-bound-minded counts of the large arrays each computation holds at once, in bytes, from the
sizes that drive them: modes K, steps T, output points, hidden width N_h, samples P and gradient steps. They are
deliberately simple (a factor of two either way is expected); their job is to stop a run that would exhaust the
machine's memory, or run for days, before it starts, with a message that gives the estimate and the remedy.

The limit is ``default_limit()`` (half the machine's memory, at most 8 GiB) unless raised or lowered with
``configure(max_memory)``; the command line's ``--max-memory SIZE`` does that for one command.

Examples
--------
>>> from lrnn_theory import resources
>>> est = resources.integrate_estimate(K=1, T=6, n_points=201)
>>> est.memory < 10**8
True
>>> resources.parse_size("1.5G")
1610612736
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from .errors import LrnnInputError

#: Most memory planned by default, before the machine's own size is taken into account.
DEFAULT_CAP = 8 * 2**30

#: Estimated run times above this many seconds are refused unless raised with ``configure(max_time=...)``
#: (``--max-time``).
MAX_SECONDS = 3600.0

#: Rough machine speed used for time estimates (floating-point operations per second, one core, numpy).
FLOPS = 1e9

_limit: int | None = None
_time_limit: float | None = None


@dataclass(frozen=True)
class Estimate:
    """Planned memory (bytes) and time (seconds, None when unknown) of one computation, with what drives them."""

    memory: float
    seconds: float | None
    drivers: str

    def describe(self) -> str:
        text = f"about {format_size(self.memory)}"
        if self.seconds is not None:
            text += f" and {format_seconds(self.seconds)}"
        return f"{text} ({self.drivers})"


def format_size(n: float) -> str:
    for unit, size in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} bytes"


def format_seconds(s: float) -> str:
    for unit, size in (("days", 86400.0), ("hours", 3600.0), ("min", 60.0)):
        if s >= size:
            return f"{s / size:.3g} {unit}"
    return f"{s:.2g} s"


def parse_size(text) -> int:
    """Bytes from ``"8G"``, ``"500M"``, ``"1.5GB"``, ``"2e9"`` (binary units: k = 1024)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([kKmMgGtT]?)[iI]?[bB]?\s*", str(text))
    if not match:
        raise LrnnInputError(f"parameter 'max_memory' must be a size such as 8G, 500M or 2e9 (bytes), got "
                             f"'{str(text)[:40]}'")
    value = float(match.group(1)) * 1024 ** "_KMGT".index(match.group(2).upper() or "_")
    if not 0 < value < 2**62:
        raise LrnnInputError(f"parameter 'max_memory' must be > 0 and below 4 EB, got '{str(text)[:40]}'")
    return int(value)


def physical_memory() -> int | None:
    """Total memory of the machine in bytes, where the system says."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def default_limit() -> int:
    """Half the machine's memory, at most ``DEFAULT_CAP``."""
    total = physical_memory()
    return min(DEFAULT_CAP, total // 2) if total else DEFAULT_CAP


def configure(max_memory=None, max_time=None) -> None:
    """Set the memory limit (a size string or bytes) and the time limit (seconds) for the following work; None
    restores the defaults."""
    global _limit, _time_limit
    _limit = None if max_memory is None else parse_size(str(max_memory))
    if max_time is None:
        _time_limit = None
    else:
        try:
            seconds = float(max_time)
        except (TypeError, ValueError):
            seconds = float("nan")
        if not 0 < seconds < float("inf"):
            raise LrnnInputError(f"parameter 'max_time' must be a number of seconds > 0, got '{str(max_time)[:40]}'")
        _time_limit = seconds


def limit() -> int:
    """The memory limit in bytes."""
    return default_limit() if _limit is None else _limit


def time_limit(default: float = MAX_SECONDS) -> float:
    """The time limit in seconds (``default`` unless configured)."""
    return default if _time_limit is None else _time_limit


def guard(estimate: Estimate, what: str, max_seconds: float = MAX_SECONDS) -> Estimate:
    """Raise ``LrnnInputError`` with the estimate when it is above the memory limit or the time limit."""
    allowed = limit()
    if estimate.memory > allowed:
        raise LrnnInputError(
            f"{what} would need {estimate.describe()}, more than the memory limit of {format_size(allowed)}; "
            f"reduce the sizes, or raise the limit with --max-memory (resources.configure) if the machine has it")
    seconds = time_limit(max_seconds)
    if estimate.seconds is not None and estimate.seconds > seconds:
        raise LrnnInputError(
            f"{what} would take {estimate.describe()}, more than the time limit of {format_seconds(seconds)}; "
            f"reduce the sizes, or raise the limit with --max-time SECONDS (resources.configure)")
    return estimate


# ---- estimates ------------------------------------------------------------------------------------------------
_F = 8  # bytes per float


def task_estimate(K: int, T: int) -> Estimate:
    """Building a task and the least any command does with it (the task sums and their evaluations in one
    integration to two output points): about 10 arrays of K x T."""
    work = integrate_estimate(K, T, 2)
    return Estimate(memory=work.memory, seconds=work.seconds, drivers=f"K={K} modes x T={T} steps")


def integrate_estimate(K: int, T: int, n_points: int, rhs_calls: int = 3000) -> Estimate:
    """``integrate``: task sums (about 10 arrays of K T), the solver's state and Jacobian, the output (a, b, c,
    energy and the solver's copy, n_points x 3K) and its CSV text; time from ``rhs_calls`` evaluations of K T."""
    K, T, n = float(K), float(T), float(n_points)
    sums = 10 * _F * K * T
    solver = 60 * _F * 3 * K
    output = _F * n * K * 16 + 100 * n * K + 3 * _F * min(n * K * T, 2e7)
    seconds = rhs_calls * (2e-4 + 40 * K * T / FLOPS) + 30 * n * K * T / FLOPS  # 40: measured, ~4e-8 s per K T
    return Estimate(memory=sums + solver + output, seconds=seconds,
                    drivers=f"K={K:.0f} modes, T={T:.0f} steps, {n:.0f} output points")


def train_estimate(K: int, T: int, hidden: int, n_samples: int, steps: int, data: str = "population",
                   records: int = 1000) -> Estimate:
    """``train_lrnn``: weights and gradients, the powers W_h^k W_x (N_h x T x K), population correlations or the
    samples (P x T x K inputs, P x N_h x T hidden states); time from the matrix products per gradient step."""
    K, T, N, P, S = (float(x) for x in (K, T, hidden, n_samples, steps))
    weights = 8 * _F * N * (N + 2 * K)
    if data == "samples":
        arrays = _F * (3 * P * T * K + 3 * P * T * N + P * K)
        flops = 6 * P * T * N * (N + K)
    else:
        arrays = _F * (2 * T * K * K + 4 * N * T * K)
        flops = 6 * T * N * K * (N + K)
    memory = weights + arrays + _F * records * (3 * K + 3 * N)
    return Estimate(memory=memory, seconds=S * flops / FLOPS,
                    drivers=f"N_h={N:.0f}, K={K:.0f}, T={T:.0f}, P={P:.0f} samples, {S:.0f} steps, {data} data")


#: Seconds per T^3.5 per printed mode of the sympy work in ``lrnn derive --result NAME`` with a task (measured on a
#: shared core: the recurrent-taylor report expands a polynomial of degree 2T - 1 per mode, 6 s at T = 200, 16 s at
#: T = 400, more than 390 s at T = 1000).
SYMBOLIC_SECONDS = {"recurrent-taylor": 1.3e-8}

#: Default time limit of ``lrnn derive`` (seconds): printing closed forms should not take long.
DERIVE_SECONDS = 120.0


def derive_estimate(result: str, K: int, T: int, modes_printed: int = 10) -> Estimate:
    """``lrnn derive`` with a task: the sympy work grows like T^3.5 per printed mode (measured)."""
    modes = min(float(K), modes_printed)
    per = SYMBOLIC_SECONDS.get(result)
    seconds = None if per is None else per * float(T) ** 3.5 * modes
    return Estimate(memory=2000.0 * float(T) * modes + 4 * _F * float(K) * float(T), seconds=seconds,
                    drivers=f"result {result}, T={T}, {modes:.0f} mode(s) printed")
