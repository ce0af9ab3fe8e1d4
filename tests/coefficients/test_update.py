"""Dynamic update (动态更新): evidence, proposal, review, default library.

Hand-worked: 12 enterprises measured at exactly 0.8 × their accounted emission give a
geometric mean ratio 0.8; the Wilcoxon signed-rank test of 12 equal-signed differences has
the exact two-sided p = 2 / 2¹² = 0.000488 (Wilcoxon 1945; all ranks on one side).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sourcegrid.cli.main import app
from sourcegrid.coefficients import sample_library
from sourcegrid.coefficients.update import (
    default_library_name,
    evidence,
    propose,
    review,
    review_log,
    store_proposal,
)
from sourcegrid.errors import InputError, NotFoundError, OptionError
from sourcegrid.store import Workspace

runner = CliRunner()


#: wide tables, so that asserted texts are not cut (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("wide_console")


def pair(n=12, ratio=0.8, row=103, spread=None):
    accounted = pd.DataFrame(dict(enterprise_id=[f"E{i}" for i in range(n)], period="2017",
                                  pollutant="PM", emission=100.0 + 10 * np.arange(n),
                                  coefficient_row=row))
    factor = np.full(n, ratio) if spread is None else ratio * np.asarray(spread)
    measured = accounted[["enterprise_id", "period", "pollutant"]].assign(
        emission=accounted["emission"] * factor)
    return measured, accounted


def test_evidence_and_proposal():
    measured, accounted = pair()
    table = evidence(measured, accounted)
    row = table.iloc[0]
    assert row["enterprises"] == 12 and row["ratio"] == pytest.approx(0.8)
    assert row["p_value"] == pytest.approx(2 / 2 ** 12, rel=1e-6) and row["significant"]
    library, diff = propose(sample_library(), table, name="pm2026")
    rows = library.rows.set_index(["coefficient_row", "industry_code"])
    # row 103 (3311 welding, 18.4 kg/t) → 14.72 kg/t; other rows unchanged
    assert rows.loc[(103, "3311"), "generation_coefficient"] == pytest.approx(14.72)
    assert rows.loc[(105, "3311"), "generation_coefficient"] == pytest.approx(5.2)
    assert set(diff["change_percent"].round(6)) == {-20.0}
    # too few enterprises: no test, nothing significant, no proposal
    few = evidence(*pair(n=5))
    assert not few["significant"].any() and np.isnan(few["p_value"].iloc[0])
    with pytest.raises(InputError, match="nothing to propose"):
        propose(sample_library(), few, name="x")
    with pytest.raises(OptionError, match="significance level"):
        evidence(measured, accounted, alpha=2)


def test_review_states_and_default(tmp_path):
    ws = Workspace(tmp_path / "ws", create=True)
    library, diff = propose(sample_library(), evidence(*pair()), name="pm2026")
    store_proposal(ws, library, diff, base="sample", by="census team")
    assert default_library_name(ws) == "sample"  # proposed is not approved
    review(ws, "pm2026", "approved", by="王工", note="checked against permits")
    assert default_library_name(ws) == "pm2026"
    from sourcegrid.cli.accounting import _library

    assert _library(ws, "default").name == "pm2026"  # `account --library default`
    log = review_log(ws)
    assert list(log["state"]) == ["proposed", "approved"] and list(log["seq"]) == [1, 2]
    assert list(log["by"]) == ["census team", "王工"] and log["at"].str.len().min() >= 19
    with pytest.raises(OptionError, match="already approved"):
        review(ws, "pm2026", "rejected", by="x")
    assert len(review_log(ws)) == 2  # a refused review appends nothing
    with pytest.raises(NotFoundError, match="unknown proposal"):
        review(ws, "nope", "approved", by="x")
    with pytest.raises(NotFoundError, match="approved, rejected"):
        review(ws, "pm2026", "maybe", by="x")


def test_evidence_from_text_and_an_old_log(tmp_path):
    # evidence read from files: numbers as text, coefficient rows as text ('103')
    measured, accounted = pair()
    table = evidence(measured.astype(str), accounted.astype(str))
    assert table["coefficient_row"].tolist() == [103] and table["significant"].iloc[0]
    library, diff = propose(sample_library(), table.astype({"coefficient_row": str}),
                            name="pm2026")
    assert library.rows.set_index(["coefficient_row", "industry_code"]).loc[
        (103, "3311"), "generation_coefficient"] == pytest.approx(18.4 * 0.8)
    assert set(diff["enterprises"]) == {12}  # every industry code of row 103
    # a log written before events were numbered gets its numbers in the order of 'at'
    ws = Workspace(tmp_path / "ws", create=True)
    ws.write("library_reviews", pd.DataFrame([dict(
        library="pm2025", base="sample", state="proposed", by="x",
        at="2026-01-01T00:00:00+00:00", note="")]))
    review(ws, "pm2025", "approved", by="王工")
    log = review_log(ws)
    assert list(zip(log["seq"], log["state"], strict=True)) == [(1, "proposed"),
                                                                (2, "approved")]
    assert default_library_name(ws) == "pm2025"


def test_cli_propose_review(tmp_path):
    measured, accounted = pair()
    m, a = tmp_path / "m.csv", tmp_path / "a.csv"
    measured.to_csv(m, index=False)
    accounted.to_csv(a, index=False)
    ws = str(tmp_path / "ws")
    result = runner.invoke(app, ["coefficients", "propose", str(m), "--accounted", str(a),
                                 "--name", "pm2026", "--workspace", ws])
    assert result.exit_code == 0, result.output
    assert "state: proposed" in result.output
    result = runner.invoke(app, ["coefficients", "review", "pm2026", "--approve", "--by",
                                 "王工", "--workspace", ws])
    assert result.exit_code == 0, result.output
    assert "default library for new runs: pm2026" in result.output
    bad = tmp_path / "bad.csv"
    measured.assign(emission="x").to_csv(bad, index=False)
    result = runner.invoke(app, ["coefficients", "propose", str(bad), "--accounted", str(a),
                                 "--workspace", ws])
    assert result.exit_code == 2 and "not_a_number" in result.output
