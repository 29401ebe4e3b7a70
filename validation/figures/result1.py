"""Result 1 reproductions: Fig. 2 (one mode frozen, the other learning) and Fig. A1 (learning order).

* ``fig2``: left, u = a c learning with b frozen (logistic closed form of App. C) for several scales delta;
  right, b learning with u frozen (windowed Taylor series of App. D) for the constant, inverse-exponential
  (lambda = 0.7) and exponential (lambda = 0.7) profiles. Simulations (trained LRNNs from the validation harness,
  with the frozen weights not updated) solid, theory dashed.
* ``figA1``: inverse-exponential tasks delta = 1.1, lambda = 0.5 against delta = 0.5, lambda = 1.1 (T = 7,
  a = b = c = 0.1): simulation against the integrated full flow, and each task's predicted and simulated time to
  reach 90% of its final u.

The paper gives no learning rate, initialisation or (for Fig. 2) T; the values chosen here are in the JSON.
Gradient descent differs from gradient flow by O(lr), so ``max_abs_error`` shrinks with the learning rate
(``--quick`` uses a 10x larger one).
"""
from __future__ import annotations

import numpy as np

from lrnn_theory.tasks import Task

from . import figure

#: Fig. 2 choices (the paper gives none): trajectory length, frozen values and the initialisation.
FIG2 = {
    "T": 6,
    "left": {"family": "inverse_exponential", "lambda": 0.7, "deltas": [0.5, 1.0, 2.0], "b_frozen": 0.7,
             "a0": 0.1, "c0": 0.1, "t_end": 5.0},
    "right": {"profiles": ["constant", "inverse_exponential", "exponential"], "lambda": 0.7, "delta": 1.0,
              "a_frozen": 1.0, "c_frozen": 1.0, "b0": 0.1, "t_end": 6.0, "taylor_window": 0.01,
              "taylor_order": 5},
}
FIGA1 = {"T": 7, "init": 0.1, "t_end": 10.0, "fraction": 0.9,
         "tasks": [{"name": "delta=1.1, lambda=0.5", "delta": 1.1, "lambda": 0.5, "colour": "tab:orange"},
                   {"name": "delta=0.5, lambda=1.1", "delta": 0.5, "lambda": 1.1, "colour": "tab:blue"}]}
