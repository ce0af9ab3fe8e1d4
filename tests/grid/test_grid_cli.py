"""CLI: grid create / observe ingest, qc, calibrate / grid fuse, export (the README example)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from sourcegrid.cli.main import app

runner = CliRunner()

REFERENCE = """time,site_id,lon,lat,PM2.5,PM10
2024-01-10 08:00,R1,116.40,39.90,35,60
2024-01-10 09:00,R1,116.40,39.90,40,70
"""
MICRO = """time,site_id,lon,lat,PM2.5,RH
2024-01-10 08:00,M1,116.45,39.95,50,60
2024-01-10 08:01,M1,116.45,39.95,52,61
2024-01-10 08:02,M1,116.45,39.95,x,61
"""


def run(*args: str):
    result = runner.invoke(app, list(args))
    return result


@pytest.fixture
def files(tmp_path):
    (tmp_path / "reference.csv").write_text(REFERENCE, encoding="utf-8")
    (tmp_path / "micro.csv").write_text(MICRO, encoding="utf-8")
    return tmp_path


def test_pipeline_from_the_readme(files):
    ws = str(files / "ws")
    result = run("grid", "create", "--bbox", "116.3,39.8,116.5,40.0", "-w", ws)
    assert result.exit_code == 0, result.output
    assert "grid 8 rows × 7 columns of 3000 m in EPSG:32650; 56 cells" in result.output
    result = run("observe", "ingest", str(files / "reference.csv"), "--kind", "reference", "-w", ws)
    assert result.exit_code == 0, result.output
    result = run("observe", "ingest", str(files / "micro.csv"), "--kind", "micro", "-w", ws)
    assert result.exit_code == 0 and "not_a_number" in result.output
    result = run("observe", "ingest", str(files / "micro.csv"), "--kind", "micro", "-w", ws)
    assert "same file already ingested" in result.output
    result = run("observe", "qc", "-w", ws)
    assert result.exit_code == 0 and "flat_line" in result.output
    result = run("observe", "calibrate", "-w", ws)
    assert result.exit_code == 0
    assert "no micro-station had enough hours" in result.output
    result = run("grid", "fuse", "--from", "2024-01-10T08:00", "--to", "2024-01-10T10:00",
                 "--observed-only", "-w", ws)
    assert result.exit_code == 0, result.output
    out = files / "cell_hours.csv"
    result = run("grid", "export", "--table", "cell_hours", "--out", str(out), "-w", ws)
    assert result.exit_code == 0, result.output
    cell_hours = pd.read_csv(out, encoding="utf-8-sig")
    # R1 alone in its cell at 00:00 UTC (08:00 Beijing): PM2.5 35, u = 0.10 * 35
    row = cell_hours.loc[(cell_hours["time"] == "2024-01-10T00:00:00Z")
                         & (cell_hours["pollutant"] == "PM2.5")
                         & (cell_hours["sources"] == "reference:1")].iloc[0]
    assert (row["value"], row["uncertainty"]) == (35.0, 3.5)
    # M1: mean of 50 and 52, uncalibrated micro (r = 0.5): u = 25.5
    row = cell_hours.loc[cell_hours["sources"] == "micro:1"].iloc[0]
    assert (row["value"], row["uncertainty"], row["n_readings"]) == (51.0, 25.5, 2)
    geojson = files / "cells.geojson"
    assert run("grid", "export", "--table", "cells", "--out", str(geojson), "-w", ws).exit_code == 0
    collection = json.loads(geojson.read_text(encoding="utf-8"))
    assert len(collection["features"]) == 56


def test_create_needs_one_area_and_bad_bbox_is_reported(tmp_path):
    result = run("grid", "create", "-w", str(tmp_path / "ws"))
    assert result.exit_code == 2 and "exactly one of --bbox or --boundary" in result.output
    result = run("grid", "create", "--bbox", "116,39,115,40", "-w", str(tmp_path / "ws"))
    assert result.exit_code == 2
    assert "min_lon,min_lat,max_lon,max_lat" in result.output


def test_fuse_without_grid_says_how_to_make_one(files):
    ws = str(files / "ws")
    run("observe", "ingest", str(files / "reference.csv"), "--kind", "reference", "-w", ws)
    result = run("grid", "fuse", "-w", ws)
    assert result.exit_code == 2
    assert "sourcegrid grid create" in result.output
