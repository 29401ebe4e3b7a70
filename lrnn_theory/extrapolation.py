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

Inputs correlated across time (``input_covariance``) extrapolate when their covariance is stationary
(``{"lag": [...]}`` or ``{"ar1": rho}``): the task at T' gets ``input_covariance.at_length(T')``, the residuals are
those of the best linear filter w*' = Lambda'^-1 sigma' (``Task.target_filter``) and the energy is
(w - w*')^T Lambda' (w - w*') / (2 tau) (``trajectory.correlated_mode_energy``); a covariance given as a matrix holds
only its own T steps and is refused in one line. The solution at T is that of ``solve_task``: the zero-loss solution
where the filter at T is geometric, otherwise the minimiser of the training energy (correlated families rarely have a
zero-loss solution: Lambda^-1 sigma of a geometric sigma is not geometric at the ends).
"""
from __future__ import annotations

import numpy as np

from .correlated import InputCovariance
from .errors import bad, check_finite_array, check_int, check_real
from .stability import solve_task
from .tasks import Task, coerce_task, predicted_profile
from .trajectory import correlated_mode_energy

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


def solution_extrapolation(b, u, s_test, tau: float = 1.0, input_covariance=None):
    """Residuals and energy of modes (b, u) (shape (K,)) run on the profile ``s_test`` (K, T').

    Every-step profiles (K, T', T') give the residuals r_(t,i) = s'_(t,i) - u b^(t-i) (0 for i > t).

    With ``input_covariance`` (the covariance of the test length T': a stationary spec, a (T', T') matrix or
    (K, T', T')), ``s_test`` holds the cross-covariances sigma', the residuals are those of the best linear filter,
    r = w*' - u b^(T'-i) with w*' = Lambda'^+ sigma', and the energy is r^H Lambda' r / (2 tau) (a sum of squares,
    ``trajectory.correlated_mode_energy``).

    Returns
    -------
    residual : ndarray (K, T') or (K, T', T')
        r_i = s'_i - u b^(T'-i), target minus prediction (w*'_i - u b^(T'-i) for correlated inputs).
    energy : ndarray (K,)
        sum_i r_i^2 / (2 tau) (r^H Lambda' r / (2 tau)).
    """
    s = check_finite_array("s_test", s_test, allow_complex=True)  # complex: rotational tasks
    s = s[None, :] if s.ndim == 1 else s
    b = np.broadcast_to(np.asarray(b), (s.shape[0],))
    u = np.broadcast_to(np.asarray(u), (s.shape[0],))
    tau = check_real("tau", tau, positive=True)
    if input_covariance is not None:
        task = Task(s, outputs="every_step" if s.ndim == 3 else "final", input_covariance=input_covariance)
        if task.correlated:
            residual = task.target_filter() - predicted_profile(u, b, s.shape[-1], s.ndim == 3)
            return residual, correlated_mode_energy(s, u, b, np.ones_like(u), tau, task.input_covariance.matrix)
    residual = s - predicted_profile(u, b, s.shape[-1], s.ndim == 3)
    energy = np.sum(np.abs(residual.reshape(s.shape[0], -1)) ** 2, axis=1)
    return residual, energy / (2 * tau)


def whitened_one_hot_inputs(T: int, N_x: int) -> np.ndarray:
    """P = T N_x sequences, sample (t, n) is e_n at step t and 0 elsewhere: sum_p x_(p,t) x_(p,t')^T = delta I."""
    T = check_int("T", T, minimum=1)
    return np.eye(T * N_x).reshape(T * N_x, T, N_x)


def network_extrapolation_energy(network, s_test, U, V, tau: float = 1.0, input_covariance=None) -> float:
    """Energy (loss / tau) of ``network`` run at length T' on the task with per-step singular values ``s_test``.

    With ``input_covariance`` (lambda at T': (T', T') or (K, T', T'); inputs correlated across time) the inputs are
    the probes of ``ntk.probe_inputs`` (summed second moments V diag(lambda_ij) V^T, white in the directions no
    mode uses) and the targets those of the linear teacher with the best filter w*' = Lambda'^+ sigma'
    (``Task.target_filter``), whose cross-covariances are sigma': the loss is then the population loss
    (w - w*')^T Lambda' (w - w*') / 2 of the task exactly.

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
    if input_covariance is not None:
        task = Task(s, outputs="every_step" if s.ndim == 3 else "final", input_covariance=input_covariance)
        if task.correlated:
            from .ntk import probe_inputs

            N_x, K = V.shape
            basis = np.linalg.qr(V, mode="complete")[0]
            basis[:, :K] = V                                 # V, completed by directions no mode uses (white)
            lam = task.input_covariance.per_mode(K)
            lam = np.concatenate([lam, np.broadcast_to(np.eye(T_test), (N_x - K, T_test, T_test))])
            X = probe_inputs(T_test, N_x, lam, basis)
            s = task.target_filter()
    if s.ndim == 3:  # every step: Sigma^{Y_t X_i} = U diag(s_(t,i)) V^T, outputs after every step
        Y = np.einsum("yk,kti,xk,pix->pty", U, s, V, X)
        residual = Y - network.forward_every_step(X)
        return 0.5 * float(np.sum(residual**2)) / check_real("tau", tau, positive=True)
    sigmas = np.einsum("yk,kt,xk->tyx", U, s, V)          # Sigma^{YX_i} = U diag(s_i) V^T
    Y = np.einsum("tyx,ptx->py", sigmas, X)
    residual = Y - network.forward(X)
    return 0.5 * float(np.sum(residual**2)) / check_real("tau", tau, positive=True)


def _family_solution(family: str, T: int, delta, lam, tau: float, outputs: str, phases: dict, covariance=None):
    """(u, b) of the family's solution at length T (``solve_task``), shape (1,).

    White inputs: the zero-loss solution, refused without one. Inputs correlated across time: the zero-loss solution
    where the best filter is geometric, otherwise the minimiser of the training energy (refused at the search
    bound, where there is no finite minimiser)."""
    task = family_task(family, T, delta, lam, tau=tau, outputs=outputs, **phases, **_covariance_option(covariance, T))
    sol = solve_task(task)
    if not task.correlated and not sol.zero_loss[0]:
        raise bad("family", family, "have a zero-loss solution at the training length (check delta and lambda)")
    if sol.at_bound[0]:
        raise bad("family", family, f"have a finite minimiser of the training energy at T={T} (it lies at the "
                                    f"search bound |b| = {sol.b_max:g})")
    return sol.u, sol.b


def _stationary(input_covariance, T: int, T_test) -> InputCovariance | None:
    """The validated covariance of the training length; refused in one line unless stationary (some T' != T)."""
    if input_covariance is None:
        return None
    cov = InputCovariance.build(input_covariance, 1, T)
    for length in T_test:
        if int(length) != T:
            cov.at_length(int(length))  # a matrix: refused, saying why
    return cov


def _covariance_option(cov, T: int) -> dict:
    """``{"input_covariance": cov at length T}``, or nothing for white inputs (today's tasks, bit for bit)."""
    return {} if cov is None else {"input_covariance": cov if T == cov.matrix.shape[-1] else cov.at_length(T)}


def _phases(delta_phase, lambda_phase) -> dict:
    return {key: value for key, value in (("delta_phase", delta_phase), ("lambda_phase", lambda_phase))
            if value is not None}


def closed_form_energy(family: str, T: int, T_test, delta: float = 1.0, lam: float | None = None,
                       tau: float = 1.0, outputs: str = "final", delta_phase=None, lambda_phase=None,
                       input_covariance=None) -> np.ndarray:
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
    input_covariance : dict, optional
        A stationary covariance of the inputs across time (``{"lag": [...]}`` or ``{"ar1": rho}``): the family
        gives the cross-covariances sigma, the solution at T is that of ``solve_task`` (the minimiser where no
        zero-loss solution exists) and the energy at T' is that of the task with the covariance at length T'.

    Returns
    -------
    ndarray, shape (len(T_test),)
        sum_{links at T'} |r|^2 / (2 tau) ((w - w*')^T Lambda' (w - w*') / (2 tau) for correlated inputs).

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
    cov = _stationary(input_covariance, T, T_test)
    u, b = _family_solution(family, T, delta, lam, tau, outputs, phases, cov)
    energy = np.array([family_task(family, int(length), delta, lam, outputs=outputs, **phases,
                                   **_covariance_option(cov, int(length))).sums().energy(u, b, tau)[0]
                       for length in T_test])
    return np.maximum(energy, 0.0)  # a sum of squares: drop rounding below 0


def family_extrapolation(family: str, T: int, T_test, delta: float = 1.0, lam: float | None = None,
                         tau: float = 1.0, outputs: str = "final", delta_phase=None, lambda_phase=None,
                         input_covariance=None) -> dict:
    """Zero-loss solution of a family at T, run at every T' in ``T_test``: explicit run and task-sum energy.

    Parameters are those of ``closed_form_energy``; ``delta_phase`` and ``lambda_phase`` make a rotational family,
    a stationary ``input_covariance`` inputs correlated across time (the solution at T is then the minimiser of the
    training energy where no zero-loss solution exists).

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
    cov = _stationary(input_covariance, T, T_test)
    u, b = _family_solution(family, T, delta, lam, tau, outputs, phases, cov)
    energies = np.array([solution_extrapolation(b, u, family_task(family, t, delta, lam, outputs=outputs,
                                                                  **phases).singular_values, tau,
                                                **_covariance_option(cov, t))[1][0]
                         for t in T_test])
    closed = closed_form_energy(family, T, T_test, delta, lam, tau, outputs, delta_phase, lambda_phase,
                                input_covariance)
    return {"family": family, "T": T, "T_test": np.array(T_test), "b": b[0].item(), "u": u[0].item(),
            "energy": energies, "closed_form": closed, "max_abs_error": float(np.max(np.abs(energies - closed)))}


def task_at_length(task, T_test: int) -> Task:
    """The task ``task`` at another trajectory length T' (the target the length-T solution is run on).

    A family task is the same family with the same parameters at T'. A profile given step by step (final output)
    keeps its weight per lag: s'_i = s_(i - (T' - T)), so the last steps are the task's own and the inputs more than
    T steps before the end are weighted 0 (T' > T) or the first T - T' steps are dropped (T' < T). Every-step
    profiles given entry by entry have no such form (the output at a new time t > T has no row): refused unless
    T' = T. A stationary ``input_covariance`` is taken at T'; a covariance matrix only at its own T.
    """
    task = coerce_task(task)
    T_test = check_int("T_test", T_test, minimum=1)
    cov = {} if task.input_covariance is None else {"input_covariance": task.input_covariance if T_test == task.T
                                                    else task.input_covariance.at_length(T_test)}
    options = dict(init=None, tau=task.tau, name=task.name, outputs=task.outputs, **cov)
    if T_test == task.T:
        return Task(task.singular_values, **options)
    if task.spec is not None:
        spec = {k: v for k, v in task.spec.items() if k not in ("family", "T", "outputs")}
        spec = {("lam" if k == "lambda" else k): v for k, v in spec.items()}
        return Task.from_family(task.spec["family"], T=T_test, **spec, **options)
    if task.every_step:
        raise bad("T_test", T_test, f"equal the task's T={task.T}: an every-step profile given entry by entry has no "
                                    "form at another length (give the task as a family)")
    s = task.singular_values
    shift = T_test - task.T
    profile = (np.concatenate([np.zeros((task.K, shift), s.dtype), s], axis=1) if shift > 0 else s[:, -shift:])
    return Task(profile, **options)


def task_extrapolation(task, T_test) -> dict:
    """The task's solution at its own length (``solve_task``) run at every T' in ``T_test`` (``task_at_length``).

    Works for every kind of task ``task_at_length`` can lengthen: real or complex, final or every-step outputs, white
    or stationary correlated inputs.

    Returns
    -------
    dict
        ``T_test`` (n,), ``b``, ``u`` (K,) (the solution at T), ``energy`` (K, n): each mode's energy at each T'
        (``solution_extrapolation``), ``total`` (n,): their sum, ``zero_loss`` (K,): the solution fits T exactly.

    Examples
    --------
    >>> out = task_extrapolation(Task.from_family("exponential", T=4, delta=1.0, lam=0.5), [4, 5])
    >>> out["energy"].round(6).tolist()                      # u = delta lambda^T depends on T: only T' = T fits
    [[0.0, 0.166504]]
    """
    task = coerce_task(task)
    T_test = np.array([check_int("T_test", t, minimum=1) for t in np.atleast_1d(T_test)], dtype=int)
    sol = solve_task(task)
    energy = np.empty((task.K, T_test.size))
    for k, length in enumerate(T_test):  # one task per length (different shapes): a loop over lengths, not modes
        test = task_at_length(task, int(length))
        energy[:, k] = solution_extrapolation(sol.b, sol.u, test.singular_values, task.tau, test.input_covariance)[1]
    energy = np.maximum(energy, 0.0)  # sums of squares: drop rounding below 0
    return {"T_test": T_test, "b": sol.b, "u": sol.u, "energy": energy, "total": energy.sum(axis=0),
            "zero_loss": sol.zero_loss}
