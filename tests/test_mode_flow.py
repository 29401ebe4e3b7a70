"""The derived mode flow against independent computations: sums over steps, finite differences of the full-matrix
loss of an aligned network, numerical integration (conservation, monotone energy, fixed points)."""
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import finite_difference_gradient, full_matrix_loss, random_orthogonal, rates_from_residuals

from lrnn_theory import DivergenceError, LrnnInputError, Task, compile_flow, integrate
from lrnn_theory.derivations import mode_flow as mf
from lrnn_theory.task_sums import TaskSums
from lrnn_theory.solvers import BDF, LSODA, blocks_to_banded


def test_odes_are_minus_tau_gradient_of_energy():
    flow = mf.derive_mode_flow()
    for v in mf.STATE:
        assert sp.simplify(flow.tau_rates[v] + mf.tau * sp.diff(flow.energy, v)) == 0
    assert flow.conserved_rate == 0


@pytest.mark.parametrize("T", [1, 2, 3, 5])
def test_sum_form_equals_task_sum_form_symbolically(T):
    """Eqs. (5)-(7) written as explicit sums, expanded for concrete T, equal the A(b), B(b) form."""
    s_vals = sp.symbols(f"s1:{T + 1}")
    A_expr = sum(s_vals[k - 1] * mf.b ** (T - k) for k in range(1, T + 1))
    B_expr = sum(mf.b ** (2 * (T - k)) for k in range(1, T + 1))
    flow = mf.derive_mode_flow()
    sum_form = mf.derive_mode_odes_sum_form()
    for v in mf.STATE:
        ab_form = flow.tau_rates[v].subs({mf.A(mf.b): A_expr, mf.B(mf.b): B_expr}).doit()
        explicit = sum_form[v].subs(mf.T, T).doit()
        explicit = explicit.replace(lambda e: isinstance(e, sp.Indexed), lambda e: s_vals[int(e.indices[0]) - 1])
        assert sp.expand(ab_form - explicit) == 0


@pytest.mark.parametrize("K,T,N_h", [(1, 1, 1), (2, 3, 2), (3, 4, 3), (2, 5, 4)])
def test_odes_equal_finite_difference_gradient_of_full_matrix_loss(K, T, N_h):
    """Aligned network W_x = R diag(a) V^T, W_h = R diag(b) R^T, W_y = U diag(c) R^T: the full-matrix gradient,
    projected on the modes, equals the derived ODEs, and has no off-diagonal part."""
    rng = np.random.default_rng(K * 100 + T)
    U, V = random_orthogonal(K, rng), random_orthogonal(K, rng)
    R = random_orthogonal(N_h, rng)[:, :K]
    s = rng.uniform(0.2, 1.5, (K, T))
    a, b, c = rng.uniform(0.3, 1.0, K), rng.uniform(-0.9, 0.9, K), rng.uniform(0.3, 1.0, K)
    sigmas = [U @ np.diag(s[:, i]) @ V.T for i in range(T)]
    Wx, Wh, Wy = R @ np.diag(a) @ V.T, R @ np.diag(b) @ R.T, U @ np.diag(c) @ R.T
    gx = finite_difference_gradient(lambda W: full_matrix_loss(W, Wh, Wy, sigmas), Wx)
    gh = finite_difference_gradient(lambda W: full_matrix_loss(Wx, W, Wy, sigmas), Wh)
    gy = finite_difference_gradient(lambda W: full_matrix_loss(Wx, Wh, W, sigmas), Wy)
    proj_x, proj_h, proj_y = R.T @ gx @ V, R.T @ gh @ R, U.T @ gy @ R
    flow = compile_flow(Task(s, init={"a": a, "b": b, "c": c}))
    rates = flow.rates(0.0, flow.initial_state())
    np.testing.assert_allclose(-np.diag(proj_x), rates[0::3], atol=1e-7)
    np.testing.assert_allclose(-np.diag(proj_h), rates[1::3], atol=1e-7)
    np.testing.assert_allclose(-np.diag(proj_y), rates[2::3], atol=1e-7)
    for P in (proj_x, proj_h, proj_y):
        assert np.max(np.abs(P - np.diag(np.diag(P)))) < 1e-7


