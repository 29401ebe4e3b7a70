"""Measures of the package's structure, read from its source with ``ast`` (nothing is imported or run).

``python tests/structure.py`` prints the counts that the engine redesign is judged by: branches on the kind of task
outside ``tasks.py``, imports inside functions, the longest function, the most parameters of a public function, the
number of task-sum implementations, and the module-level import graph (upward imports and cycles). The layer test
(``tests/test_layers.py``) asserts on the same functions.
"""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Source folder -> installed package name (setup.cfg ``package_dir``).
PACKAGES = {"lrnn_theory": "lrnn_theory", "derivations": "lrnn_theory.derivations",
            "validation": "lrnn_theory.validation"}
#: Attribute names that test the kind of a task: a branch on one of them is a code path per kind of task.
KIND_NAMES = ("is_complex", "every_step", "block_size", "iscomplexobj", "outputs", "complex_task", "rotational")
#: Layers, lowest first: a module may import from its own layer or lower ones only. The errors (one-line
#: ``LrnnInputError`` and friends) are the foundation every layer raises, the symbolic derivations among them; the
#: cache directory (standard library only) keeps the derivations' results between processes.
LAYERS = ("lrnn_theory.errors", "lrnn_theory.cache", "lrnn_theory.derivations", "lrnn_theory",
          "lrnn_theory.validation", "lrnn_theory.cli")


def modules() -> dict:
    """Installed module name -> source path, for every module of the package."""
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if folder == "lrnn_theory" and parts and parts[0] in ("derivations", "validation"):
                continue
            found[".".join([package, *parts])] = path
    return found


#: Path -> ((mtime, size), source, tree): every measure reads the same trees (and none changes them), so a file is
#: parsed once and again only when it changed; a report parses each file once instead of once per measure.
_PARSED: dict = {}


def _parsed(path: Path) -> tuple:
    info = path.stat()
    stamp = (info.st_mtime_ns, info.st_size)
    cached = _PARSED.get(path)
    if cached is None or cached[0] != stamp:
        source = path.read_text()
        cached = _PARSED[path] = (stamp, source, ast.parse(source, filename=str(path)))
    return cached


def _trees():
    return {name: _parsed(path)[2] for name, path in modules().items()}


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _functions(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


#: Fields of a statement that hold statements (``ExceptHandler`` and ``match_case`` hold them in ``body``).
_STATEMENT_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")


def _statements(statements):
    """Every statement in ``statements`` and, at any depth, in their bodies. An import is a statement, and no
    expression holds one, so this finds every import that ``ast.walk`` would, without visiting each expression
    node (a tenth of the time)."""
    for node in statements:
        yield node
        for field in _STATEMENT_FIELDS:
            yield from _statements(getattr(node, field, ()))


def import_graph(top_level_only: bool = True) -> dict:
    """Module -> set of package modules it imports (at module level only, unless ``top_level_only`` is False)."""
    mods = modules()
    trees = _trees()
    graph = {}
    for name, tree in trees.items():
        is_package = mods[name].name == "__init__.py"
        nodes = _statements(tree.body)
        if top_level_only:  # module level includes imports under ``if``/``try`` at module level
            nodes = [n for top in tree.body if not isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                    ast.ClassDef))
                     for n in _statements([top])]
            nodes += [n for top in tree.body if isinstance(top, ast.ClassDef) for n in top.body
                      if isinstance(n, (ast.Import, ast.ImportFrom))]
        targets = set()
        for node in nodes:
            if isinstance(node, ast.ImportFrom):
                target = _resolve(name, node, is_package)
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    targets.add(full if full in mods else target)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[name] = {t for t in targets if t in mods and t != name}
    return graph


def layer_of(module: str) -> int:
    """Rank of the layer a module belongs to: that of the longest prefix in ``LAYERS`` it falls under."""
    matches = [prefix for prefix in LAYERS if module == prefix or module.startswith(prefix + ".")]
    return LAYERS.index(max(matches, key=len))


def upward_imports() -> list:
    """(importer, imported) pairs at module level where the imported module sits in a higher layer."""
    return sorted((m, t) for m, targets in import_graph().items() for t in targets if layer_of(t) > layer_of(m))


def upward_function_imports() -> list:
    """(importer, imported) pairs of imports inside functions where the imported module sits in a higher layer."""
    mods = modules()
    found = set()
    for name, tree in _trees().items():
        is_package = mods[name].name == "__init__.py"
        for fn in _functions(tree):
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom):
                    target = _resolve(name, node, is_package)
                    targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in mods else target for a in node.names]
                elif isinstance(node, ast.Import):
                    targets = [a.name for a in node.names]
                else:
                    continue
                found.update((name, t) for t in targets if t in mods and layer_of(t) > layer_of(name))
    return sorted(found)


#: Libraries of numeric evaluation, which the symbolic layer does not import.
NUMERIC_LIBRARIES = ("numpy", "scipy", "matplotlib")


