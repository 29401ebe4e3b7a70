"""Issue 13: every valid task gives an answer, every bad one a single line, every output set whole.

One test per case of the issue. CLI cases run in process through ``lrnn_theory.cli.main`` (fast); the cases that
need a real process (signals, the console script, a closed pipe) run as subprocesses.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lrnn_theory import DivergenceError, IntegrationError, LrnnError, LrnnInputError, Task, integrate
from lrnn_theory import io as lrnn_io
from lrnn_theory import resources
from lrnn_theory.cli import main
from lrnn_theory.taskfile import MAX_NESTING, read_task_data

LRNN = str(Path(sys.executable).with_name("lrnn"))


def run_cli(args, capsys):
    """(exit code, stdout, stderr lines) of an in-process CLI run."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, [line for line in err.splitlines() if line]


def one_error_line(args, capsys, code=2, needle=None):
    got, _, err = run_cli(args, capsys)
    assert got == code, err
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    if needle:
        assert needle in err[0], err[0]
    return err[0]


def leftovers(directory):
    """Temporary files left in ``directory`` by an output writer."""
    return [p.name for p in Path(directory).iterdir() if p.name.endswith((".tmp", ".bak"))]


def write_task(path, data):
    Path(path).write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


# ---- 1. valid tasks, badly scaled: answers, not divergence ---------------------------------------------------------
def test_badly_scaled_exponential_task_integrates_with_the_default_method():
    """s_i = 1.5^i, T = 50 (s_T = 6.4e8): LSODA gave 'Unexpected istate' and exit 3; the zero-loss solution is
    b = 1/lambda, u = s_T."""
    traj = integrate(Task.exponential(delta=1.0, lam=1.5, T=50), 50.0, n_points=5)
    assert traj.b[-1, 0] == pytest.approx(1 / 1.5, rel=1e-6)
    assert traj.u[-1, 0] == pytest.approx(1.5**50, rel=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("T", [30, 40, 50])
def test_badly_scaled_exponential_lambda_2(T):
    traj = integrate(Task.exponential(delta=1.0, lam=2.0, T=T), float(T), n_points=5)
    assert traj.b[-1, 0] == pytest.approx(0.5, rel=1e-5)
    assert traj.u[-1, 0] == pytest.approx(2.0**T, rel=1e-5)


def test_badly_scaled_inverse_exponential_integrates_from_api_and_cli(tmp_path, capsys):
    """The same task as inverse_exponential ended in a 29-line root-bracket traceback; its zero-loss solution
    b* = lambda = 1.5 needs a recurrent gain 1.5^49 = 4e8, which the default divergence threshold now allows.
    One integration (0.75 s): the CLI's file holds the API's trajectory (the npz round trip is exact)."""
    task = write_task(tmp_path / "t.json", {"family": "inverse_exponential", "delta": 1, "lambda": 1.5, "T": 50})
    code, out, err = run_cli(["integrate", task, "--t-end", 50, "--n-points", 5, "--out", tmp_path / "t.npz"], capsys)
    assert code == 0 and not err and "wrote" in out
    with np.load(tmp_path / "t.npz") as traj:
        assert traj["b"][-1, 0] == pytest.approx(1.5, rel=1e-6) and traj["u"][-1, 0] == pytest.approx(1.0, rel=1e-6)
        assert traj["t"][-1] == 50.0 and traj["b"].shape == (5, 1)


def test_root_bracket_failure_is_the_projects_own_error():
    """With the method given and the old fixed threshold, scipy's event root finding cannot bracket the crossing:
    the failure is an IntegrationError (or a DivergenceError), never scipy's ValueError."""
    with pytest.raises((IntegrationError, DivergenceError)) as err:
        integrate(Task.inverse_exponential(delta=1.0, lam=1.5, T=50), 50.0, method="LSODA", divergence_threshold=1e8)
    assert "\n" not in str(err.value)


def test_solver_failure_of_every_method_names_the_task_and_the_remedy(monkeypatch):
    from lrnn_theory import flow

    def fail(*args, **kwargs):
        raise IntegrationError("stuck")

    monkeypatch.setattr(flow, "_integrate_with_method", fail)
    with pytest.raises(IntegrationError) as err:
        integrate(Task.constant(1.0, T=3), 1.0)
    message = str(err.value)
    assert "singular_values" in message and "tau" in message and "largest singular value" in message


def test_singular_values_beyond_floating_point_are_refused_up_front():
    with pytest.raises(LrnnInputError, match="singular_values"):
        integrate(Task(np.full((1, 3), 1e200)), 1.0)


@pytest.mark.parametrize("t_eval", [[0, 1, np.nan, 3], [0, 2, 1, 3], [0, 1, np.inf], [[0, 1]]])
def test_nan_or_unsorted_t_eval_is_an_input_error(t_eval):
    with pytest.raises(LrnnInputError, match="t_eval"):
        integrate(Task.constant(1.0, T=3), 5.0, t_eval=t_eval)


def test_t_end_beyond_range_is_refused(tmp_path, capsys):
    with pytest.raises(LrnnInputError, match="t_end"):
        integrate(Task.constant(1.0, T=3), 1e300)
    task = write_task(tmp_path / "t.json", {"family": "constant", "T": 3})
    one_error_line(["integrate", task, "--t-end", "1e300", "--out", tmp_path / "x.csv"], capsys, 2, "t_end")
    assert not (tmp_path / "x.csv").exists()


# ---- 2. output sets: all or none -----------------------------------------------------------------------------------
def test_failed_rename_puts_the_whole_set_back(tmp_path, monkeypatch):
    first, second = tmp_path / "a.csv", tmp_path / "b.png"
    first.write_bytes(b"old a")
    real_replace, calls = os.replace, []

    def flaky_replace(src, dst):
        calls.append(dst)
        if str(dst) == str(second):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(lrnn_io.os, "replace", flaky_replace)
    with pytest.raises(LrnnInputError, match="No space left"):
        lrnn_io.write_files_whole([(first, b"new a", "out"), (second, b"new b", "plot")])
    monkeypatch.undo()
    assert first.read_bytes() == b"old a" and not second.exists()
    assert leftovers(tmp_path) == []


def test_interrupt_while_staging_leaves_nothing(tmp_path, monkeypatch):
    real_open = open

    def interrupted_open(path, mode="r", *a, **k):
        if "b" in mode and str(path).endswith(".tmp") and "second" in str(path):
            raise KeyboardInterrupt
        return real_open(path, mode, *a, **k)

    monkeypatch.setattr("builtins.open", interrupted_open)
    with pytest.raises(KeyboardInterrupt):
        lrnn_io.write_files_whole([(tmp_path / "first.csv", b"1", "out"), (tmp_path / "second.png", b"2", "out")])
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _tiny_figure(quick=False):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    return fig, {"max_abs_error": 0.0}


def test_reproduce_writes_png_and_json_as_a_set(tmp_path, capsys, monkeypatch):
    from lrnn_theory.validation import figures

    figures.load_all()
    monkeypatch.setitem(figures.FIGURES, "tiny", _tiny_figure)
    _tiny_figure.description = "test figure"
    code, out, err = run_cli(["reproduce", "tiny", "--out", tmp_path], capsys)
    assert code == 0 and (tmp_path / "tiny.png").exists() and json.loads((tmp_path / "tiny.json").read_text())
    old_png = (tmp_path / "tiny.png").read_bytes()
    (tmp_path / "tiny.json").chmod(0o444)  # the JSON cannot be replaced: the PNG must not be either
    one_error_line(["reproduce", "tiny", "--out", tmp_path], capsys, 2, "read-only")
    assert (tmp_path / "tiny.png").read_bytes() == old_png and leftovers(tmp_path) == []

    (tmp_path / "tiny.json").chmod(0o644)
    monkeypatch.setattr(lrnn_io.os, "replace", _fail_on("tiny.json"))
    one_error_line(["reproduce", "tiny", "--out", tmp_path / "new"], capsys, 2, "cannot write")
    assert not (tmp_path / "new" / "tiny.png").exists() and leftovers(tmp_path / "new") == []


def _fail_on(name):
    real = os.replace

    def replace(src, dst):
        if str(dst).endswith(name):
            raise OSError(13, "Permission denied")
        return real(src, dst)

    return replace


def test_demo_writes_csv_and_png_as_a_set_and_names_no_plot_option(tmp_path, capsys):
    (tmp_path / "demo.png").mkdir()
    line = one_error_line(["demo", "--out", tmp_path], capsys, 2, "parameter 'out'")
    assert "plot" not in line
    assert not (tmp_path / "demo.csv").exists()


def test_ctrl_c_during_demo_leaves_no_file(tmp_path, capsys, monkeypatch):
    import lrnn_theory.plotting as plotting

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(plotting, "plot_trajectories", interrupted)
    code, out, err = run_cli(["demo", "--out", tmp_path], capsys)
    assert code == 130 and err == ["lrnn: interrupted; no output written"]
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_sigterm_during_a_write_removes_the_temporary(tmp_path):
    """SIGTERM used to leave a 155 MB temporary file: it now unwinds like Ctrl-C and the writer removes it."""
    script = f"""
import sys, time
from lrnn_theory import interrupts, io
def slow_install(staged):
    print("staged", flush=True)
    time.sleep(60)
io._install = slow_install
with interrupts.signals_as_exceptions():
    try:
        io.write_files_whole([({str(tmp_path / 'big.npz')!r}, b"x" * 10**7, "out")])
    except interrupts.Terminated:
        print("terminated", flush=True)
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "staged"
    assert len(leftovers(tmp_path)) == 1  # the staged temporary exists while writing
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert "terminated" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_interrupt_after_a_write_says_what_was_written():
    from lrnn_theory.interrupts import interrupted_message

    assert interrupted_message(KeyboardInterrupt(), ["out.csv"]) == ("interrupted after writing out.csv", 130)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_read_only_and_symlinked_outputs_are_not_replaced_silently(tmp_path, capsys):
    task = write_task(tmp_path / "t.json", {"family": "constant", "T": 3})
    locked = tmp_path / "locked.csv"
    locked.write_text("keep")
    locked.chmod(0o444)
    one_error_line(["integrate", task, "--t-end", 1, "--out", locked], capsys, 2, "read-only")
    assert locked.read_text() == "keep"
    target = tmp_path / "target.csv"
    target.write_text("keep")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    one_error_line(["integrate", task, "--t-end", 1, "--out", link], capsys, 2, "symbolic link")
    assert link.is_symlink() and target.read_text() == "keep"


# ---- 3. the task reader ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,needle", [
    ("[" * 500 + "]" * 500, "nests"),
    ('{"singular_values": ' + "[" * (MAX_NESTING + 2) + "1" + "]" * (MAX_NESTING + 2) + "}", "nests"),
    ('{"family": "constant", "T": ' + "9" * 4400 + "}", "digits"),
    ('{"family": "constant", "T": 3, "delta": ' + "1" * 400 + "}", "digits"),
    ('{"family": "constant", "T": 3, "delta": 1e999}', "floating-point range"),
    ('{"family": "constant", "T": 3, "delta": NaN}', "non-finite"),
    ('{"family": "constant", "T": 3, "name": "\\ud800"}', "surrogate"),
    ('{"family": "constant", "T": 3, "name": "' + "x" * 5_000_000 + '"}', "characters"),
    ('{"family": "constant", "T": 3, "T": 4}', "twice"),
])
def test_bad_task_files_give_one_line(tmp_path, capsys, text, needle):
    task = write_task(tmp_path / "t.json", text)
    one_error_line(["integrate", task, "--t-end", 1, "--out", tmp_path / "x.csv"], capsys, 2, needle)
    assert not (tmp_path / "x.csv").exists()


def test_non_utf8_and_oversized_files_are_refused(tmp_path):
    (tmp_path / "latin.json").write_bytes(b'{"name": "\xe9"}')
    with pytest.raises(LrnnInputError, match="UTF-8"):
        read_task_data(tmp_path / "latin.json")
    big = tmp_path / "big.json"
    with open(big, "wb") as fh:  # sparse: no disk used
        fh.truncate(200 * 2**20)
    with pytest.raises(LrnnInputError, match="bytes"):
        read_task_data(big)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_devices_are_refused_without_reading(device, tmp_path, capsys):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    one_error_line(["integrate", device, "--t-end", 1, "--out", tmp_path / "x.csv"], capsys, 2, "regular")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_fifo_is_refused_without_hanging(tmp_path, capsys):
    fifo = tmp_path / "task.json"
    os.mkfifo(fifo)
    started = time.monotonic()
    one_error_line(["integrate", fifo, "--t-end", 1, "--out", tmp_path / "x.csv"], capsys, 2, "FIFO")
    assert time.monotonic() - started < 30


def test_long_paths_loops_and_newlines_stay_on_one_line(tmp_path, capsys):
    args = ["--t-end", 1, "--out", tmp_path / "x.csv"]
    one_error_line(["integrate", "a" * 5000] + args, capsys, 2, "too long")
    one_error_line(["integrate", tmp_path / ("b" * 300 + ".json")] + args, capsys, 2)
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    one_error_line(["integrate", tmp_path / "loop1"] + args, capsys, 2, "loop")
    line = one_error_line(["integrate", tmp_path / "new\nline.json"] + args, capsys, 2, "new\\nline")
    assert "\r" not in line
    one_error_line(["integrate", tmp_path / "x.json", "--t-end", 1, "--out", tmp_path / "out\nput.csv"], capsys, 2)
    one_error_line(["integrate", "--t-end", 1, "--out", "x.csv", "--method", "bad\nmethod", "t.json"], capsys, 2)


@pytest.mark.parametrize("name", ["$\\frac{$", "$x^$", "a $ b $$ c \\", "\ud800 lone", "n" * 10_000],
                         ids=["frac", "caret", "dollars", "surrogate", "long"])
def test_task_names_are_plain_text_in_plots(tmp_path, name):
    from lrnn_theory.plotting import plot_trajectories

    task = Task.constant(1.0, T=3, name=name)
    traj = integrate(task, 1.0, n_points=3)
    # one panel (5x cheaper than five): the title is what is drawn from the name
    plot_trajectories({"theory": traj}, tmp_path / "p.png", title=f"{task.name}: dynamics", quantities=("a",))
    assert (tmp_path / "p.png").stat().st_size > 0


def test_mathtext_name_from_a_task_file_plots(tmp_path, capsys):
    task = write_task(tmp_path / "t.json", {"family": "constant", "T": 3, "name": "$\\frac{$ \\alpha"})
    code, _, err = run_cli(["integrate", task, "--t-end", 1, "--n-points", 3, "--out", tmp_path / "x.csv",
                            "--plot", tmp_path / "x.png"], capsys)
    assert code == 0 and not err and (tmp_path / "x.png").exists()


def test_broken_pipe_is_quiet(capsys, monkeypatch):
    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["derive", "--list"]) == 141
    monkeypatch.undo()
    assert capsys.readouterr().err == ""


def test_broken_pipe_through_head(tmp_path):
    if not os.path.exists(LRNN):
        pytest.skip("console script not installed")
    result = subprocess.run(f"'{LRNN}' derive --list 2>'{tmp_path / 'err'}' | head -1", shell=True,
                            capture_output=True, text=True, timeout=300)
    assert result.stdout.count("\n") == 1
    err = (tmp_path / "err").read_text()
    assert "Traceback" not in err and "Exception ignored" not in err and err.count("\n") <= 1


def default_sigint():
    """For a child process: Ctrl-C's default action, even where the tests run with SIGINT ignored (a shell's
    background job), which a child inherits and Python then keeps: it would finish instead of being interrupted."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_in_the_first_half_second(tmp_path):
    """SIGINT while numpy, scipy and sympy are still being imported: one line, exit 130, no traceback."""
    if not os.path.exists(LRNN):
        pytest.skip("console script not installed")
    proc = subprocess.Popen([LRNN, "derive", "--result", "flow"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=default_sigint)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    if proc.returncode == 0:
        pytest.skip("the command finished before the signal")
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["lrnn: interrupted; no output written"]


# ---- 4. resource guard ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("extra,needle", [
    (["--n-points", "1000000000"], "output points"),
    (["--max-memory", "1k"], "memory limit"),
    (["--max-memory", "lots"], "max_memory"),
    (["--max-time", "-1"], "max_time"),
])
def test_integrate_is_refused_before_heavy_work(tmp_path, capsys, extra, needle):
    task = write_task(tmp_path / "t.json", {"family": "constant", "T": 3})
    line = one_error_line(["integrate", task, "--t-end", 1, "--out", tmp_path / "x.csv"] + extra, capsys, 2, needle)
    assert "about" in line or "max_" in line


