"""Where the learning dynamics end: zero-loss solutions, optima of the reduced energy, stability (notes §3.4, §5).

Per mode, the energy at fixed recurrent mode b is minimised by u*(b) = A(b)/B(b), leaving the reduced energy
2 tau E*(b) = ||s||^2 - A(b)^2 / B(b) (derived in ``lrnn_theory.derivations.stability``). A mode has a zero-loss
solution iff its profile is geometric, s_i = u b^(T-i); then u = s_T and b = s_(T-1)/s_T (ratio check with a
tolerance). Otherwise ``solve_task`` searches E*(b) over |b| <= b_max (a grid, then a vectorized golden-section
polish), since for some tasks (Dirac deltas with T >= 4, notes §6.3) the infimum is only approached as |b| -> inf and
a bound is the only way to report a finite "recurrent branch"; such modes are flagged ``at_bound``.

Everything is vectorized over modes; nothing loops over modes or steps in Python.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import bad, check_finite_array, check_int, check_real
from .tasks import Task, predicted_profile, sum_coefficients_of

#: Default search bound |b| <= B_MAX for the optimum of the reduced energy.
B_MAX = 4.0
#: Relative tolerance of the zero-loss (geometric profile) test.
ZERO_LOSS_RTOL = 1e-9
#: |b| within this of 1 counts as marginal (neither late nor early importance).
MARGINAL_TOL = 1e-6


def _profile(task_or_s) -> tuple[np.ndarray, float]:
    if isinstance(task_or_s, Task):
        return task_or_s.singular_values, task_or_s.tau
    s = check_finite_array("singular_values", task_or_s)
    if s.ndim == 1:
        s = s[None, :]
    if s.ndim not in (2, 3):
        raise bad("singular_values", task_or_s, "be a (K, T) array (or (K, T, T) for every-step outputs)")
    return s, 1.0


def reduced_energy(s, b, tau: float = 1.0) -> np.ndarray:
    """E*(b) = (||s||^2 - A(b)^2/B(b)) / (2 tau) for every mode (b of shape (K,) or (K, G) for G points per mode)."""
    s = np.asarray(s, dtype=float)
    b = np.asarray(b, dtype=float)
    A_, B_ = _sums(s, b)
    norm2 = np.sum(s.reshape(s.shape[0], -1) ** 2, axis=1)
    return (norm2.reshape((-1,) + (1,) * (b.ndim - 1)) - A_**2 / B_) / (2 * tau)


def optimal_u(s, b) -> np.ndarray:
    """u*(b) = A(b)/B(b) for every mode (shapes as in ``reduced_energy``)."""
    A_, B_ = _sums(np.asarray(s, dtype=float), np.asarray(b, dtype=float))
    return A_ / B_


def _sums(s: np.ndarray, b: np.ndarray):
    """A(b) and B(b) for b of shape (K,) or (K, G): powers table b^0..b^(2T-2), one weighted sum each.

    The task enters through its coefficients of A per power of b and weights of B per power (``sum_coefficients_of``:
    final-output (K, T) or every-step (K, T, T) profiles).
    """
    alpha, w = sum_coefficients_of(s)                      # alpha[:, k] multiplies b^k, w[k] multiplies b^(2k)
    K, T = alpha.shape
    k = np.arange(2 * T - 1, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        P = b[..., None] ** k                              # (K, [G,] 2T-1)
    coeff = alpha.reshape((K,) + (1,) * (b.ndim - 1) + (T,))
    A_ = np.sum(coeff * P[..., :T], axis=-1)
    B_ = np.sum(w * P[..., 0::2], axis=-1)
    return A_, B_


def zero_loss_solution(s, rtol: float = ZERO_LOSS_RTOL):
    """The zero-loss solution s_i = u b^(T-i) of every mode that has one.

    Every-step profiles (K, T, T): s_(t,i) = u b^(t-i) for all i <= t, with u = s_(T,T), b = s_(T,T-1)/s_(T,T).

    Parameters
    ----------
    s : array_like, shape (K, T) or (K, T, T)
        Singular values per mode and step.
    rtol : float
        Relative tolerance (to max_i |s_i|) of the check that the whole profile is geometric.

    Returns
    -------
    exists : ndarray of bool, shape (K,)
    u, b : ndarray, shape (K,)
        u = s_T and b = s_(T-1)/s_T where ``exists`` (b = 0 when T = 1 or the profile is all zero, where b does not
        matter); NaN elsewhere.
    """
    s, _ = _profile(s)
    rtol = check_real("rtol", rtol, positive=True)
    K, T = s.shape[0], s.shape[-1]
    every_step = s.ndim == 3
    last = s[:, -1] if every_step else s  # the profile of the last output over the input steps
    u = last[:, -1].copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where(u != 0, last[:, -2] / u, 0.0) if T > 1 else np.zeros(K)
        pred = predicted_profile(u, b, T, every_step)
    scale = np.max(np.abs(s.reshape(K, -1)), axis=1)
    err = np.max(np.abs(s - pred).reshape(K, -1), axis=1)
    exists = np.isfinite(err) & (err <= rtol * np.where(scale > 0, scale, 1.0))
    return exists, np.where(exists, u, np.nan), np.where(exists, b, np.nan)


def minimise_reduced_energy(s, b_max: float = B_MAX, n_grid: int = 4001, tau: float = 1.0, iterations: int = 80):
    """Global minimiser of E*(b) over |b| <= b_max for every mode: grid search, then golden-section refinement.

    Returns
    -------
    b, u, energy : ndarray, shape (K,)
    at_bound : ndarray of bool
        The minimiser sits at |b| = b_max: the infimum is approached only as |b| grows (no finite minimiser in
        range, e.g. Dirac tasks with T >= 4 and s_1 > s_T).
    """
    s, _ = _profile(s)
    b_max = check_real("b_max", b_max, positive=True)
    n_grid = check_int("n_grid", n_grid, minimum=3)
    K, T = s.shape[0], s.shape[-1]
    grid = np.linspace(-b_max, b_max, n_grid)
    step = grid[1] - grid[0]
    # Chunk the modes so that the (chunk, n_grid, 2T-1) power table stays near 2e7 numbers.
    chunk = max(1, int(2e7 // (n_grid * (2 * T - 1))))
    best = np.empty(K)
    for start in range(0, K, chunk):
        sl = slice(start, start + chunk)
        E = reduced_energy(s[sl], np.broadcast_to(grid, (s[sl].shape[0], n_grid)), tau)
        best[sl] = grid[np.argmin(E, axis=1)]
    lo = np.clip(best - step, -b_max, b_max)
    hi = np.clip(best + step, -b_max, b_max)
    # Golden section on [lo, hi], all modes at once (E* is smooth and unimodal on one grid cell pair).
    g = (np.sqrt(5.0) - 1) / 2
    x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
    f1, f2 = reduced_energy(s, x1, tau), reduced_energy(s, x2, tau)
    for _ in range(iterations):
        left = f1 < f2  # the minimum lies in [lo, x2]: drop (x2, hi]; otherwise drop [lo, x1)
        hi = np.where(left, x2, hi)
        lo = np.where(left, lo, x1)
        x_new = np.where(left, hi - g * (hi - lo), lo + g * (hi - lo))
        f_new = reduced_energy(s, x_new, tau)
        x1, f1, x2, f2 = (np.where(left, x_new, x2), np.where(left, f_new, f2),
                          np.where(left, x1, x_new), np.where(left, f1, f_new))
    b_opt = (lo + hi) / 2
    # The ends of the range are candidates too (golden section never evaluates them exactly).
    cands = np.stack([b_opt, np.full(K, -b_max), np.full(K, b_max)], axis=1)
    Ec = reduced_energy(s, cands, tau)
    pick = np.argmin(Ec, axis=1)
    b_opt = cands[np.arange(K), pick]
    # Even profiles (e.g. Dirac tasks with T odd) have E*(-b) = E*(b): report the non-negative minimiser.
    mirrored = reduced_energy(s, np.abs(b_opt), tau)
    b_opt = np.where(mirrored <= reduced_energy(s, b_opt, tau) + 1e-14 * (1 + np.abs(mirrored)), np.abs(b_opt), b_opt)
    at_bound = np.isclose(np.abs(b_opt), b_max, rtol=0, atol=1e-6 * b_max)
    return b_opt, optimal_u(s, b_opt), reduced_energy(s, b_opt, tau), at_bound


@dataclass
class Solution:
    """Final state of every mode.

    Attributes
    ----------
    b, u, energy : ndarray, shape (K,)
        Recurrent mode, input-output mode, and energy at the solution.
    zero_loss : ndarray of bool
        The profile is geometric and the solution reaches zero loss.
    at_bound : ndarray of bool
        The minimiser is at the search bound |b| = b_max (no finite minimiser found in range).
    importance : ndarray of str
        "late" (|b| < 1, the last steps matter most), "early" (|b| > 1) or "marginal" (|b| = 1).
    stability : ndarray of str
        "stable" (|b| < 1), "marginal" (|b| = 1) or "unstable" (|b| > 1: activity and gradients explode with T).
    b_max : float
        Search bound used for modes without a zero-loss solution.
    """

    b: np.ndarray
    u: np.ndarray
    energy: np.ndarray
    zero_loss: np.ndarray
    at_bound: np.ndarray
    importance: np.ndarray
    stability: np.ndarray
    b_max: float

    def to_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()}


def classify(b, tol: float = MARGINAL_TOL):
    """Importance ("late"/"marginal"/"early") and stability ("stable"/"marginal"/"unstable") from |b|."""
    mag = np.abs(np.asarray(b))  # complex b (rotational tasks): by the radius
    importance = np.where(mag < 1 - tol, "late", np.where(mag > 1 + tol, "early", "marginal"))
    stability = np.where(mag < 1 - tol, "stable", np.where(mag > 1 + tol, "unstable", "marginal"))
    return importance, stability


def solve_task(task, b_max: float = B_MAX, rtol: float = ZERO_LOSS_RTOL, n_grid: int = 4001) -> Solution:
    """Zero-loss solution where one exists, else the minimiser of E*(b) over |b| <= b_max, for every mode.

    Parameters
    ----------
    task : Task or array_like (K, T)
        The task (or its singular values; tau = 1 then).
    b_max : float
        Search bound on |b| for modes without a zero-loss solution.
    rtol : float
        Tolerance of the geometric-profile test.

    Examples
    --------
    >>> from lrnn_theory import Task
    >>> sol = solve_task(Task.exponential(delta=1.0, lam=0.5, T=4))
    >>> float(sol.b[0]), float(sol.u[0]), str(sol.stability[0])
    (2.0, 0.0625, 'unstable')
    """
    if isinstance(task, Task) and task.is_complex:
        raise bad("task", task, "be real here; lrnn_theory.complex.solve_complex_task solves complex tasks")
    s, tau = _profile(task)
    exists, u0, b0 = zero_loss_solution(s, rtol)
    b = b0.copy()
    u = u0.copy()
    energy = np.zeros(s.shape[0])
    at_bound = np.zeros(s.shape[0], dtype=bool)
    if not np.all(exists):
        rest = ~exists
        b[rest], u[rest], energy[rest], at_bound[rest] = minimise_reduced_energy(s[rest], b_max, n_grid, tau)
    importance, stability = classify(b)
    return Solution(b=b, u=u, energy=energy, zero_loss=exists, at_bound=at_bound, importance=importance,
                    stability=stability, b_max=float(b_max))
