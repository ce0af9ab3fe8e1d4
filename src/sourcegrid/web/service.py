"""What the pages and the API do, once: each function checks the policy, then reads or acts.

Both :mod:`.api` (JSON) and :mod:`.pages` (HTML) call these functions, so a
page never shows what the API would refuse and the other way round. Every
read passes the caller's visible cells down to :mod:`.views`; every write
runs under the store's write lock, goes through :mod:`sourcegrid.workflow`
(which appends to its event log) or appends to ``web_events``, and bumps the
store version so the caches are rebuilt.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from sourcegrid.errors import NotFoundError
from sourcegrid.observations.readers import LOCAL_TZ as LOCAL_TIMEZONE
from sourcegrid.web.deps import Caller
from sourcegrid.web.views import INVENTORY_BREAKDOWNS, clean, records

__all__ = [
    "parse_time",
    "map_times",
    "map_layer",
    "cell_summary",
    "alerts_for",
    "alert_detail",
    "alert_action",
    "raise_alert",
    "inventory_summary",
    "store_photo",
    "PHOTO_TYPES",
]

#: Accepted photo types: leading bytes → (media type, file suffix).
PHOTO_TYPES = {
    b"\xff\xd8\xff": ("image/jpeg", ".jpg"),
    b"\x89PNG\r\n\x1a\n": ("image/png", ".png"),
}
UPLOADS_FOLDER = "uploads"
_POLLUTANT_RE = re.compile(r"^[A-Za-z0-9_.]{1,16}$")


def parse_time(text: str | None, name: str = "time") -> pd.Timestamp | None:
    """A tz-aware UTC time from ISO 8601 text (naive = Beijing time); ValueError naming ``name``.

    The parsing is :func:`sourcegrid.observations.readers.utc_timestamp`'s (the one
    home of time parsing); this adds the web's message and the 1900-2200 bounds.
    """
    if text is None or text == "":
        return None
    from sourcegrid.observations.readers import utc_timestamp

    try:
        stamp = utc_timestamp(text, name)
    except (ValueError, TypeError, OverflowError):
        raise ValueError(f"{name}: expected an ISO 8601 time such as 2017-01-05T08:00+08:00, "
                         f"got {text[:60]!r}") from None
    if not (pd.Timestamp("1900-01-01", tz="UTC") <= stamp <= pd.Timestamp("2200-01-01",
                                                                           tz="UTC")):
        raise ValueError(f"{name}: {text[:60]!r} is outside 1900-2200")
    return stamp


def check_pollutant(pollutant: str) -> str:
    if not _POLLUTANT_RE.match(pollutant or ""):
        raise ValueError(f"pollutant: expected a pollutant name such as PM2.5, got "
                         f"{str(pollutant)[:40]!r}")
    return pollutant


# ---------------------------------------------------------------------------- map and cells


def map_times(state, caller: Caller, pollutant: str) -> dict[str, Any]:
    caller.require("view")
    check_pollutant(pollutant)
    return {"pollutant": pollutant, "times": state.views.map_times(pollutant)}


def map_layer(state, caller: Caller, pollutant: str, time: str | None) -> dict[str, Any]:
    caller.require("view")
    check_pollutant(pollutant)
    return state.views.map_layer(pollutant, parse_time(time), caller.visible())


def require_cell(state, caller: Caller, cell_id: str) -> None:
    """404 for a cell that does not exist, 403 (AccessDenied) for one outside the scope."""
    if cell_id not in state.views.cell_ids():
        raise NotFoundError("cell", cell_id, [])
    caller.require("view", cell_id)


def cells_list(state, caller: Caller) -> list[dict[str, Any]]:
    caller.require("view")
    visible = caller.visible()
    cells = state.views.cells()
    if visible is not None:
        cells = cells[cells["cell_id"].isin(visible)]
    hotspots = state.views.hotspot_cells()
    grades = state.views.grades()
    out = []
    for row in records(cells[[c for c in ("cell_id", "row", "col", "lon", "lat", "city_code",
                                          "county_code", "township_code") if c in cells]]):
        grade = grades.get(row["cell_id"], {})
        row["hotspot"] = row["cell_id"] in hotspots
        row["grade"] = grade.get("concentration_category")
        row["type"] = grade.get("type")
        out.append(row)
    return out


def cell_summary(state, caller: Caller, cell_id: str, pollutant: str = "PM2.5"
                 ) -> dict[str, Any]:
    require_cell(state, caller, cell_id)
    check_pollutant(pollutant)
    cells = state.views.cells()
    row = records(cells[cells["cell_id"] == cell_id])[0]
    series = state.views.cell_series(cell_id, pollutant)
    row["hotspot"] = cell_id in state.views.hotspot_cells()
    row["grade"] = state.views.grades().get(cell_id)
    row["series"] = {"pollutant": pollutant, "time": [clean(t) for t in
                                                      pd.to_datetime(series["time"], utc=True)],
                     "value": [clean(v) for v in series["value"]]}
    return row


# ---------------------------------------------------------------------------- dossier


def dossier(state, caller: Caller, cell_id: str):
    """The workflow's dossier of a cell (scope checked first).

    Kept for reuse until the cell's alerts change (:func:`cell_changed`), the
    workspace's tables change, or the minute turns (deadlines move with the clock).
    """
    require_cell(state, caller, cell_id)
    from sourcegrid.workflow.dossier import cell_dossier

    now = state.now()
    key = cell_id  # the content does not depend on who asks (the scope is checked above)
    stamp = (state.store.version, state.cell_versions.get(cell_id, 0), now.floor("min"))
    cached = state.dossiers.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    built = cell_dossier(state.workspace, cell_id, organisation=caller.organisation, now=now)
    if len(state.dossiers) > 2000:
        state.dossiers.clear()
    state.dossiers[key] = (stamp, built)
    return built


def cell_changed(state, cell_id: str) -> None:
    """Note a write on a cell's alerts or findings (its cached dossiers are stale)."""
    state.cell_versions[cell_id] = state.cell_versions.get(cell_id, 0) + 1


