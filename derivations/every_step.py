"""Every-step outputs, the autoregressive extension (paper App. M; notes §9 and §12).

The network is read out at every step, y_hat_t = W_y h_(t+1), t = 1..T, with the loss
1/2 sum_p sum_t ||y_(p,t) - y_hat_(p,t)||^2. With whitened inputs and the correlations Sigma^{Y_t X_i} = U S_(t,i) V^T
(i <= t), each mode has the energy (eq. 156 with its inner sum stopping at t, not T: notes §12)

    E = 1/(2 tau) sum_(t=1)^T sum_(i=1)^t (s_(t,i) - c b^(t-i) a)^2.

Expanding the square and collecting by the lag k = t - i (derived below, not assumed):

    E = (S_2 - 2 u A(b) + u^2 B(b)) / (2 tau),   A(b) = sum_k alpha_k b^k,  alpha_k = sum_(t=k+1)^T s_(t,t-k),
                                                  B(b) = sum_k w_k b^(2k),   w_k = T - k,

the same form as the final-output energy of ``mode_flow``, with new coefficients of A per power of b and new weights
of B. So the ODEs, Jacobian and conserved quantity a^2 - c^2 are ``mode_flow``'s, the input-output solution with b
frozen is ``derivations.frozen``'s logistic with these A and B (eq. 157), and the recurrent-mode Taylor scheme is
``recurrent_taylor``'s with g(b) = u A'(b) - u^2 B'(b)/2 (eq. 158). This module derives each of these for the
every-step sums, for symbolic T and for concrete tasks:

* the lag form of A and B from the double sums (``derive_sum_coefficients``; w_k = T - k summed by sympy, A and B
  checked term by term for concrete T);
* the explicit ODE sums of notes §9 against the A/B form (``check_ode_sum_form``);
* B in closed form and the effective regulariser u^2 B(b) / (2 tau), checked against the paper's eq. (159)
  (``derive_energy_split``);
* the zero-loss solutions: s_(t,i) = u b^(t-i) for all i <= t; only delta lambda^(t-i) (b = lambda, u = delta)
  fits among the families (``derive_zero_loss_solution``).

Run ``lrnn derive --result every-step [--format latex|pretty|text]`` or
``lrnn derive --result every-step [TASK.json | --family F --T N --outputs every_step]``.
"""
from __future__ import annotations

import sympy as sp

from lrnn_theory.errors import bad

from . import mode_flow as mf
from . import derivation, per_mode, summation_by_terms
from .mode_flow import T, a, b, c, tau, u

#: Output time t and input step i (1 <= i <= t <= T); lag k = t - i.
t = sp.Symbol("t", integer=True, positive=True)
i = sp.Symbol("i", integer=True, positive=True)
k = sp.Symbol("k", integer=True, nonnegative=True)
#: Every-step singular values s[t, i].
s = sp.IndexedBase("s", real=True)
#: Coefficient alpha_k of b^k in A(b).
alpha = sp.IndexedBase("alpha", real=True)
delta = sp.Symbol("delta", positive=True)
lam = sp.Symbol("lambda", positive=True)

FAMILIES = ("constant", "inverse_exponential", "exponential")


def family_profile(family: str, out=t, step=i):
    """Every-step singular value s_(t,i) of a family: delta, delta lambda^(t-i) or delta lambda^i."""
    if family == "constant":
        return delta
    if family == "inverse_exponential":
        return delta * lam ** (out - step)
    if family == "exponential":
        return delta * lam**step

    raise bad("family", family, f"be one of {', '.join(FAMILIES)}")


# ---- energy and task sums -----------------------------------------------------------------------------------------
def derive_energy_sum_form():
    """E = 1/(2 tau) sum_(t=1)^T sum_(i=1)^t (s_(t,i) - c b^(t-i) a)^2 (eq. 156, inner sum to t)."""
    return sp.Sum(sp.Sum((s[t, i] - c * b ** (t - i) * a) ** 2, (i, 1, t)), (t, 1, T)) / (2 * tau)


def derive_sum_definitions():
    """A(b) and B(b) as the double sums over output time t and input step i <= t."""
    return {mf.A(b): sp.Sum(sp.Sum(s[t, i] * b ** (t - i), (i, 1, t)), (t, 1, T)),
            mf.B(b): sp.Sum(sp.Sum(b ** (2 * (t - i)), (i, 1, t)), (t, 1, T))}


