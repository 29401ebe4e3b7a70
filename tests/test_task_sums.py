"""TaskSums (lrnn_theory/task_sums.py) against computations that do not go through it.

The reference is the loss of a population written out sample by sample: per mode, m input sequences x_p (n lags)
and targets y_p, with the gram G = sum_p x_p x_p^T (full or diagonal), alpha_k = sum_p y_p x_(p,k) and
norm = sum_p |y_p|^2. Then

    1/2 sum_p |y_p - u sum_k b^k x_(p,k)|^2 = (norm - 2 Re(conj(u) A(b)) + |u|^2 B(b)) / 2

for any complex u and b, which is the engine's energy (times tau). Derivatives are checked against numpy.polynomial,
u* and E* against a numerical minimisation over u.
"""
import numpy as np
import numpy.polynomial.polynomial as npoly
import pytest
from scipy.optimize import minimize

from lrnn_theory import Task
from lrnn_theory.task_sums import TaskSums, complex_partials

K, n, m = 3, 4, 7


def population(kind, seed=0, complex_targets=True):
    """(X (K, n, m), y (K, m)) of one of the three layouts of G: shared weights, per-mode weights, full gram."""
    rng = np.random.default_rng(seed)
    if kind == "full":
        X = rng.standard_normal((K, n, m))  # correlated lags: G = X X^T is a full PSD matrix per mode
    else:
        Q = np.linalg.qr(rng.standard_normal((m, n)))[0].T  # orthonormal rows: G = diag(w)
        w = rng.uniform(0.5, 2.0, n) if kind == "shared" else rng.uniform(0.5, 2.0, (K, n))
        X = np.sqrt(np.broadcast_to(w, (K, n)))[..., None] * Q[None]
    y = rng.standard_normal((K, m)) + (1j * rng.standard_normal((K, m)) if complex_targets else 0)
    return X, y


def sums_of(kind, X, y):
    alpha = np.einsum("kp,kip->ki", y, X)
    norm = np.sum(np.abs(y) ** 2, axis=1)
    G = np.einsum("kip,kjp->kij", X, X)
    if kind == "full":
        return TaskSums(alpha, gram=G, norm=norm)
    w = np.diagonal(G, axis1=1, axis2=2)
    return TaskSums(alpha, weights=w[0] if kind == "shared" else w, norm=norm)


def sample_loss(X, y, u, b):
    """1/2 sum_p |y_p - u sum_k b^k x_(p,k)|^2 per mode, u and b of shape (K,)."""
    out = np.empty(K)
    for mode in range(K):
        pred = u[mode] * sum(b[mode] ** k * X[mode, k] for k in range(n))
        out[mode] = 0.5 * np.sum(np.abs(y[mode] - pred) ** 2)
    return out


def sample_sums(X, y, b):
    """A(b), B(b) from the samples: the coefficients of -conj(u) and |u|^2 in the loss above."""
    A, B = np.empty(K, complex), np.empty(K)
    for mode in range(K):
        phi = sum(b[mode] ** k * X[mode, k] for k in range(n))  # sum_k b^k x_(p,k) per sample
        A[mode] = np.sum(y[mode] * np.conj(phi))
        B[mode] = np.sum(np.abs(phi) ** 2)
    return A, B


