"""``lrnn derive``: a task's own numbers (solutions, stability in words, extrapolation energies, ...), then the
symbolic result (closed-form energy, ODEs, Jacobian, solutions) they come from.

The reports (``reports.REPORTS``) render the sympy derivations of ``lrnn_theory.derivations`` and, for a task, its own
numbers first; every result takes every kind of task or refuses it in one line. A task file with an
``input_covariance`` gets its own A(b) and B(b) (B from the gram matrix of the covariance, odd powers of b included;
B(b, conj b) for complex tasks), the covariance used and, per mode, the gram matrix, the explained norm and the best
filter. An option the chosen result does not use is an error (``OPTION_USE``, checked in one place). The reports are
imported (with sympy) only when the command runs, so ``lrnn derive --help`` and usage errors stay free of sympy.
"""
from __future__ import annotations

from lrnn_theory import resources
from lrnn_theory.errors import LrnnInputError

from .arguments import (FAMILY_OPTIONS, FORMATS, add_family_arguments, add_resource_arguments, add_task_arguments,
                        task_from_args)

#: ``lrnn derive --result NAME`` -> what it prints, in the order ``--list`` prints them (here, without sympy, so
#: that ``--list`` answers at once; ``reports.REPORTS`` has a report for each).
SUMMARIES = {
    "complex": "Complex modes of rotational tasks: energy, Wirtinger flow (eqs. 182-184), |a|^2 - |c|^2, polar ODEs",
    "every-step": "Every-step outputs (App. M): task sums by lag, ODEs, io solution, Taylor field, zero loss, eq. "
                  "(159)",
    "extrapolation": "Extrapolation: the solution at length T run at other lengths T' (a task's energies at "
                     "--T-test, each family's closed form)",
    "finite-lr": "Discrete gradient-descent map, modified flow E + (h/4)||grad E||^2, and the largest stable "
                 "learning rate",
    "frozen": "Input-output solution with b frozen: logistic (balanced) and exact unbalanced solution (App. C)",
    "flow": "Energy, gradient-flow ODEs (eqs. 5-7), Jacobian and conserved quantity a^2 - c^2 of the modes",
    "ntk": "NTK of an aligned LRNN in the mode basis, and its check against a generic network (result 4)",
    "phase-transition": "Landau expansion of the Dirac-task reduced energy and the critical points (App. H)",
    "recurrent-taylor": "Recurrent mode with u frozen: flow field, eq. (49), time derivatives via Bell polynomials "
                        "(App. D)",
    "regularisation": "Energy split into a data term and an effective regulariser (Lemma 3.2)",
    "stability": "Zero-loss solutions, reduced energy E*(b), stability in words and curvature (notes §3.4, §5)",
}

#: The results whose task numbers take --T-test (kept here so that the check needs no sympy).
T_TEST_RESULTS = ("extrapolation",)


def add_arguments(parser):
    add_task_arguments(parser, required=False)
    add_family_arguments(parser)
    parser.add_argument("--format", choices=FORMATS, default="pretty")
    parser.add_argument("--result", default="flow",
                        help="which derivation to print (default: flow; see 'lrnn derive --list')")
    parser.add_argument("--T-test", dest="T_test", type=int, nargs="+", metavar="T'",
                        help="test lengths of --result extrapolation: the task's solution at T run at each T' "
                             "(default: T/2, T, 2T)")
    parser.add_argument("--numbers-only", action="store_true",
                        help="print only the task's numbers, not the general formulas")
    parser.add_argument("--standalone", action="store_true",
                        help="with --format latex: a compilable .tex document instead of one align block")
    parser.add_argument("--list", action="store_true", help="list the available results and exit")
    add_resource_arguments(parser)


#: Each option that only some uses of ``lrnn derive`` take: (flag, attribute, is it used, the use it was given with,
#: what it needs). The one place an option that would do nothing is refused (exit 2, one line naming it).
OPTION_USE = (
    ("--T-test", "T_test", lambda args, task: args.result in T_TEST_RESULTS and task,
     lambda args: "without a task" if args.result in T_TEST_RESULTS else f"with --result {args.result}",
     f"--result {' or '.join(T_TEST_RESULTS)} and a task"),
    ("--numbers-only", "numbers_only", lambda args, task: task, lambda args: "without a task",
     "a task (a task file or --family)"),
    ("--standalone", "standalone", lambda args, task: args.format == "latex",
     lambda args: f"with --format {args.format}", "--format latex"),
    *((flag, dest, lambda args, task: not getattr(args, "task", None), lambda args: "with a task file",
       "--family (a task file fixes its own T and parameters)")
      for flag, dest in FAMILY_OPTIONS[1:]),  # --family with a task file: refused by task_from_args
)


def check_options(args) -> None:
    """Refuse, in one line, an option this use of the command would silently ignore."""
    task_given = bool(getattr(args, "task", None) or getattr(args, "family", None))
    for flag, dest, used, context, needs in OPTION_USE:
        if getattr(args, dest, None) in (None, False):
            continue
        if args.list:
            raise LrnnInputError(f"option '{flag}' does nothing with --list: it lists the results and exits")
        if not used(args, task_given):
            raise LrnnInputError(f"option '{flag}' does nothing {context(args)}: it needs {needs}")


def run(args) -> int:
    check_options(args)
    if args.list:
        for name, summary in SUMMARIES.items():
            print(f"{name}: {summary}")
        return 0
    if args.result not in SUMMARIES:
        raise LrnnInputError(f"parameter 'result' must be one of {', '.join(SUMMARIES)}, got '{args.result}'")
    from .reports import REPORTS  # sympy: only when a result is printed
    task = task_from_args(args, required=False)
    if task is not None:
        resources.guard(resources.derive_estimate(args.result, task.K, task.T), f"lrnn derive --result {args.result}",
                        max_seconds=resources.DERIVE_SECONDS)
    options = {}
    if args.T_test is not None:
        # the task at the longest T': K T' entries, K T'^2 for every-step outputs (singular values (K, T, T))
        longest = max(args.T_test) ** (task.singular_values.ndim - 1)
        resources.guard(resources.task_estimate(task.K, longest), "building the task at --T-test")
        options["T_test"] = args.T_test
    print(REPORTS[args.result](task, args.format, numbers_only=args.numbers_only, standalone=args.standalone,
                               **options), end="")
    return 0
