"""Effective regularisation (paper Lemma 3.2, eq. 9; App. G; notes §6.1).

Expanding the squared residual r_i^2 = (s_i - c b^(T-i) a)^2 splits the per-mode energy into

    E = 1/(2 tau) sum_i (s_i^2 - 2 s_i c b^(T-i) a)   [data term: the only place the task enters]
      + 1/(2 tau) c^2 a^2 sum_i b^(2(T-i))            [effective regulariser, task-independent]

and sympy sums the geometric series of the regulariser to c^2 a^2 (1 - b^(2T)) / (1 - b^2) / (2 tau) (T at
b^2 = 1). The regulariser pushes u = ac and b towards 0 and, for |b| >= 1, grows without bound in T.

Run ``lrnn derive --result regularisation [--format latex|pretty|text]`` to print the split.
"""
from __future__ import annotations

import sympy as sp

from . import derivation
from .mode_flow import T, a, b, c, derive_energy_sum_form, i, s, tau

k = sp.Symbol("k", integer=True, nonnegative=True)


@derivation
def derive_energy_split():
    """Split the summed-residual energy into data term and regulariser.

    The summand (s_i - c b^(T-i) a)^2 is expanded; the terms that contain s_i form the data term, the rest (the
    square of the prediction) the regulariser, whose sum over i is evaluated by sympy.

    Returns
    -------
    dict
        ``data``: data term (an unevaluated sum over i), ``regulariser_sum``: regulariser as a sum over i,
        ``regulariser``: its closed form (piecewise at b^2 = 1), ``regulariser_generic``: the closed form for
        b^2 != 1, ``energy``: the summed-residual energy it came from.
    """
    energy = derive_energy_sum_form()
    (residual_sum,) = energy.atoms(sp.Sum)  # energy = Sum_i r_i^2 / (2 tau)
    summand = sp.expand(residual_sum.function)  # (s_i - c b^(T-i) a)^2, expanded
    data_terms = [t for t in sp.Add.make_args(summand) if t.has(s)]
    reg_terms = [t for t in sp.Add.make_args(summand) if not t.has(s)]
    data = sp.Sum(sp.Add(*data_terms), (i, 1, T)) / (2 * tau)
    reg_summand = sp.Add(*reg_terms)
    reg_sum = sp.Sum(reg_summand, (i, 1, T)) / (2 * tau)
    # Sum over k = T - i (0..T-1): the same terms, in the order in which sympy recognises a geometric series.
    reg_closed = sp.summation(reg_summand.subs(i, T - k), (k, 0, T - 1)) / (2 * tau)
    reg_closed = sp.piecewise_fold(sp.simplify(reg_closed))
    generic = next(expr for expr, cond in reg_closed.args if cond == sp.true) if isinstance(
        reg_closed, sp.Piecewise) else reg_closed
    return {"data": data, "regulariser_sum": reg_sum, "regulariser": reg_closed,
            "regulariser_generic": sp.factor(generic), "energy": energy}


def paper_regulariser():
    """The regulariser exactly as the paper prints it: c^2 a^2 (1 - b^(2T)) / (1 - b^2) / (2 tau)."""
    return c**2 * a**2 * (1 - b ** (2 * T)) / (1 - b**2) / (2 * tau)


@derivation
def split_residual(concrete_T: int | None = None):
    """data + regulariser - energy, summands combined (symbolic T) or written out (a concrete T): simplifies to 0."""
    split = derive_energy_split()
    if concrete_T is None:
        (data_sum,) = split["data"].atoms(sp.Sum)
        (reg_sum,) = split["regulariser_sum"].atoms(sp.Sum)
        (energy_sum,) = split["energy"].atoms(sp.Sum)
        # All three are sums over the same range i = 1..T with the same 1/(2 tau) factor: compare summands.
        return sp.simplify(sp.expand(data_sum.function + reg_sum.function - energy_sum.function))
    sub = {T: concrete_T}
    total = (split["data"].subs(sub).doit() + split["regulariser"].subs(sub) - split["energy"].subs(sub).doit())
    return _zero_on_every_branch(sp.expand(total))


def _zero_on_every_branch(expr):
    """0 when every branch of ``expr`` (its Piecewise folded out) cancels to 0 where it holds (the b^2 = 1 branch
    with b^2 = 1), as simplify finds at ten times the cost; otherwise simplify's answer."""
    folded = sp.piecewise_fold(expr)
    branches = folded.args if isinstance(folded, sp.Piecewise) else ((folded, sp.true),)
    at_one = sp.Eq(b**2, 1)
    if all(sp.cancel(branch.subs(b**2, 1) if cond == at_one else branch) == 0 for branch, cond in branches):
        return sp.Integer(0)
    return sp.simplify(expr)
