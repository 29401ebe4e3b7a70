"""Training a network from the command line: the arguments, the run and its summary (``simulate``, ``validate``,
``ntk``).

A run trains on a task file (population correlations or exactly whitened samples, as the task says) or on user
data, ``--data DATA.npz`` with arrays X (P, T, N_x) and Y (P, N_y) or (P, T, N_y). With user data the theory's task
is fitted from the same data in the bases the network was trained in (``estimate_task(bases=(U, V))``: the
cross-covariances and the input covariance of every mode, in the scale of the loss convention), and the network's
modes are put on that task's clock, ``t = steps * lr * tau * data_time_factor(loss)`` (``time_mapping``), so that
the task's flow lies over them directly. The loss defaults to the plain mean squared error (``mean``) for user data
and to the theory's ``sum_half`` for task files.
"""
from __future__ import annotations

from dataclasses import dataclass

from lrnn_theory import resources
from lrnn_theory.errors import LrnnInputError, bad
from lrnn_theory.tasks import Task
from lrnn_theory.validation.harness import DATA, INITS, LOSSES, train_lrnn
from lrnn_theory.validation.network import WEIGHT_NAMES

from .arguments import add_resource_arguments

#: Loss convention of a run on user data unless --loss says otherwise: the plain mean squared error.
DATA_LOSS = "mean"
#: Loss convention of a run on a task file unless --loss says otherwise: the theory's.
TASK_LOSS = "sum_half"
#: The names --data takes besides a data file.
DATA_NAMES = DATA[:2]


def add_task_argument(parser):
    parser.add_argument("task", nargs="?", metavar="TASK.json",
                        help="task file (every field: docs/user_guide/tasks.rst); optional with --data DATA.npz, which "
                             "fits the task from the data (a task file then gives only tau and init)")


def add_data_argument(parser, population_help: str):
    parser.add_argument("--data", default="population", metavar="{population,samples,DATA.npz}",
                        help=f"{population_help}; or a NPZ file with arrays X (P, T, N_x) and Y (P, N_y) or "
                             "(P, T, N_y): train on them, fit the task from them and lay its theory over the network")


def add_loss_argument(parser):
    parser.add_argument("--loss", choices=LOSSES, default=None,
                        help=f"loss convention (default {TASK_LOSS}, the theory's; with --data DATA.npz {DATA_LOSS}, "
                             "the plain MSE); the time per step follows from it")