def test_compiled_jacobian_matches_finite_differences():
    rng = np.random.default_rng(3)
    task = Task(rng.uniform(0, 1, (4, 6)), init={"a": rng.uniform(0.2, 1, 4), "b": rng.uniform(-0.9, 0.9, 4),
                                                  "c": rng.uniform(0.2, 1, 4)}, tau=2.5)
    flow = compile_flow(task)
    y = flow.initial_state()
    dense = np.zeros((y.size, y.size))
    for j in range(y.size):
        e = np.zeros_like(y)
        e[j] = 1e-6
        dense[:, j] = (flow.rates(0, y + e) - flow.rates(0, y - e)) / 2e-6
    blocks = flow.jacobian_blocks(0, y)
    for k in range(task.K):
        np.testing.assert_allclose(blocks[k], dense[3 * k:3 * k + 3, 3 * k:3 * k + 3], atol=1e-7)
    # Banded storage and the sparse matrix hold the same (block-diagonal) Jacobian.
    packed = blocks_to_banded(blocks)
    for i in range(y.size):
        for j in range(max(0, i - 2), min(y.size, i + 3)):
            assert packed[2 + i - j, j] == pytest.approx(dense[i, j], abs=1e-7)
    np.testing.assert_allclose(flow.jacobian_sparse(0, y).toarray(), dense, atol=1e-7)


def test_task_sums_with_general_coefficients_and_weights_match_direct_sums():
    """The engine's entry point: any coefficients of A and weights of B per power of b (every-step tasks etc.)."""
    rng = np.random.default_rng(2)
    alpha = rng.normal(size=(4, 6))
    w = rng.uniform(0.5, 3.0, size=6)
    b = np.array([0.0, 0.4, -0.9, 1.2])
    sums = TaskSums(alpha, w).evaluate(b, second=True)
    bs = sp.Symbol("b")
    for m in range(4):
        A_sym = sum(float(alpha[m, k]) * bs ** k for k in range(6))
        B_sym = sum(float(w[k]) * bs ** (2 * k) for k in range(6))
        expected = (A_sym, A_sym.diff(bs), A_sym.diff(bs, 2), B_sym, B_sym.diff(bs), B_sym.diff(bs, 2))
        for num, expr in zip(sums, expected):
            assert num[m] == pytest.approx(float(expr.subs(bs, b[m])), rel=1e-12, abs=1e-12)


