"""Inputs correlated across time (issue 21): the derivation, the covariance's forms and checks, and the gram matrix
G that the engine takes, each against an independent computation."""
import numpy as np
import pytest
import sympy as sp

from lrnn_theory.correlated import InputCovariance, explained_norm, gram
from lrnn_theory.derivations import correlated as sym
from lrnn_theory.errors import LrnnInputError
from reference import check_jacobian_and_energy


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
    a, b = integrate(plain, 5.0), integrate(white, 5.0)  # t = 5: through the learning transient of both modes
    assert np.array_equal(a.u, b.u) and np.array_equal(a.b, b.b) and np.array_equal(a.energy, b.energy)
    # a near-white covariance is a full gram G: the same flow to rounding
    near = Task.inverse_exponential(delta=[1.0, 0.5], lam=[0.7, 1.1], T=5, input_covariance={"lag": [1.0, 1e-15]})
    np.testing.assert_allclose(integrate(near, 5.0).u, a.u, rtol=1e-12, atol=1e-12)


# ---- complex (rotational) tasks with correlated inputs: the Wirtinger flow through B(b, conj b) -------------------
def test_complex_flow_with_a_diagonal_B_is_the_diagonal_flow():
    """B(b, conj b) = beta(b conj b) substituted into the general complex flow (energy, rates, Wirtinger Jacobian)
    gives the flow derived from beta(|b|^2) directly; the same for the complex modified flow."""
    from lrnn_theory.derivations import complex as cx
    from lrnn_theory.derivations import finite_lr as fl

    residuals = cx.derive_diagonal_limit()
    assert len(residuals) == 1 + 3 + 18 and all(r == 0 for r in residuals.values())
    p, q = sp.symbols("p q")
    diagonal_B = sp.Lambda((p, q), cx.beta(p * q))

    def substituted(expr):
        return expr.replace(lambda e: isinstance(e, sp.Function) and e.func == cx.B,
                            lambda e: diagonal_B(*e.args)).doit()

    done = {}  # B and its derivatives, substituted once: the 21 expressions share 14 (0.4 s -> 0.06 s)

    def at_diagonal(expr):
        parts = expr.atoms(sp.Derivative) | {e for e in expr.atoms(sp.Function) if e.func == cx.B}
        for part in parts - done.keys():
            done[part] = substituted(part)
        return expr.xreplace({part: done[part] for part in parts})  # a whole derivative first, then bare B

    general, diagonal = fl.derive_complex_modified_flow(), fl.derive_complex_modified_flow(diagonal=True)
    for z in cx.STATE:
        assert sp.expand(at_diagonal(general["tau_rates"][z]) - diagonal["tau_rates"][z]) == 0
    for row, row_d in zip(general["wirtinger"], diagonal["wirtinger"]):
        for entry, entry_d in zip(row, row_d):
            assert sp.expand(at_diagonal(entry) - entry_d) == 0
    assert general["residual"] == [0, 0, 0]  # the constant 1/4 carries over for any real B


def test_complex_conserved_quantity_and_polar_odes_for_a_general_B():
    """|a|^2 - |c|^2 stays conserved for any real B; the polar ODEs of b reduce to the diagonal ones (written out
    here: tau db/dt = conj(u) (A' - u b beta'(rho^2))) at B_rho = 2 rho beta', B_theta = 0."""
    from lrnn_theory.derivations import complex as cx

    flow = cx.derive_complex_mode_flow()
    assert flow.conserved_rate == 0
    assert sp.simplify(flow.naive_rate) != 0
    assert flow.tau_rates[cx.b].has(sp.Derivative(cx.B(cx.b, cx.b_bar), cx.b_bar))
    rho, theta, r, psi = sp.symbols("rho theta r psi", positive=True)
    A1r, A1i = sp.symbols("A_1r A_1i", real=True)
    beta1 = sp.Symbol("beta_1", real=True)
    u = r * sp.exp(sp.I * psi)
    G = sp.conjugate(u) * (A1r + sp.I * A1i - u * rho * sp.exp(sp.I * theta) * beta1)
    rotated = sp.expand(sp.exp(-sp.I * theta) * G)
    diagonal = {"tau*drho/dt": sp.re(rotated), "tau*dtheta/dt": sp.im(rotated) / rho}
    values = {sp.Symbol("B_rho", real=True): 2 * rho * beta1, sp.Symbol("B_theta", real=True): 0}
    for key, expected in diagonal.items():
        assert sp.simplify(sp.expand_complex(flow.polar[key].subs(values) - expected)) == 0


