"""Old module names kept for users' scripts: they warn, re-export the renamed module, and the package never uses them."""
import ast
import importlib
import sys
from pathlib import Path

import pytest

from lrnn_theory.cli import main

#: old module -> renamed module (one name per result: stability, phase_transition, frozen)
RENAMED = {"lrnn_theory.solutions": "lrnn_theory.stability",
           "lrnn_theory.phase": "lrnn_theory.phase_transition",
           "lrnn_theory.derivations.io_solution": "lrnn_theory.derivations.frozen"}
ROOT = Path(__file__).resolve().parent.parent
SHIM_FILES = {ROOT / "lrnn_theory" / "solutions.py", ROOT / "lrnn_theory" / "phase.py",
              ROOT / "derivations" / "io_solution.py"}


@pytest.mark.parametrize("old, new", RENAMED.items())
def test_old_module_warns_and_exposes_the_same_objects(monkeypatch, old, new):
    monkeypatch.delitem(sys.modules, old, raising=False)  # import afresh, so the warning is raised here
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        shim = importlib.import_module(old)
    renamed = importlib.import_module(new)
    public = [name for name in vars(renamed) if not name.startswith("_")]
    assert public and all(getattr(shim, name) is getattr(renamed, name) for name in public)
    if old == "lrnn_theory.solutions":
        assert shim._sums is renamed._sums  # imported from the old name by code written before the rename


def test_package_never_imports_an_old_module_name():
    old_names = {"solutions", "phase", "io_solution"}
    files = [p for d in ("lrnn_theory", "derivations", "validation") for p in (ROOT / d).glob("**/*.py")]
    offenders = []
    for path in files:
        if path in SHIM_FILES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                parts = (node.module or "").split(".") + [alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                parts = [part for alias in node.names for part in alias.name.split(".")]
            else:
                continue
            if old_names & set(parts):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert len(files) > 30 and not offenders


def test_old_derive_result_name_is_an_alias(capsys):
    assert main(["derive", "--result", "io-solution", "--format", "text"]) == 0
    old = capsys.readouterr().out
    assert main(["derive", "--result", "frozen", "--format", "text"]) == 0
    assert old == capsys.readouterr().out and "u* = A/B" in old
    assert main(["derive", "--list"]) == 0
    assert "io-solution: old name of 'frozen'" in capsys.readouterr().out
