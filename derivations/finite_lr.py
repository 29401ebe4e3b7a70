"""Beyond gradient flow: the discrete gradient-descent map, its modified flow, and the largest stable learning rate.

Gradient descent with learning rate ``lr`` on a loss convention ``loss = scale * L`` (``L = 1/2 sum_p ||r_p||^2``, the
theory's) moves an aligned network's modes by the exact per-mode map

    theta <- theta - h dE/dtheta,      theta = (a, b, c),   h = lr * tau * scale,

with E the per-mode energy (``mode_flow``) and h the theory time one step advances (the harness's time mapping). The
gradient flow d(theta)/dt = -dE/dtheta is that map's h -> 0 limit; its error after a fixed time is O(h).

Backward error analysis: with the modified energy

    E_h = E + (h/4) ||dE/dtheta||^2        (in theory time units; equivalently loss + (lr/4) ||grad loss||^2),

the flow d(theta)/dt = -dE_h/dtheta = -grad E - (h/2) Hess(E) grad E matches one gradient step to O(h^3) per step, so
the iterates stay O(h^2) from it. The constant 1/4 is not assumed: ``derive_correction_constant`` expands the flow of
E + k h ||grad E||^2 over one step to second order in h and solves for the k that matches the step.

Stability: at a zero-loss solution the per-mode Hessian of L in (a, b, c) is J^T J with J_k = d(u b^k)/d(a, b, c); it
has the null direction (a, 0, -c) and two positive eigenvalues, the larger

    lambda_max = [ s S_0 + u^2 S_2 + sqrt((s S_0 - u^2 S_2)^2 + 4 s u^2 S_1^2) ] / 2,   s = a^2 + c^2,
    S_0 = sum_k b^(2k),  S_1 = sum_k k b^(2k-1),  S_2 = sum_k k^2 b^(2k-2)   (k = T - i = 0..T-1),

so gradient descent on ``sum_half`` is linearly stable at the solution iff lr < 2 / lambda_max (on another convention:
lr < 2 / (scale * lambda_max)). Gradient descent keeps a balanced mode (a = c) balanced exactly (a^2 - c^2 is
multiplied by 1 - h^2 g^2 each step), so from a balanced start the solution reached is a = c = sqrt(u*), s = 2 u*.

Complex modes (rotational tasks): gradient descent on the real and imaginary parts is z <- z - 2 h dE/d(conj z), and
with real coordinates ||grad E||^2 = sum_z 4 |dE/d(conj z)|^2, so E_h = E + h sum_z dE/dz dE/d(conj z) from the
complex energy of ``derivations.complex``; ``derive_complex_modified_flow`` derives its Wirtinger rates and Jacobian
and checks that the constant 1/4 carries over (the h^2 term vanishes). The stable bound of any kind of task is the
top eigenvalue of the Hessian in the real coordinates, tau times minus the flow's Jacobian (computed numerically).

Run ``lrnn derive --result finite-lr [--format latex|pretty|text]`` to print every closed form.
"""
from __future__ import annotations

import sympy as sp

from lrnn_theory.errors import bad

from . import derivation
from . import complex as cx
from .mode_flow import A, B, STATE, SUM_SYMBOLS, T, a, b, c, derive_energy, tau, u
from .stability import delta, family_profile, lam  # noqa: F401 (delta, lambda: the family bounds' parameters)

#: Theory time advanced by one gradient step, h = lr * tau * scale.
h = sp.Symbol("h", positive=True)
lr = sp.Symbol("eta", positive=True)
scale = sp.Symbol("scale", positive=True)
kappa_bea = sp.Symbol("k")  # the unknown constant of the correction, solved for
#: Plain symbols of the third derivatives A'''(b), B'''(b) (the Jacobian of the modified flow needs them).
THIRD_SUM_SYMBOLS = sp.symbols("A_3 B_3", real=True)
#: Geometric sums at a zero-loss solution and the balance s = a^2 + c^2.
S0, S1, S2g = sp.symbols("S_0 S_1 S_2", nonnegative=True)
s_bal = sp.Symbol("s", positive=True)
k_sum = sp.Symbol("k", integer=True, nonnegative=True)

BOUND_FAMILIES = ("constant", "inverse_exponential", "exponential")


def gradient(expr):
    """(dexpr/da, dexpr/db, dexpr/dc) as a column Matrix."""
    return sp.Matrix([sp.diff(expr, v) for v in STATE])


