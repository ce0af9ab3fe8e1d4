"""``sourcegrid demo`` through the real command line app, on a short period."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from sourcegrid.cli.main import app

runner = CliRunner()

def test_demo_runs_the_chain_and_ends_with_the_report_path(tmp_path, monkeypatch):
    import functools

    import sourcegrid.sample.city as city

    # a smaller region than the default 60 km, so that the test stays fast
    monkeypatch.setattr(city, "generate_city", functools.partial(
        city.generate_city, n_micro=30, extent_km=24.0))
    workspace = tmp_path / "ws"
    result = runner.invoke(app, ["demo", "--workspace", str(workspace), "--days", "1",
                                 "--rows", "40", "--report", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1] == f"report: {tmp_path / 'out' / 'index.html'}"
    assert (tmp_path / "out" / "index.html").is_file()
    # one line per step, in order
    for index, name in enumerate(("library", "accounting", "macro", "grid", "inventory"),
                                 start=1):
        assert f"[ {index}/15] {name}" in result.output
    assert "火力发电 thermal power" in result.output
    assert "rows with problems" in result.output
    assert "Good days 优良天数" in result.output
    # the inputs README examples account, and the explained emissions
    for name in ("activity.csv", "treatment.csv", "emissions.csv"):
        assert (workspace / "demo" / name).is_file()
    # the ground truth never lands in the user's workspace (review item 2)
    assert not list(workspace.rglob("truth"))
    assert not [path for path in workspace.rglob("*.parquet") if "contribution" in path.name]
    emissions = pd.read_csv(workspace / "demo" / "emissions.csv", encoding="utf-8-sig")
    assert (emissions["generation"] - emissions["removal"] - emissions["emission"]).abs().max() \
        < 1e-6
    activity = pd.read_csv(workspace / "demo" / "activity.csv", encoding="utf-8-sig")
    assert activity["enterprise_id"].nunique() == 40 // 2


def test_a_report_folder_that_is_a_file_is_refused_before_any_work(tmp_path):
    target = tmp_path / "report.txt"
    target.write_text("keep me", encoding="utf-8")
    result = runner.invoke(app, ["demo", "--workspace", str(tmp_path / "ws"), "--report",
                                 str(target)])
    assert result.exit_code == 2
    assert "is a file; choose a folder" in result.output
    assert target.read_text(encoding="utf-8") == "keep me"
    assert not (tmp_path / "ws").exists()


def test_a_folder_with_other_files_is_not_replaced(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x", encoding="utf-8")
    result = runner.invoke(app, ["demo", "--workspace", str(tmp_path / "ws"), "--report",
                                 str(tmp_path / "mine")])
    assert result.exit_code == 2
    assert "holds other files and no report" in result.output
    assert (tmp_path / "mine" / "notes.txt").exists()


def test_bad_days_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["demo", "--workspace", str(tmp_path / "ws"), "--days", "0"])
    assert result.exit_code == 2
    assert "--days" in result.output
