"""``lrnn sweep``: the end points of the mode flow of several task files, or of one task file with a field varied,
written as one CSV row per task and mode (``--plot``: b and u at the end against the task or the varied field).

By default each end point is the fixed point the flow reaches (``--endpoint fixed_point``: a short loose check, no
integration to convergence); where that is not valid (the recurrent mode runs off, a basin boundary, b moving
against the ascent) the mode is integrated to ``--t-end`` instead, and every end point still moving there is named
in a warning. The numeric modules are imported inside ``run``: ``lrnn sweep --help`` stays fast.
"""
from __future__ import annotations

import csv
import io

import numpy as np

from lrnn_theory import resources
from lrnn_theory.errors import LrnnInputError
from lrnn_theory.io import check_out_path, render_figure, write_files_whole
from lrnn_theory.plotting import _pyplot, plain_text, tight_layout
from lrnn_theory.tasks import Task

from .arguments import add_resource_arguments

#: Columns of the CSV, in order (``<field>`` after ``name`` when a field is varied; ``*_imag`` for complex tasks).
COLUMNS = ("task", "name", "mode", "a", "b", "c", "u", "energy", "rate", "converged", "end_point")


def add_arguments(parser):
    parser.add_argument("tasks", nargs="+", metavar="TASK.json", help="task files: several, or one with --vary")
    parser.add_argument("--vary", metavar="FIELD",
                        help="field of the (one) task file to vary: tau, T, delta, lambda, kappa, beta, delta_phase, "
                             "lambda_phase, init.a, init.b or init.c")
    parser.add_argument("--values", nargs="+", type=float, metavar="V", help="the values of --vary")
    parser.add_argument("--out", required=True, help="output CSV: one row per task and mode (columns "
                                                     + ",".join(COLUMNS) + ")")
    parser.add_argument("--plot", help="also draw b and u at the end against the task or the varied field (PNG)")
    parser.add_argument("--endpoint", choices=("fixed_point", "integrate"), default="fixed_point",
                        help="fixed_point (default): the fixed point each mode's flow reaches, integrating only the "
                             "modes where that is not valid; integrate: the modes at --t-end")
    parser.add_argument("--t-end", type=float, default=1000.0,
                        help="integration time of the integrated modes (default 1000, in units of tau * da/dt = ...)")
    parser.add_argument("--method", help="solver of the integrated modes (default: Batched)")
    parser.add_argument("--rtol", type=float, help="relative tolerance per mode (default 1e-8)")
    parser.add_argument("--atol", type=float, help="absolute tolerance per mode (default 1e-10)")
    add_resource_arguments(parser)


def run(args) -> int:
    from lrnn_theory.sweeps import DEFAULT_ATOL, DEFAULT_RTOL, IntegrationOptions, sweep

    out = check_out_path(args.out, (".csv",))
    plot = check_out_path(args.plot, (".png", ".pdf", ".svg"), "plot") if args.plot else None
    if (args.vary is None) != (args.values is None):
        raise LrnnInputError("give --vary FIELD and --values V [V ...] together")
    if args.vary is not None and len(args.tasks) != 1:
        raise LrnnInputError(f"--vary varies one task file, got {len(args.tasks)}")
    options = IntegrationOptions(t_end=args.t_end, method=args.method, endpoint=args.endpoint,
                                 rtol=DEFAULT_RTOL if args.rtol is None else args.rtol,
                                 atol=DEFAULT_ATOL if args.atol is None else args.atol)
    if args.vary is not None:
        base = Task.from_json(args.tasks[0])
        longest = int(max(args.values)) if args.vary == "T" else base.T
        _guard(base.K * len(args.values), max(base.T, longest))
        result = sweep(args.tasks[0], options, vary=args.vary, values=args.values)
    else:
        tasks = [Task.from_json(path) for path in args.tasks]
        _guard(sum(task.K for task in tasks), max(task.T for task in tasks))
        result = sweep(tasks, options)
    files = [(out, end_point_table(result).encode(), "out")]
    if plot:
        fig = end_point_figure(result)
        files.append((plot, render_figure(fig, plot.suffix.lstrip(".").lower()), "plot"))
        _pyplot().close(fig)
    write_files_whole(files)
    info = result.info
    present = int(info["n_points"])
    fixed = present - info["n_integrated"]
    how = (f"{fixed} fixed point(s), {info['n_integrated']} integrated to t={info['t_end']:g}"
           if info["endpoint"] == "fixed_point" else f"all integrated to t={info['t_end']:g}")
    print(f"swept {len(info['tasks'])} task(s), {present} end point(s): {how}; {info['n_not_converged']} still "
          f"moving; wrote {' and '.join(str(f[0]) for f in files)}")
    return 0


