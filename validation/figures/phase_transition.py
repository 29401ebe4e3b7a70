"""Phase-transition reproductions (result 3, paper §3.4 and App. H): Fig. 4 and Fig. A3.

The paper states neither T, nor the initialisation, nor the training time (Fig. 4), nor the bound on b or the
training time behind its minimisers (Fig. A3). Both figures therefore first *fit* these unknowns to the numbers a
reader can see in the paper's panels, with a deterministic grid search, and draw at the best setting; the search, its
score and the chosen values are written to the JSON under ``paper_fit`` and named in the caption.

* ``fig4``: b (top) and u = ac (bottom) after training time ``t_train`` from a = b = c = ``init`` against the
  "recurrent computation" delta (last step breaks the constant pattern), lambda (last step breaks the exponential
  pattern, delta = 1) and beta (two Dirac deltas), coloured by the "feedforward computation" kappa = s_T. Fitted to
  the paper's b ranges (about 1, 1.2 and 2.4). The gradient flow of every grid point (theory, dashed, one vectorized
  sweep per panel); grid points still moving at ``t_train`` drawn as open circles, converged ones filled; LRNNs trained
  with the validation harness at a few grid points (simulation, black-edged squares); the zero-loss solution for
  kappa = delta f(lambda, T) black dashed.
* ``figA3``: minimising b*, u* and E* of App. H's Dirac task (s_1 = beta, s_T = 1/beta, E = sum r_i^2) against beta for
  several T, over |b| <= b_max with b_max fitted so that the long-T critical point is the paper's beta_c ~ 1.08 (for
  T >= 4 the recurrent infimum lies at |b| -> oo, so the critical point depends on the bound). Vertical lines at
  1/sqrt(2), 1 and the fitted long-T beta_c; the trivial solution b = 0, u = 1/beta, E = beta^2 grey. Pure theory:
  ``max_abs_error`` is the largest |E*| difference against an independent minimiser (scipy L-BFGS-B on the full
  energy in (u, b), several starts, energy summed from the residuals).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from tqdm import tqdm

from lrnn_theory.errors import DivergenceError
from lrnn_theory.flow import compile_flow, integrate
from lrnn_theory.phase_transition import critical_beta, dirac_profile, phase_curve
from lrnn_theory.sweeps import IntegrationOptions, TaskGrid, grid_points, grid_task, sweep
from lrnn_theory.tasks import Task
from lrnn_theory.trajectory import mode_energy
from lrnn_theory.validation import train_lrnn

from . import figure, paper_feature, pyplot as _pyplot

#: Relative tolerance for numbers read off the paper's axes ("about 1, 1.2, 2.4").
PAPER_RANGE_RTOL = 0.1

FIG4 = {
    "kappas": {"full": [0.2, 0.4, 0.6, 0.8, 1.0, 1.2], "quick": [0.2, 0.6, 1.2]},
    "n_x": {"full": 41, "quick": 21},
    "panels": [
        {"name": "constant", "family": "last_step", "base": "constant", "x": "delta", "range": [0.0, 2.0],
         "fixed": {}},
        {"name": "exponential", "family": "last_step", "base": "exponential", "x": "lambda", "range": [0.0, 1.0],
         "fixed": {"delta": 1.0}},
        {"name": "Dirac delta", "family": "dirac", "base": None, "x": "beta", "range": [0.0, 4.0], "fixed": {}},
    ],
    "simulated_points_per_kappa": 3,
    "converged_rate": 1e-6,
    "sharp_jump_fraction": 0.5,
    "simulation": "one single-mode LRNN (N_x = N_h = N_y = 1) per simulated grid point, at grid points where "
                  "lr * (top Hessian eigenvalue at the flow's end point) <= 1",
    "simulation_max_abs_b": 2.0,
    "training": {"lr": {"full": 0.0005, "quick": 0.001}, "loss": "sum_half", "data": "population", "init": "aligned",
                 "seed": 0},
}
#: The search over Fig. 4's unknowns. Quick mode searches a subset of the full candidates (containing the full
#: run's best), on the quick x grid.
FIG4_FIT = {
    "paper_b_max": {"constant": 1.0, "exponential": 1.2, "Dirac delta": 2.4},
    "paper_u_max": 1.25,
    "T": {"full": [4, 5, 6, 8, 10, 12, 15, 20], "quick": [4, 6, 8]},
    "init": {"full": [0.1, 0.3, 0.5], "quick": [0.3, 0.5]},
    "t_train": np.geomspace(1.0, 1000.0, 19).round(4).tolist(),
    "t_train_max": {"full": 1000.0, "quick": 10.0},
    "converged_fraction": 0.95,
    "divergence_threshold": 1e30,
}
FIGA3 = {"T": {"full": [3, 4, 5, 6, 8, 10], "quick": [3, 4, 6]}, "beta_range": [0.2, 2.0],
         "n_beta": {"full": 181, "quick": 46}, "check_every": {"full": 6, "quick": 9}}
FIGA3_FIT = {"paper_long_T_beta_c": 1.08, "long_T": 10, "settle_T": 20,
             "b_max": {"full": np.linspace(1.2, 4.0, 15).round(4).tolist(),
                       "quick": np.linspace(1.2, 4.0, 8).round(4).tolist()},
             "refine_tol": 1e-3, "beta_c_tol": 1e-5, "n_grid": 801, "tolerance": 0.005}


# ---- Fig. 4: the search over T, init and training time -------------------------------------------------------------
def _panel_grid(panel, mode: str):
    return np.linspace(*panel["range"], FIG4["n_x"][mode])


def _fit_task(T: int, init: float, kappas, mode: str) -> tuple:
    """A Task with every (panel, x, kappa) point of the figure's grid as a mode; returns it and each mode's panel."""
    rows, panel_of_mode = [], []
    for pj, panel in enumerate(FIG4["panels"]):
        x = _panel_grid(panel, mode)
        points = grid_points({panel["x"]: x, "kappa": np.asarray(kappas, float)})
        s = grid_task(panel["family"], T, points, panel["fixed"], panel["base"]).singular_values
        rows.append(s)
        panel_of_mode += [pj] * len(s)
    task = Task(np.vstack(rows), init={"a": init, "b": init, "c": init}, name=f"fig4-fit-T{T}-init{init:g}")
    return task, np.array(panel_of_mode)


def _fit_score(b_max, paper_b, sharpness):
    """Relative errors of the panels' b ranges, sharpness deficits, and the score (the mean of both lists)."""
    rel = np.abs(b_max / paper_b - 1)
    threshold = FIG4["sharp_jump_fraction"]
    deficit = np.where(np.isfinite(sharpness), np.clip((threshold - sharpness) / threshold, 0, 1), 1.0)
    return rel, deficit, float(np.concatenate([rel, deficit]).mean())


