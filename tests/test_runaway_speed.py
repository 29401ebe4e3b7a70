"""Issue 25, item 3: runaway modes where users still waited.

1. A huge singular value (delta = 1e6, T = 3) with c0 = 1e-26: after a fast transient, a and c sit on the curved
   manifold a c = u*(b) (Jacobian eigenvalue -2e13) while |b| runs away like t^(1/3). RODAS4 in a, b, c lost its
   order there (steps of 1e-6 at t = 0.01, the 20,000-step cap spent), then BDF and Radau failed slowly and LSODA
   finished. The balanced coordinates u = a c, b, w = a^2 - c^2 (``flow.BalancedModes``) make the manifold a
   graph. Checked against the slow flow of b alone, integrated by scipy (an independent equation and solver).
2. ``lrnn integrate --t-end`` with modes still moving: the hint integrated again from t = 0 to 1e6 tau; it now
   continues from the end state, within a CPU budget.

The speed itself is shown in benchmarks/bench_speed.py; these tests count the work (solver steps, right-hand-side
evaluations, attempts), which grows by orders of magnitude if the fast path is lost. CPU times of the old code quoted
below were measured on one machine with the fallback chain without ``BatchedBalanced`` and the hint restarted from
t = 0 (the old code paths)."""
from __future__ import annotations

import json
import signal

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from lrnn_theory import DivergenceError, Task, integrate
from lrnn_theory import flow as flow_module
from lrnn_theory import solvers
from lrnn_theory.cli import integrate as integrate_cli
from lrnn_theory.cli.runner import main
from lrnn_theory.flow import BalancedModes, compile_flow
from lrnn_theory.solvers import BatchedBalanced

DELTA = 1e6
RUNAWAY = {"family": "constant", "T": 3, "delta": DELTA, "init": {"a": -0.2711, "b": -1.409, "c": 1.05e-26}}
#: Threshold of ``default_divergence_threshold``: 1e3 * largest |s| = 1e9 on |b|^(T-1) = b^2.
THRESHOLD = 1e9


def runaway_task():
    return Task.from_dict(RUNAWAY)


def slow_rate(t, y):
    """db/dt on the manifold dE/du = 0 of the constant task (E = sum_k (s - u b^k)^2 / 2, k = T - i = 0, 1, 2):
    u*(b) = s sum b^k / sum b^2k and db/dt = -dE/db at u*(b). Corrections are of order (du*/dt) / (Jacobian
    eigenvalue), below 1e-12 here."""
    b, k = y[0], np.arange(3.0)
    u = DELTA * np.sum(b ** k) / np.sum(b ** (2 * k))
    return [np.sum((DELTA - u * b ** k) * u * k * b ** np.maximum(k - 1, 0))]


def record_batched_runs(monkeypatch):
    """A list that receives (system class name, most steps of a mode, right-hand-side calls, failure kind or None)
    for every batched run ``integrate`` makes from now on (one per attempt)."""
    runs, real = [], flow_module.solve_blocks

    def recorded(system, *args, **kw):
        sol = real(system, *args, **kw)
        runs.append((type(system).__name__, int(sol.steps.max()), sol.nfev,
                     None if sol.failure is None else sol.failure.kind))
        return sol

    monkeypatch.setattr(flow_module, "solve_blocks", recorded)
    return runs


def count_rodas4_iterations(monkeypatch):
    """A one-element list counting the batched solver's trial steps (all modes together) from now on."""
    count, real = [0], solvers._rodas4_step

    def counted(*args):
        count[0] += 1
        return real(*args)

    monkeypatch.setattr(solvers, "_rodas4_step", counted)
    return count


@pytest.fixture(scope="module")
def runaway_to_5():
    """The trajectory of the runaway to t = 5 at 6 output times."""
    return integrate(runaway_task(), 5.0, n_points=6)