def test_complex_partials_share_one_order():
    from lrnn_theory.derivations import complex as cx
    from lrnn_theory.task_sums import COMPLEX_PARTIALS

    assert COMPLEX_PARTIALS == cx.B_PARTIALS_EVALUATED
    assert cx.partials(2) == ((0, 0), (0, 1), (1, 0), (0, 2), (1, 1), (2, 0))


def _falling(k, j):
    out = 1
    for m in range(j):
        out *= k - m
    return out


def test_evaluate_complex_for_a_full_gram_against_double_sums_and_finite_differences():
    """B_ij = d^(i+j) B / db^i d(conj b)^j of B = sum_kl G_kl conj(b)^k b^l for a full G: against the double sums
    written out term by term, and against Wirtinger finite differences (d/d(conj b) = (d/dx + i d/dy) / 2) of B itself
    (``TaskSums.values``) and of the lower partials, up to the third order."""
    from lrnn_theory.task_sums import TaskSums, complex_partials

    rng = np.random.default_rng(12)
    K, n = 3, 5
    M = rng.standard_normal((K, n, n))
    G = M @ np.swapaxes(M, 1, 2) / n
    alpha = rng.standard_normal((K, n)) + 1j * rng.standard_normal((K, n))
    sums = TaskSums(alpha, gram=G)
    assert not sums.diagonal
    b = np.array([0.5 + 0.3j, -0.7 + 0.4j, 0.9 - 0.6j])
    out = sums.evaluate_complex(b, order=3)
    assert len(out) == 4 + 6
    B_parts = dict(zip(complex_partials(3), out[4:]))
    for (i, j), value in B_parts.items():
        for m in range(K):
            ref = sum(G[m, k, l] * _falling(k, j) * _falling(l, i) * np.conj(b[m]) ** (k - j) * b[m] ** (l - i)
                      for k in range(j, n) for l in range(i, n))
            np.testing.assert_allclose(value[m], ref, rtol=1e-13, atol=1e-13)
        assert np.isrealobj(value) == (i == j)  # B and d^2B/db d(conj b) are real
    np.testing.assert_allclose(B_parts[0, 0], sums.values(b)[1], rtol=1e-14)
    np.testing.assert_allclose(out[0], sums.values(b)[0], rtol=1e-14)

    eps = 1e-6

    def wirtinger(f):
        """(d/db, d/d(conj b)) of f by central differences in Re b and Im b."""
        fx = (f(b + eps) - f(b - eps)) / (2 * eps)
        fy = (f(b + 1j * eps) - f(b - 1j * eps)) / (2 * eps)
        return (fx - 1j * fy) / 2, (fx + 1j * fy) / 2

    def partial(i, j):
        return lambda z: dict(zip(complex_partials(3), sums.evaluate_complex(z, order=3)[4:]))[i, j]

    checks = [(lambda z: sums.values(z)[1], 1, (0, 1)), (partial(0, 1), 1, (0, 2)), (partial(0, 1), 0, (1, 1)),
              (partial(0, 2), 1, (0, 3)), (partial(0, 2), 0, (1, 2))]
    for f, which, target in checks:
        np.testing.assert_allclose(wirtinger(f)[which], B_parts[target], rtol=1e-7, err_msg=str(target))
    # dB/db = conj(dB/d(conj b)): B is real
    np.testing.assert_allclose(wirtinger(lambda z: sums.values(z)[1])[0], np.conj(B_parts[0, 1]), rtol=1e-7)
    # a subset of the modes slices the per-mode gram
    part = sums.subset(np.array([2, 0]))
    for full, sub in zip(out, part.evaluate_complex(b[[2, 0]], order=3)):
        np.testing.assert_allclose(sub, full[[2, 0]], rtol=1e-14)


