"""Data for the validation harness: random bases, exactly whitened sample sets, and user data.

- ``random_orthonormal``: a matrix with orthonormal columns, drawn uniformly (QR of a Gaussian matrix with the
  signs fixed).
- ``task_correlations``: ``Sigma^{YX_i} = U S_i V^T`` for every step of a task (the population data).
- ``whitened_inputs``: P input sequences that are white *as a sum* over samples, exactly, jointly across time and
  dimensions: ``sum_p x_{p,t} x_{p,t'}^T = delta_{tt'} I`` (needs ``P >= T N_x``). This is the paper's own
  normalisation of Sigma^{X_t X_t'} (S1 App. B eq. 21), under which ``tau = P N_y / eta`` holds for a mean loss.
- ``fit_user_task``: the correlations of user data, their common singular vectors and per-step singular values.
"""
from __future__ import annotations

import numpy as np

from lrnn_theory.errors import LrnnInputError, check_finite_array
from lrnn_theory.task_estimation import causal_pairs, combination_bases, data_correlations


def random_orthonormal(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """A matrix with orthonormal columns, Haar-distributed.

    Parameters
    ----------
    rng : numpy.random.Generator
    n, k : int
        Shape, k <= n.

    Returns
    -------
    ndarray, shape (n, k)
    """
    Q, Rm = np.linalg.qr(rng.standard_normal((n, k)))
    return Q * np.sign(np.where(np.diag(Rm) == 0, 1.0, np.diag(Rm)))


def task_correlations(singular_values: np.ndarray, U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Population correlations ``Sigma^{YX_i} = U diag(s[:, i-1]) V^T`` for steps i = 1..T.

    Every-step profiles (K, T, T) give ``Sigma^{Y_t X_i} = U diag(s[:, t-1, i-1]) V^T``, shape (T, T, N_y, N_x).

    Parameters
    ----------
    singular_values : array_like, shape (K, T) or (K, T, T)
    U, V : ndarray, shapes (N_y, K) and (N_x, K)

    Returns
    -------
    ndarray, shape (T, N_y, N_x) or (T, T, N_y, N_x)
    """
    s = np.asarray(singular_values, dtype=float)
    if s.ndim == 3:
        return np.einsum("yk,kti,xk->tiyx", U, s, V)
    return np.einsum("yk,kt,xk->tyx", U, s, V)


def whitened_inputs(rng: np.random.Generator, P: int, T: int, N_x: int) -> np.ndarray:
    """P sequences of length T, white as a sum: ``sum_p x_{p,t} x_{p,t'}^T = delta_{tt'} I`` exactly.

    Gaussian draws, made exactly orthonormal as columns of the (P, T N_x) design matrix (thin QR), so the identity
    holds jointly across time and input dimensions up to rounding.

    Parameters
    ----------
    rng : numpy.random.Generator
    P, T, N_x : int
        Samples (``P >= T * N_x``), length and input dimension.

    Returns
    -------
    ndarray, shape (P, T, N_x)
    """
    if P < T * N_x:
        raise LrnnInputError(f"parameter 'n_samples' must be >= T * N_x = {T * N_x} for inputs whitened exactly "
                             f"across time and dimensions, got {P}")
    Q, Rm = np.linalg.qr(rng.standard_normal((P, T * N_x)))
    Q = Q * np.sign(np.diag(Rm))
    return Q.reshape(P, T, N_x)


def sample_targets(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Targets ``y_p = sum_i C_i x_{p,i}``, or ``y_{p,t} = sum_i C_(t,i) x_{p,i}`` at every step t.

    Every-step correlations have shape (T, T, N_y, N_x) and give targets of shape (P, T, N_y).

    Parameters
    ----------
    X : ndarray, shape (P, T, N_x)
    C : ndarray, shape (T, N_y, N_x) or (T, T, N_y, N_x)

    Returns
    -------
    ndarray, shape (P, N_y) or (P, T, N_y)
    """
    if C.ndim == 4:
        return np.einsum("tiyx,pix->pty", C, X)
    return np.einsum("tyx,ptx->py", C, X)


def whitening_error(X: np.ndarray) -> float:
    """Largest entry of ``|sum_p x_p x_p^T - I|`` over the joint (time, dimension) index.

    Parameters
    ----------
    X : ndarray, shape (P, T, N_x)

    Returns
    -------
    float
        0 for inputs whitened as a sum.
    """
    P, T, N_x = X.shape
    flat = X.reshape(P, T * N_x)
    return float(np.max(np.abs(flat.T @ flat - np.eye(T * N_x))))


def check_user_data(X, Y):
    """Validate user data.

    Parameters
    ----------
    X : array_like, shape (P, T, N_x)
    Y : array_like, shape (P, N_y), or (P, T, N_y) for targets at every step

    Returns
    -------
    X, Y : ndarray
        As finite float arrays.
    """
    if X is None or Y is None:
        raise LrnnInputError("user data needs both 'X' (P, T, N_x) and 'Y' (P, N_y) or (P, T, N_y)")
    X = check_finite_array("X", X, ndim=3)
    Y = check_finite_array("Y", Y)
    if Y.ndim not in (2, 3):
        raise LrnnInputError(f"parameter 'Y' must have shape (P, N_y) (final targets) or (P, T, N_y) (targets at "
                             f"every step), got an array of shape {Y.shape}")
    if X.shape[0] != Y.shape[0]:
        raise LrnnInputError(f"parameters 'X' and 'Y' must hold the same number of samples, got {X.shape[0]} and "
                             f"{Y.shape[0]}")
    if Y.ndim == 3 and Y.shape[1] != X.shape[1]:
        raise LrnnInputError(f"parameter 'Y' must hold a target for each of the T={X.shape[1]} steps of X, got "
                             f"shape {Y.shape}")
    return X, Y


def fit_user_task(X: np.ndarray, Y: np.ndarray, rng: np.random.Generator):
    """Correlations of user data and the singular-vector decomposition the theory assumes.

    ``C_i = sum_p y_p x_{p,i}^T``. The common singular vectors U (N_y, K), V (N_x, K), K = min(N_x, N_y), come from
    the SVD of a random positive combination ``sum_i w_i C_i``: when every C_i is ``U S_i V^T`` (Assumption 2), the
    combination has the same singular vectors, with U and V paired correctly even when some modes are degenerate in
    one step. ``s[:, i-1] = diag(U^T C_i V)``.

    Every-step targets Y of shape (P, T, N_y): ``C_(t,i) = sum_p y_{p,t} x_{p,i}^T`` of shape (T, T, N_y, N_x); the
    singular vectors come from a random positive combination of the C_(t,i) with i <= t (the pairs the network can
    fit), and ``s[:, t-1, i-1] = diag(U^T C_(t,i) V)`` for i <= t, 0 for i > t.

    Parameters
    ----------
    X : ndarray, shape (P, T, N_x)
    Y : ndarray, shape (P, N_y) or (P, T, N_y)
    rng : numpy.random.Generator
        Draws the weights of the combination.

    Returns
    -------
    C : ndarray (T, N_y, N_x) or (T, T, N_y, N_x)
    U, V : ndarray
    s : ndarray (K, T) or (K, T, T)
    residual : float
        Largest off-diagonal entry of ``U^T C_i V`` relative to the largest |C_i| entry: 0 when the data satisfy
        the constant-singular-vector assumption exactly.
    """
    every_step = Y.ndim == 3
    C = data_correlations(X, Y, "sum")
    C_fit, causal = causal_pairs(C) if every_step else (C, None)  # every-step: the pairs i <= t
    # the start of Task.from_data's fit, without its refinement (which would move the harness's numbers)
    U, V = combination_bases(C_fit, rng)
    K = U.shape[1]
    proj = U.T @ C_fit @ V  # (pairs, K, K)
    s = np.einsum("tkk->kt", proj)
    off = proj - np.einsum("kt,kj->tkj", s, np.eye(K))
    if every_step:
        full = np.zeros((K,) + causal.shape)
        full[:, causal] = s
        s = full
    scale = max(float(np.max(np.abs(C_fit))), 1e-300)
    return C, U, V, s, float(np.max(np.abs(off)) / scale) if K > 1 else 0.0


# ---- rotational (complex) tasks in real block form ------------------------------------------------------------------
def mode_block_sizes(task) -> np.ndarray:
    """Real hidden units per mode of a task: 2 for a complex mode (some singular value or initial a, b, c of the mode
    has a non-zero imaginary part), 1 for a real one (S1 App. P.4.1: a real Schur-like block form).

    Parameters
    ----------
    task : lrnn_theory.Task

    Returns
    -------
    ndarray of int, shape (K,)

    Examples
    --------
    >>> from lrnn_theory import Task
    >>> mode_block_sizes(Task([[1.0, 1j], [1.0, 2.0]])).tolist()
    [2, 1]
    """
    parts = [np.atleast_2d(task.singular_values).T] + [np.asarray(getattr(task.init, k))[None, :] for k in "abc"]
    complex_mode = np.any(np.vstack([np.imag(p) for p in parts]) != 0, axis=0)
    return np.where(complex_mode, 2, 1)


def _block_indices(sizes):
    sizes = np.asarray(sizes, dtype=int)
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return first, first + sizes - 1, sizes == 2


def real_block_form(values, sizes) -> np.ndarray:
    """Block-diagonal real matrices of complex mode values: ``[[mu, -nu], [nu, mu]]`` per complex value mu + i nu
    (size 2), the 1x1 block ``mu`` per real mode (size 1).

    The map z -> [[Re z, -Im z], [Im z, Re z]] turns complex products into matrix products and conjugation into
    transposition, so an LRNN with these blocks computes the complex modes' products exactly, and its squared
    Frobenius norm is 2 |z|^2 per complex mode.

    Parameters
    ----------
    values : array_like, shape (..., K)
        One (complex) value per mode; leading axes (for example trajectory steps) are kept.
    sizes : array_like of int, shape (K,)
        1 or 2 per mode (``mode_block_sizes``); a size-1 mode must have a real value.

    Returns
    -------
    ndarray, shape (..., N, N) with N = sum(sizes)

    Examples
    --------
    >>> real_block_form([2.0 + 1.0j, 3.0], [2, 1])
    array([[ 2., -1.,  0.],
           [ 1.,  2.,  0.],
           [ 0.,  0.,  3.]])
    """
    values = np.asarray(values)
    first, second, pair = _block_indices(sizes)
    N = int(np.sum(sizes))
    out = np.zeros(values.shape[:-1] + (N, N))
    out[..., first, first] = values.real
    out[..., second, second] = values.real
    out[..., first[pair], second[pair]] = -values.imag[..., pair]
    out[..., second[pair], first[pair]] = values.imag[..., pair]
    return out


def block_values(M, sizes) -> np.ndarray:
    """Complex mode values read off the diagonal blocks of real matrices (the inverse of ``real_block_form``).

    A 2x2 block is projected on the rotation-scalings: mu = (M_00 + M_11)/2, nu = (M_10 - M_01)/2.

    Parameters
    ----------
    M : ndarray, shape (..., N, N)
    sizes : array_like of int, shape (K,)

    Returns
    -------
    ndarray of complex, shape (..., K)
    """
    M = np.asarray(M)
    first, second, _ = _block_indices(sizes)
    mu = 0.5 * (M[..., first, first] + M[..., second, second])
    nu = 0.5 * (M[..., second, first] - M[..., first, second])
    return mu + 1j * nu


def block_task_correlations(singular_values, U, V, sizes) -> np.ndarray:
    """Population correlations of a rotational task in real form, ``Sigma^{YX_i} = U H_i V^T`` with
    ``H_i = real_block_form(d_i)``, for steps i = 1..T.

    With U = V = Q orthogonal this is S1's Q H_i Q^(-1) (App. P.4.1), a normal matrix with eigenvalues d_i (and
    their conjugates): the eigen case Sigma = P D_i P^dagger in real arithmetic. Different U and V are allowed; the
    mode dynamics depend only on the blocks.

    Parameters
    ----------
    singular_values : array_like, shape (K, T)
        Complex eigenvalue profile d of every mode.
    U, V : ndarray, shapes (N_y, N) and (N_x, N)
        Orthonormal columns, N = sum(sizes).
    sizes : array_like of int, shape (K,)

    Returns
    -------
    ndarray, shape (T, N_y, N_x)
    """
    H = real_block_form(np.asarray(singular_values).T, sizes)  # (T, N, N)
    return np.einsum("yn,tnm,xm->tyx", U, H, V)