@derivation
def derive_sum_coefficients():
    """A and B by lag k = t - i: alpha_k = sum_t s_(t,t-k) and the weight w_k of b^(2k), derived by sympy.

    The pairs (t, i) at lag k are t = k+1..T (i = t - k >= 1), so w_k is the sum of 1 over them.

    Returns
    -------
    dict
        ``alpha_k`` (a Sum over t), ``w_k`` (T - k), ``A_lag``, ``B_lag`` (Sums over k = 0..T-1),
        ``B_closed_form`` (piecewise at b^2 = 1), ``B_double_sum_closed_form`` (the double sum done directly by
        sympy) and ``B_check`` (difference of the two closed forms, simplifies to 0 for b^2 != 1).
    """
    alpha_k = sp.Sum(s[t, t - k], (t, k + 1, T))
    w_k = sp.summation(sp.Integer(1), (t, k + 1, T))
    A_lag = sp.Sum(alpha[k] * b**k, (k, 0, T - 1))
    B_lag = sp.Sum(w_k * b ** (2 * k), (k, 0, T - 1))
    generic = sp.factor(sp.powsimp(sp.expand(_generic(summation_by_terms(B_lag.function, B_lag.limits[0]))),
                                   force=True))
    # Independently: the inner geometric sum over i, then the outer sum over t.
    inner = _generic(sp.summation(b ** (2 * (t - i)), (i, 1, t)))
    B_double = sp.factor(_generic(summation_by_terms(inner, (t, 1, T))))
    at_one = sp.summation(w_k, (k, 0, T - 1))  # b^2 = 1: every power is 1
    B_closed = sp.Piecewise((sp.factor(at_one), sp.Eq(b**2, 1)), (generic, True))
    check = sp.simplify(generic - B_double)
    return {"alpha_k": alpha_k, "w_k": w_k, "A_lag": A_lag, "B_lag": B_lag, "B_closed_form": B_closed,
            "B_generic": generic, "B_double_sum_closed_form": B_double, "B_check": check,
            "B_at_1_check": sp.simplify(sp.limit(generic, b, 1) - at_one)}


def _generic(expr):
    """Replace every Piecewise in ``expr`` by its general branch (the one for b^2 != 1)."""
    return expr.replace(lambda e: isinstance(e, sp.Piecewise), _generic_branch)


def _generic_branch(expr):
    """The branch of a Piecewise that holds in general (b^2 != 1), or the expression itself."""
    if isinstance(expr, sp.Piecewise):
        return next(e for e, cond in expr.args if cond == sp.true)
    return expr


@derivation
def concrete_sum_coefficients(T_value: int):
    """For a concrete T: the double sums A(b), B(b) expanded, and the lag forms built from alpha_k and w_k.

    Returns
    -------
    dict
        ``s`` (the symbols s_(t,i), a dict keyed by (t, i)), ``A``, ``B`` (expanded double sums), ``alpha``
        (list of alpha_k), ``w`` (list of w_k), ``A_difference``, ``B_difference`` (both expand to 0).
    """
    syms = {(tt, ii): sp.Symbol(f"s_{tt}{ii}", real=True) for tt in range(1, T_value + 1) for ii in range(1, tt + 1)}
    A_expr = sp.expand(sum(syms[tt, ii] * b ** (tt - ii) for (tt, ii) in syms))
    B_expr = sp.expand(sum(b ** (2 * (tt - ii)) for (tt, ii) in syms))
    coeffs = derive_sum_coefficients()
    alphas = [coeffs["alpha_k"].subs({T: T_value, k: kk}).doit().replace(
        lambda e: isinstance(e, sp.Indexed), lambda e: syms[tuple(int(x) for x in e.indices)])
        for kk in range(T_value)]
    ws = [coeffs["w_k"].subs({T: T_value, k: kk}) for kk in range(T_value)]
    A_lag = sum(al * b**kk for kk, al in enumerate(alphas))
    B_lag = sum(w * b ** (2 * kk) for kk, w in enumerate(ws))
    return {"s": syms, "A": A_expr, "B": B_expr, "alpha": alphas, "w": ws,
            "A_difference": sp.expand(A_expr - A_lag), "B_difference": sp.expand(B_expr - B_lag)}


def derive_mode_odes_sum_form():
    """The mode ODEs of notes §9 as explicit double sums (tau d(theta)/dt), r_(t,i) = s_(t,i) - c b^(t-i) a."""
    r = s[t, i] - c * b ** (t - i) * a
    return {a: sp.Sum(sp.Sum(c * b ** (t - i) * r, (i, 1, t)), (t, 1, T)),
            b: sp.Sum(sp.Sum((t - i) * c * a * b ** (t - i - 1) * r, (i, 1, t - 1)), (t, 1, T)),
            c: sp.Sum(sp.Sum(a * b ** (t - i) * r, (i, 1, t)), (t, 1, T))}


