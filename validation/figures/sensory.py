"""Sensory integration reproductions (S1 section 3.6, App. L): Fig. 6 and Fig. A8.

Networks (N_x = N_h = N_y = 4, small random init ``N(0, 0.1^2 / fan_in)``, no biases) are trained by full-batch
gradient descent on raw, non-whitened Neurogym multisensory stimuli (``lrnn_theory.sensory.sensory_trials``,
``cut="stimulus"``) with the validation harness, loss ``mean_half`` = ``1/(P N_y) sum_p 1/2 ||y_p - y_hat_p||^2``.

Learning rate (the paper gives none): ``lr_fraction`` (0.7) times the stability bound ``2 / lambda_max`` of the loss
Hessian at the predicted solution on the training data, chosen per target and recorded. Above the bound gradient
descent cannot settle at the solution: the notes' sum-target run at lr 0.05 with loss ``(1/2P) sum ||r||^2``
(= lr 0.2 in ``mean_half``) is 1.7 times the bound of about 0.117, hence its period-2 oscillation.

Fig. 6 (targets mean and sum at T = 4): top, the singular values of W_h (``recurrent_sv``) and of W_y W_x
(``io_sv``) over training, with the global solution (1; 1/T or 1) as dotted lines. Middle: the mode ODE of the task
that ``Task.from_data`` estimates (least-squares normalisation: s_i = 1/T or 1 for all four modes) dashed, over the
network's modes read along the principal input directions (``ode_overlay``), with the data diagnostic. The inputs
are far from white (their power is mostly the mean, correlated across steps), so the end points are the prediction
and the time courses an illustration (errors per direction in ``ode_overlay``). Bottom: the trained network run at
T' = 50, 75, 100 on fresh stimuli against the theory's extrapolation loss (``expected_extrapolation_loss``, closed
form over the stimulus distribution, and the same formula on the test samples).

Fig. A8 (late importance ``0.1 sum t x_t`` against early importance ``sum x_t / t`` at T = 6): top, singular values
over training with the theory's best LRNN fit (``solve_task`` on the least-squares estimated task) dashed; bottom, the
hidden-layer gradient ``dH_T/dt``: the mean over samples of ``||d h_{T+1} / d t_theta||`` under gradient flow on the
training loss (``t_theta`` = lr x steps; a central difference along the gradient).

``max_abs_error``: largest |final singular value - predicted| over the networks that the theory says converge (fig6:
both; figA8: late importance only, early importance's b* > 1 is the unstable case and is reported apart).

``paper_features`` (``fig6_features``, ``figA8_features``): the paper's statements about each figure, judged from the
run's numbers with our tolerances for its wording (``TOLERANCES``, recorded in the JSON as ``tolerances``).
"""
from __future__ import annotations

import numpy as np

from lrnn_theory.flow import integrate
from lrnn_theory.losses import output_loss
from lrnn_theory.sensory import (expected_extrapolation_loss, global_solution, sensory_targets, sensory_trials,
                                 target_weights)
from lrnn_theory.stability import solve_task
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
    "records": 300,
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
    # "about x": within a factor of 3 of x (mean over the last tenth of the records)
    "about_factor": 3.0,
    # "fluctuating" over the last tenth of the records: the direction of dH_T/dt changes at >= 25% of the records
    # and it moves by >= 1% of its mean per record on average
    "fluctuating": {"direction_changes": 0.25, "relative_step": 0.01},
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


def _hidden_gradient(net, X, Y, loss):
    """Mean over samples of ||dh_{T+1}/dt|| under gradient flow dW/dt = -grad(loss) (central difference)."""
    _, grads = net.loss_and_grad_samples(X, Y, output_loss(loss))
    size = max(float(np.max(np.abs(g))) for g in grads)
    if size == 0:
        return 0.0
    eps = 1e-6 / size
    ahead = LRNN(*(W - eps * g for W, g in zip(net.weights, grads))).hidden_states(X)[-1]
    behind = LRNN(*(W + eps * g for W, g in zip(net.weights, grads))).hidden_states(X)[-1]
    return float(np.mean(np.linalg.norm((ahead - behind) / (2 * eps), axis=1)))


