"""Result 4 reproductions: NTK movement (kernel distance from initialisation to the end of training).

* ``fig5``: kernel distance against T = 1..8 and init scale linspace(0.01, 0.5, 10), aligned (left) and unaligned
  (right), constant task s_t = 1 on 4 modes (N_x = N_y = 4), N_h = 4.
* ``figA5``: the same, unaligned, N_h = 300 (next to N_h = 4), plus aligned N_h = 300 check points.
* ``figA6``: init scales approaching 1 (linspace(0.1, 1.0, 10)), aligned and unaligned; diverged runs are empty
  cells (NaN in the JSON).
* ``figA7``: independent init scales of u (W_x and W_y, or a = c) and of b (W_h), T = 2 and T = 6, aligned (top) and
  unaligned (bottom).

Simulation: LRNNs trained with the validation harness (``lrnn_theory.validation.ntk``; protocol in ``TRAINING``,
recorded in the JSON), one job per grid cell on a process pool through ``lrnn_theory.sweeps.run_jobs``. Theory: the
distance predicted from the integrated modes alone (``lrnn_theory.ntk.mode_ntk``), for every aligned cell
(``max_abs_error`` = largest |predicted - trained| over the aligned grids) and, to show where it stops holding,
from the read-off initial modes of unaligned networks (``unaligned_readoff_error``, not part of max_abs_error).
Heatmaps show the trained networks; the line plots below them draw simulation solid and theory dashed.

Any task the harness trains on can fill a heatmap's rows (``_aligned_unaligned(..., make_tasks=)``,
``kernel_distance_panels``):

* ``figA4``: as fig5 for the rotation task (inverse-exponential, lambda = e^(i pi/12), R = 1, delta = 1): one complex
  mode, trained as a real block network of N_x = N_y = N_h = 2 units. Its aligned kernels are predicted by
  ``lrnn_theory.ntk.mode_ntk`` (complex a, b, c), and ``auto_lr`` uses them too.
"""
from __future__ import annotations

import contextlib
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from lrnn_theory.tasks import Task
from lrnn_theory.validation.ntk import TRAINING, distance_grid

from . import figure, paper_feature, pyplot as _pyplot

SCALES_FIG5 = np.round(np.linspace(0.01, 0.5, 10), 4).tolist()
FIG5 = {"family": "constant", "delta": 1.0, "modes": 4, "hidden": 4,
        "T": {"full": list(range(1, 9)), "quick": [1, 2, 8]},
        "scales": {"full": SCALES_FIG5, "quick": [0.01, 0.25, 0.5]}}
FIGA5 = {"family": "constant", "delta": 1.0, "modes": 4, "hidden": 300, "hidden_compare": 4,
         "T": {"full": [1, 2, 4, 6, 8], "quick": [1, 3]},
         "scales": {"full": SCALES_FIG5, "quick": [0.05, 0.5]},
         "aligned_checks": {"full": {"T": [2, 8], "scales": [0.01, 0.5]}, "quick": {"T": [2], "scales": [0.2]}}}
FIGA6 = {"family": "constant", "delta": 1.0, "modes": 4, "hidden": 4,
         "T": {"full": list(range(1, 9)), "quick": [1, 4, 8]},
         "scales": {"full": np.round(np.linspace(0.1, 1.0, 10), 4).tolist(), "quick": [0.1, 0.55, 1.0]}}
FIGA7 = {"family": "constant", "delta": 1.0, "modes": 4, "hidden": 4, "T": [2, 6],
         "scales": {"full": np.round(np.linspace(0.01, 0.5, 8), 4).tolist(), "quick": [0.01, 0.5]},
         "u_scale_means": "aligned: a = c = scale_u (so u = ac = scale_u^2 at init); random: W_x and W_y at "
                          "scale_u, W_h at scale_b (N(0, scale^2 / fan_in))"}
FIGA4 = {"family": "inverse_exponential", "delta": 1.0, "lam": 1.0, "lambda_phase": float(np.pi / 12),
         "modes": 1, "hidden": 2, "T": FIG5["T"], "scales": FIG5["scales"],
         "hidden_means": "real hidden units: 2 for the one complex mode (N_x = N_y = N_h = 2, the block form's "
                         "minimum, as fig5's N_h = N_x = N_y = 4)",
         "T1_row": "at T = 1 the target d_1 = delta = 1 is real: the complex mode's block network (target H(1) = I_2, "
                   "aligned init H(scale) = scale I_2) is the same 2-unit network as two real modes of strength 1, "
                   "trained as such (the harness would otherwise use a single real unit)"}
