"""Data for the validation harness: random bases, exactly whitened sample sets, and user data.

- ``random_orthonormal``: a matrix with orthonormal columns, drawn uniformly (QR of a Gaussian matrix with the
  signs fixed).
- ``task_correlations``: ``Sigma^{YX_i} = U S_i V^T`` for every step of a task (the population data);
  ``block_task_correlations`` is the same for complex tasks in real block form, ``U H(d_i) V^T`` (every-step
  profiles: ``U H(d_(t,i)) V^T``).
- ``whitened_inputs``: P input sequences that are white *as a sum* over samples, exactly, jointly across time and
  dimensions: ``sum_p x_{p,t} x_{p,t'}^T = delta_{tt'} I`` (needs ``P >= T N_x``). This is the paper's own
  normalisation of Sigma^{X_t X_t'} (S1 App. B eq. 21), under which ``tau = P N_y / eta`` holds for a mean loss.
- ``CorrelatedMoments``: the data of a task whose inputs are correlated across time (``Task(...,
  input_covariance=)``): ``Sigma^{X_i X_j} = V diag(lambda_ij) V^T`` (summed over samples, as the white case's
  ``delta_ij I``), the population loss and its gradient from both second moments, and samples with exactly these
  second moments (white samples coloured by a square root of the (T N_x) x (T N_x) input covariance, targets from
  the linear teacher that has the task's cross-covariances).
- ``fit_user_task``: the task of user data as the harness estimates it (``lrnn_theory.task_estimation``).
"""
from __future__ import annotations

import numpy as np

# The real block form of complex modes lives in the core (the NTK of the modes uses it); the harness reads it here.
from lrnn_theory.block_form import (block_task_correlations, block_values, mode_block_sizes,  # noqa: F401
                                    real_block_form, unit_values)
from lrnn_theory.correlated import gram
from lrnn_theory.errors import LrnnInputError
from lrnn_theory.task_estimation import estimate_task

from .lag_buffers import LagWorkspace


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


#: Largest part of the cross-covariances outside the range of the input covariance (relative to their largest entry)
#: that a task may have: targets cannot correlate with inputs that have no variance.
RANGE_RTOL = 1e-9


def unit_covariance(task, sizes=None) -> np.ndarray | None:
    """The input covariance lambda_ij of every real unit of the mode basis, shape (units, T, T) (both units of a
    complex mode's 2x2 block carry the mode's lambda), or None for white inputs (no covariance, or the identity).

    Parameters
    ----------
    task : lrnn_theory.Task
    sizes : array_like of int, optional
        Block sizes of a complex task (``mode_block_sizes``); None: one unit per mode.
    """
    cov = task.input_covariance
    if cov is None or cov.is_white:
        return None
    return np.ascontiguousarray(unit_values(cov.per_mode(task.K), sizes, axis=0), dtype=float)