def test_runaway_with_a_huge_singular_value_reaches_t_end_fast_and_right(runaway_to_5):
    """Old code: 29.3 s CPU (the engineer's report: 53 s; batched cap, BDF failed, LSODA b(5) = -24660.955, which is
    6.6e-6 from the slow flow and broke a^2 - c^2 by 3e-3). Now about 2.5 s: the balanced solver, first and only
    attempt, in ~5,200 steps."""
    traj = runaway_to_5
    assert traj.info["method"] == "Batched-balanced" and traj.info["not_converged"] == [0]
    # Work: one attempt (nothing failed first) of at most 8,000 steps (5,182 measured, margin for controller
    # changes). Plain RODAS4 in a, b, c spends >= 8,189 steps before it is projected hopeless, and the scipy
    # fallbacks are never reached (they would leave "attempts" in info). Few rejected steps (3 measured): with the
    # rate of w = a^2 - c^2 computed as 2 (a da/dt - c dc/dt), its rounding counted as error and 185 steps of
    # t in [1, 5] were rejected (``BalancedModes``: the rate is 0).
    assert "attempts" not in traj.info
    assert traj.info["steps_max"] < 8000 and traj.info["nfev"] < 8000 * 7
    assert traj.info["rejected"] < 30
    # b from t = 1 on follows the slow flow (started from the trajectory's own b(1))
    ref = solve_ivp(slow_rate, (1.0, 5.0), [traj.b[1, 0]], method="LSODA", rtol=1e-12, atol=1e-6,
                    t_eval=traj.t[2:])
    np.testing.assert_allclose(traj.b[2:, 0], ref.y[0], rtol=1e-7)
    b = traj.b[-1, 0]
    k = np.arange(3.0)
    assert traj.u[-1, 0] == pytest.approx(DELTA * np.sum(b ** k) / np.sum(b ** (2 * k)), rel=1e-8)
    # the gradient flow keeps a^2 - c^2 (0.2711^2 - 1e-52): exactly in the balanced coordinates, to the rounding of
    # a and c from u and w (old LSODA: 3e-3 off; w integrated from its computed rate: 5e-8)
    np.testing.assert_allclose(traj.a[:, 0] ** 2 - traj.c[:, 0] ** 2, 0.2711 ** 2, rtol=1e-13)
    assert b ** 2 < THRESHOLD  # not a divergence by t = 5


def test_runaway_with_a_huge_singular_value_diverges_fast_at_the_slow_flows_time(runaway_to_5, monkeypatch):
    """Old code: 32.2 s CPU and t = 10.5421. Now about 1.5 s (the crossing predicted from its growth), at the
    time of the slow flow (from the state at t = 1), where b^2 = 1e9, with the message of a crossing."""
    crossing = lambda t, y: abs(y[0]) - np.sqrt(THRESHOLD)  # noqa: E731
    crossing.terminal = True
    ref = solve_ivp(slow_rate, (1.0, 100.0), [runaway_to_5.b[1, 0]], method="LSODA", rtol=1e-12, atol=1e-6,
                    events=crossing)
    t_ref = float(ref.t_events[0][0])
    runs = record_batched_runs(monkeypatch)
    with pytest.raises(DivergenceError) as err:
        integrate(runaway_task(), 20.0)
    # Work: one balanced run, stopped by the prediction from the growth after at most 5,000 steps (3,425 measured,
    # ~2,070 of them in the transient of t in [1e-6, 1e-5], where RODAS4 loses an order to the stiffness, h |lambda|
    # ~ 1: Radau IIA takes 663 steps there, BDF 761); the old path spent the plain solver's cap and the scipy
    # fallbacks.
    ((system, steps, nfev, failure),) = runs
    assert system == "BalancedModes" and failure == "diverged" and steps < 5000 and nfev < 5000 * 7
    assert err.value.mode == 0 and err.value.time == pytest.approx(t_ref, rel=1e-5)
    assert str(err.value).startswith(f"learning dynamics diverged at t={t_ref:.6g}: in mode 0, |a|, |c| or the "
                                     f"recurrent gain |b|^(T-1) grew past 1e+09")


@pytest.mark.slow  # the default run shows the capability on the case above
def test_a_runaway_below_the_badly_scaled_limit_leaves_plain_rodas4_early():
    """delta = 1e3 (the default method first): RODAS4 in a, b, c needs ~4e4 steps to t = 500; the projection of
    its steps stops it at 8192 of its 20,000 (``solvers._mark_hopeless``), and the balanced solver finishes. Old
    code: 7.9 s CPU (the whole cap, then BDF, b(500) 8e-7 from the slow flow); now 2.9 s. b follows the slow
    flow."""
    task = Task.from_family("constant", T=3, delta=1e3, init={"a": -0.2711, "b": -1.409, "c": 1.05e-26})
    traj = integrate(task, 500.0, n_points=3)
    (attempt,) = traj.info["attempts"]  # work: plain RODAS4 stopped at 8189 steps (not its cap), then balanced
    assert traj.info["method"] == "Batched-balanced" and "steps projected to t_end at 8189 steps" in attempt

    def slow(t, y):  # as ``slow_rate`` with s = 1e3
        b, k = y[0], np.arange(3.0)
        u = 1e3 * np.sum(b ** k) / np.sum(b ** (2 * k))
        return [np.sum((1e3 - u * b ** k) * u * k * b ** np.maximum(k - 1, 0))]

    ref = solve_ivp(slow, (250.0, 500.0), [traj.b[1, 0]], method="LSODA", rtol=1e-12, atol=1e-8)
    assert traj.b[-1, 0] == pytest.approx(ref.y[0, -1], rel=1e-7)


