"""Good days (优良天数): days with AQI ≤ 100, their share, days by category, year on year.

A day is *good* (优良) when its daily AQI is at most 100 (categories 优 and 良).
The good-day ratio is good days over valid days (days with a published daily
AQI) [%]. A city's daily AQI comes from city concentrations: the mean over its
stations of each hourly concentration, then the daily statistics and AQI of
HJ 633 (:func:`sourcegrid.quality.aqi.daily`), as the national network computes
a city's values from the arithmetic mean of its assessment stations.

Comparisons are with the same period a year before; a period that contains
29 February is compared with one ending on 28 February. Differences are in days
and, for the ratio, in percentage points.

References
----------
.. [1] HJ 633-2012 Table 2 and HJ 633-2026 Table 1 (AQI levels and categories).
.. [2] HJ 663-2013 环境空气质量评价技术规范（试行）: city values from the mean of the city's
   assessment stations; 优良天数比例 = good days / valid days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd

from sourcegrid.errors import InputError, Problem, problems_frame
from sourcegrid.io.tables import ROW, SOURCE, with_row_numbers
from sourcegrid.quality.composite import as_date, as_pandas
from sourcegrid.standards import hj633

__all__ = [
    "GOOD_AQI_MAX",
    "CATEGORY_COLUMNS",
    "category_of",
    "good_days",
    "same_period_last_year",
    "year_on_year",
    "assess_good_days",
    "city_hourly",
    "MEAN_ROW",
    "normalize_daily_aqi",
    "AQI_MAX",
]

#: A good day has a daily AQI ≤ 100 (优 or 良; HJ 633 Table 2 / 2026 Table 1).
GOOD_AQI_MAX = 100
#: Category columns of the output, in level order.
CATEGORY_COLUMNS = tuple(hj633.CATEGORIES)
#: Unit label of the row that averages all units (e.g. a province over its cities).
MEAN_ROW = "(mean)"


#: HJ 633 IAQI tables end at 500.
AQI_MAX = 500

_HEADER_ALIASES = {
    "日期": "date", "监测日期": "date", "day": "date",
    "站点编号": "site_id", "站点": "site_id", "站点代码": "site_id", "城市": "site_id",
    "site": "site_id", "station": "site_id", "station_id": "site_id",
    "空气质量指数": "aqi", "AQI": "aqi",
}


def normalize_daily_aqi(frame: pd.DataFrame, *, source: str = "frame",
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A daily AQI table (date, site_id, aqi) and its rejects.

    Parameters
    ----------
    frame : pandas.DataFrame
        Text table with date, site_id and aqi columns (Chinese headers accepted: 日期,
        站点, 空气质量指数/AQI). An empty AQI is a day without a published AQI (kept, not
        valid).
    source : str
        File name for the rejects.

    Returns
    -------
    (table, rejects)
        table: date (datetime.date), site_id, aqi (float); rejects: every bad value with
        row, column, value, reason (bad_date, missing_site, not_a_number, negative_value,
        out_of_range above 500) and message. Rejected rows are left out of the table.

    Raises
    ------
    InputError
        When a required column is missing (all of them listed).
    """
    frame = with_row_numbers(frame, source, _HEADER_ALIASES)
    missing = [c for c in ("date", "site_id", "aqi") if c not in frame.columns]
    if missing:
        raise InputError([Problem(source, 1, c, "", "missing_column",
                                  f"required column {c!r} is missing") for c in missing],
                         f"cannot read daily AQI from {source}")
    value = pd.to_numeric(frame["aqi"], errors="coerce")
    parsed = pd.to_datetime(frame["date"], errors="coerce")
    site = frame["site_id"].astype("string").str.strip()
    checks = [
        (parsed.isna(), "date", "bad_date", "expected a date such as 2020-01-31"),
        (site.isna() | (site == ""), "site_id", "missing_site", "expected a site id"),
        (frame["aqi"].notna() & value.isna(), "aqi", "not_a_number", "expected a number"),
        (value < 0, "aqi", "negative_value", "expected an AQI >= 0"),
        (value > AQI_MAX, "aqi", "out_of_range", "expected an AQI of at most 500 (HJ 633)"),
    ]
    problems = []
    bad = pd.Series(False, index=frame.index)
    for mask, column, reason, message in checks:
        mask = mask.fillna(False).astype(bool)
        bad |= mask
        problems += [Problem(str(s), int(r), column, "" if v is None else str(v), reason, message)
                     for s, r, v in zip(frame.loc[mask, SOURCE], frame.loc[mask, ROW],
                                        frame.loc[mask, column], strict=True)]
    table = pd.DataFrame({"date": parsed[~bad].dt.date, "site_id": site[~bad].astype(str),
                          "aqi": value[~bad].astype(float)}).reset_index(drop=True)
    return table, problems_frame(problems)


