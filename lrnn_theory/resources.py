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

import math
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


#: Calibration of the output of ``integrate`` per output time and per mode at each (energies, modes, the file's
#: text or arrays), between the two formats: measured 2.5-3.8 us (NPZ) and 12 us (CSV) per point at K = 2 with the
#: dense output of 0.5.2 (it was 3.5 and 9.7 us), so one estimate stays within 3x of both.
OUTPUT_POINT_SECONDS = 1e-6
OUTPUT_VALUE_SECONDS = 1.5e-6


def integrate_estimate(K: int, T: int, n_points: int, rhs_calls: int = 3000) -> Estimate:
    """``integrate``: task sums (about 10 arrays of K T), the solver's state and Jacobian, the output (a, b, c,
    energy and the solver's copy, n_points x 3K) and its CSV text; time from ``rhs_calls`` evaluations of K T."""
    K, T, n = float(K), float(T), float(n_points)
    sums = 10 * _F * K * T
    solver = 60 * _F * 3 * K
    output = _F * n * K * 16 + 100 * n * K + 3 * _F * min(n * K * T, 2e7)
    seconds = (rhs_calls * (2e-4 + 40 * K * T / FLOPS) + 30 * n * K * T / FLOPS  # 40: measured, ~4e-8 s per K T
               + n * (OUTPUT_POINT_SECONDS + OUTPUT_VALUE_SECONDS * K))
    return Estimate(memory=sums + solver + output, seconds=seconds,
                    drivers=f"K={K:.0f} modes, T={T:.0f} steps, {n:.0f} output points")


#: Calibration of ``train_estimate`` (process time on one shared core, measured with tests/test_reliability_round2
#: ``test_guard_estimates_are_calibrated``): a fixed cost per gradient step, a cost per step and per trajectory step
#: (the adjoint recursion loops over T), and the rate of the matrix products.
TRAIN_STEP_SECONDS = 4e-5
TRAIN_LAG_SECONDS = 3e-6
TRAIN_FLOPS = 1.5e10
#: Calibration of ``ntk_estimate``: a fixed cost per recorded kernel and the rate of its contractions.
NTK_RECORD_SECONDS = 2e-3


def train_estimate(K: int, T: int, hidden: int, n_samples: int, steps: int, data: str = "population",
                   records: int = 1000) -> Estimate:
    """``train_lrnn``: weights and gradients, the powers W_h^k W_x (N_h x T x K), population correlations or the
    samples (P x T x K inputs and their factor of second moments, ``validation.network.SampleLoss``); time from a
    fixed cost per gradient step and per trajectory step (``TRAIN_STEP_SECONDS``, ``TRAIN_LAG_SECONDS``: 9-20 h for
    10^9 steps of a small task, not seconds) and the matrix products per step (``TRAIN_FLOPS``). Samples add the
    products with their (T K)^2 factor per step and its QR once, not a cost per sample and step."""
    K, T, N, P, S = (float(x) for x in (K, T, hidden, n_samples, steps))
    weights = 8 * _F * N * (N + 2 * K)
    squarings = max(math.ceil(math.log2(max(T, 1))) - 1, 0)  # W_h^(2^j) of the powers by doubling
    flops = 6 * T * N * K * (N + K) + 2 * N ** 3 * squarings
    once = 0.0
    if data == "samples":
        width = T * K  # the lag design's width: the factor of the samples' second moments is (width, width)
        # the inputs are drawn, factorised (QR: a copy and the reflectors) and signed: four (P, T K) arrays at once
        arrays = _F * (4 * P * T * K + P * K + 2 * (width + K) ** 2)
        flops += 2 * K * N * width + 4 * K * width * width
        once = 2 * P * (width + K) ** 2 / TRAIN_FLOPS
    else:
        arrays = _F * (2 * T * K * K + 4 * N * T * K)
    memory = weights + arrays + _F * records * (3 * K + 3 * N)
    seconds = once + S * (TRAIN_STEP_SECONDS + TRAIN_LAG_SECONDS * T + flops / TRAIN_FLOPS)
    return Estimate(memory=memory, seconds=seconds,
                    drivers=f"N_h={N:.0f}, K={K:.0f}, T={T:.0f}, P={P:.0f} samples, {S:.0f} steps, {data} data")


