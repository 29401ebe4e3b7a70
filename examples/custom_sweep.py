"""
A sweep over custom tasks
=========================

The modes of a task do not interact: each one follows its own ODEs. So a sweep over tasks of your own making is a
single task with one mode per grid point, integrated in one call (the batched solver gives every mode its own step
size and drops it once it has converged). ``lrnn_theory.sweep`` does this for the paper's families (``TaskGrid``), for
any list of tasks (``sweep([task, "task.json", ...])``) and for one task with a field varied
(``sweep("task.json", vary="tau", values=[...])``; ``lrnn sweep`` on the command line).

The profile mixes a late-importance task and an early-importance task,

    s_i = (1 - w) lam^(T-i) + w lam^(i-1),      w from 0 to 1,

and we ask where the recurrent mode ends as the weight ``w`` of early importance grows: the integrated end points
(solid), the fixed points the flow reaches that ``sweep(..., endpoint="fixed_point")`` reads without integrating to
the end (dots), and the minimisers of the reduced energy E*(b) that ``solve_task`` finds (dashed).
"""
import sys

import matplotlib.pyplot as plt
import numpy as np

from lrnn_theory import IntegrationOptions, Task, integrate, solve_task, sweep

figure_path = sys.argv[1] if len(sys.argv) > 1 else "custom_sweep.png"

T, lam = 6, 0.6
steps = np.arange(1, T + 1)
w = np.linspace(0.0, 1.0, 101)
profiles = (1 - w)[:, None] * lam ** (T - steps) + w[:, None] * lam ** (steps - 1)   # (101, T): one row per task
task = Task(profiles, init={"a": 0.1, "b": 0.5, "c": 0.1}, name="late-to-early mixture")
tasks = [Task(profile, init={"a": 0.1, "b": 0.5, "c": 0.1}, name=f"w={x:.2f}") for x, profile in zip(w, profiles)]

# %%
# One integration for the whole sweep
# -----------------------------------
# ``converged_tol`` stops each mode once its rates fall below it; ``traj.info`` tells how many steps the slowest
# and the median mode needed.
traj = integrate(task, t_end=2000.0, n_points=400, converged_tol=1e-9)
predicted = solve_task(task, b_max=4.0)
print("solver steps: slowest mode", traj.info["steps_max"], "median", traj.info["steps_median"])
print("largest |integrated - predicted| of b:", float(np.max(np.abs(traj.b[-1] - predicted.b))))

# %%
# The same sweep as a list of tasks, end points from the fixed points
# --------------------------------------------------------------------
# ``endpoint="fixed_point"`` integrates only a short, loose check and reads each end point from the fixed-point
# conditions; a task where that is not valid (its recurrent mode runs off, or a basin boundary is too close) is
# integrated to ``t_end`` instead (``ends.integrated``), and any end point still moving there is named in a warning.
ends = sweep(tasks, IntegrationOptions(t_end=2000.0, endpoint="fixed_point"))
print("fixed points:", int((~ends.integrated).sum()), "of", len(tasks), "; largest |fixed point - integrated| of b:",
      float(np.nanmax(np.abs(ends.b[:, 0] - traj.b[-1]))))

fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
axes[0].plot(w, traj.b[-1], lw=2.5, alpha=0.6, label="integrated end point")
axes[0].plot(w[::4], ends.b[::4, 0], "o", ms=3, label="sweep, fixed-point end point")
axes[0].plot(w, predicted.b, "k--", lw=1.2, label="solve_task (argmin of E*(b))")
axes[0].axhline(1.0, color="grey", lw=0.6)
axes[0].set_xlabel("weight w of early importance")
axes[0].set_ylabel("b at the end")
axes[0].legend(fontsize=8)
axes[1].plot(w, traj.u[-1], lw=2.5, alpha=0.6, label="integrated end point")
axes[1].plot(w[::4], ends.u[::4, 0], "o", ms=3, label="sweep, fixed-point end point")
axes[1].plot(w, predicted.u, "k--", lw=1.2, label="solve_task")
axes[1].set_xlabel("weight w of early importance")
axes[1].set_ylabel("u at the end")
fig.suptitle(f"{task.K} custom tasks (T = {T}) in one integration")
fig.tight_layout()
fig.savefig(figure_path, dpi=100)
