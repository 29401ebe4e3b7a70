"""Result 4 reproductions: NTK movement (kernel distance from initialisation to the end of training).

* ``fig5``: kernel distance against T = 1..8 and init scale linspace(0.01, 0.5, 10), aligned (left) and unaligned
  (right), constant task s_t = 1 on 4 modes (N_x = N_y = 4), N_h = 4.
* ``figA5``: the same, unaligned, N_h = 300 (next to N_h = 4), plus aligned N_h = 300 check points.
* ``figA6``: init scales approaching 1 (linspace(0.1, 1.0, 10)), aligned and unaligned, with the learning rate set
  per T below the stability bound (nothing diverges) and with one fixed rate for the whole grid (0.04: the paper's
  diverged T = 8 row and no other; 0.05 also blanks most of T = 7, ``FIGA6["fixed_lr_search"]``). Diverged runs
  are hatched cells, ``null`` in the JSON and listed in ``diverged_cells``.
* ``figA7``: independent init scales of u (W_x and W_y, or a = c) and of b (W_h), T = 2 and T = 6, aligned (top) and
  unaligned (bottom).

Simulation: LRNNs trained with the validation harness (``lrnn_theory.validation.ntk``; protocol in ``TRAINING``,
recorded in the JSON), one job per grid cell on a process pool through ``lrnn_theory.sweeps.run_jobs``. Theory: the
distance predicted from the integrated modes alone (``lrnn_theory.ntk.mode_ntk``), for every aligned cell
(``max_abs_error`` = largest |predicted - trained| over the aligned grids) and, to show where it stops holding,
from the read-off initial modes of unaligned networks (``unaligned_readoff_error``, not part of max_abs_error).
Heatmaps show the trained networks; the line plots below them draw simulation solid and theory dashed.

Two kernel readings (``lrnn_theory.validation.ntk``, ``KernelReadings``), both from the same trained networks: the
kernel over the T N_x whitened probe sequences ("probes") and over 16 Gaussian sample sequences ("samples"). Each
figure says in its title and in ``colour_range`` which reading reproduces the paper's 0-0.8 colour scale (measured:
the probes reach 0.99 at T = 8, the samples 0.71-0.82). The paper's statements are evaluated on the probes as
before; Fig. A7's "b's init matters more" is evaluated under both readings.

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

from lrnn_theory.plotting import tight_layout
from lrnn_theory.tasks import Task
from lrnn_theory.validation.ntk import TRAINING, KernelReadings, distance_grid

from . import figure, paper_feature, pyplot as _pyplot

SCALES_FIG5 = np.round(np.linspace(0.01, 0.5, 10), 4).tolist()
FIG5 = {"family": "constant", "delta": 1.0, "modes": 4, "hidden": 4,
        "T": {"full": list(range(1, 9)), "quick": [1, 2, 8]},
        "scales": {"full": SCALES_FIG5, "quick": [0.01, 0.25, 0.5]}}
FIGA5 = {"family": "constant", "delta": 1.0, "modes": 4, "hidden": 300, "hidden_compare": 4,
         "T": {"full": [1, 2, 4, 6, 8], "quick": [1, 3]},
         "scales": {"full": SCALES_FIG5, "quick": [0.05, 0.5]},
         "aligned_checks": {"full": {"T": [2, 8], "scales": [0.01, 0.5]}, "quick": {"T": [2], "scales": [0.2]}}}
FIGA6 = {"family": "constant", "delta": 1.0, "modes": 4, "hidden": 4, "fixed_lr": 0.04,
         "fixed_lr_search": "full grid, T = 6-8, diverged cells by T (aligned; unaligned): lr 0.03: 1, unaligned at "
                            "T = 8. lr 0.04: T = 8 only (9 of 10: all but init 1, which starts at the "
                            "solution; 10 of 10). lr 0.05: T = 7 (3; 8) and T = 8 (9; 10)",
         "T": {"full": list(range(1, 9)), "quick": [1, 4, 8]},
         "scales": {"full": np.round(np.linspace(0.1, 1.0, 10), 4).tolist(), "quick": [0.1, 0.55, 1.0]}}
FIGA7 = {"family": "constant", "delta": 1.0, "modes": 4, "hidden": 4, "T": [2, 6], "noise_seeds": {"full": [1, 2],
                                                                                                      "quick": [1]},
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
#: The kernel readings every figure computes (one training run gives both); the first is the paper statements' one.
READINGS = ("probes", "samples")
READING_NAMES = {"probes": "whitened probes", "samples": "16 Gaussian samples"}
#: The paper's colour scale for Fig. 5 and A4-A7, and how far our largest distance may miss its top.
PAPER_COLOUR_RANGE = (0.0, 0.8)
COLOUR_TOLERANCE = 0.1
PAPER_LONGEST_T = 8


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
    """Kernel-distance grids (rows = tasks, columns = init scales) for several (init, hidden, lr) panels.

    Parameters
    ----------
    tasks : sequence of Task
        One row each (any task the harness trains on).
    scales : sequence
        Init scales (numbers or {"u", "b"} mappings), one column each.
    panels : sequence of dict
        ``{"name", "init", "hidden"}`` and optionally ``"lr"`` (one fixed rate for the grid; default "auto").
    executor : concurrent.futures.Executor, optional

    Returns
    -------
    dict
        name -> grid dict from ``distance_grid`` with both kernel readings (unaligned grids also predict from the
        read-off modes).
    """
    return {p["name"]: distance_grid(tasks, scales, init=p["init"], hidden=p["hidden"], executor=executor,
                                     kernel=KernelReadings(READINGS, predict=True), lr=p.get("lr", TRAINING["lr"]))
            for p in panels}


def _reading(grid, reading) -> dict:
    """One reading's distance and prediction (with the grid's diverged cells)."""
    return {"distance": grid[f"distance_{reading}"], "predicted": grid[f"predicted_{reading}"],
            "diverged": grid["diverged"]}


def _finite_error(grid) -> float:
    """Largest |mode theory - trained| over the readings present in the grid, NaN when nothing is finite."""
    keys = [r for r in READINGS if f"distance_{r}" in grid] or [None]
    diffs = [np.abs(grid[f"predicted_{r}"] - grid[f"distance_{r}"]) if r else np.abs(grid["predicted"]
                                                                                       - grid["distance"])
             for r in keys]
    diff = np.stack(diffs)
    return float(np.nanmax(diff)) if np.any(np.isfinite(diff)) else float("nan")


def _heatmap(ax, fig, values, rows, cols, title, row_label="trajectory length T", col_label="init scale",
             diverged=None):
    """Distances in colour (0-1, the paper's top 0.8 marked on the colour bar); diverged cells hatched, no number."""
    import matplotlib
    from matplotlib.patches import Rectangle

    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="white")
    im = ax.imshow(np.ma.masked_invalid(values), origin="lower", aspect="auto", cmap=cmap, vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(cols)), [f"{c:.2g}" for c in cols], rotation=45, fontsize=7)
    ax.set_yticks(range(len(rows)), [str(r) for r in rows], fontsize=7)
    ax.set_xlabel(col_label)
    ax.set_ylabel(row_label)
    ax.set_title(title, fontsize=8)
    diverged = np.zeros(values.shape, dtype=bool) if diverged is None else np.asarray(diverged)
    for i, j in np.argwhere(diverged):
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", edgecolor="0.4", linewidth=0))
        ax.text(j, i, "diverged", ha="center", va="center", fontsize=5, color="0.2")
    if values.size <= 100:
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6,
                        color="k" if v > 0.6 else "w")
    bar = fig.colorbar(im, ax=ax, shrink=0.85, label="kernel distance")
    bar.ax.axhline(PAPER_COLOUR_RANGE[1], color="r", linewidth=1.5)  # the paper's top (named in the suptitle)


