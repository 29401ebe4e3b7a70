"""The printed reports of ``lrnn derive --result NAME``: each result's derivations, and with a task its own numbers.

The symbolic derivations (``lrnn_theory.derivations``) return sympy objects only; this module renders them (LaTeX,
unicode pretty-print or plain text) and adds, for a concrete task, the task's sums and the numbers of the numeric
core (solutions, energy split, learning-rate bound, kernel, ...), which take every kind of task or refuse in one
line where a result's mathematics does not exist for it. ``REPORTS`` lists them by the name ``--result`` takes.

Each result is a ``Report``: the task's numbers (solutions and stability in words, extrapolation energies, ...) come
first, the general formulas after. LaTeX is one ``align`` block (``latex_block``): equations as rows aligned on ``=``,
prose as ``\\intertext``, plain names (``a(t)``, not ``a{\\left(t \\right)}``) and a ``where`` line defining every
symbol the rows use (``GLOSSARY``).
"""
from __future__ import annotations

import dataclasses
import functools
import re
import shutil
import sys
import textwrap
import types
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy as sp
from sympy.core.function import AppliedUndef, UndefinedFunction
from sympy.printing.latex import LatexPrinter

from lrnn_theory.block_form import mode_block_sizes
from lrnn_theory.correlated import gram
from lrnn_theory.derivations import derivation
from lrnn_theory.derivations import complex as cx
from lrnn_theory.derivations import every_step as es
from lrnn_theory.derivations import extrapolation as ex
from lrnn_theory.derivations import finite_lr as fl
from lrnn_theory.derivations import frozen as io
from lrnn_theory.derivations import mode_flow as mf
from lrnn_theory.derivations import ntk as nt
from lrnn_theory.derivations import phase_transition as pt
from lrnn_theory.derivations import recurrent_taylor as rt
from lrnn_theory.derivations import regularisation as rg
from lrnn_theory.derivations import stability as st
from lrnn_theory.errors import DivergenceError, bad
from lrnn_theory.finite_lr import stable_lr_bound
from lrnn_theory.flow import integrate
from lrnn_theory.frozen import FlowFieldPolynomial
from lrnn_theory.interrupts import stdout_takes_unicode
from lrnn_theory.ntk import kernel_distance, mode_ntk, probe_inputs
from lrnn_theory.phase_transition import critical_beta
from lrnn_theory.regularisation import energy_split
from lrnn_theory.extrapolation import task_extrapolation
from lrnn_theory.stability import MARGINAL_TOL, classify, solve_task, zero_loss_solution
from lrnn_theory.tasks import lag_exponents

from .arguments import FORMATS
from .derive import SUMMARIES

#: Modes whose task sums the reports write out (the rest have the same equations).
MAX_MODES_PRINTED = 4


# ---- rendering ------------------------------------------------------------------------------------------------------
#: Printing and factoring are pure functions of sympy expressions: the reports print the same energy, rates and
#: Jacobian for every task, and one process (the tests, a notebook) asks for many reports.
_memoised = derivation(maxsize=4096, keep_on_disk=False)  # printing is cheaper than loading


#: Marks around a piece of LaTeX math inside a report line, so that ``finish`` can tell math from prose (control
#: characters: never in a report's own text).
MATH_OPEN, MATH_CLOSE = "\x02", "\x03"
#: Names of every symbol and function the LaTeX of the report being rendered used (``Report`` resets it): the
#: ``where`` line of the block defines each of them.
_USED_NAMES: set = set()


class _PlainLatexPrinter(LatexPrinter):
    """sympy's LaTeX with plain names: a(t), A(b) instead of a{\\left(t \\right)}, and labels such as "u*(b)" or
    "E_reg (b^2 != 1)" as valid LaTeX (``latex_label``) instead of sympy's reading of them as one odd name."""

    def _print_Function(self, expr, exp=None):
        if isinstance(expr.func, UndefinedFunction):
            text = f"{self._print(sp.Symbol(expr.func.__name__))}({', '.join(self._print(a) for a in expr.args)})"
            return text if exp is None else f"{text}^{{{exp}}}"
        return super()._print_Function(expr, exp)

    def _print_Symbol(self, expr, style="plain"):
        name = expr.name
        if _SIMPLE_NAME.fullmatch(name):
            return super()._print_Symbol(expr, style)
        return latex_label(name)


_SIMPLE_NAME = re.compile(r"[A-Za-z]+\d*(_[A-Za-z0-9]+)?")
_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "kappa", "lambda", "mu", "nu", "xi",
          "pi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Sigma",
          "Phi", "Psi", "Omega"}
_LABEL_TOKEN = re.compile(r"(?P<word>[A-Za-z]+)|(?P<num>\d+(?:\.\d+)?)|(?P<op>->|!=|<=|>=|\*\*)|(?P<space>\s+)"
                          r"|(?P<char>.)")
_LABEL_OPS = {"->": r"\to ", "!=": r"\neq ", "<=": r"\leq ", ">=": r"\geq ", "**": "^"}
_LATEX_SPECIAL = {"#": r"\#", "%": r"\%", "&": r"\&", "$": r"\$", "~": r"\sim ", "\\": r"\backslash "}


def latex_label(name: str) -> str:
    """The LaTeX of a label written in the reports' plain notation ("u*(b)", "lim_{b->oo} E*", "beta_c (b
    unbounded)"): Greek names become letters, x_(..) and x^(..) sub- and superscripts (x_alpha_gamma one subscript
    "alpha, gamma": TeX refuses a double subscript), a trailing * a superscript, longer words upright text."""
    out, i = [], 0
    while i < len(name):
        if name[i] in "_^":
            script, parts = name[i], []
            while i < len(name) and name[i] == script:  # x_alpha_gamma: one subscript
                argument, i = _script_argument(name, i + 1)
                parts.append(argument)
            out.append(f"{script}{{{', '.join(parts)}}}")
            continue
        m = _LABEL_TOKEN.match(name, i)
        out.append(_label_token(m.lastgroup, m.group()))
        i = m.end()
        if m.group() == "*" and name[i:i + 1] == "^":  # b*^2: the square of b^{*} (TeX refuses a double superscript)
            out.append("{}")
    return "".join(out)


def _script_argument(name: str, i: int) -> tuple:
    """The LaTeX of the sub- or superscript that starts at ``name[i]`` (bracketed, or one token), and where it ends."""
    if i < len(name) and name[i] in "({":
        depth, j = 0, i
        while j < len(name):
            depth += {"(": 1, "{": 1, ")": -1, "}": -1}.get(name[j], 0)
            if depth == 0:
                break
            j += 1
        return latex_label(name[i + 1:j]), j + 1
    m = _LABEL_TOKEN.match(name, i)
    if m is None:
        return "", i
    return _label_token(m.lastgroup, m.group()), m.end()


def _label_token(kind: str, text: str) -> str:
    if kind == "word":
        return (rf"\{text} " if text in _GREEK else r"\infty " if text == "oo" else r"\lim " if text == "lim"
                else text if len(text) == 1 else rf"\mathrm{{{text}}}")
    if kind == "op":
        return _LABEL_OPS[text]
    if kind == "space":
        return r"\ "
    if text == "*":
        return "^{*}"
    return _LATEX_SPECIAL.get(text, text)


@_memoised
def latex(expr) -> str:
    """One expression as LaTeX with plain names (``_PlainLatexPrinter``)."""
    return _PlainLatexPrinter().doprint(expr)


def _record_names(expr) -> None:
    """Remember the symbols and undefined functions of ``expr`` for the block's ``where`` line."""
    expr = sp.sympify(expr)
    for atom in expr.free_symbols | expr.atoms(sp.Symbol):  # bound variables too: the i of a sum over steps
        _USED_NAMES.add(str(atom.base.label if isinstance(atom, sp.Indexed) else
                            atom.label if isinstance(atom, sp.IndexedBase) else atom))
    for func in expr.atoms(AppliedUndef):
        _USED_NAMES.add(func.func.__name__)


def render(expr, fmt: str) -> str:
    """One expression as LaTeX (marked as math for ``finish``), unicode pretty-print or plain text."""
    if fmt == "latex":
        _record_names(expr)
        return MATH_OPEN + latex(expr) + MATH_CLOSE
    if fmt == "pretty":  # as wide as the terminal (sympy's own default is 80 columns)
        return _pretty(expr, use_unicode=stdout_takes_unicode(),  # ASCII art for PYTHONIOENCODING=ascii
                       num_columns=shutil.get_terminal_size((120, 24)).columns)
    if fmt == "text":
        return sp.sstr(expr)
    raise bad("format", fmt, f"be one of {', '.join(FORMATS)}")


