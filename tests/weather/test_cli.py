"""``sourcegrid trend``, ``hotspots --normalise-weather`` and the net-of-weather reports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sourcegrid.cli.main import app
from sourcegrid.io.tables import read_table
from sourcegrid.store import Workspace
from tests.weather.conftest import JANUARIES

runner = CliRunner()


def _run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_trend_on_a_file(tmp_path):
    out = tmp_path / "trend.csv"
    series = tmp_path / "series.parquet"
    output = _run("trend", JANUARIES, "--pollutant", "PM2.5", "--base", "2015-01",
                  "--compare", "2016-01", "--model", "quick", "--resampling", "quick",
                  "--samples", "5", "--out", out, "--series-out", series)
    assert "observed and weather-normalised: change 2015-01-01..2015-01-31" in output
    report = read_table(out)
    assert sorted(report["unit"]) == ["Dingling", "Dongsi"]
    for column in ("observed_change_percent", "normalised_change_percent",
                   "normalised_change_percent_low", "weather_share_percent", "r2",
                   "normalised_slope"):
        assert column in report.columns
    assert set(report["base_from"]) == {"2015-01-01"}
    hourly = pd.read_parquet(series)
    assert {"observed", "normalised"} <= set(hourly.columns)


def test_trend_city_mean(tmp_path):
    out = tmp_path / "city.csv"
    _run("trend", JANUARIES, "--by", "city", "--base", "2015-01", "--compare", "2016-01",
         "--model", "quick", "--resampling", "quick", "--samples", "3", "--out", out,
         "--figures", tmp_path / "figures")
    assert read_table(out)["unit"].tolist() == ["city"]
    assert sorted(p.name for p in (tmp_path / "figures").glob("*.png")) == [
        "city_PM2.5_partial_dependence.png", "city_PM2.5_series.png"]


def test_trend_reports_every_bad_option():
    result = runner.invoke(app, ["trend", str(JANUARIES), "--by", "county", "--model", "xgb",
                                 "--resampling", "none", "--samples", "0", "--pollutant",
                                 "smoke", "--from", "2016-02-01", "--to", "2016-01-01"])
    assert result.exit_code == 2
    for text in ("--by", "--model", "--resampling", "--samples", "--pollutant", "--to",
                 "expected station or city", "expected one of deweather"):
        assert text in result.output


def _grid_workspace(path) -> Workspace:
    """5 × 4 cells, 45 days of hours; PM2.5 = level(cell) × exp(−0.4 wind speed) × noise."""
    rng = np.random.default_rng(0)
    times = pd.date_range("2024-01-01", periods=45 * 24, freq="h", tz="UTC")
    speed = np.clip(2.0 + 1.5 * np.sin(np.arange(len(times)) / 17.0)
                    + rng.normal(0, 0.5, len(times)), 0.1, None)
    direction = (180 + 120 * np.sin(np.arange(len(times)) / 31.0)) % 360
    rows, cols = np.meshgrid(np.arange(4), np.arange(5), indexing="ij")
    level = 40 + 10 * rows.ravel() + 5 * cols.ravel()
    cells = pd.DataFrame({"cell_id": [f"R{r:04d}C{c:04d}" for r, c in
                                      zip(rows.ravel(), cols.ravel(), strict=True)],
                          "row": rows.ravel(), "col": cols.ravel(),
                          "lon": 116.3 + cols.ravel() * 0.035,
                          "lat": 39.9 - rows.ravel() * 0.027, "city_code": "110100"})
    frame = cells.loc[cells.index.repeat(len(times)), ["cell_id", "row", "col"]].reset_index(
        drop=True)
    frame["time"] = np.tile(times, len(cells))
    weather = np.exp(-0.4 * np.tile(speed, len(cells)))
    frame["value"] = (np.repeat(level, len(times)) * weather * 3
                      * np.exp(rng.normal(0, 0.15, len(frame))))
    frame["pollutant"] = "PM2.5"
    ws = Workspace(path, create=True)
    ws.write("cell_hours", frame)
    ws.write("cells", cells)
    ws.write("wind", pd.DataFrame({"time": times, "site_id": "W1", "lon": 116.38, "lat": 39.86,
                                   "wind_speed": speed, "wind_dir": direction, "source": "t"}))
    return ws


def test_hotspots_normalise_weather(tmp_path):
    ws_path = tmp_path / "ws"
    _grid_workspace(ws_path)
    output = _run("hotspots", "--from", "2024-01-05", "--to", "2024-02-10", "--top", "5",
                  "--normalise-weather", "--weather-set", "quick", "--workspace", ws_path)
    assert "weather-adjusted PM2.5 of 20 cells" in output
    assert "entered" in output and "kept" in output
    ws = Workspace(ws_path)
    changes = ws.read("hotspots_weather_changes")
    listed = ws.read("hotspots")
    assert len(listed) == 5
    counts = changes["status"].value_counts()
    # both lists hold 5 cells: kept + left = 5 = kept + entered
    assert counts.get("kept", 0) + counts.get("left", 0) == 5
    assert counts.get("kept", 0) + counts.get("entered", 0) == 5
    # the level rises with row and column: the top cell is the south-east corner either way
    assert listed["cell_id"].iloc[0] == "R0003C0004"


def test_hotspots_normalise_weather_without_wind(tmp_path):
    ws_path = tmp_path / "ws"
    ws = _grid_workspace(ws_path)
    ws.con.drop_table("wind")
    result = runner.invoke(app, ["hotspots", "--from", "2024-01-05", "--to", "2024-02-10",
                                 "--normalise-weather", "--workspace", str(ws_path)])
    assert result.exit_code != 0
    assert "no wind table" in result.output


def _one_station(tmp_path):
    frame = pd.read_csv(JANUARIES)
    path = tmp_path / "dongsi.csv"
    frame[frame["site_id"] == "Dongsi"].to_csv(path, index=False)
    return path


def test_composite_net_of_weather(tmp_path):
    path = _one_station(tmp_path)
    out = tmp_path / "composite.csv"
    _run("composite", path, "--unit", "CO=ug/m3", "--period-from", "2016-01-01",
         "--period-to", "2016-01-31", "--base-from", "2015-01-01", "--base-to", "2015-01-31",
         "--weather", path, "--weather-set", "quick", "--out", out)
    report = read_table(out)
    for column in ("composite_index_net_of_weather", "change_percent_net_of_weather",
                   "weather_change", "weather_share_percent"):
        assert column in report.columns
    seen = float(report["change_percent"].iloc[0])
    net = float(report["change_percent_net_of_weather"].iloc[0])
    share = float(report["weather_share_percent"].iloc[0])
    assert share == (seen - net) / seen * 100 or abs(share - (seen - net) / seen * 100) < 1e-6


def test_gooddays_net_of_weather(tmp_path):
    path = _one_station(tmp_path)
    out = tmp_path / "good.csv"
    _run("gooddays", path, "--unit", "CO=ug/m3", "--from", "2016-01-01", "--to", "2016-01-31",
         "--weather", path, "--weather-set", "quick", "--out", out)
    report = read_table(out)
    assert {"good_days_net_of_weather", "good_days_change_net_of_weather",
            "weather_share_percent"} <= set(report.columns)
    assert 0 <= float(report["good_days_net_of_weather"].iloc[0]) <= 31


def test_targets_report_net_of_weather(tmp_path):
    from tests.weather.conftest import DONGSI

    ws = tmp_path / "ws"
    _run("targets", "add", "--indicator", "PM2.5", "--region", "北京", "--base-year", "2014",
         "--base-value", "85.6", "--target", "60", "--deadline", "2020", "--unit", "µg/m³",
         "--workspace", ws)
    _run("targets", "add", "--indicator", "good_ratio", "--region", "北京", "--base-year",
         "2014", "--base-value", "47", "--target", "60", "--deadline", "2020", "--unit", "%",
         "--workspace", ws)
    current = tmp_path / "current.csv"
    current.write_text("indicator,region,year,value\nPM2.5,北京,2016,71.8\n"
                       "good_ratio,北京,2016,54\n", encoding="utf-8")
    out = tmp_path / "progress.csv"
    output = _run("targets", "report", "--current", current, "--weather", DONGSI,
                  "--weather-set", "quick", "--out", out, "--workspace", ws)
    assert "net of weather" in output
    report = read_table(out).set_index("indicator")
    # observed change from the report's own values: (71.8 − 85.6) / 85.6 = −16.12 %
    assert float(report.loc["PM2.5", "observed_change_percent"]) == pytest.approx(-16.12, abs=0.01)
    net = float(report.loc["PM2.5", "normalised_change_percent"])
    assert float(report.loc["PM2.5", "current_value_net_of_weather"]) == pytest.approx(
        85.6 * (1 + net / 100))
    assert report.loc["good_ratio", "normalised_change_percent"] in (None, "", "nan")
