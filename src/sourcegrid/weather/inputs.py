"""Hourly series with their meteorology, from a file or a workspace.

Every function here returns one long table, one row per unit and hour:
``unit`` (station, cell or city), ``time`` (UTC hour start), ``value`` (the
pollutant [µg/m³; CO mg/m³]) and the meteorological columns found
(:data:`sourcegrid.weather.features.MET_VARIABLES`), plus rejects
(source, row, column, value, reason, message) for values that could not be read.

* :func:`series_from_file` -- a wide or long observation file (CSV, CSV.GZ,
  Parquet, XLSX) whose rows may also carry wind and other met columns (the
  Beijing multi-site files: TEMP, PRES, DEWP, RAIN, wd, WSPM). Pollutants, RH and
  TEMP are read by :func:`sourcegrid.observations.readers.normalize_observations`,
  wind by :func:`~sourcegrid.observations.readers.normalize_wind`, pressure, dew
  point, rain and boundary-layer height here, each with its range check;
* :func:`series_from_workspace` -- the ``observations`` table (the pollutant, RH,
  TEMP) and the ``wind`` table. A station takes RH and TEMP from its own
  readings, else from the nearest site that has them, and wind from the nearest
  wind site (distance between lon/lat on a sphere of radius 6371 km);
* :func:`cell_series_from_workspace` -- ``cell_hours`` joined to the met of the
  nearest wind site to each cell centre (``cells`` table or the grid spec);
* :func:`city_series` -- the hourly mean over the units of a city (scalar met
  averaged, wind direction as the speed-weighted vector mean).

Readings finer than an hour (micro-stations) are averaged to the hour first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sourcegrid.errors import InputError, Problem, problems_frame
from sourcegrid.weather.features import (
    MET_ALIASES,
    MET_RANGES,
    MET_VARIABLES,
    relative_humidity,
)

__all__ = [
    "read_any_table",
    "series_from_file",
    "met_from_file",
    "series_from_workspace",
    "cell_series_from_workspace",
    "city_series",
    "nearest",
    "SERIES_KEY",
]

SERIES_KEY = ("unit", "time")
_EARTH_RADIUS_KM = 6371.0


def read_any_table(path: str | Path, sheet=None) -> pd.DataFrame:
    """:func:`sourcegrid.io.tables.read_table`, plus gzip-compressed CSV (``.csv.gz``)."""
    from sourcegrid.io.tables import ROW, SOURCE, read_table

    path = Path(path)
    if not path.name.lower().endswith(".csv.gz"):
        return read_table(path, sheet=sheet)
    if not path.exists():
        raise InputError([Problem(path.name, None, "", str(path), "file_not_found",
                                  "file does not exist")], f"cannot read {path.name}")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, compression="gzip",
                        encoding="utf-8-sig", skipinitialspace=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    for column in frame.columns:
        stripped = frame[column].str.strip()
        frame[column] = stripped.where(stripped.str.len() > 0, None)
    frame.insert(0, ROW, range(2, len(frame) + 2))
    frame.insert(1, SOURCE, path.name)
    return frame


def _find_column(frame: pd.DataFrame, names) -> str | None:
    lowered = {str(c).strip().lower(): c for c in frame.columns}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


def _extra_met(frame: pd.DataFrame, time: pd.Series, site: pd.Series, source: str):
    """PRES, DEWP, RAIN, BLH columns: numbers in range, with rejects."""
    from sourcegrid.io.tables import rejects_from_mask

    out = pd.DataFrame({"unit": site, "time": time})
    rejects = []
    for name in ("PRES", "DEWP", "RAIN", "BLH"):
        column = _find_column(frame, MET_ALIASES[name])
        if column is None:
            continue
        text = frame[column]
        empty = text.isna() | text.astype("string").str.upper().isin(["NA", "NAN", "N/A", "-"])
        number = pd.to_numeric(text.where(~empty), errors="coerce")
        low, high = MET_RANGES[name]
        bad_number = number.isna() & ~empty
        bad_range = number.notna() & ((number < low) | (number > high))
        if bad_number.any():
            rejects.append(rejects_from_mask(frame, bad_number, column, text, "not_a_number",
                                             f"expected a number [{name}]"))
        if bad_range.any():
            rejects.append(rejects_from_mask(frame, bad_range, column, text, "out_of_range",
                                             f"expected {name} from {low:g} to {high:g}"))
        out[name] = number.where(~bad_range).to_numpy(dtype=float)
    return out, rejects


def series_from_file(path: str | Path, pollutant: str = "PM2.5", *, kind: str = "reference",
                     units=None, sheet=None, frame: pd.DataFrame | None = None
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hourly series of a pollutant with the met the file carries, per site.

    Parameters
    ----------
    path : str or Path
        CSV, CSV.GZ, Parquet or XLSX; wide (one column per pollutant) or long, naive
        times are Beijing time; optional met columns (wind_speed/WSPM, wind_dir/wd,
        TEMP, RH, PRES, DEWP, RAIN, BLH).
    pollutant : str
        The pollutant to normalise.
    kind : str
        Site kind when the file has no site_kind column.
    units : mapping, optional
        Unit overrides, e.g. {'CO': 'ug/m3'}.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The series (unit, time, value, met columns) and the rejects.
    """
    from sourcegrid.io.tables import with_row_numbers
    from sourcegrid.observations import readers

    path = Path(path)
    if frame is None:
        frame = read_any_table(path, sheet=sheet)
    pollutant = readers.canonical_pollutant(pollutant) or pollutant
    if pollutant not in readers.POLLUTANTS:
        from sourcegrid.errors import NotFoundError

        raise NotFoundError("pollutant", pollutant, readers.POLLUTANTS)
    # wide files: read only the pollutant, RH and TEMP as readings
    keep = [c for c in frame.columns
            if readers.canonical_pollutant(c) not in (None, pollutant, "RH", "TEMP")]
    readings_frame = frame.drop(columns=keep)
    if "site_kind" in frame.columns:
        kind = None
    batch = readers.normalize_observations(readings_frame, site_kind=kind, units=units,
                                           source=path.name)
    rejects = [batch.rejects]
    readings = batch.readings
    readings = readings.loc[readings["pollutant"].isin([pollutant, "RH", "TEMP"])]
    if not (readings["pollutant"] == pollutant).any():
        raise InputError([Problem(path.name, None, pollutant, "", "no_values",
                                  f"no valid {pollutant} value in the file")],
                         f"cannot normalise {pollutant}")
    readings = readings.assign(time=readings["time"].dt.floor("h"))
    series = readings.pivot_table(index=["site_id", "time"], columns="pollutant",
                                  values="value", aggfunc="mean")
    series = series.rename(columns={pollutant: "value"}).reset_index()
    series = series.rename(columns={"site_id": "unit"})
    series.columns.name = None

    aliased = with_row_numbers(frame, path.name, readers._HEADER_ALIASES)
    time = readers.to_utc(aliased["time"]).dt.floor("h") if "time" in aliased else None
    site = aliased["site_id"].astype(str) if "site_id" in aliased else None
    if time is not None and site is not None:
        if {"wind_speed", "wind_dir"} <= set(aliased.columns):
            wind, wind_rejects = readers.normalize_wind(
                aliased[["_row", "_source", "time", "site_id", "wind_speed", "wind_dir"]],
                source=path.name)
            rejects.append(wind_rejects)
            wind = _hourly_wind(wind.rename(columns={"site_id": "unit"}))
            series = series.merge(wind, on=["unit", "time"], how="left")
        extra, extra_rejects = _extra_met(aliased, time, site, path.name)
        rejects += extra_rejects
        if extra.shape[1] > 2:
            extra = extra.dropna(subset=["time"]).groupby(["unit", "time"],
                                                          as_index=False).mean()
            series = series.merge(extra, on=["unit", "time"], how="left")
    series = _derive_humidity(series)
    columns = ["unit", "time", "value"] + [c for c in MET_VARIABLES if c in series.columns]
    series = series[columns].sort_values(["unit", "time"]).reset_index(drop=True)
    rejected = pd.concat([r for r in rejects if len(r)], ignore_index=True) if any(
        len(r) for r in rejects) else problems_frame([])
    return series, rejected


