"""Zero-loss solutions, the reduced energy E*(b) and stability of the families (paper §3.3, App. F; notes §3.4, §5).

Per mode, with u = a c, the energy is E = (S_2 - 2 u A(b) + u^2 B(b)) / (2 tau) (see ``mode_flow``). This module

* solves dE/du = 0 for the optimal input-output mode at fixed recurrent mode, u*(b) = A(b)/B(b), and substitutes it
  back: the reduced energy 2 tau E*(b) = S_2 - A(b)^2/B(b) = S_2 (1 - cos^2), where cos is the cosine between the
  task profile (s_1..s_T) and the geometric profile (b^(T-1), ..., b, 1);
* solves s_i = u b^(T-i) for each family of the paper from its last two steps (u = s_T, b = s_(T-1)/s_T) and checks
  the remaining steps symbolically; what is left over is the condition for a zero-loss solution to exist;
* classifies the solution: early importance (b* > 1, unstable: hidden activity and gradients explode with T) or late
  importance (b* < 1), with the inequality on lambda solved by sympy;
* derives the Hessian of tau E in (u, b) at the constant-task solution (notes §5.2), whose top curvature grows like
  delta^2 T^3 / 3.

Run ``lrnn derive --result stability [--format latex|pretty|text]`` to print every closed form.
"""
from __future__ import annotations

import sympy as sp

from lrnn_theory.errors import bad

from . import derivation, summation_by_terms
from .mode_flow import A, B, S2, T, a, b, c, derive_energy, i, tau, u

#: Family parameters (positive where the paper's families need it: lambda is a ratio of singular values).
delta = sp.Symbol("delta", positive=True)
lam = sp.Symbol("lambda", positive=True)
kappa = sp.Symbol("kappa", positive=True)
beta = sp.Symbol("beta", positive=True)
cos2 = sp.Symbol("cos^2", nonnegative=True)

BASE_FAMILIES = ("constant", "inverse_exponential", "exponential")
FAMILIES = BASE_FAMILIES + ("last_step", "dirac")


def family_profile(family: str, step=i, length=T, scale=delta):
    """Singular value s_step of a base family at trajectory length ``length`` (symbolic step and length)."""
    if family == "constant":
        return scale
    if family == "inverse_exponential":
        return scale * lam ** (length - step)
    if family == "exponential":
        return scale * lam**step

    raise bad("family", family, f"be one of {', '.join(BASE_FAMILIES)}")


# ---- reduced energy ---------------------------------------------------------------------------------------------
def derive_energy_in_u():
    """The per-mode energy with a c replaced by u (it depends on a and c only through their product)."""
    return sp.expand(derive_energy().subs(c, u / a))


@derivation
def derive_reduced_energy():
    """Optimal u at fixed b and the reduced energy.

    Returns
    -------
    dict
        ``u_star``: the root of dE/du = 0, A(b)/B(b); ``energy``: E*(b) = E(u*(b), b); ``cosine_form``: the same
        written as S_2 (1 - cos^2)/(2 tau) with cos^2 = A^2/(S_2 B); ``curvature_u``: d2E/du2 = B/tau (> 0, so u*
        is the minimum).
    """
    E = derive_energy_in_u()
    (u_star,) = sp.solve(sp.diff(E, u), u)
    E_star = sp.factor(sp.simplify(E.subs(u, u_star)))
    cosine_form = S2 * (1 - cos2) / (2 * tau)
    return {"u_star": u_star, "energy": E_star, "cosine_form": cosine_form,
            "cos2": A(b) ** 2 / (S2 * B(b)), "curvature_u": sp.simplify(sp.diff(E, u, 2))}


@derivation
def derive_family_sums(family: str):
    """A(b) = sum_i s_i b^(T-i) and B(b) = sum_i b^(2(T-i)) of a base family, summed by sympy (symbolic T)."""
    k = sp.Symbol("k", integer=True, nonnegative=True)  # k = T - i, the power of b that step i carries
    A_expr = sp.summation(family_profile(family, T - k) * b**k, (k, 0, T - 1))
    B_expr = sp.summation(b ** (2 * k), (k, 0, T - 1))
    S2_expr = sp.summation(family_profile(family, T - k) ** 2, (k, 0, T - 1))
    return {"A": A_expr, "B": B_expr, "S2": S2_expr}


@derivation
def derive_family_reduced_energy(family: str):
    """E*(b) and u*(b) of a base family with the task sums in closed form (piecewise at the removable points)."""
    sums = derive_family_sums(family)
    red = derive_reduced_energy()
    subs = {A(b): sums["A"], B(b): sums["B"], S2: sums["S2"]}
    return {"energy": red["energy"].subs(subs), "u_star": red["u_star"].subs(subs)}


