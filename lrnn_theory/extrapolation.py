"""Run networks trained at length T on sequences of other lengths T' and measure the error (notes §5.3).

Every kind of task (real or rotational, final or every-step outputs) is run the same way:

* ``solution_extrapolation(b, u, s_test)``: from the modes alone, the residual of every link of the new length
  (r_i = s'_i - u b^(T'-i); every step r_(t,i) = s'_(t,i) - u b^(t-i) for every output t <= T' and input i <= t),
  and the energy sum |r|^2 / (2 tau) (whitened inputs): the explicit run.
* ``closed_form_energy``: the same energy through the task sums of the test-length task, E_(T')(u*, b*), for a
  family's zero-loss solution at T; for real families it is the closed form in T and T' derived in
  ``lrnn_theory.derivations.extrapolation`` (and ``lrnn_theory.derivations.every_step``).
* ``network_extrapolation_energy(network, s_test, U, V)``: any object with ``forward(X)`` for X of shape
  (P, T', N_x) (``lrnn_theory.validation.LRNN``, trained or built from modes) is fed P = T' N_x one-hot input
  sequences, exactly white as a sum over samples; the targets are y = sum_i U diag(s'_i) V^T x_i. The loss
  1/2 sum_p ||y_p - y_hat_p||^2 then equals the population loss, so loss / tau is the energy.

``family_extrapolation`` puts the explicit run next to the task-sum energy for a family at a list of test lengths.
"""
from __future__ import annotations

import numpy as np

from .errors import bad, check_finite_array, check_int, check_real
from .stability import solve_task
from .tasks import Task, predicted_profile

#: Extrapolation families (see ``lrnn_theory.derivations.extrapolation``): "sum" is constant with delta = 1,
#: "mean" is constant with delta = 1/T at every length.
FAMILIES = ("constant", "sum", "mean", "inverse_exponential", "exponential")


def family_task(family: str, T: int, delta: float = 1.0, lam: float | None = None, **kw) -> Task:
    """The task of an extrapolation family at length T (``mean``: delta = 1/T; ``sum``: delta = 1)."""
    if family not in FAMILIES:
        raise bad("family", family, f"be one of {', '.join(FAMILIES)}")
    if family == "mean":
        return Task.from_family("constant", T=T, delta=1.0 / T, name="mean", **kw)
    if family == "sum":
        return Task.from_family("constant", T=T, delta=1.0, name="sum", **kw)
    return Task.from_family(family, T=T, delta=delta, lam=lam, **kw)


def solution_extrapolation(b, u, s_test, tau: float = 1.0):
    """Residuals and energy of modes (b, u) (shape (K,)) run on the profile ``s_test`` (K, T').

    Every-step profiles (K, T', T') give the residuals r_(t,i) = s'_(t,i) - u b^(t-i) (0 for i > t).

    Returns
    -------
    residual : ndarray (K, T') or (K, T', T')
        r_i = s'_i - u b^(T'-i), target minus prediction.
    energy : ndarray (K,)
        sum_i r_i^2 / (2 tau).
    """
    s = check_finite_array("s_test", s_test, allow_complex=True)  # complex: rotational tasks
    s = s[None, :] if s.ndim == 1 else s
    b = np.broadcast_to(np.asarray(b), (s.shape[0],))
    u = np.broadcast_to(np.asarray(u), (s.shape[0],))
    residual = s - predicted_profile(u, b, s.shape[-1], s.ndim == 3)
    energy = np.sum(np.abs(residual.reshape(s.shape[0], -1)) ** 2, axis=1)
    return residual, energy / (2 * check_real("tau", tau, positive=True))


def whitened_one_hot_inputs(T: int, N_x: int) -> np.ndarray:
    """P = T N_x sequences, sample (t, n) is e_n at step t and 0 elsewhere: sum_p x_(p,t) x_(p,t')^T = delta I."""
    T = check_int("T", T, minimum=1)
    return np.eye(T * N_x).reshape(T * N_x, T, N_x)


def network_extrapolation_energy(network, s_test, U, V, tau: float = 1.0) -> float:
    """Energy (loss / tau) of ``network`` run at length T' on the task with per-step singular values ``s_test``.

    Parameters
    ----------
    network : object with ``forward(X)``
        X of shape (P, T', N_x) -> outputs (P, N_y) (and ``forward_every_step(X)`` -> (P, T', N_y) for
        every-step profiles).
    s_test : array_like, shape (K, T'), or (K, T', T') for every-step outputs
        The target task's singular values at the new length.
    U, V : ndarray, shapes (N_y, K) and (N_x, K)
        The task's output and input singular vectors (those the network was trained with).
    """
    s = check_finite_array("s_test", s_test)
    s = s[None, :] if s.ndim == 1 else s
    U = np.asarray(U, dtype=float)
    V = np.asarray(V, dtype=float)
    T_test = s.shape[-1]
    X = whitened_one_hot_inputs(T_test, V.shape[0])
    if s.ndim == 3:  # every step: Sigma^{Y_t X_i} = U diag(s_(t,i)) V^T, outputs after every step
        Y = np.einsum("yk,kti,xk,pix->pty", U, s, V, X)
        residual = Y - network.forward_every_step(X)
        return 0.5 * float(np.sum(residual**2)) / check_real("tau", tau, positive=True)
    sigmas = np.einsum("yk,kt,xk->tyx", U, s, V)          # Sigma^{YX_i} = U diag(s_i) V^T
    Y = np.einsum("tyx,ptx->py", sigmas, X)
    residual = Y - network.forward(X)
    return 0.5 * float(np.sum(residual**2)) / check_real("tau", tau, positive=True)


