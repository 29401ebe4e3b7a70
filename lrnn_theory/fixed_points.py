"""End points of the mode flow without integrating to the end: the fixed point reached from the initial state.

At a fixed point with u = a c != 0 the rates vanish when A(b) - u B(b) = 0 and A'(b) - u B'(b)/2 = 0, that is
u* = A(b*)/B(b*) and d/db [A(b)^2 / B(b)] = 0 at b*: the energy on the manifold u = A/B is (S_2 - A^2/B)/(2 tau), so
the flow climbs g(b) = A(b)^2/B(b) (there db/dt = g'(b)/2 exactly) and stops at the first maximum of g in the
direction it moves. The input and output modes follow from u* and the conserved a^2 - c^2.

Valid where the flow reaches the manifold u = A/B before b has moved far (small or balanced initialisations, the
regime of the paper). It is checked per mode by a short integration (``check_time``): b must then be moving
towards the predicted b*, and g must rise monotonically from b(check_time) to b*. Not valid, and reported as such
(``valid`` False, NaN end point), where g has no maximum in the direction of motion (the recurrent mode runs off,
e.g. Dirac tasks with beta > kappa) or where b moves away from b* during the check. Modes with a = c = 0 stay put.

Examples
--------
>>> from lrnn_theory import Task
>>> ends = flow_endpoints(Task.inverse_exponential(delta=1.0, lam=0.5, T=4))
>>> bool(ends.valid[0]), round(float(ends.b[0]), 6), round(float(ends.u[0]), 6)
(True, 0.5, 1.0)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import bad, check_real
from .tasks import coerce_task


@dataclass
class FlowEndpoints:
    """Predicted end points per mode: a, b, c, u (NaN where not valid), ``valid`` and the check's state."""

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    valid: np.ndarray
    b_check: np.ndarray

    @property
    def u(self) -> np.ndarray:
        return self.a * self.c


def _slope_sign(sums, b):
    """sign of g'(b) for g = A^2/B: g' = A (2 A' B - A B') / B^2."""
    A0, A1, B0, B1 = sums.evaluate(b)
    return np.sign(A0 * (2 * A1 * B0 - A0 * B1))


def flow_endpoints(task, *, check_time: float | None = None, b_span: float = 50.0, rtol: float = 1e-8,
                   atol: float = 1e-10) -> FlowEndpoints:
    """End points of the flow of every mode of ``task`` from the fixed-point conditions (see the module docstring).

    Parameters
    ----------
    task : Task, dict or path
    check_time : float, optional
        Length of the short integration from the initial state (theory time; default 5 tau) that moves every mode
        onto the manifold u = A/B and shows which way b moves.
    b_span : float
        How far from b(check_time) to look for the first maximum of A^2/B before declaring that b runs off.
    rtol, atol : float
        Tolerances of the short integration.

    Returns
    -------
    FlowEndpoints
    """
    from .flow import compile_flow, integrate

    task = coerce_task(task)
    if task.is_complex:
        raise bad("task", task, "be real: the fixed-point end points of complex tasks are not derived (integrate them)")
    check_time = 5.0 * task.tau if check_time is None else check_real("check_time", check_time, positive=True)
    flow = compile_flow(task)
    short = integrate(task, check_time, n_points=2, rtol=rtol, atol=atol)
    a1, b1, c1 = short.a[-1], short.b[-1], short.c[-1]
    rates = flow.rates_blocks(check_time, np.column_stack([a1, b1, c1]))
    sums = flow.sums
    K = task.K
    direction = _slope_sign(sums, b1)
    moving = np.sign(rates[:, 1])
    # b frozen (T = 1, or already at a stationary point of g): the end point is on the manifold at b(check).
    b_star = b1.copy()
    found = direction == 0
    valid = found | (direction == moving) | (np.abs(rates[:, 1]) < 1e-14)
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
        valid &= ~gone
        searching &= ~turned & ~gone
    bracket = found & valid & (direction != 0)
    for _ in range(60):  # bisection of the sign change of g' in [lo, hi]
        mid = 0.5 * (lo + hi)
        same = _slope_sign(sums, mid) == direction
        lo = np.where(bracket & same, mid, lo)
        hi = np.where(bracket & ~same, mid, hi)
    b_star = np.where(bracket, 0.5 * (lo + hi), b_star)
    A0, _, B0, _ = sums.evaluate(b_star)
    u_star = A0 / B0
    q = a1 ** 2 - c1 ** 2  # conserved
    a_abs = np.sqrt(0.5 * (q + np.sqrt(q ** 2 + 4 * u_star ** 2)))
    sign_a = np.where(a1 != 0, np.sign(a1), np.sign(u_star) * np.sign(c1))
    a_star = sign_a * a_abs
    with np.errstate(divide="ignore", invalid="ignore"):
        c_star = np.where(a_star != 0, u_star / a_star, np.sign(c1) * np.sqrt(np.maximum(-q, 0.0)))
    # a = c = 0 (u = 0 stays 0): the initial state is the end point.
    idle = (a1 == 0) & (c1 == 0)
    a_star, b_star, c_star = (np.where(idle, x1, x) for x, x1 in ((a_star, a1), (b_star, b1), (c_star, c1)))
    valid |= idle
    nan = np.full(K, np.nan)
    return FlowEndpoints(a=np.where(valid, a_star, nan), b=np.where(valid, b_star, nan),
                         c=np.where(valid, c_star, nan), valid=valid, b_check=b1)


__all__ = ["flow_endpoints", "FlowEndpoints"]
