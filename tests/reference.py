"""Independent reference computations for the tests: written from the paper's sums, not from the package's code."""
import functools

import numpy as np
import sympy as sp


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


# ---- explicit sums over the input-output links of any kind of task (tests/test_engine_matrix.py) ------------------
# Written from the definition of the loss, L = 1/2 sum_links |s - c b^k a|^2, never through the task sums A, B.
# A "link" is one (input step, output) pair: for a final-output task (K, T) the input at step i reaches the output
# through b^(T-i); for an every-step task (K, T, T) input i reaches output t >= i through b^(t-i).
#
# Inputs correlated across time (``lam``: the covariance lambda_ij of the inputs at steps i and j, (T, T) or
# (K, T, T)): the expected loss of a linear read-out w of the inputs is 1/2 E (y - sum_i w_i x_i)^2, which, for the
# network's w_link = c b^k a, is L = 1/2 (W* - w)^H M (W* - w) + (what no linear read-out explains, dropped) with the
# metric M over links M[(t, i), (t', j)] = [t = t'] lambda_ij (final output: M = lambda) and the best read-out
# W* = M^+ S (per output time: Lambda_t^+ sigma_t). Written from that definition with a plain pseudo-inverse, never
# through the gram matrix, the task sums or the package's square-root factors; lam=None is the white loss above.


def links(singular_values):
    """(k, S): the power of b of every link (L,) and its target per mode (K, L)."""
    s = np.asarray(singular_values)
    if s.ndim == 1:
        s = s[None]
    T = s.shape[-1]
    if s.ndim == 2:
        return np.arange(T - 1, -1, -1), s.copy()
    t, i = np.tril_indices(T)  # output t >= input i (0-based both)
    return t - i, s[:, t, i]


def _column(x, K):
    x = np.asarray(x)  # broadcast_to only when needed: it is a third of explicit_gradient, the own ODEs' rhs
    return (x if x.shape == (K,) else np.broadcast_to(x, (K,)))[:, None]


def mode_covariance(lam, mode):
    """One mode's covariance of a shared (T, T) or per-mode (K, T, T) ``lam`` (None stays None)."""
    if lam is None:
        return None
    lam = np.asarray(lam, dtype=float)
    return lam if lam.ndim == 2 else lam[mode]


_METRICS = {}


def link_metric(s, lam):
    """(M, W*): the metric over links (K, L, L), M[(t, i), (t', j)] = [t = t'] lambda_ij (final output: lambda), and
    the best linear read-out W* = M^+ S per mode (K, L); for lam=None: the identity and S. (Remembered per
    (s, lam): the own integrations evaluate the rates many times.)"""
    if lam is not None:
        key = (np.asarray(s).tobytes(), np.asarray(s).shape, np.asarray(lam, dtype=float).tobytes(), np.shape(lam))
        if key not in _METRICS:
            _METRICS[key] = _link_metric(s, lam)
        return _METRICS[key]
    return _link_metric(s, lam)


def _link_metric(s, lam):
    k, S = links(s)
    K, L = S.shape
    if lam is None:
        return np.broadcast_to(np.eye(L), (K, L, L)), S
    lam = np.broadcast_to(np.asarray(lam, dtype=float), (K,) + np.shape(lam)[-2:])
    if np.asarray(s).ndim < 3:
        M = lam.copy()
    else:
        t, i = np.tril_indices(np.asarray(s).shape[-1])
        M = np.where(t[:, None] == t[None, :], lam[:, i[:, None], i[None, :]], 0.0)
    W = np.stack([np.linalg.pinv(M[m]) @ S[m] for m in range(K)])
    return M, W


def explicit_energy_ub(s, u, b, tau=1.0, lam=None):
    """1/(2 tau) sum_links |s - u b^k|^2 per mode; u, b of shape (..., K) (scalars: all modes).

    Correlated inputs (``lam``): 1/(2 tau) (W* - u b^k)^H M (W* - u b^k) (``link_metric``)."""
    k, S = links(s)
    u, b = np.broadcast_arrays(np.asarray(u), np.asarray(b))
    if u.ndim == 0:
        u, b = (np.broadcast_to(x, (S.shape[0],)) for x in (u, b))
    if lam is not None:
        M, W = link_metric(s, lam)
        r = W - u[..., None] * b[..., None] ** k
        return np.real(np.einsum("...kl,klm,...km->...k", np.conj(r), M, r)) / (2 * tau)
    r = S - u[..., None] * b[..., None] ** k
    return np.sum(np.abs(r) ** 2, axis=-1) / (2 * tau)


