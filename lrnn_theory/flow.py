"""Numeric side of the mode flow: compile the derived ODEs into vectorized numpy functions and integrate them.

``compile_flow`` lambdifies the three per-mode right-hand sides and the 3x3 Jacobian derived in
``lrnn_theory.derivations.mode_flow`` (written through the task sums A(b), B(b) and their derivatives), and
evaluates the task sums for all K modes and all T steps with one matrix product over a table of powers of b. There
is no Python loop over modes or steps, and nothing symbolic grows with T.

``integrate`` runs ``scipy.integrate.solve_ivp`` with the state laid out as [a_0, b_0, c_0, a_1, b_1, c_1, ...]
so that the Jacobian is banded (see ``lrnn_theory.solvers``).
"""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import sympy as sp
from scipy.integrate import solve_ivp

from . import resources
from .derivations import mode_flow as sym
from .errors import (DivergenceError, IntegrationError, LrnnError, LrnnInputError, bad, check_finite_array, check_int,
                     check_real)
from .solvers import block_sparsity, blocks_to_banded, blocks_to_sparse, resolve_solver
from .tasks import coerce_task
from .trajectory import Trajectory, mode_energy


@functools.lru_cache(maxsize=None)
def _lambdified():
    """Lambdify the derived rates and Jacobian once per process (they do not depend on the task)."""
    flow = sym.derive_mode_flow()
    args = (sym.a, sym.b, sym.c, sym.tau) + sym.SUM_SYMBOLS
    rates = [sym.sums_as_symbols(flow.tau_rates[v]) for v in sym.STATE]
    jac = sym.sums_as_symbols(flow.jacobian * sym.tau)  # tau * d(rates)/d(state): tau divided out numerically
    rate_fn = sp.lambdify(args, rates, modules="numpy", cse=True)
    jac_fn = sp.lambdify(args, [list(row) for row in jac.tolist()], modules="numpy", cse=True)
    return rate_fn, jac_fn


class TaskSums:
    """A(b), B(b) and their first two b-derivatives for every mode of a task, vectorized over modes and steps.

    With k = T - i the power of b that multiplies step i, A(b) = sum_k s_(T-k) b^k and B(b) = sum_k b^(2k). One
    table of powers P[:, k] = b^k, k < T (shape (K, T)), serves all six sums: the A sums are weighted row sums of P,
    and the B sums weighted row sums of P^2, since B' = 2b sum_k (k+1) b^(2k) and B'' = sum_k 2(k+1)(2k+1) b^(2k).
    """

    def __init__(self, singular_values: np.ndarray):
        s = np.asarray(singular_values, dtype=float)
        K, T = s.shape
        self.T = T
        coeff = s[:, ::-1]  # coeff[:, k] multiplies b^k
        k = np.arange(T, dtype=float)
        wa = np.zeros((3, K, T))
        wa[0] = coeff
        with np.errstate(over="ignore"):  # overflow surfaces as a non-finite rate, reported by CompiledFlow
            wa[1, :, :-1] = coeff[:, 1:] * k[1:]                    # d/db: k s_k b^(k-1)
            wa[2, :, :-2] = coeff[:, 2:] * (k[2:] * (k[2:] - 1))    # d2/db2
        self.wa = wa
        wb = np.zeros((T, 3))
        wb[:, 0] = 1.0
        wb[:-1, 1] = 2.0 * (k[:-1] + 1)                             # times b, below
        wb[:-1, 2] = 2.0 * (k[:-1] + 1) * (2.0 * k[:-1] + 1)
        self.wb = wb

    def powers(self, b: np.ndarray) -> np.ndarray:
        """Table b^0..b^(T-1) per mode, by a running product (several times cheaper than np.power)."""
        P = np.empty((b.shape[0], self.T))
        P[:, 0] = 1.0
        P[:, 1:] = b[:, None]
        return np.cumprod(P, axis=1, out=P)

    def evaluate(self, b: np.ndarray, second: bool = False):
        """(A, A', [A''], B, B', [B'']) at b (shape (K,)); second derivatives only when ``second``."""
        P = self.powers(b)
        nd = 3 if second else 2
        As = np.einsum("jkt,kt->jk", self.wa[:nd], P)
        Bs = (P * P) @ self.wb[:, :nd]
        if second:
            return As[0], As[1], As[2], Bs[:, 0], b * Bs[:, 1], Bs[:, 2]
        return As[0], As[1], Bs[:, 0], b * Bs[:, 1]


