"""Sweeps over task-parameter grids: vectorized integration, chunks, executors (process pool, Dask)."""
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from lrnn_theory import LrnnInputError, Task
from lrnn_theory.stability import solve_task
from lrnn_theory.sweeps import (ExecutionOptions, IntegrationOptions, NotConvergedWarning, TaskGrid, grid_points,
                                grid_task, stack_tasks, sweep, sweep_point_by_point, vary_task)

AXES = {"delta": np.linspace(0.1, 2.0, 6), "kappa": np.array([0.2, 0.7, 1.2])}
GRID = TaskGrid("last_step", 5, AXES, base="constant")
#: Loose tolerances (a third of the steps of the defaults): every point converges to its fixed point long before
#: t_end, where the end points agree to 1e-15 whatever the tolerance; the paths compared here take the same steps.
LOOSE = {"rtol": 1e-6, "atol": 1e-8}
RUN = IntegrationOptions(t_end=300.0, **LOOSE)


@pytest.fixture(scope="module")
def vectorized():
    return sweep(GRID, RUN)


def test_vectorized_sweep_matches_point_by_point(vectorized):
    """Against separate integrations of a subsample (every delta, every kappa twice; a separate single-mode run costs
    what the whole vectorized sweep does): the same values, and NaN where the reference was not run."""
    sample = [0, 4, 8, 9, 13, 17]  # (delta, kappa) index pairs (0, 0), (1, 1), (2, 2), (3, 0), (4, 1), (5, 2)
    ref = sweep_point_by_point(GRID, RUN, indices=sample)
    assert vectorized.shape == (6, 3) and vectorized.info["run"] == "vectorized"
    assert np.flatnonzero(~np.isnan(ref.b)).tolist() == sample
    for q in ("a", "b", "c", "u", "energy"):
        np.testing.assert_allclose(getattr(vectorized, q).flat[sample], getattr(ref, q).flat[sample], atol=1e-7,
                                   rtol=1e-7)


def test_grid_layout_follows_axes(vectorized):
    pts = grid_points(AXES)
    assert pts["delta"].reshape(6, 3)[:, 0].tolist() == AXES["delta"].tolist()
    assert pts["kappa"].reshape(6, 3)[0].tolist() == AXES["kappa"].tolist()
    # Where kappa = delta the task is geometric: the flow must reach the zero-loss solution b = 1, u = delta.
    task = grid_task("last_step", 5, {"delta": [0.7], "kappa": [0.7]}, {}, base="constant")
    assert solve_task(task).zero_loss[0]
    point = sweep(TaskGrid("last_step", 5, {"delta": [0.7]}, fixed={"kappa": 0.7}, base="constant"), RUN)
    assert point.b[0] == pytest.approx(1.0, abs=1e-6) and point.u[0] == pytest.approx(0.7, abs=1e-6)


def test_chunked_and_process_pool_paths_are_identical(vectorized):
    chunked = sweep(GRID, RUN, ExecutionOptions(chunk_size=5))
    assert chunked.info["run"] == "chunked" and chunked.info["n_chunks"] == 4
    with ProcessPoolExecutor(max_workers=2) as pool:
        pooled = sweep(GRID, RUN, ExecutionOptions(chunk_size=5, executor=pool))
    assert pooled.info["run"] == "executor"
    for q in ("a", "b", "c", "energy"):
        assert np.array_equal(getattr(pooled, q), getattr(chunked, q))        # same chunks: bit for bit
        np.testing.assert_allclose(getattr(pooled, q), getattr(vectorized, q), atol=1e-7)


def test_dask_executor_path_is_identical():
    distributed = pytest.importorskip("distributed")
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        dasked = sweep(GRID, RUN, ExecutionOptions(chunk_size=5, executor=client.get_executor()))
    chunked = sweep(GRID, RUN, ExecutionOptions(chunk_size=5))
    for q in ("a", "b", "c", "energy"):
        assert np.array_equal(getattr(dasked, q), getattr(chunked, q))


def test_memory_budget_splits_into_chunks(vectorized):
    small = sweep(GRID, RUN, ExecutionOptions(memory_budget=9 * 9))
    assert small.info["n_chunks"] == 2 and small.info["chunk_size"] == 9
    np.testing.assert_allclose(small.b, vectorized.b, atol=1e-7)


