"""The ``lrnn`` command line: derive, integrate, simulate, validate, reproduce, demo.

Every bad input ends with a one-line ``lrnn: error: ...`` naming the parameter and its value, exit code 2, and no
traceback; diverging dynamics end the same way (exit code 3) with the time and the mode, as does a solver that cannot make progress.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from pathlib import Path

from . import interrupts, resources
from .derivations import FORMATS  # not from mode_flow: that imports sympy, too slow for --help
from .errors import DivergenceError, IntegrationError, LrnnError, LrnnInputError
from .io import check_writable
from .tasks import BASE_FAMILIES, FAMILIES, OUTPUTS, Task

EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3
EXIT_TOLERANCE = 1
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug, not the user's input

#: Modules that add their own subcommands through ``register(subparsers)``.
COMMAND_MODULES = ("lrnn_theory.validation.commands", "lrnn_theory.task_estimation", "lrnn_theory.validation.ntk",
                   "lrnn_theory.validation.claims")


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit with code 2 (its default code, kept explicit)."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {interrupts.one_line(message)}\n")


# ---- task arguments ---------------------------------------------------------------------------------------------
def add_task_arguments(parser, required: bool = True):
    """A task file (positional) or, for ``derive``, a family given on the command line."""
    parser.add_argument("task", nargs=None if required else "?", metavar="TASK.json",
                        help="task file (see the README for the JSON schema)")


def add_family_arguments(parser):
    group = parser.add_argument_group("task from a family (instead of a task file)")
    group.add_argument("--family", choices=FAMILIES)
    group.add_argument("--T", type=int, dest="T", help="trajectory length")
    for name in ("delta", "lambda", "kappa", "beta"):
        group.add_argument(f"--{name}", type=float, dest=name.replace("lambda", "lam"))
    group.add_argument("--base", choices=BASE_FAMILIES, help="base family of 'last_step'")
    for name in ("delta", "lambda"):  # rotational tasks: delta and lambda are then radii
        group.add_argument(f"--{name}-phase", type=float, dest=f"{name}_phase", help=f"phase of {name} in radians")
    group.add_argument("--outputs", choices=OUTPUTS, help="read out after the last step (final, default) or at every "
                                                          "step (every_step, App. M)")


def task_from_args(args, required: bool = True):
    if getattr(args, "task", None) and getattr(args, "family", None):
        raise LrnnInputError("give either a task file or --family, not both")
    if getattr(args, "task", None):
        return Task.from_json(args.task)
    shown = {"lam": "lambda", "delta_phase": "delta-phase", "lambda_phase": "lambda-phase"}
    family_options = [f"--{shown.get(k, k)}" for k in ("T", "delta", "lam", "kappa", "beta", "base", "delta_phase",
                                                       "lambda_phase", "outputs") if getattr(args, k, None) is not None]
    if family_options and not getattr(args, "family", None):
        raise LrnnInputError(f"option '{family_options[0]}' needs --family")
    if getattr(args, "family", None):
        if args.T is None:
            raise LrnnInputError(f"family '{args.family}' needs --T")
        resources.guard(resources.task_estimate(1, args.T), "building the task")
        return Task.from_family(args.family, T=args.T, delta=args.delta,
                                lam=args.lam, kappa=args.kappa, beta=args.beta, base=args.base,
                                delta_phase=args.delta_phase, lambda_phase=args.lambda_phase,
                                outputs=getattr(args, "outputs", None) or "final")
    if required:
        raise LrnnInputError("a task file or --family is required")
    return None


def check_out_path(path, suffixes=(".csv", ".npz"), param: str = "out"):
    """Check an output file's suffix and that it can be written, before any work is done."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise LrnnInputError(f"parameter '{param}' must end in {' or '.join(suffixes)}, got '{path}'")
    return check_writable(path, param)


def make_out_dir(path, param: str = "out") -> Path:
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LrnnInputError(f"parameter '{param}': cannot use '{path}' as an output directory "
                             f"({exc.strerror})") from None
    return path