LINE_STYLES = {"probes": ("o", 1.0), "samples": ("s", 0.55)}


def _lines(ax, grid, rows, cols, title, row_name="T", readings=READINGS):
    """Distance against init scale per row, per reading: simulation solid (probes o, samples s), theory dashed."""
    plt = _pyplot()
    colours = plt.get_cmap("plasma")(np.linspace(0, 0.85, len(rows)))
    for reading in readings:
        marker, alpha = LINE_STYLES[reading]
        r = _reading(grid, reading)
        for i, row in enumerate(rows):
            ax.plot(cols, r["distance"][i], "-", marker=marker, color=colours[i], markersize=3, alpha=alpha,
                    label=f"{row_name}={row}" if reading == readings[0] else None)
            if np.any(np.isfinite(r["predicted"][i])):
                ax.plot(cols, r["predicted"][i], "--", color=colours[i], linewidth=1.2, alpha=alpha)
    for reading in readings:
        marker, alpha = LINE_STYLES[reading]
        ax.plot([], [], "k-", marker=marker, markersize=3, alpha=alpha, label=f"trained LRNN, {reading}")
    ax.plot([], [], "k--", label="mode theory (integrated modes)")
    ax.set_xlabel("init scale")
    ax.set_ylabel("kernel distance at end of training")
    ax.set_ylim(-0.02, 1.45)  # headroom above 1 for the legend: it covers no data
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=5.5, ncol=3, loc="upper center")
    ax.grid(alpha=0.3)


