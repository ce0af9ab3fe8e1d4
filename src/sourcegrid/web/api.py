"""The REST API under ``/api``: everything the pages show, as JSON, for the same callers.

Authentication: a session cookie (from ``POST /api/login`` or the login page;
writes then need the ``X-CSRF-Token`` header) or ``Authorization: Bearer
<token>`` (``POST /api/tokens``). Every route checks the caller's role and
scope with the workflow's policy before it reads or writes (see
:mod:`.service`). Error bodies are ``{"detail": "<what was wrong>"}``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from sourcegrid.web import service
from sourcegrid.web.auth import SESSION_COOKIE
from sourcegrid.web.deps import ALERT_ID_PATTERN, CELL_ID_PATTERN, Caller, api_caller

__all__ = ["router", "login_response", "set_session_cookie"]

router = APIRouter(prefix="/api")

CallerDep = Annotated[Caller, Depends(api_caller)]
CellId = Annotated[str, Path(pattern=CELL_ID_PATTERN, description="Cell id, e.g. R0003C0004",
                             max_length=10)]
AlertId = Annotated[str, Path(pattern=ALERT_ID_PATTERN, description="Alert id (A + 16 hex)",
                              max_length=17)]
Pollutant = Annotated[str, Query(max_length=16, pattern=r"^[A-Za-z0-9_.]{1,16}$",
                                 description="Pollutant (PM2.5, PM10, SO2, NO2, CO, O3)")]
_ERRORS = {401: {"description": "not logged in"}, 403: {"description": "role or scope"},
           404: {"description": "unknown"}, 422: {"description": "bad input"}}


def _state(request: Request):
    return request.app.state.web


# ---------------------------------------------------------------------------- auth


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="", max_length=100)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _secure(request: Request) -> bool:
    state = _state(request)
    if state.secure_cookies is not None:
        return state.secure_cookies
    return (request.url.scheme == "https"
            or request.headers.get("x-forwarded-proto", "").lower() == "https")


def login_response(request: Request, username: str, password: str
                   ) -> tuple[str, str] | None:
    """Check a login (rate limited): (session id, CSRF token), or None when refused.

    Raises 429 (with Retry-After) once the failures of the user name or of the client
    address reach the limit; the password is then not even checked.
    """
    state = _state(request)
    user_key, client_key = f"user:{username.lower()}", f"client:{_client(request)}"
    wait = state.limiter.retry_after(user_key, client_key)
    if wait:
        state.store.log_event(username, "login_throttled", username, client=_client(request))
        raise HTTPException(429, f"too many failed logins; try again in {wait} s",
                            headers={"Retry-After": str(wait)})
    organisation = state.organisation()
    person = organisation.people.get(username)
    ok = state.credentials.verify(username, password) and person is not None and person.active
    if not ok:
        state.limiter.failed(user_key, client_key)
        state.store.log_event(username, "login_failed", username, client=_client(request))
        return None
    state.limiter.succeeded(user_key)
    session_id, csrf = state.credentials.open_session(username)
    state.store.log_event(username, "login", username, client=_client(request))
    return session_id, csrf


def set_session_cookie(request: Request, response: Response, session_id: str) -> None:
    """HttpOnly, SameSite=Lax, Secure over TLS; lives as long as the session."""
    response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="lax",
                        secure=_secure(request), max_age=12 * 3600, path="/")


@router.post("/login", tags=["auth"], responses={401: {"description": "wrong password"},
                                                  429: {"description": "rate limited"}})
def api_login(body: LoginBody, request: Request) -> JSONResponse:
    """Log in with a user name and password; sets the session cookie, returns the CSRF token."""
    result = login_response(request, body.username, body.password)
    if result is None:
        return JSONResponse({"detail": "wrong user name or password"}, status_code=401)
    session_id, csrf = result
    response = JSONResponse({"person_id": body.username, "csrf_token": csrf})
    set_session_cookie(request, response, session_id)
    return response


@router.post("/logout", tags=["auth"], responses=_ERRORS)
def api_logout(request: Request, caller: CallerDep) -> dict[str, str]:
    """End the current session."""
    state = _state(request)
    state.credentials.close_session(request.cookies.get(SESSION_COOKIE))
    state.store.log_event(caller.person_id, "logout", caller.person_id, client=_client(request))
    return {"detail": "logged out"}


@router.get("/me", tags=["auth"], responses=_ERRORS)
def me(caller: CallerDep) -> dict[str, Any]:
    """The caller: person, roles, scope and the actions their roles allow."""
    from sourcegrid.workflow.policy import ACTIONS

    visible = caller.visible()
    return {**caller.person.to_dict(), "via": caller.via,
            "actions": [a for a in ACTIONS if caller.can(a)],
            "visible_cells": None if visible is None else sorted(visible)}


@router.post("/tokens", tags=["auth"], status_code=201, responses=_ERRORS)
def create_token(body: TokenBody, request: Request, caller: CallerDep) -> dict[str, str]:
    """A new API token for the caller (shown once; send it as ``Authorization: Bearer``)."""
    token = _state(request).credentials.create_token(caller.person_id, body.name)
    return {"token": token, "person_id": caller.person_id}


@router.get("/tokens", tags=["auth"], responses=_ERRORS)
def list_tokens(request: Request, caller: CallerDep) -> list[dict[str, Any]]:
    """The caller's API tokens (ids and names; the secrets are never shown again)."""
    from sourcegrid.web.views import clean

    rows = _state(request).credentials.tokens_of(caller.person_id)
    return [{k: clean(v) for k, v in row.items()} for row in rows]


