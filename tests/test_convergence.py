"""Integration to convergence, the not-converged warning, the final table and the figures people read (issue 22,
items 4 and 5).

Every rate below is recomputed independently of the compiled flow: the energy of a real final-output task written
out here, E = 1/(2 tau) sum_i (s_i - a c b^(T-i))^2, differentiated by central differences (the flow is
d(theta)/dt = -dE/d(theta)).
"""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from lrnn_theory import DivergenceError, Task, integrate
from lrnn_theory.cli.runner import main
from lrnn_theory.flow import CONVERGED_TOL, convergence_measures, mode_convergence, not_converged_message

#: Two modes that converge at very different times (delta = 1 near t = 10, delta = 0.1 near t = 300).
TASK = {"family": "inverse_exponential", "T": 4, "delta": [1.0, 0.1], "lambda": 0.5}


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def energy(s, a, b, c, tau=1.0):
    """Per-mode energy of a real final-output task, states (..., K); s (K, T)."""
    T = s.shape[1]
    powers = np.asarray(b)[..., None] ** np.arange(T - 1, -1, -1)     # b^(T-i), i = 1..T
    return 0.5 / tau * np.sum((s - (np.asarray(a) * c)[..., None] * powers) ** 2, axis=-1)


def fd_rates(s, a, b, c, h=1e-6):
    """-dE/d(a, b, c) by central differences: (3, ..., K)."""
    out = []
    for j in range(3):
        up, down = [np.array(v, dtype=float) for v in (a, b, c)], [np.array(v, dtype=float) for v in (a, b, c)]
        up[j] = up[j] + h
        down[j] = down[j] - h
        out.append(-(energy(s, *up) - energy(s, *down)) / (2 * h))
    return np.array(out)


def fd_relative_rate(s, a, b, c):
    size = np.maximum(1.0, np.max(np.abs([a, b, c]), axis=0))
    return np.max(np.abs(fd_rates(s, a, b, c)), axis=0) / size


