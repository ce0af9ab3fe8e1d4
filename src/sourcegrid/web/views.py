"""Read-only views of workspace tables for the pages and the API, limited to visible cells.

Nothing here computes science: values come from the tables the pipeline wrote
(``cells``, ``grid_spec``, ``cell_hours``, ``hotspots``, ``cell_grades``,
``inventory``, ``sources``, ``cell_inventory``, ``aqi_daily``) or from the
library functions that own the formula (:func:`sourcegrid.quality.aqi.daily`,
:func:`sourcegrid.quality.gooddays.good_days`). Every view takes the set of
cells the caller may see (``None`` only for a city-wide role) and never returns
a row of another cell: the scope is applied on the server, before JSON or HTML
is made.

Derived data that is costly to rebuild (cell outlines, the list of hours) is
cached and dropped whenever :attr:`WebStore.version` moves.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import pandas as pd

from sourcegrid.inventory.breakdown import BREAKDOWNS, SPLIT_COLUMNS, breakdown, split_over_cells
from sourcegrid.web.store import WebStore

__all__ = ["Views", "clean", "records", "colour_scale"]

#: Sector names of the inventory, with the labels the pages show (zh / en).
SECTOR_LABELS = {
    "industry": "工业 industry",
    "boiler": "锅炉 boilers",
    "traffic": "交通 traffic",
    "dust": "扬尘 dust",
    "other": "其他 other",
}

#: Breakdowns of the inventory pages (:data:`sourcegrid.inventory.breakdown.BREAKDOWNS`).
INVENTORY_BREAKDOWNS = tuple(BREAKDOWNS)


def clean(value: Any) -> Any:
    """A JSON-safe Python value (NaN/NaT → None, numpy scalars → Python, times → ISO)."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float | np.floating):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A DataFrame as a list of JSON-safe dicts."""
    columns = list(frame.columns)
    return [{c: clean(v) for c, v in zip(columns, row, strict=True)}
            for row in frame.itertuples(index=False, name=None)]


def colour_scale(pollutant: str, time: pd.Timestamp | None) -> dict[str, Any] | None:
    """The map's colour levels for hourly values of ``pollutant`` at ``time``, from HJ 633.

    The edition is the one in force on the Beijing date of ``time``
    (:func:`sourcegrid.standards.hj633.edition_for_date`; the latest when ``time`` is
    None). Hourly PM2.5 and PM10 are read against the 24-hour columns (HJ 633-2026
    §4.2.4, as the real-time AQI does), SO2, NO2, CO and O3 against their 1-hour
    columns. Level k (1-6) holds values up to the concentration at the upper IAQI of
    that level (50, 100, 150, 200, 300); the last level of a column is open (SO2 1-h
    ends at IAQI 200, so above 800 µg/m³ is level 4, HJ 633-2026 Table 3 note b).
    None for a pollutant without an AQI column (no levels to colour by).

    Returns
    -------
    dict or None
        edition, period, unit, levels: list of {level, upper (None = open), colour,
        category, category_en}.

    References
    ----------
    HJ 633-2012 Tables 1, 2 and A.1; HJ 633-2026 Tables 1, 3 and A.1.
    """
    import datetime as dt

    from sourcegrid.errors import NotFoundError
    from sourcegrid.standards import hj633

    local = (pd.Timestamp.now(tz="UTC") if time is None else pd.Timestamp(time))
    local = (local.tz_localize("UTC") if local.tzinfo is None else local).tz_convert(
        "Asia/Shanghai")
    edition = hj633.edition_for_date(dt.date(local.year, local.month, local.day))
    period = "24h" if pollutant in ("PM2.5", "PM10") else "1h"
    try:
        concentration, iaqi = hj633.breakpoints(edition, pollutant, period)
    except NotFoundError:
        return None
    levels = []
    for index, level in enumerate(hj633.LEVELS):
        upper_iaqi = (hj633.LEVEL_UPPER_AQI[index] if index < len(hj633.LEVEL_UPPER_AQI)
                      else None)
        last = upper_iaqi is None or upper_iaqi >= iaqi[-1]
        upper = None if last else float(concentration[list(iaqi).index(upper_iaqi)])
        levels.append({"level": level, "upper": upper, "colour": hj633.COLOURS[index],
                       "category": hj633.CATEGORIES[index],
                       "category_en": hj633.CATEGORIES_EN[index]})
        if last:
            break
    return {"edition": edition, "period": period, "unit": "mg/m3" if pollutant == "CO"
            else "ug/m3", "levels": levels}