@router.delete("/tokens/{token_id}", tags=["auth"], responses=_ERRORS)
def revoke_token(request: Request, caller: CallerDep,
                 token_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", max_length=16)]
                 ) -> dict[str, str]:
    """Revoke one of the caller's tokens (an admin may revoke anyone's)."""
    state = _state(request)
    owner = state.credentials.token_owner(token_id)
    if owner is None or (owner != caller.person_id and not caller.person.has_role("admin")):
        raise HTTPException(404, f"no token {token_id} of {caller.person_id}")
    if not state.credentials.revoke_token(token_id, by=caller.person_id):
        raise HTTPException(409, f"token {token_id} is already revoked")
    return {"detail": f"token {token_id} revoked"}


# ---------------------------------------------------------------------------- map and cells


@router.get("/map/times", tags=["map"], responses=_ERRORS)
def api_map_times(request: Request, caller: CallerDep, pollutant: Pollutant = "PM2.5"
                  ) -> dict[str, Any]:
    """Hours (UTC) that have fused cell values of the pollutant: the time slider's steps."""
    return service.map_times(_state(request), caller, pollutant)


@router.get("/map", tags=["map"], responses=_ERRORS)
def api_map(request: Request, caller: CallerDep, pollutant: Pollutant = "PM2.5",
            time: Annotated[str | None, Query(max_length=40, description=(
                "Hour (ISO 8601; naive = Beijing time); default the last"))] = None
            ) -> dict[str, Any]:
    """GeoJSON of the caller's cells: value at the hour, hotspot flag, grade and type."""
    return service.map_layer(_state(request), caller, pollutant, time)


@router.get("/cells", tags=["cells"], responses=_ERRORS)
def api_cells(request: Request, caller: CallerDep) -> list[dict[str, Any]]:
    """The cells in the caller's scope with their admin codes, hotspot flag and grade."""
    return service.cells_list(_state(request), caller)


@router.get("/cells/{cell_id}", tags=["cells"], responses=_ERRORS)
def api_cell(request: Request, caller: CallerDep, cell_id: CellId,
             pollutant: Pollutant = "PM2.5") -> dict[str, Any]:
    """One cell: codes, hotspot flag, grade and its hourly series."""
    return service.cell_summary(_state(request), caller, cell_id, pollutant)


@router.get("/cells/{cell_id}/dossier", tags=["dossier"], responses=_ERRORS)
def api_dossier(request: Request, caller: CallerDep, cell_id: CellId) -> dict[str, Any]:
    """The cell's dossier (一格一档) as JSON."""
    from sourcegrid.web.views import clean

    dossier = service.dossier(_state(request), caller, cell_id)
    return _jsonable(dossier.to_dict() if hasattr(dossier, "to_dict") else dossier, clean)


@router.get("/cells/{cell_id}/dossier.html", tags=["dossier"], response_class=HTMLResponse,
            responses=_ERRORS)
def api_dossier_html(request: Request, caller: CallerDep, cell_id: CellId) -> HTMLResponse:
    """The cell's dossier as a self-contained HTML page (download)."""
    from sourcegrid.workflow.dossier import render_html

    dossier = service.dossier(_state(request), caller, cell_id)
    return HTMLResponse(render_html(dossier), headers={
        "Content-Disposition": f'attachment; filename="dossier_{cell_id}.html"'})


@router.get("/cells/{cell_id}/dossier.pdf", tags=["dossier"], responses={
    **_ERRORS, 200: {"content": {"application/pdf": {}}}})
def api_dossier_pdf(request: Request, caller: CallerDep, cell_id: CellId) -> Response:
    """The cell's dossier as a PDF (download)."""
    dossier = service.dossier(_state(request), caller, cell_id)
    return Response(service.dossier_pdf_bytes(dossier), media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="dossier_{cell_id}.pdf"'})


def _jsonable(value, clean):
    if isinstance(value, dict):
        return {str(k): _jsonable(v, clean) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v, clean) for v in value]
    if hasattr(value, "to_dict") and hasattr(value, "columns"):  # a DataFrame
        from sourcegrid.web.views import records

        return _jsonable(records(value), clean)
    return clean(value)


