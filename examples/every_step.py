"""
Outputs at every step
=====================

A task with ``"outputs": "every_step"`` reads the network out after every step, not only after the last one (paper
App. M). Its singular values have shape ``(K, T, T)``: entry ``[k, t-1, i-1]`` couples the input at step ``i`` to
the output at time ``t`` (zero for ``i > t``). The engine takes such tasks through their task sums by lag ``t - i``,
so ``integrate``, ``solve_task`` and the trained networks work on them unchanged.

Here the same inverse-exponential profile (``delta = 1``, ``lambda = 0.7``, T = 5) is learned twice: read out at
every step and at the final step only. The network (solid) follows the theory (dashed) in both. With every-step
outputs the recurrent mode converges to ``lambda`` itself, the only family with a zero-loss solution there.
"""
import sys

import matplotlib.pyplot as plt

from lrnn_theory import Task, integrate, simulate

figure_path = sys.argv[1] if len(sys.argv) > 1 else "every_step.png"

tasks = {"every step": Task.inverse_exponential(delta=1.0, lam=0.7, T=5, outputs="every_step"),
         "final step only": Task.inverse_exponential(delta=1.0, lam=0.7, T=5)}
print("every-step singular values, output time x input step:\n", tasks["every step"].singular_values[0].round(3))

fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharex=True)
for color, (label, task) in zip(("C0", "C1"), tasks.items()):
    network = simulate(task, lr=0.01, steps=800)     # exact gradient descent, modes read off the weights
    theory = integrate(task, t_end=network.t[-1], t_eval=network.t)
    print(f"{label}: b network {network.b[-1, 0]:.4f}, theory {theory.b[-1, 0]:.4f}")
    for ax, name in zip(axes, ("b", "u")):
        ax.plot(network.t, getattr(network, name)[:, 0], color=color, lw=2, alpha=0.6, label=f"{label}, network")
        ax.plot(theory.t, getattr(theory, name)[:, 0], color=color, ls="--", lw=1.2, label=f"{label}, theory")
axes[0].axhline(0.7, color="grey", lw=0.6)
axes[0].set(title="recurrent mode b (grey: lambda)", xlabel="t (theory time)", ylabel="b")
axes[1].set(title="input-output mode u", xlabel="t (theory time)", ylabel="u = ac")
axes[0].legend(fontsize=8)
fig.tight_layout()
fig.savefig(figure_path, dpi=100)
