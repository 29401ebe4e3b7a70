"""Independent reference computations for the tests: written from the paper's sums, not from the package's code."""
import numpy as np


def rates_from_residuals(s, a, b, c, tau=1.0):
    """Eqs. (5)-(7) summed step by step from the residuals r_i = s_i - c b^(T-i) a (no task sums A, B)."""
    s = np.atleast_2d(s)
    T = s.shape[1]
    k = np.arange(T - 1, -1, -1)  # T - i
    bk = b[:, None] ** k
    r = s - (a * c)[:, None] * bk
    kb = np.where(k > 0, k * b[:, None] ** np.maximum(k - 1, 0), 0.0)
    da = c * np.sum(bk * r, axis=1) / tau
    db = a * c * np.sum(kb * r, axis=1) / tau
    dc = a * np.sum(bk * r, axis=1) / tau
    return da, db, dc


def random_orthogonal(n, rng):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def full_matrix_loss(Wx, Wh, Wy, sigmas):
    """Population loss of a linear RNN with whitened inputs: 1/2 sum_i ||Sigma^{YX_i} - W_y W_h^(T-i) W_x||_F^2."""
    T = len(sigmas)
    total = 0.0
    for i in range(1, T + 1):
        pred = Wy @ np.linalg.matrix_power(Wh, T - i) @ Wx
        total += 0.5 * np.sum((sigmas[i - 1] - pred) ** 2)
    return total


def finite_difference_gradient(f, W, eps=1e-6):
    g = np.zeros_like(W)
    for idx in np.ndindex(W.shape):
        Wp, Wm = W.copy(), W.copy()
        Wp[idx] += eps
        Wm[idx] -= eps
        g[idx] = (f(Wp) - f(Wm)) / (2 * eps)
    return g
