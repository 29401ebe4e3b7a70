"""The NTK of an aligned linear RNN in the mode basis (result 4; paper App. I-J; notes §7).

For an aligned network (``W_x = R diag(a) V^T``, ``W_h = R diag(b) R^T``, ``W_y = U diag(c) R^T``) the NTK is a
function of the mode strengths and the inputs only. In the output-mode basis it is diagonal in the output mode alpha;
for input sequences x, x' with mode coordinates x_{t,gamma} (gamma = input mode) it reads

    K_alpha(x, x') = c_alpha^2 sum_{t,t'} b_alpha^(T-t) b_alpha^(T-t') <x_t, x'_t'>                      (W_x part)
                   + c_alpha^2 sum_gamma a_gamma^2 (sum_t g_{alpha gamma}(t) x_{t,gamma}) (same for x')  (W_h part)
                   + sum_gamma a_gamma^2 (sum_t b_gamma^(T-t) x_{t,gamma}) (same for x')                 (W_y part)

    g_{alpha gamma}(t) = sum_{m=0}^{T-t-1} b_alpha^(T-t-1-m) b_gamma^m
                       = (b_alpha^(T-t) - b_gamma^(T-t)) / (b_alpha - b_gamma)   [(T-t) b^(T-t-1) if equal].

Over the whitened one-hot probes (input mode gamma at step t; population data) the kernel splits into one T x T
block per pair (alpha, gamma):

    kappa_{alpha gamma}(t, t') = c_alpha^2 b_alpha^(2T-t-t') + a_gamma^2 b_gamma^(2T-t-t')
                                 + c_alpha^2 a_gamma^2 g_{alpha gamma}(t) g_{alpha gamma}(t').

Independent check (``verify_against_network``): sympy differentiates the unrolled output of a network with full,
generic K x K mode-basis matrices (all off-diagonal entries free) with respect to every entry, forms J J^T at the
aligned point for symbolic input sequences, and subtracts the formula above: the difference simplifies to 0.

Run ``lrnn derive --result ntk [--format latex|pretty|text]`` to print the kernel and the check.
"""
from __future__ import annotations

import sympy as sp

from . import derivation
from .mode_flow import T

t, tp = sp.symbols("t t'", integer=True, positive=True)
m = sp.Symbol("m", integer=True, nonnegative=True)
a_g, b_a, b_g, c_a = sp.symbols("a_gamma b_alpha b_gamma c_alpha", real=True)
b_ = sp.Symbol("b", real=True)
x = sp.IndexedBase("x", real=True)     # x[t, gamma]: mode coordinates of the first sequence
xp = sp.IndexedBase("x'", real=True)   # x'[t, gamma]: of the second
gamma = sp.Symbol("gamma", integer=True)
N_MODES = sp.Symbol("K", integer=True, positive=True)


def g_sum(step):
    """g_{alpha gamma}(step) as a sum over m (an unevaluated sympy Sum)."""
    return sp.Sum(b_a ** (T - step - 1 - m) * b_g**m, (m, 0, T - step - 1))


@derivation
def derive_g():
    """Closed forms of g_{alpha gamma}(t): sympy's evaluation of the sum, and its value for b_alpha = b_gamma = b.

    Returns
    -------
    dict
        ``sum``: the Sum; ``closed``: evaluated (piecewise); ``generic``: (b_alpha^(T-t) - b_gamma^(T-t)) /
        (b_alpha - b_gamma) as sympy found it, simplified; ``equal``: the sum at b_alpha = b_gamma = b.
    """
    total = g_sum(t)
    closed = sp.piecewise_fold(sp.simplify(total.doit()))
    generic = next(expr for expr, cond in closed.args if cond == sp.true) if isinstance(closed, sp.Piecewise) \
        else closed
    equal = sp.simplify(total.subs({b_a: b_, b_g: b_}).doit())
    return {"sum": total, "closed": closed, "generic": generic, "equal": equal}


@derivation
def derive_probe_block():
    """kappa_{alpha gamma}(t, t'): the kernel between the one-hot probes (gamma, t) and (gamma, t'), output alpha.

    Returns
    -------
    dict
        ``W_x``, ``W_h``, ``W_y`` parts and ``total`` (with g as Sums).
    """
    parts = {"W_x": c_a**2 * b_a ** (2 * T - t - tp),
             "W_h": c_a**2 * a_g**2 * g_sum(t) * g_sum(tp),
             "W_y": a_g**2 * b_g ** (2 * T - t - tp)}
    parts["total"] = sp.Add(*parts.values())
    return parts


@derivation
def derive_sequence_kernel():
    """K_alpha(x, x') for two input sequences in mode coordinates (sums over steps and input modes).

    The W_x part involves the full input inner product <x_t, x'_t'> = sum_gamma x[t, gamma] x'[t', gamma].

    Returns
    -------
    dict
        ``W_x``, ``W_h``, ``W_y`` parts and ``total``.
    """
    inner = sp.Sum(x[t, gamma] * xp[tp, gamma], (gamma, 1, N_MODES))
    a_gam = sp.IndexedBase("a")[gamma]
    b_gam = sp.IndexedBase("b")[gamma]
    g_t = g_sum(t).subs(b_g, b_gam)
    g_tp = g_sum(tp).subs(b_g, b_gam)
    parts = {
        "W_x": c_a**2 * sp.Sum(b_a ** (2 * T - t - tp) * inner, (t, 1, T), (tp, 1, T)),
        "W_h": c_a**2 * sp.Sum(a_gam**2 * sp.Sum(g_t * x[t, gamma], (t, 1, T)) * sp.Sum(g_tp * xp[tp, gamma],
                                                                                           (tp, 1, T)),
                               (gamma, 1, N_MODES)),
        "W_y": sp.Sum(a_gam**2 * sp.Sum(b_gam ** (T - t) * x[t, gamma], (t, 1, T))
                      * sp.Sum(b_gam ** (T - tp) * xp[tp, gamma], (tp, 1, T)), (gamma, 1, N_MODES)),
    }
    parts["total"] = sp.Add(*parts.values())
    return parts


