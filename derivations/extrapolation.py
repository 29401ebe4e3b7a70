"""Extrapolation to other trajectory lengths T' (paper §3.3, App. F.1, §3.6; notes §5.3).

A network at the zero-loss solution (u, b) of a family at length T is run on sequences of length T'. With whitened
inputs, its error at step i of the new sequence is the residual r_i = s'_i - u b^(T'-i), where s' is the same family
(same parameters) at length T'; the energy is sum_{i=1}^{T'} r_i^2 / (2 tau).

The zero-loss solution at T comes from ``stability.derive_zero_loss_solution`` and the sums over i = 1..T' are done
by sympy, so the table of notes §5.3 is derived here, not typed in:

* exponential (s_i = delta lambda^i): u = delta lambda^T depends on T, r_i = delta lambda^i (1 - lambda^(T-T'));
* mean (constant with delta = 1/T, the target at T' is 1/T'): r_i = 1/T' - 1/T, energy (T'-T)^2 / (2 tau T^2 T');
* constant (sum), inverse-exponential: r_i = 0 for every T'.

Sign: r_i is target minus prediction; notes §5.3 tabulates prediction minus target. The energies agree.
Run ``lrnn derive --result extrapolation [--format latex|pretty|text]`` to print the table.
"""
from __future__ import annotations

import sympy as sp

from lrnn_theory.errors import bad

from . import derivation, summation_by_terms
from .mode_flow import T, i, tau
from .stability import delta, derive_zero_loss_solution, family_profile, lam  # noqa: F401 (lam: a symbol of the energy)

#: Test length T' (the network was trained at T).
Tp = sp.Symbol("T'", integer=True, positive=True)
k = sp.Symbol("k", integer=True, nonnegative=True)

#: Extrapolation families: base family and how delta depends on the length ("mean" integrates 1/T of every input).
FAMILIES = {"constant": ("constant", None), "sum": ("constant", sp.Integer(1)),
            "mean": ("constant", "1/T"), "inverse_exponential": ("inverse_exponential", None),
            "exponential": ("exponential", None)}


def _scale(rule, length):
    if rule is None:
        return delta
    if rule == "1/T":
        return 1 / length
    return rule


@derivation
def derive_extrapolation(family: str):
    """Per-step residual and energy of the length-T zero-loss solution run at length T'.

    Returns
    -------
    dict
        ``u``, ``b`` (the solution at T), ``residual`` (r_i at step i of T'), ``energy`` (sum over i = 1..T' divided
        by 2 tau, with sympy's piecewise closed form at the removable points), ``energy_generic`` (the branch for
        lambda^2 != 1).
    """
    if family not in FAMILIES:

        raise bad("family", family, f"be one of {', '.join(FAMILIES)}")
    base, rule = FAMILIES[family]
    sol = derive_zero_loss_solution(base)
    train_scale = _scale(rule, T)
    u_T = sol["u"].subs(delta, train_scale)
    b_T = sol["b"].subs(delta, train_scale)
    target = family_profile(base, i, Tp, _scale(rule, Tp))
    residual = sp.simplify(sp.powsimp(sp.expand_power_base(target - u_T * b_T ** (Tp - i), force=True), force=True))
    summand = sp.expand(residual**2).subs(i, Tp - k)
    energy = summation_by_terms(summand, (k, 0, Tp - 1)) / (2 * tau)
    energy = sp.piecewise_fold(sp.simplify(energy))
    generic = energy
    if isinstance(energy, sp.Piecewise):
        generic = next(expr for expr, cond in energy.args if cond == sp.true)
    return {"u": u_T, "b": b_T, "residual": residual, "energy": energy, "energy_generic": sp.factor(sp.simplify(generic))}