@pytest.mark.parametrize("data", [{"family": "constant", "T": 10**8},
                                  pytest.param({"family": "constant", "T": 6, "delta": [1.0] * 10**6},
                                               marks=pytest.mark.slow, id="K=10^6")], ids=["T=10^8", None])
def test_huge_tasks_are_refused_with_an_estimate(tmp_path, capsys, data):
    """T = 10^8 and K = 10^6 tasks are refused before they are built or integrated."""
    task = write_task(tmp_path / "t.json", data)
    line = one_error_line(["integrate", task, "--t-end", 1, "--out", tmp_path / "x.csv"], capsys, 2)
    assert "would" in line and ("GB" in line or "hours" in line or "days" in line), line


@pytest.mark.parametrize("extra", [["--hidden", "1000000"], ["--data", "samples", "--n-samples", "100000000"],
                                   ["--steps", "100000000000", "--hidden", "2000"]])
def test_training_is_refused_with_an_estimate(tmp_path, capsys, extra):
    task = write_task(tmp_path / "t.json", {"family": "constant", "T": 3})
    args = ["simulate", task, "--lr", "0.01", "--out", tmp_path / "s.csv"] + extra
    if "--steps" not in extra:
        args += ["--steps", "10"]
    line = one_error_line(args, capsys, 2, "training")
    assert "would" in line and "--max-" in line