# ---- derive -----------------------------------------------------------------------------------------------------
def cmd_derive(args):
    from .derivations import RESULT_ALIASES, available_results

    results = available_results()
    args.result = RESULT_ALIASES.get(args.result, args.result)
    if args.result not in results:
        raise LrnnInputError(f"parameter 'result' must be one of {', '.join(results)}, got '{args.result}'")
    task = task_from_args(args, required=False)
    if task is not None and task.is_complex and args.result not in ("flow", "complex"):
        raise LrnnInputError(f"parameter 'result' must be 'complex' (or 'flow') for a complex task, got "
                             f"'{args.result}'")
    if task is not None:
        resources.guard(resources.derive_estimate(args.result, task.K, task.T), f"lrnn derive --result {args.result}",
                        max_seconds=resources.DERIVE_SECONDS)
    sys.stdout.write(results[args.result](task, args.format))
    return 0


# ---- integrate ----------------------------------------------------------------------------------------------------
def cmd_integrate(args):
    from .flow import integrate
    from .plotting import plot_trajectories

    task = Task.from_json(args.task)
    out = check_out_path(args.out)
    plot = check_out_path(args.plot, (".png", ".pdf", ".svg"), "plot") if args.plot else None
    from .finite_lr import integrate_options

    method, lr_correction = integrate_options(args)
    traj = integrate(task, args.t_end, n_points=args.n_points, method=method, rtol=args.rtol, atol=args.atol,
                     lr_correction=lr_correction)
    written = write_outputs(out, traj, plot, lambda: plot_trajectories(
        {"theory": traj}, title=f"{task.name}: mode learning dynamics"))
    attempts = traj.info.get("attempts", [])
    fallback = f" at rtol={traj.info['rtol']:g}, after {len(attempts)} failed attempt(s)" if attempts else ""
    cost = (f"{traj.info['steps']} steps of h={traj.info['dt_per_step']:.4g}" if "steps" in traj.info
            else f"{traj.info['nfev']} rhs calls")
    print(f"integrated {task.K} mode(s), T={task.T}, to t={traj.t[-1]:g} with {traj.info['method']}{fallback} "
          f"({cost}); final energy {traj.total_energy[-1]:.6g}; wrote {written}")
    return 0


def write_outputs(out, trajectory, plot, make_figure, plot_param: str = "plot") -> str:
    """Write the trajectory file ``out`` and the figure ``plot`` (either may be None) all together or not at all;
    return what was written, for the user."""
    from .io import render_figure, write_files_whole

    files = [(out, trajectory.encoded(out), "out")] if out else []
    if plot:
        fig = make_figure()  # selects the Agg backend before pyplot is imported here
        import matplotlib.pyplot as plt

        files.append((plot, render_figure(fig, plot.suffix.lstrip(".").lower()), plot_param))
        plt.close(fig)
    write_files_whole(files)
    return " and ".join(str(f[0]) for f in files)


# ---- reproduce ----------------------------------------------------------------------------------------------------
def cmd_reproduce(args):
    from .validation.figures import reproduce

    data = reproduce(args.figure, args.out, quick=args.quick)
    out = Path(args.out)
    print(f"wrote {out / (args.figure + '.png')} and {out / (args.figure + '.json')}; "
          f"max_abs_error={data['max_abs_error']:.3g}")
    return 0


# ---- demo ---------------------------------------------------------------------------------------------------------
DEMO_TASK = {"family": "inverse_exponential", "delta": 1.0, "lambda": 0.7, "T": 6, "name": "demo",
             "init": {"a": 0.1, "b": 0.1, "c": 0.1}}


