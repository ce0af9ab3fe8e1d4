"""The workspace: one Ibis connection and the names of the tables in it.

The default is a DuckDB file ``workspace.duckdb`` in the workspace folder. A
workspace may instead live on a PostgreSQL server or in a Spark warehouse
(:mod:`sourcegrid.store.engines`: ``sourcegrid init --engine postgres --dsn ...``
writes ``sourcegrid-workspace.toml``, which later opens read). The same code runs
on any Ibis backend: :meth:`Workspace.from_backend` wraps an existing connection.
Science modules never open connections; they take and return Ibis tables, and the
workspace stores them.

Robustness:

- **Transactions.** :meth:`Workspace.transaction` runs a block in one transaction:
  on DuckDB BEGIN … COMMIT, ROLLBACK on any error, Ctrl-C or kill (DuckDB keeps
  only committed work); on PostgreSQL a real transaction of the workspace's
  connection (the Ibis operations inside become savepoints of it, DDL included), so
  a failed or killed command leaves nothing behind. Nested blocks join the outer
  one. Spark has no multi-statement transactions: there each table write is atomic
  on its own (a Parquet table is replaced when its write completes) and a block is
  not. The CLI runs every command that changes a workspace in one.
- **Many writers on PostgreSQL.** Any number of processes may write one PostgreSQL
  workspace at once. Writers of the same table are serialised by
  :meth:`Workspace.lock` (a transaction-scoped advisory lock per schema and table,
  taken in name order so that two writers cannot deadlock); appends
  (:meth:`Workspace.write` with ``mode='append'``) take it themselves, so that two
  processes creating the same table lose neither's rows.
- **One writer at a time (DuckDB).** DuckDB lets one process write a file (or several only
  read it). Opening a workspace another process holds waits up to ``lock_timeout``
  seconds (``$SOURCEGRID_LOCK_TIMEOUT``, default 30), calls ``on_wait`` once with a
  message naming the holder (command and pid, from the lock-info file
  ``workspace.duckdb.lockinfo`` a writer keeps beside the database), then raises
  :class:`~sourcegrid.errors.WorkspaceBusyError`. A read-only open
  (``read_only=True``) does not block other readers; DuckDB refuses it while a
  writer holds the file, and that is waited for the same way.
- **Damage.** A workspace file that is not a readable DuckDB database raises
  :class:`~sourcegrid.errors.WorkspaceCorruptError` saying what to do.
- **Helpers.** Helper views and tables a killed run may have left (``_sg_*`` views
  of the accounting engine, ``_last_run_emissions``) are dropped when a workspace
  is opened for writing.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from sourcegrid.errors import (
    NotFoundError,
    WorkspaceBusyError,
    WorkspaceCorruptError,
    WorkspaceError,
)
from sourcegrid.io.tables import fault_point
from sourcegrid.io.tables import process_alive as _alive
from sourcegrid.store import engines as _engines

__all__ = ["Workspace", "default_workspace_path", "lock_timeout", "DB_FILE", "ENV_VAR",
           "LOCK_TIMEOUT_VAR", "LOCK_INFO_SUFFIX", "HELPER_TABLES"]

DB_FILE = "workspace.duckdb"
ENV_VAR = "SOURCEGRID_WORKSPACE"
LOCK_TIMEOUT_VAR = "SOURCEGRID_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 30.0  # [s]
LOCK_INFO_SUFFIX = ".lockinfo"
#: Helper tables a run keeps only while it runs (dropped at the next write open).
HELPER_TABLES = ("_last_run_emissions",)
_HELPER_VIEW_PREFIX = "_sg_"
_LOCK_WORDS = ("could not set lock", "conflicting lock")
_PID = re.compile(r"PID (\d+)")
#: Tables Ibis registers for in-memory data (temporary; not the workspace's).
_IBIS_TEMP = re.compile(r"^ibis_\w*memtable_")


def lock_timeout() -> float:
    """Seconds to wait for a busy workspace: ``$SOURCEGRID_LOCK_TIMEOUT``, default 30."""
    text = os.environ.get(LOCK_TIMEOUT_VAR, "").strip()
    if not text:
        return DEFAULT_LOCK_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise WorkspaceError(f"{LOCK_TIMEOUT_VAR}={text!r} is not a number of seconds >= 0")
    return value


def _is_lock_error(error: BaseException) -> bool:
    text = str(error).lower()
    return any(word in text for word in _LOCK_WORDS)


def _corrupt(db: Path, error: BaseException) -> WorkspaceCorruptError:
    text = str(error).split("\n")[0]
    folder = db.parent
    if "version" in text.lower() and "database" in text.lower():
        advice = ("it was written by another DuckDB version; open it with that version, or "
                  "export it there and import it here")
    elif "permission" in text.lower():
        advice = "give this user read and write permission on the file and its folder"
    elif "directory" in text.lower():
        advice = f"{db.name} must be a file; move the folder aside"
    else:
        advice = (f"restore {db.name} from a backup, or move it aside and run 'sourcegrid init "
                  f"--workspace {folder}' to start a new workspace")
    return WorkspaceCorruptError(f"the workspace file {db} cannot be read: {text}. What to "
                                 f"do: {advice}")


def _default_command() -> str:
    args = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else ["python"]
    text = " ".join(args)
    return text if len(text) <= 200 else text[:197] + "..."


def default_workspace_path() -> Path:
    """``$SOURCEGRID_WORKSPACE``, else ``./sourcegrid-workspace``."""
    return Path(os.environ.get(ENV_VAR) or "sourcegrid-workspace")


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Give empty or all-missing text columns a string type (no NULL-typed columns)."""
    blank = [c for c in frame.columns if frame[c].dtype == object and frame[c].isna().all()]
    return frame.astype({c: "string" for c in blank}) if blank else frame


