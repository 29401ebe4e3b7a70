"""Every figure in one run: ``lrnn reproduce all [--out DIR] [--quick] [--jobs N]``.

Each registered figure (``lrnn reproduce list``) is one job on a ``concurrent.futures.Executor``, the same path as
``lrnn_theory.sweeps``: a ``ProcessPoolExecutor`` with ``jobs`` workers by default, or any executor passed in (a
Dask cluster's ``Client.get_executor()``); ``jobs=1`` runs them one after the other in this process. A worker renders
its figure to bytes and returns them; nothing is written until every job has ended, and then all the files of the
run (``FIG.png`` and ``FIG.json`` of every figure that succeeded, ``index.html`` and ``summary.json``) are written
as one set. A figure that fails does not stop the others: it is listed as failed with its one-line reason.

Every figure runs on one core (one BLAS thread, no process pool of its own), so ``--jobs N`` uses N cores and
``--jobs 1`` is a serial baseline; the pool starts the longest figures first (``FULL_RUN_SECONDS``).
"""
from __future__ import annotations

import base64
import datetime
import html
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from threadpoolctl import threadpool_limits
from tqdm import tqdm

from lrnn_theory import __version__
from lrnn_theory.errors import bad, check_int
from lrnn_theory.interrupts import stop_pool, worker_signals
from lrnn_theory.io import make_out_dir, write_files_whole

from . import figures as figure_registry
from .figures import load_all, paper_order, render, statement_counts

#: Scalars of a figure's JSON shown in the summary and the index (besides max_abs_error), in this order.
KEY_NUMBER_LIMIT = 12


@dataclass
class FigureRun:
    """Outcome of one figure of ``reproduce_all``."""

    figure: str
    status: str                      # "ok" or "failed"
    seconds: float
    max_abs_error: float | None = None
    reason: str | None = None
    description: str = ""
    data: dict = field(default_factory=dict)
    png: bytes | None = None
    json_text: str | None = None

    def statements(self, quick: bool) -> dict | None:
        """``statement_counts`` of the figure's paper statements (None if it failed or states none)."""
        features = self.data.get("paper_features")
        return statement_counts(features, quick) if features else None

    def summary(self, quick: bool = False) -> dict:
        return {"figure": self.figure, "status": self.status, "seconds": round(self.seconds, 3),
                "max_abs_error": self.max_abs_error, "reason": self.reason, "description": self.description,
                "statements": self.statements(quick)}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:500]


#: Wall seconds of each figure in a full serial run here (2 cores), used only to start the longest figures first
#: (longest-processing-time-first scheduling keeps all ``--jobs`` busy until the end); unknown figures go last.
FULL_RUN_SECONDS = {"fig4": 232, "figA7": 176, "figA4": 142, "figA5": 126, "figA6": 99, "fig5": 77, "figA8": 21,
                    "fig6": 14, "figM": 13, "figA3": 13, "fig2": 13, "fig3": 11, "figA1": 6, "figA2": 5, "figA9": 4,
                    "figA10": 3, "figA11": 3}


def run_figure(name: str, quick: bool) -> FigureRun:
    """Render figure ``name`` to bytes (PNG and JSON) without writing anything; never raises for the figure's
    own failures, which become ``status="failed"`` with the reason.

    The figure runs in this process on one core: one BLAS thread and no process pool of its own
    (``figures.INNER_WORKERS = 1``), so that ``reproduce_all`` uses exactly ``jobs`` cores."""
    start = time.perf_counter()
    description = getattr(load_all().get(name), "description", "")
    saved, figure_registry.INNER_WORKERS = figure_registry.INNER_WORKERS, 1
    saved_progress, figure_registry.SHOW_PROGRESS = figure_registry.SHOW_PROGRESS, False  # one bar: the run's
    try:
        with threadpool_limits(1):
            png, text, data = render(name, quick=quick)
    except Exception as exc:  # a failing figure must not stop the others: report it instead
        return FigureRun(name, "failed", time.perf_counter() - start, reason=_one_line(exc), description=description)
    finally:
        figure_registry.INNER_WORKERS = saved
        figure_registry.SHOW_PROGRESS = saved_progress
    return FigureRun(name, "ok", time.perf_counter() - start, max_abs_error=float(data["max_abs_error"]),
                     description=description, data=json.loads(text), png=png, json_text=text)


def _run_job(job):
    return run_figure(*job)


