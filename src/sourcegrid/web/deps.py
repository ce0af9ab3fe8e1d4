"""Request dependencies: the caller (session cookie or API token), CSRF, scope helpers.

Every route of the app but the login page, the static files and the schema
depends on :func:`api_caller` or :func:`page_caller`, which find the person
behind the request and refuse it when there is none (401 for the API, a
redirect to the login page for pages). A request authenticated by a session
cookie that changes anything must carry the session's CSRF token (form field
``csrf_token`` or header ``X-CSRF-Token``); a request with an API token needs
none (browsers never attach it on their own).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from sourcegrid.web.auth import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE

__all__ = ["Caller", "api_caller", "page_caller", "check_csrf", "CELL_ID_PATTERN",
           "ALERT_ID_PATTERN", "UserView"]

#: Cell ids of sourcegrid.grid.spec ('R0012C0034').
CELL_ID_PATTERN = r"^R\d{4}C\d{4}$"
#: Alert ids of sourcegrid.workflow.alerts ('A' + 16 hex digits).
ALERT_ID_PATTERN = r"^A[0-9a-f]{16}$"
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class UserView:
    """What the page header shows of the caller."""

    person_id: str
    name: str
    roles: tuple[str, ...]
    role_label: str


@dataclass
class Caller:
    """The authenticated person of a request, with the organisation snapshot."""

    person: object  # sourcegrid.workflow.org.Person
    organisation: object  # sourcegrid.workflow.org.Organisation
    via: str  # 'session' | 'token'
    csrf_token: str | None = None

    @property
    def person_id(self) -> str:
        return self.person.person_id

    def visible(self) -> set[str] | None:
        """Cells the caller may see; None for an admin (every cell)."""
        if self.person.has_role("admin"):
            return None
        return set(self.organisation.visible_cells(self.person))

    def require(self, action: str, target=None) -> None:
        from sourcegrid.workflow.policy import require

        require(self.organisation, self.person, action, target)

    def can(self, action: str, target=None) -> bool:
        from sourcegrid.workflow.policy import can

        return can(self.organisation, self.person, action, target)

    def user_view(self) -> UserView:
        from sourcegrid.workflow.org import ROLE_NAMES

        label = " / ".join(f"{ROLE_NAMES.get(r, r)}" for r in self.person.roles)
        return UserView(self.person.person_id, self.person.name, tuple(self.person.roles),
                        label)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    match = re.match(r"^Bearer\s+(\S+)$", header.strip(), flags=re.IGNORECASE)
    return match.group(1) if match else None


def _resolve(request: Request) -> Caller | None:
    state = request.app.state.web
    token = _bearer(request)
    if token is not None:
        username = state.credentials.token_user(token)
        via, csrf = "token", None
        if username is None:
            raise HTTPException(401, "the API token is unknown or revoked",
                                headers={"WWW-Authenticate": "Bearer"})
    else:
        session = state.credentials.session(request.cookies.get(SESSION_COOKIE))
        if session is None:
            return None
        username, via, csrf = session.username, "session", session.csrf_token
    organisation = state.organisation()
    person = organisation.people.get(username)
    if person is None or not person.active:
        raise HTTPException(403, f"{username} is not an active person of the organisation")
    caller = Caller(person, organisation, via, csrf)
    request.state.user_view = caller.user_view()
    request.state.csrf_token = csrf
    return caller


async def check_csrf(request: Request, caller: Caller) -> None:
    """Refuse a cookie-authenticated write without the session's CSRF token (403)."""
    if caller.via != "session" or request.method not in _UNSAFE:
        return
    from sourcegrid.web.auth import Credentials

    given = request.headers.get(CSRF_HEADER)
    if given is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
    if not Credentials.csrf_matches(caller.csrf_token or "", given):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


async def api_caller(request: Request) -> Caller:
    """The caller of an /api route (401 without a session or token; CSRF for writes)."""
    caller = await run_in_threadpool(_resolve, request)  # database look-ups: not in the loop
    if caller is None:
        raise HTTPException(401, "log in first, or send an API token "
                                 "(Authorization: Bearer <token>)",
                            headers={"WWW-Authenticate": "Bearer"})
    await check_csrf(request, caller)
    return caller


async def page_caller(request: Request) -> Caller:
    """The caller of a page (a redirect to the login page without a session)."""
    caller = await run_in_threadpool(_resolve, request)
    if caller is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(303, "log in first",
                            headers={"Location": f"/login?next={quote(target, safe='')}"})
    await check_csrf(request, caller)
    return caller
