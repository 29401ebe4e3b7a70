"""`lrnn claims`: every claim runs and returns a verdict with numbers."""
import json

import pytest

from lrnn_theory.cli import main
from lrnn_theory.validation import claims as ledger


@pytest.mark.parametrize("name", list(ledger.CLAIMS))
def test_every_claim_runs_and_gives_a_verdict_with_numbers(name):
    verdict = ledger.check_claim(name, quick=True)
    assert verdict.status in (ledger.PASS, ledger.FAIL, ledger.UNAVAILABLE), verdict.note
    assert verdict.statement and verdict.paper
    if verdict.status == ledger.UNAVAILABLE:
        assert "needs" in verdict.note
    else:
        assert verdict.quantity and verdict.ours
        numbers = json.dumps(verdict.to_dict()["ours"])
        assert any(ch.isdigit() for ch in numbers)


def test_a_claim_that_raises_is_an_error_verdict_not_a_crash(monkeypatch):
    def broken(quick):
        raise RuntimeError("boom")

    broken.meta = {**ledger.CLAIMS["effective_regulariser"].meta, "name": "broken"}
    monkeypatch.setitem(ledger.CLAIMS, "broken", broken)
    verdict = ledger.check_claim("broken")
    assert verdict.status == ledger.ERROR and "boom" in verdict.note


def test_claim_verdicts_follow_the_numbers(monkeypatch):
    """The pass/fail verdict is computed: corrupt the quantity and the claim fails."""
    import lrnn_theory.phase_transition as phase

    monkeypatch.setattr(phase, "critical_beta", lambda T, **kw: 0.8)
    assert ledger.check_claim("dirac_T3_second_order").status == ledger.FAIL


def test_figure_features_join_the_ledger(tmp_path):
    (tmp_path / "fig9.json").write_text(json.dumps({"figure": "fig9", "quick": True, "paper_features": [
        {"statement": "b rises", "paper": "up", "ours": 1.2, "holds": True, "by_construction": True},
        {"statement": "u falls", "paper": "down", "ours": 0.3, "holds": False, "by_construction": False,
         "quick_differs": "fewer steps"}]}))
    (tmp_path / "summary.json").write_text("{}")
    verdicts = ledger.figure_feature_verdicts(tmp_path)
    assert [v.status for v in verdicts] == [ledger.PASS, ledger.FAIL]
    assert verdicts[0].statement == "b rises"
    assert "by construction" in verdicts[0].note and "by construction" not in verdicts[1].note
    assert verdicts[1].note == "expected in --quick: fewer steps"


def test_cli_claims_writes_json_and_bad_paths_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(ledger, "CLAIMS", {k: ledger.CLAIMS[k] for k in ("effective_regulariser", "extrapolation")})
    out_file = tmp_path / "claims.json"
    assert main(["claims", "--quick", "--json", str(out_file)]) == 0
    text = capsys.readouterr().out
    assert "[PASS] effective_regulariser" in text and "2 pass" in text
    data = json.loads(out_file.read_text())
    assert [c["name"] for c in data["claims"]] == ["effective_regulariser", "extrapolation"]
    assert main(["claims", "--json", str(tmp_path / "claims.txt")]) == 2
    assert main(["claims", "--figures", str(tmp_path / "missing")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 2
