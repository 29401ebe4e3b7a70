"""Result 1, one mode frozen: io solution with b frozen, recurrent Taylor series with u frozen, Fig. 2.

The learning order is tested in test_learning_order.py; the Fig. A1 reproduction shares the test of Fig. 2 here.

Every closed form is held against an independent computation: scipy integration of the frozen systems written from
the paper's residual sums (tests/reference.py), sympy differentiation, a chain-rule recursion that does not use
Bell polynomials, the time derivatives listed in the paper, and trained networks from the validation harness.
"""
import json

import numpy as np
import pytest
import sympy as sp
from reference import rates_from_residuals, written_out
from scipy.integrate import solve_ivp

from lrnn_theory import LrnnInputError, Task
from lrnn_theory.cli import main
from lrnn_theory.derivations import frozen as io
from lrnn_theory.derivations import recurrent_taylor as rt
from lrnn_theory.frozen import (FlowFieldPolynomial, LineSolution, compile_io_solution, frozen_b_solution,
                                frozen_io_polar, frozen_time_scales, integrate_recurrent_taylor, task_sums_at)


# ---- independent references ---------------------------------------------------------------------------------------
def frozen_b_reference(task, t):
    """u(t) from integrating (a, c) with b frozen at task.init.b, rates summed from the residuals (rtol 1e-11)."""
    s, b = task.singular_values, task.init.b
    K = task.K

    def rhs(_, y):
        a, c = y[:K], y[K:]
        da, _, dc = rates_from_residuals(s, a, b, c, task.tau)
        return np.r_[da, dc]

    sol = solve_ivp(rhs, (0, t[-1]), np.r_[task.init.a, task.init.c], t_eval=t, rtol=1e-11, atol=1e-13,
                    method="DOP853")
    return (sol.y[:K] * sol.y[K:]).T


def frozen_u_reference(task, u, t):
    """b(t) from integrating db/dt with u = a c frozen (a = u, c = 1 in the residual sums), rtol 1e-12."""
    s = task.singular_values
    ones = np.ones(task.K)

    def rhs(_, b):
        return rates_from_residuals(s, u, b, ones, task.tau)[1]

    sol = solve_ivp(rhs, (0, t[-1]), task.init.b, t_eval=t, rtol=1e-12, atol=1e-14, method="DOP853")
    return sol.y.T


# ---- io solution, b frozen ----------------------------------------------------------------------------------------
def test_io_rate_is_derived_from_the_mode_odes():
    rate = io.derive_io_rate()
    assert rate["identity"] == 0
    assert sp.simplify(rate["rate_balanced"] - 2 * io.u * (io.A - io.B * io.u)) == 0
    assert sp.simplify(rate["rate_D"] - sp.sqrt(4 * io.u**2 + io.D**2) * (io.A - io.B * io.u)) == 0


def test_balanced_solution_solves_the_logistic_and_has_the_stated_fixed_point_and_half_time():
    bal = io.derive_balanced_solution()
    ut = bal["u_of_t"]
    assert sp.simplify(io.tau * sp.diff(ut, io.t) - 2 * ut * (io.A - io.B * ut)) == 0
    assert sp.simplify(ut.subs(io.t, 0) - io.u0) == 0
    assert sp.simplify(bal["fixed_point"] - io.A / io.B) == 0
    # The half-time stated in the notes: tau/(2A) ln(u*/u0 - 1).
    vals = {io.A: 1.3, io.B: 1.7, io.u0: 0.02, io.tau: 2.0}
    stated = 2.0 / (2 * 1.3) * np.log((1.3 / 1.7) / 0.02 - 1)
    assert float(bal["half_time"].subs(vals)) == pytest.approx(stated, rel=1e-12)
    # t(u) inverts u(t).
    assert float(bal["t_of_u"].subs(vals).subs(io.u, ut.subs(vals).subs(io.t, 0.8))) == pytest.approx(0.8, rel=1e-12)


