"""Figure reproductions: ``lrnn reproduce NAME [--out DIR] [--quick]`` writes ``DIR/NAME.png`` and ``DIR/NAME.json``.

Each module here registers its figures with the ``figure`` decorator. A figure function takes ``quick`` (bool: a
reduced run that finishes in well under a minute) and returns ``(matplotlib Figure, dict)``; the dict holds the
figure's key numbers, always including ``max_abs_error`` (theory against simulation over the plotted curves) and the
parameters chosen where the paper gives none. Simulation is drawn solid, theory dashed.

Each figure's dict also carries ``paper_features``: the paper's visible statements about that figure, each built with
``paper_feature`` from numbers measured in the run (never typed in), as
``{"statement": str, "paper": value or description, "ours": number(s), "holds": bool, ...}``. Figures whose paper
parameters are unknown (fig4, figA3) carry ``paper_fit``: the search over the unknowns, its score and the chosen values.

Modules are named after the result they reproduce (``frozen``: Fig. 2, ``learning_order``: Fig. A1, ``stability``:
Fig. 3, ``phase_transition``: Fig. 4 and A3, ``regularisation``: Fig. A2).
"""
from __future__ import annotations

import importlib
import json
import pkgutil
import re
import sys
from pathlib import Path

import numpy as np

from lrnn_theory.errors import LrnnInputError, bad
from lrnn_theory.io import SAVE_DPI, check_writable, render_figure, write_files_whole

FIGURES: dict = {}

#: Most worker processes a figure may start for its own grid (``grid_executor``); None: one per core.
#: ``lrnn reproduce all`` sets it to 1, so that the run uses exactly ``--jobs`` processes.
INNER_WORKERS = None


def figure(name: str, description: str):
    """Register ``func(quick: bool) -> (Figure, dict)`` as reproduction ``name``."""

    def wrap(func):
        func.description = description
        FIGURES[name] = func
        return func

    return wrap


def pyplot():
    """matplotlib.pyplot on the Agg backend (figures are written to files, never shown)."""
    import matplotlib  # 0.2 s to import: only when a figure is drawn, not when the figures are listed

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def paper_feature(statement: str, paper, ours, holds, by_construction: bool = False, quick_differs: str | None = None,
                  **extra) -> dict:
    """One entry of a figure's ``paper_features``: a paper statement, the paper's value, ours, whether it holds.

    ``ours`` and ``holds`` must come from the run's numbers; ``extra`` adds context (tolerance, definition, ...).
    ``by_construction`` is True when the statement cannot fail given how the figure is made (a value fitted to the
    paper's, a check against the formula that draws it); such statements are counted apart in the report.
    ``quick_differs`` says why the statement is expected not to hold in a ``--quick`` run (fewer steps, a coarser
    grid); the report marks such a statement "expected in --quick" instead of failed when it does not hold there.

    Examples
    --------
    >>> paper_feature("b ends at 1", 1.0, 0.999, abs(0.999 - 1.0) < 0.01, tolerance=0.01)["holds"]
    True
    """
    if not isinstance(statement, str) or not statement:
        raise ValueError("a paper feature needs a statement")
    ours = np.asarray(ours).tolist() if isinstance(ours, (np.ndarray, np.generic)) else ours
    if not isinstance(by_construction, bool):
        raise ValueError(f"by_construction must be True or False, got {by_construction!r}")
    if quick_differs is not None:
        extra = {"quick_differs": str(quick_differs), **extra}
    return {"statement": statement, "paper": paper, "ours": ours, "holds": bool(holds),
            "by_construction": by_construction, **extra}


def check_paper_features(name: str, data: dict) -> None:
    """Raise unless every ``paper_features`` entry of figure ``name`` has a str statement and bool holds and
    by_construction (entries written by hand instead of with ``paper_feature`` are caught before anything is
    written)."""
    for k, entry in enumerate(data.get("paper_features", [])):
        if not isinstance(entry, dict) or not isinstance(entry.get("statement"), str):
            raise RuntimeError(f"figure {name}: paper_features[{k}] is not a paper_feature(...) entry")
        for key in ("holds", "by_construction"):
            if not isinstance(entry.get(key), (bool, np.bool_)):
                raise RuntimeError(f"figure {name}: paper_features[{k}] ({entry['statement'][:60]!r}) needs a "
                                   f"bool '{key}', got {entry.get(key)!r}")


