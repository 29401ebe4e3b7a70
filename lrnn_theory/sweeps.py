"""Sweeps over many tasks that scale: a grid of a family's parameters, any list of tasks, or one task with a field
varied; one vectorized integration, or chunks on an Executor.

Any tasks. ``sweep([task, "my_task.json", {...}])`` takes tasks of every kind (Task objects, dicts, task files);
``sweep("my_task.json", vary="tau", values=[...])`` varies one field of a task (``vary_task``). Tasks that share T,
outputs, number type and tau (and have white inputs) are stacked as the modes of one task and integrated together;
the result has the axes (task or varied field, mode). Every end point still moving at ``t_end`` is named in a
``NotConvergedWarning`` (task and mode, or grid point) and marked in ``SweepResult.converged``.

Every grid point of a family (e.g. the 200 x 50 points of (delta, kappa) of the "last step breaks the pattern" task)
is one connectivity mode, and modes are independent. ``sweep`` therefore stacks all grid points as the K modes of a
single ``Task`` and integrates them in one call to ``lrnn_theory.integrate``, whose Jacobian is banded (3x3 blocks):
one ODE system with 3K unknowns instead of K separate solver runs. Its options come in three groups: the tasks
(``TaskGrid``: family, T, grid axes, ...), the integration (``IntegrationOptions``: t_end, solver, tolerances, end
points) and the execution (``ExecutionOptions``: executor, chunks, memory budget, progress bar).

The grid is cut into chunks of consecutive grid points when it is larger than the memory budget (the solver keeps a
few arrays of size K (2T-1)) or than ``max_chunk``. With the default batched solver every mode has its own step size,
so one integration over many modes costs in proportion to K and there is no default cap; the scipy solvers share one
step size over the whole state vector and must follow every mode's fast phase at once, so for them the default cap is
1000 (measured slower above ~1000 modes). Each chunk is integrated the same way, either in this process or, when
``ExecutionOptions(executor=...)`` is given, as one job per chunk on any ``concurrent.futures.Executor``: a
``ProcessPoolExecutor`` here, or a Dask cluster (``distributed.Client(...).get_executor()``; Dask is an optional
extra) when a study outgrows one machine. Serial chunks and executor chunks give bit-for-bit the same numbers (same
chunks, same arithmetic).

Accuracy. The batched solver controls the error of every mode separately, so ``rtol`` and ``atol`` apply to each grid
point as they are. A scipy solver controls a root-mean-square error over the whole state vector, so with K modes a
single mode could carry up to sqrt(3K) times the requested error; for those, ``sweep`` divides ``rtol`` and ``atol``
by sqrt(3K) of each chunk (``IntegrationOptions(scale_tolerance=True)``, the default) so that every grid point is
integrated at least as accurately as a separate run would be; the tests compare against point-by-point integration.

End points only. ``IntegrationOptions(endpoint="fixed_point")`` reads each grid point's end point from the fixed
point its flow reaches (``lrnn_theory.fixed_points.flow_endpoints``: a loose 5-tau check, then the fixed-point
conditions) instead of integrating to ``t_end``, and integrates only the points where that is not valid (runaway b,
a basin boundary within the check's margin, b moving against the ascent); see there for when it is not valid.
"""
from __future__ import annotations

import copy
import math
import os
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from .errors import DivergenceError, LrnnInputError, bad, check_finite_array, check_int, check_real
from .fixed_points import flow_endpoints
from .stability import json_ready
from .flow import compile_flow, integrate, mode_convergence
from .solvers import resolve_solver
from .taskfile import read_task_data
from .tasks import FAMILIES, Task, coerce_task

#: Sweep parameters and the keyword of ``Task.from_family`` they map to.
PARAMETERS = {"delta": "delta", "lambda": "lam", "kappa": "kappa", "beta": "beta"}
#: Default memory budget: number of floats in the largest per-chunk table, K * (2T - 1).
MEMORY_BUDGET = 2e7
#: Default largest chunk (grid points per integration) for the scipy solvers (one shared step size). Measured
#: (benchmarks/bench_sweep.py, 200 x 50 grid, T = 5): one 10 000-mode LSODA integration needs ~14 000
#: right-hand-side calls, because the adaptive step must follow the fast phase of every mode at once; chunks of
#: 500-2000 points were ~3x faster in total. The batched solver (per-mode steps) has no such cap by default.
DEFAULT_MAX_CHUNK = 1000
DEFAULT_RTOL = 1e-8
DEFAULT_ATOL = 1e-10
#: Fields of a task file that ``vary_task`` can vary (one number each; "init.b" is b(0) of every mode).
VARIABLE_FIELDS = ("tau", "T", "delta", "lambda", "kappa", "beta", "delta_phase", "lambda_phase", "init.a", "init.b",
                   "init.c", "init.a_imag", "init.b_imag", "init.c_imag")
