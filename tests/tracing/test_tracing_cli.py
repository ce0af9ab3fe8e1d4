"""sourcegrid trace and sourcegrid findings add|list|import."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sourcegrid.cli.main import app
from sourcegrid.grid.spec import GridSpec

from .synthetic import BBOX, make_workspace, point_source, random_sources

runner = CliRunner()
SPEC = GridSpec.from_bbox(BBOX, 3000)
CELLS = SPEC.cells()
TARGET = CELLS.loc[(CELLS.row == 5) & (CELLS.col == 5)].iloc[0]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("tracews")
    rng = np.random.default_rng(2)
    sources = pd.concat([random_sources(SPEC, 10, rng),
                         point_source(SPEC, "MAIN", TARGET.x + 1000, TARGET.y - 2000, 2.0)],
                        ignore_index=True)
    ws, *_ = make_workspace(sources=sources, hours=24 * 5, path=path)
    ws.close()
    return path


def test_trace_prints_and_writes(folder, tmp_path):
    out = tmp_path / "sources.xlsx"
    result = runner.invoke(app, ["trace", TARGET.cell_id, "--from", "2017-01-01T08:00",
                                 "--to", "2017-01-06T08:00", "--radius-km", "8", "--out",
                                 str(out), "--workspace", str(folder)])
    assert result.exit_code == 0, result.output
    assert "sources of " + TARGET.cell_id in result.output
    assert "MAIN" in result.output
    assert "stored" in result.output and "trace_results" in result.output
    frame = pd.read_excel(out)
    assert frame["source_id"].iloc[0] == "MAIN"
    assert {"rank", "share", "scale_factor", "evidence", "run_id"} <= set(frame.columns)
    assert not list(tmp_path.glob(".sources.*"))  # no temporary file left


def test_trace_bad_options(folder):
    result = runner.invoke(app, ["trace", TARGET.cell_id, "--from", "2017-01-01", "--to",
                                 "2017-01-02", "--out", "x.json", "--workspace", str(folder)])
    assert result.exit_code == 2 and "expected a file ending in .csv, .parquet, .xlsx" in result.output
    result = runner.invoke(app, ["trace", TARGET.cell_id, "--from", "2017-01-01", "--to",
                                 "2017-01-02", "--radius-km", "500", "--workspace", str(folder)])
    assert result.exit_code == 2 and "--radius-km" in result.output
    result = runner.invoke(app, ["trace", "R0077C0001", "--from", "2017-01-01", "--to",
                                 "2017-01-02", "--workspace", str(folder)])
    assert result.exit_code != 0 and "outside the grid" in result.output
    result = runner.invoke(app, ["trace", TARGET.cell_id, "--from", "yesterday-ish", "--to",
                                 "2017-01-02", "--workspace", str(folder)])
    assert result.exit_code != 0 and "not a time" in result.output


def test_findings_add_list_import(folder, tmp_path):
    result = runner.invoke(app, ["findings", "add", "--cell", TARGET.cell_id, "--source", "MAIN",
                                 "--confirmed", "--problem", "bag filter bypassed",
                                 "--inspector", "Li", "--workspace", str(folder)])
    assert result.exit_code == 0, result.output
    assert "recorded finding F" in result.output
    table = tmp_path / "findings.csv"
    table.write_text("网格编号,污染源编号,经度,纬度,是否确认,问题\n"
                     f"{TARGET.cell_id},,116.75,38.33,是,unregistered boiler\n"
                     f"{TARGET.cell_id},S01,,,否,\n", encoding="utf-8")
    result = runner.invoke(app, ["findings", "import", str(table), "--workspace", str(folder)])
    assert result.exit_code == 0, result.output
    assert "read 2 finding(s)" in result.output and "stored 2 new" in result.output
    result = runner.invoke(app, ["findings", "import", str(table), "--workspace", str(folder)])
    assert "stored 0 new" in result.output
    out = tmp_path / "list.csv"
    result = runner.invoke(app, ["findings", "list", "--out", str(out), "--workspace", str(folder)])
    assert result.exit_code == 0 and "3 finding(s), 2 confirmed" in result.output
    assert len(pd.read_csv(out)) == 3
    # the next trace remembers them: the boiler found is a candidate, MAIN was confirmed
    window = ["--from", "2017-01-01T08:00", "--to", "2017-01-08T08:00"]
    for flag, remembered in (("--learn", True), ("--no-learn", False)):
        traced = tmp_path / f"traced{flag}.csv"
        result = runner.invoke(app, ["trace", TARGET.cell_id, *window, flag, "--out",
                                     str(traced), "--workspace", str(folder)])
        assert result.exit_code == 0, result.output
        rows = pd.read_csv(traced, keep_default_na=False).set_index("source_id")
        assert rows.index.str.startswith("found-F").any() == remembered
        assert ("confirmed by inspection" in rows.loc["MAIN", "evidence"]) == remembered


def test_findings_import_reports_every_bad_row(folder, tmp_path):
    table = tmp_path / "bad.csv"
    table.write_text("cell_id,source_id,lon,lat,confirmed\n"
                     "R12,S01,,,yes\n"
                     f"{TARGET.cell_id},,,,maybe\n"
                     f"{TARGET.cell_id},,500,38,no\n", encoding="utf-8")
    result = runner.invoke(app, ["findings", "import", str(table), "--workspace", str(folder)])
    assert result.exit_code == 2
    for reason in ("bad_cell_id", "bad_boolean", "missing_location", "bad_coordinate"):
        assert reason in result.output
