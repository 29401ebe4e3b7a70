"""Result 2: zero-loss solutions, reduced energy and stability classification (notes §3.4, §5).

Extrapolation to other lengths T' is tested in test_extrapolation.py.
"""
import numpy as np
import pytest
import sympy as sp

from lrnn_theory import LrnnInputError, Task, integrate
from lrnn_theory.derivations import stability as st
from lrnn_theory.extrapolation import family_task
from lrnn_theory.stability import classify, reduced_energy, solve_task, zero_loss_solution
from lrnn_theory.trajectory import mode_energy

INIT = {"a": 0.5, "b": 0.5, "c": 0.5}


def _lambdify_solution(family):
    sol = st.derive_zero_loss_solution(family)
    args = (st.delta, st.lam, st.T)
    return sp.lambdify(args, sol["u"]), sp.lambdify(args, sol["b"])


@pytest.mark.parametrize("family, delta, lam", [
    ("constant", [0.5, 1.0, 2.0], None),
    ("inverse_exponential", [1.0, 0.5, 0.8], [0.5, 0.8, 1.2]),
    ("exponential", [1.0, 1.0, 1.0], [0.8, 0.9, 1.2]),
])
def test_zero_loss_solutions_recovered_by_the_flow(family, delta, lam):
    """Three independent routes agree: the integrated flow, the numeric ratio test and the sympy solution."""
    T = 4
    task = Task.from_family(family, T=T, delta=delta, lam=lam, init=INIT)
    traj = integrate(task, 500.0, n_points=2)
    sol = solve_task(task)
    assert np.all(sol.zero_loss)
    np.testing.assert_allclose(traj.b[-1], sol.b, atol=1e-6)
    np.testing.assert_allclose(traj.u[-1], sol.u, atol=1e-6)
    u_fn, b_fn = _lambdify_solution(family)
    lam_arr = np.ones(3) if lam is None else np.asarray(lam)
    np.testing.assert_allclose(np.broadcast_to(b_fn(np.asarray(delta), lam_arr, T), (3,)), sol.b, rtol=1e-12)
    np.testing.assert_allclose(np.broadcast_to(u_fn(np.asarray(delta), lam_arr, T), (3,)), sol.u, rtol=1e-12)
    assert np.all(traj.energy[-1] < 1e-10)


def test_symbolic_residuals_vanish_for_base_families_and_give_conditions_otherwise():
    for fam in st.BASE_FAMILIES:
        assert st.derive_zero_loss_solution(fam)["residual"] == 0
    last = st.derive_zero_loss_solution("last_step")
    # Zero loss iff kappa = delta: substitute and check at a concrete T and step.
    assert sp.simplify(last["residual"].subs(st.kappa, st.delta)) == 0
    assert last["condition"] == sp.Eq(st.kappa, st.delta)
    assert st.derive_zero_loss_solution("dirac")["condition"] == sp.false
    # Numerically: last_step is geometric only when kappa = delta; the Dirac task never (beta > 0).
    exists, _, _ = zero_loss_solution(Task.last_step(delta=[0.7, 0.7], kappa=[0.7, 0.9], T=5).singular_values)
    assert exists.tolist() == [True, False]
    assert not zero_loss_solution(Task.dirac(beta=0.5, kappa=1.0, T=4).singular_values)[0][0]


def test_early_importance_conditions_match_numeric_classification():
    lams = np.array([0.3, 0.7, 1.3, 2.0])
    for fam, cond in (("inverse_exponential", lambda x: x > 1), ("exponential", lambda x: x < 1)):
        rel = st.derive_zero_loss_solution(fam)["early_importance"]
        symbolic = np.array([bool(rel.subs(st.lam, float(x))) for x in lams])
        sol = solve_task(Task.from_family(fam, T=5, delta=1.0, lam=lams))
        numeric = sol.importance == "early"
        assert symbolic.tolist() == numeric.tolist() == cond(lams).tolist()
        assert ((sol.stability == "unstable") == numeric).all()
    imp, stab = classify([0.5, 1.0, -1.5])
    assert imp.tolist() == ["late", "marginal", "early"] and stab.tolist() == ["stable", "marginal", "unstable"]


def test_reduced_energy_symbolic_family_forms_match_numeric_and_brute_force():
    T = 5
    bs = np.array([-1.3, -0.4, 0.3, 0.9, 1.7])
    for fam, lam in (("constant", None), ("inverse_exponential", 0.6), ("exponential", 1.3)):
        expr = st.derive_family_reduced_energy(fam)["energy"].subs({st.T: T, st.delta: 0.8, st.tau: 1})
        if lam is not None:
            expr = expr.subs(st.lam, lam)
        symbolic = np.array([float(expr.subs(st.b, x)) for x in bs])
        task = Task.from_family(fam, T=T, delta=0.8, lam=lam)
        numeric = reduced_energy(task.singular_values, bs[None, :])[0]
        np.testing.assert_allclose(symbolic, numeric, rtol=1e-10, atol=1e-12)
        # Brute force: minimise the residual energy over a fine u grid at each b.
        us = np.linspace(-10, 10, 200001)
        brute = [mode_energy(task.singular_values, us[:, None], np.full((us.size, 1), x), np.ones((us.size, 1)),
                             1.0).min() for x in bs]
        np.testing.assert_allclose(numeric, brute, atol=1e-6)


