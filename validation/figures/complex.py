"""Rotational-task reproductions (App. O): Fig. A9, A10, A11, complex modes in polar coordinates.

Each figure trains ONE real LRNN in block form on a multi-mode complex task (the modes decouple, so every curve of a
figure is one mode of that network: a 2x2 rotation-scaling block per complex mode, random orthogonal U, V, R) and
integrates the complex mode flow (Wirtinger flow, eqs. 182-184) from the same initial modes. Simulation solid,
theory dashed. ``max_abs_error`` is the largest |b_sim - b_theory| or |u_sim - u_theory| (complex moduli) over all
records and modes. Settling times of the radius and the angle of b and u (``lrnn_theory.learning_order.polar_time_scales``,
fraction 0.9) are reported for theory and simulation.

* ``figA9``: constant (R_delta = 0.7, phi_delta = pi/6), inverse-exponential (R_lambda = 0.9) and exponential
  (R_lambda = 1.05), all at angle pi/6: the task trajectories d_i in the complex plane (top), radius and angle of b
  (middle) and of u (bottom).
* ``figA10``: inverse-exponential, R = 1, phi in {pi/8, -pi/8, pi/4, -3pi/4}, b(0) = 0.1: b in the complex plane,
  its radius and angle, and |u|: the angular distance from b(0) slows learning (-3pi/4 slowest).
* ``figA11``: inverse-exponential, phi = pi/6, R in {0.4, 0.9, 1, 1.05}: larger radii are learned faster.

The paper gives no T, delta (for A10, A11), initialisation of a and c, or learning rate: the values chosen are in
``PARAMETERS`` and in the JSON.
"""
from __future__ import annotations

import numpy as np

from lrnn_theory.flow import integrate
from lrnn_theory.learning_order import polar_time_scales
from lrnn_theory.stability import solve_task
from lrnn_theory.tasks import Task
from lrnn_theory.validation import train_lrnn

from . import figure, paper_feature, pyplot as _pyplot

PHI = np.pi / 6
#: Choices where the paper is silent (T, delta of A10/A11, a(0) = c(0), t_end) and the paper's own values.
PARAMETERS = {
    "T": 5,
    "init": {"a": 0.1, "b": 0.1, "c": 0.1},
    "t_end": 12.0,
    "fraction": 0.9,
    "figA9": [{"family": "constant", "delta": 0.7, "delta_phase": PHI},
              {"family": "inverse_exponential", "delta": 1.0, "lambda": 0.9, "lambda_phase": PHI},
              {"family": "exponential", "delta": 1.0, "lambda": 1.05, "lambda_phase": PHI}],
    "figA10": [{"family": "inverse_exponential", "delta": 1.0, "lambda": 1.0, "lambda_phase": phi}
               for phi in (np.pi / 8, -np.pi / 8, np.pi / 4, -3 * np.pi / 4)],
    "figA11": [{"family": "inverse_exponential", "delta": 1.0, "lambda": R, "lambda_phase": PHI}
               for R in (0.4, 0.9, 1.0, 1.05)],
}
#: Learning rates (theory time per step = lr, loss "sum_half", tau = 1) for the full and the quick run.
LR = {"full": 0.001, "quick": 0.01}
RECORDS = 600


def _label(spec) -> str:
    if spec["family"] == "constant":
        return f"constant, δ = {spec['delta']:g} e^(i{spec['delta_phase'] / np.pi:.3g}π)"
    short = {"inverse_exponential": "inv.-exp.", "exponential": "exp."}[spec["family"]]
    return f"{short}, λ = {spec['lambda']:g} e^(i{spec['lambda_phase'] / np.pi:.3g}π)"


def figure_task(name: str) -> Task:
    """The multi-mode complex task of a figure (one mode per curve), with the figure's initialisation."""
    specs = PARAMETERS[name]
    T = PARAMETERS["T"]
    rows = []
    for spec in specs:
        kw = {k: v for k, v in spec.items() if k not in ("family", "lambda")}
        rows.append(Task.from_family(spec["family"], T=T, lam=spec.get("lambda"), **kw).singular_values[0])
    return Task(np.array(rows), init=dict(PARAMETERS["init"]), name=name).as_complex()


