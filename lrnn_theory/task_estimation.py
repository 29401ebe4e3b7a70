"""Tasks estimated from data: the singular-value profile of sequences ``X`` and targets ``Y``, and how far the data
are from the theory's assumptions.

``estimate_task(X, Y)`` (also ``Task.from_data``) takes ``X`` of shape (P, T, N_x) and ``Y`` of shape (P, N_y) and

1. estimates the correlations ``Sigma^{YX_i}`` of the final target with the input at every step i = 1..T, in one of
   two normalisations:

   * ``"sum"`` (default): ``Sigma^{YX_i} = sum_p y_p x_{p,i}^T``, the paper's own definition (S1 App. B eq. 21) and
     the convention of the validation harness (inputs whitened *as a sum*, ``sum_p x_{p,t} x_{p,t'}^T =
     delta_{tt'} I``, loss ``1/2 sum_p ||y_p - y_hat_p||^2``, tau = 1/lr);
   * ``"least_squares"``: the linear filter ``F`` that best maps the inputs to the targets,
     ``F = Sigma^{YX} (Sigma^{XX})^{-1}`` with ``Sigma^{XX}`` the (T N_x x T N_x) sum over samples of ``x x^T``
     jointly across time and dimensions. ``F_i`` is the ``Sigma^{YX_i}`` the same targets would have if the inputs
     were whitened as a sum, so the two agree for white inputs. For targets that are an exact linear filter of the
     inputs (the sensory-integration targets) ``F`` is that filter for any full-rank inputs, which is why the
     global solution survives without whitening (notes section 10).

2. finds the best pair of shared singular-vector bases ``U`` (N_y x K), ``V`` (N_x x K), K = min(N_x, N_y): the
   least-squares fit ``Sigma^{YX_i} ~ U diag(s_i) V^T`` over all steps at once (Assumption 2), by alternating exact
   minimisation (``s_i = diag(U^T Sigma_i V)``, then ``U`` and ``V`` as orthonormal polar factors). Each update
   cannot increase the residual; the start is the SVD of a random positive combination of the Sigma_i, which is
   already exact when the assumption holds. ``bases="combination"`` stops at that start: the validation harness
   estimates the task of user data (``train_lrnn(X=, Y=)``) this way, with this same function.

3. returns the task (``s[alpha, i-1]``, modes sorted by energy, signs such that ``sum_i s_{alpha,i} >= 0``) and a
   diagnostic: the fraction of the correlations' energy off the diagonal of the shared bases (0 when one pair of
   bases diagonalises every Sigma_i), per step and overall, and how far the inputs are from white across time and
   dimensions (``input_whiteness``).

Inputs correlated across time (issue 21). With ``normalisation="sum"`` the estimate also holds, in the same bases,
the input covariance of every mode across steps, ``lambda_ij = v_alpha^T Sigma^{X_i X_j} v_alpha`` (K x T x T), as
the task's ``input_covariance``: on the aligned network ``W_y W_h^(T-i) W_x = U diag(u b^(T-i)) V^T`` the data's
own loss is then exactly ``(c_0 - 2 u A(b) + u^2 B(b)) / 2`` per mode (``lrnn_theory.correlated``), whatever the
inputs, and the flow of the task is exact as long as the cross-covariances and the input covariances are diagonal
in the shared bases (the diagnostic measures how far they are: ``off_diagonal_fraction`` and
``input_off_diagonal_fraction``, relative off-diagonal energy; ``verdict`` says what that means). ``white=True``
gives the white task instead (no input covariance: exact only for inputs white in the chosen scale,
``input_white_deviation``); ``normalisation="least_squares"`` is always white.

Scale of the statistics: the ``loss`` convention (``lrnn_theory.losses``). ``"sum_half"`` and ``"sum"`` keep the
sums over the P samples (the harness's and the paper's scale); ``"mean_half"`` and ``"mean"`` take means over the
samples (covariances of order 1 whatever P). The task's flow (``tau dW/dt = -grad L`` with L its energy) is then
the data's loss up to the convention's factor, and one gradient step of rate ``lr`` on that loss advances the task's
time by ``lr * tau * data_time_factor(loss, N_y)``: 1 (``sum_half``), 2 (``sum``), ``1 / N_y`` (``mean_half``),
``2 / N_y`` (``mean``), with ``N_y`` replaced by ``T N_y`` for every-step targets (``time_mapping`` writes it out).

``ar1_teacher_data`` makes example data: AR(1) inputs across time from a known linear teacher whose filters are
diagonal in random bases (the tests and the README use it).

Every-step targets (``Y`` of shape (P, T, N_y), App. M) change only the correlation stage: one matrix
``Sigma^{Y_t X_i}`` per pair (output time t, input step i <= t), in the same two normalisations (least squares: the
best *causal* filter, output t regressed on the inputs 1..t, since the network cannot read later inputs). One pair of
bases is fitted to the stack of all T (T + 1) / 2 pairs, the task is every-step (``s[alpha, t-1, i-1]``, 0 for
i > t) and the off-diagonal energy is over all pairs (per pair in a (T, T) array, 0 where i > t).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import LrnnInputError, bad, check_finite_array, check_int, check_real
from .losses import check_loss, loss_scale
from .taskfile import read_npz_arrays

NORMALISATIONS = ("sum", "least_squares")
#: How the shared bases are found: the alternating least-squares fit, or the SVD of one random positive combination
#: of the correlations (its start: exact when the data satisfy Assumption 2, and what the harness trains with).
BASES = ("fitted", "combination")
#: Condition number of Sigma^{XX} above which the least-squares normalisation refuses the inputs.
MAX_INPUT_CONDITION = 1e12
#: Alternating-fit defaults.
MAX_ITER = 1000
FIT_TOL = 1e-13


@dataclass
class TaskEstimate:
    """Outcome of ``estimate_task``.

    Attributes
    ----------
    task : Task
        Singular values ``s`` (K, T) of the shared bases, modes sorted by energy; (K, T, T) every-step. With
        ``normalisation="sum"`` and not ``white``, the ``input_covariance`` (K, T, T) of the modes too (None when it
        is the identity to rounding: white inputs, today's task bit for bit).
    correlations : ndarray (T, N_y, N_x), or (T, T, N_y, N_x) for every-step targets
        The estimated ``Sigma^{YX_i}`` or ``Sigma^{Y_t X_i}`` (in the chosen normalisation and scale).
    U, V : ndarray (N_y, K), (N_x, K)
        Shared output and input singular vectors (orthonormal columns).
    diagnostic : dict
        ``off_diagonal_fraction`` (overall), ``off_diagonal_fraction_per_step`` (T,) or, every-step, (T, T) per
        pair (t, i) with 0 where i > t, ``largest_off_diagonal`` (largest off-diagonal entry of the
        ``U^T Sigma V`` relative to the largest ``|Sigma|`` entry), ``input_off_diagonal_fraction`` (energy of
        ``Sigma^{X_i X_j} V`` off ``V diag(lambda_ij)``, relative, over all pairs of steps),
        ``input_white_deviation`` (``||Sigma^XX - I||_F / sqrt(T N_x)`` of the whole input covariance in the
        chosen scale: 0 for inputs white in that scale), ``task_inputs`` ("correlated" or "white": what the task
        assumes), ``loss`` and ``statistics_scale`` (1 or 1/P), ``fit_iterations``, ``bases``, ``normalisation``,
        ``n_samples`` and the input-whiteness measures of ``input_whiteness``.
    input_covariance : ndarray (K, T, T)
        ``lambda_ij = v_alpha^T Sigma^{X_i X_j} v_alpha`` per mode in the chosen scale (also for a white task, where
        it only informs the diagnostic).
    """

    task: "object"
    correlations: np.ndarray
    U: np.ndarray
    V: np.ndarray
    diagnostic: dict = field(default_factory=dict)
    input_covariance: np.ndarray | None = None

    def summary(self) -> str:
        """Human-readable diagnostic, a few lines."""
        d = self.diagnostic
        per_step = np.asarray(d["off_diagonal_fraction_per_step"])
        if self.task.every_step:  # the worst input step i <= t of every output time t
            per_step = ", ".join(f"{v:.3g}" for v in per_step.max(axis=1))
            per_step, kind, sigma = f"largest per output time t: {per_step}", "every-step ", "Sigma^(Y_t X_i), i <= t"
        else:
            per_step, kind, sigma = f"per step: {', '.join(f'{v:.3g}' for v in per_step)}", "", "Sigma^(YX_i)"
        scale = "sums over the samples" if d["statistics_scale"] == 1 else "means over the samples"
        inputs = ("with the input covariance across steps (input_covariance)" if d["task_inputs"] == "correlated"
                  else "white inputs (no input covariance)")
        return "\n".join([
            f"{kind}task from {d['n_samples']} samples: K={self.task.K} modes, T={self.task.T} steps "
            f"({d['normalisation']} normalisation, {scale}: the scale of loss '{d['loss']}'; {inputs})",
            f"off-diagonal energy in the shared singular-vector bases: {d['off_diagonal_fraction']:.3g} "
            f"({per_step}); 0 when one pair of bases diagonalises every {sigma}",
            f"input covariances Sigma^(X_i X_j) V off V diag(lambda_ij): {d['input_off_diagonal_fraction']:.3g} of "
            f"their energy; distance of the input covariance from white (identity in this scale): "
            f"{d['input_white_deviation']:.3g}",
            f"inputs vs white as a sum (sum_p x_t x_t'^T = delta_tt' I): largest |Sigma^XX - I| entry "
            f"{d['whitening_error']:.3g}; cross-time energy fraction {d['cross_time_fraction']:.3g}; "
            f"within-step cross-dimension fraction {d['cross_dimension_fraction']:.3g}; mean-power fraction "
            f"{d['mean_fraction']:.3g}; eigenvalue spread {d['condition_number']:.3g}; mean power per entry "
            f"{d['mean_power']:.3g}",
        ])

    def verdict(self) -> str:
        """One line: does the theory apply to these data, and how large are its errors expected to be?

        The task's flow is exact on the data's own loss when the network stays aligned with the shared bases, that
        is when what the task leaves out is zero: for the correlated task the off-diagonal parts of the
        cross-covariances and of the input covariances in the shared bases; for a white task also the input
        covariance's distance from the identity. ``expected_error`` turns these into the size of the errors.
        """
        d = self.diagnostic
        off_c, off_l = d["off_diagonal_fraction"], d["input_off_diagonal_fraction"]
        where = (f"cross-covariances {_percent(off_c)} and input covariances {_percent(off_l)} off-diagonal "
                 f"(energy) in the shared bases")
        error = expected_error(d)
        if d["task_inputs"] == "white":
            where = (f"inputs {d['input_white_deviation']:.2g} from white (the white task assumes white inputs), "
                     + where)
            advice = ("; the sum normalisation gives the task with the input covariance"
                      if d["normalisation"] == "least_squares" else
                      "; drop --white (white=False) for the task with the input covariance")
            leaves = ""
        else:
            advice, leaves = "", " (the network leaves the shared bases)"
        if error <= APPLIES_ERROR:
            size = "at rounding level" if error < ROUNDING_ERROR else f"about {error:.1g}"
            return f"theory applies: {where}; predictions exact to that order (relative errors {size})"
        if error <= APPROXIMATE_ERROR:
            return f"theory approximate: {where}: expect relative errors of about {error:.2g} in u{advice}"
        return f"theory does not apply: {where}{leaves}: expect errors of order {error:.2g} relative to u{advice}"


#: Expected relative error at or below which the verdict is "theory applies", and below which "approximate".
APPLIES_ERROR = 1e-2
APPROXIMATE_ERROR = 0.3
#: Below this the off-diagonal energy is rounding (data that satisfy the assumptions exactly).
ROUNDING_ERROR = 1e-20


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.2g}%"


def expected_error(diagnostic: dict) -> float:
    """Relative size of the errors of the task's predictions (in u), from the diagnostic of an estimate.

    What the task leaves out perturbs the flow: an off-diagonal part of relative size ``r`` (``r^2`` the
    off-diagonal energy fraction) drives the weights off the shared bases at order ``r``, which reaches the modes'
    own dynamics at order ``r^2``, so the errors are of the order of the off-diagonal energy fractions. A white
    task on inputs at distance ``d`` from white misses a first-order part of the loss: errors of order ``d``.
    """
    error = max(diagnostic["off_diagonal_fraction"], diagnostic["input_off_diagonal_fraction"])
    if diagnostic["task_inputs"] == "white":
        error = max(error, diagnostic["input_white_deviation"])
    return float(error)


def input_whiteness(X) -> dict:
    """How far inputs are from white across time and dimensions (the theory's Assumption 1, as a sum).

    With ``M = sum_p x_p x_p^T`` over the (T N_x)-vectors of whole sequences:

    - ``whitening_error``: largest ``|M - I|`` entry (the harness's measure; 0 for inputs whitened as a sum);
    - ``mean_power``: ``trace(M) / (T N_x)``: inputs white up to this scale train like the theory with
      ``tau / mean_power``;
    - ``cross_time_fraction``: energy ``||.||_F^2`` of the blocks ``t != t'`` of M over that of all of M (0 when
      steps are uncorrelated);
    - ``cross_dimension_fraction``: energy off the diagonal inside the blocks ``t = t'`` over the energy of those
      blocks (0 when dimensions are uncorrelated within a step);
    - ``mean_fraction``: ``P ||mean x||^2 / trace(M)``, the share of input power in the mean (0 for zero-mean
      inputs; Assumption 1 asks for zero mean);
    - ``condition_number``: largest over smallest eigenvalue of M (1 when white up to a scale; inf when singular).

    Parameters
    ----------
    X : array_like, shape (P, T, N_x)

    Returns
    -------
    dict

    Examples
    --------
    >>> import numpy as np
    >>> Q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((24, 6)))
    >>> w = input_whiteness(Q.reshape(24, 3, 2))
    >>> round(w["whitening_error"], 12), round(w["cross_time_fraction"], 12), round(w["condition_number"], 6)
    (0.0, 0.0, 1.0)
    """
    X = np.asarray(X, dtype=float)
    P, T, N_x = X.shape
    flat = X.reshape(P, T * N_x)
    M = flat.T @ flat
    blocks = M.reshape(T, N_x, T, N_x)
    same_step = np.einsum("tatb->tab", blocks)
    total = float(np.sum(M * M))
    diag_energy = float(np.sum(same_step * same_step))
    within_diag = float(np.sum(np.einsum("taa->ta", same_step) ** 2))
    eig = np.linalg.eigvalsh(M)
    trace = float(np.trace(M))
    mean = flat.mean(axis=0)
    tiny = np.finfo(float).tiny
    return {
        "whitening_error": float(np.max(np.abs(M - np.eye(T * N_x)))),
        "mean_power": trace / (T * N_x),
        "cross_time_fraction": (total - diag_energy) / max(total, tiny),
        "cross_dimension_fraction": max(diag_energy - within_diag, 0.0) / max(diag_energy, tiny),
        "mean_fraction": P * float(mean @ mean) / max(trace, tiny),
        "condition_number": float(eig[-1] / eig[0]) if eig[0] > eig[-1] * 1e-15 else float("inf"),
    }


#: Largest bound |x| max(|x|, |y|) P T of the sums of products the estimate forms (floating point ends near 1.8e308;
#: the margin leaves room for the fits and the training built on them).
MAX_DATA_SUM = 1e250


def check_data(X, Y, normalisation: str = "sum"):
    """Validate ``X`` (P, T, N_x) and ``Y`` (P, N_y) or (P, T, N_y): finite, matching samples and steps, enough
    samples for the estimate.

    At least ``T N_x`` samples are needed: fewer cannot be white across time and dimensions, and leave
    ``Sigma^{XX}`` singular.
    """
    if normalisation not in NORMALISATIONS:
        raise bad("normalisation", normalisation, f"be one of {', '.join(NORMALISATIONS)}")
    X = check_finite_array("X", X)
    Y = check_finite_array("Y", Y)
    if X.ndim != 3:
        raise LrnnInputError(f"parameter 'X' must be a (P, T, N_x) array (samples x steps x input dimensions), "
                             f"got shape {X.shape}")
    if Y.ndim not in (2, 3):
        raise LrnnInputError(f"parameter 'Y' must be a (P, N_y) array (final targets) or (P, T, N_y) (targets at "
                             f"every step), got shape {Y.shape}")
    P, T, N_x = X.shape
    if Y.shape[0] != P:
        raise LrnnInputError(f"parameters 'X' and 'Y' must hold the same number of samples, got {P} and "
                             f"{Y.shape[0]}")
    if Y.ndim == 3 and Y.shape[1] != T:
        raise LrnnInputError(f"parameter 'Y' of shape {Y.shape} must hold a target at each of the T={T} steps of "
                             f"'X' (every-step targets (P, T, N_y))")
    if min(T, N_x, Y.shape[-1]) < 1:
        raise LrnnInputError(f"parameters 'X' and 'Y' must have T, N_x, N_y >= 1, got X {X.shape}, Y {Y.shape}")
    if P < T * N_x:
        raise LrnnInputError(f"parameter 'X' holds {P} samples, too few for the estimate: need at least "
                             f"T * N_x = {T * N_x}")
    largest_x, largest_y = float(np.max(np.abs(X))), float(np.max(np.abs(Y)))
    with np.errstate(over="ignore"):  # the bound of every sum of products the estimate and the training form
        bound = largest_x * max(largest_x, largest_y) * float(P) * float(T) * float(T if Y.ndim == 3 else 1)
    if not bound < MAX_DATA_SUM:
        raise LrnnInputError(f"parameters 'X' and 'Y' hold values up to {max(largest_x, largest_y):.3g}: their sums "
                             f"over P={P} samples and T={T} steps would overflow floating point; rescale the data "
                             "(divide X and Y by a common factor)")
    return X, Y


def data_correlations(X: np.ndarray, Y: np.ndarray, normalisation: str = "sum") -> np.ndarray:
    """``Sigma^{YX_i}`` for i = 1..T, shape (T, N_y, N_x), in the chosen normalisation (module docstring).

    Every-step targets ``Y`` (P, T, N_y) give ``Sigma^{Y_t X_i}``, shape (T, T, N_y, N_x) indexed [t-1, i-1]:
    ``"sum"`` holds every pair (the pairs i > t too, which the network cannot fit and ``causal_pairs`` drops);
    ``"least_squares"`` is the best causal filter (output t on the inputs 1..t), 0 for i > t.
    """
    every_step = Y.ndim == 3
    C = np.einsum("pty,pix->tiyx" if every_step else "py,ptx->tyx", Y, X)
    if normalisation == "sum":
        return C
    P, T, N_x = X.shape
    flat = X.reshape(P, T * N_x)
    M = flat.T @ flat
    eig = np.linalg.eigvalsh(M)
    if not eig[0] > eig[-1] / MAX_INPUT_CONDITION:  # leading blocks (causal filters) are no worse conditioned
        cond = eig[-1] / eig[0] if eig[0] > 0 else float("inf")
        raise LrnnInputError(f"parameter 'X' has inputs that are (nearly) linearly dependent across time and "
                             f"dimensions (condition number {cond:.3g} of Sigma^XX), so the least-squares "
                             f"normalisation is undefined; use normalisation='sum'")
    if not every_step:
        return _filter(M, C)
    F = np.zeros_like(C)
    for t in range(1, T + 1):  # T small solves, one per output time: output t sees only the inputs 1..t
        F[t - 1, :t] = _filter(M, C[t - 1, :t])
    return F


def _filter(M: np.ndarray, C: np.ndarray) -> np.ndarray:
    """``F = C (M_n)^{-1}`` for the correlations ``C`` (n, N_y, N_x) with the first n steps, ``M_n`` the leading
    (n N_x)-block of ``Sigma^{XX}``; shape of C."""
    n, N_y, N_x = C.shape
    C_flat = C.transpose(1, 0, 2).reshape(N_y, n * N_x)
    return np.linalg.solve(M[:n * N_x, :n * N_x], C_flat.T).T.reshape(N_y, n, N_x).transpose(1, 0, 2)


def causal_pairs(C: np.ndarray):
    """The every-step correlations the network can fit: ``C[t-1, i-1]`` for i <= t, stacked.

    Parameters
    ----------
    C : ndarray, shape (T, T, N_y, N_x)

    Returns
    -------
    stack : ndarray, shape (T (T + 1) / 2, N_y, N_x)
        In row-major order of the pairs (t, i), i <= t.
    mask : ndarray of bool, shape (T, T)
        True where i <= t (``values[..., mask] = per_pair`` puts per-pair results back).
    """
    mask = np.tril(np.ones(C.shape[:2], dtype=bool))
    return C[mask], mask


def _polar(A: np.ndarray) -> np.ndarray:
    left, _, right = np.linalg.svd(A, full_matrices=False)
    return left @ right


def combination_bases(C: np.ndarray, rng: np.random.Generator):
    """Singular vectors ``U`` (N_y, K), ``V`` (N_x, K) of a random positive combination ``sum_n w_n C_n``.

    When every ``C_n = U S_n V^T`` the combination has the same singular vectors, paired correctly even where some
    modes are degenerate in one matrix. Weights ``w_n ~ U(0.5, 1.5)`` are drawn from ``rng``.
    """
    U, _, Vt = np.linalg.svd(np.tensordot(rng.uniform(0.5, 1.5, size=C.shape[0]), C, axes=1), full_matrices=False)
    return U, Vt.T


def shared_singular_vectors(C, seed: int = 0, max_iter: int = MAX_ITER, tol: float = FIT_TOL):
    """Best shared singular-vector bases of a stack of matrices: ``C_n ~ U diag(s_n) V^T`` in least squares.

    Parameters
    ----------
    C : array_like, shape (n, N_y, N_x)
        The matrices (one per step; any stack works, e.g. every (output step, input step) pair).
    seed : int
        Seeds the random positive combination whose SVD starts the fit.
    max_iter : int
        Most alternating updates.
    tol : float
        Stop when the relative decrease of the residual energy falls below this.

    Returns
    -------
    U : ndarray (N_y, K)
    V : ndarray (N_x, K)
    s : ndarray (K, n)
        ``s[:, n] = diag(U^T C_n V)``, modes sorted by energy, signs with ``sum_n s >= 0``.
    off_per_matrix : ndarray (n,)
        ``||C_n - U diag(s_n) V^T||_F^2 / ||C_n||_F^2`` (0 for a zero matrix).
    off_total : float
        The same over all matrices together.
    iterations : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> U0, _ = np.linalg.qr(rng.standard_normal((3, 3))); V0, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    >>> s0 = np.array([[1.0, 0.5], [0.4, 0.8], [0.1, 0.1]])
    >>> C = np.einsum("yk,kn,xk->nyx", U0, s0, V0)
    >>> U, V, s, off, total, _ = shared_singular_vectors(C)
    >>> bool(np.allclose(s, s0)), total < 1e-20
    (True, True)
    """
    C = np.asarray(C, dtype=float)
    U, V = combination_bases(C, np.random.default_rng(seed))  # a Generator passes through default_rng unchanged
    energy = float(np.sum(C * C))
    previous = np.inf
    iterations = 0
    for iterations in range(1, max_iter + 1):
        s = np.einsum("yk,nyx,xk->kn", U, C, V)
        residual = energy - float(np.sum(s * s))  # ||C_n - U S_n V^T||^2 summed, with S_n = diag(U^T C_n V)
        if previous - residual <= tol * max(energy, np.finfo(float).tiny):
            break
        previous = residual
        U = _polar(np.einsum("nyx,xk,kn->yk", C, V, s))
        V = _polar(np.einsum("nyx,yk,kn->xk", C, U, s))
    s = np.einsum("yk,nyx,xk->kn", U, C, V)
    order = np.argsort(-np.sum(s * s, axis=1), kind="stable")
    U, V, s = U[:, order], V[:, order], s[order]
    signs = np.where(np.sum(s, axis=1) < 0, -1.0, 1.0)
    U, s = U * signs, s * signs[:, None]
    off_per, off_total = _off_diagonal_energy(C, U, V, s)
    return U, V, s, off_per, off_total, iterations


def _off_diagonal_energy(C, U, V, s):
    """``||C_n - U diag(s_n) V^T||_F^2 / ||C_n||_F^2`` per matrix (0 for a zero matrix) and over all of them."""
    energy = float(np.sum(C * C))
    fitted = np.einsum("yk,kn,xk->nyx", U, s, V)
    res = np.sum((C - fitted) ** 2, axis=(1, 2))
    norms = np.sum(C * C, axis=(1, 2))
    off_per = np.where(norms > 0, res / np.where(norms > 0, norms, 1.0), 0.0)
    off_total = float(np.sum(res) / energy) if energy > 0 else 0.0
    return off_per, off_total


def _projected_diagonals(C, U, V):
    """``diag(U^T C_n V)`` (K, n), and the largest off-diagonal entry of the ``U^T C_n V`` relative to the largest
    ``|C_n|`` entry (0 when the bases diagonalise every matrix)."""
    proj = U.T @ C @ V  # (n, K, K)
    K = proj.shape[1]
    s = np.einsum("tkk->kt", proj)
    if K == 1:
        return s, 0.0
    off = proj - np.einsum("kt,kj->tkj", s, np.eye(K))
    return s, float(np.max(np.abs(off)) / max(float(np.max(np.abs(C))), 1e-300))


# ---- scale of the statistics and the time mapping --------------------------------------------------------------
#: Loss conventions whose statistics are means over the samples (the others keep sums).
MEAN_LOSSES = ("mean_half", "mean")


def statistics_scale(loss: str, P: int) -> float:
    """Factor from the sums over the P samples to the statistics in the scale of ``loss``: 1 or 1 / P.

    Examples
    --------
    >>> statistics_scale("sum_half", 500), statistics_scale("mean", 500)
    (1.0, 0.002)
    """
    return 1.0 / P if check_loss(loss) in MEAN_LOSSES else 1.0


def data_time_factor(loss: str, N_y: int, outputs_per_sample: int = 1) -> float:
    """Theory time per step per unit ``lr * tau`` for a task estimated in the scale of ``loss``.

    The loss is ``loss = loss_scale * L_sum`` (``lrnn_theory.losses``) and the task's energy is
    ``statistics_scale * L_sum``, so one step advances ``lr * tau * loss_scale / statistics_scale``: 1, 2,
    ``1 / (N_y n)``, ``2 / (N_y n)`` for ``sum_half``, ``sum``, ``mean_half``, ``mean``, with ``n`` the outputs per
    sequence (T for every-step targets). P drops out.

    Examples
    --------
    >>> data_time_factor("mean", N_y=4), data_time_factor("sum", N_y=4)
    (0.5, 2.0)
    """
    P = 1  # any P: the factor does not depend on it
    return loss_scale(loss, P, N_y, outputs_per_sample) / statistics_scale(loss, P)


def time_mapping(loss: str, N_y: int, outputs_per_sample: int = 1, tau: float = 1.0) -> str:
    """The time mapping of a loss convention for a task estimated in its scale, as one phrase.

    Examples
    --------
    >>> time_mapping("mean", N_y=3)
    "t = steps * lr * tau * 2 / N_y = steps * lr * 0.666667 for loss 'mean' (N_y = 3, tau = 1; statistics are means over the samples)"
    """
    n = outputs_per_sample
    factor = {"sum_half": "1", "sum": "2", "mean_half": "1 / N_y" if n == 1 else "1 / (T N_y)",
              "mean": "2 / N_y" if n == 1 else "2 / (T N_y)"}[check_loss(loss)]
    value = data_time_factor(loss, N_y, n) * tau
    sizes = f"N_y = {N_y}" + (f", T = {n}" if n > 1 else "")
    kind = "means" if loss in MEAN_LOSSES else "sums"
    return (f"t = steps * lr * tau * {factor} = steps * lr * {value:.6g} for loss '{loss}' ({sizes}, tau = {tau:g}; "
            f"statistics are {kind} over the samples)")


# ---- the input covariance of the modes ----------------------------------------------------------------------
def input_second_moments(X: np.ndarray) -> np.ndarray:
    """``Sigma^XX = sum_p x_p x_p^T`` over whole sequences, shape (T N_x, T N_x), index (step, dimension)."""
    flat = X.reshape(X.shape[0], -1)
    return flat.T @ flat


def mode_input_covariance(M: np.ndarray, V: np.ndarray, T: int):
    """``lambda_ij = v_alpha^T Sigma^{X_i X_j} v_alpha`` per mode and how far ``Sigma^{X_i X_j}`` is from diagonal.

    Parameters
    ----------
    M : ndarray (T N_x, T N_x)
        The input covariance over whole sequences (any scale).
    V : ndarray (N_x, K)
        Input bases (orthonormal columns).
    T : int

    Returns
    -------
    lam : ndarray (K, T, T)
        Symmetric, positive semi-definite per mode.
    off : float
        ``sum_ij ||Sigma_ij V - V diag(lambda_ij)||_F^2 / sum_ij ||Sigma_ij V||_F^2``: the part of the covariance
        the modes' inputs meet that couples a mode to other modes or to inputs outside the bases (0 when
        ``Sigma^{X_i X_j} = V diag(lambda_ij) V^T`` plus anything orthogonal to V).
    """
    N_x, K = V.shape
    blocks = M.reshape(T, N_x, T, N_x)
    lam = np.empty((K, T, T))
    off = total = 0.0
    for i in range(T):  # one step i at a time (vectorized over j, dimensions and modes): memory T N_x K, not T^2
        MV = np.einsum("xjy,yk->jxk", blocks[i], V)                  # Sigma^{X_i X_j} V, (T, N_x, K)
        lam[:, i, :] = np.einsum("xk,jxk->kj", V, MV)
        residual = MV - V[None] * lam[:, i, :].T[:, None, :]         # directly, not ||MV||^2 - lambda^2: no cancellation
        off += float(np.sum(residual * residual))
        total += float(np.sum(MV * MV))
    lam = 0.5 * (lam + np.swapaxes(lam, 1, 2))                   # symmetric to rounding: exactly symmetric
    return lam, (off / total if total > 0 else 0.0)


#: Largest |lambda - I| entry of an estimated input covariance that still counts as white (rounding).
WHITE_TOL = 1e-12


def _given_bases(bases, N_x: int, N_y: int):
    """``(U, V)`` of ``bases`` given as a pair of arrays, checked; None for the names of ``BASES``."""
    if isinstance(bases, str):
        if bases not in BASES:
            raise bad("bases", bases, f"be one of {', '.join(BASES)} or a pair (U, V) of basis arrays")
        return None
    try:
        U, V = bases
    except (TypeError, ValueError):
        raise bad("bases", bases, f"be one of {', '.join(BASES)} or a pair (U, V) of basis arrays") from None
    U, V = check_finite_array("bases.U", U), check_finite_array("bases.V", V)
    K = min(N_x, N_y)
    if U.shape != (N_y, K) or V.shape != (N_x, K):
        raise LrnnInputError(f"parameter 'bases' must be U ({N_y}, {K}) and V ({N_x}, {K}) for these data, got "
                             f"{U.shape} and {V.shape}")
    for label, B in (("U", U), ("V", V)):
        if np.max(np.abs(B.T @ B - np.eye(K))) > 1e-8:
            raise LrnnInputError(f"parameter 'bases.{label}' must have orthonormal columns")
    return U, V


def estimate_task(X, Y, *, normalisation: str = "sum", loss: str = "sum_half", white: bool = False,
                  tau: float = 1.0, init=None, name: str = "data", seed=0, bases="fitted") -> TaskEstimate:
    """Estimate the task (singular-value profile and input covariance per mode) of data, with a diagnostic.

    Parameters
    ----------
    X : array_like, shape (P, T, N_x)
        Input sequences; step i = 1..T is column ``i-1`` (the last step reaches the output with no recurrent factor).
    Y : array_like, shape (P, N_y) or (P, T, N_y)
        Final-step targets, or targets at every step (an every-step task, ``outputs="every_step"``).
    normalisation : {"sum", "least_squares"}
        ``"sum"``: ``Sigma^{YX_i} = sum_p y_p x_{p,i}^T`` (the harness's and the paper's convention), with the input
        covariance; ``"least_squares"``: the best linear filter ``Sigma^{YX} (Sigma^{XX})^{-1}`` (equal for white
        inputs; for every-step targets the best causal filter of each output time), always a white task.
    loss : {"sum_half", "sum", "mean_half", "mean"}
        The loss convention whose scale the statistics take (module docstring): sums over the samples for the sum
        conventions (default), means for the mean conventions. ``time_mapping`` gives the time per step.
    white : bool
        Leave the input covariance out: the white task (today's, exact only for inputs white in this scale).
    tau, init, name
        Passed to the ``Task``.
    seed : int or numpy.random.Generator
        Seeds the random positive combination that starts the shared-basis fit (a Generator is drawn from).
    bases : {"fitted", "combination"} or (U, V)
        ``"fitted"``: the alternating least-squares fit, modes sorted by energy with ``sum_i s_i >= 0``.
        ``"combination"``: the SVD of one random positive combination of the correlations, modes in the order of
        its singular values: the fit's start, exact when the data satisfy Assumption 2; the validation harness
        trains with it (``fit_iterations`` is 0). A pair of arrays ``(U, V)`` (orthonormal columns): these bases
        (for example those a network was trained in).

    Returns
    -------
    TaskEstimate

    Raises
    ------
    LrnnInputError
        Shape mismatch (also every-step ``Y`` with another T than ``X``), non-finite values, fewer than T N_x
        samples, (least squares) singular input statistics, or bad bases.

    Examples
    --------
    >>> import numpy as np
    >>> from lrnn_theory.validation.data import whitened_inputs
    >>> X = whitened_inputs(np.random.default_rng(0), 40, 4, 2)
    >>> Y = 0.25 * X.sum(axis=1)                      # the mean target: s_i = 1/4 for both modes, every step
    >>> est = estimate_task(X, Y)
    >>> np.round(est.task.singular_values, 6).tolist(), round(est.diagnostic["off_diagonal_fraction"], 12)
    ([[0.25, 0.25, 0.25, 0.25], [0.25, 0.25, 0.25, 0.25]], 0.0)
    >>> est.task.input_covariance is None           # white as a sum: the white task, bit for bit
    True
    >>> every = estimate_task(X, np.cumsum(X, axis=1))  # y_t = x_1 + ... + x_t: the constant every-step task
    >>> every.task.outputs, np.round(every.task.singular_values[0], 6).tolist()
    ('every_step', [[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    >>> data = ar1_teacher_data(P=400, T=3, N=2, rho=0.5)
    >>> est = estimate_task(data.X, data.Y, loss="mean")
    >>> np.round(est.task.input_covariance.matrix[0], 6).tolist()   # rho^|i-j|, averaged over the samples
    [[1.0, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 1.0]]
    >>> est.verdict()[:14]
    'theory applies'
    """
    from .tasks import Task

    X, Y = check_data(X, Y, normalisation)
    loss = check_loss(loss)
    if not isinstance(seed, np.random.Generator):
        seed = check_int("seed", seed, minimum=0)
    if not isinstance(white, (bool, np.bool_)):
        raise bad("white", white, "be True or False")
    P, T, N_x = X.shape
    given = _given_bases(bases, N_x, Y.shape[-1])
    scale = statistics_scale(loss, P)
    C = data_correlations(X, Y, normalisation)
    if normalisation == "sum" and scale != 1.0:
        C = C * scale
    every_step = Y.ndim == 3
    stack, mask = causal_pairs(C) if every_step else (C, None)
    if given is not None:
        U, V = given
        s, largest_off = _projected_diagonals(stack, U, V)
        (off_per, off_total), iterations = _off_diagonal_energy(stack, U, V, s), 0
    elif bases == "fitted":
        U, V, s, off_per, off_total, iterations = shared_singular_vectors(stack, seed=seed)
        largest_off = _projected_diagonals(stack, U, V)[1]
    else:
        U, V = combination_bases(stack, np.random.default_rng(seed))
        s, largest_off = _projected_diagonals(stack, U, V)
        (off_per, off_total), iterations = _off_diagonal_energy(stack, U, V, s), 0
    if every_step:  # per pair (t, i <= t) back to (K, T, T) and (T, T), 0 where i > t
        s_full, off_full = np.zeros((s.shape[0],) + mask.shape), np.zeros(mask.shape)
        s_full[:, mask], off_full[mask] = s, off_per
        s, off_per = s_full, off_full
    M = input_second_moments(X) * scale
    lam, input_off = mode_input_covariance(M, V, T)
    correlated = normalisation == "sum" and not white
    identity = np.eye(T)
    covariance = lam if correlated and float(np.max(np.abs(lam - identity))) > WHITE_TOL else None
    task = Task(s, init=init, tau=tau, name=name, outputs="every_step" if every_step else "final",
                input_covariance=covariance)
    white_deviation = float(np.sqrt(np.sum((M - np.eye(T * N_x)) ** 2) / (T * N_x)))
    diagnostic = {"normalisation": normalisation, "n_samples": int(P), "off_diagonal_fraction": off_total,
                  "off_diagonal_fraction_per_step": off_per, "largest_off_diagonal": largest_off,
                  "input_off_diagonal_fraction": input_off, "input_white_deviation": white_deviation,
                  "task_inputs": "correlated" if correlated else "white", "loss": loss, "statistics_scale": scale,
                  "fit_iterations": iterations, "bases": bases if given is None else "given",
                  **input_whiteness(X)}
    return TaskEstimate(task=task, correlations=C, U=U, V=V, diagnostic=diagnostic, input_covariance=lam)


# ---- example data -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TeacherData:
    """Data from a known linear teacher (``ar1_teacher_data``).

    Attributes
    ----------
    X : ndarray (P, T, N)
    Y : ndarray (P, N)
        ``y_p = sum_i U diag(filters[:, i-1]) V^T x_{p,i}``.
    U, V : ndarray (N, N)
        The teacher's bases (orthonormal).
    filters : ndarray (N, T)
        The teacher's filter per mode and step: the best linear read-out ``w*`` of every mode.
    covariance : ndarray (T, T)
        The AR(1) covariance of every input dimension across steps, ``rho^|i-j|`` (in the mean scale: the
        inputs' covariance averaged over the samples is exactly ``covariance (x) I`` when ``exact``).
    """

    X: np.ndarray
    Y: np.ndarray
    U: np.ndarray
    V: np.ndarray
    filters: np.ndarray
    covariance: np.ndarray

    def cross_covariances(self) -> np.ndarray:
        """The mean-scale ``sigma[alpha, i-1] = sum_j w*_j lambda_ji`` the teacher implies (K, T), exact when the
        data are ``exact``."""
        return self.filters @ self.covariance


#: Teacher filters of ``ar1_teacher_data`` per mode (rows) for steps 1..T: a geometric filter (a zero-loss solution
#: exists), a constant one (geometric with b = 1) and one whose last step breaks the pattern (no zero-loss solution).
def default_teacher_filters(T: int, N: int) -> np.ndarray:
    i = np.arange(1, T + 1, dtype=float)
    rows = [1.0 * 0.7 ** (T - i), np.full(T, 0.5), np.where(i < T, 0.2, 0.6)]
    while len(rows) < N:  # more modes: weaker geometric filters
        rows.append(0.3 / len(rows) * 0.5 ** (T - i))
    return np.array(rows[:N])


def ar1_teacher_data(P: int = 2000, T: int = 5, N: int = 3, rho: float = 0.6, *, exact: bool = True,
                     filters=None, noise: float = 0.0, seed: int = 0) -> TeacherData:
    """Example data: inputs correlated across time as AR(1) (``lambda_ij = rho^|i-j|``) and targets from a known
    linear teacher that is diagonal in random bases U, V, so the task's assumptions hold.

    Parameters
    ----------
    P, T, N : int
        Samples, steps, and input = output dimension (P >= T N).
    rho : float
        AR(1) coefficient across steps, -1 < rho < 1 (unit variance per step).
    exact : bool
        True: the inputs' covariance averaged over the samples is exactly ``rho^|i-j| I`` (Gaussian draws made
        orthonormal across samples, then coloured), so the cross-covariances and input covariances are exactly
        diagonal in the teacher's bases. False: independent Gaussian AR(1) sequences (sampling error of order
        1 / sqrt(P) off the diagonal).
    filters : array_like (N, T), optional
        The teacher's filter per mode and step (default ``default_teacher_filters``).
    noise : float
        Standard deviation of Gaussian noise added to the targets.
    seed : int

    Returns
    -------
    TeacherData

    Examples
    --------
    >>> data = ar1_teacher_data(P=300, T=4, N=2, rho=0.8)
    >>> data.X.shape, data.Y.shape
    ((300, 4, 2), (300, 2))
    >>> M = np.einsum("pix,pjy->ijxy", data.X, data.X) / 300
    >>> bool(np.allclose(M[:, :, 0, 0], 0.8 ** np.abs(np.subtract.outer(range(4), range(4)))))
    True
    """
    P, T, N = (check_int(k, v, minimum=1) for k, v in (("P", P), ("T", T), ("N", N)))
    if P < T * N:
        raise bad("P", P, f"be >= T * N = {T * N}")
    rho = check_real("rho", rho)
    if not -1 < rho < 1:
        raise bad("rho", rho, "lie strictly between -1 and 1 (a stationary AR(1))")
    noise = check_real("noise", noise, nonnegative=True)
    seed = check_int("seed", seed, minimum=0)
    w = default_teacher_filters(T, N) if filters is None else check_finite_array("filters", filters)
    if w.shape != (N, T):
        raise LrnnInputError(f"parameter 'filters' must have shape ({N}, {T}) (one filter per mode and step), got "
                             f"{w.shape}")
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((N, N)))[0]
    V = np.linalg.qr(rng.standard_normal((N, N)))[0]
    lags = np.abs(np.subtract.outer(np.arange(T), np.arange(T)))
    covariance = rho ** lags.astype(float)
    Z = rng.standard_normal((P, T * N))
    if exact:  # orthonormal columns times sqrt(P): sum_p z z^T = P I exactly
        Q, R = np.linalg.qr(Z)
        Z = Q * np.sign(np.diag(R)) * np.sqrt(P)
    X = np.einsum("ij,pjn->pin", np.linalg.cholesky(covariance), Z.reshape(P, T, N))
    Y = np.einsum("yk,ki,xk,pix->py", U, w, V, X)
    if noise > 0:
        Y = Y + noise * rng.standard_normal(Y.shape)
    return TeacherData(X=X, Y=Y, U=U, V=V, filters=w, covariance=covariance)


# ---- data files ---------------------------------------------------------------------------------------------------
def load_npz_data(path):
    """Arrays ``X`` and ``Y`` of an NPZ file, through the bounded reader (``taskfile.read_npz_arrays``), or a
    one-line error naming the file."""
    return read_npz_arrays(path, ("X", "Y"), "data file")
