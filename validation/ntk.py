"""Kernel movement of trained LRNNs (result 4): single runs, grids over tasks and init scales, and ``lrnn ntk``.

``kernel_distance_run`` trains one network with the validation harness, records its NTK (``lrnn_theory.ntk``) at
initialisation and at the end of training, and returns the kernel distance between them; for an aligned network it
also returns the distance predicted from the mode theory alone (integrated modes -> ``mode_ntk``), without the
trained weights. ``distance_grid`` runs one job per (task, init scale) cell through ``lrnn_theory.sweeps.run_jobs``,
the same ``concurrent.futures.Executor`` path as the sweeps. Any ``Task`` can fill the rows (one per T for the
paper's heatmaps), so new task kinds need no new code here.

Training protocol (``TRAINING``; the paper gives none): full-batch gradient descent on the theory's loss
``1/2 sum ||y - y_hat||^2`` over population data; learning rate ``auto_lr``: min(0.02, 1 / lambda_max)
with lambda_max the largest NTK eigenvalue at the end point of the mode flow, half the stability bound there
(constant task, 4 modes: 0.02 for T <= 4, down to about 0.006 at T = 8), or one fixed rate for a whole grid
(``lr=0.04``: the paper's diverged T = 8 row of Fig. A6); run until the loss falls to ``stop_rel`` (1e-6) times the
loss of the zero network or ``max_t`` (200 time units) is reached. Runs whose weights overflow are diverged
(``diverged`` True; their distance is no result and is left NaN, which the figures show as hatched cells and write
as null).

Kernel readings (``KernelReadings``): the kernel of the initial and the trained network is taken over the T N_x
whitened one-hot probes ("probes", the same distances as any exactly whitened sample set) and/or over
``samples`` (16) Gaussian sample sequences drawn with ``seed`` ("samples", ``lrnn_theory.ntk.kernel_inputs``). One
training run gives both.

``lrnn ntk TASK.json --hidden N --init aligned|random --init-scale X --lr ETA --steps S [--seed K] --out ntk.csv``
writes ``step,t,distance`` over training and prints the final distance.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lrnn_theory.errors import DivergenceError, LrnnInputError, bad, check_int, check_real
from lrnn_theory.flow import integrate
from lrnn_theory.losses import loss_scale
from lrnn_theory.ntk import KERNEL_INPUTS, KERNEL_SAMPLES, empirical_ntk, kernel_distance, kernel_inputs, mode_ntk
from lrnn_theory.ntk import whitened_probe_inputs
from lrnn_theory.sweeps import run_jobs

from .data import mode_block_sizes
from .harness import train_lrnn

#: Training protocol of the kernel-distance grids (recorded in every figure's JSON).
TRAINING = {"lr": "auto", "lr_max": 0.02, "loss": "sum_half", "data": "population", "stop_rel": 1e-6,
            "max_t": 200.0, "seed": 0, "kernel_inputs": "probes", "kernel_samples": KERNEL_SAMPLES, "kernel_seed": 0,
            "lr_rule": "auto: min(lr_max, 1 / largest eigenvalue of the NTK over the whitened probes at the end point "
                       "of the mode flow), half the stability bound 2 / lambda_max of the loss Hessian there (at a "
                       "zero-loss point the Hessian J^T J and the NTK J J^T share their nonzero eigenvalues)",
            "stopping_rule": "loss <= stop_rel * (loss of the zero network, 1/2 sum_i ||S_i||_F^2) or t = max_t",
            "kernel_readings": {"probes": "the T N_x whitened one-hot probe sequences (population data)",
                                "samples": "kernel_samples Gaussian sequences x_t ~ N(0, I), not whitened, seeded by "
                                           "kernel_seed (lrnn_theory.ntk.kernel_inputs)"}}


def auto_lr(task, lr_max=TRAINING["lr_max"], t_end=TRAINING["max_t"]) -> float:
    """Learning rate ``min(lr_max, 1 / lambda_max)``, lambda_max the largest NTK eigenvalue at the flow's end point.

    For the theory's loss on population data, the loss is 1/2 sum over the whitened probes of the squared error,
    so at a zero-loss point its Hessian is J^T J, whose nonzero eigenvalues are those of the NTK J J^T over the
    probes: ``1 / lambda_max`` is half the stability bound of gradient descent there. The end point is the mode
    flow's from the task's init (aligned; width-independent).

    Parameters
    ----------
    task : Task
    lr_max : float
        Cap, to stay near the gradient-flow regime where curvature is low.
    t_end : float
        Integration time of the flow.

    Returns
    -------
    float
    """

    try:
        final = integrate(task, t_end * task.tau, n_points=2, converged_tol=1e-10).final()
    except DivergenceError:
        return lr_max
    sizes = _block_sizes(task)
    probes = whitened_probe_inputs(task.T, task.K if sizes is None else int(sizes.sum()))
    top = float(np.linalg.eigvalsh(mode_ntk(final["a"], final["b"], final["c"], probes, sizes=sizes))[-1])
    return min(lr_max, 1.0 / top) if top > 0 else lr_max


def _block_sizes(task):
    """Real units per mode of a rotational (complex) task's block network, None for a real task."""

    return mode_block_sizes(task) if task.is_complex else None


