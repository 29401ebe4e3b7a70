"""``lrnn simulate TASK.json --lr ETA --steps S --out sim.csv``: train a real LRNN on a task file and write its
read-off modes, with the same columns as ``lrnn integrate`` (``t,mode,a,b,c,u,energy``, t in the theory's units).

``--data DATA.npz`` trains on user data instead (``cli.training``): the task is fitted from the same data, the modes
are written on its clock, and the time mapping of the loss convention, the verdict of the fit and the largest
difference between network and theory are printed. ``--plot`` draws the theory (dashed) over the network (solid).
"""
from __future__ import annotations

from lrnn_theory.io import check_out_path

from .outputs import write_outputs
from .training import add_training_arguments, difference_line, overlay_figure, train_from_args, training_summary


def add_arguments(parser):
    add_training_arguments(parser)
    parser.add_argument("--out", required=True, help="output file, .csv (columns t,mode,a,b,c,u,energy) or .npz")
    parser.add_argument("--plot", help="also draw the theory (dashed) over the network (solid) to this PNG")


def run(args) -> int:
    out = check_out_path(args.out)
    plot = check_out_path(args.plot, (".png", ".pdf", ".svg"), "plot") if args.plot else None
    trained = train_from_args(args)
    simulation = trained.trajectory
    print(training_summary(trained))
    for line in trained.data_lines():
        print(line)
    theory = None
    if trained.data_file or plot:
        from lrnn_theory.validation.compare import max_differences, theory_for

        theory = theory_for(trained.task, simulation, tuple(args.freeze))
        print(difference_line(max_differences(simulation, theory)))
    written = write_outputs(out, simulation, plot, lambda: overlay_figure(trained, simulation, theory, args.lr))
    print(f"wrote {written}")
    return 0
