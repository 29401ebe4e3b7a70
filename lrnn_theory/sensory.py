"""Sensory integration (S1 section 3.6, App. L, Fig. 6 and A8): Neurogym multisensory stimuli, targets, theory.

Stimuli
-------
``sensory_trials`` is a pure-numpy, seeded generator of the trials of Neurogym's ``MultiSensoryIntegration``
(neurogym 2.2, ``neurogym/envs/native/multisensory.py``; notes section 10) with the fixation channel removed, so an
observation has 4 dimensions: modality 1 (ring channels 1, 2) and modality 2 (ring channels 3, 4). Per trial:

- ground truth ``g`` uniform in {0, 1} (ring angles ``theta = (0, pi)``), total coherence uniform in ``cohs``
  (default {5, 15, 50}), split between the modalities by a uniform proportion ``q``:
  ``coh_1 = coh q``, ``coh_2 = coh (1 - q)`` (both modalities point the same way, as in Neurogym);
- during the stimulus period, modality m shows ``cos(theta_k - theta_g) coh_m / 200 + 0.5`` on its ring channel k
  (so ``0.5 +- coh_m / 200``) plus independent Gaussian noise of standard deviation ``sigma / sqrt(dt)``
  (default 1 / sqrt(100 ms) = 0.1) on every channel and step;
- the stimulus channels are 0 during fixation (default 300 ms) and decision (100 ms); steps are ``dt`` long and a
  period covers the steps ``int(start / dt) .. int(end / dt) - 1``, as in Neurogym.

How a trial becomes a length-T sequence (the paper does not say; notes section 10) is the parameter ``cut``:

- ``"stimulus"`` (default): the first T steps of the stimulus period, with the stimulus period lasting as long as
  needed (at least its default 750 ms). Every step is a stimulus step, so any T (the training T = 4 and the
  extrapolation T' = 50, 75, 100) is drawn from the same process. This is the cut the experiment uses.
- ``"trial"``: the first T steps of the whole trial with Neurogym's timing (fixation, stimulus, decision), zero after
  the trial ends. The first steps then carry no stimulus at all.

Targets and theory
------------------
The targets are linear filters of the stimuli, ``y = sum_t w_t x_t`` per dimension (``target_weights``):
mean (``w_t = 1/T``), sum (``1``), late importance (``0.1 t``), early importance (``1/t``, App. L; App. P.4.3's
``sum t x_t`` lost the fraction). The mean and sum filters are constant profiles, which an LRNN represents exactly
(``W_h = I``, ``W_y W_x = w I``), so the global solution (recurrent singular values 1, input-output ``w``: 1 for the
sum, 1/T for the mean) holds for any full-rank input statistics, whitened or not (``global_solution``). Run at T'
steps, such a network applies ``w`` to every step while the mean target at T' is ``1/T'``: the error is
``(1/T - 1/T') sum_t x_t``; ``expected_extrapolation_loss`` gives its expected loss over these stimuli in closed form.

The theory's time course on these stimuli (issue 21)
----------------------------------------------------
The stimuli are far from white (about 93% of their power is the mean 0.5 shared by all steps), so the flow that is
exact for the data's own loss is that of the *correlated* task: ``Task.from_data(X, Y, loss=...)``, the
cross-covariances ``sigma_i`` and the input covariance ``lambda_ij`` of every mode in the shared bases, in the scale
of the loss convention. The figures' networks start unaligned (small random weights); ``aligned_start`` gives the
aligned initial modes that such a network grows into, from which the theory's time course starts.
"""
from __future__ import annotations

import numpy as np

from .errors import LrnnInputError, bad, check_finite_array, check_int, check_real

TARGETS = ("mean", "sum", "late", "early")
CUTS = ("stimulus", "trial")
#: Neurogym MultiSensoryIntegration defaults (neurogym 2.2): ms per step, noise scale, coherences, timing in ms.
NEUROGYM_DEFAULTS = {"dt": 100.0, "sigma": 1.0, "cohs": (5.0, 15.0, 50.0),
                     "timing": {"fixation": 300.0, "stimulus": 750.0, "decision": 100.0}}
N_CHANNELS = 4  # two modalities x two ring channels (fixation removed)
STIMULUS_CHANNELS = {"modality 1": (0, 1), "modality 2": (2, 3)}


