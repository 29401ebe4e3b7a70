"""Result 3: the recurrent/feedforward phase transition (App. H).

The effective regularisation (Lemma 3.2) is tested in test_regularisation.py.
"""
import numpy as np
import pytest
import sympy as sp

from lrnn_theory import LrnnInputError, Task
from lrnn_theory.derivations import phase_transition as pt
from lrnn_theory.phase_transition import critical_beta, dirac_profile, phase_curve
from lrnn_theory.regularisation import landscape
from lrnn_theory.trajectory import mode_energy


# ---- Landau expansion and critical points ------------------------------------------------------------------------
def test_T3_critical_point_is_exactly_one_over_sqrt2():
    crit = pt.derive_critical_point_T3()
    assert sp.simplify(crit["beta_c"] - 1 / sp.sqrt(2)) == 0
    assert crit["ratio_c"] == sp.Rational(1, 2)
    assert crit["quartic_at_beta_c"].is_positive       # continuous (second-order) transition
    assert sp.simplify(crit["quadratic"] - (pt.beta**-2 - 2)) == 0
    assert sp.simplify(crit["quartic"] - (2 - pt.beta**2)) == 0


def test_landau_coefficients_against_finite_differences():
    h = 1e-3
    for T, beta in ((3, 0.9), (4, 1.3), (5, 0.6)):
        coeffs = pt.derive_landau_expansion(T)["coefficients"]
        s = dirac_profile([beta], T)
        E = lambda x: 2 * Task(s).sums().reduced_energy(np.array([x]))[0]  # noqa: E731  (App. H: no 1/(2 tau))
        second = (E(h) - 2 * E(0.0) + E(-h)) / h**2
        assert second / 2 == pytest.approx(float(coeffs[2].subs(pt.beta, beta)), rel=1e-4)
        assert E(0.0) == pytest.approx(float(coeffs[0].subs(pt.beta, beta)), rel=1e-12)


def test_general_form_quadratic_coefficient():
    gen = pt.derive_landau_expansion(3, 4, "general")["coefficients"]
    assert sp.simplify(gen[2] - (pt.kappa**2 - 2 * pt.kappa * pt.beta)) == 0


def test_numeric_critical_points():
    # T = 3: the bisection on the global minimiser (no series) lands on the exact Landau value.
    assert critical_beta(3) == pytest.approx(1 / np.sqrt(2), abs=2e-6)
    # T = 4: E*(1) = E*(0) exactly at beta = 1 (derived), so beta_c = 1 for any b_max >= 1.
    unit = pt.derive_unit_b_comparison()
    assert [sp.simplify(r.subs(unit["T"], 4)) for r in unit["beta_bound"]] == [1]
    for b_max in (2.0, 4.0, 10.0):
        assert critical_beta(4, b_max=b_max) == pytest.approx(1.0, abs=1e-6)
    # T >= 5: first order, above 1, below the b = 1 bound sqrt(sqrt(T) - 1), decreasing towards 1 with b_max.
    for T in (5, 8):
        bounded = [critical_beta(T, b_max=bm) for bm in (2.0, 4.0, 10.0)]
        assert 1.0 < bounded[2] < bounded[1] < bounded[0] <= np.sqrt(np.sqrt(T) - 1) + 1e-9


def test_large_b_limit_and_first_order_jump():
    for T in (4, 6):
        lim = pt.derive_large_b_limit(T)
        assert sp.simplify(lim["limit"] - pt.beta**-2) == 0 and lim["beta_unbounded"] == 1
        s = dirac_profile([1.7], T)
        assert 2 * Task(s).sums().reduced_energy(np.array([1e4]))[0] == pytest.approx(1 / 1.7**2, rel=1e-6)
    T = 6
    bc = critical_beta(T)
    curve = phase_curve(T, [bc - 1e-4, bc + 1e-4])
    assert abs(curve["b"][0]) < 1e-3 and curve["b"][1] > 1.0      # b jumps: first order
    curve3 = phase_curve(3, [1 / np.sqrt(2) - 1e-3, 1 / np.sqrt(2) + 1e-3])
    assert abs(curve3["b"][0]) < 1e-3 and 0 < curve3["b"][1] < 0.1  # b grows continuously from 0


def test_T3_recurrent_branch_is_finite_and_reached_by_the_flow():
    """For T = 3 and 1/sqrt(2) < beta < sqrt(2) the minimiser is finite, b*^2 = (2 beta^2 - 1)/(2 - beta^2) (derived;
    notes §6.3 quotes b* ~ 1.5 at beta = 1.2, the derivation and the grid search both give 1.832); the flow gets there."""
    from lrnn_theory import integrate

    branch = pt.derive_T3_recurrent_branch()
    assert sp.simplify(branch["b_squared"] - (2 * pt.beta**2 - 1) / (2 - pt.beta**2)) == 0
    betas = [0.8, 1.0, 1.2, 1.35]
    curve = phase_curve(3, betas)
    assert not curve["at_bound"].any()
    expected = [float(sp.sqrt(branch["b_squared"].subs(pt.beta, x))) for x in betas]
    np.testing.assert_allclose(curve["b"], expected, atol=1e-6)
    np.testing.assert_allclose(curve["u"], [float(branch["u_star"].subs(pt.beta, x)) for x in betas], atol=1e-6)
    curve = phase_curve(3, [1.2])
    task = Task(dirac_profile([1.2], 3), init={"a": 0.3, "b": 0.3, "c": 0.3})
    traj = integrate(task, 3000.0, n_points=2)
    assert traj.b[-1, 0] == pytest.approx(curve["b"][0], abs=1e-4)
    assert traj.u[-1, 0] == pytest.approx(curve["u"][0], abs=1e-4)