def run_deadlines(state) -> dict[str, Any]:
    """Dispatch new alerts and escalate overdue ones, now, under the app's write lock.

    The app holds the workspace's DuckDB write lock while it serves, so a cron job
    running ``sourcegrid alerts escalate`` could not write: the app does it itself,
    every ``escalation_interval`` seconds (:func:`sourcegrid.web.create_app`), with
    its own clock and deadline set. Returns what was done (alert ids).
    """
    from sourcegrid.workflow.alerts import dispatch_alerts, escalate_overdue

    with state.store.lock:
        now = state.now()
        organisation = state.organisation()
        dispatched = dispatch_alerts(state.workspace, now=now, organisation=organisation)
        escalated = escalate_overdue(state.workspace, now=now, deadlines=state.deadlines,
                                     organisation=organisation)
        moved = escalated[escalated["escalated"]] if len(escalated) else escalated
        if len(dispatched) or len(moved):
            from sourcegrid.workflow.alerts import alert_states

            changed = [e.alert_id for e in dispatched] + moved["alert_id"].tolist()
            cells = alert_states(state.workspace, alert_ids=changed)["cell_id"]
            for cell in set(cells):
                cell_changed(state, cell)
    return {"time": now.isoformat(), "dispatched": [e.alert_id for e in dispatched],
            "escalated": moved["alert_id"].tolist() if len(moved) else [],
            "overdue_at_city": escalated.loc[~escalated["escalated"], "alert_id"].tolist()
            if len(escalated) else []}


def dossier_pdf_bytes(dossier) -> bytes:
    """The dossier as PDF bytes (the workflow writes the file; a temporary folder here)."""
    import tempfile

    from sourcegrid.workflow.dossier import write_pdf

    with tempfile.TemporaryDirectory(prefix="sourcegrid-dossier-") as folder:
        path = write_pdf(dossier, Path(folder) / "dossier.pdf")
        return Path(path).read_bytes()


# ---------------------------------------------------------------------------- alerts


def _alert_record(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: clean(v) for k, v in row.items() if k != "events"}
    for key in ("assignees", "actions"):
        if key in row and row[key] is not None:
            out[key] = [clean(v) for v in list(row[key])]
    if "detail" in row:
        out["detail"] = row["detail"]
    return out


