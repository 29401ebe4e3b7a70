"""lrnn-theory: closed-form learning dynamics of linear recurrent neural networks.

Derive (``lrnn_theory.derivations``), integrate (``lrnn_theory.integrate``) and validate against trained networks
(``lrnn_theory.validation``) the gradient-flow ODEs of the connectivity modes a (input), b (recurrent) and c
(output) of Proca, Dominé, Shanahan & Mediano, *Learning dynamics in linear recurrent neural networks* (ICML 2025).
"""
import importlib

from .errors import DivergenceError, IntegrationError, LrnnError, LrnnInputError
from .tasks import InitialModes, Task

__version__ = "0.1.0"

# Numeric entry points load on first use, so that importing a derivation module does not compile anything.
_LAZY = {"integrate": "flow", "compile_flow": "flow", "CompiledFlow": "flow", "Trajectory": "trajectory"}

__all__ = ["Task", "InitialModes", "LrnnError", "LrnnInputError", "DivergenceError", "IntegrationError", "__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'lrnn_theory' has no attribute {name!r}")