def all_sums_as_symbols(expr):
    """A(b), B(b) and their first three b-derivatives -> A_0..A_3, B_0..B_3 (for lambdify).

    A structural replacement (``xreplace``): it matches whole Derivative nodes before their insides, and is much
    faster than ``subs`` on the large expressions of the modified flow's Jacobian.
    """
    A0, A1, A2, B0, B1, B2 = SUM_SYMBOLS
    A3, B3 = THIRD_SUM_SYMBOLS
    table = {A(b): A0, B(b): B0}
    for order, (a_sym, b_sym) in enumerate(((A1, B1), (A2, B2), (A3, B3)), start=1):
        table[sp.Derivative(A(b), (b, order))] = a_sym
        table[sp.Derivative(B(b), (b, order))] = b_sym
    return expr.xreplace(table)


# ---- one gradient step in theory time ----------------------------------------------------------------------------
@derivation
def derive_gd_step():
    """One step of the harness, a <- a - lr * scale * dL/da with L = tau E, written in theory time.

    Returns the step per state variable and the time step h it implies (checked: the step equals -h dE/dtheta with
    h = lr * tau * scale).
    """
    E = derive_energy()
    L = tau * E
    step = {v: -lr * scale * sp.diff(L, v) for v in STATE}
    h_implied = sp.simplify(step[a] / (-sp.diff(E, a)))
    return {"step": step, "h": h_implied}


# ---- backward error analysis ---------------------------------------------------------------------------------------
@derivation
def derive_correction_constant():
    """Solve for the k in E + k h ||grad E||^2 whose flow matches one gradient step x - h grad E to O(h^3).

    The flow of F = F_0 + h F_1 over a time h is x + h F + (h^2/2) (DF) F + O(h^3)
    = x + h F_0 + h^2 (F_1 + 1/2 DF_0 F_0) + O(h^3); the gradient step is x + h F_0. So the h^2 term must vanish for
    each of a, b, c. Returns ``{"k": 1/4, "residual": the h^2 term at k = 1/4 (all zeros)}``.
    """
    E = derive_energy()
    grad = gradient(E)
    F0 = -grad
    F1 = -kappa_bea * gradient(sum(g**2 for g in grad))
    DF0 = F0.jacobian(sp.Matrix(STATE))
    second = F1 + DF0 * F0 / 2
    # The h^2 term of a is linear in k: its root read off the coefficients (what solve finds, at a fifth of its cost).
    linear = sp.Poly(sp.expand(second[0]), kappa_bea)
    if linear.degree() != 1:  # pragma: no cover - would mean the energy changed
        raise RuntimeError(f"the h^2 term {linear.as_expr()} is not linear in k")
    k_value = sp.cancel(-linear.coeff_monomial(1) / linear.coeff_monomial(kappa_bea))
    residual = second.subs(kappa_bea, k_value).applyfunc(sp.expand)  # a polynomial in a, c, A, B, ...: expand suffices
    return {"k": k_value, "residual": residual}


@derivation
def derive_modified_flow():
    """Modified energy E_h = E + (h/4) ||grad E||^2 and its flow d(theta)/dt = -grad E_h, with the Jacobian.

    Returns
    -------
    dict
        ``energy``: E_h (task sums A(b), B(b) left undefined); ``rates``: {theta: d(theta)/dt}; ``correction``:
        {theta: the O(h) part of the rate, -(h/2) (Hess E grad E)_theta}; ``jacobian``: d(rates)/d(a, b, c) (3x3,
        it needs A''' and B'''), ``k``: the constant 1/4 from ``derive_correction_constant``.
    """
    k_value = derive_correction_constant()["k"]
    E = derive_energy()
    grad = gradient(E)
    E_h = E + k_value * h * sum(g**2 for g in grad)
    rates = {v: -sp.diff(E_h, v) for v in STATE}
    correction = {v: sp.expand(rates[v] + sp.diff(E, v)) for v in STATE}
    jac = sp.Matrix([[sp.diff(rates[v], w) for w in STATE] for v in STATE])
    return {"energy": E_h, "rates": rates, "correction": correction, "jacobian": jac, "k": k_value}


# ---- complex modes (rotational tasks, App. N) ---------------------------------------------------------------------
#: Plain symbols of the complex task sums up to third order: A^(n)(conj b), conj(A^(n)(conj b)) = Abar^(n)(b) for
#: n = 0..3 and the Wirtinger partials B_ij of B(b, conj b) with i + j <= 3 (the arguments of the compiled complex
#: modified flow).
COMPLEX_SUM_SYMBOLS = cx.sum_symbols(3)


def complex_sums_as_symbols(expr):
    """A(conj b), Abar(b), B(b, conj b) and their derivatives up to third order -> ``COMPLEX_SUM_SYMBOLS``."""
    return cx.sums_as_symbols(expr)


