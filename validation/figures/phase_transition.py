"""Phase-transition reproductions (result 3, paper §3.4 and App. H): Fig. 4 and Fig. A3.

The paper states neither T, nor the initialisation, nor the training time (Fig. 4), nor the bound on b or the
training time behind its minimisers (Fig. A3). Both figures therefore first *fit* these unknowns to the numbers a
reader can see in the paper's panels, with a deterministic grid search, and draw at the best setting; the search, its
score and the chosen values are written to the JSON under ``paper_fit`` and named in the caption.

* ``fig4``: b (top) and u = ac (bottom) after training from a = b = c = ``init`` against the "recurrent computation"
  delta (last step breaks the constant pattern), lambda (last step breaks the exponential pattern, delta = 1) and beta
  (two Dirac deltas), coloured by the "feedforward computation" kappa = s_T. The paper trains networks, so the search
  covers two protocols: the gradient flow read at a training time, and gradient descent at a finite learning rate
  (the modes' exact map, ``gradient_descent_modes``) read after a number of steps; on the Dirac task's recurrent
  branch the flow has no finite minimum (b grows without bound), while a finite learning rate caps b. Each candidate
  is judged per panel against the paper's b range (about 1, 1.2 and 2.4), a sharp transition and no diverged point;
  one protocol for all three panels is drawn if one meets every criterion, else each panel's best (``paper_fit``:
  ``chosen``, ``protocol_of_panel``, ``search_says``). Theory dashed (the flow, or the modes' gradient-descent map);
  grid points still moving at the end drawn open, settled ones filled; LRNNs trained with the validation harness at
  a few grid points (simulation, black-edged squares); the zero-loss solution for kappa = delta f(lambda, T) black
  dashed.
* ``figA3``: minimising b*, u* and E* of App. H's Dirac task (s_1 = beta, s_T = 1/beta, E = sum r_i^2) against beta for
  several T, over |b| <= b_max with b_max fitted so that the long-T critical point is the paper's beta_c ~ 1.08 (for
  T >= 4 the recurrent infimum lies at |b| -> oo, so the critical point depends on the bound). Vertical lines at
  1/sqrt(2), 1 and the fitted long-T beta_c; the trivial solution b = 0, u = 1/beta, E = beta^2 grey. Pure theory:
  ``max_abs_error`` is the largest |E*| difference against an independent minimiser (scipy L-BFGS-B on the full
  energy in (u, b), several starts, energy summed from the residuals).
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from scipy.optimize import minimize
from tqdm import tqdm

from lrnn_theory.errors import DivergenceError
from lrnn_theory.flow import compile_flow, integrate
from lrnn_theory.phase_transition import critical_beta, dirac_profile, phase_curve, recurrent_wins
from lrnn_theory.plotting import tight_layout
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
    # flow panels: simulated at this lr, raised to t_train / max_steps for long training times (the flow's T = 20 to
    # t = 464 would be 928k steps at lr 0.0005)
    "training": {"lr": {"full": 0.0005, "quick": 0.001}, "max_steps": 20000, "loss": "sum_half", "data": "population",
                 "init": "aligned", "seed": 0},
}
#: The search over Fig. 4's unknowns. Quick mode searches a subset of the full candidates (containing the full
#: run's choice for every panel: flow T = 20, init 0.3 (constant); flow T = 12, init 0.3 (exponential); gradient
#: descent T = 6, init 0.3, lr 0.01 (Dirac delta)), on the quick x grid.
FIG4_FIT = {
    "paper_b_max": {"constant": 1.0, "exponential": 1.2, "Dirac delta": 2.4},
    "paper_u_max": 1.25,
    "T": {"full": [4, 5, 6, 8, 10, 12, 15, 20], "quick": [6, 12, 20]},
    "init": {"full": [0.1, 0.3, 0.5], "quick": [0.3]},
    "t_train": np.geomspace(1.0, 1000.0, 19).round(4).tolist(),
    "t_train_max": {"full": 1000.0, "quick": 1000.0},
    "converged_fraction": 0.95,
    "divergence_threshold": 1e30,
    # Gradient descent at a finite learning rate (loss sum_half on the population statistics: one step is lr of theory
    # time), read after each of ``steps``; a point diverges when |a|, |c| or |b|^(T-1) passes the threshold.
    "gradient_descent": {"T": {"full": [4, 5, 6, 8], "quick": [6]}, "init": {"full": [0.3, 0.5], "quick": [0.3]},
                         "lr": {"full": [0.01, 0.015, 0.02, 0.03], "quick": [0.01, 0.02]},
                         "steps": [500, 1000, 2000, 5000, 10000, 20000], "steps_max": {"full": 20000, "quick": 5000},
                         "loss": "sum_half", "divergence_threshold": 1e8},
    # A panel's criteria: max b within PAPER_RANGE_RTOL of the paper's, the transition sharp, no diverged grid point.
    # Score = number of criteria not met (all panels) + weight x mean over panels of the continuous distance
    # (clip(|max b / paper - 1|, 0, 1) + sharpness deficit) / 2: the distance is below 1, so a candidate that meets more
    # criteria always wins and a sharpness above the threshold earns nothing more.
    "distance_weight": 0.1,
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


def _fit_score(b_max, paper_b, sharpness, diverged=None):
    """Per panel: relative errors of the b ranges, sharpness deficits, criteria not met (range within
    ``PAPER_RANGE_RTOL``, sharp, no diverged point) and the panel scores; and the candidate's score (FIG4_FIT
    ``distance_weight``: the number of criteria not met, plus the weighted mean distance, below 1)."""
    rel = np.abs(b_max / paper_b - 1)
    threshold = FIG4["sharp_jump_fraction"]
    deficit = np.where(np.isfinite(sharpness), np.clip((threshold - sharpness) / threshold, 0, 1), 1.0)
    diverged = np.zeros(len(rel), int) if diverged is None else np.asarray(diverged)
    unmet = ((~(rel <= PAPER_RANGE_RTOL)).astype(int) + (deficit > 0).astype(int) + (diverged > 0).astype(int))
    distance = (np.clip(np.nan_to_num(rel, nan=1.0), 0, 1) + deficit) / 2
    weight = FIG4_FIT["distance_weight"]
    return rel, deficit, unmet, unmet + weight * distance, float(unmet.sum() + weight * distance.mean())


def _panel_sharpness(b_flat, n_x: int, n_kappa: int, x) -> float:
    """Smallest transition sharpness over the kappa columns with a transition (NaN: no transition)."""
    sharp, _, _ = transition_sharpness(x, b_flat.reshape(n_x, n_kappa))
    ok = sharp[np.isfinite(sharp)]
    return float(ok.min()) if ok.size else float("nan")


def gradient_descent_modes(task, lr: float, steps, threshold: float) -> dict:
    """Gradient descent ``theta <- theta + lr * (flow rate)`` on every mode of ``task`` (sum_half: one step is lr of
    theory time), read after each of ``steps`` (increasing). Unlike ``DiscreteGD``, which stops at the first mode
    that diverges, a mode whose |a|, |c| or |b|^(T-1) passes ``threshold`` is marked diverged and set to the fixed
    point 0, and the others go on.

    Returns ``{"steps", "a", "b", "c"}`` (n_steps, K) with NaN for diverged modes, and ``diverged`` (n_steps, K).
    """
    flow = compile_flow(task)
    rows = np.ascontiguousarray(flow.initial_state().reshape(task.K, 3).T)  # (3, K): a, b, c
    steps = [int(n) for n in steps]
    read = set(steps)  # a membership test per step: not a scan of the list
    out = {"steps": steps, "a": [], "b": [], "c": [], "diverged": []}
    dead = np.zeros(task.K, bool)
    power = max(task.T - 1, 0)
    with np.errstate(over="ignore", invalid="ignore"):
        for n in range(steps[-1] + 1):
            if n % 50 == 0 or n in read:
                size = np.abs(rows)
                dead |= ~(np.isfinite(size).all(axis=0) & (np.maximum(size[0], size[2]) <= threshold)
                          & (size[1] ** power <= threshold))
                rows[:, dead] = 0.0
            if n in read:
                for j, name in enumerate("abc"):
                    out[name].append(np.where(dead, np.nan, rows[j]))
                out["diverged"].append(dead.copy())
            if n < steps[-1]:
                rows += lr * flow.rates_rows(0.0, rows)
    return {k: np.array(v) if k != "steps" else v for k, v in out.items()}


def _fit_row(protocol: str, T, init, t_train, b, u, panel_of_mode, n_x, kappas, mode, names, paper, rate,
             diverged=None, **extra) -> dict:
    """One candidate of the search: its per-panel b range, sharpness, diverged points, criteria and score."""
    panels = range(len(names))
    with np.errstate(invalid="ignore"):
        b_max = np.array([np.nanmax(np.where(np.isfinite(b[panel_of_mode == pj]), b[panel_of_mode == pj], -np.inf))
                          for pj in panels])
    sharp = np.array([_panel_sharpness(b[panel_of_mode == pj], n_x, len(kappas), _panel_grid(FIG4["panels"][pj], mode))
                      for pj in panels])
    dead = np.zeros(len(names), int) if diverged is None else np.array(
        [int(diverged[panel_of_mode == pj].sum()) for pj in panels])
    rel, deficit, unmet, panel_scores, score = _fit_score(b_max, paper, sharp, dead)
    return {"protocol": protocol, "T": T, "init": init, "t_train": float(t_train), **extra,
            "b_max": b_max.round(4).tolist(), "u_max": round(float(np.nanmax(u)), 4),
            "relative_errors": rel.round(4).tolist(), "sharpness": sharp.round(4).tolist(),
            "sharpness_deficit": deficit.round(4).tolist(), "diverged_points": dead.tolist(),
            "criteria_not_met": unmet.tolist(), "panel_scores": panel_scores.round(6).tolist(), "score": score,
            "moving_fraction": float(np.mean(rate > FIG4["converged_rate"]))}


def fit_fig4(quick: bool = False) -> dict:
    """Search the protocol (gradient flow or gradient descent at a finite learning rate), T, init (a = b = c) and
    training time for the setting whose Fig. 4 looks like the paper's; one for all three panels if one exists, else
    one per panel.

    For every (T, init), all (panel, x, kappa) points of the fit grid are integrated as the modes of one system and
    read at every candidate training time (flow), or trained by gradient descent on the modes at every candidate
    learning rate and read after every candidate number of steps (``gradient_descent_modes``). Each candidate is
    scored per panel (``_fit_score``: criteria not met first, then the weighted distance) on the figure's own grid.
    Quick mode searches a subset on the quick grid. Deterministic: a fixed grid; ties go to the first candidate in
    table order.

    Returns
    -------
    dict
        ``unknowns``, ``candidates``, ``score_definition``, ``table`` (one row per candidate, both protocols),
        ``best`` (the best single protocol for all panels), ``per_panel`` (the best candidate per panel),
        ``chosen`` (``"one protocol"`` when ``best`` meets every criterion, else ``"one per panel"``) and
        ``protocol_of_panel`` (the drawn candidate per panel), ``best_converged``, ``tolerance`` (the best's largest
        relative error), ``reproduced`` per panel and overall, ``one_protocol_reproduces``, and ``search_says``.
    """
    mode = "quick" if quick else "full"
    kappas = FIG4["kappas"][mode]
    n_x = FIG4["n_x"][mode]
    names = [p["name"] for p in FIG4["panels"]]
    paper = np.array([FIG4_FIT["paper_b_max"][n] for n in names])
    times = np.asarray(FIG4_FIT["t_train"], float)
    times = times[times <= FIG4_FIT["t_train_max"][mode] * (1 + 1e-12)]
    gd = FIG4_FIT["gradient_descent"]
    gd_steps = [n for n in gd["steps"] if n <= gd["steps_max"][mode]]
    common = dict(n_x=n_x, kappas=kappas, mode=mode, names=names, paper=paper)
    rows = []
    pairs = [(T, init) for T in FIG4_FIT["T"][mode] for init in FIG4_FIT["init"][mode]]
    for T, init in tqdm(pairs, desc="fig4 paper_fit: flow (T, init)", disable=None, leave=False):
        task, panel_of_mode = _fit_task(T, init, kappas, mode)
        scale = np.sqrt(3 * task.K)
        try:
            traj = integrate(task, times[-1], t_eval=times, rtol=1e-6 / scale, atol=1e-8 / scale,
                             divergence_threshold=FIG4_FIT["divergence_threshold"])
        except DivergenceError as exc:  # pragma: no cover - not met on the fixed grid; recorded if it ever is
            rows += [{"protocol": "flow", "T": T, "init": init, "t_train": float(t), "score": None,
                      "note": f"diverged: {exc}"} for t in times]
            continue
        flow = compile_flow(task)
        for k, t in enumerate(times):
            y = np.column_stack([traj.a[k], traj.b[k], traj.c[k]]).ravel()
            rate = np.max(np.abs(flow.rates(t, y, count=False, check=False).reshape(-1, 3)), axis=1)
            rows.append(_fit_row("flow", T, init, t, traj.b[k], traj.u[k], panel_of_mode, rate=rate, **common))
    triples = [(T, init, lr) for T in gd["T"][mode] for init in gd["init"][mode] for lr in gd["lr"][mode]]
    for T, init, lr in tqdm(triples, desc="fig4 paper_fit: gradient descent (T, init, lr)", disable=None,
                            leave=False):
        task, panel_of_mode = _fit_task(T, init, kappas, mode)
        run = gradient_descent_modes(task, lr, gd_steps, gd["divergence_threshold"])
        flow = compile_flow(task)
        for k, n in enumerate(gd_steps):
            y = np.nan_to_num(np.column_stack([run["a"][k], run["b"][k], run["c"][k]])).ravel()
            rate = np.max(np.abs(flow.rates(0.0, y, count=False, check=False).reshape(-1, 3)), axis=1)
            rows.append(_fit_row("gradient descent", T, init, n * lr, run["b"][k], run["a"][k] * run["c"][k],
                                 panel_of_mode, rate=np.where(run["diverged"][k], np.inf, rate),
                                 diverged=run["diverged"][k], lr=lr, steps=n, **common))
    scored = [r for r in rows if r["score"] is not None]
    best = min(scored, key=lambda r: r["score"])  # min keeps the first of equal scores: deterministic
    per_panel = {name: min(scored, key=lambda r: r["panel_scores"][pj]) for pj, name in enumerate(names)}
    one = max(best["criteria_not_met"]) == 0
    drawn = {name: best if one else per_panel[name] for name in names}
    reproduced = {name: drawn[name]["criteria_not_met"][pj] == 0 for pj, name in enumerate(names)}
    settled = [r for r in scored if r["moving_fraction"] <= 1 - FIG4_FIT["converged_fraction"]]
    best_converged = min(settled, key=lambda r: r["score"]) if settled else None
    tolerance = float(max(best["relative_errors"]))
    missing = [n for n in names if not reproduced[n]]
    says = ("one protocol reproduces all three panels" if one else
            "no single protocol reproduces all three panels; each panel has its own that does" if not missing else
            f"no searched protocol reproduces the {' and '.join(missing)} panel"
            + ("s" if len(missing) > 1 else "") + " (table: every candidate's criteria_not_met)")
    return {
        "unknowns": ["protocol (gradient flow, or gradient descent at a finite learning rate)", "T",
                     "init (a = b = c at the start)", "t_train (theory time of training; steps x lr for gradient "
                     "descent)", "lr (gradient descent)"],
        "candidates": {"flow": {"T": FIG4_FIT["T"][mode], "init": FIG4_FIT["init"][mode], "t_train": times.tolist()},
                       "gradient descent": {"T": gd["T"][mode], "init": gd["init"][mode], "lr": gd["lr"][mode],
                                            "steps": gd_steps, "loss": gd["loss"]},
                       "kappa": kappas, "n_x": n_x},
        "paper": dict(zip(names, paper.tolist())),
        "paper_u_max": FIG4_FIT["paper_u_max"],
        "criteria": f"per panel: max b over the panel's grid within {PAPER_RANGE_RTOL:g} (relative) of the paper's; "
                    f"the transition sharp (sharpness >= {FIG4['sharp_jump_fraction']:g}); no diverged grid point",
        "score_definition": ("weighting: score = number of criteria not met over the three panels + "
                             f"{FIG4_FIT['distance_weight']:g} x mean over the panels of (clip(|max b / paper's max b "
                             "- 1|, 0, 1) + sharpness deficit) / 2, sharpness deficit = clip((0.5 - sharpness) / 0.5, "
                             "0, 1) (1 without a transition), sharpness = smallest over kappa of the largest jump of b "
                             "between neighbouring x over the range of b. The weighted distance is below 1, so a "
                             "candidate meeting more criteria always wins: a reproduction cannot be lost on a "
                             "sharpness difference (above the threshold sharpness earns nothing). Per panel "
                             "(panel_scores): that panel's criteria not met + the weight x its distance"),
        "table_columns": "b_max, sharpness, diverged_points, criteria_not_met, panel_scores per panel in order "
                         + ", ".join(names),
        "table": rows,
        "best": {**best, "panels": names},
        "per_panel": per_panel,
        "chosen": "one protocol" if one else "one per panel",
        "protocol_of_panel": drawn,
        "best_converged": best_converged,
        "tolerance": tolerance,
        "tolerance_definition": "the best single protocol's largest relative error of a panel's b range",
        "not_in_score": "the u range (0-1.25 in the paper): for delta near 2 the recurrent branch has u near delta, "
                        "so no converged setting keeps u below 1.25; reported in paper_features",
        "ranges_reproduced": bool(tolerance <= PAPER_RANGE_RTOL),
        "sharp_reproduced": bool(max(best["sharpness_deficit"]) == 0),
        "one_protocol_reproduces": bool(one),
        "reproduced_per_panel": reproduced,
        "reproduced": bool(all(reproduced.values())),
        "reproduced_definition": "every panel meets its criteria under the drawn protocol (one for all panels when one "
                                 "exists, else the best per panel)",
        "search_says": says,
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


FITTED = ("the protocol, T, init and training time of the panel were searched for this (paper_fit's criteria): "
          "holding says the search found a setting, not that the theory predicts it")


def _fig4_features(results, kappas) -> list:
    feats = []
    tol = PAPER_RANGE_RTOL
    for name, res in results.items():
        paper = FIG4_FIT["paper_b_max"][name]
        ours = float(np.nanmax(res["b"]))
        feats.append(paper_feature(f"{name} panel: b ranges up to about {paper:g}", paper, ours,
                                   abs(ours / paper - 1) <= tol, tolerance_relative=tol,
                                   measured="max of b over the drawn grid", by_construction=True,
                                   why_by_construction=FITTED))
    u_max = float(max(np.nanmax(r["u"]) for r in results.values()))
    feats.append(paper_feature("bottom row: u = ac within 0-1.25", FIG4_FIT["paper_u_max"], u_max,
                               0 < u_max <= FIG4_FIT["paper_u_max"] * (1 + tol), tolerance_relative=tol,
                               by_construction=False))
    for name, res in results.items():
        sharp, _, _ = transition_sharpness(res["x"], res["b"])
        ok = sharp[np.isfinite(sharp)]
        value = float(ok.min()) if ok.size else float("nan")
        feats.append(paper_feature(
            f"{name} panel: the transition in b is sharp", "sharp (a jump)", value,
            ok.size > 0 and value >= FIG4["sharp_jump_fraction"],
            measured="smallest over kappa of (largest jump of b between neighbouring grid points) / (range of b)",
            threshold=FIG4["sharp_jump_fraction"], by_construction=True, why_by_construction=FITTED))
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
        measured="grid bracket of the jump in b per kappa, divided by kappa; holds if all brackets overlap",
        by_construction=False))
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
        points=int(on.sum()), converged_points=int(conv.sum()), by_construction=False))
    return feats


@figure("fig4", "phase transitions: b and u against delta, lambda, beta, coloured by kappa (T, init, time fitted)")
def fig4(quick: bool = False):
    plt = _pyplot()
    mode = "quick" if quick else "full"
    fit = fit_fig4(quick)
    kappas = np.array(FIG4["kappas"][mode])
    cmap = plt.get_cmap("viridis")
    colour = lambda k: cmap(k / 1.3)  # noqa: E731
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.6), sharex="col")
    data = {"parameters": {**FIG4, "protocol_of_panel": {}}, "panels": {}, "time_axis": {}}
    errors, results = [], {}
    tr = FIG4["training"]
    for col, panel in enumerate(FIG4["panels"]):
        row = fit["protocol_of_panel"][panel["name"]]
        T, init0, t_train = row["T"], row["init"], row["t_train"]
        init = {"a": init0, "b": init0, "c": init0}
        x = _panel_grid(panel, mode)
        res, lr, steps = _panel_result(panel, row, x, kappas, mode)
        converged = res.rate < FIG4["converged_rate"]
        # Simulate a few grid points per kappa (smallest and largest kappa), where GD at this lr is stable: at the
        # end point lr * (top Hessian eigenvalue) <= 1, half the bound 2 / eigenvalue. Elsewhere (e.g. the constant
        # task with large delta and T) gradient descent oscillates or leaves for another branch. On a gradient-descent
        # panel only settled points: where it still oscillates at the end, rounding differences between the harness
        # and the modes' map grow from step to step.
        curvature = top_curvature(res, panel, T, kappas)
        settled = converged if row["protocol"] != "flow" else np.ones_like(converged)
        picks = []
        for kj in (0, len(kappas) - 1):
            ok = np.flatnonzero((np.abs(res.b[:, kj]) <= FIG4["simulation_max_abs_b"]) & (curvature[:, kj] * lr <= 1.0)
                                & settled[:, kj])
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
            sim = train_lrnn(task, lr=lr, steps=steps, record_every=steps, loss=tr["loss"],
                             data=tr["data"], init=tr["init"], seed=tr["seed"]).trajectory
            b_sim[j], u_sim[j] = sim.b[-1, 0], sim.u[-1, 0]
        b_th = np.array([res.b[xi, kj] for xi, kj in picks])
        u_th = np.array([res.u[xi, kj] for xi, kj in picks])
        err = max(np.abs(b_sim - b_th).max(), np.abs(u_sim - u_th).max()) if picks else 0.0
        errors.append(err)
        for r, (q, theory, simulated) in enumerate((("b", res.b, b_sim), ("u", res.u, u_sim))):
            ax = axes[r, col]
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
                ax.plot(x, line[r], "--", color="k", lw=1.6, label="0-loss solution, κ = δ f(λ, T)")
            ax.set_ylabel("recurrent mode b" if q == "b" else "input-output mode u = ac")
            if r == 1:
                ax.set_xlabel({"delta": "δ (recurrent computation)", "lambda": "λ (recurrent computation)",
                               "beta": "β (recurrent computation)"}[panel["x"]])
            if q == "u":
                ax.set_ylim(-0.05, 1.35)
            ax.grid(alpha=0.3)
        top = max(1.1, float(np.nanmax(res.b)) * 1.08)
        axes[0, col].set_ylim(-0.05, top)
        how = (f"flow to t={t_train:.3g}" if row["protocol"] == "flow" else
               f"GD, lr={lr:g}, {steps} steps (t={t_train:.3g})")
        pj = FIG4["panels"].index(panel)
        axes[0, col].set_title(f"{panel['name']}: {how}, T={T}, a=b=c={init0:g}\nmax b {np.nanmax(res.b):.2f} "
                               f"(paper ≈ {fit['paper'][panel['name']]:g}), sharpness {row['sharpness'][pj]:.2f}; "
                               f"{int(converged.sum())} of {converged.size} converged", fontsize=9)
        results[panel["name"]] = {"x": x, "b": res.b, "u": res.u, "converged": converged}
        data["parameters"]["protocol_of_panel"][panel["name"]] = {
            k: row.get(k) for k in ("protocol", "T", "init", "t_train", "lr", "steps")}
        data["time_axis"][panel["name"]] = {"t_train": t_train, "training_steps": steps, "lr": lr,
                                            "loss": tr["loss"], "mapping": "theory time t = steps * lr (tau = 1, "
                                                                           "loss sum_half)"}
        data["panels"][panel["name"]] = {
            "x_name": panel["x"], "x": x, "kappa": kappas, "b": res.b, "u": res.u, "protocol": row["protocol"],
            "max_rate_at_t_train": res.rate, "converged": converged, "diverged": res.diverged,
            "gradient_descent_end_states": getattr(res, "end_states", None),
            "simulated": {panel["x"]: points[panel["x"]], "kappa": points["kappa"], "b": b_sim, "u": u_sim,
                          "b_theory": b_th, "u_theory": u_th, "max_abs_error": float(err),
                          "grid_points_gd_unstable": int(np.sum(curvature * lr > 1.0))}}
    axes[0, 0].plot([], [], "o", color="grey", markersize=3.5, label="converged (rate < 1e-6)")
    axes[0, 0].plot([], [], "o", markerfacecolor="none", markeredgecolor="grey", label="still moving at t_train")
    axes[0, 0].plot([], [], "s", color="grey", markeredgecolor="k", label="trained LRNN (simulation)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=8, bbox_to_anchor=(0.5, 0.952),
               title="colour: feedforward computation κ; dashed: theory (flow, or the modes' gradient-descent map)",
               title_fontsize=8, frameon=False)
    caption = _fig4_caption(fit)
    fig.suptitle(caption, fontsize=9)
    tight_layout(fig, rect=(0, 0, 1, 0.9))
    fig.subplots_adjust(top=0.85)  # tight_layout leaves room for the figure legend twice over
    data["max_abs_error"] = float(max(errors))
    data["max_abs_error_definition"] = ("largest |trained LRNN - theory| in b and u at the simulated points (theory: "
                                        "the integrated flow, or for a gradient-descent panel the modes' "
                                        "gradient-descent map at the same lr and steps)")
    data["layout"] = "b[i, j] and u[i, j]: x[i], kappa[j]"
    data["converged_definition"] = ("max(|da/dt|, |db/dt|, |dc/dt|) at t_train below parameters.converged_rate; "
                                    "other points are drawn open: read while still moving (or oscillating)")
    data["paper_fit"] = fit
    data["caption"] = caption
    data["paper_features"] = _fig4_features(results, kappas) + [_sharper_with_T(fit)]
    return fig, data


def _panel_result(panel, row, x, kappas, mode: str):
    """The drawn protocol on one panel's grid: an object with ``a``, ``b``, ``c``, ``u``, ``rate`` (the flow's
    largest rate at the end point), ``diverged`` (n_x, n_kappa) and ``axes``; the simulation's lr and steps."""
    T, init = row["T"], {"a": row["init"], "b": row["init"], "c": row["init"]}
    if row["protocol"] == "flow":
        res = sweep(TaskGrid(panel["family"], T, {panel["x"]: x, "kappa": kappas}, fixed=panel["fixed"],
                             base=panel["base"], init=init),  # the modes at t_train, moving or not (drawn open)
                    IntegrationOptions(t_end=row["t_train"], warn=False))
        lr = max(FIG4["training"]["lr"][mode], row["t_train"] / FIG4["training"]["max_steps"])
        steps = int(np.ceil(row["t_train"] / lr))
        res.diverged = np.zeros(res.b.shape, bool)
        return res, row["t_train"] / steps, steps
    task = grid_task(panel["family"], T, grid_points({panel["x"]: x, "kappa": np.asarray(kappas, float)}),
                     panel["fixed"], panel["base"], init)
    n = row["steps"]
    run = gradient_descent_modes(task, row["lr"], [n - 2, n - 1, n], FIG4_FIT["gradient_descent"]["divergence_threshold"])
    shape = (len(x), len(kappas))
    a, b, c = (run[k][-1].reshape(shape) for k in "abc")
    settled = np.abs(run["b"][2] - run["b"][1]) < 1e-9
    period_two = ~settled & (np.abs(run["b"][2] - run["b"][0]) < 1e-9)
    recurrent = np.nan_to_num(run["b"][2]) > 1.0
    flow = compile_flow(task)
    y = np.nan_to_num(np.column_stack([a.ravel(), b.ravel(), c.ravel()])).ravel()
    rate = np.max(np.abs(flow.rates(0.0, y, count=False, check=False).reshape(-1, 3)), axis=1).reshape(shape)
    diverged = run["diverged"][0].reshape(shape)
    res = SimpleNamespace(a=a, b=b, c=c, u=a * c, rate=np.where(diverged, np.inf, rate), diverged=diverged,
                          axes={panel["x"]: x, "kappa": np.asarray(kappas, float)},
                          end_states={"recurrent_branch_points (b > 1)": int(recurrent.sum()),
                                      "settled": int((recurrent & settled).sum()),
                                      "period_2": int((recurrent & period_two).sum()),
                                      "irregular": int((recurrent & ~settled & ~period_two).sum()),
                                      "note": "at a finite learning rate b climbs the recurrent branch until the "
                                              "step is at the edge of stability, then oscillates: the cap on b"})
    return res, row["lr"], row["steps"]