class Views:
    """The read side of the app over one :class:`WebStore`."""

    def __init__(self, store: WebStore) -> None:
        self.store = store
        self._cache: dict[Any, Any] = {}
        self._cache_version = -1
        self._lock = threading.Lock()

    # ---- caching ---------------------------------------------------------------------------
    def _cached(self, key, build):
        with self._lock:
            if self._cache_version != self.store.version:
                self._cache.clear()
                self._cache_version = self.store.version
            if key in self._cache:
                return self._cache[key]
        value = build()
        with self._lock:
            self._cache[key] = value
        return value

    def _table(self, name: str) -> pd.DataFrame | None:
        return self.store.read(name) if self.store.has(name) else None

    # ---- cells -----------------------------------------------------------------------------
    def cells(self) -> pd.DataFrame:
        """The ``cells`` table (cell_id, row, col, lon, lat, city/county/township codes)."""
        def build():
            frame = self._table("cells")
            if frame is None:
                return pd.DataFrame(columns=["cell_id", "row", "col", "lon", "lat", "city_code",
                                             "county_code", "township_code"])
            return frame
        return self._cached("cells", build)

    def cell_ids(self) -> set[str]:
        return set(self.cells()["cell_id"].astype(str))

    def hotspot_cells(self) -> set[str]:
        """Cells in the ``hotspots`` table (any method), empty when there is none."""
        def build():
            if not self.store.has("hotspots"):
                return frozenset()
            rows = self.store.query('SELECT DISTINCT cell_id FROM "hotspots"')
            return frozenset(str(r["cell_id"]) for r in rows if r["cell_id"])
        return set(self._cached("hotspots", build))

    def grades(self) -> dict[str, dict[str, Any]]:
        """Per cell the row of ``cell_grades`` (grade and type with evidence)."""
        def build():
            frame = self._table("cell_grades")
            if frame is None or "cell_id" not in frame:
                return {}
            frame = frame.drop_duplicates("cell_id", keep="last")
            return {r["cell_id"]: r for r in records(frame)}
        return self._cached("grades", build)

    def outlines(self) -> dict[str, dict]:
        """Per cell its GeoJSON geometry (polygon from ``grid_spec``, else its centre point)."""
        def build():
            cells = self.cells()
            if not len(cells):
                return {}
            spec = None
            if self.store.has("grid_spec"):
                from sourcegrid.grid.spec import GridSpec

                spec = GridSpec.from_dict(self.store.read("grid_spec").iloc[0].to_dict())
            if spec is None:
                return {cid: {"type": "Point", "coordinates": [float(lon), float(lat)]}
                        for cid, lon, lat in zip(cells["cell_id"], cells["lon"], cells["lat"],
                                                 strict=True)}
            import shapely

            polygons = spec.polygons(cells["row"].to_numpy(np.int64),
                                     cells["col"].to_numpy(np.int64))
            coordinates = [np.round(shapely.get_coordinates(p), 6).tolist() for p in polygons]
            return {cid: {"type": "Polygon", "coordinates": [ring]}
                    for cid, ring in zip(cells["cell_id"], coordinates, strict=True)}
        return self._cached("outlines", build)

    # ---- the map ---------------------------------------------------------------------------
    def pollutants(self) -> list[str]:
        def build():
            if not self.store.has("cell_hours"):
                return []
            rows = self.store.query('SELECT DISTINCT pollutant FROM "cell_hours" ORDER BY 1')
            return [r["pollutant"] for r in rows]
        return self._cached("pollutants", build)

    def map_times(self, pollutant: str) -> list[str]:
        """Hours (UTC, ISO 8601) with cell values of ``pollutant``, in order."""
        def build():
            if not self.store.has("cell_hours"):
                return []
            frame = self.store.frame('SELECT DISTINCT time FROM "cell_hours" WHERE pollutant = ? '
                                     "ORDER BY time", [pollutant])
            times = pd.to_datetime(frame["time"], utc=True)
            return [t.isoformat() for t in times]
        return self._cached(("times", pollutant), build)

    def map_layer(self, pollutant: str, time: pd.Timestamp | None,
                  visible: set[str] | None) -> dict[str, Any]:
        """GeoJSON of the visible cells with their value at ``time`` (default: the last hour).

        ``time`` None and no hour at all give cells without values.
        """
        times = self.map_times(pollutant)
        if time is None and times:
            time = pd.Timestamp(times[-1])
        values: dict[str, dict[str, Any]] = {}
        if time is not None and self.store.has("cell_hours"):
            frame = self.store.frame(
                'SELECT cell_id, value, uncertainty, n_readings, method FROM "cell_hours" '
                "WHERE pollutant = ? AND time = ?", [pollutant, time.to_pydatetime()])
            values = {r["cell_id"]: r for r in records(frame)}
        cells = self.cells()
        hotspots = self.hotspot_cells()
        grades = self.grades()
        outlines = self.outlines()
        features = []
        for row in records(cells):
            cell_id = row["cell_id"]
            if visible is not None and cell_id not in visible:
                continue
            value = values.get(cell_id, {})
            grade = grades.get(cell_id, {})
            features.append({
                "type": "Feature", "id": cell_id, "geometry": outlines.get(cell_id),
                "properties": {
                    "cell_id": cell_id, "county_code": row.get("county_code"),
                    "township_code": row.get("township_code"),
                    "value": value.get("value"), "uncertainty": value.get("uncertainty"),
                    "n_readings": value.get("n_readings"), "method": value.get("method"),
                    "hotspot": cell_id in hotspots,
                    "grade": grade.get("concentration_category") or grade.get("grade"),
                    "type": grade.get("type"),
                }})
        return {"type": "FeatureCollection", "pollutant": pollutant,
                "time": None if time is None else time.isoformat(),
                "scale": colour_scale(pollutant, time), "features": features}

    def cell_series(self, cell_id: str, pollutant: str) -> pd.DataFrame:
        """Hourly values of one cell (time, value, uncertainty)."""
        if not self.store.has("cell_hours"):
            return pd.DataFrame(columns=["time", "value", "uncertainty"])
        return self.store.frame('SELECT time, value, uncertainty FROM "cell_hours" '
                                "WHERE cell_id = ? AND pollutant = ? ORDER BY time",
                                [cell_id, pollutant])

    # ---- inventory -------------------------------------------------------------------------
    def _source_cells(self) -> pd.DataFrame:
        """source_id → cell_id, share, with the source's attributes.

        The inventory's allocation (:func:`sourcegrid.workflow.dossier.source_cells`): a
        point in its cell, a line or an area in every cell it crosses by the share of its
        length or area there; the part outside the grid has cell_id None.
        """
        def build():
            sources = self._table("sources")
            if sources is None or not self.store.has("grid_spec"):
                return pd.DataFrame(columns=["source_id", "cell_id", "share"])
            from sourcegrid.grid.spec import GridSpec
            from sourcegrid.workflow.dossier import source_cells

            spec = GridSpec.from_dict(self.store.read("grid_spec").iloc[0].to_dict())
            sources = sources.assign(source_id=sources["source_id"].astype(str))
            shares = source_cells(sources, spec)
            shares["cell_id"] = shares["cell_id"].replace("", None)
            keep = ["source_id", *[c for c in ("name", "industry_code", "kind", "lon", "lat")
                                   if c in sources]]
            return shares.merge(sources[keep], on="source_id", how="left")
        return self._cached("source_cells", build)

    def inventory(self, visible: set[str] | None, *, pollutant: str | None = None
                  ) -> pd.DataFrame:
        """Inventory rows split over the cells of their sources, of the visible cells.

        :func:`sourcegrid.inventory.breakdown.split_over_cells`: one row per source ×
        pollutant × cell it lies in, emission [kg] the cell's part (source total × share).
        """
        def build():
            inventory = self._table("inventory")
            if inventory is None:
                return None
            return split_over_cells(inventory, self._source_cells(), self.cells())
        frame = self._cached("inventory", build)
        if frame is None:
            return pd.DataFrame(columns=SPLIT_COLUMNS)
        if visible is not None:
            frame = frame.loc[frame["cell_id"].isin(visible)]
        if pollutant:
            frame = frame.loc[frame["pollutant"] == pollutant]
        return frame

    def inventory_summary(self, visible: set[str] | None, by: str,
                          pollutant: str | None = None) -> pd.DataFrame:
        """Emission [kg] by industry, pollutant, region (township) or sector, of the visible
        cells (:func:`sourcegrid.inventory.breakdown.breakdown`)."""
        return breakdown(self.inventory(visible, pollutant=pollutant), by)

    def inventory_pollutants(self) -> list[str]:
        frame = self.inventory(None)
        return sorted(frame["pollutant"].dropna().astype(str).unique()) if len(frame) else []

    # ---- AQI and good days -----------------------------------------------------------------
    def station_aqi(self) -> pd.DataFrame | None:
        """The stored daily AQI of the stations (``aqi_daily``), published city-wide data."""
        return self._cached("aqi_daily", lambda: self._table("aqi_daily"))

    def cell_daily_aqi(self, visible: set[str] | None) -> pd.DataFrame:
        """Daily AQI (HJ 633, PM2.5 and the other fused pollutants) of the visible cells."""
        def build():
            if not self.store.has("cell_hours"):
                return pd.DataFrame(columns=["date", "site_id", "aqi", "category"])
            hours = self.store.frame(
                'SELECT time, cell_id AS site_id, pollutant, value FROM "cell_hours" '
                "WHERE pollutant IN ('PM2.5', 'PM10', 'SO2', 'NO2', 'CO', 'O3')")
            if not len(hours):
                return pd.DataFrame(columns=["date", "site_id", "aqi", "category"])
            from sourcegrid.quality import aqi

            hours["time"] = pd.to_datetime(hours["time"], utc=True)
            return aqi.daily(hours)
        frame = self._cached("cell_aqi", build)
        if visible is not None:
            frame = frame.loc[frame["site_id"].astype(str).isin(visible)]
        return frame

    def good_days(self, daily: pd.DataFrame) -> pd.DataFrame:
        """Good days per unit over the whole period of ``daily`` (gooddays.good_days)."""
        if daily is None or not len(daily):
            return pd.DataFrame()
        from sourcegrid.quality.gooddays import good_days

        dates = pd.to_datetime(daily["date"])
        return good_days(daily, dates.min().date(), dates.max().date())

