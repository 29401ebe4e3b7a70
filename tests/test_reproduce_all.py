"""`lrnn reproduce all`: every figure as one set, failures reported without stopping the others."""
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest

from lrnn_theory.cli import main
from lrnn_theory.validation import figures as figure_registry
from lrnn_theory.validation.reproduce_all import reproduce_all


@pytest.fixture
def failing_figure(monkeypatch):
    """A registered figure that raises, as a broken reproduction would."""

    def broken(quick):
        raise ValueError("forced failure for the test")

    broken.description = "a figure that always fails"
    figure_registry.load_all()
    monkeypatch.setitem(figure_registry.FIGURES, "figBroken", broken)
    return "figBroken"


def test_reproduce_all_writes_index_summary_and_every_png(tmp_path, failing_figure, tiny_figure):
    # The machinery, on a cheap figure (every real figure's output is checked by the slow per-figure tests).
    result = reproduce_all(tmp_path, quick=True, figures=[tiny_figure, failing_figure], progress=False)
    assert [r.status for r in result.runs] == ["ok", "failed"]
    assert "forced failure for the test" in result.runs[1].reason
    assert (tmp_path / "figTiny.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((tmp_path / "figTiny.json").read_text())
    assert data["figure"] == "figTiny" and data["max_abs_error"] == 0.0 and data["total"] == 6
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n_ok"] == 1 and summary["n_failed"] == 1
    assert summary["figures"][0]["max_abs_error"] == pytest.approx(data["max_abs_error"])
    assert summary["figures"][1]["status"] == "failed" and summary["figures"][1]["statements"] is None
    # The counts, recounted from the figure's own JSON.
    features = data["paper_features"]
    counts = summary["figures"][0]["statements"]
    assert counts["measured"] == sum(not f["by_construction"] for f in features)
    assert counts["measured_hold"] == sum(f["holds"] and not f["by_construction"] for f in features)
    assert counts["text"].startswith(f"{counts['measured_hold']} of {counts['measured']} hold")
    assert summary["statements"]["measured"] == counts["measured"]
    assert summary["command"].startswith("reproduce_all(") and summary["version"] and summary["date"]
    page = (tmp_path / "index.html").read_text()
    assert "<img src='data:image/png;base64," in page and "forced failure" in page and "figBroken" in page
    assert "2 figures (figTiny, figBroken)" in page and "every figure" not in page
    assert not (tmp_path / "figBroken.png").exists()
    assert "figTiny" in result.table() and "1 failed" in result.table()


def test_reproduce_all_on_a_process_pool_reports_the_failure_and_keeps_the_rest(tmp_path, failing_figure,
                                                                               tiny_figure):
    # fork: the workers inherit the figures registered by the fixtures
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("fork")) as pool:
        result = reproduce_all(tmp_path, quick=True, figures=[failing_figure, tiny_figure], executor=pool,
                               progress=False)
    assert {r.figure: r.status for r in result.runs} == {"figBroken": "failed", "figTiny": "ok"}
    assert (tmp_path / "figTiny.png").exists() and (tmp_path / "index.html").exists()