class CompiledFlow:
    """Vectorized right-hand side, Jacobian and energy of the mode flow of one task.

    The state vector is y = [a_0, b_0, c_0, a_1, b_1, c_1, ...] (mode-major, so the Jacobian is banded).

    Attributes
    ----------
    nfev, njev : int
        Right-hand-side and Jacobian evaluations since the last ``reset_counters``.
    """

    def __init__(self, task):
        self.task = coerce_task(task)
        if self.task.is_complex:
            raise bad("task", self.task, "have real singular values (complex tasks are not supported yet)")
        self.tau = self.task.tau
        self.K = self.task.K
        self.sums = TaskSums(self.task.singular_values)
        self._rate_fn, self._jac_fn = _lambdified()
        self._rows, self._cols = block_sparsity(self.K)
        self.reset_counters()

    def reset_counters(self):
        self.nfev = 0
        self.njev = 0
        #: DivergenceError describing the first non-finite evaluation since the last reset, if any.
        self.overflow = None
        self._nonfinite_calls = 0
        self._t_start = 0.0
        self._last_t, self._calls_at_t = None, 0
        #: Set by ``integrate`` while a solver runs: only then do repeated calls at one time mean a stuck solver.
        self.watch_progress = False

    def initial_state(self) -> np.ndarray:
        init = self.task.init
        return np.column_stack([init.a, init.b, init.c]).ravel()

    #: Consecutive evaluations at one and the same time after which the solver counts as stuck (its step size has
    #: underflowed, as on badly scaled problems); LSODA would otherwise retry without end.
    MAX_CALLS_AT_ONE_TIME = 2000

    #: Consecutive non-finite evaluations after which the dynamics count as diverged. An explicit solver's rejected
    #: trial step may overflow harmlessly and is retried with a smaller step; an implicit solver would retry forever.
    MAX_NONFINITE_CALLS = 25

    def _check(self, t, values, y):
        """Raise DivergenceError when evaluations stay non-finite (or are non-finite at the start)."""
        if np.all(np.isfinite(values)):
            self._nonfinite_calls = 0
            return
        self._nonfinite_calls += 1
        if self.overflow is None:
            bad_rows = ~np.all(np.isfinite(values.reshape(self.K, -1)), axis=1)
            mode = int(np.argmax(bad_rows))
            a, b, c = y[3 * mode:3 * mode + 3]
            cause = (f"|b|^(T-1) = |{b:.4g}|^{self.task.T - 1} overflows" if abs(b) > 1 else
                     "the mode strengths or singular values are too large for floating point")
            self.overflow = DivergenceError(
                f"learning dynamics diverged at t={t:.6g}: mode {mode} overflowed (a={a:.4g}, b={b:.4g}, c={c:.4g}): "
                f"{cause}", time=float(t), mode=mode)
        if t == self._t_start or self._nonfinite_calls >= self.MAX_NONFINITE_CALLS:
            raise self.overflow

    #: Most right-hand-side evaluations of one solver run: an explicit method on this stiff flow (or a badly
    #: scaled task) would otherwise run for hours; the implicit methods need a few thousand.
    MAX_RHS_CALLS = 200_000

    def _check_progress(self, t, y):
        if not self.watch_progress:
            return
        if self.nfev > self.MAX_RHS_CALLS:
            raise IntegrationError(
                f"the solver made {self.nfev} evaluations and reached only t={t:.6g}: the flow is too stiff for this "
                f"method; use the default method (or BDF, Radau)")
        if t != self._last_t:
            self._last_t, self._calls_at_t = t, 0
            return
        self._calls_at_t += 1
        if self._calls_at_t >= self.MAX_CALLS_AT_ONE_TIME:
            rates = np.max(np.abs(self.rates(t, y, count=False, check=False)))
            raise IntegrationError(
                f"the solver is stuck at t={t:.6g}: {self._calls_at_t} evaluations without progress (largest rate "
                f"{rates:.3g}); the problem is too badly scaled for floating point: rescale the singular values, "
                f"initial values or tau")

    def rates(self, t, y, count: bool = True, check: bool = True) -> np.ndarray:
        """dy/dt for the flat state y (shape (3K,)); ``count=False`` leaves ``nfev`` alone (event checks)."""
        self.nfev += count
        if check:
            self._check_progress(t, y)
        a, b, c = y[0::3], y[1::3], y[2::3]
        with np.errstate(over="ignore", invalid="ignore"):
            A0, A1, B0, B1 = self.sums.evaluate(b)
            ra, rb, rc = self._rate_fn(a, b, c, self.tau, A0, A1, 0.0, B0, B1, 0.0)
            out = np.empty_like(y)
            out[0::3], out[1::3], out[2::3] = ra, rb, rc
            out /= self.tau
        if check:
            self._check(t, out, y)
        return out

    __call__ = rates

    def jacobian_blocks(self, t, y) -> np.ndarray:
        """(K, 3, 3) Jacobian blocks d(rate of a, b, c)/d(a, b, c)."""
        self.njev += 1
        a, b, c = y[0::3], y[1::3], y[2::3]
        with np.errstate(over="ignore", invalid="ignore"):
            sums = self.sums.evaluate(b, second=True)
            rows = self._jac_fn(a, b, c, self.tau, *sums)
            blocks = np.empty((self.K, 3, 3))
            for p in range(3):
                for q in range(3):
                    blocks[:, p, q] = rows[p][q]
            blocks /= self.tau
        self._check(t, blocks, y)
        return blocks

    def jacobian_banded(self, t, y) -> np.ndarray:
        return blocks_to_banded(self.jacobian_blocks(t, y))

    def jacobian_sparse(self, t, y):
        return blocks_to_sparse(self.jacobian_blocks(t, y), self._rows, self._cols)

    def energy(self, y) -> np.ndarray:
        """Per-mode energy for a flat state (3K,) or a stack of states (n, 3K)."""
        y = np.asarray(y)
        return mode_energy(self.task.singular_values, y[..., 0::3], y[..., 1::3], y[..., 2::3], self.tau)


