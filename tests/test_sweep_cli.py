"""``lrnn sweep``: end points of several task files, or of one with a field varied, as CSV (and PNG)."""
import csv

import numpy as np
import pytest

from lrnn_theory import Task
from lrnn_theory.cli import main


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def files(tmp_path):
    Task.inverse_exponential(delta=1.5, lam=0.6, T=4, name="ie").to_json(tmp_path / "ie.json")
    Task([[0.2, 0.5, 1.0], [1.0, 0.3, 0.1]], name="custom, two modes").to_json(tmp_path / "custom.json")
    # A(b) = b, B(b) = 1 + b^2: |A|^2/B rises for ever, b runs off (slowly)
    Task([[1.0, 0.0]], name="runaway").to_json(tmp_path / "runaway.json")
    return tmp_path


def test_lrnn_sweep_end_to_end(files, capsys):
    out, plot = files / "ends.csv", files / "ends.png"
    code = main(["sweep", str(files / "ie.json"), str(files / "custom.json"), str(files / "runaway.json"),
                 "--t-end", "15", "--out", str(out), "--plot", str(plot)])
    captured = capsys.readouterr()
    assert code == 0 and plot.stat().st_size > 0
    assert "4 end point(s): 3 fixed point(s), 1 integrated to t=15; 1 still moving" in captured.out
    # the runaway mode is named in a one-line warning
    assert "NotConvergedWarning" in captured.err and "task 2 ('runaway') mode 0" in captured.err
    rows = _rows(out)
    assert [(r["task"], r["name"], r["mode"]) for r in rows] == [
        ("0", "ie", "0"), ("1", "custom, two modes", "0"), ("1", "custom, two modes", "1"), ("2", "runaway", "0")]
    assert [r["end_point"] for r in rows] == ["fixed_point"] * 3 + ["integrated"]
    assert [r["converged"] for r in rows] == ["1", "1", "1", "0"]
    # zero-loss end point of the inverse-exponential task: b = lambda, u = delta (independent of the flow)
    assert float(rows[0]["b"]) == pytest.approx(0.6, abs=1e-9) and float(rows[0]["u"]) == pytest.approx(1.5, abs=1e-9)
    assert float(rows[1]["u"]) == pytest.approx(float(rows[1]["a"]) * float(rows[1]["c"]), rel=1e-12)


def test_lrnn_sweep_varies_a_field_of_one_task_file(files, capsys):
    out = files / "varied.csv"
    lams = [0.3, 0.6, 0.9]
    assert main(["sweep", str(files / "ie.json"), "--vary", "lambda", "--values", *map(str, lams),
                 "--out", str(out)]) == 0
    rows = _rows(out)
    assert list(rows[0])[:4] == ["task", "name", "lambda", "mode"]
    np.testing.assert_allclose([float(r["lambda"]) for r in rows], lams)
    np.testing.assert_allclose([float(r["b"]) for r in rows], lams, atol=1e-9)
    assert rows[2]["name"] == "ie lambda=0.9"


@pytest.mark.parametrize("argv, message", [
    (["--vary", "tau"], "give --vary FIELD and --values"),
    (["--vary", "gamma", "--values", "1"], "parameter 'vary' must be one of"),
    (["--out", "x.txt"], "parameter 'out' must end in .csv"),
    (["--t-end", "-1"], "t_end"),
    (["--vary", "tau", "--values", "nan"], "parameter 'values' must hold only finite values"),
    (["--vary", "T", "--values", "2.5"], "parameter 'values' must be whole numbers for 'T', got 2.5 (float)"),
    (["--vary", "T", "--values", "0"], "parameter 'T' must be >= 1"),
])
def test_lrnn_sweep_bad_input_is_one_line(files, capsys, argv, message):
    full = ["sweep", str(files / "ie.json"), "--out", str(files / "x.csv"), *argv]
    assert main(full) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not (files / "x.csv").exists()


def test_lrnn_sweep_writes_real_and_imaginary_parts_of_a_complex_task(files):
    """Constant task with a phase: s_i = delta e^(i phi), so the zero-loss end point is b = 1, u = delta e^(i phi)."""
    Task.from_family("constant", T=4, delta=1.5, delta_phase=0.5).to_json(files / "rot.json")
    out = files / "rot.csv"
    assert main(["sweep", str(files / "rot.json"), str(files / "ie.json"), "--out", str(out)]) == 0
    rows = _rows(out)
    assert list(rows[0])[3:11] == ["a", "a_imag", "b", "b_imag", "c", "c_imag", "u", "u_imag"]
    u = complex(float(rows[0]["u"]), float(rows[0]["u_imag"]))
    assert u == pytest.approx(1.5 * np.exp(0.5j), abs=1e-8)
    assert complex(float(rows[0]["b"]), float(rows[0]["b_imag"])) == pytest.approx(1.0, abs=1e-8)
    a, c = (complex(float(rows[0][q]), float(rows[0][f"{q}_imag"])) for q in "ac")
    assert a * c == pytest.approx(u, abs=1e-8)
    assert float(rows[1]["b_imag"]) == 0.0 and float(rows[1]["b"]) == pytest.approx(0.6, abs=1e-9)