def test_cli_reproduce_all_exit_code_and_bad_options(tmp_path, capsys, failing_figure, tiny_figure):
    assert main(["reproduce", "all", "--quick", "--only", f"{tiny_figure},{failing_figure}", "--out",
                 str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "figTiny" in out and "failed" in out and "index.html" in out
    assert main(["reproduce", "all", "--only", "figNope", "--out", str(tmp_path)]) == 2
    assert "figNope" in capsys.readouterr().err
    assert main(["reproduce", "fig2", "--jobs", "2", "--out", str(tmp_path)]) == 2
    assert main(["reproduce", "all", "--jobs", "0", "--out", str(tmp_path)]) == 2


def test_each_figure_runs_on_one_core_so_jobs_counts_the_cores(monkeypatch):
    """Inside ``reproduce_all`` a figure starts no process pool of its own and uses one BLAS thread; the setting is
    restored afterwards (a figure run on its own keeps its per-core pool)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from lrnn_theory.validation.figures.ntk import grid_executor
    from lrnn_theory.validation.reproduce_all import run_figure

    seen = {}

    def probe(quick):
        with grid_executor(8) as pool:
            seen["pool"] = pool
        seen["blas_threads"] = {lib["num_threads"] for lib in threadpool_info()}
        raise RuntimeError("probe done")

    probe.description = "records the parallelism a figure gets"
    figure_registry.load_all()
    monkeypatch.setitem(figure_registry.FIGURES, "figProbe", probe)
    before = figure_registry.INNER_WORKERS
    with threadpool_limits(limits=2, user_api="blas"):  # lifts conftest's session limit: the figure must set its own
        run = run_figure("figProbe", quick=True)
    assert run.status == "failed" and "probe done" in run.reason
    assert seen["pool"] is None and seen["blas_threads"] <= {1}
    assert figure_registry.INNER_WORKERS == before


# ---- the report page, from made-up runs (no figure is run) ------------------------------------------------------
def _made_up_result(quick=True, all_figures=False):
    from lrnn_theory.validation.figures import paper_feature
    from lrnn_theory.validation.reproduce_all import FigureRun, ReproduceAllResult

    features = [paper_feature("holds", 1.0, 0.123456789012345, True),
                paper_feature("fails in quick, declared", 40000, 4000, False, quick_differs="the quick run is short"),
                paper_feature("fails, undeclared", {"b": 2.4}, {"b": 0.13000000000000012, "grid": list(range(40))},
                              False),
                paper_feature("fitted to the paper", 1.08, 1.0800000000000001, True, by_construction=True)]
    png = b"\x89PNG\r\n\x1a\nmade-up image bytes"
    runs = [FigureRun("figA2", "ok", 1.0, max_abs_error=0.0123456789, description="A2",
                      data={"paper_features": features, "ratio": 0.333333333333333, "parameters": {"lr": 0.1 / 3}},
                      png=png),
            FigureRun("figA10", "failed", 0.5, reason="ValueError: boom", description="A10")]
    return ReproduceAllResult(runs, 1.5, 1, quick, [], command="lrnn reproduce all --quick --only figA2,figA10",
                              date="2026-12-06 03:00 UTC", version="9.9.9", all_figures=all_figures), png


def test_index_html_is_a_readable_page():
    import base64
    import re

    from lrnn_theory.validation.reproduce_all import index_html

    result, png = _made_up_result(quick=True)
    page = index_html(result)
    assert base64.b64encode(png).decode() in page and "src='figA2.png'" not in page  # embedded
    assert "2 figures (figA2, figA10)" in page and "every figure" not in page
    assert "2026-12-06 03:00 UTC" in page and "9.9.9" in page and "lrnn reproduce all --quick --only" in page
    assert not re.search(r"\d\.\d{6,}", page), "numbers are rounded"  # 0.123456789012345 -> 0.1235
    assert "0.1235" in page and "0.13" in page and "(40 values)" in page
    rows = {m.group(1): m.group(2) for m in re.finditer(r"<tr><td>([^<]+?)(?: <span[^>]*>[^<]*</span>)?</td>.*?"
                                                         r"<td class='(\w+)'>", page)}
    assert rows["holds"] == "ok" and rows["fails, undeclared"] == "failed"
    assert rows["fails in quick, declared"] == "expected"  # not red in a quick run
    assert "expected in --quick" in page and "the quick run is short" in page
    assert "(by construction)" in page
    assert "1 of 3 hold (+1 by construction); 1 expected to differ in --quick" in page
    full_page = index_html(_made_up_result(quick=False, all_figures=True)[0])
    assert "every figure of the paper" in full_page and "expected in --quick" not in full_page
    assert "<td class='failed'>does not hold" in full_page.split("fails in quick, declared")[1][:400]


def test_summary_counts_statements_per_figure_and_in_total():
    result, _ = _made_up_result(quick=True)
    summary = result.summary()
    figA2 = summary["figures"][0]["statements"]
    counted = (figA2["measured"], figA2["measured_hold"], figA2["by_construction"], figA2["quick_expected"])
    assert counted == (3, 1, 1, 1)
    assert summary["figures"][1]["statements"] is None
    assert summary["statements"] == {"measured": 3, "measured_hold": 1, "by_construction": 1,
                                     "by_construction_hold": 1, "quick_expected": 1}
    assert summary["command"] and summary["version"] == "9.9.9"
    assert "1 of 3 hold" in result.table()


def test_reproduce_all_runs_the_figures_in_the_papers_order(tmp_path, monkeypatch):
    from lrnn_theory.validation import reproduce_all as module
    from lrnn_theory.validation.reproduce_all import FigureRun

    names = {"figA10": None, "figM": None, "fig3": None, "figA2": None, "fig10": None}
    monkeypatch.setattr(module, "load_all", lambda: names)
    monkeypatch.setattr(module, "run_figure", lambda name, quick: FigureRun(name, "failed", 0.0, reason="skipped"))
    result = module.reproduce_all(tmp_path, quick=True, progress=False)
    assert [r.figure for r in result.runs] == ["fig3", "fig10", "figA2", "figA10", "figM"]
    assert "every figure of the paper" in (tmp_path / "index.html").read_text()


@pytest.fixture
def tiny_figure(monkeypatch):
    """A cheap registered figure that reports progress over a three-point grid."""
    from lrnn_theory.validation.figures import paper_feature, progress, pyplot

    def tiny(quick):
        total = sum(x for x in progress([1, 2, 3], "grid"))
        return pyplot().figure(figsize=(1, 1)), {"max_abs_error": 0.0, "total": total,
                                                 "paper_features": [paper_feature("sum is 6", 6, total, total == 6)]}

    tiny.description = "a tiny figure"
    figure_registry.load_all()
    monkeypatch.setitem(figure_registry.FIGURES, "figTiny", tiny)
    return "figTiny"


def test_single_reproduce_shows_a_progress_bar_when_asked_and_stays_quiet_otherwise(tmp_path, capsys, tiny_figure):
    assert main(["reproduce", tiny_figure, "--out", str(tmp_path), "--progress", "on"]) == 0
    err = capsys.readouterr().err
    assert "figTiny: grid" in err and "/3" in err
    assert main(["reproduce", tiny_figure, "--out", str(tmp_path)]) == 0  # auto: stderr is not a terminal here
    assert capsys.readouterr().err == ""
    assert figure_registry.SHOW_PROGRESS is False  # restored


def test_cli_reproduce_all_records_its_command_line(tmp_path, capsys, tiny_figure):
    assert main(["reproduce", "all", "--quick", "--only", tiny_figure, "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["command"] == f"lrnn reproduce all --quick --out {tmp_path} --only figTiny"
    assert summary["figures"][0]["statements"]["text"] == "1 of 1 hold"
    assert "1 of 1 hold" in capsys.readouterr().out
