"""The batched per-mode solver (RODAS4, ``lrnn_theory.solvers.solve_blocks``) against closed forms, matrix
exponentials and LSODA; per-mode divergence and stuck-step reports; the table of powers of b."""
import functools

import numpy as np
import pytest
from scipy.linalg import expm

from lrnn_theory import DivergenceError, IntegrationError, LrnnInputError, Task, compile_flow, integrate
from lrnn_theory.task_sums import TaskSums
from lrnn_theory.solvers import CONVERGED, DIVERGED, REACHED_END, solve_blocks
from reference import interpolate_outputs_per_time


def logistic_u(t, s, u0, tau=1.0):
    """Closed form of u = a c for T = 1 (b never acts) and a = c: tau du/dt = 2 u (s - u)."""
    g = np.exp(2 * s * t / tau)
    return s * u0 * g / (s - u0 + u0 * g)


def test_rodas4_has_order_four_on_the_logistic_with_b_frozen():
    """Fixed steps h = t/n (one accepted step per call): the global error of u must fall like h^4."""
    s, a0, t_end = 1.5, 0.3, 2.0
    flow = compile_flow(Task([[s]], init={"a": a0, "b": 0.4, "c": a0}))
    errors = []
    for n in (8, 16, 32, 64):
        h = t_end / n
        y = flow.initial_state().reshape(1, 3)
        for _ in range(n):
            sol = solve_blocks(flow, y, h, [h], rtol=1e3, atol=1e3, first_step=h)
            assert sol.steps[0] == 1 and sol.rejected[0] == 0
            y = sol.y_final
        assert y[0, 1] == 0.4  # b frozen
        errors.append(abs(y[0, 0] * y[0, 2] - logistic_u(t_end, s, a0 * a0)))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 3.7), orders
    assert errors[-1] < 1e-8


class LinearBlocks:
    """K independent linear systems dy/dt = M_k y with m x m blocks (generic block size, closed form expm)."""

    def __init__(self, M):
        self.M = M

    def rates_blocks(self, t, Y, modes):
        return np.einsum("kij,kj->ki", self.M[modes], Y)

    def jacobian_blocks(self, t, Y, modes):
        return self.M[modes]


@pytest.mark.parametrize("m", [1, 3, 6])
def test_generic_block_size_against_matrix_exponential(m):
    rng = np.random.default_rng(m)
    K = 7
    # stable blocks with stiffness ratios up to 1e4 (eigenvalues -1e-1 .. -1e3) and rotation
    Q = np.linalg.qr(rng.normal(size=(K, m, m)))[0]
    lam = -np.exp(rng.uniform(np.log(0.1), np.log(1e3), (K, m)))
    M = np.einsum("kij,kj,klj->kil", Q, lam, Q) + 0.3 * (lambda R: R - R.transpose(0, 2, 1))(rng.normal(size=(K, m, m)))
    Y0 = rng.normal(size=(K, m))
    t_eval = np.array([0.0, 0.3, 1.0, 2.5])
    # rtol 1e-8 (half the steps of 1e-9): errors up to 3e-9, still 30x inside the tolerance asserted
    sol = solve_blocks(LinearBlocks(M), Y0, 2.5, t_eval, rtol=1e-8, atol=1e-11)
    want = np.stack([np.einsum("kij,kj->ki", expm(M * t), Y0) for t in t_eval])
    np.testing.assert_allclose(sol.Y, want, atol=1e-7)
    assert np.all(sol.status == REACHED_END)


