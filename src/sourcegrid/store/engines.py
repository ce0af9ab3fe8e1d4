"""Which engine holds a workspace, and how to connect to it.

A workspace is a folder. Its tables live in one of three engines:

==========  ===============================================================  ==================
engine      where the tables are                                             for
==========  ===============================================================  ==================
duckdb      ``workspace.duckdb`` in the folder (the default)                 one machine
postgres    a schema of a PostgreSQL database (``--dsn``)                    a bureau's server,
                                                                             many users at once
spark       Parquet tables in ``spark-warehouse/`` of the folder, a Hive     a province:
            metastore (Derby) in ``spark-metastore/``; a local Spark          10^9+ readings
            session (``local[2]``) or a cluster (``--master URL``)
==========  ===============================================================  ==================

``sourcegrid init --engine ENGINE [--dsn DSN] [--master URL]`` writes the choice to
``sourcegrid-workspace.toml`` in the folder; every later command reads it. The
environment overrides the file: ``$SOURCEGRID_ENGINE``, ``$SOURCEGRID_DSN``,
``$SOURCEGRID_SPARK_MASTER``.

A DuckDB workspace may cap the memory its engine takes (``memory_limit``, e.g. ``4GB``;
``sourcegrid init --memory-limit``, ``$SOURCEGRID_MEMORY_LIMIT``): beyond it DuckDB spills
to disk, and an accounting run too large for it is accounted in parts of whole
enterprises (:func:`sourcegrid.accounting.engine.account`). Without it DuckDB takes up
to 80 % of the machine's memory.

Passwords: never written to the configuration file, never printed. The DSN kept in
the file has its password removed; libpq finds the password the usual way
(``$PGPASSWORD``, ``~/.pgpass``, or a password inside ``$SOURCEGRID_DSN``, which is
read at each command and not stored). Every message that could carry a DSN goes
through :func:`redact`.

A DSN is a libpq connection string, either ``postgresql://user@host:5432/db`` or
``host=... port=... dbname=... user=...``. ``options=-csearch_path=NAME`` (or the
``schema`` key of the configuration file) puts the workspace in a schema of its own.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sourcegrid.errors import WorkspaceError

__all__ = ["CONFIG_FILE", "ENGINES", "ENGINE_VAR", "DSN_VAR", "MASTER_VAR", "MEMORY_VAR",
           "EngineConfig", "memory_limit", "size_bytes",
           "read_config", "write_config", "resolve", "redact", "public_dsn", "connect",
           "WAREHOUSE_DIR", "METASTORE_DIR", "DEFAULT_MASTER"]

CONFIG_FILE = "sourcegrid-workspace.toml"
ENGINES = ("duckdb", "postgres", "spark")
ENGINE_VAR = "SOURCEGRID_ENGINE"
DSN_VAR = "SOURCEGRID_DSN"
MASTER_VAR = "SOURCEGRID_SPARK_MASTER"
MEMORY_VAR = "SOURCEGRID_MEMORY_LIMIT"
DEFAULT_MASTER = "local[2]"
WAREHOUSE_DIR = "spark-warehouse"
METASTORE_DIR = "spark-metastore"
_ALIASES = {"postgresql": "postgres", "pg": "postgres", "pyspark": "spark"}
_KEYS = ("engine", "dsn", "schema", "master", "warehouse", "memory_limit")
#: The units of a size DuckDB's memory_limit takes and writes ('4GB', '1.8 GiB')
_BYTES = {"b": 1, "bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$", re.IGNORECASE)

# user:password@ in a URL; password=... (quoted or not) in a key=value string
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*):(?P<secret>[^@\s]*)@",
                           re.IGNORECASE)
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'|[^\s'\"]+)",
                          re.IGNORECASE)
_known_secrets: set[str] = set()


def redact(text: object) -> str:
    """``text`` with every password it may carry replaced by ``***``.

    Removes the password of URL DSNs (``postgresql://user:secret@host``), of
    ``password=secret`` pairs, and every password this process has connected with.
    """
    out = str(text)
    out = _URL_PASSWORD.sub(lambda m: f"{m['head']}:***@", out)
    out = _KV_PASSWORD.sub(lambda m: f"{m['head']}***", out)
    for secret in sorted(_known_secrets, key=len, reverse=True):
        out = out.replace(secret, "***")
    return out


def _parse_dsn(dsn: str) -> dict[str, str]:
    import psycopg.conninfo

    try:
        return psycopg.conninfo.conninfo_to_dict(dsn)
    except Exception as error:  # psycopg.ProgrammingError: not a connection string
        raise WorkspaceError(f"the PostgreSQL DSN {redact(dsn)!r} is not a libpq connection "
                             f"string ({redact(error)}); expected e.g. "
                             "'postgresql://user@host:5432/dbname' or "
                             "'host=... dbname=... user=...'") from None


def public_dsn(dsn: str) -> str:
    """The DSN without its password, as libpq key=value pairs (safe to store and print)."""
    import psycopg.conninfo

    parts = _parse_dsn(dsn)
    parts.pop("password", None)
    return psycopg.conninfo.make_conninfo("", **parts)


@dataclass(frozen=True)
class EngineConfig:
    """The engine of a workspace (the content of ``sourcegrid-workspace.toml``).

    Attributes
    ----------
    engine : {'duckdb', 'postgres', 'spark'}
    dsn : str, optional
        PostgreSQL connection string; never holds a password when read from the file.
    schema : str, optional
        PostgreSQL schema holding the workspace's tables (created when missing);
        default: the DSN's search_path, usually ``public``.
    master : str, optional
        Spark master URL (default ``local[2]``).
    warehouse : str, optional
        Spark warehouse folder, relative to the workspace folder (default
        ``spark-warehouse``).
    memory_limit : str, optional
        The most memory DuckDB may take, e.g. ``4GB`` (default: 80 % of the machine's).
    """

    engine: str = "duckdb"
    dsn: str | None = None
    schema: str | None = None
    master: str | None = None
    warehouse: str | None = None
    memory_limit: str | None = None

    def describe(self) -> str:
        """One line for people: the engine and where its tables are (no password)."""
        if self.engine == "postgres":
            where = public_dsn(self.dsn) if self.dsn else "libpq defaults ($PGHOST ...)"
            return f"postgres ({where}" + (f", schema {self.schema}" if self.schema else "") + ")"
        if self.engine == "spark":
            return f"spark (master {self.master or DEFAULT_MASTER})"
        return "duckdb" + (f" (memory limit {self.memory_limit})" if self.memory_limit else "")


def size_bytes(text: object) -> float | None:
    """Bytes of a size as DuckDB takes and writes it ('4GB', '1.8 GiB', '800 MB'); None
    when ``text`` is not one."""
    match = _SIZE.match(str(text))
    if match is None or match[2].lower() not in _BYTES:
        return None
    return float(match[1]) * _BYTES[match[2].lower()]


def memory_limit(value: str, where: str) -> str:
    """``value`` as a DuckDB memory limit ('4GB', '800 MB'), or a WorkspaceError naming
    ``where`` it came from and what is expected."""
    if size_bytes(value) is None:
        raise WorkspaceError(f"the memory limit {value!r} ({where}) is not a size; expected a "
                             "number and a unit, e.g. 4GB, 800MB or 1.5GiB")
    return str(value).strip().replace(" ", "")


def _engine_name(value: str, where: str) -> str:
    name = _ALIASES.get(value.strip().lower(), value.strip().lower())
    if name not in ENGINES:
        raise WorkspaceError(f"unknown engine {value!r} ({where}); expected one of "
                             f"{', '.join(ENGINES)}")
    return name


def read_config(folder: Path) -> EngineConfig | None:
    """The configuration file of a workspace folder; None when there is none."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise WorkspaceError(f"the workspace configuration {path} cannot be read: "
                             f"{redact(error)}. Fix it, or write it again with "
                             f"'sourcegrid init --engine ...'") from None
    section = data.get("workspace", data)
    problems = [f"unknown key {key!r}" for key in section if key not in _KEYS]
    problems += [f"{key} must be a text, got {value!r}" for key, value in section.items()
                 if key in _KEYS and not isinstance(value, str)]
    if problems:
        raise WorkspaceError(f"the workspace configuration {path} is not valid: "
                             f"{'; '.join(problems)} (keys: {', '.join(_KEYS)})")
    if "dsn" in section and "password" in _parse_dsn(section["dsn"]):
        raise WorkspaceError(f"the workspace configuration {path} holds a password in its dsn; "
                             "remove it and give the password with PGPASSWORD, ~/.pgpass or "
                             f"${DSN_VAR}")
    engine = _engine_name(section.get("engine", "duckdb"), str(path))
    if section.get("memory_limit") is not None:
        memory_limit(section["memory_limit"], str(path))
    return EngineConfig(engine=engine, **{k: section.get(k) for k in _KEYS if k != "engine"})


def write_config(folder: Path, config: EngineConfig) -> Path:
    """Write ``sourcegrid-workspace.toml`` (atomically; the DSN without its password)."""
    from sourcegrid.io.tables import atomic_path

    lines = ["# sourcegrid workspace: the engine that holds its tables (see 'sourcegrid init "
             "--help').", "# Passwords are never stored here: use PGPASSWORD, ~/.pgpass or "
             f"${DSN_VAR}.", "[workspace]"]
    values = {"engine": config.engine, "dsn": public_dsn(config.dsn) if config.dsn else None,
              "schema": config.schema, "master": config.master, "warehouse": config.warehouse,
              "memory_limit": config.memory_limit}
    for key, value in values.items():
        if value is not None:
            lines.append(f"{key} = {_toml_string(value)}")
    path = Path(folder) / CONFIG_FILE
    with atomic_path(path) as temp:
        Path(temp).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'


def resolve(folder: Path, *, engine: str | None = None, dsn: str | None = None,
            master: str | None = None, memory: str | None = None
            ) -> tuple[EngineConfig, bool]:
    """The engine of a workspace: arguments, then the environment, then the file, then DuckDB.

    Returns the configuration and whether the folder's configuration file was found.
    """
    stored = read_config(folder)
    config = stored or EngineConfig()
    env_engine = os.environ.get(ENGINE_VAR, "").strip()
    env_dsn = os.environ.get(DSN_VAR, "").strip()
    env_master = os.environ.get(MASTER_VAR, "").strip()
    if engine:
        config = replace(config, engine=_engine_name(engine, "--engine"))
    elif env_engine:
        config = replace(config, engine=_engine_name(env_engine, f"${ENGINE_VAR}"))
    if dsn or env_dsn:
        config = replace(config, dsn=dsn or env_dsn)
    if master or env_master:
        config = replace(config, master=master or env_master)
    env_memory = os.environ.get(MEMORY_VAR, "").strip()
    if memory:
        config = replace(config, memory_limit=memory_limit(memory, "--memory-limit"))
    elif env_memory:
        config = replace(config, memory_limit=memory_limit(env_memory, f"${MEMORY_VAR}"))
    if config.dsn:
        _parse_dsn(config.dsn)  # a malformed DSN fails here, redacted
    return config, stored is not None


# --------------------------------------------------------------------------- connecting


def connect(config: EngineConfig, folder: Path, *, read_only: bool = False,
            create: bool = True) -> Any:
    """An Ibis backend for ``config`` (PostgreSQL or Spark; DuckDB is the Workspace's own).

    ``create``: a PostgreSQL schema that does not exist yet is created (else an error
    that says how to create the workspace).
    """
    if config.engine == "postgres":
        return _connect_postgres(config, read_only, create)
    if config.engine == "spark":
        return _connect_spark(config, Path(folder))
    raise WorkspaceError(f"connect() opens postgres or spark, not {config.engine!r}")


_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _connect_postgres(config: EngineConfig, read_only: bool, create: bool) -> Any:
    import ibis
    import psycopg

    dsn = config.dsn or ""
    parts = _parse_dsn(dsn) if dsn else {}
    if parts.get("password"):
        _known_secrets.add(parts["password"])
    if os.environ.get("PGPASSWORD"):
        _known_secrets.add(os.environ["PGPASSWORD"])
    if config.schema is not None and not _SCHEMA_NAME.match(config.schema):
        raise WorkspaceError(f"schema {config.schema!r} is not a plain PostgreSQL name "
                             "(letters, digits, _; at most 63)")
    try:
        raw = psycopg.connect(dsn, autocommit=True, connect_timeout=int(
            os.environ.get("PGCONNECT_TIMEOUT", "10") or 10))
    except psycopg.Error as error:
        raise WorkspaceError(
            f"cannot connect to the PostgreSQL workspace at {redact(public_dsn(dsn) or dsn)}: "
            f"{redact(str(error).strip())}. Check the DSN (--dsn, ${DSN_VAR} or "
            f"{CONFIG_FILE}), that the server runs, and the password (PGPASSWORD or "
            "~/.pgpass)") from None
    with raw.cursor() as cur:
        if config.schema:
            cur.execute("SELECT set_config('search_path', %s, false)", (f'"{config.schema}"',))
        schema = cur.execute("SELECT current_schema()").fetchone()[0]
        if schema is None:  # the search_path names no schema there is
            path = cur.execute("SELECT current_setting('search_path')").fetchone()[0]
            first = (config.schema or path.split(",")[0].strip().strip('"')
                     .replace("$user", parts.get("user") or os.environ.get("PGUSER", "")))
            if not create or not _SCHEMA_NAME.match(first):
                raw.close()
                raise WorkspaceError(
                    f"the PostgreSQL database has no schema {first!r} (search_path {path!r}); "
                    "create the workspace with 'sourcegrid init --engine postgres --dsn ...'")
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{first}"')  # a plain name, checked
            cur.execute("SELECT set_config('search_path', %s, false)", (f'"{first}"',))
    if read_only:
        raw.read_only = True
    return ibis.postgres.from_connection(raw)


def _connect_spark(config: EngineConfig, folder: Path) -> Any:
    try:
        import ibis
        from pyspark.sql import SparkSession
    except ImportError:
        raise WorkspaceError("the spark engine needs PySpark: pip install 'sourcegrid[spark]' "
                             "(and a Java 17 runtime)") from None
    import sys

    folder = folder.resolve()
    warehouse = folder / (config.warehouse or WAREHOUSE_DIR)
    metastore = folder / METASTORE_DIR
    warehouse.mkdir(parents=True, exist_ok=True)
    metastore.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    active = SparkSession.getActiveSession()
    if active is not None and Path(active.conf.get("spark.sql.warehouse.dir", "")
                                   .removeprefix("file:")).resolve() != warehouse:
        raise WorkspaceError(
            "a Spark session of another workspace is running in this process (warehouse "
            f"{active.conf.get('spark.sql.warehouse.dir', '?')}); open {folder} in a new process")
    url = f"jdbc:derby:;databaseName={metastore / 'metastore_db'};create=true"
    builder = (
        SparkSession.builder.master(config.master or DEFAULT_MASTER)
        .appName("sourcegrid")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(warehouse))
        .config("spark.sql.catalogImplementation", "hive")
        .config("spark.hadoop.javax.jdo.option.ConnectionURL", url)
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={metastore}")
        .config("spark.sql.shuffle.partitions", os.environ.get("SOURCEGRID_SPARK_PARTITIONS",
                                                               "8"))
        # local mode runs in the driver: Spark's 1g default is short of what QC needs
        .config("spark.driver.memory", os.environ.get("SOURCEGRID_SPARK_DRIVER_MEMORY", "2g"))
        # The accounting plan holds many small hash aggregations in one stage; with the
        # default 64 MB page each, a 2 GB driver runs out ("Could not allocate memory to
        # grow BytesToBytesMap"). Pages grow as needed, so small ones cost little.
        .config("spark.buffer.pageSize", os.environ.get("SOURCEGRID_SPARK_PAGE_SIZE", "2m"))
    )
    try:
        session = builder.enableHiveSupport().getOrCreate()
    except Exception as error:  # Java missing, master unreachable
        raise WorkspaceError(f"cannot start Spark (master {config.master or DEFAULT_MASTER}): "
                             f"{redact(str(error).splitlines()[0] if str(error) else error)}. "
                             "Spark needs a Java 17 runtime ('make java')") from None
    session.sparkContext.setLogLevel("ERROR")
    return ibis.pyspark.connect(session)
