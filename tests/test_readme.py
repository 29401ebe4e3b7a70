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


def test_readme_cli_quickstart_runs(tmp_path):
    quickstart = [code for code in BASH if "my_task.json" in code and "lrnn integrate" in code]
    assert len(quickstart) == 1
    assert len(quickstart[0].strip().splitlines()) <= 10
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(["bash", "-e", "-c", quickstart[0]], cwd=work, env=_lrnn_on_path(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for name in ("my_task.json", "traj.csv", "traj.png", "overlay.png"):
        assert (work / name).stat().st_size > 0, name
    assert "stable" in done.stdout


def test_readme_lists_every_command():
    rows = re.findall(r"^\| `lrnn ([\w-]+)", README, re.M)
    assert sorted(rows) == sorted(COMMANDS), "the README's command table must have one row per lrnn command"


def test_readme_docs_map_points_at_files():
    paths = re.findall(r"^\| `((?:docs|examples)/[^`]*)`", README, re.M)
    assert paths
    for path in paths:
        assert (ROOT / path).exists(), path