def ntk_estimate(n_inputs: int, T: int, N_y: int, hidden: int, records: int, every_step: bool = False) -> Estimate:
    """The NTK recorded ``records`` times over ``n_inputs`` sequences (``lrnn_theory.ntk.empirical_ntk``): every
    kernel kept ((n_inputs S N_y)^2 entries, S = T outputs at every step, else 1), the maps W_y W_h^m per output
    step, and the contractions of n^2 T N_h per kernel."""
    P, T, Ny, N, R = (float(x) for x in (n_inputs, T, N_y, hidden, records))
    S = T if every_step else 1.0
    n = P * S * Ny
    memory = _F * (R * n * n + 4 * S * T * Ny * N + 2 * P * T * N + 4 * n * n)
    seconds = R * (NTK_RECORD_SECONDS + (2 * n * n * T * N + 2 * T * Ny * N * N + 4 * S * T * Ny * N * P) / TRAIN_FLOPS)
    return Estimate(memory=memory, seconds=seconds,
                    drivers=f"{R:.0f} kernels over {P:.0f} inputs x {S:.0f} output step(s) x N_y={Ny:.0f}, N_h={N:.0f}")


def combined(*estimates: Estimate) -> Estimate:
    """Work done one after the other: memories added (all held at the end), times added."""
    seconds = [e.seconds for e in estimates]
    return Estimate(memory=sum(e.memory for e in estimates),
                    seconds=None if any(x is None for x in seconds) else sum(seconds),
                    drivers="; ".join(e.drivers for e in estimates))


#: Seconds per T^3.5 per printed mode of the sympy work in ``lrnn derive --result NAME`` with a task (measured on a
#: shared core: the recurrent-taylor report expands a polynomial of degree 2T - 1 per mode, 6 s at T = 200, 16 s at
#: T = 400, more than 390 s at T = 1000).
SYMBOLIC_SECONDS = {"recurrent-taylor": 1.3e-8,
                    "every-step": 1.2e-8}  # every-step: 1.6 s of sympy at T = 200, 15 s at T = 400 (measured)

#: Default time limit of ``lrnn derive`` (seconds): printing closed forms should not take long.
DERIVE_SECONDS = 120.0


def derive_estimate(result: str, K: int, T: int, modes_printed: int = 10) -> Estimate:
    """``lrnn derive`` with a task: the sympy work grows like T^3.5 per printed mode (measured)."""
    modes = min(float(K), modes_printed)
    per = SYMBOLIC_SECONDS.get(result)
    seconds = None if per is None else per * float(T) ** 3.5 * modes
    return Estimate(memory=2000.0 * float(T) * modes + 4 * _F * float(K) * float(T), seconds=seconds,
                    drivers=f"result {result}, T={T}, {modes:.0f} mode(s) printed")


#: Seconds per step of the exact gradient-descent map (``finite_lr.DiscreteGD``): a fixed cost per step (the
#: Python loop and a dozen numpy calls of the generated step) plus one per mode and step of the task sums (measured on
#: one core, CPU: 5.9e-6 s at K T = 2, 1.3e-5 s at K T = 640, 1.1e-4 s at K T = 20,000, 7.0e-4 s at K T = 80,000).
DISCRETE_STEP_SECONDS = 6e-6
DISCRETE_SUM_SECONDS = 7e-9
#: The same for the map compiled with numba (``lrnn_theory.native``; CPU: 1.4e-7 s at K T = 2, 2.5e-6 s at K T = 640,
#: 6.6e-6 s at K = 300, T = 6, 7.9e-5 s at K = 10, T = 1,000, 6.2e-5 s at K = 1,000, T = 20), and what loading it
#: costs a process (numba's import and its on-disk cache: 0.6 s CPU; the very first run on a machine also compiles
#: it, ~2.5 s per layout). ``DiscreteGD(backend="auto")`` compares the two estimates.
COMPILED_STEP_SECONDS = 2e-7
COMPILED_SUM_SECONDS = 4e-9
COMPILED_LOAD_SECONDS = 0.6


