"""Administrative units of grid cells (city, county, township codes).

A cell belongs to the unit whose polygon holds the cell centre (point in polygon,
shapely STRtree, vectorized). Codes follow GB/T 2260 (6-digit county-level codes:
2 province, 2 city, 2 county digits) and the 9/12-digit township codes of the
statistical division codes (统计用区划代码), whose first 6 digits are the county's.
Missing levels are completed from finer ones: county = first 6 digits of the
township code; city = first 4 digits of the county code + '00'.

References
----------
GB/T 2260-2007 中华人民共和国行政区划代码; 国家统计局 统计用区划代码和城乡划分代码.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from sourcegrid.errors import InputError, Problem

__all__ = ["ADMIN_LEVELS", "CODE_ALIASES", "CELLS_TABLE", "CELL_COLUMNS", "admin_from_boundaries",
           "admin_from_table", "cells_table", "complete_codes"]

ADMIN_LEVELS = ("city_code", "county_code", "township_code")
CELLS_TABLE = "cells"
CELL_COLUMNS = ["cell_id", "row", "col", "lon", "lat", *ADMIN_LEVELS]
#: Property names accepted for each level in a boundary GeoJSON or table (zh/en).
CODE_ALIASES: dict[str, tuple[str, ...]] = {
    "city_code": ("city_code", "市代码", "地市代码", "市级代码", "city"),
    "county_code": ("county_code", "区县代码", "县代码", "县级代码", "county", "adcode",
                    "region_code", "行政区划代码"),
    "township_code": ("township_code", "乡镇代码", "街道代码", "乡镇街道代码", "township"),
}


def _code_text(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    text = text.str.replace(r"\.0$", "", regex=True)
    keep = (text.notna() & (text != "")).fillna(False).to_numpy(bool)
    out = text.astype(object).to_numpy()
    out[~keep] = None
    return pd.Series(out, index=values.index, dtype=object)


def complete_codes(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill missing county codes from township codes and city codes from county codes."""
    frame = frame.copy()
    for level in ADMIN_LEVELS:
        if level not in frame:
            frame[level] = None
        frame[level] = _code_text(frame[level])
    township = frame["township_code"].astype("string")
    county = frame["county_code"].astype("string")
    fill = (county.isna() & township.str.len().ge(6)).fillna(False).to_numpy(bool)
    frame.loc[fill, "county_code"] = township[fill].str[:6].astype(object).to_numpy()
    county = frame["county_code"].astype("string")
    fill = (frame["city_code"].isna() & county.str.len().eq(6)).fillna(False).to_numpy(bool)
    frame.loc[fill, "city_code"] = (county[fill].str[:4] + "00").astype(object).to_numpy()
    return frame