class CorrelatedMoments:
    """Population data of a task whose inputs are correlated across time, in the mode basis V.

    The inputs have ``sum_p x_{p,i} x_{p,j}^T = Sigma^{X_i X_j} = V diag(lambda_ij) V^T`` and the targets
    ``sum_p y_p x_{p,i}^T = C_i`` (every step: ``sum_p y_{p,t} x_{p,i}^T = C_(t,i)`` for i <= t). With the lag maps
    ``M_k = W_y W_h^k W_x`` the population loss is

        L = 1/2 sum_(i,j) tr(M_(T-i) Sigma^{X_i X_j} M_(T-j)^T) - sum_i tr(M_(T-i)^T C_i) + 1/2 tr Sigma^{YY}

    (every step: the same per output time t over i, j <= t), which in the lag coordinates of the mode basis is
    ``1/2 sum_units (Z - W*) G (Z - W*)^T + spread``: Z_k = M_k V, G the gram matrix of the engine
    (``lrnn_theory.correlated.gram``: lambda_(T-k, T-l), or sum_t lambda_(t-k, t-l) at every step), W* = A G^+ the
    best lag maps for the lag targets A, and ``spread`` >= 0 what no lag maps can fit (0 for the final output).
    Sigma^{YY} is that of the linear teacher ``y = sum_i W*_i x_i`` with the task's cross-covariances (``teacher``),
    the targets of exact-covariance samples (``samples``), so the loss is the sample loss of those samples exactly.

    Parameters
    ----------
    C : ndarray, shape (T, N_y, N_x) or (T, T, N_y, N_x)
        Cross-covariances (``task_correlations``, ``block_task_correlations``).
    V : ndarray, shape (N_x, N_x)
        The input basis, orthogonal (the harness's task data).
    lam : ndarray, shape (N_x, T, T)
        Input covariance across steps of every unit of V (``unit_covariance``).
    """

    def __init__(self, C: np.ndarray, V: np.ndarray, lam: np.ndarray):
        self.every_step = C.ndim == 4
        self.V, self.lam = V, lam
        self._workspace = LagWorkspace()  # the lag buffers, per thread, not state (copies and pickles make their own)
        self.T = T = lam.shape[-1]
        self.G = gram(lam, self.every_step)                               # (units, T, T), G[m, k, l]
        Cv = C @ V                                                         # (T, N_y, units) or (T, T, N_y, units)
        teacher = np.zeros_like(Cv)                                        # in V coordinates, per input step
        for t in (range(1, T + 1) if self.every_step else [T]):            # output time t sees the inputs 1..t
            inv = np.linalg.pinv(lam[:, :t, :t], hermitian=True)          # (units, t, t)
            target = Cv[t - 1, :t] if self.every_step else Cv
            best = np.einsum("jym,mji->iym", target, inv)                 # w*_t = sigma_t Lambda_t^+
            explained = np.einsum("iym,mij->jym", best, lam[:, :t, :t])   # its cross-covariances
            scale = max(float(np.max(np.abs(target))), np.finfo(float).tiny)
            outside = float(np.max(np.abs(explained - target)))
            if outside > RANGE_RTOL * scale:
                raise LrnnInputError(
                    f"parameter 'input_covariance' must give every correlated step some variance: the "
                    f"cross-covariances (singular_values) have a part {outside:.3g} outside its range (targets "
                    f"cannot correlate with inputs of zero variance)")
            if self.every_step:
                teacher[t - 1, :t] = best
            else:
                teacher = best
        self._teacher_v = teacher
        if self.every_step:  # lag targets A_k = sum_t C_(t, t-k), best lag maps W* = A G^+
            lag_targets = np.stack([np.trace(Cv, offset=-k, axis1=0, axis2=1) for k in range(T)])  # (T, N_y, units)
            lag_best = np.einsum("lym,mlk->kym", lag_targets, np.linalg.pinv(self.G, hermitian=True))
        else:  # one output: the teacher's maps read by lag k = T - i
            lag_best = teacher[::-1]
        self._best = np.ascontiguousarray(np.transpose(lag_best, (2, 1, 0)))  # (units, N_y, T): W*[m, y, k]
        self.spread = self._spread() if self.every_step else 0.0
        # the symmetric square root of lambda per unit, which colours white samples
        eigval, eigvec = np.linalg.eigh(lam)
        self._root = (eigvec * np.sqrt(np.clip(eigval, 0.0, None))[:, None, :]) @ np.swapaxes(eigvec, -1, -2)

    def _spread(self) -> float:
        """1/2 sum_t sum_units (W* - w*_t) Lambda_t (W* - w*_t)^T in lag coordinates: the loss of the best lag maps,
        a sum of positive semi-definite forms (no cancellation near zero)."""
        total = 0.0
        for t in range(1, self.T + 1):
            own = np.transpose(self._teacher_v[t - 1, t - 1::-1], (2, 1, 0))  # (units, N_y, t): step t - k at lag k
            diff = self._best[:, :, :t] - own
            window = self.lam[:, t - 1::-1, t - 1::-1]                         # lambda_(t-k, t-l)
            total += 0.5 * float(np.sum(diff * (diff @ window)))
        return total

    # ---- samples -----------------------------------------------------------------------------------------------
    def teacher(self) -> np.ndarray:
        """The teacher's maps ``W*_i`` (T, N_y, N_x) (every step: ``W*_(t,i)``, (T, T, N_y, N_x), zero for i > t)
        whose targets ``y = sum_i W*_i x_i`` have the task's cross-covariances with inputs of this covariance."""
        return self._teacher_v @ self.V.T

    def colour(self, X_white: np.ndarray) -> np.ndarray:
        """Inputs whitened as a sum (P, T, N_x) coloured by the symmetric square root of the full (T N_x) x (T N_x)
        covariance, ``(I kron V) blockdiag(lambda^(1/2)) (I kron V^T)``: their summed second moments are exactly
        Sigma^{X_i X_j}."""
        Xv = X_white @ self.V                                                # (P, T, units)
        return np.einsum("mij,pjm->pim", self._root, Xv) @ self.V.T

    def samples(self, X_white: np.ndarray):
        """Exact-covariance samples ``(X, Y)`` from inputs whitened as a sum (``whitened_inputs``)."""
        X = self.colour(X_white)
        return X, sample_targets(X, self.teacher())

    def full(self) -> np.ndarray:
        """Sigma^{X_i X_j} = V diag(lambda_ij) V^T as (T, T, N_x, N_x)."""
        return np.einsum("nm,mij,km->ijnk", self.V, self.lam, self.V)

    def covariance_error(self, X: np.ndarray) -> float:
        """Largest entry of ``|sum_p x_p x_p^T - Sigma|`` over the joint (time, dimension) index (0 for exact)."""
        P, T, N_x = X.shape
        flat = X.reshape(P, T * N_x)
        full = np.transpose(self.full(), (0, 2, 1, 3)).reshape(T * N_x, T * N_x)
        return float(np.max(np.abs(flat.T @ flat - full)))

    # ---- the population loss ---------------------------------------------------------------------------------
    def loss_and_grad(self, net):
        """The population loss (class docstring) and its exact gradients with respect to ``(W_x, W_h, W_y)``.

        The lag maps M_k = W_y W_h^k W_x come from the network's powers (T matrix products), their residual
        D = M V - W* in the mode basis and dL/dM_k = (D G)_k V^T from one batched product over units; the adjoint
        recursion of ``LRNN._lag_gradients`` turns that into the weight gradients."""
        T = self.T
        squares = []
        buffers = self._workspace.buffers(T, net)                            # this thread's, reused between calls
        P_flat = net._lag_powers(T, squares, buffers)                        # (T N_x, N_h): (W_h^k W_x)^T
        N_y, N_x = net.W_y.shape[0], net.W_x.shape[1]
        Z = np.transpose((P_flat @ net.W_y.T).reshape(T, N_x, N_y), (2, 0, 1)) @ self.V  # (N_y, T, units): M_k V
        D = np.transpose(Z, (2, 0, 1)) - self._best                           # (units, N_y, T)
        DG = D @ self.G                                                       # sum_k D_k G_kl, per unit
        loss = 0.5 * float(np.sum(D * DG)) + self.spread
        grad_maps = (np.transpose(DG, (1, 2, 0)) @ self.V.T).reshape(N_y, T * N_x)  # dL/dM_k side by side
        return loss, net._lag_gradients(grad_maps.T, P_flat, squares, buffers)


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
