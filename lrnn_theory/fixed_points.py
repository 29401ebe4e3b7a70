"""End points of the mode flow without integrating to the end: the fixed point reached from the initial state.

At a fixed point with u = a c != 0 the rates vanish when u* = A(b*)/B(b*) and b* is a stationary point of
g(b) = |A(b)|^2 / B(b): the energy on the manifold u = A/B is (norm - g(b))/(2 tau), and on that manifold the flow of
b is the ascent of g, tau db/dt = dg/d(conj b) (for real b: g'(b)/2). So the end point is the maximum of g that the
ascent from the initial state reaches:

* real tasks (b on the real line): the first maximum of g in the direction b moves, found by marching with doubling
  steps until g' changes sign and then bisecting (exact to rounding);
* complex tasks (b in the complex plane): the end of the ascent path tau db/dt = dg/d(conj b), followed numerically
  (two real numbers per mode, all modes at once) until the gradient vanishes.

The input and output modes follow from u* and the conserved |a|^2 - |c|^2 = q: |a|^2 = (q + sqrt(q^2 + 4|u|^2))/2.
For a complex mode the phase of a is not conserved: along the manifold the angle psi of u splits as
d(arg a) = (1 - q/S) dpsi / 2 and d(arg c) = (1 + q/S) dpsi / 2 with S = sqrt(q^2 + 4|u|^2) (from tau da/dt =
conj(c) (A - u B) and tau dc/dt = conj(a) (A - u B)), integrated along the same path. That split (a -> a e^(i phi),
c -> c e^(-i phi) leaves u and the loss unchanged) depends on the path u takes, which lags slightly behind the
manifold: b*, u*, |a|, |c| are exact, arg a and arg c are accurate to about 1e-2 rad (1e-3 typically).

When it is valid. The end point is exact (to rounding) whenever the flow ends at the maximum of g that the
ascent from b(check) reaches; only the basin is read from the check, so the check is a short, loose integration
(``check_time`` = 5 tau at rtol 1e-3) and |a|^2 - |c|^2 is taken from the initial state, not from the check. A mode
falls back (``valid`` False, NaN end point, ``reason`` says why) where that cannot be trusted:

* **runaway b**: g has no maximum in the direction of motion within ``b_span`` (the recurrent mode runs off to
  |b| -> oo, e.g. Dirac tasks with beta > kappa, or a task whose loss falls for ever as |b| grows); such a flow has
  no end point, only a state at ``t_end``, so integrate it;
* **against the ascent**: at the check b moves against the ascent of g (the flow is still far from the manifold
  u = A/B, e.g. a large initialisation, and may yet cross into another basin);
* **basin boundary**: a minimum of g (the boundary between two basins of real b), or a zero of a, lies within the
  check's error margin (``margin`` (1 + |b|)) of the checked state, so the loose check cannot tell which basin or
  sign the flow ends in. (For complex b the basins of the plane are not searched for their boundaries: the ascent
  path is followed from the checked state, which a loose check places only to about rtol.)

Where b moves a long way off the manifold after the check (an initialisation far from the small/balanced regime of
the paper), the flow may still overshoot into the next basin; the checks above do not see that, so for such
initialisations compare with ``integrate``. For complex tasks b*, u*, |a| and |c| are exact, but the phase split of a
and c is followed along an approximate path (about 1e-2 rad, see above); where the phases of a and c matter,
integrate. Modes with a = c = 0 stay put. Every kind of task (real, complex, every-step, complex every-step; white
inputs or inputs correlated across time, whose B has odd powers of b and, for complex b, depends on b and conj(b))
enters through its task sums.

Examples
--------
>>> from lrnn_theory import Task
>>> ends = flow_endpoints(Task.inverse_exponential(delta=1.0, lam=0.5, T=4))
>>> bool(ends.valid[0]), round(float(ends.b[0]), 6), round(float(ends.u[0]), 6)
(True, 0.5, 1.0)
>>> rotational = Task.from_family("inverse_exponential", T=4, delta=1.0, lam=0.5, lambda_phase=0.4)
>>> ends = flow_endpoints(rotational)          # the zero-loss solution b = lambda, u = delta
>>> complex(np.round(ends.b[0], 6)), complex(np.round(ends.u[0], 6))
((0.46053+0.194709j), (1+0j))
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from .errors import check_real
from .flow import compile_flow, integrate
from .tasks import coerce_task

#: The ascent of a complex mode has ended when |dg/d(conj b)| falls below this, relative to 1 + g.
GRADIENT_TOL = 1e-12
#: Longest ascent (theory time, in units of tau) followed for complex modes.
ASCENT_HORIZON = 1e6
#: Tolerances of the check integration: it only has to put b in the right basin and show which way it moves.
CHECK_RTOL, CHECK_ATOL = 1e-3, 1e-6
#: Relative error margin of the checked state (times 1 + |b|, or |a| + |c|): a basin boundary or a zero of a this
#: close makes the check ambiguous, and the mode is integrated instead.
CHECK_MARGIN = 1e-2
#: Why a mode falls back to integration (``FlowEndpoints.reason``).
REASONS = {"runaway": "b runs off: no maximum of |A|^2/B within b_span in the direction of motion",
           "against_ascent": "b moves against the ascent of |A|^2/B at the check",
           "basin_boundary": "a basin boundary (minimum of |A|^2/B) or a zero of a is within the check's margin"}


@dataclass
class FlowEndpoints:
    """Predicted end points per mode: a, b, c, u (NaN where not valid; complex for a complex task), ``valid``, the
    check's state ``b_check`` and, per mode, why it is not valid (``reason``: "" where valid, else a key of
    ``REASONS``)."""

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    valid: np.ndarray
    b_check: np.ndarray
    reason: np.ndarray | None = None

    @property
    def u(self) -> np.ndarray:
        return self.a * self.c


def _slope_sign(sums, b):
    """sign of g'(b) for g = A^2/B (real b): g' = A (2 A' B - A B') / B^2."""
    A0, A1, B0, B1 = sums.evaluate(b)
    return np.sign(A0 * (2 * A1 * B0 - A0 * B1))


def _ascent_gradient(sums, b):
    """dg/d(conj b) of g = |A|^2 / B at complex b, with the manifold's u = A/B and the sums used on the path."""
    A, dA, B, dB = sums.evaluate_complex(b)  # A, A' at conj(b); B(b, conj b) and dB/d(conj b) (any gram G)
    with np.errstate(divide="ignore", invalid="ignore"):
        grad = (np.conj(A) * dA - np.abs(A) ** 2 * dB / B) / B
    return grad, A, dA, B, dB


