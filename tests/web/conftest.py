"""Fixtures of the web tests: a small synthetic workspace and the app served on 127.0.0.1.

The workspace is :func:`sourcegrid.sample.web_workspace.build_sample_workspace` (6 × 7 cells,
two townships, one person per role, two hotspot alerts); the server is uvicorn in a
thread of the test process on a free loopback port, so tests talk HTTP to it like
a browser or a machine client would.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest
from argon2 import PasswordHasher

from sourcegrid.sample.web_workspace import SAMPLE_PASSWORD, SAMPLE_PEOPLE

#: Cheap argon2 parameters for tests (the app's default is RFC 9106's profile).
TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
CELL_A, CELL_B = "R0001C0001", "R0004C0004"
USERS = [person_id for person_id, *_ in SAMPLE_PEOPLE]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def free_port() -> int:
    with socket.socket() as handle:
        handle.bind(("127.0.0.1", 0))
        return handle.getsockname()[1]


@dataclass
class Live:
    """A running server: its base URL, the app, and API tokens per person."""

    url: str
    app: object
    server: object
    thread: threading.Thread
    tokens: dict[str, str]

    @property
    def state(self):
        return self.app.state.web

    @property
    def workspace(self):
        return self.state.workspace

    def client(self, person: str | None = None) -> httpx.Client:
        """A client acting as ``person`` by API token (no token: anonymous)."""
        headers = {"Authorization": f"Bearer {self.tokens[person]}"} if person else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def session(self, person: str) -> tuple[httpx.Client, str]:
        """A client logged in by password (session cookie) and its CSRF token."""
        client = httpx.Client(base_url=self.url, timeout=30)
        response = client.post("/api/login", json={"username": person,
                                                   "password": SAMPLE_PASSWORD})
        assert response.status_code == 200, response.text
        return client, response.json()["csrf_token"]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.state.store.close()


def serve(app) -> tuple[str, object, threading.Thread]:
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, thread


def start_live(path: Path, *, build: bool = True, **options) -> Live:
    from sourcegrid.sample.web_workspace import build_sample_workspace
    from sourcegrid.web import create_app

    if build:
        build_sample_workspace(path, password_hasher=TEST_HASHER).close()
    options.setdefault("escalation_interval", 0)  # tests move alerts themselves
    app = create_app(path, password_hasher=TEST_HASHER, **options)
    tokens = {person: app.state.web.credentials.create_token(person, "tests")
              for person in USERS}
    url, server, thread = serve(app)
    return Live(url, app, server, thread, tokens)


@pytest.fixture(scope="session")
def live(tmp_path_factory) -> Live:
    """The app on the sample workspace, for the whole session (tests add their own alerts)."""
    server = start_live(tmp_path_factory.mktemp("web") / "ws")
    yield server
    server.stop()


_counter = {"n": 0}


def fresh_alert(live: Live, cell: str = CELL_A, state: str = "dispatched") -> str:
    """A new manual alert on ``cell`` brought to ``state`` by the workflow (as admin)."""
    from sourcegrid.workflow.alerts import act, register_alerts
    from sourcegrid.workflow.intake import manual_alert

    _counter["n"] += 1
    start = pd.Timestamp("2020-01-01T00:00:00Z") + pd.Timedelta(minutes=_counter["n"])
    workspace = live.workspace
    organisation = live.state.organisation()
    admin = organisation.person("admin")
    with live.state.store.lock:
        result = register_alerts(workspace, manual_alert(cell, f"test alert {_counter['n']}",
                                                         start=start, grade="red"),
                                 actor="system", now=start)
        alert = result.new[0]
        path = {"new": [], "dispatched": ["dispatch"],
                "acknowledged": ["dispatch", "acknowledge"],
                "inspected": ["dispatch", "acknowledge", "inspect"],
                "resolved": ["dispatch", "acknowledge", "inspect", "resolve"]}[state]
        for action in path:
            act(workspace, alert, action, admin if action != "dispatch" else "system",
                now=start, organisation=organisation)
    from sourcegrid.web.service import cell_changed

    cell_changed(live.state, cell)  # written behind the app's back: its dossiers are stale
    return alert