@_memoised
def _pretty(expr, **options) -> str:
    """``sp.pretty`` without importing ``sympy.physics.units`` (0.35 s, a fifth of ``lrnn demo``): the printer imports
    it for every product only to test ``isinstance(factor, Quantity)``, which no expression can satisfy while the
    module is not loaded, so a stand-in with an empty Quantity class gives the same output."""
    name = "sympy.physics.units"
    if name in sys.modules:
        return sp.pretty(expr, **options)
    stand_in = types.ModuleType(name)
    stand_in.Quantity = type("Quantity", (), {})
    sys.modules[name] = stand_in
    try:
        return sp.pretty(expr, **options)
    finally:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]


def equation(lhs, rhs, fmt: str) -> str:
    """``lhs = rhs`` in the requested format (LaTeX: ``lhs &= rhs``, aligned on the equals sign)."""
    if fmt == "text":
        return f"{render(lhs, fmt)} = {render(rhs, fmt)}"
    if fmt == "latex":
        _record_names(rhs)
        return f"{MATH_OPEN}{latex(lhs)} &= {latex(rhs)}{MATH_CLOSE}"
    return render(sp.Eq(lhs, rhs, evaluate=False), fmt)


#: ``sp.factor`` of an expression a report prints (the same Jacobian entries for every task).
_factored = _memoised(sp.factor)


def jacobian_entries(jacobian, fmt: str) -> list:
    """The 3 x 3 Jacobian of the (a, b, c) flow as nine equations J_xy = d(dx/dt)/dy, one per entry: printed as one
    matrix it wraps unreadably on a terminal."""
    return [equation(sp.Symbol(f"J_{x}{y}"), _factored(jacobian[i, j]), fmt)
            for i, x in enumerate(mf.STATE) for j, y in enumerate(mf.STATE)]


def format_mode_flow(flow: mf.ModeFlow, fmt: str = "pretty", title: str | None = None) -> str:
    """The whole derivation of ``mode_flow.derive_mode_flow`` as a printable report."""
    t = sp.Symbol("t")
    dot = {v: sp.Derivative(sp.Function(str(v))(t), t) for v in mf.STATE}
    out = []
    if title:
        out.append(title)
    out.append("# Energy (per mode)")
    out.append(equation(sp.Symbol("E"), flow.energy, fmt))
    out.append("# Task sums")
    for key, val in flow.sums.items():
        lhs = sp.Symbol("B(b) closed form") if key == "B_closed_form" else key
        out.append(equation(lhs, val, fmt))
    out.append("# Gradient-flow ODEs (tau * d/dt = -tau * dE/d(theta)); a = input, b = recurrent, c = output mode")
    for v in mf.STATE:
        out.append(equation(mf.tau * dot[v], flow.tau_rates[v], fmt))
    out.append("# Jacobian J_xy = d(dx/dt)/dy of the flow, x, y in (a, b, c), entry by entry (readable at any width)")
    out += jacobian_entries(flow.jacobian, fmt)
    out.append("# Conserved quantity and its rate of change along the flow")
    out.append(equation(sp.Symbol("Q"), flow.conserved, fmt))
    out.append(equation(sp.Derivative(sp.Symbol("Q"), t), flow.conserved_rate, fmt))
    return "\n".join(out) + "\n"


# ---- one pasteable LaTeX block --------------------------------------------------------------------------------------
#: What each symbol of the derivations means, for the ``where`` line of a LaTeX block (by sympy name).
GLOSSARY = {
    "a": "the input mode (of $W_x$)", "b": "the recurrent mode (of $W_h$)", "c": "the output mode (of $W_y$)",
    "u": "$a c$, the input-output mode", "t": "training time", "tau": "the learning timescale",
    "T": "the trajectory length (steps $i = 1, \\dots, T$)", "i": "a trajectory step",
    "s": "the task's singular value at step $i$ (per mode)",
    "A": "the task sum $A(b) = \\sum_{i=1}^{T} s_i b^{T-i}$",
    "B": "the task sum $B(b) = \\sum_{i=1}^{T} b^{2(T-i)}$",
    "S_2": "the task norm $S_2 = \\sum_{i=1}^{T} s_i^2$",
    "T'": "the test length the length-$T$ solution is run at", "k": "a lag $T - i$ (or $t - i$), a summation index",
    "delta": "the family's scale", "lambda": "the family's ratio per step",
    "beta": "the Dirac task's first value $s_1$", "kappa": "the last value $s_T$ (Dirac and last-step tasks)",
    "alpha": "a task-sum coefficient, $A(b) = \\sum_k \\alpha_k b^k$",
    "u_0": "$u$ at $t = 0$", "D": "the conserved balance $|a|^2 - |c|^2$", "f": "a fraction of the fixed point $u^*$",
    "w": "the Euler substitution $w = 2u + \\sqrt{4u^2 + D^2}$", "w_0": "$w$ at $t = 0$",
    "w_+": "the positive root of the integrand's denominator", "w_-": "its negative root", "z": "$e^{-R t/\\tau}$",
    "h": "the theory time of one gradient step, $h = \\eta \\tau\\, \\mathrm{scale}$ (in a Taylor window: the time "
         "since its start)", "eta": "the learning rate", "scale": "the loss scale of the harness",
    "S_0": "$\\sum_k b^{2k}$", "S_1": "$\\sum_k k b^{2k-1}$", "m": "the order of a derivative",
    "n": "the order of a time derivative", "N": "the order of the local Taylor expansion",
    "g_0": "$g(b)$", "g_1": "$g'(b)$", "g_2": "$g''(b)$", "g_3": "$g^{(3)}(b)$", "g_4": "$g^{(4)}(b)$",
    "g_5": "$g^{(5)}(b)$", "b^(n)(s0)": "the $n$-th time derivative of $b$ at the window's start $s_0$ (time in units "
                                       "of $\\tau$)",
    "abar": "$\\bar a$, the complex conjugate of $a$", "bbar": "$\\bar b$", "cbar": "$\\bar c$",
    "Abar": "$\\overline{A(\\bar b)}$", "absA": "$|A(\\bar b)|$", "A_0": "$A(\\bar b)$",
    "A_0r": "$\\mathrm{Re}\\, A(\\bar b)$", "A_0i": "$\\mathrm{Im}\\, A(\\bar b)$",
    "A_1r": "$\\mathrm{Re}\\, A'(\\bar b)$",
    "A_1i": "$\\mathrm{Im}\\, A'(\\bar b)$", "B_0": "$B(b, \\bar b)$", "B_00": "$B(b, \\bar b)$",
    "beta_0": "$\\beta(|b|^2)$, the $B$ of a diagonal gram matrix", "B_rho": "$\\partial B / \\partial \\rho$",
    "B_theta": "$\\partial B / \\partial \\theta$", "rho": "$|b|$", "theta": "$\\arg b$", "r": "$|u|$",
    "psi": "$\\arg u$", "r_0": "$|u|$ at $t = 0$", "psi_0": "$\\arg u$ at $t = 0$",
    "psi_star": "$\\arg u^*$, the angle of the fixed point", "d": "the task's complex eigenvalue $d_i$ at step $i$",
    "x": "an input sequence in mode coordinates", "x'": "a second input sequence", "t'": "a second time step",
    "K": "the number of modes", "a_gamma": "the input mode $\\gamma$", "b_alpha": "the recurrent mode $\\alpha$",
    "b_gamma": "the recurrent mode $\\gamma$", "c_alpha": "the output mode $\\alpha$",
    "cos^2": "the squared cosine between the profile $s_i$ and $b^{T-i}$",
}
_PROSE_SPECIAL = {"\\": r"\textbackslash{}", "_": r"\_", "^": r"\^{}", "#": r"\#", "%": r"\%", "&": r"\&",
                  "$": r"\$", "{": r"\{", "}": r"\}", "~": r"\~{}", "<": r"\textless{}", ">": r"\textgreater{}",
                  "§": r"\S{}", "|": r"\textbar{}"}


def latex_prose(text: str) -> str:
    """Plain report text, escaped for LaTeX's text mode."""
    return "".join(_PROSE_SPECIAL.get(ch, ch) for ch in text)


