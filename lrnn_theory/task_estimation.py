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

Every-step targets (``Y`` of shape (P, T, N_y), App. M) change only the correlation stage: one matrix
``Sigma^{Y_t X_i}`` per pair (output time t, input step i <= t), in the same two normalisations (least squares: the
best *causal* filter, output t regressed on the inputs 1..t, since the network cannot read later inputs). One pair of
bases is fitted to the stack of all T (T + 1) / 2 pairs, the task is every-step (``s[alpha, t-1, i-1]``, 0 for
i > t) and the off-diagonal energy is over all pairs (per pair in a (T, T) array, 0 where i > t).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import LrnnInputError, bad, check_finite_array, check_int

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
        Singular values ``s`` (K, T) of the shared bases, modes sorted by energy; (K, T, T) every-step.
    correlations : ndarray (T, N_y, N_x), or (T, T, N_y, N_x) for every-step targets
        The estimated ``Sigma^{YX_i}`` or ``Sigma^{Y_t X_i}`` (in the chosen normalisation, ``data_correlations``).
    U, V : ndarray (N_y, K), (N_x, K)
        Shared output and input singular vectors (orthonormal columns).
    diagnostic : dict
        ``off_diagonal_fraction`` (overall), ``off_diagonal_fraction_per_step`` (T,) or, every-step, (T, T) per
        pair (t, i) with 0 where i > t, ``largest_off_diagonal`` (largest off-diagonal entry of the
        ``U^T Sigma V`` relative to the largest ``|Sigma|`` entry), ``fit_iterations``, ``bases``,
        ``normalisation``, ``n_samples`` and the input-whiteness measures of ``input_whiteness``.
    """

    task: "object"
    correlations: np.ndarray
    U: np.ndarray
    V: np.ndarray
    diagnostic: dict = field(default_factory=dict)

    def summary(self) -> str:
        """Human-readable diagnostic, a few lines."""
        d = self.diagnostic
        per_step = np.asarray(d["off_diagonal_fraction_per_step"])
        if self.task.every_step:  # the worst input step i <= t of every output time t
            per_step = ", ".join(f"{v:.3g}" for v in per_step.max(axis=1))
            per_step, kind, sigma = f"largest per output time t: {per_step}", "every-step ", "Sigma^(Y_t X_i), i <= t"
        else:
            per_step, kind, sigma = f"per step: {', '.join(f'{v:.3g}' for v in per_step)}", "", "Sigma^(YX_i)"
        return "\n".join([
            f"{kind}task from {d['n_samples']} samples: K={self.task.K} modes, T={self.task.T} steps "
            f"({d['normalisation']} normalisation)",
            f"off-diagonal energy in the shared singular-vector bases: {d['off_diagonal_fraction']:.3g} "
            f"({per_step}); 0 when one pair of bases diagonalises every {sigma}",
            f"inputs vs white (sum_p x_t x_t'^T = delta_tt' I): largest |Sigma^XX - I| entry "
            f"{d['whitening_error']:.3g}; cross-time energy fraction {d['cross_time_fraction']:.3g}; "
            f"within-step cross-dimension fraction {d['cross_dimension_fraction']:.3g}; mean-power fraction "
            f"{d['mean_fraction']:.3g}; eigenvalue spread {d['condition_number']:.3g}; mean power per entry "
            f"{d['mean_power']:.3g}",
        ])


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
        "cross_dimension_fraction": (diag_energy - within_diag) / max(diag_energy, tiny),
        "mean_fraction": P * float(mean @ mean) / max(trace, tiny),
        "condition_number": float(eig[-1] / eig[0]) if eig[0] > eig[-1] * 1e-15 else float("inf"),
    }


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


def estimate_task(X, Y, *, normalisation: str = "sum", tau: float = 1.0, init=None, name: str = "data",
                  seed=0, bases: str = "fitted") -> TaskEstimate:
    """Estimate the task (singular-value profile per mode) of data, with a diagnostic of the assumptions.

    Parameters
    ----------
    X : array_like, shape (P, T, N_x)
        Input sequences; step i = 1..T is column ``i-1`` (the last step reaches the output with no recurrent factor).
    Y : array_like, shape (P, N_y) or (P, T, N_y)
        Final-step targets, or targets at every step (an every-step task, ``outputs="every_step"``).
    normalisation : {"sum", "least_squares"}
        ``"sum"``: ``Sigma^{YX_i} = sum_p y_p x_{p,i}^T`` (the harness's and the paper's convention);
        ``"least_squares"``: the best linear filter ``Sigma^{YX} (Sigma^{XX})^{-1}`` (equal for white inputs;
        for every-step targets the best causal filter of each output time).
    tau, init, name
        Passed to the ``Task``.
    seed : int or numpy.random.Generator
        Seeds the random positive combination that starts the shared-basis fit (a Generator is drawn from).
    bases : {"fitted", "combination"}
        ``"fitted"``: the alternating least-squares fit, modes sorted by energy with ``sum_i s_i >= 0``.
        ``"combination"``: the SVD of one random positive combination of the correlations, modes in the order of
        its singular values: the fit's start, exact when the data satisfy Assumption 2; the validation harness
        trains with it (``fit_iterations`` is 0).

    Returns
    -------
    TaskEstimate

    Raises
    ------
    LrnnInputError
        Shape mismatch (also every-step ``Y`` with another T than ``X``), non-finite values, fewer than T N_x
        samples, or (least squares) singular input statistics.

    Examples
    --------
    >>> import numpy as np
    >>> from lrnn_theory.validation.data import whitened_inputs
    >>> X = whitened_inputs(np.random.default_rng(0), 40, 4, 2)
    >>> Y = 0.25 * X.sum(axis=1)                      # the mean target: s_i = 1/4 for both modes, every step
    >>> est = estimate_task(X, Y)
    >>> np.round(est.task.singular_values, 6).tolist(), round(est.diagnostic["off_diagonal_fraction"], 12)
    ([[0.25, 0.25, 0.25, 0.25], [0.25, 0.25, 0.25, 0.25]], 0.0)
    >>> every = estimate_task(X, np.cumsum(X, axis=1))  # y_t = x_1 + ... + x_t: the constant every-step task
    >>> every.task.outputs, np.round(every.task.singular_values[0], 6).tolist()
    ('every_step', [[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    """
    from .tasks import Task

    X, Y = check_data(X, Y, normalisation)
    if not isinstance(seed, np.random.Generator):
        seed = check_int("seed", seed, minimum=0)
    if bases not in BASES:
        raise bad("bases", bases, f"be one of {', '.join(BASES)}")
    C = data_correlations(X, Y, normalisation)
    every_step = Y.ndim == 3
    stack, mask = causal_pairs(C) if every_step else (C, None)
    if bases == "fitted":
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
    task = Task(s, init=init, tau=tau, name=name, outputs="every_step" if every_step else "final")
    diagnostic = {"normalisation": normalisation, "n_samples": int(X.shape[0]), "off_diagonal_fraction": off_total,
                  "off_diagonal_fraction_per_step": off_per, "largest_off_diagonal": largest_off,
                  "fit_iterations": iterations, "bases": bases, **input_whiteness(X)}
    return TaskEstimate(task=task, correlations=C, U=U, V=V, diagnostic=diagnostic)


# ---- data files ---------------------------------------------------------------------------------------------------
def load_npz_data(path):
    """Arrays ``X`` and ``Y`` of an NPZ file, or a one-line error naming the file."""
    from pathlib import Path

    import zipfile

    path = Path(path)
    if path.is_file() and not zipfile.is_zipfile(path):
        raise LrnnInputError(f"data file '{path}' is not an NPZ archive (save it with numpy.savez(path, X=X, Y=Y))")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in ("X", "Y") if k not in archive.files]
            if missing:
                raise LrnnInputError(f"data file '{path}' has no array '{missing[0]}' (it needs X (P, T, N_x) and "
                                     f"Y (P, N_y) or (P, T, N_y); found: {', '.join(archive.files) or 'none'})")
            return archive["X"], archive["Y"]
    except FileNotFoundError:
        raise LrnnInputError(f"data file '{path}' does not exist") from None
    except (IsADirectoryError, PermissionError) as exc:
        raise LrnnInputError(f"data file '{path}' cannot be read: {exc.__class__.__name__}") from None
    except ValueError as exc:  # not an NPZ (or an object array that needs pickle)
        raise LrnnInputError(f"data file '{path}' is not an NPZ of numeric arrays X and Y: "
                             f"{' '.join(str(exc).split())}") from None
    except OSError as exc:
        raise LrnnInputError(f"data file '{path}' is not a readable NPZ archive ({exc.__class__.__name__})") from None
