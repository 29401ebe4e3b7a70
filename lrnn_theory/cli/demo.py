"""``lrnn demo``: print the derived equations of a default task, integrate them, write a CSV and a PNG.

The numeric modules are imported inside ``run``: ``lrnn demo --help`` and usage errors stay free of sympy and scipy.
"""
from __future__ import annotations

from lrnn_theory import plotting
from lrnn_theory.io import check_writable, make_out_dir
from lrnn_theory.tasks import Task

from .arguments import FORMATS
from .outputs import write_outputs

DEMO_TASK = {"family": "inverse_exponential", "delta": 1.0, "lambda": 0.7, "T": 6, "name": "demo",
             "init": {"a": 0.1, "b": 0.1, "c": 0.1}}


def add_arguments(parser):
    parser.add_argument("--out", default="lrnn-demo", help="output directory (default: lrnn-demo)")
    parser.add_argument("--format", choices=FORMATS, default="pretty")


def run(args) -> int:
    from lrnn_theory.flow import integrate

    from .reports import flow_report  # sympy: only when the command runs

    out_dir = make_out_dir(args.out)
    csv_path, png_path = check_writable(out_dir / "demo.csv", "out"), check_writable(out_dir / "demo.png", "out")
    task = Task.from_dict(DEMO_TASK)
    d, lam, T = DEMO_TASK["delta"], DEMO_TASK["lambda"], DEMO_TASK["T"]
    init = ", ".join(f"{k}={v}" for k, v in DEMO_TASK["init"].items())
    description = f"inverse-exponential task s_i = delta * lambda^(T-i), delta={d}, lambda={lam}, T={T}"
    print(f"Task: {description}; {init} at t=0\n")
    print(flow_report(task, args.format))
    traj = integrate(task, 15.0, n_points=301)
    final = traj.final()
    write_outputs(csv_path, traj, png_path, lambda: plotting.plot_trajectories({"theory": traj}, title=description),
                  plot_param="out")  # both files or neither
    print(f"Integrated to t={traj.t[-1]:g} with {traj.info['method']} ({traj.info['nfev']} rhs calls): "
          f"b={final['b'][0]:.6f} (zero-loss solution: lambda={lam}), u=ac={final['u'][0]:.6f} (delta={d}), "
          f"energy={final['energy'][0]:.3g}")
    print(f"Wrote {csv_path} and {png_path}")
    return 0
