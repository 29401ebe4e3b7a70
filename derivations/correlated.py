"""Inputs correlated across time: the task sums when the inputs are not white (notes §14).

Suppose the input covariance across steps and the cross-covariances share the task's bases,

    Sigma^{X_i X_j} = V diag(lambda_ij) V^T,        Sigma^{Y X_i} = U diag(sigma_i) V^T,

so that an aligned network, W_y W_h^(T-i) W_x = U diag(c b^(T-i) a) V^T, stays aligned. The expected loss
(1/2) E ||y - sum_i W_y W_h^(T-i) W_x x_i||^2 then splits into modes, and per mode (u = a c)

    E = (c_0 - 2 u A(b) + u^2 B(b)) / (2 tau),   A(b) = sum_i sigma_i b^(T-i),
                                                B(b) = sum_(i,j) lambda_ij b^(T-i) b^(T-j),

with c_0 the target variance of the mode. This module derives that form from the expected squared error (it is not
assumed): the square is expanded in the inputs and every second moment replaced by its covariance
(``derive_expected_loss``). White inputs (lambda = I) give the paper's B(b) = sum_i b^(2(T-i)) exactly
(``derive_white_limit``). With the power k = T - i of b, B(b) = sum_(k,l) G_kl b^k b^l with G_kl = lambda_(T-k,T-l):
the engine's gram matrix G is the covariance with both axes reversed (``derive_gram``). Every-step outputs sum over
the output times t with i, j <= t, so G_kl = sum_t lambda_(t-k, t-l) (``derive_every_step_sums``); complex
(rotational) modes give B = sum lambda_ij conj(b)^(T-i) b^(T-j) (``derive_complex_sums``).

Of c_0 only the part the inputs explain matters for the loss landscape: with w_i = u b^(T-i) and the best linear
filter w* = Lambda^-1 sigma, E = (w - w*)^T Lambda (w - w*) / (2 tau) + const, so c_0 = sigma^T Lambda^-1 sigma
makes the energy of the best linear read-out zero (``derive_explained_norm``); it shifts the energy, never the flow.

Stationary inputs, for extrapolation to other lengths, have lambda_ij = lambda_(|i-j|) (by lag); AR(1) inputs
lambda_ij = rho^|i-j| (``derive_ar1_sums``: B(b) in closed form for b != rho, 1/rho).
"""
from __future__ import annotations

import sympy as sp

from . import derivation
from .mode_flow import a, b, c, tau, u

#: Cross-covariance singular values sigma_i (the task's singular values s_i) and input covariance lambda_ij.
sigma = sp.IndexedBase("sigma", real=True)
lam = sp.IndexedBase("lambda", real=True)
c0 = sp.Symbol("c_0", nonnegative=True)
rho = sp.Symbol("rho", real=True)
i, j, T = sp.symbols("i j T", integer=True, positive=True)


def symmetric(expr):
    """Write lambda_ij with i > j as lambda_ji: the input covariance is symmetric."""
    return expr.replace(lambda e: isinstance(e, sp.Indexed) and e.base == lam and len(e.indices) == 2
                        and (e.indices[0] - e.indices[1]).is_positive,
                        lambda e: lam[e.indices[1], e.indices[0]])


def sum_definitions():
    """A(b) and B(b) for a symbolic T, as unevaluated sums."""
    return {"A": sp.Sum(sigma[i] * b ** (T - i), (i, 1, T)),
            "B": sp.Sum(sp.Sum(lam[i, j] * b ** (T - i) * b ** (T - j), (j, 1, T)), (i, 1, T))}


def derive_energy():
    """The per-mode energy through the task sums: (c_0 - 2 u A(b) + u^2 B(b)) / (2 tau)."""
    A, B = sp.Function("A"), sp.Function("B")
    return (c0 - 2 * u * A(b) + u**2 * B(b)) / (2 * tau)


def _moments(T_value: int, every_step: bool):
    """Symbols of one mode's inputs x_i, targets y (y_t for every-step outputs) and their second moments."""
    x = sp.symbols(f"x1:{T_value + 1}", real=True)
    y = sp.symbols(f"y1:{T_value + 1}", real=True) if every_step else (sp.Symbol("y", real=True),)
    return x, y