#: Most names listed in a not-converged warning.
NAMES_SHOWN = 5


class NotConvergedWarning(UserWarning):
    """End points of a sweep that are still moving at t_end (the warning names them)."""


@dataclass
class SweepResult:
    """Converged modes at every grid point.

    Attributes
    ----------
    axes : dict
        Parameter name -> 1-D array of its values, in grid-axis order.
    a, b, c, u, energy : ndarray
        Final input, recurrent, output, input-output mode and energy, of shape ``shape`` (one axis per parameter).
    fixed : dict
        Parameters shared by every grid point.
    info : dict
        family, T, t_end, tolerances, number of chunks, how it ran ("vectorized", "chunked", "executor"), seconds.
    rate : ndarray or None
        max(|da/dt|, |db/dt|, |dc/dt|) at t_end per grid point: how far from converged the final modes are (for
        Dirac tasks the recurrent branch can run off to |b| -> oo, so b at t_end is then not a fixed point).
    integrated : ndarray of bool or None
        Where the end point was integrated to t_end: everywhere with ``endpoint="integrate"``, only where the
        fixed point is not valid (the fallback) with ``endpoint="fixed_point"``.
    converged : ndarray of bool or None
        Whether each end point has stopped moving (``lrnn_theory.flow.mode_convergence`` at t_end: relative rate
        and growth at most ``converged_tol``, default ``CONVERGED_TOL``; not resting at a saddle); False for NaN
        padding.

    A sweep over a list of tasks (``sweep([...])`` or ``sweep(task, vary=..., values=...)``) has two axes, the task
    (or the varied field) and "mode"; a task with fewer modes than the largest is padded with NaN.
    """

    axes: dict
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    energy: np.ndarray
    fixed: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    rate: np.ndarray | None = None
    integrated: np.ndarray | None = None
    converged: np.ndarray | None = None

    @property
    def u(self) -> np.ndarray:
        """Input-output mode u = a c at every grid point."""
        return self.a * self.c

    @property
    def shape(self) -> tuple:
        """Grid shape, one axis per swept parameter."""
        return self.b.shape

    def to_dict(self) -> dict:
        """JSON-ready dict: axes, fixed, info and the a, b, c, u, energy arrays as nested lists."""
        out = {"axes": {k: v.tolist() for k, v in self.axes.items()}, "fixed": self.fixed, "info": self.info}
        for k in ("a", "b", "c", "u", "energy", "rate", "integrated", "converged"):
            if getattr(self, k) is not None:
                out[k] = json_ready(getattr(self, k))
        return out


def _check_axes(axes: dict, fixed: dict) -> tuple[dict, dict]:
    if not isinstance(axes, dict) or not axes:
        raise bad("axes", axes, "be a non-empty mapping from parameter name to values")
    clean = {}
    for name, values in axes.items():
        if name not in PARAMETERS:
            raise bad("axes", name, f"name parameters among {', '.join(PARAMETERS)}")
        arr = check_finite_array(f"axes['{name}']", values)
        if arr.ndim != 1:
            raise bad(f"axes['{name}']", values, "be a flat list of values")
        clean[name] = arr
    fixed = dict(fixed or {})
    for name, value in fixed.items():
        if name not in PARAMETERS:
            raise bad("fixed", name, f"name parameters among {', '.join(PARAMETERS)}")
        if name in clean:
            raise LrnnInputError(f"parameter '{name}' is given both as a grid axis and as a fixed value")
        fixed[name] = check_real(f"fixed['{name}']", value)
    return clean, fixed


def grid_points(axes: dict) -> dict:
    """Flattened grid (row-major over the axes in order): parameter name -> array of length prod(len(axis))."""
    mesh = np.meshgrid(*axes.values(), indexing="ij")
    return {name: m.ravel() for name, m in zip(axes, mesh)}


def grid_task(family: str, T: int, points: dict, fixed: dict, base=None, init=None, tau: float = 1.0,
              outputs: str = "final") -> Task:
    """A Task whose modes are the given grid points (``points``: name -> values, one per mode)."""
    kw = {PARAMETERS[k]: v for k, v in fixed.items()}
    kw.update({PARAMETERS[k]: np.asarray(v, dtype=float) for k, v in points.items()})
    n = len(next(iter(points.values())))
    # Scalar inits are shared by every grid point (a sweep is over task parameters, not initial conditions).
    task = Task.from_family(family, T=T, base=base, init=dict(init) if init else None, tau=tau, outputs=outputs,
                            **kw)
    if task.K != n:  # a swept parameter that the family does not use leaves a single mode
        raise LrnnInputError(f"family '{family}' does not use the swept parameter(s) {', '.join(points)}")
    return task


