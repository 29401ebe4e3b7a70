"""The theory beside a trained network: integrate the mode ODEs from the network's read-off modes to its recorded
times (``theory_for``) and measure the largest differences (``max_differences``), as ``lrnn validate`` does."""
from __future__ import annotations

import numpy as np

from lrnn_theory.flow import integrate

#: The quantities compared, each the largest absolute difference over recorded times and modes.
QUANTITIES = ("a", "b", "c", "u")


def theory_for(task, simulation, freeze=(), lr_correction=None):
    """Integrate the mode ODEs from the simulation's initial read-off modes to the simulation's recorded times.

    Parameters
    ----------
    task : Task
    simulation : Trajectory
        The harness's read-off modes (its first row is the starting point, its times are the output times).
    freeze : iterable of {"W_x", "W_h", "W_y"}
        Weights the training did not update: the matching modes (a, b, c) keep their initial values, and the
        others follow the mode ODEs with them held fixed (``integrate(frozen=)``).
    lr_correction : float or DiscreteGD, optional
        Integrate the modified flow of this learning rate instead (``lrnn_theory.finite_lr``; not with ``freeze``).

    Returns
    -------
    Trajectory
    """
    start = task.with_init(a=simulation.a[0], b=simulation.b[0], c=simulation.c[0])
    t = np.asarray(simulation.t, dtype=float)
    # rtol 1e-8: 1e4x below the smallest difference validate reports (the lr-corrected flow's, ~1e-4 at h = 0.01)
    # and 2.5x cheaper than 1e-10 (RODAS4 steps ~ rtol^(-1/4))
    return integrate(start, float(t[-1]), t_eval=t, rtol=1e-8, atol=1e-10, lr_correction=lr_correction,
                     frozen=freeze)


def max_differences(simulation, theory) -> dict:
    """Largest |simulation - theory| of a, b, c, u over all recorded times and modes."""
    return {q: float(np.max(np.abs(getattr(simulation, q) - getattr(theory, q)))) for q in QUANTITIES}