def _expectation(expr, x, y, every_step: bool):
    """Replace every second moment of (x, y) in the expanded polynomial ``expr`` by its covariance symbol:
    E[x_i x_j] = lambda_ij, E[y x_i] = sigma_i (sigma_(t,i) for every-step outputs), E[y^2] = c_0 (c_0 summed over
    the output times: one symbol c_0 for the total)."""
    poly = sp.Poly(sp.expand(expr), *x, *y)
    n = len(x)
    total = 0
    for powers, coeff in poly.terms():
        px, py = powers[:n], powers[n:]
        xs = [k for k, p in enumerate(px) for _ in range(p)]
        ys = [k for k, p in enumerate(py) for _ in range(p)]
        if len(xs) == 2 and not ys:
            moment = lam[xs[0] + 1, xs[1] + 1]
        elif len(xs) == 1 and len(ys) == 1:
            moment = sigma[ys[0] + 1, xs[0] + 1] if every_step else sigma[xs[0] + 1]
        elif len(ys) == 2 and not xs:
            moment = c0 / len(y) if ys[0] == ys[1] else sp.Symbol(f"c_{ys[0] + 1}{ys[1] + 1}")
        else:
            raise ValueError(f"the loss is not quadratic in the data: term {coeff} x^{px} y^{py}")
        total += coeff * moment
    return total


@derivation
def derive_expected_loss(T_value: int):
    """(1/2) E (y - sum_i u b^(T-i) x_i)^2 / tau for a concrete T, with the moments replaced by covariances, and the
    same energy from the task sums A, B of ``sum_definitions``: two expressions that are equal (their difference
    simplifies to 0)."""
    x, (y,) = _moments(T_value, every_step=False)
    prediction = sum(u * b ** (T_value - k) * x[k - 1] for k in range(1, T_value + 1))
    expected = _expectation((y - prediction) ** 2, x, (y,), every_step=False) / (2 * tau)
    sums = sum_definitions()
    A = sums["A"].subs(T, T_value).doit()
    B = sums["B"].subs(T, T_value).doit()
    from_sums = (c0 - 2 * u * A + u**2 * B) / (2 * tau)
    return symmetric(sp.expand(expected)), symmetric(sp.expand(from_sums))


@derivation
def derive_gram(T_value: int):
    """G_kl, the coefficient of b^k b^l in B(b), for a concrete T: lambda_(T-k, T-l) (the covariance reversed)."""
    B = sp.expand(sum_definitions()["B"].subs(T, T_value).doit())
    bk, bl = sp.symbols("b_k b_l")
    G = sp.zeros(T_value, T_value)
    for k in range(T_value):
        for l in range(T_value):
            G[k, l] = lam[T_value - k, T_value - l]
    # B as the quadratic form of G in the powers (1, b, ..., b^(T-1)), expanded: must equal the sum form
    powers = sp.Matrix([b**k for k in range(T_value)])
    return G, symmetric(sp.expand((powers.T * G * powers)[0] - B))


@derivation
def derive_every_step_sums(T_value: int):
    """Every-step outputs: (1/2) sum_t E (y_t - sum_(i<=t) u b^(t-i) x_i)^2 with the moments replaced, and the gram
    G_kl = sum_t lambda_(t-k, t-l) (over t with t-k >= 1 and t-l >= 1). Returns (expected loss, A, G, residual)
    where residual = expected - (c_0 - 2 u A + u^2 powers^T G powers) / (2 tau) simplifies to 0."""
    x, y = _moments(T_value, every_step=True)
    loss = sum((y[t - 1] - sum(u * b ** (t - k) * x[k - 1] for k in range(1, t + 1))) ** 2
               for t in range(1, T_value + 1))
    expected = sp.expand(_expectation(loss, x, y, every_step=True) / (2 * tau))
    A = sum(sigma[t, k] * b ** (t - k) for t in range(1, T_value + 1) for k in range(1, t + 1))
    G = sp.zeros(T_value, T_value)
    for k in range(T_value):
        for l in range(T_value):
            G[k, l] = sum(lam[t - k, t - l] for t in range(1, T_value + 1) if t - k >= 1 and t - l >= 1)
    powers = sp.Matrix([b**k for k in range(T_value)])
    from_sums = (c0 - 2 * u * A + u**2 * (powers.T * G * powers)[0]) / (2 * tau)
    return expected, A, G, symmetric(sp.expand(expected - from_sums))