def run_sensory(target: str, T: int, *, n_samples: int, steps: int, lr: float | None = None, seed: int = 0,
                records: int = SENSORY["records"], hidden_gradient: bool = False) -> dict:
    """Train one network on a sensory target and collect what the figures show.

    Returns a dict with ``steps``, ``recurrent_sv`` and ``io_sv`` over training (n_records, 4), ``hidden_gradient``
    (n_records,) when asked, ``network``, ``lr``, ``lr_bound``, the estimated tasks (``estimate``: least squares,
    ``estimate_sum``: the harness's sum normalisation), the data and the predicted ``b``, ``u``.
    """
    X = sensory_trials(n_samples, T, seed=seed, cut=SENSORY["cut"])
    Y = sensory_targets(X, target)
    estimate = Task.from_data(X, Y, normalisation="least_squares", name=f"sensory {target}").estimate
    estimate_sum = Task.from_data(X, Y, name=f"sensory {target}").estimate
    weights, b_pred, u_pred = _predicted_weights(target, T, estimate.task)
    bound = stable_lr_bound(X, Y, weights, SENSORY["loss"])
    lr = SENSORY["lr_fraction"] * bound if lr is None else lr

    def on_record(step, net):
        io_map = net.W_y @ net.W_x
        return (np.linalg.svd(io_map, compute_uv=False), io_map, net.W_y @ net.W_h @ net.W_x,
                _hidden_gradient(net, X, Y, SENSORY["loss"]) if hidden_gradient else np.nan)

    result = train_lrnn(None, X=X, Y=Y, hidden=SENSORY["hidden"], lr=lr, steps=steps, init=SENSORY["init"],
                        init_scale=SENSORY["init_scale"], loss=SENSORY["loss"], seed=seed,
                        record_every=max(1, steps // records), on_record=on_record)
    return {"target": target, "T": T, "X": X, "Y": Y, "steps": result.steps, "network": result.network,
            "recurrent_sv": result.singular_values["W_h"], "io_sv": np.array([r[0] for r in result.records]),
            "io_map": np.array([r[1] for r in result.records]), "io_map_h": np.array([r[2] for r in result.records]),
            "hidden_gradient": np.array([r[3] for r in result.records]), "losses": result.losses, "lr": lr,
            "lr_bound": bound, "estimate": estimate, "estimate_sum": estimate_sum, "b_pred": b_pred,
            "u_pred": u_pred}


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


def input_directions(X):
    """Principal directions ``v_k`` of the per-step input power and the powers ``Lambda_k`` (summed over samples,
    averaged over steps), strongest first."""
    T = X.shape[1]
    powers, directions = np.linalg.eigh(np.einsum("ptx,pty->xy", X, X) / T)
    return powers[::-1], directions[:, ::-1]


def ode_overlay(run: dict):
    """Mode ODE of the least-squares estimated task along each principal input direction, against the network.

    The estimated task is isotropic (the same ``s_i = w`` for every direction), so its modes may be taken along the
    principal directions ``v_k`` of the input power. The network's mode k is read along v_k:
    ``u_k = v_k^T W_y W_x v_k`` and ``b_k = v_k^T W_y W_h W_x v_k / u_k``. Mode k of the ODE runs on the clock of that
    direction (theory time per step ``lr Lambda_k / (P N_y)``, exact for white inputs of power Lambda_k) from the
    network's initial read-out, balanced and positive (``a = c = sqrt(|u_k(0)|)``; the read-out of a small random
    network is noise, and a negative balanced start could never cross 0), with ``b`` the median initial singular
    value of W_h. Only the direction whose inputs are white across time (the noise-only one) meets the theory's
    assumptions.

    Returns
    -------
    ode_b, ode_u, net_b, net_u : ndarray (n_records, 4)
    powers : ndarray (4,)
    """
    X = run["X"]
    P = X.shape[0]
    powers, V = input_directions(X)
    net_u = np.einsum("xk,nxy,yk->nk", V, run["io_map"], V)
    with np.errstate(divide="ignore", invalid="ignore"):
        net_b = np.einsum("xk,nxy,yk->nk", V, run["io_map_h"], V) / net_u
    s = run["estimate"].task.singular_values
    scale = 1.0 / (P * run["Y"].shape[1])  # mean_half
    ode_b, ode_u = [], []
    b0 = float(np.median(run["recurrent_sv"][0]))
    for k in range(s.shape[0]):
        a0 = np.sqrt(abs(net_u[0, k]))
        task = Task(s[k], init={"a": a0, "b": b0, "c": a0})
        t = run["steps"] * run["lr"] * powers[k] * scale
        traj = integrate(task, float(t[-1]), t_eval=t)
        ode_b.append(traj.b[:, 0])
        ode_u.append(traj.u[:, 0])
    return np.array(ode_b).T, np.array(ode_u).T, net_b, net_u, powers


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


def gradient_tail(values) -> dict:
    """Summary of the last tenth of a recorded series (``dH_T/dt``): mean, min, max, the fraction of records at which
    its direction changes, and its mean step between records relative to its mean.

    Examples
    --------
    >>> tail = gradient_tail([0.2, 0.4] * 20)  # the last tenth: 0.2, 0.4, 0.2, 0.4
    >>> tail["direction_change_fraction"], round(tail["mean_relative_step"], 3), tail["max"]
    (1.0, 0.667, 0.4)
    """
    values = np.asarray(values, dtype=float)
    tail = values[-max(3, len(values) // 10):]
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
                      all(_within(v, 1.0, rtol) for v in rec.values()), tolerance={"relative": rtol}),
        paper_feature("input-output singular values -> 1/T (mean target)", 1.0 / T, data["mean"]["io_sv"],
                      _within(data["mean"]["io_sv"], 1.0 / T, rtol), tolerance={"relative": rtol}),
        paper_feature("input-output singular values -> 1 (sum target)", 1.0, data["sum"]["io_sv"],
                      _within(data["sum"]["io_sv"], 1.0, rtol), tolerance={"relative": rtol}),
        paper_feature(f"sum extrapolates to T' = {', '.join(sum_T)}", "zero extrapolation loss", sum_ext,
                      all(v["relative_to_zero_output"] < limit for v in sum_ext.values()),
                      tolerance={"relative_to_zero_output": limit},
                      measured="loss of the trained network on fresh stimuli of length T', and relative to the "
                               "loss of a zero output"),
        paper_feature("mean does not extrapolate: its loss grows with |T' - T|", "grows with |T' - T|", mean_ext,
                      bool(np.all(np.diff(mean_loss) > 0))
                      and all(v["relative_to_zero_output"] >= limit for v in mean_ext.values()),
                      tolerance={"relative_to_zero_output": limit}, definition="strictly increasing in |T' - T| "
                      "and, at every T', at least the tolerance (not extrapolating)"),
    ]


def figA8_features(data: dict, tolerances: dict = TOLERANCES) -> list:
    """Fig. A8's statements (S1 App. L) from the figure's numbers: ``data["late"]`` and ``data["early"]`` hold the
    final ``recurrent_sv`` and ``io_sv`` and ``hidden_gradient_last_tenth`` (``gradient_tail``)."""
    spread_limit, factor = tolerances["same_solution_relative_spread"], tolerances["about_factor"]
    fluct = tolerances["fluctuating"]
    spreads = {target: {q: _relative_spread(data[target][q]) for q in ("recurrent_sv", "io_sv")}
               for target in ("late", "early")}

    def singular_values(target):
        return {"recurrent_sv": np.asarray(data[target]["recurrent_sv"]).tolist(),
                "io_sv": np.asarray(data[target]["io_sv"]).tolist(), "relative_spread": spreads[target]}

    late, early = data["late"]["hidden_gradient_last_tenth"], data["early"]["hidden_gradient_last_tenth"]
    return [
        paper_feature("late importance: all singular values converge to the same solution",
                      "all 4 singular values of W_h, and of W_y W_x, converge together", singular_values("late"),
                      all(v < spread_limit for v in spreads["late"].values()),
                      tolerance={"relative_spread": spread_limit}),
        paper_feature("late importance: the hidden-layer gradient dH_T/dt stays below 1e-3", 1e-3,
                      {"last_tenth_max": late["max"], "last_tenth_mean": late["mean"]}, late["max"] < 1e-3,
                      measured="mean over samples of ||dh_(T+1)/dt||, last tenth of the records"),
        paper_feature("early importance: some singular values are stuck (only some converge)",
                      "the W_h singular values do not converge together", singular_values("early"),
                      spreads["early"]["recurrent_sv"] >= spread_limit,
                      tolerance={"relative_spread": spread_limit}),
        paper_feature("early importance: the hidden-layer gradient dH_T/dt is about 0.3", 0.3,
                      {"last_tenth_mean": early["mean"], "last_tenth_min": early["min"],
                       "last_tenth_max": early["max"]},
                      0.3 / factor <= early["mean"] <= 0.3 * factor, tolerance={"factor": factor},
                      measured="mean over samples of ||dh_(T+1)/dt||, last tenth of the records"),
        paper_feature("early importance: the hidden-layer gradient dH_T/dt fluctuates", "fluctuating",
                      {k: early[k] for k in ("direction_change_fraction", "mean_relative_step")},
                      early["direction_change_fraction"] >= fluct["direction_changes"]
                      and early["mean_relative_step"] >= fluct["relative_step"], tolerance=fluct,
                      measured="last tenth of the records"),
    ]


def _start(name: str, quick: bool, rows: int, paper: dict):
    """Parameters, an empty figure (rows x 2 panels) and the JSON skeleton of a reproduction."""
    params = _parameters(name, quick)
    common = {k: SENSORY[k] for k in ("hidden", "init", "init_scale", "loss", "lr_fraction", "cut", "seed")}
    fig, axes = _pyplot().subplots(rows, 2, figsize=(11, 3.5 * rows))
    data = {"parameters": {**common, **params},
            "paper": {**paper, "hyperparameters": "not given (notes section 10)"}}
    return params, fig, axes, data


@figure("fig6", "sensory integration (Neurogym stimuli, not whitened): singular values reach the global solution; "
                "mean does not extrapolate, sum does")
def fig6(quick: bool = False):
    params, fig, axes, data = _start("fig6", quick, 3, {"T": 4, "T_test": [50, 75, 100]})
    T, seed = params["T"], SENSORY["seed"]
    errors = []
    for col, target in enumerate(("mean", "sum")):
        run = run_sensory(target, T, n_samples=params["n_samples"], steps=params["steps"], seed=seed)
        sol = global_solution(target, T)
        ext = extrapolation(run, params["T_test"], params["n_test"], seed)
        ode_b, ode_u, net_b, net_u, powers = ode_overlay(run)
        final_rec, final_io = run["recurrent_sv"][-1], run["io_sv"][-1]
        err = max(np.max(np.abs(final_rec - sol["recurrent_sv"])), np.max(np.abs(final_io - sol["io_sv"])))
        errors.append(err)
        # per direction, over training; b is read only once u is away from 0 (it is u_h / u)
        ode_err_u = np.max(np.abs(ode_u - net_u), axis=0)
        grown = np.abs(net_u) > 0.1 * abs(sol["io_sv"])
        ode_err_b = np.array([np.max(np.abs(ode_b[grown[:, k], k] - net_b[grown[:, k], k]), initial=0.0)
                              for k in range(4)])
        data[target] = {
            "recurrent_sv": final_rec, "io_sv": final_io,
            "predicted": {"recurrent_sv": sol["recurrent_sv"], "io_sv": sol["io_sv"]},
            "ode_final": {"recurrent_sv": ode_b[-1], "io_sv": ode_u[-1]},
            "estimated_task_least_squares": run["estimate"].task.singular_values,
            "estimated_task_sum": run["estimate_sum"].task.singular_values,
            "diagnostic_least_squares": _diagnostic_summary(run["estimate"]),
            "diagnostic_sum": _diagnostic_summary(run["estimate_sum"]),
            "extrapolation_loss": ext["network"], "extrapolation_theory": ext["theory_expected"],
            "extrapolation_theory_on_samples": ext["theory_on_samples"],
            "extrapolation_loss_zero_output": ext["zero_output"],
            "lr": run["lr"], "lr_bound": run["lr_bound"], "steps": int(run["steps"][-1]),
            "final_loss": float(run["losses"][-1]), "max_abs_error": err,
            "ode_overlay": {"input_power_per_direction": powers, "max_abs_error_u_per_direction": ode_err_u,
                            "max_abs_error_b_per_direction": ode_err_b,
                            "note": "directions strongest first; the last is noise only (white across time)"},
        }
        ax = axes[0, col]
        for k in range(4):
            ax.plot(run["steps"], run["recurrent_sv"][:, k], color="tab:blue", lw=1.5,
                    label="W_h singular values" if k == 0 else None)
            ax.plot(run["steps"], run["io_sv"][:, k], color="tab:orange", lw=1.5,
                    label="W_y W_x singular values" if k == 0 else None)
        ax.axhline(sol["recurrent_sv"], color="k", ls=":", lw=1, label="global solution")
        ax.axhline(sol["io_sv"], color="k", ls=":", lw=1)
        ax.set_xlabel("training step")
        ax.set_ylabel("singular value")
        ax.set_title(f"y = {target}(x_1..x_T), T={T}, lr={run['lr']:.3g}")
        ax.legend(fontsize=7, loc="center right")
        ax = axes[1, col]
        colours = ["tab:red", "tab:purple", "tab:green", "tab:brown"]
        for k in range(4):
            ax.plot(run["steps"], net_u[:, k], color=colours[k], lw=1.5,
                    label=f"network u along v_{k + 1} (power {powers[k] / run['X'].shape[0]:.3g} per sample)")
            ax.plot(run["steps"], ode_u[:, k], color=colours[k], ls="--", lw=1)
        ax.plot([], [], color="k", ls="--", lw=1, label="mode ODE, task from Task.from_data")
        ax.axhline(sol["io_sv"], color="k", ls=":", lw=1)
        ax.set_xlabel("training step")
        ax.set_ylabel("u_k = v_k^T W_y W_x v_k")
        ax.set_title(f"{target}: modes along the principal input directions")
        ax.legend(fontsize=6, loc="lower right")
        diag = run["estimate_sum"].diagnostic
        ax.text(0.98, 0.97, f"data diagnostic (sum normalisation): input mean fraction {diag['mean_fraction']:.2f}, "
                            f"cross-time fraction {diag['cross_time_fraction']:.2f},\noff-diagonal energy "
                            f"{diag['off_diagonal_fraction']:.1e}, eigenvalue spread {diag['condition_number']:.3g}",
                transform=ax.transAxes, ha="right", va="top", fontsize=7)
        ax = axes[2, col]
        Ts = params["T_test"]
        ax.plot(Ts, [ext["network"][str(t)] for t in Ts], "o-", label="trained network")
        ax.plot(Ts, [ext["theory_expected"][str(t)] for t in Ts], "k--", label="theory (expected over stimuli)")
        ax.set_xlabel("test length T'")
        ax.set_ylabel("loss 1/(2P) sum ||y - y_hat||^2")
        ax.set_title(f"{target}: extrapolation from T={T}")
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    data["max_abs_error"] = max(errors)
    data["paper_features"] = fig6_features(data, T)
    data["tolerances"] = {k: TOLERANCES[k] for k in ("singular_value_rtol", "extrapolates_relative_loss")}
    return fig, data


@figure("figA8", "late against early importance at T = 6 on Neurogym stimuli: singular values and the hidden-layer "
                 "gradient over training")
def figA8(quick: bool = False):
    params, fig, axes, data = _start("figA8", quick, 2, {"T": 6})
    T, seed = params["T"], SENSORY["seed"]
    late = None
    for col, target in enumerate(("late", "early")):
        # one learning rate for both: the late target's bound (early importance's predicted b* > 1 has no usable one)
        run = run_sensory(target, T, n_samples=params["n_samples"], steps=params["steps"][target], seed=seed,
                          lr=None if late is None else late["lr"], hidden_gradient=True)
        late = late or run
        final_rec, final_io = run["recurrent_sv"][-1], run["io_sv"][-1]
        err = max(np.max(np.abs(final_rec - run["b_pred"])), np.max(np.abs(final_io - abs(run["u_pred"]))))
        data[target] = {
            "recurrent_sv": final_rec, "io_sv": final_io,
            "predicted": {"recurrent_sv": run["b_pred"], "io_sv": abs(run["u_pred"]),
                          "source": "solve_task on the least-squares estimated task (whitened theory)"},
            "estimated_task_least_squares": run["estimate"].task.singular_values,
            "diagnostic_least_squares": _diagnostic_summary(run["estimate"]),
            "diagnostic_sum": _diagnostic_summary(run["estimate_sum"]),
            "hidden_gradient_final": float(run["hidden_gradient"][-1]),
            "hidden_gradient_last_tenth_max": float(np.max(run["hidden_gradient"][-max(1, len(run["steps"]) // 10):])),
            "hidden_gradient_last_tenth": gradient_tail(run["hidden_gradient"]),
            "lr": run["lr"], "lr_bound_at_prediction": run["lr_bound"], "steps": int(run["steps"][-1]),
            "final_loss": float(run["losses"][-1]), "abs_error": err,
        }
        ax = axes[0, col]
        for k in range(4):
            ax.plot(run["steps"], run["recurrent_sv"][:, k], color="tab:blue",
                    label="W_h singular values" if k == 0 else None)
            ax.plot(run["steps"], run["io_sv"][:, k], color="tab:orange",
                    label="W_y W_x singular values" if k == 0 else None)
        ax.axhline(run["b_pred"], color="tab:blue", ls="--", lw=1, label="theory b*")
        ax.axhline(abs(run["u_pred"]), color="tab:orange", ls="--", lw=1, label="theory u*")
        ax.set_xlabel("training step")
        ax.set_ylabel("singular value")
        ax.set_title(f"{target} importance, T={T}, lr={run['lr']:.3g}")
        ax.legend(fontsize=7)
        ax = axes[1, col]
        ax.semilogy(run["steps"], np.maximum(run["hidden_gradient"], 1e-16), color="tab:green")
        ax.set_xlabel("training step")
        ax.set_ylabel("mean ||dH_T/dt||")
        ax.set_title(f"{target} importance: hidden-layer gradient")
    fig.tight_layout()
    data["max_abs_error"] = data["late"]["abs_error"]
    data["max_abs_error_covers"] = "late importance (early importance's b* > 1 is the unstable case)"
    data["paper_features"] = figA8_features(data)
    data["tolerances"] = {k: TOLERANCES[k] for k in ("same_solution_relative_spread", "about_factor", "fluctuating")}
    return fig, data
