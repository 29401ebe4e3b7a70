"""Rotational tasks: complex connectivity modes, Wirtinger flow, polar coordinates (paper App. N-O, eqs. 182-189).

When the correlations rotate, Sigma^{YX_i} = P D_i P^dagger with P unitary and D_i complex diagonal, each mode has
complex strengths a, b, c and complex "singular values" (eigenvalues) d_i. With k = T - i and u = a c,

    E = 1/(2 tau) E_x |y - c a sum_i b^(T-i) x_i|^2
      = 1/(2 tau) (S_2 - 2 Re(conj(u) A(conj(b))) + |u|^2 B(b, conj b)),
    A(z) = sum_k alpha_k z^k  (alpha_k = d_(T-k), so A(conj(b)) = sum_i d_i conj(b)^(T-i)),
    B(b, conj b) = sum_(k, l) G_kl conj(b)^k b^l   (G Hermitian, so B is real).

These are the engine's task sums (``lrnn_theory.task_sums``). B is written here as an undefined real function of
(b, conj b), so the flow holds for any gram matrix G: white inputs (G = I, B = sum_k |b|^(2k)), every-step outputs
(G = diag(T - k)), and inputs correlated across time (a full G, ``derivations.correlated``). A diagonal G is the
special case B = beta(|b|^2), beta(x) = sum_k w_k x^k (``derive_diagonal_limit`` checks that the general flow gives
the diagonal one there). The flow reads B through its Wirtinger partials B_ij = d^(i+j) B / db^i d(conj b)^j; B real
gives B_ji = conj(B_ij), so dB/db = conj(dB/d(conj b)).

Gradient descent on the real and imaginary parts of z is d(Re z)/dt + i d(Im z)/dt = -(dE/dRe z + i dE/dIm z) =
-2 dE/d(conj z): the Wirtinger flow carries a factor 2 that S1's eqs. (187)-(189) drop (``derive_wirtinger_factor``
proves it). The derivation treats z and conj(z) as independent symbols (``a``, ``a_bar``, ...), as Wirtinger calculus
does.

Results: the ODEs (eqs. 182-184) through the task sums and as explicit sums, their Wirtinger derivatives (from which
the numeric engine builds 6x6 real Jacobian blocks per mode), the conserved quantity |a|^2 - |c|^2 (a^2 - c^2 is
not conserved; it holds for any real B), the polar ODEs of b = rho e^(i theta) and u = r e^(i psi) (a non-diagonal
B turns b through dB/dtheta), and the closed-form input-output solution with b frozen and |a| = |c|, in which the
angle of u relaxes on the time scale tau / (2 |A|) while the radius needs that times log(r* / r(0)): "angle first,
radius later" (App. O).

Run ``lrnn derive --result complex [--format latex|pretty|text]`` to print every closed form.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from . import derivation
from .mode_flow import tau

# Complex mode strengths and their conjugates, independent symbols (Wirtinger calculus).
a, b, c = sp.symbols("a b c")
a_bar, b_bar, c_bar = sp.symbols("abar bbar cbar")
STATE = (a, b, c)
CONJUGATE = {a: a_bar, b: b_bar, c: c_bar}
#: Squared norm of the task's eigenvalue profile, sum_i |d_i|^2 (the energy offset ``norm`` of the task sums).
S2 = sp.Symbol("S_2", nonnegative=True)
#: A(z) = sum_k alpha_k z^k (taken at conj(b)); A_conj(z) = sum_k conj(alpha_k) z^k = conj(A(conj(z))) (taken at b);
#: B(b, conj b) = sum_kl G_kl conj(b)^k b^l, real; beta(x) = sum_k w_k x^k, the diagonal case B = beta(|b|^2).
A = sp.Function("A")
A_conj = sp.Function("Abar")
B = sp.Function("B")
beta = sp.Function("beta")
x = sp.Symbol("x", nonnegative=True)

#: Wirtinger partials (i, j) = d^(i+j) B / db^i d(conj b)^j of B up to total order 3, by total order, i ascending
#: within an order: the order of the B arguments of the compiled functions.
B_PARTIALS = tuple((i, m - i) for m in range(4) for i in range(m + 1))
#: The partials with i <= j (B_ji = conj(B_ij) gives the rest): what ``TaskSums.evaluate_complex`` returns, in order.
B_PARTIALS_EVALUATED = tuple((i, j) for i, j in B_PARTIALS if i <= j)


def partial_symbol(i: int, j: int) -> sp.Symbol:
    """The plain symbol of B_ij = d^(i+j) B / db^i d(conj b)^j at (b, conj b)."""
    return sp.Symbol(f"B_{i}{j}")


def partials(order: int) -> tuple:
    """The partials (i, j) of ``B_PARTIALS`` with i + j <= order."""
    return tuple(p for p in B_PARTIALS if sum(p) <= order)


def sum_symbols(order: int) -> tuple:
    """Plain symbols of the sums up to derivative ``order``, the arguments of the compiled numeric functions:
    A^(n)(conj b), conj(A^(n)(conj b)) for n = 0..order, then B_ij for i + j <= order (``B_PARTIALS`` order)."""
    return (sp.symbols(f"A_0:{order + 1}") + sp.symbols(f"Ac_0:{order + 1}")
            + tuple(partial_symbol(i, j) for i, j in partials(order)))


#: The sums of the gradient flow (its Jacobian reads second derivatives).
SUM_SYMBOLS = sum_symbols(2)


def sums_as_symbols(expr):
    """Replace A(conj b), conj A(b), B(b, conj b) and their derivatives (up to third order) by plain symbols
    (``sum_symbols(3)``; the gradient flow's expressions hold those of ``SUM_SYMBOLS`` only)."""
    As, Acs = sp.symbols("A_0:4"), sp.symbols("Ac_0:4")

    def counts(e):
        return dict(e.variable_count)

    def swap(e):
        inner = e.expr
        if not isinstance(inner, sp.Function):
            return e
        if inner == B(b, b_bar):
            n = counts(e)
            return partial_symbol(n.get(b, 0), n.get(b_bar, 0))
        if inner == A(b_bar):
            return As[counts(e)[b_bar]]
        if inner == A_conj(b):
            return Acs[counts(e)[b]]
        return e

    expr = expr.replace(lambda e: isinstance(e, sp.Derivative), swap)
    return expr.xreplace({A(b_bar): As[0], A_conj(b): Acs[0], B(b, b_bar): partial_symbol(0, 0)})


def conjugate(expr):
    """Complex conjugate of an expression in the independent symbols and the plain sum symbols (swap z and conj z,
    A_n and Ac_n, B_ij and B_ji; B is real)."""
    swap = {a: a_bar, a_bar: a, b: b_bar, b_bar: b, c: c_bar, c_bar: c}
    As, Acs = sp.symbols("A_0:4"), sp.symbols("Ac_0:4")
    swap.update({**dict(zip(As, Acs)), **dict(zip(Acs, As))})
    swap.update({partial_symbol(i, j): partial_symbol(j, i) for i, j in B_PARTIALS})
    return expr.xreplace(swap)


def derive_energy(diagonal: bool = False):
    """Per-mode energy through the complex task sums: (S_2 - 2 Re(conj(u) A(conj b)) + |u|^2 B(b, conj b)) / (2 tau).

    ``diagonal``: the diagonal-G form with B = beta(|b|^2) instead (the flow before inputs correlated across time;
    ``derive_diagonal_limit`` compares both)."""
    u, u_bar = a * c, a_bar * c_bar
    B_value = beta(b * b_bar) if diagonal else B(b, b_bar)
    return (S2 - u_bar * A(b_bar) - u * A_conj(b) + u * u_bar * B_value) / (2 * tau)


def derive_energy_explicit(T: int):
    """The energy of a concrete T as the explicit sum 1/(2 tau) sum_i |d_i - c b^(T-i) a|^2 (d_i, conj d_i symbols)."""
    d = sp.symbols(f"d1:{T + 1}")
    d_bar = sp.symbols(f"dbar1:{T + 1}")
    terms = [(d[i - 1] - c * b ** (T - i) * a) * (d_bar[i - 1] - c_bar * b_bar ** (T - i) * a_bar)
             for i in range(1, T + 1)]
    return sp.Add(*terms) / (2 * tau), d, d_bar


def explicit_sums(T: int, d, d_bar) -> dict:
    """A(z), A_conj(z), B(p, q) and beta(x) of a concrete white T as polynomials (alpha_k = d_(T-k), G = I, w_k = 1)."""
    z, p, q = sp.symbols("z p q")
    return {A: sp.Lambda(z, sum(d[T - k - 1] * z**k for k in range(T))),
            A_conj: sp.Lambda(z, sum(d_bar[T - k - 1] * z**k for k in range(T))),
            B: sp.Lambda((p, q), sum(q**k * p**k for k in range(T))),
            beta: sp.Lambda(z, sum(z**k for k in range(T)))}


def with_gram(expr, G):
    """``expr`` with B(b, conj b) = sum_kl G[k][l] conj(b)^k b^l (a concrete matrix G) and every derivative done."""
    p, q = sp.symbols("p q")
    n = len(G)
    poly = sp.Lambda((p, q), sp.Add(*[sp.sympify(G[k][l]) * q**k * p**l for k in range(n) for l in range(n)]))
    return expr.replace(lambda e: isinstance(e, sp.Function) and e.func == B, lambda e: poly(*e.args)).doit()


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


@derivation
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
    return sp.cancel(descent / wirtinger)  # a ratio of polynomials in x, y, d_r, d_i, I: cancel is enough


def derive_conserved_quantity(tau_rates):
    """|a|^2 - |c|^2 and its rate along the flow (0), plus the rate of a^2 - c^2 (not 0 for complex modes).

    The rate is 0 for any real B (it cancels through conj(B) = B, ``conjugate``), so a full gram matrix G keeps it."""
    rates = {v: sums_as_symbols(tau_rates[v]) for v in STATE}
    q = a * a_bar - c * c_bar
    dot = {**rates, **{CONJUGATE[v]: conjugate(rates[v]) for v in STATE}}
    # Expanded polynomials over tau: pulling out their common factor is all simplify did (100x cheaper).
    rate = sp.factor_terms(sp.expand(sum(sp.diff(q, v) * dot[v] for v in dot) / tau))
    naive = sp.factor_terms(sp.expand(sum(sp.diff(a**2 - c**2, v) * dot[v] for v in dot) / tau))
    return q, rate, naive


@derivation
def derive_polar_odes():
    """Polar ODEs of b = rho e^(i theta) and u = r e^(i psi) (real symbols rho, theta, r, psi).

    With G = tau db/dt = conj(u) (A'(conj b) - u dB/d(conj b)) and H = tau du/dt = (|a|^2 + |c|^2)(A(conj b) - u B),
    and |a|^2 + |c|^2 = sqrt(D^2 + 4 r^2) with D = |a|^2 - |c|^2 conserved:
    tau rho' = Re(e^(-i theta) G), tau theta' = Im(e^(-i theta) G) / rho, and likewise for u. B enters through its
    polar partials B_rho = dB/drho and B_theta = dB/dtheta (real): the chain rule d/drho = e^(i theta) d/db +
    e^(-i theta) d/d(conj b), d/dtheta = i rho (e^(i theta) d/db - e^(-i theta) d/d(conj b)) with dB/db =
    conj(dB/d(conj b)) is solved here for dB/d(conj b) = e^(i theta) (B_rho + i B_theta / rho) / 2. A diagonal G
    (B = beta(rho^2)) has B_rho = 2 rho beta'(rho^2) and B_theta = 0; a full G turns b through B_theta.

    Returns a dict of sympy expressions in rho, theta, r, psi, D, the complex values A_0, A_1 (at conj b, by real
    and imaginary part) and the real B_0 = B, B_rho, B_theta at b; and ``"dB/dbbar"``, the solved chain rule.
    """
    rho, theta, r, psi = sp.symbols("rho theta r psi", positive=True)
    D = sp.Symbol("D", real=True)
    A0r, A0i, A1r, A1i = sp.symbols("A_0r A_0i A_1r A_1i", real=True)
    B0 = sp.Symbol("B_0", positive=True)
    B_rho, B_theta = sp.symbols("B_rho B_theta", real=True)
    P, Q = sp.symbols("P Q", real=True)  # dB/d(conj b) = P + i Q
    phase = sp.exp(sp.I * theta)
    wirtinger, wirtinger_conj = P + sp.I * Q, P - sp.I * Q
    chain = [phase * wirtinger_conj + wirtinger / phase - B_rho,
             sp.I * rho * (phase * wirtinger_conj - wirtinger / phase) - B_theta]
    parts = [sp.expand_complex(sp.expand(e)) for e in chain]
    solved = sp.solve([sp.re(e) for e in parts] + [sp.im(e) for e in parts], [P, Q], dict=True)[0]
    # cos and sin back to e^(i theta): the expanded form factors to simplify's result (30x cheaper).
    dB_dbbar = sp.factor(sp.expand((solved[P] + sp.I * solved[Q]).rewrite(sp.exp)))
    A0, A1 = A0r + sp.I * A0i, A1r + sp.I * A1i
    uv = r * sp.exp(sp.I * psi)
    G = sp.conjugate(uv) * (A1 - uv * dB_dbbar)
    H = sp.sqrt(D**2 + 4 * r**2) * (A0 - uv * B0)

    def split(value, phase, radius):
        rotated = sp.powsimp(sp.expand(sp.exp(-sp.I * phase) * value))  # combine e^(i psi) e^(i theta)
        rotated = sp.expand(sp.expand_complex(rotated))
        return (sp.collect(sp.expand(sp.re(rotated)), r),
                sp.factor(sp.expand(sp.im(rotated) / radius), deep=False))

    rho_rate, theta_rate = split(G, theta, rho)
    r_rate, psi_rate = split(H, psi, r)
    return {"tau*drho/dt": rho_rate, "tau*dtheta/dt": theta_rate, "tau*dr/dt": r_rate, "tau*dpsi/dt": psi_rate,
            "dB/dbbar": dB_dbbar}


@derivation
def derive_frozen_io_solution(check: bool = False):
    """u(t) with b frozen and |a| = |c|: tau du/dt = 2|u| (A - u beta), A complex, beta = B(b, conj b) > 0 at the
    frozen b (any G) (closed form).

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
        E(a, conj a, b, conj b, c, conj c) through A(conj b), conj A(b) and the real B(b, conj b).
    tau_rates : dict
        ``tau dz/dt = -2 tau dE/d(conj z)`` for z in (a, b, c): eqs. (182)-(184).
    wirtinger : dict
        ``{(z, w): d(tau dz/dt)/dw}`` for w in (a, conj a, b, conj b, c, conj c), in the plain sum symbols
        (A_n, Ac_n, and the Wirtinger partials B_ij of B up to second order).
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


@derivation  # 1 s of sympy per call
def derive_complex_mode_flow() -> ComplexModeFlow:
    """Derive everything about one complex mode.

    Examples
    --------
    >>> from lrnn_theory.derivations.complex import derive_complex_mode_flow, a
    >>> flow = derive_complex_mode_flow()
    >>> flow.tau_rates[a]
    -a*c*cbar*B(b, bbar) + cbar*A(bbar)
    >>> flow.tau_rates[b]
    -a*abar*c*cbar*Derivative(B(b, bbar), bbar) + abar*cbar*Derivative(A(bbar), bbar)
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


@derivation
def derive_diagonal_limit() -> dict:
    """The general flow at a diagonal G minus the diagonal one: B(b, conj b) = beta(b conj b) substituted into the
    energy, the rates and their Wirtinger derivatives, less the same derived from the energy with beta(|b|^2) (the
    flow before inputs correlated across time). Returns ``{name: residual}``, every residual 0 after ``expand``."""
    p, q = sp.symbols("p q")
    diagonal_B = sp.Lambda((p, q), beta(p * q))

    def at_diagonal(expr):
        return expr.replace(lambda e: isinstance(e, sp.Function) and e.func == B,
                            lambda e: diagonal_B(*e.args)).doit()

    general, diagonal = derive_energy(), derive_energy(diagonal=True)
    rates, rates_d = derive_wirtinger_flow(general), derive_wirtinger_flow(diagonal)
    out = {"energy": sp.expand(at_diagonal(general) - diagonal)}
    variables = STATE + tuple(CONJUGATE.values())
    for v in STATE:
        out[f"tau d{v}/dt"] = sp.expand(at_diagonal(rates[v]) - rates_d[v])
        for w in variables:
            out[f"d(tau d{v}/dt)/d{w}"] = sp.expand(at_diagonal(sp.diff(rates[v], w)) - sp.diff(rates_d[v], w))
    return out


def derive_task_sums(alpha, weights=None, explicit_up_to: int = 12, gram=None) -> dict:
    """The task sums of one concrete mode, any output layout: A(conj b) = sum_k alpha[k] conj(b)^k and
    beta(x) = sum_k weights[k] x^k at x = |b|^2 (a diagonal G), or B(b, conj b) = sum_kl G_kl conj(b)^k b^l (a full
    G, inputs correlated across time); polynomials up to ``explicit_up_to`` powers, sums beyond.

    Parameters
    ----------
    alpha, weights : sequences of numbers
        The mode's coefficients (``Task.sum_coefficients``): alpha_k = d_(T-k) for a final output, the lag sums of
        an every-step task; weights 1, or T - k for every step.
    gram : n x n nested sequence of numbers, optional
        The mode's full G (``lrnn_theory.correlated.gram``), instead of ``weights``.
    """
    n = len(alpha)
    k, l = sp.symbols("k l", integer=True, nonnegative=True)
    if n > explicit_up_to:
        A_expr = sp.Sum(sp.IndexedBase("alpha")[k] * b_bar**k, (k, 0, n - 1))
    else:
        A_expr = sp.Add(*[sp.sympify(alpha[k]) * b_bar**k for k in range(n)])
    if gram is not None:
        if n > explicit_up_to:
            B_expr = sp.Sum(sp.IndexedBase("G")[k, l] * b_bar**k * b**l, (k, 0, n - 1), (l, 0, n - 1))
        else:
            B_expr = sp.Add(*[sp.sympify(gram[k][l]) * b_bar**k * b**l for k in range(n) for l in range(n)])
        return {A(b_bar): A_expr, B(b, b_bar): B_expr}
    if n > explicit_up_to:
        return {A(b_bar): A_expr, beta(x): sp.Sum(sp.IndexedBase("w")[k] * x**k, (k, 0, n - 1))}
    return {A(b_bar): A_expr, beta(x): sp.Add(*[sp.sympify(weights[k]) * x**k for k in range(n)])}
