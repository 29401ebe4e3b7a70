"""``lrnn reproduce``: reproduce a figure of the paper, every figure (``all``), or list them (``list``)."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

from lrnn_theory.errors import LrnnInputError
from lrnn_theory.validation import figures as figure_registry
from lrnn_theory.validation.figures import load_all, paper_order, reproduce
from lrnn_theory.validation.reproduce_all import reproduce_all

from .exit_codes import EXIT_TOLERANCE


def add_arguments(parser):
    parser.add_argument("figure", help="figure name, e.g. fig2, 'all' for every figure (see 'lrnn reproduce list')")
    parser.add_argument("--out", default=".", help="output directory (default: current directory)")
    parser.add_argument("--quick", action="store_true", help="reduced run, under a minute")
    parser.add_argument("--jobs", type=int, default=1,
                        help="with 'all': figures run at once on a process pool (default 1: one after the other)")
    parser.add_argument("--only", help="with 'all': a comma-separated subset of the figures, e.g. fig2,figA1")
    parser.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                        help="progress bars on stderr (default auto: when stderr is a terminal)")


def run(args) -> int:
    if args.figure == "list":
        return list_figures()
    if args.figure == "all":
        return reproduce_every_figure(args)
    for option, value in (("jobs", args.jobs != 1), ("only", args.only)):
        if value:
            raise LrnnInputError(f"parameter '{option}' applies only to 'lrnn reproduce all'")
    saved, figure_registry.SHOW_PROGRESS = figure_registry.SHOW_PROGRESS, _show_progress(args)
    try:
        data = reproduce(args.figure, args.out, quick=args.quick)
    finally:
        figure_registry.SHOW_PROGRESS = saved
    out = Path(args.out)
    print(f"wrote {out / (args.figure + '.png')} and {out / (args.figure + '.json')}; "
          f"max_abs_error={data['max_abs_error']:.3g}")
    return 0


def _show_progress(args) -> bool:
    choice = getattr(args, "progress", "auto")
    return choice == "on" or (choice == "auto" and sys.stderr.isatty())


def list_figures() -> int:
    registry = load_all()
    for name in paper_order(registry):
        print(f"{name}: {registry[name].description}")
    return 0


def reproduce_every_figure(args) -> int:
    only = [name.strip() for name in args.only.split(",") if name.strip()] if args.only is not None else None
    if only is not None and not only:  # --only '' would otherwise run every figure
        raise LrnnInputError(f"parameter 'only' must name at least one figure (see 'lrnn reproduce list'), got "
                             f"'{args.only}'")
    if args.jobs < 1:
        raise LrnnInputError(f"parameter 'jobs' must be >= 1, got {args.jobs}")
    jobs = min(args.jobs, len(only) if only else len(load_all()))  # never more workers than figures
    command = "lrnn " + " ".join(shlex.quote(word) for word in _command_of(args))
    result = reproduce_all(args.out, quick=args.quick, jobs=jobs, figures=only, progress=_show_progress(args),
                           command=command)
    print(result.table())
    print(f"wrote {len(result.files)} files to {args.out} (index.html, summary.json and every figure's PNG and JSON)")
    return EXIT_TOLERANCE if result.failed else 0


def _command_of(args) -> list:
    """The reproduce command line rebuilt from the parsed options (what the report shows as its command)."""
    words = ["reproduce", args.figure]
    if args.quick:
        words.append("--quick")
    if args.out != ".":
        words += ["--out", str(args.out)]
    if args.jobs != 1:
        words += ["--jobs", str(args.jobs)]
    if args.only:
        words += ["--only", args.only]
    return words
