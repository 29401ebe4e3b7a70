"""Fig. 3 reproduction (result 2, paper §3.3, App. F): stability and extrapolation, one column per task family.

Columns constant (against delta), inverse-exponential and exponential (against lambda), with the solution b* on top
and u* below (theory, ``solve_task``, dashed; b* > 1, early importance, unstable, green dashed as in the paper), and
LRNNs trained with the validation harness read off at the end of training (simulation, markers). The constant
column also trains at one fixed learning rate over delta: small delta converges, large delta does not (the solution
b = 1 with a large u is "less stable"). The last column: networks trained at T = 4 run at T' = 1..12 through
``LRNN.forward`` on whitened inputs (solid) against the derived closed-form extrapolation energy (dashed), for the
exponential (lambda = 0.8), mean (delta = 1/T), sum (delta = 1) and inverse-exponential (lambda = 0.8) tasks.

The paper does not say exactly what its axes show (notes §11 item 3); these are the solution values and the
extrapolation error. ``max_abs_error`` is the largest error over the simulated points and curves.
"""
from __future__ import annotations

import numpy as np

from lrnn_theory.errors import DivergenceError
from lrnn_theory.extrapolation import closed_form_energy, family_task, network_extrapolation_energy
from lrnn_theory.plotting import tight_layout
from lrnn_theory.stability import solve_task
from lrnn_theory.tasks import Task
from lrnn_theory.validation import train_lrnn

from . import figure, paper_feature, progress, pyplot as _pyplot

FIG3 = {
    "T": 4,
    "init": {"a": 0.5, "b": 0.5, "c": 0.5},
    "delta": 1.0,
    "families": {
        "constant": {"x": "delta", "theory": [0.25, 3.0], "simulated": [0.5, 1.0, 1.5, 2.0]},
        "inverse_exponential": {"x": "lambda", "theory": [0.5, 1.6], "simulated": [0.6, 0.8, 1.1, 1.3]},
        "exponential": {"x": "lambda", "theory": [0.5, 1.6], "simulated": [0.8, 0.9, 1.1, 1.4]},
    },
    "constant_stability": {"lr": 0.02, "t_end": 50.0, "deltas": {"full": [0.5, 1.0, 1.5, 2.0, 2.5, 3.0],
                                                                  "quick": [0.5, 1.5, 2.5, 3.0]},
                           "converged_tol": 1e-3},
    "extrapolation": {"families": {"exponential": 0.8, "mean": None, "sum": None, "inverse_exponential": 0.8},
                      "T_test": list(range(1, 13))},
    "training": {"lr": 0.02, "t_end": 200.0, "loss": "sum_half", "data": "population", "init": "aligned", "seed": 0},
    "agreement_tol": 1e-3,
}
TITLES = {"constant": "constant f = 1", "inverse_exponential": "inverse-exponential f = λ^(T−t)",
          "exponential": "exponential f = λ^t"}


def _train(task, lr=None, t_end=None):
    tr = FIG3["training"]
    lr = tr["lr"] if lr is None else lr
    steps = int(round((tr["t_end"] if t_end is None else t_end) / lr))
    return train_lrnn(task, lr=lr, steps=steps, record_every=steps, loss=tr["loss"], data=tr["data"],
                      init=tr["init"], seed=tr["seed"])


def _family_task(fam, values, T, **kw):
    if fam == "constant":
        return Task.from_family(fam, T=T, delta=values, **kw)
    return Task.from_family(fam, T=T, delta=FIG3["delta"], lam=values, **kw)


def constant_stability(deltas, T: int) -> dict:
    """Train the constant task at one fixed learning rate for each delta: "converged", "diverged" or "not converged"."""
    cs = FIG3["constant_stability"]
    outcome, b_end = [], []
    for d in progress(list(deltas), "constant task at one fixed lr"):
        try:
            traj = _train(Task.constant(delta=d, T=T, init=FIG3["init"]), lr=cs["lr"], t_end=cs["t_end"]).trajectory
        except DivergenceError:
            outcome.append("diverged")
            b_end.append(np.nan)
            continue
        b, u = traj.b[-1, 0], traj.u[-1, 0]
        ok = abs(b - 1) < cs["converged_tol"] and abs(u - d) < cs["converged_tol"]
        outcome.append("converged" if ok else "not converged")
        b_end.append(float(b))
    return {"delta": list(deltas), "outcome": outcome, "b_end": b_end, "lr": cs["lr"], "t_end": cs["t_end"]}