def _expand_double_sums(expr, T_value: int):
    """Write out every double sum over i (inner, limits depending on t) and t = 1..T at a concrete T.

    sympy stores Sum(Sum(f, (i, ..)), (t, ..)) as one Sum with the limits ((i, lo, hi), (t, 1, T)).
    """
    def is_double(e):
        return isinstance(e, sp.Sum) and len(e.limits) == 2 and e.limits[1][0] == t

    def expand(double):
        (var, lo, hi), _ = double.limits
        total = sp.Integer(0)
        for tt in range(1, T_value + 1):
            for ii in range(int(lo.subs(t, tt)), int(hi.subs(t, tt)) + 1):
                total += double.function.subs({t: tt, var: ii})
        return total

    return expr.subs(T, T_value).replace(is_double, expand)


@derivation
def check_ode_sum_form(T_value: int) -> dict:
    """Energy and ODEs: the explicit double sums at a concrete T minus the A/B form with the every-step sums.

    Returns a dict of differences (energy, a, b, c), each of which expands to 0.
    """
    conc = concrete_sum_coefficients(T_value)
    syms = conc["s"]
    sums = {mf.A(b): conc["A"], mf.B(b): conc["B"]}
    S2 = sum(v**2 for v in syms.values())

    def concrete(expr):
        expr = _expand_double_sums(expr, T_value)
        return expr.replace(lambda e: isinstance(e, sp.Indexed), lambda e: syms[tuple(int(x) for x in e.indices)])

    flow = mf.derive_mode_flow()
    out = {"energy": sp.expand(concrete(derive_energy_sum_form())
                               - flow.energy.subs(mf.S2, S2).subs(sums).doit())}
    for v, rhs in derive_mode_odes_sum_form().items():
        out[v] = sp.expand(concrete(rhs) - flow.tau_rates[v].subs(sums).doit())
    return out


# ---- effective regulariser -----------------------------------------------------------------------------------------
def paper_regulariser():
    """Eq. (159) as the paper prints it: c^2 a^2 (T(1 - b^2) - b^2(1 - b^(2T))) / (1 - b^2)^2 / (2 tau)."""
    return c**2 * a**2 * (T * (1 - b**2) - b**2 * (1 - b ** (2 * T))) / (1 - b**2) ** 2 / (2 * tau)


@derivation
def derive_energy_split():
    """Split the every-step energy into data term and effective regulariser, summed in closed form by sympy.

    The summand (s_(t,i) - c b^(t-i) a)^2 is expanded; terms with s form the data term, the rest (the squared
    prediction c^2 a^2 b^(2(t-i))) the regulariser, summed over i <= t and t <= T by sympy.

    Returns
    -------
    dict
        ``data`` and ``regulariser_sum`` (unevaluated double sums), ``regulariser`` (closed form, piecewise at
        b^2 = 1), ``regulariser_generic`` (b^2 != 1), ``regulariser_at_1`` (its b^2 = 1 value), ``paper`` (eq. 159)
        and ``paper_difference`` (generic closed form minus eq. 159, simplifies to 0).
    """
    energy = derive_energy_sum_form()
    (double,) = energy.atoms(sp.Sum)  # one Sum with the limits (i, 1, t), (t, 1, T)
    summand = sp.expand(double.function)
    data_terms = [x for x in sp.Add.make_args(summand) if x.has(s)]
    reg_summand = sp.Add(*[x for x in sp.Add.make_args(summand) if not x.has(s)])
    data = sp.Sum(sp.Sum(sp.Add(*data_terms), (i, 1, t)), (t, 1, T)) / (2 * tau)
    reg_sum = sp.Sum(sp.Sum(reg_summand, (i, 1, t)), (t, 1, T)) / (2 * tau)
    inner_closed = _generic(sp.summation(reg_summand, (i, 1, t)))
    generic = sp.factor(_generic(summation_by_terms(inner_closed, (t, 1, T))) / (2 * tau))
    at_one = sp.factor(sp.limit(generic, b, 1))
    reg = sp.Piecewise((at_one, sp.Eq(b**2, 1)), (generic, True))
    paper = paper_regulariser()
    return {"data": data, "regulariser_sum": reg_sum, "regulariser": reg, "regulariser_generic": generic,
            "regulariser_at_1": at_one, "paper": paper, "paper_difference": sp.simplify(sp.factor(generic - paper)),
            "energy": energy}