@dataclass
class ReproduceAllResult:
    """What ``reproduce_all`` did: one ``FigureRun`` per figure (in registry order), the wall time and the files."""

    runs: list
    seconds: float
    jobs: int
    quick: bool
    files: list
    command: str = ""
    date: str = ""
    version: str = ""
    all_figures: bool = True

    @property
    def failed(self) -> list:
        return [r for r in self.runs if r.status != "ok"]

    def summary(self) -> dict:
        figures = [r.summary(self.quick) for r in self.runs]
        counted = [f["statements"] for f in figures if f["statements"]]
        total = {key: sum(c[key] for c in counted) for key in ("measured", "measured_hold", "by_construction",
                                                                "by_construction_hold", "quick_expected")}
        return {"quick": self.quick, "jobs": self.jobs, "wall_seconds": round(self.seconds, 3),
                "date": self.date, "version": self.version, "command": self.command,
                "figures": figures, "n_ok": len(self.runs) - len(self.failed), "n_failed": len(self.failed),
                "statements": total}

    def table(self) -> str:
        rows = [f"{'figure':<8} {'status':<7} {'seconds':>8} {'max_abs_error':>14}  statements / reason"]
        for r in self.runs:
            err = "" if r.max_abs_error is None else f"{r.max_abs_error:.3g}"
            counts = r.statements(self.quick)
            note = r.reason or (counts["text"] if counts else "")
            rows.append(f"{r.figure:<8} {r.status:<7} {r.seconds:8.1f} {err:>14}  {note}")
        rows.append(f"{len(self.runs) - len(self.failed)} ok, {len(self.failed)} failed in {self.seconds:.1f} s "
                    f"wall time ({self.jobs} job{'s' if self.jobs != 1 else ''})")
        return "\n".join(rows)


def reproduce_all(out_dir=".", quick: bool = False, jobs: int = 1, figures=None, executor=None,
                  progress: bool = True, command: str | None = None) -> ReproduceAllResult:
    """Run every figure (or the names in ``figures``) and write them, ``index.html`` and ``summary.json`` as a set.

    Parameters
    ----------
    out_dir : path
        Output directory (created).
    quick : bool
        Reduced runs (each figure's ``--quick``).
    jobs : int
        Worker processes (1: serial, in this process). Ignored when ``executor`` is given.
    figures : list of str, optional
        Subset of the registered figures, in the order given; all of them by default.
    executor : concurrent.futures.Executor, optional
        Runs one job per figure (``ProcessPoolExecutor``, ``distributed.Client(...).get_executor()``, ...).
    progress : bool
        Show a progress bar (tqdm) over the figures.
    command : str, optional
        The command line shown in ``index.html`` and ``summary.json`` (the CLI passes its own); by default the
        Python call.

    Returns
    -------
    ReproduceAllResult
    """
    registry = load_all()
    jobs = check_int("jobs", jobs, minimum=1)
    names = paper_order(registry) if figures is None else list(figures)
    if not names:
        raise bad("figures", figures, "name at least one figure")
    for name in names:
        if name not in registry:
            raise bad("figures", name, f"name figures of {', '.join(paper_order(registry))}")
    out_dir = Path(out_dir)
    make_out_dir(out_dir)
    start = time.perf_counter()
    runs = {}
    bar = _progress(len(names), progress)
    try:
        if executor is None and jobs == 1:
            for name in names:
                bar.set_postfix_str(name)
                runs[name] = run_figure(name, quick)
                bar.update(1)
        else:
            own = executor is None
            pool = ProcessPoolExecutor(max_workers=jobs, initializer=worker_signals) if own else executor
            try:
                longest_first = sorted(names, key=lambda n: -FULL_RUN_SECONDS.get(n, 0))
                futures = {pool.submit(_run_job, (name, quick)): name for name in longest_first}
                for future in as_completed(futures):
                    name = futures[future]
                    try:
                        runs[name] = future.result()
                    except Exception as exc:  # the worker itself died (e.g. out of memory)
                        runs[name] = FigureRun(name, "failed", time.perf_counter() - start, reason=_one_line(exc))
                    bar.set_postfix_str(name)
                    bar.update(1)
            except BaseException:  # Ctrl-C, SIGTERM: stop the running figures now, not when they end
                if own:
                    stop_pool(pool)
                    own = False
                raise
            finally:
                if own:
                    pool.shutdown(cancel_futures=True)
    finally:
        bar.close()
    ordered = [runs[name] for name in names]
    if command is None:
        command = (f"reproduce_all({str(out_dir)!r}, quick={bool(quick)}, jobs={jobs}"
                   + ("" if figures is None else f", figures={list(figures)!r}") + ")")
    result = ReproduceAllResult(ordered, time.perf_counter() - start, 1 if executor is None and jobs == 1 else jobs,
                                bool(quick), [], command=command, version=__version__,
                                date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                                all_figures=set(names) == set(registry))
    files = []
    for run in ordered:
        if run.status == "ok":
            files.append((out_dir / f"{run.figure}.png", run.png, "out"))
            files.append((out_dir / f"{run.figure}.json", run.json_text.encode(), "out"))
    summary_text = json.dumps(result.summary(), indent=2) + "\n"
    files.append((out_dir / "summary.json", summary_text.encode(), "out"))
    files.append((out_dir / "index.html", index_html(result).encode(), "out"))
    write_files_whole(files)
    result.files = [f[0] for f in files]
    return result


