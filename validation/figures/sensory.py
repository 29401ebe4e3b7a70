"""Sensory integration reproductions (S1 section 3.6, App. L): Fig. 6 and Fig. A8.

Networks (N_x = N_h = N_y = 4, small random init ``N(0, 0.1^2 / fan_in)``, no biases) are trained by full-batch
gradient descent on raw, non-whitened Neurogym multisensory stimuli (``lrnn_theory.sensory.sensory_trials``,
``cut="stimulus"``) with the validation harness, loss ``mean_half`` = ``1/(P N_y) sum_p 1/2 ||y_p - y_hat_p||^2``.

Learning rate (the paper gives none): ``lr_fraction`` (0.7) times the stability bound ``2 / lambda_max`` of the loss
Hessian at the predicted solution on the training data, chosen per target and recorded. Above the bound gradient
descent cannot settle at the solution: the notes' sum-target run at lr 0.05 with loss ``(1/2P) sum ||r||^2``
(= lr 0.2 in ``mean_half``) is 1.7 times the bound of about 0.117, hence its period-2 oscillation.

The theory's time course (issue 21, ``ode_overlay``). The stimuli are far from white (93% of their power is the mean
shared by all steps), so two theories are laid over the network's singular values:

- ``correlated``: the task whose flow is exact for the data's own loss, ``Task.from_data(X, Y, loss="mean_half")``:
  the cross-covariances ``sigma_i`` and the input covariance ``lambda_ij`` of every mode in the fitted shared bases,
  as means over the samples (the scale of ``mean_half``);
- ``white``: the same ``sigma_i`` with ``lambda = I`` (the paper's theory applied to the raw data's
  cross-covariances).

One gradient step advances theory time by ``lr * tau / N_y`` (``time_per_step`` with the loss convention's factor
``data_time_factor("mean_half", N_y)``; tau = 1). Both theories start from ``aligned_start``: the aligned modes the
network's small random initial weights grow into. The figure compares the k-th largest singular value of
``W_y W_x`` with the k-th largest ``|u|`` of the theory's modes and the k-th largest singular value of ``W_h`` with
the k-th largest ``|b|`` at every record (singular values carry no mode label: rank matching), and records the same
for ``W_y W_h^j W_x`` against ``|u b^j|`` per lag j. The network starts unaligned, so during its alignment phase (the
first records, and the plateau of each slow mode, where the ``W_h`` directions no mode uses yet keep their random
singular values) it can differ from any aligned theory; the JSON says so under ``why_they_can_differ``. Singular
values and weights are recorded ``dense`` (10) times per record interval of the hidden gradient, so that the fastest
mode's rise (the first ~100 steps) is resolved. Two controls say where the error comes from: ``aligned_control``
trains the same network from the theory's aligned start (what remains without the alignment phase), and fig6's mean
panel repeats its run at half the learning rate (``lr_dependence``: gradient descent differs from the flow at first
order in lr).

Fig. 6 (targets mean and sum at T = 4): top, the singular values of ``W_y W_x`` (``io_sv``) over training, network
solid, correlated theory dashed, white theory dotted, the global solution (1/T or 1) as a thin line; middle, the same
for ``W_h`` (``recurrent_sv``, global solution 1); bottom, as in the paper, the loss at T' = 50, 75, 100 over
training (``loss_over_training``: the recorded network run for T' steps on fresh stimuli, solid, and the correlated
theory's modes as the same map, dashed). The JSON keeps the trained network's end point against the closed-form
extrapolation loss (``expected_extrapolation_loss`` over the stimulus distribution, and the same formula on the test
samples).

Fig. A8 (late importance ``0.1 sum t x_t`` against early importance ``sum x_t / t`` at T = 6): top and middle, as
Fig. 6 with the best LRNN fit of the correlated task (``solve_task``, per mode) as thin lines (the JSON also keeps
``predicted``: ``solve_task`` on the least-squares estimated task); bottom, the hidden-layer gradient ``dH_T/dt`` per training
step, as the paper counts ``t_theta``: the mean over samples of ``||h_T(k+1) - h_T(k)||``, at every ``steps // records``
steps the change the next step makes (``next_step_hidden_change``) and, in the last tenth of the run, at every step
(``replay_tail``). Early importance ends on an exact period-2 orbit (the loss alternates between two values), so
records of ``h_T`` every even number of steps would see one phase only; neither measurement samples ``h_T``.

``max_abs_error``: the correlated theory's time course against the network (largest |singular value - |u| or |b||
over the records, ranks and, for fig6, both targets; figA8: late importance only, early importance's b* > 1 is the
unstable case and is reported apart). The end points alone are ``max_abs_error_end_points`` (fig6: the global
solution; figA8: ``solve_task`` on the least-squares estimated task).

``paper_features`` (``fig6_features``, ``figA8_features``): the paper's statements about each figure, judged from the
run's numbers with our tolerances for its wording (``TOLERANCES``, recorded in the JSON as ``tolerances``).
"""
from __future__ import annotations

import numpy as np

from lrnn_theory.errors import DivergenceError
from lrnn_theory.flow import integrate
from lrnn_theory.losses import output_loss, time_per_step
from lrnn_theory.plotting import tight_layout
from lrnn_theory.sensory import (aligned_start, expected_extrapolation_loss, global_solution, sensory_targets,
                                 sensory_trials, target_weights)
from lrnn_theory.stability import solve_task
from lrnn_theory.task_estimation import data_time_factor, time_mapping
from lrnn_theory.tasks import Task
from lrnn_theory.validation import train_lrnn
from lrnn_theory.validation.harness import hessian_top_eigenvalue
from lrnn_theory.validation.network import LRNN

from . import figure, paper_feature, pyplot as _pyplot

SENSORY = {
    "hidden": 4,
    "init": "random",
    "init_scale": 0.1,
    "loss": "mean_half",
    "lr_fraction": 0.7,
    "cut": "stimulus",
    "seed": 0,
    "fig6": {"T": 4, "T_test": [50, 75, 100], "n_samples": 256, "n_test": 2000, "steps": 45000},
    "figA8": {"T": 6, "n_samples": 256, "steps": {"late": 60000, "early": 60000}},
    # quick: the late target's weakest (noise-only) direction needs ~40000 steps; early importance shows its
    # instability within the first 10000
    "quick": {"n_samples": 48, "n_test": 500, "steps": {"fig6": 32000, "figA8": {"late": 40000, "early": 10000}}},
    # records of the hidden gradient over a run; weights and singular values are recorded at least ``dense`` times
    # as often (the fastest mode rises within the first ~100 steps)
    "records": 300,
    "dense": 10,
    # the theories laid over the network (ode_overlay): estimated in the scale of ``loss``, shared bases fitted by
    # estimate_task with this seed, tau 1; fig6's mean panel repeats its run at lr * lr_check (steps / lr_check)
    "theory": {"tau": 1.0, "bases_seed": 0, "lr_check": 0.5, "start": "aligned_start", "matching": "rank"},
}
#: Our tolerances for the paper's wording (fig6, figA8 paper_features).
TOLERANCES = {
    # a singular value "-> x": within 1% of x
    "singular_value_rtol": 0.01,
    # "extrapolates": loss at T' below 0.1% of the loss of a zero output (the target's size at T')
    "extrapolates_relative_loss": 1e-3,
    # "all singular values converge to the same solution": (max - min) / mean of the final W_h singular values and of
    # the final W_y W_x singular values below 10%; "some stuck": the W_h spread above it
    "same_solution_relative_spread": 0.1,
    # over training (fig6's bottom row): "falls to near zero": the last loss below this fraction of the largest;
    # "settles": (max - min) / mean over the last tenth of the records below this
    "falls_to_relative": 1e-3,
    "settled_relative_change": 0.05,
    # "about x": within a factor of 1.5 of x (mean over the tail, every training step)
    "about_factor": 1.5,
    # "fluctuating" over the tail: dH_T/dt (the per-step change of h_T, all samples) reverses direction between
    # consecutive training steps at >= 25% of the steps
    "fluctuating": {"direction_changes": 0.25},
}


