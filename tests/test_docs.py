"""The documentation: every gallery example runs and writes its figure, every Python snippet and JSON task of the
user guide works as written, the command reference covers every command, and the site builds with warnings as
errors (when Sphinx is installed)."""
import argparse
import importlib.util
import json
import os
import re
import runpy
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lrnn_theory import Task
from lrnn_theory.cli.registry import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
#: The hand-written pages (not what the build generates).
PAGES = sorted(p for p in DOCS.rglob("*.rst")
               if not {"_build", "auto_examples", "generated", "_templates"} & set(p.relative_to(DOCS).parts)
               and p.parent.name != "api")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _blocks(language: str) -> list:
    """``(page, index, code)`` of every ``.. code-block:: LANGUAGE`` of the hand-written pages."""
    pattern = re.compile(rf"^\.\. code-block:: {language}\n\n((?:(?:   .*)?\n)+)", re.M)
    return [(page.relative_to(DOCS).as_posix(), i, textwrap.dedent(m.group(1)))
            for page in PAGES for i, m in enumerate(pattern.finditer(page.read_text()))]


PYTHON = _blocks("python")
JSON = _blocks("json")
#: Snippets that take over ten seconds (a claim and a quick reproduction): run with ``-m slow``.
SLOW_SNIPPETS = {("user_guide/figures.rst", 1)}


def _env() -> dict:
    return dict(os.environ, MPLBACKEND="Agg", PYTHONHASHSEED="0")


# ---- the gallery ------------------------------------------------------------------------------------------------------
def test_gallery_has_the_examples():
    names = {p.stem for p in EXAMPLES}
    assert {"own_task", "custom_sweep", "own_data", "rotations", "every_step", "kernel_movement"} <= names
    for example in EXAMPLES:
        text = example.read_text()
        assert text.startswith('"""\n'), f"{example.name}: sphinx-gallery needs a docstring with a title first"
        assert "savefig(figure_path" in text, f"{example.name}: saves its figure to sys.argv[1] or NAME.png"
        default = f'figure_path = sys.argv[1] if len(sys.argv) > 1 else "{example.stem}.png"'
        assert default in text, f"{example.name}: without an argument, its figure is {example.stem}.png"


#: The example run with its figure's path as the one argument, as the docs build runs every example
#: (docs/conf.py ``example_argv``); the others run without one.
GIVEN_PATH_EXAMPLE = "every_step"


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_and_writes_its_figure(example, tmp_path, monkeypatch):
    """Run as ``python examples/NAME.py [FIGURE]`` in some directory (in-process, as ``__main__`` with that argv and
    working directory, as sphinx-gallery runs them: a process start costs more than most examples): it writes
    NAME.png there, or FIGURE when given (and then no NAME.png). One run per example: the one given a path is
    ``GIVEN_PATH_EXAMPLE``; the default name of every example is checked in its source above."""
    import matplotlib.pyplot as plt

    given = tmp_path / "sub" / "figure.png" if example.stem == GIVEN_PATH_EXAMPLE else None
    if given:
        given.parent.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(example)] + ([str(given)] if given else []))
    try:
        runpy.run_path(str(example), run_name="__main__")
    finally:
        plt.close("all")
    figure = given or tmp_path / f"{example.stem}.png"
    assert figure.read_bytes()[:8] == PNG_SIGNATURE
    assert figure.stat().st_size > 10_000  # a drawn figure, not an empty canvas
    if given:
        assert not (tmp_path / f"{example.stem}.png").exists()


# ---- the user guide's snippets ------------------------------------------------------------------------------------
def test_guide_has_snippets():
    assert len(PYTHON) >= 15 and len(JSON) >= 5


@pytest.mark.parametrize("page,index,code", [
    pytest.param(*block, marks=pytest.mark.slow) if block[:2] in SLOW_SNIPPETS else block for block in PYTHON],
    ids=[f"{page}:{index}" for page, index, _ in PYTHON])
