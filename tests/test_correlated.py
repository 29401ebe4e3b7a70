"""Inputs correlated across time (issue 21): the derivation, the covariance's forms and checks, and the gram matrix
G that the engine takes, each against an independent computation."""
import numpy as np
import pytest
import sympy as sp

from lrnn_theory.correlated import InputCovariance, explained_norm, gram
from lrnn_theory.derivations import correlated as sym
from lrnn_theory.errors import LrnnInputError


# ---- the derivation ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("T", [1, 2, 3, 4])
def test_expected_loss_is_the_task_sum_form(T):
    expected, from_sums = sym.derive_expected_loss(T)
    assert sp.simplify(expected - from_sums) == 0


@pytest.mark.parametrize("T", [2, 3])
def test_every_step_expected_loss_is_the_gram_form(T):
    *_, residual = sym.derive_every_step_sums(T)
    assert sp.simplify(residual) == 0


def test_complex_and_white_and_norm_identities():
    from_expectation, formula = sym.derive_complex_sums(3)
    assert sp.simplify(from_expectation - formula) == 0
    assert sym.derive_white_limit(4) == 0
    assert sym.derive_explained_norm(3) == 0


def test_ar1_sum_has_odd_powers():
    B = sp.Poly(sym.derive_ar1_sums(3), sym.b)
    assert B.coeff_monomial(sym.b**3) == 2 * sym.rho
    assert B.subs(sym.rho, 0) == sp.expand(1 + sym.b**2 + sym.b**4)


# ---- G from the covariance ---------------------------------------------------------------------------------------
def _random_covariance(rng, K, T):
    M = rng.standard_normal((K, T, T))
    return M @ np.swapaxes(M, -1, -2) / T + 0.1 * np.eye(T)


def _explicit_B(lam, b, every_step):
    """B(b) by the double sums of the loss, straight from the definition (no gram)."""
    T = lam.shape[-1]
    if not every_step:
        w = b ** (T - np.arange(1, T + 1))
        return np.einsum("i,kij,j->k", w, lam, w)
    total = 0.0
    for t in range(1, T + 1):
        w = b ** (t - np.arange(1, t + 1))
        total = total + np.einsum("i,kij,j->k", w, lam[:, :t, :t], w)
    return total


@pytest.mark.parametrize("every_step", [False, True])
def test_gram_gives_the_double_sum(every_step):
    rng = np.random.default_rng(3)
    lam = _random_covariance(rng, 2, 5)
    G = gram(lam, every_step)
    for b in (0.3, -0.8, 1.4):
        powers = b ** np.arange(5)
        np.testing.assert_allclose(np.einsum("k,mkl,l->m", powers, G, powers), _explicit_B(lam, b, every_step),
                                   rtol=1e-13)


def test_gram_matches_the_symbolic_gram():
    T = 3
    G_sym, _ = sym.derive_gram(T)
    rng = np.random.default_rng(0)
    lam = _random_covariance(rng, 1, T)[0]
    values = {sym.lam[p, q]: lam[p - 1, q - 1] for p in range(1, T + 1) for q in range(1, T + 1)}
    np.testing.assert_allclose(np.array(G_sym.subs(values), dtype=float), gram(lam[None], False)[0], rtol=1e-15)
    _, _, G_es, _ = sym.derive_every_step_sums(T)
    np.testing.assert_allclose(np.array(G_es.subs(values), dtype=float), gram(lam[None], True)[0], rtol=1e-14)


def test_explained_norm_zero_energy_at_the_best_filter():
    rng = np.random.default_rng(1)
    lam = _random_covariance(rng, 2, 4)
    s = rng.standard_normal((2, 4))
    norm = explained_norm(s, lam, every_step=False)
    w_star = np.linalg.solve(lam, s[..., None])[..., 0]
    energy = norm - 2 * np.sum(w_star * s, axis=1) + np.einsum("ki,kij,kj->k", w_star, lam, w_star)
    np.testing.assert_allclose(energy, 0.0, atol=1e-12)
    np.testing.assert_allclose(explained_norm(s, np.eye(4), False), np.sum(s**2, axis=1), rtol=1e-14)


# ---- forms and checks of the covariance ------------------------------------------------------------------------
def test_stationary_forms():
    ar1 = InputCovariance.build({"ar1": 0.6}, K=2, T=4)
    lag = InputCovariance.build({"lag": [1.0, 0.6, 0.36, 0.216]}, K=2, T=4)
    np.testing.assert_allclose(ar1.matrix, lag.matrix, rtol=1e-15)
    assert ar1.at_length(7).matrix.shape == (7, 7)
    assert InputCovariance.build(np.eye(3), K=1, T=3).is_white
    with pytest.raises(LrnnInputError, match="stationary"):
        InputCovariance.build(np.eye(3), K=1, T=3).at_length(5)


