"""Where the paper notes (../shared/theory/paper-notes.md) were found wrong this round, measured.

Each test fails if the notes' statement were right as written.
"""
import numpy as np
import pytest

from lrnn_theory import Task
from lrnn_theory.errors import DivergenceError
from lrnn_theory.finite_lr import DiscreteGD
from lrnn_theory.flow import integrate


def test_fig4_notes_protocol_diverges_where_the_chosen_one_does_not():
    """Notes §14 (Fig. 4): "T = 6, init 0.5, lr 0.02: b up to 2.45 with sharp jumps". On the figure's full grid one
    Dirac point (beta = 2.4, kappa = 0.2) diverges at that setting; init 0.3 at lr 0.01 (fig4's chosen Dirac
    protocol) trains every point and caps b near the paper's 2.4."""
    from lrnn_theory.validation.figures.phase_transition import FIG4, _fit_task

    task, panel = _fit_task(6, 0.5, FIG4["kappas"]["full"], "full")
    # That grid point alone (s_1 = beta, s_T = kappa): the grid's modes evolve independently, so it diverges as it
    # does on the grid, where DiscreteGD's error message then bounds the stable lr of all 738 modes (3.8 s CPU).
    s = task.singular_values
    point = np.flatnonzero((panel == 2) & np.isclose(s[:, 0], 2.4) & np.isclose(s[:, -1], 0.2))
    assert point.size == 1
    with pytest.raises(DivergenceError):
        integrate(Task(s[point], init={"a": 0.5, "b": 0.5, "c": 0.5}), 100.0, method=DiscreteGD(lr=0.02))
    task, panel = _fit_task(6, 0.3, FIG4["kappas"]["full"], "full")
    traj = integrate(task, 20.0, n_points=2, method=DiscreteGD(lr=0.01))
    dirac_b = traj.b[-1, panel == 2]
    assert np.all(np.isfinite(traj.b[-1])) and abs(dirac_b.max() / 2.4 - 1) < 0.1


@pytest.mark.slow
def test_figA6_notes_rate_blanks_more_than_the_T8_row():
    """Notes §14 (Fig. A6): "0.05 blanks the T = 8 row". At 0.05 cells of the T = 7 row diverge too (aligned init);
    at 0.04, the rate figA6 uses, the T = 7 row trains."""
    from lrnn_theory.validation.figures.ntk import FIGA6, constant_tasks
    from lrnn_theory.validation.ntk import KernelReadings, distance_grid

    scales = FIGA6["scales"]["full"]
    tasks = constant_tasks([7], modes=FIGA6["modes"], delta=FIGA6["delta"])
    at_05 = distance_grid(tasks, scales, init="aligned", hidden=FIGA6["hidden"], lr=0.05,
                          kernel=KernelReadings(predict=False))
    at_04 = distance_grid(tasks, scales, init="aligned", hidden=FIGA6["hidden"], lr=0.04,
                          kernel=KernelReadings(predict=False))
    assert np.isnan(np.asarray(at_05["distance"], float)).sum() >= 1
    assert not np.isnan(np.asarray(at_04["distance"], float)).any()
