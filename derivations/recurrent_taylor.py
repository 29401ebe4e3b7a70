"""Recurrent mode with the input-output mode frozen: flow field, its derivatives, local Taylor series (App. D).

With u = a c frozen, b follows tau db/dt = g(b), where the flow field is (derived here from ``mode_flow``)

    g(b) = -tau dE/db = u A'(b) - u^2 B'(b)/2
         = sum_{i=1}^{T-1} (T-i) s_i u b^(T-i-1) - sum_{i=1}^{T-1} (T-i) u^2 b^(2(T-i)-1).

* Its (n-1)-th b-derivative in closed form, the paper's eq. (49), is written with ``Product`` and checked in the
  tests against ``sympy.diff``; the derived form, in falling factorials (d^m b^p / db^m = p^(m falling) b^(p-m)),
  is given too.
* The time derivatives of b, in units of tau (so db/ds = g with s = t/tau), follow from Faa di Bruno's formula:
  b^(1) = g and, for n >= 2, b^(n) = d^(n-1)/ds^(n-1) g(b(s)) = sum_{k=1}^{n-1} g^(k)(b) B_{n-1,k}(b^(1), ...,
  b^(n-k)), with B_{n,k} the partial Bell polynomials (``sympy.bell(n, k, symbols)``). Every b^(n) is a polynomial
  in g_k := g^(k)(b), to any requested order; in time t, b^(n) picks up a factor tau^(-n) (b^(n) has degree n in
  the g_k).
* The paper's approximation b(s) ~ sum_n b^(n)(0) s^n / n! is re-expanded over windows of length Delta
  (``lrnn_theory.frozen.integrate_recurrent_taylor``).

Run ``lrnn derive --result recurrent-taylor [--format latex|pretty|text]``.
"""
from __future__ import annotations

import sympy as sp

from lrnn_theory.errors import check_int

from . import derivation
from . import mode_flow as mf

b, T, i, s, tau = mf.b, mf.T, mf.i, mf.s, mf.tau
u = sp.Symbol("u", real=True)
n = sp.Symbol("n", integer=True, positive=True)
j = sp.Symbol("j", integer=True, positive=True)
m = sp.Symbol("m", integer=True, nonnegative=True)

#: Default number of time derivatives printed by ``lrnn derive --result recurrent-taylor``.
DEFAULT_ORDER = 6


def g_symbols(count: int):
    """Symbols g_0, g_1, ..., g_{count-1} standing for the b-derivatives g^(k)(b) of the flow field."""
    return sp.symbols(f"g_0:{count}", real=True)


@derivation
def derive_flow_field():
    """g(b) = tau db/dt with u = a c frozen, from the mode ODEs.

    Returns
    -------
    dict
        ``task_sum_form``: u A'(b) - u^2 B'(b)/2 (from ``mode_flow``, A and B undefined functions);
        ``sum_form``: the explicit sums over trajectory steps for symbolic T (obtained by substituting the sum
        definitions of A and B and differentiating under the sum); ``paper_form``: the paper's sums, which stop
        at i = T-1 (the i = T terms vanish).
    """
    flow = mf.derive_mode_flow()
    # tau db/dt depends on a and c only through u = a c: substitute a = u / c and check that c drops out.
    task_sum_form = sp.simplify(flow.tau_rates[mf.b].subs(mf.a, u / mf.c))
    if task_sum_form.has(mf.c):  # pragma: no cover - would mean mode_flow changed
        raise RuntimeError("tau db/dt is not a function of u = a c alone")
    defs = mf.derive_sum_definitions()
    # xreplace, not subs: the sums' bound index i must not be touched; d/db passes under the sum.
    explicit = {}
    for F in (mf.A, mf.B):
        explicit[sp.Derivative(F(b), b)] = sp.diff(defs[F(b)], b)
        explicit[F(b)] = defs[F(b)]
    sum_form = task_sum_form.xreplace(explicit)
    paper_form = (sp.Sum((T - i) * s[i] * u * b ** (T - i - 1), (i, 1, T - 1))
                  - sp.Sum((T - i) * u**2 * b ** (2 * (T - i) - 1), (i, 1, T - 1)))
    return {"task_sum_form": task_sum_form, "sum_form": sum_form, "paper_form": paper_form}