def cmd_demo(args):
    from .derivations import mode_flow
    from .flow import integrate
    from .plotting import plot_trajectories

    out_dir = make_out_dir(args.out)
    csv_path, png_path = check_writable(out_dir / "demo.csv", "out"), check_writable(out_dir / "demo.png", "out")
    task = Task.from_dict(DEMO_TASK)
    d, lam, T = DEMO_TASK["delta"], DEMO_TASK["lambda"], DEMO_TASK["T"]
    init = ", ".join(f"{k}={v}" for k, v in DEMO_TASK["init"].items())
    description = f"inverse-exponential task s_i = delta * lambda^(T-i), delta={d}, lambda={lam}, T={T}"
    print(f"Task: {description}; {init} at t=0\n")
    print(mode_flow.report(task, args.format))
    traj = integrate(task, 15.0, n_points=301)
    final = traj.final()
    write_outputs(csv_path, traj, png_path, lambda: plot_trajectories({"theory": traj}, title=description),
                  plot_param="out")  # both files or neither
    print(f"Integrated to t={traj.t[-1]:g} with {traj.info['method']} ({traj.info['nfev']} rhs calls): "
          f"b={final['b'][0]:.6f} (zero-loss solution: lambda={lam}), u=ac={final['u'][0]:.6f} (delta={d}), "
          f"energy={final['energy'][0]:.3g}")
    print(f"Wrote {csv_path} and {png_path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lrnn", description="Learning dynamics of linear recurrent neural networks: derive, "
                                              "integrate and validate the connectivity-mode ODEs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("demo", help="print the derived equations of a default task, integrate them, write a PNG")
    p.add_argument("--out", default="lrnn-demo", help="output directory (default: lrnn-demo)")
    p.add_argument("--format", choices=FORMATS, default="pretty")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("derive", help="print closed-form energy, ODEs, Jacobian, conserved quantity, solutions")
    add_task_arguments(p, required=False)
    add_family_arguments(p)
    p.add_argument("--format", choices=FORMATS, default="pretty")
    p.add_argument("--result", default="flow",
                   help="which derivation to print (default: flow; see 'lrnn derive --list')")
    p.add_argument("--list", action="store_true", help="list the available results and exit")
    add_resource_arguments(p)
    p.set_defaults(func=cmd_derive_or_list)

    p = sub.add_parser("integrate", help="integrate the mode ODEs of a task file")
    add_task_arguments(p)
    p.add_argument("--t-end", type=float, required=True, help="final time (units: tau * da/dt = ...)")
    p.add_argument("--n-points", type=int, default=201, help="output times from 0 to t-end (default 201)")
    p.add_argument("--out", required=True, help="output file, .csv (long format) or .npz")
    p.add_argument("--plot", help="also draw the trajectories to this PNG")
    p.add_argument("--method", help="Batched, LSODA, BDF, Radau, RK45 or DOP853 (default: Batched, one step size "
                                     "per mode, and other methods if it fails on a badly scaled task)")
    p.add_argument("--rtol", type=float)
    p.add_argument("--atol", type=float)
    p.add_argument("--discrete-lr", type=float, metavar="ETA",
                   help="run the exact gradient-descent map of an aligned network with learning rate ETA instead "
                        "of an ODE solver (--method does not apply)")
    p.add_argument("--lr-correction", type=float, metavar="ETA",
                   help="integrate the modified flow that gradient descent with learning rate ETA follows to O(ETA^2)")
    p.add_argument("--loss", choices=("sum_half", "sum", "mean_half", "mean"), default="sum_half",
                   help="loss convention of ETA (default sum_half, the theory's)")
    p.add_argument("--n-samples", type=int, help="P of the mean losses (default T * K)")
    add_resource_arguments(p)
    p.set_defaults(func=cmd_integrate)

    p = sub.add_parser("reproduce", help="reproduce a figure of the paper (PNG + JSON of its key numbers)")
    p.add_argument("figure", help="figure name, e.g. fig2, 'all' for every figure (see 'lrnn reproduce list')")
    p.add_argument("--out", default=".", help="output directory (default: current directory)")
    p.add_argument("--quick", action="store_true", help="reduced run, under a minute")
    p.add_argument("--jobs", type=int, default=1,
                   help="with 'all': figures run at once on a process pool (default 1: one after the other)")
    p.add_argument("--only", help="with 'all': a comma-separated subset of the figures, e.g. fig2,figA1")
    p.set_defaults(func=cmd_reproduce_or_list)

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def cmd_derive_or_list(args):
    if args.list:
        from .derivations import RESULT_ALIASES, available_results

        for name, func in available_results().items():
            print(f"{name}: {(func.__doc__ or '').strip().splitlines()[0]}")
        for old, current in RESULT_ALIASES.items():
            print(f"{old}: old name of '{current}', still accepted")
        return 0
    return cmd_derive(args)


def cmd_reproduce_or_list(args):
    if args.figure == "list":
        from .validation.figures import load_all

        for name, func in sorted(load_all().items()):
            print(f"{name}: {func.description}")
        return 0
    if args.figure == "all":
        return cmd_reproduce_all(args)
    for option, value in (("jobs", args.jobs != 1), ("only", args.only)):
        if value:
            raise LrnnInputError(f"parameter '{option}' applies only to 'lrnn reproduce all'")
    return cmd_reproduce(args)


def cmd_reproduce_all(args):
    from .validation.reproduce_all import reproduce_all

    only = [name.strip() for name in args.only.split(",") if name.strip()] if args.only else None
    result = reproduce_all(args.out, quick=args.quick, jobs=args.jobs, figures=only, progress=sys.stderr.isatty())
    print(result.table())
    print(f"wrote {len(result.files)} files to {args.out} (index.html, summary.json and every figure's PNG and JSON)")
    return 1 if result.failed else 0


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """Print library warnings (numpy, scipy) as one line each, without source context."""
    text = " ".join(str(message).split())
    interrupts.say("warning", f"{category.__name__}: {text}")


def add_resource_arguments(parser):
    """``--max-memory`` and ``--max-time``: what the command may plan to use (see lrnn_theory.resources)."""
    parser.add_argument("--max-memory", metavar="SIZE",
                        help="largest estimated memory to go ahead with, e.g. 16G or 500M (default: half the "
                             "machine's memory, at most 8G)")
    parser.add_argument("--max-time", metavar="SECONDS",
                        help="longest estimated run time to go ahead with (default: 3600)")


def main(argv=None) -> int:
    """Run the ``lrnn`` command line; returns the exit code (0 done, 1 over tolerance, 2 bad input, 3 diverged or
    not integrable, 130/143 interrupted, 70 internal error). Every failure is one line on stderr."""
    from . import io as lrnn_io

    written_before = len(lrnn_io.WRITTEN)
    with interrupts.signals_as_exceptions():
        try:
            try:
                args = build_parser().parse_args(argv)
                resources.configure(getattr(args, "max_memory", None), getattr(args, "max_time", None))
                with warnings.catch_warnings():
                    warnings.showwarning = _one_line_warning
                    code = args.func(args)
                sys.stdout.flush()  # a closed pipe shows up here, inside the handlers below
                return code
            finally:
                resources.configure(None)
        except DivergenceError as exc:
            interrupts.say("diverged", exc)
            return EXIT_DIVERGED
        except IntegrationError as exc:
            interrupts.say("integration failed", exc)
            return EXIT_DIVERGED
        except LrnnError as exc:
            interrupts.say("error", exc)
            return EXIT_BAD_INPUT
        except (KeyboardInterrupt, interrupts.Terminated) as exc:
            lrnn_io.remove_temporaries()
            message, code = interrupts.interrupted_message(exc, lrnn_io.WRITTEN[written_before:])
            interrupts.say("", message)
            return code
        except BrokenPipeError:
            interrupts.silence_stdout()
            return interrupts.EXIT_BROKEN_PIPE
        except MemoryError:
            lrnn_io.remove_temporaries()
            interrupts.say("error", "out of memory; use smaller sizes (the resource guard's estimate was too low)")
            return EXIT_BAD_INPUT
        except Exception as exc:  # a bug: still one line, the traceback on request
            lrnn_io.remove_temporaries()
            if os.environ.get("LRNN_TRACEBACK"):
                raise
            interrupts.say("internal error", f"{type(exc).__name__}: {exc} (set LRNN_TRACEBACK=1 to see where)")
            return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
