"""The workspace: one Ibis connection and the names of the tables in it.

The default is a DuckDB file ``workspace.duckdb`` in the workspace folder. The
same code runs on any Ibis backend: :meth:`Workspace.from_backend` wraps a
PySpark (or PostgreSQL) connection. Science modules never open connections;
they take and return Ibis tables, and the workspace stores them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from sourcegrid.errors import NotFoundError, WorkspaceError

__all__ = ["Workspace", "default_workspace_path", "DB_FILE", "ENV_VAR"]

DB_FILE = "workspace.duckdb"
ENV_VAR = "SOURCEGRID_WORKSPACE"


def default_workspace_path() -> Path:
    """``$SOURCEGRID_WORKSPACE``, else ``./sourcegrid-workspace``."""
    return Path(os.environ.get(ENV_VAR) or "sourcegrid-workspace")


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Give empty or all-missing text columns a string type (no NULL-typed columns)."""
    blank = [c for c in frame.columns if frame[c].dtype == object and frame[c].isna().all()]
    return frame.astype({c: "string" for c in blank}) if blank else frame


class Workspace:
    """A folder with a DuckDB file (or any Ibis backend) holding sourcegrid's tables.

    Parameters
    ----------
    path : str or Path, optional
        The workspace folder (default :func:`default_workspace_path`).
    create : bool
        Create the folder and database when missing; otherwise a missing
        workspace is an error that says how to create one.
    """

    def __init__(self, path: str | Path | None = None, *, create: bool = False,
                 backend: Any = None) -> None:
        self.path = Path(path) if path is not None else default_workspace_path()
        if backend is not None:
            self.con = backend
            return
        db = self.path / DB_FILE
        if not db.exists() and not create:
            raise WorkspaceError(
                f"no workspace at {self.path} (no {DB_FILE}); create one with "
                f"'sourcegrid init --workspace {self.path}'"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        self.con = ibis.duckdb.connect(str(db))

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

    def tables(self) -> list[str]:
        return sorted(self.con.list_tables())

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
        if self.engine == "duckdb":
            if column not in self.con.table(name).columns:
                raise WorkspaceError(f"table {name!r} has no column {column!r}")
            self.con.con.execute(f'DELETE FROM "{name}" WHERE "{column}" = ?', [value])
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
        disconnect = getattr(self.con, "disconnect", None)
        if disconnect is not None and self.engine == "duckdb":
            disconnect()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