@pytest.mark.parametrize("kind", ["real", "complex", "frozen"])
def test_row_functions_of_the_solver_equal_rates_rows_and_jacobian_rows(kind):
    """What the batched solver calls (``CompiledFlow.row_functions``: the generated programs bound once per set of
    running modes, results in their buffers) gives the numbers of ``rates_rows`` and ``jacobian_rows``, bit for bit,
    on all modes and on a subset, for real and complex modes and with frozen components (rows zero); the rates
    stay as they are through a Jacobian call (``BalancedModes.row_functions`` reads both)."""
    rng = np.random.default_rng(3)
    K, T = 5, 4
    s = rng.uniform(-1.0, 1.5, (K, T)) + (1j * rng.uniform(-1.0, 1.0, (K, T)) if kind == "complex" else 0.0)
    init = {name: rng.uniform(-0.6, 0.6, K) for name in "abc"}
    if kind == "complex":
        init |= {name + "_imag": rng.uniform(-0.6, 0.6, K) for name in "abc"}
    flow = compile_flow(Task(s, init=init))
    if kind == "frozen":
        flow.frozen_components = np.array([False, True, False])
    m = flow.block_size
    for modes in (np.arange(K), np.array([0, 2, 3])):
        rates, jacobian = flow.row_functions(modes)
        Yr = rng.normal(size=(m, modes.size))
        want_rates, want_jacobian = flow.rates_rows(0.0, Yr, modes), flow.jacobian_rows(0.0, Yr, modes)
        got_rates = rates(0.0, Yr)
        got_jacobian = jacobian(0.0, 2 * Yr).copy()  # another state
        np.testing.assert_array_equal(got_rates, want_rates)
        np.testing.assert_array_equal(jacobian(0.0, Yr), want_jacobian)
        assert not np.array_equal(got_jacobian, want_jacobian)
        if kind == "frozen":
            assert np.all(got_rates[1] == 0.0) and np.all(want_jacobian[1] == 0.0) and np.any(got_rates[0] != 0.0)


def random_task(seed, K=6):
    """Random task with a mode at a = c = 0 (stays put), a mode whose b crosses 1 and general modes."""
    rng = np.random.default_rng(seed)
    T = int(rng.integers(2, 7))
    s = rng.uniform(-1.0, 1.5, (K, T))
    a, b, c = rng.uniform(-0.6, 0.6, K), rng.uniform(-0.6, 0.6, K), rng.uniform(-0.6, 0.6, K)
    a[0] = c[0] = 0.0                                 # fixed point: a = c = 0
    s[1] = 0.8 * 1.3 ** np.arange(T - 1, -1, -1)       # inverse-exponential profile, lambda = 1.3: b goes to 1.3
    a[1], b[1], c[1] = 0.5, 0.5, 0.5
    return Task(s, init={"a": a, "b": b, "c": c})


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)])
def test_trajectories_equal_lsoda_at_tight_tolerance(seed):
    task = random_task(seed)
    t_eval = np.linspace(0, 10.0, 26)  # mode 1's b crosses 1 by t = 2 and settles at 1.3
    new = integrate(task, 10.0, t_eval=t_eval, rtol=1e-10, atol=1e-12)
    ref = integrate(task, 10.0, t_eval=t_eval, method="LSODA", rtol=1e-10, atol=1e-12)
    assert new.info["method"] == "Batched"
    for q in ("a", "b", "c"):
        np.testing.assert_allclose(getattr(new, q), getattr(ref, q), atol=2e-7)
    assert np.all(new.a[:, 0] == 0) and np.all(new.c[:, 0] == 0)
    assert new.b[0, 1] < 1 < new.b[-1, 1]


DIVERGING = dict(beta=[0.3, 1.5, 0.3, 3.0, 0.3], kappa=0.5, T=6, init={"a": 0.5, "b": [0.1, 0.9, 0.1, 1.0, 0.1], "c": 0.5})


