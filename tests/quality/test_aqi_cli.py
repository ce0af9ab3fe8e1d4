"""The ``sourcegrid aqi`` command on the Beijing slice (tests/data/beijing)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from sourcegrid.cli.main import app

DATA = Path(__file__).parents[1] / "data" / "beijing" / "beijing_2017-01_2sites.csv"
runner = CliRunner()


def test_daily_csv(tmp_path):
    out = tmp_path / "aqi.csv"
    result = runner.invoke(app, ["aqi", str(DATA), "--unit", "CO=ug/m3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "AQI days by category (2012)" in result.output
    assert "bad values rejected: 0" in result.output
    table = pd.read_csv(out, encoding="utf-8-sig")
    assert len(table) == 62  # 2 sites x 31 days
    day = table[(table["site_id"] == "Dingling") & (table["date"] == "2017-01-02")].iloc[0]
    assert (day["aqi"], day["category"]) == (129, "轻度污染")  # by hand in test_aqi.py


def test_hourly_xlsx_with_bad_values_and_workspace(tmp_path):
    source = pd.read_csv(DATA, dtype=str).head(48)
    source.loc[2, "PM2.5"] = "-3"
    source.loc[3, "NO2"] = "abc"
    path = tmp_path / "in.csv"
    source.to_csv(path, index=False)
    out = tmp_path / "aqi.xlsx"
    rejects = tmp_path / "rejects.csv"
    from sourcegrid.store import Workspace

    Workspace(tmp_path / "ws", create=True).close()
    result = runner.invoke(app, ["aqi", str(path), "--hourly", "--edition", "2026", "--unit",
                                 "CO=ug/m3", "--out", str(out), "--rejects", str(rejects),
                                 "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    assert "AQI hours by category (2026)" in result.output
    assert "bad values rejected: 2 (negative_value 1, not_a_number 1)" in result.output
    table = pd.read_excel(out)
    assert len(table) == 48 and set(table["edition"]) == {2026}
    assert table["time"].iloc[0] == "2016-12-31T16:00:00+00:00"
    assert sorted(pd.read_csv(rejects)["reason"]) == ["negative_value", "not_a_number"]
    with Workspace(tmp_path / "ws") as workspace:
        assert len(workspace.read("aqi_hourly")) == 48


def test_bad_edition_and_units(tmp_path):
    result = runner.invoke(app, ["aqi", str(DATA), "--edition", "2020", "--unit", "CO=ug/m3",
                                 "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2
    assert "unknown HJ 633 edition '2020'; valid: 2012, 2026" in result.output
    result = runner.invoke(app, ["aqi", str(DATA), "--unit", "CO", "--out",
                                 str(tmp_path / "x.csv")])
    assert result.exit_code == 2
    assert "expected POLLUTANT=UNIT" in result.output
