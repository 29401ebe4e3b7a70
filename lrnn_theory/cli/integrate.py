"""``lrnn integrate``: integrate the mode ODEs of a task file (or run the exact gradient-descent map, or the
modified flow of a finite learning rate) and write the trajectories.

The numeric modules are imported inside ``run``: ``lrnn integrate --help`` and usage errors stay free of sympy and
scipy.
"""
from __future__ import annotations

from lrnn_theory import plotting
from lrnn_theory.errors import LrnnInputError
from lrnn_theory.io import check_out_path
from lrnn_theory.tasks import Task

from .arguments import add_resource_arguments, add_task_arguments
from .outputs import write_outputs


def add_arguments(parser):
    add_task_arguments(parser)
    parser.add_argument("--t-end", type=float, required=True, help="final time (units: tau * da/dt = ...)")
    parser.add_argument("--n-points", type=int, default=201, help="output times from 0 to t-end (default 201)")
    parser.add_argument("--out", required=True, help="output file, .csv (long format) or .npz")
    parser.add_argument("--plot", help="also draw the trajectories to this PNG")
    parser.add_argument("--method", help="Batched, LSODA, BDF, Radau, RK45 or DOP853 (default: Batched, one step "
                                         "size per mode, and other methods if it fails on a badly scaled task)")
    parser.add_argument("--rtol", type=float)
    parser.add_argument("--atol", type=float)
    parser.add_argument("--discrete-lr", type=float, metavar="ETA",
                        help="run the exact gradient-descent map of an aligned network with learning rate ETA "
                             "instead of an ODE solver (--method does not apply)")
    parser.add_argument("--lr-correction", type=float, metavar="ETA",
                        help="integrate the modified flow that gradient descent with learning rate ETA follows to "
                             "O(ETA^2)")
    parser.add_argument("--loss", choices=("sum_half", "sum", "mean_half", "mean"), default="sum_half",
                        help="loss convention of ETA (default sum_half, the theory's)")
    parser.add_argument("--n-samples", type=int, help="P of the mean losses (default T * K)")
    add_resource_arguments(parser)


def method_and_lr_correction(args):
    """``(method, lr_correction)`` of ``integrate`` from --method, --discrete-lr, --lr-correction, --loss and
    --n-samples."""
    from lrnn_theory.finite_lr import DiscreteGD

    if args.discrete_lr is not None and args.lr_correction is not None:
        raise LrnnInputError("give either --discrete-lr or --lr-correction, not both")
    if args.discrete_lr is not None:
        return DiscreteGD(args.discrete_lr, args.loss, args.n_samples), None
    if args.lr_correction is not None:
        return args.method, DiscreteGD(args.lr_correction, args.loss, args.n_samples)
    if args.loss != "sum_half" or args.n_samples is not None:
        raise LrnnInputError("--loss and --n-samples apply only with --discrete-lr or --lr-correction")
    return args.method, None


def run(args) -> int:
    from lrnn_theory.flow import integrate

    task = Task.from_json(args.task)
    out = check_out_path(args.out)
    plot = check_out_path(args.plot, (".png", ".pdf", ".svg"), "plot") if args.plot else None
    method, lr_correction = method_and_lr_correction(args)
    traj = integrate(task, args.t_end, n_points=args.n_points, method=method, rtol=args.rtol, atol=args.atol,
                     lr_correction=lr_correction)
    written = write_outputs(out, traj, plot, lambda: plotting.plot_trajectories(
        {"theory": traj}, title=f"{task.name}: mode learning dynamics"))
    attempts = traj.info.get("attempts", [])
    fallback = f" at rtol={traj.info['rtol']:g}, after {len(attempts)} failed attempt(s)" if attempts else ""
    cost = (f"{traj.info['steps']} steps of h={traj.info['dt_per_step']:.4g}" if "steps" in traj.info
            else f"{traj.info['nfev']} rhs calls")
    print(f"integrated {task.K} mode(s), T={task.T}, to t={traj.t[-1]:g} with {traj.info['method']}{fallback} "
          f"({cost}); final energy {traj.total_energy[-1]:.6g}; wrote {written}")
    return 0