def init_for(task, init: str, scale):
    """Task and ``init_scale`` for the harness from an init scale: a number, or ``{"u": ..., "b": ...}``.

    Aligned: every mode a = b = c = scale, or a = c = scale["u"], b = scale["b"]. Random: every matrix
    ``N(0, scale^2 / fan_in)``, or W_x and W_y at scale["u"], W_h at scale["b"].
    """
    if isinstance(scale, dict):
        if set(scale) != {"u", "b"}:
            raise bad("init_scale", scale, "be a number or a mapping with keys u and b")
        s_u, s_b = (check_real(f"init_scale.{k}", scale[k], nonnegative=True) for k in ("u", "b"))
        if init == "aligned":
            return task.with_init(a=s_u, b=s_b, c=s_u), None
        return task, {"W_x": s_u, "W_h": s_b, "W_y": s_u}
    scale = check_real("init_scale", scale, nonnegative=True)
    if init == "aligned":
        return task.with_init(a=scale, b=scale, c=scale), None
    return task, scale


def _readings(kernel_inputs) -> list:
    """``kernel_inputs`` as a non-empty list of distinct readings ("probes", "samples"), the first the main one."""
    readings = [kernel_inputs] if isinstance(kernel_inputs, str) else kernel_inputs
    try:
        readings = list(readings)
    except TypeError:
        raise bad("kernel.inputs", kernel_inputs, f"be one of {', '.join(KERNEL_INPUTS)} or a list of them") from None
    if not readings or any(not isinstance(r, str) or r not in KERNEL_INPUTS for r in readings) \
            or len(set(readings)) != len(readings):
        raise bad("kernel.inputs", kernel_inputs, f"be one of {', '.join(KERNEL_INPUTS)} or a list of them")
    return readings


@dataclass(frozen=True)
class KernelReadings:
    """Which kernels ``kernel_distance_run`` reads and compares (the defaults are ``TRAINING``'s).

    Attributes
    ----------
    inputs : {"probes", "samples"} or sequence of them
        The reading(s) the kernel is taken over (module docstring); the first gives ``distance`` and ``predicted``.
    samples, seed : int
        Number and seed of the sample sequences of the "samples" reading.
    predict : bool, optional
        Also predict the distance from the integrated modes (default: for aligned init).
    """

    inputs: str | tuple = TRAINING["kernel_inputs"]
    samples: int = TRAINING["kernel_samples"]
    seed: int = TRAINING["kernel_seed"]
    predict: bool | None = None


def sample_kernel_inputs(task, V, n_samples=KERNEL_SAMPLES, seed=0):
    """The "samples" reading's sequences for a network with input basis ``V`` (N_x, N_x): ``kernel_inputs``."""
    V = np.asarray(V, dtype=float)
    if task.correlated:
        lam = task.input_covariance.matrix
        if V.shape[0] != V.shape[1] or lam.ndim == 3 and lam.shape[0] != V.shape[1]:
            raise LrnnInputError(f"parameter 'kernel_inputs': the samples reading of a correlated task needs one "
                                 f"covariance per input direction (V of shape {V.shape}, covariance {lam.shape})")
        return kernel_inputs("samples", task.T, V.shape[1], n_samples, seed, input_covariance=lam, V=V)
    return kernel_inputs("samples", task.T, V.shape[0], n_samples, seed)  # white: isotropic, no basis needed