# ---- solutions with one mode frozen -----------------------------------------------------------------------------
@derivation
def derive_io_solution():
    """u(t) with b frozen (balanced): ``derivations.frozen``'s logistic with the every-step A(b) and B(b) (eq. 157).

    Returns
    -------
    dict
        ``u_of_t`` (in the constants A, B), ``u_of_t_every_step`` (B replaced by its closed form in b and T, A left
        as the lag sum), ``fixed_point``, ``rate_constant`` (2 A / tau).
    """
    from . import frozen as io

    bal = io.derive_balanced_solution()
    coeffs = derive_sum_coefficients()
    A_sum = coeffs["A_lag"]
    B_closed = coeffs["B_generic"]
    subs = {io.A: A_sum, io.B: B_closed}
    return {"u_of_t": bal["u_of_t"], "u_of_t_every_step": bal["u_of_t"].subs(subs),
            "fixed_point": bal["fixed_point"].subs(subs), "rate_constant": bal["rate_constant"].subs(subs),
            "t_of_u": bal["t_of_u"]}


@derivation
def derive_flow_field():
    """g(b) = tau db/dt with u frozen, for the every-step sums, and its m-th b-derivative (eq. 158).

    g = u A'(b) - u^2 B'(b)/2 = sum_k k alpha_k u b^(k-1) - sum_k k (T-k) u^2 b^(2k-1); d^m/db^m multiplies the
    coefficient of b^p by the falling factorial ff(p, m). The time derivatives of b are ``recurrent_taylor``'s
    Bell polynomials in g^(m), which do not depend on the task.
    """
    from .recurrent_taylor import derive_flow_field as final_field

    task_sum_form = final_field()["task_sum_form"]
    coeffs = derive_sum_coefficients()
    explicit = {sp.Derivative(mf.A(b), b): sp.diff(coeffs["A_lag"], b), sp.Derivative(mf.B(b), b):
                sp.diff(coeffs["B_lag"], b), mf.A(b): coeffs["A_lag"], mf.B(b): coeffs["B_lag"]}
    lag_form = task_sum_form.xreplace(explicit)
    m = sp.Symbol("m", integer=True, nonnegative=True)
    derivative = (sp.Sum(k * sp.ff(k - 1, m) * alpha[k] * u * b ** (k - 1 - m), (k, 1, T - 1))
                  - sp.Sum(k * (T - k) * sp.ff(2 * k - 1, m) * u**2 * b ** (2 * k - 1 - m), (k, 1, T - 1)))
    return {"task_sum_form": task_sum_form, "lag_form": lag_form, "derivative": derivative}


def flow_field_polynomial(profile, u_value=u):
    """g(b) as an explicit polynomial for one every-step mode with concrete T (``profile[t-1][i-1]`` = s_(t,i))."""
    Tn = len(profile)
    A_expr = sum(sp.sympify(profile[tt][ii]) * b ** (tt - ii) for tt in range(Tn) for ii in range(tt + 1))
    B_expr = sum(b ** (2 * (tt - ii)) for tt in range(Tn) for ii in range(tt + 1))
    return sp.expand(u_value * sp.diff(A_expr, b) - u_value**2 * sp.diff(B_expr, b) / 2)


# ---- zero-loss solutions ----------------------------------------------------------------------------------------
@derivation
def derive_zero_loss_solution(family: str):
    """Solve s_(t,i) = u b^(t-i) for every i <= t: the last output's two last steps fix u and b, the rest must fit.

    s_(T,T) = u and s_(T,T-1) = u b give u and b; the residual s_(t,i) - u b^(t-i) on all other pairs is the
    condition. For delta lambda^(t-i) it vanishes (b = lambda, u = delta), constant is its lambda = 1 case, and
    for delta lambda^i the diagonal s_(t,t) = delta lambda^t cannot be one u unless lambda = 1.

    Returns
    -------
    dict
        ``u``, ``b``, ``residual`` (in t, i), ``condition`` (sympy relation for zero loss; ``True`` if always).
    """
    sol = sp.solve([family_profile(family, T, T) - u, family_profile(family, T, T - 1) - u * b], [u, b], dict=True)
    if len(sol) != 1:  # pragma: no cover - the families are fixed
        raise RuntimeError(f"expected one solution for family {family!r}, got {sol}")
    u_sol, b_sol = sp.simplify(sol[0][u]), sp.simplify(sol[0][b])
    residual = sp.simplify(sp.powsimp(sp.expand_power_base(family_profile(family) - u_sol * b_sol ** (t - i),
                                                           force=True), force=True))
    if residual == 0:
        condition = sp.true
    else:
        # The diagonal i = t one step before the end must fit too: an equation in the family parameter alone.
        # Divided by s_(T-1,T-1) > 0, which cannot vanish.
        diagonal = sp.simplify(sp.powsimp(residual.subs({t: T - 1, i: T - 1}) / family_profile(family, T - 1, T - 1),
                                          force=True))
        roots = [r for r in sp.solve(diagonal, lam) if r.is_positive is not False]
        condition = sp.Or(*[sp.Eq(lam, r) for r in roots]) if roots else sp.false
    return {"u": u_sol, "b": b_sol, "residual": residual, "condition": condition}


