"""Numeric side of Result 1: one mode frozen, the other learning (paper App. C, D and, for complex modes, N-O),
vectorized over modes. Every kind of task enters through its task sums (``Task.sums``).

* ``compile_io_solution`` evaluates the input-output solutions derived in
  ``lrnn_theory.derivations.frozen`` (b frozen): the exact u(t) and t(u) for any initial a, c (balanced
  logistic, or the unbalanced solution with D = a^2 - c^2 != 0), overflow-free for any t.
* ``LineSolution`` is the complex counterpart for any a, c: with b frozen u runs along the straight segment from
  u(0) to u* = A/B, with a closed-form time along it. For |a| = |c| it is the polar form ``frozen_io_polar``
  (``lrnn_theory.derivations.complex``): the angle relaxes at rate 2|A|/tau whatever the radius, the radius needs
  log(r*/r0) times longer ("angle first, radius later"); ``frozen_time_scales`` gives both times.
* ``frozen_b_solution`` picks the closed form that applies to the task (``io_solution_for``): the real one for real
  modes, the line one for complex modes.
* ``FlowFieldPolynomial`` evaluates the flow field g(b) = tau db/dt (u frozen) and its b-derivatives in closed form
  (paper eq. 49: u A^(m+1)(b) - u^2 B^(m+1)(b)/2, from the task sums' derivative tables), for all modes at once.
* ``integrate_recurrent_taylor`` is the paper's local Taylor approximation of b(t), re-expanded every window
  ``Delta``, to any order: the time derivatives come from the Faa di Bruno / Bell-polynomial expressions derived in
  ``lrnn_theory.derivations.recurrent_taylor``. It needs b on the real line: a complex b moves in the plane with a
  flow that depends on b and conj(b), to which the one-variable expansion does not apply.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from .compiled import frozen_io_functions, frozen_polar_functions, time_derivatives
from .errors import DivergenceError, bad, check_finite_array, check_int, check_real, not_defined
from .task_sums import TaskSums
from .stability import as_task
from .tasks import coerce_task


# ---- input-output mode, b frozen ----------------------------------------------------------------------------------
class IOSolution:
    """Exact u(t) = a(t) c(t) with b frozen, for any initial a, c (vectorized, broadcasting over all arguments).

    The task sums A = A(b), B = B(b) at the frozen b are inputs. Cases, all from the derived closed forms:

    * D = a^2 - c^2 != 0: the unbalanced solution (Euler substitution), evaluated in its root form with
      z = exp(-R t/tau) <= 1 and w_0 = (a_0 + c_0)^2 taken from the weights, so that it keeps full precision when
      a is close to -c (small D, u < 0, where the saddle at u = 0 is passed slowly);
    * D = 0, u_0 != 0: the logistic tau du/dt = 2|u|(A - B u) (for u_0 < 0, i.e. a = -c, the logistic with A, B
      replaced by -A, -B); A = 0: its A -> 0 limit; u_0 = 0: u stays 0.

    A < 0 is mapped to A > 0 by the symmetry u -> -u, A -> -A of tau du/dt = sqrt(4u^2 + D^2)(A - B u), so that
    the formulas are only evaluated where they have no cancellation.
    """

    def __init__(self):
        self._fn = frozen_io_functions()

    def _prepare(self, A, B, a0, c0, tau):
        """Mirror A < 0 to A > 0; return |A|, B, u_0, D = |a_0^2 - c_0^2|, w_0 = (a_0 + c_0)^2, mirror, tau."""
        A, B, a0, c0 = (np.asarray(x, dtype=float) for x in (A, B, a0, c0))
        tau = check_real("tau", tau, positive=True)
        if np.any(B <= 0):
            raise bad("B", B, "be > 0 (B(b) = sum_i b^(2(T-i)) >= 1)")
        mirror = np.where(A < 0, -1.0, 1.0)
        D = np.abs(a0**2 - c0**2)
        # u -> -u is (a, c) -> (a, -c); w = (a + c)^2 from the weights has no cancellation, unlike w(u_0, D).
        # w_0 is read by the unbalanced root form only: balanced starts (D = 0) never derive it.
        c0 = mirror * c0
        w0 = self._fn["w_of_ac"](a0, c0) if np.any(D > 0) else np.zeros(np.broadcast(a0, c0).shape)
        return np.abs(A), B, a0 * c0, D, w0, mirror, tau

    def _roots(self, A, B, D):
        """w_+ = fixed point of w, w_- = -D^2 / w_+ and the rate constant R (times tau), all cancellation-free."""
        fn = self._fn
        w_plus = fn["w_plus"](A, B, D)
        w_minus = fn["w_minus"](D, w_plus)
        return w_plus, w_minus, fn["R"](B, w_plus, w_minus)

    def _w_of_u(self, u, D):
        """w(u) = 2u + sqrt(4u^2 + D^2), as D^2 / w(-u) for u < 0 (no cancellation)."""
        fn = self._fn
        return np.where(u >= 0, fn["w_of_u"](np.abs(u), D), fn["w_of_u_conjugate"](u, D))

    def fixed_point(self, A, B):
        """Fixed point u* = A/B of the frozen-b dynamics.

        Parameters
        ----------
        A, B : array_like
            Task sums A(b), B(b) at the frozen b.

        Returns
        -------
        ndarray
        """
        return self._fn["fixed_point"](np.asarray(A, dtype=float), np.asarray(B, dtype=float))

    def u(self, t, A, B, a0, c0, tau: float = 1.0) -> np.ndarray:
        """u(t) = a(t) c(t) with b frozen.

        Parameters
        ----------
        t : array_like
            Times >= 0 (theory units), broadcasting against the mode parameters.
        A, B : array_like
            Task sums A(b), B(b) > 0 at the frozen b.
        a0, c0 : array_like
            Initial input and output modes.
        tau : float
            Time constant.

        Returns
        -------
        ndarray
            u at every time, the broadcast shape of the arguments.

        Raises
        ------
        DivergenceError
            If the closed form is not finite.
        """
        t = np.asarray(t, dtype=float)
        if np.any(t < 0):
            raise bad("t", t, "be >= 0")
        A, B, u0, D, w0, mirror, tau = self._prepare(A, B, a0, c0, tau)
        t, A, B, u0, D, w0, mirror = np.broadcast_arrays(t, A, B, u0, D, w0, mirror)
        fn = self._fn
        out = np.zeros(t.shape)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            unb = D > 0
            if np.any(unb):
                Du = D[unb]
                w_plus, w_minus, R = self._roots(A[unb], B[unb], Du)
                w = fn["w_of_z"](np.exp(-R * t[unb] / tau), w_plus, w_minus, w0[unb])
                out[unb] = fn["u_of_w"](w, Du)
            # Balanced: sign of u_0 picks the branch; (sA, sB) = sign(u_0) (A, B).
            sign = np.sign(u0)
            bal = (D == 0) & (sign != 0) & (A > 0)
            grow = bal & (sign > 0)   # effective A > 0: z = exp(-2At/tau) bounded
            decay = bal & (sign < 0)  # effective A < 0: e = exp(-2At/tau) bounded
            if np.any(grow):
                out[grow] = fn["logistic_z"](np.exp(-2 * A[grow] * t[grow] / tau), A[grow], B[grow], u0[grow])
            if np.any(decay):
                out[decay] = fn["logistic_e"](np.exp(-2 * A[decay] * t[decay] / tau), -A[decay], -B[decay],
                                              u0[decay])
            flat = (D == 0) & (sign != 0) & (A == 0)
            if np.any(flat):
                out[flat] = fn["A0_u"](t[flat], sign[flat] * B[flat], u0[flat], tau)
        if not np.all(np.isfinite(out)):
            raise DivergenceError("io solution is not finite (check A, B, a0, c0)")
        return mirror * out

    def time_to(self, u_target, A, B, a0, c0, tau: float = 1.0) -> np.ndarray:
        """t(u): the time at which u reaches ``u_target``.

        Parameters
        ----------
        u_target : array_like
            Target values of u.
        A, B, a0, c0, tau
            As in ``u``.

        Returns
        -------
        ndarray
            The time, ``inf`` if u never reaches the target, 0 if it starts there.
        """
        A, B, u0, D, w0, mirror, tau = self._prepare(A, B, a0, c0, tau)
        target = mirror * np.asarray(u_target, dtype=float)
        target, A, B, u0, D, w0 = np.broadcast_arrays(target, A, B, u0, D, w0)
        fn = self._fn
        out = np.full(target.shape, np.inf)
        # Limit of u(t): u* = A/B, except for a = -c (D = 0, u_0 < 0 once A >= 0), where u decays to 0.
        ustar = np.where((D == 0) & (u0 < 0), 0.0, A / B)
        # Reachable: between u_0 and that limit (the flow is monotone in u and never crosses it).
        lo, hi = np.minimum(u0, ustar), np.maximum(u0, ustar)
        reach = (target >= lo) & (target <= hi) & (target != ustar)
        reach |= (target == u0)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            unb = reach & (D > 0)
            if np.any(unb):
                w_plus, w_minus, _ = self._roots(A[unb], B[unb], D[unb])
                w = self._w_of_u(target[unb], D[unb])
                out[unb] = fn["t_of_w"](w, w0[unb], w_plus, w_minus, B[unb], tau)
            sign = np.sign(u0)
            bal = reach & (D == 0) & (sign != 0) & (A > 0)
            if np.any(bal):
                out[bal] = fn["logistic_t"](target[bal], sign[bal] * A[bal], sign[bal] * B[bal], u0[bal], tau)
            flat = reach & (D == 0) & (sign != 0) & (A == 0)
            if np.any(flat):
                out[flat] = fn["A0_t"](target[flat], sign[flat] * B[flat], u0[flat], tau)
        out[reach & (target == u0)] = 0.0
        return out

    def time_to_fraction(self, fraction, A, B, a0, c0, tau: float = 1.0) -> np.ndarray:
        """Time for u to reach ``fraction`` * u* (e.g. 0.9: the 90% learning time); 0.5 gives the half-time.

        Parameters
        ----------
        fraction : array_like
            Fraction of the fixed point u* = A/B.
        A, B, a0, c0, tau
            As in ``u``.

        Returns
        -------
        ndarray
            As in ``time_to``.
        """
        return self.time_to(np.asarray(fraction) * self.fixed_point(A, B), A, B, a0, c0, tau)


def compile_io_solution() -> IOSolution:
    """Lambdified input-output solution with b frozen (see ``IOSolution``).

    Returns
    -------
    IOSolution

    Examples
    --------
    >>> from lrnn_theory.frozen import compile_io_solution
    >>> sol = compile_io_solution()
    >>> round(float(sol.u(1.0, A=1.0, B=1.0, a0=0.1, c0=0.1)), 6)   # logistic: u0 e^2 / (1 + u0 (e^2 - 1))
    0.069453
    """
    return IOSolution()


def task_sums_at(task, b) -> tuple:
    """A(b) and B(b) of every mode of ``task`` (any kind of task), through its task sums.

    Final output: A(b) = sum_i s_i conj(b)^(T-i), B(b) = sum_i |b|^(2(T-i)) (conj a no-op for real b); every-step
    and correlated tasks as in ``lrnn_theory.task_sums``.

    Parameters
    ----------
    task : Task, dict or path
    b : array_like, shape (K,) or scalar
        Recurrent strengths at which to evaluate the sums (complex for complex modes).

    Returns
    -------
    A, B : ndarray, shape (K,)
        A is complex for a complex task or a complex b; B is real.

    Examples
    --------
    >>> from lrnn_theory import Task
    >>> A, B = task_sums_at(Task([[1j, 1.0]]), 0.5j)   # A = 1 + 1j * conj(0.5j), B = 1 + 0.25
    >>> complex(A[0]), float(B[0])
    ((1.5+0j), 1.25)
    """
    task = coerce_task(task)
    b = np.asarray(b)
    b = np.broadcast_to(b.astype(complex if b.dtype.kind == "c" else float), (task.K,))
    return task.sums().values(b)


def frozen_b_solution(task, t, b=None) -> np.ndarray:
    """u(t) of every mode with b frozen, from the task's initial a, c (any kind of task).

    Real modes: the exact solution of ``IOSolution``; complex modes: that of ``LineSolution`` (u runs along the
    straight segment from u(0) to u* = A/B); both for any a, c.

    Parameters
    ----------
    task : Task, dict or path
    t : array_like, shape (n,)
        Times >= 0 (theory units).
    b : array_like, optional
        Frozen recurrent strengths (default: the task's initial b).

    Returns
    -------
    ndarray, shape (n, K)
        Complex for a complex task.
    """
    task = coerce_task(task)
    A, B = task_sums_at(task, task.init.b if b is None else b)
    t = np.asarray(t, dtype=float)[:, None]
    return io_solution_for(A).u(t, A, B, task.init.a, task.init.c, task.tau)


def io_solution_for(A):
    """The closed form with b frozen that applies to task sums A: ``IOSolution`` for real A, ``LineSolution`` for
    complex A (complex modes)."""
    # Where u lives, not a code path per kind of task: both closed forms solve the same ODE, but a real u stays on
    # the real line, where it reaches the saddle a = -c generically (not only on a set of measure zero, as in the
    # plane); there the root form of IOSolution keeps full precision while the segment form of LineSolution loses
    # it (measured: u off by 1.5e-2 at |c|/|a| - 1 = 1e-6, and not finite at a = -c, where u must stop at 0).
    return LineSolution() if np.iscomplexobj(A) else compile_io_solution()


# ---- input-output mode of a complex task, b frozen ------------------------------------------------------------------
def frozen_io_polar(t, A, beta, u0, tau: float = 1.0):
    """u(t) = r e^(i psi) with b frozen and |a| = |c|: tau du/dt = 2|u| (A - u beta) (closed form, derived).

    Parameters
    ----------
    t : array_like, shape (n,) (or broadcasting against the others, e.g. (n, 1) against (K,))
    A, beta : complex and float (or arrays)
        A(conj b) and B = beta(|b|^2) at the frozen b (``task_sums_at``).
    u0 : complex (or array)
        Initial input-output mode (non-zero).
    tau : float

    Returns
    -------
    ndarray of complex, the broadcast shape of the arguments

    Notes
    -----
    The angle follows tan((psi* - psi)/2) = tan((psi* - psi0)/2) e^(-2|A| t/tau), independent of the radius: it
    relaxes on the time scale tau / (2|A|). The radius grows like a logistic with the same rate from r0, so it needs
    about log(r*/r0) such time scales (r* = |A| / beta).
    """
    t = np.asarray(t, dtype=float)
    psi_fn, r_fn = frozen_polar_functions()
    absA, psi_star = np.abs(A), np.angle(A)
    psi0 = np.angle(u0)
    # put psi0 within pi of psi_star, so that the angle takes the short way round
    psi0 = psi_star + np.angle(np.exp(1j * (psi0 - psi_star)))
    args = (t, tau, absA, beta, np.abs(u0), psi_star, psi0)
    with np.errstate(over="ignore", invalid="ignore"):
        return r_fn(*args) * np.exp(1j * psi_fn(*args))


def frozen_time_scales(A, beta, u0, tau: float = 1.0, fraction: float = 0.9) -> dict:
    """Times for the angle and the radius of u (b frozen, |a| = |c|) to cover ``fraction`` of their way.

    Returns
    -------
    dict
        ``angle``: closed form log(tan(D0/2) / tan((1 - fraction) D0/2)) tau / (2|A|) with D0 the initial angle
        gap; ``radius``: first time |u| reaches ``fraction`` of the way from r0 to r* = |A|/beta (bisection on the
        closed form); ``rate``: 2|A|/tau.
    """
    absA = float(np.abs(A))
    kappa = 2 * absA / tau
    gap = abs(float(np.angle(np.exp(1j * (np.angle(A) - np.angle(u0))))))
    angle = np.log(np.tan(gap / 2) / np.tan((1 - fraction) * gap / 2)) / kappa if gap > 0 else 0.0
    r0, r_star = abs(u0), absA / beta
    target = r0 + fraction * (r_star - r0)
    lo, hi = 0.0, 1.0 / kappa
    while np.abs(frozen_io_polar([hi], A, beta, u0, tau))[0] < target:
        hi *= 2
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if np.abs(frozen_io_polar([mid], A, beta, u0, tau))[0] < target:
            lo = mid
        else:
            hi = mid
    return {"angle": float(angle), "radius": 0.5 * (lo + hi), "rate": kappa}


class LineSolution:
    """Exact u(t) = a(t) c(t) of a complex mode with b frozen, for any initial a, c (vectorized, broadcasting).

    With b frozen, tau da/dt = conj(c) (A - u B) and tau dc/dt = conj(a) (A - u B), so
    tau du/dt = (|a|^2 + |c|^2) (A - u B) = S B (u* - u), S = sqrt(q^2 + 4|u|^2), q = |a|^2 - |c|^2 (conserved),
    u* = A / B: a positive multiple of u* - u. So u runs along the straight segment u = u* + (u0 - u*) x, x from 1
    to 0 ("angle first, radius later" is the angle of that segment seen from 0), with
    tau dx/dt = -B x R(x), R(x) = sqrt(alpha x^2 + beta x + gamma), alpha = 4|u0 - u*|^2,
    beta = 8 Re(conj(u*) (u0 - u*)), gamma = q^2 + 4|u*|^2. Separating and integrating (the standard integral of
    1/(x R(x)) for gamma > 0):

        B t / tau = (ln(N(x)/x) - ln N(1)) / sqrt(gamma),    N(x) = 2 gamma + beta x + 2 sqrt(gamma) R(x),

    and its inverse with z = e^(-sqrt(gamma) B t / tau) / N(1): x = 4 gamma z / (1 - 2 beta z + (beta^2 - 4 alpha
    gamma) z^2), whose denominator is positive for 0 < z <= 1/N(1) (beta^2 <= 4 alpha gamma), so x stays bounded for
    any t. For |a| = |c| this is the polar closed form ``frozen_io_polar``; for real a, c the real solution of
    ``IOSolution`` (which real tasks use: it also handles a = -c, where u stops at the saddle u = 0).
    """

    @staticmethod
    def _coefficients(A, B, a0, c0):
        A, a0, c0 = (np.asarray(x, dtype=complex) for x in (A, a0, c0))
        B = np.asarray(B, dtype=float)
        if np.any(B <= 0):
            raise bad("B", B, "be > 0 (B(b) = sum_i |b|^(2(T-i)) >= 1)")
        u_star, u0 = A / B, a0 * c0
        delta = u0 - u_star
        q = np.abs(a0) ** 2 - np.abs(c0) ** 2
        alpha = 4 * np.abs(delta) ** 2
        beta = 8 * np.real(np.conj(u_star) * delta)
        gamma = q ** 2 + 4 * np.abs(u_star) ** 2
        return u_star, u0, delta, alpha, beta, gamma

    @staticmethod
    def _log_N_over_x(x, alpha, beta, gamma):
        """ln(N(x)/x), N = 2 gamma + beta x + 2 sqrt(gamma) R(x) >= 0, without cancellation when 2 gamma + beta x < 0
        (then N = (4 alpha gamma - beta^2) x^2 / (2 sqrt(gamma) R - 2 gamma - beta x))."""
        root_g = np.sqrt(gamma)
        R = np.sqrt(np.maximum(alpha * x ** 2 + beta * x + gamma, 0.0))
        lead = 2 * gamma + beta * x
        with np.errstate(divide="ignore", invalid="ignore"):
            N = np.where(lead >= 0, lead + 2 * root_g * R,
                         np.maximum(4 * alpha * gamma - beta ** 2, 0.0) * x ** 2 / (2 * root_g * R - lead))
            return np.log(N / x)

    def u(self, t, A, B, a0, c0, tau: float = 1.0) -> np.ndarray:
        """u(t) with b frozen; arguments as ``IOSolution.u`` (A, a0, c0 complex). Shape: the broadcast shape."""
        t = np.asarray(t, dtype=float)
        if np.any(t < 0):
            raise bad("t", t, "be >= 0")
        tau = check_real("tau", tau, positive=True)
        u_star, u0, delta, alpha, beta, gamma = self._coefficients(A, B, a0, c0)
        B = np.asarray(B, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_z = -np.sqrt(gamma) * B * t / tau - self._log_N_over_x(1.0, alpha, beta, gamma)
            z = np.exp(log_z)
            x = 4 * gamma * z / (1 - 2 * beta * z + (beta ** 2 - 4 * alpha * gamma) * z ** 2)
            # gamma = 0 (u* = 0 and |a| = |c|): tau du/dt = -2|u| B u, so u = u0 / (1 + 2 |u0| B t / tau)
            x = np.where(gamma > 0, x, 1 / (1 + 2 * np.abs(u0) * B * t / tau))
        out = u_star + delta * x
        if not np.all(np.isfinite(out)):
            raise DivergenceError("complex io solution is not finite (check A, B, a0, c0)")
        return out

    def time_to_fraction(self, fraction, A, B, a0, c0, tau: float = 1.0) -> np.ndarray:
        """First time at which Re(u / u*) reaches ``fraction`` (u / u* for real u): 0 if it starts beyond it, inf
        where u* = 0 or the segment never gets there."""
        tau = check_real("tau", tau, positive=True)
        u_star, u0, delta, alpha, beta, gamma = self._coefficients(A, B, a0, c0)
        B = np.asarray(B, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            start = np.real(u0 / u_star)  # Re(u/u*) = 1 - x (1 - start): linear in x along the segment
            x_f = (1 - np.asarray(fraction, dtype=float)) / (1 - start)
            t_f = tau / (B * np.sqrt(gamma)) * (self._log_N_over_x(x_f, alpha, beta, gamma)
                                                - self._log_N_over_x(1.0, alpha, beta, gamma))
        out = np.where(start >= fraction, 0.0, np.where((np.abs(u_star) > 0) & (gamma > 0), t_f, np.inf))
        return np.where(np.isfinite(out), out, np.inf)


# ---- recurrent mode, u frozen -------------------------------------------------------------------------------------
def _real_line_sums(task_or_sums, result: str) -> tuple:
    """The task sums (and the task, if any) of a task, task sums or raw profile, refusing complex modes."""
    if isinstance(task_or_sums, TaskSums):
        sums, task = task_or_sums, None
    else:
        task = as_task(task_or_sums)  # a task, or a raw profile (K, T) / (K, T, T)
        sums = task.sums()
    # A refusal where the mathematics does not exist, not a code path: b must be on the real line here.
    if np.iscomplexobj(sums.alpha):
        raise not_defined(result, task if task is not None else SimpleNamespace(kind="complex"),
                          "a complex b moves in the plane with a flow that depends on b and conj(b); the "
                          "one-variable expansion of App. D (eq. 49, Faa di Bruno) needs b on the real line")
    return sums, task


class FlowFieldPolynomial:
    """g(b) = tau db/dt with u frozen, and its b-derivatives, for all modes (closed form, paper eq. 49).

    g = u A'(b) - u^2 B'(b)/2 through the task sums, and g^(m) = u A^(m+1)(b) - u^2 B^(m+1)(b)/2: for the
    final-output task the power b^k (k = T - i) of A contributes k s_i u b^(k-1) and that of B -k u^2 b^(2k-1), and
    each derivative multiplies the coefficient of b^p by the falling factorial p (p-1) ... (p-m+1), which is eq. (49)
    (eq. 158 for every-step tasks). The falling-factorial tables are those of ``TaskSums.derivatives``.

    Parameters
    ----------
    task : Task, TaskSums or array_like
        The task (real b: real, every-step or correlated tasks), its task sums, or a raw profile (K, T) / (K, T, T).
    u : array_like, shape (K,) or scalar
        The frozen input-output strengths.
    """

    def __init__(self, task, u):
        self.sums, _ = _real_line_sums(task, "the flow field of b with u frozen")
        self.K, self.T = self.sums.K, self.sums.n
        self.u = np.broadcast_to(check_finite_array("u", u), (self.K,)).astype(float)

    def derivatives(self, b, count: int) -> np.ndarray:
        """g^(m)(b) for m = 0..count-1.

        Parameters
        ----------
        b : array_like, shape (K,)
        count : int
            Number of derivatives (including g itself).

        Returns
        -------
        ndarray, shape (count, K)
        """
        b = np.broadcast_to(np.asarray(b, dtype=float), (self.K,))
        As, Bs = self.sums.derivatives(b, count)
        return self.u * As[1:] - 0.5 * self.u ** 2 * Bs[1:]

    def __call__(self, b) -> np.ndarray:
        """g(b), shape (K,)."""
        return self.derivatives(b, 1)[0]


@functools.lru_cache(maxsize=None)
def compile_time_derivatives(order: int):
    """Numeric b^(1..order) (units of tau) from g_0..g_{order-1}: lambdified Bell-polynomial expressions.

    Parameters
    ----------
    order : int >= 1

    Returns
    -------
    callable
        ``f(G) -> ndarray (order, ...)`` with ``G`` of shape (order, ...).
    """
    order = check_int("order", order, minimum=1)
    fn = time_derivatives(order)

    def evaluate(G):
        G = np.asarray(G, dtype=float)
        out = np.empty(G.shape)  # filled row by row: a constant row (b' = g_0 ...) broadcasts on assignment
        for index, value in enumerate(fn(*G)):
            out[index] = value  # by index: the rows of a 1-D G (order,) are scalars, not views to assign into
        return out

    return evaluate


@dataclass
class TaylorResult:
    """Windowed Taylor approximation of b(t) with u frozen.

    Attributes
    ----------
    t : ndarray (n,)
    b : ndarray (n, K)
    window, order : the re-expansion window (time units of t) and the Taylor order
    n_windows : int
    """

    t: np.ndarray
    b: np.ndarray
    window: float
    order: int
    n_windows: int


def integrate_recurrent_taylor(task, t_eval, *, window: float = 0.1, order: int = 5, u=None, b0=None,
                               divergence_threshold: float = 1e6) -> TaylorResult:
    """Paper App. D: b(t) with u frozen from Taylor series of the given order, re-expanded every ``window``.

    Within a window starting at t_0, b(t_0 + h) = sum_{n=0}^{order} b^(n)(t_0) h^n / n!, with b^(n) from the
    Bell-polynomial expressions in g^(k)(b(t_0)) (divided by tau^n); the value at the window's end starts the
    next window. Vectorized over modes; the loop runs over windows only.

    Parameters
    ----------
    task : Task
        Singular values and tau (and default u = a c, b from ``task.init``).
    t_eval : array_like
        Increasing output times, starting at or after 0 (theory units).
    window : float
        Re-expansion window Delta (same units as t).
    order : int
        Highest time derivative kept (the paper uses 5).
    u, b0 : array_like, optional
        Frozen input-output strengths and initial b (default: from the task's init).

    divergence_threshold : float
        Largest |b| accepted.

    Returns
    -------
    TaylorResult

    Raises
    ------
    DivergenceError
        If |b| exceeds ``divergence_threshold`` (the series stepped outside its radius of convergence or the
        dynamics blow up).
    """
    task = coerce_task(task)
    sums, _ = _real_line_sums(task, "the windowed Taylor series of b with u frozen")
    window = check_real("window", window, positive=True)
    order = check_int("order", order, minimum=1)
    t_eval = np.asarray(check_finite_array("t_eval", t_eval, ndim=1), dtype=float)
    if np.any(np.diff(t_eval) < 0) or t_eval[0] < 0:
        raise bad("t_eval", t_eval, "be non-decreasing times >= 0")
    K = task.K
    u = task.init.a * task.init.c if u is None else np.broadcast_to(np.asarray(u, float), (K,))
    b = (task.init.b if b0 is None else np.broadcast_to(np.asarray(b0, float), (K,))).astype(float).copy()
    field = FlowFieldPolynomial(sums, u)
    time_derivs = compile_time_derivatives(order)
    scale = task.tau ** -np.arange(1, order + 1, dtype=float) / np.cumprod(np.arange(1, order + 1, dtype=float))
    n_windows = max(1, int(np.ceil(t_eval[-1] / window - 1e-12)))
    which = np.minimum((t_eval // window).astype(int), n_windows - 1)
    # Each window's start and Taylor coefficients are kept; the output times are evaluated once after the loop (the
    # same Horner operations, so the same values as evaluating them window by window).
    starts = np.empty((n_windows, K))
    coefficients = np.empty((n_windows, order, K))
    for w_idx in range(n_windows):
        starts[w_idx] = b
        # Taylor coefficients b^(n)(t_0) / n! in time t (b^(n) carries tau^-n). Overflow is caught just below.
        with np.errstate(over="ignore", invalid="ignore"):
            coeffs = coefficients[w_idx]
            np.multiply(time_derivs(field.derivatives(b, order)), scale[:, None], out=coeffs)
            b = _horner(b, coeffs, window)
        if not np.all(np.isfinite(b)) or np.max(np.abs(b)) > divergence_threshold:
            mode = int(np.argmax(~np.isfinite(b) | (np.abs(b) > divergence_threshold)))
            raise DivergenceError(f"windowed Taylor series diverged at t={(w_idx + 1) * window:.6g} in mode {mode} "
                                  f"(window={window:g}, order={order}); use a smaller window",
                                  time=(w_idx + 1) * window, mode=mode)
    with np.errstate(over="ignore", invalid="ignore"):
        out = _horner(starts[which], coefficients[which].transpose(1, 0, 2), (t_eval - which * window)[:, None])
    return TaylorResult(t=t_eval, b=out, window=window, order=order, n_windows=n_windows)


def _horner(b0, coeffs, h):
    """sum_n coeffs[n-1] h^n + b0: ``coeffs`` (order, ...) broadcast against ``h`` and ``b0``."""
    acc = 0.0
    for c in coeffs[::-1]:
        acc = (acc + c) * h
    return acc + b0