def test_derive_recurrent_taylor_at_T_1000_is_refused_quickly(capsys):
    started = time.monotonic()
    one_error_line(["derive", "--result", "recurrent-taylor", "--family", "constant", "--T", "1000"], capsys, 2,
                   "--max-time")
    assert time.monotonic() - started < 60


def test_tasks_beyond_the_size_cap_keep_their_message(tmp_path, capsys):
    task = write_task(tmp_path / "t.json", {"family": "constant", "T": 10**9})
    one_error_line(["integrate", task, "--t-end", 1, "--out", tmp_path / "x.csv"], capsys, 2, "at most")


def test_many_modes_are_refused_by_the_estimate():
    with pytest.raises(LrnnInputError, match="K=1000000 modes"):
        resources.guard(resources.integrate_estimate(10**6, 6, 201), "integrating the task")


def test_guard_and_sizes():
    assert resources.parse_size("1.5G") == 3 * 2**29 and resources.parse_size("500M") == 500 * 2**20
    assert resources.parse_size("2e9") == 2 * 10**9
    try:
        resources.configure("1M")
        with pytest.raises(LrnnInputError, match="memory limit"):
            resources.guard(resources.integrate_estimate(10, 1000, 10_000), "x")
        resources.configure("1T")
        resources.guard(resources.integrate_estimate(10, 1000, 10_000), "x")
    finally:
        resources.configure(None)
    small = resources.integrate_estimate(1, 6, 201)
    assert small.memory < resources.default_limit() and small.seconds < 60


