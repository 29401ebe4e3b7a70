"""Rotational-task reproductions (App. O): Fig. A9, A10, A11, complex modes in polar coordinates.

Each figure trains ONE real LRNN in block form on a multi-mode complex task (the modes decouple, so every curve of a
figure is one mode of that network: a 2x2 rotation-scaling block per complex mode, random orthogonal U, V, R) and
integrates the complex mode flow (Wirtinger flow, eqs. 182-184) from the same initial modes. Simulation solid,
theory dashed. ``max_abs_error`` is the largest |b_sim - b_theory| or |u_sim - u_theory| (complex moduli) over all
records and modes. Settling times of the radius and the angle of b and u (``lrnn_theory.learning_order.polar_time_scales``,
fraction 0.9) are reported for theory and simulation.

* ``figA9``: constant (R_delta = 0.7, phi_delta = pi/6), inverse-exponential (R_lambda = 0.9) and exponential
  (R_lambda = 1.05), all at angle pi/6, one column per task: the task trajectory d_i in the complex plane (top),
  radius (orange) and angle (blue) of b (middle) and of u (bottom), coloured as the paper.
* ``figA10``: inverse-exponential, R = 1, phi in {pi/8, -pi/8, pi/4, -3pi/4}, b(0) = 0.1: the task trajectories
  (top row), b and u in the complex plane, the radius and angle of b and of u: the angular distance from b(0) slows
  learning (-3pi/4 slowest).
* ``figA11``: inverse-exponential, phi = pi/6, R in {0.4, 0.9, 1, 1.05}, the same panels: larger radii are learned
  faster.

Fig. A10 and A11 also judge App. O's rotation statements, measured from the run: the direction each task trajectory
turns (R sin phi > 0 clockwise), spiral source / limit cycle / sink by R, the sign and size of u's imaginary excursion
in the trained network, and (A11) R = 1.05's |b| > 1, unstable.

The paper gives no T, delta (for A10, A11), initialisation of a and c, or learning rate: the values chosen are in
``PARAMETERS`` and in the JSON.
"""
from __future__ import annotations

import numpy as np

from lrnn_theory.flow import integrate
from lrnn_theory.learning_order import polar_time_scales
from lrnn_theory.plotting import tight_layout
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


def _figure_legend(fig, labels, colours, extra=()):
    """One legend below the panels (never over the curves): a line per colour, then simulation and theory."""
    Line2D = _pyplot().Line2D
    handles = [Line2D([], [], color=c, lw=2.4, alpha=0.55, label=lab) for lab, c in zip(labels, colours)]
    handles += list(extra)
    handles += [Line2D([], [], color="k", lw=2.4, alpha=0.55, label="simulation (trained LRNN)"),
                Line2D([], [], color="k", lw=1.3, ls="--", label="theory (complex flow)")]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 4), fontsize=8, frameon=False)


def _task_trajectory(ax, d, colour, label):
    """The task trajectory d_t (t = 1..T) in the complex plane: arrows along t, step T marked."""
    ax.plot(d.real, d.imag, "o-", color=colour, ms=4)
    for t in range(len(d) - 1):
        ax.annotate("", xy=(d[t + 1].real, d[t + 1].imag), xytext=(d[t].real, d[t].imag),
                    arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.2})
    ax.plot(d.real[-1], d.imag[-1], "s", color="k", ms=5)
    ax.plot([0], [0], "k+", ms=9)
    ax.set_xlabel("Re d_t")
    ax.set_ylabel("Im d_t")
    ax.set_title(label, fontsize=9)
    ax.axis("equal")
    ax.grid(alpha=0.3)


def rotation_direction(d) -> list:
    """Per mode (rows of d, (K, T) complex), how the task trajectory turns as t runs 1..T: "clockwise" (every step's
    angle increment arg(d_(t+1) / d_t) < 0), "counter-clockwise" (all > 0) or "none"."""
    turns = np.angle(d[:, 1:] / d[:, :-1])
    return ["clockwise" if np.all(row < -1e-12) else "counter-clockwise" if np.all(row > 1e-12) else "none"
            for row in turns]