def _real_line_endpoint(sums, b1, db1, b_span, margin):
    """b* on the real line: the first maximum of g = A^2/B from b1 in the direction of ascent; validity and the
    reason codes of the modes that are not valid."""
    K = b1.size
    direction = _slope_sign(sums, b1)
    moving = np.sign(db1)
    # b frozen (T = 1, or already at a stationary point of g): the end point is on the manifold at b(check).
    b_star = b1.copy()
    found = direction == 0
    valid = found | (direction == moving) | (np.abs(db1) < 1e-14)
    reason = np.where(valid, "", "against_ascent").astype(object)
    # A minimum of g within the check's margin (g' < 0 just below, > 0 just above): the loose check cannot say on
    # which side b is, so which maximum it ends at.
    width = margin * (1 + np.abs(b1))
    boundary = ~found & (_slope_sign(sums, b1 - width) < 0) & (_slope_sign(sums, b1 + width) > 0)
    reason[valid & boundary] = "basin_boundary"
    valid &= ~boundary
    # March from b1 in the direction of ascent with doubling steps until g' changes sign, then bisect.
    lo = b1.copy()
    step = np.full(K, 1e-3)
    searching = ~found & valid
    hi = b1.copy()
    while searching.any():
        trial = lo + direction * step
        turned = searching & (_slope_sign(sums, trial) != direction)
        hi = np.where(turned, trial, hi)
        lo = np.where(searching & ~turned, trial, lo)
        step = np.where(searching & ~turned, 2 * step, step)
        found |= turned
        gone = searching & ~turned & (np.abs(lo - b1) > b_span)
        reason[gone] = "runaway"
        valid &= ~gone
        searching &= ~turned & ~gone
    bracket = found & valid & (direction != 0)
    for _ in range(60):  # bisection of the sign change of g' in [lo, hi]
        mid = 0.5 * (lo + hi)
        same = _slope_sign(sums, mid) == direction
        lo = np.where(bracket & same, mid, lo)
        hi = np.where(bracket & ~same, mid, hi)
    return np.where(bracket, 0.5 * (lo + hi), b_star), valid, reason


