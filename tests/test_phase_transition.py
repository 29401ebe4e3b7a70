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
    # n_grid=201 (not the default 4001, 8x cheaper; the golden-section polish refines the grid's best b): every
    # critical beta below is the same to the last digit (12 digits compared) as with 4001
    # T = 3: the bisection on the global minimiser (no series) lands on the exact Landau value.
    assert critical_beta(3, n_grid=201) == pytest.approx(1 / np.sqrt(2), abs=2e-6)
    # T = 4: E*(1) = E*(0) exactly at beta = 1 (derived), so beta_c = 1 for any b_max >= 1.
    unit = pt.derive_unit_b_comparison()
    assert [sp.simplify(r.subs(unit["T"], 4)) for r in unit["beta_bound"]] == [1]
    for b_max in (2.0, 4.0, 10.0):
        assert critical_beta(4, b_max=b_max, n_grid=201) == pytest.approx(1.0, abs=1e-6)
    # T >= 5: first order, above 1, below the b = 1 bound sqrt(sqrt(T) - 1), decreasing towards 1 with b_max.
    for T in (5, 8):
        bounded = [critical_beta(T, b_max=bm, n_grid=201) for bm in (2.0, 4.0, 10.0)]
        assert 1.0 < bounded[2] < bounded[1] < bounded[0] <= np.sqrt(np.sqrt(T) - 1) + 1e-9


def test_large_b_limit_and_first_order_jump():
    for T in (4, 6):
        lim = pt.derive_large_b_limit(T)
        assert sp.simplify(lim["limit"] - pt.beta**-2) == 0 and lim["beta_unbounded"] == 1
        s = dirac_profile([1.7], T)
        assert 2 * Task(s).sums().reduced_energy(np.array([1e4]))[0] == pytest.approx(1 / 1.7**2, rel=1e-6)
    T = 6
    bc = critical_beta(T, n_grid=201)  # the same beta_c and curve as the default 4001 grid points, 6x cheaper
    curve = phase_curve(T, [bc - 1e-4, bc + 1e-4], n_grid=201)
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


# ---- Fig. 4 under the paper's protocol: gradient descent at a finite learning rate ---------------------------------
def test_gradient_descent_modes_against_a_written_out_loop():
    """Every mode: theta <- theta - lr grad(1/2 sum_i (s_i - c b^(T-i) a)^2), gradient written out; a mode that
    diverges is marked and NaN while the others go on."""
    from lrnn_theory.validation.figures.phase_transition import gradient_descent_modes

    T, lr = 4, 0.05
    s = np.array([[0.2, 0.0, 0.1, 1.0], [0.125, 0.25, 0.5, 1.0], [0.0, 0.0, 0.0, 30.0]])  # the last diverges at this lr
    task = Task(s, init={"a": 0.4, "b": 0.3, "c": 0.5})
    run = gradient_descent_modes(task, lr, [10, 200], threshold=1e8)
    k = T - np.arange(1, T + 1.0)
    a, b, c = np.full(2, 0.4), np.full(2, 0.3), np.full(2, 0.5)
    for n in range(200):
        r = s[:2] - (c * a)[:, None] * b[:, None] ** k
        grad_a = -np.sum(r * c[:, None] * b[:, None] ** k, axis=1)
        grad_b = -np.sum(r * (a * c)[:, None] * k * b[:, None] ** np.maximum(k - 1, 0), axis=1)
        grad_c = -np.sum(r * a[:, None] * b[:, None] ** k, axis=1)
        a, b, c = a - lr * grad_a, b - lr * grad_b, c - lr * grad_c
        if n == 9:
            np.testing.assert_allclose(run["b"][0, :2], b, rtol=1e-12)
    np.testing.assert_allclose(np.column_stack([run[q][1, :2] for q in "abc"]), np.column_stack([a, b, c]),
                               rtol=1e-10)
    assert run["diverged"][1].tolist() == [False, False, True] and np.isnan(run["b"][1, 2])


def test_fig4_score_never_loses_a_reproduction_on_sharpness():
    """The issue's case: a candidate within range everywhere and just sharp beats a sharper one whose Dirac range is
    10.4% off (2.65 against 2.4): criteria met come first, the weighted distance (below 1) only breaks ties."""
    from lrnn_theory.validation.figures.phase_transition import _fit_score

    paper = np.array([1.0, 1.2, 2.4])
    *_, unmet, _, reproduces = _fit_score(np.array([1.09, 1.3, 2.6]), paper, np.array([0.5, 0.5, 0.5]))
    *_, unmet_sharper, _, sharper = _fit_score(np.array([1.08, 1.23, 2.65]), paper, np.array([0.9, 0.9, 0.9]))
    assert unmet.tolist() == [0, 0, 0] and unmet_sharper.tolist() == [0, 0, 1]
    assert reproduces < 1 <= sharper
    *_, unmet_diverged, _, _ = _fit_score(np.array([1.0, 1.2, 2.4]), paper, np.array([0.9] * 3), [0, 0, 2])
    assert unmet_diverged.tolist() == [0, 0, 1]  # a diverged grid point is a criterion not met