def _nulled(values, diverged):
    """A grid as nested lists with ``None`` (JSON null) in the diverged cells: no number is a result there."""
    values = np.asarray(values, dtype=float)
    return [[None if d else float(v) for v, d in zip(row, drow)] for row, drow in zip(values, diverged)]


def _grid_json(grid, rows, cols, init, hidden, row_name="T"):
    diverged = np.asarray(grid["diverged"])
    out = {row_name: rows, "init_scale": cols, "init": init, "hidden": hidden,
           "layout": f"distance[i][j]: {row_name}[i], init_scale[j]; null = diverged (no result)",
           "diverged": diverged, "converged": grid["converged"], "lr": grid["lr"],
           "n_diverged": int(diverged.sum()),
           "diverged_cells": [{row_name: rows[i], "init_scale": cols[j]} for i, j in np.argwhere(diverged)]}
    for key, values in grid.items():
        if key not in out:
            out[key] = _nulled(values, diverged)
    if init == "aligned":
        out["max_abs_error"] = _finite_error(grid)
    else:
        out["predicted_definition"] = ("mode theory applied to the read-off initial modes of the unaligned network "
                                       "(outside its assumptions)")
        out["unaligned_readoff_error"] = _finite_error(grid)
    return out


def _mean(values) -> float:
    return float(np.nanmean(values))


def colour_range(grids, T_values) -> dict:
    """Which kernel reading reproduces the paper's 0-0.8 colour scale: the largest distance of each reading.

    A reading reproduces it when its largest distance is at most 0.8 + COLOUR_TOLERANCE and, on a grid that
    includes the paper's longest trajectory (T = 8, where the largest distances are), at least 0.8 - tolerance.
    """
    reaches_top = PAPER_LONGEST_T in list(T_values)
    out = {"paper": list(PAPER_COLOUR_RANGE), "tolerance": COLOUR_TOLERANCE, "grid_has_T8": reaches_top,
           "definition": f"largest distance <= {PAPER_COLOUR_RANGE[1] + COLOUR_TOLERANCE:g}"
                         + (f" and >= {PAPER_COLOUR_RANGE[1] - COLOUR_TOLERANCE:g} (the grid has T = 8)"
                            if reaches_top else " (the grid lacks T = 8, so the top is not required)")}
    for r in READINGS:
        values = np.concatenate([np.ravel(g[f"distance_{r}"]) for g in grids.values()])
        top = float(np.nanmax(values)) if np.any(np.isfinite(values)) else float("nan")
        ok = top <= PAPER_COLOUR_RANGE[1] + COLOUR_TOLERANCE and (
            not reaches_top or top >= PAPER_COLOUR_RANGE[1] - COLOUR_TOLERANCE)
        out[r] = {"largest_distance": top, "reproduces": bool(ok)}
    out["reproducing_readings"] = [r for r in READINGS if out[r]["reproduces"]]
    return out


def _colour_text(colours) -> str:
    """One line for a figure's title: which reading reproduces the paper's colour scale, with the maxima."""
    maxima = ", ".join(f"{READING_NAMES[r]} {colours[r]['largest_distance']:.2f}" for r in READINGS)
    which = " and ".join(READING_NAMES[r] for r in colours["reproducing_readings"]) or "no reading"
    return (f"paper's colour scale 0-0.8 (red line on the colour bars) reproduced by: {which} "
            f"(largest distance: {maxima})")


