"""Result 2 reproduction: Fig. 3, stability and extrapolation.

Three panels (the paper does not say exactly what its axes show; notes §11 item 3):

* left: zero-loss recurrent mode b* against lambda for the inverse-exponential (b* = lambda) and exponential
  (b* = 1/lambda) families at T = 4; b* > 1 (early importance, unstable) drawn in green. Theory (``solve_task``)
  dashed; LRNNs trained with the validation harness, read off at the end of training, solid with markers.
* middle: constant task, the top curvature of tau E in (u, b) at its solution (delta, 1) against delta for several
  T (why it is "less stable" for large delta): derived Hessian (dashed) against a finite-difference Hessian of the
  residual energy (solid), so this panel's error is theory against an independent computation, not a simulation.
* right: networks trained at T = 4 (harness) and run at T' = 1..12 through ``LRNN.forward`` on whitened inputs
  (solid), against the derived closed-form extrapolation energy (dashed), for the exponential (lambda = 0.8),
  mean (delta = 1/T), sum (delta = 1) and inverse-exponential (lambda = 0.8) tasks.

``max_abs_error`` is the largest error over the simulated curves (left and right panels); the middle panel's check
is reported as ``curvature_max_rel_error``.
"""
from __future__ import annotations

import numpy as np

from lrnn_theory.tasks import Task

from . import figure, paper_feature, pyplot as _pyplot

FIG3 = {
    "T": 4,
    "init": {"a": 0.5, "b": 0.5, "c": 0.5},
    "lambdas_theory": [0.5, 1.6],
    "lambdas_simulated": {"inverse_exponential": [0.6, 0.8, 1.1, 1.3], "exponential": [0.8, 0.9, 1.1, 1.4]},
    "delta": 1.0,
    "curvature_T": [2, 4, 6],
    "curvature_deltas": [0.25, 2.0],
    "extrapolation": {"families": {"exponential": 0.8, "mean": None, "sum": None, "inverse_exponential": 0.8},
                      "T_test": list(range(1, 13))},
    "training": {"lr": 0.02, "t_end": 200.0, "loss": "sum_half", "data": "population", "init": "aligned", "seed": 0},
}



def _train(task):
    from lrnn_theory.validation import train_lrnn

    tr = FIG3["training"]
    steps = int(round(tr["t_end"] / tr["lr"]))
    return train_lrnn(task, lr=tr["lr"], steps=steps, record_every=steps, loss=tr["loss"], data=tr["data"],
                      init=tr["init"], seed=tr["seed"])


def _curvature_fd(delta: float, T: int, h: float = 1e-4) -> float:
    """Top eigenvalue of the finite-difference Hessian of tau E = 1/2 sum_i r_i^2 in (u, b) at (delta, 1)."""
    from lrnn_theory.trajectory import mode_energy

    s = np.full((1, T), delta)
    x0 = np.array([delta, 1.0])

    def energy(points):
        pts = np.atleast_2d(points)
        return mode_energy(s, pts[:, :1], pts[:, 1:], np.ones((len(pts), 1)), 1.0)[:, 0]

    H = np.empty((2, 2))
    for p in range(2):
        for q in range(2):
            e_p, e_q = np.eye(2)[p] * h, np.eye(2)[q] * h
            vals = energy(np.array([x0 + e_p + e_q, x0 + e_p - e_q, x0 - e_p + e_q, x0 - e_p - e_q]))
            H[p, q] = (vals[0] - vals[1] - vals[2] + vals[3]) / (4 * h * h)
    return float(np.linalg.eigvalsh(H)[-1])


