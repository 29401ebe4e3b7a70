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

import html
import json
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from threadpoolctl import threadpool_limits
from tqdm import tqdm

from lrnn_theory.errors import bad, check_int
from lrnn_theory.io import make_out_dir, write_files_whole

from . import figures as figure_registry
from .figures import load_all, render

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

    def summary(self) -> dict:
        return {"figure": self.figure, "status": self.status, "seconds": round(self.seconds, 3),
                "max_abs_error": self.max_abs_error, "reason": self.reason, "description": self.description}


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
    try:
        with threadpool_limits(1):
            png, text, data = render(name, quick=quick)
    except Exception as exc:  # a failing figure must not stop the others: report it instead
        return FigureRun(name, "failed", time.perf_counter() - start, reason=_one_line(exc), description=description)
    finally:
        figure_registry.INNER_WORKERS = saved
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

    @property
    def failed(self) -> list:
        return [r for r in self.runs if r.status != "ok"]

    def summary(self) -> dict:
        return {"quick": self.quick, "jobs": self.jobs, "wall_seconds": round(self.seconds, 3),
                "figures": [r.summary() for r in self.runs],
                "n_ok": len(self.runs) - len(self.failed), "n_failed": len(self.failed)}

    def table(self) -> str:
        rows = [f"{'figure':<8} {'status':<7} {'seconds':>8} {'max_abs_error':>14}  reason"]
        for r in self.runs:
            err = "" if r.max_abs_error is None else f"{r.max_abs_error:.3g}"
            rows.append(f"{r.figure:<8} {r.status:<7} {r.seconds:8.1f} {err:>14}  {r.reason or ''}")
        rows.append(f"{len(self.runs) - len(self.failed)} ok, {len(self.failed)} failed in {self.seconds:.1f} s "
                    f"wall time ({self.jobs} job{'s' if self.jobs != 1 else ''})")
        return "\n".join(rows)


def reproduce_all(out_dir=".", quick: bool = False, jobs: int = 1, figures=None, executor=None,
                  progress: bool = True) -> ReproduceAllResult:
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

    Returns
    -------
    ReproduceAllResult
    """
    registry = load_all()
    jobs = check_int("jobs", jobs, minimum=1)
    names = sorted(registry) if figures is None else list(figures)
    if not names:
        raise bad("figures", figures, "name at least one figure")
    for name in names:
        if name not in registry:
            raise bad("figure", name, f"be one of {', '.join(sorted(registry))}")
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
            pool = ProcessPoolExecutor(max_workers=jobs) if own else executor
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
            finally:
                if own:
                    pool.shutdown(cancel_futures=True)
    finally:
        bar.close()
    ordered = [runs[name] for name in names]
    result = ReproduceAllResult(ordered, time.perf_counter() - start, 1 if executor is None and jobs == 1 else jobs,
                                bool(quick), [])
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


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return html.escape(json.dumps(value) if not isinstance(value, str) else value)


def index_html(result: ReproduceAllResult) -> str:
    """A self-contained HTML page over the run: the summary table, then every figure with its key numbers, the
    parameters chosen where the paper gives none, and its paper features where the figure reports them."""
    esc = html.escape
    parts = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
             "<title>lrnn-theory: reproduction of Proca et al. (ICML 2025)</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:3px 8px;text-align:left}"
             ".failed{color:#b00}.ok{color:#070}img{max-width:100%;border:1px solid #ddd}"
             "pre{background:#f6f6f6;padding:.5em;overflow-x:auto}</style></head><body>",
             "<h1>Learning dynamics in linear RNNs: every figure</h1>",
             f"<p>{'Quick' if result.quick else 'Full'} run, {result.jobs} job(s), "
             f"{result.seconds:.1f} s wall time. Simulation solid, theory dashed.</p>",
             "<table><tr><th>figure</th><th>content</th><th>status</th><th>seconds</th><th>max_abs_error</th>"
             "<th>reason</th></tr>"]
    for r in result.runs:
        err = "" if r.max_abs_error is None else f"{r.max_abs_error:.3g}"
        link = f"<a href='#{esc(r.figure)}'>{esc(r.figure)}</a>" if r.status == "ok" else esc(r.figure)
        parts.append(f"<tr><td>{link}</td><td>{esc(r.description)}</td><td class='{esc(r.status)}'>{esc(r.status)}"
                     f"</td><td>{r.seconds:.1f}</td><td>{err}</td><td>{esc(r.reason or '')}</td></tr>")
    parts.append("</table>")
    for r in result.runs:
        if r.status != "ok":
            continue
        parts.append(f"<h2 id='{esc(r.figure)}'>{esc(r.figure)}: {esc(r.description)}</h2>")
        parts.append(f"<img src='{esc(r.figure)}.png' alt='{esc(r.figure)}'>")
        parts.append(f"<p>max_abs_error (theory against trained networks): {r.max_abs_error:.3g}; "
                     f"<a href='{esc(r.figure)}.json'>{esc(r.figure)}.json</a></p>")
        numbers = key_numbers(r.data)
        if numbers:
            parts.append("<table><tr><th>key number</th><th>value</th></tr>")
            parts += [f"<tr><td>{esc(k)}</td><td>{_format(v)}</td></tr>" for k, v in numbers.items()]
            parts.append("</table>")
        features = r.data.get("paper_features")
        if features:
            parts.append("<h3>The paper's statements against ours</h3><table><tr><th>statement</th><th>paper</th>"
                         "<th>ours</th><th>holds</th></tr>")
            for f in features:
                holds = f.get("holds")
                parts.append(f"<tr><td>{esc(str(f.get('statement', '')))}</td><td>{_format(f.get('paper', ''))}</td>"
                             f"<td>{_format(f.get('ours', ''))}</td><td class='{'ok' if holds else 'failed'}'>"
                             f"{esc(str(holds))}</td></tr>")
            parts.append("</table>")
        chosen = r.data.get("parameters")
        if chosen:
            parts.append("<h3>Parameters chosen where the paper gives none</h3>")
            parts.append(f"<pre>{esc(json.dumps(chosen, indent=1, default=str))}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
