"""The package's layers, its command registry and its module names (issue 20, "layers that show it").

Layers, lowest first (``structure.LAYERS``): the errors every layer raises; the symbolic ``derivations`` (sympy
only); the numeric core ``lrnn_theory`` (compiling, solving, results); ``validation`` (harness, figures, claims); the
command line ``lrnn_theory.cli``. A module imports at module level from its own layer or lower ones only, and no
modules import each other in a cycle. ``lrnn_theory/__init__.py`` serves validation names (``train_lrnn``, ...)
through its module ``__getattr__``: an attribute lookup when a user asks for the name, not an import of the core's,
so the core still never imports validation.
"""
import gc
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import structure
from lrnn_theory.cli.registry import COMMANDS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def sources():
    """Module name -> parsed source (``structure`` parses each file once, and again only when it changed).

    The trees are 200,000 nodes without a reference cycle among them: parsed with the collector paused and
    then frozen, so that its automatic passes (0.4 s here) and the next module's collection (0.3 s) do not visit
    them; dropped at the end of the module (freed by their reference counts)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        trees = structure._trees()
    finally:
        if enabled:
            gc.enable()
    gc.freeze()
    yield trees
    structure._PARSED.clear()


# ---- layers ---------------------------------------------------------------------------------------------------------
def test_no_module_imports_a_higher_layer_at_module_level(sources):
    assert structure.layer_of("lrnn_theory.derivations.mode_flow") < structure.layer_of("lrnn_theory.flow")
    assert structure.layer_of("lrnn_theory.flow") < structure.layer_of("lrnn_theory.validation.harness")
    assert structure.layer_of("lrnn_theory.validation.harness") < structure.layer_of("lrnn_theory.cli.runner")
    assert structure.upward_imports() == []


def test_no_import_cycles_at_module_level(sources):
    assert structure.cycles() == []


def test_derivations_build_sympy_only(sources):
    """No numpy, scipy or matplotlib, no lambdify (that is ``lrnn_theory.compiled``), no argparse, no script: the
    printed reports, with a task's numbers, are the command line's (``lrnn_theory.cli.reports``)."""
    assert structure.derivation_violations() == []


def test_derivations_print_nothing(sources):
    """No derivation module renders or prints: no ``report``, ``render`` or ``print`` (``lrnn_theory.cli.reports``)."""
    import ast

    for module, tree in sources.items():
        if not module.startswith("lrnn_theory.derivations"):
            continue
        defined = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        assert not defined & {"report", "render", "equation", "format_mode_flow"}, module
        calls = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call)
                 and isinstance(node.func, ast.Name)}
        assert "print" not in calls, module


# ---- the command line -----------------------------------------------------------------------------------------------
def test_every_registered_command_has_a_module_and_every_command_module_is_registered():
    for name, command in COMMANDS.items():
        spec = importlib.util.find_spec(f"lrnn_theory.cli.{command.module}")
        assert spec is not None, name
        module = command.load()
        assert callable(module.add_arguments) and callable(module.run), name
    infrastructure = {"__init__", "__main__", "registry", "runner", "exit_codes", "arguments", "outputs", "training",
                      "reports"}
    command_modules = {p.stem for p in (ROOT / "lrnn_theory" / "cli").glob("*.py")} - infrastructure
    assert command_modules == {c.module for c in COMMANDS.values()}


def test_the_registry_and_the_package_import_nothing_heavy():
    """Listing the commands needs only the standard library; importing the package needs nothing else."""
    code = ("import sys, lrnn_theory, lrnn_theory.cli.registry; "
            "print(sorted(m for m in ('numpy', 'scipy', 'sympy', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _help_command():
    script = Path(sys.executable).parent / "lrnn"  # the console script itself, not a shell shim in front of it
    if script.is_file():
        return [str(script), "--help"]
    return [sys.executable, "-m", "lrnn_theory.cli", "--help"]


def test_lrnn_help_answers_in_under_a_third_of_a_second():
    """Start-up is the cost of every command: ``lrnn --help`` imports no command module. Measured as the child's
    CPU time (user + system), best of up to 3 runs, so that other processes on a loaded machine do not decide it
    (a run under the limit ends the search: the best of 3 is then under it too)."""
    import resource

    best = float("inf")
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run(_help_command(), capture_output=True, text=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
        assert proc.returncode == 0 and "COMMAND" in proc.stdout
        if best < 0.35:
            break
    assert best < 0.35, f"lrnn --help took {best:.3f} s of CPU time"


# ---- one name per result ------------------------------------------------------------------------------------------
#: Where a result's symbolic (derivations/X.py), numeric (lrnn_theory/X.py), figure (validation/figures/X.py) or test
#: (tests/test_X.py) module does not carry its name X, and why.
NAME_EXCEPTIONS = {
    "complex": {"numeric": "complex (rotational) tasks are data that every result takes: lrnn_theory/complex.py, "
                           "their second home of results, went away in 0.3.0"},
    "mode_flow": {"numeric": "lrnn_theory/flow.py: the engine, which every result integrates with",
                  "figure": "every figure integrates the flow; it has no figure of its own"},
    "every_step": {"numeric": "every-step outputs are a kind of task (data: tasks.py, task_sums.py), not a numeric "
                              "module: every result takes them"},
    "extrapolation": {"figure": "drawn with stability in Fig. 3 (validation/figures/stability.py)"},
    "finite_lr": {"figure": "not a figure of the paper: benchmarks/bench_finite_lr.py tables it"},
    "recurrent_taylor": {"numeric": "lrnn_theory/frozen.py (integrate_recurrent_taylor): b with u frozen is the "
                                    "other half of the frozen solutions",
                         "figure": "validation/figures/frozen.py", "test": "tests/test_frozen.py"},
    "learning_order": {"symbolic": "built from the frozen and recurrent-taylor derivations"},
    "sensory": {"symbolic": "a task built from Neurogym's stimuli; its theory is the stability and extrapolation "
                            "results on that task"},
    "correlated": {"figure": "not a figure of the paper: the sensory figures (validation/figures/sensory.py) overlay "
                             "the correlated theory"},
}

LOCATIONS = {"symbolic": "derivations/{}.py", "numeric": "lrnn_theory/{}.py", "figure": "validation/figures/{}.py",
             "test": "tests/test_{}.py"}


def _results():
    """Every result: a symbolic or a figure module names one."""
    return sorted({p.stem for folder in ("derivations", "validation/figures") for p in (ROOT / folder).glob("*.py")}
                  - {"__init__"})


@pytest.mark.parametrize("result", _results())
def test_a_results_modules_share_its_name_or_say_why_not(result):
    excused = NAME_EXCEPTIONS.get(result, {})
    for kind, pattern in LOCATIONS.items():
        exists = (ROOT / pattern.format(result)).is_file()
        if kind in excused:
            assert not exists, f"{pattern.format(result)} exists now: drop its exception"
        else:
            assert exists, f"result '{result}' has no {kind} module {pattern.format(result)}"


def test_name_exceptions_are_about_results():
    assert set(NAME_EXCEPTIONS) <= set(_results())
    assert all(set(kinds) <= set(LOCATIONS) and all(kinds.values()) for kinds in NAME_EXCEPTIONS.values())


# ---- the public API -----------------------------------------------------------------------------------------------
def test_every_public_name_resolves_and_the_readme_imports_only_from_the_top_level():
    import re

    import lrnn_theory

    missing = [name for name in lrnn_theory.__all__ if not hasattr(lrnn_theory, name)]
    assert not missing
    readme = (ROOT / "README.md").read_text()
    imports = [line for block in re.findall(r"```python\n(.*?)```", readme, re.S) for line in block.splitlines()
               if re.match(r"\s*(from|import) lrnn_theory", line)]
    assert imports and all(re.match(r"from lrnn_theory import ", line) for line in imports), imports
