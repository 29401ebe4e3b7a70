"""Numeric functions compiled (lambdified) from the symbolic derivations.

``lrnn_theory.derivations`` returns sympy expressions only; this module turns the ones the numeric core evaluates
into numpy functions, once per process (each is cached: the expressions do not depend on the task).
"""
from __future__ import annotations

import functools

import sympy as sp

from .derivations import complex as complex_sym
from .derivations import every_step as every_step_sym
from .derivations import extrapolation as extrapolation_sym


@functools.lru_cache(maxsize=None)
def compile_complex_flow():
    """Complex rates and Wirtinger derivatives: ``rate_fn(a, abar, b, bbar, c, cbar, *SUM_SYMBOLS)`` gives
    [tau da/dt, tau db/dt, tau dc/dt] and ``jac_fn`` the 3x6 matrix d(rate)/d(a, abar, b, bbar, c, cbar)
    (``lrnn_theory.derivations.complex``)."""
    sym = complex_sym
    tau_rates = sym.derive_wirtinger_flow(sym.derive_energy())
    variables = (sym.a, sym.a_bar, sym.b, sym.b_bar, sym.c, sym.c_bar)
    args = variables + sym.SUM_SYMBOLS
    rates = [sym.sums_as_symbols(tau_rates[v]) for v in sym.STATE]
    jac = [[sym.sums_as_symbols(sp.diff(tau_rates[v], w)) for w in variables] for v in sym.STATE]
    return (sp.lambdify(args, rates, modules="numpy", cse=True),
            sp.lambdify(args, jac, modules="numpy", cse=True))


@functools.lru_cache(maxsize=None)
def compile_extrapolation_energy(family: str):
    """Closed-form extrapolation energy f(delta, lambda, T, T', tau) of a family's zero-loss solution, final output
    (``lrnn_theory.derivations.extrapolation.derive_extrapolation``)."""
    sym = extrapolation_sym
    expr = sym.derive_extrapolation(family)["energy"]
    return sp.lambdify((sym.delta, sym.lam, sym.T, sym.Tp, sym.tau), expr, modules="numpy")


@functools.lru_cache(maxsize=None)
def compile_every_step_extrapolation_energy(family: str):
    """The same for every-step outputs (``lrnn_theory.derivations.every_step.derive_extrapolation``)."""
    sym = every_step_sym
    expr = sym.derive_extrapolation(family)["energy"]
    return sp.lambdify((sym.delta, sym.lam, sym.T, sym.Tp, sym.tau), expr, modules="numpy")
