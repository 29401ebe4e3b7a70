"""``lrnn integrate``: integrate the mode ODEs of a task file (or run the exact gradient-descent map, or the
modified flow of a finite learning rate) and write the trajectories.

Without ``--t-end`` the flow is integrated until every mode has converged (``lrnn_theory.flow.mode_convergence``,
tolerance ``--converged-tol``), at most to ``--t-max``; the command says when. It ends with a table of each mode's
final a, b, c, u and whether it converged, and a one-line warning naming the modes still moving at the end (with the
t_end at which they converge, found by integrating on from the end state within ``HINT_CPU_BUDGET`` CPU seconds).
The files are written and the exit status is 0 in either case (a non-zero status means nothing was written): the
warning line is the report.

The numeric modules are imported inside ``run``: ``lrnn integrate --help`` and usage errors stay free of sympy and
scipy.
"""
from __future__ import annotations

import math
import signal
import threading

import numpy as np

from lrnn_theory import plotting
from lrnn_theory.errors import DivergenceError, LrnnError, LrnnInputError
from lrnn_theory.io import check_out_path
from lrnn_theory.tasks import Task

from .arguments import add_resource_arguments, add_task_arguments
from .outputs import write_outputs


def add_arguments(parser):
    add_task_arguments(parser)
    parser.add_argument("--t-end", type=float,
                        help="final time (units: tau * da/dt = ...); default: integrate until every mode has "
                             "converged, and say when")
    parser.add_argument("--converged-tol", type=float, metavar="TOL",
                        help="a mode has converged when max(|da/dt|, |db/dt|, |dc/dt|) <= TOL * max(1, |a|, |b|, |c|) "
                             "and no direction of its flow grows faster than TOL (not at a saddle); default 1e-6")
    parser.add_argument("--t-max", type=float,
                        help="without --t-end: the longest time to wait for convergence (default 1e6 * tau)")
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


#: Modes listed in the final table (all of them are in the output file).
TABLE_MODES = 20


def final_table(traj) -> str:
    """The table the command ends with: each mode's final a, b, c, u, energy and whether it converged (and when,
    after an integration to convergence). A complex task shows |a|, |b|, arg b, |c|, |u|, arg u (radians): the
    phases of a and c trade off against each other (a e^(i phi), c e^(-i phi) is the same network), those of b and
    u do not."""
    final = traj.final()
    if traj.is_complex:
        columns = {"|a|": np.abs(final["a"]), "|b|": np.abs(final["b"]), "arg b": np.angle(final["b"]),
                   "|c|": np.abs(final["c"]), "|u|": np.abs(final["u"]), "arg u": np.angle(final["u"])}
    else:
        columns = {q: final[q] for q in ("a", "b", "c", "u")}
    columns["energy"] = final["energy"]
    converged = traj.info.get("converged")
    times = traj.info.get("t_converged_modes")
    header = ["mode", *columns, "converged"]
    rows = []
    for m in range(min(traj.K, TABLE_MODES)):
        if converged is None:
            verdict = "?"
        elif converged[m]:
            verdict = f"yes, t = {times[m]:.4g}" if times is not None and times[m] is not None else "yes"
        else:
            verdict = "no"
        rows.append([str(m), *(f"{float(v[m]):.6g}" for v in columns.values()), verdict])
    widths = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) if j < len(header) - 1 else h for j, (h, w) in enumerate(zip(header, widths)))]
    lines += ["  ".join(c.rjust(w) if j < len(header) - 1 else c for j, (c, w) in enumerate(zip(r, widths)))
              for r in rows]
    if traj.K > TABLE_MODES:
        lines.append(f"... and {traj.K - TABLE_MODES} more modes (all in the output file)")
    return "\n".join(lines)


#: CPU seconds the hint of ``suggest_t_end`` may spend integrating on from --t-end before it gives up and says so.
HINT_CPU_BUDGET = 10.0


class _BudgetSpent(Exception):
    """Raised by the profiling timer inside the hint's integration when its CPU budget is spent."""