def alerts_for(state, caller: Caller, *, status: str | None = None, cell_id: str | None = None,
               assigned_only: bool = False) -> list[dict[str, Any]]:
    """Alerts on the caller's cells with what the caller may do on each."""
    from sourcegrid.workflow.alerts import list_alerts

    caller.require("view")
    states = None
    if status:
        states = [s.strip() for s in status.split(",") if s.strip()]
    if cell_id is not None:
        require_cell(state, caller, cell_id)
    frame = list_alerts(state.workspace, caller.person, organisation=caller.organisation,
                        states=states, cell_id=cell_id, now=state.now(),
                        assigned_only=assigned_only)
    frame = frame.sort_values(["raised_at", "alert_id"], ascending=[False, True])
    return [_alert_record(dict(zip(frame.columns, row, strict=True)))
            for row in frame.itertuples(index=False, name=None)]


def alert_detail(state, caller: Caller, alert_id: str) -> dict[str, Any]:
    from sourcegrid.workflow.alerts import get_alert

    out = get_alert(state.workspace, alert_id, caller.person, organisation=caller.organisation,
                    now=state.now())
    events = [{k: clean(v) if k not in ("evidence", "assignees") else v
               for k, v in event.items()} for event in out["events"]]
    record = _alert_record(out)
    record["events"] = events
    return record


def alert_cell(state, caller: Caller, alert_id: str) -> str:
    """The cell of an alert the caller may see (404 unknown, 403 outside the scope)."""
    from sourcegrid.workflow.tables import REGISTRY_TABLE

    rows = state.store.query(f'SELECT cell_id FROM "{REGISTRY_TABLE}" WHERE alert_id = ?',
                             [alert_id])
    if not rows:
        raise NotFoundError("alert", alert_id, [])
    caller.require("view", rows[0]["cell_id"])
    return rows[0]["cell_id"]


def alert_action(state, caller: Caller, alert_id: str, action: str, *, note: str = "",
                 evidence: dict | None = None, expected_seq: int | None = None
                 ) -> dict[str, Any]:
    """One step of an alert (the workflow checks role, scope and state; appends the event)."""
    from sourcegrid.workflow.alerts import act

    # the scope check first, so an alert outside the scope says so (not "bad state")
    cell = alert_cell(state, caller, alert_id)
    with state.store.lock:
        try:
            event = act(state.workspace, alert_id, action, caller.person, now=state.now(),
                        note=note, evidence=evidence, expected_seq=expected_seq,
                        organisation=caller.organisation)
        finally:
            cell_changed(state, cell)
    return {k: clean(v) if k not in ("evidence", "assignees") else v
            for k, v in event.to_dict().items()}


def raise_alert(state, caller: Caller, *, cell_id: str, pollutant: str, title: str,
                grade: str, note: str = "") -> dict[str, Any]:
    """Raise an alert by hand (source_kind 'manual') on a cell in scope."""
    from sourcegrid.workflow.alerts import ALERT_GRADES, act, register_alerts

    require_cell(state, caller, cell_id)
    caller.require("raise", cell_id)
    check_pollutant(pollutant)
    if grade not in ALERT_GRADES:
        raise ValueError(f"grade: expected one of {', '.join(ALERT_GRADES)}, got {grade!r}")
    from sourcegrid.workflow.intake import manual_alert

    now = state.now()
    frame = manual_alert(cell_id, title.strip() or f"{pollutant} alert on {cell_id}",
                         pollutant=pollutant, start=now.floor("s"), grade=grade, note=note)
    with state.store.lock:
        result = register_alerts(state.workspace, frame, actor=caller.person, now=now,
                                 organisation=caller.organisation)
        ids = result.new or result.known
        if result.new and note:
            act(state.workspace, ids[0], "comment", caller.person, now=now, note=note,
                organisation=caller.organisation)
        cell_changed(state, cell_id)
    return {"alert_id": ids[0], "created": bool(result.new)}


# ---------------------------------------------------------------------------- inventory


def inventory_summary(state, caller: Caller, by: str, pollutant: str | None
                      ) -> dict[str, Any]:
    caller.require("view")
    if by not in INVENTORY_BREAKDOWNS:
        raise ValueError(f"by: expected one of {', '.join(INVENTORY_BREAKDOWNS)}, got {by!r}")
    valid = state.views.inventory_pollutants()
    if pollutant:
        check_pollutant(pollutant)
        if pollutant not in valid:
            raise ValueError(f"pollutant: {pollutant!r} is not in the inventory; expected one "
                             f"of {', '.join(valid) or '(none: the inventory is empty)'}")
    frame = state.views.inventory_summary(caller.visible(), by, pollutant or None)
    return {"by": by, "pollutant": pollutant or None, "unit": "kg", "rows": records(frame),
            "pollutants": valid}