#: A distance counts as "substantial" above this (our threshold for the paper's wording).
SUBSTANTIAL = 0.1


def constant_tasks(T_values, modes=4, delta=1.0):
    """The constant task s_t = delta on ``modes`` modes, one Task per T."""
    return [Task.from_family("constant", T=T, delta=[delta] * modes) for T in T_values]


@contextlib.contextmanager
def grid_executor(n_jobs: int):
    """A process pool with one worker per core (at most n_jobs and ``figures.INNER_WORKERS``), or None (serial)."""
    from . import INNER_WORKERS  # read when called: ``lrnn reproduce all`` sets it after this module is imported

    workers = min(os.cpu_count() or 1, n_jobs, INNER_WORKERS or n_jobs)
    if workers <= 1:
        yield None
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield pool


def kernel_distance_panels(tasks, scales, panels, executor=None):
    """Kernel-distance grids (rows = tasks, columns = init scales) for several (init, hidden) panels.

    Parameters
    ----------
    tasks : sequence of Task
        One row each (any task the harness trains on).
    scales : sequence
        Init scales (numbers or {"u", "b"} mappings), one column each.
    panels : sequence of dict
        ``{"name", "init", "hidden"}``.
    executor : concurrent.futures.Executor, optional

    Returns
    -------
    dict
        name -> grid dict from ``distance_grid`` (unaligned grids also predict from the read-off modes).
    """
    return {p["name"]: distance_grid(tasks, scales, init=p["init"], hidden=p["hidden"], executor=executor,
                                     predict=True) for p in panels}


def _finite_error(grid) -> float:
    diff = np.abs(grid["predicted"] - grid["distance"])
    return float(np.nanmax(diff)) if np.any(np.isfinite(diff)) else float("nan")


def _heatmap(ax, fig, values, rows, cols, title, row_label="trajectory length T", col_label="init scale"):
    import matplotlib

    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="white")  # diverged (NaN) cells
    im = ax.imshow(np.ma.masked_invalid(values), origin="lower", aspect="auto", cmap=cmap, vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(cols)), [f"{c:.2g}" for c in cols], rotation=45, fontsize=7)
    ax.set_yticks(range(len(rows)), [str(r) for r in rows], fontsize=7)
    ax.set_xlabel(col_label)
    ax.set_ylabel(row_label)
    ax.set_title(title, fontsize=9)
    if values.size <= 100:
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6,
                        color="k" if v > 0.6 else "w")
    fig.colorbar(im, ax=ax, shrink=0.85, label="kernel distance")


def _lines(ax, grid, rows, cols, title, row_name="T"):
    """Distance against init scale per row: simulation solid, mode theory dashed."""
    plt = _pyplot()
    colours = plt.get_cmap("plasma")(np.linspace(0, 0.85, len(rows)))
    for i, row in enumerate(rows):
        ax.plot(cols, grid["distance"][i], "-o", color=colours[i], markersize=3, label=f"{row_name}={row}")
        if np.any(np.isfinite(grid["predicted"][i])):
            ax.plot(cols, grid["predicted"][i], "--", color=colours[i], linewidth=1.2)
    ax.plot([], [], "k-", label="trained LRNN (simulation)")
    ax.plot([], [], "k--", label="mode theory (integrated modes)")
    ax.set_xlabel("init scale")
    ax.set_ylabel("kernel distance at end of training")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    ax.grid(alpha=0.3)


def _grid_json(grid, rows, cols, init, hidden, row_name="T"):
    out = {row_name: rows, "init_scale": cols, "init": init, "hidden": hidden,
           "layout": f"distance[i][j]: {row_name}[i], init_scale[j]", **grid}
    if init == "aligned":
        out["max_abs_error"] = _finite_error(grid)
    else:
        out["predicted_definition"] = ("mode theory applied to the read-off initial modes of the unaligned network "
                                       "(outside its assumptions)")
        out["unaligned_readoff_error"] = _finite_error(grid)
    return out


def _mean(values) -> float:
    return float(np.nanmean(values))


