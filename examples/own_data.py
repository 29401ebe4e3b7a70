"""
Your own data
=============

From recorded sequences to the theory's prediction: estimate the task of the data (``Task.from_data``, the
estimator behind ``lrnn fit-task``), train a linear RNN on the same arrays, and lay the theory of the estimated task
(dashed) over the network (solid).

The "recordings" here are made up so that the script runs on its own: ``P`` trials of white-noise stimuli ``X``
(shape ``(P, T, N_x)``; drawn, then made exactly white as a sum over trials, as the theory assumes) and responses
``Y`` (shape ``(P, N_y)``) of a hidden linear filter, plus a little measurement noise. With your data, load ``X``
and ``Y`` instead (for example ``np.load("data.npz")``). From the command line, the same comparison is
``lrnn fit-task data.npz`` (the task and its diagnostic) and ``lrnn validate --data data.npz --lr ETA --steps S
--plot overlay.png``.
"""
import sys

import matplotlib.pyplot as plt
import numpy as np

from lrnn_theory import Task, integrate, train_lrnn

figure_path = sys.argv[1] if len(sys.argv) > 1 else "own_data.png"

rng = np.random.default_rng(0)
P, T, N = 200, 5, 3                                  # trials, steps, input and output channels
X = np.linalg.qr(rng.standard_normal((P, T * N)))[0].reshape(P, T, N)   # sum_p x_(p,i) x_(p,j)^T = delta_ij I
hidden_filter = np.array([[0.30, 0.40, 0.55, 0.75, 1.00],                 # per mode and step: what we hope to find
                          [0.05, 0.10, 0.20, 0.40, 0.80],
                          [0.20, 0.20, 0.25, 0.30, 0.40]])
U, _ = np.linalg.qr(rng.standard_normal((N, N)))
V, _ = np.linalg.qr(rng.standard_normal((N, N)))
Y = np.einsum("yk,ki,xk,pix->py", U, hidden_filter, V, X) + 0.005 * rng.standard_normal((P, N))

# %%
# The task of the data
# --------------------
# The estimate finds one pair of bases shared by every step's input-output correlation and reads the singular
# values off them; its diagnostic says how far the data are from the theory's assumptions (0 when one pair of
# bases diagonalises every step's correlation).
task = Task.from_data(X, Y)
print("estimated singular values:\n", np.round(task.singular_values, 3))
print("fraction of the correlations off the shared bases' diagonal:",
      f"{task.estimate.diagnostic['off_diagonal_fraction']:.2g}")

# %%
# Network and theory
# ------------------
# ``train_lrnn(None, X=X, Y=Y)`` trains on the arrays themselves and reads the modes in the bases it estimated
# (``result.task``); the theory starts from the network's first read-off modes and runs on the same clock.
result = train_lrnn(None, X=X, Y=Y, lr=0.02, steps=2000, record_every=20, progress=False)
network = result.trajectory
start = result.task.with_init(a=network.a[0], b=network.b[0], c=network.c[0])
theory = integrate(start, t_end=network.t[-1], t_eval=network.t)
print("largest |network - theory|:", {q: round(float(np.max(np.abs(getattr(network, q) - getattr(theory, q)))), 3)
                                      for q in ("a", "b", "c", "u")})

fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
for k in range(result.task.K):
    axes[0].plot(np.arange(1, T + 1), result.task.singular_values[k], "o-", color=colors[k], label=f"mode {k}")
    for ax, name in zip(axes[1:], ("b", "u")):
        ax.plot(network.t, getattr(network, name)[:, k], color=colors[k], lw=2, alpha=0.6)
        ax.plot(theory.t, getattr(theory, name)[:, k], color=colors[k], ls="--", lw=1.2)
axes[0].set(title="task estimated from the data", xlabel="step i", ylabel="singular value")
axes[0].legend(fontsize=8)
axes[1].set(title="b: network solid, theory dashed", xlabel="t (theory time)", ylabel="recurrent mode b")
axes[2].set(title="u: network solid, theory dashed", xlabel="t (theory time)", ylabel="input-output mode u = ac")
fig.tight_layout()
fig.savefig(figure_path, dpi=100)
