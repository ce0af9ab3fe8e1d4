"""The report's wind: nearest site in the grid's projection, vector-mean direction,
wind roses of the sites nearest the hotspots (review items 1.10 and 3)."""

from __future__ import annotations

import pandas as pd
import pytest

from sourcegrid.grid.spec import GridSpec, write_spec
from sourcegrid.report import build as report_build
from sourcegrid.store import Workspace


@pytest.fixture
def workspace():
    # a grid at 60° N, where cos(38°) (Cangzhou) would misjudge east-west distances
    spec = GridSpec.from_bbox((10.0, 59.9, 10.2, 60.1), 3000)
    ws = Workspace.in_memory()
    write_spec(ws, spec)
    cells = spec.cells()
    ws.write("cells", cells)
    cell = cells.iloc[len(cells) // 2]
    lon, lat = float(cell["lon"]), float(cell["lat"])
    time = pd.to_datetime(["2017-01-01T00:10Z", "2017-01-01T00:40Z"], utc=True)
    # Z-near: 0.3° east (0.3 · 111.3 km · cos 60° ≈ 16.7 km); B-north: 0.2° north
    # (≈ 22.3 km); A-far: 1° south (≈ 111 km). With cos(38°): 0.236 > 0.2, B would win.
    sites = {"Z-near": (lon + 0.3, lat), "B-north": (lon, lat + 0.2), "A-far": (lon, lat - 1.0)}
    wind = pd.concat([pd.DataFrame({"site_id": site, "lon": x, "lat": y, "time": time,
                                    "wind_speed": [2.0, 2.0], "wind_dir": [350.0, 10.0]})
                      for site, (x, y) in sites.items()], ignore_index=True)
    ws.write("wind", wind)
    ws.write("cell_hours", pd.DataFrame({
        "cell_id": [cell["cell_id"]], "pollutant": ["PM2.5"],
        "time": pd.to_datetime(["2017-01-01T00:00Z"], utc=True), "value": [80.0]}))
    return ws, str(cell["cell_id"])


def test_the_nearest_site_is_measured_in_the_grid_projection(workspace):
    ws, cell_id = workspace
    assert report_build._nearest_wind_site(ws, ws.read("wind"), cell_id) == "Z-near"


def test_nearest_sites_of_many_cells_in_one_pass(workspace):
    ws, cell_id = workspace
    cells = ws.read("cells").set_index("cell_id")
    lat = float(cells.loc[cell_id, "lat"])
    # the cell 3 rows of 3 km (≈ 0.081° of latitude) north of the middle one is 22.3 − 9
    # ≈ 13.3 km from B-north but √(16.7² + 9²) ≈ 19 km from Z-near; unknown cells are left out
    north = cells.index[(abs(cells["lat"] - (lat + 0.081)) < 0.01)
                        & (abs(cells["lon"] - cells.loc[cell_id, "lon"]) < 0.01)][0]
    found = report_build._nearest_wind_sites(ws, ws.read("wind"), [cell_id, north, "nowhere"])
    assert found == {cell_id: "Z-near", north: "B-north"}


def test_hourly_wind_direction_is_a_vector_mean(workspace):
    ws, cell_id = workspace
    joined = report_build._cell_wind(ws, cell_id, None, None)
    assert len(joined) == 1
    # 350° and 10° → 0° (north), not the arithmetic 180°
    assert joined["wind_dir"].iloc[0] % 360.0 == pytest.approx(0.0, abs=1e-6)
    assert joined.attrs["wind_site"] == "Z-near"


def test_wind_roses_are_drawn_for_the_sites_nearest_the_hotspots(workspace):
    ws, cell_id = workspace
    roses, _, note = report_build._wind_figures(ws, [cell_id], None, None)
    assert note == ""
    assert [rose["title"] for rose in roses] == ["all wind sites", "Z-near"]