def compile_flow(task) -> CompiledFlow:
    """Compile the derived mode ODEs of ``task`` into vectorized numpy functions.

    Examples
    --------
    >>> from lrnn_theory import Task
    >>> from lrnn_theory.flow import compile_flow
    >>> flow = compile_flow(Task.constant(delta=1.0, T=3))
    >>> flow.rates(0.0, flow.initial_state()).round(6)   # a = b = c = 0.1: A = 1.11, B = 1.0101, u = 0.01
    array([0.10999, 0.01199, 0.10999])
    """
    return CompiledFlow(task)


@dataclass
class _Converged:
    """Terminal event: every rate below ``tol`` (the energy has stopped changing)."""

    flow: CompiledFlow
    tol: float
    terminal = True
    direction = -1

    def __call__(self, t, y):
        return np.max(np.abs(self.flow.rates(t, y, count=False))) - self.tol


@dataclass
class _Blowup:
    """Terminal event: |a|, |c| or the recurrent gain |b|^(T-1) of some mode exceeds ``threshold``.

    The recurrent gain is what explodes hidden activity and gradients; on short sequences b can run away (no
    finite minimiser) long before any number overflows, so it is watched directly. Logs avoid overflow.
    """

    threshold: float
    T: int
    terminal = True
    direction = 1

    def gains(self, y):
        """log|a|, (T-1) log|b|, log|c| per mode (shape (K, 3))."""
        with np.errstate(divide="ignore"):
            logs = np.log(np.abs(y.reshape(-1, 3)))
        logs[:, 1] = logs[:, 1] * (self.T - 1) if self.T > 1 else 0.0  # T = 1: b never acts (avoid 0 * -inf)
        return logs

    def __call__(self, t, y):
        return np.max(self.gains(y)) - np.log(self.threshold)


