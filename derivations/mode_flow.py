"""Energy, gradient-flow ODEs, Jacobian and conserved quantity of one connectivity mode (paper §3, eqs. 5-8).

Per mode, with u = a c and the residual r_i = s_i - c b^(T-i) a at trajectory step i = 1..T, the energy is

    E = 1/(2 tau) sum_i r_i^2 = 1/(2 tau) (||s||^2 - 2 u A(b) + u^2 B(b)),
    A(b) = sum_i s_i b^(T-i)   (discounted sum of the task's singular values),
    B(b) = sum_i b^(2(T-i)) = (1 - b^(2T)) / (1 - b^2).

Writing the energy through the task sums A(b) and B(b) keeps the symbolic work independent of T: sympy
differentiates two undefined functions, whatever the trajectory length, and the T-sums are left to vectorized
numpy (see ``lrnn_theory.flow``). The explicit eqs. (5)-(7), with sums over i, are derived too and checked against
the A/B form in the tests.

``lrnn derive --result flow [--format latex|pretty|text]`` prints every closed form (``lrnn_theory.cli.reports``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from lrnn_theory.errors import bad

from . import derivation, per_mode

# Mode strengths: a = input mode (W_x), b = recurrent mode (W_h), c = output mode (W_y).
a, b, c = sp.symbols("a b c", real=True)
u = sp.Symbol("u", real=True)
tau = sp.Symbol("tau", positive=True)
T = sp.Symbol("T", integer=True, positive=True)
i = sp.Symbol("i", integer=True, positive=True)
s = sp.IndexedBase("s", real=True)
#: Squared norm of the task's singular-value profile, sum_i s_i^2.
S2 = sp.Symbol("S_2", nonnegative=True)
#: The task sums, left undefined so that derivatives stay symbolic: A(b) = sum_i s_i b^(T-i), B(b) = sum_i b^(2(T-i)).
A = sp.Function("A")
B = sp.Function("B")

STATE = (a, b, c)

#: Plain symbols for A, B and their first two b-derivatives: the arguments of the compiled numeric functions.
SUM_SYMBOLS = sp.symbols("A_0 A_1 A_2 B_0 B_1 B_2", real=True)


def _sum_to_symbols():
    """Substitution of A(b), A'(b), A''(b), B(b), B'(b), B''(b) by the plain symbols of SUM_SYMBOLS."""
    A0, A1, A2, B0, B1, B2 = SUM_SYMBOLS
    # Highest derivative first, so that A(b) inside a Derivative is not replaced before the Derivative itself.
    return [(sp.Derivative(A(b), (b, 2)), A2), (sp.Derivative(B(b), (b, 2)), B2),
            (sp.Derivative(A(b), b), A1), (sp.Derivative(B(b), b), B1), (A(b), A0), (B(b), B0)]


def number(value, digits: int = 15):
    """A real or complex number as a sympy number with ``digits`` significant digits: Float(re) + I Float(im),
    which is the Float itself for a real value."""
    z = complex(value)
    return sp.Float(z.real, digits) + sp.I * sp.Float(z.imag, digits)


def sums_as_symbols(expr):
    """Replace the task sums and their derivatives in ``expr`` by the symbols A_0..B_2 (for lambdify)."""
    return expr.subs(_sum_to_symbols())


@dataclass
class ModeFlow:
    """Symbolic learning dynamics of one mode.

    Attributes
    ----------
    energy : sympy.Expr
        Per-mode energy E(a, b, c) in terms of the task sums A(b), B(b) and S_2 = ||s||^2.
    tau_rates : dict
        ``tau * d(theta)/dt = -tau * dE/d(theta)`` for theta in (a, b, c): the right-hand sides of eqs. (5)-(7).
    rates : dict
        ``d(theta)/dt`` (the above divided by tau).
    jacobian : sympy.Matrix
        d(rates)/d(a, b, c), a 3x3 matrix.
    conserved : sympy.Expr
        ``a**2 - c**2``.
    conserved_rate : sympy.Expr
        Its time derivative along the flow (simplifies to 0).
    sums : dict
        Definitions of the task sums A(b) and B(b): unevaluated sums over i for symbolic T, or explicit expressions
        for a concrete task (see ``derive_task_sums``).
    """

    energy: sp.Expr
    tau_rates: dict
    rates: dict
    jacobian: sp.Matrix
    conserved: sp.Expr
    conserved_rate: sp.Expr
    sums: dict = field(default_factory=dict)


def derive_energy():
    """Per-mode energy (paper Lemma 3.1) through the task sums: (S_2 - 2 a c A(b) + a^2 c^2 B(b)) / (2 tau)."""
    return (S2 - 2 * a * c * A(b) + (a * c) ** 2 * B(b)) / (2 * tau)


def derive_energy_sum_form():
    """Per-mode energy as the explicit sum over steps: 1/(2 tau) sum_{i=1}^T (s_i - c b^(T-i) a)^2."""
    return sp.Sum((s[i] - c * b ** (T - i) * a) ** 2, (i, 1, T)) / (2 * tau)


def derive_sum_definitions():
    """A(b) and B(b) for a symbolic trajectory length T, as unevaluated sums, plus B's closed form."""
    return {
        A(b): sp.Sum(s[i] * b ** (T - i), (i, 1, T)),
        B(b): sp.Sum(b ** (2 * (T - i)), (i, 1, T)),
        "B_closed_form": (1 - b ** (2 * T)) / (1 - b**2),
    }