def _complex_block_problem(every_step, seed=11):
    """A complex task with a covariance per mode, and the same problem as a real block-form network: 2x2 blocks
    [[Re z, -Im z], [Im z, Re z]] per mode (notes §8.5, ``lrnn_theory.block_form``), Sigma^{YX_i} = U H(d_i) V^T and
    Sigma^{X_iX_j} = V diag(lambda_ij per unit) V^T, both real units of a mode seeing the mode's lambda."""
    from lrnn_theory import Task
    from lrnn_theory.block_form import block_task_correlations, real_block_form

    rng = np.random.default_rng(seed)
    K, T = 2, 4
    sizes = np.full(K, 2)
    U, V, R = (_orthogonal(rng, 2 * K) for _ in range(3))
    lam = _random_covariance(rng, K, T)
    shape = (K, T, T) if every_step else (K, T)
    s = rng.uniform(0.2, 1.0, shape) * np.exp(1j * rng.uniform(-1.5, 1.5, shape))
    if every_step:
        s = np.tril(s)

    def phases(low, high):
        return rng.uniform(low, high, K) * np.exp(1j * rng.uniform(-1.5, 1.5, K))

    a, b, c = phases(0.3, 0.9), phases(0.4, 0.9), phases(0.3, 0.9)
    task = Task(s, init={"a": a, "b": b, "c": c}, outputs="every_step" if every_step else "final",
                input_covariance=lam)
    Sxx = np.einsum("nk,kij,mk->ijnm", V, np.repeat(lam, 2, axis=0), V)
    Syx = block_task_correlations(s, U, V, sizes)
    weights = [R @ real_block_form(a, sizes) @ V.T, R @ real_block_form(b, sizes) @ R.T,
               U @ real_block_form(c, sizes) @ R.T]
    return task, weights, [(R, V), (R, R), (U, R)], Syx, Sxx


@pytest.mark.parametrize("every_step", [False, True])
def test_complex_correlated_flow_is_the_gradient_of_the_block_networks_full_matrix_loss(every_step):
    """The compiled Wirtinger flow of a complex task with inputs correlated across time equals minus the
    finite-difference gradient of the real block network's full-matrix population loss L, with the Wirtinger factor:
    a mode's 2x2 block holds z in two real units, so L = 2 tau E per mode, the directions I_2 and J of Re z and
    Im z have squared norm 2, and tau dz/dt = -2 tau dE/d(conj z) = -(dL/dRe z + i dL/dIm z) / 2 (tau = 1). The
    Jacobian blocks (through d^2B/db d(conj b), d^2B/d(conj b)^2) equal finite differences of the rates."""
    from lrnn_theory.flow import compile_flow

    task, weights, bases, Syx, Sxx = _complex_block_problem(every_step)
    assert task.is_complex and task.every_step == every_step
    assert not task.sums().diagonal
    K = task.K
    unit = {"re": np.eye(2), "im": np.array([[0.0, -1.0], [1.0, 0.0]])}

    def loss(ws):
        return _full_matrix_loss(*ws, Syx, Sxx, every_step)

    h = 1e-6
    expected = np.zeros((K, 6))
    for w_index, (left, right) in enumerate(bases):
        for k in range(K):
            block = slice(2 * k, 2 * k + 2)
            for part, E in unit.items():
                direction = left[:, block] @ E @ right[:, block].T
                plus = [w + h * direction if n == w_index else w for n, w in enumerate(weights)]
                minus = [w - h * direction if n == w_index else w for n, w in enumerate(weights)]
                grad = (loss(plus) - loss(minus)) / (2 * h)
                expected[k, 2 * w_index + (part == "im")] = -grad / 2
    flow = compile_flow(task)
    y = flow.initial_state()
    np.testing.assert_allclose(flow.rates(0.0, y).reshape(K, 6), expected, rtol=1e-7, atol=1e-9)
    # the energy is the loss per mode: L = 2 tau E + const, so differences of L are twice those of E
    check_jacobian_and_energy(flow, y, K)