def _panel_sharpness(b_flat, n_x: int, n_kappa: int, x) -> float:
    """Smallest transition sharpness over the kappa columns with a transition (NaN: no transition)."""
    sharp, _, _ = transition_sharpness(x, b_flat.reshape(n_x, n_kappa))
    ok = sharp[np.isfinite(sharp)]
    return float(ok.min()) if ok.size else float("nan")


def fit_fig4(quick: bool = False) -> dict:
    """Search T, init (a = b = c) and training time for the setting whose Fig. 4 looks like the paper's.

    For every (T, init), all (panel, x, kappa) points of the fit grid are integrated as the modes of one system and
    read at every candidate training time; each candidate (T, init, t_train) is scored by the mean of the three
    panels' |max b / paper's max b - 1| and sharpness deficits (the paper's transitions are sharp), on the figure's
    own grid. Quick mode searches a subset (T, init and t_train <= 10) on the quick grid.
    Deterministic: a fixed grid; ties go to the first candidate in (T, init, t_train) order.

    Returns
    -------
    dict
        ``unknowns``, ``candidates``, ``score_definition``, ``table`` (one row per candidate), ``best`` (the chosen
        values, their ranges and score), ``best_converged`` (the best among candidates with at least
        ``converged_fraction`` of the points converged), ``tolerance`` (the best's largest relative error) and
        ``reproduced`` (every range within ``PAPER_RANGE_RTOL``).
    """
    mode = "quick" if quick else "full"
    kappas = FIG4["kappas"][mode]
    n_x = FIG4["n_x"][mode]
    names = [p["name"] for p in FIG4["panels"]]
    paper = np.array([FIG4_FIT["paper_b_max"][n] for n in names])
    times = np.asarray(FIG4_FIT["t_train"], float)
    times = times[times <= FIG4_FIT["t_train_max"][mode] * (1 + 1e-12)]
    rows = []
    pairs = [(T, init) for T in FIG4_FIT["T"][mode] for init in FIG4_FIT["init"][mode]]
    for T, init in tqdm(pairs, desc="fig4 paper_fit (T, init)", disable=None, leave=False):
        task, panel_of_mode = _fit_task(T, init, kappas, mode)
        scale = np.sqrt(3 * task.K)
        try:
            traj = integrate(task, times[-1], t_eval=times, rtol=1e-6 / scale, atol=1e-8 / scale,
                             divergence_threshold=FIG4_FIT["divergence_threshold"])
        except DivergenceError as exc:  # pragma: no cover - not met on the fixed grid; recorded if it ever is
            rows += [{"T": T, "init": init, "t_train": float(t), "score": None, "note": f"diverged: {exc}"}
                     for t in times]
            continue
        flow = compile_flow(task)
        for k, t in enumerate(times):
            y = np.column_stack([traj.a[k], traj.b[k], traj.c[k]]).ravel()
            rate = np.max(np.abs(flow.rates(t, y, count=False, check=False).reshape(-1, 3)), axis=1)
            b_max = np.array([traj.b[k][panel_of_mode == pj].max() for pj in range(len(names))])
            u_max = float(traj.u[k].max())
            sharp = np.array([_panel_sharpness(traj.b[k][panel_of_mode == pj], n_x, len(kappas),
                                               _panel_grid(FIG4["panels"][pj], mode)) for pj in range(len(names))])
            rel, deficit, score = _fit_score(b_max, paper, sharp)
            rows.append({"T": T, "init": init, "t_train": float(t), "b_max": b_max.round(4).tolist(),
                         "u_max": round(u_max, 4), "relative_errors": rel.round(4).tolist(),
                         "sharpness": sharp.round(4).tolist(), "sharpness_deficit": deficit.round(4).tolist(),
                         "score": score,
                         "moving_fraction": float(np.mean(rate > FIG4["converged_rate"]))})
    scored = [r for r in rows if r["score"] is not None]
    best = min(scored, key=lambda r: r["score"])  # min keeps the first of equal scores: deterministic
    settled = [r for r in scored if r["moving_fraction"] <= 1 - FIG4_FIT["converged_fraction"]]
    best_converged = min(settled, key=lambda r: r["score"]) if settled else None
    tolerance = float(max(best["relative_errors"]))
    return {
        "unknowns": ["T", "init (a = b = c at the start)", "t_train (theory time of training)"],
        "candidates": {"T": FIG4_FIT["T"][mode], "init": FIG4_FIT["init"][mode], "t_train": times.tolist(),
                       "kappa": kappas, "n_x": n_x},
        "paper": dict(zip(names, paper.tolist())),
        "paper_u_max": FIG4_FIT["paper_u_max"],
        "score_definition": ("mean over the three panels of |max b over the panel's grid / paper's max b - 1| and of "
                             "the sharpness deficit clip((0.5 - sharpness) / 0.5, 0, 1) (1 without a transition), "
                             "sharpness = smallest over kappa of the largest jump of b between neighbouring x over "
                             "the range of b"),
        "table_columns": "b_max per panel in order " + ", ".join(names),
        "table": rows,
        "best": {**best, "panels": names},
        "best_converged": best_converged,
        "tolerance": tolerance,
        "tolerance_definition": "the chosen setting's largest relative error of a panel's b range",
        "not_in_score": "the u range (0-1.25 in the paper): for delta near 2 the recurrent branch has u near delta, "
                        "so no converged setting keeps u below 1.25; reported in paper_features",
        "ranges_reproduced": bool(tolerance <= PAPER_RANGE_RTOL),
        "sharp_reproduced": bool(max(best["sharpness_deficit"]) == 0),
        "reproduced": bool(tolerance <= PAPER_RANGE_RTOL and max(best["sharpness_deficit"]) == 0),
        "reproduced_definition": f"every panel's max b within {PAPER_RANGE_RTOL:g} (relative) of the paper's and "
                                 "every panel's transition sharp",
    }


