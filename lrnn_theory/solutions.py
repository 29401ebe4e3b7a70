"""Deprecated old name of :mod:`lrnn_theory.stability` (renamed so a result's modules share its name).

Importing it warns and re-exports ``lrnn_theory.stability``; nothing in the package imports it.
"""
import warnings

from .stability import *  # noqa: F401,F403
from .stability import _sums  # noqa: F401  (imported from here by code written before the rename)

warnings.warn("lrnn_theory.solutions is deprecated: import lrnn_theory.stability instead", DeprecationWarning,
              stacklevel=2)