def spiral_kind(d) -> list:
    """Per mode, how |d_t| runs along t = 1..T: "spiral source" (grows: moves away from the origin), "spiral sink"
    (shrinks) or "limit cycle" (constant)."""
    radius = np.abs(d)
    steps = np.diff(radius, axis=1)
    scale = np.max(radius, axis=1)
    return ["limit cycle" if np.all(np.abs(row) <= 1e-9 * sc) else "spiral source" if np.all(row > 0)
            else "spiral sink" if np.all(row < 0) else "mixed" for row, sc in zip(steps, scale)]


def imaginary_excursion(u, b) -> dict:
    """u's imaginary excursion per mode from its records (n, K): the signed Im u where |Im u| is largest, the sign of
    Im b at that record, and Im u at the end."""
    at = np.argmax(np.abs(u.imag), axis=0)
    cols = np.arange(u.shape[1])
    return {"im_u_extreme": u.imag[at, cols], "im_b_there": b.imag[at, cols], "im_u_final": u.imag[-1]}


def _rotation_features(name, task, sim, per_mode, labels) -> list:
    """App. O's rotation statements for Fig. A10 / A11, measured from the run: the task trajectories' turning and
    radius (the data the top row draws), u's imaginary excursion in the trained network, and (A11) R = 1.05's |b|."""
    specs = PARAMETERS[name]
    d = task.singular_values
    R = np.array([s["lambda"] for s in specs], float)
    phi = np.array([s["lambda_phase"] for s in specs], float)
    tol = 1e-3
    direction = rotation_direction(d)
    expected_direction = ["clockwise" if r * np.sin(f) > 0 else "counter-clockwise" for r, f in zip(R, phi)]
    kind = spiral_kind(d)
    expected_kind = ["spiral source" if r < 1 else "spiral sink" if r > 1 else "limit cycle" for r in R]
    exc = imaginary_excursion(sim.u, sim.b)
    size = np.abs(exc["im_u_extreme"])
    sign_ok = bool(np.all(np.sign(exc["im_u_extreme"]) == np.sign(exc["im_b_there"]))
                   and np.all(size > tol) and np.all(np.abs(exc["im_u_final"]) < tol))
    abs_phi = np.abs(phi)
    by_mode = lambda values: {lab: v for lab, v in zip(labels, values)}  # noqa: E731
    features = [
        paper_feature("R sin(phi) > 0 turns the task trajectory clockwise, R sin(phi) < 0 counter-clockwise",
                      by_mode(expected_direction), by_mode(direction), direction == expected_direction,
                      by_construction=False,
                      measured="sign of arg(d_(t+1) / d_t) along t = 1..T of the task the network is trained on"),
        paper_feature("R < 1: spiral source; R = 1: limit cycle; R > 1: spiral sink (task trajectory)",
                      by_mode(expected_kind), by_mode(kind), kind == expected_kind, by_construction=False,
                      measured="|d_t| along t = 1..T: growing (source), constant (cycle) or shrinking (sink)"),
        paper_feature("real delta: u makes an imaginary excursion with the sign of Im b, then settles on a real value",
                      "sign of Im u = sign of Im b; Im u -> 0",
                      {"im_u_extreme": by_mode(exc["im_u_extreme"]), "im_b_there": by_mode(exc["im_b_there"]),
                       "im_u_final": by_mode(exc["im_u_final"])}, sign_ok, by_construction=False, tolerance=tol,
                      measured="trained network's u: signed Im u at its largest |Im u|, Im b at that record, Im u "
                               "at the end"),
    ]
    if len(set(np.round(abs_phi, 9))) > 1 and len(set(R)) == 1:  # A10: one radius, several |phi|
        order = np.argsort(abs_phi, kind="stable")
        grows = all((size[i] < size[j]) if abs_phi[i] < abs_phi[j] - 1e-9
                    else abs(size[i] - size[j]) <= 0.05 * max(size[i], size[j])
                    for i in order for j in order if abs_phi[i] <= abs_phi[j] + 1e-9)
        features.append(paper_feature(
            "the size of u's imaginary excursion grows with |phi|", "grows with |phi|",
            {"abs_phi_over_pi": by_mode(abs_phi / np.pi), "max_abs_im_u": by_mode(size)}, grows,
            by_construction=False, measured="trained network's largest |Im u| per mode (equal |phi| within 5%)"))
    if np.any(R > 1):
        big = int(np.argmax(R))
        b_end = float(np.abs(sim.b[-1, big]))
        label = per_mode[labels[big]]["zero_loss_solution"]["stability"]
        features.append(paper_feature(
            f"R = {R[big]:g} > 1: early importance, |b| > 1, unstable",
            {"abs_b": float(R[big]), "stability": "unstable"},
            {"abs_b_trained": b_end, "stability": label}, b_end > 1 + tol and label == "unstable",
            by_construction=False, tolerance=tol, measured="trained network's final |b|; solve_task's stability"))
    return features


