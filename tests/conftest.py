"""Shared fixtures: engines for the conformance suite, a wide CLI console."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def spark_backend():
    """An Ibis backend on a local PySpark session (Java 17 needed; `make test` installs it)."""
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
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield ibis.pyspark.connect(session)
    session.stop()


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
