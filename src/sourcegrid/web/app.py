"""The sourcegrid web application: server-rendered pages and a REST API over one workspace.

:func:`create_app` builds a FastAPI app for one workspace folder. The pages
(Jinja2, autoescaped) are the map of cells, the cell dossier (一格一档), the
alert inbox, the inventory, AQI and good days, and a mobile page for
inspectors; everything they show is also under ``/api`` (OpenAPI schema at
``/api/openapi.json``, a readable reference at ``/api/docs``). Leaflet (from
``xstatic-leaflet``) and plotly's bundled JavaScript are served by the app
itself: a page makes no request to any other host (bureau networks are closed).

Layers: the app authenticates (:mod:`.auth`), asks the workflow's policy
(:mod:`sourcegrid.workflow.policy`) before every read and write, reads tables
through :mod:`.views` and acts through :mod:`sourcegrid.workflow`; it computes
no science itself.

Errors: a refusal by role or scope is 403, an unknown thing 404, a transition
the alert's state does not allow (or a lost race for the same alert) 409, bad
input 400/422 with a message naming the field; a request never gets a 500 for
anything it sent.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from sourcegrid.errors import InputError, NotFoundError, SourcegridError
from sourcegrid.web.auth import Credentials, LoginLimiter
from sourcegrid.web.store import WebStore
from sourcegrid.web.views import Views

__all__ = ["create_app", "WebState", "MAX_UPLOAD_BYTES", "ESCALATION_INTERVAL"]

logger = logging.getLogger("sourcegrid.web")

HERE = Path(__file__).parent
#: Seconds between two runs of the dispatch and escalation inside the app.
ESCALATION_INTERVAL = 300.0
#: Largest photo an inspector may upload [bytes].
MAX_UPLOAD_BYTES = 8 * 1024 * 1024


@dataclass
class WebState:
    """Everything a request handler needs, kept on ``app.state.web``."""

    store: WebStore
    credentials: Credentials
    views: Views
    limiter: LoginLimiter
    templates: Jinja2Templates
    secure_cookies: bool | None = None
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    clock: Any = None
    #: deadline set of the escalation (a name in sourcegrid.workflow.alerts.DEADLINES)
    deadlines: Any = "sourcegrid_default"
    #: seconds between two runs of the dispatch and escalation (0: never)
    escalation_interval: float = 0.0
    #: the last run: {time, dispatched, escalated, overdue_at_city} or {time, error}
    last_deadlines_run: dict = field(default_factory=dict)
    #: cached dossiers: cell → (stamp, CellDossier); see service.dossier
    dossiers: dict = field(default_factory=dict)
    #: per cell, a counter bumped on every write to its alerts or findings
    cell_versions: dict = field(default_factory=dict)
    _organisation: Any = None
    _organisation_version: int = -1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def workspace(self):
        return self.store.workspace

    def organisation(self):
        """The workflow's Organisation snapshot, reloaded after every write."""
        from sourcegrid.workflow.org import Organisation

        with self._lock:
            if self._organisation is None or self._organisation_version != self.store.version:
                self._organisation_version = self.store.version
                self._organisation = Organisation.load(self.store.workspace)
            return self._organisation

    def now(self):
        """The app's clock (tz-aware UTC); replaceable for tests."""
        import pandas as pd

        return self.clock() if self.clock is not None else pd.Timestamp.now(tz="UTC")


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api") or "text/html" not in request.headers.get(
        "accept", "")


def _error(request: Request, status: int, message: str, extra: dict | None = None,
           headers: dict | None = None) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": message, **(extra or {})}, status_code=status,
                            headers=headers)
    state: WebState = request.app.state.web
    headings = {400: "输入有误 Bad input", 401: "请登录 Please log in",
                403: "无权访问 Not allowed", 404: "未找到 Not found",
                409: "冲突 Conflict", 413: "文件过大 Too large", 422: "输入有误 Bad input",
                429: "请稍后再试 Too many attempts"}
    return state.templates.TemplateResponse(
        request, "error.html",
        {"status": status, "heading": headings.get(status, f"Error {status}"),
         "message": message, "user": getattr(request.state, "user_view", None),
         "csrf_token": getattr(request.state, "csrf_token", None)},
        status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    from sourcegrid.workflow.errors import (
        AccessDenied,
        ConcurrentUpdateError,
        TransitionRefused,
        WorkflowError,
    )

    def _answer_with(status: int):
        async def handler(request: Request, error: Exception):
            return _error(request, status, str(error))
        return handler

    # the most specific class of an error picks its handler (Starlette walks the MRO)
    for error_type, status in ((AccessDenied, 403), (TransitionRefused, 409),
                               (ConcurrentUpdateError, 409), (WorkflowError, 400),
                               (NotFoundError, 404)):
        app.add_exception_handler(error_type, _answer_with(status))

    @app.exception_handler(InputError)
    async def _input(request: Request, error: InputError):
        problems = [{k: v for k, v in p.__dict__.items()} for p in error.problems[:200]]
        return _error(request, 422, error.summary or str(error), {"problems": problems})

    @app.exception_handler(SourcegridError)
    async def _sourcegrid(request: Request, error: SourcegridError):
        return _error(request, 400, str(error))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException):
        if error.status_code == 303 and error.headers and "Location" in error.headers:
            return Response(status_code=303, headers=error.headers)
        detail = error.detail if isinstance(error.detail, str) else str(error.detail)
        return _error(request, error.status_code, detail, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError):
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item.get("loc", ()))
            problems.append({"field": where, "message": item.get("msg", "invalid")})
        text = "; ".join(f"{p['field']}: {p['message']}" for p in problems) or "invalid request"
        return _error(request, 422, f"invalid request: {text}", {"problems": problems})

    @app.exception_handler(ValueError)
    async def _value(request: Request, error: ValueError):
        return _error(request, 400, str(error) or "invalid value")