def _within_cpu_budget(work, seconds: float):
    """``work()``, or ``_BudgetSpent`` once it has used ``seconds`` of process CPU time (ITIMER_PROF). Where the
    timer is unavailable (not the main thread, no setitimer), ``work()`` without a budget."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        return work()

    def spent(signum, frame):
        raise _BudgetSpent

    previous = signal.signal(signal.SIGPROF, spent)
    try:
        try:
            signal.setitimer(signal.ITIMER_PROF, seconds)
            return work()
        finally:  # the timer fires once: if it lands here, the handler is still restored below
            signal.setitimer(signal.ITIMER_PROF, 0)
    finally:
        signal.signal(signal.SIGPROF, previous)


def suggest_t_end(task, method, lr_correction, args, traj=None) -> str:
    """What to do about modes still moving at --t-end: the t_end at which every mode converges, or why there is
    none. Found by integrating to convergence on from the end state of ``traj`` (the flow is autonomous, so this is
    the run from 0 continued; without ``traj``, from the task's own initial state), within ``HINT_CPU_BUDGET``
    CPU seconds, and over the same horizon as without --t-end (1e6 tau in all). With the run's own method and flow,
    except that an explicit method gives way to the default one (it cannot integrate to convergence: its steps stay
    at the stiff time scale) and the exact map to the modified flow it follows (the map has no run to convergence,
    and no run without --t-end)."""
    from lrnn_theory.flow import CONVERGENCE_T_MAX, DiscreteGD, integrate, mode_list, resolve_solver

    exact_map = isinstance(method, DiscreteGD)
    if exact_map:
        method, lr_correction = None, method
    elif not resolve_solver(method).batched and resolve_solver(method).jacobian == "none":  # RK45, DOP853
        method = None

    t0, start = 0.0, task
    if traj is not None:
        t0 = float(traj.t[-1])
        start = task.with_init(a=traj.a[-1], b=traj.b[-1], c=traj.c[-1])
    horizon = CONVERGENCE_T_MAX * task.tau - t0
    horizon = horizon if horizon > 0 else max(t0, task.tau)
    try:
        on = _within_cpu_budget(lambda: integrate(
            start, None, n_points=args.n_points, method=method, rtol=args.rtol, atol=args.atol,
            converged_tol=args.converged_tol, lr_correction=lr_correction, t_max=horizon), HINT_CPU_BUDGET)
    except _BudgetSpent:
        return (f"no converged t_end found within the hint's budget of {HINT_CPU_BUDGET:g} s CPU: leave out "
                f"--t-end to integrate until every mode has converged")
    except DivergenceError as exc:
        return (f"they do not converge: {mode_list([exc.mode])} runs away (no finite minimum), passing the "
                f"divergence threshold at t = {t0 + exc.time:.4g}")
    except LrnnError as exc:
        return f"integrating to convergence failed: {exc}"
    if on.info["t_converged"] is None:
        never = on.info["not_converged"]
        verb = "does" if len(never) == 1 else "do"
        return f"{mode_list(never)} {verb} not converge by t = {t0 + on.info['t_max']:g} either"
    t = t0 + on.info["t_converged"]
    if exact_map:
        return f"every mode converges at t = {t:.4g} on the flow the map follows: try --t-end {round_up(1.25 * t)}"
    return f"every mode converges at t = {t:.4g}: try --t-end {round_up(1.25 * t)}, or leave out --t-end"


def round_up(x: float) -> str:
    """``x`` rounded up to two significant digits, as a short number."""
    step = 10.0 ** (math.floor(math.log10(x)) - 1)
    return f"{math.ceil(x / step - 1e-9) * step:.4g}"


def run(args) -> int:
    from lrnn_theory.flow import integrate, not_converged_message

    task = Task.from_json(args.task)
    out = check_out_path(args.out)
    plot = check_out_path(args.plot, (".png", ".pdf", ".svg"), "plot") if args.plot else None
    method, lr_correction = method_and_lr_correction(args)
    if args.t_end is not None and args.t_max is not None:
        raise LrnnInputError("give --t-max only without --t-end (it caps the integration to convergence)")
    if args.t_end is None and args.discrete_lr is not None:
        raise LrnnInputError("--discrete-lr needs --t-end (integration to convergence follows the flow)")
    traj = integrate(task, args.t_end, n_points=args.n_points, method=method, rtol=args.rtol, atol=args.atol,
                     lr_correction=lr_correction, converged_tol=args.converged_tol, t_max=args.t_max)
    written = write_outputs(out, traj, plot, lambda: plotting.plot_trajectories(
        {"theory": traj}, title=f"{task.name}: mode learning dynamics"))
    info = traj.info
    attempts = info.get("attempts", [])
    fallback = f" at rtol={info['rtol']:g}, after {len(attempts)} failed attempt(s)" if attempts else ""
    cost = (f"{info['steps']} steps of h={info['dt_per_step']:.4g}" if "steps" in info
            else f"{info['nfev']} rhs calls")
    test = (f"every mode's max(|da/dt|, |db/dt|, |dc/dt|) <= {info['converged_tol']:g} * max(1, |a|, |b|, |c|), "
            f"no saddle")
    if args.t_end is None and info["t_converged"] is not None:
        print(f"converged at t = {info['t_converged']:.4g} ({test})")
    print(f"integrated {task.K} mode(s), T={task.T}, to t={traj.t[-1]:g} with {info['method']}{fallback} "
          f"({cost}); final energy {traj.total_energy[-1]:.6g}; wrote {written}")
    print(final_table(traj))
    if args.t_end is None:
        message = not_converged_message(traj, "raise --t-max or --converged-tol" if info["not_converged"] else "")
    else:
        message = not_converged_message(traj)
        if message:
            message += "; " + suggest_t_end(task, method, lr_correction, args, traj)
    if message:
        print(message)
    return 0
