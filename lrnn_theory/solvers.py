"""Integration strategies: the batched per-mode Rosenbrock solver (default) and the scipy methods.

The mode flow is stiff (the recurrent mode moves on a much slower scale than a and c near convergence) and its
Jacobian is block diagonal: every mode is an independent m x m block (m = ``flow.block_size``: 3 for a, b, c of a
real task, 6 for their real and imaginary parts in a complex one), stored with the variables of each mode adjacent.

``Batched`` (the default) exploits this fully: ``solve_blocks`` advances all modes together in vectorized numpy,
each mode with its own step size and error control, by the L-stable Rosenbrock method RODAS4 (Hairer & Wanner,
*Solving ODEs II*, 2nd ed., sec. IV.7, Table 7.2, order 4 with an embedded order-3 error estimate) using the
analytic Jacobian blocks and one batched m x m inversion per step. It is generic in the block size m. Dense output
interpolates the output times the steps pass, kept until thousands are pending, in one evaluation (many output times
cost about what few do, and a step that passes one costs a few numpy calls more than one that does not); the system's
rates and Jacobian are bound once per set of running modes (``row_functions``); a runaway mode is
reported from the law of its growth (``_watch_growth``) instead of being stepped all the way to the threshold, and
a mode whose steps, projected to the end, exceed the cap stops at once (``_mark_hopeless``). ``BatchedBalanced`` runs
it on each mode's balanced coordinates (``flow.BalancedModes``), the first fallback.

The scipy strategies integrate the whole state vector with one shared step size; implicit methods get the analytic
Jacobian in the cheapest form scipy accepts: packed banded for LSODA (lower and upper bandwidth m - 1), sparse block
diagonal for BDF and Radau. Explicit methods get none.

Pass an instance (``LSODA(rtol=1e-9)``) or a name (``"BDF"``) as ``method`` to ``lrnn_theory.integrate``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import bad, check_real

try:  # np.einsum and np.count_nonzero without their Python wrappers (dispatch, the optimize option): ~1 us and
    # ~0.3 us less per call, 7 and 8 calls a step
    from numpy._core.multiarray import c_einsum as _einsum
    from numpy._core.multiarray import count_nonzero as _count_nonzero
except ImportError:  # another numpy layout
    _einsum, _count_nonzero = np.einsum, np.count_nonzero
# The tests of bool masks at every step are counts of their non-zeros rather than the methods .any() and .all()
# (0.9 us through their Python wrappers).

#: scipy raises rtol below 100 machine epsilons to that value with a warning; refuse it instead.
MIN_RTOL = 100 * np.finfo(float).eps


@dataclass(frozen=True)
class Solver:
    """Base strategy: a scipy ``solve_ivp`` method with its tolerances."""

    rtol: float = 1e-8
    atol: float = 1e-10
    name = "RK45"
    jacobian = "none"  # "none", "banded" or "sparse"
    #: True for strategies that integrate mode blocks themselves (``solve_blocks``) instead of scipy's solve_ivp.
    batched = False
    #: True for the batched solver on the balanced coordinates (u, b, w) of each mode (``BatchedBalanced``).
    balanced = False

    def solve_ivp_options(self, flow) -> dict:
        """Keyword arguments for ``scipy.integrate.solve_ivp`` given a compiled flow."""
        opts = {"method": self.name, "rtol": self.rtol, "atol": self.atol}
        if self.jacobian == "banded":
            band = getattr(flow, "block_size", 3) - 1
            opts.update(jac=flow.jacobian_banded, lband=band, uband=band)
        elif self.jacobian == "sparse":
            opts.update(jac=flow.jacobian_sparse)
        return opts


@dataclass(frozen=True)
class Batched(Solver):
    """One step size per mode, all modes advanced together: RODAS4 on the Jacobian blocks. The default.

    ``rtol`` and ``atol`` apply to every mode separately (root-mean-square over the mode's own state variables),
    so a sweep over many modes needs no tolerance scaling. See ``solve_blocks``.
    """

    name = "Batched"
    jacobian = "blocks"
    batched = True


@dataclass(frozen=True)
class BatchedBalanced(Batched):
    """``Batched`` on each real mode's balanced coordinates u = a c, b, w = a^2 - c^2 (``flow.BalancedModes``).

    The first fallback of the default method (not a name ``method`` accepts): where a huge singular value makes a
    and c relax onto the curved manifold a c = u*(b) with a Jacobian eigenvalue of -1e13, RODAS4 in a, b, c loses
    its order to the curvature (its linearised stages leave the hyperbola; the step stays at 1e-6 and the run
    spends its step cap at t = 0.01). In u, b, w that manifold is a graph, and the gradient flow keeps w fixed.
    Real tasks only (m = 3)."""

    name = "Batched-balanced"
    balanced = True


@dataclass(frozen=True)
class LSODA(Solver):
    """Automatic stiff/non-stiff switching (ODEPACK) with the analytic banded Jacobian (one shared step size)."""

    name = "LSODA"
    jacobian = "banded"


@dataclass(frozen=True)
class BDF(Solver):
    """Backward differentiation formulas with the analytic sparse block Jacobian."""

    name = "BDF"
    jacobian = "sparse"


@dataclass(frozen=True)
class Radau(Solver):
    """Implicit Runge-Kutta (Radau IIA, order 5) with the analytic sparse block Jacobian."""

    name = "Radau"
    jacobian = "sparse"


@dataclass(frozen=True)
class RK45(Solver):
    """Explicit Dormand-Prince 5(4). Slow on this stiff flow; kept for comparison."""

    name = "RK45"


@dataclass(frozen=True)
class DOP853(Solver):
    """Explicit Dormand-Prince 8(5,3)."""

    name = "DOP853"


SOLVERS = {cls.name: cls for cls in (Batched, LSODA, BDF, Radau, RK45, DOP853)}
DEFAULT_SOLVER = Batched


def resolve_solver(method, rtol: float | None = None, atol: float | None = None) -> Solver:
    """A Solver from an instance, a class, a name (case-insensitive) or None (the default, Batched)."""
    if method is None:
        method = DEFAULT_SOLVER
    if isinstance(method, type) and issubclass(method, Solver):
        method = method()
    if isinstance(method, str):
        match = {k.lower(): v for k, v in SOLVERS.items()}.get(method.lower())
        if match is None:
            raise bad("method", method, f"be one of {', '.join(SOLVERS)} or a Solver instance")
        method = match()
    if not isinstance(method, Solver):
        raise bad("method", method, f"be one of {', '.join(SOLVERS)} or a Solver instance")
    rtol = method.rtol if rtol is None else rtol
    atol = method.atol if atol is None else atol
    if not MIN_RTOL <= check_real("rtol", rtol) < 1:
        raise bad("rtol", rtol, f"be in [{MIN_RTOL:.3g}, 1)")
    if check_real("atol", atol) <= 0:
        raise bad("atol", atol, "be > 0")
    return type(method)(rtol=rtol, atol=atol)


def block_sparsity(K: int, m: int = 3):
    """Row and column indices of the m^2 K non-zeros of a block-diagonal (m x m blocks) matrix, (mode, p, q) order."""
    p, q = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    base = m * np.arange(K)[:, None, None]
    return (base + p).ravel(), (base + q).ravel()


def blocks_to_sparse(blocks: np.ndarray, rows: np.ndarray, cols: np.ndarray):
    """(K, m, m) blocks to a CSC block-diagonal matrix."""
    import scipy.sparse as sparse  # 0.17 s to import, and only the scipy strategies need it

    n = blocks.shape[1] * blocks.shape[0]
    return sparse.csc_matrix((blocks.ravel(), (rows, cols)), shape=(n, n))


def blocks_to_banded(blocks: np.ndarray) -> np.ndarray:
    """(K, m, m) blocks to LAPACK packed banded storage, lband = uband = m - 1: packed[m - 1 + i - j, j] = J[i, j]."""
    K, m = blocks.shape[:2]
    packed = np.zeros((2 * m - 1, m * K))
    for p in range(m):
        for q in range(m):
            packed[m - 1 + p - q, q::m] = blocks[:, p, q]
    return packed


def __getattr__(name):
    """``DiscreteGD`` (the exact gradient-descent map, ``lrnn_theory.finite_lr``) on first use: finite_lr imports
    the flow, which imports this module, so a top-level import would be a cycle."""
    if name == "DiscreteGD":
        from .finite_lr import DiscreteGD

        return DiscreteGD
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---- batched per-mode Rosenbrock solver ---------------------------------------------------------------------------
# RODAS4 (Hairer & Wanner, Solving ODEs II, sec. IV.7, Table 7.2), in the form that needs no products with the
# Jacobian: W U_i = f(y + sum_j a_ij U_j) + sum_j (c_ij / h) U_j with W = I / (h gamma) - J,
# y_new = y + sum_i m_i U_i. The method is stiffly accurate and L-stable; U_6 is the local error estimate of the
# embedded order-3 solution. The flow is autonomous, so the time-derivative terms of the tableau drop out.
RODAS4_GAMMA = 0.25
RODAS4_A = np.zeros((6, 6))
RODAS4_A[1, 0] = 1.544
RODAS4_A[2, :2] = [0.9466785280815826, 0.2557011698983284]
RODAS4_A[3, :3] = [3.314825187068521, 2.896124015972201, 0.9986419139977817]
RODAS4_A[4, :4] = [1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950]
RODAS4_A[5, :5] = [*RODAS4_A[4, :4], 1.0]
RODAS4_C = np.zeros((6, 6))
RODAS4_C[1, 0] = -5.6688
RODAS4_C[2, :2] = [-2.430093356833875, -0.2063599157091915]
RODAS4_C[3, :3] = [-0.1073529058151375, -9.594562251023355, -20.47028614809616]
RODAS4_C[4, :4] = [7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160]
RODAS4_C[5, :5] = [8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136, -6.058818238834054]
RODAS4_M = np.array([*RODAS4_A[4, :4], 1.0, 1.0])
#: Row i: the weights of y (1 and 0), then a_ij, then c_ij, j < i, of stage i: both stage combinations, y + sum_j
#: a_ij U_j and sum_j c_ij U_j, from one matrix product over (y, U_0, ..., U_(i-1)).
RODAS4_AC = [np.vstack([np.r_[1.0, RODAS4_A[i, :i]], np.r_[0.0, RODAS4_C[i, :i]]]) for i in range(6)]
#: Error exponent: the embedded solution has order 3, so the local error is O(h^4).
RODAS4_ERROR_EXPONENT = 1.0 / 4.0

RUNNING, REACHED_END, CONVERGED, DIVERGED, HALTED, FAILED = range(6)

#: Step-size controller: safety factor and bounds on the change per step.
SAFETY, MIN_FACTOR, MAX_FACTOR = 0.9, 0.2, 6.0
#: Growth per accepted step of the cap set by the last rejected step size.
CAP_GROWTH = 1.2
#: Consecutive rejected steps of one mode after which it counts as stuck.
MAX_REJECTS_IN_A_ROW = 60
#: Machine epsilon and the largest cap before it grows (np.finfo costs a call per use).
_EPS = float(np.finfo(float).eps)
_MAX_CAP = float(np.finfo(float).max) / CAP_GROWTH
#: Exponents of the rows (plain error, predictive ratio) of ``_control_step_size``'s step-size factors.
_FACTOR_EXPONENTS = np.array([[-RODAS4_ERROR_EXPONENT], [RODAS4_ERROR_EXPONENT]])


@dataclass
class ModeFailure:
    """Why and where one mode stopped the integration: ``kind`` is "diverged" (grew past the threshold),
    "overflow" (its rates are not finite at the initial state) or "stuck" (no step size makes progress, for
    example because every trial step overflows)."""

    kind: str
    mode: int
    time: float
    y: np.ndarray
    detail: str = ""


@dataclass
class BlockSolution:
    """Result of ``solve_blocks``.

    Attributes
    ----------
    t_eval : ndarray, shape (n,)
        Requested output times.
    Y : ndarray, shape (n, K, m)
        State at the output times; a mode that converged keeps its converged state, NaN after a failure.
    t_final, y_final : ndarray, shapes (K,), (K, m)
        Time and state at which each mode stopped.
    status : ndarray of int, shape (K,)
        REACHED_END, CONVERGED, DIVERGED, HALTED (stopped at the time another mode diverged) or FAILED per mode.
    steps, rejected : ndarray of int, shape (K,)
        Accepted and rejected steps per mode.
    nfev, njev : int
        Vectorized right-hand-side and Jacobian-block calls (each over the modes still running).
    failure : ModeFailure or None
        The earliest divergence, or the failure that ended the run.
    """

    t_eval: np.ndarray
    Y: np.ndarray
    t_final: np.ndarray
    y_final: np.ndarray
    status: np.ndarray
    steps: np.ndarray
    rejected: np.ndarray
    nfev: int = 0
    njev: int = 0
    failure: ModeFailure | None = None


# The solver keeps the states of the running modes as rows, shape (m, k): every per-mode operation (error norms,
# finiteness, the 3 x 3 inverses) is then a few operations on contiguous length-k vectors instead of a reduction
# along a short axis (measured ~2x faster per step at k = 10^4 than the (k, m) layout).
#: A block W counts as singular when its condition number, rows and columns scaled, exceeds this
#: (``_checked_inverse``).
MAX_CONDITION = 1.0 / (1e3 * np.finfo(float).eps)
EQUILIBRATION_SWEEPS = 3


#: Index pairs (p + 1, q + 1) and (p + 2, q + 2), mod 3, that give all nine cofactors of a 3 x 3 block at once.
_NEXT, _AFTER = np.array([1, 2, 0]), np.array([2, 0, 1])
#: The four factors of the adjugate (``adjugate_rows_3x3``) as rows of the flattened blocks W (9, k), one gather for
#: all four: entry [q, p] of a factor is W[s[p], r[q]] (row 3 s[p] + r[q]) for the index pairs (r, s) below.
_ADJUGATE_FACTORS = np.array([r[:, None] + 3 * s[None, :] for r, s in
                              ((_NEXT, _NEXT), (_AFTER, _AFTER), (_NEXT, _AFTER), (_AFTER, _NEXT))])


def adjugate_rows_3x3(W: np.ndarray, out: np.ndarray | None = None):
    """Adjugate (3, 3, k), determinant (k,) and Hadamard's bound on |det| (the product of the row norms) of every
    3 x 3 block of W (3, 3, k).

    The adjugate is the cofactor matrix of the transpose, adj[q, p] = W[p+1, q+1] W[p+2, q+2] - W[p+2, q+1] W[p+1,
    q+2] (indices mod 3): one gather and three products for all nine entries (the per-entry form took 45 numpy
    calls, which is what a step costs at small K). The adjugate is written into ``out`` if given."""
    factors = W.reshape(9, -1).take(_ADJUGATE_FACTORS, axis=0)  # take: a quarter of fancy indexing's cost
    adj = np.multiply(factors[0], factors[1], out=out)
    adj -= factors[2] * factors[3]
    det = _einsum("qk,qk->k", W[0], adj[:, 0])
    rows = _einsum("pqk,pqk->pk", W, W)
    hadamard = np.sqrt(rows[0] * rows[1] * rows[2])
    return adj, det, hadamard


def _inverse_rows_3x3(W: np.ndarray, out: np.ndarray | None = None):
    """Inverse of every 3 x 3 block of W (3, 3, k) by the adjugate formula (into ``out`` if given), and the
    singular blocks (k,).

    Blocks whose determinant is small against Hadamard's bound (the product of the row norms) are inverted again by
    ``_checked_inverse``, where the adjugate loses accuracy, and count as singular only if their condition number
    (rows and columns scaled) exceeds ``MAX_CONDITION``. Hadamard's ratio alone is far too strict for the W of a
    runaway recurrent mode: two large, nearly parallel rows (a and c on a slow manifold, Jacobian eigenvalue
    -1e8) give a ratio of 1e-13 at a condition number of 1e9, and flagging them cost every larger step (the
    batched run hit its step cap and the fallback took over)."""
    cof, det, hadamard = adjugate_rows_3x3(W, out)
    # not (|det| > ...) is also true for a NaN determinant or bound; an infinite det has an infinite bound
    clear = np.abs(det) > 1e3 * _EPS * hadamard
    if _count_nonzero(clear) == clear.size:  # clear.all()
        cof /= det
        return cof, ~clear
    doubtful = ~clear
    cof /= np.where(doubtful, 1.0, det)
    inv, singular = _checked_inverse(np.moveaxis(W[:, :, doubtful], 2, 0))
    cof[:, :, doubtful] = np.moveaxis(inv, 0, 2)
    singular_all = np.zeros_like(doubtful)
    singular_all[doubtful] = singular
    return cof, singular_all


def _checked_inverse(blocks: np.ndarray):
    """Inverses of (n, m, m) blocks by LU with pivoting after equilibration, and the singular ones (not finite, or
    condition number above ``MAX_CONDITION`` once rows and columns are scaled), which come back as identity.

    The scaling (``EQUILIBRATION_SWEEPS`` sweeps dividing every row and column by the square root of its largest
    entry, Ruiz's method) takes out what is only scale: a mode with a -> 0 on a task with T = 50 has a Jacobian
    entry of 1e29 in the row and column of a, a condition number of 1e25 as it stands and of 1e2 once scaled."""
    n, m = blocks.shape[:2]
    singular = ~np.all(np.isfinite(blocks), axis=(1, 2))
    B = np.where(singular[:, None, None], 1.0, blocks)
    rows, cols = np.ones((n, m, 1)), np.ones((n, 1, m))
    for _ in range(EQUILIBRATION_SWEEPS):
        r = np.sqrt(np.max(np.abs(B), axis=2, keepdims=True))
        c = np.sqrt(np.max(np.abs(B), axis=1, keepdims=True))
        empty = np.any(r[:, :, 0] == 0, axis=1) | np.any(c[:, 0, :] == 0, axis=1)
        singular |= empty
        r[r == 0], c[c == 0] = 1.0, 1.0
        B = B / r / c
        rows, cols = rows / r, cols / c
    inv = np.broadcast_to(np.eye(m), blocks.shape).copy()
    with np.errstate(all="ignore"):
        cond = np.linalg.cond(B)
    singular |= ~(np.isfinite(cond) & (cond <= MAX_CONDITION))
    good = ~singular
    if good.any():  # W^-1 = D_cols B^-1 D_rows
        inv[good] = np.linalg.inv(B[good]) * np.swapaxes(cols[good], 1, 2) * np.swapaxes(rows[good], 1, 2)
    return inv, singular


def _batched_inverse_rows(W: np.ndarray, out: np.ndarray | None = None):
    """Inverse of every m x m block of W (m, m, k) (into ``out`` if given); blocks that are singular (or not
    finite) come back as identity, flagged in the returned (k,) mask."""
    if W.shape[0] == 3:
        return _inverse_rows_3x3(W, out)
    blocks = W.transpose(2, 0, 1)  # (np.moveaxis: its Python wrapper costs more than the call at small K)
    finite = np.isfinite(blocks)
    singular = np.zeros(blocks.shape[0], bool) if _count_nonzero(finite) == finite.size else ~np.all(finite, axis=(1, 2))
    if _count_nonzero(singular):
        blocks = blocks.copy()
        blocks[singular] = np.eye(W.shape[0])
    try:
        inv = np.linalg.inv(blocks)
    except np.linalg.LinAlgError:
        singular |= ~(np.abs(np.linalg.det(blocks)) > np.finfo(float).tiny)
        blocks = blocks.copy()
        blocks[singular] = np.eye(W.shape[0])
        inv = np.linalg.inv(blocks)
    if out is None:
        return np.ascontiguousarray(inv.transpose(1, 2, 0)), singular
    np.copyto(out, inv.transpose(1, 2, 0))
    return out, singular


def _hermite(theta, dt, y0, f0, y1, f1):
    """Cubic Hermite interpolation on one step (dense output from the end points and their slopes); states as rows
    (m, r), theta and dt (r,)."""
    square_rest, square = (1 - theta) ** 2, theta ** 2  # each computed once (the same numbers as written out)
    out = (1 + 2 * theta) * square_rest * y0
    out += theta * square_rest * dt * f0
    out += square * (3 - 2 * theta) * y1
    out += square * (theta - 1) * dt * f1
    return out


def _row_system(system):
    """A function of the running modes (an index array) giving ``(rates, jacobian)`` of ``system`` on the states
    of those modes stored as rows, functions of (t, Yr): (m, k) -> (m, k) and (m, k) -> (m, m, k), whose results
    the solver does not keep (they may be buffers, valid until the next call). Uses ``row_functions`` when the
    system has it (``CompiledFlow``: bound once per set of running modes), else ``rates_rows``/``jacobian_rows``,
    else transposes around ``rates_blocks``/``jacobian_blocks``."""
    if hasattr(system, "row_functions"):
        return system.row_functions
    if hasattr(system, "rates_rows") and hasattr(system, "jacobian_rows"):
        return lambda modes: (lambda t, Yr: system.rates_rows(t, Yr, modes),
                              lambda t, Yr: system.jacobian_rows(t, Yr, modes))

    def rates(t, Yr, modes):
        return np.ascontiguousarray(np.asarray(system.rates_blocks(t, Yr.T, modes), dtype=float).T)

    def jacobian(t, Yr, modes):
        return np.ascontiguousarray(np.moveaxis(np.asarray(system.jacobian_blocks(t, Yr.T, modes), dtype=float),
                                                0, 2))

    return lambda modes: (lambda t, Yr: rates(t, Yr, modes), lambda t, Yr: jacobian(t, Yr, modes))


#: Modes integrated together, by default: larger runs are split into consecutive chunks so that one iteration's
#: tables (powers of b: T numbers per mode) stay in cache. Measured at T = 20, K = 10^5: 54 s in one piece, 48 s in
#: chunks of 32,768 and 42-45 s in chunks of 8,192 (K = 10^4: 4.4 s), i.e. this many numbers per table. Chunks are
#: never smaller than ``MIN_CHUNK_MODES``: every chunk pays the per-iteration overhead again.
CHUNK_TABLE_SIZE = 8192 * 20
MIN_CHUNK_MODES = 4096


def default_chunk_modes(T: int) -> int:
    """Default most modes integrated together for tasks with T powers of b (see ``CHUNK_TABLE_SIZE``)."""
    return max(MIN_CHUNK_MODES, CHUNK_TABLE_SIZE // max(int(T), 1))


def solve_blocks(system, Y0, t_end: float, t_eval, rtol: float, atol: float, *, converged_tol: float | None = None,
                 log_gain=None, log_threshold: float = np.inf, max_steps: int = 1_000_000,
                 first_step: float | None = None, chunk_size: int | None = None) -> BlockSolution:
    """Integrate K independent autonomous m-dimensional systems at once, each with its own step size (RODAS4).

    Every iteration advances all running modes by one trial step in vectorized numpy: one Jacobian-block call,
    one batched m x m inversion and six right-hand-side calls, the last of which (the rate at the new point) is
    reused as the first stage of the next step, for the dense output and for the convergence test, so convergence
    costs no extra call. Each mode accepts or rejects its step on its own error (root-mean-square over its m
    variables of err / (atol + rtol |y|)); modes that converge, reach ``t_end`` or fail drop out.

    Parameters
    ----------
    system : object
        ``system.rates_blocks(t, Y, modes)`` -> (k, m) rates and ``system.jacobian_blocks(t, Y, modes)`` ->
        (k, m, m) Jacobian blocks for the states Y (k, m) of the modes ``modes`` (an index array that stays the
        same object until the set of running modes changes, so the system may cache per-subset tables).
    Y0 : array_like, shape (K, m)
        Initial states.
    t_end : float
        Final time.
    t_eval : array_like
        Increasing output times in [0, t_end]; values come from cubic Hermite interpolation on each step.
    rtol, atol : float
        Per-mode tolerances.
    converged_tol : float, optional
        A mode stops (and keeps its state) once all of its |rates| are below this value.
    log_gain : callable, optional
        ``log_gain(Yr)`` -> (k,) growth measure per mode from the states as rows Yr (m, k) (one row per state
        variable); a mode diverges when it exceeds ``log_threshold``. The
        earliest divergence in time is reported (modes still behind that time keep running until they reach it).
        A runaway mode is reported as soon as the law of its growth predicts the crossing before ``t_end`` (to
        ``GROWTH_RTOL`` in time; ``failure.detail`` says so, ``failure.y`` is the predicted state there): see
        ``_watch_growth``.
    max_steps : int
        Accepted steps per mode before it counts as stuck.
    first_step : float, optional
        Initial step size of every mode (default: estimated per mode from the initial rates).
    chunk_size : int, optional
        Most modes integrated together (default ``default_chunk_modes(system.sums.T)`` for a compiled flow, else
        all); more are integrated chunk after chunk, each chunk stopping at the earliest divergence found so far.

    Returns
    -------
    BlockSolution

    Examples
    --------
    Two decoupled linear modes dy/dt = -lambda y (m = 1) with very different stiffness, each with its own step size
    (the slow mode needs far fewer steps than the fast one's transient):

    >>> import numpy as np
    >>> class Decay:
    ...     lam = np.array([1.0, 1e4])
    ...     def rates_blocks(self, t, Y, modes):
    ...         return -self.lam[modes, None] * Y
    ...     def jacobian_blocks(self, t, Y, modes):
    ...         return -self.lam[modes, None, None] * np.ones((len(modes), 1, 1))
    >>> sol = solve_blocks(Decay(), np.ones((2, 1)), 2.0, [2.0], 1e-8, 1e-12)
    >>> bool(abs(sol.Y[-1, 0, 0] - np.exp(-2.0)) < 1e-7), bool(sol.steps[0] < sol.steps[1] / 4)
    (True, True)
    """
    Y0 = np.array(Y0, dtype=float)
    K = Y0.shape[0]
    options = dict(converged_tol=converged_tol, log_gain=log_gain, log_threshold=log_threshold, max_steps=max_steps,
                   first_step=first_step)
    if chunk_size is None:
        sums = getattr(system, "sums", None)
        chunk_size = default_chunk_modes(sums.T) if sums is not None else K
    if K <= chunk_size:
        return _solve_chunk(system, Y0, np.arange(K), t_end, t_eval, rtol, atol, **options)
    parts, t_halt = [], np.inf
    for start in range(0, K, chunk_size):
        part = _solve_chunk(system, Y0[start:start + chunk_size], np.arange(start, min(K, start + chunk_size)), t_end,
                            t_eval, rtol, atol, t_halt=t_halt, **options)
        parts.append(part)
        if part.failure is not None:
            part.failure.mode += start
            if part.failure.kind != "diverged":
                break  # stuck or overflowing: the run has failed, later chunks are not integrated
            t_halt = min(t_halt, part.failure.time)
    return _join_chunks(parts, K, np.asarray(t_eval, dtype=float), Y0)


def _join_chunks(parts, K: int, t_eval, Y0) -> BlockSolution:
    """One BlockSolution from consecutive chunks (modes of chunks never run are HALTED at their initial state)."""
    m = Y0.shape[1]
    done = sum(p.status.size for p in parts)
    pad = K - done
    cat = lambda name, fill: np.concatenate([getattr(p, name) for p in parts] + [fill])  # noqa: E731
    joined = BlockSolution(t_eval, np.concatenate([p.Y for p in parts] + [np.full((t_eval.size, pad, m), np.nan)],
                                                  axis=1),
                           cat("t_final", np.zeros(pad)), cat("y_final", Y0[done:]),
                           cat("status", np.full(pad, HALTED)), cat("steps", np.zeros(pad, dtype=int)),
                           cat("rejected", np.zeros(pad, dtype=int)), nfev=sum(p.nfev for p in parts),
                           njev=sum(p.njev for p in parts))
    failures = [p.failure for p in parts if p.failure is not None]
    if failures:  # a stuck or overflowing chunk ends the run; otherwise the earliest divergence
        joined.failure = failures[-1] if failures[-1].kind != "diverged" else min(failures, key=lambda f: f.time)
    return joined


def _solve_chunk(system, Y0, modes, t_end, t_eval, rtol, atol, *, converged_tol, log_gain, log_threshold, max_steps,
                 first_step, t_halt: float = np.inf) -> BlockSolution:
    """``solve_blocks`` on the modes ``modes`` of ``system`` (initial states Y0, (k, m)); results, and the mode
    of a failure, are indexed by position in ``modes``. Modes stop at ``t_halt`` (HALTED) as at a divergence."""
    K, m = Y0.shape
    row_functions = _row_system(system)
    t_eval = np.asarray(t_eval, dtype=float)
    result = BlockSolution(t_eval, np.full((t_eval.size, K, m), np.nan), np.zeros(K), Y0.copy(),
                           np.full(K, RUNNING), np.zeros(K, dtype=int), np.zeros(K, dtype=int))
    next_out = np.full(K, int(np.searchsorted(t_eval, 0.0, side="right")))  # first output time not yet written
    result.Y[:next_out[0]] = Y0
    run = _start(row_functions, Y0, modes, t_end, rtol, atol, converged_tol, first_step, next_out, result)
    if run is None:
        return result
    div_time = np.full(K, np.inf)  # time at which each mode crossed the divergence threshold
    div_y = np.full((K, m), np.nan)  # state at a crossing predicted from the growth (``_watch_growth``)
    t_limit = t_halt
    eye = np.eye(m)[:, :, None]
    iteration = 0
    checkpoint = np.full((2, K), np.nan)  # time and steps of each mode at the last check of ``_mark_hopeless``
    watch_from = min(log_threshold, GROWTH_WATCH_FROM * log_threshold)  # see ``_watch_growth``
    with np.errstate(all="ignore"):  # once for the loop (non-finite trial values are handled per mode)
        while run.idx.size:
            iteration += 1
            remaining = t_end - run.t
            last = run.h >= remaining
            hs = np.minimum(run.h, remaining)  # remaining where last (neither is NaN)
            t_new, y_new, f_new, error, singular = _rodas4_step(row_functions, run, hs, last, t_end, eye, result)
            accepted, h_next, nonfinite = _control_step_size(run, hs, y_new, f_new, error, singular, rtol, atol)
            _interpolate_outputs(result.Y, t_eval, run, accepted, hs, t_new, y_new, f_new)
            new_status = run.work.status  # the step's buffer (``_rodas4_step`` made it)
            new_status.fill(RUNNING)
            # both tests of the growth only once some gain is past the lower of their thresholds (a step of an
            # ordinary run pays one comparison)
            if log_gain is not None and _count_nonzero((gain_new := log_gain(y_new)) >= watch_from):
                t_limit = _mark_divergences(log_gain, log_threshold, run, accepted, hs, gain_new, new_status,
                                            div_time, t_limit)
                if iteration >= GROWTH_WATCH_STEPS and np.isfinite(log_threshold):
                    t_limit = _watch_growth(log_gain, log_threshold, run, accepted, t_new, gain_new, y_new, f_new,
                                            new_status, div_time, div_y, t_limit, t_end, result.steps)
            run.advance(accepted, t_new, y_new, f_new, h_next, result)
            _mark_finished(run, new_status, accepted, last, f_new, nonfinite, converged_tol, t_limit, max_steps,
                           iteration, result)
            if iteration >= PROJECT_FROM and iteration & (iteration - 1) == 0:  # powers of two only
                _mark_hopeless(run, new_status, checkpoint, t_end, max_steps, result)
            if _retire_finished(run, new_status, modes, next_out, result):
                break
        _write_outputs(result.Y, t_eval, run)
    return _finish(result, div_time, div_y, next_out)


class _RunningModes:
    """The modes of a chunk still running, and the solver's state of each: ``idx`` (positions in the chunk),
    ``modes`` (the system's mode numbers), t, h (k,), y, f (m, k: states and rates as rows), ``nx`` (next output
    time to write), and the step-size controller's memory."""

    #: Per-mode arrays, sliced together when modes finish (the last axis is the mode).
    PER_MODE = ("idx", "t", "h", "y", "f", "nx", "rejects_in_a_row", "just_rejected", "h_rejected", "h_accepted",
                "err_accepted", "growth", "growth_y", "growth_f", "anchors", "n_anchors", "predictions")
    __slots__ = PER_MODE + ("modes", "work", "functions", "some_just_rejected", "some_capped", "pending",
                            "pending_columns")

    def __init__(self, idx, modes, y, f, h, nx):
        k = idx.size
        self.idx, self.y, self.f, self.h, self.nx = idx, y, f, h, nx
        self.modes = modes[idx]  # one array object per set of running modes (systems cache per-subset tables)
        self.t = np.zeros(k)
        self.rejects_in_a_row = np.zeros(k, dtype=int)
        self.just_rejected = np.zeros(k, dtype=bool)
        self.h_rejected = np.full(k, np.inf)    # step-size cap learnt from rejections
        self.h_accepted = np.full(k, np.nan)    # last accepted step and its error, for the predictive controller
        self.err_accepted = np.full(k, np.nan)
        # ``_watch_growth``: log gain (NaN until watched), state and rates at the last watched step, log of the
        # gain's rate and log |y_i| at the last anchors of the log gain, and the last predicted crossings.
        m = y.shape[0]
        self.growth = np.full(k, np.nan)
        self.growth_y, self.growth_f = np.full((m, k), np.nan), np.full((m, k), np.nan)
        self.anchors = np.full((GROWTH_ANCHORS, 1 + m, k), np.nan)
        self.n_anchors = np.zeros(k, dtype=int)
        self.predictions = np.full((GROWTH_AGREEING, k), np.nan)
        self.work = None  # the step's buffers (``_StepWork``), for this many modes
        self.functions = None  # the system's (rates, Jacobian) of these modes (``_row_system``), with ``work``
        self.some_just_rejected = False  # any of ``just_rejected`` (spares the step control a selection)
        self.some_capped = False  # whether a step was rejected since the start (else ``h_rejected`` is all inf)
        self.pending, self.pending_columns = [], 0  # steps whose output times are not written yet

    def advance(self, accepted, t_new, y_new, f_new, h_next, result: BlockSolution):
        """Move the modes whose step was accepted; count accepted and rejected steps."""
        self.h = h_next
        if _count_nonzero(accepted) == accepted.size:  # the usual case (all accepted): no selection needed
            if self.idx.size == result.steps.size:  # every mode runs: idx is 0 ... K - 1
                result.steps += 1
            else:
                result.steps[self.idx] += 1
            if self.some_just_rejected:  # else these are zero and False already
                self.rejects_in_a_row[:] = 0
                self.just_rejected[:] = False
                self.some_just_rejected = False
            self.y, self.f, self.t = y_new, f_new, t_new
            return
        result.steps[self.idx] += accepted
        result.rejected[self.idx] += ~accepted
        self.rejects_in_a_row = np.where(accepted, 0, self.rejects_in_a_row + 1)
        self.just_rejected = ~accepted
        self.some_just_rejected = True
        self.y = np.where(accepted, y_new, self.y)
        self.f = np.where(accepted, f_new, self.f)
        self.t = np.where(accepted, t_new, self.t)

    def keep(self, kept, modes):
        """Drop the modes that finished (``kept``: bool mask of those that run on)."""
        for name in self.PER_MODE:
            setattr(self, name, getattr(self, name)[..., kept])
        self.modes = modes[self.idx]
        self.work = None


class _StepWork:
    """Buffers of one RODAS4 step for k modes, reused from step to step (at small K a step costs what its numpy
    calls cost: no allocation, and every view made once): the matrix W, the stages U_i, both stage combinations
    (sum_j a_ij U_j, sum_j c_ij U_j), the two step-size factors of the controller and the new statuses."""

    __slots__ = ("W", "inverses", "y", "stages", "earlier", "combined", "shift", "pair", "rate", "factors",
                 "factor_rows", "coefficients", "status")

    def __init__(self, m: int, k: int):
        self.W = np.empty((m, m, k))
        self.inverses = np.empty((2, m, m, k))  # W^-1 / h and W^-1
        states = np.empty((7, m, k))  # y, then the stages U_0 ... U_5
        self.y, self.stages = states[0], list(states[1:])  # views
        flat = states.reshape(7, -1)
        self.earlier = [flat[:i + 1] for i in range(6)]  # y, U_0 ... U_(i-1), flattened, for one matrix product
        # a stage's argument y + sum_j a_ij U_j (``shift``), sum_j c_ij U_j and the rates at the argument: the first
        # two written by one product (``combined``), the last two the pair W^-1 / h and W^-1 act on
        arguments = np.empty((3, m, k))
        self.combined = arguments[:2].reshape(2, -1)
        self.shift, self.pair, self.rate = arguments[0], arguments[1:], arguments[2]
        # ``_control_step_size``: rows (plain factor, predictive factor) and their coefficients (SAFETY, and
        # SAFETY h / h_accepted)
        self.factors = np.empty((2, k))
        self.factor_rows = tuple(self.factors)
        self.coefficients = np.full((2, k), SAFETY)
        self.status = np.empty(k, dtype=int)  # each mode's status after the step


def _start(row_functions, Y0, modes, t_end, rtol, atol, converged_tol, first_step, next_out,
           result: BlockSolution) -> _RunningModes | None:
    """The first rates and step sizes; the modes that run (those not converged at the start), or None when a rate
    is not finite at the initial state (an "overflow" failure in ``result``)."""
    K = Y0.shape[0]
    y = np.ascontiguousarray(Y0.T)  # (m, k): one row per state variable
    with np.errstate(all="ignore"):
        f = np.array(row_functions(modes)[0](0.0, y))  # a copy: the result may be the system's buffer
    result.nfev += 1
    nonfinite = ~np.all(np.isfinite(f), axis=0)
    if nonfinite.any():
        mode = int(np.argmax(nonfinite))
        result.status[mode] = FAILED
        result.failure = ModeFailure("overflow", mode, 0.0, Y0[mode].copy())
        return None
    if converged_tol is not None:
        result.status[np.max(np.abs(f), axis=0) < converged_tol] = CONVERGED
    # Initial step per mode (Hairer, Norsett & Wanner, sec. II.4, without the second-derivative refinement).
    scale = atol + rtol * np.abs(y)
    with np.errstate(all="ignore"):
        d0 = np.sqrt(np.mean((y / scale) ** 2, axis=0))
        d1 = np.sqrt(np.mean((f / scale) ** 2, axis=0))
        h = np.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)
    if first_step is not None:
        h = np.full(K, float(first_step))
    h = np.minimum(h, t_end)
    keep = result.status == RUNNING
    return _RunningModes(np.arange(K)[keep], modes, y[:, keep], f[:, keep], h[keep], next_out[keep])


def _rodas4_step(row_functions, run: _RunningModes, hs, last, t_end, eye, result: BlockSolution):
    """The stages of one RODAS4 trial step of size ``hs`` for every running mode: the new time, state and rate
    (t_new, y_new, f_new), the local error estimate U_6, and the modes whose matrix W is singular.

    Few numpy calls per stage (at small K a step costs what its calls cost, not their arithmetic): both stage
    combinations y + sum_j a_ij U_j and sum_j c_ij U_j from one product over (y, U_0, ...), and the stage U_i =
    W^-1 f_i + (W^-1 / h) sum_j c_ij U_j as one contraction over the pair (W^-1 / h, W^-1) and the pair (that sum,
    f_i), written in place; y_new is the last stage's argument plus U_6 (the method is stiffly accurate: its
    weights are the last row of a_ij with 1 appended)."""
    m, k = run.y.shape
    work = run.work
    if work is None:
        work = run.work = _StepWork(m, k)
        run.functions = row_functions(run.modes)
    rates, jacobian = run.functions
    y, t = run.y, run.t
    J = jacobian(t, y)
    result.njev += 1
    W = np.divide(eye, RODAS4_GAMMA * hs, out=work.W)
    W -= J
    inverses = work.inverses  # (W^-1 / h, W^-1)
    Winv, singular = _batched_inverse_rows(W, out=inverses[1])
    np.multiply(Winv, 1.0 / hs, out=inverses[0])
    stages, earlier, combined, shift, pair, rate = (work.stages, work.earlier, work.combined, work.shift, work.pair,
                                                    work.rate)
    np.copyto(work.y, y)
    # W^-1 times a vector per mode: one einsum (measured 1.6-2.5x faster than a loop over the m columns, K = 100 ...
    # 10^4), written into its stage
    _einsum("ijk,jk->ik", Winv, run.f, out=stages[0])
    for i in range(1, 6):
        np.matmul(RODAS4_AC[i], earlier[i], out=combined)  # y + sum_j a_ij U_j and sum_j c_ij U_j
        np.copyto(rate, rates(t, shift))
        _einsum("pijk,pjk->ik", inverses, pair, out=stages[i])
    result.nfev += 5
    y_new = shift + stages[5]
    t_new = t + hs
    if _count_nonzero(last):
        t_new = np.where(last, t_end, t_new)
    f_new = np.array(rates(t_new, y_new))  # kept as the next step's rates: a copy of the system's buffer
    result.nfev += 1
    return t_new, y_new, f_new, stages[5], singular


def _control_step_size(run: _RunningModes, hs, y_new, f_new, error, singular, rtol, atol):
    """Error norm per mode (root-mean-square of error / (atol + rtol |y|)), acceptance (error <= 1) and the next
    step size; updates the controller's memory in ``run``. Returns (accepted, h_next, nonfinite trial steps).
    ``error`` is overwritten."""
    m = run.y.shape[0]
    scale = np.maximum(np.abs(run.y), np.abs(y_new))
    scale *= rtol
    scale += atol
    ratio = np.divide(error, scale, out=error)
    # a non-finite state or rate makes 0 * (their sum) NaN, and with it the error norm: one test for all three
    # (adding +-0 changes no ratio, but the sign of a zero, which is squared)
    probe = y_new + f_new
    probe *= 0.0
    ratio += probe
    err = np.sqrt(_einsum("ik,ik->k", ratio, ratio) / m)
    nonfinite = ~np.isfinite(err)
    nonfinite |= singular
    if _count_nonzero(nonfinite):
        err[nonfinite] = np.inf
    # Gustafsson's predictive controller on accepted steps (as in Hairer's RODAS): damps the accept/reject
    # oscillation of the plain controller on very stiff modes. Both factors as the rows of one array:
    # SAFETY err^(-1/4) and SAFETY hs / h_accepted (err_accepted / err^2)^(1/4), each limited to [MIN_FACTOR,
    # MAX_FACTOR] (np.maximum and np.minimum: np.clip has a measurable per-call overhead here).
    work = run.work
    factors, coefficients = work.factors, work.coefficients
    factors[0] = err
    np.divide(run.err_accepted, np.square(err), out=factors[1])
    np.power(factors, _FACTOR_EXPONENTS, out=factors)
    np.multiply(hs, SAFETY, out=coefficients[1])
    coefficients[1] /= run.h_accepted
    factors *= coefficients
    np.maximum(factors, MIN_FACTOR, out=factors)
    np.minimum(factors, MAX_FACTOR, out=factors)
    factor, predictive = work.factor_rows
    accepted = err <= 1.0
    # No increase right after a rejection. np.fmin skips a NaN prediction (no accepted step yet); factor is never
    # NaN (err is not).
    if _count_nonzero(accepted) == accepted.size and not run.some_just_rejected:  # the usual step: no selection
        h_next = hs * np.fmin(factor, predictive)
        if run.some_capped:  # else every cap is infinite (no step was ever rejected): nothing to grow or apply
            np.minimum(run.h_rejected, _MAX_CAP, out=run.h_rejected)
            run.h_rejected *= CAP_GROWTH
            h_next = np.minimum(h_next, run.h_rejected)
        run.h_accepted = hs
        run.err_accepted = np.maximum(err, 1e-2)
        return accepted, h_next, nonfinite
    limit = np.fmin(predictive, np.where(run.just_rejected, 1.0, np.inf))
    h_next = hs * np.where(accepted, np.minimum(factor, limit), factor)
    # After a rejection, cap the step at the retried size and let the cap grow only slowly: on very stiff modes
    # (runaway recurrent branch) the error jumps by orders of magnitude past a sharp step size, which the
    # error-based controllers would otherwise hit every few steps. (A rejected step's cap is its own h_next.)
    run.h_rejected = np.where(accepted, np.minimum(run.h_rejected, _MAX_CAP) * CAP_GROWTH,
                              h_next)
    run.some_capped = True
    h_next = np.minimum(h_next, run.h_rejected)
    run.h_accepted = np.where(accepted, hs, run.h_accepted)
    run.err_accepted = np.where(accepted, np.maximum(err, 1e-2), run.err_accepted)
    return accepted, h_next, nonfinite


#: Mode columns of accepted steps that crossed output times ``_interpolate_outputs`` keeps before it writes them
#: (all at once: at small K one step's writes cost ~30 numpy calls, whatever their number); bounds the memory held
#: (about 150 bytes per column for m = 3).
PENDING_OUTPUT_COLUMNS = 4096


def _interpolate_outputs(out, t_eval, run: _RunningModes, accepted, hs, t_new, y_new, f_new):
    """Record the output times passed by accepted steps, for cubic Hermite interpolation on [t, t_new] by
    ``_write_outputs`` (once ``PENDING_OUTPUT_COLUMNS`` columns are pending, and at the end of the run).

    The step's arrays are kept as they are (the solver makes new ones at every step, and never writes into them)."""
    nx = run.nx
    # (the methods: the functions' Python wrappers cost more than the work at small K)
    count = t_eval.searchsorted(t_new, side="right") - nx  # output times in (t, t_new]: t_eval[nx:end]
    count *= accepted
    if not _count_nonzero(count):
        return
    run.pending.append((run.idx, nx, count, run.t, hs, run.y, run.f, y_new, f_new))
    run.pending_columns += count.size
    run.nx = nx + count  # a new array: the pending step keeps its own
    if run.pending_columns >= PENDING_OUTPUT_COLUMNS:
        _write_outputs(out, t_eval, run)


def _write_outputs(out, t_eval, run: _RunningModes):
    """Write the output times of the steps pending in ``run`` (``_interpolate_outputs``): all output times crossed,
    by all modes, in one evaluation (one entry per (mode, output time) pair), so that many output times cost about
    what few do."""
    if not run.pending:
        return
    fields = zip(*run.pending)
    idx, nx, count, t, hs, y, f, y_new, f_new = (parts[0] if len(run.pending) == 1 else
                                                 np.concatenate(parts, axis=-1) for parts in fields)
    run.pending, run.pending_columns = [], 0
    rows = count.nonzero()[0]
    counts = count[rows]
    if np.maximum.reduce(counts) == 1:  # at most one output time per mode (the usual step): no pairs to expand
        which = nx[rows]
        pair = slice(None) if rows.size == count.size else rows  # a view instead of a copy when every mode passes one
    else:
        pair = np.repeat(rows, counts)  # the mode of each (mode, output time) pair
        first = np.cumsum(counts) - counts
        which = nx[pair] + (np.arange(pair.size) - np.repeat(first, counts))  # its output time
    h = hs[pair]
    theta = (t_eval[which] - t[pair]) / h
    out[which, idx[pair]] = _hermite(theta, h, y[:, pair], f[:, pair], y_new[:, pair], f_new[:, pair]).T


def _mark_divergences(log_gain, log_threshold, run: _RunningModes, accepted, hs, gain_new, new_status, div_time,
                      t_limit: float) -> float:
    """Mark DIVERGED the modes whose accepted step crossed the threshold of ``log_gain`` (``gain_new`` at the new
    states), at the time of the crossing (linear in the log gain over the step); returns the time at which the
    other modes stop."""
    blown = accepted & (gain_new > log_threshold)
    if blown.any():
        gain_old = log_gain(run.y[:, blown])
        where = np.clip((log_threshold - gain_old) / (gain_new[blown] - gain_old), 0.0, 1.0)
        div_time[run.idx[blown]] = run.t[blown] + where * hs[blown]
        new_status[blown] = DIVERGED
        t_limit = min(t_limit, float(np.min(div_time)))
    return t_limit


#: Runaway modes recognised by their growth (``_watch_growth``): a mode is watched once it has taken this many steps
#: and its log gain g is past this fraction of the threshold's (ordinary modes converge in a few hundred steps, well
#: below the threshold, and never pay for it); anchors of g are ``GROWTH_SPACING`` apart; the log of its rate,
#: L = log dg/dt, is extrapolated from the last ``GROWTH_ANCHORS`` anchors; a crossing is reported once the last
#: ``GROWTH_AGREEING`` predictions of its time agree to ``GROWTH_RTOL``.
GROWTH_WATCH_STEPS = 200
GROWTH_WATCH_FROM = 0.5
GROWTH_SPACING = 0.5
GROWTH_ANCHORS = 4
GROWTH_AGREEING = 4
GROWTH_RTOL = 1e-4
#: Largest growth, in e-folds, of the predicted time integrand exp(-L) between now and the crossing.
GROWTH_MAX_EFOLDS = 60.0
#: Relative size of the directional difference that gives the rate of the log gain.
GROWTH_PROBE = 1e-6
#: Composite Gauss-Legendre rule on [0, 1] (8 panels of 12 nodes) for the time to the crossing.
_GL_NODES, _GL_WEIGHTS = (lambda x, w: ((x[None, :] + 1 + 2 * np.arange(8)[:, None]).ravel() / 16,
                                        np.tile(w, 8) / 16))(*np.polynomial.legendre.leggauss(12))


def _extrapolate_series(anchors, spacing):
    """Model of series sampled at equally spaced anchors (GROWTH_ANCHORS, ..., r): each slope between anchors
    tends geometrically to a limit (Aitken's delta-squared on the three slopes), value(x) - value(0) =
    slope_inf x + c0 (1 - exp(-gamma x)) / gamma at x past the last anchor. Exact for a log gain that grows like a
    power of t, exponentially or towards a blow-up, and for its approach to that law when the corrections decay like
    powers of t. Returns (slope_inf, c0, gamma, valid); a straight line (equal slopes) is valid with c0 = 0."""
    s = np.diff(anchors, axis=0) / spacing
    d1, d2 = s[1] - s[0], s[2] - s[1]
    ratio = d2 / d1
    geometric = (ratio > 0) & (ratio < 1)
    straight = (d1 == 0) & (d2 == 0)
    ratio = np.where(geometric, ratio, 0.5)
    slope_inf = np.where(geometric, s[2] + d2 * ratio / (1 - ratio), s[2])
    c0 = np.where(geometric, (s[2] - slope_inf) * np.sqrt(ratio), 0.0)
    gamma = -np.log(ratio) / spacing
    return slope_inf, c0, gamma, (geometric | straight) & np.isfinite(slope_inf)


def _model(x, slope_inf, c0, gamma):
    return slope_inf * x + c0 * -np.expm1(-gamma * x) / gamma


def _growth_values(log_gain, y, f):
    """L = log dg/dt (a central difference of ``log_gain`` along the rates f, relative step ``GROWTH_PROBE``) and
    log |y_i|, as rows (1 + m, r), at the states y (m, r)."""
    speed = np.max(np.where(y != 0, np.abs(f) / np.abs(y), 0.0), axis=0)  # fastest relative change
    eps = GROWTH_PROBE / speed
    rate = (log_gain(y + eps * f) - log_gain(y - eps * f)) / (2 * eps)
    return np.vstack([np.log(rate)[None], np.log(np.abs(y))])


def _watch_growth(log_gain, log_threshold, run: _RunningModes, accepted, t_new, gain_new, y_new, f_new, new_status,
                  div_time, div_y, t_limit: float, t_end: float, steps) -> float:
    """Mark DIVERGED the running modes whose log gain g will cross ``log_threshold`` before ``t_end``, predicted
    from its growth; returns the time at which the other modes stop.

    A runaway recurrent mode (no finite minimiser) slows down as it grows: the Dirac task's recurrent branch needs
    t ~ 1e5 to reach a gain of 1e8, thousands of steps for RODAS4 (a and c sit on a slow manifold with a Jacobian
    eigenvalue of -1e8, where the method's stage order limits the step). Its growth follows a law, though: L =
    log dg/dt against g tends to a straight line (a power of t: slope < 0; exponential growth: 0; a blow-up: > 0).
    At every accepted step of a watched mode, g, the state and the rates are recorded; each time g passes a multiple
    of ``GROWTH_SPACING``, L (a directional difference of ``log_gain`` along the rates) and log |y_i| at this step
    and the one before are interpolated to it (an anchor; only then: they cost more than a RODAS4 step). From the last ``GROWTH_ANCHORS`` anchors, ``_extrapolate_series`` gives the law, the time of the
    crossing t + integral of exp(-L) dg from g to the threshold, and the state there. The crossing is reported
    when ``GROWTH_AGREEING`` successive predictions agree to ``GROWTH_RTOL`` (and lie before ``t_end`` and
    ``t_limit``). Growth that stalls (towards a fixed point below the threshold) has slopes that do not settle
    (their differences grow), which the model refuses. Anchors restart when g falls or a step jumps over one.
    Called inside the solver loop's ``np.errstate(all="ignore")`` (logs of 0 and quotients by 0 are expected)."""
    watch = accepted & (gain_new >= GROWTH_WATCH_FROM * log_threshold)
    if not watch.any():
        return t_limit
    watch &= (new_status == RUNNING) & (steps[run.idx] >= GROWTH_WATCH_STEPS)
    if not watch.any():
        return t_limit
    rows = np.flatnonzero(watch)
    y, f, g = y_new[:, rows], f_new[:, rows], gain_new[rows]
    g_old, y_old, f_old = run.growth[rows], run.growth_y[:, rows], run.growth_f[:, rows]
    run.growth[rows], run.growth_y[:, rows], run.growth_f[:, rows] = g, y, f
    cells = np.floor(g / GROWTH_SPACING) - np.floor(g_old / GROWTH_SPACING)
    growing = (g > g_old) & np.isfinite(g)
    crossing = np.flatnonzero(growing & (cells == 1))
    if crossing.size:  # L and log |y_i| at both ends of the steps that passed an anchor; a step at which L is not
        # finite also restarts the anchors
        current = _growth_values(log_gain, y[:, crossing], f[:, crossing])
        previous = _growth_values(log_gain, y_old[:, crossing], f_old[:, crossing])
        growing[crossing] = np.isfinite(current[0]) & np.isfinite(previous[0])
    restart = ~growing | (cells > 1)
    run.n_anchors[rows[restart]] = 0
    run.predictions[:, rows[restart]] = np.nan
    if crossing.size == 0:
        return t_limit
    pushed = growing[crossing]
    push, current, previous = crossing[pushed], current[:, pushed], previous[:, pushed]
    if push.size == 0:
        return t_limit
    at = np.floor(g[push] / GROWTH_SPACING) * GROWTH_SPACING  # the multiple of the spacing passed
    w = (at - g_old[push]) / (g[push] - g_old[push])
    anchor = previous + w * (current - previous)
    cols = rows[push]
    run.anchors[:, :, cols] = np.concatenate([run.anchors[1:, :, cols], anchor[None]])
    run.n_anchors[cols] += 1
    ready = run.n_anchors[cols] >= GROWTH_ANCHORS
    if not ready.any():
        return t_limit
    cols, push, at, current = cols[ready], push[ready], at[ready], current[:, ready]
    slope_inf, c0, gamma, valid = _extrapolate_series(run.anchors[:, :, cols], GROWTH_SPACING)
    x0 = g[push] - at                  # the current state, past the last anchor
    span = log_threshold - at          # the threshold, past the last anchor
    law = (slope_inf[0], c0[0], gamma[0])
    x = x0 + (span - x0) * _GL_NODES[:, None]
    L = current[0] + _model(x, *law) - _model(x0, *law)
    t_cross = t_new[cols] + (span - x0) * np.sum(_GL_WEIGHTS[:, None] * np.exp(-L), axis=0)
    ok = valid[0] & (np.abs(slope_inf[0]) * (span - x0) <= GROWTH_MAX_EFOLDS) & np.isfinite(t_cross)
    t_cross = np.where(ok, t_cross, np.nan)
    # the state at the crossing: each log |y_i| by its own law (a straight line where it has none)
    sl = np.where(valid[1:], slope_inf[1:], np.diff(run.anchors[-2:, 1:, cols], axis=0)[0] / GROWTH_SPACING)
    c0s, gammas = np.where(valid[1:], c0[1:], 0.0), np.where(valid[1:], gamma[1:], 1.0)
    log_y = current[1:] + _model(span, sl, c0s, gammas) - _model(x0, sl, c0s, gammas)
    y_cross = np.sign(y[:, push]) * np.exp(log_y)
    y_cross = np.where(np.isfinite(y_cross), y_cross, y[:, push])
    run.predictions[:, cols] = np.concatenate([run.predictions[1:, cols], t_cross[None]])
    last = run.predictions[-1, cols]
    spread = np.max(run.predictions[:, cols], axis=0) - np.min(run.predictions[:, cols], axis=0)
    fire = ((spread <= GROWTH_RTOL * last) & (last > t_new[cols]) & (last <= t_end * (1 - 10 * GROWTH_RTOL))
            & (last < t_limit))
    if fire.any():
        hit = cols[fire]
        new_status[hit] = DIVERGED
        div_time[run.idx[hit]] = last[fire]
        div_y[run.idx[hit]] = y_cross[:, fire].T
        t_limit = min(t_limit, float(np.min(last[fire])))
    return t_limit


def _mark_finished(run: _RunningModes, new_status, accepted, last, f_new, nonfinite, converged_tol, t_limit,
                   max_steps, iteration: int, result: BlockSolution):
    """Statuses after a step: REACHED_END, CONVERGED, HALTED (past ``t_limit``), or FAILED for the first mode that
    is stuck (too many rejections in a row, a step size below rounding, or ``max_steps``), recorded in ``result``."""
    # each test only where it can hold (these few calls are much of a step's cost at small K)
    running = new_status == RUNNING
    if _count_nonzero(last):
        new_status[running & accepted & last] = REACHED_END
    if converged_tol is not None:  # converging on the last step counts as converged
        converged = np.maximum.reduce(np.abs(f_new), axis=0) < converged_tol
        if _count_nonzero(converged):
            new_status[converged & running & accepted] = CONVERGED
    if t_limit < np.inf:
        new_status[(new_status == RUNNING) & (run.t >= t_limit)] = HALTED
    stuck = run.h <= 16 * _EPS * run.t  # t >= 0
    steps = result.steps if run.idx.size == result.steps.size else result.steps[run.idx]  # (as in ``advance``)
    if iteration >= max_steps:  # else no mode has taken so many steps
        stuck |= steps >= max_steps
    if run.some_just_rejected:  # else no mode has rejections in a row
        stuck |= run.rejects_in_a_row >= MAX_REJECTS_IN_A_ROW
    if _count_nonzero(stuck) and (stuck := stuck & (new_status == RUNNING)).any():
        row = int(np.argmax(stuck))
        detail = (f"{run.rejects_in_a_row[row]} rejected steps in a row, step size {run.h[row]:.3g}"
                  if steps[row] < max_steps else f"{max_steps} steps")
        if nonfinite[row]:
            detail += " (trial steps overflow)"
        result.failure = ModeFailure("stuck", int(run.idx[row]), float(run.t[row]), run.y[:, row].copy(), detail)
        new_status[row] = FAILED


#: ``_mark_hopeless``: first iteration (then every doubling) at which the steps still needed are projected, and the
#: factor over the step cap past which a mode counts as stuck at once instead of at the cap.
PROJECT_FROM = 4096
PROJECT_MARGIN = 1.5


def projected_count(count0, t0, count, t, t_end):
    """Work (steps, evaluations) a run needs to reach ``t_end``, from two of its points (t0, count0) -> (t, count),
    with t growing like a power of the work, t ~ count^p, p = log(t / t0) / log(count / count0): count (t_end / t)^(1
    / p); NaN where t did not grow (p <= 0). A stiff run's step stays at its stability limit (p ~ 1, or ~2 where the
    stiffness grows with the state); a converging run's steps grow geometrically (a large p)."""
    with np.errstate(all="ignore"):
        power = np.log(t / t0) / np.log(count / count0)
        return np.where(power > 0, count * (t_end / t) ** (1.0 / power), np.nan)


def _mark_hopeless(run: _RunningModes, new_status, checkpoint, t_end: float, max_steps: int, result: BlockSolution):
    """Mark FAILED (stuck) the first running mode whose steps, projected to ``t_end``, exceed ``PROJECT_MARGIN``
    times ``max_steps``, so that a fallback starts at once instead of after the whole cap.

    Between two checks (iterations 2^j and 2^(j+1)) a mode went from (t0, n0) to (t, n) steps, which project to
    t_end (``projected_count``). A runaway whose stiffness grows with it (RODAS4 in
    a, b, c on a huge singular value) has p ~ 2 and needs 10^5 steps: found at 8192 instead of 20,000."""
    idx = run.idx
    steps = result.steps[idx].astype(float)
    t0, n0 = checkpoint[:, idx]
    projected = projected_count(n0, t0, steps, run.t, t_end)
    checkpoint[:, idx] = run.t, steps
    hopeless = (new_status == RUNNING) & (projected > PROJECT_MARGIN * max_steps)  # NaN (t did not grow): False
    if result.failure is None and hopeless.any():
        row = int(np.argmax(hopeless))
        result.failure = ModeFailure("stuck", int(idx[row]), float(run.t[row]), run.y[:, row].copy(),
                                     f"{projected[row]:.3g} steps projected to t_end at {int(steps[row])} steps "
                                     f"(cap {max_steps})")
        new_status[row] = FAILED


def _retire_finished(run: _RunningModes, new_status, modes, next_out, result: BlockSolution) -> bool:
    """Record the modes that finished (status, final time and state) and drop them from ``run``; after a failure
    every other mode is HALTED where it is. Returns True when the run ends (a failure)."""
    finished = new_status != RUNNING
    if not (_count_nonzero(finished) or result.failure is not None):
        return False
    gone = run.idx[finished]
    result.status[gone] = new_status[finished]
    result.t_final[gone], result.y_final[gone] = run.t[finished], run.y[:, finished].T
    next_out[gone] = run.nx[finished]
    if result.failure is not None:
        halted = run.idx[~finished]
        result.status[halted] = HALTED
        result.t_final[halted], result.y_final[halted] = run.t[~finished], run.y[:, ~finished].T
        return True
    run.keep(~finished, modes)
    return False


def _finish(result: BlockSolution, div_time, div_y, next_out) -> BlockSolution:
    """Report the earliest divergence (when nothing else failed), with the predicted state at a predicted crossing;
    a converged mode keeps its state at the later output times."""
    if result.failure is None and np.isfinite(div_time).any():
        mode = int(np.argmin(div_time))
        predicted = bool(np.all(np.isfinite(div_y[mode])))
        result.failure = ModeFailure("diverged", mode, float(div_time[mode]),
                                     (div_y[mode] if predicted else result.y_final[mode]).copy(),
                                     f"predicted from its growth at t={result.t_final[mode]:.6g}" if predicted else "")
    frozen = (result.status == CONVERGED)[None, :] & (np.arange(result.t_eval.size)[:, None] >= next_out[None, :])
    result.Y[frozen] = np.broadcast_to(result.y_final, result.Y.shape)[frozen]
    return result
