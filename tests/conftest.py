"""Shared fixtures: engines for the conformance suite, a wide CLI console.

PostgreSQL: the tests marked ``pg`` use the server named by ``$SOURCEGRID_TEST_PG_DSN``
(``make test`` starts a throw-away one with scripts/pg-test-server and sets it). Without
it they are skipped, unless ``$SOURCEGRID_REQUIRE_PG=1`` (set by ``make test``): then
they fail. Each test gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid

import pytest

# Rich reads the terminal width when the CLI's consoles are made: 200 columns, so that a
# long temporary path (pytest-xdist adds a folder per worker) does not wrap the texts the
# tests look for. Commands run by the tests as processes inherit it.
os.environ["COLUMNS"] = "200"

PG_DSN_VAR = "SOURCEGRID_TEST_PG_DSN"
PG_REQUIRE_VAR = "SOURCEGRID_REQUIRE_PG"


@pytest.fixture(scope="session")
def spark_backend(tmp_path_factory):
    """An Ibis backend on a local PySpark session (Java 17 needed; `make test` installs it).

    Its warehouse is a temporary folder, so that parallel test processes (pytest-xdist)
    each write their own tables.
    """
    pytest.importorskip("pyspark")
    import ibis
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("sourcegrid-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark-warehouse")))
        .config("spark.driver.memory", "2g")
        # Small pages: the test plans are wide (many small aggregations in one stage) and
        # the default 64 MB page per hash map runs out of the 2 GB driver.
        .config("spark.buffer.pageSize", "2m")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield ibis.pyspark.connect(session)
    session.stop()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The DSN of the PostgreSQL test server (skip, or fail under ``make test``, without)."""
    dsn = os.environ.get(PG_DSN_VAR, "").strip()
    required = os.environ.get(PG_REQUIRE_VAR, "").strip() == "1"
    if not dsn:
        reason = (f"no PostgreSQL test server: ${PG_DSN_VAR} is not set (make test starts one; "
                  "or run scripts/pg-test-server start DIR and export the DSN it prints)")
        if required:
            pytest.fail(f"{PG_REQUIRE_VAR}=1 but {reason}")
        pytest.skip(reason)
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=10) as con:
            con.execute("SELECT 1")
    except psycopg.Error as error:
        if required:
            pytest.fail(f"the PostgreSQL test server {dsn} does not answer: {error}")
        pytest.skip(f"the PostgreSQL test server {dsn} does not answer: {error}")
    return dsn


@pytest.fixture
def postgres_schema(postgres_server):
    """A fresh, empty schema on the test server, dropped after the test: (dsn, schema)."""
    import psycopg

    schema = f"sg_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(f'CREATE SCHEMA "{schema}"')
    yield postgres_server, schema
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def postgres_dsn(postgres_schema) -> str:
    """A DSN whose search_path is a fresh schema (for CLI and multi-process tests)."""
    import psycopg.conninfo

    dsn, schema = postgres_schema
    return psycopg.conninfo.make_conninfo(dsn, options=f"-csearch_path={schema}")


@pytest.fixture
def postgres_backend(postgres_schema):
    """An Ibis PostgreSQL backend on a fresh schema of the test server."""
    from pathlib import Path

    from sourcegrid.store import engines

    dsn, schema = postgres_schema
    con = engines.connect(engines.EngineConfig(engine="postgres", dsn=dsn, schema=schema),
                          Path("."))
    yield con
    import gc

    gc.collect()  # tables Ibis cached in the test are dropped while the connection is open
    con.con.close()


@pytest.fixture
def duckdb_backend():
    import ibis

    return ibis.duckdb.connect()


@pytest.fixture
def wide_console(monkeypatch):
    """Wide tables so that asserted texts are not cut by the 80-column default (use with
    ``pytestmark = pytest.mark.usefixtures("wide_console")``)."""
    from sourcegrid.cli import common

    monkeypatch.setattr(common.console, "width", 300)
    monkeypatch.setattr(common.err_console, "width", 300)


#: The longest test files (minutes each on a 2-core machine), started before all others.
LONGEST_FILES = ("test_readme.py",)


def pytest_collection_modifyitems(session, config, items):
    """The longest files first, then the files that hold a ``slow`` test, then the rest
    (each file's tests stay together and in order), so that the parallel workers of
    ``make test`` do not end on one long file while the other waits."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: (item.path.name not in LONGEST_FILES,
                                 item.path not in slow_files))
