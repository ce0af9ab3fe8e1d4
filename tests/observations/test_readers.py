"""Observation readers: long and wide tables, time zones, units and per-value rejects."""

from __future__ import annotations

import pandas as pd
import pytest

from sourcegrid.errors import InputError
from sourcegrid.observations.readers import normalize_wind, read_observations

WIDE = """时间,站点,经度,纬度,PM2.5,PM10,CO
2017-01-01 08:00,Dongsi,116.417,39.929,300,350,4500
2017-01-01 09:00,Dongsi,116.417,39.929,-5,abc,4600
2017-01-01T01:00:00Z,Dongsi,116.417,39.929,12,NA,300000
bad,Dongsi,200,39.929,12,20,1000
"""


def test_wide_table_to_long_with_units_zones_and_every_problem(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(WIDE, encoding="utf-8")
    batch = read_observations(path, site_kind="reference", units={"CO": "ug/m3"})
    readings = batch.readings.set_index(["time", "pollutant"])["value"]
    # naive times are Beijing time: 08:00 +08:00 is 00:00 UTC
    first = pd.Timestamp("2017-01-01 00:00", tz="UTC")
    assert readings[(first, "PM2.5")] == 300
    assert readings[(first, "CO")] == pytest.approx(4.5)  # 4500 µg/m³ = 4.5 mg/m³
    # an explicit offset is kept: 01:00Z
    assert readings[(pd.Timestamp("2017-01-01 01:00", tz="UTC"), "PM2.5")] == 12
    problems = {(r, c, reason) for r, c, reason in
                batch.rejects[["row", "column", "reason"]].itertuples(index=False)}
    assert problems == {
        (3, "PM2.5", "negative_value"), (3, "PM10", "not_a_number"),
        (4, "CO", "out_of_range"),  # 300 000 µg/m³ = 300 mg/m³ > 200
        (5, "time", "bad_time"), (5, "lon", "bad_coordinate"),
    }
    assert batch.missing == 1  # the NA cell is no measurement, not an error
    # kept: row 2 all three; row 3 CO only; row 4 PM2.5 only; row 5 none (bad time)
    assert len(batch.readings) == 5


def test_structure_problems_are_reported_together(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("when,where,PM2.5\n2017-01-01,x,1\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_observations(path)
    reasons = {(p.column, p.reason) for p in caught.value.problems}
    assert reasons == {("time", "missing_column"), ("site_id", "missing_column"),
                       ("site_kind", "missing_column")}


def test_wind_text_directions_and_calm():
    frame = pd.DataFrame({"time": ["2017-01-01 00:00"] * 4, "site_id": ["A"] * 4,
                          "wind_speed": ["1.5", "2", "0", "3"],
                          "wind_dir": ["NNE", "东北", "C", "XYZ"]})
    wind, rejects = normalize_wind(frame)
    # 16-point compass: NNE = 22.5°, NE (东北) = 45°; calm has no direction
    assert wind["wind_dir"].tolist()[:2] == [22.5, 45.0]
    assert pd.isna(wind["wind_dir"].iloc[2])
    assert rejects[["row", "reason"]].values.tolist() == [[5, "bad_wind_dir"]]
