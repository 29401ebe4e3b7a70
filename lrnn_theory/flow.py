"""Numeric side of the mode flow: compile the derived ODEs into vectorized numpy functions and integrate them.

``compile_flow`` lambdifies the three per-mode right-hand sides and the 3x3 Jacobian derived in
``lrnn_theory.derivations.mode_flow`` (written through the task sums A(b), B(b) and their derivatives), and
evaluates the task sums for all K modes and all T steps with one matrix product over a table of powers of b. There
is no Python loop over modes or steps, and nothing symbolic grows with T.

``integrate`` runs the batched per-mode solver (``lrnn_theory.solvers.solve_blocks``: every mode its own step size,
through ``rates_blocks`` and ``jacobian_blocks`` on (K, 3) states) by default, or ``scipy.integrate.solve_ivp`` with
the state laid out as [a_0, b_0, c_0, a_1, b_1, c_1, ...] so that the Jacobian is banded (see
``lrnn_theory.solvers``). The method dispatch is in one place, at the end of ``integrate``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import sympy as sp

from .derivations import mode_flow as sym
from .errors import DivergenceError, IntegrationError, bad, check_int, check_real
from .solvers import CONVERGED, block_sparsity, blocks_to_banded, blocks_to_sparse, resolve_solver, solve_blocks
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
        """Table P[:, k] = b^k, k = 0..T-1 (shape (K, T), a transposed view of a (T, K) array), by repeated squaring.

        The filled rows b^0..b^(n-1) are multiplied by b^n to give b^n..b^(2n-1): log2(T) vectorized products over
        contiguous rows instead of a running product along T (measured several times faster than ``np.cumprod``, up
        to ~30x at K = 10,000; see benchmarks/bench_flow.py), with a rounding error growing like log T, not T.
        """
        T = self.T
        P = np.empty((T, b.shape[0]))
        P[0] = 1.0
        b_n = np.array(b, dtype=float)  # b^n, n = rows filled so far
        n = 1
        while n < T:
            width = min(n, T - n)
            np.multiply(P[:width], b_n, out=P[n:n + width])
            n += width
            if n < T:
                b_n = b_n * b_n
        return P.T

    def subset(self, modes: np.ndarray) -> "TaskSums":
        """The task sums of the modes ``modes`` only (the batched solver drops modes that have finished).

        Every per-mode table (mode axis 1 of ``wa``) must be sliced here; ``wb`` is shared by all modes.
        """
        part = object.__new__(type(self))
        part.__dict__.update(self.__dict__)
        part.wa = self.wa[:, modes]
        return part

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
        self._subset_modes, self._subset_sums = None, None
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

    #: State variables per mode (a, b, c): the size of the diagonal Jacobian blocks.
    block_size = 3

    def _sums_for(self, modes):
        """Task sums of the modes ``modes`` (None: all), cached for as long as the solver passes the same array."""
        if modes is None or len(modes) == self.K:
            return self.sums
        if modes is not self._subset_modes:
            self._subset_modes, self._subset_sums = modes, self.sums.subset(modes)
        return self._subset_sums

    def rates_blocks(self, t, Y, modes=None) -> np.ndarray:
        """Rates (k, 3) for the states Y (k, 3) of the modes ``modes`` (indices; None: all K). No checks: the
        batched solver handles non-finite values per mode."""
        sums = self._sums_for(modes)
        a, b, c = Y[:, 0], Y[:, 1], Y[:, 2]
        A0, A1, B0, B1 = sums.evaluate(b)
        out = np.empty_like(Y)
        out[:, 0], out[:, 1], out[:, 2] = self._rate_fn(a, b, c, self.tau, A0, A1, 0.0, B0, B1, 0.0)
        out /= self.tau
        return out

    def _jacobian(self, Y, sums) -> np.ndarray:
        a, b, c = Y[:, 0], Y[:, 1], Y[:, 2]
        rows = self._jac_fn(a, b, c, self.tau, *sums.evaluate(b, second=True))
        blocks = np.empty((Y.shape[0], 3, 3))
        for p in range(3):
            for q in range(3):
                blocks[:, p, q] = rows[p][q]
        blocks /= self.tau
        return blocks

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
            self.overflow = self.overflow_error(t, mode, y[3 * mode:3 * mode + 3])
        if t == self._t_start or self._nonfinite_calls >= self.MAX_NONFINITE_CALLS:
            raise self.overflow

    def overflow_error(self, t, mode: int, y_mode) -> DivergenceError:
        """The error for a mode whose rates are not finite (state ``y_mode`` = its a, b, c)."""
        a, b, c = y_mode
        cause = (f"|b|^(T-1) = |{b:.4g}|^{self.task.T - 1} overflows" if abs(b) > 1 else
                 "the mode strengths or singular values are too large for floating point")
        return DivergenceError(
            f"learning dynamics diverged at t={t:.6g}: mode {mode} overflowed (a={a:.4g}, b={b:.4g}, c={c:.4g}): "
            f"{cause}", time=float(t), mode=mode)

    def _check_progress(self, t, y):
        if not self.watch_progress:
            return
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

    def jacobian_blocks(self, t, y, modes=None) -> np.ndarray:
        """(k, 3, 3) Jacobian blocks d(rate of a, b, c)/d(a, b, c).

        ``y`` is the flat state (3K,) (checked for overflow, as for the scipy solvers) or, with ``modes`` given,
        the (k, 3) states of those modes (unchecked: the batched solver handles non-finite values per mode).
        """
        if modes is not None:
            return self._jacobian(y, self._sums_for(modes))
        self.njev += 1
        with np.errstate(over="ignore", invalid="ignore"):
            blocks = self._jacobian(np.reshape(y, (-1, 3)), self.sums)
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
              divergence_threshold: float = 1e8) -> Trajectory:
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
        Explicit output times.
    method : str or lrnn_theory.solvers.Solver, optional
        Integration strategy: "Batched" (default: one step size per mode, RODAS4 on the 3x3 Jacobian blocks,
        see ``lrnn_theory.solvers.solve_blocks``) or a scipy method by name ("LSODA", "BDF", "Radau", "RK45",
        "DOP853").
    rtol, atol : float, optional
        Override the solver's tolerances.
    converged_tol : float, optional
        Stop early once every |d(theta)/dt| falls below this value (the energy has stopped changing). With the
        batched solver each mode stops (and keeps its state) as soon as its own rates are below it.
    divergence_threshold : float, optional
        Raise ``DivergenceError`` when |a|, |c| or the recurrent gain |b|^(T-1) of a mode exceeds this value.

    Returns
    -------
    Trajectory
        ``info`` holds the method, ``nfev``, ``njev`` (vectorized calls for the batched solver), ``status`` (1 when
        stopped by ``converged_tol``) and the final time reached; the batched solver adds the largest and median
        number of steps per mode and the rejected steps.

    Raises
    ------
    DivergenceError
        When a mode overflows or grows past ``divergence_threshold``; the message gives the time and the mode.

    Examples
    --------
    >>> from lrnn_theory import Task, integrate
    >>> traj = integrate(Task.inverse_exponential(delta=1.0, lam=0.5, T=4), t_end=200.0)
    >>> round(float(traj.b[-1, 0]), 4), round(float(traj.u[-1, 0]), 4)
    (0.5, 1.0)
    """
    flow = compile_flow(task)
    t_end = check_real("t_end", t_end, positive=True)
    threshold = check_real("divergence_threshold", divergence_threshold, positive=True)
    solver = resolve_solver(method, rtol, atol)
    if t_eval is None:
        n_points = check_int("n_points", n_points, minimum=2)
        t_eval = np.linspace(0.0, t_end, n_points)
    else:
        t_eval = np.asarray(t_eval, dtype=float)
        if t_eval.ndim != 1 or t_eval.size == 0 or np.any(np.diff(t_eval) <= 0) or t_eval[0] < 0 \
                or t_eval[-1] > t_end:
            raise bad("t_eval", t_eval, f"be increasing times within [0, {t_end}]")
    if converged_tol is not None:
        converged_tol = check_real("converged_tol", converged_tol, positive=True)
    blowup = _Blowup(threshold, flow.task.T)
    y0 = flow.initial_state()
    if blowup(0.0, y0) > 0:
        mode = int(np.argmax(np.max(blowup.gains(y0), axis=1)))
        raise DivergenceError(
            f"the initial state of mode {mode} is already beyond divergence_threshold={threshold:g} (|a|, |c| or "
            f"|b|^(T-1) with T={flow.task.T}); raise divergence_threshold to integrate from it", time=0.0, mode=mode)
    if solver.batched:
        ts, Y, info = _integrate_batched(flow, solver, t_end, t_eval, blowup, converged_tol)
    else:
        ts, Y, info = _integrate_scipy(flow, solver, t_end, t_eval, blowup, converged_tol)
    info = {"method": solver.name, "rtol": solver.rtol, "atol": solver.atol, **info, "t_final": float(ts[-1]),
            "source": "theory"}
    return Trajectory(t=ts, a=Y[:, 0::3], b=Y[:, 1::3], c=Y[:, 2::3], energy=flow.energy(Y), info=info)