# ---------------------------------------------------------------------------- alerts

AlertAction = Literal["dispatch", "acknowledge", "inspect", "resolve", "false_alarm", "escalate",
                      "reopen", "comment"]


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: AlertAction
    note: str = Field(default="", max_length=4000)
    evidence: dict[str, Any] | None = Field(
        default=None, description="notes, photos, measurements, source_found, problems")
    expected_seq: int | None = Field(
        default=None, ge=0, le=10**9,
        description="The event number you saw; refused with 409 if the alert moved on")


class RaiseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cell_id: str = Field(pattern=CELL_ID_PATTERN, max_length=10)
    pollutant: str = Field(default="PM2.5", pattern=r"^[A-Za-z0-9_.]{1,16}$", max_length=16)
    title: str = Field(default="", max_length=200)
    grade: Literal["red", "orange", "yellow"] = "yellow"
    note: str = Field(default="", max_length=4000)


@router.get("/alerts", tags=["alerts"], responses=_ERRORS)
def api_alerts(request: Request, caller: CallerDep,
               state: Annotated[str | None, Query(
                   max_length=100, pattern=r"^[a-z_,]*$",
                   description="States, comma-separated (new, dispatched, ...)")] = None,
               cell_id: Annotated[str | None, Query(pattern=CELL_ID_PATTERN, max_length=10)
                                  ] = None,
               assigned_only: bool = False) -> list[dict[str, Any]]:
    """Alerts on the caller's cells, newest first, with the actions the caller may take."""
    return service.alerts_for(_state(request), caller, status=state, cell_id=cell_id,
                              assigned_only=assigned_only)


@router.post("/alerts", tags=["alerts"], status_code=201, responses=_ERRORS)
def api_raise(body: RaiseBody, request: Request, caller: CallerDep) -> dict[str, Any]:
    """Raise an alert by hand on a cell in the caller's scope."""
    return service.raise_alert(_state(request), caller, cell_id=body.cell_id,
                               pollutant=body.pollutant, title=body.title, grade=body.grade,
                               note=body.note)


@router.get("/alerts/{alert_id}", tags=["alerts"], responses=_ERRORS)
def api_alert(request: Request, caller: CallerDep, alert_id: AlertId) -> dict[str, Any]:
    """One alert: registry fields, state derived from its event log, events, actions."""
    return service.alert_detail(_state(request), caller, alert_id)


@router.post("/alerts/{alert_id}/actions", tags=["alerts"], status_code=201,
             responses={**_ERRORS, 409: {"description": "state does not allow it, or lost "
                                                        "a race for the same alert"}})
def api_alert_action(body: ActionBody, request: Request, caller: CallerDep,
                     alert_id: AlertId) -> dict[str, Any]:
    """Take an action on an alert; the event is appended to the log before the answer."""
    return service.alert_action(_state(request), caller, alert_id, body.action, note=body.note,
                                evidence=body.evidence, expected_seq=body.expected_seq)


# ---------------------------------------------------------------------------- inventory, AQI


@router.get("/inventory", tags=["inventory"], responses=_ERRORS)
def api_inventory(request: Request, caller: CallerDep,
                  by: Literal["industry", "pollutant", "region", "sector"] = "industry",
                  pollutant: Annotated[str | None, Query(
                      max_length=16, pattern=r"^[A-Za-z0-9_.]{1,16}$")] = None
                  ) -> dict[str, Any]:
    """Emission [kg] of the caller's cells by industry, pollutant, region (township) or sector."""
    return service.inventory_summary(_state(request), caller, by, pollutant)


@router.get("/aqi/cells", tags=["aqi"], responses=_ERRORS)
def api_cell_aqi(request: Request, caller: CallerDep,
                 cell_id: Annotated[str | None, Query(pattern=CELL_ID_PATTERN, max_length=10)
                                    ] = None) -> dict[str, Any]:
    """Daily AQI (HJ 633) of the caller's cells from the fused cell-hours."""
    return service.cell_aqi(_state(request), caller, cell_id)


@router.get("/aqi/stations", tags=["aqi"], responses=_ERRORS)
def api_station_aqi(request: Request, caller: CallerDep) -> dict[str, Any]:
    """Daily AQI of the reference stations (table aqi_daily), published city-wide data."""
    return service.station_aqi(_state(request), caller)


@router.get("/gooddays", tags=["aqi"], responses=_ERRORS)
def api_good_days(request: Request, caller: CallerDep) -> dict[str, Any]:
    """Good days (AQI ≤ 100) per station and per cell in the caller's scope."""
    return service.good_days(_state(request), caller)


