"""
Your own task from scratch
==========================

A task is a table of singular values: one row per connectivity mode, one column per trajectory step. Column
``i - 1`` holds step ``i``; the last column is the final step, which reaches the output with no recurrent factor,
and step ``i`` reaches it through ``b^(T-i)``. Every mode learns on its own, so a row is a task in its own right.

This 8-step task has three modes that no family of the paper covers: one whose importance grows towards the end
(late importance), one whose importance fades (early importance) and one that only uses every third step. We ask
the theory where each mode ends (``solve_task``) and how it gets there (``integrate``). Then we train a real linear
RNN on the same task and lay the theory (dashed) over the network (solid).
"""
import sys

import matplotlib.pyplot as plt
import numpy as np

from lrnn_theory import Task, integrate, solve_task, train_lrnn

figure_path = sys.argv[1] if len(sys.argv) > 1 else "own_task.png"

singular_values = np.array([
    [0.20, 0.25, 0.30, 0.40, 0.50, 0.65, 0.80, 1.00],   # late importance
    [0.90, 0.70, 0.50, 0.40, 0.30, 0.20, 0.10, 0.05],   # early importance
    [0.00, 0.00, 0.60, 0.00, 0.00, 0.60, 0.00, 0.60],   # every third step
])
task = Task(singular_values, init={"a": 0.1, "b": 0.1, "c": 0.1}, name="my 8-step task")

# %%
# Where the modes end
# -------------------
# ``solve_task`` gives the zero-loss solution where the profile is geometric (``s_i = u b^(T-i)``), and otherwise
# the minimiser of the reduced energy ``E*(b)``. A mode with ``|b| > 1`` is unstable: run for more steps than it
# was trained on, its activity grows without bound.
solution = solve_task(task)
for k in range(task.K):
    print(f"mode {k}: b* = {solution.b[k]:.3f}, u* = {solution.u[k]:.3f}, {solution.stability[k]}, "
          f"{solution.importance[k]} importance, zero loss: {bool(solution.zero_loss[k])}")

# %%
# How they get there: theory against a trained network
# ----------------------------------------------------
# ``train_lrnn`` trains a linear RNN by full-batch gradient descent (exact gradients through time) and reads its
# modes off the weights on the theory's time axis (``t = step * lr * tau``), so both curves share one clock.
result = train_lrnn(task, lr=0.02, steps=3000, record_every=30, progress=False)
network = result.trajectory
theory = integrate(task, t_end=network.t[-1], t_eval=network.t)

fig, axes = plt.subplots(1, 4, figsize=(13, 3.2), sharex=True)
colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
for ax, name in zip(axes, ("a", "b", "c", "u")):
    for k in range(task.K):
        ax.plot(network.t, getattr(network, name)[:, k], color=colors[k], lw=2, alpha=0.6,
                label=f"mode {k}, network" if name == "a" else None)
        ax.plot(theory.t, getattr(theory, name)[:, k], color=colors[k], ls="--", lw=1.2,
                label=f"mode {k}, theory" if name == "a" else None)
        if name in ("b", "u"):
            ax.axhline(getattr(solution, name)[k], color=colors[k], ls=":", lw=0.8)
    ax.set_title(name)
    ax.set_xlabel("t (theory time)")
    ax.set_ylabel({"a": "input mode a", "b": "recurrent mode b", "c": "output mode c",
                   "u": "input-output mode u = ac"}[name])
axes[0].legend(fontsize=7)
fig.suptitle("own 8-step task: network solid, theory dashed, solve_task's end points dotted")
fig.tight_layout()
fig.savefig(figure_path, dpi=100)
print("largest |network - theory| of b:", float(np.max(np.abs(network.b - theory.b))))