def derivation_violations() -> list:
    """(module, line, what) where a module of ``derivations`` does more than build sympy expressions: imports a
    numeric library (anywhere), calls ``lambdify``, parses arguments or runs as a script."""
    out = []
    for name, tree in _trees().items():
        if not name.startswith("lrnn_theory.derivations"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = [(node.module or "").split(".")[0]]
            else:
                roots = []
            out += [(name, node.lineno, f"imports {r}") for r in roots if r in NUMERIC_LIBRARIES + ("argparse",)]
            if isinstance(node, (ast.Attribute, ast.Name, ast.alias)):
                label = getattr(node, "attr", None) or getattr(node, "id", None) or getattr(node, "name", "")
                if label.split(".")[-1] == "lambdify":
                    out.append((name, getattr(node, "lineno", 0), "lambdify"))
            if isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == "__name__":
                out.append((name, node.lineno, "runs as a script"))
    return sorted(set(out))


def cycles() -> list:
    """Strongly connected components of more than one module in the module-level import graph (Tarjan)."""
    graph = import_graph()
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def cycle_size_counting_function_imports() -> int:
    """Largest strongly connected component when imports inside functions count as edges too."""
    graph = import_graph(top_level_only=False)
    saved = import_graph
    try:
        globals()["import_graph"] = lambda top_level_only=True: graph
        comps = cycles()
    finally:
        globals()["import_graph"] = saved
    return max((len(c) for c in comps), default=0)


def function_imports() -> list:
    """(module, function, imported) for every import statement inside a function body."""
    out = []
    for name, tree in _trees().items():
        for fn in _functions(tree):
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and node is not fn:
                    what = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                    out.append((name, fn.name, f"{'.' * getattr(node, 'level', 0)}{what or ''}"))
    return out


def kind_branches() -> list:
    """(module, line) of every ``if``/conditional expression whose test names the kind of a task, outside tasks.py."""
    out = []
    for name, tree in _trees().items():
        if name == "lrnn_theory.tasks":
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.If, ast.IfExp, ast.While)):
                names = {n.attr for n in ast.walk(node.test) if isinstance(n, ast.Attribute)}
                names |= {n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)}
                if names & set(KIND_NAMES):
                    out.append((name, node.lineno))
    return out


def longest_function() -> tuple:
    """(lines, module, function) of the longest function or method."""
    return max((fn.end_lineno - fn.lineno + 1, name, fn.name) for name, tree in _trees().items()
               for fn in _functions(tree))


def most_parameters() -> tuple:
    """(count, module, function) of the public function with the most parameters (self/cls not counted)."""
    best = (0, "", "")
    for name, tree in _trees().items():
        for fn in _functions(tree):
            if fn.name.startswith("_") and fn.name != "__init__":
                continue
            args = fn.args
            params = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs if a.arg not in ("self", "cls")]
            params += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
            best = max(best, (len(params), name, fn.name))
    return best


#: A table of powers of b built in a function: the mark of a task-sum implementation.
POWER_TABLE = re.compile(r"\*\*\s*k\b|\*\*\s*np\.arange\(|cumprod|def powers_by_row")


#: Lines with their ends, split as ``ast.get_source_segment`` splits them (which splits the whole file per call).
_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def _segment(lines: list, node) -> str:
    """``ast.get_source_segment(source, node)`` from the file's ``lines`` (column offsets count UTF-8 bytes)."""
    first, last = node.lineno - 1, node.end_lineno - 1
    if first == last:
        return lines[first].encode()[node.col_offset:node.end_col_offset].decode()
    head = lines[first].encode()[node.col_offset:].decode()
    tail = lines[last].encode()[:node.end_col_offset].decode()
    return "".join([head, *lines[first + 1:last], tail])


def task_sum_implementations() -> list:
    """(module, function) of every numeric function (outside the symbolic ``derivations``) that builds a table of
    powers of b to evaluate task sums; the engine's own ``powers_by_row`` is one of them."""
    out = []
    for name, path in modules().items():
        if name.startswith("lrnn_theory.derivations"):
            continue
        _, source, tree = _parsed(path)
        lines = _LINES.findall(source)
        for fn in _functions(tree):
            body = _segment(lines, fn)
            if POWER_TABLE.search(body) and "sum" in body:
                out.append((name, fn.name))
    return out


def report() -> str:
    lines = [
        f"branches on task kind outside tasks.py: {len(kind_branches())}",
        f"imports inside functions: {len(function_imports())}",
        "longest function: {} lines ({}.{})".format(*longest_function()),
        "most parameters of a public function: {} ({}.{})".format(*most_parameters()),
        f"task-sum implementations: {len(task_sum_implementations())} "
        f"({', '.join(f'{m}.{f}' for m, f in task_sum_implementations())})",
        f"upward imports at module level: {len(upward_imports())}",
        f"upward imports inside functions: {len(upward_function_imports())}",
        f"derivation modules doing numeric work (numpy, lambdify, argparse, __main__): "
        f"{len({m for m, _, _ in derivation_violations()})}",
        f"import cycles at module level: {len(cycles())}",
        f"largest cycle counting imports inside functions: {cycle_size_counting_function_imports()} modules",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())