# ---- Fig. 4: drawing and the paper's statements --------------------------------------------------------------------
def top_curvature(res, panel, T: int, kappas, h: float = 1e-5) -> np.ndarray:
    """Top eigenvalue of the Hessian of tau E = 1/2 sum_i r_i^2 in (a, b, c) at every grid point's final modes.

    Central finite differences of the residual energy, vectorized over the grid; shape of ``res.b``. Gradient descent
    on the ``sum_half`` loss of a single-mode network is stable near that point for lr < 2 / eigenvalue.
    """
    points = grid_points({panel["x"]: np.asarray(res.axes[panel["x"]]), "kappa": np.asarray(kappas, float)})
    s = grid_task(panel["family"], T, points, panel["fixed"], panel["base"]).singular_values
    y0 = np.stack([res.a.ravel(), res.b.ravel(), res.c.ravel()])  # (3, K)
    eye = np.eye(3)[:, :, None] * h
    H = np.empty((y0.shape[1], 3, 3))

    def energy(y):
        return mode_energy(s, y[0][None], y[1][None], y[2][None], 1.0)[0]

    for p in range(3):
        for q in range(p, 3):
            value = (energy(y0 + eye[p] + eye[q]) - energy(y0 + eye[p] - eye[q]) - energy(y0 - eye[p] + eye[q])
                     + energy(y0 - eye[p] - eye[q])) / (4 * h * h)
            H[:, p, q] = H[:, q, p] = value
    return np.linalg.eigvalsh(H)[:, -1].reshape(res.b.shape)


def _zero_loss_line(panel, x, T):
    """b* and u* of the zero-loss solution when kappa = delta f(lambda, T) (the paper's dashed line)."""
    if panel["name"] == "constant":
        return np.ones_like(x), x
    if panel["name"] == "exponential":
        with np.errstate(divide="ignore"):
            return np.where(x > 0, 1.0 / x, np.nan), panel["fixed"]["delta"] * x**T
    return None