def test_critical_beta_rejects_bad_input():
    with pytest.raises(LrnnInputError, match="'T'"):
        critical_beta(2)
    with pytest.raises(LrnnInputError, match="b_max"):
        critical_beta(4, b_max=0.0)


@pytest.mark.slow  # 25-60 s each on a shared core
@pytest.mark.parametrize("name", ["fig4", "figA2", "figA3"])
def test_reproductions_quick(tmp_path, name):
    import json

    from lrnn_theory.cli import main

    assert main(["reproduce", name, "--out", str(tmp_path), "--quick"]) == 0
    data = json.loads((tmp_path / f"{name}.json").read_text())
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    for entry in data.get("paper_features", []):
        assert set(entry) >= {"statement", "paper", "ours", "holds"} and isinstance(entry["holds"], bool)
    if name in ("fig4", "figA3"):
        assert data["paper_features"] and {"best", "score_definition", "tolerance", "reproduced"} <= set(
            data["paper_fit"]) and "fitted" in data["caption"]
    if name == "fig4":
        for panel in data["panels"].values():
            assert np.array(panel["b"]).shape == (len(panel["x"]), len(panel["kappa"]))
        # Read after a finite training time, mostly still moving: GD differs from the flow by O(lr) = 1e-3.
        assert data["max_abs_error"] < 1e-2
        best = data["paper_fit"]["best"]
        assert data["parameters"]["T"] == best["T"] and data["parameters"]["t_train"] == best["t_train"]
    elif name == "figA2":
        assert data["split_max_abs_error"] < 1e-10 and data["max_abs_error"] < 0.05
    else:
        assert data["critical_beta"]["3"] == pytest.approx(1 / np.sqrt(2), abs=2e-6)
        assert data["critical_beta"]["4"] == pytest.approx(1.0, abs=1e-6)
        assert data["paper_fit"]["best"]["beta_c_long_T"] == pytest.approx(1.08, abs=data["paper_fit"]["tolerance"])
        assert data["max_abs_error"] < 1e-8


@pytest.mark.parametrize("result, needle", [("stability", "b = 1/lambda"), ("regularisation", "E_reg"),
                                            ("phase-transition", "beta_c = sqrt(2)/2"),
                                            ("extrapolation", "(T - T')**2")])
def test_derive_reports_print(capsys, result, needle):
    from lrnn_theory.cli import main

    assert main(["derive", "--result", result, "--format", "text"]) == 0
    assert needle in capsys.readouterr().out


def test_phase_and_regulariser_bad_input_is_reported_not_looped():
    # tol <= 0 used to loop forever; a tol below the float spacing must still terminate.
    with pytest.raises(LrnnInputError, match="tol"):
        critical_beta(4, tol=-1.0)
    assert critical_beta(4, tol=1e-30) == pytest.approx(1.0, abs=1e-9)
    for bracket, needle in (((2.0, 1.0), "increasing"), ((1.5, 2.0), "transition"), ((0.5, 1.0, 2.0), "two"),
                            ((np.nan, 2.0), "finite")):
        with pytest.raises(LrnnInputError, match=needle):
            critical_beta(4, bracket=bracket)
    with pytest.raises(LrnnInputError, match="betas"):
        phase_curve(4, [0.0, 1.0])
    from lrnn_theory.regularisation import data_term, regulariser

    with pytest.raises(LrnnInputError, match="'T'"):
        regulariser(1.0, 0.5, 0)
    with pytest.raises(LrnnInputError, match="tau"):
        landscape([1.0, 0.0, 1.0], [0.0, 1.0], [0.0, 1.0], tau=0.0)
    # data term alone against the residual energy minus the explicit geometric sum (independent of the closed form)
    s, u, b = np.array([0.3, -1.2, 0.8, 2.0]), np.array([0.7, -0.4]), np.array([1.3, -0.6])
    geometric = u**2 * np.sum(b[:, None] ** (2 * np.arange(4)), axis=1) / (2 * 1.5)
    direct = mode_energy(s[None, :], u[:, None], b[:, None], np.ones((2, 1)), 1.5)[:, 0]
    np.testing.assert_allclose(data_term(s, u, b, tau=1.5), direct - geometric, rtol=1e-12)
    np.testing.assert_allclose(regulariser(u, b, 4, tau=1.5), geometric, rtol=1e-12)
