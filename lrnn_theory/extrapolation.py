"""Run networks trained at length T on sequences of other lengths T' and measure the error (notes §5.3).

Two ways to "run" a trained network at T', both vectorized:

* ``solution_extrapolation(b, u, s_test)``: from the modes alone, the residual r_i = s'_i - u b^(T'-i) of every mode
  at every step of the new length, and the energy sum_i r_i^2 / (2 tau) (whitened inputs).
* ``network_extrapolation_energy(network, s_test, U, V)``: any object with ``forward(X)`` for X of shape
  (P, T', N_x) (``lrnn_theory.validation.LRNN``, trained or built from modes) is fed P = T' N_x one-hot input
  sequences, exactly white as a sum over samples; the targets are y = sum_i U diag(s'_i) V^T x_i. The loss
  1/2 sum_p ||y_p - y_hat_p||^2 then equals the population loss, so loss / tau is the energy.

``family_extrapolation`` puts the two next to the closed forms derived in
``lrnn_theory.derivations.extrapolation`` for a family at a list of test lengths. Every-step tasks (App. M) are run
the same way, with residuals r_(t,i) = s'_(t,i) - u b^(t-i) for every output t <= T' and input i <= t, the network
read out at every step, and the closed forms of ``lrnn_theory.derivations.every_step``.
"""
from __future__ import annotations

import numpy as np

from .errors import bad, check_finite_array, check_int, check_real
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


def closed_form_energy(family: str, T: int, T_test, delta: float = 1.0, lam: float | None = None,
                       tau: float = 1.0, outputs: str = "final") -> np.ndarray:
    """Derived extrapolation energy of the family's zero-loss solution at T, run at each length in ``T_test``.

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
        Every-step outputs use the closed forms of ``lrnn_theory.derivations.every_step`` (no exponential family:
        it has no every-step zero-loss solution).

    Returns
    -------
    ndarray, shape (len(T_test),)
        sum_{i=1}^{T'} r_i^2 / (2 tau), lambdified from ``lrnn_theory.derivations.extrapolation``.
    """
    if outputs == "every_step":
        from .derivations.every_step import compile_extrapolation_energy
    else:
        from .derivations.extrapolation import compile_extrapolation_energy

    if family not in FAMILIES:
        raise bad("family", family, f"be one of {', '.join(FAMILIES)}")
    T = check_int("T", T, minimum=1)
    T_test = np.array([check_int("T_test", t, minimum=1) for t in np.atleast_1d(T_test)], dtype=int)
    delta = check_real("delta", delta)
    tau = check_real("tau", tau, positive=True)
    if family in ("inverse_exponential", "exponential") and lam is None:
        raise bad("lam", lam, f"be given for the {family} family")
    fn = compile_extrapolation_energy(family)
    lam_value = 1.0 if lam is None else check_real("lam", lam)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray(fn(float(delta), lam_value, int(T), T_test.astype(float), float(tau)), dtype=float)
    return np.broadcast_to(out, T_test.shape).copy()


def family_extrapolation(family: str, T: int, T_test, delta: float = 1.0, lam: float | None = None,
                         tau: float = 1.0, outputs: str = "final") -> dict:
    """Zero-loss solution of a family at T, run at every T' in ``T_test``: numeric run and closed form.

    Returns
    -------
    dict
        ``T_test``, ``b``, ``u`` (the solution at T, from ``solve_task``), ``energy`` (running the solution),
        ``closed_form`` (derived), ``max_abs_error`` between them.
    """
    from .stability import solve_task

    T = check_int("T", T, minimum=1)
    T_test = [check_int("T_test", t, minimum=1) for t in np.atleast_1d(T_test)]
    sol = solve_task(family_task(family, T, delta, lam, tau=tau, outputs=outputs))
    if not sol.zero_loss[0]:
        raise bad("family", family, "have a zero-loss solution at the training length (check delta and lambda)")
    energies = np.array([solution_extrapolation(sol.b, sol.u, family_task(family, t, delta, lam,
                                                                          outputs=outputs).singular_values,
                                                tau)[1][0] for t in T_test])
    closed = closed_form_energy(family, T, T_test, delta, lam, tau, outputs)
    return {"family": family, "T": T, "T_test": np.array(T_test), "b": float(sol.b[0]), "u": float(sol.u[0]),
            "energy": energies, "closed_form": closed, "max_abs_error": float(np.max(np.abs(energies - closed)))}
