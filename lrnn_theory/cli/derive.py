"""``lrnn derive``: print a symbolic result (closed-form energy, ODEs, Jacobian, solutions) of a task or a family.

Each result is a module of ``lrnn_theory.derivations`` with ``RESULT`` and ``report(task, fmt)``; they are found
(and sympy imported) only when the command runs, so ``lrnn derive --help`` and usage errors stay free of sympy.
"""
from __future__ import annotations

from lrnn_theory import resources
from lrnn_theory.derivations import FORMATS, available_results
from lrnn_theory.errors import LrnnInputError

from .arguments import add_family_arguments, add_resource_arguments, add_task_arguments, task_from_args


def add_arguments(parser):
    add_task_arguments(parser, required=False)
    add_family_arguments(parser)
    parser.add_argument("--format", choices=FORMATS, default="pretty")
    parser.add_argument("--result", default="flow",
                        help="which derivation to print (default: flow; see 'lrnn derive --list')")
    parser.add_argument("--list", action="store_true", help="list the available results and exit")
    add_resource_arguments(parser)


def run(args) -> int:
    if args.list:
        for name, func in available_results().items():
            print(f"{name}: {(func.__doc__ or '').strip().splitlines()[0]}")
        return 0
    results = available_results()
    if args.result not in results:
        raise LrnnInputError(f"parameter 'result' must be one of {', '.join(results)}, got '{args.result}'")
    task = task_from_args(args, required=False)
    if task is not None and task.is_complex and args.result not in ("flow", "complex"):
        raise LrnnInputError(f"parameter 'result' must be 'complex' (or 'flow') for a complex task, got "
                             f"'{args.result}'")
    if task is not None:
        resources.guard(resources.derive_estimate(args.result, task.K, task.T), f"lrnn derive --result {args.result}",
                        max_seconds=resources.DERIVE_SECONDS)
    print(results[args.result](task, args.format), end="")
    return 0
