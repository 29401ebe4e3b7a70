"""Inputs correlated across time: the input covariance of a task and how it fills the engine's gram matrix.

A task's ``input_covariance`` is lambda_ij, the covariance of the inputs at steps i and j in each mode's input
direction (Sigma^{X_i X_j} = V diag(lambda_ij) V^T; derivation in ``lrnn_theory.derivations.correlated``). Row and
column i-1 stand for step i. It is given as

* a (T, T) matrix shared by all modes, or a (K, T, T) array with one matrix per mode;
* ``{"lag": [l_0, l_1, ...]}``: stationary, lambda_ij = l_|i-j| (lags beyond the list are 0), for any length T;
* ``{"ar1": rho}``: AR(1) inputs of unit variance, lambda_ij = rho^|i-j|, for any length T.

White inputs (the identity, the default) give the paper's task sums exactly. The engine sees the covariance only as
the gram matrix G of B(b) = sum_kl G_kl conj(b)^k b^l (``gram``), and as the explained norm sigma^T Lambda^-1 sigma
(``explained_norm``), which makes the energy of the best linear read-out of the inputs zero.
"""
from __future__ import annotations

import numpy as np

from .errors import LrnnInputError, bad, check_finite_array, check_real

#: Relative tolerance of the symmetry and positive semi-definiteness checks.
COVARIANCE_RTOL = 1e-9
STATIONARY_KEYS = ("lag", "ar1")


class InputCovariance:
    """A validated input covariance: ``matrix`` of shape (T, T) or (K, T, T), and ``spec`` when it is stationary
    (``{"lag": [...]}`` or ``{"ar1": rho}``), which gives it at any other length (``at_length``).

    Examples
    --------
    >>> cov = InputCovariance.build({"ar1": 0.5}, K=1, T=3)
    >>> cov.matrix
    array([[1.  , 0.5 , 0.25],
           [0.5 , 1.  , 0.5 ],
           [0.25, 0.5 , 1.  ]])
    >>> cov.at_length(2).matrix
    array([[1. , 0.5],
           [0.5, 1. ]])
    """

    def __init__(self, matrix: np.ndarray, spec: dict | None = None):
        self.matrix = matrix
        self.spec = spec

    @classmethod
    def build(cls, value, K: int, T: int) -> "InputCovariance":
        """Validate ``value`` (see the module docstring) for a task of K modes and T steps."""
        if isinstance(value, InputCovariance):
            value = value.spec if value.spec is not None else value.matrix
        if isinstance(value, dict):
            return cls(stationary_matrix(value, T), dict(value))
        matrix = check_finite_array("input_covariance", value)
        if matrix.shape not in ((T, T), (K, T, T)):
            raise LrnnInputError(
                f"parameter 'input_covariance' must be a ({T}, {T}) matrix (steps x steps) or a ({K}, {T}, {T}) "
                f"array (one per mode), got shape {matrix.shape}")
        check_covariance(matrix)
        return cls(matrix)

    @property
    def is_white(self) -> bool:
        """True for the identity: the paper's white inputs."""
        T = self.matrix.shape[-1]
        return bool(np.array_equal(self.matrix, np.broadcast_to(np.eye(T), self.matrix.shape)))

    def at_length(self, T: int) -> "InputCovariance":
        """The same stationary covariance at another trajectory length (extrapolation)."""
        if self.spec is None:
            raise LrnnInputError(
                "parameter 'input_covariance' must be stationary ({\"lag\": [...]} or {\"ar1\": rho}) to extrapolate "
                f"to another length T={T}; a matrix holds only its own {self.matrix.shape[-1]} steps")
        return InputCovariance(stationary_matrix(self.spec, T), self.spec)

    def per_mode(self, K: int) -> np.ndarray:
        """The covariance as (K, T, T)."""
        return np.broadcast_to(self.matrix, (K,) + self.matrix.shape[-2:])

    def to_json(self):
        return dict(self.spec) if self.spec is not None else self.matrix.tolist()