def _polar_panel(ax, t, sim_q, theory_q, k, quantity):
    """Radius (orange) and angle (blue) of one mode's ``quantity`` over training, as the paper colours them."""
    for values, colour in ((np.abs, "tab:orange"), (None, "tab:blue")):
        if values is None:
            s_val, t_val = np.unwrap(np.angle(sim_q[:, k])), np.unwrap(np.angle(theory_q[:, k]))
        else:
            s_val, t_val = values(sim_q[:, k]), values(theory_q[:, k])
        ax.plot(t, s_val, color=colour, lw=2.4, alpha=0.55)
        ax.plot(t, t_val, color=colour, lw=1.3, ls="--")
    ax.set_ylabel(f"{quantity}: |{quantity}| and arg {quantity} (rad)")
    ax.set_xlabel("time t = steps × lr (τ = 1)")
    ax.grid(alpha=0.3)


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
                      by_construction=False, measured="settling times of u (theory) for the tasks with a complex delta",
                      reason="the derived frozen-b solution gives an angle rate 2|A|/tau independent of |u|; the "
                             "radius needs log(r*/r0) times longer"),
        paper_feature("a real delta gives u a small imaginary excursion before it settles on a real value",
                      "Im u leaves 0 and returns to it",
                      {"max_abs_imag_u": excursion, "final_imag_u": final_imag},
                      excursion > 1e-3 > abs(final_imag), by_construction=False,
                      measured="inverse-exponential mode (theory)",
                      tolerance=1e-3),
        paper_feature("exponential R = 1.05 converges to b = 1/lambda (|b| < 1) and u = delta lambda^T",
                      {"b": [float(b_star.real), float(b_star.imag)], "u": [float(u_star.real), float(u_star.imag)]},
                      {"b": [float(b_exponential.real), float(b_exponential.imag)],
                       "u": [float(u_exponential.real), float(u_exponential.imag)]},
                      abs(b_exponential - b_star) < 1e-3, by_construction=False, tolerance=1e-3,
                      measured="b (theory); u reported"),
    ]


@figure("figA9", "complex tasks (angle pi/6): task trajectories, polar radius and angle of b and u over training")
def figA9(quick: bool = False):
    plt = _pyplot()

    task, result, sim, theory, errors, scales, run = _run("figA9", quick)
    specs = PARAMETERS["figA9"]
    colours = ["tab:blue", "tab:orange", "tab:green"]
    labels = [_label(s) for s in specs]
    fig, axes = plt.subplots(3, 3, figsize=(13, 11))
    for k, (colour, label) in enumerate(zip(colours, labels)):
        _task_trajectory(axes[0, k], task.singular_values[k], "0.3", label)
        _polar_panel(axes[1, k], sim.t, sim.b, theory.b, k, "b")
        _polar_panel(axes[2, k], sim.t, sim.u, theory.u, k, "u")
    fig.suptitle("Fig. A9: complex tasks at angle π/6: task trajectories d_t (top), polar b (middle) and u (bottom); "
                 "radius orange, angle blue", fontsize=11)
    tight_layout(fig, rect=(0, 0.05, 1, 1))
    _figure_legend(fig, ["radius |·|", "angle arg(·) (rad)"], ["tab:orange", "tab:blue"],
                   extra=[plt.Line2D([], [], color="k", marker="s", ls="none", ms=5, label="task step T"),
                          plt.Line2D([], [], color="k", marker="+", ls="none", ms=9, label="origin")])
    per_mode = _per_mode("figA9", task, sim, theory, errors, scales)
    th = scales["theory"]["u"]
    data = {
        "max_abs_error": float(np.max(errors)),
        "modes": per_mode,
        "paper_features": _figA9_features(th, theory.b[-1, 2], theory.u[:, 1], theory.u[-1, 2]),
        "parameters": {**_parameters(run), "tasks": specs,
                       "colours": "radius orange, angle blue (as the paper); one column per task"},
    }
    return fig, data