@figure("fig3", "stability (b* > 1 unstable) and extrapolation to other lengths T' of trained networks")
def fig3(quick: bool = False):
    import sympy as sp

    from lrnn_theory.derivations import stability as st
    from lrnn_theory.extrapolation import closed_form_energy, family_task, network_extrapolation_energy
    from lrnn_theory.solutions import solve_task

    plt = _pyplot()
    T = FIG3["T"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    data = {"parameters": FIG3}
    errors = []

    # ---- left: solutions and stability -----------------------------------------------------------------------
    ax = axes[0]
    lam = np.linspace(*FIG3["lambdas_theory"], 23 if quick else 111)
    styles = {"inverse_exponential": ("tab:blue", "o"), "exponential": ("tab:orange", "s")}
    data["solutions"] = {}
    for fam, (colour, marker) in styles.items():
        sol = solve_task(Task.from_family(fam, T=T, delta=FIG3["delta"], lam=lam))
        unstable = sol.b > 1
        ax.plot(lam, np.where(unstable, np.nan, sol.b), "--", color=colour, label=f"{fam}: theory b*")
        ax.plot(lam, np.where(unstable, sol.b, np.nan), "--", color="tab:green", linewidth=2)
        sim_lam = FIG3["lambdas_simulated"][fam]
        result = _train(Task.from_family(fam, T=T, delta=FIG3["delta"], lam=sim_lam, init=FIG3["init"]))
        b_sim = result.trajectory.b[-1]
        theory = solve_task(Task.from_family(fam, T=T, delta=FIG3["delta"], lam=sim_lam))
        err = np.abs(b_sim - theory.b)
        errors.append(err.max())
        ax.plot(sim_lam, b_sim, "-", marker=marker, color=colour, alpha=0.6, label=f"{fam}: trained LRNN")
        data["solutions"][fam] = {"lambda": sim_lam, "b_simulated": b_sim, "b_theory": theory.b,
                                  "u_simulated": result.trajectory.u[-1], "u_theory": theory.u,
                                  "stability": theory.stability, "max_abs_error_b": float(err.max())}
    ax.plot([], [], "--", color="tab:green", linewidth=2, label="b* > 1: early importance, unstable")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xlabel("lambda")
    ax.set_ylabel("recurrent mode b* at the solution")
    ax.set_title(f"zero-loss solutions, T={T}")
    ax.legend(fontsize=7)

    # ---- middle: curvature of the constant task --------------------------------------------------------------
    ax = axes[1]
    hess = st.derive_constant_hessian()["hessian"]
    top = sp.lambdify((st.delta, st.T), sp.Max(*hess.eigenvals().keys()), modules="numpy")
    deltas = np.linspace(*FIG3["curvature_deltas"], 8 if quick else 30)
    rel = []
    data["curvature"] = {}
    for k, TT in enumerate(FIG3["curvature_T"]):
        theory = np.array([float(top(d, TT)) for d in deltas])
        fd = np.array([_curvature_fd(d, TT) for d in deltas])
        rel.append(np.max(np.abs(fd - theory) / theory))
        colour = f"C{k + 2}"
        ax.plot(deltas, fd, "-", color=colour, alpha=0.6, linewidth=2.5, label=f"T={TT}: finite differences")
        ax.plot(deltas, theory, "--", color=colour, label=f"T={TT}: derived Hessian")
        data["curvature"][f"T={TT}"] = {"delta": deltas, "top_eigenvalue_theory": theory, "top_eigenvalue_fd": fd}
    ax.set_yscale("log")
    ax.set_xlabel("delta (constant task)")
    ax.set_ylabel("top curvature of tau E in (u, b) at (delta, 1)")
    ax.set_title("constant task: stability depends on delta")
    ax.legend(fontsize=7)
    data["curvature_max_rel_error"] = float(max(rel))

    # ---- right: extrapolation ------------------------------------------------------------------------------------
    ax = axes[2]
    T_test = FIG3["extrapolation"]["T_test"]
    data["extrapolation"] = {}
    for k, (fam, lam_value) in enumerate(FIG3["extrapolation"]["families"].items()):
        task = family_task(fam, T, 1.0, lam_value, init=FIG3["init"])
        result = _train(task)
        U, V = result.basis["U"], result.basis["V"]
        sim = np.array([network_extrapolation_energy(result.network, family_task(fam, t, 1.0, lam_value)
                                                     .singular_values, U, V) for t in T_test])
        closed = closed_form_energy(fam, T, T_test, 1.0, lam_value)
        err = np.abs(sim - closed)
        errors.append(err.max())
        label = fam + (f" (lambda={lam_value:g})" if lam_value else "")
        ax.plot(T_test, sim, "-o", color=f"C{k}", alpha=0.6, markersize=4, label=f"{label}: trained LRNN")
        ax.plot(T_test, closed, "--", color=f"C{k}", label=f"{label}: closed form")
        data["extrapolation"][fam] = {"T_test": T_test, "energy_simulated": sim, "energy_closed_form": closed,
                                      "max_abs_error": float(err.max())}
    ax.axvline(T, color="grey", linewidth=0.8)
    ax.set_yscale("symlog", linthresh=1e-4)
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("test length T' (trained at T = 4)")
    ax.set_ylabel("extrapolation energy (loss / tau)")
    ax.set_title("extrapolation to other trajectory lengths")
    ax.legend(fontsize=7)
    fig.tight_layout()
    data["max_abs_error"] = float(max(errors))
    data["max_abs_error_definition"] = ("largest |trained LRNN - theory| over the left panel's b* and the right "
                                        "panel's extrapolation energies")
    return fig, data