def met_from_file(path: str | Path, *, sheet=None) -> pd.DataFrame:
    """The meteorology of a file (unit, time and met columns), whatever pollutants it has.

    The file is read as by :func:`series_from_file`; a file with TEMP or RH uses them,
    wind and PRES/DEWP/RAIN/BLH columns are added. No met column is an InputError.
    """
    from sourcegrid.observations import readers

    path = Path(path)
    frame = read_any_table(path, sheet=sheet)
    names = {readers.canonical_pollutant(c) for c in frame.columns}
    anchor = "TEMP" if "TEMP" in names else ("RH" if "RH" in names else None)
    if anchor is None:
        raise InputError([Problem(path.name, 1, "TEMP", "", "no_meteorology",
                                  "a weather file needs a TEMP or RH column (besides wind, "
                                  "PRES, DEWP, RAIN)")], f"cannot read meteorology from {path.name}")
    series, _ = series_from_file(path, anchor, frame=frame)
    series = _derive_humidity(series.rename(columns={"value": anchor}))
    columns = ["unit", "time"] + [c for c in MET_VARIABLES if c in series.columns]
    met = series.loc[:, ~series.columns.duplicated()][columns]
    if len(columns) == 2 or met[columns[2:]].notna().sum().sum() == 0:
        raise InputError([Problem(path.name, 1, "", "", "no_meteorology",
                                  "expected meteorological columns (wind_speed/WSPM, "
                                  "wind_dir/wd, TEMP, RH, PRES, DEWP, RAIN)")],
                         f"cannot read meteorology from {path.name}")
    return met