def test_unbalanced_solution_reduces_to_the_logistic_as_D_goes_to_zero():
    unb = io.derive_unbalanced_solution()
    assert unb["D0_limit_minus_logistic"] == 0
    sol = compile_io_solution()
    t = np.linspace(0, 6, 61)
    logistic = sol.u(t, 1.2, 1.5, 0.1, 0.1)
    for eps in (1e-3, 1e-5):
        near = sol.u(t, 1.2, 1.5, np.sqrt(0.01 + eps), 0.1)  # D = eps, u0 = 0.1 sqrt(0.01 + eps)
        assert np.max(np.abs(near - logistic)) < 20 * eps


@pytest.mark.parametrize("init", [
    {"a": 0.1, "b": 0.6, "c": 0.1},             # balanced, small
    {"a": 0.5, "b": 0.3, "c": 0.5},             # balanced, larger
    {"a": 0.3, "b": 0.8, "c": 0.05},            # unbalanced, D > 0
    {"a": 0.02, "b": -0.4, "c": 0.6},           # unbalanced, D < 0, b < 0
    {"a": -0.3, "b": 0.5, "c": 0.1},            # u0 < 0: crosses zero towards u* > 0
    {"a": 0.2, "b": 0.5, "c": -0.2},            # balanced with a = -c (u0 < 0, decays to 0)
    {"a": 0.2, "b": 0.5, "c": -0.2 * (1 + 1e-6)},  # a ~ -c: D ~ 1e-7, passes the saddle at u = 0 slowly
])
def test_io_solution_matches_integration_of_the_frozen_b_system(init):
    t = np.linspace(0, 8, 161)
    for task in (Task.inverse_exponential(delta=[0.5, 1.4], lam=0.7, T=5, init=init, tau=1.0),
                 Task.exponential(delta=[-0.8, 1.0], lam=0.6, T=4, init=init, tau=2.5)):  # A < 0 in one mode
        ref = frozen_b_reference(task, t)
        np.testing.assert_allclose(frozen_b_solution(task, t), ref, rtol=0, atol=1e-8)


def test_time_to_inverts_u_and_gives_the_half_time_of_the_integrated_system():
    sol = compile_io_solution()
    # Balanced, unbalanced, A < 0, and a = -c (u decays to 0 and never reaches u* = A/B > 0).
    A, B = np.array([1.1, 0.6, -0.9, 1.0]), np.array([1.3, 1.05, 1.2, 1.2])
    a0, c0 = np.array([0.1, 0.3, 0.2, 0.3]), np.array([0.1, 0.02, 0.25, -0.3])
    t = np.array([0.3, 1.7, 2.2, 1.0])
    np.testing.assert_allclose(sol.time_to(sol.u(t, A, B, a0, c0, 1.5), A, B, a0, c0, 1.5), t, rtol=1e-9)
    assert np.isinf(sol.time_to_fraction(0.5, A, B, a0, c0)[3])
    # Half-time against an event of the integrated (a, c) system.
    task = Task([[0.2, 0.9]], init={"a": 0.05, "b": 0.5, "c": 0.15})
    Ak, Bk = task_sums_at(task, task.init.b)
    target = 0.5 * Ak[0] / Bk[0]

    def rhs(_, y):
        da, _, dc = rates_from_residuals(task.singular_values, y[:1], task.init.b, y[1:])
        return np.r_[da, dc]

    event = lambda _, y: y[0] * y[1] - target  # noqa: E731
    hit = solve_ivp(rhs, (0, 50), [0.05, 0.15], events=event, rtol=1e-11, atol=1e-13).t_events[0][0]
    assert sol.time_to_fraction(0.5, Ak, Bk, 0.05, 0.15)[0] == pytest.approx(hit, rel=1e-8)
    # Unreachable targets (beyond the fixed point) take forever.
    assert np.isinf(sol.time_to(1.1 * Ak / Bk, Ak, Bk, 0.05, 0.15))