def _order_figure(name, quick, title, statement, paper, check):
    plt = _pyplot()

    task, result, sim, theory, errors, scales, run = _run(name, quick)
    specs = PARAMETERS[name]
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    labels = [_label(s) for s in specs]
    fig, axes = plt.subplots(2, 5, figsize=(21, 8.4))
    for k, colour in enumerate(colours):  # top row: the task trajectories
        _task_trajectory(axes[0, k], task.singular_values[k], colour, labels[k])
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 200))
    for ax, q in ((axes[0, 4], "b"), (axes[1, 4], "u")):  # the learning paths in the complex plane
        if q == "b":
            ax.plot(circle.real, circle.imag, color="0.7", lw=0.8)
        for k, colour in enumerate(colours):
            ax.plot(getattr(sim, q)[:, k].real, getattr(sim, q)[:, k].imag, color=colour, lw=2.4, alpha=0.55)
            ax.plot(getattr(theory, q)[:, k].real, getattr(theory, q)[:, k].imag, color=colour, lw=1.3, ls="--")
            target = task.singular_values[k, -2] / task.singular_values[k, -1] if q == "b" \
                else task.singular_values[k, -1]
            ax.plot(target.real, target.imag, "x", color=colour, ms=8)
        ax.plot(getattr(sim, q)[0, 0].real, getattr(sim, q)[0, 0].imag, "ko", ms=4)
        ax.set_xlabel(f"Re {q}")
        ax.set_ylabel(f"Im {q}")
        ax.set_title(f"{q} in the complex plane (× zero-loss {q}, • {q}(0))", fontsize=9)
        if q == "b":
            ax.axis("equal")
        ax.grid(alpha=0.3)
    for col, (q, part) in enumerate((("b", "radius"), ("b", "angle"), ("u", "radius"), ("u", "angle"))):
        ax = axes[1, col]
        for k, colour in enumerate(colours):
            for src, ls, lw, alpha in ((sim, "-", 2.4, 0.55), (theory, "--", 1.3, 1.0)):
                radius, angle = src.polar(q)
                ax.plot(src.t, (radius if part == "radius" else angle)[:, k], color=colour, ls=ls, lw=lw, alpha=alpha)
        ax.set_ylabel(f"radius |{q}|" if part == "radius" else f"angle arg {q} (rad)")
        ax.set_xlabel("time t = steps × lr (τ = 1)")
        ax.grid(alpha=0.3)
    fig.suptitle(title + ": task trajectories d_t (top, arrows along t = 1..T, ■ step T); b and u over training "
                 "(bottom)", fontsize=11)
    tight_layout(fig, rect=(0, 0.06, 1, 1))
    _figure_legend(fig, labels, colours,
                   extra=[plt.Line2D([], [], color="k", marker="x", ls="none", ms=8, label="zero-loss b (or u)")])
    per_mode = _per_mode(name, task, sim, theory, errors, scales)
    t_u = scales["theory"]["u"]["radius"]
    t_u_sim = scales["simulation"]["u"]["radius"]
    data = {
        "max_abs_error": float(np.max(errors)),
        "modes": per_mode,
        "order_by_u_radius_settling": {"theory": [labels[k] for k in np.argsort(t_u, kind="stable")],
                                       "simulation": [labels[k] for k in np.argsort(t_u_sim, kind="stable")]},
        "rotation": {"direction": dict(zip(labels, rotation_direction(task.singular_values))),
                     "trajectory": dict(zip(labels, spiral_kind(task.singular_values))),
                     "imaginary_excursion_of_u": {k: dict(zip(labels, np.asarray(v).tolist()))
                                                  for k, v in imaginary_excursion(sim.u, sim.b).items()}},
        "paper_features": [paper_feature(statement, paper, {lab: float(t) for lab, t in zip(labels, t_u)},
                                         check(t_u), by_construction=False,
                                         measured="settling time of |u| (theory)"),
                           *_rotation_features(name, task, sim, per_mode, labels)],
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