#: Complex state and its conjugates, in the order of the compiled Wirtinger Jacobian's columns.
COMPLEX_VARIABLES = (cx.a, cx.a_bar, cx.b, cx.b_bar, cx.c, cx.c_bar)


@derivation
def derive_complex_modified_flow(diagonal: bool = False):
    """The modified flow of complex modes: E_h = E + (h/4) ||grad E||^2 in the real coordinates (Re z, Im z).

    With z = x + i y, (dE/dx)^2 + (dE/dy)^2 = 4 |dE/d(conj z)|^2 = 4 dE/dz dE/d(conj z) (E is real), so
    E_h = E + h sum_z dE/dz dE/d(conj z), and gradient descent on (x, y) is the Wirtinger rate
    dz/dt = -2 dE_h/d(conj z) (``derivations.complex``). E is the complex energy of ``derivations.complex``
    (through A(conj b), Abar(b) and the real B(b, conj b) of any gram matrix G: inputs correlated across time too;
    ``diagonal``: through beta(|b|^2) instead, the diagonal-G form, for the check that the general flow reduces to it).

    Returns
    -------
    dict
        ``energy``: E_h; ``tau_rates``: {z: tau dz/dt}; ``wirtinger``: 3x6 nested list of d(tau dz/dt)/dw for
        w in (a, conj a, b, conj b, c, conj c) (third derivatives of the sums appear); ``residual``: the h^2 term of
        (modified flow over a time h) - (one gradient step), per z (all zeros: the constant 1/4 carries over).
    """
    E = cx.derive_energy(diagonal=diagonal)
    grad = {z: sp.diff(E, z) for z in cx.STATE}
    grad_bar = {z: sp.diff(E, cx.CONJUGATE[z]) for z in cx.STATE}
    E_h = E + h * sum(grad[z] * grad_bar[z] for z in cx.STATE)
    rates = {z: -2 * sp.diff(E_h, cx.CONJUGATE[z]) for z in cx.STATE}
    tau_rates = {z: sp.expand(tau * rates[z]) for z in cx.STATE}
    wirtinger = [[sp.diff(tau_rates[z], w) for w in COMPLEX_VARIABLES] for z in cx.STATE]
    # One gradient step is z + h F0 (F0 = -2 dE/d conj z); the flow of F0 + h F1 over a time h is
    # z + h F0 + h^2 (F1 + (1/2) dF0/dt) + O(h^3), dF0/dt = sum_w dF0/dw F0_w + dF0/d(conj w) conj(F0_w).
    F0 = {z: -2 * grad_bar[z] for z in cx.STATE}
    F0_bar = {z: -2 * grad[z] for z in cx.STATE}
    residual = []
    for z in cx.STATE:
        F1 = sp.expand((rates[z] - F0[z]) / h)
        drift = sum(sp.diff(F0[z], w) * F0[w] + sp.diff(F0[z], cx.CONJUGATE[w]) * F0_bar[w] for w in cx.STATE)
        residual.append(sp.expand(F1 + drift / 2))
    return {"energy": E_h, "tau_rates": tau_rates, "wirtinger": wirtinger, "residual": residual}


@derivation
def derive_balance_under_gd():
    """a^2 - c^2 after one gradient step, divided by a^2 - c^2 before it: 1 - h^2 g^2, g = (A - u B)/tau."""
    E = derive_energy()
    a1 = a - h * sp.diff(E, a)
    c1 = c - h * sp.diff(E, c)
    return sp.factor(sp.simplify((a1**2 - c1**2) / (a**2 - c**2)))