def test_guide_python_snippet_runs(page, index, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    exec(compile(code, f"docs/{page} Python example {index}", "exec"), {})


def test_guide_and_gallery_import_from_the_top_level():
    """Users import ``from lrnn_theory import ...`` (lrnn_theory.__all__), as the README does."""
    sources = [code for _, _, code in PYTHON] + [p.read_text() for p in EXAMPLES]
    imports = [line for code in sources for line in code.splitlines()
               if re.match(r"\s*(from|import) lrnn_theory", line)]
    assert imports and all(re.match(r"from lrnn_theory import ", line) for line in imports), imports


@pytest.mark.parametrize("page,index,code", JSON, ids=[f"{page}:{index}" for page, index, _ in JSON])
def test_guide_json_is_a_valid_task(page, index, code):
    task = Task.from_dict(json.loads(code))
    assert task.K >= 1 and task.T >= 1


def test_guide_documents_every_task_field():
    tasks_page = (DOCS / "user_guide" / "tasks.rst").read_text()
    for field in ("singular_values", "singular_values_imag", "family", "delta_phase", "lambda_phase", "init",
                  "a_imag", "b_imag", "c_imag", "tau", "outputs", "input_covariance", "name", '"lag"', '"ar1"'):
        assert field in tasks_page, field


# ---- the command reference ------------------------------------------------------------------------------------
def test_cli_page_covers_every_command():
    cli_page = (DOCS / "user_guide" / "cli.rst").read_text()
    documented = re.findall(r"^\.\. lrnn-command:: ([\w-]+)$", cli_page, re.M)
    assert sorted(documented) == sorted(COMMANDS), "docs/user_guide/cli.rst needs '.. lrnn-command:: NAME' per command"
    for name in COMMANDS:
        assert f":ref:`{name} <cli-{name}>`" in cli_page, f"the summary table of cli.rst misses {name}"


def _docs_extension():
    spec = importlib.util.spec_from_file_location("lrnn_docs", DOCS / "_ext" / "lrnn_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(importlib.util.find_spec("docutils") is None, reason="docutils is not installed")
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_cli_reference_lists_every_option(name):
    """The generated reference of a command shows each of its options."""
    ext = _docs_extension()
    text = "\n".join(ext.command_rst(name))
    for action in ext.command_parser(name)._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        for option in action.option_strings:
            assert f"``{option}" in text, option


@pytest.mark.skipif(importlib.util.find_spec("docutils") is None, reason="docutils is not installed")
def test_plain_text_math_in_docstrings():
    """|b| and w_- are escaped outside literals; an indented formula becomes a literal block, shown as written."""
    ext = _docs_extension()
    lines = ["The modulus |b| and ``|b|`` and w_- stay.", "", "    E = |u|^2 B", "      - 2 Re(u A)", "",
             "Then prose again |a|."]
    out = ext.plain_text_math(lines)
    assert out[0] == r"The modulus \|b\| and ``|b|`` and w\_- stay."
    assert ".. code-block:: text" in out and "    E = |u|^2 B" in out and "      - 2 Re(u A)" in out
    assert out[-1] == r"Then prose again \|a\|."
    doctest = [">>> abs(-1) | 0", "1", "", "Text |x|."]
    assert ext.plain_text_math(doctest)[:2] == doctest[:2]


# ---- the site ---------------------------------------------------------------------------------------------------
DOCS_PACKAGES = ("sphinx", "numpydoc", "sphinx_gallery", "pydata_sphinx_theme")


@pytest.mark.slow
@pytest.mark.skipif(any(importlib.util.find_spec(p) is None for p in DOCS_PACKAGES),
                    reason='the docs extra is not installed (pip install -e ".[docs]")')
def test_docs_build_with_warnings_as_errors(tmp_path):
    """The documented build command (docs/development.rst, .ci/run), into a temporary directory."""
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-d",
                           str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-4000:])
    html = tmp_path / "html"
    for page in ("index.html", "user_guide/tasks.html", "user_guide/cli.html", "api/index.html",
                 "auto_examples/index.html", "auto_examples/own_task.html"):
        assert (html / page).exists(), page
    assert list((html / "_images").glob("sphx_glr_own_task_*.png")), "the gallery's figures"
