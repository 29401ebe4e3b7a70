"""Every-step outputs (App. M): our own figure ``figM``, since the paper has none for this case.

For a constant and an inverse-exponential profile (and an exponential one, where the two read-outs settle at
different solutions), the network is trained once with outputs at every step (``outputs="every_step"``,
s_(t,i) = delta f(lambda, t, i)) and once with the final output only (s_i = delta f(lambda, i), the same family):
trained networks (the validation harness, aligned init, population data) solid, the integrated mode flow dashed.
Every output carries the input of its own step with no recurrent factor, so A(b) at b = 0 is T delta instead of
delta: u is learned about T times faster. Where a zero-loss solution exists (constant, inverse-exponential) both
read-outs converge to the same b; for the exponential profile the every-step task has no zero-loss solution and
its converged b differs from the final-output b = 1/lambda. ``paper_features`` (``figM_features``) judges App. M's
statements, and the speed-up, from these numbers.
"""
from __future__ import annotations

import numpy as np

from lrnn_theory.flow import integrate
from lrnn_theory.frozen import task_sums_at
from lrnn_theory.learning_order import time_to_fraction
from lrnn_theory.plotting import tight_layout
from lrnn_theory.stability import solve_task
from lrnn_theory.tasks import Task
from lrnn_theory.validation import simulate

from . import figure, paper_feature, progress, pyplot

#: Our choices (the paper has no figure for App. M).
FIGM = {"T": 5, "delta": 1.0, "init": 0.1, "t_end": 6.0, "fraction": 0.9,
        "profiles": [{"family": "constant", "lambda": None, "label": "constant: s = δ"},
                     {"family": "inverse_exponential", "lambda": 0.7, "label": "inverse-exponential: δ λ^(t−i), λ=0.7"},
                     {"family": "exponential", "lambda": 1.2, "label": "exponential: δ λ^i, λ=1.2"}]}
#: Learning rates (theory time per step = lr, loss "sum_half", tau = 1) for the full and the quick run.
LR = {"full": 0.0005, "quick": 0.002}
RECORDS = 300
#: |trained - target| below which a converged b or u counts as the stated value.
CONVERGED = 1e-3
COLOURS = {"every_step": "tab:red", "final": "tab:blue"}
READOUT = {"every_step": "every step", "final": "final output only"}


def figM_tasks() -> list:
    """[(profile spec, every-step task, final-output task)] of the figure."""
    init = {x: FIGM["init"] for x in "abc"}
    out = []
    for spec in FIGM["profiles"]:
        pair = {outputs: Task.from_family(spec["family"], T=FIGM["T"], delta=FIGM["delta"], lam=spec["lambda"],
                                          init=init, outputs=outputs, name=f"{spec['family']} ({outputs})")
                for outputs in ("every_step", "final")}
        out.append((spec, pair["every_step"], pair["final"]))
    return out


def figM_features(results: dict, tolerance: float = CONVERGED) -> list:
    """App. M's statements that figM measures, from its per-profile numbers (``results[family][outputs]``).

    ``results`` holds, per profile family and read-out ("every_step", "final"), the times to 90% of the final u
    (``t90_u``), the trained network's and the theory's final b and u (``final``) and the solution found by
    ``solve_task`` (``solution``: b, u, zero_loss, energy).
    """
    lam = {spec["family"]: 1.0 if spec["lambda"] is None else spec["lambda"] for spec in FIGM["profiles"]}
    delta = FIGM["delta"]
    speed_up = {fam: {src: entry["final"]["t90_u"][src] / entry["every_step"]["t90_u"][src]
                      for src in ("theory", "simulation")} for fam, entry in results.items()}
    zero_loss = [fam for fam in results if fam != "exponential"]  # s_(t,i) = delta lambda^(t-i)
    final = {fam: {out: {q: results[fam][out]["final"][q]["simulation"] for q in ("b", "u")}
                   for out in ("every_step", "final")} for fam in results}
    features = [
        paper_feature("with outputs at every step u is learned faster than with the final output only",
                      "A(b) = sum_t sum_(i<=t) b^(t-i) s_(t,i) (eq. 157) is about T times the final-output A(b) near "
                      "b = 0, so u grows faster (our reading: App. M has no figure)",
                      speed_up, all(v > 1 for f in speed_up.values() for v in f.values()), by_construction=False,
                      measured="speed-up: time to 90% of the final u, final output only over every step"),
        paper_feature("profiles s_(t,i) = delta lambda^(t-i) have an every-step zero-loss solution b = lambda, "
                      "u = delta, and training converges to it",
                      {fam: {"b": lam[fam], "u": delta} for fam in zero_loss},
                      {fam: {**final[fam]["every_step"], "zero_loss": results[fam]["every_step"]["solution"]
                             ["zero_loss"]} for fam in zero_loss},
                      all(results[fam]["every_step"]["solution"]["zero_loss"]
                          and abs(final[fam]["every_step"]["b"] - lam[fam]) < tolerance
                          and abs(final[fam]["every_step"]["u"] - delta) < tolerance for fam in zero_loss),
                      by_construction=False, tolerance=tolerance,
                      measured="trained network's final b and u, every-step read-out"),
        paper_feature("with a zero-loss solution both read-outs converge to the same b",
                      {fam: lam[fam] for fam in zero_loss},
                      {fam: {out: final[fam][out]["b"] for out in final[fam]} for fam in zero_loss},
                      all(abs(final[fam]["every_step"]["b"] - final[fam]["final"]["b"]) < tolerance
                          for fam in zero_loss), by_construction=False, tolerance=tolerance,
                      measured="trained networks' final b, every step against final output only"),
    ]
    if "exponential" in results:
        exp, b_exp = results["exponential"]["every_step"], final["exponential"]["every_step"]["b"]
        b_final = final["exponential"]["final"]["b"]
        features.append(paper_feature(
            "the exponential profile s_(t,i) = delta lambda^i has no every-step zero-loss solution and converges "
            "elsewhere (neither b = lambda nor the final-output b = 1/lambda)",
            "zero loss only for s_(t,i) = delta lambda^(t-i)",
            {"b_every_step": b_exp, "b_final_output": b_final, "lambda": lam["exponential"],
             "every_step_solution_energy": exp["solution"]["energy"],
             "every_step_zero_loss": exp["solution"]["zero_loss"]},
            not exp["solution"]["zero_loss"] and exp["solution"]["energy"] > tolerance
            and abs(b_exp - lam["exponential"]) > tolerance and abs(b_exp - b_final) > tolerance,
            by_construction=False, tolerance=tolerance,
            measured="trained networks' final b; solve_task's every-step solution"))
    return features