def _complex_correlated_task(tau=1.0):
    from lrnn_theory import Task

    rng = np.random.default_rng(5)
    T = 4
    s = np.stack([0.8 * np.exp(0.4j) ** np.arange(T - 1, -1, -1),
                  0.7 * (np.array([0.3, 1.0, 0.2, 0.8]) + 0.3j * np.array([1, -1, 0.5, 0]))])
    lam = np.stack([np.asarray(InputCovariance.build({"ar1": 0.6}, K=1, T=T).matrix), _random_covariance(rng, 1, T)[0]])
    return Task(s, init={"a": [0.3 + 0.05j, 0.2], "b": [0.2 + 0.1j, 0.3 - 0.05j], "c": [0.2, 0.4]}, tau=tau,
                input_covariance=lam)


def test_complex_correlated_modified_flow():
    """The modified flow of a complex correlated task (third Wirtinger partials of B): its Jacobian and modified
    energy against finite differences, E_h - E = (h/4) ||grad E||^2 with grad E = minus the plain rates (checked above
    against the full-matrix loss), and the local error against one gradient step (``DiscreteGD``, the plain rates'
    Euler step): O(h^2) for the plain flow, O(h^3) for the modified one."""
    from scipy.integrate import solve_ivp

    from lrnn_theory.finite_lr import DiscreteGD, compile_modified_flow
    from lrnn_theory.flow import compile_flow

    task = _complex_correlated_task(tau=1.5)
    assert not task.sums().diagonal
    flow = compile_modified_flow(task, DiscreteGD(0.3, "mean"))
    plain = compile_flow(task)
    y = flow.initial_state() + 0.1
    check_jacobian_and_energy(flow, y, 2, energy=flow.modified_energy)
    grad = plain.rates(0, y).reshape(2, 6)
    np.testing.assert_allclose(flow.modified_energy(y) - flow.energy(y), flow.step / 4 * np.sum(grad**2, axis=1),
                               rtol=1e-10)
    errors = {"plain": [], "modified": []}
    y0 = plain.initial_state()
    for lr in (0.02, 0.01, 0.005):
        h = lr * task.tau
        stepped = y0 + h * plain.rates(0, y0)
        for name, f in (("plain", plain), ("modified", compile_modified_flow(task, lr))):
            sol = solve_ivp(f.rates, (0, h), y0, method="DOP853", rtol=1e-13, atol=1e-15)
            errors[name].append(np.max(np.abs(sol.y[:, -1] - stepped)))
    assert np.allclose(-np.diff(np.log2(errors["plain"])), 2.0, atol=0.15), errors
    assert np.allclose(-np.diff(np.log2(errors["modified"])), 3.0, atol=0.15), errors


def test_complex_white_covariance_is_todays_flow():
    """A complex task with an identity covariance is today's task bit for bit; a near-white covariance takes the
    full-G path (quadratic forms in the powers of conj b) and gives the same trajectory to rounding."""
    from lrnn_theory import Task, integrate

    kw = dict(T=5, delta=[1.0, 0.5], lam=[0.7, 0.9], lambda_phase=[0.4, -0.9], init={"a": 0.2, "b": 0.1 + 0.1j,
                                                                                     "c": 0.2})
    plain = Task.from_family("inverse_exponential", **kw)
    white = Task.from_family("inverse_exponential", input_covariance=np.eye(5), **kw)
    near = Task.from_family("inverse_exponential", input_covariance={"lag": [1.0, 1e-15]}, **kw)
    assert plain.is_complex and not near.sums().diagonal
    # t = 2 (not 20): u of mode 0 goes 0.04 -> 0.94, the learning transient; the rest is the settled end point
    a, b, c = integrate(plain, 2.0), integrate(white, 2.0), integrate(near, 2.0)
    assert np.array_equal(a.u, b.u) and np.array_equal(a.b, b.b)
    np.testing.assert_allclose(c.u, a.u, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(c.b, a.b, rtol=1e-12, atol=1e-12)
    # the modified flow (0.45 s to t = 2 per run) to t = 1: u of mode 0 reaches 0.29, mid-transient
    modified = [integrate(t, 1.0, lr_correction=0.05).u for t in (near, plain)]
    np.testing.assert_allclose(modified[0], modified[1], rtol=1e-11, atol=1e-12)