@figure("fig3", "stability (b* > 1 unstable) per family, u* beside b*, and extrapolation to other lengths T'")
def fig3(quick: bool = False):
    plt = _pyplot()
    T = FIG3["T"]
    fig = plt.figure(figsize=(18, 7.2))
    grid = fig.add_gridspec(2, 4)
    data = {"parameters": FIG3, "solutions": {}}
    errors, features = [], []
    tol = FIG3["agreement_tol"]
    for col, (fam, spec) in enumerate(progress(list(FIG3["families"].items()), "families (train, solve)")):
        ax_b = fig.add_subplot(grid[0, col])
        ax_u = fig.add_subplot(grid[1, col], sharex=ax_b)
        x = np.linspace(*spec["theory"], 23 if quick else 111)
        sol = solve_task(_family_task(fam, x, T))
        unstable = sol.b > 1 + 1e-9
        for ax, q in ((ax_b, sol.b), (ax_u, sol.u)):
            ax.plot(x, np.where(unstable, np.nan, q), "--", color="tab:blue", label="theory (stable)")
            ax.plot(x, np.where(unstable, q, np.nan), "--", color="tab:green", linewidth=2.2,
                    label="theory, b* > 1: early importance, unstable")
        sim_x = spec["simulated"]
        result = _train(_family_task(fam, sim_x, T, init=FIG3["init"]))
        theory = solve_task(_family_task(fam, sim_x, T))
        b_sim, u_sim = result.trajectory.b[-1], result.trajectory.u[-1]
        err = max(np.abs(b_sim - theory.b).max(), np.abs(u_sim - theory.u).max())
        errors.append(err)
        ax_b.plot(sim_x, b_sim, "o", color="k", markerfacecolor="none", markersize=7, label="trained LRNN")
        ax_u.plot(sim_x, u_sim, "o", color="k", markerfacecolor="none", markersize=7)
        ax_b.axhline(1.0, color="grey", linewidth=0.8)
        data["solutions"][fam] = {spec["x"]: sim_x, "b_simulated": b_sim, "b_theory": theory.b,
                                  "u_simulated": u_sim, "u_theory": theory.u, "stability": theory.stability,
                                  "max_abs_error": float(err)}
        sim_x = np.asarray(sim_x, float)
        if fam == "constant":
            expect_b, expect_u, unstable_when = np.ones_like(sim_x), sim_x, "never (b* = 1, marginal)"
            stab = constant_stability(FIG3["constant_stability"]["deltas"]["quick" if quick else "full"], T)
            data["constant_stability"] = stab
            bad_pts = [d for d, o in zip(stab["delta"], stab["outcome"]) if o != "converged"]
            ax_b.plot(bad_pts, np.ones(len(bad_pts)), "x", color="tab:red", markersize=9, mew=2,
                      label=f"GD at lr={stab['lr']:g} does not converge")
            good = [o == "converged" for o in stab["outcome"]]
            tail = bool(any(good) and not all(good) and good == sorted(good, reverse=True))
            features.append(paper_feature(
                "constant: stable for small delta, less stable for large delta", "stability depends on delta",
                {"delta": stab["delta"], "outcome": stab["outcome"]}, tail, by_construction=False,
                measured=f"training at one fixed lr = {stab['lr']:g}: converged for the small deltas only"))
        elif fam == "inverse_exponential":
            expect_b, expect_u, unstable_when = sim_x, np.full_like(sim_x, FIG3["delta"]), "lambda > 1"
        else:
            expect_b, expect_u, unstable_when = 1 / sim_x, FIG3["delta"] * sim_x**T, "lambda < 1"
        features.append(paper_feature(
            f"{fam}: the trained network reaches the zero-loss solution", {"b*": expect_b, "u*": expect_u},
            {"b": b_sim, "u": u_sim},
            bool(max(np.abs(b_sim - expect_b).max(), np.abs(u_sim - expect_u).max()) < tol), tolerance=tol,
            by_construction=False,
            paper_solution={"constant": "b = 1, u = delta", "inverse_exponential": "b = lambda, u = delta",
                            "exponential": "b = 1/lambda, u = delta lambda^T"}[fam]))
        labelled = np.array(theory.stability) == "unstable"
        if fam == "constant":
            # "never unstable" could not fail (b* = 1 is the threshold itself); what can: every delta is classified
            # marginal (between stable and unstable) and the trained b sits on b = 1.
            features.append(paper_feature(
                "constant: b* = 1 sits between stable and unstable (marginal) for every delta", unstable_when,
                {"delta": sim_x, "b_simulated": b_sim, "stability": list(theory.stability)},
                bool(np.all(np.array(theory.stability) == "marginal") and np.all(np.abs(b_sim - 1) < tol)),
                by_construction=False, tolerance=tol,
                measured="solve_task's stability label and the trained network's b"))
        else:
            expected = (sim_x > 1) if fam == "inverse_exponential" else (sim_x < 1)
            features.append(paper_feature(
                f"{fam}: unstable (b* > 1, early importance) when {unstable_when}", unstable_when,
                {spec["x"]: sim_x, "b_simulated": b_sim, "unstable": (b_sim > 1 + tol)},
                bool(np.array_equal(b_sim > 1 + tol, expected) and np.array_equal(labelled, expected)),
                by_construction=False, measured="trained b above 1 and solve_task's label, at the simulated x"))
        ax_b.set_title(f"{TITLES[fam]} (T={T})", fontsize=10)
        ax_b.set_ylabel("recurrent mode b*")
        ax_u.set_ylabel("input-output mode u*")
        ax_u.set_xlabel("δ" if spec["x"] == "delta" else f"λ (δ={FIG3['delta']:g})")
        for ax in (ax_b, ax_u):
            ax.grid(alpha=0.3)
            ax.ticklabel_format(axis="y", useOffset=False)
        ax_b.set_ylim(0.0, 2.1)
        ax_u.set_ylim(0.0, max(1.5, 1.1 * float(np.nanmax(sol.u))))
        if col == 0:
            family_handles, family_labels = ax_b.get_legend_handles_labels()
    fig.suptitle("Fig. 3: dynamics with early importance are unstable (green dashed: b* > 1); theory dashed, trained "
                 "LRNNs markers", fontsize=11)

    # ---- right: extrapolation ------------------------------------------------------------------------------------
    ax = fig.add_subplot(grid[:, 3])
    data["extrapolation"] = _extrapolation_panel(ax, T)
    errors += [entry["max_abs_error"] for entry in data["extrapolation"].values()]
    # Legends below the axes, never over the curves.
    tight_layout(fig, rect=(0, 0.1, 1, 1))
    fig.legend(family_handles, family_labels, loc="lower center", bbox_to_anchor=(0.37, 0.0), ncol=2, fontsize=8,
               frameon=False)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize=6.5, frameon=False)
    features += _extrapolation_features(data["extrapolation"], T)
    data["max_abs_error"] = float(max(errors))
    data["max_abs_error_definition"] = ("largest |trained LRNN - theory| over the family columns' b* and u* and the "
                                        "extrapolation energies")
    data["paper_features"] = features
    return fig, data


