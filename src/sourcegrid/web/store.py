"""The web app's hold on a workspace: one connection, one lock, the web's own tables.

The workspace is DuckDB (the default) or PostgreSQL. DuckDB lets one process write
a database file: the web app opens the workspace once per process (one DuckDB
database instance) and gives every statement its own cursor (a connection to that
instance, safe to use from any thread), so reads run side by side. On PostgreSQL
the statements share the workspace's connection, one thread at a time, and several
web processes may serve one workspace (the workflow's log conflicts on its keys).
Statements go through :func:`sourcegrid.workflow.tables.cursor` (SQL with ``?``
placeholders, the same on both engines). Writes of this package and every workflow
action the app calls run under one re-entrant write lock (:attr:`WebStore.lock`),
so two actions on one alert are serialised: the second sees the state the first left
and is refused by the workflow's transition rules (HTTP 409). A write is committed
(DuckDB autocommits to its write-ahead log) before the response goes out, so an
acknowledged write survives a restart.

Tables owned here (all SQL with bound parameters; no text from a request ever
becomes SQL):

========================  ==========================================================
``web_credentials``       username, password_hash (argon2id), updated_at, updated_by
``web_tokens``            token_id, token_hash (SHA-256), username, name, created_at,
                          revoked_at
``web_sessions``          session_hash (SHA-256), username, csrf_token, created_at,
                          expires_at
``web_events``            event_id, time, actor, action, target, detail, client:
                          the append-only log of the web's own writes (logins,
                          passwords, tokens, uploads); alert and organisation
                          changes go to the workflow's own event log
========================  ==========================================================
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sourcegrid.store import Workspace

__all__ = [
    "WebStore",
    "CREDENTIALS_TABLE",
    "TOKENS_TABLE",
    "SESSIONS_TABLE",
    "WEB_EVENTS_TABLE",
    "utc_now",
]

CREDENTIALS_TABLE = "web_credentials"
TOKENS_TABLE = "web_tokens"
SESSIONS_TABLE = "web_sessions"
WEB_EVENTS_TABLE = "web_events"

_SCHEMA = {
    CREDENTIALS_TABLE: "username VARCHAR PRIMARY KEY, password_hash VARCHAR NOT NULL, "
                       "updated_at TIMESTAMPTZ NOT NULL, updated_by VARCHAR",
    TOKENS_TABLE: "token_id VARCHAR PRIMARY KEY, token_hash VARCHAR NOT NULL UNIQUE, "
                  "username VARCHAR NOT NULL, name VARCHAR, created_at TIMESTAMPTZ NOT NULL, "
                  "revoked_at TIMESTAMPTZ",
    SESSIONS_TABLE: "session_hash VARCHAR PRIMARY KEY, username VARCHAR NOT NULL, "
                    "csrf_token VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL, "
                    "expires_at TIMESTAMPTZ NOT NULL",
    WEB_EVENTS_TABLE: "event_id VARCHAR PRIMARY KEY, time TIMESTAMPTZ NOT NULL, actor VARCHAR, "
                      "action VARCHAR NOT NULL, target VARCHAR, detail VARCHAR, client VARCHAR",
}


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class WebStore:
    """One workspace connection shared by every request of a process, under one lock.

    Parameters
    ----------
    workspace : Workspace or path
        An open workspace, or the folder of one (opened, not created).
    """

    def __init__(self, workspace: Workspace | str | Path) -> None:
        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
        self.lock = threading.RLock()
        #: bumped by :meth:`touched` when tables the caches derive from change (cells, grid,
        #: hotspots, inventory, the organisation); alert events and the web's own tables
        #: feed no cache and leave it alone
        self.version = 0
        from sourcegrid.workflow import tables

        with self.lock, tables.transaction(self.workspace) as handle:
            handle.lock(*_SCHEMA)  # PostgreSQL: two app processes starting at once
            for name, columns in _SCHEMA.items():
                handle.execute(f'CREATE TABLE IF NOT EXISTS "{name}" ({columns})')

    # ---- low level ------------------------------------------------------------------------
    @property
    def raw(self):
        """The DuckDB or psycopg connection under the Ibis backend."""
        return self.workspace.con.con

    @contextlib.contextmanager
    def cursor(self) -> Iterator:
        """A :class:`~sourcegrid.workflow.tables.Handle`: on DuckDB a fresh cursor (usable
        from any thread), on PostgreSQL the workspace's connection (one thread at a time)."""
        from sourcegrid.workflow import tables

        with tables.cursor(self.workspace) as handle:
            yield handle

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a parameterised query as dicts (``sql`` is a constant of this package)."""
        with self.cursor() as handle:
            result = handle.execute(sql, list(parameters))
            names = [d[0] for d in result.description or ()]
            return [dict(zip(names, row, strict=True)) for row in result.fetchall()]

    def frame(self, sql: str, parameters: Sequence[Any] = ()):
        """A parameterised query as a pandas DataFrame."""
        with self.cursor() as handle:
            return handle.execute(sql, list(parameters)).df()

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> None:
        """Run a parameterised write under the write lock (``sql`` is a package constant)."""
        with self.lock, self.cursor() as handle:
            handle.execute(sql, list(parameters))

    def touched(self) -> None:
        """Note a change of a table the caches derive from (drops them and the organisation)."""
        with self.lock:
            self.version += 1

    def tables(self) -> set[str]:
        rows = self.query("SELECT table_name FROM information_schema.tables "
                          "WHERE table_schema = current_schema()")
        return {row["table_name"] for row in rows}

    def has(self, name: str) -> bool:
        rows = self.query("SELECT count(*) AS n FROM information_schema.tables "
                          "WHERE table_schema = current_schema() AND table_name = ?", [name])
        return bool(rows[0]["n"])

    def read(self, name: str):
        """A whole workspace table as pandas (``name`` is a table-name constant, checked)."""
        if not self.has(name):
            from sourcegrid.errors import NotFoundError

            raise NotFoundError("table", name, sorted(self.tables()))
        return self.frame(f'SELECT * FROM "{name}"')

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file (DuckDB; the server does it on
        PostgreSQL)."""
        if self.workspace.engine != "duckdb":
            return
        with self.lock, self.cursor() as handle:
            handle.execute("CHECKPOINT")

    def close(self) -> None:
        with self.lock:
            self.workspace.close()

    # ---- the web's own event log ------------------------------------------------------------
    def log_event(self, actor: str | None, action: str, target: str = "",
                  detail: dict[str, Any] | None = None, client: str = "") -> str:
        """Append one event to ``web_events``; returns its id."""
        event_id = uuid.uuid4().hex
        self.execute(
            f'INSERT INTO "{WEB_EVENTS_TABLE}" VALUES (?, ?, ?, ?, ?, ?, ?)',
            [event_id, utc_now(), actor, action, target,
             json.dumps(detail or {}, ensure_ascii=False, default=str), client])
        return event_id