def stable_lr_bound(X, Y, weights, loss: str = "mean_half") -> float:
    """``2 / lambda_max`` of the Hessian of the training loss at ``weights = (W_x, W_h, W_y)``."""
    loss_of_outputs = output_loss(loss)
    top = hessian_top_eigenvalue(lambda ws: LRNN(*ws).loss_and_grad_samples(X, Y, loss_of_outputs)[1], list(weights),
                                 (0, 1, 2))
    return 2.0 / top


def _predicted_weights(target: str, T: int, estimate_task):
    """Balanced aligned weights at the predicted solution: W_x = W_y = sqrt(u) I, W_h = b I."""
    if target in ("mean", "sum"):
        sol = global_solution(target, T)
        b, u = sol["recurrent_sv"], sol["io_sv"]
    else:
        sol = solve_task(estimate_task)
        b, u = float(np.mean(sol.b)), float(np.mean(sol.u))
    I = np.eye(4)
    return (np.sqrt(abs(u)) * I, b * I, np.sign(u) * np.sqrt(abs(u)) * I), b, u


def next_step_hidden_change(net, X, Y, lr: float, loss: str = SENSORY["loss"]) -> float:
    """Mean over the samples of ``||h_T(k+1) - h_T(k)||``: the change of the last hidden state that the next training
    step makes (one gradient-descent step ``W <- W - lr grad`` from the network at step k, the step the run takes
    next). ``t_theta`` counted in training steps, as the paper counts it: dH_T/dt per step. It is the change itself,
    not a sample of H_T, so a record stride (even or odd) cannot alias a period-2 orbit.

    Examples
    --------
    >>> import numpy as np
    >>> from lrnn_theory.validation.network import LRNN
    >>> X, Y = np.ones((1, 1, 1)), np.zeros((1, 1))  # h_T = W_x x; loss 1/2 (W_y W_x)^2 (one output, one sample)
    >>> round(next_step_hidden_change(LRNN([[2.0]], [[0.0]], [[1.0]]), X, Y, lr=0.1), 12)  # lr * W_y^2 W_x
    0.2
    """
    _, grads = net.loss_and_grad_samples(X, Y, output_loss(loss))
    ahead = LRNN(*(W - lr * g for W, g in zip(net.weights, grads))).hidden_states(X)[-1]
    return float(np.mean(np.linalg.norm(ahead - net.hidden_states(X)[-1], axis=1)))