def check_executor(executor) -> None:
    """Raise unless ``executor`` is None or has a ``submit`` method (a ``concurrent.futures.Executor``)."""
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise bad("executor", executor, "be a concurrent.futures.Executor (an object with a submit method) or None")


def run_jobs(func, jobs, executor=None, progress=None) -> list:
    """``[func(job) for job in jobs]``, in this process or as one job each on a ``concurrent.futures.Executor``.

    ``func`` must be a module-level function and each job picklable (plain dicts) for process pools and Dask.
    ``progress``: a tqdm bar over the jobs (default: off).
    """
    check_executor(executor)
    bar = None
    if progress:
        bar = tqdm(total=len(jobs), unit="job", leave=False, delay=2.0)
    if executor is None:
        outcomes = (func(job) for job in jobs)
    else:
        futures = [executor.submit(func, job) for job in jobs]  # all submitted before the first is awaited
        outcomes = (future.result() for future in futures)
    try:
        results = []
        for outcome in outcomes:
            results.append(outcome)
            if bar is not None:
                bar.update()
        return results
    finally:
        if bar is not None:
            bar.close()


def _integrate_chunk(job: dict) -> dict:
    """End points of one chunk of grid points (``_chunk_end_points``).

    A module-level function with a plain-dict argument, so that it pickles to worker processes and Dask workers.
    """
    def grid_subtask(rows=None):
        points = job["points"] if rows is None else {k: v[rows] for k, v in job["points"].items()}
        return grid_task(job["family"], job["T"], points, job["fixed"], job["base"], job["init"], job["tau"],
                         job.get("outputs", "final"))

    def where(row):
        shown = ", ".join(f"{k}={v[row]:g}" for k, v in job["points"].items())
        return f"grid point {job['offset'] + row} ({shown})"

    return _chunk_end_points(grid_subtask(), job, grid_subtask, where)


def _task_chunk(job: dict) -> dict:
    """End points of one chunk of stacked tasks (``job["task"]``; ``job["labels"]`` names each row)."""
    return _chunk_end_points(job["task"], job, lambda rows: select_modes(job["task"], rows),
                             lambda row: job["labels"][row])


def _chunk_end_points(task, job: dict, subtask, where) -> dict:
    """Final a, b, c (``y``, shape (n, 3)), energy, largest rate at t_end and whether each row was integrated.

    With ``job["endpoint"] == "fixed_point"`` the end points come from ``flow_endpoints`` and only the rows where
    that is not valid are integrated to ``t_end`` (``subtask(rows)``: the task of those rows); ``where(row)`` names
    a row in a divergence message.
    """
    flow = compile_flow(task)
    y = np.empty((task.K, 3), dtype=task.singular_values.dtype)
    todo = np.arange(task.K)
    if job.get("endpoint", "integrate") == "fixed_point":
        ends = flow_endpoints(task)
        y[ends.valid] = np.column_stack([ends.a, ends.b, ends.c])[ends.valid]
        todo = np.flatnonzero(~ends.valid)
    integrated = np.zeros(task.K, dtype=bool)
    integrated[todo] = True
    if todo.size:
        sub = task if todo.size == task.K else subtask(todo)
        solver = resolve_solver(job["method"], job["rtol"], job["atol"])
        scale = math.sqrt(3 * sub.K) if job["scale_tolerance"] and not solver.batched else 1.0
        try:
            traj = integrate(sub, job["t_end"], n_points=2, method=type(solver)(rtol=solver.rtol / scale,
                                                                                atol=solver.atol / scale),
                             converged_tol=job["converged_tol"])
        except DivergenceError as exc:
            if exc.mode is None:
                raise
            row = int(todo[exc.mode])
            raise DivergenceError(f"{where(row)}: {exc}", time=exc.time, mode=job["offset"] + row) from None
        final = traj.final()
        y[todo] = np.column_stack([final["a"], final["b"], final["c"]])
    state = flow.layout.pack(y[:, 0], y[:, 1], y[:, 2])
    rates = np.abs(np.asarray(flow.modes(flow.rates(job["t_end"], state, count=False, check=False)))).max(axis=0)
    converged = mode_convergence(flow, y[:, 0], y[:, 1], y[:, 2], job["converged_tol"])
    return {"y": y, "energy": np.real(flow.energy(state)), "rate": rates, "integrated": integrated,
            "converged": converged}


def _concatenate(parts: list) -> dict:
    return {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}