def test_divergence_names_the_first_mode_to_diverge():
    """Dirac tasks with beta > kappa have no finite minimiser (b runs away); modes 1 and 3 diverge, mode 3 first.
    (Loose tolerances: the crossings, t = 1.42 and later, are far apart.)"""
    kw = dict(divergence_threshold=100.0, rtol=1e-6, atol=1e-8)  # |b|^5 > 100: b past 2.5
    with pytest.raises(DivergenceError) as both:
        integrate(Task.dirac(**DIVERGING), 1e6, **kw)
    assert both.value.mode == 3 and "mode 3" in str(both.value)
    one = dict(DIVERGING, beta=DIVERGING["beta"][:2], init=dict(DIVERGING["init"], b=DIVERGING["init"]["b"][:2]))
    with pytest.raises(DivergenceError) as alone:  # mode 1 alone diverges too, later
        integrate(Task.dirac(**one), 1e6, **kw)
    assert alone.value.mode == 1 and alone.value.time > both.value.time


@pytest.mark.slow
def test_divergence_time_and_mode_equal_lsodas():
    kw = dict(rtol=1e-9, atol=1e-11, divergence_threshold=1e3)
    with pytest.raises(DivergenceError) as new:
        integrate(Task.dirac(**DIVERGING), 1e6, **kw)
    with pytest.raises(DivergenceError) as ref:
        integrate(Task.dirac(**DIVERGING), 1e6, method="LSODA", **kw)
    assert new.value.mode == ref.value.mode == 3
    assert new.value.time == pytest.approx(ref.value.time, rel=1e-3)


@functools.lru_cache(maxsize=None)
def _chunked_run(chunk_size):
    """A converging task of 7 modes in chunks of ``chunk_size`` (7: one chunk, the reference every case shares).
    Loose tolerances (a fifth of the steps): chunking must not change a single step at any tolerance, and the
    statuses stay the same mix (mode 0 converged at the start, one mode reaching the end, the rest converging)."""
    flow = compile_flow(random_task(3, K=7))
    kw = dict(t_end=25.0, t_eval=np.linspace(0, 25.0, 6), rtol=1e-6, atol=1e-8, converged_tol=1e-6)
    return solve_blocks(flow, flow.initial_state().reshape(7, 3), chunk_size=chunk_size, **kw)


@functools.lru_cache(maxsize=None)
def _chunked_divergence(chunk_size):
    """The diverging Dirac task of 5 modes in chunks of ``chunk_size`` (5: one chunk, the shared reference). Loose
    tolerances and t_end = 10 (a quarter of the steps): mode 3 still crosses first (t = 1.418) and mode 1, alone in
    its chunk, later; the other modes reach the end or halt."""
    diverging = compile_flow(Task.dirac(**DIVERGING))
    gain = lambda Yr: (DIVERGING["T"] - 1) * np.log(np.abs(Yr[1]))  # noqa: E731
    return solve_blocks(diverging, diverging.initial_state().reshape(5, 3), 10.0, [10.0], 1e-6, 1e-8,
                        log_gain=gain, log_threshold=np.log(100.0), chunk_size=chunk_size)


@pytest.mark.parametrize("chunk_size", [1, 2, 3])
def test_chunks_give_the_same_solution_and_the_same_first_divergence(chunk_size):
    """Large runs are integrated in chunks of modes (cache); the result must not depend on the chunking: equal
    trajectories, statuses and steps, and the earliest divergence (mode 3, in a later chunk than mode 1) named.
    The one-chunk references are computed once for the three cases."""
    whole = _chunked_run(7)
    parts = _chunked_run(chunk_size)
    np.testing.assert_allclose(parts.Y, whole.Y, rtol=1e-12, atol=1e-14)
    assert parts.status.tolist() == whole.status.tolist() and parts.steps.tolist() == whole.steps.tolist()
    runs = [_chunked_divergence(size) for size in (5, chunk_size)]
    assert runs[0].failure.kind == runs[1].failure.kind == "diverged"
    assert runs[0].failure.mode == runs[1].failure.mode == 3
    assert runs[1].failure.time == pytest.approx(runs[0].failure.time, rel=1e-12)
    assert runs[1].status[1] == DIVERGED  # mode 1 crossed too, in its earlier chunk, but later in time