def explicit_energy(s, a, b, c, tau=1.0, lam=None):
    """1/(2 tau) sum_links |s - c b^k a|^2 per mode (correlated inputs: ``explicit_energy_ub``)."""
    return explicit_energy_ub(s, np.asarray(a) * np.asarray(c), b, tau, lam)


def explicit_sums(s, b, lam=None):
    """A(b) = sum_links s conj(b)^k and B(b) = sum_links |b|^(2k) per mode, b of shape (K,) or (K, G).

    Correlated inputs: B(b) = sum_(links l, l') M_ll' conj(b)^k_l b^k_l' (A is unchanged: the cross-covariances)."""
    k, S = links(s)
    b = np.asarray(b)
    grid = b.ndim == 2
    bb = b[..., None]                                   # (K, [G,] 1)
    SS = S[:, None, :] if grid else S
    A = np.sum(SS * np.conj(bb) ** k, axis=-1)
    if lam is not None:
        M, _ = link_metric(s, lam)
        P = bb ** k
        B = np.real(np.einsum("k...l,klm,k...m->k...", np.conj(P), M, P))
        return A, B
    B = np.sum(np.abs(bb) ** (2 * k), axis=-1)
    return A, B


def least_squares_u(s, b, lam=None):
    """argmin_u sum_links |s - u b^k|^2 per mode by a least-squares solve (b of shape (K,)); correlated inputs:
    the weighted least squares argmin_u (W* - u b^k)^H M (W* - u b^k), through a square root of M."""
    k, S = links(s)
    M, W = link_metric(s, lam)
    out = []
    for mode in range(S.shape[0]):
        phi = (np.asarray(b)[mode] ** k)[:, None]
        if lam is None:
            out.append(np.linalg.lstsq(phi, S[mode], rcond=None)[0][0])
            continue
        e, Q = np.linalg.eigh(M[mode])
        root = (Q * np.sqrt(np.clip(e, 0, None))) @ Q.T
        out.append(np.linalg.lstsq(root @ phi, root @ W[mode], rcond=None)[0][0])
    return np.array(out)


def explicit_gradient(s, a, b, c, lam=None):
    """Gradient of L = 1/2 sum_links |s - c b^k a|^2 with respect to a, b, c, per mode.

    For complex modes the gradient over real and imaginary parts written as one complex number,
    dL/dRe z + i dL/dIm z (= 2 dL/dconj(z), the Wirtinger factor 2); for real modes the plain gradient.
    Correlated inputs: L = 1/2 r^H M r with r = W* - c b^k a, so the residual r becomes M r in each sum.
    """
    gradient = ExplicitGradient(s, lam)
    return gradient(*(_column(x, gradient.K) for x in (a, b, c)))


class ExplicitGradient:
    """``explicit_gradient`` of one task with its links, metric and powers worked out once (the own integrations
    and gradient-descent loops evaluate it thousands of times); called on (K, 1) columns a, b, c."""

    def __init__(self, s, lam=None):
        self.k, S = links(s)
        self.K = S.shape[0]
        self.k_below = np.maximum(self.k - 1, 0)
        self.M, self.target = link_metric(s, lam) if lam is not None else (None, S)

    def __call__(self, a, b, c):
        bk = b ** self.k
        r = self.target - a * c * bk
        if self.M is not None:
            r = np.einsum("klm,km->kl", self.M, r)
        # a and c are common factors of their sums: dL/da = -conj(c) sum_links r conj(b^k), dL/dc = -conj(a) (same
        # sum), dL/db = -conj(a c) sum_links r conj(k b^(k-1)) (k = 0 links do not move with b)
        conj = np.conj if np.iscomplexobj(r) else _same
        along_bk = np.add.reduce(r * conj(bk), axis=1)
        along_dbk = np.add.reduce(r * conj(self.k * b ** self.k_below), axis=1)
        a, c = a[:, 0], c[:, 0]
        return -conj(c) * along_bk, -conj(a * c) * along_dbk, -conj(a) * along_bk