def test_io_solution_keeps_its_precision_when_a_is_close_to_minus_c():
    """Small D with u_0 < 0: u decays towards the saddle at 0, crosses it and grows to u*. The A, B, D form of the
    solution cancels to O(D^2) there (it returned non-finite values for D ~ 1e-10); the root form does not. The
    reference integrates p = a + c and m = a - c, which carry the small quantity a + c without cancellation:
    tau dp/dt = p (A - B u), tau dm/dt = -m (A - B u), u = (p^2 - m^2)/4 (from eqs. 5-7 with b frozen)."""
    sol = compile_io_solution()
    A, B, tau, a0 = 0.9, 1.2, 1.5, 0.3
    t = np.linspace(0, 100, 201)
    for gap in (1e-4, 1e-8, 1e-12):
        c0 = -a0 * (1 + gap)

        def rhs(_, y):
            p, m = y
            r = A - B * (p * p - m * m) / 4
            return [p * r / tau, -m * r / tau]

        ref = solve_ivp(rhs, (0, t[-1]), [a0 + c0, a0 - c0], t_eval=t, rtol=1e-12, atol=1e-300, method="DOP853")
        u_ref = (ref.y[0] ** 2 - ref.y[1] ** 2) / 4
        u = sol.u(t, A, B, a0, c0, tau)
        np.testing.assert_allclose(u, u_ref, rtol=1e-8, atol=1e-12)
        k = np.flatnonzero(u_ref > 0.5 * A / B)[0]  # it does reach u* eventually
        assert sol.time_to(u[k], A, B, a0, c0, tau) == pytest.approx(t[k], rel=1e-9)


def test_io_solution_root_form_is_derived_and_equivalent():
    unb = io.derive_unbalanced_solution()
    assert unb["integrand_roots_check"] == 0 and unb["R_roots_check"] == 0 and unb["w_of_u_conjugate_check"] == 0
    assert sp.simplify(unb["root_product"] + io.D**2) == 0
    assert sp.simplify(unb["w_of_ac"] - (io.a_mode + io.c_mode) ** 2) == 0
    # the root form and the A, B, D form of w(t) agree where the latter is well conditioned
    vals = {io.A: 0.7, io.B: 1.3, io.D: 0.4, io.w0: 0.9, io.z: 0.35}
    roots = dict(zip((io.w_plus, io.w_minus), unb["roots"]))
    assert float(unb["w_of_z_roots"].subs(roots).subs(vals)) == pytest.approx(float(unb["w_of_z"].subs(vals)),
                                                                             rel=1e-12)


def test_io_solution_rejects_bad_input():
    sol = compile_io_solution()
    with pytest.raises(LrnnInputError, match="'t'"):
        sol.u(-1.0, 1.0, 1.0, 0.1, 0.1)
    with pytest.raises(LrnnInputError, match="'B'"):
        sol.u(1.0, 1.0, 0.0, 0.1, 0.1)
    with pytest.raises(LrnnInputError, match="'tau'"):
        sol.u(1.0, 1.0, 1.0, 0.1, 0.1, tau=0)


# ---- recurrent mode, u frozen -------------------------------------------------------------------------------------
def test_flow_field_is_minus_tau_dE_db_of_the_explicit_energy():
    field = rt.derive_flow_field()
    for Tn in (2, 4, 6):
        energy = io.mf.derive_energy_sum_form().subs(io.mf.T, Tn).doit()
        g_energy = sp.expand((-io.mf.tau * sp.diff(energy, io.mf.b)).subs(io.mf.a, rt.u / io.mf.c))
        svals = [rt.s[k] for k in range(1, Tn + 1)]
        assert sp.expand(written_out(field["paper_form"].subs(rt.T, Tn)) - g_energy) == 0
        assert sp.expand(written_out(field["sum_form"].subs(rt.T, Tn)) - g_energy) == 0
        assert sp.expand(rt.flow_field_polynomial(svals) - g_energy) == 0