LAYOUTS = ["shared", "per-mode", "full"]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("complex_b", [False, True])
def test_values_and_energy_equal_the_sample_sums(layout, complex_b):
    X, y = population(layout)
    sums = sums_of(layout, X, y)
    rng = np.random.default_rng(1)
    b = rng.uniform(-1.2, 1.2, K) + (1j * rng.uniform(-1, 1, K) if complex_b else 0)
    u = rng.standard_normal(K) + 1j * rng.standard_normal(K)
    A, B = sums.values(b)
    A_ref, B_ref = sample_sums(X, y, b)
    np.testing.assert_allclose(A, A_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(B, B_ref, rtol=1e-12, atol=1e-12)
    tau = 1.7
    np.testing.assert_allclose(sums.energy(u, b, tau), sample_loss(X, y, u, b) / tau, rtol=1e-12, atol=1e-12)
    # on a grid (K, G): each point as evaluated alone
    grid = np.stack([b, 0.5 * b, -b], axis=1)
    A_grid, B_grid = sums.values(grid)
    for j in range(3):
        A_j, B_j = sample_sums(X, y, grid[:, j])
        np.testing.assert_allclose(A_grid[:, j], A_j, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(B_grid[:, j], B_j, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_optimal_u_and_reduced_energy_minimise_the_sample_loss(layout):
    X, y = population(layout, seed=2)
    sums = sums_of(layout, X, y)
    b = np.array([0.4 + 0.3j, -0.7 + 0.1j, 1.1 - 0.2j])
    tau = 0.8
    u_best, E_best = np.empty(K, complex), np.empty(K)
    for mode in range(K):
        def loss(x):
            u = np.zeros(K, complex)
            u[mode] = x[0] + 1j * x[1]
            return sample_loss(X, y, u, b)[mode]
        res = minimize(loss, [0.1, 0.1], method="BFGS", options={"gtol": 1e-12})
        u_best[mode], E_best[mode] = res.x[0] + 1j * res.x[1], res.fun / tau
    np.testing.assert_allclose(sums.optimal_u(b), u_best, atol=1e-6)
    np.testing.assert_allclose(sums.reduced_energy(b, tau), E_best, rtol=1e-10, atol=1e-12)


def real_polynomials(sums_alpha, X):
    """Coefficients (lowest power first) of A(b) and B(b) as polynomials in real b, from the samples."""
    B_coef = np.zeros((K, 2 * n - 1))
    for mode in range(K):
        G = X[mode] @ X[mode].T
        for k in range(n):
            for l in range(n):
                B_coef[mode, k + l] += G[k, l]
    return sums_alpha, B_coef


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("complex_alpha", [False, True])
def test_derivatives_up_to_order_three_equal_numpy_polynomial(layout, complex_alpha):
    X, y = population(layout, seed=3, complex_targets=complex_alpha)
    sums = sums_of(layout, X, y)
    A_coef, B_coef = real_polynomials(np.einsum("kp,kip->ki", y, X), X)
    b = np.array([0.6, -0.9, 1.3])
    As, Bs = sums.derivatives(b, order=3)
    assert As.shape == (4, K) and Bs.shape == (4, K)
    for mode in range(K):
        for j in range(4):
            A_ref = npoly.polyval(b[mode], npoly.polyder(A_coef[mode], j)) if j else npoly.polyval(b[mode],
                                                                                                   A_coef[mode])
            B_ref = npoly.polyval(b[mode], npoly.polyder(B_coef[mode], j)) if j else npoly.polyval(b[mode],
                                                                                                   B_coef[mode])
            np.testing.assert_allclose(As[j, mode], A_ref, rtol=1e-12, atol=1e-11, err_msg=f"A^({j}) mode {mode}")
            np.testing.assert_allclose(Bs[j, mode], B_ref, rtol=1e-12, atol=1e-11, err_msg=f"B^({j}) mode {mode}")
    # the flow's entry points are the same numbers
    ev = sums.evaluate(b, second=True)
    np.testing.assert_allclose(np.array(ev[:3]), As[:3], rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(np.array(ev[3:]), Bs[:3], rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(np.array(sums.evaluate_all(b)), np.concatenate([As, Bs]), rtol=1e-14, atol=1e-14)


def _diagonal_partials_by_chain_rule(w, b, order):
    """B_ij (i <= j, ``complex_partials``) of B = beta(|b|^2), beta(x) = sum_k w_k x^k, by the chain rule through the
    derivatives of beta (numpy.polynomial): B_0j = b^j beta^(j), B_11 = beta_1 + x beta_2, B_12 = 2 b beta_2 +
    x b beta_3 (beta_j the j-th derivative at x = |b|^2)."""
    x = abs(b) ** 2
    d = [npoly.polyval(x, npoly.polyder(w, j) if j else w) for j in range(4)]
    table = {(0, 0): d[0], (0, 1): b * d[1], (0, 2): b**2 * d[2], (1, 1): d[1] + x * d[2], (0, 3): b**3 * d[3],
             (1, 2): 2 * b * d[2] + x * b * d[3]}
    return [table[p] for p in complex_partials(order)]


@pytest.mark.parametrize("layout", ["shared", "per-mode"])
def test_evaluate_complex_equals_explicit_complex_sums(layout):
    """A, A', A'' at conj(b) and the Wirtinger partials B, dB/d(conj b), d2B/d(conj b)^2, d2B/db d(conj b) of
    B(b) = beta(|b|^2) for a diagonal G."""
    X, y = population(layout, seed=4)
    sums = sums_of(layout, X, y)
    alpha = np.einsum("kp,kip->ki", y, X)
    w = np.diagonal(np.einsum("kip,kjp->kij", X, X), axis1=1, axis2=2)
    b = np.array([0.4 + 0.3j, -0.7 + 0.5j, 1.1 - 0.2j])
    out = sums.evaluate_complex(b, second=True)
    assert len(out) == 7
    for mode in range(K):
        z = np.conj(b[mode])
        for j in range(3):
            A_ref = npoly.polyval(z, npoly.polyder(alpha[mode], j) if j else alpha[mode])
            np.testing.assert_allclose(out[j][mode], A_ref, rtol=1e-12, atol=1e-12)
        for value, ref in zip(out[3:], _diagonal_partials_by_chain_rule(w[mode], b[mode], 2)):
            np.testing.assert_allclose(value[mode], ref, rtol=1e-12, atol=1e-12)
    # and B is B(b) of the samples
    np.testing.assert_allclose(out[3], sample_sums(X, y, b)[1], rtol=1e-12)
    short = sums.evaluate_complex(b)
    assert len(short) == 4
    np.testing.assert_allclose(np.array(short), np.array([out[0], out[1], out[3], out[4]]), rtol=1e-14)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_subset_equals_the_full_object_sliced(layout):
    X, y = population(layout, seed=5)
    sums = sums_of(layout, X, y)
    modes = np.array([2, 0])
    part = sums.subset(modes)
    assert part.K == 2
    b_full = np.array([0.6, -0.9, 1.3])
    bc_full = np.array([0.4 + 0.3j, -0.7 + 0.5j, 1.1 - 0.2j])
    u_full = np.array([0.3 - 0.2j, 1.1 + 0.4j, -0.5 + 0.1j])
    As, Bs = sums.derivatives(b_full, order=3)
    As_p, Bs_p = part.derivatives(b_full[modes], order=3)
    np.testing.assert_array_equal(As_p, As[:, modes])
    np.testing.assert_array_equal(Bs_p, Bs[:, modes])
    for b in (b_full, bc_full):
        for full, sub in zip(sums.values(b), part.values(b[modes])):
            np.testing.assert_allclose(sub, full[modes], rtol=1e-15, atol=0)
        np.testing.assert_allclose(part.energy(u_full[modes], b[modes], 1.3), sums.energy(u_full, b, 1.3)[modes],
                                   rtol=1e-15)
        np.testing.assert_allclose(part.optimal_u(b[modes]), sums.optimal_u(b)[modes], rtol=1e-15)
        np.testing.assert_allclose(part.reduced_energy(b[modes]), sums.reduced_energy(b)[modes], rtol=1e-15)
    np.testing.assert_array_equal(part.norm, sums.norm[modes])
    for full, sub in zip(sums.evaluate_complex(bc_full, order=3), part.evaluate_complex(bc_full[modes], order=3)):
        np.testing.assert_allclose(sub, full[modes], rtol=1e-14, atol=0)


@pytest.mark.parametrize("per_mode", [False, True])
def test_a_diagonal_full_gram_equals_the_same_weights(per_mode):
    rng = np.random.default_rng(6)
    alpha = rng.standard_normal((K, n)) + 1j * rng.standard_normal((K, n))
    w = rng.uniform(0.5, 2.0, (K, n) if per_mode else n)
    G = np.broadcast_to(w, (K, n))[..., None] * np.eye(n)
    by_weights, by_gram = TaskSums(alpha, weights=w), TaskSums(alpha, gram=G if per_mode else np.diag(w))
    b = np.array([0.6, -0.9, 1.3])
    bc = np.array([0.4 + 0.3j, -0.7 + 0.5j, 1.1 - 0.2j])
    for x, z in zip(by_weights.derivatives(b, 3), by_gram.derivatives(b, 3)):
        np.testing.assert_allclose(z, x, rtol=1e-14, atol=1e-14)
    for x, z in zip(by_weights.values(bc), by_gram.values(bc)):
        np.testing.assert_allclose(z, x, rtol=1e-14, atol=1e-14)
    for x, z in zip(by_weights.evaluate_complex(bc, True), by_gram.evaluate_complex(bc, True)):
        np.testing.assert_allclose(z, x, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(by_gram.norm, by_weights.norm, rtol=1e-14)


@pytest.mark.parametrize("layout", ["shared", "per-mode"])
def test_evaluate_complex_to_order_three(layout):
    """``order=3``: A^(j)(conj b) for j = 0..3 and the partials B_ij, i <= j, i + j <= 3 (the complex modified
    flow's Jacobian)."""
    X, y = population(layout, seed=7)
    sums = sums_of(layout, X, y)
    alpha = np.einsum("kp,kip->ki", y, X)
    w = np.diagonal(np.einsum("kip,kjp->kij", X, X), axis1=1, axis2=2)
    b = np.array([0.4 + 0.3j, -0.7 + 0.5j, 1.1 - 0.2j])
    out = sums.evaluate_complex(b, order=3)
    assert len(out) == 10
    for mode in range(K):
        z = np.conj(b[mode])
        for j in range(4):
            np.testing.assert_allclose(out[j][mode], npoly.polyval(z, npoly.polyder(alpha[mode], j)), rtol=1e-12,
                                       atol=1e-12)
        for value, ref in zip(out[4:], _diagonal_partials_by_chain_rule(w[mode], b[mode], 3)):
            np.testing.assert_allclose(value[mode], ref, rtol=1e-12, atol=1e-12)


def test_values_on_a_shared_grid_equal_the_grid_repeated_per_mode():
    """``values(grid, shared_grid=True)`` (one table of powers, one product per sum: the grid searches) equals
    ``values`` on the grid repeated for every mode, for real and complex b, diagonal and full (correlated) sums."""
    rng = np.random.default_rng(5)
    tasks = [Task(rng.normal(size=(3, 5))), Task.inverse_exponential(delta=[1.0, 0.3], lam=0.5, T=4).as_complex(),
             Task(rng.uniform(0.2, 1.0, size=(2, 4)), input_covariance=np.eye(4) + 0.3)]
    grids = [np.linspace(-2.0, 2.0, 9), (np.linspace(-1, 1, 5)[:, None] + 1j * np.linspace(-1, 1, 5)).ravel()]
    for task in tasks:
        sums = task.sums()
        for grid in grids:
            A, B = sums.values(grid, shared_grid=True)
            A_ref, B_ref = sums.values(np.broadcast_to(grid, (sums.K, grid.size)))
            assert A.shape == B.shape == (sums.K, grid.size)
            np.testing.assert_allclose(A, A_ref, rtol=1e-13, atol=1e-14)
            np.testing.assert_allclose(B, B_ref, rtol=1e-13, atol=1e-14)
            np.testing.assert_allclose(sums.reduced_energy(grid, 0.5, shared_grid=True),
                                       sums.reduced_energy(np.broadcast_to(grid, (sums.K, grid.size)), 0.5),
                                       rtol=1e-12, atol=1e-13)
