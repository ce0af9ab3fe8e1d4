"""Ingest: idempotent re-ingest, key dedupe, file registry, UTC storage, wind."""

from __future__ import annotations

import pandas as pd
import pytest

from sourcegrid.errors import InputError, NotFoundError
from sourcegrid.observations.ingest import ingest_file, ingest_readings
from sourcegrid.store import Workspace

CSV = """time,site_id,lon,lat,PM2.5,PM10
2024-01-10 08:00,M1,116.40,39.90,35,60
2024-01-10 08:01,M1,116.40,39.90,36,61
2024-01-10 08:02,M1,116.40,39.90,abc,62
"""


@pytest.fixture
def workspace(tmp_path):
    return Workspace(tmp_path / "ws", create=True)


def test_file_ingest_stores_utc_and_reingest_adds_nothing(workspace, tmp_path):
    path = tmp_path / "micro.csv"
    path.write_text(CSV, encoding="utf-8")
    first = ingest_file(workspace, path, "micro")
    assert (first.read, first.added) == (5, 5)          # 6 values, 'abc' rejected
    assert first.rejects["reason"].tolist() == ["not_a_number"]
    assert first.rejects["row"].tolist() == [4]
    stored = workspace.read("observations")
    # naive times are Beijing time: 08:00 +08:00 = 00:00 UTC
    assert stored["time"].min() == pd.Timestamp("2024-01-10T00:00:00Z")
    assert set(stored["site_kind"]) == {"micro"} and set(stored["source"]) == {"micro.csv"}
    second = ingest_file(workspace, path, "micro")
    assert second.skipped_file and second.added == 0
    forced = ingest_file(workspace, path, "micro", force=True)
    assert (forced.added, forced.already_stored) == (0, 5)
    assert len(workspace.read("observations")) == 5
    assert len(workspace.read("ingested_files")) == 2


def test_overlapping_file_adds_only_new_keys(workspace, tmp_path):
    (tmp_path / "a.csv").write_text(CSV, encoding="utf-8")
    (tmp_path / "b.csv").write_text(CSV.replace("abc", "37") + "2024-01-10 08:03,M1,116.40,39.90,38,63\n",
                                    encoding="utf-8")
    ingest_file(workspace, tmp_path / "a.csv", "micro")
    result = ingest_file(workspace, tmp_path / "b.csv", "micro", chunk_size=3)
    # b has 8 values: 5 already stored, 3 new (PM2.5 08:02 and both of 08:03)
    assert (result.added, result.already_stored) == (3, 5)
    assert len(workspace.read("observations")) == 8


def test_repeats_in_a_batch_kept_once_conflicts_kept_for_qc():
    workspace = Workspace.in_memory()
    time = pd.Timestamp("2024-01-10T00:00Z")
    frame = pd.DataFrame({"time": [time] * 3, "site_id": "M1", "site_kind": "micro",
                          "lon": 116.4, "lat": 39.9, "pollutant": "PM2.5",
                          "value": [10.0, 10.0, 12.0], "unit": "ug/m**3"})
    result = ingest_readings(workspace, frame)
    assert (result.added, result.repeated) == (2, 1)
    assert sorted(workspace.read("observations")["value"]) == [10.0, 12.0]


def test_naive_times_refused_in_memory():
    frame = pd.DataFrame({"time": [pd.Timestamp("2024-01-10 08:00")], "site_id": "M1",
                          "site_kind": "micro", "lon": 116.4, "lat": 39.9, "pollutant": "PM2.5",
                          "value": [10.0]})
    with pytest.raises(ValueError, match="timezone-aware"):
        ingest_readings(Workspace.in_memory(), frame)


def test_wind_ingest_and_bad_kind(workspace, tmp_path):
    path = tmp_path / "wind.csv"
    path.write_text("time,site_id,lon,lat,wind_speed,wind_dir\n"
                    "2024-01-10 08:00,W1,116.4,39.9,2.5,NNE\n"
                    "2024-01-10 09:00,W1,116.4,39.9,3.0,90\n", encoding="utf-8")
    result = ingest_file(workspace, path, "wind")
    assert (result.table, result.added) == ("wind", 2)
    wind = workspace.read("wind").sort_values("time")
    assert wind["wind_dir"].tolist() == [22.5, 90.0]
    with pytest.raises(NotFoundError, match="unknown feed kind 'radar'"):
        ingest_file(workspace, path, "radar")


def test_structural_problems_reported_at_once(workspace, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("when,where\n1,2\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        ingest_file(workspace, path, "micro")
    reasons = set(caught.value.frame["reason"])
    assert {"missing_column", "no_pollutant_column"} <= reasons
    assert not workspace.has("observations")