@pytest.mark.parametrize("Tn", [2, 3, 5, 7])
def test_eq49_derivatives_equal_sympy_diff(Tn):
    by_diff = rt.flow_field_polynomial([rt.s[k] for k in range(1, Tn + 1)])
    for order in range(1, 2 * Tn):  # n = 1 .. 2T-1: the (n-1)-th derivative, up to where it vanishes
        if order > 1:  # one more diff of the last derivative (not order - 1 diffs of g again)
            by_diff = sp.diff(by_diff, rt.b)
        eq49 = written_out(rt.derive_flow_field_derivative_eq49(order).subs(rt.T, Tn))
        falling = written_out(rt.derive_flow_field_derivative(order - 1).subs(rt.T, Tn))
        assert sp.expand(eq49 - by_diff) == 0, (Tn, order)
        assert sp.expand(falling - by_diff) == 0, (Tn, order)


def test_power_rule_of_the_flow_field_derivatives():
    assert all(d == 0 for d in rt.derive_power_rule())  # does not depend on T: checked once, not per T above


def test_numeric_flow_field_derivatives_match_sympy():
    rng = np.random.default_rng(3)
    Tn, K = 5, 3
    svals = rng.uniform(-1, 1.5, (K, Tn))
    u = rng.uniform(0.2, 1.5, K)
    b = rng.uniform(-0.9, 1.1, K)
    numeric = FlowFieldPolynomial(svals, u).derivatives(b, 2 * Tn)
    for k in range(K):
        g = rt.flow_field_polynomial([sp.Float(x) for x in svals[k]], sp.Float(u[k]))
        for m in range(2 * Tn):
            assert numeric[m, k] == pytest.approx(float(sp.diff(g, rt.b, m).subs(rt.b, b[k])), rel=1e-10, abs=1e-10)


def chain_rule_derivatives(order):
    """b^(n) by repeated differentiation: d/ds g_k(b(s)) = g_{k+1} b' = g_{k+1} g_0 (no Bell polynomials)."""
    g = rt.g_symbols(order + 1)
    out = [g[0]]
    for _ in range(order - 1):
        prev = out[-1]
        out.append(sp.expand(sum(sp.diff(prev, g[k]) * g[k + 1] * g[0] for k in range(order))))
    return out


def test_bell_polynomial_time_derivatives_match_the_paper_and_repeated_differentiation():
    order = 9
    bell = rt.derive_time_derivatives(order)
    chain = chain_rule_derivatives(order)
    for n in range(order):
        assert sp.expand(bell[n] - chain[n]) == 0, n + 1
    g, g1, g2, g3, g4 = rt.g_symbols(5)
    listed = [g, g1 * g, (g1**2 + g2 * g) * g, (g1**3 + 4 * g * g1 * g2 + g**2 * g3) * g,
              (g1**4 + 11 * g * g1**2 * g2 + 4 * g**2 * g2**2 + 7 * g**2 * g1 * g3 + g**3 * g4) * g]
    for n in range(5):
        assert sp.expand(bell[n] - listed[n]) == 0, n + 1


def test_compiled_time_derivatives_take_one_dimensional_and_stacked_g():
    """``compile_time_derivatives(order)(G)`` with G (order, ...): a 1-D G (one b) as well as stacked ones, the
    values of the list comprehension of c2e22bb (each row the expression broadcast to G.shape[1:]) to the bit."""
    from lrnn_theory.compiled import time_derivatives
    from lrnn_theory.frozen import compile_time_derivatives

    def c2e22bb(order, G):
        G = np.asarray(G, dtype=float)
        return np.array([np.broadcast_to(v, G.shape[1:]) for v in time_derivatives(order)(*G)])

    got = compile_time_derivatives(3)([0.5, 0.1, 0.05])
    assert got.shape == (3,) and got.tolist() == [0.5, 0.05, 0.0175] == c2e22bb(3, [0.5, 0.1, 0.05]).tolist()
    rng = np.random.default_rng(5)
    for order in (1, 2, 3, 5):
        for shape in [(order,), (order, 1), (order, 4), (order, 2, 3)]:
            G = rng.normal(size=shape)
            got = compile_time_derivatives(order)(G)
            assert got.shape == shape
            np.testing.assert_array_equal(got, c2e22bb(order, G))
            np.testing.assert_array_equal(compile_time_derivatives(order)(G.tolist()), got)


