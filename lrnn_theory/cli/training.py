"""Training a network from the command line: the arguments, the run and its summary (``simulate``, ``validate``)."""
from __future__ import annotations

from lrnn_theory import resources
from lrnn_theory.errors import bad
from lrnn_theory.tasks import Task
from lrnn_theory.validation.harness import DATA, INITS, LOSSES, train_lrnn
from lrnn_theory.validation.network import WEIGHT_NAMES

from .arguments import add_resource_arguments


def add_training_arguments(parser):
    parser.add_argument("task", metavar="TASK.json", help="task file (see the README for the JSON schema)")
    parser.add_argument("--hidden", type=int, help="hidden width N_h >= K (default: K, the number of modes)")
    parser.add_argument("--lr", type=float, required=True, help="learning rate of gradient descent")
    parser.add_argument("--steps", type=int, required=True, help="number of gradient steps")
    parser.add_argument("--init", choices=INITS, default="aligned",
                        help="aligned with the task's singular vectors (a, b, c from the task's init; default) or "
                             "small random N(0, init_scale^2 / fan_in)")
    parser.add_argument("--init-scale", type=float,
                        help="aligned: every mode set to this value >= 0; random: scale sigma of "
                             "N(0, sigma^2 / fan_in) (default 0.1)")
    parser.add_argument("--data", choices=DATA[:2], default="population",
                        help="population correlations (default) or exactly whitened samples")
    parser.add_argument("--n-samples", type=int,
                        help="number of samples P >= T * K (default T * K; population data stand for P exactly "
                             "whitened samples, which sets P in the mean losses)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the singular vectors, samples and init (default 0)")
    parser.add_argument("--loss", choices=LOSSES, default="sum_half",
                        help="loss convention (default sum_half, the theory's); the time per step follows from it")
    parser.add_argument("--freeze", nargs="+", choices=WEIGHT_NAMES, default=(), metavar="W",
                        help="weights not trained: any of W_x W_h W_y")
    parser.add_argument("--record-every", type=int,
                        help="record the modes every this many steps (default: steps / 1000, at least 1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_resource_arguments(parser)


def train_from_args(args):
    """``(task, TrainingResult)`` of the training the arguments describe, after the resource guard."""
    task = Task.from_json(args.task)
    if args.steps < 1:  # the API allows 0 steps (just the initial read-out); a run to compare needs at least one
        raise bad("steps", args.steps, "be >= 1")
    record_every = args.record_every if args.record_every is not None else max(1, args.steps // 1000)
    hidden = args.hidden if args.hidden is not None else task.K
    samples = args.n_samples if args.n_samples is not None else task.T * task.K
    resources.guard(resources.train_estimate(task.K, task.T, max(hidden, 1), max(samples, 1), args.steps,
                                             args.data, records=args.steps // max(record_every, 1) + 2),
                    f"training ({args.data} data)")
    result = train_lrnn(task, hidden=args.hidden, lr=args.lr, steps=args.steps, init=args.init,
                        init_scale=args.init_scale, data=args.data, n_samples=args.n_samples, seed=args.seed,
                        loss=args.loss, freeze=tuple(args.freeze), record_every=record_every,
                        progress=False if args.no_progress else None)
    return task, result


def training_summary(task, result) -> str:
    """One line: what was trained, how, and the final loss."""
    info = result.info
    outputs = ", outputs at every step" if getattr(task, "every_step", False) else ""
    return (f"trained N_h={info['hidden']} on {task.K} mode(s), T={task.T}{outputs}, {info['steps']} steps of "
            f"lr={info['lr']:g} "
            f"({info['data']} data, {info['init']} init, loss {info['loss']}): dt per step {info['dt_per_step']:.6g}, "
            f"t_final={info['t_final']:.6g}, final loss {result.losses[-1]:.6g}")