def test_balanced_coordinates_map_back_and_their_jacobian_is_the_derivative_of_their_rates():
    """Round trip a, b, c -> u, b, w -> a, b, c on both branches (|a| > |c|, |a| < |c|) and both signs, and the
    Jacobian (P J + E) P^-1 against central differences of the rates in u, b, w."""
    Y = np.array([[0.7, 0.4, -0.2], [-0.3, 1.1, 0.9], [-1.2, -0.5, -0.6], [0.25, 0.8, -1.3]])
    task = Task(np.array([[0.5, 1.0, 2.0]] * 4), init={"a": Y[:, 0], "b": Y[:, 1], "c": Y[:, 2]})
    flow = compile_flow(task)
    system = BalancedModes(flow, Y)
    Z = system.balanced(Y)
    np.testing.assert_allclose(Z[:, 0], Y[:, 0] * Y[:, 2], rtol=1e-15)
    np.testing.assert_allclose(system.modes_of(Z), Y, rtol=1e-14, atol=1e-15)
    modes = np.arange(4)
    J = system.jacobian_rows(0.0, Z.T.copy(), modes)
    for j in range(3):
        step = 1e-6 * np.maximum(1.0, np.abs(Z[:, j]))
        up, down = Z.T.copy(), Z.T.copy()
        up[j] += step
        down[j] -= step
        numeric = (system.rates_rows(0.0, up, modes) - system.rates_rows(0.0, down, modes)) / (2 * step)
        np.testing.assert_allclose(J[:, j], numeric, rtol=1e-6, atol=1e-8)
    # the rates are those of a, b, c carried over: du/dt = c da/dt + a dc/dt, dw/dt = 2 (a da/dt - c dc/dt) = 0,
    # which the balanced system takes as exactly 0 (rate and row of the Jacobian): the flow in a, b, c gives 0 to
    # rounding, at these states and around them (so that its derivative is 0 too)
    f = flow.rates_rows(0.0, Y.T.copy(), modes)
    g = system.rates_rows(0.0, Z.T.copy(), modes)
    np.testing.assert_allclose(g[0], Y[:, 2] * f[0] + Y[:, 0] * f[2], rtol=1e-12)
    assert np.all(g[2] == 0.0) and np.all(J[2] == 0.0)
    for shift in (0.0, 1e-3, -0.2):
        X = system.modes_of(Z + shift).T.copy()
        fx = flow.rates_rows(0.0, X, modes)
        np.testing.assert_allclose(2 * (X[0] * fx[0] - X[2] * fx[2]), 0.0, atol=1e-14)
    # the batched solver's row functions (bound per set of running modes) give the same numbers, on every mode and
    # on a subset
    for subset in (modes, np.array([1, 3])):
        rates, jacobian = system.row_functions(subset)
        Zr = Z[subset].T.copy()
        np.testing.assert_array_equal(rates(0.0, Zr), system.rates_rows(0.0, Zr, subset))
        np.testing.assert_array_equal(jacobian(0.0, Zr), system.jacobian_rows(0.0, Zr.copy(), subset))


def test_balanced_solver_equals_the_default_on_a_converging_task():
    task = Task.inverse_exponential(delta=[1.0, 0.3], lam=0.5, T=4, init={"a": [0.1, -0.2], "c": [0.05, 0.3]})
    default = integrate(task, 400.0, n_points=41)
    balanced = integrate(task, 400.0, n_points=41, method=BatchedBalanced())
    assert default.info["method"] == "Batched" and balanced.info["method"] == "Batched-balanced"
    for name in ("a", "b", "c"):
        np.testing.assert_allclose(getattr(balanced, name), getattr(default, name), rtol=1e-6, atol=1e-8)
    # the zero-loss fixed point b = lambda, u = delta
    assert balanced.b[-1] == pytest.approx([0.5, 0.5], abs=1e-6)
    assert balanced.u[-1] == pytest.approx([1.0, 0.3], abs=1e-6)


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def warning_line(out):
    (line,) = [line for line in out.splitlines() if line.startswith("warning")]
    return line


