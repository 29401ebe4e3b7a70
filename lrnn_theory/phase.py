"""Deprecated old name of :mod:`lrnn_theory.phase_transition` (renamed so a result's modules share its name).

Importing it warns and re-exports ``lrnn_theory.phase_transition``; nothing in the package imports it.
"""
import warnings

from .phase_transition import *  # noqa: F401,F403

warnings.warn("lrnn_theory.phase is deprecated: import lrnn_theory.phase_transition instead", DeprecationWarning,
              stacklevel=2)