def category_of(aqi) -> np.ndarray:
    """AQI category (优 ... 严重污染) of daily AQI values; '' where the AQI is NaN.

    References
    ----------
    HJ 633-2012 Table 2; HJ 633-2026 Table 1: 0-50 优, 51-100 良, 101-150 轻度污染,
    151-200 中度污染, 201-300 重度污染, > 300 严重污染.
    """
    values = np.asarray(aqi, dtype=float)
    level = np.searchsorted(np.asarray(hj633.LEVEL_UPPER_AQI, float), values, side="left")
    names = np.array(hj633.CATEGORIES, dtype=object)
    return np.where(np.isnan(values), "", names[level])


def good_days(daily_aqi: pd.DataFrame, start, end, *, by: str = "site_id") -> pd.DataFrame:
    """Good days, their ratio and days by category per unit over a period.

    Parameters
    ----------
    daily_aqi : pandas.DataFrame or ibis.Table
        One row per unit and day: date, the ``by`` column and aqi (NaN or NA where the AQI
        is not published).
    start, end : date or str
        First and last day (inclusive).
    by : str
        Unit column (site_id; a city's rows carry the city in site_id).

    Returns
    -------
    pandas.DataFrame
        unit, period_from, period_to, calendar_days, valid_days, good_days, good_ratio [%],
        one column per category (优 ... 严重污染) [days], missing_days (calendar days without
        a valid AQI).
    """
    start, end = as_date(start), as_date(end)
    if end < start:
        raise ValueError(f"period end {end} is before its start {start}")
    daily_aqi = as_pandas(daily_aqi).reset_index(drop=True)
    dates = pd.to_datetime(daily_aqi["date"]).dt.date
    inside = daily_aqi.loc[(dates >= start) & (dates <= end)]
    aqi = pd.to_numeric(inside["aqi"], errors="coerce").to_numpy(dtype=float)
    data = pd.DataFrame({"unit": inside[by].astype(str).to_numpy(),
                         "date": dates.loc[inside.index].to_numpy(),
                         "aqi": aqi, "category": category_of(aqi)})
    duplicated = data.loc[data["aqi"].notna()].duplicated(["unit", "date"])
    if duplicated.any():
        rows = data.loc[data["aqi"].notna()].loc[duplicated]
        raise InputError([Problem("daily AQI", None, "date", str(d), "duplicate_day",
                                  f"expected one daily AQI per unit and day ({u})")
                          for u, d in zip(rows["unit"], rows["date"], strict=True)],
                         "cannot count good days")
    units = sorted(daily_aqi[by].astype(str).unique())
    valid = data.loc[data["aqi"].notna()]
    counts = pd.crosstab(valid["unit"], valid["category"]).reindex(
        index=units, columns=list(CATEGORY_COLUMNS), fill_value=0)
    out = pd.DataFrame({"unit": units})
    out["period_from"] = start
    out["period_to"] = end
    out["calendar_days"] = (end - start).days + 1
    out["valid_days"] = counts.sum(axis=1).to_numpy()
    good = valid["aqi"] <= GOOD_AQI_MAX
    out["good_days"] = valid.loc[good].groupby("unit").size().reindex(units, fill_value=0
                                                                       ).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["good_ratio"] = np.where(out["valid_days"] > 0,
                                     100.0 * out["good_days"] / out["valid_days"], np.nan)
    for category in CATEGORY_COLUMNS:
        out[category] = counts[category].to_numpy()
    out["missing_days"] = out["calendar_days"] - out["valid_days"]
    return out