def statement_counts(features, quick: bool = False) -> dict:
    """How many of a figure's paper statements hold, the by-construction ones counted apart.

    Returns ``measured`` / ``measured_hold`` (statements that could fail), ``by_construction`` /
    ``by_construction_hold``, ``quick_expected`` (statements that fail in a quick run and are declared
    ``quick_differs``) and ``text``, e.g. "5 of 6 hold (+2 by construction)".

    Examples
    --------
    >>> fs = [paper_feature("a", 1, 1, True), paper_feature("b", 1, 0, False), paper_feature("c", 1, 1, True, True)]
    >>> statement_counts(fs)["text"]
    '1 of 2 hold (+1 by construction)'
    """
    features = list(features or [])
    measured = [f for f in features if not f.get("by_construction")]
    built = [f for f in features if f.get("by_construction")]
    expected = [f for f in features if quick and not f["holds"] and f.get("quick_differs")]
    out = {"measured": len(measured), "measured_hold": sum(bool(f["holds"]) for f in measured),
           "by_construction": len(built), "by_construction_hold": sum(bool(f["holds"]) for f in built),
           "quick_expected": len(expected)}
    text = f"{out['measured_hold']} of {out['measured']} hold"
    if built:
        held = out["by_construction_hold"]
        text += f" (+{held} by construction)" if held == len(built) else f" (+{held} of {len(built)} by construction)"
    if expected:
        text += f"; {len(expected)} expected to differ in --quick"
    out["text"] = text
    return out


def paper_order(names) -> list:
    """Figure names in the paper's order: fig1..fig6, then figA1..figA11 (numbers compared as numbers), then ours."""
    def key(name):
        match = re.fullmatch(r"fig(A?)(\d+)", name)
        if match is None:
            return (2, 0, name)
        return (1 if match.group(1) else 0, int(match.group(2)), name)

    return sorted(names, key=key)


#: Whether ``progress`` shows bars (``lrnn reproduce FIG`` turns it on when stderr is a terminal); off by default,
#: so that library calls, tests and the workers of ``reproduce all`` print nothing.
SHOW_PROGRESS = False
_CURRENT = {"figure": ""}


def progress(iterable, desc: str, total: int | None = None):
    """Wrap a figure's slow loop (its grid, its tasks) so that a single ``lrnn reproduce FIG`` shows a progress bar
    on stderr; returns ``iterable`` itself unless ``SHOW_PROGRESS`` is on.

    Examples
    --------
    >>> [x for x in progress(range(3), "tasks")]
    [0, 1, 2]
    """
    if not SHOW_PROGRESS:
        return iterable
    from tqdm import tqdm

    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    label = f"{_CURRENT['figure']}: {desc}" if _CURRENT["figure"] else desc
    return tqdm(iterable, desc=label, total=total, leave=False, file=sys.stderr, dynamic_ncols=True)


def load_all() -> dict:
    """Import every figure module so that all reproductions are registered; return the registry."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return FIGURES


def load_figure(name: str) -> dict:
    """The registry once it holds ``name``: figure modules are imported in order only until one registers it (all of
    them when none does). One figure does not pay for importing the others (0.6 s CPU for ``lrnn reproduce fig2``)."""
    for info in pkgutil.iter_modules(__path__):
        if name in FIGURES:
            break
        importlib.import_module(f"{__name__}.{info.name}")
    return FIGURES


def render(name: str, quick: bool = False) -> tuple:
    """Run reproduction ``name`` and return ``(png bytes, JSON text, data)`` without writing anything."""
    plt = pyplot()
    registry = load_figure(name)
    if name not in registry:
        raise bad("figure", name, f"be one of {', '.join(paper_order(registry))}")
    _CURRENT["figure"] = name
    try:
        with plt.rc_context({"figure.dpi": SAVE_DPI}):  # laid out at the saving dpi: no text is measured twice
            fig, data = registry[name](quick=quick)
    finally:
        _CURRENT["figure"] = ""
    try:
        if "max_abs_error" not in data:
            raise RuntimeError(f"figure {name} did not report max_abs_error")
        check_paper_features(name, data)
        data = {"figure": name, "quick": bool(quick), **data}
        text = json.dumps(data, indent=2, default=_jsonable) + "\n"
        png = render_figure(fig, "png")
    finally:
        plt.close(fig)
    return png, text, data


def reproduce(name: str, out_dir=".", quick: bool = False) -> dict:
    """Run reproduction ``name``, write ``out_dir/name.png`` and ``out_dir/name.json`` as a set; return the data."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LrnnInputError(f"parameter 'out' cannot be used as a directory: '{out_dir}' ({exc.strerror})") from None
    targets = [out_dir / f"{name}.png", out_dir / f"{name}.json"]
    for path in targets:  # before the (long) run
        check_writable(path, "out")
    png, text, data = render(name, quick)
    write_files_whole([(targets[0], png, "out"), (targets[1], text.encode(), "out")])  # both or neither
    return data


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