def _colour_feature(colours):
    """The colour-scale statement (only where the grid has T = 8): tested on the sample-sequence reading."""
    if not colours["grid_has_T8"]:
        return []
    return [paper_feature("the kernel distances span the paper's colour scale 0-0.8 (kernel over 16 Gaussian "
                          "sample sequences)", "0-0.8",
                          {f"largest_distance_{r}": colours[r]["largest_distance"] for r in READINGS},
                          colours["samples"]["reproduces"], by_construction=False, definition=colours["definition"],
                          tolerance=COLOUR_TOLERANCE)]


# ---- Fig. 5 -------------------------------------------------------------------------------------------------------
def _fig5_features(grids, T_values, scales, prefix=""):
    """Fig. 5's visible statements, per panel (aligned, unaligned), from the trained networks' distances (probes)."""
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
                np.all(dlong > d1), by_construction=False))
        small, large = _mean(D[T > 1, 0]), _mean(D[T > 1, -1])
        out.append(paper_feature(f"{prefix}{name}: the kernel moves more at small init scales",
                                 "larger distance at the smallest init scale than at the largest",
                                 {f"mean_D_T_above_1_at_{scales[0]:g}": small,
                                  f"mean_D_T_above_1_at_{scales[-1]:g}": large}, small > large,
                                 by_construction=False))
        out.append(paper_feature(f"{prefix}{name}: the NTK still moves substantially at larger inits",
                                 f"substantial (our threshold: distance > {SUBSTANTIAL})",
                                 {f"mean_D_T_above_1_at_{scales[-1]:g}": large}, large > SUBSTANTIAL,
                                 threshold=SUBSTANTIAL, by_construction=False))
    return out


def _aligned_unaligned(config, quick, titles, features, make_tasks=None, panels=None, suptitle=""):
    """Grids over T x init scale, one column per panel (default: aligned, unaligned): a heatmap per kernel reading
    (probes, samples) above the lines, and the JSON.

    ``make_tasks(T_values) -> [Task]`` fills the rows (default: the constant task of ``config``); any task the
    harness trains on works, e.g. the rotation task of Fig. A4. ``features(grids, T_values, scales)`` gives the
    figure's ``paper_features`` (the colour-scale statement is added here).
    """
    plt = _pyplot()
    mode = "quick" if quick else "full"
    T_values, scales = config["T"][mode], config["scales"][mode]
    if make_tasks is None:
        tasks = constant_tasks(T_values, config["modes"], config["delta"])
    else:
        tasks = make_tasks(T_values)
    if panels is None:
        panels = [{"name": "aligned", "init": "aligned", "hidden": config["hidden"]},
                  {"name": "unaligned", "init": "random", "hidden": config["hidden"]}]
    with grid_executor(len(panels) * len(tasks) * len(scales)) as pool:
        grids = kernel_distance_panels(tasks, scales, panels, pool)
    colours = colour_range(grids, T_values)
    fig, axes = plt.subplots(3, len(panels), figsize=(6 * len(panels), 13), squeeze=False)
    for col, p in enumerate(panels):
        g = grids[p["name"]]
        lr = "lr per T (auto)" if p.get("lr", "auto") == "auto" else f"fixed lr {p['lr']:g}"
        kind = "aligned" if p["init"] == "aligned" else "unaligned"
        for row, reading in enumerate(READINGS):
            _heatmap(axes[row, col], fig, g[f"distance_{reading}"], T_values, scales,
                     f"{kind}, N_h={p['hidden']}, {lr}\nkernel over {READING_NAMES[reading]}: {titles}\n"
                     f"({int(g['diverged'].sum())} diverged, hatched)", diverged=g["diverged"])
        _lines(axes[2, col], g, T_values, scales,
               f"{kind}, {lr}: trained (solid) vs mode theory (dashed)"
               + ("" if p["init"] == "aligned" else "\nfrom read-off modes: outside the theory"))
    fig.suptitle(f"{suptitle}\n{_colour_text(colours)}", fontsize=10)
    tight_layout(fig)
    aligned = [g for p, g in zip(panels, grids.values()) if p["init"] == "aligned"]
    unaligned = [g for p, g in zip(panels, grids.values()) if p["init"] != "aligned"]
    data = {"parameters": config, "training": TRAINING, "kernel_readings": list(READINGS),
            "panels": {p["name"]: _grid_json(grids[p["name"]], T_values, scales, p["init"], p["hidden"])
                       for p in panels},
            "max_abs_error": max(_finite_error(g) for g in aligned),
            "max_abs_error_definition": "largest |mode-theory prediction - trained network| of the kernel distance "
                                        "over the aligned grids, both kernel readings",
            "unaligned_readoff_error": max(_finite_error(g) for g in unaligned),
            "colour_range": colours,
            "diverged_cells": "hatched in the heatmaps, null in the grids, listed per panel in diverged_cells",
            "paper_features": features(grids, T_values, scales) + _colour_feature(colours)}
    return fig, data


