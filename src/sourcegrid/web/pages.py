"""Server-rendered pages (Jinja2, autoescaped): login, map, dossier, alerts, inventory, AQI,
the inspector's mobile page and the API reference.

Pages show what :mod:`.service` returns for the caller, the same as the API.
Forms post back with the session's CSRF token; after a write the page
redirects (303) to itself with a short message, so a reload never repeats it.
"""

from __future__ import annotations

import json
import secrets
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import pandas as pd
from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from sourcegrid.web import service
from sourcegrid.web.api import login_response, record_finding_request, set_session_cookie
from sourcegrid.web.auth import SESSION_COOKIE
from sourcegrid.web.deps import ALERT_ID_PATTERN, CELL_ID_PATTERN, Caller, page_caller
from sourcegrid.web.views import SECTOR_LABELS, clean, records

__all__ = ["router", "api_reference"]

router = APIRouter(include_in_schema=False)
PageCaller = Annotated[Caller, Depends(page_caller)]
LOGIN_CSRF_COOKIE = "sourcegrid_login_csrf"

#: State names shown in the inbox (zh / en).
STATE_LABELS = {"new": "新建 new", "dispatched": "已派发 dispatched",
                "acknowledged": "已签收 acknowledged", "inspected": "已核查 inspected",
                "resolved": "已办结 resolved", "false_alarm": "误报 false alarm"}
#: Action button labels (zh / en).
ACTION_LABELS = {"dispatch": "派发 Dispatch", "acknowledge": "签收 Acknowledge",
                 "inspect": "核查 Inspect", "resolve": "办结 Resolve",
                 "false_alarm": "误报 False alarm", "escalate": "上报 Escalate",
                 "reopen": "重开 Reopen", "comment": "备注 Comment"}
LEVEL_LABELS = {"township": "乡镇 township", "county": "区县 county", "city": "市 city"}
GRADE_LABELS = {"red": "红 red", "orange": "橙 orange", "yellow": "黄 yellow"}

#: Dossier sections in page order: (field, Chinese, English).
DOSSIER_SECTIONS = (
    ("people", "责任人", "Responsible people"),
    ("sector_mix", "行业构成", "Sector mix"),
    ("sources", "污染源", "Sources in the cell"),
    ("emissions", "排放量", "Emissions"),
    ("feeds", "监测数据", "Feeds"),
    ("latest", "最新值", "Latest values"),
    ("hotspots", "热点历史", "Hotspot history"),
    ("inspections", "核查记录", "Inspections"),
    ("traced", "溯源结果", "Traced sources"),
    ("findings", "核查发现", "Inspection findings"),
)


def _state(request: Request):
    return request.app.state.web


def _script_json(value) -> str:
    """JSON for a <script type="application/json"> block ('<' escaped, so no tag can close)."""
    return json.dumps(value, ensure_ascii=False, default=str).replace("<", "\\u003c")


def _page(request: Request, template: str, caller: Caller | None, context: dict[str, Any],
          status_code: int = 200) -> HTMLResponse:
    flash = None
    message = request.query_params.get("ok") or request.query_params.get("error")
    if message:
        flash = {"kind": "ok" if request.query_params.get("ok") else "error",
                 "text": message[:300]}
    base = {"user": caller.user_view() if caller else None,
            "csrf_token": caller.csrf_token if caller else None, "flash": flash,
            "may_assess": caller.can("assess") if caller else False,
            "state_labels": STATE_LABELS, "action_labels": ACTION_LABELS,
            "level_labels": LEVEL_LABELS, "grade_labels": GRADE_LABELS}
    return _state(request).templates.TemplateResponse(request, template, {**base, **context},
                                                      status_code=status_code)


def _safe_next(target: str | None) -> str:
    """Only local paths after login (no open redirect)."""
    if not target:
        return "/map"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/map"
    return target


