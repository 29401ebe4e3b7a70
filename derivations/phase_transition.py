"""Recurrent-vs-feedforward phase transition of the Dirac-delta task: Landau expansion of E*(b) (paper App. H).

The Dirac task of App. H is s_1 = beta, s_T = 1/beta (so s_1/s_T = beta^2), all other steps 0, with the energy
written without the 1/(2 tau) (E = sum_i r_i^2). Minimising over u at fixed b (``stability.derive_reduced_energy``)
leaves

    E*(b) = beta^2 + beta^-2 - (beta b^(T-1) + 1/beta)^2 / sum_{k=0}^{T-1} b^(2k).

* b = 0 is the feedforward solution (u = 1/beta, E = beta^2; the paper's "u = beta" and "u = beta^2" are slips).
* T = 3: the sympy series about b = 0 is beta^2 + (beta^-2 - 2) b^2 + (2 - beta^2) b^4 + O(b^6): the quadratic
  coefficient changes sign at beta_c = 1/sqrt(2) (s_1/s_T = 1/2) while the quartic one is positive: a continuous,
  second-order transition, solved exactly by sympy.
* T > 3: the quadratic coefficient is 1/beta^2 > 0 (no small-b instability); the recurrent branch wins through a jump,
  a first-order transition. As |b| -> oo, E* -> 1/beta^2 (sympy limit), below the feedforward beta^2 iff beta > 1,
  so beta_c -> 1 when b is unbounded. For T >= 4 the infimum is not attained at finite b; at a search bound b_max
  the transition sits slightly above 1 (located numerically by ``lrnn_theory.phase_transition.critical_beta``).
* General (beta, kappa) form (s_1 = beta, s_T = kappa), T = 3: E* = beta^2 + (kappa^2 - 2 kappa beta) b^2 + ..., so
  b = 0 is unstable iff s_1 > s_T / 2.

Run ``lrnn derive --result phase-transition [--format latex|pretty|text]`` to print the expansions.
"""
from __future__ import annotations

import sympy as sp

from . import derivation
from .mode_flow import A, B, S2, b, tau
from .stability import derive_reduced_energy

beta = sp.Symbol("beta", positive=True)
kappa = sp.Symbol("kappa", positive=True)


def dirac_sums(T: int, first=None, last=None):
    """A(b), B(b) and ||s||^2 of a Dirac task of concrete length T: s_1 = ``first``, s_T = ``last``."""
    first = beta if first is None else first
    last = 1 / beta if last is None else last
    A_expr = first * b ** (T - 1) + last
    B_expr = sp.Add(*[b ** (2 * k) for k in range(T)])
    return {A(b): A_expr, B(b): B_expr, S2: first**2 + last**2}


@derivation
def derive_dirac_reduced_energy(T: int, form: str = "reparameterised"):
    """E*(b) of the Dirac task (no 1/(2 tau)) and the optimal u*(b).

    ``form="reparameterised"``: s_1 = beta, s_T = 1/beta (App. H); ``form="general"``: s_1 = beta, s_T = kappa.
    """
    red = derive_reduced_energy()
    sums = dirac_sums(T) if form == "reparameterised" else dirac_sums(T, beta, kappa)
    E = sp.simplify((red["energy"] * 2 * tau).subs(sums))
    return {"energy": E, "u_star": sp.simplify(red["u_star"].subs(sums))}


@derivation
def derive_landau_expansion(T: int, order: int = 6, form: str = "reparameterised"):
    """Series of E*(b) about b = 0 up to b^order, and its coefficients {power: coefficient}."""
    E = derive_dirac_reduced_energy(T, form)["energy"]
    series = sp.series(E, b, 0, order).removeO()
    poly = sp.Poly(sp.expand(series), b)
    coeffs = {int(m[0]): sp.simplify(cf) for m, cf in zip(poly.monoms(), poly.coeffs())}
    return {"series": series, "coefficients": coeffs}


@derivation
def derive_critical_point_T3():
    """beta_c of the T = 3 second-order transition: the positive root of the b^2 coefficient of E*(b).

    Returns the root and the quartic coefficient there (positive, so the transition is continuous).
    """
    coeffs = derive_landau_expansion(3)["coefficients"]
    roots = sp.solve(sp.Eq(coeffs[2], 0), beta)
    if len(roots) != 1:
        raise RuntimeError(f"expected one positive root of the quadratic Landau coefficient, got {roots}")
    beta_c = sp.nsimplify(roots[0])
    return {"beta_c": beta_c, "quadratic": coeffs[2], "quartic": coeffs[4],
            "quartic_at_beta_c": sp.simplify(coeffs[4].subs(beta, beta_c)),
            "ratio_c": sp.simplify(beta_c**2)}


@derivation
def derive_large_b_limit(T: int):
    """lim_{b -> oo} E*(b) (= 1/beta^2 for T >= 2) and the beta at which it equals the feedforward energy beta^2."""
    E = derive_dirac_reduced_energy(T)["energy"]
    limit = sp.simplify(sp.limit(E, b, sp.oo))
    feedforward = sp.simplify(E.subs(b, 0))
    (beta_eq,) = sp.solve(sp.Eq(limit, feedforward), beta)
    return {"limit": limit, "feedforward": feedforward, "beta_unbounded": beta_eq}


@derivation
def derive_T3_recurrent_branch():
    """T = 3: the non-zero stationary point of E*(b), solved in x = b^2.

    Returns b*^2 = (2 beta^2 - 1) / (2 - beta^2), positive exactly for 1/sqrt(2) < beta < sqrt(2): the recurrent
    branch is born continuously at beta_c and runs off to |b| -> oo at beta = sqrt(2) (for beta = 1.2, b* = 1.832;
    notes §6.3's "b* ~ 1.5" is not borne out).
    """
    x = sp.Symbol("x", positive=True)
    E = derive_dirac_reduced_energy(3)["energy"].subs(b, sp.sqrt(x))
    roots = sp.solve(sp.numer(sp.together(sp.diff(E, x))), x)
    if len(roots) != 1:
        raise RuntimeError(f"expected one non-zero stationary point in b^2, got {roots}")
    return {"b_squared": sp.factor(roots[0]), "u_star": sp.simplify(
        derive_dirac_reduced_energy(3)["u_star"].subs(b, sp.sqrt(roots[0])))}


@derivation
def derive_unit_b_comparison():
    """E*(1) - E*(0) for symbolic T, and the beta above which b = 1 beats the feedforward point.

    At b = 1 the geometric profile is flat: A = beta + 1/beta, B = T, so E*(1) = beta^2 + beta^-2 - (beta + 1/beta)^2/T
    and E*(1) < E*(0) = beta^2 iff beta^2 > sqrt(T) - 1. For any search bound b_max >= 1 this bounds the critical
    beta from above; for T = 4 the bound is 1, the unbounded limit, so beta_c(T=4) = 1 exactly for every b_max >= 1.
    """
    Ts = sp.Symbol("T", positive=True)
    E1 = beta**2 + beta**-2 - (beta + 1 / beta) ** 2 / Ts
    diff = sp.simplify(E1 - beta**2)
    roots = [r for r in sp.solve(sp.Eq(diff, 0), beta) if r.is_positive is not False]
    return {"difference": sp.factor(diff), "beta_bound": [sp.simplify(r) for r in roots], "T": Ts}