@figure("fig5", "NTK kernel distance against T and init scale, aligned and unaligned, N_h = 4 (constant task)")
def fig5(quick: bool = False):
    return _aligned_unaligned(FIG5, quick, "distance init -> end", _fig5_features,
                              suptitle="Fig. 5: NTK kernel distance, constant task, N_h = 4")


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
                            held == len(features), definition="every one of Fig. 5's features below holds",
                            by_construction=False)
    return [summary] + features


@figure("figA4", "NTK kernel distance against T and init scale, aligned and unaligned, rotation task phi = pi/12, "
                 "R = 1 (N_h = 2 real units)")
def figA4(quick: bool = False):
    fig, data = _aligned_unaligned(FIGA4, quick, "rotation task", _figA4_features, make_tasks=rotation_tasks,
                                   suptitle="Fig. A4: NTK kernel distance, rotation task phi = pi/12, R = 1, "
                                            "N_h = 2 real units")
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
    with grid_executor(len(panels) * len(tasks) * len(scales)) as pool:
        grids = kernel_distance_panels(tasks, scales, panels, pool)
        aligned = distance_grid(check_tasks, checks["scales"], init="aligned", hidden=FIGA5["hidden"],
                                executor=pool, kernel=KernelReadings(READINGS))
    colours = colour_range(grids, T_values)
    fig, axes = plt.subplots(3, 2, figsize=(12, 13))
    for col, p in enumerate(panels):
        g = grids[p["name"]]
        for row, reading in enumerate(READINGS):
            _heatmap(axes[row, col], fig, g[f"distance_{reading}"], T_values, scales,
                     f"{p['name']}\nkernel over {READING_NAMES[reading]}", diverged=g["diverged"])
        _lines(axes[2, col], g, T_values, scales,
               f"{p['name']}: trained (solid),\nmode theory from read-off modes (dashed, outside the theory)")
    fig.suptitle(f"Fig. A5: unaligned LRNNs, N_h = 300 against N_h = 4\n{_colour_text(colours)}", fontsize=10)
    tight_layout(fig)
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
                      definition="mean distance at the longest T above the threshold and above that at the shortest",
                      by_construction=False),
        paper_feature("N_h = 300: the movement shifts to smaller init scales (than N_h = 4)",
                      "less movement at the larger init scales than N_h = 4",
                      {"mean_D_larger_half_of_scales_N_h_300": upper_wide,
                       "mean_D_larger_half_of_scales_N_h_4": upper_narrow},
                      upper_wide < upper_narrow, by_construction=False)] + _colour_feature(colours)
    data = {"parameters": FIGA5, "training": TRAINING, "kernel_readings": list(READINGS),
            "panels": {p["name"]: _grid_json(grids[p["name"]], T_values, scales, p["init"], p["hidden"])
                       for p in panels},
            "aligned_checks": _grid_json(aligned, checks["T"], checks["scales"], "aligned", FIGA5["hidden"]),
            "max_abs_error": _finite_error(aligned),
            "max_abs_error_definition": "largest |mode-theory prediction - trained network| of the kernel distance "
                                        "at the aligned N_h = 300 check points, both kernel readings (the aligned "
                                        "kernel does not depend on N_h)",
            "unaligned_readoff_error": max(_finite_error(g) for g in grids.values()),
            "colour_range": colours,
            "paper_features": features}
    return fig, data