@figure("figM", "every-step outputs (App. M): network vs theory, beside the final-output task of the same profile")
def figM(quick: bool = False):
    plt = pyplot()
    lr = LR["quick" if quick else "full"]
    steps = int(round(FIGM["t_end"] / lr))
    run = {"lr": lr, "steps": steps, "record_every": max(1, steps // RECORDS), "loss": "sum_half", "seed": 0,
           "init": "aligned", "data": "population"}
    tasks = figM_tasks()
    fig, axes = plt.subplots(2, len(tasks), figsize=(4.6 * len(tasks), 7.0), squeeze=False)
    results, errors = {}, []
    for col, (spec, every, final) in enumerate(progress(tasks, "profiles (every step and final output)")):
        entry = {}
        for task in (every, final):
            sim = simulate(task, **run)
            theory = integrate(task, sim.t[-1], t_eval=sim.t, rtol=1e-10, atol=1e-12)
            err = {q: float(np.max(np.abs(getattr(sim, q) - getattr(theory, q)))) for q in ("a", "b", "c", "u")}
            errors.append(max(err.values()))
            solution = solve_task(task)
            A0, B0 = task_sums_at(task, task.init.b)
            entry[task.outputs] = {
                "max_abs_error": err,
                "t90_u": {"theory": float(time_to_fraction(theory.t, theory.u, FIGM["fraction"])[0]),
                          "simulation": float(time_to_fraction(sim.t, sim.u, FIGM["fraction"],
                                                               final=theory.u[-1])[0])},
                "final": {"b": {"theory": float(theory.b[-1, 0]), "simulation": float(sim.b[-1, 0])},
                          "u": {"theory": float(theory.u[-1, 0]), "simulation": float(sim.u[-1, 0])}},
                "solution": {"b": float(solution.b[0]), "u": float(solution.u[0]),
                             "zero_loss": bool(solution.zero_loss[0]), "energy": float(solution.energy[0])},
                "A_b0": float(A0[0]), "B_b0": float(B0[0]), "initial_rate_2A_over_tau": float(2 * A0[0] / task.tau),
            }
            colour = COLOURS[task.outputs]
            for row, q in enumerate(("b", "u")):
                ax = axes[row, col]
                ax.plot(sim.t, getattr(sim, q)[:, 0], color=colour, lw=2.4, alpha=0.55,
                        label=f"network, {READOUT[task.outputs]}")
                ax.plot(theory.t, getattr(theory, q)[:, 0], color=colour, lw=1.3, ls="--",
                        label=f"theory, {READOUT[task.outputs]}")
                ax.axhline(getattr(solution, q)[0], color=colour, lw=0.8, ls=":")
        results[spec["family"]] = entry
        axes[0, col].set_title(spec["label"], fontsize=10)
        for row, q in enumerate(("b", "u")):
            axes[row, col].set_xlabel("time t = steps × lr (τ = 1)")
            axes[row, col].set_ylabel("recurrent mode b" if q == "b" else "input-output mode u = ac")
            axes[row, col].grid(alpha=0.3)
        axes[1, col].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"Every-step outputs (App. M) vs the final output only, T={FIGM['T']}, δ={FIGM['delta']:g}, "
                 f"a=b=c={FIGM['init']:g}: network solid, theory dashed, solutions dotted", fontsize=11)
    tight_layout(fig)
    data = {
        "max_abs_error": float(max(errors)),
        "profiles": results,
        "speed_up_t90_final_over_every_step": {
            fam: entry["final"]["t90_u"]["theory"] / entry["every_step"]["t90_u"]["theory"]
            for fam, entry in results.items()},
        "paper_features": figM_features(results),
        "parameters": {**{k: v for k, v in FIGM.items() if k != "profiles"},
                       "profiles": [{k: v for k, v in p.items() if k != "label"} for p in FIGM["profiles"]],
                       "tau": 1.0, "simulation": run, "hidden": 1,
                       "time_axis": "theory time t = steps * lr (tau = 1, loss sum_half)",
                       "t90_definition": "first time u reaches 90% of its final (theory) value"},
    }
    return fig, data
