"""Satellite rasters: zonal means per cell from GeoTIFF and NetCDF written in tmp_path."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from rasterio.transform import from_origin

from sourcegrid.errors import InputError
from sourcegrid.grid.spec import GridSpec, write_spec
from sourcegrid.observations.ingest import ingest_file
from sourcegrid.observations.satellite import layers_to_cells, read_raster
from sourcegrid.store import Workspace

# 2 × 2 cells of 3 km in UTM 50N
GRID = GridSpec("EPSG:32650", 3000.0, 441_000.0, 4_419_000.0, 2, 2)


def write_utm_tiff(path, values, *, nodata=-9999.0, date="2024-01-02"):
    values = np.asarray(values, dtype="float32")
    # rasterio's writer multiplies Affine objects with `*` (affine warns, not our code)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        _write(path, values, nodata, date)


def _write(path, values, nodata, date):
    with rasterio.open(path, "w", driver="GTiff", height=values.shape[0], width=values.shape[1],
                       count=1, dtype="float32", crs="EPSG:32650", nodata=nodata,
                       transform=from_origin(441_000, 4_419_000, 1000, 1000)) as target:
        target.write(values, 1)
        if date:
            target.update_tags(date=date)


def test_geotiff_zonal_mean_by_hand(tmp_path):
    # 6 × 6 pixels of 1 km: each 3 km cell averages a 3 × 3 block of 0..35
    values = np.arange(36, dtype=float).reshape(6, 6)
    write_utm_tiff(tmp_path / "pm25.tif", values)
    cells = layers_to_cells(GRID, read_raster(tmp_path / "pm25.tif")).set_index("cell_id")
    # block (0,0): 0,1,2,6,7,8,12,13,14 -> mean 7; (0,1): 3..5, 9..11, 15..17 -> 10
    # (1,0): 18..20, 24..26, 30..32 -> 25; (1,1): 28
    assert cells["value"].to_dict() == {"R0000C0000": 7.0, "R0000C0001": 10.0,
                                        "R0001C0000": 25.0, "R0001C0001": 28.0}
    assert set(cells["date"]) == {pd.Timestamp("2024-01-02")}


def test_nodata_pixels_do_not_count(tmp_path):
    values = np.full((6, 6), 30.0)
    values[0, 0] = -9999.0          # one missing pixel in cell (0,0): mean of the other 8
    values[0:3, 0:2] = [[-9999.0, 60.0], [30.0, 30.0], [30.0, 30.0]]
    values[3:6, 3:6] = -9999.0      # cell (1,1) entirely missing -> no value
    write_utm_tiff(tmp_path / "pm25.tif", values)
    cells = layers_to_cells(GRID, read_raster(tmp_path / "pm25.tif")).set_index("cell_id")
    # (0,0): 60 + 7 * 30 = 270 over 8 valid pixels = 33.75
    assert cells.loc["R0000C0000", "value"] == pytest.approx(33.75)
    assert "R0001C0001" not in cells.index


def test_netcdf_lonlat_with_time(tmp_path):
    lon = np.arange(116.0, 117.0, 0.01) + 0.005
    lat = np.arange(39.5, 40.5, 0.01) + 0.005
    data = np.stack([np.full((lat.size, lon.size), 42.0), np.full((lat.size, lon.size), 55.0)])
    dataset = xr.Dataset({"PM25": (("time", "lat", "lon"), data)},
                         coords={"time": pd.to_datetime(["2024-01-03", "2024-01-04"]),
                                 "lat": lat, "lon": lon})
    dataset.to_netcdf(tmp_path / "pm25.nc")
    cells = layers_to_cells(GRID, read_raster(tmp_path / "pm25.nc"))
    by_day = cells.groupby("date")["value"].agg(["min", "max", "size"])
    assert by_day.loc[pd.Timestamp("2024-01-03")].tolist() == [42.0, 42.0, 4]
    assert by_day.loc[pd.Timestamp("2024-01-04")].tolist() == [55.0, 55.0, 4]


def test_raster_problems_are_reported(tmp_path):
    write_utm_tiff(tmp_path / "nodate.tif", np.ones((6, 6)), date=None)
    with pytest.raises(InputError, match="give --date YYYY-MM-DD"):
        layers_to_cells(GRID, read_raster(tmp_path / "nodate.tif"))
    assert len(layers_to_cells(GRID, read_raster(tmp_path / "nodate.tif"), date="2024-01-05")) == 4
    (tmp_path / "pm25.csv").write_text("x\n1\n")
    with pytest.raises(InputError, match=r"a raster file \(.tif, .tiff, .nc"):
        read_raster(tmp_path / "pm25.csv")
    with pytest.raises(InputError, match="file does not exist"):
        read_raster(tmp_path / "missing.tif")
    xr.Dataset({"a": (("lat", "lon"), np.ones((2, 2))), "b": (("lat", "lon"), np.ones((2, 2)))},
               coords={"lat": [39.5, 39.6], "lon": [116.0, 116.1]}).to_netcdf(tmp_path / "two.nc")
    with pytest.raises(InputError, match="data variables: a, b"):
        read_raster(tmp_path / "two.nc")


def test_ingest_satellite_replaces_same_day(tmp_path):
    workspace = Workspace(tmp_path / "ws", create=True)
    write_spec(workspace, GRID)
    write_utm_tiff(tmp_path / "a.tif", np.full((6, 6), 30.0))
    write_utm_tiff(tmp_path / "b.tif", np.full((6, 6), 40.0))
    assert ingest_file(workspace, tmp_path / "a.tif", "satellite").added == 4
    assert ingest_file(workspace, tmp_path / "b.tif", "satellite").added == 4
    stored = workspace.read("satellite")
    assert len(stored) == 4 and set(stored["value"]) == {40.0}