# ---- stability at the zero-loss solutions --------------------------------------------------------------------------
@derivation
def derive_zero_loss_hessian():
    """Hessian of L = 1/2 sum_k (s_k - u b^k)^2 in (a, b, c) at zero loss, its eigenvalues and the lr bound.

    At zero loss the Hessian is J^T J, J_k = d(a c b^k)/d(a, b, c); summed over k it is written through
    S_0 = sum b^(2k), S_1 = sum k b^(2k-1), S_2 = sum k^2 b^(2k-2). Returns ``hessian`` (3x3), ``null_vector``
    (a, 0, -c), ``eigenvalues`` (0 and the two roots, in terms of s = a^2 + c^2), ``lambda_max`` and ``lr_bound``
    = 2 / lambda_max (learning rate on ``sum_half``; divide by ``scale`` for other conventions).
    """
    # J^T J, entry by entry: sum_k dp/dx dp/dy with p = a c b^k, grouped into the sums S_0, S_1, S_2
    v = sp.Matrix([c, a * c, a])          # d p / d(a, b, c) without the power of b: (c b^k, a c k b^(k-1), a b^k)
    weights = sp.Matrix([[S0, S1, S0], [S1, S2g, S1], [S0, S1, S0]])
    H = sp.Matrix(3, 3, lambda p, q: v[p] * v[q] * weights[p, q])
    null = sp.Matrix([a, 0, -c])
    if sp.simplify(H * null) != sp.zeros(3, 1):
        raise RuntimeError("(a, 0, -c) is not a null direction of the zero-loss Hessian")
    # The other two eigenvectors lie in the span of e_1 = (c, 0, a)/sqrt(s) and e_b = (0, 1, 0): reduce to 2x2.
    norm2 = a**2 + c**2
    e1 = sp.Matrix([c, 0, a])
    eb = sp.Matrix([0, 1, 0])

    def in_s_u(expr):
        return sp.factor(expr).subs(norm2, s_bal).subs(a * c, u)

    M = sp.Matrix([[in_s_u(sp.cancel((e1.T * H * e1)[0] / norm2)), in_s_u((e1.T * H * eb)[0]) / sp.sqrt(s_bal)],
                   [0, in_s_u((eb.T * H * eb)[0])]])
    M[1, 0] = M[0, 1]
    mu = sp.Symbol("mu")
    roots = list(sp.roots(M.charpoly(mu).as_expr(), mu))  # a quadratic: its two roots by formula, as solve gives them
    trace = M[0, 0] + M[1, 1]
    lam_max = trace / 2 + sp.sqrt(sp.expand((M[0, 0] - M[1, 1]) ** 2 + 4 * M[0, 1] ** 2)) / 2
    if not any(sp.simplify(lam_max - r) == 0 for r in roots):
        raise RuntimeError("lambda_max is not an eigenvalue of the reduced Hessian")
    return {"hessian": H, "null_vector": null, "reduced": M, "eigenvalues": [sp.Integer(0)] + roots,
            "lambda_max": lam_max,
            "lr_bound": sp.simplify(2 / lam_max)}


@derivation
def _geometric_sums_symbolic():
    """S_0, S_1, S_2 summed by sympy over k = 0..T-1 at a symbolic b: (general branch for b^2 != 1, value at b = 1)."""
    def branches(expr):
        if isinstance(expr, sp.Piecewise):
            at_one = [e for e, cond in expr.args if cond is not sp.true][0]
            return expr.args[-1][0], sp.factor(at_one.subs(b, 1))
        return expr, sp.factor(expr.subs(b, 1))

    sums = {S0: sp.summation(b ** (2 * k_sum), (k_sum, 0, T - 1)),
            S1: sp.summation(k_sum * b ** (2 * k_sum - 1), (k_sum, 0, T - 1)),
            S2g: sp.summation(k_sum**2 * b ** (2 * k_sum - 2), (k_sum, 0, T - 1))}
    return {key: branches(val) for key, val in sums.items()}


@derivation
def derive_geometric_sums(b_value):
    """S_0 = sum b^(2k), S_1 = sum k b^(2k-1), S_2 = sum k^2 b^(2k-2) over k = 0..T-1 at b = b_value, closed forms
    in T (sympy summation; the b = 1 branch when b_value is 1)."""
    general = _geometric_sums_symbolic()
    if b_value == 1:
        return {key: val[1] for key, val in general.items()}
    return {key: sp.factor(sp.powsimp(sp.expand(val[0].subs(b, b_value)), force=True)) for key, val in general.items()}


@derivation
def derive_family_lr_bound(family: str):
    """Largest stable learning rate (``sum_half``) at the balanced zero-loss solution of a base family, symbolic T.

    The solution (notes §5.1): constant b = 1, u = delta; inverse-exponential b = lambda, u = delta; exponential
    b = 1/lambda, u = delta lambda^T. Balanced: a = c = sqrt(u), s = 2u.
    """
    if family not in BOUND_FAMILIES:

        raise bad("family", family, f"be one of {', '.join(BOUND_FAMILIES)}")
    b_star = {"constant": sp.Integer(1), "inverse_exponential": lam, "exponential": 1 / lam}[family]
    u_star = sp.simplify(family_profile(family, T))  # s_T
    hess = derive_zero_loss_hessian()
    sums = derive_geometric_sums(b_star)
    lam_max = hess["lambda_max"].subs(sums).subs({s_bal: 2 * u, u: u_star})
    if family == "constant":
        lam_max = sp.factor(lam_max)
    return {"b": b_star, "u": u_star, "sums": sums, "lambda_max": lam_max, "lr_bound": 2 / lam_max}
