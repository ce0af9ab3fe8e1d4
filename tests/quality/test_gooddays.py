"""Good days: counts, ratio, categories, year on year, city values. Worked by hand.

Categories per HJ 633-2012 Table 2: 0-50 优, 51-100 良, 101-150 轻度污染, 151-200 中度污染,
201-300 重度污染, > 300 严重污染; a good day has AQI <= 100.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from sourcegrid.errors import InputError
from sourcegrid.quality import aqi
from sourcegrid.quality.gooddays import (
    MEAN_ROW,
    assess_good_days,
    category_of,
    city_hourly,
    good_days,
    same_period_last_year,
    year_on_year,
)


def _daily(site: str, start: str, values) -> pd.DataFrame:
    return pd.DataFrame({"date": pd.date_range(start, periods=len(values)).date,
                         "site_id": site, "aqi": values})


CURRENT = [30, 60, 100, 101, 150, 151, 200, 201, 300, 301]
PREVIOUS = [20, 40, 50, 80, 90, 120, 160, 250, 310, np.nan]


def test_categories_at_the_level_boundaries():
    assert list(category_of(CURRENT)) == ["优", "良", "良", "轻度污染", "轻度污染", "中度污染",
                                          "中度污染", "重度污染", "重度污染", "严重污染"]
    assert category_of([np.nan])[0] == ""


def test_good_days_by_hand():
    row = good_days(_daily("A", "2020-01-01", CURRENT), "2020-01-01", "2020-01-10").iloc[0]
    # good: 30, 60, 100 -> 3 of 10 valid days = 30 %
    assert row["good_days"] == 3
    assert row["valid_days"] == 10
    assert row["good_ratio"] == pytest.approx(30.0)
    assert [row[c] for c in ("优", "良", "轻度污染", "中度污染", "重度污染", "严重污染")] == [
        1, 2, 2, 2, 2, 1]
    assert row["missing_days"] == 0


def test_unpublished_aqi_is_not_a_valid_day():
    row = good_days(_daily("A", "2019-01-01", PREVIOUS), "2019-01-01", "2019-01-10").iloc[0]
    # 9 valid days (one NaN); good: 20, 40, 50, 80, 90 -> 5; ratio 5/9 = 55.56 %
    assert row["valid_days"] == 9
    assert row["good_days"] == 5
    assert row["good_ratio"] == pytest.approx(100 * 5 / 9)
    assert row["missing_days"] == 1


def test_year_on_year_by_hand():
    data = pd.concat([_daily("A", "2020-01-01", CURRENT), _daily("A", "2019-01-01", PREVIOUS)])
    row = assess_good_days(data, "2020-01-01", "2020-01-10").iloc[0]
    # 3 - 5 = -2 days; 30 % - 55.56 % = -25.56 percentage points
    assert row["previous_good_days"] == 5
    assert row["good_days_change"] == -2
    assert row["good_ratio_change"] == pytest.approx(30.0 - 100 * 5 / 9)


def test_mean_row_over_units():
    data = pd.concat([
        _daily("A", "2020-01-01", [50, 150, 50, 50]),   # 3 good of 4 = 75 %
        _daily("B", "2020-01-01", [150, 150, 50, 150]),  # 1 good of 4 = 25 %
        _daily("A", "2019-01-01", [150, 150, 150, 50]),  # 1 good
        _daily("B", "2019-01-01", [150, 150, 150, 150]),  # 0 good
    ])
    out = assess_good_days(data, "2020-01-01", "2020-01-04").set_index("unit")
    # mean good days (3 + 1)/2 = 2.0; mean ratio (75 + 25)/2 = 50 %;
    # changes: A +2, B +1 -> mean 1.5 days; A +50 pp, B +25 pp -> mean 37.5 pp
    assert out.loc[MEAN_ROW, "good_days"] == pytest.approx(2.0)
    assert out.loc[MEAN_ROW, "good_ratio"] == pytest.approx(50.0)
    assert out.loc[MEAN_ROW, "good_days_change"] == pytest.approx(1.5)
    assert out.loc[MEAN_ROW, "good_ratio_change"] == pytest.approx(37.5)


def test_same_period_last_year_handles_29_february():
    assert same_period_last_year("2020-01-01", "2020-02-29") == (dt.date(2019, 1, 1),
                                                               dt.date(2019, 2, 28))
    assert same_period_last_year("2020-01-01", "2020-05-31") == (dt.date(2019, 1, 1),
                                                               dt.date(2019, 5, 31))


def test_year_on_year_keeps_units_without_a_previous_value():
    current = good_days(_daily("A", "2020-01-01", [50]), "2020-01-01", "2020-01-01")
    previous = good_days(_daily("B", "2019-01-01", [50]), "2019-01-01", "2019-01-01")
    out = year_on_year(current, previous)
    assert len(out) == 1 and np.isnan(out.iloc[0]["good_days_change"])


def test_duplicate_days_are_reported():
    data = pd.concat([_daily("A", "2020-01-01", [50]), _daily("A", "2020-01-01", [60])])
    with pytest.raises(InputError, match="cannot count good days") as error:
        good_days(data, "2020-01-01", "2020-01-01")
    assert error.value.problems[0].reason == "duplicate_day"


def _hourly(site: str, pm25: float) -> pd.DataFrame:
    hours = pd.date_range("2017-01-01 00:00", periods=24, freq="h", tz="Asia/Shanghai")
    return pd.DataFrame({"time": hours.tz_convert("UTC"), "site_id": site,
                         "pollutant": "PM2.5", "value": pm25})


def test_city_value_from_mean_station_concentrations_then_aqi():
    readings = pd.concat([_hourly("a", 35.0), _hourly("b", 115.0)], ignore_index=True)
    city = city_hourly(readings, {"a": "X", "b": "X"})
    assert (city["value"] == 75.0).all() and (city["stations"] == 2).all()
    daily = aqi.daily(city)
    # HJ 633-2012 Table 1, PM2.5 24-h: 75 µg/m³ is IAQI 100 -> a good day for the city,
    # although station b alone (115 -> IAQI 150) is not
    assert int(daily.iloc[0]["aqi"]) == 100
    assert good_days(daily, "2017-01-01", "2017-01-01").iloc[0]["good_days"] == 1
    stations = good_days(aqi.daily(readings), "2017-01-01", "2017-01-01")
    assert list(stations["good_days"]) == [1, 0]
    with pytest.raises(InputError, match="cannot compute city values"):
        city_hourly(readings, {"a": "X"})


def test_good_days_from_an_ibis_table():
    import ibis

    table = ibis.memtable(_daily("A", "2020-01-01", CURRENT))
    row = good_days(table, "2020-01-01", "2020-01-10").iloc[0]
    assert row["good_days"] == 3


def test_daily_aqi_table_rejects_with_reasons():
    from sourcegrid.quality.gooddays import normalize_daily_aqi

    frame = pd.DataFrame({"日期": ["2020-01-01", "2020-01-02", "bad", "2020-01-04", "2020-01-05",
                                   "2020-01-06"],
                          "站点": ["A", "A", "A", None, "A", "A"],
                          "AQI": ["50", "x", "60", "70", "-3", "501"]})
    table, rejects = normalize_daily_aqi(frame, source="aqi.csv")
    assert set(zip(rejects["row"], rejects["reason"], strict=True)) == {
        (3, "not_a_number"), (4, "bad_date"), (5, "missing_site"), (6, "negative_value"),
        (7, "out_of_range")}
    assert list(table["aqi"]) == [50.0]
    with pytest.raises(InputError, match="cannot read daily AQI from x.csv") as error:
        normalize_daily_aqi(pd.DataFrame({"date": ["2020-01-01"]}), source="x.csv")
    assert {p.column for p in error.value.problems} == {"site_id", "aqi"}