def integrate(task, t_end: float, *, n_points: int = 201, t_eval=None, method=None, rtol: float | None = None,
              atol: float | None = None, converged_tol: float | None = None,
              divergence_threshold: float | None = None) -> Trajectory:
    """Integrate the gradient flow of the connectivity modes of ``task``.

    Parameters
    ----------
    task : Task, dict or path
        The task (singular values, initial a, b, c, tau).
    t_end : float
        Final time, in units where tau multiplies the left side (tau * da/dt = ...).
    n_points : int, optional
        Number of equally spaced output times from 0 to ``t_end`` (ignored when ``t_eval`` is given).
    t_eval : array_like, optional
        Explicit output times: finite, strictly increasing, within [0, t_end].
    method : str or lrnn_theory.solvers.Solver, optional
        Integration strategy; LSODA with the analytic banded Jacobian by default. With the default, a badly
        scaled task on which the solver fails (not one that diverges) is retried with the methods of
        ``FALLBACK_METHODS``; ``info["attempts"]`` lists what failed first. A method given explicitly is not replaced.
    rtol, atol : float, optional
        Override the solver's tolerances.
    converged_tol : float, optional
        Stop early once every |d(theta)/dt| falls below this value (the energy has stopped changing).
    divergence_threshold : float, optional
        Raise ``DivergenceError`` when |a|, |c| or the recurrent gain |b|^(T-1) of a mode exceeds this value.
        By default ``default_divergence_threshold(task)``: 1e8, or 1e3 times the task's own scale (its largest
        singular value times its dynamic range) when that is larger, so that a zero-loss solution that needs a large
        gain is not taken for divergence.

    Returns
    -------
    Trajectory
        ``info`` holds the method, ``nfev``, ``njev``, ``status`` and the final time reached.

    Raises
    ------
    DivergenceError
        When a mode overflows or grows past ``divergence_threshold``; the message gives the time and the mode.
    IntegrationError
        When no method could integrate the task (too badly scaled for floating point); the message names the
        task's scale and the remedy.
    LrnnInputError
        For bad arguments, and up front for tasks whose energy overflows floating point or whose ``t_end`` is
        beyond ``MAX_T_END`` time constants.

    Examples
    --------
    >>> from lrnn_theory import Task, integrate
    >>> traj = integrate(Task.inverse_exponential(delta=1.0, lam=0.5, T=4), t_end=200.0)
    >>> round(float(traj.b[-1, 0]), 4), round(float(traj.u[-1, 0]), 4)
    (0.5, 1.0)
    """
    flow = compile_flow(task)
    task = flow.task
    t_end = check_real("t_end", t_end, positive=True)
    if t_end / task.tau > MAX_T_END:
        raise bad("t_end", t_end, f"be at most {MAX_T_END:g} * tau = {MAX_T_END * task.tau:g} (beyond it the "
                                  f"spacing of floating-point times is too coarse for the solver); rescale tau or "
                                  f"the task")
    if divergence_threshold is None:
        threshold = default_divergence_threshold(task)
    else:
        threshold = check_real("divergence_threshold", divergence_threshold, positive=True)
    if t_eval is None:
        n_points = check_int("n_points", n_points, minimum=2)
        resources.guard(resources.integrate_estimate(task.K, task.T, n_points), "integrating the task")
        t_eval = np.linspace(0.0, t_end, n_points)
    else:
        t_eval = check_finite_array("t_eval", t_eval, ndim=1)
        if np.any(np.diff(t_eval) <= 0) or t_eval[0] < 0 or t_eval[-1] > t_end:
            raise bad("t_eval", t_eval, f"be strictly increasing times within [0, {t_end:g}]")
        resources.guard(resources.integrate_estimate(task.K, task.T, t_eval.size), "integrating the task")
    check_task_scale(task)
    failures = []
    for attempt, attempt_rtol in _attempts(task, method, rtol):
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
        return traj
    smax = float(np.max(np.abs(task.singular_values)))
    remedy = ("try another --method or looser tolerances" if method is not None else
              "the task is too badly scaled for floating point")
    raise IntegrationError(
        f"could not integrate task '{plain_name(task.name)}' (largest singular value {smax:.3g}, T={task.T}, "
        f"tau={task.tau:g}): {'; '.join(failures)}; {remedy}: rescale 'singular_values' (or delta), 'init' or "
        f"'tau', or shorten t_end")


