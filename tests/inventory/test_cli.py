"""``sourcegrid inventory import | build | show`` on the small files of tests/inventory/data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sourcegrid.cli.main import app

DATA = Path(__file__).parent / "data"
BBOX = "116.52,38.04,117.2,38.58"


@pytest.fixture
def runner():
    return CliRunner()


def run(runner, *args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_build_import_show(runner, tmp_path):
    ws = tmp_path / "ws"
    assert run(runner, "grid", "create", "--bbox", BBOX, "--workspace", ws).exit_code == 0
    done = run(runner, "account", DATA / "activity.csv", "--treatment", DATA / "treatment.csv",
               "--workspace", ws)
    assert done.exit_code == 0, done.output
    done = run(runner, "inventory", "build", "--sources", DATA / "sources.csv", "--workspace", ws)
    assert done.exit_code == 0, done.output
    assert "PM2.5 = 0.45 × PM (sourcegrid_2024: industry)" in done.output
    assert "2 source(s) took default stack parameters" in done.output
    done = run(runner, "inventory", "import", DATA / "other_emissions.csv", "--sources",
               DATA / "sources.csv", "--workspace", ws)
    assert done.exit_code == 0, done.output
    out = tmp_path / "sector.csv"
    done = run(runner, "inventory", "show", "--by", "sector", "--out", out, "--workspace", ws)
    assert done.exit_code == 0, done.output
    table = pd.read_csv(out)
    assert {"industry", "traffic", "dust"} == set(table["sector"])
    # the cell GeoJSON sums to the inventory's PM2.5 (all sources lie inside the grid)
    geojson = tmp_path / "pm25.geojson"
    done = run(runner, "inventory", "show", "--by", "cell", "--pollutant", "PM2.5", "--out",
               geojson, "--workspace", ws)
    assert done.exit_code == 0, done.output
    features = json.loads(geojson.read_text(encoding="utf-8"))["features"]
    on_cells = sum(f["properties"]["emission"] for f in features)
    pm25 = table.loc[table["pollutant"] == "PM2.5", "emission"].sum()
    assert on_cells == pytest.approx(pm25, rel=1e-9)
    assert features[0]["geometry"]["type"] == "Polygon"


def test_a_bad_sources_file_exits_2_and_lists_the_rows(runner, tmp_path):
    bad = tmp_path / "sources.csv"
    shutil.copy(DATA / "sources.csv", bad)
    frame = pd.read_csv(bad, dtype=str, keep_default_na=False)
    frame.loc[0, "kind"] = "chimney"
    frame.loc[1, "exit_temperature"] = "95"
    frame.to_csv(bad, index=False)
    done = runner.invoke(app, ["inventory", "import", str(DATA / "other_emissions.csv"),
                               "--sources", str(bad), "--workspace", str(tmp_path / "ws")])
    assert done.exit_code == 2
    text = done.output + (done.stderr if done.stderr_bytes is not None else "")
    assert "bad_kind" in text and "implausible_value" in text


def test_show_checks_its_options_first(runner, tmp_path):
    done = runner.invoke(app, ["inventory", "show", "--by", "sector", "--out",
                               str(tmp_path / "x.geojson"), "--workspace", str(tmp_path)])
    assert done.exit_code == 2
    assert "GeoJSON only with --by cell" in done.output + (done.stderr or "")


def test_build_without_sources_uses_the_runs_activity_locations(runner, tmp_path):
    ws = tmp_path / "ws"
    assert run(runner, "grid", "create", "--bbox", BBOX, "--workspace", ws).exit_code == 0
    assert run(runner, "account", DATA / "activity.csv", "--treatment", DATA / "treatment.csv",
               "--workspace", ws).exit_code == 0
    done = run(runner, "inventory", "build", "--workspace", ws)
    assert done.exit_code == 0, done.output
    # every enterprise became a point source with the default stack parameters
    assert "8 source(s) took default stack parameters" in done.output
