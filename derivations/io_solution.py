"""Deprecated old name of :mod:`lrnn_theory.derivations.frozen` (renamed so a result's modules share its name).

Importing it warns and re-exports ``lrnn_theory.derivations.frozen``; nothing in the package imports it, and
``lrnn derive`` skips it (the old result name ``io-solution`` is an alias of ``frozen``).
"""
import warnings

from .frozen import *  # noqa: F401,F403

warnings.warn("lrnn_theory.derivations.io_solution is deprecated: import lrnn_theory.derivations.frozen instead",
              DeprecationWarning, stacklevel=2)

if __name__ == "__main__":
    main()  # noqa: F405
