"""Workflow tables in the workspace, their DDL, and the one way to talk to them.

The workflow keeps its own tables next to the science tables of a workspace:

=================  ==========================================================
``org_units``      unit_code (PK), name, level (city|county|township), parent_code
``people``         person_id (PK), name, roles, units, cells (';'-joined), phone, active
``org_log``        change_id (PK), time, actor, action, kind, key, before, after (JSON)
``alerts_registry`` alert_id (PK), source_kind, cell_id, pollutant, rule, start, end,
                   grade, title, detail (JSON), raised_at, raised_by
``alert_events``   event_id (unique), alert_id, seq (PK alert_id+seq), time, actor,
                   action, from_state, to_state, level, assignees (JSON list), note,
                   evidence (JSON), recorded_at
=================  ==========================================================

``org_log``, ``alerts_registry`` and ``alert_events`` are append-only: the code
only ever INSERTs into them. The primary key (alert_id, seq) of the event log is
what makes concurrent actions safe: two transactions that both read sequence
number n and both append n + 1 cannot both commit.

Every statement goes through :func:`cursor`: a fresh DuckDB cursor (its own
connection to the same database, so it may be used from any thread) with the
session time zone set to UTC, and bound parameters for every value. Table and
column names are the constants of this module, never user text.

Times: stored as ``TIMESTAMP WITH TIME ZONE``, handed around as tz-aware UTC
:class:`pandas.Timestamp`; naive inputs are Beijing time (DESIGN.md).

Limits: the workflow needs the DuckDB engine (the default workspace); on other
Ibis backends it raises :class:`sourcegrid.errors.WorkspaceError`.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator

import pandas as pd

from sourcegrid.errors import WorkspaceError

__all__ = ["UNITS_TABLE", "PEOPLE_TABLE", "ORG_LOG_TABLE", "REGISTRY_TABLE", "EVENTS_TABLE",
           "WORKFLOW_TABLES", "ensure_tables", "cursor", "transaction", "query", "as_utc",
           "is_joined", "has_table",
           "utc_now", "LOCAL_TIMEZONE"]

UNITS_TABLE = "org_units"
PEOPLE_TABLE = "people"
ORG_LOG_TABLE = "org_log"
REGISTRY_TABLE = "alerts_registry"
EVENTS_TABLE = "alert_events"
WORKFLOW_TABLES = (UNITS_TABLE, PEOPLE_TABLE, ORG_LOG_TABLE, REGISTRY_TABLE, EVENTS_TABLE)

#: Time zone of naive times given by people (DESIGN.md: naive = Asia/Shanghai).
LOCAL_TIMEZONE = "Asia/Shanghai"

_DDL = {
    UNITS_TABLE: f"""CREATE TABLE IF NOT EXISTS {UNITS_TABLE} (
        unit_code VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, level VARCHAR NOT NULL,
        parent_code VARCHAR)""",
    PEOPLE_TABLE: f"""CREATE TABLE IF NOT EXISTS {PEOPLE_TABLE} (
        person_id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, roles VARCHAR NOT NULL,
        units VARCHAR NOT NULL, cells VARCHAR NOT NULL, phone VARCHAR NOT NULL,
        active BOOLEAN NOT NULL)""",
    ORG_LOG_TABLE: f"""CREATE TABLE IF NOT EXISTS {ORG_LOG_TABLE} (
        change_id BIGINT PRIMARY KEY, time TIMESTAMP WITH TIME ZONE NOT NULL,
        actor VARCHAR NOT NULL, action VARCHAR NOT NULL, kind VARCHAR NOT NULL,
        key VARCHAR NOT NULL, before VARCHAR, after VARCHAR, note VARCHAR)""",
    REGISTRY_TABLE: f"""CREATE TABLE IF NOT EXISTS {REGISTRY_TABLE} (
        alert_id VARCHAR PRIMARY KEY, source_kind VARCHAR NOT NULL, cell_id VARCHAR NOT NULL,
        pollutant VARCHAR NOT NULL, rule VARCHAR NOT NULL,
        start TIMESTAMP WITH TIME ZONE NOT NULL, "end" TIMESTAMP WITH TIME ZONE,
        grade VARCHAR NOT NULL, title VARCHAR NOT NULL, detail VARCHAR NOT NULL,
        raised_at TIMESTAMP WITH TIME ZONE NOT NULL, raised_by VARCHAR NOT NULL)""",
    EVENTS_TABLE: f"""CREATE TABLE IF NOT EXISTS {EVENTS_TABLE} (
        event_id VARCHAR NOT NULL UNIQUE, alert_id VARCHAR NOT NULL, seq INTEGER NOT NULL,
        time TIMESTAMP WITH TIME ZONE NOT NULL, actor VARCHAR NOT NULL,
        action VARCHAR NOT NULL, from_state VARCHAR, to_state VARCHAR NOT NULL,
        level VARCHAR NOT NULL, assignees VARCHAR NOT NULL, note VARCHAR NOT NULL,
        evidence VARCHAR NOT NULL, recorded_at TIMESTAMP WITH TIME ZONE NOT NULL,
        PRIMARY KEY (alert_id, seq))""",
}


def _duckdb(workspace):
    if getattr(workspace, "engine", None) != "duckdb":
        raise WorkspaceError("the grid workflow (people, alerts, event log) needs a DuckDB "
                             f"workspace; this one runs on {getattr(workspace, 'engine', '?')!r}")
    return workspace.con.con


def is_joined(workspace) -> bool:
    """The workspace has a transaction open (the CLI's one per command): join it."""
    return bool(getattr(workspace, "in_transaction", False))


_joined = is_joined


@contextlib.contextmanager
def cursor(workspace) -> Iterator:
    """A connection to run statements on, with the session time zone UTC.

    Inside a transaction the workspace opened (:meth:`Workspace.transaction`, the
    CLI's one per command) this is the workspace's own connection, so the
    statements see its uncommitted tables and commit or roll back with it;
    otherwise a fresh DuckDB cursor (its own connection to the same database,
    usable from any thread), closed afterwards.
    """
    if _joined(workspace):
        handle = _duckdb(workspace)
        handle.execute("SET TimeZone = 'UTC'")
        yield handle
        return
    handle = _duckdb(workspace).cursor()
    try:
        handle.execute("SET TimeZone = 'UTC'")
        yield handle
    finally:
        handle.close()


@contextlib.contextmanager
def transaction(workspace) -> Iterator:
    """A connection inside BEGIN ... COMMIT (ROLLBACK on any error).

    Joins the workspace's open transaction when there is one (then an error
    rolls back the whole of it, as the CLI wants for a failed command).
    """
    if _joined(workspace):
        with workspace.transaction(), cursor(workspace) as handle:
            yield handle
        return
    with cursor(workspace) as handle:
        handle.execute("BEGIN TRANSACTION")
        try:
            yield handle
        except BaseException:
            with contextlib.suppress(Exception):
                handle.execute("ROLLBACK")
            raise
        handle.execute("COMMIT")


def ensure_tables(workspace) -> None:
    """Create the workflow tables that are missing (one catalogue query when none are).

    Outside a joined transaction the result is remembered per workspace object (the
    workflow never drops its tables), so later calls cost nothing.
    """
    joined = is_joined(workspace)
    if not joined:
        with contextlib.suppress(TypeError):
            if workspace in _ready:
                return
    with cursor(workspace) as handle:
        present = {row[0] for row in handle.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_catalog = current_database() AND list_contains(?, table_name)",
            [list(WORKFLOW_TABLES)]).fetchall()}
        for name, statement in _DDL.items():
            if name not in present:
                with _ensure_lock:
                    handle.execute(statement)
    if not joined:  # a joined transaction may still roll the tables back
        with contextlib.suppress(TypeError):
            _ready.add(workspace)