@dataclass(frozen=True)
class TaskGrid:
    """The tasks of a sweep: one family of tasks at every point of a grid of its parameters.

    Parameters
    ----------
    family : str
        Task family (see ``Task.from_family``).
    T : int
        Trajectory length.
    axes : dict
        Grid axes: parameter name ("delta", "lambda", "kappa", "beta") -> 1-D values. The grid is their product.
    fixed : dict, optional
        Parameters shared by every grid point (e.g. ``{"delta": 1.0}``).
    base : str, optional
        Base family of ``last_step``.
    init : dict, optional
        Initial ``a``, ``b``, ``c`` (scalars, shared by every grid point); 0.1 each by default.
    tau : float
        Learning timescale.
    outputs : {"final", "every_step"}
        Every-step tasks (App. M) of the family at every grid point.

    Examples
    --------
    >>> grid = TaskGrid("constant", 4, {"delta": [0.5, 1.0, 2.0]})
    >>> grid.shape, grid.task().K
    ((3,), 3)
    """

    family: str
    T: int
    axes: dict
    fixed: dict | None = None
    base: str | None = None
    init: dict | None = None
    tau: float = 1.0
    outputs: str = "final"

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise bad("family", self.family, f"be one of {', '.join(FAMILIES)}")
        axes, fixed = _check_axes(self.axes, self.fixed)
        object.__setattr__(self, "T", check_int("T", self.T, minimum=1))
        object.__setattr__(self, "axes", axes)
        object.__setattr__(self, "fixed", fixed)
        object.__setattr__(self, "tau", check_real("tau", self.tau, positive=True))

    @property
    def shape(self) -> tuple:
        """Grid shape, one axis per swept parameter."""
        return tuple(len(v) for v in self.axes.values())

    def points(self) -> dict:
        """The flattened grid (``grid_points``): parameter name -> one value per grid point."""
        return grid_points(self.axes)

    def task(self, points: dict | None = None) -> Task:
        """The task whose modes are ``points`` (name -> values, one per mode; default: the whole grid)."""
        return grid_task(self.family, self.T, self.points() if points is None else points, self.fixed, self.base,
                         self.init, self.tau, self.outputs)

    def job(self) -> dict:
        """The grid as the plain dict of a job (picklable for process pools and Dask workers), without points."""
        return {"family": self.family, "T": self.T, "base": self.base, "init": self.init, "tau": self.tau,
                "fixed": self.fixed, "outputs": self.outputs}


@dataclass(frozen=True)
class IntegrationOptions:
    """How each grid point is integrated.

    Parameters
    ----------
    t_end : float
        Integration time (theory units); the final modes are read there.
    method, rtol, atol
        Solver (default: the batched per-mode solver) and per-grid-point tolerances.
    scale_tolerance : bool
        For the scipy solvers only: divide rtol and atol by sqrt(3K) per chunk so that each grid point meets them
        (see the module docstring). The batched solver controls each mode's error and needs no scaling.
    converged_tol : float, optional
        Stop a chunk early once all its rates are below this; also the tolerance of the convergence test at t_end
        (default ``lrnn_theory.flow.CONVERGED_TOL``).
    endpoint : {"integrate", "fixed_point"}
        "integrate" (default): the modes at ``t_end``. "fixed_point": the fixed point each grid point's flow
        reaches (the limit t -> oo, from ``lrnn_theory.fixed_points.flow_endpoints``: a short loose check
        integration and the fixed-point conditions); grid points where that is not valid (the recurrent mode runs
        off, a basin boundary within the check's margin, b moving against the ascent) are integrated to ``t_end``
        as usual (``SweepResult.integrated``). Measured 4-5x faster than integrating a 200 x 50 grid to t = 300
        (``benchmarks/bench_sweep.py``); differs from "integrate" where the flow has not converged by ``t_end``.
        Not for reading the modes at a finite time, and see ``lrnn_theory.fixed_points`` for when it is not valid.
    warn : bool
        Warn (``NotConvergedWarning``) when end points are still moving at ``t_end`` (default). False where reading
        the modes at a finite time is the point (e.g. the modes after a finite training time).
    """

    t_end: float = 200.0
    method: object = None
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    scale_tolerance: bool = True
    converged_tol: float | None = None
    endpoint: str = "integrate"
    warn: bool = True

    def __post_init__(self):
        if self.endpoint not in ("integrate", "fixed_point"):
            raise bad("endpoint", self.endpoint, "be 'integrate' or 'fixed_point'")
        for name in ("t_end", "rtol", "atol"):
            object.__setattr__(self, name, check_real(name, getattr(self, name), positive=True))
        object.__setattr__(self, "scale_tolerance", bool(self.scale_tolerance))

    def job(self) -> dict:
        """The options as the plain dict of a job."""
        return {"t_end": self.t_end, "method": self.method, "rtol": self.rtol, "atol": self.atol,
                "scale_tolerance": self.scale_tolerance, "converged_tol": self.converged_tol,
                "endpoint": self.endpoint}


