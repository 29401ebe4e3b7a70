"""Numeric functions compiled (lambdified) from the symbolic derivations: the one place that calls ``lambdify``.

``lrnn_theory.derivations`` returns sympy expressions only; this module turns the ones the numeric core evaluates
into numpy functions, once per process (each is cached: the expressions do not depend on the task).

* ``flow_functions(flow, layout)``: rates and Jacobian of the gradient flow or the modified flow (finite learning
  rates), for real modes (a, b, c) or complex ones (Wirtinger derivatives), with the calling convention of
  ``FlowFunctions`` (``lrnn_theory.flow`` evaluates them through its mode layouts); their generated code is kept on
  disk with the derivations (``lrnn_theory.cache``), so a new process does not run cse and the printer again;
* ``frozen_io_functions`` and ``frozen_polar_functions``: the input-output solutions with b frozen
  (``lrnn_theory.frozen``);
* ``time_derivatives(order)``: the Bell-polynomial time derivatives of b with u frozen (``integrate_recurrent_taylor``);
* ``map_step(layout)``: one step of the exact gradient-descent map (``lrnn_theory.finite_lr.DiscreteGD``), generated
  from the gradient flow's rates with cse as a function that writes h times the rates into buffers.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Callable

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from .derivations import complex as complex_sym
from .derivations import derivation
from .derivations import finite_lr as finite_lr_sym
from .derivations import frozen as frozen_sym
from .derivations import mode_flow as mode_flow_sym
from .derivations import recurrent_taylor as taylor_sym


# ---- the flows ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FlowFunctions:
    """The compiled rates and Jacobian of one flow in one mode layout, and how to call them.

    Every function takes the mode values, then the flow's parameters, then the task sums:

    * real layout: ``(a, b, c, *parameters, A_0..A_n, B_0..B_n)``;
    * complex layout: ``(a, conj a, b, conj b, c, conj c, *parameters, A_0..A_n, conj A_0..conj A_n, B_ij...)``
      with A_j the j-th derivative of A at conj(b) and B_ij = d^(i+j) B / db^i d(conj b)^j the Wirtinger partials of
      the real B(b, conj b) for i + j <= n, in the order of ``derivations.complex.partials(n)`` (any gram matrix G);

    the parameters are (tau,) for the gradient flow and (tau, h) for the modified flow; n + 1 = ``sum_slots``.
    ``jacobian`` gives the nested m x m list d(rate p)/d(state q) for real modes and the 3 x 6 list of Wirtinger
    derivatives d(rate p)/d(z_q), d(rate p)/d(conj z_q) for complex ones.
    """

    rates: Callable
    jacobian: Callable
    #: (modified flow) E_h - E per mode, with the arguments of the rates; None for the gradient flow.
    energy_correction: Callable | None
    #: Derivatives 0..n of the task sums each function takes: n + 1 slots per sum.
    sum_slots: int
    #: Derivatives of the task sums the rates and the Jacobian read: the slots beyond get zeros (not read).
    rates_order: int
    jacobian_order: int
    #: The rates and Jacobian are tau times the flow's (tau is divided out numerically, as the derivations give them).
    times_tau: bool


#: lambdify's namespace: numpy's own module. ``modules="numpy"`` gives the same generated code but builds its namespace
#: with ``from numpy import *``, which imports numpy.f2py, numpy.testing and more (0.2 s of ``lrnn demo``).
NUMPY = [np]


def _lambdify(args, expr):
    return sp.lambdify(args, expr, modules=NUMPY, cse=True)


def _as_rows(flat: Callable, height: int, width: int) -> Callable:
    """``flat``, a function returning a flat list of ``height`` x ``width`` entries, returning them as nested rows:
    the Jacobian's rows are compiled as one flat list, so that common subexpressions are shared across all its entries
    (lambdify's cse shares less within nested lists). Measured at K = 8: the complex modified flow's Wirtinger
    Jacobian 1.65 -> 0.46 ms per call, real modified 0.83 -> 0.16."""
    def nested(*values):
        entries = flat(*values)
        return [entries[i * width:(i + 1) * width] for i in range(height)]

    return nested


def _from_source(source: str) -> Callable:
    """The function lambdify generated as ``source`` (``_generated_flow``), in lambdify's namespace for ``NUMPY``."""
    namespace = {**vars(np), "numpy": np}
    exec(compile(source, "<lrnn_theory.compiled.flow>", "exec"), namespace)  # noqa: S102 - lambdify's printed code
    return namespace["_lambdifygenerated"]


def _real_gradient_rates():
    """(mode symbols, sum symbols, tau times the rates of a, b, c) of ``derivations.mode_flow``, and the flow."""
    sym = mode_flow_sym
    flow = sym.derive_mode_flow()
    rates = [sym.sums_as_symbols(flow.tau_rates[v]) for v in sym.STATE]
    return (sym.a, sym.b, sym.c), sym.SUM_SYMBOLS, rates, flow


def _complex_gradient_rates():
    """(mode symbols with their conjugates, sum symbols, tau times the Wirtinger rates of a, b, c)."""
    sym = complex_sym
    tau_rates = sym.derive_wirtinger_flow(sym.derive_energy())
    variables = (sym.a, sym.a_bar, sym.b, sym.b_bar, sym.c, sym.c_bar)
    return variables, sym.SUM_SYMBOLS, [sym.sums_as_symbols(tau_rates[v]) for v in sym.STATE], tau_rates


@dataclass(frozen=True)
class FlowExpressions:
    """The symbolic rates, Jacobian rows and energy correction (None for the gradient flow) of one flow in one mode
    layout, over ``args`` (the calling convention of ``FlowFunctions``), and the rest of its ``FlowFunctions``."""

    args: tuple
    rates: list
    jacobian: list
    energy_correction: object
    #: sum_slots, rates_order, jacobian_order and times_tau of ``FlowFunctions``.
    convention: dict


def _real_gradient_flow() -> FlowExpressions:
    """Rates and Jacobian of ``derivations.mode_flow`` through the task sums A(b), B(b) (both times tau)."""
    sym = mode_flow_sym
    variables, sums, rates, flow = _real_gradient_rates()
    # Entries expanded: cancels the tau * (.../tau) of the derivation (this Jacobian: 34 -> 15 us per call, K = 32).
    jac = [[sp.expand(entry) for entry in row] for row in sym.sums_as_symbols(flow.jacobian * sym.tau).tolist()]
    return FlowExpressions(variables + (sym.tau,) + sums, rates, jac, None,
                           dict(sum_slots=3, rates_order=1, jacobian_order=2, times_tau=True))


def _complex_gradient_flow() -> FlowExpressions:
    """The Wirtinger flow of ``derivations.complex``: tau times the rates and their Wirtinger derivatives (3 x 6),
    through A, conj A and the Wirtinger partials of B(b, conj b) (a diagonal or a full gram matrix G)."""
    sym = complex_sym
    variables, sums, rates, tau_rates = _complex_gradient_rates()
    jac = [[sym.sums_as_symbols(sp.diff(tau_rates[v], w)) for w in variables] for v in sym.STATE]
    return FlowExpressions(variables + (mode_flow_sym.tau,) + sums, rates, jac, None,
                           dict(sum_slots=3, rates_order=1, jacobian_order=2, times_tau=True))


def _real_modified_flow() -> FlowExpressions:
    """The flow of E + (h/4) ||grad E||^2 of real modes (``derivations.finite_lr``): the rates themselves."""
    sym, mf = finite_lr_sym, mode_flow_sym
    mod = sym.derive_modified_flow()
    A0, A1, A2, B0, B1, B2 = mf.SUM_SYMBOLS
    A3, B3 = sym.THIRD_SUM_SYMBOLS
    args = (mf.a, mf.b, mf.c, mf.tau, sym.h, A0, A1, A2, A3, B0, B1, B2, B3)
    rates = [sym.all_sums_as_symbols(mod["rates"][v]) for v in mf.STATE]
    jac = sym.all_sums_as_symbols(mod["jacobian"]).tolist()
    correction = sym.all_sums_as_symbols(mod["energy"] - mf.derive_energy())
    return FlowExpressions(args, rates, jac, correction,
                           dict(sum_slots=4, rates_order=3, jacobian_order=3, times_tau=False))


def _complex_modified_flow() -> FlowExpressions:
    """The modified flow of complex modes (``derive_complex_modified_flow``): tau times the Wirtinger rates and
    their Wirtinger derivatives, which need third derivatives of the sums."""
    sym = finite_lr_sym
    mod = sym.derive_complex_modified_flow()
    args = sym.COMPLEX_VARIABLES + (mode_flow_sym.tau, sym.h) + sym.COMPLEX_SUM_SYMBOLS
    rates = [sym.complex_sums_as_symbols(mod["tau_rates"][z]) for z in sym.cx.STATE]
    jac = [[sym.complex_sums_as_symbols(entry) for entry in row] for row in mod["wirtinger"]]
    correction = sym.complex_sums_as_symbols(mod["energy"] - sym.cx.derive_energy())
    return FlowExpressions(args, rates, jac, correction,
                           dict(sum_slots=4, rates_order=3, jacobian_order=3, times_tau=True))


#: (flow, mode layout) -> builder of its symbolic expressions.
FLOWS = {("gradient", "real"): _real_gradient_flow, ("gradient", "complex"): _complex_gradient_flow,
         ("modified", "real"): _real_modified_flow, ("modified", "complex"): _complex_modified_flow}


def flow_expressions(flow: str, layout: str) -> FlowExpressions:
    """The symbolic ``flow`` ("gradient" or "modified") for modes laid out as ``layout`` ("real" or "complex")."""
    return FLOWS[flow, layout]()


@derivation(keep_on_disk=True)
def _generated_flow(flow: str, layout: str) -> dict:
    """The Python source lambdify generates (with cse) for the rates, the flat Jacobian and the energy correction
    (None for the gradient flow) of ``flow_expressions(flow, layout)``, the Jacobian's shape and the convention of
    ``FlowFunctions``. Kept on disk with the derivations (``derivations.derivation``, which keys a function outside
    the derivation modules by its own module's source too, so a change of this module renews them): a new process
    execs the four flows' sources in ~10 ms instead of deriving the expressions and running cse and the printer
    again (~0.8 s CPU)."""
    expr = flow_expressions(flow, layout)
    flat = [entry for row in expr.jacobian for entry in row]
    correction = expr.energy_correction
    return {"rates": inspect.getsource(_lambdify(expr.args, expr.rates)),
            "jacobian": inspect.getsource(_lambdify(expr.args, flat)),
            "shape": (len(expr.jacobian), len(expr.jacobian[0])),
            "energy_correction": None if correction is None else inspect.getsource(_lambdify(expr.args, correction)),
            "convention": dict(expr.convention)}


@functools.lru_cache(maxsize=None)
def flow_functions(flow: str, layout: str) -> FlowFunctions:
    """The compiled ``flow`` ("gradient" or "modified") for modes laid out as ``layout`` ("real" or "complex"):
    the Jacobian as one flat list (``_as_rows``), from the generated code kept on disk (``_generated_flow``)."""
    generated = _generated_flow(flow, layout)
    correction = generated["energy_correction"]
    return FlowFunctions(_from_source(generated["rates"]), _as_rows(_from_source(generated["jacobian"]),
                                                                    *generated["shape"]),
                         None if correction is None else _from_source(correction), **generated["convention"])


# ---- the exact gradient-descent map ------------------------------------------------------------------------------
@dataclass(frozen=True)
class MapStep:
    """One step of gradient descent on the modes of one layout, generated from the gradient flow's rates.

    ``increments(*modes, *sums, out_a, out_b, out_c, *scratch)`` writes h times the rate of a, b and c into the three
    buffers (``modes`` as the rates take them: (a, b, c), or (a, conj a, b, conj b, c, conj c) for complex modes),
    one numpy call per product or sum into buffers given once (``temporaries`` scratch buffers of the modes' shape:
    no allocation per call). The
    rates are linear in the task sums (tau E is linear in A and B), so ``sums`` are the task sums of ``slots``
    (positions among the flow's sum arguments, ``FlowFunctions``) each times h / tau and times its ``factors``
    entry: both folded into the coefficient tables once (``lrnn_theory.flow_field.GradientStep``), not paid per step.
    """

    increments: Callable
    slots: tuple
    factors: tuple
    #: The generated Python source of ``increments`` (shown by tests and for reading).
    source: str
    #: Number of output buffers ``increments`` writes (3 for the rates; the Jacobian's entries for ``jacobian_step``).
    outputs: int = 3
    #: Number of scratch buffers ``increments`` takes after its outputs (its common subexpressions and partial sums).
    temporaries: int = 0
    #: The names of ``increments``'s arguments, in order: the modes, the sums, the outputs, the scratch buffers.
    arguments: tuple = ()
    #: The same statements on scalars (``z = x * y`` for ``numpy.multiply(x, y, z)``), for a compiled loop over the
    #: modes (``lrnn_theory.native``).
    scalar_statements: tuple = ()


class _BufferProgram:
    """Statements that evaluate expressions one numpy call per binary product or sum, into named buffers: the
    common subexpressions and partial results go to scratch buffers (``scratch``), each output's last call writes its
    target with ``out=``. Products and sums are folded left to right in the order the printer prints them."""

    def __init__(self, printer, names: dict):
        self.printer, self.names, self.scratch, self.lines = printer, names, [], []
        self.scalar_lines = []  # the same statements on scalars, one per line

    def emit(self, line: str, scalar: str):
        """A statement on buffers and the same on scalars."""
        self.lines.append(line)
        self.scalar_lines.append(scalar)

    def buffer(self) -> str:
        """The name of a new scratch buffer."""
        self.scratch.append(f"scratch_{len(self.scratch)}")
        return self.scratch[-1]

    def operand(self, expr) -> str:
        """The name or literal of ``expr``, evaluated into a scratch buffer first if it is a compound expression."""
        if expr in self.names:
            return self.names[expr]
        if expr.is_Number:
            return repr(complex(expr) if expr.has(sp.I) else float(expr))
        name = self.buffer()
        self.into(expr, name, keyword=False)
        return name

    def into(self, expr, target: str, keyword: bool = True):
        """Statements that evaluate ``expr`` into the buffer ``target`` (the last one with ``out=`` if ``keyword``)."""
        out = f"out={target}" if keyword else target
        if (expr.is_Mul or expr.is_Add) and not expr.has(sp.I):
            ufunc = "multiply" if expr.is_Mul else "add"
            if expr.is_Mul:  # the numeric coefficient (if any) first, as one scalar
                coefficient = expr.as_coeff_Mul()[0]
                terms = [coefficient] * (coefficient != 1) + [f for f in expr.as_ordered_factors() if not f.is_Number]
            else:
                terms = expr.as_ordered_terms()
            names = [self.operand(term) for term in terms]
            partial = names[0]
            operator = "*" if expr.is_Mul else "+"
            for i, name in enumerate(names[1:], start=2):
                last = i == len(names)
                buffer = target if last else self.buffer()
                self.emit(f"numpy.{ufunc}({partial}, {name}, {out if last else buffer})",
                          f"{buffer} = {partial} {operator} {name}")
                partial = buffer
        elif expr.is_Pow and expr.exp == 2:
            base = self.operand(expr.base)
            self.emit(f"numpy.multiply({base}, {base}, {out})", f"{target} = {base} * {base}")
        elif expr in self.names:
            self.emit(f"numpy.copyto({target}, {self.names[expr]})", f"{target} = {self.names[expr]}")
        else:  # anything else (a number, other powers): printed as numpy evaluates it, on the buffers' names
            named = expr.xreplace({symbol: sp.Symbol(name) for symbol, name in self.names.items()})
            printed = self.printer.doprint(named)
            self.emit(f"{target}[...] = {printed}", f"{target} = {printed}")


def _generate_linear(variables, sums, expressions, targets) -> MapStep:
    """Collect ``expressions`` (linear in the task sums ``sums``) by task sum, fold each sum's rational factor into
    it, and print, with cse, a function of (variables, the sums read, the buffers ``targets``) that evaluates them
    into the buffers."""
    parts = [sp.collect(sp.expand(expr), sums, evaluate=False) for expr in expressions]
    if any(set(p) - set(sums) or any(c.has(*sums, mode_flow_sym.tau) for c in p.values()) for p in parts):
        raise RuntimeError("the expressions are not linear in the task sums")  # pragma: no cover - derivation changed
    slots = tuple(i for i, s in enumerate(sums) if any(s in p for p in parts))
    factors = []
    for i in slots:
        rationals = {p[sums[i]].as_coeff_Mul()[0] for p in parts if sums[i] in p}
        factors.append(rationals.pop() if len(rationals) == 1 else sp.Integer(1))
    scale = dict(zip((sums[i] for i in slots), factors))
    folded = [sp.factor_terms(sp.Add(*(coeff / scale[s] * s for s, coeff in p.items()))) for p in parts]
    replacements, outputs = sp.cse(folded)
    inputs = list(variables) + [sums[i] for i in slots]
    program = _BufferProgram(NumPyPrinter(), {symbol: str(symbol) for symbol in inputs})
    for symbol, expr in replacements:  # each common subexpression into a scratch buffer of its own
        name = program.buffer()
        program.into(expr, name, keyword=False)
        program.names[symbol] = name
    for expr, target in zip(outputs, targets):
        program.into(expr, target)
    names = [str(v) for v in inputs] + list(targets) + program.scratch
    lines = [f"def increments({', '.join(names)}):"] + [f"    {line}" for line in program.lines]
    source = "\n".join(lines) + "\n"
    namespace = {"numpy": np}
    exec(compile(source, "<lrnn_theory.compiled.map_step>", "exec"), namespace)  # noqa: S102 - our own printed code
    return MapStep(namespace["increments"], slots, tuple(float(f) for f in factors), source, len(targets),
                   len(program.scratch), tuple(names), tuple(program.scalar_lines))


def _gradient_parts(layout: str) -> tuple:
    """(mode symbols, sum symbols, ``FlowExpressions``) of the gradient flow of ``layout``: its arguments are the
    modes, tau, then the sums."""
    expressions = flow_expressions("gradient", layout)
    split = expressions.args.index(mode_flow_sym.tau)
    return expressions.args[:split], expressions.args[split + 1:], expressions


@functools.lru_cache(maxsize=None)
def map_step(layout: str) -> MapStep:
    """The generated step of the exact gradient-descent map for modes laid out as ``layout`` ("real", "complex"):
    the rates as increments into out_a, out_b, out_c (``_generate_linear``)."""
    variables, sums, expressions = _gradient_parts(layout)
    return _generate_linear(variables, sums, expressions.rates, ("out_a", "out_b", "out_c"))


@functools.lru_cache(maxsize=None)
def jacobian_step(layout: str) -> MapStep:
    """The gradient flow's Jacobian entries for modes laid out as ``layout``, generated as ``map_step``'s rates are:
    ``increments(*modes, *sums, out_0, out_1, ...)`` writes the entries (row after row) times the scale folded into
    the sums (1 / tau for the flow itself) into the buffers."""
    variables, sums, expressions = _gradient_parts(layout)
    entries = [entry for row in expressions.jacobian for entry in row]
    return _generate_linear(variables, sums, entries, tuple(f"out_{i}" for i in range(len(entries))))


# ---- frozen solutions ---------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def frozen_balanced_functions() -> dict:
    """The balanced (a = c) input-output solutions with b frozen (``derivations.frozen``): the logistic, its
    A -> 0 limit and the fixed point, by name."""
    io = frozen_sym
    bal = io.derive_balanced_solution()
    k = bal["rate_constant"]  # 2A/tau
    e = sp.Symbol("e", positive=True)
    # Logistic in e = exp(2At/tau) (bounded when A <= 0) and in z = 1/e (bounded when A >= 0).
    logistic_e = sp.cancel(bal["u_of_t"].subs(sp.exp(k * io.t), e))
    logistic_z = sp.cancel(logistic_e.subs(e, 1 / io.z))
    if logistic_e.has(io.t) or logistic_z.has(io.t):  # pragma: no cover - derivation changed shape
        raise RuntimeError("logistic solution is not a function of exp(2At/tau)")
    # u = u(t) at A = 0 is rational and linear in t after clearing its denominator: solved for t by hand (sp.solve
    # costs 0.5 s here, most of it importing sympy.physics.units for its solution check)
    numerator, denominator = sp.fraction(sp.together(bal["u_of_t_A0"]))
    linear = sp.Poly(sp.expand(io.u * denominator - numerator), io.t)
    if linear.degree() != 1:  # pragma: no cover - derivation changed shape
        raise RuntimeError("u(t) at A = 0 is not linear in t after clearing its denominator")
    t_A0 = sp.factor_terms(-linear.coeff_monomial(1) / linear.coeff_monomial(io.t))
    lam = functools.partial(sp.lambdify, modules=NUMPY)
    return {
        "logistic_e": lam((e, io.A, io.B, io.u0), logistic_e),
        "logistic_z": lam((io.z, io.A, io.B, io.u0), logistic_z),
        "logistic_t": lam((io.u, io.A, io.B, io.u0, io.tau), bal["t_of_u"]),
        "A0_u": lam((io.t, io.B, io.u0, io.tau), bal["u_of_t_A0"]),
        "A0_t": lam((io.u, io.B, io.u0, io.tau), t_A0),
        "fixed_point": lam((io.A, io.B), bal["fixed_point"]),
    }


@functools.lru_cache(maxsize=None)
def frozen_unbalanced_functions() -> dict:
    """The unbalanced (a^2 != c^2) input-output solution with b frozen in its root form (``derivations.frozen``;
    see its ``_derive_root_form``: nothing cancels for a ~ -c), by name."""
    io = frozen_sym
    unb = io.derive_unbalanced_solution()
    lam = functools.partial(sp.lambdify, modules=NUMPY)
    return {
        "w_plus": lam((io.A, io.B, io.D), unb["roots"][0]),
        "w_minus": lam((io.D, io.w_plus), unb["root_product"] / io.w_plus),
        "R": lam((io.B, io.w_plus, io.w_minus), unb["R_roots"]),
        "w_of_ac": lam((io.a_mode, io.c_mode), unb["w_of_ac"]),
        "w_of_u": lam((io.u, io.D), unb["w_of_u"]),
        "w_of_u_conjugate": lam((io.u, io.D), unb["w_of_u_conjugate"]),
        "u_of_w": lam((io.w, io.D), unb["u_of_w"]),
        "w_of_z": lam((io.z, io.w_plus, io.w_minus, io.w0), unb["w_of_z_roots"]),
        "t_of_w": lam((io.w, io.w0, io.w_plus, io.w_minus, io.B, io.tau), unb["t_of_w_roots"]),
    }


#: Names of the balanced solution's functions (``frozen_balanced_functions``); every other name is unbalanced.
BALANCED_NAMES = frozenset({"logistic_e", "logistic_z", "logistic_t", "A0_u", "A0_t", "fixed_point"})


class FrozenIOFunctions:
    """The input-output solutions with b frozen by name (``lrnn_theory.frozen.IOSolution``), each family derived
    on its first use: balanced starts (a = c) never pay for the unbalanced root form's derivation (~2 s)."""

    def __getitem__(self, name: str) -> Callable:
        builder = frozen_balanced_functions if name in BALANCED_NAMES else frozen_unbalanced_functions
        return builder()[name]


def frozen_io_functions() -> FrozenIOFunctions:
    """The input-output solutions with b frozen (``derivations.frozen``): balanced logistic, its A -> 0 limit and
    the unbalanced solution in its root form, by name (``lrnn_theory.frozen.IOSolution``), derived lazily."""
    return FrozenIOFunctions()


@functools.lru_cache(maxsize=None)
def frozen_polar_functions():
    """psi(t) and r(t) of the complex input-output mode with b frozen and |a| = |c|
    (``derivations.complex.derive_frozen_io_solution``), both of (t, tau, |A|, beta, r0, psi*, psi0)."""
    psi, r, _, _, sym = complex_sym.derive_frozen_io_solution()
    args = [sym[k] for k in ("t", "tau", "absA", "beta", "r0", "psi_star", "psi0")]
    return sp.lambdify(args, psi, modules=NUMPY), sp.lambdify(args, r, modules=NUMPY)


@functools.lru_cache(maxsize=None)
def time_derivatives(order: int):
    """b^(1..order) (units of tau) from g_0..g_{order-1} (``derivations.recurrent_taylor``): one function of the
    ``order`` values g_j, returning a list of ``order`` values."""
    exprs = taylor_sym.derive_time_derivatives(order)
    return _lambdify(taylor_sym.g_symbols(order), list(exprs))
