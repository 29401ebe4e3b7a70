"""Sweeps over grids of task parameters that scale: one vectorized integration, or chunks on an Executor.

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
point its flow reaches (``lrnn_theory.fixed_points.flow_endpoints``) instead of integrating to ``t_end``; see there
for when that is valid.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from .errors import DivergenceError, LrnnInputError, bad, check_finite_array, check_int, check_real
from .fixed_points import flow_endpoints
from .flow import compile_flow, integrate
from .solvers import resolve_solver
from .tasks import FAMILIES, Task

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
    """

    axes: dict
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    energy: np.ndarray
    fixed: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    rate: np.ndarray | None = None

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
        for k in ("a", "b", "c", "u", "energy"):
            out[k] = getattr(self, k).tolist()
        if self.rate is not None:
            out["rate"] = self.rate.tolist()
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


def _integrate_chunk(job: dict) -> np.ndarray:
    """Integrate one chunk of grid points; returns an (n, 5) array of final a, b, c, energy and largest rate.

    A module-level function with a plain-dict argument, so that it pickles to worker processes and Dask workers.
    With ``job["endpoint"] == "fixed_point"`` the end points come from ``flow_endpoints`` and only the grid points
    where that is not valid are integrated.
    """
    task = grid_task(job["family"], job["T"], job["points"], job["fixed"], job["base"], job["init"], job["tau"],
                     job.get("outputs", "final"))
    flow = compile_flow(task)
    y = np.empty((task.K, 3))
    todo = np.arange(task.K)
    if job.get("endpoint", "integrate") == "fixed_point":
        ends = flow_endpoints(task, rtol=job["rtol"], atol=job["atol"])
        y[ends.valid] = np.column_stack([ends.a, ends.b, ends.c])[ends.valid]
        todo = np.flatnonzero(~ends.valid)
    if todo.size:
        part = {k: v[todo] for k, v in job["points"].items()}
        sub = task if todo.size == task.K else grid_task(job["family"], job["T"], part, job["fixed"], job["base"],
                                                         job["init"], job["tau"], job.get("outputs", "final"))
        solver = resolve_solver(job["method"], job["rtol"], job["atol"])
        scale = math.sqrt(3 * sub.K) if job["scale_tolerance"] and not solver.batched else 1.0
        try:
            traj = integrate(sub, job["t_end"], n_points=2, method=type(solver)(rtol=solver.rtol / scale,
                                                                                atol=solver.atol / scale),
                             converged_tol=job["converged_tol"])
        except DivergenceError as exc:
            if exc.mode is None:
                raise
            mode = int(todo[exc.mode])
            where = ", ".join(f"{k}={v[mode]:g}" for k, v in job["points"].items())
            raise DivergenceError(f"grid point {job['offset'] + mode} ({where}): {exc}", time=exc.time,
                                  mode=job["offset"] + mode) from None
        final = traj.final()
        y[todo] = np.column_stack([final["a"], final["b"], final["c"]])
    rates = flow.rates(job["t_end"], y.ravel(), count=False, check=False).reshape(-1, 3)
    return np.column_stack([y, flow.energy(y.ravel()), np.max(np.abs(rates), axis=1)])


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
        Stop a chunk early once all its rates are below this.
    endpoint : {"integrate", "fixed_point"}
        "integrate" (default): the modes at ``t_end``. "fixed_point": the fixed point each grid point's flow
        reaches (the limit t -> oo, from ``lrnn_theory.fixed_points.flow_endpoints``, checked by a short
        integration); grid points where that is not valid (the recurrent mode runs off) are integrated to
        ``t_end`` as usual. Much faster for long ``t_end``; differs from "integrate" where the flow has not
        converged by ``t_end``.
    """

    t_end: float = 200.0
    method: object = None
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    scale_tolerance: bool = True
    converged_tol: float | None = None
    endpoint: str = "integrate"

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


def sweep(grid: TaskGrid, integration: IntegrationOptions | None = None,
          execution: ExecutionOptions | None = None) -> SweepResult:
    """Integrate the mode flow at every point of a grid of task parameters and return the final modes.

    Parameters
    ----------
    grid : TaskGrid
        The family, T and the grid axes (and fixed parameters, init, tau, outputs).
    integration : IntegrationOptions, optional
        t_end, solver, tolerances, early stop and end points (defaults: ``IntegrationOptions()``).
    execution : ExecutionOptions, optional
        Executor, chunking, memory budget and progress bar (defaults: in this process, the largest chunks that fit).

    Returns
    -------
    SweepResult

    Raises
    ------
    DivergenceError
        When the flow of a grid point blows up; the message names the grid point and its parameters.

    Examples
    --------
    >>> res = sweep(TaskGrid("constant", 4, {"delta": [0.5, 1.0, 2.0]}), IntegrationOptions(t_end=100.0))
    >>> res.b.round(6).tolist(), res.u.round(6).tolist()
    ([1.0, 1.0, 1.0], [0.5, 1.0, 2.0])
    """
    grid, integration, execution = _check_options(grid, integration, execution)
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
    parts = run_jobs(_integrate_chunk, jobs, execution.executor, execution.progress)
    how = "executor" if execution.executor is not None else ("vectorized" if len(jobs) == 1 else "chunked")
    out = np.concatenate(parts, axis=0)
    a, b, c, energy, rate = (out[:, j].reshape(shape) for j in range(5))
    info = {"family": grid.family, "T": grid.T, "base": grid.base, "tau": grid.tau, "t_end": integration.t_end,
            "rtol": integration.rtol, "atol": integration.atol, "scale_tolerance": integration.scale_tolerance,
            "n_points": n, "n_chunks": len(jobs), "chunk_size": chunk_size, "run": how,
            "endpoint": integration.endpoint, "seconds": time.perf_counter() - began, "init": dict(grid.init or {}),
            "outputs": grid.outputs}
    return SweepResult(axes=grid.axes, a=a, b=b, c=c, energy=energy, fixed=grid.fixed, info=info, rate=rate)


def _check_options(grid, integration, execution) -> tuple:
    """The three option objects of a sweep, with their defaults; a one-line error naming a wrong one."""
    integration = IntegrationOptions() if integration is None else integration
    execution = ExecutionOptions() if execution is None else execution
    for name, value, kind in (("grid", grid, TaskGrid), ("integration", integration, IntegrationOptions),
                              ("execution", execution, ExecutionOptions)):
        if not isinstance(value, kind):
            raise bad(name, value, f"be of type {kind.__name__}")
    return grid, integration, execution


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
    out = np.full((n, 5), np.nan)
    began = time.perf_counter()
    for idx in indices:
        job = {**grid.job(), **integration.job(), "scale_tolerance": False, "endpoint": "integrate",
               "points": {k: v[idx:idx + 1] for k, v in points.items()}, "offset": int(idx)}
        out[idx] = _integrate_chunk(job)[0]
    a, b, c, energy, rate = (out[:, j].reshape(shape) for j in range(5))
    info = {"family": grid.family, "T": grid.T, "t_end": integration.t_end, "run": "point-by-point",
            "n_points": int(len(indices)), "seconds": time.perf_counter() - began}
    return SweepResult(axes=grid.axes, a=a, b=b, c=c, energy=energy, fixed=grid.fixed, info=info, rate=rate)


__all__ = ["sweep", "sweep_point_by_point", "TaskGrid", "IntegrationOptions", "ExecutionOptions", "SweepResult",
           "grid_points", "grid_task", "run_jobs"]
