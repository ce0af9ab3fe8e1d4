"""Assessment (考核) of townships and grid heads over a period, with a ranking.

For a period [start, end) and each township (and each grid head), from the
alert event log and the fused ``cell_hours``:

=======================  ============================================================
alerts_received          alerts first dispatched in [start, end) on the unit's cells
                         (a grid head: alerts whose assignees included them)
median_response_hours    median of acknowledged_at − dispatched_at [h] over the alerts
                         acknowledged before ``end``
median_closure_hours     median of closed_at − dispatched_at [h] (closed = resolved or
                         false alarm, first time) over the alerts closed before ``end``
closure_rate             closed before ``end`` / received × 100 [%]
overdue                  alerts that were overdue at some moment before ``end`` (and
                         ``now``) by the inbox's and escalation's one rule
                         (:func:`sourcegrid.workflow.alerts.overdue_at`: the deadline of
                         the current stage at the current level, counted from the last
                         dispatch, escalate or reopen, passed before the next step)
escalated                alerts with at least one escalation before ``end``
repeat_hotspot_cells     cells with hotspot or monthly-list alerts for two or more
                         distinct periods starting in [start, end)
pm25_base, pm25_period   mean PM2.5 [ug/m3] over all cell-hours of the unit's cells in
                         the base period and in the period (each cell-hour weighs the
                         same)
pm25_change_percent      (period − base) / base × 100 [%]
city_change_percent      the same over all cells of the city (the unit's city code;
                         all cells when the cells carry no city code)
change_vs_city_points    pm25_change_percent − city_change_percent [percentage points]
=======================  ============================================================

The base period defaults to the same length just before ``start``. In the
Cangzhou pilot, PM2.5 in the 126 pilot hotspot cells fell 38.3 % against 20 %
for the whole city: change −38.3 %, city −20 %, −18.3 points against the city.

Ranking (:data:`RANKING_ORDERS`, named): 'sourcegrid_default' orders by closure
rate (high first), overdue (few first), median closure time (short first) and
change against the city (most negative first); rank 1 is the best. This order is
sourcegrid's own default, not a ministry rule; bureaus set their own.

References
----------
Cangzhou hotspot-grid pilot: 126 pilot cells, PM2.5 −38.3 % vs −20 % for the city
(DESIGN.md, Hotspot grid facts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sourcegrid.errors import NotFoundError
from sourcegrid.io.tables import atomic_path
from sourcegrid.workflow import tables as store
from sourcegrid.workflow.alerts import overdue_alerts
from sourcegrid.workflow.org import Organisation, Person

__all__ = ["Assessment", "assess", "alert_timings", "unit_metrics", "rank_units",
           "write_xlsx", "write_pdf", "write_assessment", "RANKING_ORDERS", "METRIC_COLUMNS"]

#: Named ranking orders: (column, ascending) pairs applied in turn.
RANKING_ORDERS: dict[str, list[tuple[str, bool]]] = {
    "sourcegrid_default": [("closure_rate", False), ("overdue", True),
                           ("median_closure_hours", True), ("change_vs_city_points", True)],
    "air_quality_first": [("change_vs_city_points", True), ("closure_rate", False),
                          ("overdue", True)],
}

METRIC_COLUMNS = ["alerts_received", "median_response_hours", "median_closure_hours",
                  "closure_rate", "overdue", "escalated", "repeat_hotspot_cells", "pm25_base",
                  "pm25_period", "pm25_change_percent", "city_change_percent",
                  "change_vs_city_points"]


@dataclass
class Assessment:
    """Result of :func:`assess`: one ranked table per township and per grid head."""

    start: pd.Timestamp
    end: pd.Timestamp
    base_start: pd.Timestamp
    base_end: pd.Timestamp
    townships: pd.DataFrame
    grid_heads: pd.DataFrame
    city: dict
    parameters: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready dict (tables as records, NaN → None, times ISO 8601)."""
        from sourcegrid.workflow.dossier import _plain, _records

        return {"start": self.start.isoformat(), "end": self.end.isoformat(),
                "base_start": self.base_start.isoformat(), "base_end": self.base_end.isoformat(),
                "townships": _records(self.townships), "grid_heads": _records(self.grid_heads),
                "city": _plain(self.city), "parameters": _plain(self.parameters)}


