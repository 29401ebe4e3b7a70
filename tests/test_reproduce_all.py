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


def test_reproduce_all_writes_index_summary_and_every_png(tmp_path, failing_figure):
    result = reproduce_all(tmp_path, quick=True, figures=["figA1", failing_figure], progress=False)
    assert [r.status for r in result.runs] == ["ok", "failed"]
    assert "forced failure for the test" in result.runs[1].reason
    assert (tmp_path / "figA1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((tmp_path / "figA1.json").read_text())
    assert data["figure"] == "figA1" and data["max_abs_error"] < 0.1
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n_ok"] == 1 and summary["n_failed"] == 1
    assert summary["figures"][0]["max_abs_error"] == pytest.approx(data["max_abs_error"])
    assert summary["figures"][1]["status"] == "failed"
    page = (tmp_path / "index.html").read_text()
    assert "<img src='figA1.png'" in page and "forced failure" in page and "figBroken" in page
    assert not (tmp_path / "figBroken.png").exists()
    assert "figA1" in result.table() and "1 failed" in result.table()


def test_reproduce_all_on_a_process_pool_reports_the_failure_and_keeps_the_rest(tmp_path, failing_figure):
    # fork: the workers inherit the failing figure registered by the fixture
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("fork")) as pool:
        result = reproduce_all(tmp_path, quick=True, figures=[failing_figure, "figA1"], executor=pool,
                               progress=False)
    assert {r.figure: r.status for r in result.runs} == {"figBroken": "failed", "figA1": "ok"}
    assert (tmp_path / "figA1.png").exists() and (tmp_path / "index.html").exists()


def test_cli_reproduce_all_exit_code_and_bad_options(tmp_path, capsys, failing_figure):
    assert main(["reproduce", "all", "--quick", "--only", f"figA1,{failing_figure}", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "figA1" in out and "failed" in out and "index.html" in out
    assert main(["reproduce", "all", "--only", "figNope", "--out", str(tmp_path)]) == 2
    assert "figNope" in capsys.readouterr().err
    assert main(["reproduce", "fig2", "--jobs", "2", "--out", str(tmp_path)]) == 2
    assert main(["reproduce", "all", "--jobs", "0", "--out", str(tmp_path)]) == 2


def test_each_figure_runs_on_one_core_so_jobs_counts_the_cores(monkeypatch):
    """Inside ``reproduce_all`` a figure starts no process pool of its own and uses one BLAS thread; the setting is
    restored afterwards (a figure run on its own keeps its per-core pool)."""
    from threadpoolctl import threadpool_info

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
    run = run_figure("figProbe", quick=True)
    assert run.status == "failed" and "probe done" in run.reason
    assert seen["pool"] is None and seen["blas_threads"] <= {1}
    assert figure_registry.INNER_WORKERS == before