def _run(name: str, quick: bool):
    """Train the block network and integrate the theory from its read-off initial modes."""
    task = figure_task(name)
    lr = LR["quick" if quick else "full"]
    steps = int(round(PARAMETERS["t_end"] / lr))
    run = {"lr": lr, "steps": steps, "record_every": max(1, steps // RECORDS), "loss": "sum_half", "seed": 0,
           "init": "aligned", "data": "population"}
    result = train_lrnn(task, **run)
    sim = result.trajectory
    start = task.with_init(a=sim.a[0], b=sim.b[0], c=sim.c[0]).as_complex()
    theory = integrate(start, float(sim.t[-1]), t_eval=sim.t, rtol=1e-10, atol=1e-12)
    errors = np.maximum(np.max(np.abs(sim.b - theory.b), axis=0), np.max(np.abs(sim.u - theory.u), axis=0))
    scales = {"theory": polar_time_scales(theory, PARAMETERS["fraction"]),
              "simulation": polar_time_scales(sim, PARAMETERS["fraction"])}
    return task, result, sim, theory, errors, scales, run


def _per_mode(name, task, sim, theory, errors, scales):
    sol = solve_task(task, b_max=2.0)  # zero-loss tasks: the bound is never used
    out = {}
    for k, spec in enumerate(PARAMETERS[name]):
        out[_label(spec)] = {
            "max_abs_error": float(errors[k]),
            "zero_loss_solution": {"b": [float(sol.b[k].real), float(sol.b[k].imag)],
                                   "u": [float(sol.u[k].real), float(sol.u[k].imag)],
                                   "stability": str(sol.stability[k])},
            "final_b": {"theory": [float(theory.b[-1, k].real), float(theory.b[-1, k].imag)],
                        "simulation": [float(sim.b[-1, k].real), float(sim.b[-1, k].imag)]},
            "final_u": {"theory": [float(theory.u[-1, k].real), float(theory.u[-1, k].imag)],
                        "simulation": [float(sim.u[-1, k].real), float(sim.u[-1, k].imag)]},
            "settling_times": {src: {q: {p: float(v[q][p][k]) for p in v[q]} for q in v}
                               for src, v in scales.items()},
        }
    return out


def _polar_axes(axes, sim, theory, quantity, colours):
    radius_sim, angle_sim = sim.polar(quantity)
    radius_th, angle_th = theory.polar(quantity)
    for k, colour in enumerate(colours):
        for ax, s_val, t_val in ((axes[0], radius_sim, radius_th), (axes[1], angle_sim, angle_th)):
            ax.plot(sim.t, s_val[:, k], color=colour, lw=2.4, alpha=0.55)
            ax.plot(theory.t, t_val[:, k], color=colour, lw=1.3, ls="--")
    axes[0].set_ylabel(f"radius |{quantity}|")
    axes[1].set_ylabel(f"angle arg {quantity} (rad)")
    for ax in axes:
        ax.set_xlabel("time t = steps × lr (τ = 1)")
        ax.grid(alpha=0.3)


def _legend_handles(ax, labels, colours):
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, lw=2.4, alpha=0.55, label=lab) for lab, c in zip(labels, colours)]
    handles += [Line2D([], [], color="k", lw=2.4, alpha=0.55, label="simulation"),
                Line2D([], [], color="k", lw=1.3, ls="--", label="theory")]
    ax.legend(handles=handles, fontsize=7)


def _parameters(run) -> dict:
    return {"T": PARAMETERS["T"], "init": PARAMETERS["init"], "t_end": PARAMETERS["t_end"],
            "fraction": PARAMETERS["fraction"], "tau": 1.0, "simulation": run,
            "network": "real block form: one 2x2 [[mu, -nu], [nu, mu]] block per complex mode, random orthogonal "
                       "U, V, R (seed 0), aligned init, population data",
            "time_axis": "theory time t = steps * lr (tau = 1, loss sum_half); the flow is tau dz/dt = "
                         "-2 tau dE/d(conj z) (Wirtinger factor 2, which S1 eqs. 187-189 drop)",
            "settling_time_definition": "last time |x(t) - x(end)| exceeds 10% of its largest value"}


