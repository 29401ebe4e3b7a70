"""Numeric side of the mode flow: compile the derived ODEs into vectorized numpy functions and integrate them.

``compile_flow`` (``lrnn_theory.flow_field``, importable from here) evaluates the three per-mode right-hand sides and
the 3x3 Jacobian derived in ``lrnn_theory.derivations.mode_flow`` (written through the task sums A(b), B(b) and their
derivatives, compiled by ``lrnn_theory.compiled``), with the task sums of all K modes and all T steps from one matrix
product over a table of powers of b. There is no Python loop over modes or steps, and nothing symbolic grows with T.

``integrate`` runs the batched per-mode solver (``lrnn_theory.solvers.solve_blocks``: every mode its own step size,
through ``rates_blocks`` and ``jacobian_blocks`` on (K, m) states) by default, or ``scipy.integrate.solve_ivp`` with
the state laid out as [a_0, b_0, c_0, a_1, b_1, c_1, ...] so that the Jacobian is banded (see
``lrnn_theory.solvers``), or the modified flow and the exact gradient-descent map of ``lrnn_theory.finite_lr``; the
method dispatch is in one place, in ``integrate``. Complex (rotational) tasks go through the same pipeline with complex
task sums and the Wirtinger flow of ``lrnn_theory.derivations.complex``: their state holds the real and imaginary
parts, so the blocks are 6x6 (``CompiledFlow.block_size``). The kind of task is chosen once, from the dtype of its
values, as the mode layout (``flow_field.RealModes``, ``flow_field.ComplexModes``) of the compiled flow.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from . import resources
from .errors import DivergenceError, IntegrationError, LrnnError, LrnnInputError, bad, check_int, check_real
from .finite_lr import DiscreteGD, compile_modified_flow
# compile_flow, CompiledFlow and output_times stay importable from here (``from lrnn_theory.flow import compile_flow``)
from .flow_field import CompiledFlow, RealModes, check_final_time, compile_flow, output_times
from .solvers import CONVERGED, BatchedBalanced, _einsum, projected_count, resolve_solver, solve_blocks
from .tasks import coerce_task
from .trajectory import Trajectory


@dataclass
class _Converged:
    """Terminal event: every rate below ``tol`` (the energy has stopped changing)."""

    flow: CompiledFlow
    tol: float
    terminal = True
    direction = -1

    def __call__(self, t, y):
        return np.maximum.reduce(np.abs(self.flow.rates(t, y, count=False))) - self.tol  # (.max(), unwrapped)


@dataclass
class _Blowup:
    """Terminal event: |a|, |c| or the recurrent gain |b|^(T-1) of some mode exceeds ``threshold``.

    The recurrent gain is what explodes hidden activity and gradients; on short sequences b can run away (no
    finite minimiser) long before any number overflows, so it is watched directly. Logs avoid overflow.
    """

    threshold: float
    T: int
    layout: RealModes
    terminal = True
    direction = 1

    def __post_init__(self):
        self._log_threshold = np.log(self.threshold)  # (the event is evaluated at every step of a scipy solver)

    def largest_gain_rows(self, Yr):
        """Largest of log|a|, (T-1) log|b|, log|c| per mode, from states stored as rows Yr (m, k). A strength of 0
        gives log 0 = -inf, silently under ``np.errstate(divide="ignore")``: the batched solver calls this at every
        step under it (its loop ignores every floating-point warning), ``largest_gain`` sets it."""
        logs = np.log(self.layout.magnitudes(Yr))  # a new (3, k) array: scaled in place (called every step)
        if self.T > 1:
            logs[1] *= self.T - 1
        else:
            logs[1] = 0.0  # T = 1: b never acts (avoid 0 * -inf)
        return np.maximum.reduce(logs, axis=0)  # (logs.max without the method's Python wrapper)

    def largest_gain(self, y):
        """``largest_gain_rows`` from a flat state (m K,) or (K, m) blocks."""
        with np.errstate(divide="ignore"):
            return self.largest_gain_rows(np.reshape(y, (-1, self.layout.block_size)).T)

    def __call__(self, t, y):
        return np.maximum.reduce(self.largest_gain(y)) - self._log_threshold



#: Names ``integrate(frozen=)`` accepts: the modes, and the weights that carry them (W_x: a, W_h: b, W_y: c).
FROZEN_NAMES = {"a": "a", "b": "b", "c": "c", "W_x": "a", "W_h": "b", "W_y": "c"}


def frozen_modes(frozen) -> tuple:
    """The mode names among a, b, c in ``frozen`` (mode or weight names, one name may be a string), in order."""
    names = (frozen,) if isinstance(frozen, str) else frozen
    try:
        names = set(names)
    except TypeError:
        raise bad("frozen", frozen, "be a subset of a, b, c (or of W_x, W_h, W_y)") from None
    if not names <= set(FROZEN_NAMES):
        raise bad("frozen", frozen, "be a subset of a, b, c (or of W_x, W_h, W_y)")
    return tuple(m for m in "abc" if m in {FROZEN_NAMES[n] for n in names})


def integrate(task, t_end: float | None = None, *, n_points: int = 201, t_eval=None, method=None,
              rtol: float | None = None, atol: float | None = None, converged_tol: float | None = None,
              divergence_threshold: float | None = None, lr_correction=None, frozen=(),
              t_max: float | None = None) -> Trajectory:
    """Integrate the gradient flow of the connectivity modes of ``task``.

    Parameters
    ----------
    task : Task, dict or path
        The task (singular values, initial a, b, c, tau).
    t_end : float or None, optional
        Final time, in units where tau multiplies the left side (tau * da/dt = ...). None (the default): integrate
        until every mode has converged (``mode_convergence``), at most to ``t_max``; see the Notes.
    n_points : int, optional
        Number of equally spaced output times from 0 to ``t_end`` (ignored when ``t_eval`` is given).
    t_eval : array_like, optional
        Explicit output times: finite, strictly increasing, within [0, t_end].
    method : str or lrnn_theory.solvers.Solver or lrnn_theory.finite_lr.DiscreteGD, optional
        Integration strategy: "Batched" (default: one step size per mode, RODAS4 on the m x m Jacobian blocks, see
        ``lrnn_theory.solvers.solve_blocks``) or a scipy method by name ("LSODA", "BDF", "Radau", "RK45",
        "DOP853"). With the default, a badly scaled task on which the solver fails (not one that diverges) is
        retried in the balanced coordinates u = a c, b, w = a^2 - c^2 (real tasks, ``BalancedModes``), then with
        the methods of ``FALLBACK_METHODS``; ``info["attempts"]`` lists what failed first. A method
        given explicitly is not replaced. ``DiscreteGD(lr=, loss=)`` runs the exact gradient-descent map of an
        aligned network instead (output at the steps nearest ``t_eval``).
    rtol, atol : float, optional
        Override the solver's tolerances.
    converged_tol : float, optional
        Tolerance of the convergence test ``mode_convergence`` (default ``CONVERGED_TOL`` = 1e-6), which fills
        ``info["converged"]``. Given together with ``t_end``, it also stops the integration early: each mode stops
        (and keeps its state) once every |d(theta)/dt| < converged_tol (a stricter condition than the test's), the
        whole run once every mode has.
    divergence_threshold : float, optional
        Raise ``DivergenceError`` when |a|, |c| or the recurrent gain |b|^(T-1) of a mode exceeds this value.
        By default ``default_divergence_threshold(task)``: 1e8, or 1e3 times the task's own scale (its largest
        singular value times its dynamic range) when that is larger, so that a zero-loss solution that needs a large
        gain is not taken for divergence.
    lr_correction : float or DiscreteGD, optional
        Integrate the modified flow of E + (h/4) ||grad E||^2, which gradient descent follows to O(h^2): a float is
        the learning rate on the theory's loss ``sum_half`` (h = lr_correction * tau), a ``DiscreteGD`` gives the
        learning rate and loss convention (see ``lrnn_theory.finite_lr``).
    frozen : iterable of {"a", "b", "c"}, optional
        Modes held at their initial values while the others follow the flow (the gradient flow with those weights
        frozen: "W_x", "W_h", "W_y" are accepted for a, b, c). Their rates and Jacobian rows are zero in every
        method. Not with ``lr_correction`` or ``DiscreteGD``. ``info["frozen"]`` lists them.
    t_max : float, optional
        Only without ``t_end``: the largest time integrated while waiting for convergence (default
        ``CONVERGENCE_T_MAX`` = 1e6 tau).

    Returns
    -------
    Trajectory
        ``info`` holds the method, ``nfev``, ``njev`` (vectorized calls for the batched solver), ``status`` (1 when
        stopped by ``converged_tol``) and the final time reached; the batched solver adds the largest and median
        number of steps per mode and the rejected steps. Every trajectory also carries the convergence test at its
        last time (``check_convergence``): ``converged`` (a bool per mode), ``not_converged`` (the indices of the
        modes still moving), ``converged_tol``, ``relative_rate`` and ``growth`` per mode; without ``t_end`` also
        ``t_converged`` (the first time at which every mode had converged, None if the cap was hit),
        ``t_converged_modes`` and ``t_max``.

    Raises
    ------
    DivergenceError
        When a mode overflows or grows past ``divergence_threshold``; the message gives the time and the mode.
    IntegrationError
        When no method can integrate the task (too badly scaled for floating point), with the remedy.

    Notes
    -----
    Convergence: a mode has converged when its flow has (numerically) stopped at a stable fixed point: every
    strength changes by less than a fraction ``converged_tol`` of its size (or of 1, below 1) per unit of time,
    max(|da/dt|, |db/dt|, |dc/dt|) <= converged_tol * max(1, |a|, |b|, |c|), and no direction of its flow grows
    (the largest eigenvalue of the symmetric part of its flow Jacobian is at most converged_tol), so a mode resting
    at a saddle (a plateau of small initial values, or a = c = 0 exactly) is not counted (``mode_convergence``).
    Without ``t_end`` the task is first integrated to ``t_max`` with output times spaced evenly in log t
    (``SEARCH_POINTS_PER_DECADE`` per decade); the first of those times at which every mode has converged, times
    ``CONVERGED_MARGIN``, ends the returned trajectory (``n_points`` times from 0), and ``t_converged`` is the first
    of its own times at which every mode has converged. A mode that runs away (a recurrent mode with no finite
    minimum, |b| growing without bound) raises ``DivergenceError`` when its growth is predicted to pass
    ``divergence_threshold`` before ``t_max``; a mode that has not converged by ``t_max`` leaves ``t_converged``
    None and is named in ``not_converged`` (the trajectory is then the search's, on its log-spaced times). Explicit
    methods (RK45, DOP853) are refused without ``t_end``: on this stiff flow they need steps in proportion to
    ``t_max``. The test bounds rates, not the distance still to go: a mode approaching at rate lambda is still about
    converged_tol / lambda (relative) from its end point, and one that crawls (a power law in t) counts as converged
    once it crawls below the tolerance: lower ``converged_tol`` to see further.

    Examples
    --------
    >>> from lrnn_theory import Task, integrate
    >>> traj = integrate(Task.inverse_exponential(delta=1.0, lam=0.5, T=4), t_end=200.0)
    >>> round(float(traj.b[-1, 0]), 4), round(float(traj.u[-1, 0]), 4)
    (0.5, 1.0)
    >>> traj = integrate(Task.inverse_exponential(delta=1.0, lam=0.5, T=4))   # to convergence
    >>> traj.info["not_converged"], bool(5 < traj.info["t_converged"] < traj.t[-1])
    ([], True)
    """
    options = dict(method=method, rtol=rtol, atol=atol, divergence_threshold=divergence_threshold,
                   lr_correction=lr_correction, frozen=frozen)
    if converged_tol is not None:
        converged_tol = check_real("converged_tol", converged_tol, positive=True)
        if converged_tol >= 1:  # a relative rate: 1 or more calls a mode converged while it still doubles in 1 tau
            raise bad("converged_tol", converged_tol, "be < 1 (a relative rate per unit of time, e.g. 1e-6)")
    if t_end is None:
        return _integrate_to_convergence(task, n_points, t_eval, converged_tol, t_max, options)
    if t_max is not None:
        raise bad("t_max", t_max, "be None when t_end is given (t_max caps the integration to convergence, without "
                                  "t_end)")
    traj, flow = _integrate_to(task, t_end, n_points, t_eval, converged_tol, **options)
    traj.info.update(check_convergence(traj, flow, converged_tol))
    return traj


def _flow_of(task, lr_correction=None, frozen=()):
    """The compiled flow that ``integrate`` follows for these options (checked)."""
    flow = compile_flow(task) if lr_correction is None else compile_modified_flow(task, lr_correction)
    if frozen:  # state layout per mode: a, b, c (complex: real and imaginary part of each)
        flow.frozen_components = np.repeat([m in frozen for m in "abc"], flow.block_size // 3)
    return flow


def _integrate_to(task, t_end, n_points, t_eval, converged_tol, *, method, rtol, atol, divergence_threshold,
                  lr_correction, frozen):
    """``integrate`` with a final time: (trajectory, the compiled flow it followed). ``converged_tol`` (checked, or
    None) is the early stop."""
    frozen = frozen_modes(frozen)
    if frozen and (lr_correction is not None or isinstance(method, DiscreteGD)):
        raise bad("frozen", frozen, "be empty with lr_correction or DiscreteGD (their maps train every mode)")
    if isinstance(method, DiscreteGD):  # the exact gradient-descent map, not an ODE solver
        if lr_correction is not None:
            raise bad("lr_correction", lr_correction, "be None with method=DiscreteGD (the map needs no correction)")
        traj = method.run(task, t_end, n_points=n_points, t_eval=t_eval,
                          divergence_threshold=1e8 if divergence_threshold is None else divergence_threshold)
        return traj, compile_flow(task)  # the map's fixed points are the flow's
    flow = _flow_of(task, lr_correction, frozen)
    task = flow.task
    t_end, t_eval = output_times(t_end, n_points, t_eval, task.tau)
    resources.check_scale(task)  # badly scaled tasks: refused at once with the remedy, not after minutes
    resources.guard(resources.integrate_estimate(task.K, task.T, t_eval.size), "integrating the task")
    if divergence_threshold is None:
        threshold = default_divergence_threshold(task)
    else:
        threshold = check_real("divergence_threshold", divergence_threshold, positive=True)
    check_task_scale(task)
    failures = []
    for attempt, attempt_rtol in _attempts(task, method, rtol, balanced=BalancedModes.applies(flow)):
        with warnings.catch_warnings(record=True) as caught:  # shown only for the attempt that is kept
            warnings.simplefilter("always")
            try:
                traj = _integrate_with_method(flow, t_end, t_eval, attempt, attempt_rtol, atol, converged_tol,
                                              threshold)
            except IntegrationError as exc:
                failures.append(str(exc))
                continue
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if failures:
            traj.info["attempts"] = failures
        if frozen:
            traj.info["frozen"] = list(frozen)
        return traj, flow
    smax = float(np.max(np.abs(task.singular_values)))
    remedy = ("try another --method or looser tolerances" if method is not None else
              "the task is too badly scaled for floating point")
    raise IntegrationError(
        f"could not integrate task '{plain_name(task.name)}' (largest singular value {smax:.3g}, T={task.T}, "
        f"tau={task.tau:g}): {'; '.join(failures)}; {remedy}: rescale 'singular_values' (or delta), 'init' or "
        f"'tau', or shorten t_end")


#: Methods tried, in order, after the default one fails on a badly scaled task (not on divergence): on a real task
#: first the batched solver in balanced coordinates (``solvers.BatchedBalanced``), then BDF, LSODA and Radau, which
#: cope where another method's step-size control breaks down on singular values of 1e8 and more; the last attempt is
#: BDF at a looser relative tolerance (``FALLBACK_RTOL``), unless the caller set ``rtol``.
FALLBACK_METHODS = ("BDF", "LSODA", "Radau")
FALLBACK_RTOL = 1e-6

#: Largest singular value from which the default method is tried after the balanced one and BDF (it fails slowly
#: there: a and c relax onto a curved manifold with Jacobian eigenvalues of s^2 and more).
BADLY_SCALED = 1e6


def _attempts(task, method, rtol, balanced: bool):
    """(method, rtol) pairs to try in turn: only the given method if there is one, else the fallback chain
    (``balanced``: whether ``BatchedBalanced`` applies, ``BalancedModes.applies``)."""
    if method is not None:
        return [(method, rtol)]
    first = [BatchedBalanced()] if balanced else []
    chain = [None, *first, *FALLBACK_METHODS]
    if float(np.max(np.abs(task.singular_values))) >= BADLY_SCALED:
        chain = [*first, FALLBACK_METHODS[0], None, *FALLBACK_METHODS[1:]]
    attempts = [(m, rtol) for m in chain]
    if rtol is None:
        attempts.append((FALLBACK_METHODS[0], FALLBACK_RTOL))
    return attempts


#: Largest singular value accepted: the energy ||s||^2 / 2 must stay well inside floating point.
MAX_SINGULAR_VALUE = 1e150


def check_task_scale(task) -> None:
    """Refuse, up front and naming the parameter, a task whose energy cannot be represented in floating point."""
    smax = float(np.max(np.abs(task.singular_values)))
    if smax > MAX_SINGULAR_VALUE:
        raise LrnnInputError(
            f"parameter 'singular_values' must be at most {MAX_SINGULAR_VALUE:g} in size (the energy ||s||^2 "
            f"overflows floating point), got a largest value of {smax:.3g}; divide the singular values (delta) "
            f"by a common factor: u scales with them")


def default_divergence_threshold(task) -> float:
    """max(1e8, 1e3 * the task's scale), the scale being max(1, largest |s|) * max(1, largest / smallest non-zero |s|).

    A zero-loss solution needs u of the size of the singular values and a recurrent gain |b|^(T-1) of the size
    of their ratio across steps (b* = lambda > 1 for an inverse-exponential task), so a fixed threshold would call
    such a valid solution a divergence. Tasks of ordinary scale keep 1e8, so that a runaway is caught as early.
    """
    s = np.abs(task.singular_values)
    smax = float(np.max(s))
    nonzero = s[s > 0]
    spread = smax / float(np.min(nonzero)) if nonzero.size else 1.0
    with np.errstate(over="ignore"):
        value = 1e3 * max(1.0, smax) * max(1.0, spread)
    return float(min(max(1e8, value), 1e300))


def plain_name(name) -> str:
    """A task name shortened to one printable line for messages."""
    text = " ".join(str(name).split())
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= 60 else text[:57] + "..."


def _integrate_with_method(flow, t_end: float, t_eval, method, rtol, atol, converged_tol,
                           threshold: float) -> Trajectory:
    """One integration attempt with one method (inputs already checked by ``integrate``)."""
    solver = resolve_solver(method, rtol, atol)
    blowup = _Blowup(threshold, flow.task.T, flow.layout)
    y0 = flow.initial_state()
    if blowup(0.0, y0) > 0:
        mode = int(np.argmax(blowup.largest_gain(y0)))
        raise DivergenceError(
            f"the initial state of mode {mode} is already beyond divergence_threshold={threshold:g} (|a|, |c| or "
            f"|b|^(T-1) with T={flow.task.T}); raise divergence_threshold to integrate from it", time=0.0, mode=mode)
    if solver.batched:
        ts, Y, info = _integrate_batched(flow, solver, t_end, t_eval, blowup, converged_tol)
    else:
        ts, Y, info = _integrate_scipy(flow, solver, t_end, t_eval, blowup, converged_tol)
    info = {"method": solver.name, "rtol": solver.rtol, "atol": solver.atol, **info, "t_final": float(ts[-1]),
            "source": "theory", "lr_correction_step": getattr(flow, "step", None)}
    a, b, c = flow.modes(Y)
    return Trajectory(t=ts, a=a, b=b, c=c, energy=flow.energy(Y), info=info)


def _divergence_error(flow, t_hit: float, mode: int, y_mode, threshold: float) -> DivergenceError:
    a, b, c = flow.mode_values(y_mode)
    return DivergenceError(
        f"learning dynamics diverged at t={t_hit:.6g}: in mode {mode}, |a|, |c| or the recurrent gain "
        f"|b|^(T-1) grew past {threshold:g} (a={a:.4g}, b={b:.4g}, c={c:.4g})", time=t_hit, mode=mode)


#: Most steps of one mode in one batched run (ordinary tasks need a few hundred to converge): a mode that needs more
#: (or is projected to, ``solvers._mark_hopeless``) is too stiff or badly scaled for RODAS4 and counts as stuck, so
#: that ``integrate`` falls back to the balanced coordinates, then BDF and Radau.
MAX_BATCHED_STEPS = 20_000


class BalancedModes:
    """The flow of real modes in their balanced coordinates z = (u, b, w), u = a c, w = a^2 - c^2, as a system
    for ``solve_blocks`` (``solvers.BatchedBalanced``); states as rows (3, k), like ``CompiledFlow.rates_rows``.

    Back to a and c: a^2 + c^2 = r = sqrt(w^2 + 4 u^2), so a^2 = (r + w) / 2 and c^2 = (r - w) / 2; the one of
    a, c larger at the start takes its initial sign, the other is u over it. Only for the gradient flow, which
    keeps w fixed, so that the larger never passes through 0 (``applies``: frozen and modified flows move w).
    Rates dz/dt = P f with P = d(u, b, w)/d(a, b, c); the Jacobian is (P J + E) P^-1, E the derivative of P
    contracted with f. The rate of w and its row of the Jacobian are 0, exactly: computed, they are differences of
    rounded products, 2 (a da/dt - c dc/dt), whose rounding the solver's error estimate of w took for error (on the
    runaway of tests/test_runaway_speed.py from t = 1 to 5: 970 steps with 175 rejected, against 575 and 3, and w
    drifted by 5e-8 of itself)."""

    @staticmethod
    def applies(flow) -> bool:
        """Whether ``flow`` is the plain gradient flow of a real task (3 x 3 blocks, no frozen modes, not the
        modified flow of a finite learning rate)."""
        return flow.block_size == 3 and flow.frozen_components is None and getattr(flow, "step", None) is None

    def __init__(self, flow, Y0):
        a, c = Y0[:, 0], Y0[:, 2]
        self.flow, self.sums = flow, flow.sums
        self.a_major = a * a >= c * c
        self.sign = np.where(np.where(self.a_major, a, c) < 0, -1.0, 1.0)
        self.w_sign = np.where(self.a_major, 1.0, -1.0)  # the sign w = a^2 - c^2 keeps: + where a is the major
        self._modes, self._branch = None, None
        #: The last ``rates_rows`` call: (its Zr, a copy of it, modes, a, b, c as rows, the flow's rates there), so
        #: that the Jacobian at the state the solver stepped to (its last rates call) does not evaluate them again.
        self._last_rates = (None, None, None, None, None)

    @staticmethod
    def balanced(Y):
        """(K, 3) states a, b, c to (K, 3) states u, b, w."""
        a, b, c = np.moveaxis(np.asarray(Y, dtype=float), -1, 0)
        return np.stack([a * c, b, a * a - c * c], axis=-1)

    def modes_of(self, Z, modes=slice(None)):
        """States u, b, w (..., 3) of the modes ``modes`` (the last axis but one) back to a, b, c (..., 3)."""
        u, b, w = np.moveaxis(Z, -1, 0)
        with np.errstate(all="ignore"):
            a, c = self._a_c(u, w, self.a_major[modes], self.sign[modes], self.w_sign[modes])
        return np.stack([a, b, c], axis=-1)

    @staticmethod
    def _major_minor(u, w, sign, w_sign):
        """The larger at the start of a and c (``major``) and the other, from u and w."""
        # a^2 = (r + w) / 2 and c^2 = (r - w) / 2 for any w (r = hypot >= |w|): the one that was the larger at the
        # start stays away from 0 while w keeps its sign, and is 0 only where u = w = 0 (then so is the other)
        major = sign * np.sqrt(np.maximum(0.5 * (np.hypot(w, 2 * u) + w * w_sign), 0.0))
        minor = u / (major + (major == 0))  # u / 1 = 0 where major = 0 (cheaper than np.where)
        return major, minor

    @staticmethod
    def _a_c(u, w, a_major, sign, w_sign):
        major, minor = BalancedModes._major_minor(u, w, sign, w_sign)
        return np.where(a_major, major, minor), np.where(a_major, minor, major)

    @classmethod
    def magnitude_rows(cls, Zr):
        """|a|, |b|, |c| in some order of a and c (3, k) from states u, b, w as rows Zr (3, k): needs no mode."""
        major = np.sqrt(0.5 * (np.hypot(Zr[2], 2 * Zr[0]) + np.abs(Zr[2])))
        out = np.abs(Zr)
        out[0] = major
        out[2] = np.abs(Zr[0]) / np.where(major != 0, major, 1.0)
        return out

    def _rows(self, Zr, modes):
        """a, b, c as rows (3, k) of the running modes ``modes`` (the solver passes one array object per set of
        running modes: their branch and sign are looked up once per set)."""
        if modes is not self._modes:
            self._modes, self._branch = modes, (self.a_major[modes], self.sign[modes], self.w_sign[modes])
        X = np.empty_like(Zr)
        X[0], X[2] = self._a_c(Zr[0], Zr[2], *self._branch)
        X[1] = Zr[1]
        return X

    def rates_rows(self, t, Zr, modes):
        X = self._rows(Zr, modes)
        f = self.flow.rates_rows(t, X, modes)
        self._last_rates = (Zr, Zr.copy(), modes, X, f)
        return self._carried(X, f)

    def row_functions(self, modes):
        """(rates, Jacobian) of the modes ``modes`` as functions of (t, Zr) for the batched solver (as
        ``CompiledFlow.row_functions``: the flow's own bound once, the Jacobian's products P, E and P^-1 in
        buffers whose constant entries are written once). Same numbers as ``rates_rows`` and ``jacobian_rows``."""
        flow_rates, flow_jacobian = self.flow.row_functions(modes)
        sign, w_sign = self.sign[modes], self.w_sign[modes]
        k = len(modes)
        # where a and c go in the rows (3, k), flattened: the major one in row 0 (a) or 2 (c)
        major_at = np.where(self.a_major[modes], 0, 2 * k) + np.arange(k)
        minor_at = 2 * k - major_at + 2 * np.arange(k)
        P, E, P_inv = np.zeros((3, 3, k)), np.zeros((3, 3, k)), np.zeros((3, 3, k))
        P[1, 1] = P_inv[1, 1] = 1.0
        PJ, r = np.empty((3, 3, k)), np.empty(k)
        tiny = np.finfo(float).tiny

        def rows(Zr):  # (``_rows`` without its selections)
            major, minor = self._major_minor(Zr[0], Zr[2], sign, w_sign)
            X = np.empty_like(Zr)
            X.put(major_at, major)
            X.put(minor_at, minor)
            X[1] = Zr[1]
            return X

        def rates(t, Zr):
            X = rows(Zr)
            return self._carried(X, flow_rates(t, X))

        def jacobian(t, Zr):
            X = rows(Zr)
            a, c = X[0], X[2]
            f = flow_rates(t, X)
            np.copyto(P[0, 0], c)  # the rows of w in P and E stay 0: the row of w in the Jacobian is 0
            np.copyto(P[0, 2], a)
            np.copyto(E[0, 0], f[2])
            np.copyto(E[0, 2], f[0])
            np.maximum(a * a + c * c, tiny, out=r)  # a = c = 0: a fixed point, its P^-1 rows zero
            np.divide(c, r, out=P_inv[0, 0])
            np.divide(0.5 * a, r, out=P_inv[0, 2])
            np.divide(a, r, out=P_inv[2, 0])
            np.divide(-0.5 * c, r, out=P_inv[2, 2])
            _einsum("ijk,jlk->ilk", P, flow_jacobian(t, X), out=PJ)
            np.add(PJ, E, out=PJ)
            out = _einsum("ijk,jlk->ilk", PJ, P_inv)
            out[2] = 0.0  # (0 also where J is not finite)
            return out

        return rates, jacobian

    @staticmethod
    def _carried(X, f):
        """The rates of u, b, w (a new (3, k) array) from the states a, b, c as rows X and their rates f."""
        a, c = X[0], X[2]
        # in a new array, without np.stack (its overhead is a fifth of a call here)
        out = np.empty_like(f)
        np.multiply(c, f[0], out=out[0])
        out[0] += a * f[2]
        out[1] = f[1]
        out[2] = 0.0  # dw/dt = 2 (a da/dt - c dc/dt) = 0 (see the class)
        return out

    def jacobian_rows(self, t, Zr, modes):
        last = self._last_rates
        if last[0] is Zr and last[2] is modes and np.array_equal(last[1], Zr):  # the same state, unchanged
            X, f = last[3], last[4]
        else:
            X = self._rows(Zr, modes)
            f = self.flow.rates_rows(t, X, modes)
        J = self.flow.jacobian_rows(t, X, modes)
        a, c = X[0], X[2]
        zero, one = np.zeros_like(a), np.ones_like(a)
        r = np.maximum(a * a + c * c, np.finfo(float).tiny)  # a = c = 0: a fixed point, its P^-1 rows zero
        P = np.array([[c, zero, a], [zero, one, zero], [2 * a, zero, -2 * c]])
        E = np.array([[f[2], zero, f[0]], [zero, zero, zero], [2 * f[0], zero, -2 * f[2]]])
        P_inv = np.array([[c / r, zero, 0.5 * a / r], [zero, one, zero], [a / r, zero, -0.5 * c / r]])
        out = np.einsum("ijk,jlk->ilk", np.einsum("ijk,jlk->ilk", P, J) + E, P_inv)
        out[2] = 0.0  # the row of w: its rate is 0 (see the class)
        return out


def _integrate_batched(flow, solver, t_end, t_eval, blowup, converged_tol):
    """Per-mode step sizes (``lrnn_theory.solvers.solve_blocks``); returns output times, flat states, info."""
    Y0 = flow.initial_state().reshape(flow.K, flow.block_size)
    system, log_gain = flow, blowup.largest_gain_rows
    if solver.balanced:
        if not BalancedModes.applies(flow):
            raise IntegrationError("the balanced coordinates need the gradient flow of a real task (no frozen "
                                   "modes, no lr_correction)")
        system = BalancedModes(flow, Y0)
        Y0 = system.balanced(Y0)
        log_gain = lambda Zr: blowup.largest_gain_rows(system.magnitude_rows(Zr))  # noqa: E731
    sol = solve_blocks(system, Y0, t_end, t_eval, solver.rtol, solver.atol, converged_tol=converged_tol,
                       max_steps=MAX_BATCHED_STEPS, log_gain=log_gain, log_threshold=np.log(blowup.threshold))
    if solver.balanced:
        sol.Y, sol.y_final = system.modes_of(sol.Y), system.modes_of(sol.y_final)
        if sol.failure is not None:
            sol.failure.y = system.modes_of(sol.failure.y[None], [sol.failure.mode])[0]
    flow.nfev, flow.njev = sol.nfev, sol.njev
    fail = sol.failure
    if fail is not None:
        if fail.kind == "diverged":
            raise _divergence_error(flow, fail.time, fail.mode, fail.y, blowup.threshold)
        if fail.kind == "overflow":
            raise flow.overflow_error(fail.time, fail.mode, fail.y)
        a, b, c = flow.mode_values(fail.y)
        raise IntegrationError(
            f"the solver is stuck at t={fail.time:.6g} in mode {fail.mode} (a={a:.4g}, b={b:.4g}, c={c:.4g}): "
            f"{fail.detail}; the problem is too badly scaled for floating point: rescale the singular values, "
            f"initial values or tau")
    Y = sol.Y.reshape(len(t_eval), -1)
    ts = t_eval
    status = 0
    if converged_tol is not None and np.all(sol.status == CONVERGED):
        # Every mode converged: end the trajectory at the last mode's convergence time (modes keep their state).
        status = 1
        t_stop = float(np.max(sol.t_final))
        keep = t_eval < t_stop
        ts = np.append(t_eval[keep], t_stop)
        Y = np.vstack([Y[keep], sol.y_final.ravel()])
    info = {"nfev": sol.nfev, "njev": sol.njev, "status": status, "steps_max": int(np.max(sol.steps)),
            "steps_median": float(np.median(sol.steps)), "rejected": int(np.sum(sol.rejected))}
    return ts, Y, info


#: ``_ProjectedEvaluations``: first evaluation count (then every doubling) at which an explicit method's evaluations
#: to t_end are projected, and the factor over the flow's cap (``MAX_RHS_CALLS``) past which the run stops at once.
PROJECT_EVALUATIONS_FROM = 4096
PROJECT_EVALUATIONS_MARGIN = 1.5


class _ProjectedEvaluations:
    """The rates of ``flow`` for an explicit scipy method, which stops (IntegrationError) as soon as its evaluations,
    projected to ``t_end``, exceed the cap by ``PROJECT_EVALUATIONS_MARGIN`` instead of when it reaches the cap.

    On a stiff flow an explicit method's step stays at its stability limit, so the evaluations between two checks
    project to t_end as the batched solver's steps do (``solvers.projected_count``). RK45 on a stiff task ends after ~8,000 evaluations instead of 200,000 (5 s)."""

    def __init__(self, flow, t_end: float):
        self.flow, self.t_end = flow, t_end
        self.checkpoint, self.next_check = None, PROJECT_EVALUATIONS_FROM

    def __call__(self, t, y):
        out = self.flow.rates(t, y)
        if self.flow.nfev >= self.next_check:
            self._project(float(t))
        return out

    def _project(self, t: float) -> None:
        n = self.flow.nfev
        self.next_check = 2 * n
        previous, self.checkpoint = self.checkpoint, (n, t)
        if previous is None or not 0 < previous[1] < t:
            return
        projected = float(projected_count(previous[0], previous[1], n, t, self.t_end))
        cap = self.flow.MAX_RHS_CALLS
        if projected > PROJECT_EVALUATIONS_MARGIN * cap:
            course = f"{projected:.3g}" if np.isfinite(projected) else "far more"
            raise IntegrationError(
                f"the solver made {n} evaluations and reached only t={t:.6g}, on course for {course} by "
                f"t_end={self.t_end:g} (cap {cap}): the flow is too stiff for this method; use the default method "
                f"(or BDF, Radau)")


def _integrate_scipy(flow, solver, t_end, t_eval, blowup, converged_tol):
    """One scipy ``solve_ivp`` run over the flat state (one shared step size); returns times, states, info."""
    from scipy.integrate import solve_ivp

    events = [blowup]
    if converged_tol is not None:
        events.append(_Converged(flow, converged_tol))
    y0 = flow.initial_state()
    flow.reset_counters()
    flow.watch_progress = True
    rates = flow.rates if solver.jacobian != "none" else _ProjectedEvaluations(flow, t_end)
    try:
        sol = solve_ivp(rates, (0.0, t_end), y0, t_eval=t_eval, events=events, **solver.solve_ivp_options(flow))
    except LrnnError:
        raise
    except (ValueError, RuntimeError, ZeroDivisionError, FloatingPointError, np.linalg.LinAlgError) as exc:
        # scipy's own failures on badly scaled problems: a singular Newton matrix, an event root that its dense
        # output cannot bracket. Not divergence: ``integrate`` retries with another method.
        if flow.overflow is not None:
            raise flow.overflow from None
        raise IntegrationError(f"{solver.name} failed at t={flow._last_t if flow._last_t is not None else 0:.6g}: "
                               f"{exc}") from None
    finally:
        flow.watch_progress = False
    if sol.status == 1 and sol.t_events[0].size:
        y_hit = sol.y_events[0][0]
        mode = int(np.argmax(blowup.largest_gain(y_hit)))
        m = flow.block_size
        raise _divergence_error(flow, float(sol.t_events[0][0]), mode, y_hit[m * mode:m * mode + m],
                                blowup.threshold)
    if sol.status < 0 or not np.all(np.isfinite(sol.y)):
        if flow.overflow is not None:
            raise flow.overflow
        raise IntegrationError(f"{solver.name} stopped at t={sol.t[-1]:.6g} before t_end={t_end:g}: {sol.message}")
    Y = sol.y.T
    flow.nfev, flow.njev = int(sol.nfev), int(sol.njev)  # the solver's own counts (finite-difference calls too)
    if converged_tol is not None and sol.status == 1:
        # Stopped at convergence: include the stopping point so the trajectory ends at the fixed point.
        t_stop = float(sol.t_events[1][0])
        keep = sol.t < t_stop
        ts = np.append(sol.t[keep], t_stop)
        Y = np.vstack([Y[keep], sol.y_events[1][0]])
    else:
        ts = sol.t
    return ts, Y, {"nfev": flow.nfev, "njev": flow.njev, "status": int(sol.status)}


# ---- convergence ----------------------------------------------------------------------------------------------
#: Default tolerance of the convergence test (``mode_convergence``): the relative change per unit of time.
CONVERGED_TOL = 1e-6
#: Default largest time, in units of tau, of ``integrate`` without ``t_end``.
CONVERGENCE_T_MAX = 1e6
#: Output times per decade of t of the search for the convergence time (a spacing of 6% in t), from
#: ``SEARCH_FROM`` tau.
SEARCH_POINTS_PER_DECADE = 40
SEARCH_FROM = 1e-2
#: ``integrate`` without ``t_end`` ends its trajectory this factor past the first search time at which every mode
#: has converged, so that it shows the modes at rest and its own test passes with a margin.
CONVERGED_MARGIN = 1.25
#: Most states (times x modes) whose rates and Jacobians are evaluated together: bounds the memory of the task sums.
CONVERGENCE_CHUNK = 200_000


def _flow_for_test(flow_or_task):
    return flow_or_task if isinstance(flow_or_task, CompiledFlow) else compile_flow(flow_or_task)


def convergence_measures(flow_or_task, a, b, c) -> tuple:
    """The two numbers the convergence test compares with its tolerance, per state.

    Parameters
    ----------
    flow_or_task : CompiledFlow or Task
        The flow the modes follow (a task: its gradient flow; ``integrate`` passes the modified or frozen flow it
        followed).
    a, b, c : array_like, shape (..., K)
        Mode strengths (complex for a complex task), e.g. ``traj.a`` or ``traj.a[-1]``.

    Returns
    -------
    relative_rate : ndarray, shape (..., K)
        max(|da/dt|, |db/dt|, |dc/dt|) / max(1, |a|, |b|, |c|): the relative change per unit of time.
    growth : ndarray, shape (..., K)
        The largest eigenvalue of the symmetric part of the mode's flow Jacobian (per unit of time): positive at a
        saddle, where a mode resting at small values will leave. Frozen strengths (``integrate(frozen=)``) neither
        move nor grow.
    """
    flow = _flow_for_test(flow_or_task)
    layout = flow.layout
    a, b, c = np.broadcast_arrays(*(np.asarray(v) for v in (a, b, c)))
    shape, K = b.shape, flow.K
    if not shape or shape[-1] != K:
        raise bad("a, b, c", shape, f"have K = {K} modes in their last axis")
    flat = [v.reshape(-1, K) for v in (a, b, c)]
    n = flat[0].shape[0]
    rows_per_chunk = max(1, CONVERGENCE_CHUNK // K)
    relative, growth = np.empty((n, K)), np.empty((n, K))
    frozen = flow.frozen_components
    for start in range(0, n, rows_per_chunk):  # chunks of times, each vectorized over its times and all modes
        sl = slice(start, min(n, start + rows_per_chunk))
        k = (sl.stop - sl.start) * K
        Yr = layout.pack(*(v[sl].ravel() for v in flat)).reshape(k, -1).T
        sums = flow.sums if sl.stop - sl.start == 1 else flow.sums.subset(np.tile(np.arange(K), sl.stop - sl.start))
        with np.errstate(all="ignore"):
            rates = layout.rates(Yr, sums)
            J = layout.jacobian(Yr, sums)
            if frozen is not None:
                rates[frozen] = 0.0
                J[frozen] = 0.0
                J[:, frozen] = 0.0
            size = np.maximum(1.0, np.max(layout.magnitudes(Yr), axis=0))
            relative[sl] = (np.max(layout.magnitudes(rates), axis=0) / size).reshape(-1, K)
            J = np.moveaxis(J, 2, 0)
            symmetric = 0.5 * (J + np.swapaxes(J, 1, 2))
            finite = np.all(np.isfinite(symmetric), axis=(1, 2))
            largest = np.full(k, np.inf)
            largest[finite] = np.linalg.eigvalsh(symmetric[finite])[:, -1]
            # rounding of the eigenvalues of a stiff block: relative to its largest eigenvalue
            scale = np.max(np.abs(symmetric), axis=(1, 2))
            growth[sl] = np.where(largest > 64 * np.finfo(float).eps * scale * symmetric.shape[1], largest,
                                  0.0).reshape(-1, K)
    relative[~np.isfinite(relative)] = np.inf
    return relative.reshape(shape), growth.reshape(shape)


def mode_convergence(flow_or_task, a, b, c, tol: float | None = None) -> np.ndarray:
    """Whether each mode has converged at the states (a, b, c), shape (..., K) each: a bool array (..., K).

    A mode has converged when it has (numerically) stopped at a stable fixed point of its flow:
    max(|da/dt|, |db/dt|, |dc/dt|) <= tol * max(1, |a|, |b|, |c|) (each strength changes by less than a fraction
    ``tol`` of its size per unit of time) and no direction of its flow grows faster than ``tol`` (the largest
    eigenvalue of the symmetric part of its flow Jacobian is at most ``tol``: a mode resting near a saddle, as on
    the plateau of small initial values, has not converged). ``tol`` defaults to ``CONVERGED_TOL`` (1e-6). See
    ``convergence_measures`` for the two numbers.

    Examples
    --------
    >>> from lrnn_theory import Task
    >>> task = Task.inverse_exponential(delta=1.0, lam=0.5, T=4)
    >>> mode_convergence(task, [1.0], [0.5], [1.0]).tolist(), mode_convergence(task, [0.0], [0.0], [0.0]).tolist()
    ([True], [False])
    """
    tol = CONVERGED_TOL if tol is None else check_real("tol", tol, positive=True)
    relative, growth = convergence_measures(flow_or_task, a, b, c)
    return (relative <= tol) & (growth <= tol)


def first_converged_index(converged) -> np.ndarray:
    """Per mode, the first row of ``converged`` (n, K) at which it is True (n: never).

    The first time, not the time from which a mode stays converged: a mode past the test is at a stable fixed point,
    and late in a long run the interpolated states between the solver's very long steps carry rates of rounding
    size times the step, which can cross a tight tolerance again."""
    converged = np.asarray(converged, dtype=bool)
    return np.where(converged.any(axis=0), np.argmax(converged, axis=0), converged.shape[0])


def check_convergence(traj, flow_or_task, tol: float | None = None) -> dict:
    """The convergence test at the last time of ``traj``, as the entries ``integrate`` puts in ``traj.info``.

    Parameters
    ----------
    traj : Trajectory
    flow_or_task : CompiledFlow or Task
        The flow the trajectory followed, or its task (its gradient flow).
    tol : float, optional
        Tolerance of ``mode_convergence`` (default ``CONVERGED_TOL``).

    Returns
    -------
    dict
        ``converged`` (list of bool, one per mode), ``not_converged`` (list of the mode indices still moving),
        ``converged_tol``, ``relative_rate`` and ``growth`` (lists, per mode, see ``convergence_measures``).
    """
    tol = CONVERGED_TOL if tol is None else check_real("tol", tol, positive=True)
    relative, growth = convergence_measures(flow_or_task, traj.a[-1], traj.b[-1], traj.c[-1])
    converged = (relative <= tol) & (growth <= tol)
    return {"converged": converged.tolist(), "not_converged": np.flatnonzero(~converged).tolist(),
            "converged_tol": tol, "relative_rate": relative.tolist(), "growth": growth.tolist()}


def search_times(t_max: float, tau: float = 1.0) -> np.ndarray:
    """0 and times spaced evenly in log t from ``SEARCH_FROM`` tau to ``t_max`` (``SEARCH_POINTS_PER_DECADE``)."""
    start = min(SEARCH_FROM * tau, t_max / 10)
    count = max(2, int(np.ceil(np.log10(t_max / start) * SEARCH_POINTS_PER_DECADE)) + 1)
    return np.concatenate([[0.0], np.geomspace(start, t_max, count)])


def _integrate_to_convergence(task, n_points, t_eval, tol, t_max, options) -> Trajectory:
    """``integrate`` without ``t_end`` (see its "Convergence" section)."""
    if t_eval is not None:
        raise bad("t_eval", t_eval, "be None without t_end (the end is where the modes converge); give t_end too")
    if isinstance(options["method"], DiscreteGD):
        raise bad("t_end", None, "be given with method=DiscreteGD (integration to convergence follows the flow)")
    solver = resolve_solver(options["method"], options["rtol"], options["atol"])
    if not solver.batched and solver.jacobian == "none":
        # an explicit method's step stays at the stiff time scale: t_max / step steps, and its step limit stops it
        raise bad("method", solver.name, "be Batched, LSODA, BDF or Radau to integrate to convergence (an explicit "
                                         "method needs steps in proportion to t_max on this stiff flow); give t_end")
    task = coerce_task(task)
    tol = CONVERGED_TOL if tol is None else tol
    t_max = CONVERGENCE_T_MAX * task.tau if t_max is None else check_final_time("t_max", t_max, task.tau)
    n_points = check_int("n_points", n_points, minimum=2)
    # the batched solver's search also writes the n_points even times to t_max: when the modes converge only near
    # t_max (t_stop = t_max), the run to t_stop is the search itself, not a second integration of the whole span
    # (its steps do not depend on the output times, and each output is interpolated on its own, so the rows are
    # those of a run on the even times alone; scipy's dense output is evaluated in a product over all of a
    # step's output times, which moves the last bit). Not for more even times than search times: their outputs
    # would cost the search more than a rerun saves when the modes converge early.
    searched, evenly = search_times(t_max, task.tau), output_times(t_max, n_points, None, task.tau)[1]
    shared = solver.batched and evenly.size <= searched.size
    grid = np.union1d(searched, evenly) if shared else searched
    try:
        both, flow = _integrate_to(task, t_max, None, grid, None, **options)
    except DivergenceError as exc:
        raise DivergenceError(f"{exc}; the mode has no finite minimum to converge to (a runaway mode): give t_end "
                              f"to follow it", time=exc.time, mode=exc.mode) from None
    search = _rows_at(both, np.searchsorted(grid, searched))
    first = first_converged_index(mode_convergence(flow, search.a, search.b, search.c, tol))
    n = search.t.size
    if np.any(first == n):  # the cap: the search's trajectory, with the modes that never converged named
        search.info.update(check_convergence(search, flow, tol))
        never = np.flatnonzero(first == n)
        search.info.update(converged=(first < n).tolist(), not_converged=never.tolist(), t_converged=None,
                           t_max=t_max, t_converged_modes=[float(search.t[i]) if i < n else None
                                                           for i in first.tolist()])
        return search
    t_stop = min(t_max, CONVERGED_MARGIN * float(search.t[max(1, int(np.max(first)))]))
    if t_stop == t_max and shared:
        traj = _rows_at(both, np.searchsorted(grid, evenly))
    else:
        traj, flow = _integrate_to(task, t_stop, n_points, None, None, **options)
    fine = first_converged_index(mode_convergence(flow, traj.a, traj.b, traj.c, tol))
    # on the finer grid; a mode that (by rounding) fails the test there keeps the search's time
    times = np.where(fine < traj.t.size, traj.t[np.minimum(fine, traj.t.size - 1)], search.t[first])
    traj.info.update(check_convergence(traj, flow, tol))
    traj.info.update(t_converged=float(np.max(times)), t_max=t_max, t_converged_modes=times.tolist())
    return traj


def _rows_at(traj, rows) -> Trajectory:
    """The trajectory at the output rows ``rows`` (an index array), with a copy of its info."""
    return Trajectory(t=traj.t[rows], a=traj.a[rows], b=traj.b[rows], c=traj.c[rows], energy=traj.energy[rows],
                      info=dict(traj.info))


#: Modes named in a warning before the rest are counted.
MODES_NAMED = 10


def mode_list(modes) -> str:
    """"mode 3" or "modes 0, 2, 5" (the first ``MODES_NAMED``, then how many more)."""
    modes = [int(m) for m in modes]
    text = ", ".join(str(m) for m in modes[:MODES_NAMED])
    if len(modes) > MODES_NAMED:
        text += f" and {len(modes) - MODES_NAMED} more"
    return ("mode " if len(modes) == 1 else "modes ") + text


def not_converged_message(traj, suggestion: str = "") -> str | None:
    """One line naming the modes of ``traj`` still moving at its last time (from ``traj.info``, filled by
    ``integrate`` or ``check_convergence``), or None when every mode has converged. ``suggestion`` is appended (what
    to do, e.g. a t_end)."""
    info = traj.info
    if "not_converged" not in info:
        raise LrnnInputError("the trajectory carries no convergence test: call check_convergence(traj, task) and "
                             "add it to traj.info first")
    modes = info["not_converged"]
    if not modes:
        return None
    tol = info["converged_tol"]
    rates = np.asarray(info["relative_rate"])[modes]
    growth = np.asarray(info["growth"])[modes]
    saddle = [m for m, r, g in zip(modes, rates, growth) if g > tol and r <= tol]
    where = (f"not converged by t_max = {traj.t[-1]:.6g}" if info.get("t_max") is not None
             else f"still moving at t = {traj.t[-1]:.6g}")
    moving = rates > tol
    reasons = []
    if moving.any():
        reasons.append(f"largest |d theta/dt| / max(1, |theta|) {np.max(rates[moving]):.3g} > converged_tol {tol:g}")
    if saddle:
        reasons.append(f"{mode_list(saddle)} at rest near a saddle, a growing direction at rate "
                       f"{np.max(growth[rates <= tol]):.3g} per unit time")
    text = f"warning: {mode_list(modes)} {where} ({'; '.join(reasons)})"
    return text + (f"; {suggestion}" if suggestion else "")