@derivation
def derive_general_zero_loss():
    """Zero loss for any every-step task: s_(t,i) = s_(T,T) (s_(T,T-1)/s_(T,T))^(t-i) for all i <= t."""
    return sp.Eq(s[t, i], s[T, T] * (s[T, T - 1] / s[T, T]) ** (t - i))


# ---- extrapolation to other lengths ------------------------------------------------------------------------------
#: Test length T' (the network was trained at T).
Tp = sp.Symbol("T'", integer=True, positive=True)
#: Extrapolation families with an every-step zero-loss solution: base family and how delta depends on the length.
EXTRAPOLATION_FAMILIES = {"constant": ("constant", None), "sum": ("constant", sp.Integer(1)),
                          "mean": ("constant", "1/T"), "inverse_exponential": ("inverse_exponential", None)}


@derivation
def derive_extrapolation(family: str):
    """Residual and energy of the length-T zero-loss solution run with every-step outputs at length T'.

    Returns
    -------
    dict
        ``u``, ``b`` (the solution at T), ``residual`` r_(t,i) = s'_(t,i) - u b^(t-i), ``energy`` (double sum over
        i <= t <= T' divided by 2 tau, summed by sympy).
    """
    if family not in EXTRAPOLATION_FAMILIES:

        raise bad("family", family, f"be one of {', '.join(EXTRAPOLATION_FAMILIES)} (every-step outputs: the "
                                    "exponential family has no zero-loss solution)")
    base, rule = EXTRAPOLATION_FAMILIES[family]
    scale = {None: lambda n: delta, "1/T": lambda n: 1 / n}.get(rule, lambda n: rule)
    sol = derive_zero_loss_solution(base)
    u_T, b_T = sol["u"].subs(delta, scale(T)), sol["b"].subs(delta, scale(T))
    target = family_profile(base).subs(delta, scale(Tp))
    residual = sp.simplify(target - u_T * b_T ** (t - i))
    energy = summation_by_terms(summation_by_terms(residual**2, (i, 1, t)), (t, 1, Tp)) / (2 * tau)
    return {"u": u_T, "b": b_T, "residual": residual, "energy": sp.factor(sp.simplify(energy))}


# ---- concrete tasks ------------------------------------------------------------------------------------------------
def derive_task_sums(task, mode: int = 0, explicit_up_to: int = 12):
    """A(b) and B(b) of one mode of a concrete every-step task (polynomials up to ``explicit_up_to``; closed forms
    or a lag Sum beyond)."""
    alphas, ws = task.sum_coefficients()
    Tn = task.T
    if Tn <= explicit_up_to:
        A_expr = sp.Add(*[mf.number(alphas[mode, kk]) * b**kk for kk in range(Tn)])
        B_expr = sp.Add(*[sp.Integer(int(ws[kk])) * b ** (2 * kk) for kk in range(Tn)])
        return {mf.A(b): A_expr, mf.B(b): B_expr}
    B_expr = derive_sum_coefficients()["B_closed_form"].subs(T, Tn)
    spec = task.spec or {}
    if spec.get("family") in FAMILIES and mf.family_closed_form_applies(spec, ("delta", "lambda")):
        values = {delta: sp.Float(float(per_mode(spec["delta"], mode)))}
        if "lambda" in spec:
            values[lam] = sp.Float(float(per_mode(spec["lambda"], mode)))
        A_expr = sp.summation(sp.summation(family_profile(spec["family"]) * b ** (t - i), (i, 1, t)), (t, 1, Tn))
        return {mf.A(b): sp.simplify(A_expr.subs(values)), mf.B(b): B_expr}
    return {mf.A(b): sp.Sum(alpha[k] * b**k, (k, 0, Tn - 1)), mf.B(b): B_expr}
