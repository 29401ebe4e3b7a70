"""``lrnn reproduce``: reproduce a figure of the paper, every figure (``all``), or list them (``list``)."""
from __future__ import annotations

import sys
from pathlib import Path

from lrnn_theory.errors import LrnnInputError
from lrnn_theory.validation.figures import load_all, reproduce
from lrnn_theory.validation.reproduce_all import reproduce_all

from .exit_codes import EXIT_TOLERANCE


def add_arguments(parser):
    parser.add_argument("figure", help="figure name, e.g. fig2, 'all' for every figure (see 'lrnn reproduce list')")
    parser.add_argument("--out", default=".", help="output directory (default: current directory)")
    parser.add_argument("--quick", action="store_true", help="reduced run, under a minute")
    parser.add_argument("--jobs", type=int, default=1,
                        help="with 'all': figures run at once on a process pool (default 1: one after the other)")
    parser.add_argument("--only", help="with 'all': a comma-separated subset of the figures, e.g. fig2,figA1")


def run(args) -> int:
    if args.figure == "list":
        return list_figures()
    if args.figure == "all":
        return reproduce_every_figure(args)
    for option, value in (("jobs", args.jobs != 1), ("only", args.only)):
        if value:
            raise LrnnInputError(f"parameter '{option}' applies only to 'lrnn reproduce all'")
    data = reproduce(args.figure, args.out, quick=args.quick)
    out = Path(args.out)
    print(f"wrote {out / (args.figure + '.png')} and {out / (args.figure + '.json')}; "
          f"max_abs_error={data['max_abs_error']:.3g}")
    return 0


def list_figures() -> int:
    for name, func in sorted(load_all().items()):
        print(f"{name}: {func.description}")
    return 0


def reproduce_every_figure(args) -> int:
    only = [name.strip() for name in args.only.split(",") if name.strip()] if args.only else None
    result = reproduce_all(args.out, quick=args.quick, jobs=args.jobs, figures=only, progress=sys.stderr.isatty())
    print(result.table())
    print(f"wrote {len(result.files)} files to {args.out} (index.html, summary.json and every figure's PNG and JSON)")
    return EXIT_TOLERANCE if result.failed else 0