def latex_block(text: str, used_names=(), standalone: bool = False) -> str:
    """A report's lines as ONE ``align`` block: each equation a row aligned on ``=``, each heading or sentence an
    ``\\intertext``, and a closing ``where`` line that defines every symbol the rows use (``GLOSSARY``); with
    ``standalone``, inside a compilable article."""
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        level = len(line) - len(line.lstrip("#"))
        line = line.lstrip("#").strip()
        pieces = re.split(f"({MATH_OPEN}[^{MATH_CLOSE}]*{MATH_CLOSE})", line)
        math = [p[1:-1] for p in pieces if p.startswith(MATH_OPEN)]
        prose = [p for p in pieces if not p.startswith(MATH_OPEN)]
        if len(math) == 1 and not "".join(prose).strip() and not level:
            rows.append(math[0] if "&" in math[0] else "& " + math[0])
            continue
        body = "".join(f"${p[1:-1].replace('&', '')}$" if p.startswith(MATH_OPEN) else latex_prose(p)
                       for p in pieces)
        rows.append(r"\intertext{" + (rf"\textbf{{{body}}}" if level else body) + "}")
    defined = sorted(name for name in used_names if name in GLOSSARY)
    if defined:
        rows.append(r"\intertext{where " + "; ".join(f"${latex(sp.Symbol(n))}$ is {GLOSSARY[n]}" for n in defined)
                    + ".}")
    lines = [r"\begin{align}"]
    for k, row in enumerate(rows):
        # a row ends with \\ only before another row: \intertext breaks the line itself (amsmath), and a \\ at
        # the end would add an empty numbered line
        before_row = k + 1 < len(rows) and not rows[k + 1].startswith(r"\intertext")
        lines.append(row + (r" \\" if before_row and not row.startswith(r"\intertext") else ""))
    lines.append(r"\end{align}")
    block = "\n".join(lines) + "\n"
    if not standalone:
        return block
    return ("\\documentclass{article}\n\\usepackage[margin=2cm]{geometry}\n\\usepackage{amsmath}\n"
            "\\allowdisplaybreaks\n\\begin{document}\n" + block + "\\end{document}\n")


# ---- a task's own numbers -------------------------------------------------------------------------------------------
#: How the values of a mode's profile are listed, per output layout (the links of lag_exponents, in step order).
LINKS = {"final": "d_1..d_T", "every_step": "d_(t,i) for i <= t (by output step t)"}
#: The output layout of a task, as the task lines name it.
OUTPUT_LAYOUTS = {"final": "final output", "every_step": "every-step outputs"}


def _profile_values(task, mode: int) -> list:
    """The values of one mode's profile on its links (s_1..s_T, or s_(t,i) for i <= t), as Python numbers."""
    _, linked = lag_exponents(task.T, task.every_step)
    return task.singular_values[mode][linked].tolist()


def _sum_coefficients(task, mode: int, digits: int = 15) -> tuple:
    """One mode's task-sum coefficients alpha_k and w_k as sympy numbers (``digits`` significant digits; the weights
    of white inputs are whole numbers and stay integers)."""
    alpha, weights = task.sum_coefficients()
    return ([mf.number(x, digits) for x in alpha[mode].tolist()],
            [sp.Integer(int(w)) if float(w).is_integer() else sp.Float(float(w), digits) for w in weights])


def _flow_field_line(task, mode: int, G) -> str:
    """g(b) = u A'(b) - u^2 B'(b)/2 of one mode with u frozen at its initial a c, as a polynomial in b (8 digits).

    The numeric field comes first: it refuses, in one line, a task whose b is not on the real line."""
    u0 = task.init.a[mode] * task.init.c[mode]
    FlowFieldPolynomial(task, u0)
    if task.correlated:  # B with odd powers of b: from the gram matrix of the covariance
        sums = _correlated_sums(task, mode, digits=8)
        A_expr, B_expr = sums[mf.A(mf.b)], sums[mf.B(mf.b)]
        u_value = mf.number(u0, 8)
        return equation(G, sp.expand(u_value * sp.diff(A_expr, mf.b) - u_value**2 * sp.diff(B_expr, mf.b) / 2), "text")
    alpha, weights = _sum_coefficients(task, mode, digits=8)
    return equation(G, rt.flow_field_of_sums(alpha, weights, mf.number(u0, 8)), "text")


# ---- inputs correlated across time -----------------------------------------------------------------------------------
#: Largest T whose covariance, gram matrix and polynomials the reports write out entry by entry.
MAX_T_PRINTED = 12


def _mode_gram(task, mode: int) -> np.ndarray:
    """G of one mode, B(b) = sum_kl G_kl conj(b)^k b^l (``correlated.gram``)."""
    return gram(task.input_covariance.per_mode(task.K)[mode], task.every_step)


def _correlated_sums(task, mode: int, digits: int = 15) -> dict:
    """A(b) = sum_k alpha_k b^k and B(b) = sum_p beta_p b^p (beta_p = sum_(k+l=p) G_kl, odd powers included) of one
    mode of a real task with inputs correlated across time; unevaluated sums over the coefficients beyond
    ``MAX_T_PRINTED`` steps."""
    alpha = task.sum_coefficients()[0][mode]
    G = _mode_gram(task, mode)
    n = alpha.size
    if n > MAX_T_PRINTED:
        k = sp.Symbol("k", integer=True, nonnegative=True)
        p = sp.Symbol("p", integer=True, nonnegative=True)
        return {mf.A(mf.b): sp.Sum(sp.IndexedBase("alpha")[k] * mf.b**k, (k, 0, n - 1)),
                mf.B(mf.b): sp.Sum(sp.IndexedBase("beta")[p] * mf.b**p, (p, 0, 2 * n - 2))}
    beta = [float(np.trace(G[::-1], offset=p - (n - 1))) for p in range(2 * n - 1)]  # anti-diagonals k + l = p
    return {mf.A(mf.b): sp.Add(*[mf.number(alpha[k], digits) * mf.b**k for k in range(n)]),
            mf.B(mf.b): sp.Add(*[sp.Float(beta[p], digits) * mf.b**p for p in range(2 * n - 1)])}


def _task_sums(task, mode: int) -> dict:
    """The task sums A(b), B(b) of one mode as printed: ``mode_flow.derive_task_sums`` for white inputs, the
    polynomials of the gram matrix for inputs correlated across time."""
    return _correlated_sums(task, mode) if task.correlated else mf.derive_task_sums(task, mode)


def _matrix_text(M: np.ndarray) -> str:
    return "[" + "; ".join(" ".join(f"{v:.6g}" for v in row) for row in M) + "]"


def _covariance_lines(task) -> list:
    """What a correlated task's reports print about its inputs: the covariance used, per mode its gram matrix, the
    explained norm and the best filter (zero loss iff geometric); nothing for white inputs."""
    if not task.correlated:
        return []
    cov = task.input_covariance
    how = (f"stationary {cov.to_json()}" if cov.spec is not None else
           "one matrix per mode" if cov.matrix.ndim == 3 else "one matrix shared by all modes")
    out = [f"# Inputs correlated across time ({how}): Sigma^(X_i X_j) = V diag(lambda_ij) V^T; "
           "B(b) = sum_kl G_kl conj(b)^k b^l with " +
           ("G_kl = sum_t lambda_(t-k, t-l) (every step)" if task.every_step else "G_kl = lambda_(T-k, T-l)") +
           "; S_2 = c_0 = sigma^T Lambda^+ sigma (the explained norm); zero loss iff the best filter "
           "w* = Lambda^-1 sigma is geometric"]
    sums = task.sums()
    w_star = task.target_filter()
    _, linked = lag_exponents(task.T, task.every_step)
    for mode in range(min(task.K, MAX_MODES_PRINTED)):
        lam = cov.per_mode(task.K)[mode]
        if task.T <= MAX_T_PRINTED:
            out.append(f"mode {mode}: lambda = {_matrix_text(lam)}")
            out.append(f"mode {mode}: G = {_matrix_text(_mode_gram(task, mode))}")
        filt = np.asarray(w_star[mode][linked])
        shown = ", ".join(f"{v:.6g}" for v in filt[:12]) + (", ..." if filt.size > 12 else "")
        out.append(f"mode {mode}: c_0 = {float(sums.norm[mode]):.6g}; w* = {shown}")
    return out