def _figA9_features(th_u, b_exponential, u_inverse_exponential, u_exponential):
    """App. O's statements about Fig. A9 from the theory's settling times of u (``th_u``: angle and radius per mode:
    constant, inverse-exponential, exponential), the exponential mode's final b and u and the inverse-exponential
    mode's u over training."""
    excursion, final_imag = float(np.max(np.abs(u_inverse_exponential.imag))), float(u_inverse_exponential[-1].imag)
    lam = 1.05 * np.exp(1j * PHI)  # the exponential mode of PARAMETERS["figA9"] (delta = 1)
    b_star, u_star = 1 / lam, lam ** PARAMETERS["T"]
    return [
        paper_feature("angle components adapt first, radii later (App. O)",
                      "the angle of u settles before its radius",
                      {"constant": {"angle": float(th_u["angle"][0]), "radius": float(th_u["radius"][0])},
                       "exponential": {"angle": float(th_u["angle"][2]), "radius": float(th_u["radius"][2])}},
                      th_u["angle"][0] < th_u["radius"][0] and th_u["angle"][2] < th_u["radius"][2],
                      measured="settling times of u (theory) for the tasks with a complex delta",
                      reason="the derived frozen-b solution gives an angle rate 2|A|/tau independent of |u|; the "
                             "radius needs log(r*/r0) times longer"),
        paper_feature("a real delta gives u a small imaginary excursion before it settles on a real value",
                      "Im u leaves 0 and returns to it",
                      {"max_abs_imag_u": excursion, "final_imag_u": final_imag},
                      excursion > 1e-3 > abs(final_imag), measured="inverse-exponential mode (theory)",
                      tolerance=1e-3),
        paper_feature("exponential R = 1.05 converges to b = 1/lambda (|b| < 1) and u = delta lambda^T",
                      {"b": [float(b_star.real), float(b_star.imag)], "u": [float(u_star.real), float(u_star.imag)]},
                      {"b": [float(b_exponential.real), float(b_exponential.imag)],
                       "u": [float(u_exponential.real), float(u_exponential.imag)]},
                      abs(b_exponential - b_star) < 1e-3, tolerance=1e-3, measured="b (theory); u reported"),
    ]