# ---- Fig. 5 -------------------------------------------------------------------------------------------------------
def _fig5_features(grids, T_values, scales, prefix=""):
    """Fig. 5's visible statements, per panel (aligned, unaligned), from the trained networks' distances."""
    T = np.array(T_values)
    out = []
    for name, grid in grids.items():
        D = grid["distance"]
        if 1 in T_values and np.any(T > 1):
            d1, dlong = float(D[T == 1, 0][0]), D[T > 1, 0]
            out.append(paper_feature(
                f"{prefix}{name}: the distance increases as T goes from 1 to > 1 (smallest init scale)",
                "larger at every T > 1 than at T = 1",
                {"init_scale": scales[0], "D_T1": d1,
                 "D_T_above_1": {str(t): float(d) for t, d in zip(T[T > 1], dlong)}},
                np.all(dlong > d1)))
        small, large = _mean(D[T > 1, 0]), _mean(D[T > 1, -1])
        out.append(paper_feature(f"{prefix}{name}: the kernel moves more at small init scales",
                                 "larger distance at the smallest init scale than at the largest",
                                 {f"mean_D_T_above_1_at_{scales[0]:g}": small,
                                  f"mean_D_T_above_1_at_{scales[-1]:g}": large}, small > large))
        out.append(paper_feature(f"{prefix}{name}: the NTK still moves substantially at larger inits",
                                 f"substantial (our threshold: distance > {SUBSTANTIAL})",
                                 {f"mean_D_T_above_1_at_{scales[-1]:g}": large}, large > SUBSTANTIAL,
                                 threshold=SUBSTANTIAL))
    return out


def _aligned_unaligned(config, quick, titles, features, make_tasks=None):
    """Aligned (left) and unaligned (right) grids over T x init scale: heatmaps above, lines below, and the JSON.

    ``make_tasks(T_values) -> [Task]`` fills the rows (default: the constant task of ``config``); any task the
    harness trains on works, e.g. the rotation task of Fig. A4. ``features(grids, T_values, scales)`` gives the
    figure's ``paper_features``.
    """
    plt = _pyplot()
    mode = "quick" if quick else "full"
    T_values, scales = config["T"][mode], config["scales"][mode]
    if make_tasks is None:
        tasks = constant_tasks(T_values, config["modes"], config["delta"])
    else:
        tasks = make_tasks(T_values)
    panels = [{"name": "aligned", "init": "aligned", "hidden": config["hidden"]},
              {"name": "unaligned", "init": "random", "hidden": config["hidden"]}]
    with grid_executor(len(tasks) * len(scales)) as pool:
        grids = kernel_distance_panels(tasks, scales, panels, pool)
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    for col, p in enumerate(panels):
        g = grids[p["name"]]
        _heatmap(axes[0, col], fig, g["distance"], T_values, scales,
                 f"{p['name']} LRNN, N_h={p['hidden']}: {titles} ({int(g['diverged'].sum())} diverged, white)")
        _lines(axes[1, col], g, T_values, scales,
               f"{p['name']}: trained (solid) vs mode theory (dashed)"
               + ("" if p["init"] == "aligned" else ", from read-off modes: outside the theory"))
    fig.tight_layout()
    data = {"parameters": config, "training": TRAINING,
            "panels": {p["name"]: _grid_json(grids[p["name"]], T_values, scales, p["init"], p["hidden"])
                       for p in panels},
            "max_abs_error": _finite_error(grids["aligned"]),
            "max_abs_error_definition": "largest |mode-theory prediction - trained network| of the kernel distance "
                                        "over the aligned grid",
            "unaligned_readoff_error": _finite_error(grids["unaligned"]),
            "diverged_cells": "NaN in distance; white in the heatmaps",
            "paper_features": features(grids, T_values, scales)}
    return fig, data


@figure("fig5", "NTK kernel distance against T and init scale, aligned and unaligned, N_h = 4 (constant task)")
def fig5(quick: bool = False):
    return _aligned_unaligned(FIG5, quick, "kernel distance init -> end of training", _fig5_features)


# ---- Fig. A4 -------------------------------------------------------------------------------------------------------
def rotation_tasks(T_values, config=FIGA4):
    """The rotation task (inverse-exponential, lambda = lam e^(i lambda_phase)), one Task per T, always two real units.

    At T = 1 the task is real (d_1 = delta): it becomes two real modes of strength delta, the same network as the
    complex mode's 2x2 block (``FIGA4["T1_row"]``).
    """
    tasks = []
    for T in T_values:
        task = Task.from_family(config["family"], T=T, delta=config["delta"], lam=config["lam"],
                                lambda_phase=config["lambda_phase"])
        if not task.is_complex:
            task = Task(np.repeat(task.singular_values, 2, axis=0), tau=task.tau)
        tasks.append(task)
    return tasks