@derivation
def derive_complex_sums(T_value: int):
    """Complex modes: (1/2) E |y - sum_i u b^(T-i) x_i|^2 with E[x_i conj(x_j)] = lambda_ij (real symmetric),
    E[y conj(x_i)] = d_i; B = sum lambda_ij conj(b)^(T-i) b^(T-j). Returns (B from the expectation, B of the
    formula): equal."""
    bb = sp.Symbol("bbar")
    # |sum_i w_i x_i|^2 has the expectation sum_ij conj(w_i) w_j E[conj(x_i) x_j] = sum_ij conj(w_i) w_j lambda_ij
    w = [b ** (T_value - k) for k in range(1, T_value + 1)]
    w_bar = [bb ** (T_value - k) for k in range(1, T_value + 1)]
    from_expectation = sp.expand(sum(w_bar[p] * w[q] * lam[p + 1, q + 1]
                                     for p in range(T_value) for q in range(T_value)))
    formula = sp.expand(sum(lam[p, q] * bb ** (T_value - p) * b ** (T_value - q)
                            for p in range(1, T_value + 1) for q in range(1, T_value + 1)))
    return from_expectation, formula


@derivation
def derive_white_limit(T_value: int):
    """B with lambda = I minus the paper's white B(b) = sum_i b^(2(T-i)): simplifies to 0."""
    B = sum_definitions()["B"].subs(T, T_value).doit()
    white = B.replace(lambda e: isinstance(e, sp.Indexed) and e.base == lam,
                      lambda e: sp.KroneckerDelta(*e.indices))
    return sp.simplify(white - sum(b ** (2 * (T_value - k)) for k in range(1, T_value + 1)))


@derivation
def derive_ar1_sums(T_value: int):
    """AR(1) inputs, lambda_ij = rho^|i-j|: B(b) as the explicit double sum (a polynomial in b with odd powers)."""
    B = sum(rho ** abs(p - q) * b ** (T_value - p) * b ** (T_value - q)
            for p in range(1, T_value + 1) for q in range(1, T_value + 1))
    return sp.expand(B)


@derivation
def derive_explained_norm(T_value: int):
    """With Lambda invertible and w* = Lambda^-1 sigma: (w - w*)^T Lambda (w - w*) - (sigma^T Lambda^-1 sigma -
    2 w^T sigma + w^T Lambda w), which simplifies to 0, for a generic symmetric 2x2 or 3x3 Lambda."""
    n = T_value
    L = sp.Matrix(n, n, lambda p, q: sp.Symbol(f"l{min(p, q) + 1}{max(p, q) + 1}"))
    s = sp.Matrix([sp.Symbol(f"s{p + 1}") for p in range(n)])
    w = sp.Matrix([sp.Symbol(f"w{p + 1}") for p in range(n)])
    w_star = L.inv() * s
    lhs = ((w - w_star).T * L * (w - w_star))[0]
    rhs = (s.T * L.inv() * s)[0] - 2 * (w.T * s)[0] + (w.T * L * w)[0]
    # A rational function of the entries: over one denominator (det Lambda)^2 its numerator expands to 0, which
    # is what simplify would find at twice the cost.
    numerator, denominator = sp.fraction(sp.together(lhs - rhs))
    return sp.expand(numerator) / denominator


@derivation
def derive_flow_rates():
    """tau da/dt, tau db/dt, tau dc/dt of the correlated energy: the paper's rates through A and B (``mode_flow``),
    now with B's odd powers: c (A - u B), u A' - u^2 B' / 2, a (A - u B)."""
    A, B = sp.Function("A"), sp.Function("B")
    energy = (c0 - 2 * a * c * A(b) + (a * c) ** 2 * B(b)) / (2 * tau)
    return {v: sp.factor(sp.expand(-tau * sp.diff(energy, v))) for v in (a, b, c)}