#: Methods tried, in order, after the default one fails on a badly scaled task (not on divergence): BDF and Radau
#: cope where LSODA's step-size control breaks down at t = 0 on singular values of 1e8 and more, and the reverse;
#: the last attempt is BDF at a looser relative tolerance (``FALLBACK_RTOL``), unless the caller set ``rtol``.
FALLBACK_METHODS = ("BDF", "Radau")
FALLBACK_RTOL = 1e-6

#: Largest singular value from which BDF is tried before the default method (LSODA fails slowly there).
BADLY_SCALED = 1e6


def _attempts(task, method, rtol):
    """(method, rtol) pairs to try in turn: only the given method if there is one, else the fallback chain."""
    if method is not None:
        return [(method, rtol)]
    chain = [None, *FALLBACK_METHODS]
    if float(np.max(np.abs(task.singular_values))) >= BADLY_SCALED:
        chain = [FALLBACK_METHODS[0], None, *FALLBACK_METHODS[1:]]
    attempts = [(m, rtol) for m in chain]
    if rtol is None:
        attempts.append((FALLBACK_METHODS[0], FALLBACK_RTOL))
    return attempts

#: Largest t_end in units of tau: at 1e12 the spacing of doubles is 1e-4, near the step sizes the flow needs.
MAX_T_END = 1e12

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
    blowup = _Blowup(threshold, flow.task.T)
    events = [blowup]
    if converged_tol is not None:
        events.append(_Converged(flow, check_real("converged_tol", converged_tol, positive=True)))
    y0 = flow.initial_state()
    if blowup(0.0, y0) > 0:
        mode = int(np.argmax(np.max(blowup.gains(y0), axis=1)))
        raise DivergenceError(
            f"the initial state of mode {mode} is already beyond divergence_threshold={threshold:g} (|a|, |c| or "
            f"|b|^(T-1) with T={flow.task.T}); raise divergence_threshold to integrate from it", time=0.0, mode=mode)
    flow.reset_counters()
    flow.watch_progress = True
    try:
        sol = solve_ivp(flow.rates, (0.0, t_end), y0, t_eval=t_eval, events=events,
                        **solver.solve_ivp_options(flow))
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
        t_hit = float(sol.t_events[0][0])
        y_hit = sol.y_events[0][0]
        mode = int(np.argmax(np.max(blowup.gains(y_hit), axis=1)))
        raise DivergenceError(
            f"learning dynamics diverged at t={t_hit:.6g}: in mode {mode}, |a|, |c| or the recurrent gain "
            f"|b|^(T-1) grew past {threshold:g} "
            f"(a={y_hit[3 * mode]:.4g}, b={y_hit[3 * mode + 1]:.4g}, c={y_hit[3 * mode + 2]:.4g})",
            time=t_hit, mode=mode)
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
    traj = Trajectory(t=ts, a=Y[:, 0::3], b=Y[:, 1::3], c=Y[:, 2::3], energy=flow.energy(Y),
                      info={"method": solver.name, "rtol": solver.rtol, "atol": solver.atol, "nfev": flow.nfev,
                            "njev": flow.njev, "status": int(sol.status), "t_final": float(ts[-1]),
                            "source": "theory"})
    return traj
