"""Satellite PM2.5 rasters to per-cell daily values (zonal means).

A raster (GeoTIFF through rasterio; NetCDF through xarray, or through GDAL's
netCDF driver when xarray has no engine for the file) is resampled onto the grid
with area-weighted averaging (``rasterio.warp.reproject`` with
``Resampling.average``): each cell gets the mean of the raster pixels covering it,
weighted by overlap; no-data pixels do not count. A cell no valid pixel covers gets
no value.

The result is stored in the table ``satellite``: cell_id, row, col, date (the day
of the product, Beijing time: :mod:`sourcegrid.timebase`), pollutant, value [µg/m³], source.

References
----------
GDAL warp ``average`` resampling (rasterio.enums.Resampling.average).
Wei, J. et al. (2021). Reconstructing 1-km-resolution high-quality PM2.5 data records
from 2000 to 2018 in China. Remote Sens. Environ. 252, 112136 (ChinaHighPM2.5, the
usual daily product: NetCDF/GeoTIFF in µg/m³ on a lon/lat grid).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sourcegrid.errors import InputError, Problem
from sourcegrid.observations.results import IngestResult

__all__ = ["SATELLITE_TABLE", "SATELLITE_COLUMNS", "RasterLayer", "read_raster", "zonal_mean",
           "pixel_problems", "layers_to_cells", "ingest_raster"]

SATELLITE_TABLE = "satellite"
SATELLITE_COLUMNS = ["cell_id", "row", "col", "date", "pollutant", "value", "source"]
RASTER_SUFFIXES = (".tif", ".tiff", ".nc", ".nc4", ".netcdf")


@dataclass
class RasterLayer:
    """One day of a raster: values, georeference and day."""

    values: np.ndarray  # 2-D, row 0 north (flipped on reading when the file is south-up)
    transform: tuple[float, float, float, float, float, float]
    crs: str
    date: pd.Timestamp | None
    nodata: float | None = None


def _problem(path: Path, message: str, reason: str, value: str = "") -> InputError:
    return InputError([Problem(str(path.name), None, "", value, reason, message)],
                      f"cannot read the raster {path.name}")


def _read_geotiff(path: Path) -> list[RasterLayer]:
    import rasterio

    layers = []
    with rasterio.open(path) as source:
        crs = source.crs.to_string() if source.crs else "EPSG:4326"
        tag_date = source.tags().get("date") or source.tags().get("DATE")
        for band in range(1, source.count + 1):
            values = source.read(band).astype(float)
            description = source.descriptions[band - 1] if source.descriptions else None
            day = description or tag_date
            layers.append(RasterLayer(values, tuple(source.transform)[:6], crs,
                                      pd.Timestamp(day) if _is_date(day) else None,
                                      source.nodata))
    return layers


def _is_date(text) -> bool:
    if not text:
        return False
    try:
        pd.Timestamp(text)
    except (ValueError, TypeError):
        return False
    return True


def _coordinate(dataset, names):
    for name in names:
        if name in dataset.coords or name in dataset.dims:
            return name
    return None


def _read_netcdf(path: Path, variable: str | None) -> list[RasterLayer]:
    import xarray as xr

    try:
        dataset = xr.open_dataset(path)
    except (ValueError, OSError, TypeError):
        return _read_netcdf_gdal(path, variable)
    with dataset:
        names = list(dataset.data_vars)
        if variable is None:
            candidates = [n for n in names if dataset[n].ndim >= 2]
            if len(candidates) != 1:
                raise _problem(path, f"name the variable (--variable); data variables: "
                                     f"{', '.join(names)}", "ambiguous_variable")
            variable = candidates[0]
        if variable not in dataset:
            raise _problem(path, f"variable {variable!r} not in the file; data variables: "
                                 f"{', '.join(names)}", "unknown_variable", variable)
        data = dataset[variable]
        lon_name = _coordinate(data, ("lon", "longitude", "x"))
        lat_name = _coordinate(data, ("lat", "latitude", "y"))
        if lon_name is None or lat_name is None:
            raise _problem(path, "expected lon/lat coordinates (lon, lat or longitude, latitude)",
                           "no_coordinates")
        time_name = _coordinate(data, ("time", "date", "day"))
        lon = np.asarray(data[lon_name].values, dtype=float)
        lat = np.asarray(data[lat_name].values, dtype=float)
        if len(lon) < 2 or len(lat) < 2:
            raise _problem(path, "a lon/lat grid of at least 2 × 2 pixels", "too_small")
        steps = (np.diff(lon), np.diff(lat))
        if not all(np.allclose(s, s[0], rtol=1e-4) for s in steps):
            raise _problem(path, "a regular lon/lat grid (equal spacing)", "irregular_grid")
        dx, dy = float(steps[0][0]), float(steps[1][0])
        order = [d for d in (time_name, lat_name, lon_name) if d is not None]
        values = np.asarray(data.transpose(*order).values, dtype=float)
        if time_name is None:
            values = values[None]
            times = [None]
        else:
            times = [pd.Timestamp(t) for t in np.asarray(data[time_name].values)]
        if dy > 0:  # north up
            values = values[:, ::-1, :]
            dy = -dy
            top = lat.max() + abs(dy) / 2
        else:
            top = lat[0] + abs(dy) / 2
        transform = (dx, 0.0, float(lon.min() - dx / 2), 0.0, dy, float(top))
        fill = data.attrs.get("_FillValue", data.encoding.get("_FillValue"))
        return [RasterLayer(values[i], transform, "EPSG:4326", times[i],
                            None if fill is None else float(fill)) for i in range(len(times))]


def _read_netcdf_gdal(path: Path, variable: str | None) -> list[RasterLayer]:
    import rasterio

    name = f'NETCDF:"{path}":{variable}' if variable else str(path)
    try:
        return _read_rasterio(name)
    except rasterio.errors.RasterioIOError as error:
        raise _problem(path, f"a NetCDF file GDAL or xarray can read ({error})",
                       "unreadable_raster") from None


def _read_rasterio(name: str) -> list[RasterLayer]:
    import rasterio

    layers = []
    with rasterio.open(name) as source:
        crs = source.crs.to_string() if source.crs else "EPSG:4326"
        for band in range(1, source.count + 1):
            layers.append(RasterLayer(source.read(band).astype(float),
                                      tuple(source.transform)[:6], crs, None, source.nodata))
    return layers


def read_raster(path: str | Path, *, variable: str | None = None) -> list[RasterLayer]:
    """Layers (one per band or time step) of a GeoTIFF or NetCDF raster."""
    path = Path(path)
    if not path.exists():
        raise _problem(path, "file does not exist", "file_not_found", str(path))
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        return _read_geotiff(path)
    if suffix in (".nc", ".nc4", ".netcdf"):
        return _read_netcdf(path, variable)
    raise _problem(path, f"a raster file ({', '.join(RASTER_SUFFIXES)})", "bad_suffix", suffix)


def zonal_mean(spec, layer: RasterLayer) -> np.ndarray:
    """Area-weighted mean of a raster layer over each grid cell (nrows × ncols, NaN = none).

    Parameters
    ----------
    spec : GridSpec
    layer : RasterLayer
        Values [µg/m³] with their affine transform and CRS.
    """
    from affine import Affine
    from rasterio.warp import Resampling, reproject

    source = np.asarray(layer.values, dtype=np.float64).copy()
    if layer.nodata is not None and np.isfinite(layer.nodata):
        source[source == layer.nodata] = np.nan
    destination = np.full(spec.shape, np.nan, dtype=np.float64)
    reproject(source, destination, src_transform=Affine(*layer.transform), src_crs=layer.crs,
              src_nodata=np.nan, dst_transform=Affine(*spec.transform), dst_crs=spec.crs,
              dst_nodata=np.nan, resampling=Resampling.average)
    return destination


def pixel_problems(layers: list[RasterLayer], *, pollutant: str = "PM2.5",
                   source: str = "") -> tuple[list[RasterLayer], list[Problem]]:
    """Mask pixels outside the pollutant's physical range; one problem per layer and reason.

    Pixels that are not finite, negative or above the upper bound of
    :data:`sourcegrid.observations.readers.PHYSICAL_RANGES` (PM2.5 0-3000 µg/m³) are
    faults (fill values such as 1e30 that the file does not declare as no-data, or
    retrieval artefacts): they are treated as no-data, so no cell mean includes them,
    and reported with their count and an example value.
    """
    from sourcegrid.observations.readers import PHYSICAL_RANGES

    low, high = PHYSICAL_RANGES.get(pollutant, (0.0, np.inf))
    masked, problems = [], []
    for number, layer in enumerate(layers, start=1):
        values = np.asarray(layer.values, dtype=np.float64).copy()
        if layer.nodata is not None and np.isfinite(layer.nodata):
            values[values == layer.nodata] = np.nan
        day = "" if layer.date is None else f" ({pd.Timestamp(layer.date):%Y-%m-%d})"
        finite = np.isfinite(values)
        bad_value = np.isinf(values)
        outside = finite & ((values < low) | (values > high))
        for mask, reason, what in ((bad_value, "not_a_number", "not finite"),
                                   (outside & (values < 0), "negative_value", "negative"),
                                   (outside & (values >= 0), "out_of_range",
                                    f"above {high:g} µg/m³")):
            if mask.any():
                problems.append(Problem(
                    source, None, f"layer {number}{day}", f"{values[mask].flat[0]:g}", reason,
                    f"{int(mask.sum()):,} pixel(s) {what}: expected {pollutant} in "
                    f"{low:g}-{high:g} µg/m³; treated as no-data (not in any cell mean)"))
        values[bad_value | outside] = np.nan
        masked.append(RasterLayer(values, layer.transform, layer.crs, layer.date, None))
    return masked, problems


def layers_to_cells(spec, layers: list[RasterLayer], *, pollutant: str = "PM2.5",
                    date: str | None = None, source: str = "") -> pd.DataFrame:
    """Per-cell daily values of raster layers (:data:`SATELLITE_COLUMNS`).

    Pixels outside the physical range are left out first (:func:`pixel_problems`).
    """
    layers, _ = pixel_problems(layers, pollutant=pollutant, source=source)
    pieces = []
    for layer in layers:
        day = layer.date if layer.date is not None else (pd.Timestamp(date) if date else None)
        if day is None:
            raise InputError([Problem(source, None, "date", "", "missing_date",
                                      "the raster has no date: give --date YYYY-MM-DD")],
                             "the satellite day is unknown")
        frame = spec.from_array(zonal_mean(spec, layer))
        frame["date"] = pd.Timestamp(day).normalize().tz_localize(None).date()
        frame["pollutant"] = pollutant
        frame["source"] = source
        pieces.append(frame)
    out = pd.concat(pieces, ignore_index=True)
    out["date"] = pd.to_datetime(out["date"]).astype("datetime64[s]")
    return out[SATELLITE_COLUMNS]


def ingest_raster(workspace, spec, path: str | Path, *, date: str | None = None,
                  variable: str | None = None, pollutant: str = "PM2.5"):
    """Store a raster's per-cell daily means in ``satellite`` (replacing the same days)."""
    from sourcegrid.errors import problems_frame

    path = Path(path)
    layers, problems = pixel_problems(read_raster(path, variable=variable), pollutant=pollutant,
                                      source=path.name)
    cells = layers_to_cells(spec, layers, pollutant=pollutant, date=date, source=path.name)
    cells = cells.loc[cells["value"].notna()]
    added = len(cells)
    if workspace.has(SATELLITE_TABLE):
        stored = workspace.read(SATELLITE_TABLE)
        stored["date"] = pd.to_datetime(stored["date"]).astype("datetime64[s]")
        same = stored.set_index(["date", "pollutant"]).index.isin(
            cells.set_index(["date", "pollutant"]).index.unique())
        cells = pd.concat([stored.loc[~same], cells], ignore_index=True)
    workspace.write(SATELLITE_TABLE, cells)
    return IngestResult(SATELLITE_TABLE, read=added, added=added,
                        rejects=problems_frame(problems))