def discrete_estimate(K: int, T: int, steps: int, records: int, compiled: bool = False) -> Estimate:
    """``integrate(method=DiscreteGD(...))``: ``steps`` explicit steps of K modes (task sums of K T each), and
    ``records`` recorded states; ``compiled``: by the map compiled with numba."""
    K, T, S, R = float(K), float(T), float(steps), float(records)
    memory = 10 * _F * K * T + 12 * _F * R * K
    if compiled:
        seconds = COMPILED_LOAD_SECONDS + S * (COMPILED_STEP_SECONDS + COMPILED_SUM_SECONDS * K * T)
    else:
        seconds = S * (DISCRETE_STEP_SECONDS + DISCRETE_SUM_SECONDS * K * T)
    return Estimate(memory=memory, seconds=seconds, drivers=f"{S:.3g} steps of K={K:.0f} modes, T={T:.0f}")


# ---- scale ---------------------------------------------------------------------------------------------------
#: Widest range of tau and of the singular values' magnitude the integrators work in: squares and products of the
#: flow (s^2 in the energy, s / tau in the rates) must stay far from the ends of floating point (1e-308, 1e308).
SCALE_RANGE = 1e100
#: Largest recurrent gain a task may ask of a mode: step i reaches the output through b^(T-i), so a mode needs
#: b of about (s_i / s_T)^(1/(T-i)); beyond this the flow spans more decades than a solver crosses in reasonable time
#: (a one-mode task [[1e10, 1]] ran for minutes before failing).
MAX_IMPLIED_GAIN = 1e6


def check_scale(task) -> None:
    """Refuse, fast and with the remedy, a task whose scales integration cannot handle: tau or the singular values
    beyond ``SCALE_RANGE`` (tau only sets the unit of time; a common factor of s scales the solution's u), or a mode whose
    steps ask for a recurrent gain beyond ``MAX_IMPLIED_GAIN``."""
    import numpy as np

    tau = float(task.tau)
    if not 1 / SCALE_RANGE <= tau <= SCALE_RANGE:
        raise LrnnInputError(f"parameter 'tau' must lie within [{1 / SCALE_RANGE:g}, {SCALE_RANGE:g}] for "
                             f"integration, got {tau:g}: tau only sets the unit of time, so set tau = 1 and give t_end "
                             "in units of tau (t_end / tau)")
    s = np.abs(np.asarray(task.singular_values))
    if getattr(task, "singular_values_imag", None) is not None:
        s = np.hypot(s, np.abs(np.asarray(task.singular_values_imag)))
    largest = float(s.max()) if s.size else 0.0
    smallest = float(s[s > 0].min()) if np.any(s > 0) else 0.0
    if largest > SCALE_RANGE or 0 < largest < 1 / SCALE_RANGE:
        raise LrnnInputError(f"parameter 'singular_values' must have magnitudes within [{1 / SCALE_RANGE:g}, "
                             f"{SCALE_RANGE:g}] for integration, got values up to {largest:.3g}: divide them by a "
                             "common factor c (the zero-loss u = a c divides by c, b is unchanged; learning runs on "
                             "other time scales)")
    if s.ndim != 2 or s.shape[1] < 2:
        return
    last = s[:, -1]  # s_T: the step that reaches the output through b^0
    lags = np.arange(s.shape[1] - 1, 0, -1, dtype=float)  # T - i for i = 1..T-1
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_gain = (np.log10(s[:, :-1]) - np.log10(last)[:, None]) / lags
    log_gain = np.where((s[:, :-1] > 0) & (last[:, None] > 0), log_gain, -np.inf)
    worst = np.unravel_index(int(np.argmax(log_gain)), log_gain.shape)
    gain = float(10 ** log_gain[worst]) if np.isfinite(log_gain[worst]) else 0.0
    if gain > MAX_IMPLIED_GAIN:
        mode, step = int(worst[0]), int(worst[1]) + 1
        raise LrnnInputError(f"parameter 'singular_values': mode {mode} asks for a recurrent gain b of about {gain:.3g} "
                             f"(s at step {step} is {s[mode, step - 1]:.3g} against s_T = {last[mode]:.3g}), beyond "
                             f"{MAX_IMPLIED_GAIN:g}: integration cannot reach it in reasonable time; rescale the steps "
                             "(the ratio of singular values across steps sets the gain) or drop the weak final step")