@pytest.mark.slow  # the default run shows the capability on the case above
def test_hint_for_a_runaway_continues_from_the_end_state(tmp_path, capsys, monkeypatch):
    """Old code: 67.1 s CPU for the command (the hint integrated again from t = 0 through the slow fallbacks);
    now about 3 s. The crossing time is the slow flow's (test above: 10.5419)."""
    path = tmp_path / "task.json"
    path.write_text(json.dumps(RUNAWAY))
    runs = record_batched_runs(monkeypatch)
    code, out, err = run_cli(capsys, "integrate", path, "--t-end", 5, "--n-points", 3, "--out", tmp_path / "o.npz")
    assert code == 0
    # Work: the run to t = 5 and the hint, each one balanced run (no fallbacks); the hint from the end state
    assert [(system, failure) for system, _, _, failure in runs] == [("BalancedModes", None),
                                                                     ("BalancedModes", "diverged")]
    assert all(steps < 8000 for _, steps, _, _ in runs)
    assert warning_line(out).endswith("; they do not converge: mode 0 runs away (no finite minimum), passing the "
                                      "divergence threshold at t = 10.54")


DIRAC_RUNAWAY = {"family": "dirac", "T": 4, "beta": 3, "kappa": 0.5}


@pytest.fixture(scope="module")
def dirac_runaway_to_50():
    """The run of the Dirac runaway of the brief to t_end = 50 that both hint tests continue from (read only)."""
    return integrate(Task.from_dict(DIRAC_RUNAWAY), 50.0)


def test_hint_continues_from_the_end_state_instead_of_restarting(dirac_runaway_to_50, monkeypatch):
    """The Dirac runaway of the brief (T = 4, beta = 3, kappa = 0.5) at t_end = 50: the hint alone cost 1.7 s CPU
    from t = 0 (2.6 s the command); from the end state 0.6 s. Its integration starts at the trajectory's last state
    and its times are counted from t_end."""
    from lrnn_theory import flow as flow_module

    task, traj = Task.from_dict(DIRAC_RUNAWAY), dirac_runaway_to_50
    starts = []
    real_integrate = flow_module.integrate

    def recorded(start, *args, **kw):
        starts.append((start.init.a.copy(), start.init.b.copy(), start.init.c.copy(), kw.get("t_max")))
        return real_integrate(start, *args, **kw)

    monkeypatch.setattr(flow_module, "integrate", recorded)
    runs = record_batched_runs(monkeypatch)
    args = type("Args", (), dict(n_points=201, rtol=None, atol=None, converged_tol=None))()
    hint = integrate_cli.suggest_t_end(task, None, None, args, traj)
    # Work: one plain batched run (no fallback) of at most 3,000 steps (1,911 measured), from the end state
    ((system, steps, _, failure),) = runs
    assert system == "CompiledFlow" and failure is None and steps < 3000
    (a, b, c, t_max), = starts
    np.testing.assert_array_equal([a, b, c], [traj.a[-1], traj.b[-1], traj.c[-1]])
    assert t_max == pytest.approx(1e6 - 50.0)
    assert hint in ("mode 0 does not converge by t = 1e+06 either",
                    "every mode converges at t = 1e+06: try --t-end 1.3e+06, or leave out --t-end")


def test_hint_says_when_its_budget_runs_out(dirac_runaway_to_50, monkeypatch):
    task, traj = Task.from_dict(DIRAC_RUNAWAY), dirac_runaway_to_50
    monkeypatch.setattr(integrate_cli, "HINT_CPU_BUDGET", 0.02)
    iterations = count_rodas4_iterations(monkeypatch)
    args = type("Args", (), dict(n_points=201, rtol=None, atol=None, converged_tol=None))()
    hint = integrate_cli.suggest_t_end(task, None, None, args, traj)
    assert hint == ("no converged t_end found within the hint's budget of 0.02 s CPU: leave out --t-end to integrate "
                    "until every mode has converged")
    # Work: the timer stopped the integration early, at fewer than half of the 2,128 trial steps the whole hint
    # takes (test above; ~80 fit in 0.02 s CPU), and is switched off afterwards
    assert 0 < iterations[0] < 1064 and signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)