def _same(x):
    """The conjugate of a real array."""
    return x


def explicit_rates(s, a, b, c, tau=1.0, lam=None):
    """d(a, b, c)/dt = -dE/d(a, b, c) with E = L / tau (real and imaginary parts for complex modes)."""
    return tuple(-g / tau for g in explicit_gradient(s, a, b, c, lam))


def pack(a, b, c, complex_modes):
    """Real state vector [a..., b..., c...] (real and imaginary parts interleaved for complex modes)."""
    parts = []
    for z in (a, b, c):
        z = np.asarray(z)
        parts.append(np.column_stack([z.real, z.imag]).ravel() if complex_modes else np.real(z))
    return np.concatenate(parts).astype(float)


def unpack(y, K, complex_modes):
    """(a, b, c) from ``pack``'s layout; y may have leading axes."""
    y = np.asarray(y)
    m = 2 * K if complex_modes else K
    out = []
    for j in range(3):
        part = y[..., j * m:(j + 1) * m]
        out.append(part[..., 0::2] + 1j * part[..., 1::2] if complex_modes else part)
    return tuple(out)


def explicit_loss_of_vector(s, complex_modes, tau=1.0, lam=None):
    """L(y) = tau E summed over modes as a function of the packed real state (for finite differences)."""
    K = links(s)[1].shape[0]

    def L(y):
        a, b, c = unpack(y, K, complex_modes)
        return float(np.sum(explicit_energy(s, a, b, c, tau, lam)))
    return L


def integrate_explicit(s, a0, b0, c0, tau, t_eval, freeze_b=False, rtol=1e-11, atol=1e-13, method="DOP853",
                       freeze_ac=False, lam=None):
    """Own integration of the explicit rates (DOP853 by default); (a, b, c) of shape (len(t_eval), K).

    ``freeze_b`` masks the rate of b (the input-output solution with b frozen), ``freeze_ac`` those of a and c
    (the recurrent mode with u frozen)."""
    from scipy.integrate import solve_ivp

    complex_modes = any(np.iscomplexobj(x) for x in (s, a0, b0, c0))
    gradient = ExplicitGradient(s, lam)
    K = gradient.K
    # the rates of (a, b, c) as one vector: -dE/d(a, b, c), times 0 for frozen parts; complex modes are the packed
    # state viewed as complex numbers (``pack`` interleaves real and imaginary parts)
    sign = -np.repeat([0.0 if freeze_ac else 1.0, 0.0 if freeze_b else 1.0, 0.0 if freeze_ac else 1.0], K)

    scale = sign / tau

    def rhs(t, y):
        z = np.ascontiguousarray(y).view(complex) if complex_modes else y
        rates = scale * np.concatenate(gradient(z[:K, None], z[K:2 * K, None], z[2 * K:, None]))
        return rates.view(float) if complex_modes else rates

    y0 = pack(a0, b0, c0, complex_modes)
    sol = solve_ivp(rhs, (0.0, float(t_eval[-1])), y0, method=method, t_eval=t_eval, rtol=rtol, atol=atol)
    assert sol.success, sol.message
    return unpack(sol.y.T, K, complex_modes)


def gradient_descent_explicit(s, a, b, c, lr, steps, lam=None):
    """``steps`` steps of theta <- theta - lr dL/dtheta on L = 1/2 sum_links |r|^2 (real and imaginary parts); ``lr``
    one number, or one per mode (modes never interact: several runs go as the modes of one task)."""
    gradient = ExplicitGradient(s, lam)
    a, b, c = (np.array(_column(x, gradient.K)) for x in (a, b, c))
    lr = _column(np.asarray(lr, dtype=float), gradient.K)[:, 0]
    for _ in range(steps):
        ga, gb, gc = gradient(a, b, c)
        a, b, c = a - (lr * ga)[:, None], b - (lr * gb)[:, None], c - (lr * gc)[:, None]
    return a[:, 0], b[:, 0], c[:, 0]


