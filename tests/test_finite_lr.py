"""Finite learning rates: the discrete mode map against aligned training, the modified flow's constant and its
O(h^2) error, and the closed-form stable learning rate against the harness's Hessian and training runs."""
import doctest
import json

import numpy as np
import pytest
import sympy as sp

import lrnn_theory.finite_lr as finite_lr
from lrnn_theory import DivergenceError, LrnnInputError, Task, integrate
from lrnn_theory.cli import main
from lrnn_theory.derivations import finite_lr as sym
from lrnn_theory.finite_lr import DiscreteGD, compile_modified_flow, mode_hessian, stable_lr_bound
from lrnn_theory.flow import compile_flow
from lrnn_theory.trajectory import Trajectory
from lrnn_theory.validation import train_lrnn
from lrnn_theory.validation.harness import hessian_top_eigenvalue
from lrnn_theory.validation.network import LRNN

from reference import check_jacobian_and_energy, random_orthogonal, rates_from_residuals

#: Three modes, one rising, one with a negative recurrent start, one constant; unbalanced initial modes.
MULTI = Task(np.array([[0.3, 0.5, 0.8, 1.0, 1.2], [0.1, 0.2, 0.3, 0.2, 0.5], [1.0, 1.0, 1.0, 1.0, 1.0]]),
             init={"a": [0.1, 0.2, 0.3], "b": [0.1, -0.2, 0.3], "c": [0.2, 0.1, 0.1]})
VALIDATION_TASK = Task.inverse_exponential(delta=1.0, lam=0.7, T=6)


def run(argv):
    try:
        return main([str(a) for a in argv])
    except SystemExit as exc:
        return exc.code