@figure("figA9", "complex tasks (angle pi/6): task trajectories, polar radius and angle of b and u over training")
def figA9(quick: bool = False):
    plt = _pyplot()
    task, result, sim, theory, errors, scales, run = _run("figA9", quick)
    specs = PARAMETERS["figA9"]
    colours = ["tab:blue", "tab:orange", "tab:green"]
    labels = [_label(s) for s in specs]
    fig, axes = plt.subplots(3, 3, figsize=(13, 10.5))
    for k, (colour, label) in enumerate(zip(colours, labels)):
        ax = axes[0, k]
        d = task.singular_values[k]
        ax.plot(d.real, d.imag, "o-", color=colour, label=label)
        ax.plot(d.real[-1], d.imag[-1], "s", color="k", ms=5, label="step T")
        ax.plot([0], [0], "k+", ms=9, label="origin")
        ax.set_xlabel("Re d_t")
        ax.set_ylabel("Im d_t")
        ax.set_title(label, fontsize=10)
        ax.axis("equal")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    _polar_axes(axes[1, :2], sim, theory, "b", colours)
    _polar_axes(axes[2, :2], sim, theory, "u", colours)
    for row, q in ((1, "b"), (2, "u")):
        ax = axes[row, 2]
        width = 0.35
        x = np.arange(len(specs))
        th = scales["theory"][q]
        ax.bar(x - width / 2, th["angle"], width, label=f"angle of {q}", color="tab:purple")
        ax.bar(x + width / 2, th["radius"], width, label=f"radius of {q}", color="tab:gray")
        ax.set_xticks(x, ["const.", "inv.-exp.", "exp."])
        ax.set_ylabel("settling time (theory)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, axis="y")
    _legend_handles(axes[1, 0], labels, colours)
    fig.suptitle("Fig. A9: complex tasks at angle π/6, trained block-form LRNN (solid) vs complex flow (dashed)",
                 fontsize=11)
    fig.tight_layout()
    per_mode = _per_mode("figA9", task, sim, theory, errors, scales)
    th = scales["theory"]["u"]
    data = {
        "max_abs_error": float(np.max(errors)),
        "modes": per_mode,
        "paper_features": _figA9_features(th, theory.b[-1, 2], theory.u[:, 1], theory.u[-1, 2]),
        "parameters": {**_parameters(run), "tasks": specs},
    }
    return fig, data


def _order_figure(name, quick, title, statement, paper, check):
    plt = _pyplot()
    task, result, sim, theory, errors, scales, run = _run(name, quick)
    specs = PARAMETERS[name]
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    labels = [_label(s) for s in specs]
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2))
    ax = axes[0]
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 200))
    ax.plot(circle.real, circle.imag, color="0.7", lw=0.8)
    for k, colour in enumerate(colours):
        ax.plot(sim.b[:, k].real, sim.b[:, k].imag, color=colour, lw=2.4, alpha=0.55)
        ax.plot(theory.b[:, k].real, theory.b[:, k].imag, color=colour, lw=1.3, ls="--")
        target = task.singular_values[k, -2] / task.singular_values[k, -1]
        ax.plot(target.real, target.imag, "x", color=colour, ms=8)
    ax.plot(sim.b[0, 0].real, sim.b[0, 0].imag, "ko", ms=4, label="b(0)")
    ax.set_xlabel("Re b")
    ax.set_ylabel("Im b")
    ax.axis("equal")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _polar_axes(axes[1:3], sim, theory, "b", colours)
    radius_sim, _ = sim.polar("u")
    radius_th, _ = theory.polar("u")
    for k, colour in enumerate(colours):
        axes[3].plot(sim.t, radius_sim[:, k], color=colour, lw=2.4, alpha=0.55)
        axes[3].plot(theory.t, radius_th[:, k], color=colour, lw=1.3, ls="--")
    axes[3].set_ylabel("radius |u|")
    axes[3].set_xlabel("time t = steps × lr (τ = 1)")
    axes[3].grid(alpha=0.3)
    _legend_handles(axes[1], labels, colours)
    fig.suptitle(title + "; block-form LRNN (solid) vs complex flow (dashed), × = zero-loss b", fontsize=11)
    fig.tight_layout()
    per_mode = _per_mode(name, task, sim, theory, errors, scales)
    t_u = scales["theory"]["u"]["radius"]
    t_u_sim = scales["simulation"]["u"]["radius"]
    data = {
        "max_abs_error": float(np.max(errors)),
        "modes": per_mode,
        "order_by_u_radius_settling": {"theory": [labels[k] for k in np.argsort(t_u, kind="stable")],
                                       "simulation": [labels[k] for k in np.argsort(t_u_sim, kind="stable")]},
        "paper_features": [paper_feature(statement, paper, {lab: float(t) for lab, t in zip(labels, t_u)},
                                         check(t_u), measured="settling time of |u| (theory)")],
        "parameters": {**_parameters(run), "tasks": specs},
    }
    return fig, data


@figure("figA10", "inverse-exponential tasks, R = 1, phi = pi/8, -pi/8, pi/4, -3pi/4, b(0) = 0.1: angular distance")
def figA10(quick: bool = False):
    return _order_figure(
        "figA10", quick, "Fig. A10: R = 1, φ = π/8, −π/8, π/4, −3π/4, b(0) = 0.1",
        "with b(0) = +0.1, -3pi/4 is learned slowest, +-pi/8 fastest (settling time of |u|)",
        "-3pi/4 slowest; +pi/8 and -pi/8 equally fast, before pi/4",
        lambda t: t[3] == np.max(t) and abs(t[0] - t[1]) < 1e-6 and t[0] < t[2])


@figure("figA11", "inverse-exponential tasks, phi = pi/6, R = 0.4, 0.9, 1, 1.05: larger radii learn faster")
def figA11(quick: bool = False):
    return _order_figure(
        "figA11", quick, "Fig. A11: φ = π/6, R = 0.4, 0.9, 1, 1.05",
        "larger radii are learned faster (settling time of |u| decreases with R)", "faster as R grows",
        lambda t: bool(np.all(np.diff(t) < 0)))
