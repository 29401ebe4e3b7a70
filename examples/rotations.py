"""
Rotations: a complex task
=========================

When the input-output correlations rotate from step to step, ``Sigma^(YX_i) = P D_i P^dagger`` with complex
diagonal ``D_i``, every connectivity mode is complex (paper App. N-O). A task file gives the imaginary parts in
``singular_values_imag`` or, for a family, the phases ``delta_phase`` and ``lambda_phase`` in radians. Here two
inverse-exponential modes rotate by ``pi/6`` per step, with radii 0.9 and 0.6, and their last step by ``pi/3``.

The theory integrates the Wirtinger flow of the complex modes; the network is a real linear RNN in block form (a
2x2 rotation-scaling block per complex value), trained by gradient descent and read back as complex modes. The
angle of the input-output mode u settles well before its radius: "angle first, radius later".
"""
import sys

import matplotlib.pyplot as plt
import numpy as np

from lrnn_theory import Task, integrate, polar_time_scales, solve_task, train_lrnn

figure_path = sys.argv[1] if len(sys.argv) > 1 else "rotations.png"

task = Task.from_family("inverse_exponential", T=5, delta=1.0, lam=[0.9, 0.6], delta_phase=np.pi / 3,
                        lambda_phase=np.pi / 6, init={"a": 0.1, "b": 0.1, "c": 0.1})
solution = solve_task(task)
print("zero-loss b:", np.round(solution.b, 3), " u:", np.round(solution.u, 3))

result = train_lrnn(task, lr=0.01, steps=800, record_every=8, progress=False)
network = result.trajectory
theory = integrate(task, t_end=network.t[-1], t_eval=network.t)
settle = polar_time_scales(theory)
print("theory's settling times, angle of u:", np.round(settle["u"]["angle"], 2),
      " radius of u:", np.round(settle["u"]["radius"], 2))

fig, axes = plt.subplots(1, 4, figsize=(13, 3.2), sharex=True)
colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
for name, (ax_radius, ax_angle) in (("b", axes[:2]), ("u", axes[2:])):
    net_radius, net_angle = network.polar(name)
    th_radius, th_angle = theory.polar(name)
    for k in range(task.K):
        ax_radius.plot(network.t, net_radius[:, k], color=colors[k], lw=2, alpha=0.6)
        ax_radius.plot(theory.t, th_radius[:, k], color=colors[k], ls="--", lw=1.2)
        ax_angle.plot(network.t, net_angle[:, k], color=colors[k], lw=2, alpha=0.6,
                      label=f"|lambda| = {abs(task.singular_values[k, -2]):.1f}, network" if name == "b" else None)
        ax_angle.plot(theory.t, th_angle[:, k], color=colors[k], ls="--", lw=1.2,
                      label=f"|lambda| = {abs(task.singular_values[k, -2]):.1f}, theory" if name == "b" else None)
        ax_radius.axvline(settle[name]["radius"][k], color=colors[k], ls=":", lw=0.8)
        ax_angle.axvline(settle[name]["angle"][k], color=colors[k], ls=":", lw=0.8)
    ax_radius.set_title(f"|{name}|")
    ax_angle.set_title(f"arg {name}")
    ax_radius.set_ylabel(f"|{name}|")
    ax_angle.set_ylabel(f"arg {name} (radians)")
axes[1].axhline(np.pi / 6, color="grey", lw=0.6)
axes[3].axhline(np.pi / 3, color="grey", lw=0.6)
axes[1].legend(fontsize=7)
for ax in axes:
    ax.set_xlabel("t (theory time)")
fig.suptitle("complex modes: network solid, theory dashed, 90% settling times dotted")
fig.tight_layout()
fig.savefig(figure_path, dpi=100)