def _progress(total: int, enabled: bool):
    return tqdm(total=total, desc="figures", unit="fig", disable=not enabled, leave=False)


def key_numbers(data: dict) -> dict:
    """The scalar entries of a figure's JSON (numbers, booleans, short strings), besides the bookkeeping ones."""
    skip = {"figure", "quick", "max_abs_error", "description"}
    out = {}
    for key, value in data.items():
        if key in skip:
            continue
        if isinstance(value, bool) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            out[key] = value
        elif isinstance(value, str) and len(value) <= 80:
            out[key] = value
        if len(out) >= KEY_NUMBER_LIMIT:
            break
    return out


#: Significant digits of the numbers on the report page; lists longer than ``LIST_LIMIT`` are shortened.
DIGITS = 4
LIST_LIMIT = 12


def _rounded(value, digits: int = DIGITS):
    """``value`` with every float rounded to ``digits`` significant digits (NaN and infinities kept), for display."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if not math.isfinite(value) or value == 0 else float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v, digits) for v in value]
    return value


def _format(value, depth: int = 0) -> str:
    """One value as readable HTML: rounded numbers, short lists, dicts as small key/value tables."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.{DIGITS}g}"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    if isinstance(value, str):
        return html.escape(value)
    if isinstance(value, dict):
        if not value:
            return "{}"
        if depth >= 2:
            return html.escape(json.dumps(_rounded(value), separators=(", ", ": ")))
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_format(v, depth + 1)}</td></tr>"
                       for k, v in value.items())
        return f"<table class='kv'>{rows}</table>"
    if isinstance(value, (list, tuple)):
        items = list(value)
        if len(items) > LIST_LIMIT:
            shown = [_format(v, depth + 1) for v in items[:LIST_LIMIT - 2]]
            return f"[{', '.join(shown)}, …, {_format(items[-1], depth + 1)}] ({len(items)} values)"
        if any(isinstance(v, dict) for v in items):
            return "<br>".join(_format(v, depth + 1) for v in items)
        return "[" + ", ".join(_format(v, depth + 1) for v in items) + "]"
    return html.escape(str(value))


def _verdict(feature: dict, quick: bool) -> tuple:
    """(css class, text, tooltip) of one statement's row."""
    if feature.get("holds"):
        return ("ok", "holds", "")
    if quick and feature.get("quick_differs"):
        return ("expected", "expected in --quick", str(feature["quick_differs"]))
    return ("failed", "does not hold", "")


def _run_title(result: ReproduceAllResult) -> str:
    if result.all_figures:
        return "every figure of the paper"
    names = [r.figure for r in result.runs]
    return f"{len(names)} figure{'s' if len(names) != 1 else ''} ({', '.join(names)})"


STYLE = ("body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;line-height:1.35}"
         "table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;"
         "vertical-align:top}th{background:#f3f3f3}table.kv td,table.kv th{border:none;padding:0 6px 0 0;"
         "background:none;font-weight:normal}table.kv th{color:#555}.failed{color:#b00;font-weight:bold}"
         ".ok{color:#070}.expected{color:#a60}.construction{color:#666;font-style:italic}"
         "img{max-width:100%;border:1px solid #ddd}pre{background:#f6f6f6;padding:.5em;overflow-x:auto;"
         "font-size:85%}code{background:#f3f3f3;padding:0 3px}.meta td,.meta th{border:none;padding:1px 10px 1px 0;"
         "background:none}")


