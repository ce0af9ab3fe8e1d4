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


def test_a_second_inventory_of_the_same_sources_needs_replace(runner, tmp_path):
    """Review 1.4: the same source × pollutant × period from two origins is refused (the
    mass would be counted twice) until --replace says to replace it."""
    ws = tmp_path / "ws"
    assert run(runner, "grid", "create", "--bbox", BBOX, "--workspace", ws).exit_code == 0
    first = run(runner, "inventory", "import", DATA / "other_emissions.csv", "--sources",
                DATA / "sources.csv", "--origin", "ours", "--workspace", ws)
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["inventory", "import", str(DATA / "other_emissions.csv"),
                                "--sources", str(DATA / "sources.csv"), "--origin", "theirs",
                                "--workspace", str(ws)])
    assert again.exit_code == 2
    assert "already in the inventory from 'ours'" in again.output
    assert "overlapping_origin" in again.output
    done = run(runner, "inventory", "import", DATA / "other_emissions.csv", "--sources",
               DATA / "sources.csv", "--origin", "theirs", "--replace", "--workspace", ws)
    assert done.exit_code == 0, done.output
    out = tmp_path / "by_pollutant.csv"
    assert run(runner, "inventory", "show", "--by", "pollutant", "--out", out,
               "--workspace", ws).exit_code == 0
    once = pd.read_csv(DATA / "other_emissions.csv", encoding="utf-8-sig")
    given = once.groupby("pollutant")["emission"].sum()
    table = pd.read_csv(out).set_index("pollutant")
    # the file's mass once, not twice (its pollutants are given directly)
    for pollutant, total in given.items():
        assert table.loc[pollutant, "emission"] == pytest.approx(total, rel=1e-9)