def stationary_matrix(spec: dict, T: int) -> np.ndarray:
    """lambda_ij = l_|i-j| from ``{"lag": [...]}`` or ``{"ar1": rho}``, as a (T, T) matrix (validated)."""
    keys = sorted(spec)
    if len(keys) != 1 or keys[0] not in STATIONARY_KEYS:
        raise LrnnInputError("parameter 'input_covariance' as an object takes exactly one of the keys 'lag' or "
                             f"'ar1', got {', '.join(map(repr, keys)) or 'none'}")
    lags = np.abs(np.arange(T)[:, None] - np.arange(T)[None, :])
    if keys[0] == "ar1":
        rho = check_real("input_covariance.ar1", spec["ar1"])
        if not -1 < rho < 1:
            raise bad("input_covariance.ar1", spec["ar1"], "lie strictly between -1 and 1 (a stationary AR(1))")
        return rho ** lags.astype(float)
    lag = check_finite_array("input_covariance.lag", spec["lag"])
    if lag.ndim != 1 or lag.size == 0:
        raise bad("input_covariance.lag", spec["lag"], "be a non-empty list of numbers (the covariance at lag 0, 1, ...)")
    if lag[0] <= 0:
        raise bad("input_covariance.lag", spec["lag"], "start with a positive variance at lag 0")
    padded = np.concatenate([lag, np.zeros(max(0, T - lag.size))])
    matrix = padded[lags]
    check_covariance(matrix, name="input_covariance.lag")
    return matrix


def check_covariance(matrix: np.ndarray, name: str = "input_covariance") -> None:
    """Refuse, in one line, a covariance that is not symmetric or not positive semi-definite."""
    scale = max(float(np.max(np.abs(matrix))), np.finfo(float).tiny)
    asym = float(np.max(np.abs(matrix - np.swapaxes(matrix, -1, -2))))
    if asym > COVARIANCE_RTOL * scale:
        raise LrnnInputError(f"parameter '{name}' must be symmetric, got entries that differ from their transpose "
                             f"by {asym:.3g}")
    lowest = float(np.min(np.linalg.eigvalsh(matrix)))
    if lowest < -COVARIANCE_RTOL * scale * matrix.shape[-1]:
        raise LrnnInputError(f"parameter '{name}' must be positive semi-definite (a covariance), got an eigenvalue "
                             f"of {lowest:.3g}")


def gram(covariance: np.ndarray, every_step: bool) -> np.ndarray:
    """G of B(b) = sum_kl G_kl conj(b)^k b^l from the covariance (K, T, T) (``derivations.correlated``).

    Final output: k = T - i, so G_kl = lambda_(T-k, T-l), the covariance with both axes reversed. Every-step
    outputs: G_kl = sum_t lambda_(t-k, t-l) over the output times t with t - k >= 1 and t - l >= 1.
    """
    lam = np.asarray(covariance, dtype=float)
    if not every_step:
        return lam[..., ::-1, ::-1].copy()
    T = lam.shape[-1]
    G = np.zeros_like(lam)
    for t in range(T):  # output time t + 1 (0-based t): T matrix additions, vectorized over modes and lags
        window = lam[..., t::-1, t::-1]          # lambda_(t-k, t-l) for k, l = 0..t
        G[..., :t + 1, :t + 1] += window
    return G


def explained_norm(singular_values: np.ndarray, covariance: np.ndarray, every_step: bool) -> np.ndarray:
    """sigma^T Lambda^+ sigma per mode (summed over the output times for every-step outputs): the target variance
    the inputs explain, so that the best linear read-out has zero energy (pseudo-inverse for a singular Lambda).
    ``covariance`` is (T, T), shared by all modes (one pseudo-inverse), or (K, T, T)."""
    s = np.asarray(singular_values)
    lam = np.asarray(covariance, dtype=float)
    shared = lam.ndim == 2
    contract = "ki,ij,kj->k" if shared else "ki,kij,kj->k"
    if not every_step:
        return np.real(np.einsum(contract, np.conj(s), np.linalg.pinv(lam, hermitian=True), s))
    T = s.shape[-1]
    total = np.zeros(s.shape[0])
    for t in range(1, T + 1):  # output time t sees the inputs 1..t
        inv = np.linalg.pinv(lam[..., :t, :t], hermitian=True)
        st = s[:, t - 1, :t]
        total += np.real(np.einsum(contract, np.conj(st), inv, st))
    return total
