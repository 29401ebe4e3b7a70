"""
Kernel movement: the NTK of a recurrent network
===============================================

The neural tangent kernel ``J J^T`` of a linear RNN moves during training, and more so the longer the sequences
(paper result 4). For an aligned network the kernel is a function of the modes ``a, b, c`` alone (``mode_ntk``), so
the theory predicts its movement from an integrated mode trajectory, without training
(``predicted_distance_curve``).

We train on a constant task (two modes, ``delta = 1``) for T = 1 to 6, record the exact kernel over the whitened
one-hot probe sequences, and compare its distance from the initial kernel,
``1 - <K0, K>_F / (||K0||_F ||K||_F)``, with the prediction. At T = 1 there is no recurrence and the kernel only
grows in scale: its distance stays 0.
"""
import sys

import matplotlib.pyplot as plt
import numpy as np

from lrnn_theory import Task, integrate, kernel_distance, predicted_distance_curve, train_lrnn, whitened_probe_inputs

figure_path = sys.argv[1] if len(sys.argv) > 1 else "kernel_movement.png"

fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
lengths = [1, 2, 3, 4, 6]
final = {"network": [], "theory": []}
colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(lengths)))
for color, T in zip(colors, lengths):
    task = Task.from_family("constant", T=T, delta=[1.0, 1.0], init={"a": 0.1, "b": 0.1, "c": 0.1})
    result = train_lrnn(task, lr=0.005, steps=2000, record_every=50, ntk_steps="records", progress=False)
    network = kernel_distance(result.ntk["kernels"][0], result.ntk["kernels"])
    modes = integrate(task, result.trajectory.t[-1], t_eval=result.trajectory.t)
    theory = predicted_distance_curve(modes, whitened_probe_inputs(task.T, task.K))
    axes[0].plot(result.trajectory.t, network, color=color, lw=2, alpha=0.6, label=f"T = {T}")
    axes[0].plot(result.trajectory.t, theory, color=color, ls="--", lw=1.2)
    final["network"].append(network[-1])
    final["theory"].append(theory[-1])
    print(f"T = {T}: kernel distance at the end, network {network[-1]:.4f}, theory {theory[-1]:.4f}")

axes[0].set(title="distance from the initial NTK (network solid, theory dashed)", xlabel="t (theory time)",
            ylabel="kernel distance")
axes[0].legend(fontsize=8)
axes[1].plot(lengths, final["network"], "o-", lw=2, alpha=0.6, label="network")
axes[1].plot(lengths, final["theory"], "k--", marker="x", lw=1.2, label="theory (modes only)")
axes[1].set(title="at the end of training", xlabel="sequence length T", ylabel="kernel distance")
axes[1].legend(fontsize=8)
fig.tight_layout()
fig.savefig(figure_path, dpi=100)
