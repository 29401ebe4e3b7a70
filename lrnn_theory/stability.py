"""Where the learning dynamics end: zero-loss solutions, optima of the reduced energy, stability (notes §3.4, §5).

Per mode, the energy at fixed recurrent mode b is minimised by u*(b) = A(b)/B(b), leaving the reduced energy
2 tau E*(b) = norm - |A(b)|^2 / B(b) (derived in ``lrnn_theory.derivations.stability``; the task sums come from
``Task.sums``, for every kind of task). A mode has a zero-loss solution iff E*(b) = 0 for some b, that is iff its
best linear filter w* (``Task.target_filter``) is geometric: w*_i = u b^(T-i) for a final-output task,
w*_(t,i) = u b^(t-i) for an every-step task, real or complex. For white inputs w* is the profile s itself; for inputs
correlated across time it is w* = Lambda^-1 sigma (per output time t for every-step outputs), since then
E = (w - w*)^T Lambda (w - w*) / (2 tau) with the network's filter w_i = u b^(T-i): a geometric sigma is not enough.
Then u is the filter's last entry and b the ratio of the last two (an entrywise test with a tolerance). Otherwise
``solve_task`` searches E*(b) over |b| <= b_max: on the real segment for a real task (a grid, then a vectorized
golden-section polish) and on the disc of the complex plane for a complex task (a square grid, then finer grids
around the best point). For some tasks (Dirac deltas with T >= 4, notes §6.3) the infimum is only
approached as |b| -> inf and a bound is the only way to report a finite "recurrent branch"; such modes are flagged
``at_bound``. Stability follows from |b|.

Everything is vectorized over modes; nothing loops over modes or steps in Python.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import bad, check_finite_array, check_int, check_real
from .task_sums import TaskSums
from .tasks import Task, coerce_task, predicted_profile

#: Default search bound |b| <= B_MAX for the optimum of the reduced energy.
B_MAX = 4.0
#: Relative tolerance of the zero-loss (geometric profile) test.
ZERO_LOSS_RTOL = 1e-9
#: |b| within this of 1 counts as marginal (neither late nor early importance).
MARGINAL_TOL = 1e-6
#: Grid points per axis of the square grid over the disc |b| <= b_max (complex tasks), and its refinement rounds.
DISC_GRID = 201
DISC_ROUNDS = 6
#: Size of the tables of b^k evaluated at once (modes x grid points x powers) in the grid searches.
CHUNK_NUMBERS = 2e7


def as_task(task_or_s) -> Task:
    """A Task, a task file or dict, or a raw profile (K, T) / (K, T, T) (every-step outputs), real or complex."""
    if isinstance(task_or_s, (Task, dict, str)) or hasattr(task_or_s, "__fspath__"):
        return coerce_task(task_or_s)
    s = check_finite_array("singular_values", task_or_s, allow_complex=True)
    if s.ndim == 1:
        s = s[None, :]
    if s.ndim not in (2, 3):
        raise bad("singular_values", task_or_s, "be a (K, T) array (or (K, T, T) for every-step outputs)")
    return Task(s, outputs="every_step" if s.ndim == 3 else "final")


def zero_loss_solution(s, rtol: float = ZERO_LOSS_RTOL):
    """The zero-loss solution w*_i = u b^(T-i) of every mode that has one, for every kind of task.

    w* is the task's best linear filter (``Task.target_filter``): the profile s for white inputs, Lambda^-1 sigma
    for inputs correlated across time. Every-step filters (K, T, T): w*_(t,i) = u b^(t-i) for all i <= t, with
    u = w*_(T,T), b = w*_(T,T-1)/w*_(T,T). Complex filters give complex u and b (the same ratios). A singular
    Lambda has many best filters (w* plus its null space); the test sees the minimum-norm one, so a geometric best
    filter that differs from it on the null space is left to the search of ``solve_task`` (zero_loss False there,
    with an energy at rounding level).

    Parameters
    ----------
    s : Task or array_like, shape (K, T) or (K, T, T)
        The task, or its singular values per mode and step.
    rtol : float
        Relative tolerance (to max_i |w*_i|) of the check that the whole filter is geometric.

    Returns
    -------
    exists : ndarray of bool, shape (K,)
    u, b : ndarray, shape (K,)
        u = w*_T and b = w*_(T-1)/w*_T where ``exists`` (b = 0 when T = 1 or the profile is all zero, where b does not
        matter); NaN elsewhere.

    Examples
    --------
    >>> exists, u, b = zero_loss_solution([[-0.25j, -0.5, 1.0j]])   # s_i = u b^(3-i) with u = i, b = 0.5 i
    >>> bool(exists[0]), bool(u[0] == 1j), bool(b[0] == 0.5j)
    (True, True, True)
    """
    s = as_task(s).target_filter()  # the profile itself for white inputs
    rtol = check_real("rtol", rtol, positive=True)
    K, T = s.shape[0], s.shape[-1]
    last = s.reshape(K, -1, T)[:, -1]  # the profile of the last output over the input steps, either layout
    u = last[:, -1].copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where(u != 0, last[:, -2] / np.where(u != 0, u, 1), 0.0) if T > 1 else np.zeros(K, s.dtype)
        pred = predicted_profile(u, b, T, s.ndim == 3)
    scale = np.max(np.abs(s.reshape(K, -1)), axis=1)
    err = np.max(np.abs(s - pred).reshape(K, -1), axis=1)
    exists = np.isfinite(err) & (err <= rtol * np.where(scale > 0, scale, 1.0))
    return exists, np.where(exists, u, np.nan), np.where(exists, b, np.nan)


def _grid_minimum(sums: TaskSums, grid: np.ndarray, tau: float) -> np.ndarray:
    """The point of ``grid`` (shared by all modes) with the lowest E*(b), per mode; modes in chunks so that the
    (chunk, grid, powers) table of b^k stays near ``CHUNK_NUMBERS`` numbers."""
    chunk = max(1, int(CHUNK_NUMBERS // (grid.size * sums.n)))
    best = np.empty(sums.K, dtype=grid.dtype)
    for start in range(0, sums.K, chunk):
        part = sums.subset(np.arange(start, min(start + chunk, sums.K)))
        E = part.reduced_energy(grid, tau, shared_grid=True)
        best[start:start + part.K] = grid[np.argmin(E, axis=1)]
    return best


def _minimise_on_segment(sums: TaskSums, b_max: float, n_grid: int, tau: float, iterations: int) -> np.ndarray:
    """Real b in [-b_max, b_max]: grid search, golden-section refinement, the ends, the non-negative mirror."""
    K = sums.K
    grid = np.linspace(-b_max, b_max, n_grid)
    step = grid[1] - grid[0]
    best = _grid_minimum(sums, grid, tau)
    lo = np.clip(best - step, -b_max, b_max)
    hi = np.clip(best + step, -b_max, b_max)
    # Golden section on [lo, hi], all modes at once (E* is smooth and unimodal on one grid cell pair).
    g = (np.sqrt(5.0) - 1) / 2
    x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
    f1, f2 = sums.reduced_energy(x1, tau), sums.reduced_energy(x2, tau)
    for _ in range(iterations):
        left = f1 < f2  # the minimum lies in [lo, x2]: drop (x2, hi]; otherwise drop [lo, x1)
        hi = np.where(left, x2, hi)
        lo = np.where(left, lo, x1)
        x_new = np.where(left, hi - g * (hi - lo), lo + g * (hi - lo))
        f_new = sums.reduced_energy(x_new, tau)
        x1, f1, x2, f2 = (np.where(left, x_new, x2), np.where(left, f_new, f2),
                          np.where(left, x1, x_new), np.where(left, f1, f_new))
    b_opt = (lo + hi) / 2
    # The ends of the range are candidates too (golden section never evaluates them exactly).
    cands = np.stack([b_opt, np.full(K, -b_max), np.full(K, b_max)], axis=1)
    b_opt = cands[np.arange(K), np.argmin(sums.reduced_energy(cands, tau), axis=1)]
    # Even profiles (e.g. Dirac tasks with T odd) have E*(-b) = E*(b): report the non-negative minimiser.
    mirrored = sums.reduced_energy(np.abs(b_opt), tau)
    keep = mirrored <= sums.reduced_energy(b_opt, tau) + 1e-14 * (1 + np.abs(mirrored))
    return np.where(keep, np.abs(b_opt), b_opt)


def _minimise_on_disc(sums: TaskSums, b_max: float, n_grid: int, rounds: int, tau: float) -> np.ndarray:
    """Complex b with |b| <= b_max: a square grid over the disc, then ``rounds`` grids ten times finer around the
    best point (candidates outside the disc are moved onto its edge, so that the bound itself is reachable)."""
    K = sums.K
    line = np.linspace(-b_max, b_max, n_grid)
    grid = (line[:, None] + 1j * line[None, :]).ravel()
    best = _grid_minimum(sums, grid[np.abs(grid) <= b_max], tau)
    step = line[1] - line[0]
    fine = np.linspace(-1, 1, 21)
    offsets = (fine[:, None] + 1j * fine[None, :]).ravel()
    for _ in range(rounds):
        cands = best[:, None] + step * offsets[None, :]
        radius = np.abs(cands)
        cands = np.where(radius > b_max, cands * (b_max / np.where(radius > 0, radius, 1)), cands)
        best = cands[np.arange(K), np.argmin(sums.reduced_energy(cands, tau), axis=1)]
        step /= 10
    return best


def minimise_reduced_energy(task, b_max: float = B_MAX, n_grid: int = 4001, tau: float | None = None,
                            iterations: int = 80, n_grid_disc: int = DISC_GRID, rounds: int = DISC_ROUNDS):
    """Global minimiser of E*(b) over |b| <= b_max for every mode: real b for a real task, complex b (the disc)
    for a complex one.

    Parameters
    ----------
    task : Task, TaskSums or array_like
        The task (a raw profile is read as in ``solve_task``), or its task sums directly.
    b_max : float
        Search bound on |b|.
    n_grid : int
        Grid points on [-b_max, b_max] before the golden-section polish (real b).
    tau : float, optional
        Timescale of the energy (default: the task's; 1 for task sums or a raw profile).
    iterations : int
        Golden-section steps (real b).
    n_grid_disc, rounds : int
        Points per axis of the square grid over the disc, and refinement rounds (complex b).

    Returns
    -------
    b, u, energy : ndarray, shape (K,)
    at_bound : ndarray of bool
        The minimiser sits at |b| = b_max: the infimum is approached only as |b| grows (no finite minimiser in
        range, e.g. Dirac tasks with T >= 4 and s_1 > s_T).
    """
    if isinstance(task, TaskSums):
        sums, task_tau = task, 1.0
    else:
        task = as_task(task)
        sums, task_tau = task.sums(), task.tau
    tau = task_tau if tau is None else check_real("tau", tau, positive=True)
    b_max = check_real("b_max", b_max, positive=True)
    # Where b lives, not a code path per kind of task: the flow of real task sums keeps b on the real line (the
    # minimiser the modes reach is on it), that of complex sums moves b in the plane; each domain has its search.
    if np.iscomplexobj(sums.alpha):
        n_grid_disc = check_int("n_grid_disc", n_grid_disc, minimum=3)
        rounds = check_int("rounds", rounds, minimum=0)
        b_opt = _minimise_on_disc(sums, b_max, n_grid_disc, rounds, tau)
    else:
        n_grid = check_int("n_grid", n_grid, minimum=3)
        iterations = check_int("iterations", iterations, minimum=0)
        b_opt = _minimise_on_segment(sums, b_max, n_grid, tau, iterations)
    at_bound = np.isclose(np.abs(b_opt), b_max, rtol=0, atol=1e-6 * b_max)
    return b_opt, sums.optimal_u(b_opt), sums.reduced_energy(b_opt, tau), at_bound


@dataclass
class Solution:
    """Final state of every mode (complex b, u for a complex task).

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
        """JSON-ready dict; a complex array becomes ``{"re": [...], "im": [...]}``."""
        return json_ready(self.__dict__)


def json_ready(value):
    """``value`` with its arrays as (nested) lists, for ``json.dump``; dicts are converted entry by entry."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    # Presentation, not a code path per kind of task: JSON has no complex numbers, so a complex array is written
    # as its real and imaginary parts.
    if isinstance(value, np.ndarray) and np.iscomplexobj(value):
        return {"re": value.real.tolist(), "im": value.imag.tolist()}
    return value.tolist() if isinstance(value, np.ndarray) else value


def classify(b, tol: float = MARGINAL_TOL):
    """Importance ("late"/"marginal"/"early") and stability ("stable"/"marginal"/"unstable") from |b|."""
    mag = np.abs(np.asarray(b))  # complex b (rotational tasks): by the radius
    importance = np.where(mag < 1 - tol, "late", np.where(mag > 1 + tol, "early", "marginal"))
    stability = np.where(mag < 1 - tol, "stable", np.where(mag > 1 + tol, "unstable", "marginal"))
    return importance, stability


def solve_task(task, b_max: float = B_MAX, rtol: float = ZERO_LOSS_RTOL, n_grid: int = 4001,
               n_grid_disc: int = DISC_GRID, rounds: int = DISC_ROUNDS) -> Solution:
    """Zero-loss solution where one exists, else the minimiser of E*(b) over |b| <= b_max, for every mode.

    Works on every kind of task: real, complex (b searched on the disc of the complex plane), every-step and complex
    every-step, with white inputs or inputs correlated across time (zero loss iff the best linear filter
    Lambda^-1 sigma is geometric; the energy is then measured from that filter's, ``Task.sums``' explained norm).

    Parameters
    ----------
    task : Task, dict, path or array_like (K, T) / (K, T, T)
        The task (or its singular values, real or complex; (K, T, T) for every-step outputs; tau = 1 then).
    b_max : float
        Search bound on |b| for modes without a zero-loss solution.
    rtol : float
        Tolerance of the geometric-profile test.
    n_grid : int
        Grid points on [-b_max, b_max] (real tasks).
    n_grid_disc, rounds : int
        Points per axis of the square grid over the disc and its refinement rounds (complex tasks).

    Examples
    --------
    >>> from lrnn_theory import Task
    >>> sol = solve_task(Task.exponential(delta=1.0, lam=0.5, T=4))
    >>> float(sol.b[0]), float(sol.u[0]), str(sol.stability[0])
    (2.0, 0.0625, 'unstable')
    >>> rotational = Task.from_family("exponential", T=4, delta=1.0, lam=0.5, lambda_phase=np.pi / 6)
    >>> sol = solve_task(rotational)              # b = 1/lambda = 2 e^(-i pi/6)
    >>> complex(np.round(sol.b[0], 6)), str(sol.stability[0])
    ((1.732051-1j), 'unstable')
    """
    task = as_task(task)
    b_max = check_real("b_max", b_max, positive=True)
    exists, u, b = zero_loss_solution(task, rtol)
    energy = np.zeros(task.K)
    at_bound = np.zeros(task.K, dtype=bool)
    rest = np.flatnonzero(~exists)
    if rest.size:
        b[rest], u[rest], energy[rest], at_bound[rest] = minimise_reduced_energy(
            task.sums().subset(rest), b_max, n_grid, task.tau, n_grid_disc=n_grid_disc, rounds=rounds)
    importance, stability = classify(b)
    return Solution(b=b, u=u, energy=energy, zero_loss=exists, at_bound=at_bound, importance=importance,
                    stability=stability, b_max=float(b_max))
