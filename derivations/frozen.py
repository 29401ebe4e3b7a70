"""Input-output mode with the recurrent mode frozen: exact solutions (paper App. C, eqs. 41-47, and beyond).

With b frozen, the task sums A = A(b) = sum_i s_i b^(T-i) and B = B(b) = sum_i b^(2(T-i)) are constants and the
input-output product u = a c obeys (derived here from the mode ODEs of ``mode_flow``)

    tau du/dt = (a^2 + c^2) (A - B u) = sqrt(4 u^2 + D^2) (A - B u),      D = a^2 - c^2 (conserved).

* Balanced (D = 0, u > 0): the logistic tau du/dt = 2 u (A - B u), solved with ``dsolve``; its inverse t(u) by
  separation of variables; fixed point u* = A/B; half-time t(u*/2); time to a fraction f of u*.
* Unbalanced (D != 0): separation of variables with the Euler substitution w = 2u + sqrt(4u^2 + D^2) turns
  1/(sqrt(4u^2 + D^2)(A - B u)) into a rational function of w; sympy integrates it, the result is exponentiated and
  solved for w, which gives t(u) AND an explicit u(t) = (w^2 - D^2)/(4w). Its D -> 0 limit is derived with
  ``sympy.limit`` and recovers the logistic. For numerics the same solution is re-derived through the roots
  w_+ > 0 > w_- of the integrand's denominator (w_+ w_- = -D^2) with w_0 = (a_0 + c_0)^2, which keeps full
  precision when a is close to -c (the A, B, D form cancels to O(D^2) there).

Everything is derived, nothing typed in; ``lrnn_theory.frozen`` lambdifies the results. Run
``lrnn derive --result frozen [--format latex|pretty|text]`` to print the derivation.
"""
from __future__ import annotations

import sympy as sp

from . import derivation
from . import mode_flow as mf

# b frozen: the task sums are constants. A may have any sign; B = sum_i b^(2(T-i)) >= 1 > 0.
A = sp.Symbol("A", real=True)
B = sp.Symbol("B", positive=True)
#: |a^2 - c^2|: only D^2 enters the dynamics.
D = sp.Symbol("D", positive=True)
t = sp.Symbol("t", nonnegative=True)
tau = mf.tau
u = sp.Symbol("u", real=True)
u0 = sp.Symbol("u_0", real=True)
#: Fraction of the fixed point u* reached (for learning times such as f = 0.9).
f = sp.Symbol("f", positive=True)
#: Euler substitution variable w = 2u + sqrt(4u^2 + D^2) > 0, its initial value, and z = exp(-R t / tau) in (0, 1].
w = sp.Symbol("w", positive=True)
w0 = sp.Symbol("w_0", positive=True)
z = sp.Symbol("z", positive=True)
#: The two roots w_+ > 0 > w_- of the unbalanced integrand's denominator (the fixed point and its mirror image).
w_plus = sp.Symbol("w_+", positive=True)
w_minus = sp.Symbol("w_-", negative=True)
#: Input and output modes, for w in terms of the weights.
a_mode = sp.Symbol("a", real=True)
c_mode = sp.Symbol("c", real=True)
#: Positive versions used where the balanced logistic needs them (u > 0 branch, A > 0 for the limit).
A_pos = sp.Symbol("A", positive=True)
u_pos = sp.Symbol("u", positive=True)
u0_pos = sp.Symbol("u_0", positive=True)


