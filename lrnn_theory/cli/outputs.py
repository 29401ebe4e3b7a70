"""Output files of the commands: a trajectory and its figure, written together or not at all."""
from __future__ import annotations

from lrnn_theory.io import render_figure, write_files_whole


def write_outputs(out, trajectory, plot, make_figure, plot_param: str = "plot") -> str:
    """Write the trajectory file ``out`` and the figure ``plot`` (either may be None) all together or not at all;
    return what was written, for the user."""
    files = [(out, trajectory.encoded(out), "out")] if out else []
    if plot:
        fig = make_figure()  # selects the Agg backend before pyplot is imported here
        import matplotlib.pyplot as plt  # only when a figure is drawn: matplotlib is slow to import

        files.append((plot, render_figure(fig, plot.suffix.lstrip(".").lower()), plot_param))
        plt.close(fig)
    write_files_whole(files)
    return " and ".join(str(f[0]) for f in files)