def kernel_distance_run(task, *, init="aligned", init_scale=0.1, hidden=None, lr=TRAINING["lr"],
                        lr_max=TRAINING["lr_max"], stop_rel=TRAINING["stop_rel"], max_t=TRAINING["max_t"],
                        loss=TRAINING["loss"], data=TRAINING["data"], seed=TRAINING["seed"],
                        kernel=KernelReadings()) -> dict:
    """Train one LRNN and measure how far its NTK moved from initialisation to the end of training.

    Parameters
    ----------
    task : Task
    init : {"aligned", "random"}
    init_scale : float or dict
        See ``init_for``.
    hidden : int, optional
        Hidden width (default K).
    lr : float or "auto"
        Learning rate; "auto": ``auto_lr(task with the init, lr_max)``.
    lr_max, stop_rel, max_t, loss, data, seed
        Training protocol (see the module docstring and ``train_lrnn``).
    kernel : KernelReadings
        The kernel readings and whether to predict the distance from the integrated modes.

    Returns
    -------
    dict
        ``distance`` (NaN if diverged: not a result), ``predicted`` (NaN if not asked or the flow diverged),
        ``distance_<reading>`` and ``predicted_<reading>`` for every reading, ``diverged``, ``converged`` (the
        stopping rule was met before max_t), ``t_end``, ``steps``, ``final_loss``, ``lr``.

    Examples
    --------
    >>> from lrnn_theory import Task
    >>> out = kernel_distance_run(Task.constant(delta=1.0, T=2), init="aligned", init_scale=0.2, lr=0.02)
    >>> out["converged"], abs(out["distance"] - out["predicted"]) < 0.01
    (True, True)
    """


    if not isinstance(kernel, KernelReadings):
        raise bad("kernel", kernel, "be a KernelReadings")
    readings = _readings(kernel.inputs)
    kernel_samples = check_int("kernel.samples", kernel.samples, minimum=1)
    kernel_seed = check_int("kernel.seed", kernel.seed, minimum=0)
    run_task, scale = init_for(task, init, init_scale)
    if isinstance(lr, str) and lr == "auto":
        lr = auto_lr(run_task if init == "aligned" else task, lr_max, max_t)
    lr = check_real("lr", lr, positive=True)
    predict = (init == "aligned") if kernel.predict is None else bool(kernel.predict)
    sizes = _block_sizes(task)  # complex modes: 2 real units each (a 2x2 block, squared norm 2 |d|^2)
    units = np.ones(task.K, dtype=int) if sizes is None else sizes
    N = int(units.sum())
    dt = lr * task.tau * loss_scale(loss, task.T * N, N)  # population: P = T N_x, N_x = N_y = N real units
    max_steps = max(1, int(math.ceil(max_t / dt)))
    zero_loss = 0.5 * float(np.sum(units[:, None] * np.abs(task.singular_values) ** 2))
    stop_loss = stop_rel * zero_loss * loss_scale(loss, task.T * N, N)
    out = {"distance": float("nan"), "predicted": float("nan"), "diverged": False, "converged": False,
           "t_end": float("nan"), "steps": 0, "final_loss": float("nan"), "lr": lr}
    out.update({f"{key}_{r}": float("nan") for r in readings for key in ("distance", "predicted")})
    try:
        res = train_lrnn(run_task, hidden=hidden, lr=lr, steps=max_steps, init=init, init_scale=scale, data=data,
                         loss=loss, seed=seed, record_every=max_steps, ntk_steps=[0], stop_loss=stop_loss,
                         progress=False)
    except DivergenceError:
        out["diverged"] = True
        return out
    out.update(t_end=float(res.trajectory.t[-1]), steps=int(res.steps[-1]), final_loss=float(res.losses[-1]),
               converged=bool(res.losses[-1] <= stop_loss))
    V = res.basis["V"]
    inputs = {}
    for reading in readings:
        if reading == "probes":  # the harness's default NTK inputs: the (coloured) probes
            inputs[reading] = res.ntk["inputs"]
            out["distance_probes"] = float(kernel_distance(res.ntk["kernels"][0], res.ntk["kernels"][-1]))
        else:
            X = inputs[reading] = sample_kernel_inputs(task, V, kernel_samples, kernel_seed)
            out["distance_samples"] = float(kernel_distance(empirical_ntk(*res.initial_network.weights, X),
                                                            empirical_ntk(*res.network.weights, X)))
    if predict:
        tr = res.trajectory
        start = run_task.with_init(a=tr.a[0], b=tr.b[0], c=tr.c[0])
        try:
            final = integrate(start, max(out["t_end"], 1e-12), n_points=2, rtol=1e-10, atol=1e-12).final()
        except DivergenceError:
            final = None
        for reading, X in inputs.items() if final is not None else ():
            out[f"predicted_{reading}"] = float(kernel_distance(
                mode_ntk(tr.a[0], tr.b[0], tr.c[0], X, V, sizes=sizes),
                mode_ntk(final["a"], final["b"], final["c"], X, V, sizes=sizes)))
    out["distance"], out["predicted"] = out[f"distance_{readings[0]}"], out[f"predicted_{readings[0]}"]
    return out