def _divergence_error(t_hit: float, mode: int, y_mode, threshold: float) -> DivergenceError:
    a, b, c = y_mode
    return DivergenceError(
        f"learning dynamics diverged at t={t_hit:.6g}: in mode {mode}, |a|, |c| or the recurrent gain "
        f"|b|^(T-1) grew past {threshold:g} (a={a:.4g}, b={b:.4g}, c={c:.4g})", time=t_hit, mode=mode)


def _integrate_batched(flow, solver, t_end, t_eval, blowup, converged_tol):
    """Per-mode step sizes (``lrnn_theory.solvers.solve_blocks``); returns output times, flat states, info."""
    sol = solve_blocks(flow, flow.initial_state().reshape(flow.K, flow.block_size), t_end, t_eval, solver.rtol,
                       solver.atol, converged_tol=converged_tol,
                       log_gain=lambda Y: np.max(blowup.gains(Y), axis=1), log_threshold=np.log(blowup.threshold))
    flow.nfev, flow.njev = sol.nfev, sol.njev
    fail = sol.failure
    if fail is not None:
        if fail.kind == "diverged":
            raise _divergence_error(fail.time, fail.mode, fail.y, blowup.threshold)
        if fail.kind == "overflow":
            raise flow.overflow_error(fail.time, fail.mode, fail.y)
        a, b, c = fail.y
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


def _integrate_scipy(flow, solver, t_end, t_eval, blowup, converged_tol):
    """One scipy ``solve_ivp`` run over the flat state (one shared step size); returns times, states, info."""
    from scipy.integrate import solve_ivp

    events = [blowup]
    if converged_tol is not None:
        events.append(_Converged(flow, converged_tol))
    y0 = flow.initial_state()
    flow.reset_counters()
    flow.watch_progress = True
    try:
        sol = solve_ivp(flow.rates, (0.0, t_end), y0, t_eval=t_eval, events=events,
                        **solver.solve_ivp_options(flow))
    finally:
        flow.watch_progress = False
    if sol.status == 1 and sol.t_events[0].size:
        y_hit = sol.y_events[0][0]
        mode = int(np.argmax(np.max(blowup.gains(y_hit), axis=1)))
        raise _divergence_error(float(sol.t_events[0][0]), mode, y_hit[3 * mode:3 * mode + 3], blowup.threshold)
    if sol.status < 0 or not np.all(np.isfinite(sol.y)):
        if flow.overflow is not None:
            raise flow.overflow
        raise DivergenceError(f"integration failed at t={sol.t[-1]:.6g} before t_end={t_end:g}: {sol.message}",
                              time=float(sol.t[-1]))
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