def test_fig4_search_draws_one_protocol_per_panel_when_none_fits_all(monkeypatch):
    """A reduced search (flow T = 8 read at t = 1 and 1.47, gradient descent T = 6): no candidate meets every panel's
    criteria, so each panel gets its best; the Dirac panel's is gradient descent at lr 0.01, whose b maximum the
    harness's trained single-mode LRNN gives too."""
    from lrnn_theory.sweeps import grid_task
    from lrnn_theory.validation import train_lrnn
    from lrnn_theory.validation.figures import phase_transition as figures

    fit_cfg, gd = figures.FIG4_FIT, figures.FIG4_FIT["gradient_descent"]
    for table, value in ((fit_cfg["T"], [8]), (fit_cfg["init"], [0.5]), (fit_cfg["t_train_max"], 1.5),
                         (gd["T"], [6]), (gd["init"], [0.3]), (gd["lr"], [0.01]), (gd["steps_max"], 2000)):
        monkeypatch.setitem(table, "quick", value)
    fit = figures.fit_fig4(quick=True)
    assert fit["chosen"] == "one per panel" and not fit["one_protocol_reproduces"]
    assert {r["protocol"] for r in fit["table"]} == {"flow", "gradient descent"}
    for pj, (name, row) in enumerate(fit["protocol_of_panel"].items()):
        assert row["panel_scores"][pj] == min(r["panel_scores"][pj] for r in fit["table"])
        assert fit["reproduced_per_panel"][name] == (row["criteria_not_met"][pj] == 0)
    dirac = fit["protocol_of_panel"]["Dirac delta"]
    assert dirac["protocol"] == "gradient descent" and dirac["steps"] == 2000 and fit["reproduced_per_panel"][
        "Dirac delta"]
    assert abs(dirac["b_max"][2] / 2.4 - 1) <= figures.PAPER_RANGE_RTOL
    # On the recurrent branch (b > 1.5) lr 0.01 is at the edge of stability: gradient descent ends on period-2 orbits
    # (b(k + 2) = b(k)) or oscillates irregularly (the largest b), where rounding differences grow. A point on an
    # attracting 2-cycle, trained as a network by the harness, ends on the same orbit (the jump to the branch is
    # sensitive enough that its phase can differ):
    kappas = figures.FIG4["kappas"]["quick"]
    task, panel_of_mode = figures._fit_task(6, 0.3, kappas, "quick")
    run = figures.gradient_descent_modes(task, 0.01, [1998, 1999, 2000], 1e8)
    dirac_modes = np.flatnonzero(panel_of_mode == 2)
    b_end, b_other, b_before = run["b"][2][dirac_modes], run["b"][1][dirac_modes], run["b"][0][dirac_modes]
    local = int(np.flatnonzero((b_end > 1.5) & (np.abs(b_end - b_before) < 1e-9))[0])
    point = {"beta": np.linspace(0, 4, figures.FIG4["n_x"]["quick"])[[local // len(kappas)]],
             "kappa": np.array([kappas[local % len(kappas)]])}
    panel = figures.FIG4["panels"][2]
    single = grid_task(panel["family"], 6, point, panel["fixed"], panel["base"], {"a": 0.3, "b": 0.3, "c": 0.3})
    trained = train_lrnn(single, lr=0.01, steps=2000, record_every=2000, loss="sum_half", data="population").trajectory
    assert min(abs(trained.b[-1, 0] - b_end[local]), abs(trained.b[-1, 0] - b_other[local])) < 1e-8


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
        drawn = data["paper_fit"]["protocol_of_panel"]
        for name, row in data["parameters"]["protocol_of_panel"].items():
            assert row["T"] == drawn[name]["T"] and row["t_train"] == drawn[name]["t_train"]
        assert "weighting" in data["paper_fit"]["score_definition"] and data["paper_fit"]["search_says"]
        # quick mode's grid holds the full run's choice for every panel: each reproduces
        assert data["paper_fit"]["reproduced"]
    elif name == "figA2":
        assert data["split_max_abs_error"] < 1e-10 and data["max_abs_error"] < 0.05
    else:
        assert data["critical_beta"]["3"] == pytest.approx(1 / np.sqrt(2), abs=2e-6)
        assert data["critical_beta"]["4"] == pytest.approx(1.0, abs=1e-6)
        assert data["paper_fit"]["best"]["beta_c_long_T"] == pytest.approx(1.08, abs=data["paper_fit"]["tolerance"])
        assert data["max_abs_error"] < 1e-8
        fitted = [f["by_construction"] for f in data["paper_features"] if f["statement"].startswith("long T")]
        assert fitted == [True, False]  # the fitted length, then the held-out one
    for entry in data.get("paper_features", []):
        assert isinstance(entry["by_construction"], bool)


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
    assert critical_beta(4, tol=1e-30, n_grid=201) == pytest.approx(1.0, abs=1e-9)  # 201: as 4001, 6x cheaper
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
