"""QC conformance: the same hand-worked cases on DuckDB, PySpark and PostgreSQL.

Every check is one Ibis expression (:func:`sourcegrid.observations.qc.qc_expressions`); each
engine must give the same flag rows, reason codes and details, and the counts worked out by
hand below (the cases of tests/observations/test_qc.py, put together).
"""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest

from sourcegrid.observations.qc import FLAG_COLUMNS, GAP_COLUMNS, qc_expressions, qc_workspace
from sourcegrid.store import Workspace
from tests.observations.test_qc import T0, series

DRIFT = {"drift_window_hours": 12, "drift_min_pairs": 6}


def every_flag_scene() -> pd.DataFrame:
    """Spike, flat line, range, PM2.5 > PM10 and a gap at one reference station."""
    return pd.concat([
        series([30, 32, 31, 33, 300, 32, 31, 30, 29, 31, 31, 31, 31, 31, 31, 31]),
        series([20, 50], pollutant="PM10"),
        series([1500], start=T0 + pd.Timedelta(hours=40)),
        # duplicates: two values at T0 for S2 (both flagged, left out of the series checks)
        series([10, 11], site="S2", lon=116.60), series([12], site="S2", lon=116.60),
    ], ignore_index=True)


def drift_scene() -> pd.DataFrame:
    """A micro-station 500 m from a reference reads like it for 24 h, then 40 % high."""
    reference = series(np.full(48, 50.0), site="REF")
    micro = series(np.r_[np.full(24, 50.0), np.full(24, 70.0)], site="M1", kind="micro",
                   lon=116.4059)
    return pd.concat([reference, micro], ignore_index=True)


CASES = {"every_flag": (every_flag_scene, "default"), "drift": (drift_scene, DRIFT)}


def _normal(frame: pd.DataFrame, columns: list[str], order: list[str]) -> pd.DataFrame:
    frame = frame[columns].copy()
    for column in frame.columns:
        if "time" in column or column.startswith("gap_"):
            frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[us, UTC]")
        elif column in ("value",):
            frame[column] = frame[column].astype(float)
        elif column == "missing":
            frame[column] = frame[column].astype("int64")
        else:
            frame[column] = frame[column].astype(str)
    return frame.sort_values(order).reset_index(drop=True)