def _run_cell(job: dict) -> dict:
    """One grid cell (module level with a plain-dict argument, so that it pickles to worker processes)."""
    from threadpoolctl import threadpool_limits

    job = dict(job)
    with threadpool_limits(limits=1, user_api="blas"):  # parallelism comes from the executor's processes
        return kernel_distance_run(job.pop("task"), **job)


def distance_grid(tasks, scales, *, init="aligned", hidden=None, executor=None, progress=None, **training) -> dict:
    """Kernel distance at the end of training for every (task, init scale) pair.

    Parameters
    ----------
    tasks : sequence of Task
        One row each (e.g. the same family for T = 1..8; any task kind the harness trains on).
    scales : sequence of float or of {"u": ..., "b": ...}
        One column each (``init_for``).
    init : {"aligned", "random"}
    hidden : int, optional
    executor : concurrent.futures.Executor, optional
        Runs one job per cell (``lrnn_theory.sweeps.run_jobs``); serial in this process by default.
    progress : bool, optional
        Progress bar over the cells.
    **training
        Overrides of ``TRAINING`` passed to ``kernel_distance_run`` (lr: "auto" or one fixed rate for every cell,
        lr_max, stop_rel, max_t, loss, data, seed, kernel: a ``KernelReadings``).

    Returns
    -------
    dict
        ``distance``, ``predicted``, ``distance_<reading>``, ``predicted_<reading>``, ``t_end``, ``final_loss``,
        ``lr`` (float arrays, rows x columns; NaN in diverged cells), ``diverged``, ``converged`` (bool arrays).
    """

    if init not in ("aligned", "random"):
        raise bad("init", init, "be one of aligned, random")
    unknown = set(training) - {"lr", "lr_max", "stop_rel", "max_t", "loss", "data", "seed", "kernel"}
    if unknown:
        raise LrnnInputError(f"unknown training option '{sorted(unknown)[0]}' (which kernels are read, and predict: "
                             "kernel=KernelReadings(...))")
    tasks, scales = list(tasks), list(scales)
    jobs = [dict(task=task, init=init, init_scale=scale, hidden=hidden, **training) for task in tasks
            for scale in scales]
    cells = run_jobs(_run_cell, jobs, executor, progress=progress)
    shape = (len(tasks), len(scales))
    out = {}
    floats = [key for key in cells[0] if key not in ("diverged", "converged", "steps")]
    for key in floats:
        out[key] = np.array([c[key] for c in cells], dtype=float).reshape(shape)
    for key in ("diverged", "converged"):
        out[key] = np.array([c[key] for c in cells], dtype=bool).reshape(shape)
    return out
