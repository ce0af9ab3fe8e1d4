"""One dossier per cell (一格一档): everything known about a cell, as data, HTML and PDF.

:func:`cell_dossier` gathers, for one cell, from the workspace tables:

==================  ===================================================================
section             from
==================  ===================================================================
cell                ``cells`` (centre, city/county/township codes), unit names
                    (``org_units``), the grid (``grid_spec``)
sources             ``sources`` lying in the cell: a point in it, a line or an area crossing
                    it, with its share there (the inventory's allocation, by length or area)
emissions           ``inventory`` of those sources: the cell's part [kg] (source total ×
                    share) by source and pollutant
sector_mix          ``cell_inventory`` (emission [kg] and share [%] by pollutant and
                    sector: industry, boiler, traffic, dust, other); else from emissions
feeds               ``observations`` sites in the cell: kind, pollutant, readings,
                    latest time and value
latest              ``cell_hours``: the cell's latest fused value per pollutant
hotspots            ``hotspots`` rows of the cell and the hotspot/monthly alerts raised
                    on it (the history: the hotspot tables are replaced each run)
grade               ``cell_grades``: levels, type, and the evidence of each
alerts              the cell's alerts with their state (from the event log)
inspections         the inspection events of those alerts (evidence: problems, source
                    found, measurements, photos)
traced              ``trace_results`` of the cell (latest run first)
findings            ``inspection_findings`` of the cell (tracing's table)
people              the responsible people at township, county and city level
trend               daily mean PM2.5 of the cell and of its city (mean over the city's
                    cells) [ug/m3], Beijing-time days
==================  ===================================================================

A missing table leaves its section empty, with a note saying so (``notes``).
With a ``person``, the cell must be in their scope
(:class:`~sourcegrid.workflow.errors.AccessDenied` otherwise).

:func:`render_html` fills the Jinja2 template ``templates/dossier.html.j2``
(autoescaped, no script, no network; the trend is an inline SVG);
:func:`write_pdf` draws the same sections with reportlab, Chinese text in
reportlab's built-in CID font STSong-Light (Adobe-GB1; the viewer supplies the
glyphs, nothing is embedded). Files are written to a temporary file beside the
target and renamed into place.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sourcegrid.errors import NotFoundError, SourcegridError
from sourcegrid.io.tables import atomic_path
from sourcegrid.workflow import tables as store
from sourcegrid.workflow.org import LEVEL_COLUMN, ROLE_NAMES, Organisation, Person

__all__ = ["CellDossier", "cell_dossier", "render_html", "write_html", "write_pdf",
           "write_dossier", "source_cells", "SECTOR_NAMES", "TREND_DAYS"]

#: Sector names (sources.sector / cell_inventory.sector) and their Chinese labels.
SECTOR_NAMES = {"industry": "工业", "boiler": "锅炉", "traffic": "交通", "dust": "扬尘",
                "other": "其他"}
#: Days of trend shown when no period is given (ending at the cell's last hour).
TREND_DAYS = 60
_TEMPLATES = Path(__file__).with_name("templates")


@dataclass
class CellDossier:
    """Everything known about one cell (fields are DataFrames unless said).

    Attributes
    ----------
    cell : dict
        cell_id, row, col, lon, lat [degree], city/county/township codes and names.
    grade : dict
        The ``cell_grades`` row (empty when the cell was not graded).
    summary : dict
        Headline numbers: sources, emission totals [kg], alerts open/closed,
        cell and city mean PM2.5 over the trend [ug/m3] and their ratio.
    notes : list of str
        Sections left empty and why.
    """

    cell: dict
    sources: pd.DataFrame
    emissions: pd.DataFrame
    sector_mix: pd.DataFrame
    feeds: pd.DataFrame
    latest: pd.DataFrame
    hotspots: pd.DataFrame
    grade: dict
    alerts: pd.DataFrame
    inspections: pd.DataFrame
    traced: pd.DataFrame
    findings: pd.DataFrame
    people: pd.DataFrame
    trend: pd.DataFrame
    generated_at: pd.Timestamp
    summary: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    #: Names of the table sections, in display order.
    SECTIONS = ("sources", "emissions", "sector_mix", "feeds", "latest", "hotspots",
                "alerts", "inspections", "traced", "findings", "people", "trend")

    def to_dict(self) -> dict:
        """JSON-ready dict: tables as lists of records (times ISO 8601, NaN → None)."""
        out = {"cell": _plain(self.cell), "grade": _plain(self.grade),
               "summary": _plain(self.summary), "notes": list(self.notes),
               "generated_at": self.generated_at.isoformat()}
        for name in self.SECTIONS:
            out[name] = _records(getattr(self, name))
        return out


# ------------------------------------------------------------------------------ helpers


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return None if value is pd.NaT else value.isoformat()
    if value is pd.NaT or value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def _records(frame: pd.DataFrame) -> list[dict]:
    if frame is None or frame.empty:
        return []
    return [_plain(r) for r in frame.to_dict("records")]


def _table(workspace, name: str, notes: list[str], why: str) -> bool:
    if store.has_table(workspace, name):
        return True
    notes.append(f"no table {name!r} in the workspace: {why}")
    return False


def _columns(workspace, name: str) -> set[str]:
    return set(store.query(workspace, "SELECT column_name FROM information_schema.columns "
                           "WHERE table_schema = current_schema() AND table_name = ?",
                           [name])["column_name"])


def _spec(workspace):
    from sourcegrid.grid.spec import GridSpec

    if not store.has_table(workspace, "grid_spec"):
        return None
    frame = store.query(workspace, "SELECT * FROM grid_spec")
    return GridSpec.from_dict(frame.iloc[0].to_dict()) if len(frame) else None


def _in_cell(spec, frame: pd.DataFrame, cell_id: str) -> pd.Series:
    """Whether each point (lon, lat) of ``frame`` lies in the cell (monitoring sites)."""
    if spec is None or frame.empty:
        return pd.Series(False, index=frame.index)
    rows, cols = spec.cell_of(pd.to_numeric(frame["lon"], errors="coerce").to_numpy(float),
                              pd.to_numeric(frame["lat"], errors="coerce").to_numpy(float))
    return pd.Series(np.asarray(spec.cell_id(rows, cols)) == cell_id, index=frame.index)


def source_cells(sources: pd.DataFrame, spec) -> pd.DataFrame:
    """Which cells each source lies in, and its share there: source_id, cell_id, share.

    The shares are those of the inventory's allocation
    (:func:`sourcegrid.inventory.allocation.cell_shares`): a point is wholly in the cell
    holding it, a line is in every cell it crosses by the share of its length there, an
    area by the share of its area. The part outside the grid has cell_id ``''``. Sources
    without a location are left out.
    """
    from sourcegrid.inventory.allocation import cell_shares

    columns = ["source_id", "cell_id", "share"]
    if spec is None or sources is None or sources.empty or "source_id" not in sources:
        return pd.DataFrame(columns=columns)
    frame = sources.copy()
    for column in ("lon", "lat"):
        frame[column] = (pd.to_numeric(frame[column], errors="coerce") if column in frame
                         else np.nan)
    frame["geometry"] = (frame["geometry"].astype("string").fillna("")
                         if "geometry" in frame else "")
    frame["kind"] = frame["kind"].astype("string").fillna("point") if "kind" in frame \
        else "point"
    frame["source_id"] = frame["source_id"].astype(str)
    # a line or area without a geometry falls back to its point, as a point
    shaped = frame["kind"].isin(["line", "area"]) & (frame["geometry"] != "")
    frame.loc[~shaped, "kind"] = "point"
    located = shaped | (frame["lon"].notna() & frame["lat"].notna())
    frame = frame.loc[located]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    return cell_shares(frame.reset_index(drop=True), spec)[columns]


# ------------------------------------------------------------------------------ sections


def _sources(workspace, spec, cell_id: str, notes: list[str]) -> pd.DataFrame:
    if not _table(workspace, "sources", notes, "sources come from the inventory "
                  "(sourcegrid inventory build/import)"):
        return pd.DataFrame()
    if spec is None:
        notes.append("no grid spec: the cell of each source is unknown")
        return pd.DataFrame()
    sources = store.query(workspace, "SELECT * FROM sources")
    sources["source_id"] = sources["source_id"].astype(str)
    shares = source_cells(sources, spec)
    here = shares.loc[shares["cell_id"] == cell_id, ["source_id", "share"]]
    keep = [c for c in ("source_id", "name", "kind", "sector", "industry_code", "lon", "lat",
                        "stack_height") if c in sources]
    return sources[keep].merge(here, on="source_id").reset_index(drop=True)


def _emissions(workspace, sources: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """The cell's part of each source's emission: emission [kg] = source total × share."""
    columns = ["source_id", "name", "sector", "pollutant", "emission", "share",
               "source_emission"]
    if sources.empty or not _table(workspace, "inventory", notes, "emissions come from the "
                                   "inventory"):
        return pd.DataFrame(columns=columns)
    frame = store.query(workspace, "SELECT source_id, pollutant, sum(emission) AS emission "
                        "FROM inventory WHERE CAST(source_id AS VARCHAR) IN "
                        "(SELECT unnest(CAST(? AS VARCHAR[]))) "
                        "GROUP BY source_id, pollutant",
                        [sources["source_id"].astype(str).tolist()])
    frame["source_id"] = frame["source_id"].astype(str)
    names = sources[[c for c in ("source_id", "name", "sector", "share") if c in sources]].copy()
    frame = frame.merge(names, on="source_id", how="left")
    share = frame["share"].astype(float) if "share" in frame else 1.0
    frame["source_emission"] = frame["emission"]
    frame["emission"] = frame["emission"] * share
    for column in columns:
        if column not in frame:
            frame[column] = None
    return frame[columns].sort_values(["pollutant", "emission"], ascending=[True, False],
                                      ignore_index=True)


def _sector_mix(workspace, cell_id: str, emissions: pd.DataFrame, notes: list[str]
                ) -> pd.DataFrame:
    if store.has_table(workspace, "cell_inventory"):
        frame = store.query(workspace, "SELECT pollutant, sector, sum(emission) AS emission "
                            "FROM cell_inventory WHERE cell_id = ? GROUP BY pollutant, sector",
                            [cell_id])
    elif not emissions.empty:
        notes.append("no table 'cell_inventory': sector mix from the cell's sources (inventory × cell shares)")
        frame = emissions.groupby(["pollutant", "sector"], as_index=False)["emission"].sum()
    else:
        return pd.DataFrame(columns=["pollutant", "sector", "sector_name", "emission",
                                     "share_percent"])
    total = frame.groupby("pollutant")["emission"].transform("sum")
    frame["share_percent"] = np.where(total > 0, frame["emission"] / total * 100.0, np.nan)
    frame["sector_name"] = frame["sector"].map(SECTOR_NAMES).fillna(frame["sector"])
    return frame[["pollutant", "sector", "sector_name", "emission", "share_percent"]].sort_values(
        ["pollutant", "emission"], ascending=[True, False], ignore_index=True)


def _feeds(workspace, spec, cell_id: str, notes: list[str]) -> pd.DataFrame:
    columns = ["site_id", "site_kind", "pollutant", "readings", "first_time", "latest_time",
               "latest_value"]
    if not _table(workspace, "observations", notes, "feeds come from "
                  "'sourcegrid observe ingest'") or spec is None:
        return pd.DataFrame(columns=columns)
    sites = store.query(workspace, "SELECT site_id, site_kind, min(lon) AS lon, "
                        "min(lat) AS lat FROM observations GROUP BY site_id, site_kind")
    sites = sites[_in_cell(spec, sites, cell_id)]
    if sites.empty:
        return pd.DataFrame(columns=columns)
    frame = store.query(workspace, "SELECT site_id, site_kind, pollutant, count(*) AS readings,"
                        " min(time) AS first_time, max(time) AS latest_time, "
                        f"{store.last_value(workspace.engine, 'value', 'time')} AS latest_value "
                        "FROM observations WHERE site_id IN (SELECT unnest(CAST(? AS VARCHAR[])))"
                        " GROUP BY site_id, site_kind, "
                        "pollutant ORDER BY site_id, pollutant",
                        [sites["site_id"].astype(str).tolist()])
    return frame[columns]


def _latest(workspace, cell_id: str, notes: list[str]) -> pd.DataFrame:
    if not _table(workspace, "cell_hours", notes, "fused values come from 'sourcegrid grid "
                  "fuse'"):
        return pd.DataFrame(columns=["pollutant", "time", "value", "uncertainty", "method"])
    columns = _columns(workspace, "cell_hours")
    engine = workspace.engine
    extra = "".join(f", {store.last_value(engine, c, 'time')} AS {c}"
                    for c in ("uncertainty", "method") if c in columns)
    return store.query(workspace, f"SELECT pollutant, max(time) AS time, "
                       f"{store.last_value(engine, 'value', 'time')} AS value{extra} "
                       "FROM cell_hours WHERE cell_id = ? GROUP BY pollutant "
                       "ORDER BY pollutant", [cell_id])


def _hotspots(workspace, cell_id: str, notes: list[str]) -> pd.DataFrame:
    columns = ["origin", "method", "period_start", "period_end", "rank", "mean",
               "ratio_to_city_mean", "detail"]
    pieces = []
    for name in ("hotspots", "hotspot_monthly"):
        if store.has_table(workspace, name):
            frame = store.query(workspace, f'SELECT * FROM "{name}" WHERE cell_id = ?',
                                [cell_id])
            if frame.empty:
                continue
            frame["origin"] = name
            if "method" not in frame:
                frame["method"] = "monthly:" + frame.get("list", pd.Series("", index=frame.index)
                                                         ).astype(str)
            if "period_start" not in frame:
                frame["period_start"] = frame.get("month")
            pieces.append(frame)
    history = store.query(workspace, f"SELECT rule AS method, start AS period_start, "
                          f"\"end\" AS period_end, detail FROM {store.REGISTRY_TABLE} "
                          "WHERE cell_id = ? AND source_kind IN ('hotspot', 'monthly') "
                          "ORDER BY start", [cell_id])
    if len(history):
        details = [json.loads(d) for d in history["detail"]]
        history["rank"] = [d.get("rank") for d in details]
        history["mean"] = [d.get("mean") for d in details]
        history["ratio_to_city_mean"] = [d.get("ratio_to_city_mean") for d in details]
        history["detail"] = [d.get("list") or "" for d in details]
        history["origin"] = "alert history"
        pieces.append(history)
    if not pieces:
        return pd.DataFrame(columns=columns)
    records = [record for piece in pieces for record in piece.assign(
        **{c: None for c in columns if c not in piece})[columns].to_dict("records")]
    frame = pd.DataFrame(records, columns=columns)
    frame["period_start"] = frame["period_start"].astype(str)
    frame["period_end"] = frame["period_end"].astype(str)
    return frame


def _grade(workspace, cell_id: str, notes: list[str]) -> dict:
    if not _table(workspace, "cell_grades", notes, "grades come from 'sourcegrid grid "
                  "classify'"):
        return {}
    frame = store.query(workspace, "SELECT * FROM cell_grades WHERE cell_id = ?", [cell_id])
    return frame.iloc[0].to_dict() if len(frame) else {}


def _inspections(workspace, alert_ids: list[str]) -> pd.DataFrame:
    columns = ["alert_id", "time", "actor", "note", "problems", "source_found",
               "measurements", "photos"]
    if not alert_ids:
        return pd.DataFrame(columns=columns)
    frame = store.query(workspace, f"SELECT alert_id, time, actor, note, evidence FROM "
                        f"{store.EVENTS_TABLE} WHERE action = 'inspect' AND alert_id IN "
                        "(SELECT unnest(CAST(? AS VARCHAR[]))) ORDER BY time", [alert_ids])
    evidence = [json.loads(v) for v in frame["evidence"]]
    frame["problems"] = ["; ".join(e.get("problems", [])) for e in evidence]
    frame["source_found"] = [
        "" if not e.get("source_found") else
        " ".join(str(x) for x in (e["source_found"].get("source_id") or
                                  e["source_found"].get("name") or "", e["source_found"].get(
                                      "problem", "")) if x)
        for e in evidence]
    frame["measurements"] = ["; ".join(f"{m.get('instrument')} {m.get('pollutant')} "
                                       f"{m.get('value')} {m.get('unit', '')}".strip()
                                       for m in e.get("measurements", [])) for e in evidence]
    frame["photos"] = ["; ".join(e.get("photos", [])) for e in evidence]
    return frame[columns]


def _traced(workspace, cell_id: str, notes: list[str]) -> pd.DataFrame:
    if not _table(workspace, "trace_results", notes, "traced sources come from "
                  "'sourcegrid trace'"):
        return pd.DataFrame()
    frame = store.query(workspace, "SELECT * FROM trace_results WHERE cell_id = ?", [cell_id])
    if frame.empty:
        return frame
    sort = [c for c in ("start", "rank") if c in frame]
    if sort:
        frame = frame.sort_values(sort, ascending=[c != "start" for c in sort],
                                  kind="mergesort")
    return frame.reset_index(drop=True)


def _findings(workspace, cell_id: str) -> pd.DataFrame:
    if not store.has_table(workspace, "inspection_findings"):
        return pd.DataFrame()
    return store.query(workspace, "SELECT * FROM inspection_findings WHERE cell_id = ? "
                       "ORDER BY time", [cell_id])


def _people(organisation: Organisation, cell_id: str) -> pd.DataFrame:
    from sourcegrid.workflow.policy import LEVEL_RESPONSIBLE_ROLES

    rows = []
    for level in ("township", "county", "city"):
        roles = LEVEL_RESPONSIBLE_ROLES[level]
        for person in organisation.responsible(cell_id, level):
            for role in person.roles:
                if role in roles:
                    rows.append({"level": level, "role": role, "role_name": ROLE_NAMES[role],
                                 "person_id": person.person_id, "name": person.name,
                                 "phone": person.phone})
    return pd.DataFrame(rows, columns=["level", "role", "role_name", "person_id", "name",
                                       "phone"])


def _trend(workspace, cell_id: str, city_code, start, end, pollutant: str, notes: list[str]
           ) -> pd.DataFrame:
    columns = ["date", "cell", "city"]
    if not store.has_table(workspace, "cell_hours"):
        return pd.DataFrame(columns=columns)
    if end is None:
        last = store.query(workspace, "SELECT max(time) AS t FROM cell_hours WHERE cell_id = ? "
                           "AND pollutant = ?", [cell_id, pollutant])["t"].iloc[0]
        if last is None or pd.isna(last):
            notes.append(f"no {pollutant} cell-hours for this cell")
            return pd.DataFrame(columns=columns)
        end = pd.Timestamp(last) + pd.Timedelta(hours=1)
    end = store.as_utc(end)
    start = end - pd.Timedelta(days=TREND_DAYS) if start is None else store.as_utc(start)
    local = f"CAST(timezone('{store.LOCAL_TIMEZONE}', h.time) AS DATE)"
    if city_code is not None and store.has_table(workspace, "cells"):
        members = "AND h.cell_id IN (SELECT cell_id FROM cells WHERE city_code = ?)"
        parameters = [pollutant, start.to_pydatetime(), end.to_pydatetime(), str(city_code)]
    else:
        members, parameters = "", [pollutant, start.to_pydatetime(), end.to_pydatetime()]
    city = store.query(workspace, f"SELECT {local} AS date, avg(h.value) AS city FROM "
                       "cell_hours h WHERE h.pollutant = ? AND h.time >= ? AND h.time < ? "
                       f"{members} GROUP BY 1", parameters)
    cell = store.query(workspace, f"SELECT {local} AS date, avg(h.value) AS cell FROM "
                       "cell_hours h WHERE h.pollutant = ? AND h.time >= ? AND h.time < ? AND "
                       "h.cell_id = ? GROUP BY 1",
                       [pollutant, start.to_pydatetime(), end.to_pydatetime(), cell_id])
    frame = cell.merge(city, on="date", how="outer").sort_values("date", ignore_index=True)
    frame["date"] = pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d")
    return frame[columns]


def cell_dossier(workspace, cell_id: str, person: Person | None = None, *,
                 organisation: Organisation | None = None, start=None, end=None, now=None,
                 pollutant: str = "PM2.5") -> CellDossier:
    """Gather the dossier of one cell (see the module docstring for the sections).

    Parameters
    ----------
    cell_id : str
        The cell, e.g. 'R0012C0034'.
    person : Person, optional
        Who asks: the cell must be in their scope (``view``).
    start, end : time, optional
        Period of the trend (default: the last :data:`TREND_DAYS` days of the cell).
    now : time, optional
        For the overdue flags of the alerts and the dossier's date.
    pollutant : str
        Pollutant of the trend (default PM2.5).

    Raises
    ------
    NotFoundError
        The cell is not in the ``cells`` table.
    AccessDenied
        The cell is outside ``person``'s scope.
    """
    from sourcegrid.workflow.alerts import list_alerts
    from sourcegrid.workflow.policy import require

    store.ensure_tables(workspace)
    organisation = organisation or Organisation.load(workspace)
    if person is not None:
        require(organisation, person, "view", cell_id)
    if not store.has_table(workspace, "cells"):
        raise SourcegridError("the workspace has no table 'cells'; create the grid first "
                              "('sourcegrid grid create')")
    cells = store.query(workspace, "SELECT * FROM cells WHERE cell_id = ?", [cell_id])
    if cells.empty:
        raise NotFoundError("cell", cell_id, ["a cell id of the grid (table cells)"])
    now = store.utc_now() if now is None else store.as_utc(now)
    notes: list[str] = []
    cell = {k: _plain(v) for k, v in cells.iloc[0].to_dict().items()}
    for level, column in LEVEL_COLUMN.items():
        code = cell.get(column)
        unit = organisation.units.get(code) if code else None
        cell[f"{level}_name"] = unit.name if unit else (code or "")
    spec = _spec(workspace)
    if spec is not None:
        cell["cell_size_m"] = spec.cell_size
    sources = _sources(workspace, spec, cell_id, notes)
    emissions = _emissions(workspace, sources, notes)
    sector_mix = _sector_mix(workspace, cell_id, emissions, notes)
    alerts = list_alerts(workspace, cell_id=cell_id, now=now)
    alerts["assignees"] = [", ".join(a) for a in alerts["assignees"]]
    trend = _trend(workspace, cell_id, cell.get("city_code"), start, end, pollutant, notes)
    summary = {
        "sources": int(len(sources)),
        "emission_kg": {p: float(v) for p, v in
                        emissions.groupby("pollutant")["emission"].sum().items()}
        if len(emissions) else {},
        "alerts_open": int(alerts["state"].isin(["new", "dispatched", "acknowledged",
                                                 "inspected"]).sum()) if len(alerts) else 0,
        "alerts_closed": int(alerts["state"].isin(["resolved", "false_alarm"]).sum())
        if len(alerts) else 0,
        "alerts_overdue": int(alerts["overdue"].sum()) if len(alerts) else 0,
        "trend_pollutant": pollutant,
        "cell_mean": float(trend["cell"].mean()) if trend["cell"].notna().any() else None,
        "city_mean": float(trend["city"].mean()) if trend["city"].notna().any() else None,
    }
    if summary["cell_mean"] is not None and summary["city_mean"]:
        summary["ratio_to_city"] = summary["cell_mean"] / summary["city_mean"]
    return CellDossier(
        cell=cell, sources=sources, emissions=emissions, sector_mix=sector_mix,
        feeds=_feeds(workspace, spec, cell_id, notes), latest=_latest(workspace, cell_id, notes),
        hotspots=_hotspots(workspace, cell_id, notes), grade=_grade(workspace, cell_id, notes),
        alerts=alerts, inspections=_inspections(workspace, alerts["alert_id"].tolist()
                                                if len(alerts) else []),
        traced=_traced(workspace, cell_id, notes), findings=_findings(workspace, cell_id),
        people=_people(organisation, cell_id), trend=trend, generated_at=now,
        summary=summary, notes=notes)


# ------------------------------------------------------------------------------ output

#: Columns shown per section in the HTML and PDF (the dict has them all).
SHOWN = {
    "sources": ["source_id", "name", "kind", "sector", "industry_code", "lon", "lat", "share"],
    "emissions": ["source_id", "name", "sector", "pollutant", "emission", "share",
                  "source_emission"],
    "sector_mix": ["pollutant", "sector_name", "emission", "share_percent"],
    "feeds": ["site_id", "site_kind", "pollutant", "readings", "latest_time", "latest_value"],
    "latest": ["pollutant", "time", "value", "uncertainty", "method"],
    "hotspots": ["origin", "method", "period_start", "rank", "mean", "ratio_to_city_mean"],
    "alerts": ["alert_id", "source_kind", "grade", "title", "state", "level", "raised_at",
               "deadline", "overdue", "assignees"],
    "inspections": ["alert_id", "time", "actor", "problems", "source_found", "measurements",
                    "note"],
    "traced": ["rank", "source_id", "name", "sector", "distance_m", "bearing_deg", "share",
               "probability", "evidence", "start"],
    "findings": ["time", "source_id", "confirmed", "problem", "inspector"],
    "people": ["level", "role_name", "person_id", "name", "phone"],
}
TITLES = {
    "sources": "污染源 Sources (inventory)", "emissions": "排放量 Emissions [kg]",
    "sector_mix": "行业构成 Sector mix", "feeds": "监测设备 Feeds",
    "latest": "最新值 Latest fused values", "hotspots": "热点记录 Hotspot history",
    "alerts": "预警 Alerts", "inspections": "核查 Inspections",
    "traced": "溯源 Traced sources", "findings": "核查发现 Findings",
    "people": "责任人 Responsible people",
}


def _display(value, column: str = "") -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if column in ("lon", "lat"):
            return f"{value:.4f}"
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    text = str(value)
    if len(text) >= 19 and text[4:5] == "-" and "T" in text[:11] or text[10:11] == " ":
        try:
            stamp = pd.Timestamp(text)
            if stamp.tzinfo is not None:
                return stamp.tz_convert(store.LOCAL_TIMEZONE).strftime("%Y-%m-%d %H:%M")
        except (ValueError, TypeError):
            pass
    return text


def _section_rows(dossier: CellDossier, name: str) -> tuple[list[str], list[list[str]]]:
    frame = getattr(dossier, name)
    if frame is None or frame.empty:
        return [], []
    columns = [c for c in SHOWN.get(name, list(frame.columns)) if c in frame.columns]
    return columns, [[_display(v, c) for v, c in zip(row, columns, strict=True)]
                     for row in frame[columns].itertuples(index=False)]


def _trend_svg(trend: pd.DataFrame, width: int = 640, height: int = 200) -> dict | None:
    """Polyline points of the cell and city trend, for the inline SVG (no script)."""
    if trend.empty or not trend[["cell", "city"]].notna().any().any():
        return None
    values = trend[["cell", "city"]].to_numpy(float)
    top = float(np.nanmax(values)) * 1.1 or 1.0
    n = len(trend)
    left, bottom = 40, height - 24

    def points(column: str) -> str:
        out = []
        for i, v in enumerate(trend[column].to_numpy(float)):
            if np.isfinite(v):
                x = left + (width - left - 10) * (i / max(n - 1, 1))
                y = bottom - (bottom - 10) * (v / top)
                out.append(f"{x:.1f},{y:.1f}")
        return " ".join(out)

    ticks = [{"y": bottom - (bottom - 10) * f, "label": f"{top * f:.0f}"} for f in (0, .5, 1)]
    return {"width": width, "height": height, "cell": points("cell"), "city": points("city"),
            "ticks": ticks, "first": trend["date"].iloc[0], "last": trend["date"].iloc[-1],
            "left": left, "bottom": bottom}


def _context(dossier: CellDossier) -> dict:
    sections = []
    for name in ("people", "alerts", "inspections", "hotspots", "traced", "findings",
                 "sources", "emissions", "sector_mix", "feeds", "latest"):
        columns, rows = _section_rows(dossier, name)
        sections.append({"name": name, "title": TITLES[name], "columns": columns, "rows": rows})
    grade = {k: _display(v) for k, v in dossier.grade.items()
             if k in ("mean", "ratio_to_city_mean", "concentration_level",
                      "concentration_category", "excess_level", "excess_name",
                      "grade_evidence", "type", "types", "type_evidence")}
    summary = dict(dossier.summary)
    summary["emission_kg"] = ", ".join(f"{p} {_display(v)}" for p, v in
                                       summary.get("emission_kg", {}).items())
    return {"cell": {k: _display(v, k) for k, v in dossier.cell.items()}, "grade": grade,
            "summary": {k: _display(v) for k, v in summary.items()},
            "sections": sections, "notes": dossier.notes,
            "trend": _trend_svg(dossier.trend),
            "generated": _display(dossier.generated_at.isoformat())}


def _environment():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(_TEMPLATES),
                       autoescape=select_autoescape(["html", "j2"], default=True))


def render_html(dossier: CellDossier) -> str:
    """The dossier as one self-contained HTML page (autoescaped; no script, no network)."""
    return _environment().get_template("dossier.html.j2").render(**_context(dossier))


def write_html(dossier: CellDossier, path: str | Path) -> Path:
    """Write :func:`render_html` to ``path`` (atomically)."""
    text = render_html(dossier)
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def write_pdf(dossier: CellDossier, path: str | Path) -> Path:
    """Write the dossier as a PDF (reportlab; Chinese in the CID font STSong-Light)."""
    from sourcegrid.workflow.pdf import build_pdf

    context = _context(dossier)
    cell = context["cell"]
    blocks = [("title", f"一格一档 Cell dossier {cell.get('cell_id', '')}"),
              ("text", f"{cell.get('city_name', '')} / {cell.get('county_name', '')} / "
                       f"{cell.get('township_name', '')} — centre {cell.get('lon', '')}, "
                       f"{cell.get('lat', '')}; generated {context['generated']}"),
              ("heading", "概况 Summary"),
              ("pairs", list(context["summary"].items())),
              ("heading", "分级与类型 Grade and type"),
              ("pairs", list(context["grade"].items()) or [("", "not graded")])]
    if context["trend"] is not None:
        blocks.append(("heading", "PM2.5 趋势 Trend: cell vs city [µg/m³]"))
        blocks.append(("trend", dossier.trend))
    for section in context["sections"]:
        blocks.append(("heading", section["title"]))
        blocks.append(("table", (section["columns"], section["rows"])) if section["rows"]
                      else ("text", "—"))
    if context["notes"]:
        blocks.append(("heading", "说明 Notes"))
        blocks.extend(("text", note) for note in context["notes"])
    with atomic_path(path) as temporary:
        build_pdf(temporary, blocks, title=f"Cell dossier {cell.get('cell_id')}")
    return Path(path)


def write_dossier(dossier: CellDossier, path: str | Path) -> Path:
    """Write the dossier as .html or .pdf, by the suffix of ``path``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        return write_html(dossier, path)
    if suffix == ".pdf":
        return write_pdf(dossier, path)
    raise NotFoundError("dossier format", suffix or "(none)", (".html", ".pdf"))