def _plane_endpoint(sums, b1, db1, a1, c1, q, tau, b_span):
    """b* in the complex plane: the end of the ascent tau db/dt = dg/d(conj b) from b1 (all modes in one ODE of
    (Re b, Im b, arg a) per mode); with arg a carried along (see the module docstring), validity and reasons."""
    K = b1.size
    grad1, A_check, _, B_check, _ = _ascent_gradient(sums, b1)
    scale = 1.0 + np.abs(A_check) ** 2 / B_check
    tol = GRADIENT_TOL * scale
    # moving along the ascent (or not at all) at the check; already at a stationary point: nothing to follow
    valid = (np.real(np.conj(db1) * grad1) > 0) | (np.abs(db1) < 1e-14) | (np.abs(grad1) <= tol)
    reason = np.where(valid, "", "against_ascent").astype(object)
    active0 = valid & (np.abs(grad1) > tol)

    def rates(_, y):
        b = y[0::3] + 1j * y[1::3]
        grad, A, dA, B, dB = _ascent_gradient(sums, b)
        live = active0 & (np.abs(b - b1) <= b_span) & np.isfinite(grad)
        db = np.where(live, grad, 0.0) / tau
        with np.errstate(divide="ignore", invalid="ignore"):
            u = A / B  # on the manifold; A depends on conj(b), B on (b, conj b): dB = conj(B_bbar) db + B_bbar conj(db)
            du = (dA * np.conj(db) * B - A * (np.conj(dB) * db + dB * np.conj(db))) / B ** 2
            dpsi = np.where(u != 0, np.imag(np.conj(u) * du) / np.abs(u) ** 2, 0.0)
            split = 0.5 * (1 - q / np.sqrt(q ** 2 + 4 * np.abs(u) ** 2))
        out = np.empty(3 * K)
        out[0::3], out[1::3], out[2::3] = db.real, db.imag, np.where(live, split * dpsi, 0.0)
        return out

    def still_moving(t, y):
        b = y[0::3] + 1j * y[1::3]
        grad = _ascent_gradient(sums, b)[0]
        live = active0 & (np.abs(b - b1) <= b_span) & np.isfinite(grad)
        return np.max(np.where(live, np.abs(grad) / tol, 0.0), initial=0.0) - 1.0

    still_moving.terminal, still_moving.direction = True, -1
    # At the check u is not quite on the manifold yet: with b (nearly) frozen it moves on the straight line from
    # u(check) to A/B (tau du/dt = (|a|^2 + |c|^2) B (A/B - u)); arg a turns along that segment first.
    u1, u_target = a1 * c1, A_check / B_check
    nodes, weights = np.polynomial.legendre.leggauss(64)
    s = 0.5 * (nodes + 1)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        u_s = u1 + s * (u_target - u1)
        turn = np.imag(np.conj(u_s) * (u_target - u1)) / np.abs(u_s) ** 2
        split_s = 0.5 * (1 - q / np.sqrt(q ** 2 + 4 * np.abs(u_s) ** 2))
        segment = 0.5 * np.sum(weights[:, None] * np.where(np.abs(u_s) > 0, split_s * turn, 0.0), axis=0)
    y0 = np.column_stack([b1.real, b1.imag, np.angle(a1) + np.where(valid, segment, 0.0)]).ravel()
    y_end = y0
    if active0.any():
        sol = solve_ivp(rates, (0.0, ASCENT_HORIZON * tau), y0, method="LSODA", rtol=1e-10, atol=1e-13,
                        events=still_moving)
        y_end = sol.y[:, -1]
    b_star = y_end[0::3] + 1j * y_end[1::3]
    grad_end = _ascent_gradient(sums, b_star)[0]
    ended = (np.abs(b_star - b1) <= b_span) & (np.abs(grad_end) <= 10 * tol)
    reason[valid & ~ended] = "runaway"
    valid &= ended
    return b_star, np.where(np.abs(a1) > 0, y_end[2::3], np.angle(a1)), valid, reason