def test_taylor_series_matches_the_exact_derivatives_of_the_ode_solution():
    # At t = 0 the Taylor coefficients equal the finite-difference derivatives of a tight ODE solution.
    task = Task.inverse_exponential(delta=1.0, lam=0.7, T=4, init={"a": 1.0, "b": 0.2, "c": 1.0}, tau=1.7)
    t = np.linspace(0, 0.02, 21)
    ref = frozen_u_reference(task, np.ones(1), t)
    approx = integrate_recurrent_taylor(task, t, window=0.05, order=6).b
    np.testing.assert_allclose(approx, ref, rtol=0, atol=1e-12)


def _taylor_errors(orders, windows, t_end=1.0):
    tasks = [Task.constant(1.0, T=6), Task.inverse_exponential(1.0, 0.7, T=6), Task.exponential(1.0, 0.7, T=6)]
    task = Task(np.vstack([x.singular_values for x in tasks]), init={"a": 1.0, "b": 0.1, "c": 1.0})
    t = np.linspace(0, t_end, 101)
    ref = frozen_u_reference(task, np.ones(3), t)
    return np.array([[np.max(np.abs(integrate_recurrent_taylor(task, t, window=w, order=o).b - ref))
                      for w in windows] for o in orders])


def test_taylor_error_falls_with_order_on_a_small_window_and_with_the_window():
    errors = _taylor_errors(orders=[1, 2, 3, 4, 5, 6], windows=[0.02, 0.01])
    # Falls with the order at both windows (each order at least 2x better).
    assert np.all(errors[1:] < errors[:-1] / 2), errors
    # Halving the window divides the global error by about 2^order.
    ratios = errors[:, 0] / errors[:, 1]
    assert np.all(ratios > 0.6 * 2.0 ** np.arange(1, 7)), ratios


def test_taylor_integrator_rejects_bad_input_and_reports_divergence():
    task = Task.constant(1.0, T=6, init={"a": 1.0, "b": 0.1, "c": 1.0})
    with pytest.raises(LrnnInputError, match="'window'"):
        integrate_recurrent_taylor(task, [0, 1], window=0)
    with pytest.raises(LrnnInputError, match="'order'"):
        integrate_recurrent_taylor(task, [0, 1], order=0)
    with pytest.raises(LrnnInputError, match="'t_eval'"):
        integrate_recurrent_taylor(task, [1, 0])
    from lrnn_theory import DivergenceError

    with pytest.raises(DivergenceError, match="smaller window"):
        integrate_recurrent_taylor(task, np.linspace(0, 5, 11), window=1.0, order=2)


# ---- command line ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, keys", [
    ("fig2", ["max_abs_error", "max_abs_error_left_u", "max_abs_error_right_b", "parameters", "odes", "time_axis",
              "effect", "paper_features"]),
    ("figA1", ["max_abs_error", "tasks", "order_predicted", "order_simulated", "parameters"]),
])
def test_reproduce_quick_writes_png_and_json(tmp_path, capsys, name, keys):
    assert main(["reproduce", name, "--quick", "--out", str(tmp_path)]) == 0
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    data = json.loads((tmp_path / f"{name}.json").read_text())
    assert all(k in data for k in keys)
    assert data["quick"] is True and 0 < data["max_abs_error"] < 0.05
    if name == "figA1":
        for entry in data["tasks"].values():
            assert entry["t90_simulated"] == pytest.approx(entry["t90_predicted"], rel=0.02)
        assert data["order_predicted"] == data["order_simulated"] == ["delta=1.1, lambda=0.5", "delta=0.5, lambda=1.1"]
    else:
        assert data["parameters"]["simulation_left"]["lr"] > 0 and data["parameters"]["T"] == 6
        assert data["time_axis"]["right"]["steps"] == 4000  # quick; 40,000 as in the paper without --quick
        holds = {f["statement"]: f["holds"] for f in data["paper_features"]}
        pair = next(f for f in data["paper_features"] if f["statement"].startswith("right: blue"))
        # the paper's blue/orange pair: blue (b* = 1) cannot end below orange (b* = lambda < 1), so this must fail
        assert pair["ours"]["final_b"]["blue"] > pair["ours"]["final_b"]["orange"] and not pair["holds"]
        assert not holds["x-axis: training steps 0-40,000"]  # quick run: 4,000 steps