def add_training_arguments(parser):
    add_task_argument(parser)
    parser.add_argument("--hidden", type=int, help="hidden width N_h >= K (default: K, the number of modes)")
    parser.add_argument("--lr", type=float, required=True, help="learning rate of gradient descent")
    parser.add_argument("--steps", type=int, required=True, help="number of gradient steps")
    parser.add_argument("--init", choices=INITS, default="aligned",
                        help="aligned with the task's singular vectors (a, b, c from the task's init; default) or "
                             "small random N(0, init_scale^2 / fan_in)")
    parser.add_argument("--init-scale", type=float,
                        help="aligned: every mode set to this value >= 0; random: scale sigma of "
                             "N(0, sigma^2 / fan_in) (default 0.1)")
    add_data_argument(parser, "population correlations (default) or exactly whitened samples")
    parser.add_argument("--n-samples", type=int,
                        help="number of samples P >= T * K (default T * K; population data stand for P exactly "
                             "whitened samples, which sets P in the mean losses)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the singular vectors, samples and init (default 0)")
    add_loss_argument(parser)
    parser.add_argument("--freeze", nargs="+", choices=WEIGHT_NAMES, default=(), metavar="W",
                        help="weights not trained: any of W_x W_h W_y")
    parser.add_argument("--record-every", type=int,
                        help="record the modes every this many steps (default: steps / 1000, at least 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_resource_arguments(parser)


# ---- what the arguments ask for ---------------------------------------------------------------------------------
def data_file(args):
    """The data file of ``--data``, or None for population or sample data."""
    value = args.data
    if value in DATA_NAMES:
        return None
    if not str(value).lower().endswith(".npz"):
        raise bad("data", value, f"be {' or '.join(DATA_NAMES)}, or a .npz data file with arrays X and Y")
    return value


def loss_of(args, from_data: bool) -> str:
    return args.loss if args.loss is not None else (DATA_LOSS if from_data else TASK_LOSS)


def task_of(args, from_data: bool):
    """The task file's task; None without one, which only user data allow."""
    if args.task is not None:
        return Task.from_json(args.task)
    if not from_data:
        raise LrnnInputError("a task file is required (or --data DATA.npz to fit the task from data)")
    return None


def load_data(path):
    """X, Y of a data file, checked (one line naming the file or parameter)."""
    from lrnn_theory.task_estimation import check_data, load_npz_data

    return check_data(*load_npz_data(path))


# ---- a run --------------------------------------------------------------------------------------------------------
@dataclass
class TrainedRun:
    """A training run and the theory's task, on one clock.

    Attributes
    ----------
    task : Task
        The task file's task, or the task fitted from the user data in the network's bases (loss scale).
    result : TrainingResult
    trajectory : Trajectory
        The network's read-off modes on the task's clock (for user data: the harness's times times
        ``1 / statistics_scale``, and the energy of the fitted task).
    loss : str
    data_file : str or None
    estimate : TaskEstimate or None
        The fit of the task from user data (diagnostic, verdict).
    time_factor : float
        Task time per harness time: 1 for task files, P for user data under a mean convention.
    """

    task: Task
    result: object
    trajectory: object
    loss: str
    data_file: str | None = None
    estimate: object = None
    time_factor: float = 1.0

    @property
    def dt_per_step(self) -> float:
        return self.result.info["dt_per_step"] * self.time_factor

    def data_lines(self) -> list:
        """For user data: the time mapping of the loss convention and the verdict; nothing for task files."""
        if self.estimate is None:
            return []
        from lrnn_theory.task_estimation import time_mapping

        info = self.result.info
        return [f"time: {time_mapping(self.loss, info['N_y'], self.task.output_steps, self.task.tau)}",
                self.estimate.verdict()]


def training_estimate(K, T, N_y, hidden, n_samples, steps, data, records, recording) -> "resources.Estimate":
    """The resource estimate of a training run (``resources.train_estimate``) and, when ``recording`` asks for the
    NTK (``ntk_steps``), of the kernels recorded on the way (``resources.ntk_estimate``)."""
    estimate = resources.train_estimate(K, T, hidden, n_samples, steps, data, records=records)
    if recording.get("ntk_steps") is None:
        return estimate
    inputs = recording.get("ntk_inputs")
    n_inputs = inputs.shape[0] if inputs is not None else T * K  # the one-hot probes of population data
    steps_recorded = records if recording["ntk_steps"] == "records" else len(recording["ntk_steps"])
    return resources.combined(estimate, resources.ntk_estimate(n_inputs, T, N_y, hidden, steps_recorded,
                                                               recording.get("ntk_outputs") == "every_step"))


def train_from_args(args, arrays=None, **recording) -> TrainedRun:
    """The training the arguments describe, after the resource guard; ``arrays`` are the data file's (X, Y) when
    already loaded, ``recording`` adds ``train_lrnn`` keywords (``ntk_steps``, ...)."""
    path = data_file(args)
    task = task_of(args, path is not None)
    loss = loss_of(args, path is not None)
    if args.steps < 1:  # the API allows 0 steps (just the initial read-out); a run to compare needs at least one
        raise bad("steps", args.steps, "be >= 1")
    record_every = args.record_every if args.record_every is not None else max(1, args.steps // 1000)
    common = dict(hidden=args.hidden, lr=args.lr, steps=args.steps, init=args.init, init_scale=args.init_scale,
                  seed=args.seed, loss=loss, freeze=tuple(getattr(args, "freeze", ())), record_every=record_every,
                  progress=False if getattr(args, "no_progress", False) else None, **recording)
    records = args.steps // max(record_every, 1) + 2
    if path is None:
        hidden = args.hidden if args.hidden is not None else task.K
        samples = args.n_samples if args.n_samples is not None else task.T * task.K
        resources.guard(training_estimate(task.K, task.T, task.K, max(hidden, 1), max(samples, 1), args.steps,
                                          args.data, records, recording), f"training ({args.data} data)")
        result = train_lrnn(task, data=args.data, n_samples=args.n_samples, **common)
        return TrainedRun(task=task, result=result, trajectory=result.trajectory, loss=loss)
    X, Y = load_data(path) if arrays is None else arrays
    P, T, N_x = X.shape
    width = max(N_x, Y.shape[-1])
    hidden = args.hidden if args.hidden is not None else width
    resources.guard(training_estimate(width, T, Y.shape[-1], max(hidden, 1), P, args.steps, "samples", records,
                                      recording), "training (user data)")
    result = train_lrnn(task, X=X, Y=Y, n_samples=args.n_samples, **common)
    return data_run(result, X, Y, loss, path)


def data_run(result, X, Y, loss: str, path) -> TrainedRun:
    """The theory of a run on user data: the task fitted from the data in the network's bases (the loss's scale),
    and the network's modes on its clock."""
    from pathlib import Path

    from lrnn_theory.task_estimation import estimate_task, statistics_scale
    from lrnn_theory.trajectory import Trajectory, mode_energy

    trained = result.task  # the harness's fit (sums over the samples), in the same bases
    estimate = estimate_task(X, Y, loss=loss, bases=(result.basis["U"], result.basis["V"]), tau=trained.tau,
                             init=trained.init, name=Path(path).name)
    task = estimate.task
    factor = 1.0 / statistics_scale(loss, X.shape[0])
    sim = result.trajectory
    energy = mode_energy(task.singular_values, sim.a, sim.b, sim.c, task.tau, task.input_covariance)
    info = dict(sim.info, t_final=float(sim.t[-1] * factor), dt_per_step=sim.info["dt_per_step"] * factor,
                time_scale="task fitted from the data in the scale of the loss (lrnn_theory.task_estimation)")
    trajectory = Trajectory(t=sim.t * factor, a=sim.a, b=sim.b, c=sim.c, energy=energy, info=info)
    return TrainedRun(task=task, result=result, trajectory=trajectory, loss=loss, data_file=str(path),
                      estimate=estimate, time_factor=factor)


def training_summary(run: TrainedRun) -> str:
    """One line: what was trained, how, and the final loss."""
    task, info = run.task, run.result.info
    outputs = ", outputs at every step" if getattr(task, "every_step", False) else ""
    data = f"data {run.data_file}, P={info['n_samples']}" if run.data_file else f"{info['data']} data"
    return (f"trained N_h={info['hidden']} on {task.K} mode(s), T={task.T}{outputs}, {info['steps']} steps of "
            f"lr={info['lr']:g} "
            f"({data}, {info['init']} init, loss {info['loss']}): dt per step {run.dt_per_step:.6g}, "
            f"t_final={float(run.trajectory.t[-1]):.6g}, final loss {run.result.losses[-1]:.6g}")


def difference_line(diffs: dict, tol: float | None = None) -> str:
    """``largest |network - theory|: a=..., b=..., c=..., u=...`` (with the tolerance when given)."""
    text = "largest |simulation - theory|: " + ", ".join(f"{q}={d:.3g}" for q, d in diffs.items())
    return text + (f" (tolerance {tol:g})" if tol is not None else "")


def overlay_figure(run: TrainedRun, simulation, theory, lr):
    """Theory dashed over the network solid."""
    from lrnn_theory import plotting

    where = f"data {run.data_file}" if run.data_file else run.task.name
    return plotting.plot_trajectories({"network": simulation, "theory": theory},
                                      title=f"{where}: network (solid) vs theory (dashed), lr={lr:g}, "
                                            f"loss {run.loss}")
