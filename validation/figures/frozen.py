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

from . import figure, paper_feature, pyplot as _pyplot

#: Fig. 2 choices (the paper gives none): trajectory length, frozen values and the initialisation.
FIG2 = {
    "T": 6,
    "left": {"family": "inverse_exponential", "lambda": 0.7, "deltas": [0.5, 1.0, 2.0], "b_frozen": 0.7,
             "a0": 0.1, "c0": 0.1, "t_end": 5.0},
    "right": {"profiles": ["constant", "inverse_exponential", "exponential"], "lambda": 0.7, "delta": 1.0,
              "a_frozen": 1.0, "c_frozen": 1.0, "b0": 0.1, "t_end": 6.0, "taylor_window": 0.01,
              "taylor_order": 5},
}
#: Learning rates (theory time per step = lr, loss "sum_half", tau = 1) for the full and the quick run.
LR = {"full": 0.0005, "quick": 0.005}
RECORDS = 400



def run_settings(t_end: float, quick: bool) -> dict:
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
    run_left = run_settings(L["t_end"], quick)
    run_right = run_settings(R["t_end"], quick)
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
