"""The hotspot commands end to end on a small workspace."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sourcegrid.cli.main import app
from sourcegrid.store import Workspace

runner = CliRunner()

# Beijing-time day 2026-03-01 = UTC 2026-02-28T16:00 .. 2026-03-01T16:00
HOURS = pd.date_range("2026-02-28T16:00Z", periods=24, freq="h")


def _cell_hours(nrows: int = 4, ncols: int = 5) -> pd.DataFrame:
    """PM2.5 50 everywhere, 150 in cell R0001C0001 and 120 in R0001C0002; PM10 and SO2 too."""
    rows = []
    for r in range(nrows):
        for c in range(ncols):
            cell = f"R{r:04d}C{c:04d}"
            pm25 = {(1, 1): 150.0, (1, 2): 120.0}.get((r, c), 50.0)
            for pollutant, value in (("PM2.5", pm25), ("PM10", 70.0 if (r, c) != (1, 1) else 400.0),
                                     ("SO2", 10.0)):
                for time in HOURS:
                    rows.append((cell, r, c, time, pollutant, value))
    frame = pd.DataFrame(rows, columns=["cell_id", "row", "col", "time", "pollutant", "value"])
    frame["uncertainty"] = 5.0
    frame["n_readings"] = 1
    frame["sources"] = "micro"
    frame["method"] = "observed"
    return frame


def _workspace(path, *, with_spec: bool) -> Workspace:
    ws = Workspace(path, create=True)
    ws.write("cell_hours", _cell_hours())
    cells = pd.DataFrame({
        "cell_id": [f"R{r:04d}C{c:04d}" for r in range(4) for c in range(5)],
        "row": np.repeat(np.arange(4), 5), "col": np.tile(np.arange(5), 4),
        "lon": 116.0 + np.tile(np.arange(5), 4) * 0.035, "lat": 39.0 - np.repeat(np.arange(4), 5) * 0.027,
        "city_code": "130900", "county_code": "", "township_code": "",
    })
    ws.write("cells", cells)
    if with_spec:
        from sourcegrid.grid.spec import GridSpec, write_spec

        write_spec(ws, GridSpec(crs="EPSG:32650", cell_size=3000.0, origin_x=414000.0,
                                origin_y=4320000.0, nrows=4, ncols=5))
    return ws


def _run(*args: str):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_rank_stores_and_exports(tmp_path):
    _workspace(tmp_path / "ws", with_spec=False).close()
    out = tmp_path / "top.csv"
    result = _run("hotspots", "--from", "2026-03-01", "--to", "2026-03-02", "--top", "2",
                  "--out", str(out), "-w", str(tmp_path / "ws"))
    assert "stored 2 row(s) in table 'hotspots'" in result.output
    exported = pd.read_csv(out, encoding="utf-8-sig")
    assert exported["cell_id"].tolist() == ["R0001C0001", "R0001C0002"]
    # city mean = (150 + 120 + 18 * 50) / 20 = 58.5
    assert exported["ratio_to_city_mean"].tolist() == pytest.approx([150 / 58.5, 120 / 58.5])
    with Workspace(tmp_path / "ws") as ws:
        stored = ws.read("hotspots")
    assert set(stored["method"]) == {"rank"}


def test_gistar_geojson_polygons_from_the_grid(tmp_path):
    _workspace(tmp_path / "ws", with_spec=True).close()
    out = tmp_path / "gi.geojson"
    _run("hotspots", "--method", "gistar", "--from", "2026-03-01", "--to", "2026-03-02",
         "--radius", "1", "--out", str(out), "-w", str(tmp_path / "ws"))
    collection = json.loads(out.read_text(encoding="utf-8"))
    assert len(collection["features"]) == 20
    first = collection["features"][0]
    assert first["geometry"]["type"] == "Polygon"
    # highest z first. By hand: n = 20, mean 58.5, s^2 = (18*8.5^2 + 91.5^2 + 61.5^2)/20 = 672.75.
    # (0,1) and (0,2) (band of 6 cells holding both high cells): numerator 470 - 6*58.5 = 119,
    # z = 119 / (s*sqrt(6*14/19)); (1,1) (band of 9): 620 - 526.5 = 93.5 over s*sqrt(9*11/19),
    # lower. The tie of (0,1) and (0,2) goes to the smaller cell id.
    assert first["properties"]["cell_id"] == "R0000C0001"
    assert first["properties"]["z"] == pytest.approx(119 / (672.75**0.5 * (84 / 19) ** 0.5),
                                                     abs=1e-9)


def test_persistence_and_monthly_and_points_geojson(tmp_path):
    _workspace(tmp_path / "ws", with_spec=False).close()
    result = _run("hotspots", "--method", "persistence", "--from", "2026-03-01", "--to",
                  "2026-03-02", "--threshold", "100", "-w", str(tmp_path / "ws"))
    assert "stored 20 row(s)" in result.output
    result = _run("hotspots", "--method", "persistence", "--from", "2026-03-01", "--to",
                  "2026-03-02", "--threshold", "100", "--top", "2", "-w", str(tmp_path / "ws"))
    assert "stored 2 row(s)" in result.output  # the two cells above 100 all 24 hours
    out = tmp_path / "m.geojson"
    _run("hotspots", "--method", "monthly", "--from", "2026-03-01", "--top", "1",
         "--out", str(out), "-w", str(tmp_path / "ws"))
    collection = json.loads(out.read_text(encoding="utf-8"))
    # no March 2025 / February 2026 data: only the 'highest' list, one cell
    assert [f["properties"]["cell_id"] for f in collection["features"]] == ["R0001C0001"]
    assert collection["features"][0]["geometry"] == {"type": "Point", "coordinates": [116.035, 38.973]}


def test_bad_option_combinations(tmp_path):
    _workspace(tmp_path / "ws", with_spec=False).close()
    result = runner.invoke(app, ["hotspots", "--method", "persistence", "--from", "2026-03-01",
                                 "--to", "2026-03-02", "-w", str(tmp_path / "ws")])
    assert result.exit_code == 2
    assert "give exactly one of threshold or top_percent" in result.output
    result = runner.invoke(app, ["hotspots", "--method", "gistar", "--from", "2026-03-01",
                                 "-w", str(tmp_path / "ws")])
    assert result.exit_code == 2
    assert "--to is required with --method gistar" in result.output
    result = runner.invoke(app, ["hotspots", "--from", "2026-13-45", "--to", "2026-03-02",
                                 "-w", str(tmp_path / "ws")])
    assert result.exit_code == 2
    assert "2026-13-45" in result.output
    result = runner.invoke(app, ["grid", "classify", "--from", "2026-03-01", "--to", "2026-03-02",
                                 "--levels", "hj633", "-w", str(tmp_path / "ws")])
    assert result.exit_code == 2
    assert "unknown concentration level set 'hj633'; valid: hj633_2012, hj633_2026" in result.output


def test_classify_writes_cell_grades(tmp_path):
    _workspace(tmp_path / "ws", with_spec=False).close()
    out = tmp_path / "grades.parquet"
    _run("grid", "classify", "--from", "2026-03-01", "--to", "2026-03-02", "--out", str(out),
         "-w", str(tmp_path / "ws"))
    grades = pd.read_parquet(out).set_index("cell_id")
    # R0001C0001: 150 in (115, 150] -> level 4; PM10/PM2.5 = 400/150 = 2.67 -> dust
    assert grades.loc["R0001C0001", "concentration_level"] == 4
    assert grades.loc["R0001C0001", "type"] == "dust"
    assert grades.loc["R0001C0001", "excess_name"] == "red"  # 150/58.5 = 2.56 >= 2
    assert grades.loc["R0000C0000", "type"] == "unclassified"


def test_alerts_check_appends_new_alerts_only(tmp_path):
    ws = _workspace(tmp_path / "ws", with_spec=True)
    times = pd.date_range("2026-03-01T00:00Z", periods=5, freq="min")
    rows = []
    for site, lon, values in (("m1", 116.035, [50, 200, 210, 220, 50]),
                              ("m2", 116.045, [50, 50, 50, 50, 50])):
        for time, value in zip(times, values, strict=True):
            rows.append((time, site, "micro", lon, 38.973, "PM2.5", float(value), "µg/m³"))
    ws.write("observations", pd.DataFrame(rows, columns=["time", "site_id", "site_kind", "lon",
                                                         "lat", "pollutant", "value", "unit"]))
    ws.close()
    first = _run("grid", "alerts", "check", "--threshold", "150", "-n", "3",
                 "-w", str(tmp_path / "ws"))
    assert "1 alert(s), 1 new" in first.output
    again = _run("grid", "alerts", "check", "--threshold", "150", "-n", "3",
                 "-w", str(tmp_path / "ws"))
    assert "1 alert(s), 0 new" in again.output
    with Workspace(tmp_path / "ws") as ws:
        alerts = ws.read("alerts")
        assert len(alerts) == 1
        assert alerts.loc[0, "values"] == "200;210;220"
        assert alerts.loc[0, "city_code"] == "130900"
        assert alerts.loc[0, "cell_id"].startswith("R")
        later = pd.DataFrame([(pd.Timestamp("2026-03-01T01:00Z") + pd.Timedelta(minutes=k), "m2",
                               "micro", 116.045, 38.973, "PM2.5", 300.0, "µg/m³")
                              for k in range(3)],
                             columns=["time", "site_id", "site_kind", "lon", "lat", "pollutant",
                                      "value", "unit"])
        ws.write("observations", later, mode="append")
    third = _run("grid", "alerts", "check", "--from", "2026-03-01T09:00", "--to",
                 "2026-03-01T10:00", "--threshold", "150", "-n", "3", "-w", str(tmp_path / "ws"))
    assert "1 alert(s), 1 new" in third.output
    with Workspace(tmp_path / "ws") as ws:
        assert sorted(ws.read("alerts")["site_id"]) == ["m1", "m2"]