def derive_mode_odes(energy=None):
    """``tau * d(theta)/dt = -tau * dE/d(theta)`` for theta in (a, b, c), simplified."""
    energy = derive_energy() if energy is None else energy
    return {v: sp.factor(sp.expand(-tau * sp.diff(energy, v))) for v in STATE}


def derive_mode_odes_sum_form():
    """Eqs. (5)-(7) of the paper as explicit sums over the trajectory steps (symbolic T)."""
    r = s[i] - c * b ** (T - i) * a
    return {
        a: sp.Sum(c * b ** (T - i) * r, (i, 1, T)),
        b: sp.Sum((T - i) * c * a * b ** (T - i - 1) * r, (i, 1, T - 1)),
        c: sp.Sum(a * b ** (T - i) * r, (i, 1, T)),
    }


def derive_jacobian(rates):
    """d(rates)/d(a, b, c) as a 3x3 sympy Matrix (rows: rate of a, b, c)."""
    return sp.Matrix([[sp.diff(rates[v], w) for w in STATE] for v in STATE])


def derive_conserved_quantity(tau_rates):
    """The conserved quantity a^2 - c^2 and its time derivative along the flow (which simplifies to 0)."""
    q = a**2 - c**2
    rate = sp.simplify(sum(sp.diff(q, v) * tau_rates[v] / tau for v in STATE))
    return q, rate


@derivation
def derive_family_sums(family: str, base: str | None = None):
    """A(b) of a task family and B(b), summed in closed form by sympy for a symbolic trajectory length T.

    Returns ``(A_expr, B_expr, parameters)`` where ``parameters`` maps the family's parameter names to the sympy
    symbols used (delta, lambda, kappa, beta). Geometric sums come back as Piecewise expressions (the ratio-1 case
    separately).
    """
    delta, lam, kappa, beta = sp.symbols("delta lambda kappa beta", real=True)
    k = sp.Symbol("k", integer=True, nonnegative=True)  # k = T - i, the power of b of step i
    # s_(T-k) of each base family, as a function of k
    profiles = {"constant": sp.Integer(1), "inverse_exponential": lam**k, "exponential": lam ** (T - k)}
    B_expr = sp.Sum(b ** (2 * k), (k, 0, T - 1)).doit()
    if family in profiles:
        A_expr = sp.Sum(delta * profiles[family] * b**k, (k, 0, T - 1)).doit()
        used = {"delta": delta} if family == "constant" else {"delta": delta, "lambda": lam}
    elif family == "last_step":
        base = base or "constant"
        A_expr = sp.Sum(delta * profiles[base] * b**k, (k, 1, T - 1)).doit() + kappa
        used = {"delta": delta, "kappa": kappa} if base == "constant" else \
            {"delta": delta, "lambda": lam, "kappa": kappa}
    elif family == "dirac":
        A_expr = beta * b ** (T - 1) + kappa
        used = {"beta": beta, "kappa": kappa}
    else:

        raise bad("family", family, "be a family of lrnn_theory.tasks.FAMILIES")
    return A_expr, B_expr, used


