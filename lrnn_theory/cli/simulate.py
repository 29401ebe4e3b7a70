"""``lrnn simulate TASK.json --lr ETA --steps S --out sim.csv``: train a real LRNN on a task file and write its
read-off modes, with the same columns as ``lrnn integrate`` (``t,mode,a,b,c,u,energy``, t in the theory's units)."""
from __future__ import annotations

from lrnn_theory.io import check_out_path

from .training import add_training_arguments, train_from_args, training_summary


def add_arguments(parser):
    add_training_arguments(parser)
    parser.add_argument("--out", required=True, help="output file, .csv (columns t,mode,a,b,c,u,energy) or .npz")


def run(args) -> int:
    out = check_out_path(args.out)
    task, result = train_from_args(args)
    result.trajectory.save(out)
    print(f"{training_summary(task, result)}; wrote {out}")
    return 0