# ---------------------------------------------------------------------------- AQI


def cell_aqi(state, caller: Caller, cell_id: str | None = None) -> dict[str, Any]:
    caller.require("view")
    visible = caller.visible()
    if cell_id is not None:
        require_cell(state, caller, cell_id)
        visible = {cell_id}
    daily = state.views.cell_daily_aqi(visible)
    columns = [c for c in ("date", "site_id", "edition", "aqi", "level", "category",
                           "primary_pollutant", "iaqi_PM2.5", "PM2.5_24h") if c in daily]
    frame = daily[columns].rename(columns={"site_id": "cell_id"})
    return {"rows": records(frame)}


def station_aqi(state, caller: Caller) -> dict[str, Any]:
    """Daily AQI of the reference stations (published data: every logged-in role sees it)."""
    caller.require("view")
    frame = state.views.station_aqi()
    if frame is None:
        return {"rows": []}
    columns = [c for c in ("date", "site_id", "edition", "aqi", "level", "category",
                           "primary_pollutant") if c in frame]
    return {"rows": records(frame[columns])}


def good_days(state, caller: Caller) -> dict[str, Any]:
    caller.require("view")
    stations = state.views.station_aqi()
    cells = state.views.cell_daily_aqi(caller.visible())
    out = {"stations": [], "cells": []}
    if stations is not None and len(stations):
        out["stations"] = records(state.views.good_days(stations))
    if len(cells):
        mean = state.views.good_days(cells)
        out["cells"] = records(mean)
    return out


# ---------------------------------------------------------------------------- uploads


def sniff_photo(data: bytes) -> tuple[str, str] | None:
    """(media type, suffix) of a JPEG or PNG by its leading bytes; None otherwise."""
    for magic, kind in PHOTO_TYPES.items():
        if data.startswith(magic):
            return kind
    return None


def store_photo(state, caller: Caller, data: bytes, declared_type: str | None,
                cell_id: str) -> str:
    """Keep an uploaded photo in ``<workspace>/uploads`` and return its name.

    Checks: at most ``state.max_upload_bytes``; the bytes are a JPEG or PNG (the
    declared type must agree). The upload is logged in ``web_events``.
    """
    from fastapi import HTTPException

    if len(data) > state.max_upload_bytes:
        raise HTTPException(413, f"photo: {len(data)} bytes is more than the "
                                 f"{state.max_upload_bytes} bytes allowed")
    if not data:
        raise HTTPException(422, "photo: the file is empty")
    kind = sniff_photo(data)
    if kind is None:
        raise HTTPException(415, "photo: expected a JPEG or PNG image")
    if declared_type and declared_type not in (kind[0], "application/octet-stream",
                                               "image/jpg"):
        raise HTTPException(415, f"photo: declared as {declared_type[:40]} but the file is "
                                 f"{kind[0]}")
    folder = Path(state.workspace.path) / UPLOADS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    name = uuid.uuid4().hex + kind[1]
    temporary = folder / (name + ".part")
    temporary.write_bytes(data)
    temporary.replace(folder / name)
    state.store.log_event(caller.person_id, "photo_uploaded", name,
                          {"cell_id": cell_id, "bytes": len(data), "type": kind[0]})
    return name


def photo_path(state, caller: Caller, name: str) -> tuple[Path, str]:
    """A stored photo, if its cell is in the caller's scope."""
    if not re.match(r"^[0-9a-f]{32}\.(jpg|png)$", name):
        raise NotFoundError("photo", name, [])
    rows = state.store.query("SELECT detail FROM web_events WHERE action = 'photo_uploaded' "
                             "AND target = ?", [name])
    if not rows:
        raise NotFoundError("photo", name, [])
    cell = json.loads(rows[0]["detail"]).get("cell_id")
    caller.require("view", cell)
    path = Path(state.workspace.path) / UPLOADS_FOLDER / name
    if not path.exists():
        raise NotFoundError("photo", name, [])
    return path, "image/png" if name.endswith(".png") else "image/jpeg"