def _derive_humidity(series: pd.DataFrame) -> pd.DataFrame:
    if "RH" not in series.columns and {"TEMP", "DEWP"} <= set(series.columns):
        series = series.assign(RH=relative_humidity(series["TEMP"], series["DEWP"]))
    return series


def _hourly_wind(wind: pd.DataFrame) -> pd.DataFrame:
    """Hourly wind per unit by :func:`sourcegrid.tracing.wind.mean_wind_by` (scalar mean
    speed, vector mean direction; a calm hour has no direction: NaN, and the models,
    which need complete met, leave it out)."""
    from sourcegrid.tracing.wind import mean_wind_by

    keys = pd.DataFrame({"unit": wind["unit"].to_numpy(),
                         "time": pd.to_datetime(wind["time"], utc=True).dt.floor("h").to_numpy()})
    keys["time"] = pd.to_datetime(keys["time"], utc=True)
    means = mean_wind_by(keys, wind["wind_speed"], wind["wind_dir"])
    return means[["unit", "time", "wind_speed", "wind_dir"]]


def nearest(lon, lat, site_lon, site_lat) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest site to each point and its distance [km] (great circle)."""
    lon1, lat1 = np.deg2rad(np.asarray(lon, float))[:, None], np.deg2rad(
        np.asarray(lat, float))[:, None]
    lon2, lat2 = np.deg2rad(np.asarray(site_lon, float))[None, :], np.deg2rad(
        np.asarray(site_lat, float))[None, :]
    a = (np.sin((lat2 - lat1) / 2) ** 2
         + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2)
    distance = 2 * _EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
    distance = np.where(np.isfinite(distance), distance, np.inf)
    index = distance.argmin(axis=1)
    return index, distance[np.arange(len(index)), index]


def _window(table, start, end):
    from sourcegrid.grid.hotspots import _time_filter, to_utc

    low = to_utc(start) if start is not None else pd.Timestamp("1900-01-01", tz="UTC")
    high = to_utc(end) if end is not None else pd.Timestamp("2200-01-01", tz="UTC")
    return _time_filter(table, low, high)


def _site_positions(frame: pd.DataFrame, key: str = "site_id") -> pd.DataFrame:
    return frame.groupby(key, as_index=False).agg(lon=("lon", "median"), lat=("lat", "median"))


def _met_sites(workspace, start, end) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hourly met per met site (wind sites, with RH/TEMP of the nearest site that has them).

    Returns (met: unit, time, wind_speed, wind_dir[, RH, TEMP]; positions: unit, lon, lat).
    """
    from sourcegrid.observations.ingest import OBSERVATIONS_TABLE, WIND_TABLE

    if not workspace.has(WIND_TABLE):
        raise InputError([Problem(WIND_TABLE, None, "", "", "missing_table",
                                  "the workspace has no wind table; ingest wind with "
                                  "sourcegrid observe ingest FILE --kind wind")],
                         "cannot normalise for the weather")
    wind = _window(workspace.table(WIND_TABLE), start, end).to_pandas()
    if wind.empty:
        raise InputError([Problem(WIND_TABLE, None, "time", f"{start} to {end}", "no_values",
                                  "no wind readings in the period")],
                         "cannot normalise for the weather")
    positions = _site_positions(wind).rename(columns={"site_id": "unit"})
    met = _hourly_wind(wind.rename(columns={"site_id": "unit"}))
    if workspace.has(OBSERVATIONS_TABLE):
        table = workspace.table(OBSERVATIONS_TABLE)
        table = _window(table.filter(table.pollutant.isin(["RH", "TEMP"])), start, end)
        thermo = table.to_pandas()
        if len(thermo):
            thermo["time"] = pd.to_datetime(thermo["time"], utc=True).dt.floor("h")
            sites = _site_positions(thermo)
            hourly = thermo.pivot_table(index=["site_id", "time"], columns="pollutant",
                                        values="value", aggfunc="mean").reset_index()
            hourly.columns.name = None
            index, _ = nearest(positions["lon"], positions["lat"], sites["lon"], sites["lat"])
            link = pd.DataFrame({"unit": positions["unit"],
                                 "site_id": sites["site_id"].to_numpy()[index]})
            joined = link.merge(hourly, on="site_id").drop(columns="site_id")
            met = met.merge(joined, on=["unit", "time"], how="left")
    return met, positions


