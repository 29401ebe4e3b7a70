"""Every-step outputs (paper App. M): tasks, sympy derivation, the one engine, and trained networks.

Independent checks: the double sums of App. M expanded by sympy against the lag coefficients; finite differences of
the full-matrix every-step loss (written out here with loops, not the package's code) against the compiled ODEs and
the harness gradients; eq. (159) as the paper prints it; trained networks against the integrated flow.
"""
import json

import numpy as np
import pytest
import sympy as sp
from reference import finite_difference_gradient, random_orthogonal, written_out

from lrnn_theory import LrnnInputError, Task, compile_flow, integrate
from lrnn_theory.cli import main
from lrnn_theory.derivations import every_step as es
from lrnn_theory.derivations import mode_flow as mf


def every_step_loss(Wx, Wh, Wy, sigmas):
    """1/2 sum_t sum_(i<=t) ||Sigma^{Y_t X_i} - W_y W_h^(t-i) W_x||_F^2, term by term (sigmas[t-1][i-1])."""
    T = len(sigmas)
    total = 0.0
    for t in range(1, T + 1):
        for i in range(1, t + 1):
            pred = Wy @ np.linalg.matrix_power(Wh, t - i) @ Wx
            total += 0.5 * np.sum((sigmas[t - 1][i - 1] - pred) ** 2)
    return total


def random_every_step(rng, K, T, low=0.2, high=1.5):
    return np.tril(rng.uniform(low, high, (K, T, T)))


# ---- tasks ----------------------------------------------------------------------------------------------------------
def test_every_step_families():
    T, d, lam = 4, 1.5, 0.6
    inv = Task.inverse_exponential(delta=d, lam=lam, T=T, outputs="every_step").singular_values[0]
    exp = Task.exponential(delta=d, lam=lam, T=T, outputs="every_step").singular_values[0]
    const = Task.constant(delta=d, T=T, outputs="every_step").singular_values[0]
    for t in range(1, T + 1):
        for i in range(1, T + 1):
            if i > t:
                assert inv[t - 1, i - 1] == exp[t - 1, i - 1] == const[t - 1, i - 1] == 0
            else:
                assert inv[t - 1, i - 1] == pytest.approx(d * lam ** (t - i))
                assert exp[t - 1, i - 1] == pytest.approx(d * lam**i)
                assert const[t - 1, i - 1] == d


def test_user_array_and_json_round_trip(tmp_path):
    s = random_every_step(np.random.default_rng(0), 2, 3)
    task = Task(s, outputs="every_step", init={"a": 0.2, "b": [0.1, 0.3], "c": 0.2}, tau=2.0, name="mine")
    assert task.K == 2 and task.T == 3 and task.every_step
    path = tmp_path / "task.json"
    task.to_json(path)
    data = json.loads(path.read_text())
    assert data["outputs"] == "every_step" and np.array(data["singular_values"]).shape == (2, 3, 3)
    back = Task.from_json(path)
    assert back.every_step and np.array_equal(back.singular_values, s) and back.tau == 2.0
    fam = Task.inverse_exponential(delta=1.0, lam=0.5, T=3, outputs="every_step")
    assert np.array_equal(Task.from_dict(fam.to_dict()).singular_values, fam.singular_values)
    assert Task(s[0], outputs="every_step").K == 1  # one (T, T) mode


@pytest.mark.parametrize("kwargs,message", [
    ({"singular_values": [[[1.0, 0.5], [0.5, 1.0]]], "outputs": "every_step"}, "s[0][0][1] = 0.5"),
    ({"singular_values": [[[1.0, 0.0], [0.5, 1.0]]]}, "needs outputs='every_step'"),
    ({"singular_values": [[1.0, 0.0, 0.0], [0.5, 1.0, 0.0]], "outputs": "every_step"}, "(K, T, T)"),
    ({"singular_values": [[1.0]], "outputs": "all"}, "parameter 'outputs'"),
])
def test_bad_every_step_tasks(kwargs, message):
    with pytest.raises(LrnnInputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]")):
        Task(**kwargs)