def test_sweep_bad_input():
    with pytest.raises(LrnnInputError, match="axes"):
        sweep(TaskGrid("constant", 4, {"gamma": [1.0]}))
    with pytest.raises(LrnnInputError, match="beta"):
        sweep(TaskGrid("constant", 4, {"beta": [1.0, 2.0]}))
    with pytest.raises(LrnnInputError, match="both"):
        sweep(TaskGrid("constant", 4, {"delta": [1.0]}, fixed={"delta": 2.0}))
    with pytest.raises(LrnnInputError, match="family"):
        sweep(TaskGrid("sawtooth", 4, {"delta": [1.0]}))
    with pytest.raises(LrnnInputError, match="chunk_size"):
        sweep(TaskGrid("constant", 4, {"delta": [1.0]}), execution=ExecutionOptions(chunk_size=0))
    with pytest.raises(LrnnInputError, match="parameter 'integration' must be of type IntegrationOptions"):
        sweep("constant", 4, {"delta": [1.0]})
    with pytest.raises(LrnnInputError, match="task file 'constant' does not exist"):
        sweep("constant")
    with pytest.raises(LrnnInputError, match="parameter 'grid' must be of type TaskGrid"):
        sweep_point_by_point("constant")
    with pytest.raises(LrnnInputError, match="parameter 'integration' must be of type IntegrationOptions"):
        sweep(TaskGrid("constant", 4, {"delta": [1.0]}), ExecutionOptions())
    with pytest.raises(LrnnInputError, match="endpoint"):
        IntegrationOptions(endpoint="end")
    with pytest.raises(LrnnInputError, match="max_chunk"):
        ExecutionOptions(max_chunk=0)


def test_sweep_rejects_non_executors_and_bad_indices():
    for wrong in ("pool", object()):
        with pytest.raises(LrnnInputError, match="executor"):
            sweep(TaskGrid("constant", 4, {"delta": [1.0]}), execution=ExecutionOptions(executor=wrong))
    with pytest.raises(LrnnInputError, match="indices"):
        sweep_point_by_point(TaskGrid("constant", 4, {"delta": [1.0, 2.0]}), indices=[2])
    with pytest.raises(LrnnInputError, match="indices"):
        sweep_point_by_point(TaskGrid("constant", 4, {"delta": [1.0, 2.0]}), indices=[0.5])
    with pytest.raises(LrnnInputError, match="axes"):
        sweep(TaskGrid("constant", 4, {"delta": []}))
    with pytest.raises(LrnnInputError, match="axes"):
        sweep(TaskGrid("constant", 4, {"delta": [1.0, np.nan]}))


def test_final_rate_matches_finite_difference_in_time():
    """``rate`` (largest |d(a, b, c)/dt| at t_end) against a finite difference of two sweeps in time."""
    grid = TaskGrid("dirac", 3, {"beta": [0.05, 3.0]}, fixed={"kappa": 0.5}, init={"a": 0.1, "b": 0.1, "c": 0.1})
    t_end, dt = 200.0, 1e-3
    # rtol 1e-6 (not 1e-10: 27x cheaper, the runaway mode sets the step count): both runs take the same steps up to
    # t_end, so the difference quotient still matches the rate to 6e-6 relative, 1800x inside the 1e-2 asserted
    with pytest.warns(NotConvergedWarning, match="1 of 2 end points .* grid point beta=3;"):
        early = sweep(grid, IntegrationOptions(t_end=t_end, rtol=1e-6, atol=1e-8))
    later = sweep(grid, IntegrationOptions(t_end=t_end + dt, rtol=1e-6, atol=1e-8, warn=False))
    fd = np.max(np.abs(np.stack([(getattr(later, q) - getattr(early, q)) / dt for q in "abc"])), axis=0)
    assert early.rate[0] < 1e-6                       # s_1/s_T = 0.1 < 1/2: the feedforward point, converged
    assert early.rate[1] == pytest.approx(fd[1], rel=1e-2) and early.rate[1] > 1e-3  # recurrent branch runs off
    assert "rate" in early.to_dict()


# ---- sweeps over any tasks, fixed-point end points, not-converged warnings ------------------------------------------
def _mixed_modes():
    """Real modes that settle, one whose recurrent mode runs off (Dirac, beta > kappa) and one that starts next to a
    basin boundary: g = A^2/B of s = (1, 0, 1) has maxima at b = +-1 and its minimum at b = 0, where b starts."""
    rng = np.random.default_rng(5)
    settle = Task(rng.uniform(0.2, 1.2, (4, 3)), init={"a": rng.uniform(0.05, 0.3, 4), "b": rng.uniform(-0.4, 0.4, 4),
                                                        "c": rng.uniform(0.05, 0.3, 4)}, name="settle")
    runaway = Task(Task.dirac(beta=3.0, kappa=0.5, T=3).singular_values, name="runaway")
    boundary = Task([[1.0, 0.0, 1.0]], init={"a": 1.0, "b": 1e-7, "c": 1.0}, name="boundary")
    return [settle, runaway, boundary]