# ---------------------------------------------------------------------------- assessment

PeriodStart = Annotated[str | None, Query(max_length=40, description=(
    "Period start (ISO 8601; naive = Beijing time); default the middle of the data"))]
PeriodEnd = Annotated[str | None, Query(max_length=40, description=(
    "Period end, excluded; default the end of the data"))]


@router.get("/assessment", tags=["assessment"], responses=_ERRORS)
def api_assessment(request: Request, caller: CallerDep, start: PeriodStart = None,
                   end: PeriodEnd = None) -> dict[str, Any]:
    """Assessment (考核) of the townships and grid heads in the caller's scope, ranked."""
    from sourcegrid.web.views import clean

    result = service.assessment(_state(request), caller, start, end)
    return _jsonable(result.to_dict(), clean)


@router.get("/assessment.xlsx", tags=["assessment"], responses={
    **_ERRORS, 200: {"content": {"application/vnd.openxmlformats-officedocument."
                                 "spreadsheetml.sheet": {}}}})
def api_assessment_xlsx(request: Request, caller: CallerDep, start: PeriodStart = None,
                        end: PeriodEnd = None) -> Response:
    """The assessment as an XLSX workbook (download)."""
    result = service.assessment(_state(request), caller, start, end)
    return Response(service.assessment_file(result, ".xlsx"),
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": 'attachment; filename="assessment.xlsx"'})


@router.get("/assessment.pdf", tags=["assessment"], responses={
    **_ERRORS, 200: {"content": {"application/pdf": {}}}})
def api_assessment_pdf(request: Request, caller: CallerDep, start: PeriodStart = None,
                       end: PeriodEnd = None) -> Response:
    """The assessment as a PDF report (download)."""
    result = service.assessment(_state(request), caller, start, end)
    return Response(service.assessment_file(result, ".pdf"), media_type="application/pdf",
                    headers={"Content-Disposition": 'attachment; filename="assessment.pdf"'})


# ---------------------------------------------------------------------------- findings


@router.post("/findings", tags=["findings"], status_code=201, responses={
    **_ERRORS, 413: {"description": "photo too large"}, 415: {"description": "not an image"}})
async def api_finding(
    request: Request, caller: CallerDep,
    alert_id: Annotated[str | None, Form(pattern=ALERT_ID_PATTERN, max_length=17)] = None,
    cell_id: Annotated[str | None, Form(pattern=CELL_ID_PATTERN, max_length=10)] = None,
    source_id: Annotated[str, Form(max_length=100)] = "",
    confirmed: Annotated[bool, Form()] = True,
    problem: Annotated[str, Form(max_length=2000)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
    lon: Annotated[float | None, Form(ge=-180, le=180)] = None,
    lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
    photo: Annotated[UploadFile | None, File(description="JPEG or PNG")] = None,
) -> dict[str, Any]:
    """Record an inspection finding (with an optional photo) on an alert or a cell."""
    return await record_finding_request(request, caller, alert_id=alert_id, cell_id=cell_id,
                                        source_id=source_id, confirmed=confirmed,
                                        problem=problem, note=note, lon=lon, lat=lat,
                                        photo=photo)


async def record_finding_request(request: Request, caller: Caller, *, alert_id, cell_id,
                                 source_id, confirmed, problem, note, lon, lat, photo):
    """Shared by the API and the inspector page: scope first, then the photo, then the event."""
    from starlette.concurrency import run_in_threadpool

    state = _state(request)

    def prepare() -> str:
        if alert_id:
            return service.alert_cell(state, caller, alert_id)
        if not cell_id:
            raise ValueError("cell_id: give the alert inspected, or the cell of the finding")
        service.require_cell(state, caller, cell_id)
        caller.require("record_finding", cell_id)
        return cell_id

    cell = await run_in_threadpool(prepare)
    photos = []
    if photo is not None and (photo.filename or photo.size):
        data = await photo.read(state.max_upload_bytes + 1)
        name = await run_in_threadpool(service.store_photo, state, caller, data,
                                       photo.content_type, cell)
        photos.append(name)
    return await run_in_threadpool(
        lambda: service.record_inspection(state, caller, alert_id=alert_id, cell_id=cell,
                                          source_id=source_id, confirmed=confirmed,
                                          problem=problem, note=note, lon=lon, lat=lat,
                                          photos=photos))


@router.get("/photos/{name}", tags=["findings"], responses=_ERRORS)
def api_photo(request: Request, caller: CallerDep,
              name: Annotated[str, Path(pattern=r"^[0-9a-f]{32}\.(jpg|png)$", max_length=40)]
              ) -> FileResponse:
    """A stored inspection photo (only for callers who may see its cell)."""
    path, media = service.photo_path(_state(request), caller, name)
    return FileResponse(path, media_type=media)