def transition_sharpness(x, b) -> tuple:
    """Per kappa column of b[x, kappa]: the largest jump of b between neighbouring x over the column's range of b.

    Returns (sharpness, jump_lo, jump_hi): sharpness 1 means the whole change happens between two grid points;
    NaN for columns whose b changes by less than 0.2 (no transition); [jump_lo, jump_hi] brackets the jump.
    """
    db = np.abs(np.diff(b, axis=0))
    span = b.max(axis=0) - b.min(axis=0)
    where = np.argmax(db, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sharp = np.where(span > 0.2, db.max(axis=0) / span, np.nan)
    return sharp, x[where], x[where + 1]


def _fig4_features(results, kappas) -> list:
    feats = []
    tol = PAPER_RANGE_RTOL
    for name, res in results.items():
        paper = FIG4_FIT["paper_b_max"][name]
        ours = float(np.max(res["b"]))
        feats.append(paper_feature(f"{name} panel: b ranges up to about {paper:g}", paper, ours,
                                   abs(ours / paper - 1) <= tol, tolerance_relative=tol,
                                   measured="max of b over the drawn grid"))
    u_max = float(max(np.max(r["u"]) for r in results.values()))
    feats.append(paper_feature("bottom row: u = ac within 0-1.25", FIG4_FIT["paper_u_max"], u_max,
                               0 < u_max <= FIG4_FIT["paper_u_max"] * (1 + tol), tolerance_relative=tol))
    for name, res in results.items():
        sharp, _, _ = transition_sharpness(res["x"], res["b"])
        ok = sharp[np.isfinite(sharp)]
        value = float(ok.min()) if ok.size else float("nan")
        feats.append(paper_feature(
            f"{name} panel: the transition in b is sharp", "sharp (a jump)", value,
            ok.size > 0 and value >= FIG4["sharp_jump_fraction"],
            measured="smallest over kappa of (largest jump of b between neighbouring grid points) / (range of b)",
            threshold=FIG4["sharp_jump_fraction"]))
    # Dirac: the transition depends on beta / kappa only -> the jump brackets, divided by kappa, overlap.
    res = results["Dirac delta"]
    sharp, lo, hi = transition_sharpness(res["x"], res["b"])
    has = np.isfinite(sharp)
    lo_r, hi_r = lo[has] / np.asarray(kappas)[has], hi[has] / np.asarray(kappas)[has]
    feats.append(paper_feature(
        "Dirac delta: the transition is controlled only by beta / kappa", "beta_c proportional to kappa",
        {"kappa": np.asarray(kappas)[has].tolist(), "beta_jump_over_kappa_lo": lo_r.tolist(),
         "beta_jump_over_kappa_hi": hi_r.tolist()},
        has.sum() >= 2 and lo_r.max() <= hi_r.min(),
        measured="grid bracket of the jump in b per kappa, divided by kappa; holds if all brackets overlap"))
    # Dashed line: the zero-loss solution for kappa = delta f(lambda, T): constant-panel grid points with delta = kappa.
    res = results["constant"]
    on = np.isclose(res["x"][:, None], np.asarray(kappas)[None, :])
    conv = res["converged"] & on
    if conv.any():
        dev = float(max(np.abs(res["b"][conv] - 1).max(), np.abs(res["u"][conv] - res["x"][:, None].repeat(
            len(kappas), 1)[conv]).max()))
    else:
        dev = float("nan")
    feats.append(paper_feature(
        "dashed line: the converged modes sit on the 0-loss solution b = 1, u = delta when kappa = delta (constant)",
        "on the line", dev, bool(conv.any()) and dev < 1e-3,
        measured="largest |b - 1|, |u - delta| over converged constant-panel grid points with delta = kappa",
        points=int(on.sum()), converged_points=int(conv.sum())))
    return feats


@figure("fig4", "phase transitions: b and u against delta, lambda, beta, coloured by kappa (T, init, time fitted)")
def fig4(quick: bool = False):
    plt = _pyplot()
    mode = "quick" if quick else "full"
    fit = fit_fig4(quick)
    T, init0, t_train = fit["best"]["T"], fit["best"]["init"], fit["best"]["t_train"]
    init = {"a": init0, "b": init0, "c": init0}
    kappas = np.array(FIG4["kappas"][mode])
    cmap = plt.get_cmap("viridis")
    colour = lambda k: cmap(k / 1.3)  # noqa: E731
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.2), sharex="col")
    data = {"parameters": {**FIG4, "T": T, "init": init, "t_train": t_train}, "panels": {}}
    errors, results = [], {}
    tr = FIG4["training"]
    lr = tr["lr"][mode]
    steps = int(np.ceil(t_train / lr))
    for col, panel in enumerate(FIG4["panels"]):
        x = _panel_grid(panel, mode)
        res = sweep(TaskGrid(panel["family"], T, {panel["x"]: x, "kappa": kappas}, fixed=panel["fixed"],
                             base=panel["base"], init=init), IntegrationOptions(t_end=t_train))
        converged = res.rate < FIG4["converged_rate"]
        # Simulate a few grid points per kappa (smallest and largest kappa), where GD at this lr is stable: at the
        # flow's end point lr * (top Hessian eigenvalue) <= 1, half the bound 2 / eigenvalue. Elsewhere (e.g. the
        # constant task with large delta and T) gradient descent oscillates or leaves for another branch.
        curvature = top_curvature(res, panel, T, kappas)
        picks = []
        for kj in (0, len(kappas) - 1):
            ok = np.flatnonzero((np.abs(res.b[:, kj]) <= FIG4["simulation_max_abs_b"])
                                & (curvature[:, kj] * (t_train / steps) <= 1.0))
            if ok.size == 0:
                continue
            chosen = ok[np.linspace(0, len(ok) - 1, FIG4["simulated_points_per_kappa"]).round().astype(int)]
            picks += [(xi, kj) for xi in np.unique(chosen)]
        points = {panel["x"]: np.array([x[xi] for xi, _ in picks]), "kappa": np.array([kappas[kj] for _, kj in picks])}
        # One single-mode network per point: in a multi-mode network gradient descent can leave the aligned
        # (diagonal) manifold and recruit a weak mode's hidden direction for a Dirac task's recurrent mode.
        b_sim, u_sim = np.empty(len(picks)), np.empty(len(picks))
        for j in range(len(picks)):
            task = grid_task(panel["family"], T, {k: v[j:j + 1] for k, v in points.items()}, panel["fixed"],
                             panel["base"], init)
            sim = train_lrnn(task, lr=t_train / steps, steps=steps, record_every=steps, loss=tr["loss"],
                             data=tr["data"], init=tr["init"], seed=tr["seed"]).trajectory
            b_sim[j], u_sim[j] = sim.b[-1, 0], sim.u[-1, 0]
        b_th = np.array([res.b[xi, kj] for xi, kj in picks])
        u_th = np.array([res.u[xi, kj] for xi, kj in picks])
        err = max(np.abs(b_sim - b_th).max(), np.abs(u_sim - u_th).max()) if picks else 0.0
        errors.append(err)
        for row, (q, theory, simulated) in enumerate((("b", res.b, b_sim), ("u", res.u, u_sim))):
            ax = axes[row, col]
            for kj, kappa in enumerate(kappas):
                c = colour(kappa)
                ax.plot(x, theory[:, kj], "--", color=c, lw=1.3, label=f"κ={kappa:g}")
                done = converged[:, kj]
                ax.plot(x[done], theory[done, kj], "o", color=c, markersize=3.5)
                ax.plot(x[~done], theory[~done, kj], "o", markerfacecolor="none", markeredgecolor=c, markersize=5)
            for (xi, kj), val in zip(picks, simulated):
                ax.plot(x[xi], val, "s", color=colour(kappas[kj]), markeredgecolor="k", markersize=6)
            line = _zero_loss_line(panel, x, T)
            if line is not None:
                ax.plot(x, line[row], "--", color="k", lw=1.6, label="0-loss solution, κ = δ f(λ, T)")
            ax.set_ylabel("recurrent mode b" if q == "b" else "input-output mode u = ac")
            if row == 1:
                ax.set_xlabel({"delta": "δ (recurrent computation)", "lambda": "λ (recurrent computation)",
                               "beta": "β (recurrent computation)"}[panel["x"]])
            if q == "u":
                ax.set_ylim(-0.05, 1.35)
            ax.grid(alpha=0.3)
        top = max(1.1, float(np.nanmax(res.b)) * 1.08)
        axes[0, col].set_ylim(-0.05, top)
        axes[0, col].set_title(f"{panel['name']}: {int(converged.sum())} of {converged.size} points converged",
                               fontsize=10)
        results[panel["name"]] = {"x": x, "b": res.b, "u": res.u, "converged": converged}
        data["panels"][panel["name"]] = {
            "x_name": panel["x"], "x": x, "kappa": kappas, "b": res.b, "u": res.u,
            "max_rate_at_t_train": res.rate, "converged": converged,
            "simulated": {panel["x"]: points[panel["x"]], "kappa": points["kappa"], "b": b_sim, "u": u_sim,
                          "b_flow": b_th, "u_flow": u_th, "max_abs_error": float(err),
                          "grid_points_gd_unstable": int(np.sum(curvature * (t_train / steps) > 1.0))}}
    axes[0, 0].plot([], [], "o", color="grey", markersize=3.5, label="converged (flow)")
    axes[0, 0].plot([], [], "o", markerfacecolor="none", markeredgecolor="grey", label="still moving at t_train")
    axes[0, 0].plot([], [], "s", color="grey", markeredgecolor="k", label="trained LRNN (simulation)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=8, bbox_to_anchor=(0.5, 0.935),
               title="colour: feedforward computation κ", title_fontsize=8, frameon=False)
    caption = _fig4_caption(fit, T, init0, t_train, lr, steps)
    fig.suptitle(caption, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.87))
    data["max_abs_error"] = float(max(errors))
    data["max_abs_error_definition"] = "largest |trained LRNN - integrated flow| in b and u at the simulated points"
    data["layout"] = "b[i, j] and u[i, j]: x[i], kappa[j]"
    data["converged_definition"] = ("max(|da/dt|, |db/dt|, |dc/dt|) at t_train below parameters.converged_rate; "
                                    "other points are drawn open: read while still moving")
    data["time_axis"] = {"t_train": t_train, "training_steps": steps, "lr": t_train / steps, "loss": tr["loss"],
                         "mapping": "theory time t = steps * lr (tau = 1, loss sum_half)"}
    data["paper_fit"] = fit
    data["caption"] = caption
    data["paper_features"] = _fig4_features(results, kappas) + [_sharper_with_T(fit)]
    return fig, data