def test_optimum_of_non_geometric_profiles_against_grid_search_and_flow():
    """Notes §5.2: best LRNN fit of y = 0.1 sum t x_t and y = sum x_t / t at T = 6."""
    s = np.array([[0.1 * t for t in range(1, 7)], [1.0 / t for t in range(1, 7)]])
    sol = solve_task(s)
    assert not sol.zero_loss.any()
    bs = np.linspace(-3, 3, 600001)
    grid = reduced_energy(s, np.broadcast_to(bs, (2, bs.size)))
    np.testing.assert_allclose(sol.b, bs[np.argmin(grid, axis=1)], atol=2e-5)
    np.testing.assert_allclose(sol.b, [0.76, 1.60], atol=0.01)
    assert sol.importance.tolist() == ["late", "early"]
    traj = integrate(Task(s, init=INIT), 2000.0, n_points=2)
    np.testing.assert_allclose(traj.b[-1], sol.b, atol=1e-5)
    np.testing.assert_allclose(traj.u[-1], sol.u, atol=1e-5)


def test_constant_task_hessian_matches_finite_differences():
    hess = st.derive_constant_hessian()
    T, delta, h = 5, 1.3, 1e-4
    H_sym = np.array(hess["hessian"].subs({st.T: T, st.delta: delta}).tolist(), dtype=float)
    s = np.full((1, T), delta)

    def tauE(x):
        return mode_energy(s, np.array([x[0]]), np.array([x[1]]), np.array([1.0]), 1.0)[0]

    x0 = np.array([delta, 1.0])
    H_fd = np.empty((2, 2))
    for p in range(2):
        for q in range(2):
            ep, eq = np.eye(2)[p] * h, np.eye(2)[q] * h
            H_fd[p, q] = (tauE(x0 + ep + eq) - tauE(x0 + ep - eq) - tauE(x0 - ep + eq) + tauE(x0 - ep - eq)) / (4 * h * h)
    np.testing.assert_allclose(H_sym, H_fd, rtol=1e-5)
    assert hess["trace_leading_T3"] == st.delta**2 / 3


def test_bad_inputs():
    with pytest.raises(LrnnInputError, match="b_max"):
        solve_task(Task.dirac(T=4), b_max=-1.0)
    with pytest.raises(LrnnInputError, match="family"):
        family_task("sawtooth", 4)
    with pytest.raises(LrnnInputError, match="family"):
        st.family_profile("sawtooth")


def test_stability_report_prints():
    text = st.report(Task.exponential(delta=1.0, lam=0.5, T=4), "text")
    assert "b = 1/lambda" in text and "unstable" in text


@pytest.mark.slow  # about 50 s on a shared core
def test_fig3_reproduces_quick(tmp_path):
    import json

    from lrnn_theory.cli import main

    assert main(["reproduce", "fig3", "--out", str(tmp_path), "--quick"]) == 0
    data = json.loads((tmp_path / "fig3.json").read_text())
    assert (tmp_path / "fig3.png").stat().st_size > 10_000
    assert data["max_abs_error"] < 1e-6 and "curvature" not in data
    assert {"constant", "inverse_exponential", "exponential"} == set(data["solutions"])
    assert all(entry["holds"] for entry in data["paper_features"]), data["paper_features"]
    # Exponential lambda = 0.8, 0.9, 1.1, 1.4: b* = 1/lambda > 1 (unstable) for lambda < 1.
    assert data["solutions"]["exponential"]["stability"] == ["unstable", "unstable", "stable", "stable"]


def test_dirac_residual_is_step_one_only_and_matches_numeric_check():
    res = st.derive_zero_loss_solution("dirac")
    T, beta, kappa = 6, 0.7, 1.3
    symbolic = [float(res["residual"].subs({st.i: k, st.beta: beta})) for k in range(1, T - 1)]
    s = Task.dirac(beta=beta, kappa=kappa, T=T).singular_values[0]
    numeric = s[: T - 2] - float(res["u"].subs(st.kappa, kappa)) * float(res["b"]) ** (T - np.arange(1, T - 1))
    np.testing.assert_allclose(symbolic, numeric, atol=0)
    assert symbolic[0] == beta and not any(symbolic[1:])


@pytest.mark.parametrize("name", ["lrnn_theory.stability", "lrnn_theory.sweeps"])
def test_docstring_examples_of_results_2_and_3(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