def test_docstring_examples():
    result = doctest.testmod(finite_lr, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
    from lrnn_theory.solvers import DiscreteGD as reexported

    assert reexported is DiscreteGD


# ---- 1. the discrete mode map ------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss, lr", [("sum_half", 0.01), ("mean", 0.3)])
def test_discrete_map_equals_aligned_training_over_thousands_of_steps(loss, lr):
    result = train_lrnn(MULTI, hidden=5, lr=lr, steps=2000, loss=loss, record_every=10)
    sim = result.trajectory
    discrete = integrate(MULTI, sim.t[-1], t_eval=sim.t, method=DiscreteGD(lr, loss))
    assert discrete.info["steps"] == 2000
    np.testing.assert_allclose(discrete.t, sim.t, rtol=1e-12)
    for q in ("a", "b", "c", "u", "energy"):
        assert np.max(np.abs(getattr(discrete, q) - getattr(sim, q))) < 1e-10, q
    assert np.max(np.abs(sim.u[0] - sim.u[-1])) > 0.1  # the modes really moved


def test_discrete_map_step_is_minus_h_times_the_derived_rates():
    """One step against the residual-sum rates of eqs. (5)-(7) (independent of the package's sums)."""
    task = MULTI
    descent = DiscreteGD(0.05)
    one = integrate(task, 0.05, t_eval=[0.0, 0.05], method=descent)
    a0, b0, c0 = task.init.a, task.init.b, task.init.c
    da, db, dc = rates_from_residuals(task.singular_values, a0, b0, c0)
    np.testing.assert_allclose(one.a[1], a0 + 0.05 * da, rtol=1e-13)
    np.testing.assert_allclose(one.b[1], b0 + 0.05 * db, rtol=1e-13)
    np.testing.assert_allclose(one.c[1], c0 + 0.05 * dc, rtol=1e-13)


def test_discrete_map_reports_divergence_with_step_mode_and_bound():
    task = Task(np.array([[0.5, 0.5, 0.5], [1.0, 1.0, 1.0]]))
    with pytest.raises(DivergenceError) as info:
        integrate(task, 100.0, method=DiscreteGD(1.0))
    assert info.value.mode == 1
    assert "largest stable lr of this mode" in str(info.value)
    with pytest.raises(LrnnInputError, match="'lr'"):
        DiscreteGD(-1.0)
    with pytest.raises(LrnnInputError, match="'loss'"):
        DiscreteGD(0.1, "l1")


def test_cli_discrete_lr_reproduces_simulate(tmp_path, capsys):
    path = tmp_path / "task.json"
    path.write_text(json.dumps({"family": "inverse_exponential", "delta": 1.0, "lambda": 0.7, "T": 6}))
    sim, disc = tmp_path / "sim.csv", tmp_path / "disc.csv"
    assert run(["simulate", path, "--lr", "0.02", "--steps", "1000", "--record-every", "50", "--out", sim,
                "--no-progress", "--loss", "sum"]) == 0
    assert run(["integrate", path, "--t-end", "40", "--n-points", "21", "--discrete-lr", "0.02", "--loss", "sum",
                "--out", disc]) == 0
    a, b = Trajectory.from_csv(sim), Trajectory.from_csv(disc)
    np.testing.assert_allclose(a.t, b.t)
    assert np.max(np.abs(a.b - b.b)) < 1e-10
    assert run(["integrate", path, "--t-end", "40", "--discrete-lr", "5", "--out", tmp_path / "x.csv"]) == 3
    assert not (tmp_path / "x.csv").exists()
    assert run(["integrate", path, "--t-end", "4", "--discrete-lr", "0.1", "--lr-correction", "0.1",
                "--out", tmp_path / "x.csv"]) == 2
    assert "lrnn: diverged" in capsys.readouterr().err


def test_cli_lr_correction_writes_the_modified_flow(tmp_path):
    path = tmp_path / "task.json"
    path.write_text(json.dumps({"family": "constant", "delta": 1.0, "T": 3}))
    out = tmp_path / "m.csv"
    assert run(["integrate", path, "--t-end", "10", "--n-points", "11", "--lr-correction", "0.5", "--loss", "mean",
                "--method", "BDF", "--out", out]) == 0
    traj = Trajectory.from_csv(out)
    task = Task.constant(delta=1.0, T=3)
    # rtol 1e-8 (3x fewer steps than 1e-10): this reference moves by 3e-10, the CLI's BDF run is 8e-8 from it
    expected = integrate(task, 10.0, n_points=11, lr_correction=DiscreteGD(0.5, "mean"), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(traj.u, expected.u, atol=1e-6)
    assert np.max(np.abs(traj.u - integrate(task, 10.0, n_points=11).u)) > 1e-3   # the correction matters here
    assert run(["integrate", path, "--t-end", "1", "--loss", "mean", "--out", out]) == 2


# ---- 2. the modified flow ----------------------------------------------------------------------------------------
def test_correction_constant_is_one_quarter_in_theory_time():
    const = sym.derive_correction_constant()
    assert const["k"] == sp.Rational(1, 4)
    assert const["residual"] == sp.zeros(3, 1)
    # one harness step lr * scale * dL/dtheta is h dE/dtheta with h = lr * tau * scale
    assert sp.simplify(sym.derive_gd_step()["h"] - sym.lr * sym.tau * sym.scale) == 0


def test_modified_flow_matches_one_step_to_third_order_numerically():
    """Local error of one step: O(h^2) for the plain flow, O(h^3) for the modified flow (halving h: /4 vs /8)."""
    from scipy.integrate import solve_ivp

    task = Task.inverse_exponential(delta=1.0, lam=0.7, T=4, init={"a": 0.6, "b": 0.3, "c": 0.5}, tau=2.0)
    y0 = compile_flow(task).initial_state()
    errors = {"plain": [], "modified": []}
    for lr in (0.04, 0.02, 0.01):
        h = lr * task.tau
        step = integrate(task, h, t_eval=[0.0, h], method=DiscreteGD(lr))
        y_gd = np.array([step.a[1, 0], step.b[1, 0], step.c[1, 0]])
        for name, flow in (("plain", compile_flow(task)), ("modified", compile_modified_flow(task, lr))):
            sol = solve_ivp(flow.rates, (0, h), y0, method="DOP853", rtol=1e-13, atol=1e-15)
            errors[name].append(np.max(np.abs(sol.y[:, -1] - y_gd)))
    plain, modified = np.log2(np.array(errors["plain"])), np.log2(np.array(errors["modified"]))
    assert np.allclose(-np.diff(plain), 2.0, atol=0.15)
    assert np.allclose(-np.diff(modified), 3.0, atol=0.15)


def test_modified_flow_jacobian_matches_finite_differences():
    task = MULTI
    flow = compile_modified_flow(task, DiscreteGD(0.3, "mean"))
    assert flow.step == pytest.approx(0.3 * 2 / (15 * 3))  # mean: scale = 2 / (P N_y), P = T K
    y = flow.initial_state() + 0.3
    J = flow.jacobian_blocks(0.0, y)
    eps = 1e-6
    for q in range(3):
        dy = np.zeros_like(y)
        dy[q::3] = eps
        fd = (flow.rates(0, y + dy) - flow.rates(0, y - dy)) / (2 * eps)
        for p in range(3):
            np.testing.assert_allclose(J[:, p, q], fd[p::3], rtol=1e-6, atol=1e-8)
    # the rates are -grad of the modified energy (finite differences of E_h)
    for q in range(3):
        dy = np.zeros_like(y)
        dy[q::3] = eps
        fd = (flow.modified_energy(y + dy) - flow.modified_energy(y - dy)) / (2 * eps)
        np.testing.assert_allclose(flow.rates(0, y)[q::3], -fd, rtol=1e-6, atol=1e-9)


def _errors_by_lr(task, lrs, t_end):
    """Largest |GD - flow| of a, b, c, u for the plain and the corrected flow (GD = the exact discrete map)."""
    # one output grid for every lr (spacing 2 max(lr) tau, a whole number of steps of each), so the plain flow, which
    # does not depend on lr, is integrated once. DOP853 at rtol 1e-10 (3-4x cheaper than the default solver at
    # 1e-9 on the modified flow, whose compiled Jacobian is costly): 1e-6 of the smallest error measured (5.7e-5),
    # slopes equal to 5 digits. test_cli_lr_correction_writes_the_modified_flow runs the default solver on it.
    grid = np.linspace(0.0, t_end, int(round(t_end / (2 * lrs.max() * task.tau))) + 1)
    solve = dict(t_eval=grid, method="DOP853", rtol=1e-10, atol=1e-12)
    plain = integrate(task, t_end, **solve)
    rows = []
    for lr in lrs:
        gd = integrate(task, t_end, t_eval=grid, method=DiscreteGD(lr))
        np.testing.assert_allclose(gd.t, grid, rtol=0, atol=1e-12)
        corrected = integrate(task, t_end, lr_correction=lr, **solve)
        rows.append([max(np.max(np.abs(getattr(gd, q) - getattr(th, q))) for q in "abcu")
                     for th in (plain, corrected)])
    return np.array(rows)


def test_corrected_flow_error_falls_like_lr_squared():
    lrs = np.array([0.04, 0.02, 0.01])
    # t = 4 (not 30): the largest errors are reached at t ~ 2.5, in the transition (u is within 1e-5 of its end by
    # t = 7); the errors (and slopes) equal those of t = 10 and t = 30 bit for bit
    err = _errors_by_lr(VALIDATION_TASK, lrs, 4.0)
    slopes = np.diff(np.log(err), axis=0) / np.diff(np.log(lrs))[:, None]
    assert np.all(np.abs(slopes[:, 0] - 1) < 0.1), slopes      # plain flow: O(lr)
    assert np.all(np.abs(slopes[:, 1] - 2) < 0.15), slopes     # corrected flow: O(lr^2)
    assert np.all(err[:, 1] < err[:, 0] / 20)


def test_validate_prints_plain_and_corrected_errors(tmp_path, capsys):
    path = tmp_path / "task.json"
    path.write_text(json.dumps({"family": "inverse_exponential", "delta": 1.0, "lambda": 0.7, "T": 6}))
    # 200 steps (t = 4): the largest errors (0.019 | 0.00024) are the same as over 500 and 1500 steps, reached at
    # t ~ 2.5
    assert run(["validate", path, "--lr", "0.02", "--steps", "200", "--no-progress"]) == 0
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("plain flow | lr-corrected flow")][0]
    plain, corrected = (float(v) for v in line.rsplit("largest", 1)[1].split("|"))
    assert corrected < plain / 20
    assert run(["validate", path, "--lr", "0.02", "--steps", "100", "--no-progress", "--freeze", "W_h"]) == 0
    assert "not available with frozen weights" in capsys.readouterr().out


# ---- 3. stability ------------------------------------------------------------------------------------------------
BOUND_CASES = [("constant", 2, {"delta": 1.0}), ("constant", 5, {"delta": 0.5}),
               ("inverse_exponential", 3, {"delta": 1.0, "lam": 0.5}),
               ("exponential", 4, {"delta": 1.0, "lam": 0.8})]


def _solution_network(task, hidden, seed=1):
    """Aligned network at the balanced zero-loss solution (a = c = sqrt(u*), b = b*)."""
    bound = stable_lr_bound(task)
    rng = np.random.default_rng(seed)
    U, V = random_orthogonal(task.K, rng), random_orthogonal(task.K, rng)
    R = random_orthogonal(hidden, rng)[:, :task.K]
    root = np.sqrt(bound["u"])
    C = np.einsum("kt,yk,xk->tyx", task.singular_values, U, V)
    return LRNN.aligned(root, bound["b"], root, U, V, R), C, bound


@pytest.mark.parametrize("family, T, params", BOUND_CASES)
def test_closed_form_bound_against_full_matrix_hessian_and_family_formula(family, T, params):
    task = Task.from_family(family, T=T, **params)
    net, C, bound = _solution_network(task, hidden=3)
    assert net.loss_and_grad_population(C)[0] < 1e-25
    top = hessian_top_eigenvalue(lambda ws: LRNN(*ws).loss_and_grad_population(C)[1], list(net.weights), (0, 1, 2))
    assert bound["lambda_max"][0] == pytest.approx(top, rel=1e-6)
    # the derived Hessian of the energy (A, B form) at the same point
    H = mode_hessian(task, np.sqrt(bound["u"]), bound["b"], np.sqrt(bound["u"]))
    assert np.max(np.linalg.eigvalsh(H)) == pytest.approx(bound["lambda_max"][0], rel=1e-12)
    # the per-family closed form of sympy at this delta, lambda, T
    form = sym.derive_family_lr_bound(family)["lambda_max"]
    values = {sym.T: T, sym.delta: params["delta"]}
    if "lam" in params:
        values[sym.lam] = params["lam"]
    assert float(form.subs(values)) == pytest.approx(bound["lambda_max"][0], rel=1e-12)


def test_constant_family_bound_is_the_notes_hessian_in_a_b_c():
    """Notes §5.2 give the (u, b) Hessian T, delta T(T-1)/2, delta^2 T(T-1)(2T-1)/6; in (a, b, c) at a = c =
    sqrt(delta) the u-direction gains the factor s = 2 delta (du = c da + a dc)."""
    T, d = 5, 0.5
    bound = stable_lr_bound(Task.constant(delta=d, T=T))
    M = np.array([[2 * d * T, np.sqrt(2 * d) * d * T * (T - 1) / 2], [0, d**2 * T * (T - 1) * (2 * T - 1) / 6]])
    M[1, 0] = M[0, 1]
    assert bound["lambda_max"][0] == pytest.approx(np.max(np.linalg.eigvalsh(M)), rel=1e-12)


def test_gradient_descent_keeps_balance_exactly():
    g = (sym.A(sym.b) - sym.a * sym.c * sym.B(sym.b)) / sym.tau
    assert sp.simplify(sym.derive_balance_under_gd() - (1 - sym.h**2 * g**2)) == 0
    traj = integrate(MULTI.with_init(a=0.2, c=0.2), 20.0, method=DiscreteGD(0.05))
    assert np.array_equal(traj.a, traj.c)


@pytest.mark.parametrize("family, T, params, loss", [("constant", 2, {"delta": 1.0}, "sum_half"),
                                                     ("inverse_exponential", 3, {"delta": 1.0, "lam": 0.5}, "mean")])
def test_bound_splits_converging_from_oscillating_training(family, T, params, loss):
    """The harness at 0.95x the bound converges to zero loss; at 1.05x it settles on a bounded period-2 orbit
    (the flip bifurcation is supercritical: no divergence); it diverges only near 2x (measured 2.07x, 1.97x)."""
    task = Task.from_family(family, T=T, **params)
    lr_max = stable_lr_bound(task, loss=loss)["lr_max"][0]
    below = train_lrnn(task, lr=0.95 * lr_max, steps=800, loss=loss, record_every=1)
    assert below.losses[-1] < 1e-20
    above = train_lrnn(task, lr=1.05 * lr_max, steps=800, loss=loss, record_every=1)
    last = above.losses[-4:]
    assert np.all(last > 1e-4 * below.losses[0])                   # not converged
    assert last[0] == pytest.approx(last[2], rel=1e-8) and last[1] == pytest.approx(last[3], rel=1e-8)
    assert abs(last[0] - last[1]) > 1e-3 * last[0]                   # a period-2 orbit
    with pytest.raises(DivergenceError):
        train_lrnn(task, lr=2.6 * lr_max, steps=800, loss=loss)


def test_derive_lists_finite_lr():
    from lrnn_theory.cli.reports import REPORTS

    assert "finite-lr" in REPORTS


def test_network_bound_is_the_smallest_mode_bound_for_two_modes():
    """Cross-mode directions of the full matrices do not curve more than the stiffest mode (measured here)."""
    task = Task.from_dict({"family": "inverse_exponential", "T": 5, "delta": [2.0, 0.5], "lambda": [0.3, 0.9]})
    net, C, bound = _solution_network(task, hidden=3)
    top = hessian_top_eigenvalue(lambda ws: LRNN(*ws).loss_and_grad_population(C)[1], list(net.weights), (0, 1, 2))
    assert bound["lr_max_network"] == pytest.approx(2 / top, rel=1e-6)
    assert bound["lr_max_network"] == pytest.approx(bound["lr_max"][1])   # the second mode is the stiffer one


# ---- every-step tasks through the same sums -----------------------------------------------------------------------
EVERY_STEP = Task.from_family("inverse_exponential", T=4, delta=[1.0, 0.6], lam=[0.7, 0.5], outputs="every_step",
                              init={"a": [0.1, 0.2], "b": [0.1, -0.1], "c": [0.2, 0.1]})


@pytest.mark.parametrize("loss, lr", [("sum_half", 0.005), ("mean", 0.2)])
def test_discrete_map_equals_aligned_every_step_training(loss, lr):
    sim = train_lrnn(EVERY_STEP, hidden=3, lr=lr, steps=1500, loss=loss, record_every=50).trajectory
    discrete = integrate(EVERY_STEP, sim.t[-1], t_eval=sim.t, method=DiscreteGD(lr, loss))
    for q in ("a", "b", "c", "u", "energy"):
        assert np.max(np.abs(getattr(discrete, q) - getattr(sim, q))) < 1e-10, q
    assert np.max(np.abs(sim.u[0] - sim.u[-1])) > 0.1


def test_stable_bound_of_every_step_task_matches_finite_difference_hessian():
    """lambda_max at the every-step zero-loss solution against the Hessian of 1/2 sum_(t,i) r_(t,i)^2 in (a, b, c)."""
    task = Task.from_family("inverse_exponential", T=4, delta=0.8, lam=0.6, outputs="every_step",
                            init={"a": 0.3, "b": 0.1, "c": 0.3})
    bound = stable_lr_bound(task)
    s = task.singular_values[0]
    lag = np.subtract.outer(np.arange(4), np.arange(4))

    def loss(theta):
        a, b, c = theta
        pred = np.where(lag >= 0, c * a * b ** np.maximum(lag, 0), 0.0)
        return 0.5 * np.sum((s - pred) ** 2)

    u, b = bound["u"][0], bound["b"][0]
    theta = np.array([np.sqrt(u), b, np.sqrt(u)])  # balanced zero-loss point (D = 0)
    eps = 1e-4
    H = np.empty((3, 3))
    for p in range(3):
        for q in range(3):
            ep, eq = np.eye(3)[p] * eps, np.eye(3)[q] * eps
            H[p, q] = (loss(theta + ep + eq) - loss(theta + ep - eq) - loss(theta - ep + eq)
                       + loss(theta - ep - eq)) / (4 * eps**2)
    assert bound["lambda_max"][0] == pytest.approx(np.linalg.eigvalsh(H)[-1], rel=1e-6)


def test_modified_flow_of_every_step_task_matches_one_step_to_third_order():
    """The weighted third-derivative sums (w_k = T - k) of the modified flow: local error O(h^3) against the map."""
    from scipy.integrate import solve_ivp

    task = Task.from_family("inverse_exponential", T=4, delta=0.8, lam=0.6, outputs="every_step",
                            init={"a": 0.5, "b": 0.3, "c": 0.4})
    y0 = compile_flow(task).initial_state()
    errors = []
    for lr in (0.02, 0.01, 0.005):
        step = integrate(task, lr, t_eval=[0.0, lr], method=DiscreteGD(lr))
        y_gd = np.array([step.a[1, 0], step.b[1, 0], step.c[1, 0]])
        sol = solve_ivp(compile_modified_flow(task, lr).rates, (0, lr), y0, method="DOP853", rtol=1e-13, atol=1e-15)
        errors.append(np.max(np.abs(sol.y[:, -1] - y_gd)))
    assert np.allclose(-np.diff(np.log2(errors)), 3.0, atol=0.2)


# ---- every kind of task: real, complex, every-step, complex every-step --------------------------------------------
def kind_task(kind, tau=1.0):
    """Two modes with unbalanced, partly complex initial modes: mode 0 geometric (a zero-loss solution), mode 1 not
    (its solution is the minimiser of the reduced energy)."""
    every_step, rotational = "every-step" in kind, "complex" in kind
    lam = 0.8 * np.exp(0.4j) if rotational else 0.8
    T = 4
    lag = np.subtract.outer(np.arange(T), np.arange(T))          # output t, input i: lag t - i
    rng = np.random.default_rng(7)
    if every_step:
        geometric = np.where(lag >= 0, lam ** np.maximum(lag, 0), 0.0)
        other = np.tril(rng.uniform(0.2, 1.0, (T, T)) + (0.3j * rng.uniform(-1, 1, (T, T)) if rotational else 0))
    else:
        geometric = lam ** np.arange(T - 1, -1, -1)
        other = np.array([0.3, 1.0, 0.2, 0.8]) + (0.3j * np.array([1, -1, 0.5, 0]) if rotational else 0)
    imag = {"a_imag": [0.05, 0.0], "b_imag": [0.1, -0.05]} if rotational else {}
    task = Task(np.stack([geometric, 0.7 * other]), init={"a": [0.3, 0.2], "b": [0.2, 0.3], "c": [0.2, 0.4], **imag},
                tau=tau, outputs="every_step" if every_step else "final")
    assert task.kind == kind
    return task


KINDS = ["real", "complex", "every-step", "complex every-step"]


def _state(traj, j):
    return traj.a[j], traj.b[j], traj.c[j]


@pytest.mark.parametrize("kind", KINDS)
def test_discrete_map_is_explicit_gradient_descent_for_every_kind(kind):
    """The map (Euler steps of the flow's rates) against steps of the explicit gradient of
    L = 1/2 sum_links |s - c b^k a|^2 over real and imaginary parts (tests/reference.py, no task sums)."""
    from reference import gradient_descent_explicit

    task = kind_task(kind, tau=1.5)
    lr, steps = 0.02, 300
    traj = integrate(task, steps * lr * task.tau, t_eval=[0.0, steps * lr * task.tau], method=DiscreteGD(lr))
    assert traj.info["steps"] == steps
    expected = gradient_descent_explicit(task.singular_values, task.init.a, task.init.b, task.init.c, lr, steps)
    for got, want in zip(_state(traj, -1), expected):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert np.max(np.abs(traj.u[-1] - traj.u[0])) > 0.1


@pytest.mark.parametrize("loss, lr", [("sum_half", 0.01), ("mean", 0.3)])
def test_discrete_map_equals_block_network_training_on_a_complex_task(loss, lr):
    """A rotational task trained by the harness (aligned real block network, 2x2 blocks per complex mode): the map
    reproduces it step for step, with the mean conventions counted over the real units."""
    task = kind_task("complex")
    sim = train_lrnn(task, hidden=4, lr=lr, steps=1500, loss=loss, record_every=50).trajectory
    discrete = integrate(task, sim.t[-1], t_eval=sim.t, method=DiscreteGD(lr, loss))
    np.testing.assert_allclose(discrete.t, sim.t, rtol=1e-12)
    for q in ("a", "b", "c", "u", "energy"):
        assert np.max(np.abs(getattr(discrete, q) - getattr(sim, q))) < 1e-10, q
    assert np.max(np.abs(sim.u[0] - sim.u[-1])) > 0.1


def test_complex_correction_constant_carries_over_symbolically():
    """The flow of E + (h/4) ||grad E||^2 over the real coordinates of complex modes matches one step to O(h^3):
    the h^2 term of (flow over h) - (step) is zero for a, b and c (Wirtinger form)."""
    assert sym.derive_complex_modified_flow()["residual"] == [0, 0, 0]


@pytest.mark.parametrize("kind", KINDS)
def test_modified_flow_matches_one_explicit_step_to_third_order_for_every_kind(kind):
    """Local error of one step of the explicit gradient (tests/reference.py): O(h^2) for the plain flow, O(h^3) for
    the modified flow (halving lr: /4 against /8)."""
    from scipy.integrate import solve_ivp

    from reference import gradient_descent_explicit, pack

    task = kind_task(kind, tau=1.5)
    complex_modes = task.is_complex
    errors = {"plain": [], "modified": []}
    for lr in (0.02, 0.01, 0.005):
        h = lr * task.tau
        stepped = pack(*gradient_descent_explicit(task.singular_values, task.init.a, task.init.b, task.init.c, lr, 1),
                       complex_modes)
        for name, flow in (("plain", compile_flow(task)), ("modified", compile_modified_flow(task, lr))):
            sol = solve_ivp(flow.rates, (0, h), flow.initial_state(), method="DOP853", rtol=1e-13, atol=1e-15)
            a, b, c = flow.modes(sol.y[:, -1])
            errors[name].append(np.max(np.abs(pack(a, b, c, complex_modes) - stepped)))
    assert np.allclose(-np.diff(np.log2(errors["plain"])), 2.0, atol=0.15), errors
    assert np.allclose(-np.diff(np.log2(errors["modified"])), 3.0, atol=0.15), errors


@pytest.mark.parametrize("kind", ["complex", "complex every-step"])
def test_complex_modified_flow_jacobian_and_energy_match_finite_differences(kind):
    task = kind_task(kind)
    flow = compile_modified_flow(task, DiscreteGD(0.3, "mean"))
    y = flow.initial_state() + 0.1
    assert flow.jacobian_blocks(0.0, y).shape == (2, 6, 6)
    check_jacobian_and_energy(flow, y, 2, energy=flow.modified_energy)
    # E_h - E = (h/4) ||grad E||^2 over the real coordinates, grad E from the explicit sums (tests/reference.py)
    from reference import explicit_gradient

    a, b, c = flow.modes(y)
    grad = np.array(explicit_gradient(task.singular_values, a, b, c)) / task.tau
    expected = flow.step / 4 * np.sum(np.abs(grad) ** 2, axis=0)
    np.testing.assert_allclose(flow.modified_energy(y) - flow.energy(y), expected, rtol=1e-10)


def test_corrected_flow_error_falls_like_lr_squared_on_a_complex_task():
    task = kind_task("complex")
    lrs = np.array([0.04, 0.02, 0.01])
    # t = 4 (not 20): the largest errors are reached at t ~ 1.1-1.4, in the transition; the errors (and slopes)
    # equal those of t = 10 and t = 20 bit for bit
    err = _errors_by_lr(task, lrs, 4.0)
    slopes = np.diff(np.log(err), axis=0) / np.diff(np.log(lrs))[:, None]
    assert np.all(np.abs(slopes[:, 0] - 1) < 0.1), slopes
    assert np.all(np.abs(slopes[:, 1] - 2) < 0.15), slopes


@pytest.mark.parametrize("kind", KINDS)
def test_mode_hessian_is_the_finite_difference_hessian_of_the_explicit_loss(kind):
    from reference import hessian_fd

    task = kind_task(kind, tau=2.0)
    a, b, c = task.init.a + 0.3, task.init.b + 0.4, task.init.c - 0.1
    H = mode_hessian(task, a, b, c)
    assert H.shape == ((2, 6, 6) if task.is_complex else (2, 3, 3))
    for mode in range(2):
        np.testing.assert_allclose(H[mode], hessian_fd(task.singular_values, a, b, c, mode), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("kind", KINDS)
def test_stable_bound_is_the_top_eigenvalue_of_the_finite_difference_hessian_at_the_solution(kind):
    """lambda_max at the solution (zero loss for mode 0, the minimiser of the reduced energy for mode 1) against
    the Hessian of the explicit loss at a point with the task's balance |a|^2 - |c|^2 and a c = u*."""
    from reference import hessian_fd

    task = kind_task(kind)
    bound = stable_lr_bound(task)
    assert bound["zero_loss"].tolist() == [True, False]
    D = np.abs(task.init.a) ** 2 - np.abs(task.init.c) ** 2
    u, b = bound["u"], bound["b"]
    # another split of u between a and c (phase on c, not on a): the eigenvalues do not depend on it
    c = np.sqrt((bound["s"] - D) / 2) * np.exp(1j * np.angle(u)) if task.is_complex else \
        np.sign(u) * np.sqrt((bound["s"] - D) / 2)
    a = np.sqrt((bound["s"] + D) / 2)
    np.testing.assert_allclose(a * c, u, rtol=1e-12)
    for mode in range(2):
        top = np.linalg.eigvalsh(hessian_fd(task.singular_values, a, b, c, mode))[-1]
        assert bound["lambda_max"][mode] == pytest.approx(top, rel=1e-7)
    np.testing.assert_allclose(bound["lr_max"], 2 / bound["lambda_max"], rtol=1e-14)


def test_stable_bound_of_a_complex_mode_is_the_block_networks_hessian_bound():
    """One complex mode at its zero-loss solution: the top Hessian eigenvalue of the harness's block network (2x2
    blocks, population loss over all weights) equals lambda_max."""
    from lrnn_theory.validation.harness import rotational_setup

    task = Task.from_family("inverse_exponential", T=3, delta=1.0, lam=0.8, lambda_phase=0.5,
                            init={"a": 0.3, "c": 0.3})
    bound = stable_lr_bound(task)
    root = np.sqrt(bound["u"])  # a = c, balanced (D = 0)
    setup = rotational_setup(task.with_init(a=root, b=bound["b"], c=root), hidden=3, seed=2)
    assert setup["network"].loss_and_grad_population(setup["C"])[0] < 1e-25
    top = hessian_top_eigenvalue(lambda ws: LRNN(*ws).loss_and_grad_population(setup["C"])[1],
                                 list(setup["network"].weights), (0, 1, 2))
    assert bound["lambda_max"][0] == pytest.approx(top, rel=1e-6)


def test_discrete_map_reports_divergence_of_a_complex_mode_with_its_bound():
    task = Task.from_family("inverse_exponential", T=3, delta=[0.5, 1.0], lam=0.9, lambda_phase=0.3)
    bound = stable_lr_bound(task)["lr_max"]
    with pytest.raises(DivergenceError) as info:
        integrate(task, 100.0, method=DiscreteGD(4 * bound[1]))
    assert info.value.mode == 1 and f"{bound[1]:.4g}" in str(info.value)
    assert integrate(task, 100.0, method=DiscreteGD(0.9 * bound.min())).energy[-1].max() < 1e-20
