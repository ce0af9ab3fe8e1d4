"""QC: each flag on a crafted faulty series; flags never delete readings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sourcegrid.errors import NotFoundError
from sourcegrid.observations.ingest import ingest_readings
from sourcegrid.observations.qc import (
    FLAGS,
    check_drift,
    check_duplicate_timestamp,
    check_flat_line,
    check_pm25_gt_pm10,
    check_range,
    check_spike,
    find_gaps,
    flag_counts,
    passing,
    qc_parameters,
    qc_workspace,
    run_qc,
)
from sourcegrid.store import Workspace

T0 = pd.Timestamp("2024-01-10T00:00Z")


def series(values, *, site="S1", kind="reference", pollutant="PM2.5", step="1h", lon=116.40,
           lat=39.90, start=T0) -> pd.DataFrame:
    values = np.asarray(values, dtype=float)
    return pd.DataFrame({"time": pd.date_range(start, periods=len(values), freq=step),
                         "site_id": site, "site_kind": kind, "lon": lon, "lat": lat,
                         "pollutant": pollutant, "value": values})


def test_out_of_range():
    # HJ 653-2021 range 0-1000 µg/m³; RH 0-100 %
    frame = pd.concat([series([10, 1200, 999]), series([101, 50], pollutant="RH")])
    flags = check_range(frame)
    assert flags["value"].tolist() == [1200.0, 101.0]
    assert set(flags["flag"]) == {"out_of_range"} and set(flags["severity"]) == {"fail"}
    assert flags["detail"].tolist() == ["range 0.0-1000.0", "range 0.0-100.0"]


def test_spike_hampel():
    # window of 7 around the 5th value: 30,32,31,33,300,32,31 -> median 32,
    # |x - 32| = 2,0,1,1,268,0,1 -> MAD 1 -> 268 > 3 * 1.4826 * 1 and > 10: spike
    values = [30, 32, 31, 33, 300, 32, 31, 30, 29, 31]
    flags = check_spike(series(values))
    assert flags["value"].tolist() == [300.0]
    assert flags["detail"].tolist() == ["median 32.0"]
    # a jump below min_jump (10 µg/m³) is noise, not a spike
    assert check_spike(series([30, 30, 30, 38, 30, 30, 30])).empty


def test_spike_windows_stay_within_a_site():
    # site S1 ends high, S2 starts low: no window mixes them, so nothing is flagged
    frame = pd.concat([series([100, 101, 102, 103]), series([5, 6, 5, 6], site="S2")])
    assert check_spike(frame).empty


def test_flat_line():
    values = [20, 21, 25, 25, 25, 25, 25, 25, 22, 25, 25]
    flags = check_flat_line(series(values), min_run=6)
    assert flags["time"].tolist() == list(pd.date_range(T0 + pd.Timedelta(hours=2), periods=6,
                                                        freq="h"))
    assert set(flags["detail"]) == {"6 identical readings"}
    assert check_flat_line(series(values), min_run=7).empty


def test_duplicate_timestamp():
    frame = pd.concat([series([10, 11]), series([12], start=T0)])
    flags = check_duplicate_timestamp(frame)
    assert sorted(flags["value"].tolist()) == [10.0, 12.0]
    assert set(flags["time"]) == {T0}


def test_pm25_greater_than_pm10_flags_both():
    frame = pd.concat([series([30, 80]), series([50, 70], pollutant="PM10")])
    flags = check_pm25_gt_pm10(frame)
    assert sorted(flags["pollutant"].tolist()) == ["PM10", "PM2.5"]
    assert set(flags["time"]) == {T0 + pd.Timedelta(hours=1)}


def test_drift_against_nearby_reference():
    hours = 48
    reference = series(np.full(hours, 50.0), site="REF")
    # micro 500 m east reads like the reference for 24 h, then 40 % high
    micro_values = np.r_[np.full(24, 50.0), np.full(24, 70.0)]
    micro = series(micro_values, site="M1", kind="micro", lon=116.4059)
    flags = check_drift(pd.concat([reference, micro]), window_hours=12, min_pairs=6,
                        threshold=0.30)
    # trailing 12-h window: mean difference / reference mean exceeds 0.30 once
    # at least 4 of the 12 hours are high (4 * 20 / 12 / 50 = 0.133 ... 8 * 20 / 12 / 50 = 0.267,
    # 9 hours: 9 * 20 / 12 / 50 = 0.30 not above; 10 hours: 0.333) -> from hour 24 + 9 = 33
    assert flags["time"].min() == T0 + pd.Timedelta(hours=33)
    assert len(flags) == 48 - 33
    assert set(flags["severity"]) == {"warn"}
    # a reference 5 km away is out of reach (max_distance 3 km)
    far = micro.assign(lon=116.46)
    assert check_drift(pd.concat([reference, far]), window_hours=12, min_pairs=6).empty


def test_gaps_reported_per_site():
    frame = series([1, 2, 3, 4, 5, 6], step="1min", kind="micro").drop(index=[2, 3])
    gaps = find_gaps(frame)
    assert len(gaps) == 1
    assert gaps.loc[0, "missing"] == 2
    assert gaps.loc[0, "gap_start"] == T0 + pd.Timedelta(minutes=2)
    assert gaps.loc[0, "gap_end"] == T0 + pd.Timedelta(minutes=4)


def test_run_qc_counts_every_flag_and_deletes_nothing():
    frame = pd.concat([
        series([30, 32, 31, 33, 300, 32, 31, 30, 29, 31, 31, 31, 31, 31, 31, 31]),
        series([20, 50], pollutant="PM10"),
        series([1500], start=T0 + pd.Timedelta(hours=40)),
    ], ignore_index=True)
    flags, gaps = run_qc(frame)
    counts = flag_counts(flags, gaps).set_index("flag")["count"]
    assert list(counts.index) == list(FLAGS)
    # 300 and 1500 are spikes (1500 against the last 31s); 1500 is also out of range
    assert counts["spike"] == 2 and counts["flat_line"] == 7 and counts["out_of_range"] == 1
    assert counts["pm25_gt_pm10"] == 2  # 30 > 20 at T0: PM2.5 and PM10 flagged
    assert counts["gap"] == 1           # 15 h to 40 h
    kept = passing(frame, flags)
    # failing readings: 300, seven 31s, 1500, PM2.5 30 and PM10 20 at T0
    assert len(kept) == len(frame) - 1 - 7 - 1 - 2
    assert len(frame) == 19             # the input itself is untouched


def test_qc_workspace_tables():
    workspace = Workspace.in_memory()
    ingest_readings(workspace, series([30, 32, 31, 33, 300, 32, 31]))
    counts = qc_workspace(workspace).set_index("flag")["count"]
    assert counts["spike"] == 1
    assert workspace.read("observation_flags")["flag"].tolist() == ["spike"]
    assert workspace.has("observation_gaps")


def test_unknown_parameter_lists_valid_names():
    with pytest.raises(NotFoundError, match="unknown QC parameter 'spike_width'"):
        qc_parameters({"spike_width": 3})
    with pytest.raises(NotFoundError, match="valid: default"):
        qc_parameters("strict")