async def _deadline_loop(state: WebState) -> None:
    """Every ``state.escalation_interval`` s: dispatch new alerts, escalate overdue ones."""
    import anyio
    import anyio.to_thread

    from sourcegrid.web.service import run_deadlines

    while True:
        await anyio.sleep(state.escalation_interval)
        try:
            state.last_deadlines_run = await anyio.to_thread.run_sync(run_deadlines, state)
        except Exception as error:  # noqa: BLE001 - keep serving; the next run tries again
            logger.exception("dispatch and escalation failed")
            state.last_deadlines_run = {"time": str(state.now()), "error": str(error)}


def create_app(workspace_path: str | Path | None = None, *, workspace=None,
               secure_cookies: bool | None = None, login_attempts: int = 5,
               login_window_seconds: float = 300.0, max_upload_bytes: int = MAX_UPLOAD_BYTES,
               clock=None, password_hasher=None, worker_threads: int = 8,
               escalation_interval: float = ESCALATION_INTERVAL,
               deadlines: str = "sourcegrid_default") -> FastAPI:
    """The web app for one workspace.

    Parameters
    ----------
    workspace_path : str or Path
        Workspace folder (must exist; see ``sourcegrid init``).
    workspace : Workspace, optional
        An open workspace instead of a path (tests, embedding).
    secure_cookies : bool, optional
        Force the Secure flag on the session cookie; default: set it when the request
        came over https (directly or as said by a trusted proxy's X-Forwarded-Proto).
    login_attempts, login_window_seconds : int, float
        Failed logins allowed per user name and per client address in the window [s].
    max_upload_bytes : int
        Largest accepted photo [bytes].
    clock : callable, optional
        Returns the current time (tz-aware UTC pandas Timestamp); for tests.
    password_hasher : argon2.PasswordHasher, optional
        Hash parameters (default argon2-cffi's RFC 9106 low-memory profile).
    worker_threads : int
        Threads that run request handlers (default 8).
    escalation_interval : float
        Seconds between two runs of the dispatch of new alerts and the escalation of
        overdue ones, inside the app under its write lock (default
        :data:`ESCALATION_INTERVAL`; 0 turns it off). The first run is one interval
        after start (:func:`sourcegrid.web.service.run_deadlines`).
    deadlines : str
        Deadline set (:data:`sourcegrid.workflow.alerts.DEADLINES`).

    Returns
    -------
    fastapi.FastAPI
    """
    import math

    import xstatic.pkg.leaflet as leaflet

    from sourcegrid.web import api, pages
    from sourcegrid.workflow.alerts import deadline_set

    deadline_set(deadlines)  # a wrong name is refused before anything starts
    if not (isinstance(escalation_interval, int | float) and math.isfinite(escalation_interval)
            and escalation_interval >= 0):
        raise ValueError(f"escalation_interval: expected seconds >= 0, got "
                         f"{escalation_interval!r}")
    store = WebStore(workspace if workspace is not None else workspace_path)
    from sourcegrid.workflow import tables as workflow_tables

    workflow_tables.ensure_tables(store.workspace)
    import jinja2

    templates = Jinja2Templates(env=jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True))
    state = WebState(store=store, credentials=Credentials(store, password_hasher),
                     views=Views(store),
                     limiter=LoginLimiter(login_attempts, login_window_seconds),
                     templates=templates, secure_cookies=secure_cookies,
                     max_upload_bytes=max_upload_bytes, clock=clock, deadlines=deadlines,
                     escalation_interval=float(escalation_interval))
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        import anyio.to_thread

        # a few worker threads: the work holds the GIL (pandas) or waits on one
        # database, so 40 threads on 2 cores only thrash; requests queue in the loop
        anyio.to_thread.current_default_thread_limiter().total_tokens = worker_threads
        async with anyio.create_task_group() as tasks:
            if state.escalation_interval > 0:
                tasks.start_soon(_deadline_loop, state)
            yield
            tasks.cancel_scope.cancel()
        store.checkpoint()  # fold the write-ahead log into the file on a clean stop

    app = FastAPI(
        lifespan=lifespan,
        title="sourcegrid",
        summary="Hotspot grid management (网格化精准治污): cells, alerts, dossiers, inventory, AQI.",
        version="1",
        docs_url=None, redoc_url=None,  # their pages load scripts from a CDN; see /api/docs
        openapi_url="/api/openapi.json",
    )
    app.state.web = state
    _install_error_handlers(app)
    app.mount("/static/leaflet", StaticFiles(directory=leaflet.BASE_DIR), name="leaflet")
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.get("/static-vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        import plotly

        path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        return FileResponse(path, media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_upload_bytes + 1024 * 1024:
            # refused before the body is read: nothing this app takes is that large
            return JSONResponse({"detail": f"request body of {declared} bytes is more than "
                                           f"the {max_upload_bytes} bytes a photo may have"},
                                status_code=413)
        response = await call_next(request)
        # a closed network: nothing from another origin, no framing
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self' 'unsafe-inline' 'unsafe-eval'; connect-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'self'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    app.include_router(api.router)
    app.include_router(pages.router)

    @app.get("/api/docs", include_in_schema=False, response_class=HTMLResponse)
    def api_docs(request: Request):
        return pages.api_reference(request, app.openapi())

    return app