def alert_timings(events: pd.DataFrame, registry: pd.DataFrame, end: pd.Timestamp,
                  deadlines: dict, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """Per alert: dispatch, acknowledge and close times before ``end``, escalation, overdue.

    Parameters
    ----------
    events : DataFrame
        The event log (alert_id, seq, time, action, to_state, assignees as lists).
    registry : DataFrame
        alert_id, cell_id, grade, source_kind, start.
    end : Timestamp
        Events at or after ``end`` are not seen.
    deadlines : dict
        A deadline set (:data:`sourcegrid.workflow.alerts.DEADLINES`).
    as_of : Timestamp, optional
        The clock for alerts still open: overdue when their deadline is before
        ``min(end, as_of)`` (default ``end``), so a period reaching into the future
        does not count deadlines that have not come yet.

    Returns
    -------
    DataFrame
        alert_id, cell_id, grade, dispatched_at, acknowledged_at, closed_at,
        response_hours, closure_hours, escalated (bool), overdue (bool), assignees (set).
    """
    seen = events[pd.to_datetime(events["time"], utc=True) < end].copy()
    seen["time"] = pd.to_datetime(seen["time"], utc=True)

    def first(mask: pd.Series, name: str) -> pd.Series:
        return seen[mask].groupby("alert_id")["time"].min().rename(name)

    closing = seen["to_state"].isin(["resolved", "false_alarm"]) & (
        seen["from_state"] != seen["to_state"])
    frame = pd.concat([first(seen["action"] == "dispatch", "dispatched_at"),
                       first(seen["action"] == "acknowledge", "acknowledged_at"),
                       first(closing, "closed_at")], axis=1)
    frame = frame[frame["dispatched_at"].notna()]
    frame["escalated"] = frame.index.isin(seen.loc[seen["action"] == "escalate", "alert_id"])
    assigned = seen[seen["action"].isin(["dispatch", "escalate", "reopen"])]
    people = assigned.groupby("alert_id")["assignees"].agg(
        lambda lists: set().union(*[set(v) for v in lists]))
    frame["assignees"] = people.reindex(frame.index)
    frame["assignees"] = [v if isinstance(v, set) else set() for v in frame["assignees"]]
    frame = frame.join(registry.set_index("alert_id")[["cell_id", "grade"]], how="left")
    hour = pd.Timedelta(hours=1)
    frame["response_hours"] = (frame["acknowledged_at"] - frame["dispatched_at"]) / hour
    frame["closure_hours"] = (frame["closed_at"] - frame["dispatched_at"]) / hour
    cutoff = end if as_of is None else min(end, as_of)
    grades = registry.set_index("alert_id")["grade"]
    flags = overdue_alerts(seen, grades, cutoff, deadlines)
    frame["overdue"] = flags.reindex(frame.index).fillna(False).astype(bool)
    return frame.rename_axis("alert_id").reset_index()


def _pm25(workspace, cells: list[str] | None, start, end, pollutant: str) -> float:
    """Mean over cell-hours of the cells (None: all cells) in [start, end) [ug/m3]."""
    if not store.has_table(workspace, "cell_hours"):
        return float("nan")
    sql = ("SELECT avg(value) AS v FROM cell_hours WHERE pollutant = ? AND time >= ? "
           "AND time < ?")
    parameters = [pollutant, start.to_pydatetime(), end.to_pydatetime()]
    if cells is not None:
        if not cells:
            return float("nan")
        sql += " AND cell_id IN (SELECT unnest(CAST(? AS VARCHAR[])))"
        parameters.append(list(cells))
    value = store.query(workspace, sql, parameters)["v"].iloc[0]
    return float("nan") if value is None or pd.isna(value) else float(value)


def _change(base: float, period: float) -> float:
    return (period - base) / base * 100.0 if base and np.isfinite(base) else float("nan")


def unit_metrics(timings: pd.DataFrame, end: pd.Timestamp) -> dict:
    """Alert metrics of one unit's (or person's) alerts (rows of :func:`alert_timings`)."""
    received = len(timings)
    closed = int(timings["closed_at"].notna().sum()) if received else 0
    return {
        "alerts_received": received,
        "median_response_hours": float(timings["response_hours"].median()) if received
        and timings["response_hours"].notna().any() else float("nan"),
        "median_closure_hours": float(timings["closure_hours"].median()) if received
        and timings["closure_hours"].notna().any() else float("nan"),
        "closure_rate": closed / received * 100.0 if received else float("nan"),
        "overdue": int(timings["overdue"].sum()) if received else 0,
        "escalated": int(timings["escalated"].sum()) if received else 0,
    }


def rank_units(frame: pd.DataFrame, order: str = "sourcegrid_default") -> pd.DataFrame:
    """Sort by a named ranking order and number the rows (rank 1 = best; NaN last)."""
    if order not in RANKING_ORDERS:
        raise NotFoundError("ranking order", order, RANKING_ORDERS)
    if frame.empty:
        return frame.assign(rank=pd.Series(dtype="int64"))
    keys = RANKING_ORDERS[order]
    ranked = frame.sort_values([k for k, _ in keys], ascending=[a for _, a in keys],
                               na_position="last", kind="mergesort").reset_index(drop=True)
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    return ranked


def _repeat_cells(registry: pd.DataFrame, start, end) -> pd.Series:
    hot = registry[registry["source_kind"].isin(["hotspot", "monthly"])]
    starts = pd.to_datetime(hot["start"], utc=True)
    hot = hot[(starts >= start) & (starts < end)]
    counts = hot.groupby("cell_id")["start"].nunique()
    return counts[counts >= 2]


def assess(workspace, start, end, *, base_start=None, base_end=None,
           person: Person | None = None, organisation: Organisation | None = None,
           deadlines="sourcegrid_default", ranking: str = "sourcegrid_default",
           pollutant: str = "PM2.5", now=None) -> Assessment:
    """Assess every township and grid head over [start, end) (see the module docstring).

    Parameters
    ----------
    start, end : time
        The period (naive = Beijing time); end excluded.
    base_start, base_end : time, optional
        The base period of the PM2.5 change (default: the same length before start).
    person : Person, optional
        Who asks: needs ``assess``; only townships and grid heads in their scope.
    deadlines : str or dict
        Deadline set for ``overdue`` (see :data:`sourcegrid.workflow.alerts.DEADLINES`).
    ranking : str
        A name in :data:`RANKING_ORDERS`.
    now : time, optional
        The clock (default: the system clock): open alerts count as overdue only
        once their deadline is before both ``end`` and ``now``.

    Returns
    -------
    Assessment
    """
    from sourcegrid.workflow.alerts import alert_events, deadline_set
    from sourcegrid.workflow.policy import require, visible_units

    start, end = store.as_utc(start), store.as_utc(end)
    if not end > start:
        raise ValueError(f"the period end {end} must be after its start {start}")
    if base_start is None and base_end is None:
        base_end, base_start = start, start - (end - start)
    elif base_start is None or base_end is None:
        raise ValueError("give both base_start and base_end, or neither")
    base_start, base_end = store.as_utc(base_start), store.as_utc(base_end)
    if ranking not in RANKING_ORDERS:
        raise NotFoundError("ranking order", ranking, RANKING_ORDERS)
    limits = deadline_set(deadlines)
    organisation = organisation or Organisation.load(workspace)
    if person is not None:
        require(organisation, person, "assess")
    registry = store.query(workspace, f"SELECT alert_id, cell_id, grade, source_kind, start "
                           f"FROM {store.REGISTRY_TABLE}")
    now = store.utc_now() if now is None else store.as_utc(now)
    timings = alert_timings(alert_events(workspace), registry, end, limits, as_of=now)
    timings = timings[(timings["dispatched_at"] >= start) & (timings["dispatched_at"] < end)]
    repeat = _repeat_cells(registry, start, end)
    cells = organisation.cells
    township_of = dict(zip(cells["cell_id"], cells["township_code"], strict=True))
    timings = timings.assign(township_code=timings["cell_id"].map(township_of))

    city_cache: dict = {}

    def city_change(code) -> tuple[float, float, float]:
        if code not in city_cache:
            members = (None if code is None else
                       cells.loc[cells["city_code"] == code, "cell_id"].tolist())
            base = _pm25(workspace, members, base_start, base_end, pollutant)
            period = _pm25(workspace, members, start, end, pollutant)
            city_cache[code] = (base, period, _change(base, period))
        return city_cache[code]

    def pm_block(members: list[str], city_code) -> dict:
        base = _pm25(workspace, members, base_start, base_end, pollutant)
        period = _pm25(workspace, members, start, end, pollutant)
        change = _change(base, period)
        city = city_change(city_code)[2]
        return {"pm25_base": base, "pm25_period": period, "pm25_change_percent": change,
                "city_change_percent": city, "change_vs_city_points": change - city}

    allowed = visible_units(organisation, person) if person is not None else None
    rows = []
    for unit in sorted(organisation.units.values(), key=lambda u: u.code):
        if unit.level != "township" or (allowed is not None and unit.code not in allowed):
            continue
        members = sorted(organisation.unit_cells(unit.code))
        mine = timings[timings["township_code"] == unit.code]
        city_code = organisation.cell_units(members[0])["city"] if members else None
        rows.append({"unit_code": unit.code, "name": unit.name, "cells": len(members),
                     **unit_metrics(mine, end),
                     "repeat_hotspot_cells": int(repeat.index.isin(members).sum()),
                     **pm_block(members, city_code)})
    townships = rank_units(pd.DataFrame(rows, columns=["unit_code", "name", "cells",
                                                       *METRIC_COLUMNS]), ranking)
    visible = (organisation.visible_cells(person) if person is not None else None)
    rows = []
    for head in sorted(organisation.people.values(), key=lambda p: p.person_id):
        if not head.has_role("chief_grid_head", "grid_head"):
            continue
        members = sorted(organisation.visible_cells(head))
        if visible is not None:
            # a scoped reader sees the heads of its cells; a head without cells only when
            # all of the head's units are in the reader's scope (never someone else's)
            if not set(members) <= visible:
                continue
            if not members and not (head.units and set(head.units) <= allowed):
                continue
        mine = timings[[head.person_id in a for a in timings["assignees"]]]
        city_code = organisation.cell_units(members[0])["city"] if members else None
        rows.append({"person_id": head.person_id, "name": head.name,
                     "roles": ";".join(head.roles), "units": ";".join(head.units),
                     "cells": len(members), **unit_metrics(mine, end),
                     "repeat_hotspot_cells": int(repeat.index.isin(members).sum()),
                     **pm_block(members, city_code)})
    heads = rank_units(pd.DataFrame(rows, columns=["person_id", "name", "roles", "units", "cells",
                                                   *METRIC_COLUMNS]), ranking)
    codes = [c for c in cells["city_code"].dropna().unique()] or [None]
    base, period, change = city_change(codes[0] if len(codes) == 1 else None)
    # the city's PM2.5 is the yardstick of every unit; its alert counts are other
    # townships' business: a scoped reader gets those of the cells in scope only
    scoped = visible is not None
    seen = timings[timings["cell_id"].isin(visible)] if scoped else timings
    repeats = repeat[repeat.index.isin(visible)] if scoped else repeat
    city = {"city_code": codes[0] if len(codes) == 1 else None,
            "alerts_of": "the cells in your scope" if scoped else "the whole city",
            **unit_metrics(seen, end), "repeat_hotspot_cells": int(len(repeats)),
            "pm25_base": base, "pm25_period": period, "pm25_change_percent": change}
    return Assessment(start, end, base_start, base_end, townships, heads, city,
                      {"deadlines": deadlines if isinstance(deadlines, str) else "custom",
                       "ranking": ranking, "pollutant": pollutant})


def _plain_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.round(2)


def write_xlsx(assessment: Assessment, path: str | Path) -> Path:
    """XLSX with sheets townships, grid_heads, city, definitions (atomic write)."""
    definitions = pd.DataFrame({
        "item": ["period", "base period", "ranking", "deadlines", "pollutant"],
        "value": [f"{assessment.start.isoformat()} – {assessment.end.isoformat()}",
                  f"{assessment.base_start.isoformat()} – {assessment.base_end.isoformat()}",
                  str(assessment.parameters.get("ranking")),
                  str(assessment.parameters.get("deadlines")),
                  str(assessment.parameters.get("pollutant"))]})
    city = pd.DataFrame([{k: v for k, v in assessment.city.items()}])

    def write(temporary: Path) -> None:
        with pd.ExcelWriter(temporary, engine="openpyxl") as writer:
            _plain_frame(assessment.townships).to_excel(writer, sheet_name="townships",
                                                        index=False)
            _plain_frame(assessment.grid_heads).to_excel(writer, sheet_name="grid_heads",
                                                         index=False)
            _plain_frame(city).to_excel(writer, sheet_name="city", index=False)
            definitions.to_excel(writer, sheet_name="definitions", index=False)

    with atomic_path(path) as temporary:
        write(temporary)
    return Path(path)


def write_pdf(assessment: Assessment, path: str | Path) -> Path:
    """PDF report: period, city line, township and grid-head ranking tables."""
    from sourcegrid.workflow.dossier import _display
    from sourcegrid.workflow.pdf import build_pdf

    def table(frame: pd.DataFrame, key: list[str]):
        columns = ["rank", *key, "alerts_received", "median_response_hours",
                   "median_closure_hours", "closure_rate", "overdue", "escalated",
                   "repeat_hotspot_cells", "pm25_change_percent", "change_vs_city_points"]
        columns = [c for c in columns if c in frame]
        return (columns, [[_display(v) for v in row]
                          for row in frame[columns].itertuples(index=False)])

    local = store.LOCAL_TIMEZONE
    blocks = [("title", "网格考核 Assessment of townships and grid heads"),
              ("text", f"period {assessment.start.tz_convert(local):%Y-%m-%d %H:%M} – "
                       f"{assessment.end.tz_convert(local):%Y-%m-%d %H:%M} (Beijing time), base "
                       f"{assessment.base_start.tz_convert(local):%Y-%m-%d} – "
                       f"{assessment.base_end.tz_convert(local):%Y-%m-%d}; ranking "
                       f"{assessment.parameters.get('ranking')}"),
              ("heading", "全市 City"),
              ("pairs", [(k, _display(v)) for k, v in assessment.city.items()]),
              ("heading", "乡镇排名 Townships")]
    blocks.append(("table", table(assessment.townships, ["unit_code", "name"]))
                  if len(assessment.townships) else ("text", "—"))
    blocks.append(("heading", "网格长排名 Grid heads"))
    blocks.append(("table", table(assessment.grid_heads, ["person_id", "name"]))
                  if len(assessment.grid_heads) else ("text", "—"))
    blocks.append(("text", "closure_rate [%]; times [h]; PM2.5 change [%] and against the "
                           "city [percentage points]; the Cangzhou pilot's cells: −38.3 % vs "
                           "−20 % for the city."))
    with atomic_path(path) as temporary:
        build_pdf(temporary, blocks, title="Assessment")
    return Path(path)


def write_assessment(assessment: Assessment, path: str | Path) -> Path:
    """Write .xlsx or .pdf by the suffix of ``path``."""
    suffix = Path(path).suffix.lower()
    if suffix == ".xlsx":
        return write_xlsx(assessment, path)
    if suffix == ".pdf":
        return write_pdf(assessment, path)
    raise NotFoundError("assessment format", suffix or "(none)", (".xlsx", ".pdf"))