def index_html(result: ReproduceAllResult) -> str:
    """A self-contained HTML page over the run (images embedded): date, version and command, the summary table with
    "n of m paper statements hold" per figure, then every figure with its key numbers, its paper statements against
    ours (quick-run deviations a figure declares marked as expected) and the parameters chosen where the paper gives
    none. Figures appear in the order of the run (the paper's order for ``lrnn reproduce all``)."""
    esc = html.escape
    title = _run_title(result)
    summary = result.summary()
    totals = summary["statements"]
    mode = "Quick (--quick)" if result.quick else "Full"
    parts = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
             f"<title>lrnn-theory: {esc(title)}</title>", f"<style>{STYLE}</style></head><body>",
             f"<h1>Learning dynamics in linear RNNs (Proca et al., ICML 2025): {esc(title)}</h1>",
             "<table class='meta'>",
             f"<tr><th>date</th><td>{esc(result.date)}</td></tr>",
             f"<tr><th>version</th><td>lrnn-theory {esc(result.version)}</td></tr>",
             f"<tr><th>command</th><td><code>{esc(result.command)}</code></td></tr>",
             f"<tr><th>run</th><td>{mode} run, {result.jobs} job(s), {result.seconds:.1f} s wall time; "
             f"{summary['n_ok']} ok, {summary['n_failed']} failed</td></tr>",
             f"<tr><th>paper statements</th><td>{totals['measured_hold']} of {totals['measured']} hold "
             f"(+{totals['by_construction_hold']} of {totals['by_construction']} by construction, counted apart)"
             + (f"; {totals['quick_expected']} expected to differ in --quick" if totals["quick_expected"] else "")
             + "</td></tr></table>",
             "<p>Simulation (trained networks) solid, theory dashed. A statement \"by construction\" cannot fail given "
             "how its figure is made and is counted apart."
             + (" In a quick run a figure may declare that a statement differs at the reduced size (fewer steps, a "
                "coarser grid); it is marked <span class='expected'>expected in --quick</span>, not failed."
                if result.quick else "") + "</p>",
             "<table><tr><th>figure</th><th>content</th><th>status</th><th>paper statements</th><th>seconds</th>"
             "<th>max_abs_error</th><th>reason</th></tr>"]
    for r, entry in zip(result.runs, summary["figures"]):
        err = "" if r.max_abs_error is None else f"{r.max_abs_error:.3g}"
        link = f"<a href='#{esc(r.figure)}'>{esc(r.figure)}</a>" if r.status == "ok" else esc(r.figure)
        counts = entry["statements"]
        parts.append(f"<tr><td>{link}</td><td>{esc(r.description)}</td><td class='{esc(r.status)}'>{esc(r.status)}"
                     f"</td><td>{esc(counts['text']) if counts else ''}</td><td>{r.seconds:.1f}</td><td>{err}</td>"
                     f"<td>{esc(r.reason or '')}</td></tr>")
    parts.append("</table>")
    for r, entry in zip(result.runs, summary["figures"]):
        if r.status != "ok":
            continue
        parts.append(f"<h2 id='{esc(r.figure)}'>{esc(r.figure)}: {esc(r.description)}</h2>")
        if r.png:
            parts.append(f"<img src='data:image/png;base64,{base64.b64encode(r.png).decode('ascii')}' "
                         f"alt='{esc(r.figure)}: {esc(r.description)}'>")
        parts.append(f"<p>max_abs_error (theory against trained networks): {r.max_abs_error:.3g}; all numbers in "
                     f"<a href='{esc(r.figure)}.json'>{esc(r.figure)}.json</a></p>")
        numbers = key_numbers(r.data)
        if numbers:
            parts.append("<table><tr><th>key number</th><th>value</th></tr>")
            parts += [f"<tr><td>{esc(k)}</td><td>{_format(v)}</td></tr>" for k, v in numbers.items()]
            parts.append("</table>")
        features = r.data.get("paper_features")
        if features:
            parts.append(f"<h3>The paper's statements against ours: {esc(entry['statements']['text'])}</h3>"
                         "<table><tr><th>statement</th><th>paper</th><th>ours</th><th>verdict</th></tr>")
            for f in features:
                css, text, why = _verdict(f, result.quick)
                built = " <span class='construction'>(by construction)</span>" if f.get("by_construction") else ""
                note = f"<br><small>{esc(why)}</small>" if why else ""
                parts.append(f"<tr><td>{esc(str(f.get('statement', '')))}{built}</td><td>{_format(f.get('paper'))}"
                             f"</td><td>{_format(f.get('ours'))}</td><td class='{css}'>{text}{note}</td></tr>")
            parts.append("</table>")
        chosen = r.data.get("parameters")
        if chosen:
            parts.append("<details><summary>Parameters chosen where the paper gives none</summary>")
            parts.append(f"<pre>{esc(json.dumps(_rounded(chosen), indent=1, default=str))}</pre></details>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