def _family_solution(family: str, T: int, delta, lam, tau: float, outputs: str, phases: dict):
    """(u, b) of the family's zero-loss solution at length T (``solve_task``), shape (1,); refused without one."""
    sol = solve_task(family_task(family, T, delta, lam, tau=tau, outputs=outputs, **phases))
    if not sol.zero_loss[0]:
        raise bad("family", family, "have a zero-loss solution at the training length (check delta and lambda)")
    return sol.u, sol.b


def _phases(delta_phase, lambda_phase) -> dict:
    return {key: value for key, value in (("delta_phase", delta_phase), ("lambda_phase", lambda_phase))
            if value is not None}


def closed_form_energy(family: str, T: int, T_test, delta: float = 1.0, lam: float | None = None,
                       tau: float = 1.0, outputs: str = "final", delta_phase=None, lambda_phase=None) -> np.ndarray:
    """Extrapolation energy of the family's zero-loss solution at T, run at each length in ``T_test``.

    The energy of (u*, b*) on the family's task at length T', E_(T')(u*, b*) = (norm - 2 Re(conj(u*) A(b*)) +
    |u*|^2 B(b*)) / (2 tau), through the task sums of the test-length task: the same for real, complex (phases),
    final and every-step tasks. For real families it equals the closed forms in T and T' derived by sympy in
    ``lrnn_theory.derivations.extrapolation`` (final output) and ``lrnn_theory.derivations.every_step``, which the
    tests check it against.

    Parameters
    ----------
    family : str
        One of ``FAMILIES``.
    T : int
        Training length.
    T_test : int or sequence of int
        Test lengths T' (>= 1).
    delta, lam : float
        Family parameters (``lam`` is required by the exponential families, unused otherwise).
    tau : float
        Learning timescale (> 0).
    outputs : {"final", "every_step"}
        Where the network is read out (the exponential family has no every-step zero-loss solution: refused).
    delta_phase, lambda_phase : float, optional
        Phases (radians) of delta and lambda: a rotational (complex) family.

    Returns
    -------
    ndarray, shape (len(T_test),)
        sum_{links at T'} |r|^2 / (2 tau).

    Examples
    --------
    >>> closed_form_energy("mean", 4, [2, 4, 8]).round(6).tolist()      # (T' - T)^2 / (2 tau T^2 T')
    [0.0625, 0.0, 0.0625]
    """
    if family not in FAMILIES:
        raise bad("family", family, f"be one of {', '.join(FAMILIES)}")
    T = check_int("T", T, minimum=1)
    T_test = np.array([check_int("T_test", t, minimum=1) for t in np.atleast_1d(T_test)], dtype=int)
    delta = check_real("delta", delta)
    tau = check_real("tau", tau, positive=True)
    if family in ("inverse_exponential", "exponential") and lam is None:
        raise bad("lam", lam, f"be given for the {family} family")
    phases = _phases(delta_phase, lambda_phase)
    u, b = _family_solution(family, T, delta, lam, tau, outputs, phases)
    energy = np.array([family_task(family, int(length), delta, lam, outputs=outputs, **phases).sums()
                       .energy(u, b, tau)[0] for length in T_test])
    return np.maximum(energy, 0.0)  # a sum of squares: drop rounding below 0


def family_extrapolation(family: str, T: int, T_test, delta: float = 1.0, lam: float | None = None,
                         tau: float = 1.0, outputs: str = "final", delta_phase=None, lambda_phase=None) -> dict:
    """Zero-loss solution of a family at T, run at every T' in ``T_test``: explicit run and task-sum energy.

    Parameters are those of ``closed_form_energy``; ``delta_phase`` and ``lambda_phase`` make a rotational family.

    Returns
    -------
    dict
        ``T_test``, ``b``, ``u`` (the solution at T, from ``solve_task``; complex for a rotational family),
        ``energy`` (running the solution: the residuals at every link of T', ``solution_extrapolation``),
        ``closed_form`` (``closed_form_energy``: through the task sums), ``max_abs_error`` between them.

    Examples
    --------
    >>> out = family_extrapolation("exponential", 4, [4, 6], lam=0.8, lambda_phase=0.3)   # b = e^(-0.3 i) / 0.8
    >>> round(out["b"].real, 6), round(out["b"].imag, 6), bool(out["energy"][0] < 1e-20), out["max_abs_error"] < 1e-12
    (1.194171, -0.3694, True, True)
    """
    T = check_int("T", T, minimum=1)
    T_test = [check_int("T_test", t, minimum=1) for t in np.atleast_1d(T_test)]
    phases = _phases(delta_phase, lambda_phase)
    u, b = _family_solution(family, T, delta, lam, tau, outputs, phases)
    energies = np.array([solution_extrapolation(b, u, family_task(family, t, delta, lam, outputs=outputs,
                                                                  **phases).singular_values, tau)[1][0]
                         for t in T_test])
    closed = closed_form_energy(family, T, T_test, delta, lam, tau, outputs, delta_phase, lambda_phase)
    return {"family": family, "T": T, "T_test": np.array(T_test), "b": b[0].item(), "u": u[0].item(),
            "energy": energies, "closed_form": closed, "max_abs_error": float(np.max(np.abs(energies - closed)))}