def _sharper_with_T(fit) -> dict:
    """The paper: the transition gets sharper as T grows. Measured on the fit's table at the chosen init and the
    longest training time searched (constant and exponential panels; the Dirac panel often has no transition)."""
    init = fit["best"]["init"]
    t_long = max(r["t_train"] for r in fit["table"])
    rows = sorted((r for r in fit["table"] if r["init"] == init and r["t_train"] == t_long and r["score"] is not None),
                  key=lambda r: r["T"])
    sharp = {r["T"]: r["sharpness"][:2] for r in rows}
    first, last = sharp[rows[0]["T"]], sharp[rows[-1]["T"]]
    holds = len(rows) > 1 and all(np.isfinite(a) and np.isfinite(b) and b > a for a, b in zip(first, last))
    return paper_feature("the transition gets sharper as T grows", "sharper with T",
                         {"T": list(sharp), "sharpness_constant_exponential": list(sharp.values())}, holds,
                         measured=f"transition sharpness at init={init:g}, t_train={t_long:g}, smallest vs largest T")


def _fig4_caption(fit, T, init0, t_train, lr, steps) -> str:
    best = fit["best"]
    ranges = ", ".join(f"{n} {v:.2f}" for n, v in zip(best["panels"], best["b_max"]))
    paper = ", ".join(f"{v:g}" for v in fit["paper"].values())
    if fit["reproduced"]:
        verdict = "reproduces the paper's b ranges and sharp transitions"
    elif fit["ranges_reproduced"]:
        verdict = "b ranges reproduced, not every transition sharp (no searched setting does both; closest shown)"
    else:
        verdict = "no searched setting reproduces the paper's b ranges; closest shown"
    sharp = ", ".join(f"{v:.2f}" for v in best["sharpness"])
    return (f"Fig. 4 (fitted T, init, training time): T={T}, a=b=c={init0:g} at the start, trained for t={t_train:g} "
            f"({steps} steps at lr={lr:.3g}).\nFitted to the paper's max b ({paper}) and sharp transitions: ours "
            f"{ranges} (largest relative error {fit['tolerance']:.2f}), sharpness {sharp} (sharp >= "
            f"{FIG4['sharp_jump_fraction']:g}): {verdict}")


