"""lrnn-theory: closed-form learning dynamics of linear recurrent neural networks.

Derive (``lrnn_theory.derivations``), integrate (``lrnn_theory.integrate``) and validate against trained networks
(``lrnn_theory.validation``) the gradient-flow ODEs of the connectivity modes a (input), b (recurrent) and c
(output) of Proca, Dominé, Shanahan & Mediano, *Learning dynamics in linear recurrent neural networks* (ICML 2025).
"""
import importlib

__version__ = "0.1.0"

# Everything loads on first use: importing a derivation module compiles nothing, and the ``lrnn`` command's entry
# point (lrnn_theory.interrupts.run) can catch Ctrl-C before numpy, scipy and sympy are imported.
_LAZY = {"Task": "tasks", "InitialModes": "tasks", "LrnnError": "errors", "LrnnInputError": "errors",
         "DivergenceError": "errors", "IntegrationError": "errors",
         "integrate": "flow", "compile_flow": "flow", "CompiledFlow": "flow", "Trajectory": "trajectory"}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'lrnn_theory' has no attribute {name!r}")
