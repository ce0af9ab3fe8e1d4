"""Admin codes of cells: point in polygon by STRtree, code completion, table input."""

from __future__ import annotations

import pandas as pd
import pytest

from sourcegrid.errors import InputError
from sourcegrid.grid.admin import (
    admin_from_boundaries,
    admin_from_table,
    cells_table,
    complete_codes,
)
from sourcegrid.grid.spec import GridSpec

GRID = GridSpec("EPSG:32650", 3000.0, 441_000.0, 4_419_000.0, 2, 2)


def square(min_lon, min_lat, max_lon, max_lat):
    return {"type": "Polygon", "coordinates": [[[min_lon, min_lat], [max_lon, min_lat],
                                                [max_lon, max_lat], [min_lon, max_lat],
                                                [min_lon, min_lat]]]}


def boundaries() -> dict:
    cells = GRID.cells()
    split = float(cells["lon"].mean())  # west column / east column
    west = square(116.0, 39.0, split, 41.0)
    east = square(split, 39.0, 117.5, 41.0)
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"county_code": "110105"}, "geometry": west},
        {"type": "Feature", "properties": {"乡镇代码": "110108001000"}, "geometry": east},
    ]}


def test_codes_from_polygons_and_completion():
    admin = admin_from_boundaries(GRID.cells(), boundaries()).set_index("cell_id")
    # west cells: county 110105 -> city 110100 (GB/T 2260: first 4 digits + '00')
    assert admin.loc["R0000C0000", ["city_code", "county_code", "township_code"]].tolist() == \
        ["110100", "110105", None]
    # east cells: township 110108001000 -> county 110108 -> city 110100
    assert admin.loc["R0001C0001", ["city_code", "county_code", "township_code"]].tolist() == \
        ["110100", "110108", "110108001000"]


def test_features_without_codes_are_reported():
    data = boundaries()
    data["features"].append({"type": "Feature", "properties": {"name": "x"},
                             "geometry": square(0, 0, 1, 1)})
    with pytest.raises(InputError) as caught:
        admin_from_boundaries(GRID.cells(), data)
    assert caught.value.frame["reason"].tolist() == ["no_admin_code"]
    assert caught.value.frame["row"].tolist() == [3]


def test_codes_from_table_with_unknown_cells_reported():
    table = pd.DataFrame({"网格编号": ["R0000C0000", "R0009C0009", "R0008C0000"],
                          "区县代码": ["130102", "130104", "130105"]})
    with pytest.raises(InputError) as caught:
        admin_from_table(GRID.cells(), table)
    assert caught.value.frame["value"].tolist() == ["R0009C0009", "R0008C0000"]
    assert caught.value.frame["row"].tolist() == [3, 4]
    admin = admin_from_table(GRID.cells(), table.iloc[:1]).set_index("cell_id")
    assert admin.loc["R0000C0000", "city_code"] == "130100"
    assert admin["county_code"].isna().sum() == 3


def test_cells_table_columns_and_clip():
    table = cells_table(GRID)
    assert list(table.columns) == ["cell_id", "row", "col", "lon", "lat", "city_code",
                                   "county_code", "township_code"]
    assert len(table) == 4
    lon, lat = GRID.cells().loc[0, ["lon", "lat"]]
    area = {"type": "Feature", "properties": {},
            "geometry": square(lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01)}
    assert cells_table(GRID, boundary=area, clip=True)["cell_id"].tolist() == ["R0000C0000"]


def test_complete_codes_keeps_given_codes():
    frame = complete_codes(pd.DataFrame({"city_code": ["130100"], "county_code": [130104.0]}))
    assert frame.loc[0, "county_code"] == "130104" and frame.loc[0, "city_code"] == "130100"
