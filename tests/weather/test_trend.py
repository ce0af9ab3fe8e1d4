"""Theil-Sen slopes, period changes with intervals, the weather's share."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from sourcegrid.weather.normalise import Normalisation, model_parameters, resampling_parameters
from sourcegrid.weather.trend import (
    default_periods,
    parse_period,
    period_change,
    theil_sen,
    trend_report,
)


def _hours(start: str, end: str) -> pd.DatetimeIndex:
    return pd.date_range(start, end, freq="h", tz="Asia/Shanghai", inclusive="left")


def test_theil_sen_of_a_straight_line():
    # value = 10 + 2 · (years since 2000) on every hour: the slope is 2 per year exactly,
    # and the monthly means of a straight line lie on a line of the same slope
    times = _hours("2014-01-01", "2017-01-01")
    years = (times.tz_localize(None) - pd.Timestamp("2000-01-01")).days / 365.25
    result = theil_sen(times, 10 + 2 * years.to_numpy(), deseasonalise=False)
    assert result["slope"] == pytest.approx(2.0, rel=1e-3)
    assert result["slope_low"] <= 2.0 <= result["slope_high"] * 1.001
    assert result["months"] == 36


def test_theil_sen_removes_the_seasonal_cycle():
    times = _hours("2014-01-01", "2017-01-01")
    seasonal = 30 * np.cos(2 * np.pi * (times.dayofyear.to_numpy() - 15) / 365.25)
    flat = theil_sen(times, 60 + seasonal)
    assert abs(flat["slope"]) < 0.5
    assert flat["slope_high"] - flat["slope_low"] < 1.0


def test_period_change_and_interval():
    # 50 every day of 2014, 40 every day of 2016: change −10, −20 %, no spread at all
    days = pd.date_range("2014-01-01", "2016-12-31", freq="D").date
    values = pd.Series(np.where(pd.Index(days) < dt.date(2015, 1, 1), 50.0, 40.0), index=days)
    result = period_change(values, (dt.date(2014, 1, 1), dt.date(2014, 12, 31)),
                           (dt.date(2016, 1, 1), dt.date(2016, 12, 31)))
    assert result["change"] == pytest.approx(-10.0)
    assert result["change_percent"] == pytest.approx(-20.0)
    assert result["change_percent_low"] == pytest.approx(-20.0)
    assert result["change_percent_high"] == pytest.approx(-20.0)
    assert (result["base_days"], result["compare_days"]) == (365, 366)


def test_parse_period():
    assert parse_period("2014") == (dt.date(2014, 1, 1), dt.date(2014, 12, 31))
    assert parse_period("2016-02") == (dt.date(2016, 2, 1), dt.date(2016, 2, 29))
    assert parse_period("2014-03-01/2014-05-31") == (dt.date(2014, 3, 1), dt.date(2014, 5, 31))
    with pytest.raises(ValueError, match="expected a period such as 2014"):
        parse_period("last year")


def test_default_periods_are_the_first_and_last_full_years():
    days = pd.date_range("2013-03-01", "2017-02-28", freq="D").date
    assert default_periods(days) == ((dt.date(2014, 1, 1), dt.date(2014, 12, 31)),
                                     (dt.date(2016, 1, 1), dt.date(2016, 12, 31)))
    short = pd.date_range("2016-01-01", "2016-03-31", freq="D").date
    first, second = default_periods(short)
    assert first[0] == dt.date(2016, 1, 1) and second[1] == dt.date(2016, 3, 31)


def test_weather_share():
    # observed 100 → 80 (−20), normalised 100 → 90 (−10): the weather made −10 of the −20,
    # a share of 50 %
    times = pd.concat([pd.Series(_hours("2014-01-01", "2015-01-01")),
                       pd.Series(_hours("2016-01-01", "2017-01-01"))], ignore_index=True)
    first = times.dt.year == 2014
    series = pd.DataFrame({"time": times.dt.tz_convert("UTC"),
                           "observed": np.where(first, 100.0, 80.0),
                           "predicted": np.nan,
                           "normalised": np.where(first, 100.0, 90.0)})
    result = Normalisation(series, {"r2": 0.8, "rmse": 5.0}, ["date_unix"],
                           model_parameters("quick"), resampling_parameters("quick"), 0)
    row = trend_report(result, "X", (dt.date(2014, 1, 1), dt.date(2014, 12, 31)),
                       (dt.date(2016, 1, 1), dt.date(2016, 12, 31)))
    assert row["observed_change"] == pytest.approx(-20.0)
    assert row["normalised_change"] == pytest.approx(-10.0)
    assert row["weather_change"] == pytest.approx(-10.0)
    assert row["weather_share_percent"] == pytest.approx(50.0)
    assert row["normalised_change_percent"] == pytest.approx(-10.0)