def hessian_fd(s, a, b, c, mode, eps=1e-5, lam=None):
    """Hessian of one mode's L = 1/2 sum_links |r|^2 over its real parameters (3, or 6 for complex modes:
    Re a, Im a, Re b, Im b, Re c, Im c), by central differences of the explicit gradient."""
    s_mode = np.asarray(s)[mode:mode + 1]
    lam_mode = mode_covariance(lam, mode)
    complex_modes = np.iscomplexobj(s) or any(np.iscomplexobj(x) for x in (a, b, c))
    x0 = pack(*(np.asarray(x)[mode:mode + 1] for x in (a, b, c)), complex_modes)

    def grad(y):
        return pack(*explicit_gradient(s_mode, *unpack(y, 1, complex_modes), lam_mode), complex_modes)

    n = x0.size
    H = np.zeros((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = eps
        H[:, j] = (grad(x0 + e) - grad(x0 - e)) / (2 * eps)
    return 0.5 * (H + H.T)


def brute_force_minimum(s, tau=1.0, b_max=None, starts=9, seed=0, lam=None):
    """Global minimum of the explicit energy over (u, b) per mode: scipy minimisation from many starts.

    Real tasks: over (u, b) real (|b| <= b_max if given); complex tasks: over Re u, Im u, Re b, Im b.
    Correlated inputs (``lam``): the energy (W* - u b^k)^H M (W* - u b^k) / (2 tau). Returns (u, b, E) of shape
    (K,)."""
    from scipy.optimize import minimize

    k, S = links(s)
    M, W = link_metric(s, lam)
    complex_modes = np.iscomplexobj(S)
    rng = np.random.default_rng(seed)
    us, bs, Es = [], [], []
    for mode in range(S.shape[0]):
        target, metric = W[mode], M[mode]

        def energy_and_gradient(x):
            """E and its exact gradient over x (no finite-difference gradient: half the CPU of the search):
            dE = Re(dr^H M r) / tau and dr = -g_u du - g_b db (g_u = b^k, g_b = u k b^(k-1)), so for z = u, b
            dE/dRe z = -Re(g_z^H M r) / tau and dE/dIm z = -Im(g_z^H M r) / tau."""
            u = x[0] + 1j * x[1] if complex_modes else x[0]
            b = x[2] + 1j * x[3] if complex_modes else x[1]
            bk = b ** k
            r = target - u * bk
            Mr = metric @ r
            E = float(np.real(np.conj(r) @ Mr) / (2 * tau))
            along = [np.conj(bk) @ Mr / tau, np.conj(u * k * b ** np.maximum(k - 1, 0)) @ Mr / tau]
            if complex_modes:
                return E, -np.array([along[0].real, along[0].imag, along[1].real, along[1].imag])
            return E, -np.real(np.array(along))

        best = None
        lim = 1.9 if b_max is None else b_max
        b_starts = np.linspace(-lim, lim, starts)
        for j, b_start in enumerate(b_starts):
            if complex_modes:
                x0 = [0.5, 0.1, b_start, rng.uniform(-lim, lim) * 0.7]
                bounds = None
            else:
                x0 = [0.5, b_start]
                bounds = None if b_max is None else [(None, None), (-b_max, b_max)]
            res = minimize(energy_and_gradient, x0, jac=True, method="L-BFGS-B" if bounds else "BFGS", bounds=bounds,
                           options={"gtol": 1e-12} if not bounds else {"ftol": 1e-15, "gtol": 1e-12})
            if best is None or res.fun < best.fun:
                best = res
        x = best.x
        us.append(x[0] + 1j * x[1] if complex_modes else x[0])
        bs.append(x[2] + 1j * x[3] if complex_modes else x[1])
        Es.append(best.fun)
    return np.array(us), np.array(bs), np.array(Es)


# ---- aligned networks (the NTK from the modes) -------------------------------------------------------------------
def block_matrix(values, complex_modes):
    """diag(values) for real modes; for complex modes the real block form, [[Re z, -Im z], [Im z, Re z]] per mode."""
    values = np.asarray(values)
    if not complex_modes:
        return np.diag(np.real(values))
    K = values.size
    out = np.zeros((2 * K, 2 * K))
    for j, z in enumerate(values):
        out[2 * j:2 * j + 2, 2 * j:2 * j + 2] = [[z.real, -z.imag], [z.imag, z.real]]
    return out


def aligned_network(a, b, c, U, V, R, complex_modes):
    """W_x = R H(a) V^T, W_h = R H(b) R^T, W_y = U H(c) R^T (H = diag for real modes, the real block form for
    complex ones)."""
    Ha, Hb, Hc = (block_matrix(x, complex_modes) for x in (a, b, c))
    return R @ Ha @ V.T, R @ Hb @ R.T, U @ Hc @ R.T


def orthonormal_columns(n, m, rng):
    """An n x m matrix with orthonormal columns."""
    q, r = np.linalg.qr(rng.standard_normal((n, m)))
    return q * np.sign(np.diag(r))


# ---- full-matrix gradient descent on an aligned (block) network ---------------------------------------------------
def network_targets(s, U, V, complex_modes, lam=None):
    """(k, Sigma) per link: the input-output correlation U H(s_link) V^T of every link of the task.

    Correlated inputs (``lam``): (k, W*, C) with the teacher's maps W*_link = U H(w*_link) V^T (the best read-out of
    ``link_metric``) and the input covariance between links C[l][l'] = V diag(M_ll' per unit) V^T (both units of a
    complex mode's block carry its lambda), for ``network_loss(..., metric=C)``."""
    k, S = links(s)
    if lam is None:
        return k, [U @ block_matrix(S[:, j], complex_modes) @ V.T for j in range(len(k))]
    M, W = link_metric(s, lam)
    units = 2 if complex_modes else 1
    teacher = [U @ block_matrix(W[:, j], complex_modes) @ V.T for j in range(len(k))]
    metric = [[V @ np.diag(np.repeat(M[:, l, m], units)) @ V.T for m in range(len(k))] for l in range(len(k))]
    return k, teacher, metric


def network_loss(W_x, W_h, W_y, k, sigmas, metric=None):
    """L = 1/2 sum_links ||Sigma - W_y W_h^k W_x||_F^2 (white inputs as a sum over samples).

    Correlated inputs: L = 1/2 sum_(l, l') tr(E_l C_ll' E_l'^T), E_l = W*_l - W_y W_h^k_l W_x (``network_targets``)."""
    E = [S - W_y @ np.linalg.matrix_power(W_h, int(p)) @ W_x for p, S in zip(k, sigmas)]
    if metric is not None:
        return 0.5 * sum(np.trace(E[l] @ metric[l][m] @ E[m].T) for l in range(len(k)) for m in range(len(k)))
    return 0.5 * sum(np.sum(e ** 2) for e in E)


def network_gradient(W_x, W_h, W_y, k, sigmas, metric=None):
    """dL/dW_x, dL/dW_h, dL/dW_y of ``network_loss``, written out from the matrix products (notes §3.1); with a
    metric the residual of link l becomes sum_l' E_l' C_l'l."""
    power = [np.linalg.matrix_power(W_h, j) for j in range(int(max(k)) + 1)]
    g_x, g_h, g_y = np.zeros_like(W_x), np.zeros_like(W_h), np.zeros_like(W_y)
    residuals = [S - W_y @ power[int(p)] @ W_x for p, S in zip(k, sigmas)]
    if metric is not None:
        residuals = [sum(residuals[m] @ metric[m][l] for m in range(len(k))) for l in range(len(k))]
    for p, E in zip(k, residuals):
        p = int(p)
        g_x -= (W_y @ power[p]).T @ E
        g_y -= E @ (power[p] @ W_x).T
        for r in range(p):
            g_h -= (W_y @ power[r]).T @ E @ (power[p - 1 - r] @ W_x).T
    return g_x, g_h, g_y


# ---- the Dirac phase transition (App. H) -------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _dirac_grid(T, b_max):
    """(k, grid, phi, sum phi^2) of ``dirac_recurrent_wins``: the powers b^k on its grid of b, which do not depend on
    beta (the bisection asks for them at every step)."""
    k = np.arange(T - 1, -1, -1)
    grid = np.linspace(-b_max, b_max, 20001)
    phi = grid[..., None] ** k
    return k, grid, phi, np.sum(phi**2, axis=-1)


def dirac_recurrent_wins(beta, T, b_max, margin=1e-12):
    """Whether some 0 < |b| <= b_max beats the feedforward point b = 0 (E = beta^2) for s_1 = beta, s_T = 1/beta:
    a dense grid of b, then a bounded scalar polish, with u at its least-squares value (E = sum_i r_i^2)."""
    from scipy.optimize import minimize_scalar

    k, grid, phi_grid, norm_grid = _dirac_grid(T, b_max)
    s = np.zeros(T)
    s[0], s[-1] = beta, 1 / beta

    def energy(b):
        phi = np.asarray(b, dtype=float)[..., None] ** k
        return s @ s - (phi @ s) ** 2 / np.sum(phi**2, axis=-1)

    values = s @ s - (phi_grid @ s) ** 2 / norm_grid  # energy(grid)
    j = int(np.argmin(values))
    step = grid[1] - grid[0]
    polish = minimize_scalar(energy, bounds=(max(-b_max, grid[j] - step), min(b_max, grid[j] + step)),
                             method="bounded", options={"xatol": 1e-13})
    return min(polish.fun, values.min()) < beta**2 * (1 - margin)


def dirac_critical_beta(T, b_max, lo=0.5, hi=1.5, iterations=40):
    """Bisection on ``dirac_recurrent_wins``: the beta where the recurrent branch starts to win."""
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if dirac_recurrent_wins(mid, T, b_max) else (mid, hi)
    return 0.5 * (lo + hi)


def check_jacobian_and_energy(flow, y, K, m=6, energy=None, eps=1e-6):
    """Assert that ``flow.jacobian_blocks`` equals central finite differences of ``flow.rates`` (and, when
    ``energy`` is given, that the rates are minus its finite-difference gradient), one state component at a time
    across all K modes (m reals per mode)."""
    J = flow.jacobian_blocks(0.0, y)
    for q in range(m):
        dy = np.zeros_like(y)
        dy[q::m] = eps
        fd = (flow.rates(0, y + dy) - flow.rates(0, y - dy)) / (2 * eps)
        np.testing.assert_allclose(J[:, :, q], fd.reshape(K, m), rtol=1e-6, atol=1e-8)
        if energy is not None:
            fd_energy = (energy(y + dy) - energy(y - dy)) / (2 * eps)
            np.testing.assert_allclose(flow.rates(0, y)[q::m], -fd_energy, rtol=1e-6, atol=1e-9)


def interpolate_outputs_per_time(out, t_eval, run, accepted, hs, t_new, y_new, f_new):
    """The solver's dense output as committed before issue 25: one pass per output time crossed (the reference the
    batched interpolation is tested and benchmarked against)."""
    from lrnn_theory.solvers import _hermite

    n_out = t_eval.size
    nx = run.nx
    while True:
        pending = accepted & (nx < n_out)
        pending[pending] &= t_eval[nx[pending]] <= t_new[pending]
        rows = np.flatnonzero(pending)
        if rows.size == 0:
            break
        theta = (t_eval[nx[rows]] - run.t[rows]) / hs[rows]
        out[nx[rows], run.idx[rows]] = _hermite(theta, hs[rows], run.y[:, rows], run.f[:, rows], y_new[:, rows],
                                                f_new[:, rows]).T
        nx[rows] += 1


# ---- symbolic -------------------------------------------------------------------------------------------------
def written_out(expr):
    """``expr`` with every sum and product over integer limits written out term by term: what ``doit`` gives for
    them (3x faster: doit searches for closed forms first). Other limits, and the Karr convention of an upper limit
    below the lower one minus 1, are left to ``doit``. Inner sums and products first (``replace`` is bottom-up)."""
    def write_out(e):
        if len(e.limits) == 1:
            (k, lo, hi), = e.limits
            if lo.is_Integer and hi.is_Integer and hi >= lo - 1:
                terms = [e.function.subs(k, j) for j in range(int(lo), int(hi) + 1)]
                return sp.Add(*terms) if isinstance(e, sp.Sum) else sp.Mul(*terms)
        return e.doit()

    return expr.replace(lambda e: isinstance(e, (sp.Sum, sp.Product)), write_out)