@pytest.mark.parametrize("chunk_size", [4, 2, 3])
def test_stuck_mode_is_named(chunk_size):
    """A badly scaled mode (singular values 1e300: every trial step overflows) among ordinary ones. ``integrate``
    refuses such a task up front (its energy overflows), so the solver is called directly."""
    s = np.ones((4, 3))
    s[2] = 1e300
    flow = compile_flow(Task(s))
    sol = solve_blocks(flow, flow.initial_state().reshape(4, 3), 10.0, [10.0], 1e-8, 1e-10, chunk_size=chunk_size)
    assert sol.failure is not None and sol.failure.kind == "stuck" and sol.failure.mode == 2
    with pytest.raises(LrnnInputError, match="singular_values"):
        integrate(Task(s), 10.0, divergence_threshold=1e300)


def test_converged_modes_drop_out_and_keep_their_state():
    task = Task.inverse_exponential(delta=[1.0, 0.5, 2.0], lam=[0.5, 0.3, 0.8], T=4)
    traj = integrate(task, 1e4, n_points=10_001, converged_tol=1e-10)
    assert traj.info["status"] == 1 and traj.t[-1] < 1e4
    np.testing.assert_allclose(traj.b[-1], [0.5, 0.3, 0.8], atol=1e-8)
    np.testing.assert_allclose(traj.u[-1], [1.0, 0.5, 2.0], atol=1e-8)
    flow = compile_flow(task)
    sol = solve_blocks(flow, flow.initial_state().reshape(3, 3), 1e4, [1e4], 1e-8, 1e-10, converged_tol=1e-10)
    assert np.all(sol.status == CONVERGED) and np.all(sol.t_final < 1e4)
    # fewer steps than a shared step size would need: modes stop at different times
    assert len(set(sol.steps.tolist())) > 1