def _features(boundary: str | Path | dict) -> list[dict]:
    data = boundary
    if not isinstance(boundary, dict):
        try:
            data = json.loads(Path(boundary).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise InputError([Problem(str(boundary), None, "", "", "bad_geojson",
                                      f"a readable GeoJSON file ({error})")],
                             "cannot read the admin boundaries") from None
    if data.get("type") == "FeatureCollection":
        return list(data.get("features", []))
    if data.get("type") == "Feature":
        return [data]
    raise InputError([Problem("boundary", None, "type", str(data.get("type")), "bad_geojson",
                              "a GeoJSON FeatureCollection of admin polygons with code "
                              "properties")], "cannot read the admin boundaries")


def admin_from_boundaries(cells: pd.DataFrame, boundary: str | Path | dict) -> pd.DataFrame:
    """Admin codes of cells from GeoJSON polygons whose properties carry codes.

    Features may mix levels (city polygons with ``city_code``, township polygons with
    ``township_code`` ...): each level is looked up among the features that have it.

    Parameters
    ----------
    cells : DataFrame
        cell_id, lon, lat (cell centres [degree]).
    boundary : path or dict
        GeoJSON FeatureCollection in lon/lat (WGS 84 / CGCS2000).

    Returns
    -------
    DataFrame
        cell_id, city_code, county_code, township_code (None where no polygon holds
        the centre).
    """
    import shapely
    from shapely.strtree import STRtree

    features = _features(boundary)
    problems = []
    level_geoms: dict[str, tuple[list, list]] = {level: ([], []) for level in ADMIN_LEVELS}
    for number, feature in enumerate(features, start=1):
        properties = feature.get("properties") or {}
        geometry = feature.get("geometry")
        found = False
        for level, aliases in CODE_ALIASES.items():
            name = next((a for a in aliases if properties.get(a) not in (None, "")), None)
            if name is not None and geometry:
                level_geoms[level][0].append(shapely.from_geojson(json.dumps(geometry)))
                level_geoms[level][1].append(str(properties[name]).strip())
                found = True
        if not found:
            problems.append(Problem("boundary", number, "properties", json.dumps(properties)[:80],
                                    "no_admin_code", "a feature with a geometry and one of "
                                    + ", ".join(a for v in CODE_ALIASES.values() for a in v[:1])))
    if problems:
        raise InputError(problems, "admin boundary features without codes")
    points = shapely.points(cells["lon"].to_numpy(float), cells["lat"].to_numpy(float))
    out = pd.DataFrame({"cell_id": cells["cell_id"].to_numpy()})
    for level, (geometries, codes) in level_geoms.items():
        column = np.full(len(points), None, dtype=object)
        if geometries:
            tree = STRtree(geometries)
            point_index, geometry_index = tree.query(points, predicate="within")
            # a centre on a shared edge may fall in two polygons: keep the first
            first = np.unique(point_index, return_index=True)[1]
            column[point_index[first]] = np.asarray(codes, dtype=object)[geometry_index[first]]
        out[level] = column
    return complete_codes(out)


def admin_from_table(cells: pd.DataFrame, table: pd.DataFrame, source: str = "admin table") -> pd.DataFrame:
    """Admin codes of cells from a table cell_id → city_code, county_code, township_code.

    Unknown cell ids in the table are reported all at once.
    """
    from sourcegrid.io.tables import ROW, rename_headers

    aliases = {alias: level for level, names in CODE_ALIASES.items() for alias in names}
    aliases.update({"网格编号": "cell_id", "网格": "cell_id"})
    frame = rename_headers(table, aliases)
    if "cell_id" not in frame:
        raise InputError([Problem(source, 1, "cell_id", "", "missing_column",
                                  "a cell_id column (网格编号)")], "cannot read the admin table")
    frame = frame.copy()
    frame["cell_id"] = frame["cell_id"].astype(str).str.strip()
    unknown = ~frame["cell_id"].isin(set(cells["cell_id"]))
    if unknown.any():
        rows = frame[ROW] if ROW in frame else pd.Series(np.arange(len(frame)) + 2)
        raise InputError([Problem(source, int(rows.iloc[i]), "cell_id", frame["cell_id"].iloc[i],
                                  "unknown_cell", "a cell id of the grid (R0000C0000 ...)")
                          for i in np.flatnonzero(unknown.to_numpy())], "unknown cells")
    keep = ["cell_id", *[level for level in ADMIN_LEVELS if level in frame]]
    merged = cells[["cell_id"]].merge(frame[keep].drop_duplicates("cell_id"), on="cell_id",
                                      how="left")
    return complete_codes(merged)


def cells_table(spec, admin: pd.DataFrame | None = None, *, boundary=None,
                clip: bool = False) -> pd.DataFrame:
    """The ``cells`` table: cell_id, row, col, lon, lat, city_code, county_code, township_code.

    Parameters
    ----------
    spec : GridSpec
    admin : DataFrame, optional
        cell_id + codes (:func:`admin_from_boundaries` or :func:`admin_from_table`).
    boundary : path or dict, optional
        Area boundary; with ``clip=True`` only cells whose centre lies inside are kept.
    """
    cells = spec.cells()
    if boundary is not None and clip:
        import shapely

        from sourcegrid.grid.spec import boundary_geometry

        area = boundary_geometry(boundary)
        inside = shapely.contains_xy(area, cells["lon"].to_numpy(), cells["lat"].to_numpy())
        cells = cells.loc[inside]
    if admin is not None:
        cells = cells.merge(admin, on="cell_id", how="left")
    cells = complete_codes(cells)
    # text codes (leading zeros matter); 'string' keeps the column type when all are missing
    cells = cells.astype({level: "string" for level in ADMIN_LEVELS})
    return cells[CELL_COLUMNS].reset_index(drop=True)
