"""Moving and daily means with the GB 3095 validity rules (GB 3095-2026 Table 4).

Expected means are worked out by hand in the comments.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from sourcegrid.quality import averaging


def _hours(start_local: str, values, site: str = "S1", pollutant: str = "PM2.5") -> pd.DataFrame:
    time = pd.date_range(start_local, periods=len(values), freq="h",
                         tz="Asia/Shanghai").tz_convert("UTC")
    return pd.DataFrame({"time": time, "site_id": site, "pollutant": pollutant,
                         "value": np.asarray(values, dtype=float)})


def test_daily_mean_needs_20_valid_hours():
    # 20 hours of 10 and 4 missing: mean 10, valid. 19 hours: not valid (Table 4: 每日至少
    # 有20个小时平均浓度值).
    twenty = _hours("2017-01-01 00:00", [10.0] * 20 + [np.nan] * 4)
    nineteen = _hours("2017-01-02 00:00", [10.0] * 19 + [np.nan] * 5)
    result = averaging.daily_means(pd.concat([twenty, nineteen]), pollutants=["PM2.5"])
    assert result["date"].tolist() == [dt.date(2017, 1, 1), dt.date(2017, 1, 2)]
    assert result["valid_hours"].tolist() == [20, 19]
    assert result["value"].iloc[0] == 10.0 and np.isnan(result["value"].iloc[1])


def test_daily_mean_is_the_beijing_calendar_day():
    # Hours 00:00-23:00 Beijing time of 2017-01-01 = 2016-12-31 16:00 to 2017-01-01 15:00 UTC.
    # Values 0..23: mean 11.5.
    frame = _hours("2017-01-01 00:00", range(24))
    result = averaging.daily_means(frame, pollutants=["PM2.5"])
    assert result["date"].tolist() == [dt.date(2017, 1, 1)]
    assert result["value"].tolist() == [11.5]
    # labelled by the end of the hour: 01:00 ... 24:00 belong to 2017-01-01
    ending = _hours("2017-01-01 01:00", range(24))
    result = averaging.daily_means(ending, pollutants=["PM2.5"], hour_ending=True)
    assert result["date"].tolist() == [dt.date(2017, 1, 1)]


def test_eight_hour_moving_mean_needs_6_valid_hours():
    # O3 8 h: 每8小时至少有6个小时平均浓度值. Hours 0-5 = 60, 6-7 missing, 8 = 120.
    values = [60.0] * 6 + [np.nan, np.nan, 120.0]
    result = averaging.moving_means(_hours("2017-07-01 00:00", values, pollutant="O3"),
                                    window=8, pollutants=["O3"])
    o3 = result.set_index(result["time"].dt.tz_convert("Asia/Shanghai").dt.hour)
    assert o3.loc[4, "valid_hours"] == 5 and np.isnan(o3.loc[4, "value"])  # 5 hours
    assert o3.loc[5, "value"] == 60.0  # hours 0-5: 6 valid hours
    # window ending 08:00 covers 01:00-08:00: five 60s and 120 = 420 / 6 = 70
    assert o3.loc[8, "valid_hours"] == 6 and o3.loc[8, "value"] == 70.0


def test_24h_moving_mean_does_not_mix_sites():
    a = _hours("2017-01-01 00:00", [100.0] * 24, site="A")
    b = _hours("2017-01-01 00:00", [10.0] * 24, site="B")
    result = averaging.moving_means(pd.concat([a, b]), pollutants=["PM2.5"])
    at_end = result[result["valid_hours"] == 24].set_index("site_id")["value"]
    assert at_end.to_dict() == {"A": 100.0, "B": 10.0}
    # site B's first hour sees only itself, never site A's last hours
    first_b = result[result["site_id"] == "B"].dropna(subset=["value"]).iloc[0]
    assert first_b["valid_hours"] == 20


def test_daily_max_8h_needs_14_valid_windows_unless_above_the_limit():
    # O3 on 24 hours at 100 except 8 missing hours 08:00-15:00: 8-h windows ending
    # 07:00..23:00 with >= 6 valid hours: ending 07 (hours 0-7, 8 valid), 08 (7), 09 (6),
    # 21 (hours 14-21: 16-21, 6 valid), 22 (7), 23 (8) -> 6 < 14: not valid. The same day at 200 (above the 160 limit) stays valid.
    values = [100.0] * 8 + [np.nan] * 8 + [100.0] * 8
    grid = averaging.HourlyGrid.from_table(_hours("2017-07-01 00:00", values, pollutant="O3"),
                                           pollutants=["O3"])
    maximum, count = grid.daily_max_8h("O3")
    assert count.tolist() == [6] and np.isnan(maximum[0])
    high = [200.0 if v == 100.0 else v for v in values]
    grid = averaging.HourlyGrid.from_table(_hours("2017-07-01 00:00", high, pollutant="O3"),
                                           pollutants=["O3"])
    assert grid.daily_max_8h("O3")[0].tolist() == [200.0]
    # complete day: 17 windows, max of 8-h means
    ramp = _hours("2017-07-02 00:00", range(0, 240, 10), pollutant="O3")
    grid = averaging.HourlyGrid.from_table(ramp, pollutants=["O3"])
    maximum, count = grid.daily_max_8h("O3")
    # last window 16:00-23:00: (160 + ... + 230) / 8 = 195
    assert count.tolist() == [17] and maximum.tolist() == [195.0]


def test_daily_statistics_wide():
    frame = pd.concat([_hours("2017-01-01 00:00", [40.0] * 24, pollutant="NO2"),
                       _hours("2017-01-01 00:00", [1.5] * 24, pollutant="CO")])
    result = averaging.daily_statistics(frame)
    row = result.iloc[0]
    assert (row["NO2"], row["CO"]) == (40.0, 1.5)
    assert np.isnan(row["O3_8h_max"]) and row["valid_hours_NO2"] == 24


def test_window_out_of_range():
    grid = averaging.HourlyGrid.from_table(_hours("2017-01-01 00:00", [1.0]),
                                           pollutants=["PM2.5"])
    with pytest.raises(ValueError, match="window must be 1 to 24 hours, got 25"):
        grid.moving_mean("PM2.5", 25, 20)


@pytest.mark.parametrize(("window", "min_valid"), [(24, 20), (8, 6), (3, 2), (1, 1)])
def test_moving_mean_matches_pandas_rolling(window, min_valid):
    # Independent reference: pandas rolling on each site's regular hourly series.
    rng = np.random.default_rng(7)
    frames = []
    for site, start in (("A", "2017-01-01 05:00"), ("B", "2017-01-03 17:00")):
        values = rng.uniform(0, 300, 100)
        values[rng.random(100) < 0.2] = np.nan
        frames.append(_hours(start, values, site=site))
    frame = pd.concat(frames, ignore_index=True)
    result = averaging.moving_means(frame, window=window, min_valid=min_valid,
                                    pollutants=["PM2.5"])
    got = result.set_index(["site_id", "time"])["value"]
    for site, part in frame.groupby("site_id"):
        expected = part.set_index("time")["value"].rolling(window, min_periods=min_valid).mean()
        np.testing.assert_allclose(got.loc[site].reindex(expected.index).to_numpy(),
                                   expected.to_numpy(), rtol=1e-12)