def series_from_workspace(workspace, pollutant: str = "PM2.5", start=None, end=None, *,
                          site_kind: str | None = "reference") -> pd.DataFrame:
    """Hourly series of each station in the workspace with its meteorology.

    Parameters
    ----------
    workspace : sourcegrid.store.Workspace
    pollutant : str
    start, end : str or Timestamp, optional
        Period [start, end); naive = Beijing time.
    site_kind : str, optional
        Only stations of this kind (default reference; None = all).

    Returns
    -------
    pandas.DataFrame
        unit (site_id), time, value, lon, lat and the met columns.
    """
    from sourcegrid.observations.ingest import OBSERVATIONS_TABLE

    if not workspace.has(OBSERVATIONS_TABLE):
        raise InputError([Problem(OBSERVATIONS_TABLE, None, "", "", "missing_table",
                                  "the workspace has no observations; ingest readings first")],
                         "cannot normalise for the weather")
    table = workspace.table(OBSERVATIONS_TABLE)
    table = table.filter(table.pollutant == pollutant)
    if site_kind is not None:
        table = table.filter(table.site_kind == site_kind)
    readings = _window(table, start, end).to_pandas()
    if readings.empty:
        raise InputError([Problem(OBSERVATIONS_TABLE, None, "pollutant", pollutant,
                                  "no_values", f"no {pollutant} readings"
                                  + (f" of {site_kind} sites" if site_kind else "")
                                  + " in the period")], "cannot normalise for the weather")
    readings["time"] = pd.to_datetime(readings["time"], utc=True).dt.floor("h")
    stations = _site_positions(readings)
    hourly = readings.groupby(["site_id", "time"], as_index=False)["value"].mean()
    met, positions = _met_sites(workspace, start, end)
    index, distance = nearest(stations["lon"], stations["lat"], positions["lon"],
                              positions["lat"])
    link = pd.DataFrame({"site_id": stations["site_id"],
                         "met_site": positions["unit"].to_numpy()[index],
                         "met_distance_km": distance})
    series = hourly.merge(link, on="site_id").merge(
        met.rename(columns={"unit": "met_site"}), on=["met_site", "time"], how="left")
    series = series.merge(stations, on="site_id").rename(columns={"site_id": "unit"})
    columns = ["unit", "time", "value", "lon", "lat", "met_site", "met_distance_km"] + [
        c for c in MET_VARIABLES if c in series.columns]
    return series[columns].sort_values(["unit", "time"]).reset_index(drop=True)