def test_estimate_is_an_upper_bound_of_measured_memory():
    """The integrate estimate against the measured peak of the Python allocations of a real run."""
    import tracemalloc

    task = Task.constant(np.linspace(0.5, 1.5, 20), T=2000)
    integrate(task, 0.1, n_points=3)  # compile once outside the measurement
    tracemalloc.start()
    traj = integrate(task, 0.1, n_points=300)
    traj.csv_bytes()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    estimate = resources.integrate_estimate(task.K, task.T, 300).memory
    assert peak < estimate < 200 * peak, (peak, estimate)


def test_every_bad_input_class_is_an_lrnn_error():
    assert issubclass(LrnnInputError, LrnnError) and issubclass(IntegrationError, LrnnError)


def test_sigterm_during_a_command_exits_143_and_writes_nothing(tmp_path, capsys, monkeypatch):
    """The CLI turns SIGTERM into an exception that unwinds like Ctrl-C: staged files are removed."""
    from lrnn_theory import interrupts

    def terminated(staged):
        assert leftovers(tmp_path)  # both files are staged at this point
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises during the sleep

    monkeypatch.setattr(lrnn_io, "_install", terminated)
    task = write_task(tmp_path / "t.json", {"family": "constant", "T": 3})
    code, _, err = run_cli(["integrate", task, "--t-end", 1, "--n-points", 3, "--out", tmp_path / "x.csv",
                            "--plot", tmp_path / "x.png"], capsys)
    assert code == interrupts.EXIT_TERMINATED and err == ["lrnn: terminated; no output written"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]


def test_explicit_method_on_a_stiff_task_stops_with_a_remedy(monkeypatch):
    """RK45 on a badly scaled task used to run for hours: the evaluation cap ends it with the remedy."""
    from lrnn_theory.flow import CompiledFlow

    monkeypatch.setattr(CompiledFlow, "MAX_RHS_CALLS", 2000)
    with pytest.raises(IntegrationError, match="too stiff for this method"):
        integrate(Task.constant(1e6, T=4), 50.0, method="RK45")