_ensure_lock = threading.Lock()
_ready: weakref.WeakSet = weakref.WeakSet()


def query(workspace, sql: str, parameters: list | tuple = ()) -> pd.DataFrame:
    """Run a read-only statement with bound parameters; a DataFrame back."""
    with cursor(workspace) as handle:
        return handle.execute(sql, list(parameters)).df()


def has_table(workspace, name: str) -> bool:
    """Whether the workspace has a table (checked with a bound parameter)."""
    frame = query(workspace, "SELECT count(*) AS n FROM information_schema.tables "
                  "WHERE table_schema = 'main' AND table_catalog = current_database() "
                  "AND table_name = ?", [name])
    return bool(frame["n"].iloc[0])


def as_utc(moment) -> pd.Timestamp:
    """A tz-aware UTC Timestamp; naive times are Beijing time (Asia/Shanghai).

    :func:`sourcegrid.observations.readers.utc_timestamp` (the one home of time
    parsing) under the workflow's name.

    Raises
    ------
    ValueError
        When ``moment`` is not a time (an :class:`~sourcegrid.errors.OptionError`).
    """
    from sourcegrid.observations.readers import utc_timestamp

    return utc_timestamp(moment, "time")


def utc_now() -> pd.Timestamp:
    """The current time, tz-aware UTC (the default clock)."""
    return pd.Timestamp.now(tz="UTC")
