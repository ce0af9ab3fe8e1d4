"""Composite index (HJ 663): statistics, single indices, ranking, change and validity.

All expected values are worked out by hand in the comments; limits are the Grade II
values of GB 3095-2012 Table 1 and GB 3095-2026 Table 1 (transition columns).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from sourcegrid.errors import InputError
from sourcegrid.quality.composite import (
    assess_composite,
    change_percent,
    city_daily,
    composite_index,
    daily_long,
    period_statistics,
    rank_units,
)


def _days(start: str, n: int):
    return list(pd.date_range(start, periods=n).date)


def _site(site: str, start: str, scale: float = 1.0) -> pd.DataFrame:
    """11 days: SO2 12, NO2 36, PM10 84, PM2.5 42 every day (means by construction);
    CO 1.0 x9 then 1.6, 1.6 -> p95: k = 1 + 10*0.95 = 10.5 -> 1.6 + (1.6-1.6)*0.5 = 1.6;
    O3 100 x9 then 176, 200 -> p90: k = 1 + 10*0.9 = 10 -> X(10) = 176.
    ``scale`` multiplies every value."""
    dates = _days(start, 11)
    return pd.DataFrame({
        "date": dates, "site_id": site,
        "SO2": 12.0 * scale, "NO2": 36.0 * scale, "PM10": 84.0 * scale, "PM2.5": 42.0 * scale,
        "CO": np.array([1.0] * 9 + [1.6, 1.6]) * scale,
        "O3_8h_max": np.array([100.0] * 9 + [176.0, 200.0]) * scale,
        "O3_1h_max": 999.0,  # not used by the composite index
    })


@pytest.fixture
def daily():
    return daily_long(_site("A", "2019-06-01"))


def test_daily_long_from_wide_uses_o3_8h_max(daily):
    o3 = daily.loc[daily["pollutant"] == "O3", "value"]
    assert sorted(o3)[-2:] == [176.0, 200.0]
    assert set(daily["pollutant"]) == {"SO2", "NO2", "PM10", "PM2.5", "CO", "O3"}
    assert isinstance(daily["date"].iloc[0], dt.date)


def test_period_statistics_by_hand(daily):
    stats = period_statistics(daily, "2019-06-01", "2019-06-11").set_index("pollutant")
    assert stats.loc["SO2", "value"] == pytest.approx(12.0)
    assert stats.loc["CO", "value"] == pytest.approx(1.6)
    assert stats.loc["CO", "statistic"] == "p95"
    assert stats.loc["O3", "value"] == pytest.approx(176.0)
    assert stats.loc["O3", "statistic"] == "p90"
    assert (stats["days"] == 11).all()
    # 1-11 June is no whole month: nothing to check against GB 3095 Table 4
    assert stats["valid"].all()


def test_composite_index_by_hand_2012(daily):
    stats = period_statistics(daily, "2019-06-01", "2019-06-11")
    row = composite_index(stats, edition="2012").iloc[0]
    # I = 12/60 + 36/40 + 84/70 + 42/35 + 1.6/4 + 176/160
    #   = 0.2 + 0.9 + 1.2 + 1.2 + 0.4 + 1.1 = 5.0
    assert row["I_SO2"] == pytest.approx(0.2)
    assert row["I_PM10"] == pytest.approx(1.2)
    assert row["I_O3"] == pytest.approx(1.1)
    assert row["composite_index"] == pytest.approx(5.0)
    assert row["max_index_pollutant"] == "PM10;PM2.5"  # both 1.2
    assert row["edition"] == "2012"
    assert row["valid"]


def test_composite_index_2026_transition_limits(daily):
    stats = period_statistics(daily, "2019-06-01", "2019-06-11")
    # GB 3095-2026 transition Grade II: PM10 60, PM2.5 30 (others as 2012):
    # 0.2 + 0.9 + 84/60 + 42/30 + 0.4 + 1.1 = 0.2 + 0.9 + 1.4 + 1.4 + 0.4 + 1.1 = 5.4
    row = composite_index(stats, edition="2026", date=dt.date(2027, 1, 1)).iloc[0]
    assert row["composite_index"] == pytest.approx(5.4)
    # From 2031: SO2 20, NO2 30, PM10 50, PM2.5 25:
    # 12/20 + 36/30 + 84/50 + 42/25 + 0.4 + 1.1 = 0.6 + 1.2 + 1.68 + 1.68 + 0.4 + 1.1 = 6.66
    row = composite_index(stats, edition="2026", date=dt.date(2031, 6, 1)).iloc[0]
    assert row["composite_index"] == pytest.approx(6.66)


def test_ranking_2018_weights(daily):
    stats = period_statistics(daily, "2019-06-01", "2019-06-11")
    row = composite_index(stats, edition="2012", weights="ranking_2018").iloc[0]
    # 0.2 + 2*0.9 + 1.2 + 3*1.2 + 0.4 + 2*1.1 = 9.4
    assert row["composite_index"] == pytest.approx(9.4)


def test_ranking_ties_share_a_rank():
    frame = pd.DataFrame({"composite_index": [4.0, 3.5, 4.0, np.nan, 5.1]})
    assert list(rank_units(frame)) == [2, 1, 2, pd.NA, 4]


def test_change_percent_by_hand():
    # e.g. a composite index from 6.25 to 5.0: (5.0 - 6.25)/6.25 = -20 %
    assert change_percent(5.0, 6.25) == pytest.approx(-20.0)
    assert np.isnan(change_percent(5.0, 0.0))


def test_assess_composite_with_base_period_and_ranking():
    frame = pd.concat([
        _site("A", "2019-06-01"),                # index 5.0
        _site("A", "2018-06-01", scale=1.25),    # base: 5.0 * 1.25 = 6.25
        _site("B", "2019-06-01", scale=0.8),     # index 4.0
        _site("B", "2018-06-01", scale=0.8),     # base 4.0
    ])
    result = assess_composite(daily_long(frame), ("2019-06-01", "2019-06-11"),
                              base_period=("2018-06-01", "2018-06-11"), edition="2012")
    result = result.set_index("unit")
    assert result.loc["A", "composite_index"] == pytest.approx(5.0)
    assert result.loc["B", "composite_index"] == pytest.approx(4.0)
    assert result.loc["B", "rank"] == 1 and result.loc["A", "rank"] == 2
    assert result.loc["A", "base_composite_index"] == pytest.approx(6.25)
    assert result.loc["A", "change_percent"] == pytest.approx(-20.0)
    assert result.loc["B", "change_percent"] == pytest.approx(0.0)
    assert list(result.index) == ["B", "A"]  # sorted by rank


def _year(site: str, year: int, drop: dict[int, int]) -> pd.DataFrame:
    """A whole year of constant daily values, dropping ``drop[month]`` days of a month."""
    dates = pd.Series(pd.date_range(f"{year}-01-01", f"{year}-12-31"))
    keep = pd.Series(True, index=dates.index)
    for month, n in drop.items():
        keep[dates[dates.dt.month == month].index[:n]] = False
    days = dates[keep].dt.date
    return pd.DataFrame({"date": days, "site_id": site, "SO2": 10.0, "NO2": 20.0,
                         "PM10": 50.0, "PM2.5": 30.0, "CO": 1.0, "O3": 100.0})


def test_validity_of_a_year_per_gb3095_table_4():
    frame = pd.concat([
        # January 31 - 5 = 26 days < 27 -> short month 2019-01
        _year("short_january", 2019, {1: 5}),
        # February 28 - 3 = 25 days: enough (February needs 25)
        _year("february_25", 2019, {2: 3}),
        # February 24 days: short
        _year("february_24", 2019, {2: 4}),
        # every month at its minimum (27; February 25): 11*27 + 25 = 322 < 324 days
        _year("year_322", 2019, {1: 4, 2: 3, 3: 4, 4: 3, 5: 4, 6: 3, 7: 4, 8: 4, 9: 3, 10: 4,
                                 11: 3, 12: 4}),
    ])
    stats = period_statistics(daily_long(frame), "2019-01-01", "2019-12-31")
    by_unit = stats.groupby("unit").agg(valid=("valid", "all"), short=("short_months", "first"),
                                        days=("days", "first"))
    assert by_unit.loc["short_january", "short"] == "2019-01"
    assert not by_unit.loc["short_january", "valid"]
    assert by_unit.loc["february_25", "valid"]
    assert by_unit.loc["february_25", "days"] == 362
    assert by_unit.loc["february_24", "short"] == "2019-02"
    assert by_unit.loc["year_322", "days"] == 322
    assert by_unit.loc["year_322", "short"] == "2019"
    result = assess_composite(daily_long(frame), ("2019-01-01", "2019-12-31"), edition="2012")
    flagged = result.set_index("unit")
    assert not flagged.loc["year_322", "valid"]
    assert flagged.loc["year_322", "invalid"] == "SO2;NO2;PM10;PM2.5;CO;O3"
    assert flagged.loc["february_25", "valid"]
    # the index is still computed for an invalid unit: 10/60+20/40+50/70+30/35+1/4+100/160
    expected = 10 / 60 + 20 / 40 + 50 / 70 + 30 / 35 + 1 / 4 + 100 / 160
    assert flagged.loc["year_322", "composite_index"] == pytest.approx(expected)


def test_missing_pollutant_gives_no_index_and_says_which():
    frame = _site("A", "2019-06-01").drop(columns=["CO"])
    row = assess_composite(daily_long(frame), ("2019-06-01", "2019-06-11"),
                           edition="2012").iloc[0]
    assert np.isnan(row["composite_index"])
    assert row["invalid"] == "CO"
    assert pd.isna(row["rank"])


def test_city_daily_is_the_mean_of_its_stations():
    daily = pd.DataFrame({"date": [dt.date(2020, 1, 1)] * 3, "site_id": ["a", "b", "c"],
                          "pollutant": "PM2.5", "value": [30.0, 50.0, np.nan]})
    city = city_daily(daily, {"a": "X", "b": "X", "c": "X"})
    # (30 + 50) / 2 = 40; the invalid station is left out
    assert city.iloc[0]["value"] == pytest.approx(40.0)
    assert city.iloc[0]["stations"] == 2
    with pytest.raises(InputError, match="cannot compute city values") as error:
        city_daily(daily, {"a": "X"})
    assert {p.value for p in error.value.problems} == {"b", "c"}
    assert error.value.problems[0].reason == "no_city"


def test_period_end_before_start_is_refused(daily):
    with pytest.raises(ValueError, match="period end 2019-05-01 is before its start 2019-06-01"):
        period_statistics(daily, "2019-06-01", "2019-05-01")