@derivation
def derive_io_rate():
    """tau du/dt with b frozen, derived from the mode ODEs: (a^2 + c^2)(A - B u) and its D-form.

    Returns
    -------
    dict
        ``product_rule``: c * tau da/dt + a * tau dc/dt with A(b), B(b) frozen to the constants A, B;
        ``factored``: the same, factored; ``identity``: (a^2+c^2)^2 - (a^2-c^2)^2 - 4 (ac)^2 (simplifies to 0, so
        a^2 + c^2 = sqrt(4u^2 + D^2)); ``rate_D``: sqrt(4u^2 + D^2)(A - B u); ``rate_balanced``: its D = 0, u > 0
        form 2u(A - B u).
    """
    flow = mf.derive_mode_flow()
    frozen = {mf.A(mf.b): A, mf.B(mf.b): B}
    product_rule = sp.expand(mf.c * flow.tau_rates[mf.a] + mf.a * flow.tau_rates[mf.c]).subs(frozen)
    factored = sp.factor(product_rule)
    identity = sp.expand((mf.a**2 + mf.c**2) ** 2 - (mf.a**2 - mf.c**2) ** 2 - 4 * (mf.a * mf.c) ** 2)
    # Replace a^2 + c^2 by its value through u and D (positive root: a^2 + c^2 >= 0).
    sum_sq = sp.sqrt(4 * u**2 + D**2)
    rate_D = sp.factor(factored.subs(mf.a * mf.c, u).subs(mf.a**2 + mf.c**2, sum_sq))
    if identity != 0 or rate_D.has(mf.a) or rate_D.has(mf.c):  # pragma: no cover - would mean mode_flow changed
        raise RuntimeError(f"tau du/dt = {factored} is not a function of u and D alone")
    rate_balanced = sp.factor(sp.limit(rate_D.subs(u, u_pos), D, 0)).subs(u_pos, u)  # D -> 0 on the u > 0 branch
    return {"product_rule": product_rule, "factored": factored, "identity": identity, "rate_D": rate_D,
            "rate_balanced": rate_balanced}


@derivation
def derive_balanced_solution():
    """Logistic solution of tau du/dt = 2u(A - Bu) (balanced a = c, u > 0), derived with sympy.

    Returns
    -------
    dict of sympy expressions
        ``ode`` (Eq), ``u_of_t`` (dsolve, Bernoulli, with u(0) = u_0), ``t_integral`` (separation of variables, as sympy
        integrates it), ``t_of_u`` (the same as one real logarithm),
        ``fixed_point`` u* = A/B (the nonzero root of the rate), ``half_time`` t(u*/2) from u_0,
        ``fraction_time`` t(f u*) from u_0, ``u_of_t_A0`` the A -> 0 limit of u(t), ``rate_constant`` 2A/tau.
    """
    rate = derive_io_rate()["rate_balanced"]
    uf = sp.Function("u")
    ode = sp.Eq(tau * uf(t).diff(t), rate.subs(u, uf(t)))
    # A Bernoulli equation: its general solution, then the constant from u(0) = u_0 (ten times faster than dsolve
    # with ics, which tries every hint). Solved for A > 0 to avoid sympy's A = 0 piecewise branch; the result is
    # a rational function of exp(2At/tau) that solves the ODE for any real A != 0 (checked in the tests).
    general = sp.dsolve(ode.subs(A, A_pos), uf(t), hint="Bernoulli").rhs
    C1 = next(iter(general.free_symbols - ode.subs(A, A_pos).free_symbols - {t}))
    constant = sp.solve(sp.Eq(general.subs(t, 0), u0_pos), C1)[0]
    u_of_t = sp.simplify(general.subs(C1, constant)).subs({u0_pos: u0, A_pos: A})
    v = sp.Dummy("v", positive=True)
    t_integral = sp.simplify(sp.integrate(tau / rate.subs(u, v), (v, u0_pos, u_pos))).subs({u_pos: u, u0_pos: u0})
    rate_constant = sp.simplify(sp.diff(rate, u).subs(u, 0) / tau)
    # The integral is a sum of logs whose arguments change sign at u*; exponentiating collects them into one
    # rational function, positive along every trajectory (u and u_0 on the same side of u*), hence real logs.
    ratio = sp.factor(sp.simplify(sp.exp(rate_constant * t_integral)))
    t_of_u = sp.log(ratio) / rate_constant
    roots = [r for r in sp.solve(sp.Eq(rate, 0), u) if r != 0]
    fixed_point = roots[0]
    half_time = sp.simplify(t_of_u.subs(u, fixed_point / 2))
    fraction_time = sp.simplify(t_of_u.subs(u, f * fixed_point))
    u_A0 = sp.simplify(sp.limit(u_of_t, A, 0))
    return {"ode": ode, "u_of_t": u_of_t, "t_integral": t_integral, "t_of_u": t_of_u, "fixed_point": fixed_point,
            "half_time": half_time, "fraction_time": fraction_time, "u_of_t_A0": u_A0,
            "rate_constant": rate_constant}


