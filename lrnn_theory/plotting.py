"""Figures of mode trajectories: simulation solid, theory dashed, one colour per mode."""
from __future__ import annotations

import numpy as np

from .io import save_figure

#: Energies below this are drawn at it on the log axis.
ENERGY_FLOOR = 1e-16

QUANTITIES = ("u", "b", "a", "c")
LABELS = {"u": "input-output mode u = ac", "b": "recurrent mode b", "a": "input mode a", "c": "output mode c"}
#: Complex (rotational) trajectories are drawn in polar form by default: radius and unwrapped angle of u and b.
POLAR_QUANTITIES = ("|u|", "arg u", "|b|", "arg b", "energy")
LABELS.update({f"|{q}|": f"radius |{q}|" for q in "ub"})
LABELS.update({f"arg {q}": f"angle arg {q} (rad)" for q in "ub"})


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


def _pyplot():
    import matplotlib  # 0.2 s to import: only when a figure is drawn (the CLI imports this module at start-up)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_trajectories(trajectories: dict, path=None, title: str | None = None, max_modes: int = 10,
                      quantities=None):
    """Plot named trajectories; names containing "theory" are dashed, others solid.

    ``quantities`` defaults to u, b and the energy, or for complex trajectories to the radius and angle of u and b
    and the energy (``POLAR_QUANTITIES``). Returns the matplotlib Figure; with ``path`` it is also saved (PNG unless
    the suffix says otherwise).
    """
    if quantities is None:  # presentation: a complex mode is drawn as its radius and angle, two panels per mode
        rotational = any(getattr(traj, "is_complex", False) for traj in trajectories.values())
        quantities = POLAR_QUANTITIES if rotational else ("u", "b", "energy")
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(quantities), figsize=(4.2 * len(quantities), 3.4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, q in zip(axes, quantities):
        for label, traj in trajectories.items():
            dashed = "theory" in label
            values = traj.total_energy[:, None] if q == "energy" else _values(traj, q)
            if q == "energy":  # log scale; exact zeros (zero-loss solutions) sit at the floor
                values = np.maximum(values, ENERGY_FLOOR)
            for m in range(min(values.shape[1], max_modes)):
                ax.plot(traj.t, values[:, m], linestyle="--" if dashed else "-", color=colours[m % len(colours)],
                        linewidth=1.6 if dashed else 2.2, alpha=1.0 if dashed else 0.55,
                        label=plain_text(label) + (f", mode {m}" if values.shape[1] > 1 else ""))
        ax.set_xlabel("time t (tau da/dt = -tau dE/da)")
        ax.set_ylabel("energy E (sum over modes)" if q == "energy" else LABELS[q])
        if q == "energy":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    if len(labels) <= 12:
        axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(plain_text(title))
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
        plt.close(fig)
    return fig