def cell_series_from_workspace(workspace, pollutant: str = "PM2.5", start=None, end=None
                               ) -> pd.DataFrame:
    """``cell_hours`` of a pollutant with the met of the nearest wind site to each cell.

    Returns
    -------
    pandas.DataFrame
        unit (cell_id), row, col, time, value, met_site and the met columns.
    """
    if not workspace.has("cell_hours"):
        raise InputError([Problem("cell_hours", None, "", "", "missing_table",
                                  "the workspace has no cell_hours; run sourcegrid grid fuse")],
                         "cannot normalise cells for the weather")
    table = workspace.table("cell_hours")
    table = _window(table.filter(table.pollutant == pollutant), start, end)
    hours = table.select("cell_id", "row", "col", "time", "value").to_pandas()
    if hours.empty:
        raise InputError([Problem("cell_hours", None, "pollutant", pollutant, "no_values",
                                  f"no {pollutant} cell-hours in the period")],
                         "cannot normalise cells for the weather")
    hours["time"] = pd.to_datetime(hours["time"], utc=True)
    cells = hours[["cell_id", "row", "col"]].drop_duplicates("cell_id")
    if workspace.has("cells"):
        centres = workspace.read("cells")
    else:
        from sourcegrid.grid.spec import read_spec

        centres = read_spec(workspace).cells()
    cells = cells.merge(centres[["cell_id", "lon", "lat"]].drop_duplicates("cell_id"),
                        on="cell_id", how="left")
    met, positions = _met_sites(workspace, start, end)
    index, _ = nearest(cells["lon"], cells["lat"], positions["lon"], positions["lat"])
    cells["met_site"] = positions["unit"].to_numpy()[index]
    series = hours.merge(cells[["cell_id", "met_site"]], on="cell_id").merge(
        met.rename(columns={"unit": "met_site"}), on=["met_site", "time"], how="left")
    series = series.rename(columns={"cell_id": "unit"})
    columns = ["unit", "row", "col", "time", "value", "met_site"] + [
        c for c in MET_VARIABLES if c in series.columns]
    return series[columns].sort_values(["unit", "time"]).reset_index(drop=True)


def city_series(series: pd.DataFrame, name: str = "city") -> pd.DataFrame:
    """The hourly mean over all units (one city), met averaged (wind as a vector mean).

    Parameters
    ----------
    series : pandas.DataFrame
        unit, time, value and met columns.
    name : str
        Unit name of the result.
    """
    met = [c for c in MET_VARIABLES if c in series.columns]
    scalar = [c for c in met if c != "wind_dir"]
    grouped = series.groupby("time")
    out = grouped[["value", *scalar]].mean()
    out["units"] = grouped["value"].count()
    if "wind_dir" in met and "wind_speed" in met:
        from sourcegrid.tracing.wind import mean_wind_by

        means = mean_wind_by(series["time"], series["wind_speed"], series["wind_dir"])
        out["wind_dir"] = means.set_index("key")["wind_dir"].reindex(out.index)
    out = out.reset_index()
    out.insert(0, "unit", name)
    return out[["unit", "time", "value", "units", *met]]