def _extrapolation_panel(ax, T: int) -> dict:
    """Fig. 3 right: each family trained at T, its loss at every T' against the closed form; the panel's data."""
    T_test = FIG3["extrapolation"]["T_test"]
    out = {}
    for k, (fam, lam_value) in enumerate(progress(list(FIG3["extrapolation"]["families"].items()),
                                                  "extrapolation (train at T = 4, run at T')")):
        task = family_task(fam, T, 1.0, lam_value, init=FIG3["init"])
        result = _train(task)
        U, V = result.basis["U"], result.basis["V"]
        sim = np.array([network_extrapolation_energy(result.network, family_task(fam, t, 1.0, lam_value)
                                                     .singular_values, U, V) for t in T_test])
        closed = closed_form_energy(fam, T, T_test, 1.0, lam_value)
        err = np.abs(sim - closed)
        label = fam + (f" (lambda={lam_value:g})" if lam_value else "")
        ax.plot(T_test, sim, "-o", color=f"C{k}", alpha=0.6, markersize=4, label=f"{label}: trained LRNN")
        ax.plot(T_test, closed, "--", color=f"C{k}", label=f"{label}: closed form")
        out[fam] = {"T_test": T_test, "energy_simulated": sim, "energy_closed_form": closed,
                    "max_abs_error": float(err.max())}
    ax.axvline(T, color="grey", linewidth=0.8)
    ax.set_yscale("symlog", linthresh=1e-4)
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("test length T' (trained at T = 4)")
    ax.set_ylabel("extrapolation energy (loss / tau)")
    ax.set_title("extrapolate to other trajectory lengths T'", fontsize=10)
    return out


def _extrapolation_features(ext_data: dict, T: int) -> list:
    """The paper's extrapolation statements, read from the trained networks' losses at T'."""
    T_test = FIG3["extrapolation"]["T_test"]
    features = []
    exp_energy = np.asarray(ext_data["exponential"]["energy_simulated"])
    t_test = np.asarray(T_test)
    below, above = exp_energy[t_test <= T][::-1], exp_energy[t_test >= T]
    grows = bool(np.all(np.diff(below) > 0) and np.all(np.diff(above) > 0) and exp_energy[t_test == T][0] < 1e-6)
    features.append(paper_feature(
        "exponential: u* = delta lambda^T depends on T and does not extrapolate; the error grows with |T' - T|",
        "grows with |T' - T|", {"T_test": T_test, "energy": exp_energy}, grows, by_construction=False,
        measured="trained network's loss at T' (LRNN.forward)"))
    mean_energy = np.asarray(ext_data["mean"]["energy_simulated"])
    features.append(paper_feature("mean integration (u = 1/T) does not extrapolate", "error > 0 for T' != T",
                                  {"T_test": T_test, "energy": mean_energy},
                                  bool(np.all(mean_energy[t_test != T] > 1e-6)), by_construction=False,
                                  measured="trained network's loss at T' (LRNN.forward)"))
    perfect = {fam: float(np.max(ext_data[fam]["energy_simulated"])) for fam in ("inverse_exponential", "sum")}
    features.append(paper_feature("inverse-exponential and sum solutions extrapolate perfectly", 0.0, perfect,
                                  all(v < 1e-6 for v in perfect.values()), by_construction=False,
                                  measured="largest extrapolation energy over T' (trained networks)"))
    return features