#: Parameters of a task file that shape a family's profile.
PROFILE_PARAMETERS = ("delta", "lambda", "kappa", "beta", "delta_phase", "lambda_phase")


def family_closed_form_applies(spec: dict, parameters) -> bool:
    """Whether the closed-form sums of the family in ``spec`` (a task's spec) describe its profile: a family task
    whose every profile parameter is one of the closed form's ``parameters`` (phases, for instance, are not)."""
    return "family" in spec and all(key in parameters for key in spec if key in PROFILE_PARAMETERS)


def derive_task_sums(task, mode: int = 0, explicit_up_to: int = 12):
    """A(b) and B(b) of one mode of a concrete task.

    For T <= ``explicit_up_to`` the polynomials are written out. Beyond that, family tasks get the closed forms of
    ``derive_family_sums`` and array tasks an unevaluated sum over the stored values s_i, so the size of the
    expression does not grow with T.
    """
    if getattr(task, "every_step", False):  # App. M: the task sums by lag
        from .every_step import derive_task_sums as every_step_sums

        return every_step_sums(task, mode, explicit_up_to)
    sv = task.singular_values[mode]
    Tn = task.T
    if Tn <= explicit_up_to:
        A_expr = sp.Add(*[number(sv[k - 1]) * b ** (Tn - k) for k in range(1, Tn + 1)])
        B_expr = sp.Add(*[b ** (2 * (Tn - k)) for k in range(1, Tn + 1)])
        return {A(b): A_expr, B(b): B_expr}
    spec = task.spec or {}
    if not family_closed_form_applies(spec, ("delta", "lambda", "kappa", "beta")):
        _, B_expr, _ = derive_family_sums("constant")
        return {A(b): sp.Sum(s[i] * b ** (Tn - i), (i, 1, Tn)), B(b): B_expr.subs(T, Tn)}
    A_expr, B_expr, params = derive_family_sums(spec["family"], spec.get("base"))
    values = {sym: sp.Float(float(per_mode(spec[key], mode))) for key, sym in params.items()}
    values[T] = Tn
    return {A(b): A_expr.subs(values), B(b): B_expr.subs(T, Tn)}


def derive_mode_flow(task=None, mode: int = 0) -> ModeFlow:
    """Derive everything about one mode: energy, ODEs, Jacobian, conserved quantity.

    Parameters
    ----------
    task : lrnn_theory.Task, optional
        Without a task the derivation is for a symbolic T with symbolic singular values s_i. With one, the task
        sums of mode ``mode`` are attached as ``sums``; the ODEs themselves keep the A(b), B(b) form, which is
        exactly why derivation time does not depend on T.

    Examples
    --------
    >>> from lrnn_theory.derivations.mode_flow import derive_mode_flow, a, b, c
    >>> flow = derive_mode_flow()
    >>> flow.tau_rates[a]
    -c*(a*c*B(b) - A(b))
    >>> flow.conserved, flow.conserved_rate
    (a**2 - c**2, 0)
    """
    flow = _derive_task_free_flow()
    flow.sums = derive_sum_definitions() if task is None else derive_task_sums(task, mode)
    return flow


@derivation
def _derive_task_free_flow() -> ModeFlow:
    """The part of ``derive_mode_flow`` that no task enters (everything but ``sums``), derived once."""
    energy = derive_energy()
    tau_rates = derive_mode_odes(energy)
    rates = {v: tau_rates[v] / tau for v in STATE}
    q, q_rate = derive_conserved_quantity(tau_rates)
    return ModeFlow(energy=energy, tau_rates=tau_rates, rates=rates, jacobian=derive_jacobian(rates), conserved=q,
                    conserved_rate=q_rate)
