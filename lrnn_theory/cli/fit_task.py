"""``lrnn fit-task DATA.npz --out task.json``: estimate a task from sequences and targets, and say how far the data
are from the theory's assumptions."""
from __future__ import annotations

import numpy as np

from lrnn_theory.io import check_out_path
from lrnn_theory.task_estimation import NORMALISATIONS, load_npz_data
from lrnn_theory.tasks import Task


#: How the printed singular values are laid out, per output layout of the task.
LAYOUT = {"final": "rows: modes, columns: steps 1..T",
          "every_step": "per mode: rows output time t = 1..T, columns input step i = 1..T"}


def add_arguments(parser):
    parser.add_argument("data", metavar="DATA.npz", help="NPZ with arrays X (P, T, N_x) and Y (P, N_y), or "
                                                         "(P, T, N_y) for targets at every step (an every-step task)")
    parser.add_argument("--out", required=True, help="task file to write (.json)")
    parser.add_argument("--normalisation", choices=NORMALISATIONS, default="sum",
                        help="sum: Sigma^(YX_i) = sum_p y_p x_(p,i)^T (default; the harness's convention); "
                             "least_squares: the best linear filter Sigma^YX (Sigma^XX)^-1 (the same for white "
                             "inputs)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shared-basis fit's start (default 0)")
    parser.add_argument("--name", default="data", help="task name (default: data)")


def run(args) -> int:
    out = check_out_path(args.out, (".json",))
    X, Y = load_npz_data(args.data)
    task = Task.from_data(X, Y, normalisation=args.normalisation, seed=args.seed, name=args.name)
    task.to_json(out)
    print(task.estimate.summary())
    print(f"singular values ({LAYOUT[task.outputs]}):")
    with np.printoptions(precision=6, suppress=True, linewidth=120):
        print(task.singular_values)
    print(f"wrote {out}")
    return 0