@pytest.mark.parametrize("value, fragment", [
    ([[1.0, 0.5], [0.4, 1.0]], "symmetric"),
    ([[1.0, 2.0], [2.0, 1.0]], "positive semi-definite"),
    ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], "shape"),
    ([[1.0, float("nan")], [float("nan"), 1.0]], "input_covariance"),
    ({"ar1": 1.0}, "input_covariance.ar1"),
    ({"lag": [0.0, 0.5]}, "input_covariance.lag"),
    ({"lag": [1.0, 0.9, 0.2]}, "positive semi-definite"),
    ({"ar2": 0.5}, "exactly one of the keys"),
])
def test_bad_covariances_get_one_line_errors(value, fragment):
    with pytest.raises(LrnnInputError) as info:
        InputCovariance.build(value, K=1, T=2 if not isinstance(value, dict) else 4)
    message = str(info.value)
    assert fragment in message and "\n" not in message and "input_covariance" in message


# ---- the flow against the full-matrix loss -------------------------------------------------------------------------
def _orthogonal(rng, n):
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return q


def _full_matrix_loss(Wx, Wh, Wy, Syx, Sxx, every_step):
    """(1/2) E ||y - y_hat||^2 from the second moments, up to the constant tr(Sigma^YY) / 2: Syx[t, i] (outputs t,
    or one output) and Sxx[i, j] (N x N blocks). Plain loops over steps: a reference, not a fast path."""
    T = Sxx.shape[0]
    outputs = range(1, T + 1) if every_step else [T]
    total = 0.0
    for t in outputs:
        M = {i: Wy @ np.linalg.matrix_power(Wh, t - i) @ Wx for i in range(1, t + 1)}
        C = Syx[t - 1] if every_step else Syx
        total -= sum(np.trace(M[i].T @ C[i - 1]) for i in M)
        total += 0.5 * sum(np.trace(M[i] @ Sxx[i - 1, j - 1] @ M[j].T) for i in M for j in M)
    return total


@pytest.mark.parametrize("every_step", [False, True])
def test_correlated_flow_is_the_gradient_of_the_full_matrix_loss(every_step):
    """Aligned weights, inputs with a covariance per mode shared in the input basis V: the compiled flow's rates
    equal minus the finite-difference gradient of the full-matrix loss, read in the mode basis (tau = 1)."""
    from lrnn_theory import Task
    from lrnn_theory.flow import compile_flow

    rng = np.random.default_rng(7)
    K, T = 3, 4
    U, V, R = (_orthogonal(rng, K) for _ in range(3))
    lam = _random_covariance(rng, K, T)                          # (K, T, T): per mode
    s = rng.uniform(0.2, 1.0, (K, T, T) if every_step else (K, T))
    if every_step:
        s = np.tril(s)
    a, b, c = rng.uniform(0.3, 0.9, K), rng.uniform(-0.8, 0.9, K), rng.uniform(0.3, 0.9, K)
    task = Task(s, init={"a": a, "b": b, "c": c}, outputs="every_step" if every_step else "final",
                input_covariance=lam)
    Sxx = np.einsum("nk,kij,mk->ijnm", V, lam, V)                # Sigma^{X_i X_j} = V diag(lambda_ij) V^T
    if every_step:
        Syx = np.einsum("yk,kti,xk->tiyx", U, s, V)
    else:
        Syx = np.einsum("yk,ki,xk->iyx", U, s, V)
    weights = [R @ np.diag(a) @ V.T, R @ np.diag(b) @ R.T, U @ np.diag(c) @ R.T]

    def loss(ws):
        return _full_matrix_loss(*ws, Syx, Sxx, every_step)

    grads = []
    h = 1e-6
    for w_index, (left, right) in enumerate([(R, V), (R, R), (U, R)]):
        g = np.zeros(K)
        for k in range(K):  # the gradient along the aligned direction left[:, k] right[:, k]^T of this mode
            direction = np.outer(left[:, k], right[:, k])
            plus = [w + h * direction if n == w_index else w for n, w in enumerate(weights)]
            minus = [w - h * direction if n == w_index else w for n, w in enumerate(weights)]
            g[k] = (loss(plus) - loss(minus)) / (2 * h)
        grads.append(g)
    flow = compile_flow(task)
    rates = flow.rates(0.0, flow.initial_state()).reshape(K, 3)
    np.testing.assert_allclose(rates, -np.column_stack(grads), rtol=1e-7, atol=1e-9)


def test_white_covariance_gives_todays_flow_bit_for_bit():
    from lrnn_theory import Task, integrate

    plain = Task.inverse_exponential(delta=[1.0, 0.5], lam=[0.7, 1.1], T=5)
    white = Task.inverse_exponential(delta=[1.0, 0.5], lam=[0.7, 1.1], T=5, input_covariance=np.eye(5))
    a, b = integrate(plain, 20.0), integrate(white, 20.0)
    assert np.array_equal(a.u, b.u) and np.array_equal(a.b, b.b) and np.array_equal(a.energy, b.energy)
    # a near-white covariance is a full gram G: the same flow to rounding
    near = Task.inverse_exponential(delta=[1.0, 0.5], lam=[0.7, 1.1], T=5, input_covariance={"lag": [1.0, 1e-15]})
    np.testing.assert_allclose(integrate(near, 20.0).u, a.u, rtol=1e-12, atol=1e-12)
