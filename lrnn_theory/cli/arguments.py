"""Arguments shared by several commands: a task (file or family), resource limits, training of a network."""
from __future__ import annotations

from lrnn_theory import resources
from lrnn_theory.errors import LrnnInputError
from lrnn_theory.tasks import BASE_FAMILIES, FAMILIES, OUTPUTS, Task

#: Output formats of the printed derivations (``lrnn derive``, ``lrnn demo``; rendered by ``reports``).
FORMATS = ("latex", "pretty", "text")


# ---- task -----------------------------------------------------------------------------------------------------------
def add_task_arguments(parser, required: bool = True):
    """A task file (positional) or, for ``derive``, a family given on the command line."""
    parser.add_argument("task", nargs=None if required else "?", metavar="TASK.json",
                        help="task file (JSON or CSV; fields in docs/user_guide/tasks.rst)")


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


#: The options that build a task from a family: (flag, attribute of the parsed arguments).
FAMILY_OPTIONS = (("--family", "family"), ("--T", "T"), ("--delta", "delta"), ("--lambda", "lam"),
                  ("--kappa", "kappa"), ("--beta", "beta"), ("--base", "base"), ("--delta-phase", "delta_phase"),
                  ("--lambda-phase", "lambda_phase"), ("--outputs", "outputs"))


def task_from_args(args, required: bool = True):
    """The task of a task file or of ``--family`` and its parameters; None when neither is given and not
    ``required``."""
    if getattr(args, "task", None) and getattr(args, "family", None):
        raise LrnnInputError("give either a task file or --family, not both")
    if getattr(args, "task", None):
        return Task.from_json(args.task)
    family_options = [flag for flag, dest in FAMILY_OPTIONS[1:] if getattr(args, dest, None) is not None]
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


# ---- resources ---------------------------------------------------------------------------------------------------
def add_resource_arguments(parser):
    """``--max-memory`` and ``--max-time``: what the command may plan to use (see lrnn_theory.resources)."""
    parser.add_argument("--max-memory", metavar="SIZE",
                        help="largest estimated memory to go ahead with, e.g. 16G or 500M (default: half the "
                             "machine's memory, at most 8G)")
    parser.add_argument("--max-time", metavar="SECONDS",
                        help="longest estimated run time to go ahead with (default: 3600)")
