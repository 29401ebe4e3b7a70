"""`lrnn derive TASK`: the task's own numbers first (stability in words, extrapolation energies at --T-test), an option
that would do nothing refused in one line, one pasteable LaTeX align block with every symbol defined (issue 22.3)."""
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from lrnn_theory.cli import main
from lrnn_theory.extrapolation import closed_form_energy, solution_extrapolation
from lrnn_theory.stability import solve_task
from lrnn_theory.tasks import Task

#: A theorist's own 8-step task: a mode without a zero-loss solution, and a constant one.
PROFILE = [[0.1, 0.15, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0], [1.0] * 8]


def run_cli(capsys, *args):
    """(exit code, stdout, stderr lines) of an in-process run."""
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, [line for line in captured.err.splitlines() if line]


def write(tmp_path, data, name="task.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def energy_table(out):
    """{row name: energies} of the printed extrapolation table (rows "mode k" and "total")."""
    rows = {}
    for line in out.splitlines():
        m = re.match(r"(mode \d+|total)\s+([-+0-9.e\s]+)$", line)
        if m:
            rows[m.group(1)] = np.array(m.group(2).split(), dtype=float)
    return rows


# ---- numbers first ------------------------------------------------------------------------------------------------
def test_extrapolation_of_a_family_task_file_prints_its_energies_at_every_T_test(tmp_path, capsys):
    path = write(tmp_path, {"family": "exponential", "T": 4, "delta": 1.0, "lambda": [0.5, 0.8]})
    code, out, err = run_cli(capsys, "derive", path, "--result", "extrapolation", "--T-test", 2, 4, 7,
                             "--format", "text", "--numbers-only")
    assert code == 0, err
    rows = energy_table(out)
    expected = [closed_form_energy("exponential", 4, [2, 4, 7], 1.0, lam) for lam in (0.5, 0.8)]  # task-sum route
    for mode in range(2):
        np.testing.assert_allclose(rows[f"mode {mode}"], expected[mode], rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(rows["total"], expected[0] + expected[1], rtol=1e-5, atol=1e-12)
    assert rows["total"][1] < 1e-12 and np.all(rows["total"][[0, 2]] > 1e-3)  # only T' = T fits: u = delta lambda^T


def test_extrapolation_of_a_profile_task_file_keeps_its_weight_per_lag(tmp_path, capsys):
    """A profile given step by step, run at T' = 4, 8, 16: the target keeps each lag's weight (0 beyond T steps); the
    energies are the residual sums of the task's solution, computed here by hand."""
    path = write(tmp_path, {"singular_values": PROFILE, "name": "theorist"})
    code, out, err = run_cli(capsys, "derive", path, "--result", "extrapolation", "--T-test", 4, 8, 16,
                             "--numbers-only")
    assert code == 0, err
    s = np.array(PROFILE)
    sol = solve_task(Task(s))
    expected = []
    for T_test in (4, 8, 16):
        target = np.zeros((2, T_test))
        n = min(T_test, 8)
        target[:, -n:] = s[:, -n:]                    # lag k = T' - i carries the task's s_(T-k)
        lags = T_test - np.arange(1, T_test + 1)
        residual = target - sol.u[:, None] * sol.b[:, None] ** lags
        expected.append(np.sum(residual**2, axis=1) / 2)
    expected = np.array(expected).T
    rows = energy_table(out)
    np.testing.assert_allclose(np.array([rows["mode 0"], rows["mode 1"]]), expected, rtol=1e-5, atol=1e-12)
    # ... and the same through lrnn_theory.extrapolation at T' = T
    np.testing.assert_allclose(rows["mode 0"][1], solution_extrapolation(sol.b, sol.u, s)[1][0], rtol=1e-5)
    assert out.index("Task 'theorist'") < out.index("mode 0")


def test_stability_prints_each_modes_verdict_in_words_before_the_formulas(tmp_path, capsys):
    path = write(tmp_path, {"family": "inverse_exponential", "T": 5, "delta": 1.0, "lambda": [0.5, 1.0, 1.5]})
    code, out, err = run_cli(capsys, "derive", path, "--result", "stability", "--format", "text")
    assert code == 0, err
    sol = solve_task(Task.from_json(path))
    assert list(sol.stability) == ["stable", "marginal", "unstable"]  # b* = lambda
    lines = out.splitlines()
    for mode, verdict in enumerate(sol.stability):
        line = next(li for li in lines if li.startswith(f"mode {mode}:"))
        assert line.split("-> ")[1].startswith(verdict), line
    assert "neither decays nor grows" in out and "late importance" in out and "early importance" in out
    assert out.index("mode 2:") < out.index("General formulas") < out.index("Reduced energy")


# ---- options that would do nothing ----------------------------------------------------------------------------------
@pytest.mark.parametrize("args,option", [
    (["TASK", "--result", "stability", "--T-test", "16"], "--T-test"),
    (["TASK", "--result", "extrapolation", "--T", "16"], "--T"),
    (["--result", "extrapolation", "--T-test", "16"], "--T-test"),
    (["--numbers-only"], "--numbers-only"),
    (["--result", "flow", "--standalone"], "--standalone"),
    (["--list", "--T-test", "3"], "--T-test"),
])
def test_an_option_the_command_does_not_use_is_a_one_line_error(tmp_path, capsys, args, option):
    path = write(tmp_path, {"singular_values": PROFILE})
    code, out, err = run_cli(capsys, "derive", *[str(path) if a == "TASK" else a for a in args])
    assert code == 2 and out == ""
    assert len(err) == 1 and f"'{option}'" in err[0] and "Traceback" not in err[0], err


def test_the_list_of_results_needs_no_sympy_and_names_every_report():
    """``lrnn derive --list`` prints the summaries kept beside the command (no sympy, no numeric core), which are
    the reports' own, in the same order."""
    from lrnn_theory.cli.derive import SUMMARIES
    from lrnn_theory.cli.reports import REPORTS

    assert list(SUMMARIES) == list(REPORTS) and all(REPORTS[name].summary == SUMMARIES[name] for name in REPORTS)
    code = ("import sys; from lrnn_theory.cli import main; code = main(['derive', '--list']); "
            "print(sorted(m for m in ('sympy', 'scipy', 'matplotlib') if m in sys.modules), code)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert lines[-1] == "[] 0" and lines[:-1] == [f"{name}: {text}" for name, text in SUMMARIES.items()]


# ---- one pasteable LaTeX block --------------------------------------------------------------------------------------
TOKEN = re.compile(r"(\\[A-Za-z]+|[A-Za-z])((?:_\{[^{}]*\}|_[A-Za-z0-9])?)")
GREEK = {"alpha", "beta", "gamma", "delta", "kappa", "lambda", "tau", "rho", "theta", "psi", "sigma", "eta"}


def identifiers(math: str) -> set:
    """The letters and Greek letters (with their subscripts) of a piece of LaTeX math, skipping upright text and the
    d of d/dt."""
    math = re.sub(r"\\(?:text|mathrm|operatorname)\{[^{}]*\}", " ", math)
    math = re.sub(r"\\frac\{d\^?\{?\d*\}?\}\{d ?[a-z]\^?\{?\d*\}?\}", " ", math)  # d/dt, d^2/db^2
    out = set()
    for m in TOKEN.finditer(math):
        name, sub = m.group(1), m.group(2)
        if name.startswith("\\") and name[1:] not in GREEK:
            continue  # \frac, \left, \sum, ...
        out.add(name + sub)
    return out


def check_latex_block(text):
    lines = text.strip().splitlines()
    assert lines[0] == r"\begin{align}" and lines[-1] == r"\end{align}"
    body = lines[1:-1]
    assert text.count(r"\begin{align}") == 1 and body
    defined, used = set(), set()
    for line in body:
        assert not line.lstrip().startswith("#"), line
        assert line.count("{") == line.count("}"), line
        assert r"{\left(" not in line, line  # plain names: a(t), not a{\left(t \right)}
        if line.startswith(r"\intertext{where "):
            for head in re.findall(r"\$([^$]*)\$ is ", line):
                defined |= identifiers(head)
        elif line.startswith(r"\intertext{"):
            assert line.endswith("}"), line
            assert line.count("$") % 2 == 0, line
        else:
            assert "&" in line, line  # an aligned row
            lhs, _, rhs = line.removesuffix(r" \\").partition("&")
            defined |= identifiers(lhs)
            used |= identifiers(rhs)
    undefined = {name for name in used if name not in defined and name.split("_")[0] not in defined} - {"e"}  # exp
    assert not undefined, undefined
    return body


@pytest.mark.parametrize("result", ["flow", "regularisation"])
def test_latex_is_one_align_block_with_plain_names_and_every_symbol_defined(tmp_path, capsys, result):
    path = write(tmp_path, {"singular_values": PROFILE, "name": "theorist"})
    code, out, err = run_cli(capsys, "derive", path, "--result", result, "--format", "latex")
    assert code == 0, err
    body = check_latex_block(out)
    if result == "flow":  # the energy's S_2, undefined in the old output, is defined in the block
        assert any(r"$S_{2}$ is" in line and line.startswith(r"\intertext{where") for line in body)
    assert body[0].startswith(r"\intertext{\textbf{Task 'theorist'")  # the task's numbers come first


def test_standalone_latex_is_a_compilable_document(tmp_path, capsys):
    code, out, err = run_cli(capsys, "derive", "--result", "flow", "--format", "latex", "--standalone")
    assert code == 0, err
    assert out.startswith("\\documentclass{article}\n") and "\\usepackage{amsmath}" in out
    assert out.rstrip().endswith("\\end{document}")
    begin, end = out.index("\\begin{document}") + len("\\begin{document}\n"), out.index("\\end{document}")
    check_latex_block(out[begin:end])
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed: checked the structure only")
    (tmp_path / "flow.tex").write_text(out)
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "flow.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and (tmp_path / "flow.pdf").stat().st_size > 1000, proc.stdout[-2000:]


# ---- the demo -------------------------------------------------------------------------------------------------------
def test_demo_prints_the_jacobian_entry_by_entry_within_120_columns(monkeypatch):
    """What ``lrnn demo`` prints before integrating (its flow report), without the integration and the PNG."""
    from lrnn_theory.cli.demo import DEMO_TASK
    from lrnn_theory.cli.reports import flow_report

    monkeypatch.setenv("COLUMNS", "120")
    out = flow_report(Task.from_dict(DEMO_TASK), "pretty")
    assert all(f"J_{x}{y} =" in out.replace("Jₐₐ", "J_aa") for x in "abc" for y in "abc")
    jacobian = out[out.index("# Jacobian"):out.index("# Conserved")]
    assert max(len(line) for line in jacobian.splitlines()) <= 120 and "↪" not in out
