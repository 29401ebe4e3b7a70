"""Figure reproductions: ``lrnn reproduce NAME [--out DIR] [--quick]`` writes ``DIR/NAME.png`` and ``DIR/NAME.json``.

Each module here registers its figures with the ``figure`` decorator. A figure function takes ``quick`` (bool: a
reduced run that finishes in well under a minute) and returns ``(matplotlib Figure, dict)``; the dict holds the
figure's key numbers, always including ``max_abs_error`` (theory against simulation over the plotted curves) and the
parameters chosen where the paper gives none. Simulation is drawn solid, theory dashed.
"""
from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

FIGURES: dict = {}


def figure(name: str, description: str):
    """Register ``func(quick: bool) -> (Figure, dict)`` as reproduction ``name``."""

    def wrap(func):
        func.description = description
        FIGURES[name] = func
        return func

    return wrap


def load_all() -> dict:
    """Import every figure module so that all reproductions are registered; return the registry."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return FIGURES


def reproduce(name: str, out_dir=".", quick: bool = False) -> dict:
    """Run reproduction ``name``, write ``out_dir/name.png`` and ``out_dir/name.json``; return the JSON data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lrnn_theory.errors import LrnnInputError, bad
    from lrnn_theory.io import check_writable, render_figure, write_files_whole

    registry = load_all()
    if name not in registry:
        raise bad("figure", name, f"be one of {', '.join(sorted(registry))}")
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LrnnInputError(f"parameter 'out' cannot be used as a directory: '{out_dir}' ({exc.strerror})") from None
    targets = [out_dir / f"{name}.png", out_dir / f"{name}.json"]
    for path in targets:  # before the (long) run
        check_writable(path, "out")
    fig, data = registry[name](quick=quick)
    if "max_abs_error" not in data:
        raise RuntimeError(f"figure {name} did not report max_abs_error")
    data = {"figure": name, "quick": bool(quick), **data}
    text = json.dumps(data, indent=2, default=_jsonable) + "\n"
    png = render_figure(fig, "png")
    plt.close(fig)
    write_files_whole([(targets[0], png, "out"), (targets[1], text.encode(), "out")])  # both or neither
    return data


def _jsonable(value):
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