def table_rows(out):
    """{mode: [a, b, c, u, energy], converged text} from the printed final table."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["mode", "a"])
    rows = {}
    for line in lines[start + 1:]:
        parts = line.split()
        if not parts or not parts[0].isdigit():
            break
        rows[int(parts[0])] = ([float(x) for x in parts[1:6]], " ".join(parts[6:]))
    return rows


def test_integrate_without_t_end_converges_says_when_and_ends_with_the_table(tmp_path, capsys):
    path = tmp_path / "task.json"
    path.write_text(json.dumps(TASK))
    code, out, err = run_cli(capsys, "integrate", path, "--out", tmp_path / "traj.npz", "--plot", tmp_path / "t.png")
    assert code == 0 and not err, err
    t_conv = float(re.search(r"converged at t = ([0-9.e+]+)", out).group(1))
    assert not [line for line in out.splitlines() if line.startswith("warning")]
    with np.load(tmp_path / "traj.npz") as z:
        t, a, b, c, u, e = (z[k] for k in ("t", "a", "b", "c", "u", "energy"))
    s = Task.from_dict(TASK).singular_values
    relative = np.max(fd_relative_rate(s, a, b, c), axis=1)        # slowest mode, at every output time
    # at the reported time every mode is below the tolerance (the time is printed to 4 digits: the nearest row)
    at = int(np.argmin(np.abs(t - t_conv)))
    assert relative[at] <= CONVERGED_TOL * 1.01 and relative[-1] <= CONVERGED_TOL
    # ... and clearly not 20% earlier: the slow mode still moves
    assert relative[np.searchsorted(t, 0.8 * t_conv)] > 3 * CONVERGED_TOL
    assert 1.0 < t[-1] / t_conv < 1.5                                # the trajectory ends at convergence
    # the independent end point: b* = lambda, u* = delta (zero loss)
    assert b[-1] == pytest.approx([0.5, 0.5], abs=1e-3) and u[-1] == pytest.approx([1.0, 0.1], rel=1e-3)
    # the final table holds the trajectory's last values, both modes converged with their time
    rows = table_rows(out)
    assert sorted(rows) == [0, 1]
    for m, (values, verdict) in rows.items():
        np.testing.assert_allclose(values, [a[-1, m], b[-1, m], c[-1, m], u[-1, m], e[-1, m]], rtol=1e-5,
                                   atol=1e-300)
        assert verdict.startswith("yes, t = ")
    assert float(rows[1][1].split("=")[1]) == pytest.approx(t_conv, rel=1e-3)  # the slow mode is the last
    assert float(rows[0][1].split("=")[1]) < t_conv / 5
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_not_converged_warning_names_exactly_the_moving_modes(tmp_path, capsys):
    path = tmp_path / "task.json"
    path.write_text(json.dumps(TASK))
    code, out, err = run_cli(capsys, "integrate", path, "--t-end", 40, "--out", tmp_path / "short.npz")
    assert code == 0 and not err
    warnings = [line for line in out.splitlines() if line.startswith("warning")]
    assert len(warnings) == 1 and "mode 1 still moving at t = 40" in warnings[0]
    suggested = float(re.search(r"--t-end ([0-9.e+]+)", warnings[0]).group(1))
    with np.load(tmp_path / "short.npz") as z:
        a, b, c = z["a"][-1], z["b"][-1], z["c"][-1]
    relative = fd_relative_rate(Task.from_dict(TASK).singular_values, a, b, c)
    assert relative[0] < CONVERGED_TOL < relative[1]                # independent: mode 0 rests, mode 1 moves
    rows = table_rows(out)
    assert rows[0][1] == "yes" and rows[1][1] == "no"
    # at the suggested t_end the warning is gone
    code, out, _ = run_cli(capsys, "integrate", path, "--t-end", suggested, "--n-points", 3,
                           "--out", tmp_path / "long.csv")
    assert code == 0 and not [line for line in out.splitlines() if line.startswith("warning")]
    assert all(v == "yes" for _, v in table_rows(out).values())


def test_trajectory_info_names_the_modes_and_the_message_follows_it():
    task = Task.from_dict(TASK)
    short = integrate(task, 40.0, n_points=3)
    assert short.info["converged"] == [True, False] and short.info["not_converged"] == [1]
    assert not_converged_message(short).startswith("warning: mode 1 still moving at t = 40")
    done = integrate(task, 2000.0, n_points=3)
    assert done.info["not_converged"] == [] and not_converged_message(done) is None


def test_convergence_measures_match_finite_differences_and_see_saddles():
    """relative rate against central differences of the energy; growth against the largest eigenvalue of -Hessian
    by differences (a saddle: a = b = c = 0, where the flow has the growing direction a = c, rate s_T)."""
    task = Task.from_dict(TASK)
    s = task.singular_values
    rng = np.random.default_rng(3)
    a, b, c = rng.uniform(0.2, 1.2, (3, 4, 2))
    relative, growth = convergence_measures(task, a, b, c)
    np.testing.assert_allclose(relative, fd_relative_rate(s, a, b, c), rtol=1e-6)
    h = 1e-4
    for state in ([0.7, 0.4, 0.9], [0.0, 0.0, 0.0]):
        theta = np.array(state)
        H = np.empty((3, 3))
        for i in range(3):
            for j in range(3):
                e = np.zeros((2, 2, 2, 3))
                for si, di in enumerate((h, -h)):
                    for sj, dj in enumerate((h, -h)):
                        p = theta.copy()
                        p[i] += di
                        p[j] += dj
                        e[si, sj, 0] = energy(s[:1], *p[:, None])[..., 0]
                H[i, j] = (e[0, 0, 0, 0] - e[0, 1, 0, 0] - e[1, 0, 0, 0] + e[1, 1, 0, 0]) / (4 * h * h)
        expected = max(np.max(np.linalg.eigvalsh(-H)), 0.0)
        got = convergence_measures(task, [theta[0]] * 2, [theta[1]] * 2, [theta[2]] * 2)[1][0]
        assert got == pytest.approx(expected, abs=1e-5)
    assert mode_convergence(task, [0.0, 1.0], [0.0, 0.5], [0.0, 1.0]).tolist() == [False, False]  # saddle, moving
    assert mode_convergence(task, [1.0, 0.1 ** 0.5], [0.5, 0.5], [1.0, 0.1 ** 0.5]).tolist() == [True, True]


def test_a_saddle_hits_the_cap_and_a_runaway_is_reported():
    rest = integrate(Task.constant(delta=1.0, T=3, init={"a": 0.0, "b": 0.0, "c": 0.0}), t_max=100.0)
    assert rest.info["t_converged"] is None and rest.info["not_converged"] == [0] and rest.t[-1] == 100.0
    assert "not converged by t_max = 100" in not_converged_message(rest)
    assert "saddle" in not_converged_message(rest)
    runaway = Task.dirac(beta=2.0, kappa=0.5, T=6, init={"a": 0.5, "b": 1.2, "c": 0.5})
    with pytest.raises(DivergenceError, match="no finite minimum"):
        integrate(runaway, divergence_threshold=100.0)


def test_cli_names_the_modes_when_the_cap_is_hit(tmp_path, capsys):
    path = tmp_path / "task.json"
    path.write_text(json.dumps({**TASK, "init": {"a": 0.0, "b": 0.0, "c": 0.0}}))
    code, out, err = run_cli(capsys, "integrate", path, "--t-max", 50, "--out", tmp_path / "x.csv")
    assert code == 0 and not err and (tmp_path / "x.csv").exists()
    assert "warning: modes 0, 1 not converged by t_max = 50" in out and "raise --t-max" in out


def test_plot_shows_a_b_c_u_and_the_energy_with_labels_and_legends():
    from lrnn_theory.plotting import plot_trajectories

    task = Task.from_dict(TASK)
    cases = {False: integrate(task, 20.0, n_points=21), True: integrate(Task.inverse_exponential(
        delta=1.0, lam=0.5, T=4, lambda_phase=0.3), 20.0, n_points=21)}
    expected = {False: ["input mode a", "recurrent mode b", "output mode c", "input-output mode u = ac", "energy"],
                True: ["radius |a|", "radius |b|", "angle arg b", "radius |c|", "radius |u|", "angle arg u",
                       "energy"]}
    for rotational, traj in cases.items():
        assert traj.is_complex == rotational
        fig = plot_trajectories({"theory": traj})
        axes = [ax for ax in fig.axes if ax.get_visible()]
        assert len(axes) == len(expected[rotational])
        for ax, label in zip(axes, expected[rotational]):
            assert ax.get_ylabel().startswith(label) and ax.get_xlabel().startswith("time t")
            assert ax.get_lines() and all(np.all(np.isfinite(line.get_ydata())) for line in ax.get_lines())
        assert axes[0].get_legend() is not None and axes[-1].get_legend() is not None
        last = traj.K - 1
        np.testing.assert_allclose(axes[0].get_lines()[last].get_ydata(), np.abs(traj.a[:, last]))
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_ntk_plot_writes_a_png(tmp_path, capsys):
    path = tmp_path / "task.json"
    path.write_text(json.dumps({"family": "inverse_exponential", "T": 3, "delta": 1.0, "lambda": 0.5}))
    code, out, err = run_cli(capsys, "ntk", path, "--lr", 0.05, "--steps", 20, "--out", tmp_path / "k.csv",
                             "--plot", tmp_path / "k.png")
    assert code == 0 and not err, err
    assert (tmp_path / "k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from lrnn_theory.cli.ntk import distance_figure

    t = np.loadtxt(tmp_path / "k.csv", delimiter=",", skiprows=1)
    fig = distance_figure(t[:, 1], t[:, 2], 0.9 * t[:, 2], "title")
    ax = fig.axes[0]
    assert ax.get_xlabel().startswith("time t") and ax.get_ylabel() == "kernel distance from the initial NTK"
    assert [line.get_label() for line in ax.get_legend().get_lines()] == ["network", "theory (modes)"]
    assert [line.get_linestyle() for line in ax.get_lines()] == ["-", "--"]            # theory dashed
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), t[:, 2])


@pytest.mark.parametrize("args, message", [
    (["--t-max", "1e300"], "parameter 't_max' must be at most 1e+12 * tau"),
    (["--t-max", "-4"], "parameter 't_max' must be > 0"),
    (["--converged-tol", "nan"], "parameter 'converged_tol' must be finite"),
    (["--t-end", "5", "--t-max", "10"], "give --t-max only without --t-end"),
])
def test_bad_convergence_options_are_one_line_errors(tmp_path, capsys, args, message):
    path = tmp_path / "task.json"
    path.write_text(json.dumps(TASK))
    code, out, err = run_cli(capsys, "integrate", path, *args, "--out", tmp_path / "x.csv")
    assert code == 2 and out == "" and not (tmp_path / "x.csv").exists()
    assert message in err and len(err.strip().splitlines()) == 1, err
