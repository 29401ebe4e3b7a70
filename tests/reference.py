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


# ---- explicit sums over the input-output links of any kind of task (tests/test_engine_matrix.py) ------------------
# Written from the definition of the loss, L = 1/2 sum_links |s - c b^k a|^2, never through the task sums A, B.
# A "link" is one (input step, output) pair: for a final-output task (K, T) the input at step i reaches the output
# through b^(T-i); for an every-step task (K, T, T) input i reaches output t >= i through b^(t-i).


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
    return np.broadcast_to(np.asarray(x), (K,))[:, None]


def explicit_energy_ub(s, u, b, tau=1.0):
    """1/(2 tau) sum_links |s - u b^k|^2 per mode; u, b of shape (..., K) (scalars: all modes)."""
    k, S = links(s)
    u, b = np.broadcast_arrays(np.asarray(u), np.asarray(b))
    if u.ndim == 0:
        u, b = (np.broadcast_to(x, (S.shape[0],)) for x in (u, b))
    r = S - u[..., None] * b[..., None] ** k
    return np.sum(np.abs(r) ** 2, axis=-1) / (2 * tau)


def explicit_energy(s, a, b, c, tau=1.0):
    """1/(2 tau) sum_links |s - c b^k a|^2 per mode."""
    return explicit_energy_ub(s, np.asarray(a) * np.asarray(c), b, tau)


def explicit_sums(s, b):
    """A(b) = sum_links s conj(b)^k and B(b) = sum_links |b|^(2k) per mode, b of shape (K,) or (K, G)."""
    k, S = links(s)
    b = np.asarray(b)
    grid = b.ndim == 2
    bb = b[..., None]                                   # (K, [G,] 1)
    SS = S[:, None, :] if grid else S
    A = np.sum(SS * np.conj(bb) ** k, axis=-1)
    B = np.sum(np.abs(bb) ** (2 * k), axis=-1)
    return A, B


def least_squares_u(s, b):
    """argmin_u sum_links |s - u b^k|^2 per mode by a least-squares solve (b of shape (K,))."""
    k, S = links(s)
    out = []
    for mode in range(S.shape[0]):
        phi = (np.asarray(b)[mode] ** k)[:, None]
        out.append(np.linalg.lstsq(phi, S[mode], rcond=None)[0][0])
    return np.array(out)


def explicit_gradient(s, a, b, c):
    """Gradient of L = 1/2 sum_links |s - c b^k a|^2 with respect to a, b, c, per mode.

    For complex modes the gradient over real and imaginary parts written as one complex number,
    dL/dRe z + i dL/dIm z (= 2 dL/dconj(z), the Wirtinger factor 2); for real modes the plain gradient.
    """
    k, S = links(s)
    K = S.shape[0]
    a, b, c = (_column(x, K) for x in (a, b, c))
    bk = b ** k
    dbk = np.where(k > 0, k * b ** np.maximum(k - 1, 0), 0.0)
    r = S - a * c * bk
    ga = -np.sum(r * np.conj(c * bk), axis=1)
    gb = -np.sum(r * np.conj(a * c * dbk), axis=1)
    gc = -np.sum(r * np.conj(a * bk), axis=1)
    return ga, gb, gc


def explicit_rates(s, a, b, c, tau=1.0):
    """d(a, b, c)/dt = -dE/d(a, b, c) with E = L / tau (real and imaginary parts for complex modes)."""
    return tuple(-g / tau for g in explicit_gradient(s, a, b, c))


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


def explicit_loss_of_vector(s, complex_modes, tau=1.0):
    """L(y) = tau E summed over modes as a function of the packed real state (for finite differences)."""
    K = links(s)[1].shape[0]

    def L(y):
        a, b, c = unpack(y, K, complex_modes)
        return float(np.sum(explicit_energy(s, a, b, c, tau)))
    return L


def integrate_explicit(s, a0, b0, c0, tau, t_eval, freeze_b=False, rtol=1e-11, atol=1e-13, method="DOP853",
                       freeze_ac=False):
    """Own integration of the explicit rates (DOP853 by default); (a, b, c) of shape (len(t_eval), K).

    ``freeze_b`` masks the rate of b (the input-output solution with b frozen), ``freeze_ac`` those of a and c
    (the recurrent mode with u frozen)."""
    from scipy.integrate import solve_ivp

    complex_modes = any(np.iscomplexobj(x) for x in (s, a0, b0, c0))
    K = links(s)[1].shape[0]

    def rhs(t, y):
        a, b, c = unpack(y, K, complex_modes)
        ra, rb, rc = explicit_rates(s, a, b, c, tau)
        if freeze_b:
            rb = np.zeros_like(rb)
        if freeze_ac:
            ra, rc = np.zeros_like(ra), np.zeros_like(rc)
        return pack(ra, rb, rc, complex_modes)

    y0 = pack(a0, b0, c0, complex_modes)
    sol = solve_ivp(rhs, (0.0, float(t_eval[-1])), y0, method=method, t_eval=t_eval, rtol=rtol, atol=atol)
    assert sol.success, sol.message
    return unpack(sol.y.T, K, complex_modes)