# ---- a result: the task's numbers first, then the general formulas ------------------------------------------------
@dataclass(frozen=True)
class Report:
    """One ``lrnn derive --result``: for a task, the task's own numbers first, then the general formulas.

    ``formulas(task, fmt, **formula_options)`` gives the derivation's text (the task's own flow where the formulas
    take its numbers); ``numbers(task, fmt, **options)`` the task's numbers as lines, ``options`` naming the keyword
    options they take (``lrnn derive`` refuses any other). Every kind of task goes through the same two functions.
    """

    summary: str
    formulas: Callable
    numbers: Callable | None = None
    options: tuple = ()

    def __call__(self, task=None, fmt: str = "pretty", *, numbers_only: bool = False, standalone: bool = False,
                 **options) -> str:
        render(sp.Integer(0), fmt)  # validates fmt before any work
        if standalone and fmt != "latex":
            raise bad("standalone", standalone, "go with the latex format (a .tex document)")
        number_options = {k: options.pop(k) for k in self.options if k in options}
        if numbers_only and task is None:
            raise bad("numbers_only", numbers_only, "have a task (a task file or --family) to give the numbers of")
        _USED_NAMES.clear()
        numbers = self.numbers(task, fmt, **number_options) if task is not None and self.numbers else []
        if fmt != "latex":  # sentences as wide as the terminal (LaTeX wraps its own)
            width = shutil.get_terminal_size((120, 24)).columns
            numbers = [textwrap.fill(line, width, subsequent_indent="#   " if line.startswith("#") else "    ",
                                     break_on_hyphens=False) if "\n" not in line and len(line) > width else line
                       for line in numbers]
        text = "".join(line + "\n" for line in numbers)
        if not numbers_only:
            if numbers:
                text += "# General formulas (the numbers above are their values for this task)\n"
            text += self.formulas(task, fmt, **options)
        return latex_block(text, set(_USED_NAMES), standalone) if fmt == "latex" else text


def _task_line(task, what: str) -> str:
    return f"# Task {task.name!r} ({task.kind}, K={task.K} mode(s), T={task.T}, tau={task.tau:g}): {what}"


def _number(value) -> str:
    """A real or complex number to 6 significant digits (complex: 1.5-0.3i)."""
    value = complex(value)
    if value.imag == 0:
        return f"{value.real:.6g}"
    return f"{value.real:.6g}{value.imag:+.6g}i"


#: The stability verdicts of ``stability.classify`` in words (notes §5.2).
VERDICTS = {
    "stable": "stable: |b*| < 1, the recurrent mode decays, the input k steps before the end is weighted |b*|^k, so "
              "the last steps matter most (late importance); activity and gradients stay bounded as T grows",
    "unstable": "unstable: |b*| > 1, the recurrent mode grows, the earliest steps matter most (early importance); "
                "activity and gradients grow like |b*|^T, so the solution is hard to learn for long sequences and "
                "blows up when run for more steps",
    "marginal": f"marginal: |b*| = 1 (to {MARGINAL_TOL:g}), the border between stable and unstable: the recurrent "
                "mode neither decays nor grows, every step is weighted alike (|b*|^k = 1), so activity and gradients "
                "grow with T only polynomially, not exponentially (the constant task's b* = 1)",
}


def _solution_lines(task, sol) -> list:
    """Each mode's solution (``solve_task``), one line per mode, and the meaning of each verdict that occurs."""
    out = []
    for m in range(task.K):
        fit = ("zero loss: s_i = u* b*^(T-i) exactly" if sol.zero_loss[m] else
               f"no zero-loss solution; best fit over |b| <= {sol.b_max:g}, energy {sol.energy[m]:.6g}")
        if sol.at_bound[m]:
            fit += " at the search bound: the energy still falls as |b| grows (no finite minimiser)"
        out.append(f"mode {m}: b* = {_number(sol.b[m])}, u* = {_number(sol.u[m])}, |b*| = {abs(sol.b[m]):.6g} -> "
                   f"{sol.stability[m]} ({fit})")
    for verdict in VERDICTS:
        if np.any(sol.stability == verdict):
            out.append(f"{VERDICTS[verdict]}.")
    return out


def _zero_loss_lines(task) -> list:
    """Each mode's zero-loss solution where one exists (``zero_loss_solution``: one pass over the profile, cheap at
    any T; the best fit of the other modes is a search, left to ``--result stability``)."""
    exists, u, b = zero_loss_solution(task)
    stability = classify(np.where(exists, b, 0))[1]
    out = [f"mode {m}: zero-loss solution b* = {_number(b[m])}, u* = {_number(u[m])} -> {stability[m]}" if exists[m]
           else f"mode {m}: no zero-loss solution (its best fit and verdict: --result stability)"
           for m in range(task.K)]
    return out + [f"{VERDICTS[v]}." for v in VERDICTS if np.any(exists & (stability == v))]


def _stability_numbers(task, fmt) -> list:
    sol = solve_task(task)
    counts = ", ".join(f"{int(np.sum(sol.stability == v))} {v}" for v in VERDICTS if np.any(sol.stability == v))
    return [_task_line(task, f"where each mode ends ({counts})"), *_covariance_lines(task),
            *_solution_lines(task, sol)]