# ---- Fig. A6 ------------------------------------------------------------------------------------------------------
def _figA6_features(grids, T_values, scales):
    T = np.array(T_values)
    al, un = grids["aligned"]["distance"], grids["unaligned"]["distance"]
    recurrent = T > 1
    mid = len(scales) // 2
    fixed = [name for name in grids if name.endswith("fixed lr")]
    diverged = sum(grids[name]["diverged"].astype(int) for name in fixed)  # per cell: panels that diverged there
    by_T = {str(t): int(n) for t, n in zip(T_values, diverged.sum(axis=1))}
    auto_diverged = int(grids["aligned"]["diverged"].sum() + grids["unaligned"]["diverged"].sum())
    longest = int(T.max())
    return [
        paper_feature("aligned: the distance decreases as init -> 1", "smaller at init 1 than at mid scales",
                      {"T": T[recurrent].tolist(), f"D_at_{scales[mid]:g}": al[recurrent, mid].tolist(),
                       f"D_at_{scales[-1]:g}": al[recurrent, -1].tolist()},
                      np.all(al[recurrent, -1] < al[recurrent, mid]), definition="at every T > 1",
                      by_construction=False),
        paper_feature("unaligned: the distance stays large as init -> 1",
                      f"large (our threshold: distance > {SUBSTANTIAL})",
                      {f"mean_D_T_above_1_at_{scales[-1]:g}": _mean(un[recurrent, -1]),
                       "diverged_cells": int(grids["unaligned"]["diverged"].sum())},
                      _mean(un[recurrent, -1]) > SUBSTANTIAL, threshold=SUBSTANTIAL, by_construction=False),
        paper_feature(f"diverged (white, NaN) cells at T = {PAPER_LONGEST_T}",
                      f"white cells in the T = {PAPER_LONGEST_T} row only",
                      {"fixed_lr": FIGA6["fixed_lr"], "diverged_cells_by_T_fixed_lr": by_T,
                       "diverged_cells_lr_per_T": auto_diverged},
                      longest == PAPER_LONGEST_T and by_T[str(longest)] > 0
                      and sum(by_T.values()) == by_T[str(longest)],
                      definition=f"with one fixed learning rate ({FIGA6['fixed_lr']:g}) for the whole grid, aligned "
                                 f"and unaligned: the T = {PAPER_LONGEST_T} row has diverged cells, no other row "
                                 f"has",
                      by_construction=False)]


@figure("figA6", "NTK kernel distance at init scales approaching 1, aligned and unaligned, learning rate per T and "
                 "one fixed rate (hatched = diverged)")
def figA6(quick: bool = False):
    lr = FIGA6["fixed_lr"]
    panels = [{"name": "aligned", "init": "aligned", "hidden": FIGA6["hidden"]},
              {"name": "unaligned", "init": "random", "hidden": FIGA6["hidden"]},
              {"name": "aligned, fixed lr", "init": "aligned", "hidden": FIGA6["hidden"], "lr": lr},
              {"name": "unaligned, fixed lr", "init": "random", "hidden": FIGA6["hidden"], "lr": lr}]
    fig, data = _aligned_unaligned(FIGA6, quick, "large init", _figA6_features, panels=panels)
    rows = sorted({c["T"] for p in panels if "lr" in p for c in data["panels"][p["name"]]["diverged_cells"]})
    where = f"diverged cells at T = {', '.join(map(str, rows))}" if rows else "no diverged cells"
    fig.suptitle(f"Fig. A6: large init scales; learning rate per T (left two) and one fixed rate {lr:g} (right "
                 f"two): {where} (hatched)\n{_colour_text(data['colour_range'])}", fontsize=10)
    data["learning_rates"] = {"aligned": "auto (per T, half the stability bound: never diverges)",
                              "unaligned": "auto", "aligned, fixed lr": lr, "unaligned, fixed lr": lr,
                              "paper_nan_cells": f"reproduced by one fixed rate {lr:g} for the whole grid"}
    return fig, data


# ---- Fig. A7 ------------------------------------------------------------------------------------------------------
def _b_against_u(D) -> tuple:
    """Mean range of the distance along the b scale (rows) and along the u scale (columns)."""
    along_b = float(np.nanmean(np.nanmax(D, axis=0) - np.nanmin(D, axis=0)))
    along_u = float(np.nanmean(np.nanmax(D, axis=1) - np.nanmin(D, axis=1)))
    return along_b, along_u


