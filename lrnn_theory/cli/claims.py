"""``lrnn claims``: check the paper's claims one by one (paper's value, ours, pass/fail), optionally with the
``paper_features`` of reproduced figures; exit code 1 when a claim fails."""
from __future__ import annotations

import sys


def add_arguments(parser):
    parser.add_argument("--quick", action="store_true", help="reduced runs (under a few minutes)")
    parser.add_argument("--json", help="also write the ledger to this JSON file")
    parser.add_argument("--figures", help="add the paper_features of the figure JSON files in this directory "
                                          "(lrnn reproduce all --out DIR)")


def run(args) -> int:
    from lrnn_theory.validation.claims import main_text  # runs every result: loaded only when the command runs

    text, _, code = main_text(args.quick, args.json, args.figures, progress=sys.stderr.isatty())
    print(text, end="")
    if args.json:
        print(f"wrote {args.json}")
    return code