def run_on(backend, case: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    import ibis

    make, parameters = CASES[case]
    name = f"qc_{case}_{uuid.uuid4().hex[:6]}"
    data = ibis.memtable(make())
    if backend.name == "pyspark":  # a temporary view: nothing written to a warehouse folder
        table = backend.create_view(name, data, overwrite=True)
    else:
        table = backend.create_table(name, data)
    flags, gaps = qc_expressions(table, parameters)
    return (_normal(flags.to_pandas(), FLAG_COLUMNS, ["flag", "site_id", "pollutant", "time",
                                                      "value"]),
            _normal(gaps.to_pandas(), GAP_COLUMNS, ["site_id", "pollutant", "gap_start"]))


def check_every_flag(flags: pd.DataFrame, gaps: pd.DataFrame) -> None:
    counts = flags.groupby("flag").size().to_dict()
    # by hand (test_qc.py): 300 and 1500 spikes, seven 31s flat, 1500 out of range,
    # PM2.5 30 > PM10 20 at T0 (both flagged), S2's two values at T0
    assert counts == {"spike": 2, "flat_line": 7, "out_of_range": 1, "pm25_gt_pm10": 2,
                      "duplicate_timestamp": 2}
    spikes = flags.loc[flags["flag"] == "spike"]
    # windows: 30,32,31,33,300,32,31 -> median 32; last value: 31,31,31,1500 -> median 31
    assert spikes["value"].tolist() == [300.0, 1500.0]
    assert spikes["detail"].tolist() == ["median 32.0", "median 31.0"]
    assert set(flags.loc[flags["flag"] == "flat_line", "detail"]) == {"7 identical readings"}
    assert flags.loc[flags["flag"] == "out_of_range", "detail"].tolist() == ["range 0.0-1000.0"]
    duplicates = flags.loc[flags["flag"] == "duplicate_timestamp"]
    assert sorted(duplicates["value"]) == [10.0, 12.0]
    assert set(duplicates["detail"]) == {"2 values at one time"}
    # S1 PM2.5 has hours 0-15 and 40: one gap of 24 missing hours, from 16 h to 40 h
    assert len(gaps) == 1 and gaps.loc[0, "missing"] == 24
    assert gaps.loc[0, "gap_start"] == T0 + pd.Timedelta(hours=16)
    assert gaps.loc[0, "gap_end"] == T0 + pd.Timedelta(hours=40)


def check_drift(flags: pd.DataFrame, gaps: pd.DataFrame) -> None:
    drift = flags.loc[flags["flag"] == "drift"].sort_values("time")
    # trailing 12 h: 10 high hours (hour 33) give 10 * 20 / 12 / 50 = 33.3 %, 11 give 36.7 %,
    # 12 give 40 %; 9 give exactly 30 %, not above the threshold
    assert drift["time"].min() == T0 + pd.Timedelta(hours=33) and len(drift) == 15
    assert drift["detail"].tolist()[:3] == ["mean difference 33.3% of reference",
                                           "mean difference 36.7% of reference",
                                           "mean difference 40.0% of reference"]
    assert set(drift["severity"]) == {"warn"}
    flat = flags.loc[flags["flag"] == "flat_line"]
    # REF: 48 identical; M1: two runs of 24
    assert flat.groupby("site_id").size().to_dict() == {"M1": 48, "REF": 48}
    assert set(flat.loc[flat["site_id"] == "M1", "detail"]) == {"24 identical readings"}
    # M1 is a micro-station (1 min expected) reporting hourly: 47 gaps of 59 minutes
    assert len(gaps) == 47 and set(gaps["missing"]) == {59} and set(gaps["site_id"]) == {"M1"}


CHECKS = {"every_flag": check_every_flag, "drift": check_drift}


def check_equals_duckdb(backend, duckdb_backend, case: str) -> None:
    """``case`` on ``backend`` passes the hand-worked checks and equals DuckDB's flags and gaps."""
    flags, gaps = run_on(backend, case)
    CHECKS[case](flags, gaps)
    expected_flags, expected_gaps = run_on(duckdb_backend, case)
    pd.testing.assert_frame_equal(flags, expected_flags)
    pd.testing.assert_frame_equal(gaps, expected_gaps)


@pytest.mark.parametrize("case", list(CASES))
def test_duckdb_hand_worked(duckdb_backend, case):
    CHECKS[case](*run_on(duckdb_backend, case))


@pytest.mark.spark
@pytest.mark.parametrize("case", list(CASES))
def test_pyspark_equals_duckdb(spark_backend, duckdb_backend, case):
    check_equals_duckdb(spark_backend, duckdb_backend, case)


@pytest.mark.pg
@pytest.mark.parametrize("case", list(CASES))
def test_postgres_equals_duckdb(postgres_backend, duckdb_backend, case):
    check_equals_duckdb(postgres_backend, duckdb_backend, case)


@pytest.mark.pg
def test_qc_workspace_on_postgres_written_by_the_engine(postgres_backend):
    from sourcegrid.observations.ingest import OBSERVATIONS_TABLE

    workspace = Workspace.from_backend(postgres_backend)
    workspace.write(OBSERVATIONS_TABLE, every_flag_scene())
    counts = qc_workspace(workspace).set_index("flag")["count"].to_dict()
    assert counts == {"out_of_range": 1, "spike": 2, "flat_line": 7, "duplicate_timestamp": 2,
                      "pm25_gt_pm10": 2, "drift": 0, "gap": 1}
    stored = _normal(workspace.read("observation_flags"), FLAG_COLUMNS,
                     ["flag", "site_id", "pollutant", "time", "value"])
    gaps = _normal(workspace.read("observation_gaps"), GAP_COLUMNS,
                   ["site_id", "pollutant", "gap_start"])
    check_every_flag(stored, gaps)
