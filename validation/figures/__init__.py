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
from pathlib import Path

import numpy as np

from lrnn_theory.errors import LrnnInputError, bad
from lrnn_theory.io import check_writable, render_figure, write_files_whole

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


def paper_feature(statement: str, paper, ours, holds, **extra) -> dict:
    """One entry of a figure's ``paper_features``: a paper statement, the paper's value, ours, whether it holds.

    ``ours`` and ``holds`` must come from the run's numbers; ``extra`` adds context (tolerance, definition, ...).

    Examples
    --------
    >>> paper_feature("b ends at 1", 1.0, 0.999, abs(0.999 - 1.0) < 0.01, tolerance=0.01)["holds"]
    True
    """
    if not isinstance(statement, str) or not statement:
        raise ValueError("a paper feature needs a statement")
    ours = np.asarray(ours).tolist() if isinstance(ours, (np.ndarray, np.generic)) else ours
    return {"statement": statement, "paper": paper, "ours": ours, "holds": bool(holds), **extra}


def load_all() -> dict:
    """Import every figure module so that all reproductions are registered; return the registry."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return FIGURES


def render(name: str, quick: bool = False) -> tuple:
    """Run reproduction ``name`` and return ``(png bytes, JSON text, data)`` without writing anything."""
    plt = pyplot()
    registry = load_all()
    if name not in registry:
        raise bad("figure", name, f"be one of {', '.join(sorted(registry))}")
    fig, data = registry[name](quick=quick)
    if "max_abs_error" not in data:
        raise RuntimeError(f"figure {name} did not report max_abs_error")
    data = {"figure": name, "quick": bool(quick), **data}
    text = json.dumps(data, indent=2, default=_jsonable) + "\n"
    try:
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