@derivation
def derive_unbalanced_solution():
    """Exact solution of tau du/dt = sqrt(4u^2 + D^2)(A - Bu) for D = |a^2 - c^2| > 0, derived with sympy.

    Separation of variables: t(u) = tau * int_{u_0}^{u} dv / (sqrt(4v^2 + D^2)(A - Bv)). The Euler substitution
    v = (w^2 - D^2)/(4w), i.e. w = 2v + sqrt(4v^2 + D^2), makes the integrand rational; sympy integrates it into two
    logarithms with coefficients +-1/R. Exponentiating R (F(w) - F(w_0)) = R t / tau and solving the result (linear
    in w) gives w(t), hence u(t) explicitly.

    Returns
    -------
    dict of sympy expressions
        ``ode``; ``integrand_w`` (the rational integrand); ``antiderivative_w`` F(w); ``R`` (the rate constant
        times tau: sqrt(4A^2 + B^2 D^2)); ``w_of_u`` and ``u_of_w``; ``t_of_w`` (in w, w_0) and ``t_of_u``; ``w_of_z``
        (w as a function of z = exp(-R t / tau) and w_0, the overflow-free form); ``u_of_t`` (explicit, in u_0 and
        t); ``fixed_point`` u* = A/B and ``w_fixed_point``; ``half_time``; ``D0_limit`` (lim_{D->0} u(t) for
        u_0 > 0, A > 0) and ``D0_limit_minus_logistic`` (simplifies to 0).
    """
    uf = sp.Function("u")
    rate = derive_io_rate()["rate_D"]
    ode = sp.Eq(tau * uf(t).diff(t), rate.subs(u, uf(t)))
    v_of_w = (w**2 - D**2) / (4 * w)
    w_of_u = _roots_in_w(sp.numer(sp.together(v_of_w - u)))  # w^2 - 4 u w - D^2 = 0
    w_of_u = [r for r in w_of_u if sp.simplify(r.subs({u: 0})).is_positive][0]  # the branch with w > 0
    integrand_w = sp.factor(sp.diff(v_of_w, w) / rate.subs(u, v_of_w))
    F = sp.integrate(sp.apart(integrand_w, w), w)
    logs = sorted(F.atoms(sp.log), key=sp.default_sort_key)
    coeffs = {sp.simplify(F.coeff(lg)) for lg in logs}
    R = sp.simplify(1 / abs(next(iter(coeffs))))
    ratio = _exp_of_logs(R * (F - F.subs(w, w0)))  # = exp(R t / tau)
    t_of_w = tau / R * sp.log(ratio)
    t_of_u = t_of_w.subs({w: w_of_u, w0: w_of_u.subs(u, u0)})
    E = sp.Symbol("E", positive=True)
    w_of_E = _roots_in_w(_cross_multiplied(ratio, E))[0]
    w_of_z = sp.cancel(w_of_E.subs(E, 1 / z))
    u_of_wz = (w_of_z**2 - D**2) / (4 * w_of_z)  # kept as a composition: cancelling expands it ~50-fold
    u_of_t = u_of_wz.subs({w0: w_of_u.subs(u, u0), z: sp.exp(-R * t / tau)})
    fixed_point = [r for r in sp.solve(sp.Eq(rate, 0), u)][0]
    w_fixed = sp.simplify(w_of_u.subs(u, fixed_point))
    half_time = t_of_u.subs(u, fixed_point / 2)
    D0_limit = sp.simplify(sp.limit(u_of_t.subs({A: A_pos, u0: u0_pos}), D, 0)).subs({A_pos: A, u0_pos: u0})
    logistic = derive_balanced_solution()["u_of_t"]
    out = {"ode": ode, "integrand_w": integrand_w, "antiderivative_w": F, "R": R, "w_of_u": w_of_u,
           "t_of_w": t_of_w, "t_of_u": t_of_u, "w_of_z": w_of_z, "u_of_w": v_of_w,
           "u_of_wz": u_of_wz, "u_of_t": u_of_t,
           "fixed_point": fixed_point, "w_fixed_point": w_fixed, "half_time": half_time, "D0_limit": D0_limit,
           "D0_limit_minus_logistic": sp.simplify(D0_limit - logistic)}
    out.update(_derive_root_form(integrand_w, w_of_u, R))
    return out