def _pg_copy(con: Any, name: str, frame: pd.DataFrame, *, append: bool) -> ibis.Table | None:
    """Store a DataFrame on PostgreSQL by one ``COPY ... FROM STDIN`` (CSV).

    Ibis inserts a DataFrame row by row (``executemany``); COPY streams it. The CSV
    is written by Arrow: a NULL is an empty field and a text value is always quoted,
    so an empty string stays an empty string (PostgreSQL's CSV rules). Columns that
    Arrow cannot write as CSV (lists, structs) return None: the caller falls back to
    Ibis' insert. Runs inside the caller's transaction.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    frame = _typed(frame)
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError):
        return None
    if any(pa.types.is_nested(f.type) or pa.types.is_null(f.type) for f in table.schema):
        return None
    quoted = ", ".join('"' + str(c).replace('"', '""') + '"' for c in table.column_names)
    target = '"' + name.replace('"', '""') + '"'
    if not append:
        con.create_table(name, schema=ibis.Schema.from_pyarrow(table.schema), overwrite=True)
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False,
                                                    quoting_style="needed"))
    with con.con.cursor() as cursor:
        with cursor.copy(f"COPY {target} ({quoted}) FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(sink.getvalue().to_pybytes())
    return con.table(name)


class Workspace:
    """A folder with a DuckDB file (or any Ibis backend) holding sourcegrid's tables.

    Parameters
    ----------
    path : str or Path, optional
        The workspace folder (default :func:`default_workspace_path`).
    create : bool
        Create the folder and database when missing; otherwise a missing
        workspace is an error that says how to create one.
    read_only : bool
        Open the DuckDB file read-only: several readers may hold it at once (not
        while a writer does).
    lock_timeout : float, optional
        Seconds to wait while another process holds the file (default
        :func:`lock_timeout`, ``$SOURCEGRID_LOCK_TIMEOUT`` or 30); 0 fails at once.
    on_wait : callable(str), optional
        Called once, with a message naming the holder, when the open has to wait.
    command : str, optional
        What this process is, written to the lock-info file while it holds the
        workspace for writing (default: its command line). A web app holding one
        long-lived connection passes e.g. ``'sourcegrid web (pid 123)'``.
    engine : {'duckdb', 'postgres', 'spark'}, optional
        The engine (default: ``$SOURCEGRID_ENGINE``, else the folder's
        ``sourcegrid-workspace.toml``, else DuckDB). With ``create``, a non-default
        engine is written to the folder's configuration file.
    dsn : str, optional
        PostgreSQL connection string (default ``$SOURCEGRID_DSN``, else the file's);
        its password is used to connect and never stored.
    master : str, optional
        Spark master URL (default ``$SOURCEGRID_SPARK_MASTER``, else ``local[2]``).
    memory_limit : str, optional
        The most memory DuckDB may take, e.g. ``4GB`` (default
        ``$SOURCEGRID_MEMORY_LIMIT``, else the file's, else 80 % of the machine's); with
        ``create``, written to the folder's configuration file.

    Raises
    ------
    WorkspaceError
        No workspace at ``path`` and ``create`` is false.
    WorkspaceBusyError
        Another process held the file for longer than ``lock_timeout``.
    WorkspaceCorruptError
        The file is not a readable DuckDB database.
    """

    def __init__(self, path: str | Path | None = None, *, create: bool = False,
                 backend: Any = None, read_only: bool = False,
                 lock_timeout: float | None = None,
                 on_wait: Callable[[str], None] | None = None,
                 command: str | None = None, engine: str | None = None,
                 dsn: str | None = None, master: str | None = None,
                 memory_limit: str | None = None) -> None:
        self.path = Path(path) if path is not None else default_workspace_path()
        self.read_only = read_only
        self._depth = 0
        self._transaction: Any = None
        self._lock_info: Path | None = None
        self.config: _engines.EngineConfig | None = None
        #: Decides at ``__exit__`` whether an open transaction commits (given the exception
        #: or None); the CLI sets it so that a deliberate exit still commits.
        self.commit_on_exit: Callable[[BaseException | None], bool] = lambda exc: exc is None
        if backend is not None:
            self.con = backend
            return
        if self.path.exists() and not self.path.is_dir():
            raise WorkspaceError(f"the workspace {self.path} is a file; a workspace is a folder "
                                 f"holding {DB_FILE} or {_engines.CONFIG_FILE}")
        config, stored = _engines.resolve(self.path, engine=engine, dsn=dsn, master=master,
                                          memory=memory_limit)
        self.config = config
        if config.engine != "duckdb":
            self._open_engine(config, stored, create=create, read_only=read_only,
                              explicit=engine is not None)
            return
        # a new engine choice, or a memory limit given now, goes to the configuration file
        chosen = memory_limit is not None or (engine is not None and not stored)
        if chosen and create and not read_only:
            self.path.mkdir(parents=True, exist_ok=True)
            _engines.write_config(self.path, config)
        db = self.path / DB_FILE
        if db.is_dir():
            raise _corrupt(db, OSError("Is a directory"))
        if not db.exists() and (not create or read_only):
            raise WorkspaceError(
                f"no workspace at {self.path} (no {DB_FILE}); create one with "
                f"'sourcegrid init --workspace {self.path}'"
            )
        if self.path.exists() and not self.path.is_dir():
            raise WorkspaceError(f"the workspace {self.path} is a file; a workspace is a folder "
                                 f"holding {DB_FILE}")
        self.path.mkdir(parents=True, exist_ok=True)
        self.con = self._connect(db, read_only, _timeout(lock_timeout), on_wait,
                                 config.memory_limit)
        if not read_only:
            self._lock_info = db.with_name(db.name + LOCK_INFO_SUFFIX)
            self._write_lock_info(command or _default_command())
            self._drop_helpers()

    def _open_engine(self, config: _engines.EngineConfig, stored: bool, *, create: bool,
                     read_only: bool, explicit: bool) -> None:
        """Open a PostgreSQL or Spark workspace (writing its configuration when created)."""
        if config.engine == "postgres" and not config.dsn and not os.environ.get("PGHOST"):
            raise WorkspaceError(
                f"the PostgreSQL workspace {self.path} has no DSN: give --dsn, "
                f"${_engines.DSN_VAR} or dsn in {_engines.CONFIG_FILE}")
        creating = create and not read_only
        if creating:
            self.path.mkdir(parents=True, exist_ok=True)
        elif config.engine == "spark" and not stored:
            raise WorkspaceError(
                f"no Spark workspace at {self.path} (no {_engines.CONFIG_FILE}); create one "
                f"with 'sourcegrid init --engine spark --workspace {self.path}'")
        self.con = _engines.connect(config, self.path, read_only=read_only, create=creating)
        if creating and (not stored or explicit):  # once the engine has answered
            _engines.write_config(self.path, config)
        if not read_only:
            self._drop_helpers()

    def _connect(self, db: Path, read_only: bool, timeout: float,
                 on_wait: Callable[[str], None] | None, memory_limit: str | None = None):
        import duckdb

        # DuckDB's own configuration, not SQL text (the size was checked when it was read)
        settings = {"memory_limit": memory_limit} if memory_limit else {}

        deadline = time.monotonic() + timeout
        delay, told, started = 0.05, False, time.monotonic()
        while True:
            try:
                con = ibis.duckdb.connect(str(db), read_only=read_only, **settings)
                con.raw_sql("SELECT 1").fetchall()
                return con
            except duckdb.IOException as error:
                if not _is_lock_error(error):
                    raise _corrupt(db, error) from None
                holder = self._holder(db, error)
                if time.monotonic() >= deadline:
                    waited = time.monotonic() - started
                    raise WorkspaceBusyError(
                        f"the workspace {self.path} is busy: {holder} holds it"
                        + (f" (waited {waited:.0f} s)" if waited >= 0.5 else "")
                        + f". Try again when it has finished, or wait longer with "
                        f"{LOCK_TIMEOUT_VAR}=<seconds>.") from None
                if not told and on_wait is not None:
                    on_wait(f"the workspace {self.path} is busy: {holder} holds it; waiting up "
                            f"to {timeout:.0f} s ({LOCK_TIMEOUT_VAR})")
                    told = True
                time.sleep(max(0.0, min(delay, deadline - time.monotonic())))
                delay = min(delay * 2, 0.5)
            except duckdb.Error as error:  # serialization, invalid input: a damaged file
                raise _corrupt(db, error) from None

    def _holder(self, db: Path, error: BaseException) -> str:
        """Who holds the file: the lock-info file when its pid is DuckDB's, else the pid."""
        match = _PID.search(str(error))
        pid = int(match.group(1)) if match else None
        info = _read_lock_info(db.with_name(db.name + LOCK_INFO_SUFFIX))
        if info and (info.get("pid") == pid or (pid is None and _alive(info.get("pid")))):
            return (f"'{info.get('command', '?')}' (pid {info.get('pid')}, since "
                    f"{info.get('since', '?')})")
        return f"another process (pid {pid})" if pid else "another process"

    def _write_lock_info(self, command: str) -> None:
        info = {"pid": os.getpid(), "command": command,
                "since": datetime.now(UTC).isoformat(timespec="seconds")}
        temp = self._lock_info.with_name(f"{self._lock_info.name}.{os.getpid()}.tmp")
        with contextlib.suppress(OSError):
            temp.write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
            os.replace(temp, self._lock_info)

    def _remove_lock_info(self) -> None:
        if self._lock_info is None:
            return
        info = _read_lock_info(self._lock_info)
        if info and info.get("pid") == os.getpid():
            with contextlib.suppress(OSError):
                self._lock_info.unlink()
        self._lock_info = None

    def _drop_helpers(self) -> None:
        """Drop helper views/tables a killed run left (we hold the write lock here)."""
        if self.engine == "postgres":
            with self.con.con.cursor() as cursor:
                rows = cursor.execute(
                    "SELECT table_name, table_type FROM information_schema.tables "
                    "WHERE table_schema = current_schema() AND (starts_with(table_name, %s) "
                    "OR table_name = ANY(%s))", (_HELPER_VIEW_PREFIX, list(HELPER_TABLES))
                ).fetchall()
                for name, kind in rows:  # names from the catalog, quoted
                    statement = "DROP VIEW IF EXISTS" if kind == "VIEW" else "DROP TABLE IF EXISTS"
                    cursor.execute(f'{statement} "{name}"')
            return
        if self.engine != "duckdb":
            for name in HELPER_TABLES:
                if self.has(name):
                    self.con.drop_table(name, force=True)
            return
        rows = self.con.con.execute(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_catalog = current_database() AND table_schema = 'main' AND (starts_with(table_name, ?) OR "
            "list_contains(?, table_name))", [_HELPER_VIEW_PREFIX, list(HELPER_TABLES)]
        ).fetchall()
        for name, kind in rows:
            statement = "DROP VIEW IF EXISTS" if kind == "VIEW" else "DROP TABLE IF EXISTS"
            self.con.con.execute(f'{statement} "{name}"')  # names from the catalog, quoted

    @classmethod
    def from_backend(cls, backend: Any, path: str | Path = ".") -> Workspace:
        """Wrap an existing Ibis connection (PySpark, PostgreSQL, in-memory DuckDB)."""
        return cls(path, backend=backend)

    @classmethod
    def in_memory(cls) -> Workspace:
        """A throw-away DuckDB workspace, for tests and one-off runs."""
        return cls(".", backend=ibis.duckdb.connect())

    @property
    def engine(self) -> str:
        """Name of the backend ('duckdb', 'pyspark', 'postgres')."""
        return self.con.name

    # ------------------------------------------------------------------ transactions

    @property
    def in_transaction(self) -> bool:
        """A transaction opened by :meth:`begin` / :meth:`transaction` is open."""
        return self._depth > 0

    def begin(self) -> None:
        """Open a transaction (nested calls join the open one)."""
        if self._depth == 0:
            if self.engine == "duckdb":
                self.con.con.execute("BEGIN TRANSACTION")
            elif self.engine == "postgres":
                # psycopg's transaction block: Ibis' own blocks inside become savepoints
                transaction = self.con.con.transaction()
                transaction.__enter__()
                self._transaction = transaction
        self._depth += 1

    def commit(self) -> None:
        """Commit the outermost transaction (inner calls only leave their level)."""
        if self._depth == 0:
            return
        self._depth -= 1
        if self._depth == 0 and self.engine == "duckdb":
            fault_point("workspace:before_commit")
            self.con.con.execute("COMMIT")
        elif self._depth == 0 and self._transaction is not None:
            transaction, self._transaction = self._transaction, None
            fault_point("workspace:before_commit")
            transaction.__exit__(None, None, None)

    def rollback(self) -> None:
        """Undo everything since the outermost :meth:`begin` (at any nesting level)."""
        if self._depth == 0:
            return
        self._depth = 0
        if self.engine == "duckdb":
            with contextlib.suppress(Exception):  # a connection already lost rolled back
                self.con.con.execute("ROLLBACK")
        elif self._transaction is not None:
            import psycopg

            transaction, self._transaction = self._transaction, None
            with contextlib.suppress(Exception):  # a connection already lost rolled back
                transaction.__exit__(psycopg.Rollback, psycopg.Rollback(transaction), None)

    def lock(self, *names: str) -> None:
        """Hold the right to write these tables until the open transaction ends.

        On PostgreSQL: one transaction-scoped advisory lock per (schema, table), taken
        in name order (two writers never wait on each other in a cycle). A writer that
        checks whether a table exists and then creates, replaces or appends to it
        takes the lock first, so that concurrent writers do not drop each other's
        rows. DuckDB (one writer per file) and Spark need nothing: a no-op there.
        Outside a transaction the lock would end at once; take it inside one.
        """
        if self.engine != "postgres" or not names:
            return
        if not self.in_transaction:
            raise WorkspaceError("Workspace.lock() needs an open transaction "
                                 "(with workspace.transaction(): ...)")
        with self.con.con.cursor() as cursor:
            for name in sorted(set(names)):
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema()), "
                               "hashtext(%s))", (name,))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Workspace]:
        """Run a block in one transaction: all of it is stored, or nothing.

        On DuckDB: BEGIN … COMMIT, ROLLBACK on any exception (a kill loses only
        uncommitted work). Nested blocks join the outer transaction. Other engines
        have no multi-statement transactions through Ibis: the block runs as is.
        """
        self.begin()
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        self.commit()

    def tables(self) -> list[str]:
        return sorted(name for name in self.con.list_tables() if not _IBIS_TEMP.match(name))

    def has(self, name: str) -> bool:
        return name in self.con.list_tables()

    def table(self, name: str) -> ibis.Table:
        """A stored table; an unknown name lists the tables there are."""
        if not self.has(name):
            raise NotFoundError("table", name, self.tables())
        return self.con.table(name)

    def write(self, name: str, data: pd.DataFrame | ibis.Table, *, mode: str = "replace") -> ibis.Table:
        """Store ``data`` as table ``name``.

        Parameters
        ----------
        mode : {'replace', 'append'}
            'append' adds rows to an existing table (created when missing).
        """
        if mode not in ("replace", "append"):
            raise ValueError(f"mode must be 'replace' or 'append', got {mode!r}")
        if self.engine == "postgres":
            with self.transaction():
                self.lock(name)
                return self._write(name, data, mode)
        return self._write(name, data, mode)

    def _write(self, name: str, data: pd.DataFrame | ibis.Table, mode: str) -> ibis.Table:
        if self.engine == "postgres" and isinstance(data, pd.DataFrame):
            copied = _pg_copy(self.con, name, data, append=mode == "append" and self.has(name))
            if copied is not None:
                return copied
        if mode == "append" and self.has(name):
            self.con.insert(name, _typed(data) if isinstance(data, pd.DataFrame) else data)
            return self.con.table(name)
        if isinstance(data, pd.DataFrame):
            data = ibis.memtable(_typed(data))
        return self.con.create_table(name, data, overwrite=True)

    def delete_rows(self, name: str, column: str, value: str) -> None:
        """Delete the rows of ``name`` whose ``column`` equals ``value`` (a bound parameter)."""
        if name not in self.con.list_tables():
            return
        if self.engine in ("duckdb", "postgres"):
            if column not in self.con.table(name).columns:
                raise WorkspaceError(f"table {name!r} has no column {column!r}")
            if self.engine == "duckdb":
                self.con.con.execute(f'DELETE FROM "{name}" WHERE "{column}" = ?', [value])
            else:
                with self.con.con.cursor() as cursor:
                    cursor.execute(f'DELETE FROM "{name}" WHERE "{column}" = %s', (value,))
            return
        table = self.con.table(name)
        kept = table.filter((table[column] != value) | table[column].isnull()).to_pyarrow()
        self.con.create_table(name, kept, overwrite=True)

    def drop(self, name: str) -> None:
        if self.has(name):
            self.con.drop_table(name)

    def read(self, name: str) -> pd.DataFrame:
        """A stored table as a pandas DataFrame."""
        return self.table(name).to_pandas()

    def close(self) -> None:
        """Close the connection; an open transaction is rolled back (commit it first).

        A Spark workspace leaves its session running (it ends with the process).
        """
        if self.engine == "postgres":
            self.rollback()
            if self.config is not None:  # opened here, not wrapped
                with contextlib.suppress(Exception):
                    self.con.con.close()
            return
        if self.engine != "duckdb":
            return
        self.rollback()
        disconnect = getattr(self.con, "disconnect", None)
        if disconnect is not None:
            with contextlib.suppress(Exception):
                disconnect()
        self._remove_lock_info()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            if self.in_transaction:
                if self.commit_on_exit(exc):
                    while self.in_transaction:
                        self.commit()
                else:
                    self.rollback()
        finally:
            self.close()


def _timeout(value: float | None) -> float:
    if value is None:
        return lock_timeout()
    if not value >= 0:
        raise WorkspaceError(f"lock_timeout must be a number of seconds >= 0, got {value!r}")
    return float(value)


def _read_lock_info(path: Path) -> dict | None:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None
