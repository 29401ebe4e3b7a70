"""``lrnn derive``: print a symbolic result (closed-form energy, ODEs, Jacobian, solutions) of a task or a family.

The reports (``reports.REPORTS``) render the sympy derivations of ``lrnn_theory.derivations`` and, for a task, its own
numbers; every result takes every kind of task or refuses it in one line. A task file with an ``input_covariance``
gets its own A(b) and B(b) (B from the gram matrix of the covariance, odd powers of b included; B(b, conj b) for
complex tasks), the covariance used and, per mode, the gram matrix, the explained norm and the best filter. They are imported (with sympy) only when
the command runs, so ``lrnn derive --help`` and usage errors stay free of sympy.
"""
from __future__ import annotations

from lrnn_theory import resources
from lrnn_theory.errors import LrnnInputError

from .arguments import FORMATS, add_family_arguments, add_resource_arguments, add_task_arguments, task_from_args


def add_arguments(parser):
    add_task_arguments(parser, required=False)
    add_family_arguments(parser)
    parser.add_argument("--format", choices=FORMATS, default="pretty")
    parser.add_argument("--result", default="flow",
                        help="which derivation to print (default: flow; see 'lrnn derive --list')")
    parser.add_argument("--list", action="store_true", help="list the available results and exit")
    add_resource_arguments(parser)


def run(args) -> int:
    from .reports import REPORTS  # sympy: only when the command runs

    if args.list:
        for name, report in REPORTS.items():
            print(f"{name}: {(report.__doc__ or '').strip().splitlines()[0]}")
        return 0
    if args.result not in REPORTS:
        raise LrnnInputError(f"parameter 'result' must be one of {', '.join(REPORTS)}, got '{args.result}'")
    task = task_from_args(args, required=False)
    if task is not None:
        resources.guard(resources.derive_estimate(args.result, task.K, task.T), f"lrnn derive --result {args.result}",
                        max_seconds=resources.DERIVE_SECONDS)
    print(REPORTS[args.result](task, args.format), end="")
    return 0