def flow_endpoints(task, *, check_time: float | None = None, b_span: float = 50.0, rtol: float = CHECK_RTOL,
                   atol: float = CHECK_ATOL, margin: float = CHECK_MARGIN) -> FlowEndpoints:
    """End points of the flow of every mode of ``task`` from the fixed-point conditions (see the module docstring).

    Parameters
    ----------
    task : Task, dict or path
        Any kind of task: real, complex, every-step or complex every-step.
    check_time : float, optional
        Length of the short integration from the initial state (theory time; default 5 tau) that moves every mode
        onto the manifold u = A/B and shows which way b moves.
    b_span : float
        How far from b(check_time) to look for the maximum of |A|^2/B before declaring that b runs off.
    rtol, atol : float
        Tolerances of the short integration (loose by default: it only has to show the basin).
    margin : float
        Relative error margin of the checked state: a basin boundary of b within ``margin`` (1 + |b|), or a zero of
        a within ``margin`` (|a| + |c|), makes a mode fall back (``reason`` "basin_boundary").

    Returns
    -------
    FlowEndpoints
    """
    task = coerce_task(task)
    check_time = 5.0 * task.tau if check_time is None else check_real("check_time", check_time, positive=True)
    margin = check_real("margin", margin, positive=True)
    short = integrate(task, check_time, n_points=2, rtol=check_real("rtol", rtol, positive=True),
                      atol=check_real("atol", atol, positive=True))
    a1, b1, c1 = short.a[-1], short.b[-1], short.c[-1]
    flow = compile_flow(task.with_init(a=a1, b=b1, c=c1))
    db1 = flow.modes(flow.rates(check_time, flow.initial_state(), count=False, check=False))[1]
    sums = flow.sums
    # Conserved exactly by the flow, so taken from the initial state: the loose check only drifts from it.
    q = np.abs(task.init.a) ** 2 - np.abs(task.init.c) ** 2
    # Where b lives, not a code path per kind of task: a real state stays on the real line (the first maximum of
    # |A|^2/B in the direction of ascent, a keeps its sign), a complex one moves in the plane (the ascent path,
    # arg a moving with arg u); each domain has its path to the end point.
    if np.iscomplexobj(b1):
        b_star, arg_a, valid, reason = _plane_endpoint(sums, b1, db1, a1, c1, q, task.tau, b_span)
        A0, _, B0, _ = sums.evaluate_complex(b_star)
        direction_a = np.exp(1j * arg_a)
    else:  # b on the real line: the first maximum in the direction of ascent; a keeps its sign
        b_star, valid, reason = _real_line_endpoint(sums, b1, db1, b_span, margin)
        A0, _, B0, _ = sums.evaluate(b_star)
        direction_a = None
    u_star = A0 / B0
    a_abs = np.sqrt(0.5 * (q + np.sqrt(q ** 2 + 4 * np.abs(u_star) ** 2)))
    if direction_a is None:
        direction_a = np.where(a1 != 0, np.sign(a1), np.sign(u_star) * np.sign(c1))
    a_star = direction_a * a_abs
    with np.errstate(divide="ignore", invalid="ignore"):
        c_star = np.where(a_star != 0, u_star / np.where(a_star != 0, a_star, 1),
                          np.sign(c1) * np.sqrt(np.maximum(-q, 0.0)))
    # a = c = 0 (u = 0 stays 0): the initial state is the end point.
    idle = (a1 == 0) & (c1 == 0)
    # The sign (phase) of a is read from the check: a zero of a within the margin leaves it undecided.
    crossing = ~idle & (np.abs(a1) < margin * (np.abs(a1) + np.abs(c1)))
    reason[valid & crossing] = "basin_boundary"
    valid &= ~crossing
    a_star, b_star, c_star = (np.where(idle, x1, x) for x, x1 in ((a_star, a1), (b_star, b1), (c_star, c1)))
    valid |= idle
    reason[idle] = ""
    nan = np.full(task.K, np.nan)
    return FlowEndpoints(a=np.where(valid, a_star, nan), b=np.where(valid, b_star, nan),
                         c=np.where(valid, c_star, nan), valid=valid, b_check=b1, reason=reason)


__all__ = ["flow_endpoints", "FlowEndpoints", "REASONS"]
