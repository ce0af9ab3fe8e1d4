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


def test_csv_and_parquet_go_through_the_engine_with_a_sites_table(workspace, tmp_path):
    # a file only the engine path stores with the site name: the sites table holds it once
    csv = tmp_path / "named.csv"
    csv.write_text("time,site_id,site_name,lon,lat,PM2.5\n"
                   "2024-01-10 08:00,M1,东四,116.40,39.90,35\n"
                   "2024-01-10 09:00,M1,东四,116.40,39.90,36\n", encoding="utf-8")
    ingest_file(workspace, csv, "micro")
    sites = workspace.read("sites")
    assert sites[["site_id", "site_kind", "site_name", "lon", "lat"]].values.tolist() == [
        ["M1", "micro", "东四", 116.40, 39.90]]
    # the same readings as Parquet with a typed time column (naive = Beijing time) and
    # float values: nothing new, and the site is not repeated
    parquet = tmp_path / "named.parquet"
    pd.DataFrame({"time": pd.to_datetime(["2024-01-10 08:00", "2024-01-10 10:00"]),
                  "site_id": "M1", "site_name": "东四", "lon": 116.40, "lat": 39.90,
                  "PM2.5": [35.0, -1.0]}).to_parquet(parquet)
    result = ingest_file(workspace, parquet, "micro")
    assert (result.read, result.added, result.already_stored) == (1, 0, 1)
    assert result.rejects[["row", "column", "value", "reason"]].values.tolist() == [
        [3, "PM2.5", "-1", "negative_value"]]
    assert len(workspace.read("sites")) == 1


def test_gb18030_file_and_odd_times_read_as_before(workspace, tmp_path):
    # GB18030 text (the engine reads UTF-8 only: the pandas reader takes over) and, in a
    # UTF-8 file, times the engine leaves to the pandas parser (slashes; 1991, when
    # Beijing kept daylight saving: 12:00 is 03:00 UTC by the tz database)
    legacy = tmp_path / "legacy.csv"
    legacy.write_bytes("时间,站点,经度,纬度,PM2.5\n2024-01-10 08:00,M9,116.4,39.9,40\n"
                       .encode("gb18030"))
    assert ingest_file(workspace, legacy, "reference").added == 1
    odd = tmp_path / "odd.csv"
    odd.write_text("时间,站点,经度,纬度,PM2.5\n2024/1/10 9:00,M9,116.4,39.9,41\n"
                   "1991-07-01 12:00,M9,116.4,39.9,42\n", encoding="utf-8")
    assert ingest_file(workspace, odd, "reference").added == 2
    stored = workspace.read("observations").sort_values("value")
    times = pd.to_datetime(stored["time"], utc=True).tolist()
    assert times == [pd.Timestamp("2024-01-10T00:00Z"), pd.Timestamp("2024-01-10T01:00Z"),
                     pd.Timestamp("1991-07-01T03:00Z")]


def test_sites_kept_for_times_the_pandas_parser_reads(workspace, tmp_path):
    # a time with slashes is parsed by the pandas parser, not the engine: its site is
    # still recorded once in the sites table, with its position as written
    path = tmp_path / "slashes.csv"
    path.write_text("时间,站点,经度,纬度,PM2.5\n2024/1/10 9:00,M9,116.4,39.9,41\n"
                    "2024/1/10 10:00,M9,116.4,39.9,42\n", encoding="utf-8")
    assert ingest_file(workspace, path, "reference").added == 2
    sites = workspace.read("sites")
    assert sites[["site_id", "site_kind", "lon", "lat"]].values.tolist() == [
        ["M9", "reference", 116.4, 39.9]]