def test_fixed_point_end_points_equal_a_long_tight_integration_and_fall_back_exactly_where_the_check_fails():
    from lrnn_theory import integrate
    from lrnn_theory.fixed_points import flow_endpoints

    tasks = _mixed_modes()
    stacked = stack_tasks(tasks)
    ends = flow_endpoints(stacked)
    # the cheap check fails exactly for the runaway mode and the one on the basin boundary, each for its reason
    assert ends.valid.tolist() == [True] * 4 + [False, False]
    assert ends.reason.tolist() == [""] * 4 + ["runaway", "basin_boundary"]
    with pytest.warns(NotConvergedWarning, match=r"task 1 \('runaway'\) mode 0"):
        # loose tolerances: they act only on the two modes integrated (the runaway and the boundary one: a fifth of
        # the steps; their end points move by 2e-7, far inside the checks below), not on the fixed points
        fast = sweep(tasks, IntegrationOptions(t_end=40.0, endpoint="fixed_point", **LOOSE))
    assert fast.integrated[~np.isnan(fast.rate)].tolist() == [False] * 4 + [True, True]
    assert fast.info["n_integrated"] == 2 and fast.info["n_stacks"] == 1
    # independent reference: the settling modes integrated (LSODA), long and tight, until they stop moving
    long = integrate(tasks[0], 4000.0, n_points=2, method="LSODA", rtol=1e-11, atol=1e-13, converged_tol=1e-12)
    for q in ("a", "b", "c"):
        np.testing.assert_allclose(getattr(fast, q)[0], getattr(long, q)[-1], atol=1e-8)
    assert fast.b[1, 0] > 5 and fast.rate[1, 0] > 1e-3  # runaway: still climbing at t_end, integrated
    assert abs(fast.b[2, 0] - 1.0) < 1e-3  # from just above the boundary the integrated flow nears the maximum b = +1


def test_sweep_over_task_files_and_a_varied_field(tmp_path):
    from lrnn_theory import integrate

    Task.inverse_exponential(delta=1.5, lam=0.6, T=4, name="ie").to_json(tmp_path / "ie.json")
    Task([[0.2, 0.5, 1.0], [1.0, 0.3, 0.1]], name="custom", tau=2.0).to_json(tmp_path / "custom.json")
    files = [tmp_path / "ie.json", tmp_path / "custom.json"]
    # loose tolerances throughout (a third of the steps): a sweep and an integration take the same steps per mode
    with pytest.warns(NotConvergedWarning, match=r"task 1 \('custom'\) mode 1"):
        res = sweep(files, IntegrationOptions(t_end=40.0, **LOOSE))
    assert res.shape == (2, 2) and res.info["tasks"] == ["ie", "custom"] and res.info["n_stacks"] == 2
    assert np.isnan(res.b[0, 1]) and np.isnan(res.rate[0, 1])  # "ie" has one mode: padded
    for i, path in enumerate(files):  # each file integrated on its own to the same t_end
        own = integrate(Task.from_json(path), 40.0, n_points=2, **LOOSE)
        np.testing.assert_allclose(res.b[i, :own.b.shape[1]], own.b[-1], atol=1e-7)
        np.testing.assert_allclose(res.u[i, :own.b.shape[1]], own.u[-1], atol=1e-7)
    # lambda varied in the file: the zero-loss end point b = lambda, u = delta of every inverse-exponential task
    lams = [0.3, 0.6, 0.9, 1.1]
    varied = sweep(files[0], IntegrationOptions(endpoint="fixed_point", **LOOSE), vary="lambda", values=lams)
    assert list(varied.axes) == ["lambda", "mode"] and varied.shape == (4, 1)
    np.testing.assert_allclose(varied.b[:, 0], lams, atol=1e-9)
    np.testing.assert_allclose(varied.u[:, 0], 1.5, atol=1e-9)
    assert varied.info["tasks"][1] == "ie lambda=0.6" and varied.converged.all()
    # tau varied: ten times slower, so not there yet at t = 8 (and named in the warning)
    with pytest.warns(NotConvergedWarning, match=r"tau=10 \('ie tau=10'\) mode 0"):
        slow = sweep(files[0], IntegrationOptions(t_end=8.0, **LOOSE), vary="tau", values=[1.0, 10.0])
    assert slow.converged.tolist() == [[True], [False]] and slow.b[0, 0] == pytest.approx(0.6, abs=1e-6)
    with pytest.raises(LrnnInputError, match="vary"):
        vary_task(files[1], "delta", [1.0])
    with pytest.raises(LrnnInputError, match="'vary' must be one of"):
        sweep(files[0], vary="gamma", values=[1.0])
    with pytest.raises(LrnnInputError, match="'values'"):
        sweep(files[0], vary="tau", values=[])


def test_not_converged_sweep_warns_and_names_task_and_mode():
    tasks = [Task.inverse_exponential(delta=1.0, lam=0.5, T=4, name="quick"),
             Task([[0.2, 0.5, 1.0], [1.0, 0.3, 0.1]], name="slow", tau=2.0)]
    with pytest.warns(NotConvergedWarning, match=r"1 of 3 end points are still moving at t_end=100 .*"
                                                 r"task 1 \('slow'\) mode 1"):
        res = sweep(tasks, IntegrationOptions(t_end=100.0, **LOOSE))
    assert res.converged[~np.isnan(res.rate)].tolist() == [True, True, False] and res.info["n_not_converged"] == 1
    with pytest.warns(NotConvergedWarning, match="2 of 2 end points .* grid point delta=0.5, grid point delta=2"):
        early = sweep(TaskGrid("constant", 4, {"delta": [0.5, 2.0]}), IntegrationOptions(t_end=1.0, **LOOSE))
    assert not early.converged.any() and early.info["n_not_converged"] == 2