@pytest.mark.slow
def test_dense_output_matches_stopping_at_each_time():
    task = random_task(5)
    t_eval = np.array([0.0, 0.37, 1.9, 4.4])
    dense = integrate(task, 7.0, t_eval=t_eval, rtol=1e-9, atol=1e-11)
    for i, t in enumerate(t_eval[1:], start=1):
        direct = integrate(task, t, n_points=2, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(dense.b[i], direct.b[-1], atol=1e-7)
        np.testing.assert_allclose(dense.u[i], direct.u[-1], atol=1e-7)


@pytest.mark.parametrize("T", [1, 2, 3, 7, 8, 50])
def test_powers_by_repeated_squaring_equal_direct_powers(T):
    b = np.array([-1.3, -0.5, 0.0, 0.7, 1.0, 1.1])
    P = TaskSums(np.ones((6, T))).powers(b)
    np.testing.assert_allclose(P, b[:, None] ** np.arange(T), rtol=1e-13, atol=0)


def test_command_line_help_and_usage_errors_import_no_heavy_library():
    """``lrnn --help``, every subcommand's ``--help`` and a usage error answer without sympy, scipy, matplotlib."""
    import subprocess
    import sys

    code = """
import sys
from lrnn_theory.cli import build_parser, main
commands = [c for c in build_parser()._subparsers._group_actions[0].choices]
for argv in [["--help"], ["integrate"], ["integrate", "--t-end", "x"]] + [[c, "--help"] for c in commands]:
    try:
        main(argv)
    except SystemExit as exc:
        assert exc.code in (0, 2), (argv, exc.code)
heavy = sorted(m for m in ("sympy", "scipy", "matplotlib") if m in sys.modules)
print(len(commands), heavy)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    n_commands, heavy = out.strip().splitlines()[-1].split(" ", 1)
    assert int(n_commands) >= 6 and heavy == "[]"


def test_fixed_point_end_points_equal_long_integration_where_valid():
    from lrnn_theory.fixed_points import flow_endpoints

    rng = np.random.default_rng(3)
    K, T = 16, 6
    task = Task(rng.uniform(-0.5, 1.5, (K, T)), init={"a": rng.uniform(-0.3, 0.3, K), "b": rng.uniform(-0.6, 0.6, K),
                                                      "c": rng.uniform(-0.3, 0.3, K)})
    ends = flow_endpoints(task)
    long = integrate(task, 500.0, n_points=2, converged_tol=1e-10)
    ok = ends.valid
    assert 8 <= ok.sum() < K
    for q in ("a", "b", "c", "u"):
        np.testing.assert_allclose(getattr(ends, q)[ok], getattr(long, q)[-1, ok], atol=1e-7)
    assert np.all(np.isnan(ends.b[~ok]))
    # every mode whose recurrent branch runs off is flagged (the check may also flag a few that do settle)
    assert np.all(~ok[np.abs(long.b[-1]) > 2])


@pytest.mark.slow
def test_sweep_fixed_point_end_points_match_integration():
    from lrnn_theory.sweeps import IntegrationOptions, TaskGrid, sweep

    axes = {"beta": np.array([0.05, 3.0]), "kappa": np.array([0.5, 1.0])}
    grid = TaskGrid("dirac", 3, axes, init={"a": 0.1, "b": 0.1, "c": 0.1})
    fast = sweep(grid, IntegrationOptions(t_end=100.0, endpoint="fixed_point"))
    slow = sweep(grid, IntegrationOptions(t_end=100.0))
    assert fast.info["endpoint"] == "fixed_point"
    converged = slow.rate < 1e-9
    assert converged.sum() >= 2 and not converged.all()
    np.testing.assert_allclose(fast.b[converged], slow.b[converged], atol=1e-7)
    np.testing.assert_allclose(fast.u[converged], slow.u[converged], atol=1e-7)
    np.testing.assert_allclose(fast.b[~converged], slow.b[~converged], rtol=1e-6)  # runaway: integrated as usual


@pytest.mark.parametrize("m", [2, 3, 6])
def test_batched_inverse_flags_singular_blocks_and_inverts_badly_scaled_ones(m):
    from lrnn_theory.solvers import _batched_inverse_rows

    W = np.random.default_rng(m).normal(size=(50, m, m))
    W[3] = 0.0
    W[4, 0, 0] = np.nan
    W[5] = np.outer(np.arange(1.0, m + 1), np.arange(2.0, m + 2))  # rank 1
    W[6] = np.diag(np.logspace(-8, 8, m))                           # invertible, badly scaled
    with np.errstate(all="ignore"):
        inv, singular = _batched_inverse_rows(np.moveaxis(W, 0, 2).copy())
        inv = np.moveaxis(inv, 2, 0)
    assert np.flatnonzero(singular).tolist() == [3, 4, 5]
    ok = ~singular
    np.testing.assert_allclose(inv[ok] @ W[ok], np.broadcast_to(np.eye(m), W[ok].shape), atol=1e-10)


def test_dense_output_of_many_points_equals_few_points_and_the_per_time_pass(monkeypatch):
    """Issue 25: all output times crossed in a step are interpolated at once. 2, 101 and 1001 output points give the
    same values at their common times, and the same values as the former pass per output time, bit for bit (the
    steps do not depend on the output times); converged modes keep their state, uneven output times work. Loose
    tolerances (about 100 steps for 1001 points: up to 10 output times crossed per step, the case batched here)."""
    from lrnn_theory import solvers

    task = random_task(7, K=6)
    flow = compile_flow(task)
    Y0 = flow.initial_state().reshape(6, 3)
    uneven = np.sort(np.concatenate([[0.0, 12.0], np.random.default_rng(1).uniform(0, 12, 57)]))
    grids = {n: np.linspace(0.0, 12.0, n) for n in (2, 101, 1001)} | {"uneven": uneven}
    kw = dict(rtol=1e-6, atol=1e-8, converged_tol=1e-6)
    new = {n: solve_blocks(flow, Y0, 12.0, t, **kw) for n, t in grids.items()}
    monkeypatch.setattr(solvers, "_interpolate_outputs", interpolate_outputs_per_time)
    old = {n: solve_blocks(flow, Y0, 12.0, grids[n], **kw) for n in (1001, "uneven")}
    for n in grids:
        if n in old:
            np.testing.assert_array_equal(new[n].Y, old[n].Y)
        assert not np.isnan(new[n].Y).any()
    assert (new[1001].status == CONVERGED).any() and new[1001].steps.max() < 1001 / 5
    np.testing.assert_allclose(new[1001].Y[::10], new[101].Y, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(new[1001].Y[[0, -1]], new[2].Y, rtol=1e-10, atol=1e-14)
    monkeypatch.undo()
    traj = integrate(task, 12.0, n_points=1001, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(traj.b[::500], integrate(task, 12.0, n_points=3, rtol=1e-6, atol=1e-8).b, rtol=1e-10,
                               atol=1e-14)


#: Crossing time of |b|^5 = 1e8 by mode 1 below (Radau, rtol 1e-12, atol 1e-14; BDF at the default tolerances gives
#: 157005.129, LSODA 157005.058).
RUNAWAY_CROSSING = 157005.1012


def test_runaway_mode_is_recognised_by_its_growth(monkeypatch):
    """Issue 25: the Dirac task's recurrent branch (beta > kappa) runs away slowly, |b|^5 reaching 1e8 at t = 1.57e5
    (b ~ t^(1/4)): the batched solver spent its 20,000-step cap before the fallback BDF found the crossing. Its
    growth law now predicts the crossing: the right mode, the time to 1e-4 of the reference and the state there,
    after a tenth of the cap (the converging mode 0 halts there), with the message of a crossing found by stepping.
    One run: ``integrate``'s own call of the solver is recorded (its log gain max(log|a|, 5 log|b|, log|c|) is
    5 log|b| here, the threshold 1e8, the tolerances 1e-8 and 1e-10, the cap 20,000 steps)."""
    from lrnn_theory import flow as flow_module

    solutions = []

    def recorded_solve_blocks(*args, **kw):
        solutions.append(solve_blocks(*args, **kw))
        return solutions[-1]

    monkeypatch.setattr(flow_module, "solve_blocks", recorded_solve_blocks)
    task = Task.dirac(beta=[0.3, 2.0], kappa=0.5, T=6, init={"a": 0.5, "b": [0.1, 1.2], "c": 0.5})
    with pytest.raises(DivergenceError) as err:
        integrate(task, 1e7)
    (sol,) = solutions  # no fallback to another method
    assert flow_module.MAX_BATCHED_STEPS == 20_000
    fail = sol.failure
    assert fail.kind == "diverged" and fail.mode == 1 and fail.detail.startswith("predicted from its growth")
    assert fail.time == pytest.approx(RUNAWAY_CROSSING, rel=1e-4)
    assert fail.y[1] == pytest.approx(1e8 ** (1 / 5), rel=1e-4) and fail.y[0] == pytest.approx(1.414e-4, rel=1e-3)
    assert sol.t_final[1] < fail.time / 20 and sol.steps.max() < 2_000
    assert err.value.mode == 1 and err.value.time == pytest.approx(RUNAWAY_CROSSING, rel=1e-4)
    assert str(err.value).startswith("learning dynamics diverged at t=157005: in mode 1, |a|, |c| or the recurrent "
                                     "gain |b|^(T-1) grew past 1e+08 (a=0.0001414, b=39.81, c=0.0001414)")


class PowerGrowth:
    """dy/dt = y^-3 (1 + p / y - y / y_max) (m = 1): y ~ t^(1/4) like the runaway's b (corrections p / y fading as it
    grows) while y << y_max, then it settles below y_max."""

    def __init__(self, p, y_max):
        self.p, self.y_max = p, y_max

    def rates_blocks(self, t, Y, modes):
        return Y ** -3 * (1 + self.p / Y - Y / self.y_max)

    def jacobian_blocks(self, t, Y, modes):
        return (-3 * Y ** -4 * (1 + self.p / Y - Y / self.y_max) + Y ** -3 * (-self.p / Y ** 2 - 1 / self.y_max))[
            :, :, None]


def test_growth_that_stops_or_crosses_after_the_end_is_not_a_divergence(monkeypatch):
    """No prediction fires for growth that settles below the threshold (y -> 30, y^5 -> 2.4e7 < 1e8, though y grows
    like t^(1/4) for a long time), nor for the Dirac runaway above when its crossing lies after t_end; for a
    power law with fading corrections the prediction equals the crossing found by stepping (watched from the 20th
    step here, to exercise it)."""
    from lrnn_theory import solvers

    monkeypatch.setattr(solvers, "GROWTH_WATCH_STEPS", 20)
    kw = dict(log_gain=lambda Yr: 5 * np.log(np.abs(Yr[0])), log_threshold=np.log(1e8))
    for y_max in (30.0, 100.0):  # y^5 -> 2.4e7; at y^5 = 1e8 y / y_max = 0.4: the law is still changing
        settles = solve_blocks(PowerGrowth(0.0, y_max), np.ones((1, 1)), 1e9, [1e9], 1e-8, 1e-10, **kw)
        assert settles.failure is None or not settles.failure.detail
    assert settles.failure.kind == "diverged" and settles.y_final[0, 0] > 39.8
    crosses = solve_blocks(PowerGrowth(3.0, np.inf), np.ones((1, 1)), 1e9, [1e9], 1e-8, 1e-10, **kw)
    assert crosses.failure.kind == "diverged" and crosses.failure.detail.startswith("predicted")
    monkeypatch.setattr(solvers, "GROWTH_WATCH_STEPS", 10 ** 9)
    stepped = solve_blocks(PowerGrowth(3.0, np.inf), np.ones((1, 1)), 1e9, [1e9], 1e-8, 1e-10, **kw)
    assert stepped.failure.detail == "" and stepped.steps[0] > crosses.steps[0]
    assert crosses.failure.time == pytest.approx(stepped.failure.time, rel=1e-4)
    assert crosses.failure.y[0] == pytest.approx(1e8 ** (1 / 5), rel=1e-4)
    monkeypatch.undo()
    # loose tolerances (a quarter of the steps): the prediction of the crossing at t = 1.57e5 settles by t = 2.1e3,
    # long before t_end, and must still not fire
    runaway = Task.dirac(beta=2.0, kappa=0.5, T=6, init={"a": 0.5, "b": 1.2, "c": 0.5})
    flow = compile_flow(runaway)
    sol = solve_blocks(flow, flow.initial_state().reshape(1, 3), 2e4, [2e4], 1e-6, 1e-8,
                       log_gain=lambda Yr: 5 * np.log(np.abs(Yr[1])), log_threshold=np.log(1e8))
    assert sol.failure is None and sol.status[0] == REACHED_END and 23 < sol.y_final[0, 1] < 25


def test_early_importance_task_with_a_long_sequence_integrates_without_fallback():
    """b* = lambda = 1.2 at T = 50 from b0 = 1.3: the Jacobian of a and c (eigenvalue ~ -1e8) made W's rows large
    and nearly parallel, which the old singularity test flagged at every larger step: 20,000 steps, then BDF."""
    traj = integrate(Task.inverse_exponential(lam=1.2, T=50, init={"b": 1.3}), 1e4, n_points=3)
    assert traj.info["method"] == "Batched" and "attempts" not in traj.info and traj.info["steps_max"] < 2_000
    assert traj.b[-1, 0] == pytest.approx(1.2, abs=1e-8) and traj.u[-1, 0] == pytest.approx(1.0, abs=1e-8)


def test_batched_inverse_keeps_ill_scaled_blocks_and_flags_rank_deficient_ones():
    """Equilibrated condition numbers decide: a runaway mode's W (two large nearly parallel rows) and a W with one
    huge row and column (a -> 0 at T = 50) are inverted; floating-point rank-1 and rank-2 blocks are flagged."""
    from lrnn_theory.solvers import _batched_inverse_rows

    J = np.array([[-4.78693605e7, -2.31092562e3, -4.78693604e7], [-2.31092562e3, -1.11576484e-1, -2.31092561e3],
                  [-4.78693604e7, -2.31092561e3, -4.78693603e7]])
    stiff = [np.eye(3) / (0.25 * h) - J for h in (1.0, 24.55, 1e3)]
    huge = [np.array([[1.51905341e29, 5.39843991e15, 4.22756305e14], [5.39843991e15, 1.32120705e4, 1.50239913e1],
                      [4.22756305e14, 1.50239913e1, 1.30213520e4]])]
    rng = np.random.default_rng(0)
    rank1 = [np.outer(rng.normal(size=3), rng.normal(size=3)) for _ in range(20)]
    rank2 = [np.vstack([p, q, x * p + y * q]) for p, q, (x, y) in
             zip(rng.normal(size=(20, 3)), rng.normal(size=(20, 3)), rng.normal(size=(20, 2)))]
    W = np.array(stiff + huge + rank1 + rank2)
    with np.errstate(all="ignore"):
        inv, singular = _batched_inverse_rows(np.moveaxis(W, 0, 2).copy())
    inv = np.moveaxis(inv, 2, 0)
    n_ok = len(stiff) + len(huge)
    assert not singular[:n_ok].any() and singular[n_ok:].all()
    for k in range(n_ok):  # as accurate as LAPACK's solve (condition numbers up to 2.5e10 here)
        np.testing.assert_allclose(inv[k], np.linalg.solve(W[k], np.eye(3)), rtol=1e-4, atol=0)


def test_explicit_method_on_a_stiff_task_stops_at_its_projected_evaluations(monkeypatch):
    """RK45 on a badly scaled task: at the first projection its pace points far past the cap, so it stops there
    (it used to spend all 200,000 evaluations), with the remedy (``flow._ProjectedEvaluations``; projections from
    256 evaluations on here, instead of 4096, to keep the test short)."""
    from lrnn_theory import flow

    monkeypatch.setattr(flow, "PROJECT_EVALUATIONS_FROM", 256)
    with pytest.raises(IntegrationError, match="made 512 evaluations and reached only t=.*too stiff for this method"):
        integrate(Task.constant(1e6, T=4), 50.0, method="RK45")


def test_explicit_method_is_stopped_by_its_projection_only_past_the_cap(monkeypatch):
    """RK45 on the ordinary constant task (about 42 evaluations per unit of time past t = 10, more before), cap
    1500, projections at 512, 1024, ... evaluations: t_end = 25 (~1350 needed) finishes though projected twice;
    t_end = 100 (~4500, past 1.5 times the cap) stops at the first projection instead of at the cap."""
    from lrnn_theory import flow

    monkeypatch.setattr(flow, "PROJECT_EVALUATIONS_FROM", 256)
    monkeypatch.setattr(flow.CompiledFlow, "MAX_RHS_CALLS", 1500)
    task = Task.constant(1.0, T=4)
    traj = integrate(task, 25.0, n_points=3, method="RK45")
    assert 1024 < traj.info["nfev"] < 1500
    np.testing.assert_allclose(traj.u[-1], integrate(task, 25.0, n_points=3).u[-1], rtol=1e-6)
    with pytest.raises(IntegrationError, match="made 512 evaluations .* on course for .* by t_end=100 \\(cap 1500\\)"):
        integrate(task, 100.0, n_points=3, method="RK45")