def gradient_descent_explicit(s, a, b, c, lr, steps):
    """``steps`` steps of theta <- theta - lr dL/dtheta on L = 1/2 sum_links |r|^2 (real and imaginary parts)."""
    a, b, c = (np.array(x) for x in (a, b, c))
    for _ in range(steps):
        ga, gb, gc = explicit_gradient(s, a, b, c)
        a, b, c = a - lr * ga, b - lr * gb, c - lr * gc
    return a, b, c


def hessian_fd(s, a, b, c, mode, eps=1e-5):
    """Hessian of one mode's L = 1/2 sum_links |r|^2 over its real parameters (3, or 6 for complex modes:
    Re a, Im a, Re b, Im b, Re c, Im c), by central differences of the explicit gradient."""
    s_mode = np.asarray(s)[mode:mode + 1]
    complex_modes = np.iscomplexobj(s) or any(np.iscomplexobj(x) for x in (a, b, c))
    x0 = pack(*(np.asarray(x)[mode:mode + 1] for x in (a, b, c)), complex_modes)

    def grad(y):
        return pack(*explicit_gradient(s_mode, *unpack(y, 1, complex_modes)), complex_modes)

    n = x0.size
    H = np.zeros((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = eps
        H[:, j] = (grad(x0 + e) - grad(x0 - e)) / (2 * eps)
    return 0.5 * (H + H.T)


def brute_force_minimum(s, tau=1.0, b_max=None, starts=9, seed=0):
    """Global minimum of the explicit energy over (u, b) per mode: scipy minimisation from many starts.

    Real tasks: over (u, b) real (|b| <= b_max if given); complex tasks: over Re u, Im u, Re b, Im b.
    Returns (u, b, E) of shape (K,)."""
    from scipy.optimize import minimize

    k, S = links(s)
    complex_modes = np.iscomplexobj(S)
    rng = np.random.default_rng(seed)
    us, bs, Es = [], [], []
    for mode in range(S.shape[0]):
        target = S[mode]

        def energy(x):
            u = x[0] + 1j * x[1] if complex_modes else x[0]
            b = x[2] + 1j * x[3] if complex_modes else x[1]
            return float(np.sum(np.abs(target - u * b ** k) ** 2) / (2 * tau))

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
            res = minimize(energy, x0, method="L-BFGS-B" if bounds else "BFGS", bounds=bounds,
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
def network_targets(s, U, V, complex_modes):
    """(k, Sigma) per link: the input-output correlation U H(s_link) V^T of every link of the task."""
    k, S = links(s)
    return k, [U @ block_matrix(S[:, j], complex_modes) @ V.T for j in range(len(k))]


def network_loss(W_x, W_h, W_y, k, sigmas):
    """L = 1/2 sum_links ||Sigma - W_y W_h^k W_x||_F^2 (white inputs as a sum over samples)."""
    return 0.5 * sum(np.sum((S - W_y @ np.linalg.matrix_power(W_h, int(p)) @ W_x) ** 2) for p, S in zip(k, sigmas))


def network_gradient(W_x, W_h, W_y, k, sigmas):
    """dL/dW_x, dL/dW_h, dL/dW_y of ``network_loss``, written out from the matrix products (notes §3.1)."""
    power = [np.linalg.matrix_power(W_h, j) for j in range(int(max(k)) + 1)]
    g_x, g_h, g_y = np.zeros_like(W_x), np.zeros_like(W_h), np.zeros_like(W_y)
    for p, S in zip(k, sigmas):
        p = int(p)
        E = S - W_y @ power[p] @ W_x
        g_x -= (W_y @ power[p]).T @ E
        g_y -= E @ (power[p] @ W_x).T
        for r in range(p):
            g_h -= (W_y @ power[r]).T @ E @ (power[p - 1 - r] @ W_x).T
    return g_x, g_h, g_y


# ---- the Dirac phase transition (App. H) -------------------------------------------------------------------------
def dirac_recurrent_wins(beta, T, b_max, margin=1e-12):
    """Whether some 0 < |b| <= b_max beats the feedforward point b = 0 (E = beta^2) for s_1 = beta, s_T = 1/beta:
    a dense grid of b, then a bounded scalar polish, with u at its least-squares value (E = sum_i r_i^2)."""
    from scipy.optimize import minimize_scalar

    k = np.arange(T - 1, -1, -1)
    s = np.zeros(T)
    s[0], s[-1] = beta, 1 / beta

    def energy(b):
        phi = np.asarray(b, dtype=float)[..., None] ** k
        return s @ s - (phi @ s) ** 2 / np.sum(phi**2, axis=-1)

    grid = np.linspace(-b_max, b_max, 20001)
    values = energy(grid)
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