def _sharper_with_T(fit) -> dict:
    """The paper: the transition gets sharper as T grows. Measured on the fit's flow rows at the best flow
    candidate's init and the longest training time searched (constant and exponential panels; the Dirac panel often
    has no transition)."""
    flows = [r for r in fit["table"] if r["protocol"] == "flow" and r["score"] is not None]
    init = min(flows, key=lambda r: r["score"])["init"]
    t_long = max(r["t_train"] for r in flows)
    rows = sorted((r for r in flows if r["init"] == init and r["t_train"] == t_long), key=lambda r: r["T"])
    sharp = {r["T"]: r["sharpness"][:2] for r in rows}
    first, last = sharp[rows[0]["T"]], sharp[rows[-1]["T"]]
    holds = len(rows) > 1 and all(np.isfinite(a) and np.isfinite(b) and b > a for a, b in zip(first, last))
    return paper_feature("the transition gets sharper as T grows", "sharper with T",
                         {"T": list(sharp), "sharpness_constant_exponential": list(sharp.values())}, holds,
                         measured=f"transition sharpness under the flow at init={init:g}, t_train={t_long:g}, "
                                  "smallest vs largest T", by_construction=False)


def _fig4_caption(fit) -> str:
    paper = ", ".join(f"{v:g}" for v in fit["paper"].values())
    drawn = fit["protocol_of_panel"]
    ranges = ", ".join(f"{n} {r['b_max'][j]:.2f}" for j, (n, r) in enumerate(drawn.items()))
    return (f"Fig. 4 (fitted protocol, T, init, training time; {fit['chosen']}): searched gradient flow and gradient "
            f"descent at finite learning rates against the paper's max b ({paper}), sharp transitions and no diverged "
            f"point.\nDrawn: max b {ranges}. {fit['search_says'][0].upper() + fit['search_says'][1:]}.")


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
    the sign change between neighbouring grid points is then refined by bisection to ``refine_tol`` (each step asks
    whether b = 0 still wins at beta = 1.08, which is beta_c(long_T, b_max) > 1.08). Deterministic.

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
            lo, hi = (mid, hi) if not recurrent_wins(T_long, np.array([target]), mid, F["n_grid"])[0] else (lo, mid)
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
    # legends where no curve runs: b* right of beta_c below the bound, u* and E* at the top right and bottom right
    axes[0].legend(fontsize=7, loc="center right", bbox_to_anchor=(1.0, 0.45))
    axes[1].legend(fontsize=7, loc="upper right")
    axes[2].legend(fontsize=7, loc="lower right")
    caption = (f"Fig. A3 (fitted): |b| <= b_max = {b_max:.3g}, fitted so that the long-T (T={FIGA3_FIT['long_T']}) "
               f"critical point is the paper's β_c ≈ {FIGA3_FIT['paper_long_T_beta_c']:g}: ours {long_bc:.4f} "
               f"(T={FIGA3_FIT['settle_T']}: {fit['best']['beta_c_settle_T']:.4f})"
               + ("" if fit["reproduced"] else "; not reproduced within the tolerance, closest shown"))
    fig.suptitle(caption, fontsize=10)
    tight_layout(fig, rect=(0, 0, 1, 0.93))
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
                                   measured="bisected beta_c; |b*(beta_c + 1e-4) - b*(beta_c - 1e-4)|",
                                   by_construction=False))
    longer = sorted(T for T in bc if T > 3)
    feats.append(paper_feature("T > 3: first-order transition (b* jumps at beta_c)", "jump",
                               {T: jumps[T] for T in longer}, all(jumps[T] > 0.5 for T in longer),
                               measured="|b*(beta_c + 1e-4) - b*(beta_c - 1e-4)| per T", by_construction=False))
    if 4 in bc:
        feats.append(paper_feature("T = 4: first-order transition at beta_c = 1 (Landau, s_1/s_T = 1)", 1.0, bc[4],
                                   abs(bc[4] - 1.0) < 1e-4, by_construction=False))
    best, target = fit["best"], fit["paper"]["long_T_beta_c"]
    feats.append(paper_feature(f"long T: the critical point is near beta = {target:g} (T = {FIGA3_FIT['long_T']})",
                               target, {"T": FIGA3_FIT["long_T"], "beta_c": best["beta_c_long_T"]},
                               abs(best["beta_c_long_T"] - target) <= fit["tolerance"],
                               tolerance=fit["tolerance"], b_max=b_max, by_construction=True,
                               why_by_construction=f"b_max was fitted so that beta_c(T = {FIGA3_FIT['long_T']}) is "
                                                   f"{target:g} (paper_fit)"))
    feats.append(paper_feature(f"long T: the critical point settles near beta = {target:g} (T = {best['settle_T']}, "
                               "not fitted)", target, {"T": best["settle_T"], "beta_c": best["beta_c_settle_T"]},
                               abs(best["beta_c_settle_T"] - target) <= fit["tolerance"],
                               tolerance=fit["tolerance"], b_max=b_max, by_construction=False,
                               measured=f"beta_c at T = {best['settle_T']} with the bound fitted at T = "
                                        f"{FIGA3_FIT['long_T']}: a held-out length"))
    small = betas < 0.5
    T0 = next(iter(data["curves"]))
    u = np.asarray(data["curves"][T0]["u"])[small]
    feats.append(paper_feature("trivial solution b = 0 has u = 1/beta and E = beta^2 (paper: 'u = beta', 'u = beta^2')",
                               "u = beta (text), u = beta^2 (caption)",
                               {"max_abs_u_minus_1_over_beta": float(np.max(np.abs(u - 1 / betas[small]))),
                                "max_abs_u_minus_beta": float(np.max(np.abs(u - betas[small])))},
                               bool(np.max(np.abs(u - 1 / betas[small])) < 1e-6),
                               measured=f"u* for beta < 0.5 at T={T0}", note="the paper's u = beta is a slip",
                               by_construction=False))
    return feats
