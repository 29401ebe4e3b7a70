"""Results for rotational (complex) tasks (paper App. N-O): solutions, stability, polar time scales, learning order.

The flow itself runs through the one engine (``lrnn_theory.integrate`` on a complex ``Task``; derivation in
``lrnn_theory.derivations.complex``). This module holds what is specific to complex modes:

* ``complex_task_sums(task, b)``: A(conj b) = sum_i d_i conj(b)^(T-i) and beta(|b|^2) = sum_i |b|^(2(T-i)) per mode.
* ``solve_complex_task``: the zero-loss solution where the profile is geometric (inverse-exponential b = lambda,
  u = delta; exponential b = 1/lambda, u = delta lambda^T; constant b = 1, u = delta), otherwise the minimiser of the
  reduced energy E*(b) = (||d||^2 - |A(conj b)|^2 / beta(|b|^2)) / (2 tau) over the disc |b| <= b_max; with
  stability from |b| (|b| > 1: early importance, unstable).
* ``frozen_io_polar``: the closed-form u(t) with b frozen and |a| = |c|: the angle relaxes at rate 2|A|/tau whatever
  the radius, the radius needs log(r*/r0) times longer ("angle first, radius later"); ``frozen_time_scales``.
* ``polar_time_scales(trajectory)``: measured times for the angle and the radius of b and u to cover a fraction of
  their way, per mode.
* ``rotational_learning_order``: learning times of radius and angle of u and b for several tasks, with the
  small-initialisation rate 2|A(conj b0)|/tau (larger radii are learned faster).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .errors import DivergenceError, bad, check_real
from .tasks import Task, coerce_task

#: Default search bound |b| <= B_MAX for complex modes without a zero-loss solution.
B_MAX = 2.0


def complex_task_sums(task, b) -> tuple:
    """A(conj b) (complex) and beta(|b|^2) (real) of every mode.

    Parameters
    ----------
    task : Task, dict or path
    b : array_like, shape (K,) or scalar
        Complex recurrent strengths.

    Returns
    -------
    A, beta : ndarray, shape (K,)

    Examples
    --------
    >>> A, beta = complex_task_sums(Task([[1j, 1.0]]), 0.5j)   # A = 1 + 1j * conj(0.5j), beta = 1 + 0.25
    >>> complex(A[0]), float(beta[0])
    ((1.5+0j), 1.25)
    """
    from .flow import TaskSums

    task = coerce_task(task)
    b = np.broadcast_to(np.asarray(b, dtype=complex), (task.K,)).copy()
    A, _, beta, _ = TaskSums.from_task(task).evaluate_complex(b)
    return A, beta


def reduced_energy(d, b, tau: float = 1.0) -> np.ndarray:
    """E*(b) = (||d||^2 - |A(conj b)|^2 / beta(|b|^2)) / (2 tau), b of shape (K,) or (K, G) (complex)."""
    d = np.asarray(d, dtype=complex)
    b = np.asarray(b, dtype=complex)
    K, T = d.shape
    k = np.arange(T, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        powers = np.conj(b)[..., None] ** k  # (K, [G,] T)
        coeff = d[:, ::-1].reshape((K,) + (1,) * (b.ndim - 1) + (T,))
        A = np.sum(coeff * powers, axis=-1)
        beta = np.sum(np.abs(powers) ** 2, axis=-1)
        norm = np.sum(np.abs(d) ** 2, axis=1).reshape((-1,) + (1,) * (b.ndim - 1))
        return (norm - np.abs(A) ** 2 / beta) / (2 * tau)


@dataclass
class ComplexSolution:
    """Final state of every complex mode (see ``solve_complex_task``)."""

    b: np.ndarray
    u: np.ndarray
    energy: np.ndarray
    zero_loss: np.ndarray
    importance: np.ndarray
    stability: np.ndarray

    def to_dict(self) -> dict:
        out = {}
        for key, value in self.__dict__.items():
            if np.iscomplexobj(value):
                out[key] = {"re": np.real(value).tolist(), "im": np.imag(value).tolist()}
            else:
                out[key] = value.tolist()
        return out


def solve_complex_task(task, b_max: float = B_MAX, n_grid: int = 201, rounds: int = 6) -> ComplexSolution:
    """Zero-loss solution where the eigenvalue profile is geometric, else the minimiser of E*(b) on |b| <= b_max.

    The search is a square grid over the disc, then ``rounds`` grids ten times finer around the best point, all
    modes at once.

    Examples
    --------
    >>> import numpy as np
    >>> task = Task.from_family("exponential", T=4, delta=1.0, lam=0.5, lambda_phase=np.pi / 6)
    >>> sol = solve_complex_task(task)
    >>> complex(np.round(sol.b[0], 6)), str(sol.stability[0])   # b = 1/lambda = 2 e^(-i pi/6)
    ((1.732051-1j), 'unstable')
    """
    from .stability import classify, zero_loss_solution

    task = coerce_task(task)
    d = np.asarray(task.singular_values, dtype=complex)
    b_max = check_real("b_max", b_max, positive=True)
    exists, u, b = zero_loss_solution(task)
    b, u = b.astype(complex), u.astype(complex)
    energy = np.zeros(task.K)
    rest = ~exists
    if np.any(rest):
        sub = d[rest]
        line = np.linspace(-b_max, b_max, n_grid)
        grid = (line[:, None] + 1j * line[None, :]).ravel()
        grid = grid[np.abs(grid) <= b_max]
        E = reduced_energy(sub, np.broadcast_to(grid, (sub.shape[0], grid.size)), task.tau)
        best = grid[np.argmin(E, axis=1)]
        step = line[1] - line[0]
        fine = np.linspace(-1, 1, 21)
        offsets = (fine[:, None] + 1j * fine[None, :]).ravel()
        for _ in range(rounds):
            cands = best[:, None] + step * offsets[None, :]
            E = reduced_energy(sub, cands, task.tau)
            best = cands[np.arange(sub.shape[0]), np.argmin(E, axis=1)]
            step /= 10
        A, beta = complex_task_sums(Task(sub, tau=task.tau).as_complex(), best)
        b[rest], u[rest] = best, A / beta
        energy[rest] = reduced_energy(sub, best, task.tau)
    importance, stability = classify(b)
    return ComplexSolution(b=b, u=u, energy=energy, zero_loss=exists, importance=importance, stability=stability)


# ---- angle first, radius later ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _frozen_functions():
    import sympy as sp

    from .derivations.complex import derive_frozen_io_solution

    psi, r, _, _, sym = derive_frozen_io_solution()
    args = [sym[k] for k in ("t", "tau", "absA", "beta", "r0", "psi_star", "psi0")]
    return sp.lambdify(args, psi, modules="numpy"), sp.lambdify(args, r, modules="numpy")


def frozen_io_polar(t, A, beta, u0, tau: float = 1.0):
    """u(t) = r e^(i psi) with b frozen and |a| = |c|: tau du/dt = 2|u| (A - u beta) (closed form, derived).

    Parameters
    ----------
    t : array_like, shape (n,)
    A, beta : complex and float
        A(conj b) and beta(|b|^2) at the frozen b (``complex_task_sums``).
    u0 : complex
        Initial input-output mode (non-zero).
    tau : float

    Returns
    -------
    ndarray of complex, shape (n,)

    Notes
    -----
    The angle follows tan((psi* - psi)/2) = tan((psi* - psi0)/2) e^(-2|A| t/tau), independent of the radius: it
    relaxes on the time scale tau / (2|A|). The radius grows like a logistic with the same rate from r0, so it needs
    about log(r*/r0) such time scales (r* = |A| / beta).
    """
    t = np.asarray(t, dtype=float)
    psi_fn, r_fn = _frozen_functions()
    absA, psi_star = np.abs(A), np.angle(A)
    psi0 = np.angle(u0)
    # put psi0 within pi of psi_star, so that the angle takes the short way round
    psi0 = psi_star + np.angle(np.exp(1j * (psi0 - psi_star)))
    args = (t, tau, absA, beta, np.abs(u0), psi_star, psi0)
    with np.errstate(over="ignore", invalid="ignore"):
        return r_fn(*args) * np.exp(1j * psi_fn(*args))


def frozen_time_scales(A, beta, u0, tau: float = 1.0, fraction: float = 0.9) -> dict:
    """Times for the angle and the radius of u (b frozen, |a| = |c|) to cover ``fraction`` of their way.

    Returns
    -------
    dict
        ``angle``: closed form log(tan(D0/2) / tan((1 - fraction) D0/2)) tau / (2|A|) with D0 the initial angle
        gap; ``radius``: first time |u| reaches ``fraction`` of the way from r0 to r* = |A|/beta (bisection on the
        closed form); ``rate``: 2|A|/tau.
    """
    absA = float(np.abs(A))
    kappa = 2 * absA / tau
    gap = abs(float(np.angle(np.exp(1j * (np.angle(A) - np.angle(u0))))))
    angle = np.log(np.tan(gap / 2) / np.tan((1 - fraction) * gap / 2)) / kappa if gap > 0 else 0.0
    r0, r_star = abs(u0), absA / beta
    target = r0 + fraction * (r_star - r0)
    lo, hi = 0.0, 1.0 / kappa
    while np.abs(frozen_io_polar([hi], A, beta, u0, tau))[0] < target:
        hi *= 2
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if np.abs(frozen_io_polar([mid], A, beta, u0, tau))[0] < target:
            lo = mid
        else:
            hi = mid
    return {"angle": float(angle), "radius": 0.5 * (lo + hi), "rate": kappa}


def polar_time_scales(trajectory, fraction: float = 0.9) -> dict:
    """Measured settling times of the radius and the (unwrapped) angle of b and u, per mode.

    The settling time of a part x(t) is the last time at which |x(t) - x(end)| exceeds ``1 - fraction`` times its
    largest value over the trajectory: after it, the part has covered ``fraction`` of its way for good. This holds
    for monotone approaches and for excursions (such as the imaginary excursion of u for a real delta) alike.

    Parameters
    ----------
    trajectory : Trajectory
        Complex modes over time (theory or simulation), run until they have settled.
    fraction : float in (0, 1)

    Returns
    -------
    dict
        ``{"b": {"radius": (K,), "angle": (K,)}, "u": {...}}``; 0 for a part that does not move.
    """
    fraction = check_real("fraction", fraction, positive=True)
    if fraction >= 1:
        raise bad("fraction", fraction, "be in (0, 1)")
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


@dataclass
class RotationalLearningOrder:
    """Learning times of radius and angle per mode, and the orders they imply (``rotational_learning_order``)."""

    labels: list
    fraction: float
    times: dict
    rate: np.ndarray
    final_b: np.ndarray
    final_u: np.ndarray
    order: np.ndarray
    order_by_rate: np.ndarray

    def to_dict(self) -> dict:
        def plain(v):
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            if isinstance(v, np.ndarray) and np.iscomplexobj(v):
                return {"re": v.real.tolist(), "im": v.imag.tolist()}
            return v.tolist() if isinstance(v, np.ndarray) else v
        return {k: plain(v) for k, v in self.__dict__.items()}


def rotational_learning_order(tasks, fraction: float = 0.9, t_end: float | None = None,
                              n_points: int = 2001) -> RotationalLearningOrder:
    """Radius and angle learning times of u and b for every mode of every task, from the integrated flow.

    ``order`` sorts the entries by the time the radius of u takes (the mode is learned when its strength is);
    ``order_by_rate`` by decreasing small-initialisation rate 2|A(conj b0)|/tau. Larger radii learn faster (App. O).

    Examples
    --------
    >>> import numpy as np
    >>> tasks = [Task.from_family("inverse_exponential", T=5, delta=1.0, lam=R, lambda_phase=np.pi / 6,
    ...                           name=f"R={R}") for R in (0.4, 0.9)]
    >>> pred = rotational_learning_order(tasks, t_end=60.0)
    >>> [pred.labels[k] for k in pred.order]
    ['R=0.9#1', 'R=0.4#0']
    """
    from .flow import integrate
    from .learning_order import _stack

    fraction = check_real("fraction", fraction, positive=True)
    if fraction >= 1:
        raise bad("fraction", fraction, "be in (0, 1)")
    entries, labels = _stack(tasks)
    n = len(entries)
    times = {q: {p: np.empty(n) for p in ("radius", "angle")} for q in ("b", "u")}
    rate, final_b, final_u = np.empty(n), np.empty(n, complex), np.empty(n, complex)
    for k, task in enumerate(entries):  # one integration per entry: tasks may differ in T
        task = task if task.is_complex else task.as_complex()
        A, _ = complex_task_sums(task, task.init.b)
        rate[k] = 2 * np.abs(A[0]) / task.tau
        horizon = 200 * task.tau if t_end is None else check_real("t_end", t_end, positive=True)
        try:
            traj = integrate(task, horizon, n_points=n_points, rtol=1e-10, atol=1e-12)
        except DivergenceError as exc:
            raise DivergenceError(f"{labels[k]}: {exc}", time=exc.time, mode=k) from None
        scales = polar_time_scales(traj, fraction)
        for q in times:
            for p in times[q]:
                times[q][p][k] = scales[q][p][0]
        final_b[k], final_u[k] = traj.b[-1, 0], traj.u[-1, 0]
    return RotationalLearningOrder(labels=labels, fraction=fraction, times=times, rate=rate, final_b=final_b,
                                   final_u=final_u, order=np.argsort(times["u"]["radius"], kind="stable"),
                                   order_by_rate=np.argsort(-rate, kind="stable"))
