"""Data for the validation harness: random bases, exactly whitened sample sets, and user data.

- ``random_orthonormal``: a matrix with orthonormal columns, drawn uniformly (QR of a Gaussian matrix with the
  signs fixed).
- ``task_correlations``: ``Sigma^{YX_i} = U S_i V^T`` for every step of a task (the population data);
  ``block_task_correlations`` is the same for complex tasks in real block form, ``U H(d_i) V^T`` (every-step
  profiles: ``U H(d_(t,i)) V^T``).
- ``whitened_inputs``: P input sequences that are white *as a sum* over samples, exactly, jointly across time and
  dimensions: ``sum_p x_{p,t} x_{p,t'}^T = delta_{tt'} I`` (needs ``P >= T N_x``). This is the paper's own
  normalisation of Sigma^{X_t X_t'} (S1 App. B eq. 21), under which ``tau = P N_y / eta`` holds for a mean loss.
- ``fit_user_task``: the task of user data as the harness estimates it (``lrnn_theory.task_estimation``).
"""
from __future__ import annotations

import numpy as np

# The real block form of complex modes lives in the core (the NTK of the modes uses it); the harness reads it here.
from lrnn_theory.block_form import (block_task_correlations, block_values, mode_block_sizes,  # noqa: F401
                                    real_block_form)
from lrnn_theory.errors import LrnnInputError
from lrnn_theory.task_estimation import estimate_task


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


def fit_user_task(X: np.ndarray, Y: np.ndarray, rng: np.random.Generator):
    """The task of user data as the harness trains on it: ``lrnn_theory.task_estimation.estimate_task`` with
    ``bases="combination"`` (the SVD of a random positive combination of the correlations, drawn from ``rng``).

    Parameters
    ----------
    X : ndarray, shape (P, T, N_x)
    Y : ndarray, shape (P, N_y) or (P, T, N_y)
    rng : numpy.random.Generator

    Returns
    -------
    C : ndarray (T, N_y, N_x) or (T, T, N_y, N_x)
        ``C_i = sum_p y_p x_{p,i}^T`` (every step: ``C_(t,i) = sum_p y_{p,t} x_{p,i}^T``).
    U, V : ndarray
    s : ndarray (K, T) or (K, T, T)
        ``diag(U^T C_i V)`` (every step: for i <= t, 0 for i > t).
    residual : float
        Largest off-diagonal entry of ``U^T C_i V`` relative to the largest |C_i| entry: 0 when the data satisfy
        the constant-singular-vector assumption exactly.
    """
    estimate = estimate_task(X, Y, seed=rng, bases="combination")
    return (estimate.correlations, estimate.U, estimate.V, estimate.task.singular_values,
            estimate.diagnostic["largest_off_diagonal"])