def _roots_in_w(polynomial):
    """The roots of a polynomial in w of degree 1 or 2 (by formula: what solve returns, without its checks)."""
    return list(sp.roots(polynomial, w, strict=True))


def _cross_multiplied(ratio, value):
    """numerator - value * denominator of ``ratio``: zero where ratio = value (a polynomial in w)."""
    numer, denom = sp.fraction(ratio)
    return sp.expand(numer - value * denom)


def _exp_of_logs(log_sum):
    """exp of a sum of logarithms whose coefficients expand to integers, as one factored rational function: each
    logarithm's argument brought to one fraction with its radicals out of the denominator first (the result of
    simplify on the whole, at about half its cost)."""
    logs = sp.expand(log_sum).replace(sp.log, lambda arg: sp.log(sp.factor(sp.radsimp(sp.together(arg)))))
    return sp.factor(sp.expand_power_exp(sp.exp(logs)))


def _derive_root_form(integrand_w, w_of_u, R):
    """The unbalanced solution rewritten through the roots w_+ > 0 > w_- of the integrand's denominator.

    The form in A, B, D above subtracts 2A from R = sqrt(4A^2 + B^2 D^2) and 2|u| from sqrt(4u^2 + D^2); for
    a nearly equal to -c (small D, u < 0) both differences are O(D^2) and lose every digit. In the root form
    nothing cancels: w_- = -D^2 / w_+ (product of the roots), R = B (w_+ - w_-)/2, w = (a + c)^2 from the weights,
    and w(u) = D^2 / w(-u) for u < 0.

    Returns
    -------
    dict of sympy expressions
        ``roots`` (w_+, w_-) in A, B, D; ``root_product`` (simplifies to -D^2); ``integrand_roots`` (the integrand
        in w_+, w_-) and ``integrand_roots_check`` (0); ``R_roots`` and ``R_roots_check`` (0); ``t_of_w_roots``;
        ``w_of_z_roots``; ``w_of_ac`` ((a + c)^2, from w(u) with u = a c, D = |a^2 - c^2|); ``w_of_u_conjugate``
        D^2 / w(-u) and ``w_of_u_conjugate_check`` (0).
    """
    numer, denom = sp.fraction(sp.together(integrand_w))
    roots = sp.solve(denom, w)
    probe = {A: 1, B: 1, D: 1}
    root_plus = next(r for r in roots if r.subs(probe).is_positive)
    root_minus = next(r for r in roots if r is not root_plus)
    lead = sp.Poly(denom, w).LC()
    integrand_roots = numer / (lead * (w - w_plus) * (w - w_minus))
    on_roots = {w_plus: root_plus, w_minus: root_minus}
    F = sp.integrate(integrand_roots, w)
    F = F.replace(sp.log, lambda arg: sp.log(sp.factor(arg)))
    coeffs = {sp.simplify(F.coeff(lg)) for lg in F.atoms(sp.log)}
    R_roots = sp.simplify(1 / abs(next(iter(coeffs))))
    ratio = sp.factor(sp.simplify(sp.exp(R_roots * (F - F.subs(w, w0)))))  # = exp(R t / tau)
    E = sp.Symbol("E", positive=True)
    w_of_z_roots = sp.factor(sp.cancel(_roots_in_w(_cross_multiplied(ratio, E))[0].subs(E, 1 / z)))
    w_of_ac = sp.factor(sp.factor(w_of_u.subs(D, sp.sqrt((a_mode**2 - c_mode**2) ** 2)).subs(u, a_mode * c_mode),
                                  deep=True))
    conjugate = D**2 / w_of_u.subs(u, -u)
    return {"roots": (root_plus, root_minus), "root_product": sp.simplify(root_plus * root_minus),
            "integrand_roots": integrand_roots,
            "integrand_roots_check": sp.simplify(integrand_roots.subs(on_roots) - integrand_w),
            "R_roots": R_roots, "R_roots_check": sp.simplify(R_roots.subs(on_roots) - R),
            "t_of_w_roots": tau / R_roots * sp.log(ratio), "w_of_z_roots": w_of_z_roots, "w_of_ac": w_of_ac,
            "w_of_u_conjugate": conjugate, "w_of_u_conjugate_check": sp.simplify(sp.radsimp(conjugate) - w_of_u)}