def _concrete_sequence_kernel(T_value: int, K_value: int, a, b, c, X1, X2, alpha: int) -> dict:
    """The printed formula (``derive_sequence_kernel``) at concrete T and K, output mode ``alpha`` (0-based), in the
    given symbols: the sums are evaluated by sympy, nothing is transcribed by hand."""
    a_idx, b_idx = sp.IndexedBase("a"), sp.IndexedBase("b")
    sub = {b_a: b[alpha], c_a: c[alpha]}
    for q in range(K_value):
        sub[a_idx[q + 1]] = a[q]
        sub[b_idx[q + 1]] = b[q]
        for i in range(1, T_value + 1):
            sub[x[i, q + 1]] = X1[i - 1][q]
            sub[xp[i, q + 1]] = X2[i - 1][q]
    out = {}
    for name, expr in derive_sequence_kernel().items():
        if name != "total":
            out[name] = _unroll(expr.xreplace({T: sp.Integer(T_value), N_MODES: sp.Integer(K_value)})).xreplace(sub)
    return out


def _unroll(expr):
    """Write out every Sum with concrete limits term by term, outermost first (no closed form, so no 0/0 where
    two recurrent modes are equal)."""
    if isinstance(expr, sp.Sum):
        *inner_limits, (var, lo, hi) = expr.limits
        body = sp.Sum(expr.function, *inner_limits) if inner_limits else expr.function
        return sp.Add(*[_unroll(body.xreplace({var: sp.Integer(k)})) for k in range(int(lo), int(hi) + 1)])
    if expr.args and not isinstance(expr, (sp.Indexed, sp.IndexedBase)):
        return expr.func(*[_unroll(arg) for arg in expr.args])
    return expr


@derivation
def verify_against_network(T_value: int = 3, K_value: int = 2):
    """J J^T of a generic mode-basis network at the aligned point, minus the formula: every entry simplifies to 0.

    The network's output for a symbolic sequence is ``sum_i Wy Wh^(T-i) Wx x_i`` with K x K matrices; sympy
    differentiates every output with respect to every matrix entry (diagonal and off-diagonal, one at a time, moved
    by a symbol epsilon away from the aligned point Wx = diag(a), Wh = diag(b), Wy = diag(c)) and forms the kernel
    between two symbolic sequences, per weight.

    Parameters
    ----------
    T_value, K_value : int
        Trajectory length and number of modes (small: the expressions grow quickly).

    Returns
    -------
    dict
        Weight name ("W_x", "W_h", "W_y") -> (K, K) sympy Matrix of differences (network - formula); all zero.
    """
    K_, T_ = K_value, T_value
    a = sp.symbols(f"a_0:{K_}", real=True)
    b = sp.symbols(f"b_0:{K_}", real=True)
    c = sp.symbols(f"c_0:{K_}", real=True)
    X1 = [[sp.Symbol(f"x_{i}{q}", real=True) for q in range(K_)] for i in range(1, T_ + 1)]
    X2 = [[sp.Symbol(f"xp_{i}{q}", real=True) for q in range(K_)] for i in range(1, T_ + 1)]
    aligned = {"W_x": sp.diag(*a), "W_h": sp.diag(*b), "W_y": sp.diag(*c)}
    eps = sp.Symbol("epsilon")

    def output(mats, X):
        out = sp.zeros(K_, 1)
        for i in range(1, T_ + 1):
            out += mats["W_y"] * mats["W_h"] ** (T_ - i) * mats["W_x"] * sp.Matrix(X[i - 1])
        return out

    def jacobian(name, X):
        """Column per entry (r, q) of the weight: d output / d epsilon at 0, with entry (r, q) moved by epsilon
        away from the aligned point (all other entries, diagonal or not, stay where they are)."""
        cols = []
        for r in range(K_):
            for q in range(K_):
                moved = dict(aligned)
                moved[name] = aligned[name] + eps * sp.Matrix(K_, K_, lambda i, j: int((i, j) == (r, q)))
                cols.append(output(moved, X).diff(eps).subs(eps, 0))
        return sp.Matrix.hstack(*cols)

    formulas = [_concrete_sequence_kernel(T_, K_, a, b, c, X1, X2, al) for al in range(K_)]
    diffs = {}
    for name in ("W_x", "W_h", "W_y"):
        net_kernel = jacobian(name, X1) * jacobian(name, X2).T
        diff = sp.zeros(K_, K_)
        for al in range(K_):
            for be in range(K_):
                formula = formulas[al][name] if al == be else 0
                diff[al, be] = sp.expand(net_kernel[al, be] - formula)
        diffs[name] = diff
    return diffs
