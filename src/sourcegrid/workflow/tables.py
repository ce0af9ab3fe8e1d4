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
number n and both append n + 1 cannot both commit; the loser's error is one of
:data:`CONFLICT_ERRORS` (DuckDB's constraint or transaction conflict, PostgreSQL's
unique violation, serialization failure or deadlock), which callers turn into
:class:`~sourcegrid.workflow.errors.ConcurrentUpdateError`.

Engines: DuckDB (the default workspace) and PostgreSQL (a bureau's server, many
processes at once). Spark workspaces are for batch computation and refuse the
workflow with :class:`sourcegrid.errors.WorkspaceError`.

Every statement goes through a :class:`Handle` (:func:`cursor`, :func:`transaction`,
:func:`query`): SQL written once with ``?`` placeholders and bound parameters for
every value (translated to psycopg's ``%s`` on PostgreSQL), the session time zone
UTC, results as tuples or a DataFrame with the same dtypes on both engines.
``Handle.register`` makes a DataFrame visible to the statements by name (DuckDB's
replacement scan; on PostgreSQL a temporary table filled by one ``INSERT ... SELECT
FROM unnest(arrays)``). Table and column names are the constants of this module,
never user text. The few SQL pieces whose spelling differs between the engines are
the functions :func:`last_value` and :func:`json_text`.

- DuckDB: outside a transaction every block gets a fresh cursor (its own connection
  to the same database, usable from any thread); :func:`transaction` runs BEGIN ...
  COMMIT on it, or joins the workspace's open transaction.
- PostgreSQL: the workspace's one connection, used by one thread at a time (a lock
  per workspace); :func:`transaction` is the workspace's real transaction
  (:meth:`Workspace.transaction`), joined when one is open. Appends that number their
  rows from the table's maximum (``org_log``) take :meth:`Workspace.lock` first.

Times: stored as ``TIMESTAMP WITH TIME ZONE``, handed around as tz-aware UTC
:class:`pandas.Timestamp`; naive inputs are Beijing time (DESIGN.md).
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import pandas as pd

from sourcegrid.errors import WorkspaceError

__all__ = ["UNITS_TABLE", "PEOPLE_TABLE", "ORG_LOG_TABLE", "REGISTRY_TABLE", "EVENTS_TABLE",
           "WORKFLOW_TABLES", "ENGINES", "CONFLICT_ERRORS", "DATABASE_ERRORS",
           "MISSING_TABLE_ERRORS", "Handle", "ensure_tables", "cursor", "transaction", "query",
           "as_utc", "is_joined", "has_table", "tables_present",
           "last_value", "json_text",
           "utc_now", "LOCAL_TIMEZONE"]