def hidden_change_tail(H) -> dict:
    """Per-step summary of last hidden states ``H`` (n + 1, P, N_h) recorded at every step of a stretch of training:
    ``gradient_tail`` of the per-step changes ``mean_p ||h_T(k+1) - h_T(k)||`` over the whole stretch, with
    ``direction_change_fraction`` the fraction of consecutive steps whose change vectors (all samples) point against
    each other (cosine < 0: dH_T/dt reverses), and ``two_step_over_one_step``: mean ``||H(k+2) - H(k)||`` over mean
    ``||H(k+1) - H(k)||`` (near 0 on a period-2 orbit, where records every even number of steps see one phase only).

    Examples
    --------
    >>> import numpy as np
    >>> H = np.array([[[0.0]], [[0.3]]] * 5)  # a period-2 orbit: h_T alternates between 0 and 0.3
    >>> tail = hidden_change_tail(H)
    >>> round(tail["mean"], 12), tail["direction_change_fraction"], tail["two_step_over_one_step"]
    (0.3, 1.0, 0.0)
    """
    H = np.asarray(H, dtype=float)
    delta = np.diff(H, axis=0)
    per_step = np.mean(np.linalg.norm(delta, axis=2), axis=1)
    out = gradient_tail(per_step, fraction=1.0)
    flat = delta.reshape(len(delta), -1)
    size = np.linalg.norm(flat, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.sum(flat[1:] * flat[:-1], axis=1) / (size[1:] * size[:-1])
    two_step = np.mean(np.linalg.norm(H[2:] - H[:-2], axis=2))
    out.update(direction_change_fraction=float(np.mean(cos < 0)) if cos.size else 0.0,
               two_step_over_one_step=float(two_step / np.mean(per_step)) if np.mean(per_step) > 0 else 0.0,
               steps=int(len(per_step)))
    return out


def replay_tail(weights, X, Y, lr: float, steps: int) -> dict:
    """Train ``steps`` more steps from ``weights`` (the harness, ``record_every=1``) recording ``h_T`` at every step:
    ``H`` (steps + 1, P, N_h), the losses and the final network."""
    result = train_lrnn(None, X=X, Y=Y, hidden=SENSORY["hidden"], lr=lr, steps=steps, init=LRNN(*weights),
                        loss=SENSORY["loss"], seed=SENSORY["seed"], record_every=1,
                        on_record=lambda step, net: net.hidden_states(X)[-1].copy())
    return {"H": np.array(result.records), "losses": np.asarray(result.losses), "network": result.network}


def record_spacing(steps: int, records: int, dense: int, keep_coarse: bool) -> tuple:
    """``(coarse, every)``: the record interval of a run of ``steps`` with ``records`` records (``steps // records``,
    at least 1) and the step interval of its dense records, ``coarse // dense`` or, when ``keep_coarse``, the
    largest divisor of ``coarse`` that still gives ``dense`` records per interval, so that the dense records hold
    every coarse one (the hidden gradient is measured at the coarse steps).

    Examples
    --------
    >>> record_spacing(32000, 300, 10, False), record_spacing(40000, 300, 10, True)
    ((106, 10), (133, 7))
    """
    coarse = max(1, steps // records)
    if not keep_coarse:
        return coarse, max(1, coarse // dense)
    return coarse, max(d for d in range(1, coarse + 1) if coarse % d == 0 and (coarse // d >= dense or d == 1))


def run_sensory(target: str, T: int, *, n_samples: int, steps: int, lr: float | None = None, seed: int = 0,
                records: int = SENSORY["records"], dense: int = SENSORY["dense"],
                hidden_gradient: bool = False) -> dict:
    """Train one network on a sensory target and collect what the figures show.

    Returns a dict with ``steps`` (the dense records), ``weights`` (W_x, W_h, W_y per record), ``recurrent_sv`` and
    ``io_sv`` over training (n_records, 4), ``network``, ``lr``, ``lr_bound``, the estimated tasks (``estimate``:
    least squares, ``estimate_sum``: the harness's sum normalisation), the data and the predicted ``b``, ``u``.
    With ``hidden_gradient``: ``hidden_gradient`` (``next_step_hidden_change``) at ``hidden_gradient_steps`` (every
    ``steps // records`` steps and the last), and ``tail``: the last tenth of the run replayed from its recorded
    weights with ``h_T`` at every step (``replay_tail``; ``H``, ``losses``, ``first_step`` and
    ``replay_max_weight_difference``, the replay's final weights against the run's).
    """
    X = sensory_trials(n_samples, T, seed=seed, cut=SENSORY["cut"])
    Y = sensory_targets(X, target)
    estimate = Task.from_data(X, Y, normalisation="least_squares", name=f"sensory {target}").estimate
    estimate_sum = Task.from_data(X, Y, name=f"sensory {target}").estimate
    weights, b_pred, u_pred = _predicted_weights(target, T, estimate.task)
    bound = stable_lr_bound(X, Y, weights, SENSORY["loss"])
    lr = SENSORY["lr_fraction"] * bound if lr is None else lr
    coarse, every = record_spacing(steps, records, dense, keep_coarse=hidden_gradient)
    tail_start = (steps - steps // 10) // every * every  # a dense record: its weights start the replayed tail

    def on_record(step, net):
        due = hidden_gradient and (step % coarse == 0 or step == steps)
        return ([W.copy() for W in net.weights],
                next_step_hidden_change(net, X, Y, lr, SENSORY["loss"]) if due else None)

    result = train_lrnn(None, X=X, Y=Y, hidden=SENSORY["hidden"], lr=lr, steps=steps, init=SENSORY["init"],
                        init_scale=SENSORY["init_scale"], loss=SENSORY["loss"], seed=seed, record_every=every,
                        on_record=on_record)
    W = [np.array([r[0][k] for r in result.records]) for k in range(3)]
    gradient = [(step, r[1]) for step, r in zip(result.steps, result.records) if r[1] is not None]
    io_map = W[2] @ W[0]
    out = {"target": target, "T": T, "X": X, "Y": Y, "steps": result.steps, "network": result.network,
           "weights": W, "recurrent_sv": result.singular_values["W_h"],
           "io_sv": np.linalg.svd(io_map, compute_uv=False), "io_map": io_map,
           "hidden_gradient": np.array([g for _, g in gradient]),
           "hidden_gradient_steps": np.array([step for step, _ in gradient], dtype=int),
           "losses": result.losses, "lr": lr, "lr_bound": bound, "record_every": every,
           "estimate": estimate, "estimate_sum": estimate_sum, "b_pred": b_pred, "u_pred": u_pred}
    if hidden_gradient:
        k = int(np.flatnonzero(np.asarray(result.steps) == tail_start)[0])
        tail = replay_tail([w[k] for w in W], X, Y, lr, steps - tail_start)
        tail["first_step"] = tail_start
        tail["replay_max_weight_difference"] = float(max(
            np.max(np.abs(a - b)) for a, b in zip(tail["network"].weights, result.network.weights)))
        out["tail"] = tail
    return out


def extrapolation(run: dict, T_test, n_test: int, seed: int) -> dict:
    """Loss ``1/(2 P') sum_p ||y_p - y_hat_p||^2`` of the trained network at each T', the theory's, and that of a
    zero output (``zero_output``: the target's size)."""
    out = {"network": {}, "theory_expected": {}, "theory_on_samples": {}, "zero_output": {}}
    T, target = run["T"], run["target"]
    trained_w = global_solution(target, T)["io_sv"]
    for k, Tp in enumerate(T_test):
        X = sensory_trials(n_test, Tp, seed=seed + 1 + k, cut=SENSORY["cut"])
        Y = sensory_targets(X, target)
        residual = run["network"].forward(X) - Y
        out["network"][str(Tp)] = 0.5 * float(np.mean(np.sum(residual**2, axis=1)))
        out["zero_output"][str(Tp)] = 0.5 * float(np.mean(np.sum(Y**2, axis=1)))  # the target's size at T'
        gap = (trained_w - target_weights(target, Tp)[-1]) * X.sum(axis=1)
        out["theory_on_samples"][str(Tp)] = 0.5 * float(np.mean(np.sum(gap**2, axis=1)))
        out["theory_expected"][str(Tp)] = float(expected_extrapolation_loss(target, T, Tp)[0])
    return out


def loss_over_training(run: dict, curves: dict, estimate, T_test, n_test: int, seed: int, stride: int) -> dict:
    """The loss ``1/(2 P') sum_p ||y_p - y_hat_p||^2`` at each T' over training (the paper's bottom row), on the
    fresh stimuli of ``extrapolation`` (seed + 1 + k), at every ``stride``-th record and the last: the network's
    (its recorded weights run for T' steps, vectorized over the records) and the theory's (the correlated theory's
    modes at the same records as the map ``sum_t U diag(u b^(T'-t)) V^T x_t``).

    Returns ``{"steps", "network": {T': losses}, "theory": {T': losses}}``.
    """
    n = len(run["steps"])
    keep = np.unique(np.append(np.arange(0, n, stride), n - 1))
    keep_theory = keep[keep < len(curves["u"])]
    W_x, W_h, W_y = (w[keep] for w in run["weights"])
    u, b = curves["u"][keep_theory], curves["b"][keep_theory]
    out = {"steps": np.asarray(run["steps"])[keep], "network": {}, "theory": {}}
    for k, Tp in enumerate(T_test):
        X = sensory_trials(n_test, Tp, seed=seed + 1 + k, cut=SENSORY["cut"])
        Y = sensory_targets(X, run["target"])
        h = np.zeros((len(keep), n_test, W_h.shape[1]))
        W_hT, W_xT = np.swapaxes(W_h, 1, 2), np.swapaxes(W_x, 1, 2)
        for t in range(Tp):  # T' steps, each a batched product over records and samples
            h = h @ W_hT + X[None, :, t] @ W_xT
        y = h @ np.swapaxes(W_y, 1, 2)
        out["network"][str(Tp)] = 0.5 * np.mean(np.sum((y - Y) ** 2, axis=2), axis=1)
        z = X @ estimate.V  # (P, T', K): inputs in the task's input directions
        with np.errstate(over="ignore", invalid="ignore"):
            gains = u[:, :, None] * b[:, :, None] ** (Tp - 1 - np.arange(Tp))[None, None, :]  # step t+1 -> b^(T'-t-1)
        y_theory = np.einsum("rkt,ptk->rpk", gains, z) @ estimate.U.T
        out["theory"][str(Tp)] = 0.5 * np.mean(np.sum((y_theory - Y) ** 2, axis=2), axis=1)
    return out


def theory_tasks(run: dict) -> dict:
    """The correlated task of the run's data (``Task.from_data`` in the scale of the loss convention) and the white
    task of the same cross-covariances and bases (``lambda = I``)."""
    theory = SENSORY["theory"]
    correlated = Task.from_data(run["X"], run["Y"], loss=SENSORY["loss"], tau=theory["tau"],
                                seed=theory["bases_seed"], name=f"sensory {run['target']} (correlated)")
    white = Task(correlated.singular_values, tau=correlated.tau, name=f"sensory {run['target']} (white)")
    return {"correlated": correlated, "white": white}


def theory_time(run: dict, tau: float = 1.0) -> np.ndarray:
    """Theory time of the run's records: ``steps * time_per_step(lr, tau, data_time_factor(loss, N_y))``."""
    factor = data_time_factor(SENSORY["loss"], run["Y"].shape[1])
    return run["steps"] * time_per_step(run["lr"], tau, factor)


def network_filter_sv(weights, T: int) -> np.ndarray:
    """Singular values of ``W_y W_h^j W_x`` for j = 0..T-1 at every record: (n_records, T, min(N_y, N_x))."""
    W_x, W_h, W_y = weights
    maps, out = W_x, []
    for _ in range(T):  # T matrix products, each vectorized over the records
        out.append(np.linalg.svd(W_y @ maps, compute_uv=False))
        maps = W_h @ maps
    return np.stack(out, axis=1)


def theory_curves(task, start: dict, t) -> dict:
    """``integrate`` of ``task`` from the aligned start at the record times ``t``; the |u|, |b| and |u b^j| of the
    modes sorted in decreasing order at every time (to set against singular values). A flow that diverges is
    integrated up to the divergence and reported (``diverged``: its time and mode)."""
    task = task.with_init(a=start["a"], b=start["b"], c=start["c"])
    t = np.asarray(t, dtype=float)
    diverged = None
    try:
        traj = integrate(task, float(t[-1]), t_eval=t)
    except DivergenceError as err:
        diverged = {"time": err.time, "mode": err.mode, "message": str(err)}
        keep = t < (err.time if err.time is not None else 0.0)
        traj = integrate(task, float(t[keep][-1]), t_eval=t[keep]) if keep.sum() >= 2 else None
    if traj is None:  # diverged before the second record: only the start
        u, b = task.init.a[None] * task.init.c[None], task.init.b[None]
    else:
        u, b = np.real(traj.u), np.real(traj.b)
    lags = np.arange(task.T)
    filt = np.abs(u[:, None, :] * b[:, None, :] ** lags[None, :, None])
    return {"t": t[:len(u)], "u": u, "b": b, "abs_u": -np.sort(-np.abs(u), axis=1),
            "abs_b": -np.sort(-np.abs(b), axis=1), "abs_filter": -np.sort(-filt, axis=2), "diverged": diverged}


def _errors(curves: dict, net_io, net_rec, net_filter) -> dict:
    """Largest and mean |network - theory| per rank over the records the theory reaches."""
    n = curves["abs_u"].shape[0]
    K = min(curves["abs_u"].shape[1], net_io.shape[1])
    du = np.abs(net_io[:n, :K] - curves["abs_u"][:, :K])
    db = np.abs(net_rec[:n, :K] - curves["abs_b"][:, :K])
    df = np.abs(net_filter[:n, :, :K] - curves["abs_filter"][:, :, :K])
    return {"max_abs_error": {"u": du.max(axis=0), "b": db.max(axis=0)},
            "mean_abs_error": {"u": du.mean(axis=0), "b": db.mean(axis=0)},
            "max_abs_error_filter_per_lag": df.max(axis=(0, 2)),
            "max_abs_error_all": float(max(du.max(), db.max())),
            "records_compared": int(n)}


def off_diagonal_per_mode(X, estimate) -> dict:
    """How strongly the data couple each mode to the others in the shared bases, relative to the mode's own size:
    ``cross``: ``max_{i, l != k} |(U^T Sigma^{YX_i} V)_{kl}|, |(..)_{lk}|`` over ``max_i |sigma_{k,i}|``;
    ``input``: ``max_{ij, l != k} |(V^T Sigma^{X_i X_j} V)_{kl}|`` over ``max_ij |lambda_{k,ij}|`` (the scale of
    the estimate). A small overall off-diagonal energy can still be large for a weak mode."""
    U, V, C = estimate.U, estimate.V, estimate.correlations
    P, T, N_x = X.shape
    K = V.shape[1]
    off = ~np.eye(K, dtype=bool)
    cross = np.einsum("yk,iyx,xl->ikl", U, C, V)
    own = np.max(np.abs(np.einsum("ikk->ik", cross)), axis=0)
    leak = np.max(np.abs(np.where(off, cross, 0.0)), axis=0)
    cross_rel = np.maximum(leak.max(axis=1), leak.max(axis=0)) / np.where(own > 0, own, np.inf)
    M = np.einsum("pix,pjy->ixjy", X, X) * estimate.diagnostic["statistics_scale"]
    inputs = np.einsum("xk,ixjy,yl->ijkl", V, M, V)
    lam = np.max(np.abs(np.einsum("ijkk->ijk", inputs)), axis=(0, 1))
    input_rel = np.max(np.abs(np.where(off, inputs, 0.0)), axis=(0, 1, 3)) / np.where(lam > 0, lam, np.inf)
    return {"cross": cross_rel, "input": input_rel}


def aligned_control(run: dict, start: dict, tasks: dict, curves: dict) -> dict:
    """The same data, lr and steps from the aligned network at the theory's start (``W_x = Q diag(a) V^T``,
    ``W_h = Q diag(b) Q^T``, ``W_y = U diag(c) Q^T``, Q the start's hidden directions): its error against the
    correlated theory is what remains without the alignment phase."""
    est = tasks["correlated"].estimate
    Q = start["hidden"]
    net = LRNN((Q * start["a"]) @ est.V.T, Q @ np.diag(start["b"]) @ Q.T, est.U @ np.diag(start["c"]) @ Q.T)
    result = train_lrnn(None, X=run["X"], Y=run["Y"], hidden=SENSORY["hidden"], lr=run["lr"],
                        steps=int(run["steps"][-1]), init=net, loss=SENSORY["loss"], seed=SENSORY["seed"],
                        record_every=run["record_every"], on_record=lambda step, n: [W.copy() for W in n.weights])
    W = [np.array([r[k] for r in result.records]) for k in range(3)]
    errors = _errors(curves, np.linalg.svd(W[2] @ W[0], compute_uv=False), result.singular_values["W_h"],
                     network_filter_sv(W, run["T"]))
    return {"what": "network started aligned at the theory's start (initial_modes), same data, lr, steps; against "
                    "the correlated theory", "max_abs_error": errors["max_abs_error"],
            "max_abs_error_all": errors["max_abs_error_all"]}


COMPARED = ("at every record, the k-th largest singular value of W_y W_x (io_sv) against the k-th largest |u| of the "
            "theory's modes and the k-th largest singular value of W_h (recurrent_sv) against the k-th largest |b| "
            "(rank matching: singular values carry no mode label), per rank k = 1..4 ('u', 'b'); "
            "max_abs_error_filter_per_lag: singular values of W_y W_h^j W_x against |u b^j|, per lag j = 0..T-1")
WHY_THEY_CAN_DIFFER = (
    "the network starts unaligned (small random weights, init_scale 0.1) and the theory aligned: during the alignment "
    "phase (the first records) and on the plateau of each slow mode the network's weights are not of the aligned form "
    "U diag(u b^j) V^T (the W_h directions no mode uses yet keep their random singular values, and a mode's growth "
    "starts from the part of the random weights along it, which aligned_start only estimates), so a steep rise that "
    "starts a little earlier or later shows as a large error over a few records; the cross-covariances and input "
    "covariances are not exactly diagonal in the shared bases (diagnostic: off_diagonal_fraction, "
    "input_off_diagonal_fraction; relative to a weak mode's own size the leakage from the strong mean mode is "
    "large, diagnostic.off_diagonal_relative_per_mode, but for these targets, exact linear filters of the inputs, "
    "the off-diagonal gradient is each mode's residual w_t - u b^(T-t) times the input coupling, so it shrinks as "
    "the strong mode is learned); gradient descent differs from the flow at first order in lr (lr_dependence, fig6 "
    "mean). correlated.aligned_control trains the same network from the theory's aligned start: its error is what "
    "remains without the alignment phase. The white theory in addition ignores the input covariance across steps "
    "(lambda = I): it fits the cross-covariances sigma_i themselves, not the best filter Lambda^-1 sigma")


def ode_overlay(run: dict, tasks: dict | None = None, control: bool = False) -> dict:
    """The correlated and white theories' time courses against the network's singular values (module docstring);
    with ``control``, also the aligned control run (``aligned_control``).

    Returns
    -------
    dict
        ``entry``: the JSON ``ode_overlay`` (what is compared, the time mapping, the start, and per theory the task,
        errors, final values and divergence); ``curves``: per theory the arrays of ``theory_curves``;
        ``network``: ``io_sv``, ``recurrent_sv``, ``filter_sv`` per record; ``t``: the theory time of the records.
    """
    tasks = theory_tasks(run) if tasks is None else tasks
    correlated = tasks["correlated"]
    est = correlated.estimate
    t = theory_time(run, correlated.tau)
    W_x, W_h, W_y = (w[0] for w in run["weights"])
    start = aligned_start(W_x, W_h, W_y, est.U, est.V, s_last=correlated.singular_values[:, -1])
    net_filter = network_filter_sv(run["weights"], run["T"])
    curves, entry = {}, {
        "compared": COMPARED, "why_they_can_differ": WHY_THEY_CAN_DIFFER,
        "time_mapping": time_mapping(SENSORY["loss"], run["Y"].shape[1], tau=correlated.tau),
        "theory_time_per_step": float(time_per_step(run["lr"], correlated.tau,
                                                    data_time_factor(SENSORY["loss"], run["Y"].shape[1]))),
        "initial_modes": {"a": start["a"], "b": start["b"], "c": start["c"],
                          "rule": "aligned_start on the network's initial weights in the correlated task's bases "
                                  "(the growing component W_x v + sign(s_T) W_y^T u of every mode, Gram-Schmidt in "
                                  "the order of the modes; a = c = |.|/2, b = q^T W_h q)"},
        "records": int(len(t)), "record_every": int(run["record_every"]),
        "diagnostic": {**{k: est.diagnostic[k] for k in ("off_diagonal_fraction", "input_off_diagonal_fraction",
                                                         "task_inputs", "loss", "statistics_scale")},
                       "off_diagonal_relative_per_mode": off_diagonal_per_mode(run["X"], est)},
    }
    for name, task in (("correlated", correlated), ("white", tasks["white"])):
        c = theory_curves(task, start, t)
        curves[name] = c
        entry[name] = {
            "task": {"singular_values": task.singular_values,
                     "input_covariance": None if task.input_covariance is None else task.input_covariance.matrix,
                     "source": ("Task.from_data(X, Y, loss='mean_half'): sigma_i and lambda_ij per mode in the "
                                "fitted bases, means over the samples") if name == "correlated" else
                               "the same sigma_i with lambda = I (input_covariance None)"},
            **_errors(c, run["io_sv"], run["recurrent_sv"], net_filter),
            "final": {"u": c["u"][-1], "b": c["b"][-1]}, "diverged": c["diverged"],
        }
    if control:
        entry["correlated"]["aligned_control"] = aligned_control(run, start, tasks, curves["correlated"])
    return {"entry": entry, "curves": curves, "t": t,
            "network": {"io_sv": run["io_sv"], "recurrent_sv": run["recurrent_sv"], "filter_sv": net_filter}}


def _diagnostic_summary(estimate) -> dict:
    d = estimate.diagnostic
    keys = ("normalisation", "off_diagonal_fraction", "whitening_error", "mean_power", "cross_time_fraction",
            "cross_dimension_fraction", "mean_fraction", "condition_number")
    return {k: d[k] for k in keys}


def _parameters(name: str, quick: bool) -> dict:
    params = dict(SENSORY[name])
    if quick:
        params["n_samples"] = SENSORY["quick"]["n_samples"]
        params["steps"] = SENSORY["quick"]["steps"][name]
        if "n_test" in params:
            params["n_test"] = SENSORY["quick"]["n_test"]
    return params


def gradient_tail(values, fraction: float = 0.1) -> dict:
    """Summary of the last ``fraction`` (at least 3 values) of a recorded series (``dH_T/dt``): mean, min, max, the
    fraction of records at which its direction changes, and its mean step between records relative to its mean.

    Examples
    --------
    >>> tail = gradient_tail([0.2, 0.4] * 20)  # the last tenth: 0.2, 0.4, 0.2, 0.4
    >>> tail["direction_change_fraction"], round(tail["mean_relative_step"], 3), tail["max"]
    (1.0, 0.667, 0.4)
    """
    values = np.asarray(values, dtype=float)
    tail = values[-max(3, int(len(values) * fraction)):]
    step = np.diff(tail)
    turns = np.sign(step[1:]) * np.sign(step[:-1]) < 0
    mean = float(np.mean(tail))
    return {"mean": mean, "min": float(np.min(tail)), "max": float(np.max(tail)), "records": int(tail.size),
            "direction_change_fraction": float(np.mean(turns)) if turns.size else 0.0,
            "mean_relative_step": float(np.mean(np.abs(step)) / mean) if mean > 0 else 0.0}


def _within(values, target, rtol) -> bool:
    return bool(np.max(np.abs(np.asarray(values) - target)) <= rtol * abs(target))


def _relative_spread(values) -> float:
    values = np.asarray(values, dtype=float)
    return float((values.max() - values.min()) / np.mean(values))


def fig6_features(data: dict, T: int, tolerances: dict = TOLERANCES) -> list:
    """Fig. 6's statements (S1 section 3.6) from the figure's numbers: ``data["mean"]`` and ``data["sum"]`` hold the
    final ``recurrent_sv`` and ``io_sv`` and, per T', ``extrapolation_loss`` and ``extrapolation_loss_zero_output``."""
    rtol, limit = tolerances["singular_value_rtol"], tolerances["extrapolates_relative_loss"]
    rec = {target: np.asarray(data[target]["recurrent_sv"]).tolist() for target in ("mean", "sum")}

    def extrapolation_numbers(target):
        loss, zero = data[target]["extrapolation_loss"], data[target]["extrapolation_loss_zero_output"]
        T_test = sorted(loss, key=lambda t: abs(int(t) - T))  # by |T' - T|
        return T_test, {t: {"loss": loss[t], "relative_to_zero_output": loss[t] / zero[t]} for t in T_test}

    sum_T, sum_ext = extrapolation_numbers("sum")
    mean_T, mean_ext = extrapolation_numbers("mean")
    mean_loss = np.array([mean_ext[t]["loss"] for t in mean_T])
    return [
        paper_feature("recurrent singular values -> 1 (mean and sum targets)", 1.0, rec,
                      all(_within(v, 1.0, rtol) for v in rec.values()), tolerance={"relative": rtol},
                      by_construction=False),
        paper_feature("input-output singular values -> 1/T (mean target)", 1.0 / T, data["mean"]["io_sv"],
                      _within(data["mean"]["io_sv"], 1.0 / T, rtol), tolerance={"relative": rtol},
                      by_construction=False),
        paper_feature("input-output singular values -> 1 (sum target)", 1.0, data["sum"]["io_sv"],
                      _within(data["sum"]["io_sv"], 1.0, rtol), tolerance={"relative": rtol},
                      by_construction=False),
        paper_feature(f"sum extrapolates to T' = {', '.join(sum_T)}", "zero extrapolation loss", sum_ext,
                      all(v["relative_to_zero_output"] < limit for v in sum_ext.values()),
                      tolerance={"relative_to_zero_output": limit},
                      measured="loss of the trained network on fresh stimuli of length T', and relative to the "
                               "loss of a zero output", by_construction=False),
        paper_feature("mean does not extrapolate: its loss grows with |T' - T|", "grows with |T' - T|", mean_ext,
                      bool(np.all(np.diff(mean_loss) > 0))
                      and all(v["relative_to_zero_output"] >= limit for v in mean_ext.values()),
                      tolerance={"relative_to_zero_output": limit}, definition="strictly increasing in |T' - T| "
                      "and, at every T', at least the tolerance (not extrapolating)", by_construction=False),
    ] + _over_training_features(data, T, tolerances)


def _over_training_features(data: dict, T: int, tolerances: dict) -> list:
    """The bottom row's statements over training (when ``data[target]["loss_over_training"]`` is there): the sum
    target's loss at every T' falls to near zero; the mean target's settles at a non-zero level ordered by |T' - T|."""
    if not all("loss_over_training" in data[t] for t in ("mean", "sum")):
        return []
    falls, settled = tolerances["falls_to_relative"], tolerances["settled_relative_change"]
    curves = {t: {Tp: np.asarray(v) for Tp, v in data[t]["loss_over_training"]["network"].items()}
              for t in ("mean", "sum")}
    order = sorted(curves["mean"], key=lambda t: abs(int(t) - T))
    sum_ratio = {Tp: float(v[-1] / np.max(v)) for Tp, v in curves["sum"].items()}
    tail = {Tp: v[-max(2, len(v) // 10):] for Tp, v in curves["mean"].items()}
    change = {Tp: float((v.max() - v.min()) / np.mean(v)) for Tp, v in tail.items()}
    ordered = bool(np.all(np.diff(np.array([tail[Tp] for Tp in order]), axis=0) > 0))
    return [
        paper_feature("bottom row, over training: the sum target's loss at every T' falls to near zero "
                      "(sum extrapolates perfectly)", "falls to zero", {"end_over_largest": sum_ratio},
                      all(r < falls for r in sum_ratio.values()), tolerance={"end_over_largest": falls},
                      measured="loss at T' of the network at each record shown (loss_over_training): the last "
                               "over the largest", by_construction=False),
        paper_feature("bottom row, over training: the mean target's loss at every T' settles at a non-zero level "
                      "that grows with |T' - T| (mean accumulates error)", "settles, ordered by |T' - T|",
                      {"last_tenth_relative_change": change, "ordered_at_every_record_of_the_last_tenth": ordered,
                       "end": {Tp: float(v[-1]) for Tp, v in curves["mean"].items()}},
                      ordered and all(c < settled for c in change.values()),
                      tolerance={"last_tenth_relative_change": settled},
                      measured="loss at T' of the network over the last tenth of the records shown",
                      by_construction=False),
    ]


def figA8_features(data: dict, tolerances: dict = TOLERANCES) -> list:
    """Fig. A8's statements (S1 App. L) from the figure's numbers: ``data["late"]`` and ``data["early"]`` hold the
    final ``recurrent_sv`` and ``io_sv`` and ``hidden_gradient_last_tenth`` (``hidden_change_tail`` of the last tenth
    of the run, every step, or ``gradient_tail`` of a series)."""
    spread_limit, factor = tolerances["same_solution_relative_spread"], tolerances["about_factor"]
    fluct = tolerances["fluctuating"]
    spreads = {target: {q: _relative_spread(data[target][q]) for q in ("recurrent_sv", "io_sv")}
               for target in ("late", "early")}

    def singular_values(target):
        return {"recurrent_sv": np.asarray(data[target]["recurrent_sv"]).tolist(),
                "io_sv": np.asarray(data[target]["io_sv"]).tolist(), "relative_spread": spreads[target]}

    late, early = data["late"]["hidden_gradient_last_tenth"], data["early"]["hidden_gradient_last_tenth"]
    measured = ("per training step, as the paper counts t_theta: mean over the samples of ||h_T(k+1) - h_T(k)||, at "
                "every step of the last tenth of the run (hidden_gradient_measured)")
    return [
        paper_feature("late importance: all singular values converge to the same solution",
                      "all 4 singular values of W_h, and of W_y W_x, converge together", singular_values("late"),
                      all(v < spread_limit for v in spreads["late"].values()),
                      tolerance={"relative_spread": spread_limit}, by_construction=False),
        paper_feature("late importance: the hidden-layer gradient dH_T/dt stays below 1e-3", 1e-3,
                      {"last_tenth_max": late["max"], "last_tenth_mean": late["mean"]}, late["max"] < 1e-3,
                      measured=measured, by_construction=False),
        paper_feature("early importance: some singular values are stuck (only some converge)",
                      "the W_h singular values do not converge together", singular_values("early"),
                      spreads["early"]["recurrent_sv"] >= spread_limit,
                      tolerance={"relative_spread": spread_limit}, by_construction=False),
        paper_feature("early importance: the hidden-layer gradient dH_T/dt is about 0.3", 0.3,
                      {"last_tenth_mean": early["mean"], "last_tenth_min": early["min"],
                       "last_tenth_max": early["max"]},
                      0.3 / factor <= early["mean"] <= 0.3 * factor, tolerance={"factor": factor},
                      measured=measured, by_construction=False),
        paper_feature("early importance: the hidden-layer gradient dH_T/dt fluctuates", "fluctuating",
                      {"direction_change_fraction": early["direction_change_fraction"],
                       "late_importance_for_contrast": late["direction_change_fraction"]},
                      early["direction_change_fraction"] >= fluct["direction_changes"], tolerance=fluct,
                      measured="fraction of consecutive training steps in the last tenth whose changes of h_T point "
                               "against each other (cosine < 0)", by_construction=False),
    ]


def _start(name: str, quick: bool, rows: int, paper: dict):
    """Parameters, an empty figure (rows x 2 panels) and the JSON skeleton of a reproduction."""
    params = _parameters(name, quick)
    common = {k: SENSORY[k] for k in ("hidden", "init", "init_scale", "loss", "lr_fraction", "cut", "seed", "records",
                                      "dense", "theory")}
    fig, axes = _pyplot().subplots(rows, 2, figsize=(11, 3.5 * rows))
    data = {"parameters": {**common, **params},
            "paper": {**paper, "hyperparameters": "not given (notes section 10)"}}
    return params, fig, axes, data


RANK_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red")


def _overlay_panel(ax, steps, network, overlay: dict, key: str, references, dt: float, what: str) -> str:
    """Network singular values (solid, one colour per rank) against the correlated (dashed) and white (dotted grey)
    theories' sorted |u| or |b|; ``references``: values drawn as thin black lines. The y range follows the network
    and the correlated theory; returns a note naming the white theory's largest value when it is beyond it."""
    curves = overlay["curves"]
    for k in range(network.shape[1]):
        ax.plot(steps, network[:, k], color=RANK_COLOURS[k % 4], lw=1.6)
        c = curves["correlated"][key]
        ax.plot(steps[:len(c)], c[:, k], color=RANK_COLOURS[k % 4], ls="--", lw=1.1)
        w = curves["white"][key]
        ax.plot(steps[:len(w)], w[:, k], color="0.45", ls=":", lw=1.1)
    for value in references:
        ax.axhline(value, color="k", lw=0.7, alpha=0.6)
    top = 1.15 * max(float(np.max(network)), float(np.max(curves["correlated"][key])), *references)
    white_top = float(np.max(curves["white"][key]))
    ax.set_ylim(-0.03 * top, top)
    spacing = int(steps[1] - steps[0]) if len(steps) > 1 else 1
    ax.set_xscale("symlog", linthresh=10.0 ** np.ceil(np.log10(10 * spacing)))  # linear over the first ~10 records
    ax.set_xlim(0, steps[-1])
    ax.set_xlabel(f"training step (symlog; theory time = step x {dt:.3g})")
    ax.set_ylabel(what)
    return f"; white reaches {white_top:.3g} (off scale)" if white_top > top else ""


def _overlay_legend(fig, reference: str):
    """One legend for all the overlay panels, above them."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, lw=1.6) for c in RANK_COLOURS]
    labels = [f"network, rank {k + 1}" for k in range(4)]
    handles += [Line2D([], [], color="k", ls="--", lw=1.1), Line2D([], [], color="0.45", ls=":", lw=1.1),
                Line2D([], [], color="k", lw=0.7, alpha=0.6)]
    labels += ["correlated theory (input covariance of the data)", "white theory (lambda = I)", reference]
    fig.legend(handles, labels, loc="upper center", ncol=4, fontsize=8, frameon=False, bbox_to_anchor=(0.5, 1.0))


def _overlay_summary(entry: dict) -> dict:
    """Largest time-course error of each theory (u and b over ranks) for titles and the top level."""
    return {name: float(max(np.max(entry[name]["max_abs_error"]["u"]), np.max(entry[name]["max_abs_error"]["b"])))
            for name in ("correlated", "white")}


def lr_dependence(run: dict, params: dict, factor: float) -> dict:
    """The correlated theory's time-course error at the run's lr and at ``factor`` times it (``steps / factor``
    steps: the same theory time), from the same initial weights. Gradient descent differs from the flow at first
    order in lr: an error that scales with the factor is discretisation, one that does not is the alignment phase
    and the data's departures from the theory's assumptions."""
    again = run_sensory(run["target"], run["T"], n_samples=params["n_samples"], steps=int(round(run["steps"][-1] /
                        factor)), lr=factor * run["lr"], seed=SENSORY["seed"])
    errors = [_overlay_summary(ode_overlay(r)["entry"])["correlated"] for r in (run, again)]
    return {"lr": [run["lr"], again["lr"]], "steps": [int(run["steps"][-1]), int(again["steps"][-1])],
            "max_abs_error_correlated": errors, "ratio": errors[1] / errors[0] if errors[0] > 0 else None,
            "first_order_would_give_ratio": factor}


@figure("fig6", "sensory integration (Neurogym stimuli, not whitened): singular values reach the global solution "
                "along the correlated theory's time course; mean does not extrapolate, sum does")
def fig6(quick: bool = False):
    params, fig, axes, data = _start("fig6", quick, 3, {"T": 4, "T_test": [50, 75, 100]})
    T, seed = params["T"], SENSORY["seed"]
    errors, end_errors = [], []
    for col, target in enumerate(("mean", "sum")):
        run = run_sensory(target, T, n_samples=params["n_samples"], steps=params["steps"], seed=seed)
        sol = global_solution(target, T)
        ext = extrapolation(run, params["T_test"], params["n_test"], seed)
        tasks = theory_tasks(run)
        overlay = ode_overlay(run, tasks, control=True)
        entry = overlay["entry"]
        over_training = loss_over_training(run, overlay["curves"]["correlated"], tasks["correlated"].estimate,
                                           params["T_test"], params["n_test"], seed, SENSORY["dense"])
        if target == "mean":
            entry["lr_dependence"] = lr_dependence(run, params, SENSORY["theory"]["lr_check"])
        final_rec, final_io = run["recurrent_sv"][-1], run["io_sv"][-1]
        end_err = max(np.max(np.abs(final_rec - sol["recurrent_sv"])), np.max(np.abs(final_io - sol["io_sv"])))
        course = _overlay_summary(entry)
        errors.append(course["correlated"])
        end_errors.append(end_err)
        data[target] = {
            "recurrent_sv": final_rec, "io_sv": final_io,
            "predicted": {"recurrent_sv": sol["recurrent_sv"], "io_sv": sol["io_sv"]},
            "ode_final": {"recurrent_sv": entry["correlated"]["final"]["b"],
                          "io_sv": entry["correlated"]["final"]["u"], "source": "the correlated theory"},
            "estimated_task_least_squares": run["estimate"].task.singular_values,
            "estimated_task_sum": run["estimate_sum"].task.singular_values,
            "diagnostic_least_squares": _diagnostic_summary(run["estimate"]),
            "diagnostic_sum": _diagnostic_summary(run["estimate_sum"]),
            "extrapolation_loss": ext["network"], "extrapolation_theory": ext["theory_expected"],
            "extrapolation_theory_on_samples": ext["theory_on_samples"],
            "extrapolation_loss_zero_output": ext["zero_output"],
            "loss_over_training": {**over_training, "source": "loss_over_training: the network's recorded weights "
                                   "and the correlated theory's modes at every record shown, on the fresh stimuli of "
                                   "extrapolation_loss"},
            "lr": run["lr"], "lr_bound": run["lr_bound"], "steps": int(run["steps"][-1]),
            "final_loss": float(run["losses"][-1]), "max_abs_error": course["correlated"],
            "max_abs_error_white": course["white"], "max_abs_error_end_points": end_err,
            "ode_overlay": entry,
        }
        dt = entry["theory_time_per_step"]
        ax = axes[0, col]
        note = _overlay_panel(ax, run["steps"], run["io_sv"], overlay, "abs_u", [sol["io_sv"]], dt,
                              "singular values of W_y W_x  /  |u|")
        ax.set_title(f"y = {target}(x_1..x_T), T={T}, lr={run['lr']:.3g}: W_y W_x{note}\nmax error over "
                     f"training (u and b): correlated {course['correlated']:.3f}, white {course['white']:.3f}",
                     fontsize=9)
        ax = axes[1, col]
        note = _overlay_panel(ax, run["steps"], run["recurrent_sv"], overlay, "abs_b", [sol["recurrent_sv"]], dt,
                              "singular values of W_h  /  |b|")
        ax.set_title(f"{target}: W_h{note}", fontsize=9)
        ax = axes[2, col]
        for k, Tp in enumerate(params["T_test"]):
            colour = ("tab:purple", "tab:brown", "tab:cyan")[k % 3]
            ax.plot(over_training["steps"], over_training["network"][str(Tp)], color=colour, lw=1.6,
                    label=f"T'={Tp}: network (end {ext['network'][str(Tp)]:.3g})")
            ax.plot(over_training["steps"], over_training["theory"][str(Tp)], color=colour, ls="--", lw=1.1,
                    label=f"T'={Tp}: correlated theory")
        ax.set_yscale("log")
        spacing = int(run["steps"][1] - run["steps"][0])
        ax.set_xscale("symlog", linthresh=10.0 ** np.ceil(np.log10(10 * spacing)))
        ax.set_xlim(0, run["steps"][-1])
        ax.set_xlabel("training step (symlog)")
        ax.set_ylabel("loss at T': 1/(2P) sum ||y - y_hat||^2")
        ax.set_title(f"{target}: loss at T' = {', '.join(map(str, params['T_test']))} over training (trained at T={T})",
                     fontsize=9)
        ax.legend(fontsize=7, loc="best", ncol=2, framealpha=0.85)
    _overlay_legend(fig, "global solution")
    tight_layout(fig, rect=(0, 0, 1, 0.965))
    data["max_abs_error"] = max(errors)
    data["max_abs_error_covers"] = ("the correlated theory's time course against the network's singular values (u "
                                    "and b, every rank and record, both targets; ode_overlay.compared)")
    data["max_abs_error_white"] = max(data[t]["max_abs_error_white"] for t in ("mean", "sum"))
    data["max_abs_error_end_points"] = max(end_errors)
    data["paper_features"] = fig6_features(data, T)
    data["tolerances"] = {k: TOLERANCES[k] for k in ("singular_value_rtol", "extrapolates_relative_loss",
                                                     "falls_to_relative", "settled_relative_change")}
    return fig, data


@figure("figA8", "late against early importance at T = 6 on Neurogym stimuli: singular values along the correlated "
                 "theory's time course and the hidden-layer gradient over training")
def figA8(quick: bool = False):
    params, fig, axes, data = _start("figA8", quick, 3, {"T": 6})
    T, seed = params["T"], SENSORY["seed"]
    late = None
    for col, target in enumerate(("late", "early")):
        # one learning rate for both: the late target's bound (early importance's predicted b* > 1 has no usable one)
        run = run_sensory(target, T, n_samples=params["n_samples"], steps=params["steps"][target], seed=seed,
                          lr=None if late is None else late["lr"], hidden_gradient=True)
        late = late or run
        tasks = theory_tasks(run)
        overlay = ode_overlay(run, tasks, control=True)
        entry = overlay["entry"]
        course = _overlay_summary(entry)
        correlated_fit = solve_task(tasks["correlated"])
        final_rec, final_io = run["recurrent_sv"][-1], run["io_sv"][-1]
        err = max(np.max(np.abs(final_rec - run["b_pred"])), np.max(np.abs(final_io - abs(run["u_pred"]))))
        gradient, tail = run["hidden_gradient"], run["tail"]
        tail_summary = hidden_change_tail(tail["H"])
        data[target] = {
            "recurrent_sv": final_rec, "io_sv": final_io,
            "predicted": {"recurrent_sv": run["b_pred"], "io_sv": abs(run["u_pred"]),
                          "source": "solve_task on the least-squares estimated task (whitened theory)"},
            "predicted_correlated": {"recurrent_sv": np.abs(correlated_fit.b), "io_sv": np.abs(correlated_fit.u),
                                     "source": "solve_task on the correlated task (per mode)"},
            "estimated_task_least_squares": run["estimate"].task.singular_values,
            "diagnostic_least_squares": _diagnostic_summary(run["estimate"]),
            "diagnostic_sum": _diagnostic_summary(run["estimate_sum"]),
            "hidden_gradient_final": float(gradient[-1]),
            "hidden_gradient_last_tenth_max": tail_summary["max"],
            "hidden_gradient_last_tenth": tail_summary,
            "hidden_gradient_over_training": {"steps": run["hidden_gradient_steps"], "per_step_change": gradient},
            "tail_losses_even_odd_steps": [float(np.mean(tail["losses"][0::2])), float(np.mean(tail["losses"][1::2]))],
            "tail_replay_max_weight_difference": tail["replay_max_weight_difference"],
            "lr": run["lr"], "lr_bound_at_prediction": run["lr_bound"], "steps": int(run["steps"][-1]),
            "final_loss": float(run["losses"][-1]), "abs_error": err, "max_abs_error": course["correlated"],
            "max_abs_error_white": course["white"], "ode_overlay": entry,
        }
        if target == "early":
            entry["note"] = (f"lr {run['lr']:.3g} is above this target's stability bound "
                             f"({run['lr_bound']:.3g} at the predicted solution): gradient descent oscillates where "
                             "the flow settles, so the flow describes it only until the oscillation starts")
        dt = entry["theory_time_per_step"]
        ax = axes[0, col]
        note = _overlay_panel(ax, run["steps"], run["io_sv"], overlay, "abs_u", list(np.abs(correlated_fit.u)), dt,
                              "singular values of W_y W_x  /  |u|")
        ax.set_title(f"{target} importance, T={T}, lr={run['lr']:.3g}: W_y W_x{note}\nmax error over training "
                     f"(u and b): correlated {course['correlated']:.3f}, white {course['white']:.3f}", fontsize=9)
        ax = axes[1, col]
        note = _overlay_panel(ax, run["steps"], run["recurrent_sv"], overlay, "abs_b",
                              list(np.abs(correlated_fit.b)), dt, "singular values of W_h  /  |b|")
        unstable = " (lr above this target's bound: GD oscillates)" if run["lr"] > run["lr_bound"] else ""
        ax.set_title(f"{target} importance: W_h{note}{unstable}", fontsize=9)
        ax = axes[2, col]
        ax.semilogy(run["hidden_gradient_steps"], np.maximum(gradient, 1e-16), color="tab:green",
                    label=f"next step's change, every {int(np.diff(run['hidden_gradient_steps'][:2])[0])} steps")
        tail_steps = tail["first_step"] + np.arange(1, len(tail["H"]))
        per_step = np.mean(np.linalg.norm(np.diff(tail["H"], axis=0), axis=2), axis=1)
        ax.semilogy(tail_steps, np.maximum(per_step, 1e-16), color="tab:purple", lw=0.8,
                    label=f"every step, last tenth (mean {tail_summary['mean']:.3g})")
        paper_value = 1e-3 if target == "late" else 0.3
        ax.axhline(paper_value, color="k", ls="--", lw=0.9,
                   label=f"paper: {'below 1e-3' if target == 'late' else 'about 0.3'}")
        ax.set_xlabel("training step k")
        ax.set_ylabel("mean ||h_T(k+1) - h_T(k)||")
        ax.set_title(f"{target} importance: hidden-layer gradient dH_T/dt per training step\nlast tenth: "
                     f"||H(k+2) - H(k)|| / ||H(k+1) - H(k)|| = {tail_summary['two_step_over_one_step']:.2g}"
                     + (" (period-2 orbit)" if tail_summary["two_step_over_one_step"] < 0.05 else ""), fontsize=9)
        ax.legend(fontsize=7, loc="best")
    _overlay_legend(fig, "best LRNN fit of the correlated task (solve_task, per mode)")
    tight_layout(fig, rect=(0, 0, 1, 0.965))
    data["max_abs_error"] = data["late"]["max_abs_error"]
    data["max_abs_error_covers"] = ("the correlated theory's time course against the network's singular values (u "
                                    "and b, every rank and record) on late importance (early importance's b* > 1 is "
                                    "the unstable case, reported apart)")
    data["max_abs_error_white"] = data["late"]["max_abs_error_white"]
    data["max_abs_error_end_points"] = data["late"]["abs_error"]
    data["hidden_gradient_measured"] = (
        "dH_T/dt per training step, as the paper counts t_theta (one step = one unit): the mean over the training "
        "samples of ||h_T(k+1) - h_T(k)||. Over training (hidden_gradient_over_training): at every record k the change "
        "made by the next training step (next_step_hidden_change: one gradient step from the record's weights), so the "
        "record stride cannot alias a period-2 orbit. In the last tenth of the run (hidden_gradient_last_tenth, what "
        "the statements read): h_T at every training step, replayed from the recorded weights at the tail's start "
        "with the harness (tail_replay_max_weight_difference: the replay's final weights against the run's). "
        "two_step_over_one_step near 0 is a period-2 orbit: records every even number of steps would see one "
        "phase only")
    data["paper_features"] = figA8_features(data)
    data["tolerances"] = {k: TOLERANCES[k] for k in ("same_solution_relative_spread", "about_factor", "fluctuating")}
    return fig, data