def test_bad_every_step_input_on_the_command_line(tmp_path, capsys):
    with pytest.raises(LrnnInputError, match="no every-step form"):
        Task.dirac(T=4, outputs="every_step")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"singular_values": [[[1, 2], [0.5, 1]]], "outputs": "every_step"}))
    assert main(["integrate", str(path), "--t-end", "1", "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "output t=1, input i=2" in err
    path.write_text(json.dumps({"family": "constant", "T": 3, "outputs": "every"}))
    assert main(["integrate", str(path), "--t-end", "1", "--out", str(tmp_path / "x.csv")]) == 2


def test_mode_energy_is_the_sum_of_squared_residuals():
    """The lag-mean form of the every-step energy (T per state) against the T^2 residuals, near zero loss too."""
    from lrnn_theory.trajectory import mode_energy

    rng = np.random.default_rng(0)
    s = random_every_step(rng, 3, 6)
    u, b = rng.uniform(-1, 1, (5, 3)), rng.uniform(-1.2, 1.2, (5, 3))
    direct = np.array([[0.5 * sum((s[k, t, i] - u[n, k] * b[n, k] ** (t - i)) ** 2 for t in range(6)
                                  for i in range(t + 1)) for k in range(3)] for n in range(5)])
    np.testing.assert_allclose(mode_energy(s, u, b, np.ones_like(u), 1.0), direct, rtol=1e-12)
    task = Task.inverse_exponential(delta=1.0, lam=0.7, T=30, outputs="every_step")
    near = mode_energy(task.singular_values, np.array([1.0 + 1e-9]), np.array([0.7]), np.array([1.0]), 2.0)
    residual = 1e-9 * np.tril(0.7 ** np.subtract.outer(np.arange(30), np.arange(30)))  # u b^(t-i) - s_(t,i)
    assert near[0] == pytest.approx(0.25 * np.sum(residual**2), rel=1e-5, abs=0)


# ---- derivation -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("T", [1, 2, 3, 5])
def test_sum_coefficients_are_the_double_sums(T):
    """alpha_k = sum_t s_(t,t-k) and w_k = T - k, from sympy's expansion of the double sums, and numerically."""
    conc = es.concrete_sum_coefficients(T)
    assert conc["A_difference"] == 0 and conc["B_difference"] == 0
    rng = np.random.default_rng(T)
    s = random_every_step(rng, 2, T)
    alpha, w = Task(s, outputs="every_step").sum_coefficients()
    for mode in range(2):
        values = {sym: s[mode, t - 1, i - 1] for (t, i), sym in conc["s"].items()}
        A_poly = sp.Poly(conc["A"].subs(values), mf.b)
        B_poly = sp.Poly(conc["B"], mf.b)
        for k in range(T):
            assert float(A_poly.coeff_monomial(mf.b**k)) == pytest.approx(alpha[mode, k], abs=1e-12)
            assert float(B_poly.coeff_monomial(mf.b ** (2 * k))) == w[k] == T - k


def test_symbolic_T_task_sums_and_odes():
    coeffs = es.derive_sum_coefficients()
    assert coeffs["w_k"] == mf.T - es.k
    assert coeffs["B_check"] == 0 and coeffs["B_at_1_check"] == 0
    for T in (1, 2, 4):
        assert all(v == 0 for v in es.check_ode_sum_form(T).values())


def test_regulariser_is_eq_159():
    split = es.derive_energy_split()
    assert split["paper_difference"] == 0
    assert sp.simplify(split["regulariser_at_1"] - mf.a**2 * mf.c**2 * mf.T * (mf.T + 1) / (4 * mf.tau)) == 0
    # The data term plus the regulariser is the energy, summand by summand.
    (data,), (reg,), (energy,) = (x.atoms(sp.Sum) for x in (split["data"], split["regulariser_sum"], split["energy"]))
    assert sp.expand(data.function + reg.function - energy.function) == 0
    # Numeric: the lambdified eq. (159) against the series sum_k (T - k) b^(2k), also next to b^2 = 1.
    from lrnn_theory.regularisation import energy_split, regulariser

    b = np.array([-1.0, -0.5, 0.0, 0.3, 0.99999, 1.0, 1.00001, 1.3])
    for T in (1, 3, 7):
        series = np.array([np.sum((T - np.arange(T)) * x ** (2 * np.arange(T))) for x in b])
        np.testing.assert_allclose(regulariser(0.7, b, T, tau=2.0, every_step=True), 0.49 * series / 4.0,
                                   rtol=1e-9)
    task = Task(random_every_step(np.random.default_rng(1), 3, 4), outputs="every_step",
                init={"a": [0.3, 0.5, 0.9], "b": [0.2, -0.7, 1.1], "c": [0.4, 0.6, 0.2]})
    data_term, reg_term = energy_split(task.singular_values, task.init.a, task.init.b, task.init.c)
    np.testing.assert_allclose(data_term + reg_term, compile_flow(task).energy(compile_flow(task).initial_state()),
                               rtol=1e-10)


@pytest.mark.parametrize("T", [2, 4])
def test_flow_field_derivatives_in_closed_form(T):
    """Eq. (158): the m-th b-derivative of g = u A' - u^2 B'/2 by falling factorials equals sympy's diff."""
    field = es.derive_flow_field()
    lag_form = written_out(field["lag_form"].subs(mf.T, T))  # doit's sums term by term, 3x faster
    m = next(x for x in field["derivative"].free_symbols if x.name == "m")
    by_diff = lag_form
    for order in range(4):
        closed = written_out(field["derivative"].subs({mf.T: T, m: order}))
        assert sp.expand(by_diff - closed) == 0
        by_diff = sp.diff(by_diff, mf.b)  # the next order: one more diff, not order + 1 diffs of the lag form
    # The polynomial of a concrete task is the lag form with its alpha_k.
    s = [[1.0, 0, 0, 0], [0.5, 1.0, 0, 0], [0.25, 0.5, 1.0, 0], [0.1, 0.2, 0.3, 0.4]][:T]
    s = [row[:T] for row in s]
    alphas = Task(np.array(s), outputs="every_step").sum_coefficients()[0][0]
    direct = lag_form.subs({es.alpha[k]: alphas[k] for k in range(T)}).subs(es.u, 0.3)
    assert sp.expand(es.flow_field_polynomial(s, 0.3) - direct).free_symbols <= {mf.b}
    assert all(abs(float(c)) < 1e-12 for c in sp.Poly(sp.expand(es.flow_field_polynomial(s, 0.3) - direct),
                                                      mf.b).all_coeffs())


def test_zero_loss_solutions_symbolic():
    inv = es.derive_zero_loss_solution("inverse_exponential")
    assert (inv["u"], inv["b"], inv["residual"], inv["condition"]) == (es.delta, es.lam, 0, sp.true)
    assert es.derive_zero_loss_solution("constant")["b"] == 1
    exp = es.derive_zero_loss_solution("exponential")
    assert exp["residual"] != 0 and exp["condition"] == sp.Eq(es.lam, 1)


@pytest.mark.parametrize("family,delta,lam,T", [("inverse_exponential", 1.3, 0.6, 4),
                                                ("inverse_exponential", 0.7, 1.2, 3),
                                                ("constant", 0.8, None, 5)])
def test_zero_loss_solutions_are_fixed_points(family, delta, lam, T):
    from lrnn_theory.stability import solve_task

    b_star = 1.0 if lam is None else lam
    root = np.sqrt(delta)
    task = Task.from_family(family, T=T, delta=delta, lam=lam, outputs="every_step",
                            init={"a": root, "b": b_star, "c": root})
    flow = compile_flow(task)
    y = flow.initial_state()
    assert np.max(np.abs(flow.rates(0.0, y))) < 1e-12
    assert flow.energy(y)[0] < 1e-25
    sol = solve_task(task)
    assert sol.zero_loss[0] and sol.b[0] == pytest.approx(b_star) and sol.u[0] == pytest.approx(delta)
    # The exponential profile delta lambda^i has none with outputs at every step.
    assert not solve_task(Task.exponential(delta=1.0, lam=0.6, T=T, outputs="every_step")).zero_loss[0]


# ---- the engine ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("K,T,N_h", [(1, 1, 1), (2, 3, 2), (2, 4, 3)])
def test_odes_equal_finite_difference_gradient_of_full_matrix_every_step_loss(K, T, N_h):
    rng = np.random.default_rng(10 * K + T)
    U, V = random_orthogonal(K, rng), random_orthogonal(K, rng)
    R = random_orthogonal(N_h, rng)[:, :K]
    s = random_every_step(rng, K, T)
    a, b, c = rng.uniform(0.3, 1.0, K), rng.uniform(-0.9, 0.9, K), rng.uniform(0.3, 1.0, K)
    sigmas = [[U @ np.diag(s[:, t, i]) @ V.T for i in range(T)] for t in range(T)]
    Wx, Wh, Wy = R @ np.diag(a) @ V.T, R @ np.diag(b) @ R.T, U @ np.diag(c) @ R.T
    gx = finite_difference_gradient(lambda W: every_step_loss(W, Wh, Wy, sigmas), Wx)
    gh = finite_difference_gradient(lambda W: every_step_loss(Wx, W, Wy, sigmas), Wh)
    gy = finite_difference_gradient(lambda W: every_step_loss(Wx, Wh, W, sigmas), Wy)
    proj = (R.T @ gx @ V, R.T @ gh @ R, U.T @ gy @ R)
    flow = compile_flow(Task(s, outputs="every_step", init={"a": a, "b": b, "c": c}))
    rates = flow.rates(0.0, flow.initial_state())
    for j, P in enumerate(proj):
        np.testing.assert_allclose(-np.diag(P), rates[j::3], atol=1e-7)
        assert np.max(np.abs(P - np.diag(np.diag(P)))) < 1e-7
    # The energy is the loss (tau = 1).
    assert flow.energy(flow.initial_state()).sum() == pytest.approx(every_step_loss(Wx, Wh, Wy, sigmas), rel=1e-10)


def test_harness_gradients_equal_finite_differences():
    """Population (lag targets and weights) and sample BPTT gradients of unaligned weights, and their losses."""
    from lrnn_theory.validation.data import sample_targets, task_correlations, whitened_inputs
    from lrnn_theory.validation.network import LRNN

    rng = np.random.default_rng(5)
    T, N_x, N_h, N_y = 3, 2, 3, 2
    C = rng.standard_normal((T, T, N_y, N_x))  # future-input correlations too: the network cannot fit them
    sigmas = [[C[t, i] for i in range(T)] for t in range(T)]
    W = [rng.standard_normal(shape) * 0.5 for shape in ((N_h, N_x), (N_h, N_h), (N_y, N_h))]
    net = LRNN(*W)
    loss, grads = net.loss_and_grad_population_every_step(C)
    future = 0.5 * sum(np.sum(C[t, i] ** 2) for t in range(T) for i in range(t + 1, T))
    assert loss == pytest.approx(every_step_loss(*W, sigmas) + future, rel=1e-12)
    fd = [finite_difference_gradient(lambda M, j=j: every_step_loss(*[M if q == j else W[q] for q in range(3)], sigmas),
                                     W[j]) for j in range(3)]
    for g, f in zip(grads, fd):
        np.testing.assert_allclose(g, f, atol=1e-7)
    X = whitened_inputs(rng, T * N_x + 3, T, N_x)
    Y = sample_targets(X, C)
    assert Y.shape == (T * N_x + 3, T, N_y)
    loss_s, grads_s = net.loss_and_grad_samples(X, Y)
    assert loss_s == pytest.approx(loss, rel=1e-10)
    for g, f in zip(grads_s, fd):
        np.testing.assert_allclose(g, f, atol=1e-7)
    assert np.allclose(net.forward_every_step(X)[:, -1], net.forward(X))
    s = random_every_step(rng, 2, T)
    U, V = random_orthogonal(2, rng), random_orthogonal(2, rng)
    assert np.allclose(task_correlations(s, U, V)[2, 1], U @ np.diag(s[:, 2, 1]) @ V.T)


@pytest.mark.parametrize("family,lam", [("constant", None), ("inverse_exponential", 0.6), ("exponential", 1.3)])
def test_T1_every_step_equals_final_output_exactly(family, lam):
    kw = {"delta": 1.2, "lam": lam, "T": 1, "init": {"a": 0.2, "b": 0.4, "c": 0.3}}
    final = Task.from_family(family, **kw)
    every = Task.from_family(family, outputs="every_step", **kw)
    assert np.array_equal(every.singular_values[:, 0, :], final.singular_values)
    tf, te = integrate(final, 2.0), integrate(every, 2.0)  # identical runs: a short one shows it
    for q in ("t", "a", "b", "c", "energy"):
        assert np.array_equal(getattr(tf, q), getattr(te, q))
    from lrnn_theory.validation import simulate

    sf = simulate(final, lr=0.01, steps=50, record_every=10)
    se = simulate(every, lr=0.01, steps=50, record_every=10)
    for q in ("a", "b", "c"):
        np.testing.assert_allclose(getattr(sf, q), getattr(se, q), rtol=1e-13, atol=1e-15)


@pytest.mark.slow
def test_every_step_task_sums_speed_up_learning():
    """Every output carries the last-step SV: A(b) = T delta at b = 0 against delta, so u is learned T times faster."""
    from lrnn_theory.learning_order import predict_learning_order

    final = Task.inverse_exponential(delta=1.0, lam=0.5, T=4, name="final")
    every = Task.inverse_exponential(delta=1.0, lam=0.5, T=4, name="every", outputs="every_step")
    pred = predict_learning_order([final, every])
    assert [pred.labels[k] for k in pred.order] == ["every#1", "final#0"]
    assert pred.discounted_sum[1] > 3 * pred.discounted_sum[0]
    np.testing.assert_allclose(pred.final_b, [0.5, 0.5], atol=1e-6)


def test_frozen_solutions_match_the_ode():
    """Logistic u(t) with b frozen (eq. 157) and the windowed Taylor series of b with u frozen (eq. 158)."""
    from scipy.integrate import solve_ivp

    from lrnn_theory.derivations import frozen as io
    from lrnn_theory.frozen import integrate_recurrent_taylor, task_sums_at

    task = Task.inverse_exponential(delta=1.0, lam=0.6, T=4, outputs="every_step", init={"a": 0.2, "b": 0.3, "c": 0.2})
    flow = compile_flow(task)
    times = np.linspace(0, 2, 9)
    for frozen, moving in ((1, (0, 2)), ((0, 2), 1)):
        mask = np.zeros(3)
        mask[list(np.atleast_1d(moving))] = 1
        sol = solve_ivp(lambda s, y: mask * flow.rates(s, y), (0, 2), flow.initial_state(), t_eval=times,
                        rtol=1e-11, atol=1e-13)
        if frozen == 1:
            A, B = task_sums_at(task, task.init.b)
            logistic = sp.lambdify((io.t, io.A, io.B, io.u0, io.tau), es.derive_io_solution()["u_of_t"])
            np.testing.assert_allclose(logistic(times, A[0], B[0], 0.04, 1.0), sol.y[0] * sol.y[2], atol=1e-8)
        else:
            taylor = integrate_recurrent_taylor(task, times, window=0.01, order=5)
            np.testing.assert_allclose(taylor.b[:, 0], sol.y[1], atol=1e-8)


def test_sweep_and_extrapolation_accept_every_step_tasks():
    from lrnn_theory.extrapolation import family_extrapolation, network_extrapolation_energy
    from lrnn_theory.stability import solve_task
    from lrnn_theory.sweeps import IntegrationOptions, TaskGrid, sweep
    from lrnn_theory.validation.network import LRNN

    lams = [0.5, 0.9, 1.3]
    res = sweep(TaskGrid("exponential", 4, {"lambda": lams}, fixed={"delta": 1.0}, outputs="every_step"),
                IntegrationOptions(t_end=200.0))
    sol = solve_task(Task.exponential(delta=1.0, lam=lams, T=4, outputs="every_step"))
    np.testing.assert_allclose(res.b, sol.b, atol=1e-5)
    np.testing.assert_allclose(res.energy, sol.energy, atol=1e-8)
    ext = family_extrapolation("mean", 4, [2, 6, 9], outputs="every_step")
    assert ext["max_abs_error"] < 1e-12 and ext["energy"][1] > 0
    # The mean solution (b = 1, u = 1/4) run by a network at T' = 6 with outputs at every step.
    rng = np.random.default_rng(0)
    U, V, R = (random_orthogonal(2, rng) for _ in range(3))
    net = LRNN.aligned([0.5, 0.5], [1.0, 1.0], [0.5, 0.5], U, V, R)
    s6 = np.repeat(Task.constant(delta=1 / 6, T=6, outputs="every_step").singular_values, 2, axis=0)
    assert network_extrapolation_energy(net, s6, U, V) == pytest.approx(2 * ext["energy"][1], rel=1e-10)


# ---- trained networks -------------------------------------------------------------------------------------------
def test_aligned_population_training_converges_to_the_flow_at_first_order():
    from lrnn_theory.validation import simulate

    task = Task.inverse_exponential(delta=1.0, lam=0.6, T=4, outputs="every_step", init={"a": 0.3, "b": 0.2, "c": 0.3})
    errors, theory = [], None
    for lr in (0.004, 0.002):
        sim = simulate(task, lr=lr, steps=int(round(4.0 / lr)), record_every=int(round(0.2 / lr)))
        if theory is None:  # both runs record at t = 0, 0.2, ..., 4: one integration serves both
            # rtol 1e-9 (3x cheaper than 1e-11): 1e-6 of the errors measured (>= 1e-3)
            theory = integrate(task, sim.t[-1], t_eval=sim.t, rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(sim.t, theory.t, rtol=1e-12)
        errors.append(max(np.max(np.abs(getattr(sim, q) - getattr(theory, q))) for q in ("a", "b", "c")))
    assert errors[0] < 0.01
    assert 1.7 < errors[0] / errors[1] < 2.3  # O(lr)


def test_samples_user_data_and_loss_conventions_give_the_population_trajectory():
    from lrnn_theory.validation import train_lrnn
    from lrnn_theory.validation.data import sample_targets, task_correlations, whitened_inputs

    s = np.array([[[1.0, 0, 0], [0.4, 0.9, 0], [0.2, 0.5, 1.1]], [[0.5, 0, 0], [0.3, 0.6, 0], [0.1, 0.2, 0.4]]])
    task = Task(s, outputs="every_step", init={"a": 0.3, "b": 0.1, "c": 0.3})
    run = {"lr": 0.005, "steps": 300, "record_every": 50, "seed": 3}
    pop = train_lrnn(task, **run)
    samples = train_lrnn(task, data="samples", **run)
    np.testing.assert_allclose(samples.trajectory.b, pop.trajectory.b, atol=1e-12)
    # Mean of 1/2 squared error over all P T N_y outputs: the same trajectory at the same time step.
    P = task.T * task.K
    mean = train_lrnn(task, data="samples", loss="mean_half", **{**run, "lr": run["lr"] * P * task.T * task.K})
    assert mean.info["dt_per_step"] == pytest.approx(pop.info["dt_per_step"])
    np.testing.assert_allclose(mean.trajectory.u, pop.trajectory.u, atol=1e-10)
    # User data Y (P, T, N_y) built from the task: the fitted task is the task (up to the order and signs of modes).
    rng = np.random.default_rng(0)
    U, V = random_orthogonal(2, rng), random_orthogonal(2, rng)
    X = whitened_inputs(rng, 12, task.T, 2)
    Y = sample_targets(X, task_correlations(task.singular_values, U, V))
    user = train_lrnn(None, X=X, Y=Y, **run)
    assert user.task.every_step and user.info["task_fit_residual"] < 1e-12
    fitted = np.abs(user.task.singular_values)
    order = np.argsort(-fitted[:, -1, -1])
    np.testing.assert_allclose(fitted[order], task.singular_values, atol=1e-12)


def test_simulate_and_validate_cli_with_an_every_step_task(tmp_path, capsys):
    path = tmp_path / "task.json"
    path.write_text(json.dumps({"family": "constant", "T": 3, "delta": 0.8, "outputs": "every_step",
                                "init": {"a": 0.3, "b": 0.3, "c": 0.3}}))
    out = tmp_path / "sim.csv"
    assert main(["validate", str(path), "--lr", "0.002", "--steps", "500", "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "outputs at every step" in text and "OK" in text
    assert out.read_text().splitlines()[0] == "t,mode,a,b,c,u,energy"


def test_derive_prints_the_every_step_result(capsys):
    assert main(["derive", "--result", "every-step", "--family", "inverse_exponential", "--T", "3", "--lambda", "0.5",
                 "--outputs", "every_step", "--format", "text"]) == 0
    text = capsys.readouterr().out
    assert "E_reg - eq. (159) = 0" in text and "zero loss exists iff: Eq(lambda, 1)" in text
    assert "A(b) = 0.25*b**2 + 1.0*b + 3.0" in text and "B(b) = b**4 + 2*b**2 + 3" in text
    assert main(["derive", "--result", "flow", "--family", "constant", "--T", "3", "--outputs", "every_step",
                 "--format", "text"]) == 0
    assert "B(b) = b**4 + 2*b**2 + 3" in capsys.readouterr().out


@pytest.mark.slow
def test_figM_quick(tmp_path):
    from lrnn_theory.validation.figures import reproduce

    data = reproduce("figM", tmp_path, quick=True)
    assert (tmp_path / "figM.png").exists() and data["max_abs_error"] < 0.06


# ---- complex (rotational) every-step tasks: block-complex data ------------------------------------------------------
COMPLEX_EVERY_STEP = {"family": "inverse_exponential", "T": 4, "delta": [1.0, 0.6], "lambda": [0.7, 0.9],
                      "lambda_phase": [0.4, -0.9], "outputs": "every_step"}


def test_complex_every_step_set_up_is_the_explicit_block_data():
    """Sigma^{Y_t X_i} = U H(d_(t,i)) V^T (App. P.4.1, notes §9): each 2x2 block has eigenvalues d_(t,i) and its
    conjugate, nothing reaches an output from a later input, and the aligned block network's loss is the explicit
    every-step loss and twice the complex modes' residual sum (a block's squared norm is 2 |z|^2)."""
    from lrnn_theory.validation.training_setup import set_up

    init = {"a": [0.3 + 0.2j, 0.4], "b": [0.5 - 0.3j, 0.2 + 0.1j], "c": [0.2, 0.3 - 0.4j]}
    task = Task.from_dict({**COMPLEX_EVERY_STEP, "init": init})
    setup = set_up(task, hidden=5, seed=4)
    d, T = task.singular_values, task.T
    C, U, V = setup.data.correlations, setup.data.U, setup.data.V
    assert task.kind == "complex every-step" and C.shape == (T, T, 4, 4) and setup.data.sizes.tolist() == [2, 2]
    for t in range(T):
        for i in range(T):
            blocks = U.T @ C[t, i] @ V
            if i > t:
                assert np.max(np.abs(C[t, i])) < 1e-15
                continue
            for k, first in enumerate((0, 2)):
                block = blocks[first:first + 2, first:first + 2]
                eig = np.sort_complex(np.linalg.eigvals(block))
                np.testing.assert_allclose(eig, np.sort_complex([d[k, t, i], np.conj(d[k, t, i])]), atol=1e-12)
            assert np.max(np.abs(blocks[:2, 2:])) < 1e-12 and np.max(np.abs(blocks[2:, :2])) < 1e-12
    Wx, Wh, Wy = setup.network.weights
    a, b, c = (np.asarray(init[k], dtype=complex) for k in "abc")
    residuals = sum(abs(d[k, t, i] - c[k] * b[k] ** (t - i) * a[k]) ** 2
                    for k in range(2) for t in range(T) for i in range(t + 1))
    explicit = every_step_loss(Wx, Wh, Wy, [[C[t, i] for i in range(T)] for t in range(T)])
    loss, _ = setup.objective("sum_half").loss_and_grad(setup.network)
    assert loss == pytest.approx(explicit, rel=1e-12) and loss == pytest.approx(residuals, rel=1e-12)
    for got, want in zip(setup.read_modes(setup.network), (a, b, c)):
        np.testing.assert_allclose(got, want, atol=1e-14)


def test_aligned_block_training_on_a_complex_every_step_task_converges_to_the_flow_at_first_order():
    from lrnn_theory.validation import train_lrnn

    task = Task.from_dict(COMPLEX_EVERY_STEP)
    errors, theory = [], None
    for lr in (0.01, 0.005):
        result = train_lrnn(task, lr=lr, steps=int(round(2.0 / lr)), record_every=int(round(0.25 / lr)))
        sim = result.trajectory
        assert result.info["block_sizes"] == [2, 2] and result.info["hidden"] == 4
        if theory is None:  # both runs record at t = 0, 0.25, ..., 2: one integration serves both
            # rtol 1e-9 (3x cheaper than 1e-11): 1e-6 of the errors measured (>= 1e-3)
            theory = integrate(task, sim.t[-1], t_eval=sim.t, rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(sim.t, theory.t, rtol=1e-12)
        errors.append(max(np.max(np.abs(getattr(sim, q) - getattr(theory, q))) for q in "abcu"))
    assert errors[0] < 0.03
    assert 1.8 < errors[0] / errors[1] < 2.2, errors  # O(lr)
    assert abs(sim.u[-1, 0] - theory.u[-1, 0]) < 1e-3 and abs(theory.u[-1, 0] - 1.0) < 1e-3  # learnt the task


@pytest.mark.parametrize("loss", ["sum_half", "sum", "mean_half", "mean"])
def test_complex_every_step_samples_and_every_loss_convention_give_the_population_trajectory(loss):
    """At the same time step dt = lr tau scale, every convention on samples and population follows one trajectory."""
    from lrnn_theory.losses import loss_scale
    from lrnn_theory.validation import train_lrnn

    task = Task.from_dict({**COMPLEX_EVERY_STEP, "init": {"a": 0.3, "b": 0.2 + 0.1j, "c": 0.3}})
    P = 20
    base = train_lrnn(task, lr=0.01, steps=100, record_every=25, n_samples=P)
    lr = 0.01 / loss_scale(loss, P, 4, task.T)
    for data in ("population", "samples"):
        run = train_lrnn(task, lr=lr, steps=100, record_every=25, n_samples=P, data=data, loss=loss)
        assert run.info["dt_per_step"] == pytest.approx(base.info["dt_per_step"], rel=1e-12)
        for q in "abc":
            np.testing.assert_allclose(getattr(run.trajectory, q), getattr(base.trajectory, q), atol=1e-10)


def test_simulate_and_validate_cli_with_a_complex_every_step_task(tmp_path, capsys):
    import re

    path = tmp_path / "ces.json"
    path.write_text(json.dumps(COMPLEX_EVERY_STEP))
    out = tmp_path / "s.csv"
    assert main(["simulate", str(path), "--lr", "0.01", "--steps", "50", "--out", str(out), "--no-progress"]) == 0
    assert "outputs at every step" in capsys.readouterr().out
    assert out.read_text().splitlines()[0] == "t,mode,a_re,a_im,b_re,b_im,c_re,c_im,u_re,u_im,energy"
    largest = []
    for lr, steps in (("0.01", "50"), ("0.005", "100")):
        assert main(["validate", str(path), "--lr", lr, "--steps", steps, "--no-progress"]) == 0
        text = capsys.readouterr().out
        assert "OK" in text
        line = re.search(r"largest \|simulation - theory\|: (.*) \(tolerance", text).group(1)
        largest.append(max(float(v) for v in re.findall(r"=([0-9.e+-]+)", line)))
    assert largest[0] < 0.03 and 1.8 < largest[0] / largest[1] < 2.2, largest
