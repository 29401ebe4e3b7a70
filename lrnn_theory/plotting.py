"""Figures of mode trajectories: simulation solid, theory dashed, one colour per mode."""
from __future__ import annotations

import numpy as np

from .io import SAVE_DPI, measuring_once, save_figure

#: Energies below this are drawn at it on the log axis.
ENERGY_FLOOR = 1e-16

QUANTITIES = ("a", "b", "c", "u", "energy")
LABELS = {"u": "input-output mode u = ac", "b": "recurrent mode b", "a": "input mode a", "c": "output mode c",
          "energy": "energy E (sum over modes)"}
#: Complex (rotational) trajectories are drawn in polar form by default: the radius of every mode strength and the
#: unwrapped angle of b and u (those of a and c trade off against each other: a e^(i phi), c e^(-i phi) is the same
#: network).
POLAR_QUANTITIES = ("|a|", "|b|", "arg b", "|c|", "|u|", "arg u", "energy")
LABELS.update({f"|{q}|": f"radius |{q}|" for q in "abcu"})
LABELS.update({f"arg {q}": f"angle arg {q} (rad)" for q in "abcu"})
#: Panels per row of a figure with more panels than this.
PANELS_PER_ROW = {5: 3, 6: 3, 7: 4, 8: 4}


def _values(traj, q):
    if q.startswith("|"):
        return traj.polar(q[1])[0]
    if q.startswith("arg "):
        return traj.polar(q[-1])[1]
    return getattr(traj, q)


#: Longest title drawn (characters).
MAX_TITLE = 120


def plain_text(text, limit: int = MAX_TITLE) -> str:
    """``text`` as matplotlib draws it literally: ``$`` escaped (no mathtext), lone surrogates and control
    characters replaced, cut to ``limit`` characters (task names come from files)."""
    text = str(text).encode("utf-8", "replace").decode("utf-8")
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    return text.replace("$", r"\$")


def tight_layout(fig, **kwargs) -> None:
    """``fig.tight_layout(**kwargs)`` at less cost: the same layout, with each axis's ticks computed and their labels
    measured once, and math text parsed once per process (``lrnn_theory.io.measuring_once``)."""
    with measuring_once(fig):
        fig.tight_layout(**kwargs)


def _pyplot():
    import matplotlib  # 0.2 s to import: only when a figure is drawn (the CLI imports this module at start-up)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_trajectories(trajectories: dict, path=None, title: str | None = None, max_modes: int = 10,
                      quantities=None):
    """Plot named trajectories; names containing "theory" are dashed, others solid.

    ``quantities`` defaults to a, b, c, u and the energy (``QUANTITIES``), or for complex trajectories to the radius
    of a, b, c and u, the angle of b and u, and the energy (``POLAR_QUANTITIES``). One panel per quantity, with
    labelled axes and a legend (modes on the first panel, the energy's own on its panel); a trajectory integrated to
    convergence (``integrate`` without ``t_end``) marks its convergence time with a dotted line, and times spanning
    more than four decades (the log-spaced times of a run that hit its ``t_max``) are drawn on a symlog axis.
    Returns the matplotlib Figure (at ``SAVE_DPI``, 120 dpi, the resolution lrnn saves at); with ``path`` it is also
    saved (PNG unless the suffix says otherwise).
    """
    if quantities is None:  # presentation: a complex mode is drawn as its radius and angle
        rotational = any(getattr(traj, "is_complex", False) for traj in trajectories.values())
        quantities = POLAR_QUANTITIES if rotational else QUANTITIES
    plt = _pyplot()
    ncols = PANELS_PER_ROW.get(len(quantities), len(quantities))
    nrows = -(-len(quantities) // ncols)
    # made at the saving dpi: tight_layout then measures the texts with the renderer that saves the figure; the
    # grid's spare cells get no axes (a hidden one still costs its making, ~5% of the figure)
    fig = plt.figure(figsize=(4.2 * ncols, 3.4 * nrows), dpi=SAVE_DPI)
    axes = [fig.add_subplot(nrows, ncols, k + 1) for k in range(len(quantities))]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, q in zip(axes, quantities):
        for label, traj in trajectories.items():
            dashed = "theory" in label
            style = dict(linestyle="--" if dashed else "-", linewidth=1.6 if dashed else 2.2,
                         alpha=1.0 if dashed else 0.55)
            if q == "energy":  # log scale; exact zeros (zero-loss solutions) sit at the floor
                ax.plot(traj.t, np.maximum(traj.total_energy, ENERGY_FLOOR), color="0.2",
                        label=plain_text(label) + " (sum over modes)", **style)
            else:
                values = _values(traj, q)
                for m in range(min(values.shape[1], max_modes)):
                    ax.plot(traj.t, values[:, m], color=colours[m % len(colours)],
                            label=plain_text(label) + (f", mode {m}" if values.shape[1] > 1 else ""), **style)
            _mark_convergence(ax, traj)
        ax.set_xlabel("time t (tau da/dt = -tau dE/da)")
        ax.set_ylabel(LABELS[q])
        if q == "energy":
            ax.set_yscale("log")
        t = next(iter(trajectories.values())).t
        if t.size > 2 and t[1] > 0 and t[-1] / t[1] > 1e4:
            ax.set_xscale("symlog", linthresh=float(t[1]))
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if len(labels) <= 12:
        axes[0].legend(fontsize=7)
    if "energy" in quantities:
        axes[list(quantities).index("energy")].legend(fontsize=7)
    if title:
        fig.suptitle(plain_text(title))
    tight_layout(fig)
    if path is not None:
        save_figure(fig, path)
        plt.close(fig)
    return fig


def _mark_convergence(ax, traj):
    """A dotted vertical line at the time every mode had converged (``integrate`` without ``t_end``)."""
    t_converged = getattr(traj, "info", {}).get("t_converged")
    if t_converged is not None:
        ax.axvline(t_converged, color="0.5", linestyle=":", linewidth=1.0,
                   label=f"converged, t = {t_converged:.4g}")
