"""Tasks (families, JSON), trajectory files and the derive / integrate / demo commands, including every bad input."""
import json

import numpy as np
import pytest

from lrnn_theory import LrnnInputError, Task, Trajectory, integrate
from lrnn_theory.cli import main


def run_main(capsys, *args):
    """Run the CLI in-process (fast): exit code, stdout, stderr."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---- families -----------------------------------------------------------------------------------------------------
def test_family_profiles_follow_the_paper_index_convention():
    T = 5
    i = np.arange(1, T + 1)
    np.testing.assert_allclose(Task.constant(0.7, T=T).singular_values[0], 0.7 * np.ones(T))
    np.testing.assert_allclose(Task.inverse_exponential(2.0, 0.5, T=T).singular_values[0], 2.0 * 0.5 ** (T - i))
    np.testing.assert_allclose(Task.exponential(2.0, 0.5, T=T).singular_values[0], 2.0 * 0.5**i)
    last = Task.last_step(delta=0.3, kappa=1.1, T=T, base="exponential", lam=0.5).singular_values[0]
    np.testing.assert_allclose(last, np.r_[0.3 * 0.5 ** i[:-1], 1.1])
    np.testing.assert_allclose(Task.dirac(beta=2.0, kappa=0.5, T=T).singular_values[0], [2.0, 0, 0, 0, 0.5])


def test_per_mode_parameters_give_one_mode_each():
    task = Task.from_family("inverse_exponential", T=3, delta=[1.0, 2.0], lam=0.5, init={"b": [0.1, 0.2]})
    assert task.K == 2
    np.testing.assert_allclose(task.singular_values, [[0.25, 0.5, 1.0], [0.5, 1.0, 2.0]])
    np.testing.assert_allclose(task.init.b, [0.1, 0.2])
    np.testing.assert_allclose(task.init.a, [0.1, 0.1])


@pytest.mark.parametrize("data", [
    {"singular_values": [[0.2, 0.4, 1.0]], "init": {"a": 0.2, "b": 0.3, "c": [0.1]}, "tau": 2.0, "name": "x"},
    {"family": "exponential", "delta": 1.5, "lambda": 0.8, "T": 4, "tau": 0.5},
    {"family": "last_step", "base": "inverse_exponential", "delta": 1.0, "lambda": 0.5, "kappa": 2.0, "T": 4},
])
def test_json_round_trip(tmp_path, data):
    path = tmp_path / "task.json"
    path.write_text(json.dumps(data))
    task = Task.from_json(path)
    task.to_json(tmp_path / "again.json")
    again = Task.from_json(tmp_path / "again.json")
    np.testing.assert_array_equal(task.singular_values, again.singular_values)
    for k in "abc":
        np.testing.assert_array_equal(getattr(task.init, k), getattr(again.init, k))
    assert again.tau == task.tau


# ---- bad input: one line naming the field and the value, exit code 2, no traceback -------------------------------
BAD_TASKS = [
    ("{not json", "not valid JSON"),
    ('{"singular_values": [[1, 2], [3]]}', "singular_values"),
    ('{"singular_values": []}', "singular_values"),
    ('{"singular_values": [[]]}', "singular_values"),
    ('{"singular_values": [[1, NaN]]}', "NaN"),
    ('{"singular_values": [[1, Infinity]]}', "Infinity"),
    ('{"singular_values": [[1, 2]], "tau": 0}', "tau"),
    ('{"singular_values": [[1, 2]], "tau": -1.5}', "tau"),
    ('{"singular_values": [[1, 2]], "tau": "fast"}', "tau"),
    ('{"singular_values": [["a", 2]]}', "singular_values"),
    ('{"singular_values": [[1, 2]], "init": {"a": [0.1, 0.2]}}', "init.a"),
    ('{"singular_values": [[1, 2]], "init": {"d": 0.1}}', "init.d"),
    ('{"singular_values": [[1, 2]], "colour": "red"}', "colour"),
    ('{"family": "linear", "T": 3}', "family"),
    ('{"family": "constant", "T": 0, "delta": 1}', "'T'"),
    ('{"family": "constant", "T": 2.5, "delta": 1}', "'T'"),
    ('{"family": "constant", "delta": 1}', "'T'"),
    ('{"family": "exponential", "T": 3, "delta": 1}', "lambda"),
    ('{"family": "dirac", "T": 1, "beta": 1, "kappa": 1}', "'T'"),
    ('{"family": "constant", "T": 3, "delta": [1, 2], "lambda": 0.5}', "lambda"),
    ('[1, 2, 3]', "task"),
    ('{"singular_values": [[true, false]]}', "singular_values"),
    ('{"singular_values": [[true, 0.5]]}', "singular_values"),
    ('{"singular_values": [[1, 2]], "init": {"a": true}}', "init.a"),
    ('{"family": "constant", "T": 3, "delta": true}', "delta"),
    ('{"family": "constant", "T": true, "delta": 1}', "'T'"),
    ('{"singular_values": [[1, 2]], "tau": -1, "tau": 1}', "'tau' twice"),
    ('{"family": "constant", "T": 3, "delta": null}', "'delta' is null"),
    ('{"family": "constant", "T": 1e12, "delta": 1}', "'T'"),
    ('{"family": "constant", "T": 1000000, "delta": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,'
     ' 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45,'
     ' 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72,'
     ' 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99,'
     ' 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110]}', "exceeds"),
    ('{"family": "exponential", "T": 5000, "delta": 1, "lambda": 2.0}', "lambda"),
    ('{"singular_values": [[1, 2]], "tau": 1e-320}', "tau"),
]


@pytest.mark.parametrize("text,field", BAD_TASKS)
def test_bad_task_files_give_one_line_error_and_exit_2(tmp_path, capsys, text, field):
    path = tmp_path / "task.json"
    path.write_text(text)
    out = tmp_path / "traj.csv"
    code, stdout, stderr = run_main(capsys, "integrate", path, "--t-end", "1", "--out", out)
    assert code == 2, stderr
    assert stderr.startswith("lrnn: error:") and len(stderr.strip().splitlines()) == 1, stderr
    assert field in stderr
    assert "Traceback" not in stderr
    assert not out.exists()


def test_missing_task_file(tmp_path, capsys):
    # in-process (the console entry point's exit codes: test_diverging_run_exits_3_and_writes_nothing here and
    # test_harness_cli.py::test_console_script_exit_codes)
    code, _, stderr = run_main(capsys, "integrate", tmp_path / "nope.json", "--t-end", "1", "--out", tmp_path / "x.csv")
    assert code == 2 and "nope.json" in stderr and "does not exist" in stderr


@pytest.mark.parametrize("args,field", [
    (["--t-end", "-1"], "t_end"),
    (["--t-end", "nan"], "t_end"),
    (["--t-end", "5", "--n-points", "1"], "n_points"),
    (["--t-end", "5", "--method", "euler"], "method"),
    (["--t-end", "5", "--rtol", "-1"], "rtol"),
    (["--t-end", "5", "--rtol", "0"], "rtol"),
    (["--t-end", "5", "--rtol", "10"], "rtol"),
    (["--t-end", "5", "--rtol", "nan"], "rtol"),
    (["--t-end", "5", "--atol", "0"], "atol"),
    (["--t-end", "5", "--plot", "/proc/p.png"], "plot"),
    (["--t-end", "5", "--plot", "p.txt"], "plot"),
])
def test_bad_integrate_options(tmp_path, capsys, args, field):
    path = tmp_path / "task.json"
    path.write_text('{"family": "constant", "T": 3, "delta": 1}')
    code, _, stderr = run_main(capsys, "integrate", path, *args, "--out", tmp_path / "x.csv")
    assert code == 2 and field in stderr and "Traceback" not in stderr


def test_output_that_cannot_be_written(tmp_path, capsys):
    path = tmp_path / "task.json"
    path.write_text('{"family": "constant", "T": 3, "delta": 1}')
    (tmp_path / "dir.csv").mkdir()
    for out in ("/proc/x.csv", str(tmp_path / "dir.csv")):
        code, _, stderr = run_main(capsys, "integrate", path, "--t-end", "1", "--out", out)
        assert code == 2 and "'out'" in stderr and len(stderr.strip().splitlines()) == 1, stderr
    (tmp_path / "afile").write_text("x")
    for out in ("/proc/d", str(tmp_path / "afile")):
        code, _, stderr = run_main(capsys, "demo", "--out", out)
        assert code == 2 and "'out'" in stderr and len(stderr.strip().splitlines()) == 1, stderr


def test_failed_plot_leaves_no_csv(tmp_path, capsys, monkeypatch):
    from lrnn_theory import flow

    path = tmp_path / "task.json"
    path.write_text('{"family": "constant", "T": 3, "delta": 1}')
    runs = []
    monkeypatch.setattr(flow, "_integrate_with_method", lambda *args: runs.append(args))
    code, _, stderr = run_main(capsys, "integrate", path, "--t-end", "1", "--out", tmp_path / "o.csv",
                               "--plot", "/proc/p.png")
    assert code == 2 and not (tmp_path / "o.csv").exists()
    assert "parameter 'plot': cannot write '/proc/p.png'" in stderr and runs == []  # refused before the work


def test_written_files_have_ordinary_permissions(tmp_path):
    path = tmp_path / "task.json"
    path.write_text('{"family": "constant", "T": 3, "delta": 1}')
    assert main(["integrate", str(path), "--t-end", "1", "--out", str(tmp_path / "o.csv")]) == 0
    assert (tmp_path / "o.csv").stat().st_mode & 0o044  # readable by group/others under the usual umask


def test_family_options_need_family(capsys):
    code, _, stderr = run_main(capsys, "derive", "--T", "5")
    assert code == 2 and "--T" in stderr and "--family" in stderr


def test_derive_with_per_mode_lists_of_different_lengths(tmp_path, capsys):
    path = tmp_path / "task.json"
    path.write_text('{"family": "inverse_exponential", "delta": [1.0], "lambda": [0.5, 0.7], "T": 20}')
    code, out, stderr = run_main(capsys, "derive", path, "--format", "text")
    assert code == 0, stderr
    assert "0.7" in out and "Piecewise" in out


def test_derive_prints_user_values_as_numbers(tmp_path, capsys):
    path = tmp_path / "task.json"
    path.write_text(json.dumps({"singular_values": [[1.4142135623730951, 2.718281828459045, 1.0]]}))
    code, out, _ = run_main(capsys, "derive", path, "--format", "text")
    assert code == 0
    assert "sqrt(2)" not in out and "1.41421356" in out and "2.71828182" in out


def test_bad_output_path(tmp_path, capsys):
    path = tmp_path / "task.json"
    path.write_text('{"family": "constant", "T": 3, "delta": 1}')
    code, _, stderr = run_main(capsys, "integrate", path, "--t-end", "1", "--out", tmp_path / "x.txt")
    assert code == 2 and "out" in stderr
    code, _, stderr = run_main(capsys, "integrate", path, "--t-end", "1", "--out", tmp_path / "missing" / "x.csv")
    assert code == 2 and "missing" in stderr


def test_diverging_run_exits_3_and_writes_nothing(tmp_path, capsys):
    path = tmp_path / "task.json"
    path.write_text(json.dumps({"family": "dirac", "beta": 2.0, "kappa": 0.5, "T": 6,
                                "init": {"a": 0.5, "b": 1.2, "c": 0.5}}))
    out = tmp_path / "x.csv"
    # in process: the console script's exit status is main's return value (tests/test_reliability_round2.py runs
    # the script itself for its exit codes)
    code, _, stderr = run_main(capsys, "integrate", path, "--t-end", "1e7", "--out", out)
    assert code == 3
    assert "diverged at t=" in stderr and "mode 0" in stderr and "Traceback" not in stderr
    assert not out.exists()


def test_the_t_end_hint_of_an_explicit_method_or_the_exact_map_follows_the_flow(tmp_path, capsys, monkeypatch):
    """Modes still moving at --t-end after an explicit method or the exact map: the hint integrates to convergence
    (no t_end) with the default method (an explicit one cannot), on the modified flow the map follows (the map has
    no run to convergence), and says when every mode converges (it used to fail with a message about --method)."""
    from lrnn_theory import flow
    from lrnn_theory.finite_lr import DiscreteGD

    path = tmp_path / "task.json"
    path.write_text(json.dumps({"family": "inverse_exponential", "delta": 1.0, "lambda": 0.7, "T": 4,
                                "init": {"a": 0.1, "b": 0.1, "c": 0.1}}))
    calls, integrate_flow = [], flow.integrate

    def recorded(task, t_end=None, **options):
        calls.append((t_end, options.get("method"), options.get("lr_correction")))
        return integrate_flow(task, t_end, **options)

    monkeypatch.setattr(flow, "integrate", recorded)
    hints = []
    for options in (["--method", "RK45"], ["--discrete-lr", "0.01"]):
        code, out, _ = run_main(capsys, "integrate", path, "--t-end", "1", *options, "--out", tmp_path / "o.csv")
        assert code == 0 and "mode 0 still moving at t = 1" in out, out
        hints.append(out.strip().rsplit("; ", 1)[-1])
    (_, run_method, _), (_, hint_method, _) = calls[:2]  # the run, then its hint's integration to convergence
    assert run_method == "RK45" and hint_method is None
    assert hints[0].startswith("every mode converges at t = ") and hints[0].endswith(", or leave out --t-end")
    (_, gd, _), (hint_t_end, hint_method, correction) = calls[2:]
    assert isinstance(gd, DiscreteGD) and hint_t_end is None and hint_method is None and correction is gd
    assert " on the flow the map follows: try --t-end " in hints[1] and "leave out" not in hints[1], hints


# ---- integrate / derive / demo ------------------------------------------------------------------------------------
def test_integrate_writes_csv_npz_and_png(tmp_path):
    path = tmp_path / "task.json"
    path.write_text(json.dumps({"family": "inverse_exponential", "delta": [1.0, 0.5], "lambda": 0.5, "T": 4,
                                "tau": 2.0}))
    assert main(["integrate", str(path), "--t-end", "30", "--n-points", "11", "--out", str(tmp_path / "t.csv"),
                 "--plot", str(tmp_path / "t.png")]) == 0
    header = (tmp_path / "t.csv").read_text().splitlines()[0]
    assert header == "t,mode,a,b,c,u,energy"
    traj = Trajectory.from_csv(tmp_path / "t.csv")
    assert traj.a.shape == (11, 2)
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ref = integrate(Task.from_json(path), 30.0, n_points=11)
    np.testing.assert_allclose(traj.b, ref.b, rtol=1e-10)
    np.testing.assert_allclose(traj.u, ref.a * ref.c, rtol=1e-10)
    assert main(["integrate", str(path), "--t-end", "30", "--out", str(tmp_path / "t.npz")]) == 0
    with np.load(tmp_path / "t.npz") as z:
        assert set(z.files) == {"t", "a", "b", "c", "u", "energy"}


def test_tau_rescales_time():
    base = Task.exponential(1.0, 0.8, T=4)
    fast = integrate(base, 10.0, n_points=6)
    slow = integrate(Task(base.singular_values, tau=4.0), 40.0, n_points=6)
    np.testing.assert_allclose(fast.b, slow.b, atol=1e-6)


@pytest.mark.parametrize("fmt,marker", [("latex", "\\frac"), ("pretty", "τ"), ("text", "tau*")])
def test_derive_formats(fmt, marker, capsys):
    assert main(["derive", "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert marker in out and "a**2 - c**2" in out.replace("a^{2} - c^{2}", "a**2 - c**2").replace("a  - c", "a**2 - c**2")


def test_derive_for_a_long_task_file(tmp_path, capsys):
    path = tmp_path / "task.json"
    path.write_text(json.dumps({"singular_values": np.linspace(0, 1, 10_000).tolist()}))
    assert main(["derive", str(path), "--format", "text"]) == 0
    out = capsys.readouterr().out
    assert "Sum(" in out and "T=10000" in out


def test_demo_runs_and_writes_files(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "b=0.70000" in out and "u=ac=1.00000" in out
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    assert Trajectory.from_csv(tmp_path / "demo.csv").K == 1


def test_every_command_has_help(capsys):
    for cmd in ("demo", "derive", "integrate", "reproduce"):  # in-process: `lrnn --help` as a process is test_layers'
        code, stdout, _ = run_main(capsys, cmd, "--help")
        assert code == 0 and "usage: lrnn" in stdout


def test_library_errors_name_the_parameter():
    with pytest.raises(LrnnInputError, match="'tau'.*-2"):
        Task([[1.0]], tau=-2)
    with pytest.raises(LrnnInputError, match="'singular_values'"):
        Task([[1.0, np.nan]])
    with pytest.raises(LrnnInputError, match="'method'.*'euler'"):
        integrate(Task.constant(1.0, T=2), 1.0, method="euler")