def _back(path: str, **message: str) -> RedirectResponse:
    key, text = next(iter(message.items()))
    joiner = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{joiner}{key}={quote(text[:300])}", status_code=303)


def _shown(value) -> Any:
    """A value for a definition list: numbers to 4 significant digits, None as a dash."""
    value = clean(value)
    if isinstance(value, float):
        return f"{value:,.4g}"
    return "—" if value is None or value == "" else value


def _frame_table(value) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of a DataFrame (or list of dicts) for a template table."""
    if value is None:
        return [], []
    if isinstance(value, pd.DataFrame):
        frame = value
    elif isinstance(value, list):
        frame = pd.DataFrame(value)
    elif isinstance(value, dict):
        frame = pd.DataFrame([value])
    else:
        return [], []
    rows = records(frame.head(200))
    columns = list(frame.columns)
    out = []
    for row in rows:
        cells = []
        for column in columns:
            item = row[column]
            if isinstance(item, float):
                item = f"{item:,.4g}"
            elif isinstance(item, list | dict):
                item = json.dumps(item, ensure_ascii=False)[:300]
            cells.append("" if item is None else item)
        out.append(cells)
    return columns, out


# ---------------------------------------------------------------------------- login


@router.get("/", response_class=HTMLResponse)
def home() -> RedirectResponse:
    return RedirectResponse("/map", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: Annotated[str | None, Query(max_length=500)] = None):
    token = secrets.token_urlsafe(24)
    response = _page(request, "login.html", None, {"login_csrf": token,
                                                   "next_url": _safe_next(next)})
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        max_age=3600, path="/login")
    return response


@router.post("/login", response_class=HTMLResponse)
def login_submit(request: Request,
                 username: Annotated[str, Form(max_length=100)] = "",
                 password: Annotated[str, Form(max_length=200)] = "",
                 csrf_token: Annotated[str, Form(max_length=100)] = "",
                 next: Annotated[str, Form(max_length=500)] = "/map"):
    from sourcegrid.web.auth import Credentials

    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    fresh = secrets.token_urlsafe(24)

    def again(message: str, status: int) -> HTMLResponse:
        response = _page(request, "login.html", None,
                         {"login_csrf": fresh, "next_url": _safe_next(next), "error": message,
                          "username": username}, status_code=status)
        response.set_cookie(LOGIN_CSRF_COOKIE, fresh, httponly=True, samesite="strict",
                            max_age=3600, path="/login")
        return response

    if not expected or not Credentials.csrf_matches(expected, csrf_token):
        return again("表单已过期，请重试 · The form expired; please try again.", 403)
    if not username or not password:
        return again("请输入用户名和密码 · Enter your user name and password.", 422)
    try:
        result = login_response(request, username, password)
    except HTTPException as error:
        if error.status_code == 429:
            return again(f"登录失败次数过多 · {error.detail}", 429)
        raise
    if result is None:
        return again("用户名或密码错误 · Wrong user name or password.", 401)
    session_id, _csrf = result
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookie(request, response, session_id)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, caller: PageCaller) -> RedirectResponse:
    state = _state(request)
    state.credentials.close_session(request.cookies.get(SESSION_COOKIE))
    state.store.log_event(caller.person_id, "logout", caller.person_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ---------------------------------------------------------------------------- map


@router.get("/map", response_class=HTMLResponse)
def map_page(request: Request, caller: PageCaller,
             pollutant: Annotated[str, Query(max_length=16)] = "PM2.5"):
    state = _state(request)
    service.check_pollutant(pollutant)
    cells = service.cells_list(state, caller)
    hotspots = sorted(c["cell_id"] for c in cells if c["hotspot"])
    visible = caller.visible()
    scope = ("全市 whole grid" if visible is None else
             ", ".join([*caller.person.units, *caller.person.cells]) or "—")
    pollutants = state.views.pollutants() or ["PM2.5"]
    return _page(request, "map.html", caller, {
        "active": "map", "pollutant": pollutant, "pollutants": pollutants,
        "cell_count": len(cells), "hotspot_count": len(hotspots), "hotspots": hotspots[:50],
        "scope_label": scope})


# ---------------------------------------------------------------------------- dossier


@router.get("/cells/{cell_id}", response_class=HTMLResponse)
def dossier_page(request: Request, caller: PageCaller,
                 cell_id: Annotated[str, Path(pattern=CELL_ID_PATTERN, max_length=10)]):
    state = _state(request)
    dossier = service.dossier(state, caller, cell_id)
    sections = []
    for name, zh, en in DOSSIER_SECTIONS:
        columns, rows = _frame_table(getattr(dossier, name, None))
        sections.append({"name": name, "zh": zh, "en": en, "columns": columns, "rows": rows})
    trend = getattr(dossier, "trend", None)
    trend_json = None
    if isinstance(trend, pd.DataFrame) and len(trend):
        trend_json = _script_json({str(c): [clean(v) for v in trend[c]]
                                   for c in trend.columns})
    cell = {k: _shown(v) for k, v in (getattr(dossier, "cell", {}) or {}).items()}
    grade = {k: _shown(v) for k, v in (getattr(dossier, "grade", {}) or {}).items()
             if k != "cell_id"}
    alerts = service.alerts_for(state, caller, cell_id=cell_id)  # newest first
    alerts.sort(key=lambda a: a["state"] in ("resolved", "false_alarm"))  # open ones first
    return _page(request, "dossier.html", caller, {
        "active": "map", "cell_id": cell_id, "cell": cell, "grade": grade,
        "sections": sections, "trend_json": trend_json, "alerts": alerts[:50],
        "alerts_total": len(alerts),
        "notes": getattr(dossier, "notes", []),
        "generated_at": clean(getattr(dossier, "generated_at", None)),
        "hotspot": cell_id in state.views.hotspot_cells()})


# ---------------------------------------------------------------------------- alerts


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, caller: PageCaller,
                state: Annotated[str, Query(max_length=100, pattern=r"^[a-z_,]*$")] = "",
                mine: bool = False):
    web = _state(request)
    alerts = service.alerts_for(web, caller, status=state or None, assigned_only=mine)
    counts: dict[str, int] = {}
    for alert in service.alerts_for(web, caller):
        counts[alert["state"]] = counts.get(alert["state"], 0) + 1
    return _page(request, "alerts.html", caller, {
        "active": "alerts", "alerts": alerts, "filter_state": state, "mine": mine,
        "counts": counts})


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, caller: PageCaller,
               alert_id: Annotated[str, Path(pattern=ALERT_ID_PATTERN, max_length=17)]):
    alert = service.alert_detail(_state(request), caller, alert_id)
    return _page(request, "alert.html", caller, {"active": "alerts", "alert": alert})


@router.post("/alerts/{alert_id}/action")
def alert_action_form(request: Request, caller: PageCaller,
                      alert_id: Annotated[str, Path(pattern=ALERT_ID_PATTERN, max_length=17)],
                      action: Annotated[str, Form(max_length=20)],
                      note: Annotated[str, Form(max_length=4000)] = "",
                      expected_seq: Annotated[int | None, Form(ge=0, le=10**9)] = None,
                      back: Annotated[str, Form(max_length=500)] = ""):
    from sourcegrid.errors import SourcegridError

    target = _safe_next(back or f"/alerts/{alert_id}")
    try:
        service.alert_action(_state(request), caller, alert_id, action, note=note,
                             expected_seq=expected_seq)
    except SourcegridError as error:
        return _back(target, error=str(error))
    label = ACTION_LABELS.get(action, action)
    return _back(target, ok=f"{alert_id}: {label} ✓")


# ---------------------------------------------------------------------------- inventory


@router.get("/inventory", response_class=HTMLResponse)
def inventory_page(request: Request, caller: PageCaller,
                   by: Annotated[str, Query(pattern=r"^(industry|pollutant|region|sector)$")
                                 ] = "industry",
                   pollutant: Annotated[str, Query(max_length=16)] = ""):
    data = service.inventory_summary(_state(request), caller, by, pollutant or None)
    rows = data["rows"]
    chart = None
    if rows:
        labels, values = [], []
        if by == "pollutant":
            labels = [r["pollutant"] for r in rows]
            values = [round((r["emission_kg"] or 0) / 1000, 3) for r in rows]
        else:
            chosen = pollutant or (data["pollutants"][0] if data["pollutants"] else "")
            top = [r for r in rows if r["pollutant"] == chosen][:25]
            labels = [SECTOR_LABELS.get(str(r[by]), str(r[by])) if by == "sector" else
                      str(r[by]) for r in top]
            values = [round((r["emission_kg"] or 0) / 1000, 3) for r in top]
            data["chart_pollutant"] = chosen
        chart = _script_json({"labels": labels, "values": values})
    return _page(request, "inventory.html", caller, {
        "active": "inventory", "by": by, "pollutant": pollutant, "data": data, "chart": chart,
        "sector_labels": SECTOR_LABELS})


# ---------------------------------------------------------------------------- AQI


@router.get("/aqi", response_class=HTMLResponse)
def aqi_page(request: Request, caller: PageCaller):
    state = _state(request)
    cells = service.cell_aqi(state, caller)["rows"]
    stations = service.station_aqi(state, caller)["rows"]
    good = service.good_days(state, caller)
    # the daily AQI of the caller's area: the mean over its cells per day (chart only)
    by_day: dict[str, list[float]] = {}
    for row in cells:
        if row.get("aqi") is not None:
            by_day.setdefault(str(row["date"]), []).append(float(row["aqi"]))
    days = sorted(by_day)
    chart = _script_json({"dates": days,
                        "mean": [round(sum(by_day[d]) / len(by_day[d]), 1) for d in days],
                        "max": [max(by_day[d]) for d in days]})
    station_days: dict[str, dict[str, float]] = {}
    for row in stations:
        if row.get("aqi") is not None:
            station_days.setdefault(str(row["site_id"]), {})[str(row["date"])] = row["aqi"]
    station_chart = _script_json({site: {"dates": sorted(v), "aqi": [v[d] for d in sorted(v)]}
                                for site, v in station_days.items()})
    good_cells = sorted(good.get("cells", []),
                        key=lambda r: (r["good_ratio"] is None, r["good_ratio"] or 0, r["unit"]))
    summary = {
        "cells": len({r["cell_id"] for r in cells}),
        "good_ratio": (round(sum(r["good_ratio"] or 0 for r in good_cells) / len(good_cells), 1)
                       if good_cells else None),
    }
    return _page(request, "aqi.html", caller, {
        "active": "aqi", "chart": chart, "station_chart": station_chart,
        "good_stations": good.get("stations", []), "good_cells": good_cells[:30],
        "good_cells_total": len(good_cells),
        "summary": summary, "has_stations": bool(stations)})


# ---------------------------------------------------------------------------- assessment


@router.get("/assessment", response_class=HTMLResponse)
def assessment_page(request: Request, caller: PageCaller,
                    start: Annotated[str, Query(max_length=40)] = "",
                    end: Annotated[str, Query(max_length=40)] = ""):
    result = service.assessment(_state(request), caller, start or None, end or None)
    tables = []
    for name, zh, en in (("townships", "乡镇考核排名", "Townships, ranked"),
                         ("grid_heads", "网格长考核排名", "Grid heads, ranked")):
        columns, rows = _frame_table(getattr(result, name))
        tables.append({"name": name, "zh": zh, "en": en, "columns": columns, "rows": rows})
    city = {k: _shown(v) for k, v in (result.city or {}).items()}
    query = f"?start={quote(result.start.isoformat())}&end={quote(result.end.isoformat())}"
    return _page(request, "assessment.html", caller, {
        "active": "assessment", "tables": tables, "city": city, "query": query,
        "start": result.start.tz_convert("Asia/Shanghai").strftime("%Y-%m-%d"),
        "end": result.end.tz_convert("Asia/Shanghai").strftime("%Y-%m-%d"),
        "base": f"{result.base_start.tz_convert('Asia/Shanghai'):%Y-%m-%d} – "
                f"{result.base_end.tz_convert('Asia/Shanghai'):%Y-%m-%d}"})


# ---------------------------------------------------------------------------- inspector


@router.get("/inspect", response_class=HTMLResponse)
def inspect_page(request: Request, caller: PageCaller,
                 alert_id: Annotated[str, Query(max_length=17)] = ""):
    state = _state(request)
    open_alerts = [a for a in service.alerts_for(state, caller)
                   if "inspect" in (a.get("actions") or [])]
    cells = [c["cell_id"] for c in service.cells_list(state, caller)]
    return _page(request, "inspect.html", caller, {
        "active": "inspect", "alerts": open_alerts, "cells": cells[:2000],
        "chosen_alert": alert_id, "max_mb": state.max_upload_bytes // (1024 * 1024),
        "may_record": caller.can("record_finding")})


@router.post("/inspect")
async def inspect_submit(request: Request, caller: PageCaller):
    from starlette.datastructures import UploadFile as StarletteUpload

    from sourcegrid.errors import SourcegridError

    form = await request.form(max_part_size=_state(request).max_upload_bytes + 1024)

    def text(name: str, limit: int = 4000) -> str:
        value = form.get(name)
        return value.strip()[:limit] if isinstance(value, str) else ""

    def number(name: str) -> float | None:
        value = text(name, 40)
        if not value:
            return None
        try:
            return float(value)
        except ValueError:
            raise HTTPException(422, f"{name}: expected a number, got {value!r}") from None

    alert_id = text("alert_id", 17) or None
    cell_id = text("cell_id", 10) or None
    photo = form.get("photo")
    upload = photo if isinstance(photo, StarletteUpload | UploadFile) and photo.filename else None
    try:
        result = await record_finding_request(
            request, caller, alert_id=alert_id, cell_id=cell_id,
            source_id=text("source_id", 100), confirmed=text("confirmed", 10) != "no",
            problem=text("problem", 2000), note=text("note"), lon=number("lon"),
            lat=number("lat"), photo=upload)
    except (SourcegridError, ValueError) as error:
        return _back("/inspect", error=str(error))
    except HTTPException as error:
        if error.status_code in (413, 415, 422):
            return _back("/inspect", error=str(error.detail))
        raise
    where = result.get("alert_id") or result.get("cell_id")
    return _back("/inspect", ok=f"已记录 Recorded: {where}")


# ---------------------------------------------------------------------------- API reference


def api_reference(request: Request, schema: dict) -> Response:
    """A server-rendered reference of the OpenAPI schema (no Swagger UI from a CDN)."""
    from sourcegrid.web.deps import _resolve

    try:
        caller = _resolve(request)
    except HTTPException:
        caller = None
    operations = []
    for path, methods in schema.get("paths", {}).items():
        for method, operation in methods.items():
            parameters = [{"name": p.get("name"), "in": p.get("in"),
                           "required": p.get("required", False),
                           "description": p.get("description", "")}
                          for p in operation.get("parameters", [])]
            operations.append({"method": method.upper(), "path": path,
                               "summary": operation.get("summary", ""),
                               "description": operation.get("description", ""),
                               "tags": operation.get("tags", []), "parameters": parameters,
                               "body": "requestBody" in operation})
    return _page(request, "api_docs.html", caller, {"active": "docs", "operations": operations,
                                                    "title": schema.get("info", {}).get(
                                                        "title", "API")})
