"""The sources table: where each source is and how it releases (kind, location, stack).

One row per source (``source_id`` = the accounting ``enterprise_id``):

==================  ======================================================================
source_id           id, the enterprise_id of the activity table
name                text
kind                point | line | area
lon, lat            WGS 84 [degree] (points; a representative point of a line or area)
geometry            GeoJSON text in lon/lat: LineString/MultiLineString for a line,
                    Polygon/MultiPolygon for an area, empty (or a Point) for a point
stack_height        [m] (release height of a line or area source)
stack_diameter      [m]
exit_velocity       [m/s]
exit_temperature    [K]
industry_code       GB/T 4754-2017 class code (4 digits) or empty
sector              industry | boiler | traffic | dust | other (filled from the industry
                    code and the kind when empty)
defaults_used       which stack parameters were defaulted, from which table
==================  ======================================================================

:func:`validate_sources` reads a table (file or DataFrame), checks every row and
reports *every* problem at once (row, column, value, reason, expected), loading
nothing when any row is bad. :func:`apply_stack_defaults` fills missing stack
parameters of point sources from a named default table by industry and records
what it used.

Plausible ranges (reason ``implausible_value``): stack height 1–400 m (the tallest
Chinese stacks are about 270 m), diameter 0.05–15 m, exit velocity 0.1–50 m/s,
exit temperature 250–1,500 K (a value below 250 looks like °C: the message says so).

References
----------
GB 13271-2014 锅炉大气污染物排放标准 §4.5 (minimum boiler stack heights, the 2001
edition's Table 4 by capacity); GB 16297-1996 大气污染物综合排放标准 §7.1 (process
stacks not lower than 15 m).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from sourcegrid.errors import InputError, NotFoundError, Problem

__all__ = ["SOURCE_COLUMNS", "STACK_COLUMNS", "KINDS", "SECTORS", "DEFAULT_STACK_PARAMETERS",
           "STACK_RANGES", "validate_sources", "apply_stack_defaults", "default_sector",
           "SOURCE_ALIASES"]

SOURCE_COLUMNS = ["source_id", "name", "kind", "lon", "lat", "geometry", "stack_height",
                  "stack_diameter", "exit_velocity", "exit_temperature", "industry_code",
                  "sector", "defaults_used"]
STACK_COLUMNS = ["stack_height", "stack_diameter", "exit_velocity", "exit_temperature"]
KINDS = ("point", "line", "area")
SECTORS = ("industry", "boiler", "traffic", "dust", "other")

#: Header aliases (Chinese / alternatives) of the sources table.
SOURCE_ALIASES = {
    "source_id": "source_id", "enterprise_id": "source_id", "企业编号": "source_id",
    "源编号": "source_id", "name": "name", "enterprise_name": "name", "企业名称": "name",
    "名称": "name", "kind": "kind", "源类型": "kind", "lon": "lon", "经度": "lon",
    "longitude": "lon", "lat": "lat", "纬度": "lat", "latitude": "lat", "geometry": "geometry",
    "几何": "geometry", "stack_height": "stack_height", "排气筒高度": "stack_height",
    "烟囱高度": "stack_height", "stack_diameter": "stack_diameter", "排气筒内径": "stack_diameter",
    "烟囱内径": "stack_diameter", "exit_velocity": "exit_velocity", "烟气流速": "exit_velocity",
    "出口流速": "exit_velocity", "exit_temperature": "exit_temperature",
    "烟气温度": "exit_temperature", "出口温度": "exit_temperature",
    "industry_code": "industry_code", "行业代码": "industry_code", "sector": "sector",
    "部门": "sector", "defaults_used": "defaults_used",
}

#: Plausible ranges (low, high) of the stack parameters [m, m, m/s, K].
STACK_RANGES = {"stack_height": (1.0, 400.0), "stack_diameter": (0.05, 15.0),
                "exit_velocity": (0.1, 50.0), "exit_temperature": (250.0, 1500.0)}

#: Default stack parameters by industry (GB/T 4754 code prefix, longest match wins; '*' is
#: any), for point sources that did not report them.
#:
#: ``sourcegrid_2024``: heights are the minimum heights the Chinese standards require
#: (GB 13271-2001 Table 4: a coal boiler of 7–14 MW needs ≥ 40 m, ≥ 14 MW ≥ 45 m; GB
#: 16297-1996 §7.1: process stacks ≥ 15 m), i.e. conservative (low) heights;
#: diameters, exit velocities and temperatures are sourcegrid's own typical values
#: (a boiler flue after dust removal about 140 °C; coating, welding and cutting exhaust
#: near ambient) — replace them with a bureau's survey values where known.
DEFAULT_STACK_PARAMETERS = {
    "sourcegrid_2024": {
        "4411": {"stack_height": 45.0, "stack_diameter": 1.5, "exit_velocity": 12.0,
                 "exit_temperature": 413.0},
        "44": {"stack_height": 45.0, "stack_diameter": 1.5, "exit_velocity": 12.0,
               "exit_temperature": 413.0},
        "17": {"stack_height": 20.0, "stack_diameter": 0.8, "exit_velocity": 8.0,
               "exit_temperature": 333.0},
        "33": {"stack_height": 15.0, "stack_diameter": 0.6, "exit_velocity": 10.0,
               "exit_temperature": 298.0},
        "36": {"stack_height": 15.0, "stack_diameter": 0.6, "exit_velocity": 10.0,
               "exit_temperature": 298.0},
        "39": {"stack_height": 15.0, "stack_diameter": 0.5, "exit_velocity": 10.0,
               "exit_temperature": 298.0},
        "*": {"stack_height": 15.0, "stack_diameter": 0.5, "exit_velocity": 8.0,
              "exit_temperature": 300.0},
    },
}
#: Release height [m] of line and area sources that give none (road traffic, dust).
DEFAULT_RELEASE_HEIGHT = {"line": 1.0, "area": 2.0}


def default_sector(industry_code, kind) -> np.ndarray:
    """Sector from the industry code and kind: 44xx → boiler, line → traffic, area → dust."""
    code = pd.Series(industry_code, dtype=object).fillna("").astype(str).to_numpy()
    kind = pd.Series(kind, dtype=object).fillna("").astype(str).to_numpy()
    return np.where(np.char.startswith(code.astype(str), "44"), "boiler",
                    np.where(kind == "line", "traffic",
                             np.where(kind == "area", "dust",
                                      np.where(code != "", "industry", "other"))))


def _text(series: pd.Series) -> pd.Series:
    out = series.astype(object).where(series.notna(), "")
    return out.map(lambda v: "" if v is None else str(v).strip()).str.replace(r"\.0$", "",
                                                                            regex=True)


def _geometry_type(text: str) -> str:
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        return "invalid"
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = data.get("geometry") or {}
    return data.get("type", "invalid") if isinstance(data, dict) else "invalid"


def validate_sources(table: pd.DataFrame | str | Path, source: str | None = None,
                     *, table_name: str = "sourcegrid_2024") -> pd.DataFrame:
    """Read and check a sources table; every problem of every row at once.

    Parameters
    ----------
    table : DataFrame or path
        The sources table (CSV, XLSX or Parquet), English or Chinese headers.
    source : str, optional
        Name used in the problems (default the file name or 'sources').
    table_name : str
        Default stack parameter table (:data:`DEFAULT_STACK_PARAMETERS`).

    Returns
    -------
    DataFrame
        The canonical columns (:data:`SOURCE_COLUMNS`, numbers as floats, defaults
        applied and recorded in ``defaults_used``), plus unknown columns kept.

    Raises
    ------
    InputError
        With every problem (row, column, value, reason, expected); nothing is returned.
    """
    if table_name not in DEFAULT_STACK_PARAMETERS:
        raise NotFoundError("default stack parameter table", table_name, DEFAULT_STACK_PARAMETERS)
    frame, rows, source = read_numbered(table, source, "sources", SOURCE_ALIASES)
    problems: list[Problem] = []
    if "source_id" not in frame:
        raise InputError([Problem(source, None, "source_id", "", "missing_column",
                                  "a source_id (= enterprise_id) column")],
                         f"{source}: not a sources table")
    if len(frame) == 0:
        raise InputError([Problem(source, None, "", "", "empty_file", "at least one source")],
                         f"{source}: no sources")
    for column in SOURCE_COLUMNS:
        if column not in frame:
            frame[column] = np.nan if column in (*STACK_COLUMNS, "lon", "lat") else ""
    for column in ("source_id", "name", "kind", "geometry", "industry_code", "sector",
                   "defaults_used"):
        frame[column] = _text(frame[column])
    frame["kind"] = frame["kind"].str.lower().replace("", "point")
    numbers = {}
    for column in ("lon", "lat", *STACK_COLUMNS):
        raw = frame[column]
        text = _text(raw)
        value = pd.to_numeric(text.where(text != "", None), errors="coerce")
        bad = (text != "") & value.isna()
        for i in np.flatnonzero(bad.to_numpy()):
            problems.append(Problem(source, int(rows[i]), column, text.iat[i], "not_a_number",
                                    f"a number for {column}"))
        numbers[column] = value.to_numpy(dtype=float)
    ids = frame["source_id"]
    for i in np.flatnonzero((ids == "").to_numpy()):
        problems.append(Problem(source, int(rows[i]), "source_id", "", "missing_value",
                                "a source id (the enterprise_id)"))
    duplicated = ids.duplicated(keep="first") & (ids != "")
    for i in np.flatnonzero(duplicated.to_numpy()):
        problems.append(Problem(source, int(rows[i]), "source_id", ids.iat[i], "duplicate_row",
                                "each source_id once"))
    kind = frame["kind"]
    for i in np.flatnonzero(~kind.isin(KINDS).to_numpy()):
        problems.append(Problem(source, int(rows[i]), "kind", kind.iat[i], "bad_kind",
                                "point, line or area"))
    lon, lat = numbers["lon"], numbers["lat"]
    geometry_type = frame["geometry"].map(lambda t: _geometry_type(t) if t else "")
    for i in np.flatnonzero(((lon < -180) | (lon > 180)) | ((lat < -90) | (lat > 90))):
        column = "lon" if not -180 <= lon[i] <= 180 else "lat"
        problems.append(Problem(source, int(rows[i]), column, str(frame[column].iat[i]),
                                "bad_coordinate", "lon in [-180, 180] and lat in [-90, 90] "
                                "(WGS 84 degrees)"))
    expected = {"point": ("", "Point"), "line": ("LineString", "MultiLineString"),
                "area": ("Polygon", "MultiPolygon")}
    geometry_text = frame["geometry"]
    known_kind = kind.isin(KINDS).to_numpy()
    gtype = geometry_type.to_numpy()
    invalid = known_kind & (gtype == "invalid")
    for i in np.flatnonzero(invalid):
        problems.append(Problem(source, int(rows[i]), "geometry", geometry_text.iat[i][:60],
                                "bad_geometry", "GeoJSON text (a geometry or a Feature)"))
    point = known_kind & (kind == "point").to_numpy() & ~invalid
    no_place = point & (gtype == "") & (np.isnan(lon) | np.isnan(lat))
    for i in np.flatnonzero(no_place):
        problems.append(Problem(source, int(rows[i]), "lon", "", "missing_coordinate",
                                "lon and lat, or a GeoJSON Point geometry, for a point"))
    for name, allowed in expected.items():
        wrong = (known_kind & (kind == name).to_numpy() & ~invalid & ~no_place
                 & ~np.isin(gtype, allowed))
        for i in np.flatnonzero(wrong):
            problems.append(Problem(source, int(rows[i]), "geometry", gtype[i] or "",
                                    "geometry_kind_mismatch",
                                    f"a {' or '.join(t for t in allowed if t)} geometry "
                                    f"for a {name} source"))
    for column, (low, high) in STACK_RANGES.items():
        value = numbers[column]
        with np.errstate(invalid="ignore"):
            bad = ~np.isnan(value) & ((value < low) | (value > high))
        for i in np.flatnonzero(bad):
            hint = ""
            if column == "exit_temperature" and value[i] < low:
                hint = f" (it looks like °C: {value[i]:g} °C is {value[i] + 273.15:g} K)"
            problems.append(Problem(source, int(rows[i]), column, f"{value[i]:g}",
                                    "implausible_value" if value[i] > 0 else "not_positive",
                                    f"{column} between {low:g} and {high:g} "
                                    f"{'K' if column == 'exit_temperature' else 'm' if 'velocity' not in column else 'm/s'}"
                                    f"{hint}"))
    sector = frame["sector"].str.lower()
    for i in np.flatnonzero(~sector.isin(("", *SECTORS)).to_numpy()):
        problems.append(Problem(source, int(rows[i]), "sector", frame["sector"].iat[i],
                                "bad_sector", "industry, boiler, traffic, dust or other"))
    code = frame["industry_code"]
    for i in np.flatnonzero(((code != "") & ~code.str.fullmatch(r"\d{4}")).to_numpy()):
        problems.append(Problem(source, int(rows[i]), "industry_code", code.iat[i],
                                "bad_industry_code", "a 4-digit GB/T 4754-2017 class code"))
    if problems:
        raise InputError(problems, f"{source}: {len(problems)} problem(s) in the sources table")
    for column in ("lon", "lat", *STACK_COLUMNS):
        frame[column] = numbers[column]
    # points given only as GeoJSON Points: take lon/lat from the geometry
    point_geometry = (kind == "point") & (geometry_type == "Point")
    if point_geometry.any():
        coordinates = frame.loc[point_geometry, "geometry"].map(
            lambda t: (json.loads(t).get("geometry") or json.loads(t))["coordinates"]
            if json.loads(t).get("type") == "Feature" else json.loads(t)["coordinates"])
        fill = point_geometry & frame["lon"].isna()
        frame.loc[fill, "lon"] = [c[0] for c in coordinates[fill[point_geometry]]]
        frame.loc[fill, "lat"] = [c[1] for c in coordinates[fill[point_geometry]]]
    frame["sector"] = np.where(sector == "", default_sector(code, kind), sector)
    # lines and areas without lon/lat: a representative point of the geometry
    missing_point = frame["lon"].isna() & kind.isin(["line", "area"])
    if missing_point.any():
        import shapely

        shapes = shapely.from_geojson(frame.loc[missing_point, "geometry"].to_numpy())
        centre = shapely.point_on_surface(shapes)
        frame.loc[missing_point, "lon"] = shapely.get_x(centre)
        frame.loc[missing_point, "lat"] = shapely.get_y(centre)
    frame = apply_stack_defaults(frame, table_name)
    extra = [c for c in frame.columns if c not in SOURCE_COLUMNS]
    return frame[SOURCE_COLUMNS + extra].reset_index(drop=True)


def apply_stack_defaults(sources: pd.DataFrame, table_name: str = "sourcegrid_2024"
                         ) -> pd.DataFrame:
    """Fill missing stack parameters of point sources; say which were filled, from what.

    The industry code's longest matching prefix in the table gives the defaults
    ('4411' before '44' before '*'). Line and area sources get a release height of
    1 m (line) or 2 m (area) when they give none; their other stack parameters stay
    empty. ``defaults_used`` lists e.g. ``stack_height=15 (sourcegrid_2024:33)``.

    Raises
    ------
    NotFoundError
        For an unknown table name.
    """
    if table_name not in DEFAULT_STACK_PARAMETERS:
        raise NotFoundError("default stack parameter table", table_name, DEFAULT_STACK_PARAMETERS)
    table = DEFAULT_STACK_PARAMETERS[table_name]
    frame = sources.copy()
    if "defaults_used" not in frame:
        frame["defaults_used"] = ""
    code = frame["industry_code"].fillna("").astype(str)
    key = pd.Series("*", index=frame.index, dtype=object)
    for prefix in sorted((p for p in table if p != "*"), key=len):   # longer prefixes win
        key = key.where(~code.str.startswith(prefix), prefix)
    point = frame["kind"].eq("point")
    notes = pd.Series([[] for _ in range(len(frame))], index=frame.index, dtype=object)
    for column in STACK_COLUMNS:
        missing = point & frame[column].isna()
        if missing.any():
            values = key[missing].map(lambda k, c=column: table[k][c])
            frame.loc[missing, column] = values.to_numpy(float)
            for index in frame.index[missing]:
                notes[index].append(f"{column}={table[key[index]][column]:g} "
                                    f"({table_name}:{key[index]})")
    for kind, height in DEFAULT_RELEASE_HEIGHT.items():
        missing = frame["kind"].eq(kind) & frame["stack_height"].isna()
        frame.loc[missing, "stack_height"] = height
        for index in frame.index[missing]:
            notes[index].append(f"stack_height={height:g} (release height of a {kind} source)")
    new = notes.map("; ".join)
    old = frame["defaults_used"].fillna("").astype(str)
    frame["defaults_used"] = np.where((old != "") & (new != ""), old + "; " + new,
                                      np.where(new != "", new, old))
    return frame


def read_numbered(table, source: str | None, default_name: str, aliases) -> tuple:
    """A table (file path or DataFrame) with canonical headers, its spreadsheet row numbers
    and its name, for the readers of this package.

    Headers are matched the shared way (:func:`sourcegrid.io.tables.with_row_numbers`:
    case, blanks, underscores, a unit in brackets, Chinese names).
    """
    from sourcegrid.io.tables import ROW, SOURCE, read_table, with_row_numbers

    if isinstance(table, str | Path):
        source = source or Path(table).name
        frame = read_table(table)
    else:
        frame = table.copy()
    source = source or default_name
    frame = with_row_numbers(frame.rename(columns=str), source, aliases)
    rows = frame[ROW].astype(int).to_numpy()
    return frame.drop(columns=[ROW, SOURCE]), rows, source
