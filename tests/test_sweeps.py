"""Sweeps over task-parameter grids: vectorized integration, chunks, executors (process pool, Dask)."""
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from lrnn_theory import LrnnInputError
from lrnn_theory.stability import solve_task
from lrnn_theory.sweeps import (ExecutionOptions, IntegrationOptions, TaskGrid, grid_points, grid_task, sweep,
                                sweep_point_by_point)

AXES = {"delta": np.linspace(0.1, 2.0, 6), "kappa": np.array([0.2, 0.7, 1.2])}
GRID = TaskGrid("last_step", 5, AXES, base="constant")
RUN = IntegrationOptions(t_end=300.0)


@pytest.fixture(scope="module")
def vectorized():
    return sweep(GRID, RUN)


def test_vectorized_sweep_matches_point_by_point(vectorized):
    ref = sweep_point_by_point(GRID, RUN)
    assert vectorized.shape == (6, 3) and vectorized.info["run"] == "vectorized"
    for q in ("a", "b", "c", "u", "energy"):
        np.testing.assert_allclose(getattr(vectorized, q), getattr(ref, q), atol=1e-7, rtol=1e-7)


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
    with pytest.raises(LrnnInputError, match="parameter 'grid' must be of type TaskGrid"):
        sweep("constant", 4, {"delta": [1.0]})
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
    early = sweep(grid, IntegrationOptions(t_end=t_end, rtol=1e-10, atol=1e-12))
    later = sweep(grid, IntegrationOptions(t_end=t_end + dt, rtol=1e-10, atol=1e-12))
    fd = np.max(np.abs(np.stack([(getattr(later, q) - getattr(early, q)) / dt for q in "abc"])), axis=0)
    assert early.rate[0] < 1e-6                       # s_1/s_T = 0.1 < 1/2: the feedforward point, converged
    assert early.rate[1] == pytest.approx(fd[1], rel=1e-2) and early.rate[1] > 1e-3  # recurrent branch runs off
    assert "rate" in early.to_dict()