@pytest.mark.parametrize("result, needle", [("frozen", "logistic"), ("recurrent-taylor", "Faa di Bruno")])
def test_derive_prints_the_closed_forms(capsys, result, needle):
    assert main(["derive", "--result", result]) == 0
    out = capsys.readouterr().out
    assert needle in out
    assert ("Unbalanced" in out) if result == "frozen" else ("eq. (49)" in out)
    assert main(["derive", "--result", result, "--format", "latex"]) == 0
    latex = capsys.readouterr().out
    assert "\\frac" in latex


def test_derive_with_a_task_prints_its_numbers(capsys):
    assert main(["derive", "--result", "frozen", "--family", "inverse_exponential", "--T", "4",
                 "--delta", "1", "--lambda", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "mode 0: b=0.1" in out and "u*=A/B=" in out


def test_derivation_reports_print_the_closed_forms():
    from lrnn_theory.cli.reports import frozen_report, recurrent_taylor_report

    assert "b^(3) = g_0*(g_0*g_2 + g_1**2)" in recurrent_taylor_report(fmt="text", order=3)
    assert "u* = A/B" in frozen_report(fmt="text")


@pytest.mark.parametrize("name", ["lrnn_theory.frozen", "lrnn_theory.learning_order"])
def test_docstring_examples_run(name):
    """The examples in the docstrings are checked too (one of them printed a wrong logistic value unnoticed)."""
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# ---- every kind of task ---------------------------------------------------------------------------------------------
def links(task):
    """(output row, input step, power of b) of every link of a task: (T-1, i, T-1-i) for the final output, (t, i,
    t-i) for i <= t at every step."""
    T = task.T
    if task.every_step:
        return [(t, i, t - i) for t in range(T) for i in range(t + 1)]
    return [(None, i, T - 1 - i) for i in range(T)]


def frozen_b_wirtinger_reference(task, t):
    """u(t) with b frozen from integrating tau da/dt = conj(c) sum conj(b)^k r, tau dc/dt = conj(a) sum conj(b)^k r
    with the residuals r = s - a c b^k summed link by link (real and imaginary parts; rtol 1e-11)."""
    K, b, s = task.K, task.init.b, task.singular_values
    pairs = links(task)

    def rhs(_, y):
        a = y[0:K] + 1j * y[K:2 * K]
        c = y[2 * K:3 * K] + 1j * y[3 * K:]
        u = a * c
        total = sum(np.conj(b) ** k * ((s[:, i] if row is None else s[:, row, i]) - u * b ** k) for row, i, k in pairs)
        da, dc = np.conj(c) * total / task.tau, np.conj(a) * total / task.tau
        return np.r_[da.real, da.imag, dc.real, dc.imag]

    a0, c0 = task.init.a.astype(complex), task.init.c.astype(complex)
    sol = solve_ivp(rhs, (0, t[-1]), np.r_[a0.real, a0.imag, c0.real, c0.imag], t_eval=t, rtol=1e-11, atol=1e-13,
                    method="DOP853")
    a = sol.y[0:K] + 1j * sol.y[K:2 * K]
    c = sol.y[2 * K:3 * K] + 1j * sol.y[3 * K:]
    return (a * c).T


@pytest.mark.parametrize("kind", ["real", "complex", "every-step", "complex every-step"])
def test_frozen_b_solution_on_every_kind_against_integration_of_the_explicit_system(kind):
    rng = np.random.default_rng(7)
    K, T = 3, 4
    shape = (K, T, T) if "every-step" in kind else (K, T)
    s = rng.uniform(-0.5, 1.5, shape) + (1j * rng.uniform(-0.8, 0.8, shape) if "complex" in kind else 0)
    s = s * np.tril(np.ones((T, T))) if "every-step" in kind else s
    init = {"a": [0.1, 0.3, 0.25], "b": rng.uniform(-0.6, 0.6, K), "c": [0.1, 0.3, -0.05]}  # mode 2: |a| != |c|
    if "complex" in kind:
        init.update(a_imag=[0.1, -0.2, 0.0], c_imag=[-0.1, 0.2, 0.1], b_imag=rng.uniform(-0.4, 0.4, K))
    task = Task(s, init=init, tau=1.5, outputs="every_step" if "every-step" in kind else "final")
    assert task.kind == kind
    t = np.linspace(0, 8, 81)
    u = frozen_b_solution(task, t)
    assert np.iscomplexobj(u) == ("complex" in kind)
    np.testing.assert_allclose(u, frozen_b_wirtinger_reference(task, t), rtol=0, atol=1e-8)


def test_line_solution_is_the_polar_form_when_balanced_and_the_real_solution_for_real_modes():
    """Three derivations agree: the straight-segment solution, the polar closed form (|a| = |c|) and the real
    unbalanced solution (real a, c)."""
    line, real = LineSolution(), compile_io_solution()
    t = np.linspace(0, 6, 61)[:, None]
    A, B, tau = np.array([0.8 - 0.6j, -0.3 + 1.1j]), np.array([1.7, 1.2]), 1.3
    a0, c0 = np.array([0.1 * np.exp(0.3j), 0.05j]), np.array([0.1 * np.exp(-2.0j), 0.05])
    np.testing.assert_allclose(line.u(t, A, B, a0, c0, tau), frozen_io_polar(t, A, B, a0 * c0, tau), atol=1e-12)
    A, a0, c0 = np.array([1.1, -0.9, 0.6]), np.array([0.3, 0.2, -0.3]), np.array([0.02, 0.25, 0.1])
    np.testing.assert_allclose(line.u(t, A, B[:1], a0, c0, tau), real.u(t, A, B[:1], a0, c0, tau), atol=1e-12)
    np.testing.assert_allclose(line.time_to_fraction(0.9, A, B[0], a0, c0, tau),
                               real.time_to_fraction(0.9, A, B[0], a0, c0, tau), rtol=1e-10)


def test_line_solution_time_to_fraction_equals_an_event_of_the_integrated_system():
    """Re(u/u*) reaches 0.9: the closed-form time against an event of the integrated (a, c) system, b frozen."""
    A, B, tau = np.array([0.8 - 0.6j, 0.3 + 1.1j]), np.array([1.7, 1.2]), 1.3
    a0, c0 = np.array([0.3 + 0.1j, 0.02j]), np.array([0.05, -0.2 + 0.1j])   # unbalanced
    times = LineSolution().time_to_fraction(0.9, A, B, a0, c0, tau)
    for k in range(2):
        def rhs(_, y):
            a, c = y[0] + 1j * y[1], y[2] + 1j * y[3]
            r = A[k] - a * c * B[k]
            da, dc = np.conj(c) * r / tau, np.conj(a) * r / tau
            return [da.real, da.imag, dc.real, dc.imag]

        event = lambda _, y: np.real((y[0] + 1j * y[1]) * (y[2] + 1j * y[3]) / (A[k] / B[k])) - 0.9  # noqa: E731
        y0 = [a0[k].real, a0[k].imag, c0[k].real, c0[k].imag]
        hit = solve_ivp(rhs, (0, 100), y0, events=event, rtol=1e-12, atol=1e-14).t_events[0][0]
        assert times[k] == pytest.approx(hit, rel=1e-8)
    assert float(LineSolution().time_to_fraction(0.9, 1.0 + 0j, 1.0, 1.0, 1.0)) == 0.0  # starts beyond the fraction


def test_recurrent_taylor_refuses_complex_tasks_in_one_line():
    task = Task.from_family("inverse_exponential", T=4, delta=1.0, lam=0.5, lambda_phase=0.4)
    for call in (lambda: integrate_recurrent_taylor(task, [0.0, 0.1]), lambda: FlowFieldPolynomial(task, 1.0),
                 lambda: FlowFieldPolynomial(task.sums(), 1.0)):
        with pytest.raises(LrnnInputError, match="not defined for complex tasks: a complex b moves in the plane") as e:
            call()
        assert "\n" not in str(e.value)


def test_every_step_flow_field_is_minus_tau_dE_db_of_the_explicit_energy():
    """g(b) and g'(b) of an every-step task against central differences of the explicit energy sum over links."""
    rng = np.random.default_rng(9)
    T = 4
    task = Task(rng.uniform(-0.5, 1.5, (2, T, T)) * np.tril(np.ones((T, T))), outputs="every_step")
    u, b = np.array([0.7, -1.1]), np.array([0.4, -0.8])

    def energy(k, x):
        return 0.5 * sum((task.singular_values[k, row, i] - u[k] * x ** p) ** 2 for row, i, p in links(task))

    field = FlowFieldPolynomial(task, u)
    g = field.derivatives(b, 2)
    h = 1e-5
    for k in range(2):
        dE = (energy(k, b[k] + h) - energy(k, b[k] - h)) / (2 * h)
        d2E = (energy(k, b[k] + h) - 2 * energy(k, b[k]) + energy(k, b[k] - h)) / h**2
        assert g[0, k] == pytest.approx(-dE, rel=1e-8)
        assert g[1, k] == pytest.approx(-d2E, rel=1e-4)
    np.testing.assert_array_equal(FlowFieldPolynomial(task.singular_values, u).derivatives(b, 3),
                                  field.derivatives(b, 3))  # a raw (K, T, T) profile is read the same way


def test_task_sums_at_complex_b_equals_the_explicit_sums():
    rng = np.random.default_rng(2)
    s = rng.normal(size=(2, 5)) + 1j * rng.normal(size=(2, 5))
    b = np.array([0.3 + 0.4j, -0.7 + 0.1j])
    A, B = task_sums_at(Task(s), b)
    k = np.arange(4, -1, -1)
    np.testing.assert_allclose(A, np.sum(s * np.conj(b)[:, None] ** k, axis=1), rtol=1e-13)
    np.testing.assert_allclose(B, np.sum(np.abs(b)[:, None] ** (2 * k), axis=1), rtol=1e-13)


# moved from test_complex.py (formerly lrnn_theory.complex.frozen_io_polar, frozen_time_scales)
def test_frozen_io_closed_form_against_numerical_integration():
    A, beta, u0, tau = 0.8 - 0.6j, 1.7, 0.02 * np.exp(2.5j), 1.3
    t = np.linspace(0, 8, 81)

    def rhs(_, y):
        u = y[0] + 1j * y[1]
        du = 2 * abs(u) * (A - u * beta) / tau
        return [du.real, du.imag]

    sol = solve_ivp(rhs, (0, 8), [u0.real, u0.imag], t_eval=t, rtol=1e-11, atol=1e-13)
    closed = frozen_io_polar(t, A, beta, u0, tau)
    np.testing.assert_allclose(closed, sol.y[0] + 1j * sol.y[1], atol=1e-8)
    scales = frozen_time_scales(A, beta, u0, tau)
    assert scales["angle"] < scales["radius"]  # angle first, radius later
