"""Numeric side of the recurrent-vs-feedforward phase transition (paper §3.4, App. H; notes §6.2-6.3).

* ``dirac_profile``: App. H's Dirac task s_1 = beta, s_T = 1/beta (s_1/s_T = beta^2).
* ``phase_curve``: minimising b*, u* and E* of that task against beta for one T (Fig. A3), with E written without
  the 1/(2 tau) as in App. H (E = sum_i r_i^2).
* ``critical_beta``: the beta at which b = 0 (feedforward, u = 1/beta, E = beta^2) stops being the global minimiser of
  E*(b) over |b| <= b_max, located by bisection. For T = 3 this is the continuous transition at 1/sqrt(2) (derived
  exactly in ``lrnn_theory.derivations.phase_transition``); for T >= 4 it is a first-order jump to a recurrent branch
  whose infimum lies at |b| -> oo, so the critical beta depends on the bound b_max and tends to 1 as b_max grows.
* The converged b and u of Fig. 4 (gradient flow over a grid of task parameters) come from
  ``lrnn_theory.sweeps.sweep``.

The reduced energy is minimised through the task sums (``stability.minimise_reduced_energy``). Other kinds of task
need nothing here: the Dirac family has no every-step form (``Task.from_family("dirac", outputs="every_step")``
refuses in one line), and giving its steps phases, s_1 = beta e^(i phi_1), s_T = e^(i phi_T) / beta, changes
nothing but the phase of u: for complex b, |A(conj b)| = |beta conj(b)^(T-1) e^(i phi_1) + e^(i phi_T) / beta| is
maximised over arg b at the value it has for real b >= 0 with phases 0, so the transition of |b*| and E* is this
one (``solve_task`` on the complex task finds it; tests/test_engine_matrix.py).
"""
from __future__ import annotations

import numpy as np

from .errors import bad, check_finite_array, check_int, check_real
from .stability import B_MAX, minimise_reduced_energy

#: Relative energy margin by which the recurrent branch must beat the feedforward one to count as the minimiser.
ENERGY_MARGIN = 1e-12


def dirac_profile(beta, T: int) -> np.ndarray:
    """(K, T) profiles s_1 = beta, s_T = 1/beta, all other steps 0 (one mode per beta)."""
    beta = np.atleast_1d(check_finite_array("beta", beta)).astype(float)
    if np.any(beta <= 0):
        raise bad("beta", beta, "be > 0 (s_T = 1/beta)")
    T = check_int("T", T, minimum=2)
    s = np.zeros((beta.size, T))
    s[:, 0] = beta
    s[:, -1] = 1.0 / beta
    return s


def phase_curve(T: int, betas, b_max: float = B_MAX, n_grid: int = 4001) -> dict:
    """Minimiser of the App. H reduced energy for each beta (no 1/(2 tau): E = sum_i r_i^2).

    Returns
    -------
    dict
        ``beta``, ``b`` (b*), ``u`` (u*), ``energy`` (E*), ``feedforward_energy`` (beta^2, the b = 0 solution) and
        ``at_bound`` (minimiser at |b| = b_max: no finite minimiser in range).
    """
    betas = np.atleast_1d(check_finite_array("betas", betas)).astype(float)
    if np.any(betas <= 0):
        raise bad("betas", betas, "be > 0 (s_T = 1/beta)")
    check_length(check_int("T", T, minimum=2), float(betas.max()), check_real("b_max", b_max, positive=True))
    b, u, e, at_bound = minimise_reduced_energy(dirac_profile(betas, T), b_max=b_max, n_grid=n_grid, tau=0.5)
    return {"beta": betas, "b": b, "u": u, "energy": e, "feedforward_energy": betas**2, "at_bound": at_bound,
            "b_max": float(b_max), "T": int(T)}


def check_length(T: int, beta_max: float, b_max: float) -> int:
    """``T`` itself, or ``LrnnInputError`` naming T and its limit when beta^2 b_max^(2(T-1)) (the largest square of
    the reduced energy over |b| <= b_max) overflows float64."""
    if b_max > 1:
        scale = max(beta_max**2, b_max**2 / (b_max**2 - 1))
        t_max = int(1 + (np.log(np.finfo(float).max) - np.log(2 * scale)) / (2 * np.log(b_max)))
        if T > t_max:
            raise bad("T", T, f"be <= {t_max} for betas up to {beta_max:g} and |b| <= {b_max:g} (b^(2(T-1)) "
                      "overflows float64 beyond)")
    return T


def recurrent_wins(T: int, betas: np.ndarray, b_max: float, n_grid: int) -> np.ndarray:
    """Per beta of ``betas``: whether a recurrent b != 0 beats the feedforward point b = 0 (lower energy by more
    than ``ENERGY_MARGIN``) over |b| <= b_max, i.e. beta is at or past beta_c(T, b_max): what ``critical_beta``
    bisects on."""
    curve = phase_curve(T, betas, b_max, n_grid)
    return curve["energy"] < curve["feedforward_energy"] * (1 - ENERGY_MARGIN)


def critical_beta(T: int, b_max: float = B_MAX, tol: float = 1e-9, bracket=(0.2, 5.0), n_grid: int = 4001) -> float:
    """Smallest beta at which the feedforward point b = 0 is no longer the global minimiser over |b| <= b_max.

    Bisection on the indicator "min_b E*(b) < E*(0)", vectorized: each round evaluates 16 betas inside the current
    bracket at once and keeps the sub-interval where the indicator switches.

    Parameters
    ----------
    T : int
        Trajectory length (>= 3; for T = 2 the task is not of the Dirac type of App. H).
    b_max : float
        Search bound on |b|; for T >= 4 the answer depends on it (beta_c -> 1 as b_max -> oo).
    tol : float
        Width of the final bracket (> 0; the bisection also stops once the bracket no longer shrinks in floating
        point).
    bracket : (float, float)
        0 < beta_lo < beta_hi with the feedforward point winning at beta_lo and losing at beta_hi.
    n_grid : int
        Grid points of the search over b (before the golden-section polish).

    Returns
    -------
    float
        The midpoint of the final bracket.
    """
    T = check_int("T", T, minimum=3)
    b_max = check_real("b_max", b_max, positive=True)
    tol = check_real("tol", tol, positive=True)
    if not isinstance(bracket, (tuple, list, np.ndarray)) or len(bracket) != 2:
        raise bad("bracket", bracket, "be two positive numbers (beta_lo, beta_hi)")
    lo, hi = (check_real("bracket", x, positive=True) for x in bracket)
    if not lo < hi:
        raise bad("bracket", bracket, "be increasing, beta_lo < beta_hi")
    check_length(T, hi, b_max)
    wins = recurrent_wins(T, np.array([lo, hi]), b_max, n_grid)
    if wins[0] or not wins[1]:
        raise bad("bracket", bracket, f"contain the transition of T={T} (b_max={b_max:g}): the feedforward point "
                  "must win at its lower end and lose at its upper end")
    while hi - lo > tol:
        probe = np.linspace(lo, hi, 18)[1:-1]
        w = recurrent_wins(T, probe, b_max, n_grid)
        first = int(np.argmax(w)) if np.any(w) else len(probe)
        new_lo = probe[first - 1] if first > 0 else lo
        new_hi = probe[first] if first < len(probe) else hi
        if (new_lo, new_hi) == (lo, hi):  # tol below the float spacing: the bracket cannot shrink further
            break
        lo, hi = new_lo, new_hi
    return 0.5 * (lo + hi)
