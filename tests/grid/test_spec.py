"""GridSpec: cell ids, cell lookup, conservation, arrays, nesting, storage."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from sourcegrid.errors import InputError
from sourcegrid.grid.spec import (
    GridError,
    GridSpec,
    parse_cell_id,
    read_spec,
    utm_crs,
    write_spec,
)
from sourcegrid.store import Workspace

# A 4 × 5 grid of 1 km cells in UTM 50N with its north-west corner at (400000, 4420000).
SMALL = GridSpec("EPSG:32650", 1000.0, 400_000.0, 4_420_000.0, 4, 5)


def test_utm_zone_of_beijing_is_50n():
    # Beijing 116.4°E: zone = floor((116.4 + 180) / 6) + 1 = 50 -> EPSG:32650
    assert utm_crs(116.4, 39.9) == "EPSG:32650"
    # 2+26 cities span 113.5-119.5°E; Shijiazhuang 114.5°E is zone 50 too, Taiyuan 112.5 zone 49
    assert utm_crs(112.5, 37.9) == "EPSG:32649"
    assert utm_crs(-70.0, -33.0) == "EPSG:32719"


def test_cell_ids_are_row_col_with_row_zero_north():
    assert SMALL.cell_id(12, 34) == "R0012C0034"
    assert list(SMALL.cell_id(np.array([0, 3]), np.array([4, 0]))) == ["R0000C0004", "R0003C0000"]
    assert SMALL.cell_id(-1, 2) == ""
    rows, cols = parse_cell_id(["R0012C0034", "R0000C0001"])
    assert rows.tolist() == [12, 0] and cols.tolist() == [34, 1]


def test_bad_cell_ids_are_all_reported():
    with pytest.raises(InputError) as caught:
        parse_cell_id(["R0001C0001", "X12", "R1C"])
    reasons = caught.value.frame
    assert reasons["reason"].tolist() == ["bad_cell_id", "bad_cell_id"]
    assert reasons["value"].tolist() == ["X12", "R1C"]
    assert "R0012C0034" in str(caught.value)


def test_cell_of_xy_by_hand():
    # x = 401500 is 1.5 km east of the origin -> col 1; y = 4417200 is 2.8 km south -> row 2
    rows, cols = SMALL.cell_of_xy([401_500.0, 400_000.0, 404_999.9, 399_999.0],
                                  [4_417_200.0, 4_420_000.0, 4_416_000.1, 4_419_000.0])
    assert rows.tolist() == [2, 0, 3, -1]
    assert cols.tolist() == [1, 0, 4, -1]


def test_cell_of_lonlat_matches_projected_centres():
    cells = SMALL.cells()
    rows, cols = SMALL.cell_of(cells["lon"], cells["lat"])
    assert (rows == cells["row"].to_numpy()).all() and (cols == cells["col"].to_numpy()).all()
    # centre of cell (2, 1): x = 400000 + 1.5 km, y = 4420000 - 2.5 km
    centre = cells.set_index("cell_id").loc["R0002C0001"]
    assert (centre["x"], centre["y"]) == (401_500.0, 4_417_500.0)


def test_outside_and_nan_points_get_minus_one():
    rows, cols = SMALL.cell_of([0.0, np.nan], [0.0, 39.9])
    assert rows.tolist() == [-1, -1] and cols.tolist() == [-1, -1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(400_000, 404_999.999), st.floats(4_416_000.001, 4_420_000)),
                min_size=1, max_size=50))
def test_every_point_falls_in_exactly_one_cell(points):
    x, y = np.array(points).T
    rows, cols = SMALL.cell_of_xy(x, y)
    assert ((rows >= 0) & (cols >= 0)).all()
    # the point lies inside its own cell's bounds (half-open) and so in no other cell
    left = SMALL.origin_x + cols * SMALL.cell_size
    top = SMALL.origin_y - rows * SMALL.cell_size
    assert ((x >= left) & (x < left + 1000) & (y <= top) & (y > top - 1000)).all()


def test_from_bbox_snaps_origin_and_covers_the_box():
    spec = GridSpec.from_bbox((116.0, 39.6, 116.8, 40.2))
    assert spec.crs == "EPSG:32650"
    assert spec.origin_x % 3000 == 0 and spec.origin_y % 3000 == 0
    min_x, min_y, max_x, max_y = spec.bounds
    corners_x, corners_y = spec.to_xy([116.0, 116.8, 116.0, 116.8], [39.6, 39.6, 40.2, 40.2])
    assert (corners_x >= min_x).all() and (corners_x <= max_x).all()
    assert (corners_y >= min_y).all() and (corners_y <= max_y).all()
    # a bigger box in the same CRS keeps the same lattice (stable ids)
    other = GridSpec.from_bbox((115.5, 39.0, 117.0, 41.0), crs=32650)
    assert (spec.origin_x - other.origin_x) % 3000 == 0


def test_any_projected_epsg_is_accepted_but_not_geographic():
    spec = GridSpec.from_bbox((116.0, 39.6, 116.8, 40.2), crs="EPSG:4547")  # CGCS2000 / 3-deg GK CM 114E
    assert spec.crs == "EPSG:4547"
    with pytest.raises(GridError, match="must be projected"):
        GridSpec.from_bbox((116.0, 39.6, 116.8, 40.2), crs=4326)
    with pytest.raises(GridError, match="min_lon,min_lat,max_lon,max_lat"):
        GridSpec.from_bbox((117.0, 39.6, 116.8, 40.2))


def test_from_boundary_geojson(tmp_path):
    boundary = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
                "geometry": {"type": "Polygon", "coordinates": [[[116.0, 39.6], [116.8, 39.6],
                                                                 [116.8, 40.2], [116.0, 39.6]]]}}]}
    path = tmp_path / "area.geojson"
    path.write_text(json.dumps(boundary))
    assert GridSpec.from_boundary(path) == GridSpec.from_bbox((116.0, 39.6, 116.8, 40.2))


def test_to_array_and_back():
    frame = pd.DataFrame({"row": [0, 3], "col": [4, 0], "value": [1.5, 2.5]})
    array = SMALL.to_array(frame)
    assert array.shape == (4, 5)
    assert array[0, 4] == 1.5 and array[3, 0] == 2.5
    assert np.isnan(array).sum() == 18
    back = SMALL.from_array(array)
    assert back["cell_id"].tolist() == ["R0000C0004", "R0003C0000"]
    assert back["value"].tolist() == [1.5, 2.5]
    with pytest.raises(GridError, match="more than once"):
        SMALL.to_array(pd.DataFrame({"cell_id": ["R0000C0000"] * 2, "value": [1.0, 2.0]}))


def test_nested_grid_parents():
    fine = SMALL.nested(size=500)
    assert (fine.nrows, fine.ncols, fine.cell_size, fine.parent_factor) == (8, 10, 500.0, 2)
    cells = fine.cells().set_index("cell_id")
    # fine cell (5, 3) lies in coarse cell (2, 1)
    assert cells.loc["R0005C0003", "parent_id"] == "R0002C0001"
    assert SMALL.nested(6).cell_size == pytest.approx(1000 / 6)
    with pytest.raises(GridError, match="does not divide"):
        SMALL.nested(size=300)


def test_polygons_and_geojson():
    polygon = SMALL.polygons([0], [0])[0]
    lon, lat = SMALL.to_lonlat([400_500.0], [4_419_500.0])
    assert polygon.contains(shapely.Point(lon[0], lat[0]))
    collection = SMALL.to_geojson()
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 20
    assert collection["features"][0]["properties"]["cell_id"] == "R0000C0000"


def test_spec_round_trips_through_dict_and_workspace():
    assert GridSpec.from_dict(SMALL.to_dict()) == SMALL
    workspace = Workspace.in_memory()
    write_spec(workspace, SMALL)
    assert read_spec(workspace) == SMALL
