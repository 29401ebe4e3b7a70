"""The README: its two commands, its quickstarts (Python and command line) run as written, its command table and its
map of the docs are complete. The manual's snippets live in docs/ and are run by tests/test_docs.py."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lrnn_theory.cli.registry import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
CODE_BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```", README, re.S | re.M)
PYTHON = [code for lang, code in CODE_BLOCKS if lang == "python"]
BASH = [code for lang, code in CODE_BLOCKS if lang == "bash"]


def test_readme_starts_with_the_two_commands():
    """The contract of ../shared/tools/fresh-check: the first two code blocks are install + demo, then the tests."""
    assert [code.strip() for _, code in CODE_BLOCKS[:2]] == [
        "pip install -e . && lrnn demo", 'pip install -e ".[test]" && python -m pytest -q']


def test_readme_is_short():
    assert len(README.splitlines()) <= 200


def test_readme_has_python_quickstart():
    assert len(PYTHON) >= 1
    assert any("from lrnn_theory import" in code for code in PYTHON)
    assert all(len(code.strip().splitlines()) <= 10 for code in PYTHON)


@pytest.mark.parametrize("index", range(len(PYTHON)))
def test_readme_python_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(PYTHON[index], f"README.md Python example {index}", "exec"), {})


def _lrnn_on_path(tmp_path) -> dict:
    """An environment whose ``lrnn`` is this interpreter's (whatever ``lrnn`` the PATH holds otherwise)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "lrnn"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m lrnn_theory.cli "$@"\n')
    script.chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", MPLBACKEND="Agg")


def _lrnn_lines_in_process(block: str, work: Path, capsys):
    """Run a bash block whose lines are heredocs (run by bash) and plain ``lrnn ...`` commands (run in-process by
    ``lrnn_theory.cli.main``, parsed with shell quoting and comments): (exit code, stdout, stderr), or None when the
    block holds anything else (pipes, variables, redirections...), which only bash runs as written."""
    import shlex

    from lrnn_theory.cli import main

    steps, lines = [], block.strip().splitlines()
    while lines:
        line = lines.pop(0)
        heredoc = re.fullmatch(r"cat > [\w.]+ <<'(\w+)'", line.strip())
        if heredoc:
            body = [line]
            while lines and body[-1].strip() != heredoc.group(1):
                body.append(lines.pop(0))
            steps.append(("bash", "\n".join(body) + "\n"))
        elif line.startswith("lrnn ") and not re.search(r"[|&;$`<>()]", line.split("#")[0]):
            steps.append(("lrnn", shlex.split(line, comments=True)[1:]))
        else:
            return None
    out, err = [], []
    for kind, step in steps:
        if kind == "bash":
            done = subprocess.run(["bash", "-e", "-c", step], cwd=work, capture_output=True, text=True, timeout=60)
            code = done.returncode
            out.append(done.stdout)
            err.append(done.stderr)
        else:
            cwd = os.getcwd()
            os.chdir(work)
            try:
                code = main(step)
            except SystemExit as exc:
                code = exc.code
            finally:
                os.chdir(cwd)
            captured = capsys.readouterr()
            out.append(captured.out)
            err.append(captured.err)
        if code != 0:
            break
    return code, "".join(out), "".join(err)


def test_readme_cli_quickstart_runs(tmp_path, capsys):
    """The quickstart as written: its ``lrnn`` lines in-process when the block is only heredocs and plain ``lrnn``
    commands (3x cheaper: the flows are compiled once per test session, not once per command), else by bash with
    this interpreter's ``lrnn`` on the PATH. (The console entry point itself: test_harness_cli.py and
    test_tasks_and_cli.py run it as a process.)"""
    quickstart = [code for code in BASH if "my_task.json" in code and "lrnn integrate" in code]
    assert len(quickstart) == 1
    assert len(quickstart[0].strip().splitlines()) <= 10
    work = tmp_path / "work"
    work.mkdir()
    in_process = _lrnn_lines_in_process(quickstart[0], work, capsys)
    if in_process is None:
        done = subprocess.run(["bash", "-e", "-c", quickstart[0]], cwd=work, env=_lrnn_on_path(tmp_path),
                              capture_output=True, text=True, timeout=300)
        code, stdout, stderr = done.returncode, done.stdout, done.stderr
    else:
        code, stdout, stderr = in_process
    assert code == 0, stderr
    for name in ("my_task.json", "traj.csv", "traj.png", "overlay.png"):
        assert (work / name).stat().st_size > 0, name
    assert "stable" in stdout


@pytest.mark.slow
def test_readme_data_quickstart_runs(tmp_path):
    """The neuroscientist's path: sequences in an NPZ, ``fit-task``, then ``validate --data`` with its plot."""
    quickstart = [code for code in BASH if "data.npz" in code and "lrnn validate --data" in code]
    assert len(quickstart) == 1
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(["bash", "-e", "-c", quickstart[0]], cwd=work, env=_lrnn_on_path(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for name in ("data.npz", "task.json", "overlay.png"):
        assert (work / name).stat().st_size > 0, name
    assert "largest |simulation - theory|" in done.stdout


def test_readme_lists_every_command():
    rows = re.findall(r"^\| `lrnn ([\w-]+)", README, re.M)
    assert sorted(rows) == sorted(COMMANDS), "the README's command table must have one row per lrnn command"


def test_readme_docs_map_points_at_files():
    paths = re.findall(r"^\| `((?:docs|examples)/[^`]*)`", README, re.M)
    assert paths
    for path in paths:
        assert (ROOT / path).exists(), path
