"""Learning order (Result 1): which modes are learned first, predicted from the theory.

From a small initialisation the input-output mode u = a c escapes the saddle at a = c = 0 while b has barely moved
(b moves at a rate proportional to u), so u first follows the logistic of App. C with b frozen at b(0):

    tau du/dt = 2u (A(b0) - B(b0) u),    rate 2 A(b0) / tau,    A(b) = sum_i s_i b^(T-i).

**The quantity that sets the order is the discounted sum A(b(0))**: each singular value s_i counts with the weight
b(0)^(T-i), so for |b(0)| < 1 the later steps (i near T) count most ("temporal precedence"), and as b(0) -> 0 the
rate is set by the last-step singular value s_T alone. This is the paper's "larger and later singular values are
learned faster". It is a small-initialisation statement: for |b(0)| >= 1 the weights b^(T-i) grow towards the early
steps, so early singular values dominate A; for a large initialisation (u(0) not small against u*(b0) = A/B), or a
b(0) far from 0, learning is no longer an escape from the saddle at rate 2A/tau and the order must be read from the
full flow.

``predict_learning_order`` therefore returns, for every mode of every task given:

* ``times``: the time for u to reach ``fraction`` (default 90%) of its final value along the integrated full flow
  (``lrnn_theory.integrate``): the theory's prediction, to compare with simulations;
* ``times_logistic``: the closed-form logistic estimate (b frozen at b(0)) of the time to reach ``fraction`` of
  u*(b0) = A(b0)/B(b0), from ``lrnn_theory.frozen``;
* ``discounted_sum`` A(b0), the ``rate`` 2A(b0)/tau, the orders they imply, and a per-mode flag ``regime_ok``
  (with ``reasons``) telling whether the small-initialisation "later is faster" argument applies: |b(0)| < 1,
  small |u(0)|, and b nearly frozen while u is learned (u*(b0) = A(b0)/B(b0) within ``drift_tolerance`` of the
  final u). Example where it fails although |b(0)| < 1: the Fig. A1 pair from b(0) = 0.5 (``rate_order_agrees`` is
  False there, and simulations side with the integrated flow).

Inputs correlated across time change only the task sums: A(b) = sum_i sigma_i b^(T-i) (the cross-covariances) and
B(b) = sum_ij lambda_ij b^(T-i) b^(T-j), so the logistic rate is still 2 A(b0) / tau and u*(b0) = A(b0)/B(b0); each
entry keeps its mode's covariance.

The same result covers every kind of task. For complex (rotational, App. O) modes A(b0) is complex, u first turns
towards the angle of u*(b0) and then grows: the rate is 2|A(b0)|/tau (larger radii are learned faster), "learned" is
Re(u / final u) >= ``fraction`` (u/final u for real modes), and the logistic estimate is the closed form with b
frozen (``lrnn_theory.frozen.LineSolution``: u runs straight from u(0) to u*(b0)). Every entry also gets its polar
times (``polar_times``): the settling times of the radius and the angle of b and u along the integrated flow
(``polar_time_scales``), which show "angle first, radius later".
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import resources
from .errors import DivergenceError, LrnnError, bad, check_int, check_real
from .flow import compile_flow, default_divergence_threshold, integrate
from .frozen import io_solution_for, task_sums_at
from .stability import json_ready
from .tasks import Task, coerce_task
from .trajectory import Trajectory

#: An initial |u(0)| above this fraction of the final |u| counts as a large initialisation.
SMALL_INIT_FRACTION = 0.05
#: Largest relative gap between u*(b0) = A(b0)/B(b0) and the final u for which b counts as (nearly) frozen.
DRIFT_TOLERANCE = 0.25


def discounted_sum(task, b=None) -> np.ndarray:
    """The discounted sum A(b) = sum_i s_i conj(b)^(T-i) for every mode (the task sums' A, any kind of task): it
    sets the learning order.

    Parameters
    ----------
    task : Task, dict or path
    b : array_like, optional
        Recurrent strengths (default: the task's initial b).

    Returns
    -------
    ndarray, shape (K,)
        Complex for a complex task.
    """
    task = coerce_task(task)
    return task_sums_at(task, task.init.b if b is None else b)[0]


def time_to_fraction(t, u, fraction: float = 0.9, final=None) -> np.ndarray:
    """First time at which u reaches ``fraction`` of its final value, per mode (linear interpolation in t).

    For complex u the progress is Re(u / final): the part of u along its final value (u / final for real u).

    Parameters
    ----------
    t : array (n,)
    u : array (n, K), real or complex
    fraction : float in (0, 1)
    final : array (K,), optional
        The final value (default: u at the last time).

    Returns
    -------
    ndarray (K,)
        ``inf`` for a mode that never reaches it (or whose final value is 0); 0 if it starts beyond it.
    """
    t = np.asarray(t, dtype=float)
    u = np.asarray(u)
    dtype = np.result_type(u, float, *(() if final is None else (np.asarray(final),)))  # complex u: complex modes
    u = u.astype(dtype)
    u = u[:, None] if u.ndim == 1 else u
    final = u[-1] if final is None else np.broadcast_to(np.asarray(final, dtype=dtype), u.shape[1:])
    with np.errstate(divide="ignore", invalid="ignore"):
        progress = np.real(u / final)  # >= fraction once the mode is learned (sign- and phase-independent)
    reached = progress >= fraction
    valid = (final != 0) & np.isfinite(final) & reached.any(axis=0)
    j = np.argmax(reached, axis=0)  # first index at or beyond the fraction, per mode
    prev = np.maximum(j - 1, 0)
    modes = np.arange(u.shape[1])
    p0, p1 = progress[prev, modes], progress[j, modes]
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = t[prev] + (fraction - p0) / (p1 - p0) * (t[j] - t[prev])
    out = np.where(j == 0, t[0], crossing)
    return np.where(valid, out, np.inf)


@dataclass
class LearningOrder:
    """Predicted learning times and order of a set of modes (see ``predict_learning_order``).

    Attributes
    ----------
    labels : list of str
        "task name / mode k" per entry.
    fraction : float
    times : ndarray
        Time for u to reach ``fraction`` of its final value along the integrated full flow (Re(u / final u) for
        complex modes).
    times_logistic : ndarray
        Closed-form estimate with b frozen at b(0): time to reach ``fraction`` of u*(b0) = A(b0)/B(b0) (the real
        solution of ``lrnn_theory.frozen.IOSolution``, or ``LineSolution`` for complex modes: Re(u/u*)).
    discounted_sum, rate : ndarray
        A(b0) (complex for complex modes) and the logistic rate 2 A(b0) / tau (2 |A(b0)| / tau for complex modes).
    u0, b0, u_star0, final_u, final_b : ndarray
        Complex when some entry is complex.
    order : ndarray
        Indices of the entries sorted by ``times`` (fastest first).
    order_by_rate : ndarray
        Indices sorted by decreasing rate (the small-initialisation prediction).
    regime_ok : ndarray of bool
        Whether the small-initialisation argument applies: |b0| < 1, |u0| small against the final |u|, and
        u*(b0) = A(b0)/B(b0) close to the final u (b nearly frozen while u is learned).
    reasons : list of list of str
        Why it does not apply, per entry.
    polar_times : dict
        ``{"b": {"radius": (n,), "angle": (n,)}, "u": {...}}``: settling times of the radius and the angle of b and
        u along the integrated flow (``polar_time_scales``); for real modes the angle moves only when the sign
        changes.
    """

    labels: list
    fraction: float
    times: np.ndarray
    times_logistic: np.ndarray
    discounted_sum: np.ndarray
    rate: np.ndarray
    u0: np.ndarray
    b0: np.ndarray
    u_star0: np.ndarray
    final_u: np.ndarray
    final_b: np.ndarray
    order: np.ndarray
    order_by_rate: np.ndarray
    regime_ok: np.ndarray
    reasons: list = field(default_factory=list)
    polar_times: dict = field(default_factory=dict)

    @property
    def rate_order_agrees(self) -> bool:
        """Whether the order by rate 2A(b0)/tau equals the order by integrated learning time."""
        return bool(np.array_equal(self.order, self.order_by_rate))

    def to_dict(self) -> dict:
        """JSON-ready dict of every field, plus ``rate_order_agrees``; complex arrays as ``{"re", "im"}``."""
        out = json_ready(self.__dict__)
        out["rate_order_agrees"] = self.rate_order_agrees
        return out

    def table(self) -> str:
        """Printable table, one row per entry (complex values by modulus)."""
        rows = [f"{'entry':<28}{'A(b0)':>9}{'2A/tau':>9}{'t_flow':>9}{'t_logist':>9}{'final u':>9}{'final b':>9}"
                f"  regime"]
        # Presentation, not a code path per kind of task: a column of fixed width shows a real number with its
        # sign, a complex one by its modulus.
        show = (lambda x: abs(x)) if np.iscomplexobj(self.final_u) else (lambda x: x)
        for k, label in enumerate(self.labels):
            rows.append(f"{label:<28}{show(self.discounted_sum[k]):9.4f}{self.rate[k]:9.4f}{self.times[k]:9.4f}"
                        f"{self.times_logistic[k]:9.4f}{show(self.final_u[k]):9.4f}{show(self.final_b[k]):9.4f}  "
                        + ("small-init" if self.regime_ok[k] else "; ".join(self.reasons[k])))
        rows.append("order (flow):    " + " < ".join(self.labels[k] for k in self.order))
        rows.append("order (2A/tau):  " + " < ".join(self.labels[k] for k in self.order_by_rate))
        return "\n".join(rows)


def polar_time_scales(trajectory, fraction: float = 0.9) -> dict:
    """Measured settling times of the radius and the (unwrapped) angle of b and u, per mode.

    The settling time of a part x(t) is the last time at which |x(t) - x(end)| exceeds ``1 - fraction`` times its
    largest value over the trajectory: after it, the part has covered ``fraction`` of its way for good. This holds
    for monotone approaches and for excursions (such as the imaginary excursion of u for a real delta) alike.

    Parameters
    ----------
    trajectory : Trajectory
        Modes over time (theory or simulation; complex for a complex task), run until they have settled.
    fraction : float in (0, 1)

    Returns
    -------
    dict
        ``{"b": {"radius": (K,), "angle": (K,)}, "u": {...}}``; 0 for a part that does not move.
    """
    fraction = _check_fraction(fraction)
    out = {}
    t = np.asarray(trajectory.t, dtype=float)
    for name in ("b", "u"):
        radius, angle = trajectory.polar(name)
        out[name] = {}
        for part, values in (("radius", radius), ("angle", angle)):
            gap = np.abs(values - values[-1])
            largest = np.max(gap, axis=0)
            outside = gap > (1 - fraction) * largest
            last = values.shape[0] - 1 - np.argmax(outside[::-1], axis=0)  # last index still outside
            settled = t[np.minimum(last + 1, t.size - 1)]
            out[name][part] = np.where(largest > 1e-9, settled, 0.0)
    return out


def _check_fraction(fraction) -> float:
    fraction = check_real("fraction", fraction, positive=True)
    if fraction >= 1:
        raise bad("fraction", fraction, "be in (0, 1)")
    return fraction


def _stack(tasks) -> tuple:
    """Combine tasks (possibly of different T) into one list of per-mode single-mode tasks (of the same kind)."""
    if isinstance(tasks, (Task, dict, str)) or hasattr(tasks, "__fspath__"):
        tasks = [tasks]
    entries, labels = [], []
    for n, task in enumerate(tasks):
        task = coerce_task(task)
        for k in range(task.K):
            init = {x: getattr(task.init, x)[k].item() for x in ("a", "b", "c")}  # complex for rotational tasks
            entry = Task(task.singular_values[k], init=init, tau=task.tau, name=task.name, outputs=task.outputs,
                         input_covariance=_mode_covariance(task, k))
            # One number type per task: a real-valued mode of a complex task stays complex (Task would store it
            # as real), so that every mode of a task runs through the same engine.
            entry.singular_values = entry.singular_values.astype(task.singular_values.dtype)
            entry.init = entry.init.astype(task.singular_values.dtype)
            entries.append(entry)
            labels.append(f"{task.name}#{n}" + (f"/mode {k}" if task.K > 1 else ""))
    if not entries:
        raise bad("tasks", tasks, "hold at least one task")
    return entries, labels


def _mode_covariance(task, k: int):
    """The input covariance of mode k of ``task`` (None for white inputs; a stationary one keeps its spec)."""
    cov = task.input_covariance
    if cov is None or cov.spec is not None or cov.matrix.ndim == 2:
        return cov
    return cov.matrix[k]


#: How the full flow is integrated for the learning time: LSODA at a tight tolerance (for a few modes its variable
#: order beats the batched RODAS4, measured ~5x), stopped once every rate is below 1e-9.
FLOW_OPTIONS = dict(converged_tol=1e-9, method="LSODA", rtol=1e-10, atol=1e-12)
#: Most entries integrated together, as the modes of one task: the output times of each entry are kept, so the rows
#: held grow with the entries, and the states with their square.
GROUP_SIZE = 4
#: Entries are integrated together only when their |a| and |c| start at least this large: below it LSODA's atol
#: (1e-12) is coarse against the state, and the steps the entries share would move one entry's learning time with the
#: others in its group (measured: 6e-10 relative at 1e-3, 1.5e-6 at 1e-7, 1e-3 at 1e-10); such entries run alone.
GROUP_MIN_INIT = 1e-3
#: Most numbers of task sums (states x their sums) evaluated at once by ``_largest_rates``.
RATE_CHUNK = 2e6


def _horizons(t_guess: float, max_time: float) -> list:
    """t_guess, 2 t_guess, 4 t_guess, ... while at most ``max_time``, then ``max_time``."""
    horizons = [t_guess]
    while 2 * horizons[-1] <= max_time:
        horizons.append(2 * horizons[-1])
    return horizons + ([max_time] if horizons[-1] < max_time else [])


def _output_times(horizons, n_points: int) -> tuple:
    """(the ``n_points`` equally spaced times of each horizon, their union in increasing order). The times of a
    doubled horizon up to the one before are every other time of that one, so it adds its times beyond it."""
    grids = [np.linspace(0.0, h, n_points) for h in horizons]
    pieces = [grids[0]] + [grid[grid > h] if h_next == 2 * h else grid
                           for grid, h, h_next in zip(grids[1:], horizons, horizons[1:])]
    return grids, _union(pieces)


def _union(pieces) -> np.ndarray:
    """The times of increasing arrays, in increasing order, each once (runs: merged, not sorted anew)."""
    t = np.sort(np.concatenate(pieces), kind="stable")
    return t[np.r_[True, t[1:] > t[:-1]]]


def _rows_at(t, times) -> np.ndarray:
    """Index of each of ``times`` in the increasing ``t`` that holds it (equal to rounding: i (2 dt) and (2 i) dt)."""
    above = np.clip(np.searchsorted(t, times), 1, t.size - 1)
    return np.where(np.abs(t[above - 1] - times) <= np.abs(t[above] - times), above - 1, above)


def _entry_trajectory(traj, k: int, grids, horizons, stop: int):
    """Mode k of ``traj`` on the output times of the first horizon that holds its convergence row ``stop`` (the last
    horizon is the end of ``traj``): those times before it, then the row itself."""
    t_stop = traj.t[stop]
    grid = grids[next(j for j, h in enumerate(horizons) if t_stop <= h)]
    rows = np.append(_rows_at(traj.t[:stop + 1], grid[grid < t_stop]), stop)
    return Trajectory(t=traj.t[rows], a=traj.a[rows, k:k + 1], b=traj.b[rows, k:k + 1], c=traj.c[rows, k:k + 1],
                      energy=traj.energy[rows, k:k + 1], info=traj.info)


def _integrate_to_convergence(task, t_guess: float, max_time: float, n_points: int):
    """The full flow on ``n_points`` equally spaced times from 0 to the first horizon of t_guess, 2 t_guess, 4 t_guess,
    ... (then ``max_time``) by which it converges (rates < 1e-9), stopped there; to ``max_time`` if it never does.

    One integration serves every horizon: it runs to ``max_time`` (stopped where it converges) with the output times
    of all of them (``_output_times``), and keeps those of the horizon its convergence time falls in. (Integrating
    each horizon from t = 0 until one converged repeated the learning phase, most of the work, for every horizon
    passed.) The output times stay those of the horizon because the learning time is interpolated between them.

    Fixed-point end points (``flow_endpoints``) would not pay off here: the learning time needs the trajectory, and
    its tail from rate 1e-6 to 1e-9 costs under 15% of the integration (measured: 0.034 against 0.038 s CPU for the
    doctest's tasks), less than the check integration the fixed point needs per entry."""
    horizons = _horizons(t_guess, max_time)
    grids, t_eval = _output_times(horizons, n_points)
    traj = integrate(task, max_time, t_eval=t_eval, **FLOW_OPTIONS)
    last = 0 if traj.info["status"] == 1 else len(horizons) - 1  # not converged: on the times of max_time
    return _entry_trajectory(traj, 0, grids[last:], horizons[last:], traj.t.size - 1)


def _group_key(entry) -> tuple:
    """Entries of equal key integrate as the modes of one task (``_integrate_together``): equal T, outputs, tau,
    number type and divergence threshold, white inputs or not."""
    return (entry.T, entry.outputs, entry.tau, entry.singular_values.dtype.str, default_divergence_threshold(entry),
            entry.input_covariance is None)


def _together(entries) -> Task:
    """The single-mode ``entries`` (of one ``_group_key``) as the modes of one task, each with its covariance."""
    first = entries[0]
    covs = [entry.input_covariance for entry in entries]
    cov = covs[0]
    if cov is not None and not all(c.spec == cov.spec and np.array_equal(c.matrix, cov.matrix) for c in covs):
        cov = np.stack([c.matrix for c in covs])  # one (T, T) matrix per entry
    dtype = first.singular_values.dtype
    task = Task(np.concatenate([entry.singular_values for entry in entries]), tau=first.tau, name=first.name,
                init={x: np.concatenate([getattr(entry.init, x) for entry in entries]) for x in "abc"},
                outputs=first.outputs, input_covariance=cov)
    task.singular_values, task.init = task.singular_values.astype(dtype), task.init.astype(dtype)  # as in ``_stack``
    return task


def _largest_rates(task, traj) -> np.ndarray:
    """The largest |rate| of each mode of ``task`` at every time of ``traj`` (n, K), as the stopping event measures it:
    in chunks of times, each vectorized over its times and modes."""
    flow = compile_flow(task)
    layout, sums = flow.layout, flow.sums
    n, K = traj.a.shape
    rows = max(1, int(RATE_CHUNK // (K * sums.n ** 2)))  # (a full gram matrix per mode: n^2 numbers)
    out = np.empty((n, K))
    for start in range(0, n, rows):
        part = slice(start, min(n, start + rows))
        count = part.stop - part.start
        Yr = layout.pack(*(x[part].ravel() for x in (traj.a, traj.b, traj.c))).reshape(count * K, -1).T
        with np.errstate(all="ignore"):
            rates = layout.rates(Yr, sums.subset(np.tile(np.arange(K), count)))
        out[part] = np.max(np.abs(rates), axis=0).reshape(count, K)
    return out


def _integrate_together(entries, guesses, max_time: float, n_points: int) -> list:
    """``_integrate_to_convergence`` of each of ``entries`` (a list of one ``_group_key``) from one integration of
    them as the modes of one task (at small K a step costs about as much for several modes as for one: measured
    0.04-0.09 s against 0.08-0.19 s CPU for the two modes of the engine-matrix tasks), stopped once every mode has
    converged, on the union of their output times. Each entry's convergence row (where its largest rate first falls
    below 1e-9) picks its horizon; None for an entry that the event does not see converge (alone it would run on)."""
    task = _together(entries)
    horizons = [_horizons(guess, max_time) for guess in guesses]
    grids, times = zip(*(_output_times(h, n_points) for h in horizons))
    traj = integrate(task, max_time, t_eval=_union(times),
                     divergence_threshold=default_divergence_threshold(entries[0]), **FLOW_OPTIONS)
    converged = traj.info["status"] == 1
    below = _largest_rates(task, traj) < FLOW_OPTIONS["converged_tol"]
    below[-1] |= converged  # stopped where the last mode's rates reach it (to the root's accuracy)
    crossed = below[1:] & ~below[:-1]  # from at or above the tolerance to below it (the event's direction)
    out = []
    for k in range(task.K):
        if crossed[:, k].any():
            out.append(_entry_trajectory(traj, k, grids[k], horizons[k], 1 + int(np.argmax(crossed[:, k]))))
        else:  # not converged by max_time (as alone: on its times), or resting from the start (alone: run again)
            out.append(None if converged else _entry_trajectory(traj, k, grids[k][-1:], horizons[k][-1:],
                                                                   traj.t.size - 1))
    return out


def _trajectories(entries, guesses, max_times, n_points: int, labels) -> list:
    """The converged trajectory of every entry (``_integrate_to_convergence``): entries of one ``_group_key`` in
    groups of up to ``GROUP_SIZE`` integrated together, each alone where its group fails or it does not converge
    with it (so that errors and their order are those of integrating the entries one by one); entries that start
    small (``GROUP_MIN_INIT``) run alone."""
    out = [None] * len(entries)
    groups = {}
    for k, entry in enumerate(entries):
        small = min(np.min(np.abs(entry.init.a)), np.min(np.abs(entry.init.c))) < GROUP_MIN_INIT
        groups.setdefault(("alone", k) if small else _group_key(entry), []).append(k)
    for members in groups.values():
        for start in range(0, len(members), GROUP_SIZE):
            part = members[start:start + GROUP_SIZE]
            if len(part) < 2:
                continue
            try:
                found = _integrate_together([entries[k] for k in part], [guesses[k] for k in part],
                                            max_times[part[0]], n_points)  # (one tau in a group)
            except LrnnError:
                continue
            for k, traj in zip(part, found):
                out[k] = traj
    for k, entry in enumerate(entries):
        if out[k] is None:
            try:
                out[k] = _integrate_to_convergence(entry, guesses[k], max_times[k], n_points)
            except DivergenceError as exc:
                raise DivergenceError(f"{labels[k]}: {exc}", time=exc.time, mode=k) from None
    return out


def predict_learning_order(tasks, fraction: float = 0.9, small_init: float = SMALL_INIT_FRACTION,
                           drift_tolerance: float = DRIFT_TOLERANCE, max_time: float | None = None,
                           n_points: int = 4001) -> LearningOrder:
    """Predict each mode's learning time and the resulting order, from the theory, for every kind of task.

    Parameters
    ----------
    tasks : Task or sequence of Task
        Every mode of every task is one entry (modes decouple, so tasks of different T, kinds or outputs can be
        compared).
    fraction : float in (0, 1)
        Learned means u reached this fraction of its final value (0.9 by default; Re(u / final u) for complex u).
    small_init : float
        |u(0)| / |final u| at or above this counts as a large initialisation.
    drift_tolerance : float
        If the frozen-b fixed point u*(b0) = A(b0)/B(b0) differs from the final u by more than this fraction, b
        moves substantially while u is learned and the rate 2A(b0)/tau need not set the order.
    max_time : float, optional
        Longest integration horizon (default 1e4 tau).
    n_points : int
        Output times of each integration (the learning time is interpolated between them).

    Returns
    -------
    LearningOrder

    Examples
    --------
    >>> from lrnn_theory import Task
    >>> from lrnn_theory.learning_order import predict_learning_order
    >>> late = Task.inverse_exponential(delta=1.1, lam=0.5, T=7, name="late")    # large last-step SV
    >>> early = Task.inverse_exponential(delta=0.5, lam=1.1, T=7, name="early")  # large early SVs
    >>> pred = predict_learning_order([late, early])
    >>> [pred.labels[k] for k in pred.order]
    ['late#0', 'early#1']
    >>> rotational = [Task.from_family("inverse_exponential", T=5, delta=1.0, lam=R, lambda_phase=np.pi / 6,
    ...                                name=f"R={R}") for R in (0.4, 0.9)]
    >>> pred = predict_learning_order(rotational)   # larger radii are learned faster (App. O)
    >>> [pred.labels[k] for k in pred.order], bool(pred.rate[1] > pred.rate[0])
    (['R=0.9#1', 'R=0.4#0'], True)
    """
    fraction = _check_fraction(fraction)
    n_points = check_int("n_points", n_points, minimum=2)  # as integrate checks it (the output times go as t_eval)
    resources.guard(resources.integrate_estimate(1, 1, n_points), "the output times")
    small_init = check_real("small_init", small_init, positive=True)
    drift_tolerance = check_real("drift_tolerance", drift_tolerance, positive=True)
    entries, labels = _stack(tasks)
    n = len(entries)
    dtype = np.result_type(*{task.singular_values.dtype for task in entries})  # complex: some entry is
    A0, u0, b0, fin_u, fin_b = (np.empty(n, dtype) for _ in range(5))
    B0, rate, times, t_log, taus = (np.empty(n) for _ in range(5))
    polar = {q: {p: np.empty(n) for p in ("radius", "angle")} for q in ("b", "u")}
    reasons = []
    guesses, horizons = [], []
    for k, task in enumerate(entries):
        A, B = task_sums_at(task, task.init.b)
        A0[k], B0[k] = A[0], B[0]
        a, c = task.init.a[0], task.init.c[0]
        u0[k], b0[k], taus[k] = a * c, task.init.b[0], task.tau
        # u first turns towards the angle of A (a complex mode), then grows at 2|A|/tau (2A/tau for real A > 0).
        rate[k] = 2 * abs(A[0]) / task.tau
        t_log[k] = io_solution_for(A).time_to_fraction(fraction, A[0], B[0], a, c, task.tau)
        guess = 10 * (t_log[k] if np.isfinite(t_log[k]) and t_log[k] > 0 else task.tau)
        horizons.append(1e4 * task.tau if max_time is None else check_real("max_time", max_time, positive=True))
        guesses.append(min(guess, horizons[-1]))
    # one integration per entry or group of entries (``_trajectories``): tasks may differ in T
    for k, traj in enumerate(_trajectories(entries, guesses, horizons, n_points, labels)):
        b = b0[k]
        fin_u[k], fin_b[k] = traj.u[-1, 0], traj.b[-1, 0]
        times[k] = time_to_fraction(traj.t, traj.u, fraction)[0]
        scales = polar_time_scales(traj, fraction)
        for q in polar:
            for p in polar[q]:
                polar[q][p][k] = scales[q][p][0]
        why = []
        if abs(b) >= 1:
            why.append(f"|b(0)|={abs(b):.3g} >= 1: b^(T-i) weights early steps most")
        if fin_u[k] == 0 or abs(u0[k]) >= small_init * abs(fin_u[k]):
            why.append(f"large initialisation: |u(0)|={abs(u0[k]):.3g} >= {small_init:g} |final u|")
        ustar = A0[k] / B0[k]
        if abs(ustar - fin_u[k]) > drift_tolerance * abs(fin_u[k]):
            why.append(f"b moves while u is learned: u*(b0)=A/B={ustar:.3g} vs final u={fin_u[k]:.3g}")
        reasons.append(why)
    return LearningOrder(labels=labels, fraction=fraction, times=times, times_logistic=t_log, discounted_sum=A0,
                         rate=rate, u0=u0, b0=b0, u_star0=A0 / B0, final_u=fin_u, final_b=fin_b,
                         order=np.argsort(times, kind="stable"), order_by_rate=np.argsort(-rate, kind="stable"),
                         regime_ok=np.array([not r for r in reasons]), reasons=reasons, polar_times=polar)