def record_inspection(state, caller: Caller, *, alert_id: str | None, cell_id: str | None,
                      source_id: str = "", confirmed: bool = True, problem: str = "",
                      note: str = "", lon: float | None = None, lat: float | None = None,
                      photos: list[str] | None = None) -> dict[str, Any]:
    """An inspector's finding: an ``inspect`` event on the alert (the workflow passes the
    source found on to tracing's findings), or without an alert a finding on a cell."""
    evidence: dict[str, Any] = {}
    if photos:
        evidence["photos"] = photos
    if problem:
        evidence["problems"] = [problem]
    if source_id or (lon is not None and lat is not None):
        found: dict[str, Any] = {"confirmed": bool(confirmed), "problem": problem}
        if source_id:
            found["source_id"] = source_id
        if lon is not None and lat is not None:
            found["lon"], found["lat"] = float(lon), float(lat)
        evidence["source_found"] = found
    if alert_id:
        event = alert_action(state, caller, alert_id, "inspect", note=note, evidence=evidence)
        return {"alert_id": alert_id, "event": event}
    if not cell_id:
        raise ValueError("cell_id: give the alert inspected, or the cell of the finding")
    require_cell(state, caller, cell_id)
    caller.require("record_finding", cell_id)
    from sourcegrid.tracing.findings import record_finding

    with state.store.lock:
        recorded = False
        if "source_found" in evidence:
            record_finding(state.workspace, cell_id=cell_id, source_id=source_id or None,
                           lon=lon, lat=lat, confirmed=bool(confirmed),
                           problem=problem, inspector=caller.person_id, time=state.now(),
                           note=note)
            recorded = True
        cell_changed(state, cell_id)
        event_id = state.store.log_event(caller.person_id, "finding", cell_id,
                                         {**evidence, "note": note,
                                          "finding_recorded": recorded})
    return {"cell_id": cell_id, "event_id": event_id, "finding_recorded": recorded}


# ---------------------------------------------------------------------------- assessment


def assessment_period(state, start: str | None, end: str | None
                      ) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The period asked for; by default the second half of the fused hours and the day
    after them, in whole Beijing calendar days (the first half is then the base period
    of the PM2.5 change)."""
    begin, finish = parse_time(start, "start"), parse_time(end, "end")
    if begin is None or finish is None:
        times = state.views.map_times("PM2.5")
        if not times:
            raise ValueError("start, end: give the period (the workspace has no cell_hours "
                             "to choose one from)")
        # whole Beijing calendar days (a UTC floor would start them at 08:00 Beijing)
        def local(stamp) -> pd.Timestamp:
            return pd.Timestamp(stamp).tz_convert(LOCAL_TIMEZONE)

        first = local(times[0]).floor("D")
        # and the day after: alerts are raised once the data of a period are in
        last = local(pd.Timestamp(times[-1]) + pd.Timedelta(hours=1)).ceil("D") \
            + pd.Timedelta(days=1)
        middle = local(first + (last - first) / 2).floor("D")
        begin = begin if begin is not None else middle.tz_convert("UTC")
        finish = finish if finish is not None else last.tz_convert("UTC")
    if not finish > begin:
        raise ValueError(f"end: {finish.isoformat()} must be after start {begin.isoformat()}")
    return begin, finish


def assessment(state, caller: Caller, start: str | None = None, end: str | None = None):
    """The workflow's assessment of the townships and grid heads in the caller's scope."""
    from sourcegrid.workflow.assessment import assess

    caller.require("assess")
    begin, finish = assessment_period(state, start, end)
    return assess(state.workspace, begin, finish, person=caller.person,
                  organisation=caller.organisation, now=state.now())


def assessment_file(result, suffix: str) -> bytes:
    """The assessment as XLSX or PDF bytes (written by the workflow to a temporary file)."""
    import tempfile

    from sourcegrid.workflow.assessment import write_pdf, write_xlsx

    writer = {".xlsx": write_xlsx, ".pdf": write_pdf}[suffix]
    with tempfile.TemporaryDirectory(prefix="sourcegrid-assessment-") as folder:
        path = writer(result, Path(folder) / f"assessment{suffix}")
        return Path(path).read_bytes()
