"""``lrnn fit-task DATA.npz [--out TASK.json]``: estimate the task of sequences and targets, write the task whose flow
is exact for the data's own loss (cross-covariances and input covariance, in the scale of the loss convention), and
say in one line whether the theory applies.

The task is written next to the data by default (``data.npz`` -> ``data.task.json``); a path that is the data file
itself is refused. ``--white`` writes the white task instead (no input covariance: today's task, exact only for
inputs white in the chosen scale).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lrnn_theory.errors import LrnnInputError
from lrnn_theory.io import check_out_path, check_outputs_apart
from lrnn_theory.losses import LOSSES
from lrnn_theory.task_estimation import NORMALISATIONS, load_npz_data, time_mapping
from lrnn_theory.taskfile import check_task_name
from lrnn_theory.tasks import Task

from .arguments import add_resource_arguments

#: How the printed singular values are laid out, per output layout of the task.
LAYOUT = {"final": "rows: modes, columns: steps 1..T",
          "every_step": "per mode: rows output time t = 1..T, columns input step i = 1..T"}
#: The loss convention whose scale the task takes unless --loss says otherwise: the plain mean squared error.
DEFAULT_LOSS = "mean"


def add_arguments(parser):
    parser.add_argument("data", metavar="DATA.npz", help="NPZ with arrays X (P, T, N_x) and Y (P, N_y), or "
                                                         "(P, T, N_y) for targets at every step (an every-step task)")
    parser.add_argument("--out", help="task file to write (.json; default: next to the data, DATA.task.json)")
    parser.add_argument("--loss", choices=LOSSES, default=DEFAULT_LOSS,
                        help=f"loss convention the task is exact for (default {DEFAULT_LOSS}, the plain MSE): "
                             "means over the samples for mean and mean_half, sums for sum and sum_half; it sets "
                             "the time per step (printed)")
    parser.add_argument("--white", action="store_true",
                        help="write the white task (no input covariance), exact only for inputs white in the "
                             "chosen scale")
    parser.add_argument("--normalisation", choices=NORMALISATIONS, default="sum",
                        help="sum: Sigma^(YX_i) = sum_p y_p x_(p,i)^T (default; with the input covariance); "
                             "least_squares: the best linear filter Sigma^YX (Sigma^XX)^-1 (a white task)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shared-basis fit's start (default 0)")
    parser.add_argument("--name", default="data", help="task name (default: data)")
    add_resource_arguments(parser)


def default_out(data) -> Path:
    """``DATA.task.json`` next to the data file (its last suffix replaced)."""
    data = Path(data)
    return data.with_name((data.stem if data.suffix else data.name) + ".task.json")


def check_not_input(out: Path, data) -> None:
    """Refuse, in one line, an output path that is the data file (also the default path, for a data file named
    ``x.task.json``)."""
    check_outputs_apart([(out, "out")], [(data, "data file", None)])


def run(args) -> int:
    out = Path(args.out) if args.out else default_out(args.data)
    check_not_input(out, args.data)
    check_task_name(args.name)  # the name the task file will be read back with
    out = check_out_path(out, (".json",))
    X, Y = load_npz_data(args.data)
    task = Task.from_data(X, Y, normalisation=args.normalisation, loss=args.loss, white=args.white,
                          seed=args.seed, name=args.name)
    estimate = task.estimate
    task.to_json(out)
    print(estimate.summary())
    with np.printoptions(precision=6, suppress=True, linewidth=120):
        print(f"singular values of the cross-covariances ({LAYOUT[task.outputs]}; modes numbered from 0, as in "
              f"every lrnn table):")
        for mode, row in enumerate(task.singular_values):
            print(f"mode {mode}: {row}")
        if task.input_covariance is not None:
            print(f"input covariance lambda_ij of mode 0 (rows and columns steps 1..T; all {task.K} modes are in "
                  f"the task's input_covariance):")
            print(task.input_covariance.per_mode(task.K)[0])
    print(f"time: {time_mapping(args.loss, Y.shape[-1], task.output_steps, task.tau)}")
    print(estimate.verdict())
    print(f"wrote {out}")
    return 0