@derivation
def derive_flow_field_derivative_eq49(order=None):
    """The paper's eq. (49): g^(n-1)(b) as sums with explicit products, for symbolic T.

    Parameters
    ----------
    order : int or sympy expression, optional
        n (so the result is the (n-1)-th derivative); symbolic n by default.
    """
    nn = n if order is None else sp.sympify(order)
    first = sp.Sum((T - i) * sp.Product(T - i - j, (j, 1, nn - 1)) * s[i] * u * b ** (T - i - nn),
                   (i, 1, T - nn))
    second = sp.Sum((T - i) * sp.Product(2 * T - 2 * i - j, (j, 1, nn - 1)) * u**2 * b ** (2 * T - 2 * i - nn),
                    (i, 1, sp.floor((2 * T - nn) / 2)))
    return first - second


@derivation
def derive_flow_field_derivative(order=None):
    """g^(m)(b) for any m from d^m b^p / db^m = ff(p, m) b^(p-m), summed over the paper's steps.

    The falling factorial ff(p, m) vanishes for integer 0 <= p < m, which is what truncates the paper's sums.
    """
    mm = m if order is None else sp.sympify(order)
    return (sp.Sum((T - i) * sp.ff(T - i - 1, mm) * s[i] * u * b ** (T - i - 1 - mm), (i, 1, T - 1))
            - sp.Sum((T - i) * sp.ff(2 * (T - i) - 1, mm) * u**2 * b ** (2 * (T - i) - 1 - mm), (i, 1, T - 1)))


@derivation
def derive_power_rule(max_order: int = 6):
    """Check d^m b^p / db^m = ff(p, m) b^(p-m) for symbolic p and m = 0..max_order; returns the differences (all 0)."""
    p = sp.Symbol("p")
    return [sp.simplify(sp.diff(b**p, b, k) - sp.expand_func(sp.ff(p, k)) * b ** (p - k)) for k in
            range(max_order + 1)]


def flow_field_polynomial(singular_values, u_value=u):
    """g(b) as an explicit polynomial for one mode with concrete T (singular values s_1..s_T, given in order)."""
    Tn = len(singular_values)
    return sp.expand(sum((Tn - k) * sp.sympify(singular_values[k - 1]) * u_value * b ** (Tn - k - 1)
                         - (Tn - k) * u_value**2 * b ** (2 * (Tn - k) - 1) for k in range(1, Tn)))


def flow_field_of_sums(alpha, weights, u_value=u):
    """g(b) = u A'(b) - u^2 B'(b)/2 as an explicit polynomial, from one mode's task-sum coefficients:
    A(b) = sum_k alpha[k] b^k and B(b) = sum_k weights[k] b^(2k), for any output layout (final output: alpha[k] =
    s_(T-k), weights 1; every step: the lag sums and T - k)."""
    A_expr = sum(sp.sympify(alpha[k]) * b**k for k in range(len(alpha)))
    B_expr = sum(sp.sympify(weights[k]) * b ** (2 * k) for k in range(len(weights)))
    return sp.expand(u_value * sp.diff(A_expr, b) - u_value**2 * sp.diff(B_expr, b) / 2)


@derivation
def derive_time_derivatives(order: int):
    """b^(1), ..., b^(order) in units of tau, as polynomials in g_k = g^(k)(b), via Faa di Bruno / Bell polynomials.

    b^(1) = g_0 and, for n >= 2, b^(n) = sum_{k=1}^{n-1} g_k B_{n-1,k}(b^(1), ..., b^(n-k)).

    Returns
    -------
    tuple of sympy expressions
        Element n-1 is b^(n) (expanded).
    """

    order = check_int("order", order, minimum=1)
    g = g_symbols(order)
    derivs = [g[0]]
    for nn in range(2, order + 1):
        terms = [g[k] * sp.bell(nn - 1, k, derivs[: nn - k]) for k in range(1, nn)]
        derivs.append(sp.expand(sp.Add(*terms)))
    return tuple(derivs)