def _figA4_features(grids, T_values, scales):
    """The paper's one statement ("qualitatively the same picture as Fig. 5"), then Fig. 5's features computed here."""
    features = _fig5_features(grids, T_values, scales, prefix="rotation task, ")
    held = sum(f["holds"] for f in features)
    summary = paper_feature("Fig. A4: the rotation task gives qualitatively the same picture as Fig. 5",
                            "the same picture as Fig. 5",
                            {"fig5_features_holding": held, "fig5_features": len(features)},
                            held == len(features), definition="every one of Fig. 5's features below holds")
    return [summary] + features


@figure("figA4", "NTK kernel distance against T and init scale, aligned and unaligned, rotation task phi = pi/12, "
                 "R = 1 (N_h = 2 real units)")
def figA4(quick: bool = False):
    fig, data = _aligned_unaligned(FIGA4, quick, "rotation task phi=pi/12, R=1", _figA4_features,
                                   make_tasks=rotation_tasks)
    data["theory"] = ("complex mode kernel (lrnn_theory.ntk.mode_ntk) of the integrated complex flow; "
                      "learning rate from auto_lr with the same kernel (option 1: complex mode_ntk and auto_lr, not a "
                      "fixed learning rate)")
    return fig, data


# ---- Fig. A5 ------------------------------------------------------------------------------------------------------
@figure("figA5", "NTK kernel distance of unaligned LRNNs, N_h = 300 against N_h = 4 (constant task)")
def figA5(quick: bool = False):
    plt = _pyplot()
    mode = "quick" if quick else "full"
    T_values, scales = FIGA5["T"][mode], FIGA5["scales"][mode]
    tasks = constant_tasks(T_values, FIGA5["modes"], FIGA5["delta"])
    checks = FIGA5["aligned_checks"][mode]
    check_tasks = constant_tasks(checks["T"], FIGA5["modes"], FIGA5["delta"])
    panels = [{"name": f"unaligned N_h={FIGA5['hidden']}", "init": "random", "hidden": FIGA5["hidden"]},
              {"name": f"unaligned N_h={FIGA5['hidden_compare']}", "init": "random",
               "hidden": FIGA5["hidden_compare"]}]
    with grid_executor(len(tasks) * len(scales)) as pool:
        grids = kernel_distance_panels(tasks, scales, panels, pool)
        aligned = distance_grid(check_tasks, checks["scales"], init="aligned", hidden=FIGA5["hidden"],
                                executor=pool)
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    for col, p in enumerate(panels):
        _heatmap(axes[0, col], fig, grids[p["name"]]["distance"], T_values, scales, p["name"])
        _lines(axes[1, col], grids[p["name"]], T_values, scales,
               f"{p['name']}: trained (solid), mode theory from read-off modes (dashed, outside the theory)")
    fig.tight_layout()
    wide, narrow = (grids[p["name"]]["distance"] for p in panels)
    T = np.array(T_values)
    top_half = slice(len(scales) // 2, None)
    longest = T == T.max()
    upper_wide, upper_narrow = _mean(wide[:, top_half]), _mean(narrow[:, top_half])
    features = [
        paper_feature("N_h = 300: the movement persists, especially for long T",
                      f"substantial (our threshold: distance > {SUBSTANTIAL}), larger at long T",
                      {f"D_T{T.max()}": wide[longest][0].tolist(), f"D_T{T.min()}": wide[T == T.min()][0].tolist(),
                       "init_scale": scales},
                      _mean(wide[longest]) > max(SUBSTANTIAL, _mean(wide[T == T.min()])), threshold=SUBSTANTIAL,
                      definition="mean distance at the longest T above the threshold and above that at the shortest"),
        paper_feature("N_h = 300: the movement shifts to smaller init scales (than N_h = 4)",
                      "less movement at the larger init scales than N_h = 4",
                      {"mean_D_larger_half_of_scales_N_h_300": upper_wide,
                       "mean_D_larger_half_of_scales_N_h_4": upper_narrow},
                      upper_wide < upper_narrow)]
    data = {"parameters": FIGA5, "training": TRAINING,
            "panels": {p["name"]: _grid_json(grids[p["name"]], T_values, scales, p["init"], p["hidden"])
                       for p in panels},
            "aligned_checks": _grid_json(aligned, checks["T"], checks["scales"], "aligned", FIGA5["hidden"]),
            "max_abs_error": _finite_error(aligned),
            "max_abs_error_definition": "largest |mode-theory prediction - trained network| of the kernel distance "
                                        "at the aligned N_h = 300 check points (the aligned kernel does not depend "
                                        "on N_h)",
            "unaligned_readoff_error": max(_finite_error(g) for g in grids.values()),
            "paper_features": features}
    return fig, data


# ---- Fig. A6 ------------------------------------------------------------------------------------------------------
def _figA6_features(grids, T_values, scales):
    T = np.array(T_values)
    al, un = grids["aligned"]["distance"], grids["unaligned"]["distance"]
    recurrent = T > 1
    mid = len(scales) // 2
    return [
        paper_feature("aligned: the distance decreases as init -> 1", "smaller at init 1 than at mid scales",
                      {"T": T[recurrent].tolist(), f"D_at_{scales[mid]:g}": al[recurrent, mid].tolist(),
                       f"D_at_{scales[-1]:g}": al[recurrent, -1].tolist()},
                      np.all(al[recurrent, -1] < al[recurrent, mid]), definition="at every T > 1"),
        paper_feature("unaligned: the distance stays large as init -> 1",
                      f"large (our threshold: distance > {SUBSTANTIAL})",
                      {f"mean_D_T_above_1_at_{scales[-1]:g}": _mean(un[recurrent, -1]),
                       "diverged_cells": int(grids["unaligned"]["diverged"].sum())},
                      _mean(un[recurrent, -1]) > SUBSTANTIAL, threshold=SUBSTANTIAL)]


@figure("figA6", "NTK kernel distance at init scales approaching 1, aligned and unaligned (NaN = diverged)")
def figA6(quick: bool = False):
    return _aligned_unaligned(FIGA6, quick, "large init scales", _figA6_features)


# ---- Fig. A7 ------------------------------------------------------------------------------------------------------
@figure("figA7", "NTK kernel distance against independent init scales of u and b, T = 2 and 6")
def figA7(quick: bool = False):
    plt = _pyplot()
    mode = "quick" if quick else "full"
    scales = FIGA7["scales"][mode]
    pairs = [{"u": su, "b": sb} for sb in scales for su in scales]  # rows: scale_b, columns: scale_u
    fig, axes = plt.subplots(2, 2 * len(FIGA7["T"]), figsize=(22, 9))
    data = {"parameters": FIGA7, "training": TRAINING, "panels": {}, "paper_features": []}
    errors = []
    n = len(scales)
    with grid_executor(2 * len(FIGA7["T"]) * len(pairs)) as pool:
        for row, init in enumerate(("aligned", "random")):
            for k, T in enumerate(FIGA7["T"]):
                task = constant_tasks([T], FIGA7["modes"], FIGA7["delta"])[0]
                g = distance_grid([task], pairs, init=init, hidden=FIGA7["hidden"], executor=pool, predict=True)
                g = {key: v.reshape(n, n) for key, v in g.items()}
                name = f"{'aligned' if init == 'aligned' else 'unaligned'} T={T}"
                _heatmap(axes[row, 2 * k], fig, g["distance"], scales, scales, name,
                         row_label="init scale of b (W_h)", col_label="init scale of u (W_x, W_y)")
                ax = axes[row, 2 * k + 1]
                _lines(ax, g, scales, scales, f"{name}: against the u scale, one curve per b scale",
                       row_name="b scale")
                ax.set_xlabel("init scale of u")
                entry = _grid_json(g, scales, scales, init, FIGA7["hidden"], row_name="scale_b")
                entry["layout"] = "distance[i][j]: scale_b[i], scale_u[j]"
                entry["init_scale"] = {"u": scales, "b": scales}
                data["panels"][name] = entry
                if init == "aligned":
                    errors.append(_finite_error(g))
                D = g["distance"]
                along_b = float(np.nanmean(np.nanmax(D, axis=0) - np.nanmin(D, axis=0)))
                along_u = float(np.nanmean(np.nanmax(D, axis=1) - np.nanmin(D, axis=1)))
                data["paper_features"].append(paper_feature(
                    f"{name}: the recurrent-mode init (b) mostly determines the distance",
                    "the distance changes more along the b scale than along the u scale",
                    {"mean_range_of_D_along_b_scale": along_b, "mean_range_of_D_along_u_scale": along_u},
                    along_b > along_u))
    fig.tight_layout()
    data["max_abs_error"] = float(np.nanmax(errors))
    data["max_abs_error_definition"] = "largest |mode-theory prediction - trained network| over the aligned grids"
    return fig, data