# ---- Fig. A3 ------------------------------------------------------------------------------------------------------
def _scipy_minimum(s: np.ndarray, b_max: float) -> float:
    """min over (u, |b| <= b_max) of sum_i r_i^2 by L-BFGS-B from several starts (independent of E*(b))."""
    k = np.arange(s.size - 1, -1, -1, dtype=float)

    def energy(x):
        r = s - x[0] * x[1] ** k
        return float(r @ r)

    def grad(x):
        r = s - x[0] * x[1] ** k
        dk = np.where(k > 0, k * x[1] ** np.maximum(k - 1, 0), 0.0)
        return np.array([-2 * r @ (x[1] ** k), -2 * x[0] * (r @ dk)])

    best = np.inf
    for b0 in (-0.95 * b_max, -1.0, -0.3, 0.0, 0.3, 1.0, 2.0, 0.95 * b_max):
        for u0 in (0.1, 1.0):
            out = minimize(energy, [u0, b0], jac=grad, method="L-BFGS-B",
                           bounds=[(None, None), (-b_max, b_max)], options={"ftol": 1e-15, "gtol": 1e-12})
            best = min(best, out.fun)
    return best


def fit_figA3(quick: bool = False) -> dict:
    """Search the bound b_max on |b| for which the long-T critical beta is the paper's ~1.08.

    Every candidate of a fixed grid of b_max is scored by |beta_c(long_T, b_max) - 1.08|; beta_c falls with b_max, so
    the sign change between neighbouring grid points is then refined by bisection to ``refine_tol``. Deterministic.

    Returns
    -------
    dict
        ``unknowns``, ``candidates`` with their ``beta_c`` and ``score``, ``best`` (the chosen b_max, its beta_c at
        long_T and settle_T, score), ``tolerance`` and ``reproduced``.
    """
    mode = "quick" if quick else "full"
    F = FIGA3_FIT
    target, T_long = F["paper_long_T_beta_c"], F["long_T"]

    def beta_c(b_max):
        return critical_beta(T_long, b_max=b_max, tol=F["beta_c_tol"], n_grid=F["n_grid"])

    grid = np.asarray(F["b_max"][mode], float)
    values = np.array([beta_c(b) for b in grid])
    scores = np.abs(values - target)
    j = int(np.argmin(scores))
    chosen, chosen_bc = float(grid[j]), float(values[j])
    above = values > target
    cross = np.flatnonzero(above[:-1] & ~above[1:])
    if cross.size:  # beta_c(b_max) decreasing: bisect the bracketing cell
        lo, hi = float(grid[cross[0]]), float(grid[cross[0] + 1])
        while hi - lo > F["refine_tol"]:
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if beta_c(mid) > target else (lo, mid)
        for cand in (lo, hi):
            bc = beta_c(cand)
            if abs(bc - target) < abs(chosen_bc - target):
                chosen, chosen_bc = cand, bc
    settle = critical_beta(F["settle_T"], b_max=chosen, tol=F["beta_c_tol"], n_grid=F["n_grid"])
    score = abs(chosen_bc - target)
    return {
        "unknowns": ["b_max (bound on |b| of the minimisation)"],
        "paper": {"long_T_beta_c": target},
        "candidates": {"b_max": grid.tolist(), "beta_c_at_long_T": values.round(6).tolist(),
                       "score": scores.round(6).tolist(), "long_T": T_long},
        "score_definition": f"|beta_c(T={T_long}, b_max) - {target:g}|, then bisection on b_max to "
                            f"{F['refine_tol']:g}",
        "best": {"b_max": round(chosen, 6), "beta_c_long_T": chosen_bc, "beta_c_settle_T": settle,
                 "settle_T": F["settle_T"], "score": score},
        "tolerance": F["tolerance"],
        "reproduced": bool(score <= F["tolerance"]),
        "alternative": "training time from a small initialisation: for T >= 5 the flow from b = 0.1 stays at the "
                       "feedforward point b = 0 for every beta of the figure (fig4's fit table, Dirac panel), so "
                       "only a bound on b gives a finite critical point near the paper's",
    }


