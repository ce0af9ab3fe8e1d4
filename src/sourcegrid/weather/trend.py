"""Trends and changes, observed and weather-normalised, and the weather's share.

* Theil-Sen slope of the monthly means (months with at least
  ``min_coverage`` of their hours; the seasonal cycle removed as anomalies from
  the calendar-month means when the record covers two years), with its
  confidence interval, as openair's
  ``TheilSen`` and Grange et al. (2018) test normalised trends:
  slope = median over pairs (i < j) of (y_j - y_i)/(x_j - x_i), x in years, by
  :func:`scipy.stats.theilslopes` (interval from Sen 1968, ``alpha`` = 0.95).
* Change between two periods: mean of the daily means of each period,
  change = m2 − m1 [µg/m³], change_percent = 100 (m2 − m1)/m1 [%]. Its 95 %
  interval is a circular moving-block bootstrap of the days of each period
  (blocks of ``block_days`` days drawn within each calendar month, so each
  draw keeps the period's mix of seasons; ``resamples`` draws, seeded), which
  keeps the serial correlation of pollution episodes; for the normalised series the
  interval of the weather draws (the 2.5 and 97.5 percentiles over the K
  resamples) is reported too.
* The weather's share: the observed change minus the normalised change is the
  change the weather made, weather_change = Δ_observed − Δ_normalised
  [µg/m³]; weather_share_percent = 100 weather_change / Δ_observed [%] (NaN when
  the observed change is 0). A negative share means the weather worked against
  the observed change (emissions fell more than the observations show).

References
----------
.. [1] Sen, P. K. (1968). Estimates of the regression coefficient based on
   Kendall's tau. J. Am. Stat. Assoc. 63, 1379-1389; Theil, H. (1950).
.. [2] Carslaw, D. C. and Ropkins, K. (2012). openair. Environ. Model. Softw.
   27-28, 52-61 (``TheilSen`` on monthly means).
.. [3] Künsch, H. R. (1989). The jackknife and the bootstrap for general
   stationary observations. Ann. Stat. 17, 1217-1241 (moving blocks).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from scipy import stats

from sourcegrid.timebase import LOCAL_TIMEZONE

__all__ = [
    "theil_sen",
    "monthly_means",
    "daily_means",
    "period_change",
    "block_bootstrap_means",
    "parse_period",
    "default_periods",
    "trend_report",
]



def daily_means(times, values) -> pd.Series:
    """Mean of each Beijing-time day (index: datetime.date)."""
    stamps = pd.DatetimeIndex(pd.to_datetime(times, utc=True)).tz_convert(LOCAL_TIMEZONE)
    frame = pd.Series(np.asarray(values, dtype=float), index=stamps).dropna()
    out = frame.groupby(frame.index.date).mean()
    out.index = pd.Index(out.index, name="date")
    return out


def monthly_means(times, values, *, min_coverage: float = 0.5) -> pd.Series:
    """Monthly means (index: month start, Beijing time) of months with enough hours."""
    stamps = pd.DatetimeIndex(pd.to_datetime(times, utc=True)).tz_convert(LOCAL_TIMEZONE)
    frame = pd.Series(np.asarray(values, dtype=float), index=stamps.tz_localize(None))
    months = frame.index.to_period("M")
    grouped = frame.groupby(months)
    means = grouped.mean()
    hours = grouped.count()
    possible = pd.Series([p.days_in_month * 24 for p in means.index], index=means.index)
    keep = (hours / possible) >= min_coverage
    out = means[keep]
    out.index = out.index.to_timestamp()
    return out


def theil_sen(times, values, *, alpha: float = 0.95, min_coverage: float = 0.5,
              deseasonalise: bool = True) -> dict:
    """Theil-Sen slope of the monthly means with its confidence interval.

    Parameters
    ----------
    times, values : array_like
        Hourly series (times UTC or aware).
    alpha : float
        Confidence level of the interval (0.95).
    min_coverage : float
        Share of a month's hours needed for its mean.
    deseasonalise : bool
        Remove the seasonal cycle first: each monthly mean minus the mean of its
        calendar month over the record, plus the overall mean (the seasonal cycle
        otherwise widens the interval; openair's ``deseason``). Needs two years.

    Returns
    -------
    dict
        slope, slope_low, slope_high [unit per year], slope_percent [% of the mean
        per year], months (used), p (Mann-Kendall-type p-value of Kendall's tau).
    """
    monthly = monthly_means(times, values, min_coverage=min_coverage)
    if len(monthly) < 3:
        return {"slope": np.nan, "slope_low": np.nan, "slope_high": np.nan,
                "slope_percent": np.nan, "months": len(monthly), "p": np.nan}
    years = (monthly.index - pd.Timestamp("2000-01-01")).days.to_numpy() / 365.25
    y = monthly.to_numpy()
    if deseasonalise and len(monthly) >= 24:
        calendar = monthly.groupby(monthly.index.month).transform("mean").to_numpy()
        y = y - calendar + y.mean()
    result = stats.theilslopes(y, years, alpha=alpha)
    tau = stats.kendalltau(years, y)
    mean = float(np.mean(y))
    return {"slope": float(result.slope), "slope_low": float(result.low_slope),
            "slope_high": float(result.high_slope),
            "slope_percent": 100.0 * float(result.slope) / mean if mean else np.nan,
            "months": len(monthly), "p": float(tau.pvalue)}


def block_bootstrap_means(daily: np.ndarray, *, block_days: int = 14, resamples: int = 1000,
                          rng: np.random.Generator) -> np.ndarray:
    """Means of circular moving-block bootstrap resamples of a daily series (resamples,)."""
    daily = np.asarray(daily, dtype=float)
    n = len(daily)
    if n == 0:
        return np.full(resamples, np.nan)
    length = max(1, min(block_days, n))
    blocks = int(np.ceil(n / length))
    starts = rng.integers(0, n, (resamples, blocks))
    index = (starts[:, :, None] + np.arange(length)[None, None, :]).reshape(resamples, -1)[:, :n]
    return daily[index % n].mean(axis=1)


def parse_period(text: str) -> tuple[dt.date, dt.date]:
    """'2014' → 2014-01-01..2014-12-31; '2014-03' → a month; 'A/B' → dates A..B (inclusive)."""
    text = str(text).strip()
    try:
        if "/" in text:
            first, last = text.split("/", 1)
            return pd.Timestamp(first).date(), pd.Timestamp(last).date()
        if len(text) == 4 and text.isdigit():
            return dt.date(int(text), 1, 1), dt.date(int(text), 12, 31)
        if len(text) == 7:
            period = pd.Period(text, freq="M")
            return period.start_time.date(), period.end_time.date()
        day = pd.Timestamp(text).date()
        return day, day
    except (ValueError, TypeError):
        raise ValueError(f"expected a period such as 2014, 2014-03 or 2014-01-01/2014-06-30, "
                         f"got {text!r}") from None


def default_periods(dates) -> tuple[tuple[dt.date, dt.date], tuple[dt.date, dt.date]]:
    """The first and last full calendar years of the data; else its first and last halves."""
    dates = pd.Index(sorted(set(dates)))
    first, last = dates[0], dates[-1]
    full = [y for y in range(first.year, last.year + 1)
            if dt.date(y, 1, 1) >= first and dt.date(y, 12, 31) <= last]
    if len(full) >= 2:
        return ((dt.date(full[0], 1, 1), dt.date(full[0], 12, 31)),
                (dt.date(full[-1], 1, 1), dt.date(full[-1], 12, 31)))
    middle = first + (last - first) / 2
    return (first, middle), (middle + dt.timedelta(days=1), last)


def _inside(daily: pd.Series, period) -> pd.Series:
    index = pd.Index(daily.index)
    mask = (index >= period[0]) & (index <= period[1])
    return daily[mask]


def _stratified_bootstrap(daily: pd.Series, *, block_days: int, resamples: int,
                          rng: np.random.Generator) -> np.ndarray:
    """Period means of a block bootstrap done within each calendar month (resamples,).

    Each month's days are resampled in circular blocks on their own and the period mean
    is the day-weighted mean of the month means, so a resample keeps the period's mix
    of seasons (a plain bootstrap over a year would mix winter and summer days at
    random and overstate the spread of an annual mean).
    """
    months = pd.Index([(d.year, d.month) for d in daily.index])
    total = np.zeros(resamples)
    values = daily.to_numpy(dtype=float)
    for month in months.unique():
        part = values[months == month]
        total += len(part) * block_bootstrap_means(part, block_days=block_days,
                                                   resamples=resamples, rng=rng)
    return total / len(values)


def period_change(daily: pd.Series, base, compare, *, block_days: int = 7,
                  resamples: int = 1000, seed: int = 0) -> dict:
    """Means of two periods, the change and its block-bootstrap 95 % interval.

    Parameters
    ----------
    daily : pandas.Series
        Daily means (index datetime.date).
    base, compare : (date, date)
        The two periods, inclusive.
    block_days : int
        Bootstrap block length [days]; blocks are drawn within each calendar month.

    Returns
    -------
    dict
        base_mean, compare_mean, change [unit], change_percent, change_percent_low,
        change_percent_high [%], base_days, compare_days.
    """
    rng = np.random.default_rng(seed)
    first, second = _inside(daily, base), _inside(daily, compare)
    m1 = float(np.mean(first)) if len(first) else np.nan
    m2 = float(np.mean(second)) if len(second) else np.nan
    out = {"base_mean": m1, "compare_mean": m2, "change": m2 - m1,
           "change_percent": 100.0 * (m2 - m1) / m1 if m1 else np.nan,
           "change_percent_low": np.nan, "change_percent_high": np.nan,
           "base_days": len(first), "compare_days": len(second)}
    if len(first) >= 2 and len(second) >= 2:
        b1 = _stratified_bootstrap(first, block_days=block_days, resamples=resamples, rng=rng)
        b2 = _stratified_bootstrap(second, block_days=block_days, resamples=resamples, rng=rng)
        with np.errstate(divide="ignore", invalid="ignore"):
            percent = 100.0 * (b2 - b1) / b1
        out["change_percent_low"], out["change_percent_high"] = (
            float(v) for v in np.nanpercentile(percent, [2.5, 97.5]))
    return out


def _resample_interval(normalisation, base, compare) -> tuple[float, float]:
    days = normalisation.resample_days
    means = normalisation.resample_daily_means
    if days is None or means is None:
        return np.nan, np.nan
    index = pd.Index(days)
    one = (index >= base[0]) & (index <= base[1])
    two = (index >= compare[0]) & (index <= compare[1])
    if not one.any() or not two.any():
        return np.nan, np.nan
    m1 = means[:, one].mean(axis=1)
    m2 = means[:, two].mean(axis=1)
    percent = 100.0 * (m2 - m1) / m1
    low, high = np.percentile(percent, [2.5, 97.5])
    return float(low), float(high)


def trend_report(normalisation, unit: str, base=None, compare=None, *, seed: int = 0,
                 block_days: int = 7, resamples: int = 1000) -> dict:
    """Observed and normalised trend and change of one unit, with the weather's share.

    Parameters
    ----------
    normalisation : sourcegrid.weather.normalise.Normalisation
    unit : str
        Station, cell or city name for the row.
    base, compare : (date, date), optional
        The periods compared (default :func:`default_periods`).

    Returns
    -------
    dict
        unit, base_from, base_to, compare_from, compare_to; for ``observed`` and
        ``normalised``: slope, slope_low, slope_high [unit/yr], slope_percent
        [%/yr], base_mean, compare_mean, change, change_percent and its interval;
        normalised_change_percent_weather_low/high (interval over the weather
        draws); weather_change [unit], weather_share_percent [%]; r2, rmse
        (out-of-sample), resamples, model, resampling.
    """
    series = normalisation.series
    observed_daily = daily_means(series["time"], series["observed"])
    normalised_daily = daily_means(series["time"], series["normalised"])
    if base is None or compare is None:
        base, compare = default_periods(observed_daily.index)
    row = {"unit": unit, "base_from": base[0], "base_to": base[1], "compare_from": compare[0],
           "compare_to": compare[1]}
    for name, daily in (("observed", observed_daily), ("normalised", normalised_daily)):
        slope = theil_sen(series["time"], series[name])
        change = period_change(daily, base, compare, block_days=block_days,
                               resamples=resamples, seed=seed)
        for key, value in {**slope, **change}.items():
            row[f"{name}_{key}"] = value
    low, high = _resample_interval(normalisation, base, compare)
    row["normalised_change_percent_weather_low"] = low
    row["normalised_change_percent_weather_high"] = high
    observed_change = row["observed_change"]
    row["weather_change"] = observed_change - row["normalised_change"]
    row["weather_share_percent"] = (100.0 * row["weather_change"] / observed_change
                                    if observed_change else np.nan)
    row["r2"] = normalisation.skill.get("r2", np.nan)
    row["rmse"] = normalisation.skill.get("rmse", np.nan)
    row["resamples"] = normalisation.resampling_parameters.samples if (
        normalisation.resample_daily_means is None) else normalisation.resample_daily_means.shape[0]
    row["model"] = normalisation.model_parameters.name
    row["resampling"] = normalisation.resampling_parameters.name
    return row