@dataclass(frozen=True)
class ExecutionOptions:
    """Where and in what pieces a sweep runs.

    Parameters
    ----------
    executor : concurrent.futures.Executor, optional
        Runs one job per chunk (``ProcessPoolExecutor``, ``distributed.Client(...).get_executor()``, ...); None
        (default): in this process.
    chunk_size : int, optional
        Grid points per chunk. By default the largest chunks that fit ``memory_budget`` and ``max_chunk``: the
        whole grid in one vectorized integration when both allow it; with an executor, the grid is also split into
        at least as many chunks as it has workers when the executor says how many (``_max_workers``; pass
        ``chunk_size`` for executors that do not, such as Dask's).
    max_chunk : int, None or "auto"
        Cap on the default chunk size; None: no cap; "auto" (default): no cap for the batched solver,
        ``DEFAULT_MAX_CHUNK`` for the scipy solvers (see there for the measurement behind it).
    memory_budget : float
        Largest K * (2T - 1) (or K T^2 for every-step tasks) of one integration.
    progress : bool
        Show a progress bar over the chunks.
    """

    executor: object = None
    chunk_size: int | None = None
    max_chunk: int | None | str = "auto"
    memory_budget: float = MEMORY_BUDGET
    progress: bool = False

    def __post_init__(self):
        check_executor(self.executor)
        if self.chunk_size is not None:
            object.__setattr__(self, "chunk_size", check_int("chunk_size", self.chunk_size, minimum=1))
        if not (self.max_chunk is None or (isinstance(self.max_chunk, str) and self.max_chunk == "auto")):
            object.__setattr__(self, "max_chunk", check_int("max_chunk", self.max_chunk, minimum=1))
        object.__setattr__(self, "memory_budget", check_real("memory_budget", self.memory_budget, positive=True))

    def chunk_size_for(self, n: int, per_point: int, method) -> int:
        """Grid points per chunk for a grid of ``n`` points holding ``per_point`` numbers each (see ``chunk_size``)."""
        if self.chunk_size is not None:
            return self.chunk_size
        max_chunk = self.max_chunk
        if isinstance(max_chunk, str):  # "auto"
            max_chunk = None if resolve_solver(method).batched else DEFAULT_MAX_CHUNK
        fits = max(1, int(self.memory_budget // per_point))
        chunk_size = min(n, fits, n if max_chunk is None else max_chunk)
        workers = getattr(self.executor, "_max_workers", None)
        if self.executor is not None and isinstance(workers, int) and workers > 1:
            chunk_size = min(chunk_size, -(-n // workers))
        return chunk_size


def sweep(tasks, integration: IntegrationOptions | None = None, execution: ExecutionOptions | None = None, *,
          vary: str | None = None, values=None) -> SweepResult:
    """End points of the mode flow of many tasks: every point of a grid of a family, any list of tasks, or one task
    with a field varied.

    Parameters
    ----------
    tasks : TaskGrid, Task, dict, path or sequence of them
        A ``TaskGrid`` (a family over a grid of its parameters), or any tasks: each a ``Task``, a task dict or a
        task file. Tasks that share T, outputs, number type, tau and white inputs are stacked as the modes of one
        task and integrated together.
    integration : IntegrationOptions, optional
        t_end, solver, tolerances, early stop and end points (defaults: ``IntegrationOptions()``).
    execution : ExecutionOptions, optional
        Executor, chunking, memory budget and progress bar (defaults: in this process, the largest chunks that fit).
    vary, values : str and sequence of numbers, optional
        With one task: the field to vary (one of ``VARIABLE_FIELDS``, e.g. "tau", "delta", "init.b") and its
        values (``vary_task``); the result's first axis is then that field.

    Returns
    -------
    SweepResult
        For a grid, one axis per grid parameter; for tasks, (task or varied field, mode).

    Raises
    ------
    DivergenceError
        When the flow of a grid point blows up; the message names the grid point (or task and mode).

    Warns
    -----
    NotConvergedWarning
        When end points are still moving at t_end (``lrnn_theory.flow.mode_convergence``, at ``converged_tol``);
        the message names them (grid point, or task and mode) and ``SweepResult.converged`` marks them.

    Examples
    --------
    >>> res = sweep(TaskGrid("constant", 4, {"delta": [0.5, 1.0, 2.0]}), IntegrationOptions(t_end=100.0))
    >>> res.b.round(6).tolist(), res.u.round(6).tolist()
    ([1.0, 1.0, 1.0], [0.5, 1.0, 2.0])
    >>> res = sweep(Task.constant(delta=1.0, T=4), IntegrationOptions(endpoint="fixed_point"), vary="delta",
    ...             values=[0.5, 2.0])
    >>> res.shape, res.u.round(6).tolist()
    ((2, 1), [[0.5], [2.0]])
    """
    integration, execution = _check_run_options(integration, execution)
    if vary is not None or values is not None:
        if vary is None or values is None:
            raise LrnnInputError("give both 'vary' (the field) and 'values', or neither")
        if isinstance(tasks, TaskGrid) or isinstance(tasks, (list, tuple)):
            raise bad("tasks", tasks, "be one task (a Task, dict or task file) when 'vary' is given")
        varied = check_finite_array("values", values)
        return _sweep_tasks(vary_task(tasks, vary, varied), {vary: varied}, integration, execution)
    if isinstance(tasks, TaskGrid):
        return _sweep_grid(tasks, integration, execution)
    if isinstance(tasks, (Task, dict, str)) or hasattr(tasks, "__fspath__"):
        tasks = [tasks]
    if not isinstance(tasks, (list, tuple)) or not tasks:
        raise bad("tasks", tasks, "be a TaskGrid, a task or a non-empty list of tasks (Task, dict or task file)")
    tasks = [coerce_task(task) for task in tasks]
    return _sweep_tasks(tasks, {"task": np.arange(len(tasks))}, integration, execution)


def _sweep_grid(grid: TaskGrid, integration, execution) -> SweepResult:
    points = grid.points()
    shape = grid.shape
    n = int(np.prod(shape))
    # Validate the family parameters once, on the first point, before any job is sent out; its profile's size
    # (T values, or T x T for every-step outputs) and the solver's 2T - 1 set the memory per grid point.
    first = grid.task({k: v[:1] for k, v in points.items()})
    per_point = max(2 * grid.T - 1, first.singular_values[0].size)
    chunk_size = execution.chunk_size_for(n, per_point, integration.method)
    jobs = []
    for start in range(0, n, chunk_size):
        jobs.append({**grid.job(), **integration.job(), "offset": start,
                     "points": {k: v[start:start + chunk_size] for k, v in points.items()}})
    began = time.perf_counter()
    out = _concatenate(run_jobs(_integrate_chunk, jobs, execution.executor, execution.progress))
    how = "executor" if execution.executor is not None else ("vectorized" if len(jobs) == 1 else "chunked")
    a, b, c = (out["y"][:, j].reshape(shape) for j in range(3))
    info = {"family": grid.family, "T": grid.T, "base": grid.base, "tau": grid.tau, "t_end": integration.t_end,
            "rtol": integration.rtol, "atol": integration.atol, "scale_tolerance": integration.scale_tolerance,
            "n_points": n, "n_chunks": len(jobs), "chunk_size": chunk_size, "run": how,
            "endpoint": integration.endpoint, "seconds": time.perf_counter() - began, "init": dict(grid.init or {}),
            "outputs": grid.outputs, "n_integrated": int(out["integrated"].sum()), "warn": integration.warn}
    result = SweepResult(axes=grid.axes, a=a, b=b, c=c, energy=out["energy"].reshape(shape), fixed=grid.fixed,
                         info=info, rate=out["rate"].reshape(shape), integrated=out["integrated"].reshape(shape),
                         converged=out["converged"].reshape(shape))

    def name(flat):
        return "grid point " + ", ".join(f"{k}={v[flat]:g}" for k, v in points.items())

    _warn_not_converged(result, name)
    return result


def _stack_key(task: Task):
    """Tasks with equal keys can be stacked as the modes of one task (same engine, same clock)."""
    own = id(task) if task.input_covariance is not None else None  # a correlated task runs on its own
    return (task.T, task.outputs, task.is_complex, task.tau, own)


def stack_tasks(tasks) -> Task:
    """The modes of several tasks of equal T, outputs, number type and tau (white inputs) as one task."""
    tasks = list(tasks)
    if len(tasks) == 1:
        return tasks[0]
    if len({_stack_key(task) for task in tasks}) != 1:
        raise LrnnInputError("only tasks with the same T, outputs, number type and tau and white inputs stack")
    dtype = np.result_type(*(task.singular_values for task in tasks))
    init = {k: np.concatenate([getattr(task.init, k) for task in tasks]).astype(dtype) for k in "abc"}
    return Task(np.concatenate([task.singular_values for task in tasks]), init=init, tau=tasks[0].tau,
                name="stacked tasks", outputs=tasks[0].outputs)


def select_modes(task: Task, rows) -> Task:
    """The task made of the given modes (rows) of ``task``, with their initial state and input covariance."""
    rows = np.asarray(rows)
    cov = task.input_covariance
    if cov is not None and cov.spec is None and cov.matrix.ndim == 3:  # one covariance per mode
        cov = cov.matrix[rows]
    return Task(task.singular_values[rows], init={k: getattr(task.init, k)[rows] for k in "abc"}, tau=task.tau,
                name=task.name, outputs=task.outputs, input_covariance=cov)


def _sweep_tasks(tasks: list, first_axis: dict, integration, execution) -> SweepResult:
    """End points of every mode of every task, stacked by engine and chunked; result of shape (tasks, modes)."""
    n_tasks, k_max = len(tasks), max(task.K for task in tasks)
    groups = {}
    for index, task in enumerate(tasks):
        groups.setdefault(_stack_key(task), []).append(index)
    jobs, rows_of_job = [], []
    for indices in groups.values():
        stacked = stack_tasks([tasks[i] for i in indices])
        where = [(i, k) for i in indices for k in range(tasks[i].K)]
        labels = [_entry_name(tasks[i], i, k) for i, k in where]
        per_point = max(2 * stacked.T - 1, stacked.singular_values[0].size)
        chunk_size = execution.chunk_size_for(stacked.K, per_point, integration.method)
        for start in range(0, stacked.K, chunk_size):
            rows = np.arange(start, min(start + chunk_size, stacked.K))
            part = stacked if rows.size == stacked.K else select_modes(stacked, rows)
            jobs.append({**integration.job(), "task": part, "offset": start,
                         "labels": labels[start:start + chunk_size]})
            rows_of_job.append(where[start:start + chunk_size])
    began = time.perf_counter()
    parts = run_jobs(_task_chunk, jobs, execution.executor, execution.progress)
    dtype = np.result_type(*(part["y"] for part in parts))
    y = np.full((n_tasks, k_max, 3), np.nan, dtype=dtype)
    energy, rate = np.full((n_tasks, k_max), np.nan), np.full((n_tasks, k_max), np.nan)
    integrated, converged = np.zeros((n_tasks, k_max), dtype=bool), np.zeros((n_tasks, k_max), dtype=bool)
    for part, where in zip(parts, rows_of_job):
        i, k = np.array(where).T
        y[i, k], energy[i, k], rate[i, k] = part["y"], part["energy"], part["rate"]
        integrated[i, k], converged[i, k] = part["integrated"], part["converged"]
    info = {"tasks": [task.name for task in tasks], "T": [task.T for task in tasks],
            "tau": [task.tau for task in tasks], "t_end": integration.t_end,
            "rtol": integration.rtol, "atol": integration.atol, "n_points": int(sum(task.K for task in tasks)),
            "n_chunks": len(jobs), "n_stacks": len(groups),
            "run": "executor" if execution.executor is not None else "stacked", "endpoint": integration.endpoint,
            "seconds": time.perf_counter() - began, "n_integrated": int(integrated.sum()), "warn": integration.warn}
    axes = {**first_axis, "mode": np.arange(k_max)}
    result = SweepResult(axes=axes, a=y[..., 0], b=y[..., 1], c=y[..., 2], energy=energy, info=info, rate=rate,
                         integrated=integrated, converged=converged)

    def name(flat):
        i, k = divmod(int(flat), k_max)
        return _entry_name(tasks[i], i, k, first_axis)

    _warn_not_converged(result, name, present=~np.isnan(rate))
    return result


def _entry_name(task: Task, index: int, mode: int, first_axis: dict | None = None) -> str:
    axis, values = next(iter((first_axis or {"task": None}).items()))
    shown = f"{axis}={values[index]:g}" if axis != "task" and values is not None else f"task {index}"
    return f"{shown} ('{task.name}') mode {mode}"


def _warn_not_converged(result: SweepResult, name, present=None) -> None:
    """Warn (``NotConvergedWarning``) naming the end points still moving at t_end, and record them in info."""
    moving = ~result.converged
    if present is not None:
        moving &= present
    flat = np.flatnonzero(moving.ravel())
    result.info["n_not_converged"] = int(flat.size)
    if not flat.size or not result.info.get("warn", True):
        return
    largest = float(np.nanmax(np.asarray(result.rate).ravel()[flat]))
    names = ", ".join(name(i) for i in flat[:NAMES_SHOWN]) + (f" and {flat.size - NAMES_SHOWN} more"
                                                               if flat.size > NAMES_SHOWN else "")
    warnings.warn(f"{flat.size} of {int(np.size(moving) if present is None else present.sum())} end points are "
                  f"still moving at t_end={result.info['t_end']:g} (largest |rate| {largest:.2g}): {names}; "
                  + ("they have no valid fixed point (b runs off, or the check could not tell its basin); integrate "
                     "longer (t_end) to see where they go" if result.info["endpoint"] == "fixed_point" else
                     "integrate longer (t_end) or use endpoint='fixed_point' (a recurrent mode that runs off has no "
                     "end point)"), NotConvergedWarning, stacklevel=4)


def vary_task(task, field: str, values) -> list:
    """One task per value of ``field``, all else as in ``task`` (a Task, task dict or task file).

    Parameters
    ----------
    task : Task, dict or path
    field : str
        One of ``VARIABLE_FIELDS``: "tau", "T", a family parameter ("delta", "lambda", "kappa", "beta", and the
        phases), or an initial mode "init.a", "init.b", "init.c" (set for every mode). The task must have the
        field: varying "delta" of a task given by its singular values is an error, as in a task file.
    values : sequence of numbers

    Returns
    -------
    list of Task
        Named "<name> <field>=<value>".
    """
    if field not in VARIABLE_FIELDS:
        raise bad("vary", field, f"be one of {', '.join(VARIABLE_FIELDS)}")
    values = check_finite_array("values", values)
    if values.ndim != 1 or values.size == 0:
        raise bad("values", values, "be a non-empty flat list of numbers")
    if isinstance(task, Task):
        data = task.to_dict()
    elif isinstance(task, dict):
        data = dict(task)
    else:
        data = read_task_data(task)
        if not isinstance(data, dict):
            raise bad("task", task, "hold a JSON object")
    base = data.get("name") or ("task" if not isinstance(task, (str, os.PathLike)) else os.path.basename(str(task)))
    tasks = []
    for value in values.tolist():
        entry = copy.deepcopy(data)
        if field == "T":
            if value != int(value):
                raise bad("values", value, "be whole numbers for 'T'")
            value = int(value)
        if field.startswith("init."):
            init = entry.get("init") or {}
            init[field[5:]] = float(value)
            entry["init"] = init
        else:
            if field not in entry and "family" not in entry and field != "tau":
                raise LrnnInputError(f"parameter 'vary': field '{field}' applies only to a task given by a family; "
                                     f"this task gives its singular values")
            entry[field] = float(value) if field != "T" else value
        entry["name"] = f"{base} {field}={value:g}"
        tasks.append(Task.from_dict(entry))
    return tasks


def _check_run_options(integration, execution) -> tuple:
    """The run options of a sweep, with their defaults; a one-line error naming a wrong one."""
    integration = IntegrationOptions() if integration is None else integration
    execution = ExecutionOptions() if execution is None else execution
    for name, value, kind in (("integration", integration, IntegrationOptions),
                              ("execution", execution, ExecutionOptions)):
        if not isinstance(value, kind):
            raise bad(name, value, f"be of type {kind.__name__}")
    return integration, execution


def _check_options(grid, integration, execution) -> tuple:
    """The three option objects of a grid sweep, with their defaults; a one-line error naming a wrong one."""
    if not isinstance(grid, TaskGrid):
        raise bad("grid", grid, "be of type TaskGrid")
    return (grid, *_check_run_options(integration, execution))


def sweep_point_by_point(grid: TaskGrid, integration: IntegrationOptions | None = None,
                         indices=None) -> SweepResult:
    """Reference: one separate integration per grid point (the slow way ``sweep`` replaces).

    Parameters
    ----------
    grid, integration
        As in ``sweep``. Each grid point is integrated on its own to ``t_end`` (tolerances unscaled, no fixed-point
        end points: this is the reference).
    indices : array_like of int, optional
        Flat (row-major) grid indices to integrate, a subsample; the other entries of the result are NaN.

    Returns
    -------
    SweepResult
        ``info["run"]`` is "point-by-point".
    """
    grid, integration, _ = _check_options(grid, integration, None)
    points = grid.points()
    shape = grid.shape
    n = int(np.prod(shape))
    if indices is None:
        indices = np.arange(n)
    else:
        flat = np.asarray(indices)
        if flat.ndim != 1 or flat.size == 0 or not np.issubdtype(flat.dtype, np.integer) or np.any(flat < 0) \
                or np.any(flat >= n):
            raise bad("indices", indices, f"be a non-empty flat list of grid indices in 0..{n - 1}")
        indices = flat.astype(int)
    out = np.full((n, 6), np.nan)
    began = time.perf_counter()
    for idx in indices:
        job = {**grid.job(), **integration.job(), "scale_tolerance": False, "endpoint": "integrate",
               "points": {k: v[idx:idx + 1] for k, v in points.items()}, "offset": int(idx)}
        part = _integrate_chunk(job)
        out[idx] = [*part["y"][0], part["energy"][0], part["rate"][0], part["converged"][0]]
    a, b, c, energy, rate = (out[:, j].reshape(shape) for j in range(5))
    info = {"family": grid.family, "T": grid.T, "t_end": integration.t_end, "run": "point-by-point",
            "n_points": int(len(indices)), "seconds": time.perf_counter() - began}
    return SweepResult(axes=grid.axes, a=a, b=b, c=c, energy=energy, fixed=grid.fixed, info=info, rate=rate,
                       converged=(out[:, 5] == 1).reshape(shape))


__all__ = ["sweep", "sweep_point_by_point", "vary_task", "stack_tasks", "select_modes", "TaskGrid",
           "IntegrationOptions", "ExecutionOptions", "SweepResult", "NotConvergedWarning", "grid_points", "grid_task",
           "run_jobs"]