# ---- zero-loss solutions ----------------------------------------------------------------------------------------
def _profile_function(family: str, base: str = "constant"):
    """s(step) for a family, valid for steps 1..T (last_step and dirac override the special steps)."""
    if family in BASE_FAMILIES:
        return lambda step: family_profile(family, step)
    if family == "last_step":
        return lambda step: kappa if step == T else family_profile(base, step)
    if family == "dirac":
        return lambda step: kappa if step == T else (beta if step == 1 else sp.Integer(0))

    raise bad("family", family, f"be one of {', '.join(FAMILIES)}")


@derivation
def derive_zero_loss_solution(family: str, base: str = "constant"):
    """Solve s_i = u b^(T-i) for a family: the last two steps fix u and b, the other steps give the condition.

    Returns
    -------
    dict
        ``u``, ``b``: the solution of s_T = u and s_(T-1) = u b; ``residual``: s_i - u b^(T-i) on the remaining
        steps i <= T-2 (symbolic i; 0 means the solution fits every step); ``condition``: a sympy relation that
        must hold for zero loss (``True`` when it always does); ``early_importance``: the parameter set on which
        b > 1 (unstable), solved by sympy; ``T_min``: the smallest T for which the residual applies.
    """
    prof = _profile_function(family, base)
    sol = sp.solve([prof(T) - u, prof(T - 1) - u * b], [u, b], dict=True)
    if len(sol) != 1:
        raise RuntimeError(f"expected one solution of the last two steps of family {family!r}, got {sol}")
    u_sol, b_sol = sp.simplify(sol[0][u]), sp.simplify(sol[0][b])
    if family == "dirac":
        # For T >= 3, s_(T-1) = 0 forces b = 0, so every step i <= T-2 is predicted as 0: step 1 is left with
        # s_1 = beta, steps 2..T-2 (zero targets) fit.
        first_step = sp.simplify(prof(1) - u_sol * b_sol ** (T - 1)).subs(T, 3)  # b = 0: 0**(T-1) = 0 for T >= 3
        residual = sp.Piecewise((first_step, sp.Eq(i, 1)), (sp.Integer(0), True))
        condition_expr = first_step
    else:
        # Steps i <= T-2 follow the (base) profile, whatever the last step does.
        base_family = family if family in BASE_FAMILIES else base
        residual = sp.simplify(sp.powsimp(sp.expand_power_base(
            family_profile(base_family, i) - u_sol * b_sol ** (T - i), force=True), force=True))
        residual = sp.simplify(residual)
        condition_expr = residual
    if condition_expr == 0:
        condition = sp.true
    else:
        free = sorted(condition_expr.free_symbols - {i, T}, key=str)
        roots = sp.solve(condition_expr, free[-1]) if free else []
        condition = sp.Or(*[sp.Eq(free[-1], r) for r in roots]) if roots else sp.false
    early = _solve_inequality(b_sol > 1)
    return {"u": u_sol, "b": b_sol, "residual": residual, "condition": condition, "early_importance": early,
            "T_min": 3 if family in ("last_step", "dirac") else 1}


def _solve_inequality(rel):
    """Solve an inequality in the single family parameter it involves (positive parameters)."""
    free = sorted(rel.free_symbols, key=str)
    if not free:
        return rel
    if len(free) == 1:
        return sp.solve_univariate_inequality(rel, free[0], relational=True)
    return rel


# ---- curvature at the constant-task solution ---------------------------------------------------------------------
@derivation
def derive_constant_hessian():
    """Hessian of tau E = 1/2 sum_i r_i^2 in (u, b) at the zero-loss constant-task solution (u, b) = (delta, 1).

    At zero loss the Hessian is J^T J with J_i = d r_i / d(u, b) = -(b^(T-i), u (T-i) b^(T-i-1)); summed by sympy.
    Returns the 2x2 matrix and the leading large-T coefficient of its trace (which the top eigenvalue approaches).
    """
    J = sp.Matrix([[b ** (T - i), u * (T - i) * b ** (T - i - 1)]])
    H = (J.T * J).subs({b: 1, u: delta})
    H = H.applyfunc(lambda e: sp.factor(summation_by_terms(e, (i, 1, T))))
    # The eigenvalues are bulky; for large T the top one is the trace to leading order (H_bb ~ delta^2 T^3 / 3).
    lead = sp.limit(((H[0, 0] + H[1, 1]) / T**3), T, sp.oo)
    return {"hessian": H, "trace_leading_T3": lead}