def _check_params(dt, sigma, cohs):
    dt = check_real("dt", dt, positive=True)
    sigma = check_real("sigma", sigma, nonnegative=True)
    cohs = np.atleast_1d(np.asarray(cohs, dtype=float))
    if cohs.ndim != 1 or cohs.size == 0 or not np.all(np.isfinite(cohs)) or np.any(cohs < 0):
        raise bad("cohs", cohs, "be a non-empty list of coherences >= 0")
    return dt, sigma, cohs


def _period_steps(timing: dict, dt: float):
    """(start, end) step indices of fixation, stimulus and decision, as Neurogym's ``add_period`` computes them."""
    out, start = {}, 0.0
    for name in ("fixation", "stimulus", "decision"):
        end = start + timing[name]
        out[name] = (int(start / dt), int(end / dt))
        start = end
    return out


def sensory_trials(P: int, T: int, *, seed: int = 0, cut: str = "stimulus", dt: float = 100.0, sigma: float = 1.0,
                   cohs=(5.0, 15.0, 50.0), timing: dict | None = None, return_conditions: bool = False):
    """Stimuli of P multisensory-integration trials, cut to T steps (fixation channel removed).

    Parameters
    ----------
    P, T : int
        Number of trials and steps per sequence.
    seed : int
        Seed (the trials are repeatable).
    cut : {"stimulus", "trial"}
        How a trial becomes T steps (module docstring): the first T stimulus steps (default) or the first T steps of
        the whole trial with Neurogym's timing.
    dt : float
        Milliseconds per step (Neurogym default 100).
    sigma : float
        Noise scale; the noise standard deviation per step is ``sigma / sqrt(dt)`` (Neurogym default 1).
    cohs : sequence of float
        Total coherences to draw from (Neurogym default 5, 15, 50).
    timing : dict, optional
        Period durations in ms for ``cut="trial"`` (keys fixation, stimulus, decision; Neurogym's defaults for the
        missing ones). With ``cut="stimulus"`` only its ``stimulus`` entry is used, as a minimum length.
    return_conditions : bool
        Also return a dict of the per-trial ``ground_truth``, ``coh`` and ``coh_prop``.

    Returns
    -------
    X : ndarray, shape (P, T, 4)
        Channels: modality 1 ring 0, 1; modality 2 ring 0, 1.

    Examples
    --------
    >>> X = sensory_trials(1000, 4, seed=0)
    >>> X.shape, round(float(X.mean()), 2)
    ((1000, 4, 4), 0.5)
    """
    P = check_int("P", P, minimum=1)
    T = check_int("T", T, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    if cut not in CUTS:
        raise bad("cut", cut, f"be one of {', '.join(CUTS)}")
    dt, sigma, cohs = _check_params(dt, sigma, cohs)
    full_timing = dict(NEUROGYM_DEFAULTS["timing"])
    if timing:
        unknown = set(timing) - set(full_timing)
        if unknown:
            raise bad("timing", timing, "have keys among fixation, stimulus, decision")
        full_timing.update({k: check_real(f"timing.{k}", v, nonnegative=True) for k, v in timing.items()})
    if P * T * N_CHANNELS > 10**9:
        raise LrnnInputError(f"parameters 'P' and 'T' ask for {P} x {T} x 4 values, more than 10^9")

    rng = np.random.default_rng(seed)
    ground_truth = rng.integers(0, 2, size=P)
    coh = rng.choice(cohs, size=P)
    coh_prop = rng.uniform(size=P)
    # ring channel k of modality m: 0.5 + cos(theta_k - theta_g) coh_m / 200 = 0.5 +- coh_m / 200
    sign = np.where(ground_truth[:, None] == np.arange(2)[None, :], 1.0, -1.0)  # (P, 2) cos(theta_k - theta_g)
    coh_m = np.stack([coh * coh_prop, coh * (1.0 - coh_prop)], axis=1)  # (P, 2)
    stimulus = 0.5 + (coh_m[:, :, None] * sign[:, None, :] / 200.0).reshape(P, N_CHANNELS)  # (P, 4)
    noise_std = sigma / np.sqrt(dt)

    if cut == "stimulus":
        on = np.ones(T, dtype=bool)
    else:
        periods = _period_steps(full_timing, dt)
        on = np.zeros(T, dtype=bool)
        start, end = periods["stimulus"]
        on[start:min(end, T)] = True
    X = np.zeros((P, T, N_CHANNELS))
    n_on = int(on.sum())
    X[:, on] = stimulus[:, None, :] + noise_std * rng.standard_normal((P, n_on, N_CHANNELS))
    if return_conditions:
        return X, {"ground_truth": ground_truth, "coh": coh, "coh_prop": coh_prop}
    return X


def target_weights(target: str, T: int) -> np.ndarray:
    """Per-step weights ``w_t`` (t = 1..T) of a target ``y = sum_t w_t x_t``.

    Examples
    --------
    >>> target_weights("mean", 4).tolist(), target_weights("early", 3).round(3).tolist()
    ([0.25, 0.25, 0.25, 0.25], [1.0, 0.5, 0.333])
    """
    if target not in TARGETS:
        raise bad("target", target, f"be one of {', '.join(TARGETS)}")
    T = check_int("T", T, minimum=1)
    t = np.arange(1, T + 1, dtype=float)
    return {"mean": np.full(T, 1.0 / T), "sum": np.ones(T), "late": 0.1 * t, "early": 1.0 / t}[target]


def sensory_targets(X, target: str) -> np.ndarray:
    """Targets ``y_p = sum_t w_t x_{p,t}`` (per dimension) for sequences X of shape (P, T, N_x)."""
    X = np.asarray(X, dtype=float)
    return np.einsum("t,ptx->px", target_weights(target, X.shape[1]), X)


def global_solution(target: str, T: int) -> dict:
    """The zero-loss solution of the mean and sum targets: recurrent singular values 1, input-output ``w``.

    The target ``y = w sum_t x_t`` is an exact linear filter; ``W_h = I``, ``W_y W_x = w I`` reproduces it for any
    inputs, so the minimum of the loss is at these singular values whatever the input statistics (for full-rank
    inputs every minimiser has ``W_y W_h^k W_x = w I`` for k = 0..T-1).

    Returns
    -------
    dict
        ``{"recurrent_sv": 1.0, "io_sv": w}``.
    """
    if target not in ("mean", "sum"):
        raise bad("target", target, "be 'mean' or 'sum' (the targets with a zero-loss constant profile)")
    return {"recurrent_sv": 1.0, "io_sv": float(target_weights(target, T)[-1])}


def stimulus_second_moment(T_test: int, dt: float = 100.0, sigma: float = 1.0, cohs=(5.0, 15.0, 50.0)) -> float:
    """``E ||sum_{t<=T'} x_t||^2`` over the 4 channels of ``cut="stimulus"`` sequences of length T'.

    Each channel is ``0.5 + d + noise`` with ``d = +- coh_m / 200`` fixed within a trial (``E d = 0`` by the
    symmetric ground truth, ``E d^2 = E coh^2 E q^2 / 200^2`` with ``E q^2 = E (1-q)^2 = 1/3``) and noise of
    variance ``sigma^2 / dt`` independent across steps: ``E (sum_t x_t)^2 = T'^2 (1/4 + E d^2) + T' sigma^2 / dt``.
    """
    T_test = check_int("T_test", T_test, minimum=1)
    dt, sigma, cohs = _check_params(dt, sigma, cohs)
    e_d2 = float(np.mean(cohs**2)) / 3.0 / 200.0**2
    return N_CHANNELS * (T_test**2 * (0.25 + e_d2) + T_test * sigma**2 / dt)


def expected_extrapolation_loss(target: str, T: int, T_test, **stimulus_params) -> np.ndarray:
    """Expected loss ``1/2 E ||y - y_hat||^2`` per sequence of the global-solution network trained at T, run at T'.

    The network applies the weight ``w = 1/T`` (mean) or ``1`` (sum) to every step; the target at T' has
    ``1/T'`` (mean) or ``1``: the loss is ``1/2 (1/T - 1/T')^2 E||sum_t x_t||^2`` for the mean and 0 for the sum.

    Parameters
    ----------
    target : {"mean", "sum"}
    T : int
        Training length.
    T_test : int or sequence of int
        Test lengths T'.
    **stimulus_params
        ``dt``, ``sigma``, ``cohs`` of the stimuli (``cut="stimulus"``).

    Examples
    --------
    >>> expected_extrapolation_loss("mean", 4, [4, 50]).round(1).tolist()
    [0.0, 68.2]
    """
    trained = global_solution(target, T)["io_sv"]
    T_test = np.atleast_1d(T_test)
    out = []
    for Tp in T_test:
        Tp = check_int("T_test", Tp, minimum=1)
        goal = float(target_weights(target, Tp)[-1])
        out.append(0.5 * (trained - goal) ** 2 * stimulus_second_moment(Tp, **stimulus_params))
    return np.array(out)


def aligned_start(W_x, W_h, W_y, U, V, s_last=None) -> dict:
    """Aligned initial modes (a, b, c) that a small unaligned network grows into, in the bases ``U``, ``V``.

    Near zero weights the output is dominated by the last step (``W_h`` small) and the gradient by the
    cross-covariance of the last step, ``Sigma^{YX_T} = U diag(s_T) V^T``. Mode alpha's input and output vectors in
    the hidden layer, ``alpha = W_x v_alpha`` and ``gamma = W_y^T u_alpha``, then obey ``d alpha / dt = s_T gamma``
    and ``d gamma / dt = s_T alpha``: the component ``g = alpha + sign(s_T) gamma`` grows as ``exp(|s_T| t)`` and
    ``alpha - sign(s_T) gamma`` decays. Once the decaying part is gone the mode is balanced and aligned along ``g``,
    with ``a = |g| / 2`` and ``c = sign(s_T) |g| / 2`` (``u = a c``). Modes claim their hidden directions in the order
    given (strongest first: they grow first), so mode alpha keeps only the part of ``g`` orthogonal to the hidden
    directions of the modes before it (Gram-Schmidt: the QR factorisation of ``[g_1 ... g_K]``, ``|g| -> |R_kk|``,
    direction ``q_k``), and its recurrent mode starts at ``b = q_k^T W_h q_k``. Modes beyond the hidden size get
    ``a = b = c = 0`` (the network has no direction left for them).

    For a balanced aligned network (``W_x = R diag(a) V^T``, ``W_h = R diag(b) R^T``, ``W_y = U diag(a) R^T``,
    ``a > 0``) this returns exactly its own (a, b, a).

    Parameters
    ----------
    W_x, W_h, W_y : array_like, shapes (N_h, N_x), (N_h, N_h), (N_y, N_h)
        The network's initial weights.
    U, V : array_like, shapes (N_y, K), (N_x, K)
        Shared output and input bases of the task (orthonormal columns, modes in the order of the task).
    s_last : array_like (K,), optional
        The cross-covariance of the last step per mode (its sign picks the growing component); default all
        positive.

    Returns
    -------
    dict
        ``a``, ``b``, ``c`` (K,) and ``hidden`` (N_h, K): the hidden direction ``q_k`` of every mode.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> R = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    >>> a, b = np.array([0.3, 0.2, 0.1]), np.array([0.5, -0.1, 0.9])
    >>> start = aligned_start(R * a, R @ np.diag(b) @ R.T, (R * a).T, np.eye(3), np.eye(3))
    >>> np.round(start["a"], 12).tolist(), np.round(start["b"], 12).tolist(), np.round(start["c"], 12).tolist()
    ([0.3, 0.2, 0.1], [0.5, -0.1, 0.9], [0.3, 0.2, 0.1])
    """
    W_x, W_h, W_y = (check_finite_array(n, w, ndim=2) for n, w in (("W_x", W_x), ("W_h", W_h), ("W_y", W_y)))
    U, V = check_finite_array("U", U, ndim=2), check_finite_array("V", V, ndim=2)
    N_h = W_h.shape[0]
    if W_h.shape != (N_h, N_h) or W_x.shape[0] != N_h or W_y.shape[1] != N_h:
        raise LrnnInputError(f"parameters 'W_x', 'W_h', 'W_y' must have shapes (N_h, N_x), (N_h, N_h), (N_y, N_h), "
                             f"got {W_x.shape}, {W_h.shape}, {W_y.shape}")
    K = U.shape[1]
    if V.shape != (W_x.shape[1], K) or U.shape[0] != W_y.shape[0]:
        raise LrnnInputError(f"parameters 'U', 'V' must have shapes (N_y, K), (N_x, K) with N_y = {W_y.shape[0]}, "
                             f"N_x = {W_x.shape[1]}, got {U.shape}, {V.shape}")
    sign = np.ones(K) if s_last is None else np.where(check_finite_array("s_last", s_last, ndim=1) < 0, -1.0, 1.0)
    if sign.shape != (K,):
        raise bad("s_last", s_last, f"have one value per mode ({K})")
    g = W_x @ V + sign * (W_y.T @ U)                      # (N_h, K): the growing component of every mode
    Q, R = np.linalg.qr(g)                                # reduced: Q (N_h, m), R (m, K), m = min(N_h, K)
    m = Q.shape[1]
    size = np.zeros(K)
    size[:m] = np.abs(np.diag(R)[:m]) / 2
    hidden = np.zeros((N_h, K))
    hidden[:, :m] = Q
    b = np.einsum("hk,hl,lk->k", hidden, W_h, hidden)
    return {"a": size, "b": b, "c": sign * size, "hidden": hidden}
