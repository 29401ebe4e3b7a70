"""Output files of the commands: a trajectory and its figure, written together or not at all, and only when every
number in them is finite (``check_finite_results``)."""
from __future__ import annotations

import numpy as np

from lrnn_theory.errors import DivergenceError
from lrnn_theory.io import render_figure, write_files_whole


def check_finite_results(columns: dict, what: str = "the results") -> None:
    """Raise ``DivergenceError`` (one line, exit 3) before anything is written when a column holds NaN or inf: the
    first bad column, its row, and that nothing was written. ``columns`` maps names to arrays (None skipped)."""
    for name, values in columns.items():
        if values is None:
            continue
        values = np.asarray(values)
        if values.dtype.kind not in "fc":
            continue
        finite = np.isfinite(values)
        if not finite.all():
            row = int(np.argmin(finite.reshape(finite.shape[0], -1).all(axis=1))) if values.ndim else 0
            bad_value = values.reshape(-1)[int(np.argmin(finite.reshape(-1)))]
            raise DivergenceError(f"{what} are not finite: column '{name}' is {bad_value} at row {row} (of "
                                  f"{values.shape[0] if values.ndim else 1}); nothing written. The scales of the task "
                                  "(tau, singular values, learning rate) are beyond floating point: rescale them")


def write_outputs(out, trajectory, plot, make_figure, plot_param: str = "plot") -> str:
    """Write the trajectory file ``out`` and the figure ``plot`` (either may be None) all together or not at all;
    return what was written, for the user."""
    check_finite_results({name: getattr(trajectory, name, None) for name in ("t", "a", "b", "c", "energy")},
                         "the trajectory's values")
    files = [(out, trajectory.encoded(out), "out")] if out else []
    if plot:
        fig = make_figure()  # selects the Agg backend before pyplot is imported here
        import matplotlib.pyplot as plt  # only when a figure is drawn: matplotlib is slow to import

        files.append((plot, render_figure(fig, plot.suffix.lstrip(".").lower()), plot_param))
        plt.close(fig)
    write_files_whole(files)
    return " and ".join(str(f[0]) for f in files)