#: Learning rates (theory time per step = lr, loss "sum_half", tau = 1) for the full and the quick run.
LR = {"full": 0.0005, "quick": 0.005}
RECORDS = 400


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _run_settings(t_end: float, quick: bool) -> dict:
    lr = LR["quick" if quick else "full"]
    steps = int(round(t_end / lr))
    return {"lr": lr, "steps": steps, "record_every": max(1, steps // RECORDS), "loss": "sum_half", "seed": 0,
            "init": "aligned", "data": "population"}


def fig2_tasks() -> tuple:
    """The two Fig. 2 tasks: left (delta per mode, b frozen) and right (one profile per mode, u frozen)."""
    T, L, R = FIG2["T"], FIG2["left"], FIG2["right"]
    left = Task.from_family(L["family"], T=T, delta=L["deltas"], lam=L["lambda"],
                            init={"a": L["a0"], "b": L["b_frozen"], "c": L["c0"]}, name="fig2-left")
    profiles = [Task.from_family(p, T=T, delta=R["delta"], lam=None if p == "constant" else R["lambda"])
                for p in R["profiles"]]
    right = Task(np.vstack([p.singular_values for p in profiles]),
                 init={"a": R["a_frozen"], "b": R["b0"], "c": R["c_frozen"]}, name="fig2-right")
    return left, right


@figure("fig2", "learning of u with b frozen (logistic) and of b with u frozen (windowed Taylor series)")
def fig2(quick: bool = False):
    from lrnn_theory.frozen import frozen_b_solution, integrate_recurrent_taylor
    from lrnn_theory.validation import simulate

    plt = _pyplot()
    left, right = fig2_tasks()
    L, R = FIG2["left"], FIG2["right"]
    run_left = _run_settings(L["t_end"], quick)
    run_right = _run_settings(R["t_end"], quick)
    sim_left = simulate(left, freeze=("W_h",), **run_left)
    theory_left = frozen_b_solution(left, sim_left.t)
    sim_right = simulate(right, freeze=("W_x", "W_y"), **run_right)
    theory_right = integrate_recurrent_taylor(right, sim_right.t, window=R["taylor_window"], order=R["taylor_order"])
    err_left = np.max(np.abs(theory_left - sim_left.u), axis=0)
    err_right = np.max(np.abs(theory_right.b - sim_right.b), axis=0)

    colours = ["tab:blue", "tab:orange", "tab:green"]
    fig, (ax_l, ax_r) = plt.subplots(1, 2, figsize=(10.5, 4.0))
    for k, delta in enumerate(L["deltas"]):
        ax_l.plot(sim_left.t, sim_left.u[:, k], color=colours[k], lw=2.4, alpha=0.6, label=f"simulation, δ={delta:g}")
        ax_l.plot(sim_left.t, theory_left[:, k], color=colours[k], lw=1.4, ls="--", label=f"theory, δ={delta:g}")
    ax_l.set_title(f"u = ac, b frozen at {L['b_frozen']:g}\nτ du/dt = 2u(A − Bu) (logistic)", fontsize=10)
    ax_l.set_xlabel("time t = steps × lr (τ = 1)")
    ax_l.set_ylabel("input-output mode u = ac")
    labels = {"constant": "f = 1", "inverse_exponential": f"f = {R['lambda']:g}^(T−t)",
              "exponential": f"f = {R['lambda']:g}^t"}
    for k, prof in enumerate(R["profiles"]):
        ax_r.plot(sim_right.t, sim_right.b[:, k], color=colours[k], lw=2.4, alpha=0.6,
                  label=f"simulation, {labels[prof]}")
        ax_r.plot(sim_right.t, theory_right.b[:, k], color=colours[k], lw=1.4, ls="--",
                  label=f"theory, {labels[prof]}")
    ax_r.set_title(f"b, u frozen at {R['a_frozen'] * R['c_frozen']:g}\nτ db/dt = g(b) = u A'(b) − u² B'(b)/2; "
                   f"Taylor order {R['taylor_order']}, window Δ={R['taylor_window']:g}", fontsize=10)
    ax_r.set_xlabel("time t = steps × lr (τ = 1)")
    ax_r.set_ylabel("recurrent mode b")
    ax_l.legend(fontsize=7, loc="center right")
    ax_r.legend(fontsize=7, loc="lower right")
    for ax in (ax_l, ax_r):
        ax.grid(alpha=0.3)
    fig.suptitle(f"Fig. 2: learning dynamics of the modes (T={FIG2['T']}); simulation solid, theory dashed",
                 fontsize=11)
    fig.tight_layout()
    data = {
        "max_abs_error": float(max(err_left.max(), err_right.max())),
        "max_abs_error_left_u": dict(zip([f"delta={d:g}" for d in L["deltas"]], err_left.tolist())),
        "max_abs_error_right_b": dict(zip(R["profiles"], err_right.tolist())),
        "final_u_left": {"simulation": sim_left.u[-1].tolist(), "theory": theory_left[-1].tolist(),
                         "fixed_point_A_over_B": _fixed_points(left).tolist()},
        "final_b_right": {"simulation": sim_right.b[-1].tolist(), "theory": theory_right.b[-1].tolist()},
        "odes": {"left": "tau du/dt = 2 u (A(b) - B(b) u), b frozen (balanced a = c)",
                 "right": "tau db/dt = g(b) = u A'(b) - u^2 B'(b) / 2, u = a c frozen"},
        "parameters": {**FIG2, "tau": 1.0, "simulation_left": {**run_left, "freeze": ["W_h"]},
                       "simulation_right": {**run_right, "freeze": ["W_x", "W_y"]},
                       "time_axis": "theory time t = steps * lr (tau = 1, loss sum_half)"},
    }
    return fig, data


def _fixed_points(task) -> np.ndarray:
    from lrnn_theory.frozen import task_sums_at

    A, B = task_sums_at(task, task.init.b)
    return A / B


def figA1_tasks() -> list:
    """The two Fig. A1 tasks (inverse-exponential, T = 7, a = b = c = 0.1)."""
    init = FIGA1["init"]
    return [Task.inverse_exponential(delta=spec["delta"], lam=spec["lambda"], T=FIGA1["T"], name=spec["name"],
                                     init={"a": init, "b": init, "c": init}) for spec in FIGA1["tasks"]]


@figure("figA1", "learning order: delta=1.1, lambda=0.5 against delta=0.5, lambda=1.1 (T=7), with 90% times")
def figA1(quick: bool = False):
    from lrnn_theory.flow import integrate
    from lrnn_theory.learning_order import predict_learning_order, time_to_fraction
    from lrnn_theory.validation import simulate

    plt = _pyplot()
    tasks = figA1_tasks()
    run = _run_settings(FIGA1["t_end"], quick)
    prediction = predict_learning_order(tasks, fraction=FIGA1["fraction"])
    fig, (ax_s, ax_b, ax_u) = plt.subplots(1, 3, figsize=(13.5, 3.9))
    per_task, errors = {}, []
    steps_axis = np.arange(1, FIGA1["T"] + 1)
    for k, (task, spec) in enumerate(zip(tasks, FIGA1["tasks"])):
        colour = spec["colour"]
        sim = simulate(task, **run)
        theory = integrate(task, sim.t[-1], t_eval=sim.t, rtol=1e-10, atol=1e-12)
        errors.append(max(np.max(np.abs(theory.u - sim.u)), np.max(np.abs(theory.b - sim.b))))
        # Same definition as the prediction: the first time u reaches 90% of the converged theory's final u.
        t_sim = float(time_to_fraction(sim.t, sim.u, FIGA1["fraction"], final=prediction.final_u[k:k + 1])[0])
        per_task[spec["name"]] = {
            "t90_predicted": float(prediction.times[k]), "t90_simulated": t_sim,
            "t90_logistic_b_frozen": float(prediction.times_logistic[k]),
            "discounted_sum_A_b0": float(prediction.discounted_sum[k]), "rate_2A_over_tau": float(prediction.rate[k]),
            "final_u": {"theory": float(prediction.final_u[k]), "simulation": float(sim.u[-1, 0])},
            "final_b": {"theory": float(prediction.final_b[k]), "simulation": float(sim.b[-1, 0])},
            "max_abs_error": float(errors[-1]),
        }
        ax_s.plot(steps_axis, task.singular_values[0], "o-", color=colour, label=spec["name"])
        for ax, q in ((ax_b, "b"), (ax_u, "u")):
            ax.plot(sim.t, getattr(sim, q)[:, 0], color=colour, lw=2.4, alpha=0.6, label=f"simulation, {spec['name']}")
            ax.plot(theory.t, getattr(theory, q)[:, 0], color=colour, lw=1.4, ls="--", label=f"theory, {spec['name']}")
        ax_u.axvline(prediction.times[k], color=colour, ls=":", lw=1.2,
                     label=f"predicted t90 = {prediction.times[k]:.2f}")
    ax_s.set_xlabel("trajectory step t")
    ax_s.set_ylabel("data singular value s_t")
    ax_s.set_title("tasks: s_t = δ λ^(T−t)", fontsize=10)
    ax_b.set_ylabel("recurrent mode b")
    ax_u.set_ylabel("input-output mode u = ac")
    for ax in (ax_b, ax_u):
        ax.set_xlabel("time t = steps × lr (τ = 1)")
    for ax in (ax_s, ax_b, ax_u):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Fig. A1: later, larger singular values are learned faster (T={FIGA1['T']}, a=b=c={FIGA1['init']:g});"
                 " simulation solid, theory dashed", fontsize=11)
    fig.tight_layout()
    sim_order = sorted(per_task, key=lambda name: per_task[name]["t90_simulated"])
    data = {
        "max_abs_error": float(max(errors)),
        "tasks": per_task,
        "order_predicted": [prediction.labels[k].split("#")[0] for k in prediction.order],
        "order_simulated": sim_order,
        "order_by_rate_2A_over_tau": [prediction.labels[k].split("#")[0] for k in prediction.order_by_rate],
        "parameters": {**{k: v for k, v in FIGA1.items() if k != "tasks"},
                       "tasks": [{k: v for k, v in spec.items() if k != "colour"} for spec in FIGA1["tasks"]],
                       "tau": 1.0, "simulation": run,
                       "time_axis": "theory time t = steps * lr (tau = 1, loss sum_half)",
                       "t90_definition": "first time u reaches 90% of its final (converged theory) value"},
    }
    return fig, data