@figure("figA7", "NTK kernel distance against independent init scales of u and b, T = 2 and 6")
def figA7(quick: bool = False):
    plt = _pyplot()
    mode = "quick" if quick else "full"
    scales = FIGA7["scales"][mode]
    pairs = [{"u": su, "b": sb} for sb in scales for su in scales]  # rows: scale_b, columns: scale_u
    n_rows = 2 * len(READINGS)
    fig, axes = plt.subplots(n_rows, 2 * len(FIGA7["T"]), figsize=(20, 4.4 * n_rows))
    data = {"parameters": FIGA7, "training": TRAINING, "kernel_readings": list(READINGS), "panels": {},
            "paper_features": []}
    errors, grids, noise = [], {}, {}
    n = len(scales)
    with grid_executor(2 * len(FIGA7["T"]) * len(pairs)) as pool:
        for block, init in enumerate(("aligned", "random")):
            for k, T in enumerate(FIGA7["T"]):
                task = constant_tasks([T], FIGA7["modes"], FIGA7["delta"])[0]
                g = distance_grid([task], pairs, init=init, hidden=FIGA7["hidden"], executor=pool,
                                  kernel=KernelReadings(READINGS, predict=True))
                g = {key: v.reshape(n, n) for key, v in g.items()}
                name = f"{'aligned' if init == 'aligned' else 'unaligned'} T={T}"
                grids[name] = g
                for r, reading in enumerate(READINGS):
                    row = block * len(READINGS) + r
                    _heatmap(axes[row, 2 * k], fig, g[f"distance_{reading}"], scales, scales,
                             f"{name}, kernel over {READING_NAMES[reading]}", row_label="init scale of b (W_h)",
                             col_label="init scale of u (W_x, W_y)", diverged=g["diverged"])
                    ax = axes[row, 2 * k + 1]
                    _lines(ax, g, scales, scales, f"{name}, {READING_NAMES[reading]}:\nagainst the u scale, one "
                                                  f"curve per b scale", row_name="b scale", readings=(reading,))
                    ax.set_xlabel("init scale of u")
                entry = _grid_json(g, scales, scales, init, FIGA7["hidden"], row_name="scale_b")
                entry["layout"] = "distance[i][j]: scale_b[i], scale_u[j]; null = diverged (no result)"
                entry["init_scale"] = {"u": scales, "b": scales}
                data["panels"][name] = entry
                if init == "aligned":
                    errors.append(_finite_error(g))
                for reading in READINGS:
                    along_b, along_u = _b_against_u(g[f"distance_{reading}"])
                    data["paper_features"].append(paper_feature(
                        f"{name}: the recurrent-mode init (b) mostly determines the distance (kernel over "
                        f"{READING_NAMES[reading]})",
                        "the distance changes more along the b scale than along the u scale",
                        {"mean_range_of_D_along_b_scale": along_b, "mean_range_of_D_along_u_scale": along_u},
                        along_b > along_u, by_construction=False))
        # The failing unaligned T = 6 cell of round one: repeat with other seeds to see the noise level.
        T6 = constant_tasks([max(FIGA7["T"])], FIGA7["modes"], FIGA7["delta"])[0]
        for seed in FIGA7["noise_seeds"][mode]:
            g = distance_grid([T6], pairs, init="random", hidden=FIGA7["hidden"], executor=pool,
                              kernel=KernelReadings(READINGS, predict=False), seed=seed)
            noise[seed] = {r: _b_against_u(g[f"distance_{r}"].reshape(n, n)) for r in READINGS}
    fig.suptitle("Fig. A7: NTK kernel distance against independent init scales of u and b\n"
                 + _colour_text(colour_range(grids, [])), fontsize=10)
    tight_layout(fig)
    data["colour_range"] = colour_range(grids, [])
    name = f"unaligned T={max(FIGA7['T'])}"
    data["unaligned_T6_both_readings"] = {
        "seed 0 (the figure)": {r: dict(zip(("along_b", "along_u"), _b_against_u(grids[name][f"distance_{r}"])))
                                for r in READINGS},
        **{f"seed {s}": {r: dict(zip(("along_b", "along_u"), v)) for r, v in per.items()} for s, per in noise.items()},
        "definition": "mean range of the distance along the b scale and along the u scale; b matters more when "
                      "along_b > along_u. Other seeds draw other random weights: their spread is the noise level."}
    data["max_abs_error"] = float(np.nanmax(errors))
    data["max_abs_error_definition"] = ("largest |mode-theory prediction - trained network| over the aligned grids, "
                                        "both kernel readings")
    return fig, data