def _extrapolation_numbers(task, fmt, T_test=None) -> list:
    """The task's solution at T run at each T' in ``T_test`` (default T/2, T, 2T): energy per mode and total, as a
    table (LaTeX: one aligned row per mode)."""
    T_test = sorted({max(1, task.T // 2), task.T, 2 * task.T}) if T_test is None else list(T_test)
    res = task_extrapolation(task, T_test)
    lengths = res["T_test"]
    how = ("the same family at T'" if task.spec is not None else
           "the same weight per lag, s'_i = s_(i-(T'-T)), 0 beyond the task's T steps")
    energy = ("(w - w*')^H Lambda' (w - w*') / (2 tau), w_i = u* b*^(T'-i), w*' the best filter at T'"
              if task.correlated else "sum_i |s'_i - u* b*^(T'-i)|^2 / (2 tau)")
    out = [_task_line(task, f"its solution at T={task.T} run at T' = {', '.join(map(str, lengths))} (target at T': "
                            f"{how})"),
           f"energy E(T') = {energy}; 0 at T' = T for a zero-loss solution"]
    # a sum of squares of residuals at rounding level (1e-16) is 0
    rows = {**{f"mode {m}": res["energy"][m] for m in range(task.K)}, "total": res["total"]}
    rows = {name: np.where(values < 1e-24, 0.0, values) for name, values in rows.items()}
    if fmt == "latex":
        gap = r", \quad "
        out.append(f"{MATH_OPEN}T' &= {gap.join(map(str, lengths))}{MATH_CLOSE}")
        for name, values in rows.items():
            label = latex(sp.Symbol(f"E_{name.split()[-1]}(T')"))
            out.append(f"{MATH_OPEN}{label} &= {gap.join(latex(sp.Float(v, 6)) for v in values)}{MATH_CLOSE}")
    else:
        width = max(12, *(len(str(t)) + 2 for t in lengths))
        out.append("T'".ljust(10) + "".join(str(t).rjust(width) for t in lengths))
        out += [name.ljust(10) + "".join(f"{e:.6g}".rjust(width) for e in values) for name, values in rows.items()]
    out.append("solution at T: " + "; ".join(f"mode {m}: b* = {_number(res['b'][m])}, u* = {_number(res['u'][m])}"
                                             for m in range(min(task.K, MAX_MODES_PRINTED)))
               + ("; ..." if task.K > MAX_MODES_PRINTED else ""))
    return out


# ---- the reports ----------------------------------------------------------------------------------------------------
def _complex_formulas(task, fmt: str) -> str:
    """Complex modes of rotational tasks: energy, Wirtinger flow (eqs. 182-184), |a|^2 - |c|^2, polar ODEs.

    With a task: its eigenvalue profile and task sums per mode as well.
    """
    render(sp.Integer(0), fmt)
    flow = cx.derive_complex_mode_flow()
    t = sp.Symbol("t")
    out = ["Complex connectivity modes (rotational tasks, App. N-O); abar = conj(a), ...; A taken at conj(b); "
           "B(b, bbar) = sum_kl G_kl bbar^k b^l real (beta(|b|^2) for a diagonal G); B_ij = d^(i+j)B/db^i dbbar^j"]
    out.append("# Energy (per mode)")
    out.append(equation(sp.Symbol("E"), flow.energy, fmt))
    out.append("# Wirtinger factor: (gradient descent on Re z, Im z) / (-dE/d conj z)")
    out.append(equation(sp.Symbol("factor"), cx.derive_wirtinger_factor(), fmt))
    out.append("# Gradient-flow ODEs tau dz/dt = -2 tau dE/d(conj z), eqs. (182)-(184)")
    for v in cx.STATE:
        out.append(equation(cx.tau * sp.Derivative(sp.Function(str(v))(t), t), flow.tau_rates[v], fmt))
    out.append("# The same as explicit sums over steps")
    for v, rhs in cx.derive_odes_sum_form().items():
        out.append(equation(sp.Symbol(f"tau*d{v}/dt"), rhs, fmt))
    out.append("# Conserved quantity and its rate; the rate of a^2 - c^2 for comparison (not conserved)")
    out.append(equation(sp.Symbol("Q"), flow.conserved, fmt))
    out.append(equation(sp.Symbol("dQ/dt"), flow.conserved_rate, fmt))
    out.append(equation(sp.Symbol("d(a^2 - c^2)/dt"), flow.naive_rate, fmt))
    out.append("# Polar coordinates b = rho e^(i theta), u = r e^(i psi), D = |a|^2 - |c|^2; A_n = A^(n)(conj b); "
               "B_0 = B, B_rho = dB/drho, B_theta = dB/dtheta (0 for a diagonal G)")
    for key, val in flow.polar.items():
        out.append(equation(sp.Symbol(key), val, fmt))
    psi, r, _, _, _ = cx.derive_frozen_io_solution()
    out.append("# Input-output mode with b frozen and |a| = |c| (angle first, radius later)")
    out.append(equation(sp.Symbol("psi(t)"), psi, fmt))
    out.append(equation(sp.Symbol("r(t)"), r, fmt))
    return "\n".join(out) + "\n"


def _complex_numbers(task, fmt: str) -> list:
    return ([_task_line(task, "its profile and task sums per mode, and its zero-loss solutions")]
            + _complex_task_sums(task, fmt) + _covariance_lines(task) + _zero_loss_lines(task))


def _complex_task_sums(task, fmt: str) -> list:
    out = []
    for mode in range(min(task.K, MAX_MODES_PRINTED)):
        d = [complex(v) for v in _profile_values(task, mode)]
        shown = ", ".join(f"{v.real:.4g}{v.imag:+.4g}i" for v in d[:8]) + (", ..." if len(d) > 8 else "")
        out.append(f"# mode {mode}: {LINKS[task.outputs]} = {shown}; init a={complex(task.init.a[mode]):.4g}, "
                   f"b={complex(task.init.b[mode]):.4g}, c={complex(task.init.c[mode]):.4g}")
        alpha, weights = _sum_coefficients(task, mode)
        # inputs correlated across time: B(b, conj b) = sum_kl G_kl conj(b)^k b^l from the mode's gram matrix
        gram_values = ([[sp.Float(float(g), 15) for g in row] for row in _mode_gram(task, mode)]
                       if task.correlated else None)
        for key, val in cx.derive_task_sums(alpha, weights, gram=gram_values).items():
            out.append(equation(key, val, fmt))
    return out


def _flow_formulas(task, fmt: str) -> str:
    """Energy, gradient-flow ODEs (eqs. 5-7), Jacobian and conserved quantity a^2 - c^2 of the modes.

    Symbolic T without a task; with a task, its task sums A(b), B(b) per mode as well.
    """
    render(sp.Integer(0), fmt)  # validates fmt before any work
    # Presentation, not a code path per kind of task: the flow printed is that of the task's numbers, the real
    # ODEs in a, b, c or the Wirtinger flow of complex ones (both through the task sums of any output layout).
    if task is not None and task.is_complex:
        return _complex_formulas(task, fmt) + "".join(line + "\n" for line in _complex_task_sums(task, fmt))
    if task is None:
        text = format_mode_flow(mf.derive_mode_flow(), fmt, title="Connectivity-mode learning dynamics, symbolic T")
        text += "# Eqs. (5)-(7) written as explicit sums over trajectory steps\n"
        for v, rhs in mf.derive_mode_odes_sum_form().items():
            text += equation(sp.Symbol(f"tau*d{v}/dt"), rhs, fmt) + "\n"
        return text
    flow = mf.derive_mode_flow(task, 0)
    if task.correlated:  # this task's A and B: the gram matrix of its covariance (odd powers of b)
        flow = dataclasses.replace(flow, sums=_task_sums(task, 0))
    text = format_mode_flow(flow, fmt,
                            title=f"Connectivity-mode learning dynamics of task {task.name!r} "
                                  f"(K={task.K} modes, T={task.T}, tau={task.tau:g}); mode 0")
    for mode in range(1, min(task.K, MAX_MODES_PRINTED)):
        text += f"# Task sums of mode {mode}\n"
        for key, val in _task_sums(task, mode).items():
            text += equation(key, val, fmt) + "\n"
    if task.K > MAX_MODES_PRINTED:
        text += f"# ... {task.K - MAX_MODES_PRINTED} more modes: same ODEs, their own task sums\n"
    return text


def _flow_numbers(task, fmt: str) -> list:
    return [_task_line(task, "zero-loss solutions"), *_covariance_lines(task), *_zero_loss_lines(task)]


def _every_step_formulas(task, fmt: str) -> str:
    """Every-step outputs (App. M): task sums by lag, ODEs, io solution, Taylor field, zero loss, eq. (159)."""
    render(sp.Integer(0), fmt)
    b, tau = mf.b, mf.tau
    coeffs = es.derive_sum_coefficients()
    flow = mf.derive_mode_flow()
    split = es.derive_energy_split()
    sol_io = es.derive_io_solution()
    field = es.derive_flow_field()
    out = ["Every-step outputs y_hat_t = W_y h_(t+1), t = 1..T (paper App. M); symbolic T",
           "# Energy (eq. 156, inner sum to t)",
           equation(sp.Symbol("E"), es.derive_energy_sum_form(), fmt),
           "# Task sums as double sums, and by lag k = t - i",
           *[equation(key, val, fmt) for key, val in es.derive_sum_definitions().items()],
           equation(sp.Symbol("alpha_k"), coeffs["alpha_k"], fmt),
           equation(sp.Symbol("w_k"), coeffs["w_k"], fmt),
           equation(mf.A(b), coeffs["A_lag"], fmt),
           equation(mf.B(b), coeffs["B_lag"], fmt),
           equation(sp.Symbol("B(b) closed form"), coeffs["B_closed_form"], fmt),
           equation(sp.Symbol("B(lag) - B(double sum), b^2 != 1"), coeffs["B_check"], fmt),
           "# So E = (S_2 - 2 u A(b) + u^2 B(b)) / (2 tau) as for final outputs; the same ODEs, Jacobian and "
           "conserved quantity:",
           equation(sp.Symbol("E"), flow.energy, fmt)]
    t_train = sp.Symbol("t")
    for v in mf.STATE:
        out.append(equation(tau * sp.Derivative(sp.Function(str(v))(t_train), t_train), flow.tau_rates[v], fmt))
    out += ["# ... written out as the double sums of App. M (checked against the A/B form for concrete T)",
            *[equation(sp.Symbol(f"tau*d{v}/dt"), rhs, fmt) for v, rhs in es.derive_mode_odes_sum_form().items()],
            "# Jacobian J_xy = d(dx/dt)/dy, x, y in (a, b, c)", *jacobian_entries(flow.jacobian, fmt),
            equation(sp.Symbol("Q"), flow.conserved, fmt),
            equation(sp.Derivative(sp.Symbol("Q"), t_train), flow.conserved_rate, fmt),
            "## Input-output solution with b frozen (balanced; eq. 157): the logistic with every-step A and B",
            equation(sp.Symbol("u(t)"), sol_io["u_of_t"], fmt),
            equation(sp.Symbol("u*"), sol_io["fixed_point"], fmt),
            equation(sp.Symbol("rate"), sol_io["rate_constant"], fmt),
            "## Recurrent mode with u frozen (eq. 158): flow field and its m-th derivative; time derivatives as in "
            "`lrnn derive --result recurrent-taylor`",
            equation(sp.Symbol("g(b)"), field["task_sum_form"], fmt),
            equation(sp.Symbol("g(b)"), field["lag_form"], fmt),
            equation(sp.Symbol("g^(m)(b)"), field["derivative"], fmt),
            "## Zero-loss solutions s_(t,i) = u b^(t-i), i <= t (u and b from s_(T,T), s_(T,T-1))",
            render(es.derive_general_zero_loss(), fmt)]
    for fam in es.FAMILIES:
        sol = es.derive_zero_loss_solution(fam)
        out += [f"# {fam}: s_(t,i) = " + render(es.family_profile(fam), "text"),
                equation(sp.Symbol("u"), sol["u"], fmt), equation(sp.Symbol("b"), sol["b"], fmt),
                equation(sp.Symbol("residual_(t,i)"), sol["residual"], fmt),
                "zero loss exists iff: " + render(sol["condition"], fmt)]
    out += ["## Effective regulariser (eq. 159)",
            equation(sp.Symbol("E_data"), split["data"], fmt),
            equation(sp.Symbol("E_reg"), split["regulariser_sum"], fmt),
            equation(sp.Symbol("E_reg"), split["regulariser"], fmt),
            equation(sp.Symbol("E_reg (b^2 != 1)"), split["regulariser_generic"], fmt),
            equation(sp.Symbol("E_reg (b^2 = 1)"), split["regulariser_at_1"], fmt),
            equation(sp.Symbol("E_reg - eq. (159)"), split["paper_difference"], fmt),
            "## Extrapolation: the length-T solution run at length T' (every-step outputs)"]
    for fam in es.EXTRAPOLATION_FAMILIES:
        ext = es.derive_extrapolation(fam)
        out += [f"# {fam}: u = {sp.sstr(ext['u'])}, b = {sp.sstr(ext['b'])}",
                equation(sp.Symbol("r_(t,i)"), ext["residual"], fmt),
                equation(sp.Symbol("E(T')"), ext["energy"], fmt)]
    return "\n".join(out) + "\n"


def _every_step_numbers(task, fmt: str) -> list:
    out = []
    init = task.init
    sol = solve_task(task)
    data, reg = energy_split(task.singular_values, init.a, init.b, init.c, task.tau, task.input_covariance)
    out.append(_task_line(task, OUTPUT_LAYOUTS[task.outputs]))
    out += _covariance_lines(task)
    for mode in range(min(task.K, MAX_MODES_PRINTED)):
        out.append(f"## mode {mode}")
        for key, val in _task_sums(task, mode).items():
            out.append(equation(key, val, fmt))
        out.append("g(b) with u frozen at its initial a c: " + _flow_field_line(task, mode, sp.Symbol("g(b)")))
        out.append(f"solution: b*={sol.b[mode]:.6g} u*={sol.u[mode]:.6g} energy={sol.energy[mode]:.3g} "
                   f"zero_loss={bool(sol.zero_loss[mode])} stability={sol.stability[mode]}")
        out.append(f"at the initial modes: data term={data[mode]:.6g} regulariser={reg[mode]:.6g}")
    return out


def _extrapolation_formulas(task, fmt: str) -> str:
    """Closed-form extrapolation error of each family's zero-loss solution run at another length T'."""
    render(sp.Integer(0), fmt)
    out = ["# Solution trained at length T, run at T'; residual r_i = s'_i - u b^(T'-i), energy sum r_i^2/(2 tau)"]
    for fam in ex.FAMILIES:
        d = ex.derive_extrapolation(fam)
        out.append(f"## {fam}")
        out.append(equation(mf.u, d["u"], fmt))
        out.append(equation(mf.b, d["b"], fmt))
        out.append(equation(sp.Symbol("r_i"), d["residual"], fmt))
        out.append(equation(sp.Symbol("E(T')"), d["energy_generic"], fmt))
    return "\n".join(out) + "\n"


def _finite_lr_formulas(task, fmt: str) -> str:
    """Discrete gradient-descent map, modified flow E + (h/4)||grad E||^2, and the largest stable learning rate."""
    render(sp.Integer(0), fmt)
    out = ["# One gradient step of the harness (loss = scale * L, L = tau E) in theory time"]
    step = fl.derive_gd_step()
    for v in mf.STATE:
        out.append(equation(sp.Symbol(f"Delta_{v}"), step["step"][v], fmt))
    out.append(equation(sp.Symbol("h"), step["h"], fmt))
    out.append("# Backward error analysis: the flow of E + k h ||grad E||^2 matches one step to O(h^3) iff")
    const = fl.derive_correction_constant()
    out.append(equation(fl.kappa_bea, const["k"], fmt))
    out.append("h^2 terms left at that k: " + render(const["residual"].T, fmt))
    mod = fl.derive_modified_flow()
    out.append("# Modified energy and its flow (h = lr * tau * scale, the theory time of one step)")
    out.append(equation(sp.Symbol("E_h"), mod["energy"], fmt))
    for v in mf.STATE:
        out.append(equation(sp.Symbol(f"d{v}/dt"), mod["rates"][v], fmt))
    out.append("# The O(h) correction of each rate, -(h/2) (Hess E grad E)")
    for v in mf.STATE:
        out.append(equation(sp.Symbol(f"delta_{v}"), sp.factor(mod["correction"][v]), fmt))
    out.append("# Complex modes: E_h = E + h sum_z dE/dz dE/d(conj z); h^2 terms of (flow over h) - (one step): "
               + ", ".join(sp.sstr(r) for r in fl.derive_complex_modified_flow()["residual"]))
    out.append("# Balance under gradient descent: (a^2 - c^2) after one step / before")
    out.append(equation(sp.Symbol("ratio"), fl.derive_balance_under_gd(), fmt))
    hess = fl.derive_zero_loss_hessian()
    out.append("# Hessian of L in (a, b, c) at zero loss (S_0 = sum b^(2k), S_1 = sum k b^(2k-1), "
               "S_2 = sum k^2 b^(2k-2))")
    out.append(render(hess["hessian"], fmt))
    out.append("null direction: " + render(hess["null_vector"].T, fmt))
    out.append(equation(sp.Symbol("lambda_max"), hess["lambda_max"], fmt))
    out.append(equation(sp.Symbol("lr_max"), hess["lr_bound"], fmt) + "   (sum_half; divide by scale otherwise)")
    out.append("# Largest stable learning rate at the balanced zero-loss solution (a = c = sqrt(u)) per family")
    for fam in fl.BOUND_FAMILIES:
        res = fl.derive_family_lr_bound(fam)
        out.append(f"## {fam}: b* = {sp.sstr(res['b'])}, u* = {sp.sstr(res['u'])}, s = 2 u*")
        for key, val in res["sums"].items():
            out.append(equation(key, val, fmt))
        out.append(equation(sp.Symbol("lambda_max"), res["lambda_max"], fmt))
    return "\n".join(out) + "\n"


def _finite_lr_numbers(task, fmt: str) -> list:
    out = []
    bound = stable_lr_bound(task)
    out.append(_task_line(task, "per-mode bound on lr (sum_half) at the solution of solve_task, balance "
                                "|a|^2 - |c|^2 from the task's init"))
    for m in range(task.K):
        out.append(f"mode {m}: b*={bound['b'][m]:.6g} u*={bound['u'][m]:.6g} "
                   f"lambda_max={bound['lambda_max'][m]:.6g} lr_max={bound['lr_max'][m]:.6g}")
    return out


def _frozen_formulas(task, fmt: str) -> str:
    """Input-output solution with b frozen: logistic (balanced) and exact unbalanced solution (App. C)."""
    render(sp.Integer(0), fmt)
    rate = io.derive_io_rate()
    bal = io.derive_balanced_solution()
    unb = io.derive_unbalanced_solution()
    U = sp.Symbol("u(t)")
    out = ["Input-output mode u = a c with the recurrent mode b frozen (paper App. C)",
           "# A = A(b) = sum_i s_i b^(T-i), B = B(b) = sum_i b^(2(T-i)) are constants while b is frozen",
           "# tau du/dt = c (tau da/dt) + a (tau dc/dt):",
           equation(io.tau * sp.Symbol("du/dt"), rate["factored"], fmt),
           "# (a^2 + c^2)^2 - (a^2 - c^2)^2 - 4 (ac)^2 =",
           render(rate["identity"], fmt),
           "# so with D = a^2 - c^2 (conserved):",
           equation(io.tau * sp.Symbol("du/dt"), rate["rate_D"], fmt),
           "## Balanced initialisation (D = 0, u > 0): logistic",
           render(bal["ode"], fmt),
           "# Solution (dsolve, u(0) = u_0)",
           equation(U, bal["u_of_t"], fmt),
           "# Inverse (separation of variables)",
           equation(sp.Symbol("t(u)"), bal["t_of_u"], fmt),
           "# Fixed point, rate constant, half-time t(u*/2), time to reach f u*",
           equation(sp.Symbol("u*"), bal["fixed_point"], fmt),
           equation(sp.Symbol("rate"), bal["rate_constant"], fmt),
           equation(sp.Symbol("t_1/2"), bal["half_time"], fmt),
           equation(sp.Symbol("t_f"), bal["fraction_time"], fmt),
           "# A -> 0 limit",
           equation(U, bal["u_of_t_A0"], fmt),
           "## Unbalanced initialisation (D = |a^2 - c^2| > 0): exact solution",
           render(unb["ode"], fmt),
           "# Euler substitution w = 2u + sqrt(4u^2 + D^2), u = (w^2 - D^2)/(4w); integrand in w:",
           equation(sp.Symbol("dt/dw / tau"), unb["integrand_w"], fmt),
           equation(sp.Symbol("F(w)"), unb["antiderivative_w"], fmt),
           "# Rate constant times tau (the log coefficients are +-1/R)",
           equation(sp.Symbol("R"), unb["R"], fmt),
           "# Implicit solution t(u), with w(u) as above and w_0 = w(u_0)",
           equation(sp.Symbol("t"), unb["t_of_w"], fmt),
           equation(sp.Symbol("w(u)"), unb["w_of_u"], fmt),
           "# Explicit solution: w(t) with z = exp(-R t / tau), then u = (w^2 - D^2)/(4w)",
           equation(sp.Symbol("w(t)"), unb["w_of_z"], fmt),
           equation(sp.Symbol("u*"), unb["fixed_point"], fmt),
           equation(sp.Symbol("w(u*)"), unb["w_fixed_point"], fmt),
           "# Root form (no cancellation for a ~ -c): w_+ > 0 > w_- roots of the integrand's denominator",
           equation(sp.Symbol("w_+"), unb["roots"][0], fmt),
           equation(sp.Symbol("w_+ w_-"), unb["root_product"], fmt),
           equation(sp.Symbol("R"), unb["R_roots"], fmt),
           equation(sp.Symbol("w(t)"), unb["w_of_z_roots"], fmt),
           equation(sp.Symbol("w(a, c)"), unb["w_of_ac"], fmt),
           "# D -> 0 limit of u(t) (u_0 > 0, A > 0), and its difference from the logistic",
           equation(U, unb["D0_limit"], fmt),
           equation(sp.Symbol("difference"), unb["D0_limit_minus_logistic"], fmt)]
    return "\n".join(out) + "\n"


def _frozen_numbers(task, fmt: str) -> list:
    out = []
    init = task.init
    A, B = task.sums().values(init.b)  # complex A for a complex task (A taken at conj(b))
    D = abs(init.a) ** 2 - abs(init.c) ** 2
    out.append(_task_line(task, "u with b frozen at its initial value"))
    for mode in range(task.K):
        out.append(f"mode {mode}: b={init.b[mode]:.6g}  A={A[mode]:.6g}  B={B[mode]:.6g}  "
                   f"u*=A/B={A[mode] / B[mode]:.6g}  D=a^2-c^2={D[mode]:.6g}  "
                   f"rate 2A/tau={2 * A[mode] / task.tau:.6g}")
    return out


def _ntk_formulas(task, fmt: str) -> str:
    """NTK of an aligned LRNN in the mode basis, and its check against a generic network (result 4)."""
    render(sp.Integer(0), fmt)
    out = ["# NTK of an aligned LRNN in the output-mode basis (diagonal in the output mode alpha)"]
    g = nt.derive_g()
    out.append(equation(sp.Symbol("g_alpha_gamma(t)"), g["sum"], fmt))
    out.append(equation(sp.Symbol("g_alpha_gamma(t)"), g["generic"], fmt))
    out.append(equation(sp.Symbol("g_alpha_alpha(t)"), g["equal"], fmt))
    out.append("# Kernel between two input sequences x, x' (mode coordinates x[t, gamma]), output mode alpha")
    seq = nt.derive_sequence_kernel()
    for name in ("W_x", "W_h", "W_y"):
        out.append(equation(sp.Symbol(f"K_alpha[{name}]"), seq[name], fmt))
    out.append("# Whitened one-hot probes (input mode gamma at steps t and t'): one T x T block per (alpha, gamma)")
    block = nt.derive_probe_block()
    out.append(equation(sp.Symbol("kappa_alpha_gamma(t, t')"), block["total"], fmt))
    out.append("# Check: J J^T of a generic 2-mode network (all matrix entries free) at the aligned point, T = 3, "
               "minus the formula")
    for name, diff in nt.verify_against_network().items():
        out.append(f"{name}: {'all entries 0' if diff.is_zero_matrix else render(diff, fmt)}")
    return "\n".join(out) + "\n"


def _ntk_numbers(task, fmt: str) -> list:
    out = []
    sizes = mode_block_sizes(task)  # real units per mode: 2 for a complex mode
    # population probes: white, or with the task's covariance across time in every unit of a mode
    covariance = None if not task.correlated else np.repeat(task.input_covariance.per_mode(task.K), sizes, 0)
    probes = probe_inputs(task.T, int(sizes.sum()), covariance)
    init = task.init
    K0 = mode_ntk(init.a, init.b, init.c, probes, sizes=sizes)
    out.append(_task_line(task, f"kernel over the {probes.shape[0]} ")
               + ("probes with the task's input covariance (the kernel is the same function of the inputs; "
                  "only the population's inputs change)" if task.correlated else "whitened probes"))
    out.append(f"||K(0)||_F = {np.linalg.norm(K0):.6g}")
    try:
        final = integrate(task, 200.0 * task.tau, n_points=2, converged_tol=1e-10).final()
        K1 = mode_ntk(final["a"], final["b"], final["c"], probes, sizes=sizes)
        out.append(f"kernel distance from t=0 to the end of the flow (t <= {200 * task.tau:g}): "
                   f"{kernel_distance(K0, K1):.6g}")
    except DivergenceError as exc:
        out.append(f"the flow diverges ({exc}); no final kernel")
    return out


def _phase_transition_formulas(task, fmt: str) -> str:
    """Landau expansion of the Dirac-task reduced energy and the critical points (App. H)."""
    render(sp.Integer(0), fmt)
    out = ["# Dirac task s_1 = beta, s_T = 1/beta; E = sum_i r_i^2 (no 1/(2 tau)); E*(b) = min_u E"]
    for T in (3, 4, 5):
        red = pt.derive_dirac_reduced_energy(T)
        out.append(f"## T = {T}")
        out.append(equation(sp.Symbol("E*(b)"), red["energy"], fmt))
        out.append(equation(sp.Symbol("E*(b) near b=0"), pt.derive_landau_expansion(T)["series"], fmt))
        lim = pt.derive_large_b_limit(T)
        out.append(equation(sp.Symbol("lim_{b->oo} E*"), lim["limit"], fmt))
        out.append(equation(sp.Symbol("E*(0) (feedforward, u = 1/beta)"), lim["feedforward"], fmt))
    crit = pt.derive_critical_point_T3()
    out.append("# T = 3: second-order transition where the b^2 coefficient vanishes")
    out.append(equation(sp.Symbol("beta_c"), crit["beta_c"], fmt))
    out.append(equation(sp.Symbol("s_1/s_T at beta_c"), crit["ratio_c"], fmt))
    out.append(equation(sp.Symbol("quartic coefficient at beta_c"), crit["quartic_at_beta_c"], fmt))
    branch = pt.derive_T3_recurrent_branch()
    out.append(equation(sp.Symbol("T=3 recurrent branch b*^2"), branch["b_squared"], fmt))
    out.append(equation(sp.Symbol("T=3 recurrent branch u*"), branch["u_star"], fmt))
    out.append("# T > 3: first-order; with b unbounded the recurrent branch wins when lim E* < E*(0)")
    out.append(equation(sp.Symbol("beta_c (b unbounded)"), pt.derive_large_b_limit(4)["beta_unbounded"], fmt))
    unit = pt.derive_unit_b_comparison()
    out.append("# b = 1 against b = 0 (any T): E*(1) - E*(0), and the beta above which b = 1 is lower")
    out.append(equation(sp.Symbol("E*(1) - E*(0)"), unit["difference"], fmt))
    for r in unit["beta_bound"]:
        out.append(equation(sp.Symbol("beta_c upper bound (b = 1 beats b = 0 above it)"), r, fmt)
                   + "   (T = 4: 1, so beta_c(T=4) = 1 for any b_max >= 1)")
    gen = pt.derive_landau_expansion(3, 4, "general")["coefficients"]
    out.append("# General form s_1 = beta, s_T = kappa, T = 3")
    out.append(equation(sp.Symbol("quadratic coefficient"), sp.factor(gen[2]), fmt))
    return "\n".join(out) + "\n"


def _phase_transition_numbers(task, fmt: str) -> list:
    return [_task_line(task, "the critical point at its T, and where its modes end"),
            f"critical beta of the Dirac task (s_1 = beta, s_T = 1/beta; |b| <= 4) at T = {task.T}: "
            f"{critical_beta(task.T):.6g}", *_solution_lines(task, solve_task(task))]


def _recurrent_taylor_formulas(task, fmt: str, order: int = rt.DEFAULT_ORDER) -> str:
    """Recurrent mode with u frozen: flow field, eq. (49), time derivatives via Bell polynomials (App. D)."""
    render(sp.Integer(0), fmt)
    field = rt.derive_flow_field()
    G = sp.Symbol("g(b)")
    out = ["Recurrent mode b with the input-output mode u = a c frozen (paper App. D)",
           "# Flow field g(b) = tau db/dt, from the mode ODEs (A, B: the task sums)",
           equation(G, field["task_sum_form"], fmt),
           "# ... as explicit sums over the trajectory steps (the i = T terms vanish)",
           equation(G, field["paper_form"], fmt),
           "# (n-1)-th derivative, the paper's eq. (49)",
           equation(sp.Symbol("g^(n-1)(b)"), rt.derive_flow_field_derivative_eq49(), fmt),
           "# ... derived from d^m b^p/db^m = ff(p, m) b^(p-m) (ff = falling factorial)",
           equation(sp.Symbol("g^(m)(b)"), rt.derive_flow_field_derivative(), fmt),
           "# Time derivatives of b in units of tau (s = t/tau), g_k = g^(k)(b); Faa di Bruno: "
           "b^(n) = sum_k g_k B_(n-1,k)(b', b'', ...)"]
    for k, expr in enumerate(rt.derive_time_derivatives(order), start=1):
        out.append(equation(sp.Symbol(f"b^({k})"), sp.factor(expr), fmt))
    out.append("# Local approximation, re-expanded every window Delta (restart at the window's end point):")
    n = rt.n
    out.append(equation(sp.Symbol("b(s0 + h)"),
                        sp.Sum(sp.Symbol("b^(n)(s0)") * sp.Symbol("h") ** n / sp.factorial(n), (n, 0, sp.Symbol("N"))),
                        fmt))
    return "\n".join(out) + "\n"


def _recurrent_taylor_numbers(task, fmt: str) -> list:
    out = [_task_line(task, "g(b) per mode with u frozen at its initial a c")]
    for mode in range(min(task.K, MAX_MODES_PRINTED)):
        out.append(f"mode {mode}: " + _flow_field_line(task, mode, sp.Symbol("g(b)")))
    return out


def _regularisation_formulas(task, fmt: str) -> str:
    """Energy split into a data term and an effective regulariser (Lemma 3.2)."""
    render(sp.Integer(0), fmt)
    split = rg.derive_energy_split()
    out = ["# Lemma 3.2: E = data term + effective regulariser (per mode)"]
    out.append(equation(sp.Symbol("E"), split["energy"], fmt))
    out.append(equation(sp.Symbol("E_data"), split["data"], fmt))
    out.append(equation(sp.Symbol("E_reg"), split["regulariser_sum"], fmt))
    out.append(equation(sp.Symbol("E_reg"), split["regulariser"], fmt))
    out.append(equation(sp.Symbol("E_reg (b^2 != 1)"), split["regulariser_generic"], fmt))
    out.append(equation(sp.Symbol("E_data + E_reg - E (summands)"), rg.split_residual(), fmt))
    return "\n".join(out) + "\n"


def _regularisation_numbers(task, fmt: str) -> list:
    out = []
    init = task.init
    d, r = energy_split(task.singular_values, init.a, init.b, init.c, task.tau, task.input_covariance)
    note = {"final": "", "every_step": " (every-step outputs: regulariser of eq. 159, see `lrnn derive --result "
                                       "every-step`)"}[task.outputs]
    if task.correlated:
        note = (" (inputs correlated across time: regulariser |u|^2 B(b) / (2 tau) with B from the gram matrix "
                "of the covariance, data term with the explained norm c_0)")
    out.append(_task_line(task, "energy split at its initial modes" + note))
    out += _covariance_lines(task)
    for m in range(min(task.K, 8)):
        out.append(f"mode {m}: data={d[m]:.6g} regulariser={r[m]:.6g} total={d[m] + r[m]:.6g}")
    return out


def _stability_formulas(task, fmt: str) -> str:
    """Zero-loss solutions, reduced energy E*(b), stability classification and curvature (notes §3.4, §5)."""
    render(sp.Integer(0), fmt)
    out = ["# Optimal input-output mode at fixed recurrent mode b, and the reduced energy (notes §3.4)"]
    red = st.derive_reduced_energy()
    out.append(equation(sp.Symbol("u*(b)"), red["u_star"], fmt))
    out.append(equation(sp.Symbol("E*(b)"), red["energy"], fmt))
    out.append(equation(sp.Symbol("E*(b)"), red["cosine_form"], fmt))
    out.append(equation(st.cos2, red["cos2"], fmt))
    out.append("# Zero-loss solutions s_i = u b^(T-i), solved from the last two steps; residual on steps i <= T-2")
    for fam in st.FAMILIES:
        sol = st.derive_zero_loss_solution(fam)
        out.append(f"## {fam}")
        out.append(equation(sp.Symbol("u"), sol["u"], fmt))
        out.append(equation(sp.Symbol("b"), sol["b"], fmt))
        out.append(equation(sp.Symbol("residual_i"), sol["residual"], fmt))
        out.append("zero loss exists iff: " + render(sol["condition"], fmt))
        out.append("early importance (b > 1, unstable) iff: " + render(sol["early_importance"], fmt))
    out.append("# Reduced energy of the base families (sympy summation over i = 1..T)")
    for fam in st.BASE_FAMILIES:
        out.append(f"## {fam}")
        out.append(equation(sp.Symbol("E*(b)"), st.derive_family_reduced_energy(fam)["energy"], fmt))
    hess = st.derive_constant_hessian()
    out.append("# Hessian of tau E in (u, b) at the constant-task solution (delta, 1)")
    out.append(render(hess["hessian"], fmt))
    out.append(equation(sp.Symbol("lim trace/T^3"), hess["trace_leading_T3"], fmt))
    return "\n".join(out) + "\n"


complex_report = Report(SUMMARIES["complex"], _complex_formulas, _complex_numbers)
every_step_report = Report(SUMMARIES["every-step"], _every_step_formulas, _every_step_numbers)
extrapolation_report = Report(SUMMARIES["extrapolation"], _extrapolation_formulas, _extrapolation_numbers, options=("T_test",))
finite_lr_report = Report(SUMMARIES["finite-lr"], _finite_lr_formulas, _finite_lr_numbers)
frozen_report = Report(SUMMARIES["frozen"], _frozen_formulas, _frozen_numbers)
flow_report = Report(SUMMARIES["flow"], _flow_formulas, _flow_numbers)
ntk_report = Report(SUMMARIES["ntk"], _ntk_formulas, _ntk_numbers)
phase_transition_report = Report(SUMMARIES["phase-transition"], _phase_transition_formulas, _phase_transition_numbers)
recurrent_taylor_report = Report(SUMMARIES["recurrent-taylor"], _recurrent_taylor_formulas, _recurrent_taylor_numbers)
regularisation_report = Report(SUMMARIES["regularisation"], _regularisation_formulas, _regularisation_numbers)
stability_report = Report(SUMMARIES["stability"], _stability_formulas, _stability_numbers)

#: ``lrnn derive --result NAME`` -> its report, in the order ``--list`` prints them.
REPORTS = {
    "complex": complex_report,
    "every-step": every_step_report,
    "extrapolation": extrapolation_report,
    "finite-lr": finite_lr_report,
    "frozen": frozen_report,
    "flow": flow_report,
    "ntk": ntk_report,
    "phase-transition": phase_transition_report,
    "recurrent-taylor": recurrent_taylor_report,
    "regularisation": regularisation_report,
    "stability": stability_report,
}