UNITS_TABLE = "org_units"
PEOPLE_TABLE = "people"
ORG_LOG_TABLE = "org_log"
REGISTRY_TABLE = "alerts_registry"
EVENTS_TABLE = "alert_events"
WORKFLOW_TABLES = (UNITS_TABLE, PEOPLE_TABLE, ORG_LOG_TABLE, REGISTRY_TABLE, EVENTS_TABLE)
#: Engines the workflow runs on.
ENGINES = ("duckdb", "postgres")

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
        event_id VARCHAR NOT NULL UNIQUE, alert_id VARCHAR NOT NULL, seq BIGINT NOT NULL,
        time TIMESTAMP WITH TIME ZONE NOT NULL, actor VARCHAR NOT NULL,
        action VARCHAR NOT NULL, from_state VARCHAR, to_state VARCHAR NOT NULL,
        level VARCHAR NOT NULL, assignees VARCHAR NOT NULL, note VARCHAR NOT NULL,
        evidence VARCHAR NOT NULL, recorded_at TIMESTAMP WITH TIME ZONE NOT NULL,
        PRIMARY KEY (alert_id, seq))""",
}


def _postgres_errors() -> tuple[tuple, tuple, tuple]:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return (), (), ()
    errors = psycopg.errors
    return ((errors.UniqueViolation, errors.SerializationFailure, errors.DeadlockDetected),
            (psycopg.Error,), (errors.UndefinedTable,))


_PG_CONFLICT, _PG_ERROR, _PG_MISSING = _postgres_errors()
#: Errors of a transaction that lost to a concurrent one (the appended key was taken).
CONFLICT_ERRORS: tuple[type[BaseException], ...] = (
    duckdb.ConstraintException, duckdb.TransactionException, *_PG_CONFLICT)
#: Any error of the database (after the conflicts are handled).
DATABASE_ERRORS: tuple[type[BaseException], ...] = (duckdb.Error, *_PG_ERROR)
#: A table that does not exist.
MISSING_TABLE_ERRORS: tuple[type[BaseException], ...] = (duckdb.CatalogException, *_PG_MISSING)


def _engine(workspace) -> str:
    engine = getattr(workspace, "engine", None)
    if engine not in ENGINES:
        hint = (" (Spark workspaces are for batch computation; keep the workflow on a DuckDB "
                "or PostgreSQL workspace)" if engine == "pyspark" else "")
        raise WorkspaceError("the grid workflow (people, alerts, event log) needs a DuckDB or "
                             f"PostgreSQL workspace; this one runs on {engine or '?'!r}{hint}")
    return engine


def is_joined(workspace) -> bool:
    """The workspace has a transaction open (the CLI's one per command): join it."""
    return bool(getattr(workspace, "in_transaction", False))


_joined = is_joined

# PostgreSQL (and psycopg type codes) --------------------------------------------------------
#: psycopg type OIDs -> the dtype DuckDB's ``.df()`` gives the same SQL type
_PG_TIMESTAMPTZ, _PG_TIMESTAMP, _PG_DATE = 1184, 1114, 1082
_PG_INTEGERS = {20: "int64", 23: "int32", 21: "int16"}
_PG_FLOATS = {700, 701, 1700}
_PG_BOOL = 16


class _Rows:
    """The result of one PostgreSQL statement: ``fetchone``, ``fetchall``, ``df``."""

    def __init__(self, handle) -> None:
        self.description = handle.description
        self._rows = handle.fetchall() if handle.description else []
        self._at = 0

    def fetchone(self):
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    def fetchall(self) -> list:
        rows, self._at = self._rows[self._at:], len(self._rows)
        return rows

    def df(self) -> pd.DataFrame:
        names = [column.name for column in self.description or ()]
        frame = pd.DataFrame(self._rows, columns=names, dtype=object)
        out = {}
        for number, column in enumerate(self.description or ()):
            values = frame.iloc[:, number]
            code = column.type_code
            missing = values.isna()
            if code == _PG_TIMESTAMPTZ:
                values = pd.to_datetime(values, utc=True).astype("datetime64[us, UTC]")
            elif code in (_PG_TIMESTAMP, _PG_DATE):
                values = pd.to_datetime(values).astype("datetime64[us]")
            elif code in _PG_INTEGERS:
                kind = _PG_INTEGERS[code]
                values = values.astype(kind.capitalize() if missing.any() else kind)
            elif code in _PG_FLOATS:
                values = values.astype("float64")
            elif code == _PG_BOOL and not missing.any():
                values = values.astype(bool)
            out[names[number]] = values
        return pd.DataFrame(out, columns=names) if names else pd.DataFrame()


def _pg_type(series: pd.Series) -> str:
    kind = series.dtype
    if pd.api.types.is_bool_dtype(kind):
        return "BOOLEAN"
    if pd.api.types.is_integer_dtype(kind):
        return "BIGINT"
    if pd.api.types.is_float_dtype(kind):
        return "DOUBLE PRECISION"
    if isinstance(kind, pd.DatetimeTZDtype):
        return "TIMESTAMPTZ"
    if pd.api.types.is_datetime64_dtype(kind):
        return "TIMESTAMP"
    return "VARCHAR"


def _pg_values(series: pd.Series, kind: str) -> list:
    """One column as a list psycopg binds as an array (missing values None)."""
    present = series.notna()
    if kind in ("TIMESTAMPTZ", "TIMESTAMP"):
        values = series.astype(object)  # pandas Timestamps: datetimes to psycopg
    elif kind == "VARCHAR":
        values = series.astype("string").astype(object)
    else:
        values = series.astype(object)
    return values.where(present, None).tolist()


class Handle:
    """A connection to run the workflow's statements on (DuckDB or PostgreSQL).

    Attributes
    ----------
    engine : {'duckdb', 'postgres'}
    raw : connection
        The DuckDB cursor or the psycopg connection.
    """

    def __init__(self, raw, engine: str, workspace=None) -> None:
        self.raw = raw
        self.engine = engine
        self.workspace = workspace
        self._registered: list[str] = []

    def lock(self, *names: str) -> None:
        """Hold the right to write these tables until the transaction ends.

        :meth:`Workspace.lock` on PostgreSQL (advisory locks, in name order); nothing on
        DuckDB (one writer per file, and its transactions conflict on the keys).
        """
        if self.engine == "postgres" and self.workspace is not None:
            self.workspace.lock(*names)

    def execute(self, sql: str, parameters: Sequence[Any] = ()):
        """Run one statement with ``?`` placeholders; the result has fetchone/fetchall/df.

        Every ``?`` of ``sql`` is a placeholder (the workflow's SQL has none in a literal).
        """
        if self.engine == "duckdb":
            return self.raw.execute(sql, list(parameters))
        text = sql.replace("%", "%%").replace("?", "%s")
        with self.raw.cursor() as handle:
            handle.execute(text, list(parameters))
            return _Rows(handle)

    def register(self, name: str, frame: pd.DataFrame) -> None:
        """Make ``frame`` a table ``name`` for the following statements (until unregistered).

        ``name`` is a constant of the calling module, never user text.
        """
        if self.engine == "duckdb":
            self.raw.register(name, frame)
            return
        kinds = [_pg_type(frame[column]) for column in frame.columns]
        columns = ", ".join(f'"{column}" {kind}'
                            for column, kind in zip(frame.columns, kinds, strict=True))
        with self.raw.cursor() as handle:
            handle.execute(f'DROP TABLE IF EXISTS pg_temp."{name}"')
            handle.execute(f'CREATE TEMPORARY TABLE "{name}" ({columns})')
            if len(frame):
                arrays = ", ".join(f"CAST(%s AS {kind}[])" for kind in kinds)
                handle.execute(f'INSERT INTO "{name}" SELECT * FROM unnest({arrays})',
                               [_pg_values(frame[column], kind)
                                for column, kind in zip(frame.columns, kinds, strict=True)])
        self._registered.append(name)

    def unregister(self, name: str) -> None:
        """Forget a table made by :meth:`register`."""
        if self.engine == "duckdb":
            self.raw.unregister(name)
            return
        with self.raw.cursor() as handle:
            handle.execute(f'DROP TABLE IF EXISTS pg_temp."{name}"')
        with contextlib.suppress(ValueError):
            self._registered.remove(name)


def last_value(engine: str, value: str, order: str, where: str | None = None) -> str:
    """SQL of the aggregate 'value of the row with the largest ``order``' (among ``where``).

    DuckDB's ``arg_max``; PostgreSQL's first element of the ordered ``array_agg``.
    ``value``, ``order`` and ``where`` are SQL of the calling module, never user text.
    """
    condition = f" FILTER (WHERE {where})" if where else ""
    if engine == "postgres":
        return f"(array_agg({value} ORDER BY {order} DESC){condition})[1]"
    return f"arg_max({value}, {order}){condition}"


def json_text(engine: str, column: str, *path: str) -> str:
    """SQL of the text at ``path`` (keys) in the JSON text ``column``, NULL when absent."""
    if engine == "postgres":
        return f"(CAST({column} AS JSON) #>> '{{{','.join(path)}}}')"
    return f"json_extract_string({column}, '$.{'.'.join(path)}')"


_pg_locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_pg_locks_guard = threading.Lock()


_pg_shared_lock = threading.RLock()


def _pg_lock(workspace) -> threading.RLock:
    """The lock of a PostgreSQL workspace's connection (one thread uses it at a time)."""
    with _pg_locks_guard:
        try:
            found = _pg_locks.get(workspace)
            if found is None:
                found = _pg_locks[workspace] = threading.RLock()
        except TypeError:  # not weak-referenceable: one lock for all such
            found = _pg_shared_lock
        return found


def _pg_handle(workspace) -> Handle:
    raw = workspace.con.con
    handle = Handle(raw, "postgres", workspace)
    if raw.info.parameter_status("TimeZone") != "UTC":  # the server reports each change
        handle.execute("SET TIME ZONE 'UTC'")
    return handle


@contextlib.contextmanager
def cursor(workspace) -> Iterator[Handle]:
    """A :class:`Handle` to run statements on, with the session time zone UTC.

    Inside a transaction the workspace opened (:meth:`Workspace.transaction`, the
    CLI's one per command) this is the workspace's own connection, so the
    statements see its uncommitted tables and commit or roll back with it;
    otherwise, on DuckDB, a fresh cursor (its own connection to the same database,
    usable from any thread), closed afterwards; on PostgreSQL the workspace's
    connection, one thread at a time, each statement committed on its own.
    """
    engine = _engine(workspace)
    if engine == "postgres":
        with _pg_lock(workspace):
            yield _pg_handle(workspace)
        return
    if _joined(workspace):
        raw = workspace.con.con
        raw.execute("SET TimeZone = 'UTC'")
        yield Handle(raw, engine, workspace)
        return
    raw = workspace.con.con.cursor()
    try:
        raw.execute("SET TimeZone = 'UTC'")
        yield Handle(raw, engine, workspace)
    finally:
        raw.close()


@contextlib.contextmanager
def transaction(workspace) -> Iterator[Handle]:
    """A :class:`Handle` inside BEGIN ... COMMIT (ROLLBACK on any error).

    Joins the workspace's open transaction when there is one (then an error
    rolls back the whole of it, as the CLI wants for a failed command). On
    PostgreSQL this is always the workspace's own transaction.
    """
    engine = _engine(workspace)
    if engine == "postgres":
        with _pg_lock(workspace), workspace.transaction():
            handle = _pg_handle(workspace)
            try:
                yield handle
            finally:
                for name in list(handle._registered):  # a temporary table outlives its use
                    with contextlib.suppress(Exception):
                        handle.unregister(name)
        return
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


def tables_present(handle: Handle, names: Sequence[str]) -> set[str]:
    """Which of ``names`` are tables (or views) of the workspace, seen from ``handle``."""
    rows = handle.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = "
        "current_schema() AND table_catalog = current_database() AND table_name IN "
        "(SELECT unnest(CAST(? AS VARCHAR[])))", [list(names)]).fetchall()
    return {row[0] for row in rows}


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
        present = tables_present(handle, WORKFLOW_TABLES)
    if len(present) < len(WORKFLOW_TABLES):
        # PostgreSQL: two processes creating one table at once collide in its catalogue
        # even with IF NOT EXISTS; the creators take the tables' locks and look again
        # (DuckDB: threads of one process creating at once take turns)
        guard = _ensure_lock if _engine(workspace) == "duckdb" else contextlib.nullcontext()
        with guard, transaction(workspace) as handle:
            handle.lock(*WORKFLOW_TABLES)
            present = tables_present(handle, WORKFLOW_TABLES)
            for name, statement in _DDL.items():
                if name not in present:
                    handle.execute(statement)
    if not joined:  # a joined transaction may still roll the tables back
        with contextlib.suppress(TypeError):
            _ready.add(workspace)


_ensure_lock = threading.Lock()
_ready: weakref.WeakSet = weakref.WeakSet()


def query(workspace, sql: str, parameters: list | tuple = ()) -> pd.DataFrame:
    """Run a read-only statement (``?`` placeholders, bound parameters); a DataFrame back."""
    with cursor(workspace) as handle:
        return handle.execute(sql, list(parameters)).df()


def has_table(workspace, name: str) -> bool:
    """Whether the workspace has a table (checked with a bound parameter)."""
    with cursor(workspace) as handle:
        return name in tables_present(handle, [name])


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
