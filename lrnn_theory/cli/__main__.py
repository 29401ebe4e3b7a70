"""``python -m lrnn_theory.cli ARGS``: the ``lrnn`` command line."""
import sys

from . import run

sys.exit(run())