def _guard(modes: int, T: int) -> None:
    """Refuse a sweep whose stacked integration would exceed the memory or time limits (``--max-memory``)."""
    resources.guard(resources.integrate_estimate(modes, T, 2), "sweeping the tasks")


def _first_axis(result):
    """(name, values) of the result's first axis: the varied field, or "task"."""
    return next(iter(result.axes.items()))


def end_point_table(result) -> str:
    """The CSV text of a task sweep: one row per task and mode (NaN padding left out)."""
    axis, values = _first_axis(result)
    # presentation only: complex end points get imaginary-part columns
    parts = {"": np.real, "_imag": np.imag} if np.iscomplexobj(result.b) else {"": np.real}
    header = ["task", "name"] + ([axis] if axis != "task" else []) + ["mode"]
    quantities = ("a", "b", "c", "u")
    header += [q + suffix for q in quantities for suffix in parts]
    header += ["energy", "rate", "converged", "end_point"]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    converged = result.converged
    for i, name in enumerate(result.info["tasks"]):
        for k in range(result.shape[1]):
            if np.isnan(result.rate[i, k]):
                continue  # a task with fewer modes than the largest
            row = [i, name] + ([repr(float(values[i]))] if axis != "task" else []) + [k]
            row += [repr(float(part(getattr(result, q)[i, k]))) for q in quantities for part in parts.values()]
            row += [repr(float(result.energy[i, k])), f"{result.rate[i, k]:.3g}", int(converged[i, k]),
                    "integrated" if result.integrated[i, k] else "fixed_point"]
            writer.writerow(row)
    return text.getvalue()


def end_point_figure(result):
    """b and u at the end against the task index or the varied field: one line per mode; integrated end points
    (the fixed point not valid) circled, end points still moving at t_end crossed."""
    plt = _pyplot()
    axis, values = _first_axis(result)
    x = np.asarray(values, dtype=float)
    shown, label = (np.abs, "|{}|") if np.iscomplexobj(result.b) else (np.asarray, "{}")  # presentation: moduli
    fig, panels = plt.subplots(1, 2, figsize=(10, 3.8))
    moving = ~result.converged & ~np.isnan(result.rate)
    for panel, q in zip(panels, ("b", "u")):
        data = shown(getattr(result, q))
        for k in range(min(result.shape[1], 10)):  # separate tasks are points, a varied field a line
            panel.plot(x, data[:, k], "o-" if axis != "task" else "o", ms=4, label=f"mode {k}")
        marks = result.integrated & ~np.isnan(result.rate)
        if marks.any():
            panel.plot(np.broadcast_to(x[:, None], marks.shape)[marks], data[marks], "o", mfc="none", mec="k",
                       ms=8, label="integrated (fixed point not valid)")
        if moving.any():
            panel.plot(np.broadcast_to(x[:, None], moving.shape)[moving], data[moving], "x", color="r", ms=8,
                       label="still moving at t_end")
        panel.set_xlabel(axis)
        if axis == "task" and x.size <= 12:
            panel.set_xticks(x, [plain_text(name, 16) for name in result.info["tasks"]], rotation=20, fontsize=7)
        panel.set_ylabel(f"{label.format(q)} at the end")
        panel.legend(fontsize=7)
    title = (f"end points against {axis}" if axis != "task" else "end points per task")
    fig.suptitle(plain_text(f"{title} ({result.info['endpoint'].replace('_', ' ')})"))
    tight_layout(fig)  # the same layout, each axis's ticks measured once
    return fig