def same_period_last_year(start, end) -> tuple[dt.date, dt.date]:
    """The same period one year earlier; 29 February becomes 28 February."""
    def back(day: dt.date) -> dt.date:
        try:
            return day.replace(year=day.year - 1)
        except ValueError:  # 29 February
            return day.replace(year=day.year - 1, day=28)
    return back(as_date(start)), back(as_date(end))


def year_on_year(current: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """Good days compared with the same period a year before.

    Parameters
    ----------
    current, previous : pandas.DataFrame
        Outputs of :func:`good_days` for the period and for the period a year before.

    Returns
    -------
    pandas.DataFrame
        ``current`` plus previous_good_days, previous_good_ratio, good_days_change [days]
        and good_ratio_change [percentage points].
    """
    before = previous[["unit", "good_days", "good_ratio", "valid_days"]].rename(columns={
        "good_days": "previous_good_days", "good_ratio": "previous_good_ratio",
        "valid_days": "previous_valid_days"})
    out = current.merge(before, on="unit", how="left")
    out["good_days_change"] = out["good_days"] - out["previous_good_days"]
    out["good_ratio_change"] = out["good_ratio"] - out["previous_good_ratio"]
    return out


def _mean_row(frame: pd.DataFrame) -> pd.DataFrame:
    numeric = [c for c in frame.columns if c not in ("unit", "period_from", "period_to")
               and pd.api.types.is_numeric_dtype(frame[c])]
    row = frame[numeric].mean(numeric_only=True).to_frame().T
    row.insert(0, "unit", MEAN_ROW)
    row.insert(1, "period_from", frame["period_from"].iloc[0])
    row.insert(2, "period_to", frame["period_to"].iloc[0])
    return row


def assess_good_days(daily_aqi: pd.DataFrame, start, end, *, by: str = "site_id",
                     compare: bool = True, mean_row: bool = True) -> pd.DataFrame:
    """Good days per unit, compared with a year before, with a mean row over the units.

    Parameters
    ----------
    daily_aqi : pandas.DataFrame
        date, ``by`` and aqi per unit and day; it should cover the year-earlier period
        too when ``compare``.
    start, end : date or str
        The period (inclusive).
    compare : bool
        Add the year-on-year columns (see :func:`year_on_year`).
    mean_row : bool
        Append a row ``(mean)``: the mean over the units of every number (e.g. 'good days
        on average' over a province's cities). Its change columns are the mean of the
        units' changes.
    """
    current = good_days(daily_aqi, start, end, by=by)
    if compare:
        previous = good_days(daily_aqi, *same_period_last_year(start, end), by=by)
        current = year_on_year(current, previous)
    if mean_row and len(current) > 1:
        current = pd.concat([current, _mean_row(current)], ignore_index=True)
    return current


def city_hourly(readings: pd.DataFrame, site_city: Mapping[str, str] | pd.Series,
                ) -> pd.DataFrame:
    """City hourly concentrations: the mean over the city's stations of each hour.

    Parameters
    ----------
    readings : pandas.DataFrame
        Hourly readings (time, site_id, pollutant, value), e.g.
        ``ObservationBatch.readings``.
    site_city : mapping or pandas.Series
        Station id → city; a station without a city is an error (listed).

    Returns
    -------
    pandas.DataFrame
        time, site_id (the city), pollutant, value [µg/m³; CO mg/m³], stations.
    """
    mapping = pd.Series(site_city, dtype=object)
    mapping.index = mapping.index.astype(str)
    city = readings["site_id"].astype(str).map(mapping)
    unknown = sorted(set(readings.loc[city.isna(), "site_id"].astype(str)))
    if unknown:
        raise InputError([Problem("readings", None, "site_id", s, "no_city",
                                  "station has no city; give its city in the city column")
                          for s in unknown], "cannot compute city values")
    data = readings.assign(site_id=city.astype(str))
    return data.groupby(["time", "site_id", "pollutant"], sort=True).agg(
        value=("value", "mean"), stations=("value", "count")).reset_index()