def test_task_sums_match_direct_sums_including_b_zero():
    rng = np.random.default_rng(1)
    s = rng.normal(size=(5, 7))
    b = np.array([0.0, 0.5, -0.8, 1.0, 1.1])
    A0, A1, A2, B0, B1, B2 = Task(s).sums().evaluate(b, second=True)
    bs = sp.Symbol("b")
    for m in range(5):
        A_sym = sum(float(s[m, i - 1]) * bs ** (7 - i) for i in range(1, 8))
        B_sym = sum(bs ** (2 * (7 - i)) for i in range(1, 8))
        for num, expr in ((A0, A_sym), (A1, A_sym.diff(bs)), (A2, A_sym.diff(bs, 2)),
                          (B0, B_sym), (B1, B_sym.diff(bs)), (B2, B_sym.diff(bs, 2))):
            assert num[m] == pytest.approx(float(expr.subs(bs, b[m])), rel=1e-12, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(T=st.integers(1, 12), K=st.integers(1, 4), seed=st.integers(0, 2**31 - 1),
       tau=st.floats(0.1, 10.0))
def test_compiled_rates_equal_residual_sums(T, K, seed, tau):
    rng = np.random.default_rng(seed)
    s = rng.uniform(-2, 2, (K, T))
    a, b, c = rng.uniform(-1.5, 1.5, K), rng.uniform(-1.2, 1.2, K), rng.uniform(-1.5, 1.5, K)
    flow = compile_flow(Task(s, init={"a": a, "b": b, "c": c}, tau=tau))
    rates = flow.rates(0.0, flow.initial_state())
    ref = rates_from_residuals(s, a, b, c, tau)
    for got, want in zip((rates[0::3], rates[1::3], rates[2::3]), ref):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


@settings(max_examples=12, deadline=None)
@given(T=st.integers(1, 8), seed=st.integers(0, 2**31 - 1))
def test_flow_conserves_a2_minus_c2_and_never_increases_energy(T, seed):
    rng = np.random.default_rng(seed)
    K = 3
    task = Task(rng.uniform(-1, 1.5, (K, T)),
                init={"a": rng.uniform(-0.6, 0.6, K), "b": rng.uniform(-0.6, 0.6, K), "c": rng.uniform(-0.6, 0.6, K)})
    # t = 10 (output spacing 0.1 as before over t = 30): the same largest drift of a^2 - c^2 (1.2e-10) over 30
    # drawn tasks, at about half the cost
    traj = integrate(task, 10.0, n_points=101, method=LSODA(rtol=1e-11, atol=1e-12))
    q = traj.a**2 - traj.c**2
    assert np.max(np.abs(q - q[0])) < 1e-8
    assert np.all(np.diff(traj.total_energy) <= 1e-10)


@pytest.mark.parametrize("family,kw,b_star", [("constant", {"delta": 1.3}, 1.0),
                                              ("inverse_exponential", {"delta": 0.8, "lam": 0.6}, 0.6),
                                              ("inverse_exponential", {"delta": 1.2, "lam": -0.5}, -0.5)])
def test_zero_loss_solutions_are_fixed_points(family, kw, b_star):
    u_star = kw["delta"]
    task = Task.from_family(family, T=6, **kw, init={"a": np.sqrt(u_star), "b": b_star, "c": np.sqrt(u_star)})
    flow = compile_flow(task)
    y = flow.initial_state()
    assert np.max(np.abs(flow.rates(0, y))) < 1e-12
    assert flow.energy(y)[0] < 1e-25
    # and the flow from a small initialisation finds them
    traj = integrate(task.with_init(a=0.1, b=0.1 * np.sign(b_star), c=0.1), 400.0)
    assert traj.b[-1, 0] == pytest.approx(b_star, abs=1e-5)
    assert traj.u[-1, 0] == pytest.approx(u_star, abs=1e-5)


def test_solvers_agree_with_each_other():
    task = Task.exponential(delta=[1.0, 0.5], lam=[0.7, 0.9], T=5)
    # t = 12 (not 20): past both fast rises (b_1 to 1.10 of 1.11 near t = 8, b_0 from 0.56 to 1.23 over t = 10-12);
    # the slow approach of b_0 to 1/0.7 after it took most of RK45's and Radau's steps. The solvers agree to ~4e-9,
    # 250x inside the 1e-6 asserted
    ref = integrate(task, 12.0, n_points=25, method="RK45", rtol=1e-10, atol=1e-12)
    for method in ("LSODA", BDF(rtol=1e-10, atol=1e-12), "radau"):
        traj = integrate(task, 12.0, n_points=25, method=method, rtol=1e-10, atol=1e-12)
        assert np.max(np.abs(traj.b - ref.b)) < 1e-6
        assert np.max(np.abs(traj.u - ref.u)) < 1e-6


def test_converged_tol_stops_at_the_fixed_point():
    task = Task.inverse_exponential(delta=1.0, lam=0.5, T=4)
    traj = integrate(task, 1e4, converged_tol=1e-10)
    assert traj.t[-1] < 1e4
    assert traj.info["status"] == 1
    assert traj.b[-1, 0] == pytest.approx(0.5, abs=1e-8)


def test_runaway_recurrent_mode_is_reported_with_time_and_mode():
    """Dirac task with beta > kappa, T = 6: the recurrent branch has no finite minimiser and b grows without bound."""
    task = Task.dirac(beta=[0.3, 2.0], kappa=0.5, T=6, init={"a": 0.5, "b": [0.1, 1.2], "c": 0.5})
    with pytest.raises(DivergenceError) as err:
        integrate(task, 1e7)
    assert err.value.mode == 1
    assert 0 < err.value.time < 1e7
    assert "mode 1" in str(err.value)


def test_overflow_on_long_sequences_is_reported_not_nan():
    task = Task(np.ones((3, 2000)), init={"a": 0.5, "b": [0.5, 0.9, 1.3], "c": 0.5})
    with pytest.raises(DivergenceError) as err:
        integrate(task, 10.0)
    assert err.value.mode == 2 and err.value.time == 0.0
    assert "already beyond divergence_threshold" in str(err.value)
    with pytest.raises(DivergenceError) as err:  # past the gain check, b^(2T-2) overflows in the task sums
        integrate(task, 10.0, divergence_threshold=1e300)
    assert err.value.mode == 2
    assert "overflowed" in str(err.value) and "1.3" in str(err.value)


@pytest.mark.parametrize("init,s,error", [({"a": 1e200, "c": 1e200}, 1.0, DivergenceError),
                                          ({}, 1e308, LrnnInputError), ({}, 1e300, LrnnInputError)])
def test_floating_point_trouble_is_reported_promptly(init, s, error):
    """Overflow that is not the recurrent gain (huge a, c) ends the run at once instead of retrying without end;
    singular values whose energy overflows floating point are refused up front (issue 13)."""
    with pytest.raises(error):
        integrate(Task(np.full((1, 3), s), init=init), 10.0, divergence_threshold=1e300)


def test_repeated_evaluation_outside_a_solver_is_not_a_stuck_solver():
    flow = compile_flow(Task.constant(1.0, T=4))
    y = flow.initial_state()
    first = flow.rates(0.0, y)
    for _ in range(3 * flow.MAX_CALLS_AT_ONE_TIME):
        flow.rates(0.0, y)
    np.testing.assert_array_equal(flow.rates(0.0, y), first)


def test_T1_and_b_zero_do_not_confuse_the_divergence_check():
    traj = integrate(Task([[0.5], [1.0]], init={"b": 0.0}), 50.0)
    assert traj.u[-1] == pytest.approx([0.5, 1.0], abs=1e-6)


LONG_TASKS = [
    Task.constant([1.5, 0.5], T=10_000),
    Task.inverse_exponential(delta=[1.0, 2.0], lam=[0.5, 0.999], T=10_000),
    Task.exponential(delta=2.0, lam=[0.9, 1.0001], T=10_000),
    Task.last_step(delta=1.0, kappa=0.5, T=10_000, base="exponential", lam=0.9999),
    Task.last_step(delta=0.3, kappa=2.0, T=10_000),
    Task.dirac(beta=2.0, kappa=[0.5, 1.0], T=10_000),
]


@pytest.mark.parametrize("task", LONG_TASKS, ids=lambda t: t.name)
def test_family_closed_forms_at_T_10000_equal_the_numeric_task_sums(task):
    """The task sums of long family tasks are closed forms (size independent of T) equal to the direct sums."""
    b_values = np.array([-0.999, -0.5, 0.0, 0.3, 0.9, 0.9995])
    for mode in range(task.K):
        sums = mf.derive_task_sums(task, mode)
        for key in (mf.A(mf.b), mf.B(mf.b)):
            assert sp.count_ops(sums[key]) < 40
        A_fn = sp.lambdify(mf.b, sums[mf.A(mf.b)], "math")
        B_fn = sp.lambdify(mf.b, sums[mf.B(mf.b)], "math")
        numeric = TaskSums.from_task(Task(np.repeat(task.singular_values[mode:mode + 1], b_values.size, axis=0)))
        A0, _, B0, _ = numeric.evaluate(b_values)
        np.testing.assert_allclose([A_fn(v) for v in b_values], A0, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose([B_fn(v) for v in b_values], B0, rtol=1e-8, atol=1e-12)


def test_array_task_sums_stay_unevaluated_for_long_T():
    sums = mf.derive_task_sums(Task(np.linspace(0, 1, 5000)), 0)
    assert isinstance(sums[mf.A(mf.b)], sp.Sum)
    assert sp.count_ops(sums[mf.B(mf.b)]) < 40


@pytest.mark.parametrize("T", [1, 2, 4, 7])
def test_closed_form_of_B_and_sum_form_of_energy(T):
    defs = mf.derive_sum_definitions()
    closed = defs["B_closed_form"].subs(mf.T, T)
    explicit = defs[mf.B(mf.b)].subs(mf.T, T).doit()
    assert sp.simplify(closed - explicit) == 0
    s_vals = sp.symbols(f"s1:{T + 1}")
    energy_sums = mf.derive_energy_sum_form().subs(mf.T, T).doit()
    energy_sums = energy_sums.replace(lambda e: isinstance(e, sp.Indexed), lambda e: s_vals[int(e.indices[0]) - 1])
    energy_ab = mf.derive_energy().subs({mf.A(mf.b): defs[mf.A(mf.b)].subs(mf.T, T).doit(), mf.B(mf.b): explicit,
                                         mf.S2: sum(v**2 for v in s_vals)})
    energy_ab = energy_ab.replace(lambda e: isinstance(e, sp.Indexed), lambda e: s_vals[int(e.indices[0]) - 1])
    assert sp.expand(energy_sums - energy_ab) == 0


@pytest.mark.parametrize("fmt", ["text", "latex"])
def test_printed_odes_parse_back_to_the_derivation(fmt):
    """What `lrnn derive` prints is the derivation itself: parse the printed right-hand sides back and compare."""
    from lrnn_theory.cli.reports import flow_report, latex

    text = flow_report(None, fmt)
    flow = mf.derive_mode_flow()
    if fmt == "text":
        lines = [line for line in text.splitlines() if line.startswith("tau*Derivative(")]
        assert len(lines) == 3
        names = {"A": mf.A, "B": mf.B, "a": mf.a, "b": mf.b, "c": mf.c, "tau": mf.tau}
        for line, v in zip(lines, mf.STATE):
            rhs = sp.sympify(line.split(" = ", 1)[1], locals=names)
            assert sp.simplify(rhs - flow.tau_rates[v]) == 0
    else:
        for v in mf.STATE:
            assert latex(flow.tau_rates[v]) in text  # plain names: A(b), not A{\left(b \right)}


# ---- memoised derivations ------------------------------------------------------------------------------------------
def test_a_derivation_is_derived_once_and_its_caller_cannot_change_the_next_callers_result():
    from lrnn_theory.derivations import mode_flow as flow_module

    first = mf.derive_mode_flow()
    hits = flow_module._derive_task_free_flow.cache_info().hits
    first.tau_rates[mf.a] = sp.Integer(0)   # a caller editing its result ...
    first.jacobian[0, 0] = sp.Integer(0)
    first.sums.clear()
    second = mf.derive_mode_flow()          # ... leaves the next one intact
    assert flow_module._derive_task_free_flow.cache_info().hits == hits + 1  # derived once, handed out twice
    assert second.tau_rates[mf.a] == -mf.c * (mf.a * mf.c * mf.B(mf.b) - mf.A(mf.b)) and second.sums
    assert second.jacobian[0, 0] == sp.diff(second.rates[mf.a], mf.a) != 0
    _, _, parameters = mf.derive_family_sums("dirac")  # a tuple holding a dict
    parameters.clear()
    assert set(mf.derive_family_sums("dirac")[2]) == {"beta", "kappa"}


def test_a_derivation_of_a_task_is_derived_afresh_for_each_call():
    from lrnn_theory.derivations import derivation

    calls = []

    @derivation
    def sums_of(task, mode=0):
        calls.append(task)
        return {"A": sp.Integer(len(calls))}

    task = Task.constant(delta=1.0, T=3)
    assert sums_of(task)["A"] == 1 and sums_of(task)["A"] == 2  # a task may change between calls: not memoised
    assert sums_of(3)["A"] == 3 and sums_of(3)["A"] == 3        # a value is


def test_summing_term_by_term_gives_the_sum_written_out():
    from lrnn_theory.derivations import summation_by_terms

    delta, lam = sp.symbols("delta lambda", positive=True)
    cases = [((mf.T - mf.i) * mf.b ** (2 * mf.i) + mf.i * mf.b**mf.i, (mf.i, 0, mf.T - 1)),  # every-step B by lag
             (delta**2 * (lam**mf.i - lam ** (mf.T + mf.i)) ** 2, (mf.i, 1, mf.T))]         # an extrapolation energy
    values = {mf.b: sp.Rational(3, 7), lam: sp.Rational(2, 3), delta: sp.Rational(5, 4)}
    for summand, (index, first, last) in cases:
        closed = summation_by_terms(summand, (index, first, last))
        assert not closed.has(sp.Sum)
        for T_value in (1, 6):  # exact rationals: the closed form at T against the T terms added up
            written_out = sum(summand.subs(values).subs({mf.T: T_value, index: n})
                              for n in range(int(first), int(last.subs(mf.T, T_value)) + 1))
            assert closed.subs(values).subs(mf.T, T_value) == written_out
