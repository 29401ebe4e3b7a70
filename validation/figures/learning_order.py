"""Fig. A1 reproduction (learning order): inverse-exponential tasks delta = 1.1, lambda = 0.5 against delta = 0.5,
lambda = 1.1 (T = 7, a = b = c = 0.1): simulation against the integrated full flow, and each task's predicted and
simulated time to reach 90% of its final u. The x-axis is training steps, as in the paper: the theory's time t maps
to step t / lr (loss sum_half, tau = 1; the top axis shows t). The learning rate and run length are chosen (the paper
gives none; its 0-500 steps would need lr = 0.02, at which gradient descent leaves the flow by 0.13) and recorded in
the JSON.
"""
from __future__ import annotations

import numpy as np

from lrnn_theory.flow import integrate
from lrnn_theory.learning_order import predict_learning_order, time_to_fraction
from lrnn_theory.plotting import tight_layout
from lrnn_theory.tasks import Task
from lrnn_theory.validation import simulate

from . import figure, paper_feature, progress, pyplot as _pyplot
from .frozen import run_settings as _run_settings

FIGA1 = {"T": 7, "init": 0.1, "t_end": 10.0, "fraction": 0.9,
         "tasks": [{"name": "delta=1.1, lambda=0.5", "delta": 1.1, "lambda": 0.5, "colour": "tab:orange"},
                   {"name": "delta=0.5, lambda=1.1", "delta": 0.5, "lambda": 1.1, "colour": "tab:blue"}]}


def figA1_tasks() -> list:
    """The two Fig. A1 tasks (inverse-exponential, T = 7, a = b = c = 0.1)."""
    init = FIGA1["init"]
    return [Task.inverse_exponential(delta=spec["delta"], lam=spec["lambda"], T=FIGA1["T"], name=spec["name"],
                                     init={"a": init, "b": init, "c": init}) for spec in FIGA1["tasks"]]


@figure("figA1", "learning order: delta=1.1, lambda=0.5 against delta=0.5, lambda=1.1 (T=7), with 90% times")
def figA1(quick: bool = False):
    plt = _pyplot()
    tasks = figA1_tasks()
    run = _run_settings(FIGA1["t_end"], quick)
    prediction = predict_learning_order(tasks, fraction=FIGA1["fraction"])
    fig, (ax_s, ax_b, ax_u) = plt.subplots(1, 3, figsize=(13.5, 3.9))
    per_task, errors = {}, []
    steps_axis = np.arange(1, FIGA1["T"] + 1)
    lr = run["lr"]
    for k, (task, spec) in enumerate(progress(list(zip(tasks, FIGA1["tasks"])), "train both tasks")):
        colour = spec["colour"]
        sim = simulate(task, **run)
        theory = integrate(task, sim.t[-1], t_eval=sim.t, rtol=1e-10, atol=1e-12)
        errors.append(max(np.max(np.abs(theory.u - sim.u)), np.max(np.abs(theory.b - sim.b))))
        # Same definition as the prediction: the first time u reaches 90% of the converged theory's final u.
        t_sim = float(time_to_fraction(sim.t, sim.u, FIGA1["fraction"], final=prediction.final_u[k:k + 1])[0])
        per_task[spec["name"]] = {
            "t90_predicted": float(prediction.times[k]), "t90_simulated": t_sim,
            "t90_steps": {"predicted": float(prediction.times[k] / lr), "simulated": t_sim / lr},
            "t90_logistic_b_frozen": float(prediction.times_logistic[k]),
            "discounted_sum_A_b0": float(prediction.discounted_sum[k]), "rate_2A_over_tau": float(prediction.rate[k]),
            "final_u": {"theory": float(prediction.final_u[k]), "simulation": float(sim.u[-1, 0])},
            "final_b": {"theory": float(prediction.final_b[k]), "simulation": float(sim.b[-1, 0])},
            "max_abs_error": float(errors[-1]),
        }
        ax_s.plot(steps_axis, task.singular_values[0], "o-", color=colour, label=spec["name"])
        for ax, q in ((ax_b, "b"), (ax_u, "u")):
            ax.plot(sim.t / lr, getattr(sim, q)[:, 0], color=colour, lw=2.4, alpha=0.6,
                    label=f"simulation, {spec['name']}")
            ax.plot(theory.t / lr, getattr(theory, q)[:, 0], color=colour, lw=1.4, ls="--",
                    label=f"theory, {spec['name']}")
        ax_u.axvline(prediction.times[k] / lr, color=colour, ls=":", lw=1.2,
                     label=f"predicted 90% at {prediction.times[k] / lr:,.0f} steps")
    ax_s.set_xlabel("trajectory step t")
    ax_s.set_ylabel("data singular value s_t")
    ax_s.set_title("tasks: s_t = δ λ^(T−t)", fontsize=10)
    ax_b.set_ylabel("recurrent mode b")
    ax_u.set_ylabel("input-output mode u = ac")
    for ax in (ax_b, ax_u):
        ax.set_xlabel(f"training steps (lr = {lr:g}, loss sum_half)")
        top = ax.secondary_xaxis("top", functions=(lambda x: x * lr, lambda t: t / lr))
        top.set_xlabel("theory time t = steps × lr (τ = 1)", fontsize=8)
    for ax in (ax_s, ax_b, ax_u):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Fig. A1: later, larger singular values are learned faster (T={FIGA1['T']}, a=b=c={FIGA1['init']:g});"
                 " simulation solid, theory dashed", fontsize=11)
    tight_layout(fig)
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
                       "time_axis": f"training steps (bottom axis) = theory time t / lr, lr = {lr:g} "
                                    "(tau = 1, loss sum_half); t90 values in theory time, t90_steps in steps",
                       "t90_definition": "first time u reaches 90% of its final (converged theory) value"},
    }
    orange, blue = (FIGA1["tasks"][0]["name"], FIGA1["tasks"][1]["name"])
    t_o, t_b = per_task[orange]["t90_simulated"], per_task[blue]["t90_simulated"]
    fin_o, fin_b = per_task[orange], per_task[blue]
    swapped = [fin_o["final_u"]["simulation"], fin_o["final_b"]["simulation"],
               fin_b["final_u"]["simulation"], fin_b["final_b"]["simulation"]]
    data["paper_features"] = [
        paper_feature("orange (delta=1.1, lambda=0.5: later, larger singular values) is learned faster than blue "
                      "(delta=0.5, lambda=1.1)", "orange first", {"t90_orange": t_o, "t90_blue": t_b}, t_o < t_b,
                      by_construction=False, measured="simulated time to 90% of the final u (theory time)"),
        paper_feature("both tasks have solutions of the same magnitudes with u and b swapped",
                      {"orange": {"u": 1.1, "b": 0.5}, "blue": {"u": 0.5, "b": 1.1}},
                      {"orange": {"u": swapped[0], "b": swapped[1]}, "blue": {"u": swapped[2], "b": swapped[3]}},
                      abs(swapped[0] - swapped[3]) < 0.02 and abs(swapped[1] - swapped[2]) < 0.02,
                      by_construction=False, tolerance=0.02, measured="final simulated u and b"),
    ]
    return fig, data