def _jump_at(T: int, beta_c: float, b_max: float, eps: float = 1e-4) -> float:
    curve = phase_curve(T, [beta_c - eps, beta_c + eps], b_max=b_max)
    return float(abs(curve["b"][1] - curve["b"][0]))


@figure("figA3", "phase transition against beta (s_1 = beta, s_T = 1/beta): b*, u*, E*, critical beta per T "
                 "(bound on b fitted)")
def figA3(quick: bool = False):
    plt = _pyplot()
    mode = "quick" if quick else "full"
    fit = fit_figA3(quick)
    b_max = fit["best"]["b_max"]
    betas = np.linspace(*FIGA3["beta_range"], FIGA3["n_beta"][mode])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    data = {"parameters": {**FIGA3, "b_max": b_max}, "critical_beta": {}, "curves": {}}
    errors, jumps = [], {}
    check_idx = np.arange(0, betas.size, FIGA3["check_every"][mode])
    for k, T in enumerate(FIGA3["T"][mode]):
        curve = phase_curve(T, betas, b_max=b_max)
        bc = critical_beta(T, b_max=b_max)
        data["critical_beta"][T] = bc
        jumps[T] = _jump_at(T, bc, b_max)
        colour = f"C{k}"
        width = 3.2 - 0.4 * k  # curves of different T coincide over long stretches: earlier T drawn wider
        axes[0].plot(betas, curve["b"], "--", color=colour, linewidth=width, label=f"T={T} (β_c={bc:.3f})")
        axes[1].plot(betas, curve["u"], "--", color=colour, linewidth=width)
        axes[2].plot(betas, curve["energy"], "--", color=colour, linewidth=width)
        bound = curve["at_bound"]
        axes[0].plot(betas[bound], curve["b"][bound], "|", color=colour, markersize=6)
        checks = np.array([_scipy_minimum(dirac_profile([betas[j]], T)[0], b_max) for j in check_idx])
        errors.append(np.max(np.abs(checks - curve["energy"][check_idx])))
        axes[2].plot(betas[check_idx], checks, "o", color=colour, markersize=3.5, alpha=0.7)
        data["curves"][T] = {"beta": betas, "b": curve["b"], "u": curve["u"], "energy": curve["energy"],
                             "at_bound": curve["at_bound"], "independent_energy": checks,
                             "independent_beta": betas[check_idx]}
    axes[1].plot(betas, 1 / betas, ":", color="grey", label="trivial solution b=0, u=1/β, E=β²")
    axes[2].plot(betas, betas**2, ":", color="grey")
    axes[0].axhline(0, color="grey", linestyle=":")
    axes[0].plot([], [], "|", color="k", label=f"minimiser at the bound |b| = {b_max:.3g}")
    axes[2].plot([], [], "o", color="k", markersize=3.5, label="independent minimiser (scipy, full energy)")
    long_bc = fit["best"]["beta_c_long_T"]
    for ax, lab in zip(axes, ("minimising b*", "minimising u*", "minimal energy E* (sum r_i²)")):
        ax.axvline(1 / np.sqrt(2), color="k", linewidth=0.8, linestyle="-.")
        ax.axvline(1.0, color="k", linewidth=0.8, linestyle="-.")
        ax.axvline(long_bc, color="tab:red", linewidth=0.8, linestyle=":")
        ax.set_xlabel("β (s_1 = β, s_T = 1/β)")
        ax.set_ylabel(lab)
        ax.grid(alpha=0.3)
    axes[0].set_title(f"lines at 1/√2, 1 and β_c(T={FIGA3_FIT['long_T']}) = {long_bc:.3f}", fontsize=10)
    axes[1].set_ylim(0, 3)
    axes[2].set_ylim(0, 1.5)
    for ax in axes:
        ax.legend(fontsize=7)
    caption = (f"Fig. A3 (fitted): |b| <= b_max = {b_max:.3g}, fitted so that the long-T (T={FIGA3_FIT['long_T']}) "
               f"critical point is the paper's β_c ≈ {FIGA3_FIT['paper_long_T_beta_c']:g}: ours {long_bc:.4f} "
               f"(T={FIGA3_FIT['settle_T']}: {fit['best']['beta_c_settle_T']:.4f})"
               + ("" if fit["reproduced"] else "; not reproduced within the tolerance, closest shown"))
    fig.suptitle(caption, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    data["max_abs_error"] = float(max(errors))
    data["max_abs_error_definition"] = ("pure theory: largest |E*(our minimiser) - E(scipy L-BFGS-B on the full "
                                        "energy in (u, b), multi-start, |b| <= b_max)|")
    data["critical_beta_T3_exact"] = float(1 / np.sqrt(2))
    data["critical_beta_T3_error"] = abs(data["critical_beta"].get(3, np.nan) - 1 / np.sqrt(2))
    data["jump_in_b_at_beta_c"] = jumps
    data["paper_fit"] = fit
    data["caption"] = caption
    data["paper_features"] = _figA3_features(data, fit, betas, b_max)
    return fig, data


def _figA3_features(data, fit, betas, b_max) -> list:
    bc, jumps = data["critical_beta"], data["jump_in_b_at_beta_c"]
    feats = []
    if 3 in bc:
        feats.append(paper_feature("T = 3: continuous transition at beta_c = 1/sqrt(2)", float(1 / np.sqrt(2)),
                                   {"beta_c": bc[3], "jump_in_b": jumps[3]},
                                   abs(bc[3] - 1 / np.sqrt(2)) < 1e-4 and jumps[3] < 0.1,
                                   measured="bisected beta_c; |b*(beta_c + 1e-4) - b*(beta_c - 1e-4)|"))
    longer = sorted(T for T in bc if T > 3)
    feats.append(paper_feature("T > 3: first-order transition (b* jumps at beta_c)", "jump",
                               {T: jumps[T] for T in longer}, all(jumps[T] > 0.5 for T in longer),
                               measured="|b*(beta_c + 1e-4) - b*(beta_c - 1e-4)| per T"))
    if 4 in bc:
        feats.append(paper_feature("T = 4: first-order transition at beta_c = 1 (Landau, s_1/s_T = 1)", 1.0, bc[4],
                                   abs(bc[4] - 1.0) < 1e-4))
    best = fit["best"]
    feats.append(paper_feature(f"long T: the critical point settles near beta = {fit['paper']['long_T_beta_c']:g}",
                               fit["paper"]["long_T_beta_c"],
                               {"T": [FIGA3_FIT["long_T"], best["settle_T"]],
                                "beta_c": [best["beta_c_long_T"], best["beta_c_settle_T"]]},
                               abs(best["beta_c_long_T"] - fit["paper"]["long_T_beta_c"]) <= fit["tolerance"]
                               and abs(best["beta_c_settle_T"] - best["beta_c_long_T"]) <= fit["tolerance"],
                               tolerance=fit["tolerance"], b_max=b_max))
    small = betas < 0.5
    T0 = next(iter(data["curves"]))
    u = np.asarray(data["curves"][T0]["u"])[small]
    feats.append(paper_feature("trivial solution b = 0 has u = 1/beta and E = beta^2 (paper: 'u = beta', 'u = beta^2')",
                               "u = beta (text), u = beta^2 (caption)",
                               {"max_abs_u_minus_1_over_beta": float(np.max(np.abs(u - 1 / betas[small]))),
                                "max_abs_u_minus_beta": float(np.max(np.abs(u - betas[small])))},
                               bool(np.max(np.abs(u - 1 / betas[small])) < 1e-6),
                               measured=f"u* for beta < 0.5 at T={T0}", note="the paper's u = beta is a slip"))
    return feats
