"""Conformance: ``ingest_file`` of the same file stores the same rows and reports the
same rejects on DuckDB and on PySpark (the engine reader runs on each backend)."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest

from sourcegrid.observations.ingest import ingest_file
from sourcegrid.store import Workspace

# A wide micro-station file with every kind of problem the reader checks. Expected
# values below are worked out by hand from the rules of DESIGN.md ("Observations":
# naive = Beijing time, UTC+8; CO in mg/m³) and readers.PHYSICAL_RANGES.
WIDE = """时间,站点,站点名称,经度,纬度,PM2.5,PM10
2024-01-10 08:00,M1,东四,116.417,39.929,35,60
2024-01-10 08:01,M1,东四,116.417,39.929,abc,61
2024/1/10 8:02,M1,东四,116.417,39.929,-5,
2024-01-10T00:03:00Z,M1,东四,116.417,39.929,3500,70
2024-01-10 08:04,,东四,116.417,39.929,36,62
2024-01-10 08:05,M2,西直门,200,39.9,36,62
2024-01-10 08:06,M2,西直门,,39.9,36,62
2024-01-10 08:00,M1,东四,116.417,39.929,35,60
"""

#: (row, column, reason) of every reject, by hand: row 3 'abc'; row 4 -5 µg/m³; row 5
#: 3500 > 3000 (PM2.5 bound); row 6 no site (both cells); row 7 lon 200; row 8 no lon.
EXPECTED_REJECTS = {
    (3, "PM2.5", "not_a_number"), (4, "PM2.5", "negative_value"),
    (5, "PM2.5", "out_of_range"), (6, "site_id", "missing_site"),
    (7, "lon", "bad_coordinate"), (8, "lon", "missing_position"),
}


def _stored(workspace: Workspace) -> pd.DataFrame:
    frame = workspace.read("observations")
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return (frame[["time", "site_id", "site_kind", "lon", "lat", "pollutant", "value", "unit",
                   "source"]].sort_values(["site_id", "time", "pollutant"])
            .reset_index(drop=True))


def _ingest(workspace: Workspace, path):
    result = ingest_file(workspace, path, "micro")
    rejects = {(r, c, reason) for r, c, reason in
               result.rejects[["row", "column", "reason"]].itertuples(index=False)}
    return result, rejects, _stored(workspace)


def _check_duckdb(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(WIDE, encoding="utf-8")
    workspace = Workspace(tmp_path / "ws", create=True)
    result, rejects, stored = _ingest(workspace, path)
    assert rejects == EXPECTED_REJECTS
    # good cells: row 2 both, row 3 PM10, row 4 none (PM10 empty = missing), row 5 PM10
    # (00:03Z), rows 6-8 none, row 9 both, an exact repeat of row 2 (kept once)
    assert (result.read, result.added, result.repeated) == (6, 4, 2)
    assert stored["time"].min() == pd.Timestamp("2024-01-10T00:00Z")  # 08:00 Beijing
    assert sorted(stored["value"]) == [35.0, 60.0, 61.0, 70.0]
    sites = workspace.read("sites")
    assert sites[["site_id", "site_name"]].values.tolist() == [["M1", "东四"]]
    return result, rejects, stored, path


def _check_same_as_duckdb(workspace, path, expected_result, expected_rejects,
                          expected_rows) -> None:
    """Ingesting ``path`` into ``workspace`` gives DuckDB's counts, rejects and rows."""
    result, rejects, stored = _ingest(workspace, path)
    assert rejects == expected_rejects
    assert (result.read, result.added, result.repeated) == (
        expected_result.read, expected_result.added, expected_result.repeated)
    pd.testing.assert_frame_equal(stored, expected_rows, check_dtype=False)


def test_engine_ingest_on_duckdb(tmp_path):
    _check_duckdb(tmp_path)


@pytest.mark.spark
def test_same_rows_and_rejects_on_pyspark(spark_backend, tmp_path):
    expected_result, expected_rejects, expected_rows, path = _check_duckdb(tmp_path)
    session = spark_backend._session
    database = f"sg_ingest_{uuid.uuid4().hex[:8]}"
    previous = session.catalog.currentDatabase()
    session.sql(f"CREATE DATABASE {database} LOCATION '{tmp_path / 'warehouse'}'")
    session.catalog.setCurrentDatabase(database)
    try:
        workspace = Workspace.from_backend(spark_backend, tmp_path)
        _check_same_as_duckdb(workspace, path, expected_result, expected_rejects, expected_rows)
        again = ingest_file(workspace, path, "micro", force=True)
        assert (again.added, again.already_stored) == (0, 4)
    finally:
        session.catalog.setCurrentDatabase(previous)
        session.sql(f"DROP DATABASE IF EXISTS {database} CASCADE")


@pytest.mark.spark
@pytest.mark.slow
def test_spark_row_numbers_are_file_rows_across_partitions(spark_backend, tmp_path):
    # 3000 readings in row groups of 100, read by Spark in several partitions: the row
    # number of a reject is still the file's row (header = row 1, so index i is row i + 2)
    from sourcegrid.observations.readers import read_observations_engine

    values = [20.0] * 3000
    for index in (5, 1500, 2999):
        values[index] = -1.0                      # negative_value
    frame = pd.DataFrame({"time": pd.date_range("2024-01-10 08:00", periods=3000, freq="min"),
                          "site_id": "M1", "lon": 116.4, "lat": 39.9, "PM2.5": values})
    path = tmp_path / "many.parquet"
    frame["time"] = frame["time"].astype("datetime64[us]")   # Spark reads µs, not ns
    frame.to_parquet(path, row_group_size=100)
    session = spark_backend._session
    previous = session.conf.get("spark.sql.files.maxPartitionBytes")
    session.conf.set("spark.sql.files.maxPartitionBytes", "2048")
    try:
        assert session.read.parquet(str(path)).rdd.getNumPartitions() > 1
        batch = read_observations_engine(spark_backend, path, site_kind="micro",
                                         require_position=True)
        try:
            assert batch.rejects[["row", "reason"]].values.tolist() == [
                [7, "negative_value"], [1502, "negative_value"], [3001, "negative_value"]]
            assert batch.read == 2997
            rows = batch.readings.select("_row").to_pandas()["_row"]
            assert sorted(rows) == [i + 2 for i in range(3000) if i not in (5, 1500, 2999)]
        finally:
            batch.release()
    finally:
        session.conf.set("spark.sql.files.maxPartitionBytes", previous)


@pytest.mark.pg
def test_same_rows_and_rejects_on_postgres(postgres_backend, tmp_path):
    # PostgreSQL reads no files itself: the pandas reader checks the file, with the same
    # rejects and readings as the engine reader on DuckDB
    expected_result, expected_rejects, expected_rows, path = _check_duckdb(tmp_path)
    workspace = Workspace.from_backend(postgres_backend, tmp_path)
    _check_same_as_duckdb(workspace, path, expected_result, expected_rejects, expected_rows)
