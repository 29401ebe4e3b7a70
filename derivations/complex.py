"""Rotational tasks: complex connectivity modes, Wirtinger flow, polar coordinates (paper App. N-O, eqs. 182-189).

When the correlations rotate, Sigma^{YX_i} = P D_i P^dagger with P unitary and D_i complex diagonal, each mode has
complex strengths a, b, c and complex "singular values" (eigenvalues) d_i. With k = T - i and u = a c,

    E = 1/(2 tau) sum_i |d_i - c b^(T-i) a|^2
      = 1/(2 tau) (sum_i |d_i|^2 - 2 Re(conj(u) A(conj(b))) + |u|^2 beta(|b|^2)),
    A(z) = sum_k alpha_k z^k  (alpha_k = d_(T-k), so A(conj(b)) = sum_i d_i conj(b)^(T-i)),
    beta(x) = sum_k w_k x^k   (w_k = 1, so beta(|b|^2) = B(|b|) = sum_i |b|^(2(T-i))).

These are the real engine's task sums A and B (``mode_flow``), taken at conj(b) and at |b|^2. Gradient descent on the
real and imaginary parts of z is d(Re z)/dt + i d(Im z)/dt = -(dE/dRe z + i dE/dIm z) = -2 dE/d(conj z): the
Wirtinger flow carries a factor 2 that S1's eqs. (187)-(189) drop (``derive_wirtinger_factor`` proves it). The
derivation treats z and conj(z) as independent symbols (``a``, ``a_bar``, ...), as Wirtinger calculus does.

Results: the ODEs (eqs. 182-184) through the task sums and as explicit sums, their Wirtinger derivatives (from which
the numeric engine builds 6x6 real Jacobian blocks per mode), the conserved quantity |a|^2 - |c|^2 (a^2 - c^2 is
not conserved), the polar ODEs of b = rho e^(i theta) and u = r e^(i psi), and the closed-form input-output
solution with b frozen and |a| = |c|, in which the angle of u relaxes on the time scale tau / (2 |A|) while the
radius needs that times log(r* / r(0)): "angle first, radius later" (App. O).

Run ``lrnn derive --result complex [--format latex|pretty|text]`` to print every closed form.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .mode_flow import tau

# Complex mode strengths and their conjugates, independent symbols (Wirtinger calculus).
a, b, c = sp.symbols("a b c")
a_bar, b_bar, c_bar = sp.symbols("abar bbar cbar")
STATE = (a, b, c)
CONJUGATE = {a: a_bar, b: b_bar, c: c_bar}
#: Squared norm of the task's eigenvalue profile, sum_i |d_i|^2.
S2 = sp.Symbol("S_2", nonnegative=True)
#: A(z) = sum_k alpha_k z^k (taken at conj(b)); A_conj(z) = sum_k conj(alpha_k) z^k = conj(A(conj(z))) (taken at b);
#: beta(x) = sum_k w_k x^k (taken at x = |b|^2).
A = sp.Function("A")
A_conj = sp.Function("Abar")
beta = sp.Function("beta")
x = sp.Symbol("x", nonnegative=True)

#: Plain symbols for the sums and their derivatives, the arguments of the compiled numeric functions:
#: A^(n)(conj b), conj(A^(n)(conj b)), beta^(n)(|b|^2) for n = 0, 1, 2.
SUM_SYMBOLS = sp.symbols("A_0 A_1 A_2 Ac_0 Ac_1 Ac_2 beta_0 beta_1 beta_2")


def sums_as_symbols(expr):
    """Replace A(conj b), conj A(b), beta(|b|^2) and their derivatives by the plain symbols of SUM_SYMBOLS."""
    A0, A1, A2, C0, C1, C2, B0, B1, B2 = SUM_SYMBOLS

    def derivative_order(e, fn, arg):
        if isinstance(e, sp.Derivative) and isinstance(e.expr, sp.Function) and e.expr.func == fn:
            return sum(n for v, n in e.variable_count) if e.expr.args[0] == arg else None
        return None

    def swap(e):
        if isinstance(e, sp.Subs):  # d^n beta / dx^n at x = b conj(b)
            inner = e.expr
            if isinstance(inner, sp.Derivative) and inner.expr.func == beta:
                return (B1, B2)[sum(n for _, n in inner.variable_count) - 1]
        for fn, arg, syms in ((A, b_bar, (A0, A1, A2)), (A_conj, b, (C0, C1, C2))):
            order = derivative_order(e, fn, arg)
            if order is not None:
                return syms[order]
        return e

    expr = expr.replace(lambda e: isinstance(e, (sp.Subs, sp.Derivative)), swap)
    return expr.subs({A(b_bar): A0, A_conj(b): C0, beta(b * b_bar): B0})


def conjugate(expr):
    """Complex conjugate of an expression in the independent symbols (swap z and conj z, A and A_conj)."""
    swap = {a: a_bar, a_bar: a, b: b_bar, b_bar: b, c: c_bar, c_bar: c}
    A0, A1, A2, C0, C1, C2, *_ = SUM_SYMBOLS
    swap.update({A0: C0, A1: C1, A2: C2, C0: A0, C1: A1, C2: A2})
    expr = expr.xreplace(swap)
    return expr.replace(lambda e: isinstance(e, sp.Function) and e.func in (A, A_conj),
                        lambda e: (A_conj if e.func == A else A)(*e.args))


def derive_energy():
    """Per-mode energy through the complex task sums: (S_2 - 2 Re(conj(u) A(conj b)) + |u|^2 beta(|b|^2)) / (2 tau)."""
    u, u_bar = a * c, a_bar * c_bar
    return (S2 - u_bar * A(b_bar) - u * A_conj(b) + u * u_bar * beta(b * b_bar)) / (2 * tau)


def derive_energy_explicit(T: int):
    """The energy of a concrete T as the explicit sum 1/(2 tau) sum_i |d_i - c b^(T-i) a|^2 (d_i, conj d_i symbols)."""
    d = sp.symbols(f"d1:{T + 1}")
    d_bar = sp.symbols(f"dbar1:{T + 1}")
    terms = [(d[i - 1] - c * b ** (T - i) * a) * (d_bar[i - 1] - c_bar * b_bar ** (T - i) * a_bar)
             for i in range(1, T + 1)]
    return sp.Add(*terms) / (2 * tau), d, d_bar


def explicit_sums(T: int, d, d_bar) -> dict:
    """A(z), A_conj(z), beta(x) of a concrete T as polynomials (alpha_k = d_(T-k), w_k = 1)."""
    z = sp.Symbol("z")
    return {A: sp.Lambda(z, sum(d[T - k - 1] * z**k for k in range(T))),
            A_conj: sp.Lambda(z, sum(d_bar[T - k - 1] * z**k for k in range(T))),
            beta: sp.Lambda(z, sum(z**k for k in range(T)))}


def derive_wirtinger_flow(energy):
    """``tau dz/dt = -2 tau dE/d(conj z)`` for z in (a, b, c)."""
    return {v: sp.expand(-2 * tau * sp.diff(energy, CONJUGATE[v])) for v in STATE}


def derive_odes_sum_form():
    """Eqs. (182)-(184) as explicit sums over the steps, with r_i = d_i - c b^(T-i) a (symbolic T)."""
    T, i = sp.symbols("T i", integer=True, positive=True)
    d = sp.IndexedBase("d")
    r = d[i] - c * b ** (T - i) * a
    return {
        a: sp.Sum(b_bar ** (T - i) * c_bar * r, (i, 1, T)),
        b: sp.Sum((T - i) * c_bar * a_bar * b_bar ** (T - i - 1) * r, (i, 1, T - 1)),
        c: sp.Sum(a_bar * b_bar ** (T - i) * r, (i, 1, T)),
    }


def derive_wirtinger_factor():
    """Gradient descent on Re z and Im z, written as a complex rate, over -dE/d(conj z): the factor (= 2).

    For E = |d - z|^2 (any real function would do): d(Re z)/dt + i d(Im z)/dt = -(dE/dx + i dE/dy), and the Wirtinger
    derivative dE/d(conj z) = (dE/dx + i dE/dy) / 2.
    """
    xr, yr = sp.symbols("x y", real=True)
    dr, di = sp.symbols("d_r d_i", real=True)
    z = xr + sp.I * yr
    energy = sp.expand((dr - xr) ** 2 + (di - yr) ** 2)
    descent = -(sp.diff(energy, xr) + sp.I * sp.diff(energy, yr))
    zz, zb = sp.symbols("zz zb")
    wirtinger = -sp.diff((sp.Symbol("dd") - zz) * (sp.Symbol("ddb") - zb), zb)
    wirtinger = wirtinger.subs({zz: z, zb: sp.conjugate(z), sp.Symbol("dd"): dr + sp.I * di,
                                sp.Symbol("ddb"): dr - sp.I * di})
    return sp.simplify(descent / wirtinger)


def derive_conserved_quantity(tau_rates):
    """|a|^2 - |c|^2 and its rate along the flow (0), plus the rate of a^2 - c^2 (not 0 for complex modes)."""
    rates = {v: sums_as_symbols(tau_rates[v]) for v in STATE}
    q = a * a_bar - c * c_bar
    dot = {**rates, **{CONJUGATE[v]: conjugate(rates[v]) for v in STATE}}
    rate = sp.simplify(sp.expand(sum(sp.diff(q, v) * dot[v] for v in dot) / tau))
    naive = sp.simplify(sp.expand(sum(sp.diff(a**2 - c**2, v) * dot[v] for v in dot) / tau))
    return q, rate, naive


def derive_polar_odes():
    """Polar ODEs of b = rho e^(i theta) and u = r e^(i psi) (real symbols rho, theta, r, psi).

    With G = tau db/dt = conj(u) (A'(conj b) - u b beta'(|b|^2)) and H = tau du/dt = (|a|^2 + |c|^2)(A(conj b) -
    u beta(|b|^2)), and |a|^2 + |c|^2 = sqrt(D^2 + 4 r^2) with D = |a|^2 - |c|^2 conserved:
    tau rho' = Re(e^(-i theta) G), tau theta' = Im(e^(-i theta) G) / rho, and likewise for u.
    Returns a dict of sympy expressions in rho, theta, r, psi, D and the complex values A_0, A_1 (at conj b) and the
    real beta_0, beta_1 (at rho^2).
    """
    rho, theta, r, psi = sp.symbols("rho theta r psi", positive=True)
    D = sp.Symbol("D", real=True)
    A0r, A0i, A1r, A1i = sp.symbols("A_0r A_0i A_1r A_1i", real=True)
    B0, B1 = sp.symbols("beta_0 beta_1", positive=True)
    A0, A1 = A0r + sp.I * A0i, A1r + sp.I * A1i
    bv, uv = rho * sp.exp(sp.I * theta), r * sp.exp(sp.I * psi)
    G = sp.conjugate(uv) * (A1 - uv * bv * B1)
    H = sp.sqrt(D**2 + 4 * r**2) * (A0 - uv * B0)

    def split(value, phase, radius):
        rotated = sp.powsimp(sp.expand(sp.exp(-sp.I * phase) * value))  # combine e^(i psi) e^(i theta)
        return (sp.collect(sp.expand(sp.re(rotated)), r),
                sp.factor(sp.expand(sp.im(rotated) / radius), deep=False))

    rho_rate, theta_rate = split(G, theta, rho)
    r_rate, psi_rate = split(H, psi, r)
    return {"tau*drho/dt": rho_rate, "tau*dtheta/dt": theta_rate, "tau*dr/dt": r_rate, "tau*dpsi/dt": psi_rate}


def derive_frozen_io_solution(check: bool = False):
    """u(t) with b frozen and |a| = |c|: tau du/dt = 2|u| (A - u beta), A complex, beta > 0 (closed form).

    Writing u = r e^(i psi), u* = A / beta = (|A| / beta) e^(i psi*) and Delta = psi* - psi:
    tan(Delta/2) = tan(Delta_0/2) e^(-kappa t) with kappa = 2|A|/tau (the angle relaxes at rate kappa, whatever r),
    and 1/r solves a linear ODE: r(t) = G(t) / (1/r_0 + (2 beta / tau) int_0^t G), G = e^(kappa t)(1 + q^2)/(1 + q_0^2),
    q = tan(Delta/2). The radius grows from r_0 at the same rate kappa, so it needs log(r*/r_0)/kappa: angle first,
    radius later. For Delta_0 = 0 this is the real logistic of App. C.

    Returns (psi(t), r(t), the ODE residuals of both (simplified to 0 when ``check``, else None), symbols).
    """
    t, tau_, absA, beta0, r0 = sp.symbols("t tau absA beta_0 r_0", positive=True)
    psi_star, psi0 = sp.symbols("psi_star psi_0", real=True)
    kappa = 2 * absA / tau_
    q0 = sp.tan((psi_star - psi0) / 2)
    q = q0 * sp.exp(-kappa * t)
    psi = psi_star - 2 * sp.atan(q)
    G = sp.exp(kappa * t) * (1 + q**2) / (1 + q0**2)
    integral = ((sp.exp(kappa * t) - 1) + q0**2 * (1 - sp.exp(-kappa * t))) / (kappa * (1 + q0**2))
    r = G / (1 / r0 + 2 * beta0 / tau_ * integral)
    delta = psi_star - psi
    psi_residual = r_residual = None
    if check:  # slow (about 10 s): the proof that the closed form solves the ODEs
        psi_residual = sp.simplify(tau_ * sp.diff(psi, t) - 2 * absA * sp.sin(delta))
        r_residual = sp.simplify(tau_ * sp.diff(r, t) - 2 * r * (absA * sp.cos(delta) - r * beta0))
    symbols = {"t": t, "tau": tau_, "absA": absA, "beta": beta0, "r0": r0, "psi_star": psi_star, "psi0": psi0}
    return psi, r, psi_residual, r_residual, symbols


@dataclass
class ComplexModeFlow:
    """Symbolic learning dynamics of one complex mode.

    Attributes
    ----------
    energy : sympy.Expr
        E(a, conj a, b, conj b, c, conj c) through A(conj b), conj A(b) and beta(|b|^2).
    tau_rates : dict
        ``tau dz/dt = -2 tau dE/d(conj z)`` for z in (a, b, c): eqs. (182)-(184).
    wirtinger : dict
        ``{(z, w): d(tau dz/dt)/dw}`` for w in (a, conj a, b, conj b, c, conj c), in the plain sum symbols.
    conserved, conserved_rate, naive_rate : sympy.Expr
        |a|^2 - |c|^2, its rate (0), and the rate of a^2 - c^2 (not 0).
    polar : dict
        Polar ODEs of b and u (``derive_polar_odes``).
    """

    energy: sp.Expr
    tau_rates: dict
    wirtinger: dict
    conserved: sp.Expr
    conserved_rate: sp.Expr
    naive_rate: sp.Expr
    polar: dict


def derive_complex_mode_flow() -> ComplexModeFlow:
    """Derive everything about one complex mode.

    Examples
    --------
    >>> from lrnn_theory.derivations.complex import derive_complex_mode_flow, a
    >>> flow = derive_complex_mode_flow()
    >>> flow.tau_rates[a]
    -a*c*cbar*beta(b*bbar) + cbar*A(bbar)
    >>> flow.conserved, flow.conserved_rate
    (a*abar - c*cbar, 0)
    """
    energy = derive_energy()
    tau_rates = derive_wirtinger_flow(energy)
    variables = STATE + tuple(CONJUGATE.values())
    wirtinger = {(v, w): sums_as_symbols(sp.diff(tau_rates[v], w)) for v in STATE for w in variables}
    q, q_rate, naive = derive_conserved_quantity(tau_rates)
    return ComplexModeFlow(energy=energy, tau_rates=tau_rates, wirtinger=wirtinger, conserved=q,
                           conserved_rate=q_rate, naive_rate=naive, polar=derive_polar_odes())


def derive_task_sums(alpha, weights, explicit_up_to: int = 12) -> dict:
    """The task sums of one concrete mode, any output layout: A(conj b) = sum_k alpha[k] conj(b)^k and
    beta(x) = sum_k weights[k] x^k at x = |b|^2 (polynomials up to ``explicit_up_to`` powers, lag sums beyond).

    Parameters
    ----------
    alpha, weights : sequences of numbers
        The mode's coefficients (``Task.sum_coefficients``): alpha_k = d_(T-k) for a final output, the lag sums of
        an every-step task; weights 1, or T - k for every step.
    """
    n = len(alpha)
    if n > explicit_up_to:
        k = sp.Symbol("k", integer=True, nonnegative=True)
        return {A(b_bar): sp.Sum(sp.IndexedBase("alpha")[k] * b_bar**k, (k, 0, n - 1)),
                beta(x): sp.Sum(sp.IndexedBase("w")[k] * x**k, (k, 0, n - 1))}
    return {A(b_bar): sp.Add(*[sp.sympify(alpha[k]) * b_bar**k for k in range(n)]),
            beta(x): sp.Add(*[sp.sympify(weights[k]) * x**k for k in range(n)])}
