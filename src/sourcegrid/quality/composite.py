"""The ambient air quality composite index (环境空气质量综合指数) of HJ 663.

Internal units: µg/m³, except CO in mg/m³. Dates are calendar days in Beijing time.

Input is a table of *daily* values per site (or city): date, site_id,
pollutant, value, where the O3 value of a day is its daily maximum 8-hour mean
(as :func:`sourcegrid.quality.averaging.daily_statistics` gives it in column
``O3_8h_max``). Steps, each a pure function:

1. :func:`daily_long` — long or wide daily table → long (date, site_id, pollutant, value);
2. :func:`city_daily` — a city's daily value of each pollutant is the mean of its
   stations' valid daily values (the stations are the city's assessment sites). From
   hourly readings, the city's hourly values are the mean of its stations first
   (:func:`sourcegrid.quality.gooddays.city_hourly`) and its daily values follow from
   those, as for a station (what the ``composite`` command does);
3. :func:`period_statistics` — per unit and pollutant the period statistic (mean
   of SO2, NO2, PM10, PM2.5; 95th percentile of CO daily means; 90th percentile of
   O3 daily max 8-h means, by the HJ 663 percentile rule), the number of valid
   days and a validity flag (GB 3095 Table 4);
4. :func:`composite_index` — single-item indices I_i = C_i / S_i and their
   (weighted) sum, the pollutant with the largest single index;
5. :func:`rank_units` and :func:`change_percent` — ranking (lowest index first,
   ties share a rank) and change against a base period [%].

Validity of a period (GB 3095-2026 Table 4; GB 3095-2012 Table 4): an annual
statistic needs at least 324 valid daily values in the year and at least 27 in
each month (25 in February). For periods other than whole years, the month rule
is applied to every calendar month wholly inside the period, and a whole-year
period also needs 324 days; a partial month at either end is not checked.
Table 4 states the rule for SO2, NO2, PM10, PM2.5 (annual means); sourcegrid
applies the same day counts to the CO and O3 percentiles, as their statistic is
taken over the same daily series. An invalid statistic is still computed and
reported, flagged ``valid = False`` with the months that fall short.

References
----------
.. [1] HJ 663-2013 环境空气质量评价技术规范（试行）, §4 (Table 1), §5 and Appendix A.
.. [2] 城市环境空气质量排名技术规定 (环办监测〔2018〕19号).
.. [3] GB 3095-2026 Table 1, §4.4 and Table 4; GB 3095-2012 Tables 1 and 4.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd

from sourcegrid.errors import InputError, NotFoundError, Problem
from sourcegrid.quality.percentile import grouped_hj663_percentile
from sourcegrid.standards import gb3095
from sourcegrid.standards.hj663 import (
    COMPOSITE_POLLUTANTS,
    COMPOSITE_STATISTICS,
    composite_limits,
    composite_weights,
)

__all__ = [
    "O3_DAILY_ALIASES",
    "daily_long",
    "city_daily",
    "period_statistics",
    "composite_index",
    "rank_units",
    "change_percent",
    "assess_composite",
    "as_date",
    "as_pandas",
]

#: Names the O3 daily maximum 8-hour mean goes by in daily tables.
O3_DAILY_ALIASES = ("O3_8h_max", "O3_8h", "O3-8h", "O3_8H", "O3-8H", "O3_MDA8", "MDA8",
                    "臭氧8小时", "O3_8小时")


def as_pandas(table) -> pd.DataFrame:
    """A pandas DataFrame from a DataFrame or an Ibis table (executed on its backend)."""
    if isinstance(table, pd.DataFrame):
        return table
    to_pandas = getattr(table, "to_pandas", None)
    if to_pandas is None:
        raise TypeError(f"expected a pandas DataFrame or an Ibis table, got "
                        f"{type(table).__name__}")
    return to_pandas()


def as_date(value) -> dt.date:
    """A date from a date, a datetime, a Timestamp or ISO text ('2020-01-31')."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(str(value)).date()


def daily_long(table) -> pd.DataFrame:
    """Daily values as a long table: date, site_id, pollutant, value.

    Parameters
    ----------
    table : pandas.DataFrame or ibis.Table
        Long (date, site_id, pollutant, value) or wide (date, site_id and a column per
        pollutant, such as the output of ``averaging.daily_statistics``). The O3 daily
        maximum 8-hour mean may be called O3, O3_8h_max, O3_8h or O3-8h; a wide table's
        O3_1h_max column is not used.

    Returns
    -------
    pandas.DataFrame
        date (datetime.date), site_id (str), pollutant (one of the six), value (float,
        NaN where not valid) [µg/m³; CO mg/m³].
    """
    frame = as_pandas(table).copy()
    missing = [c for c in ("date", "site_id") if c not in frame.columns]
    if missing:
        raise InputError([Problem("daily table", 1, c, "", "missing_column",
                                  f"required column {c!r} is missing") for c in missing],
                         "cannot compute period statistics")
    if "pollutant" in frame.columns and "value" in frame.columns:
        long = frame[["date", "site_id", "pollutant", "value"]].copy()
        long["pollutant"] = long["pollutant"].astype(str).replace(
            dict.fromkeys(O3_DAILY_ALIASES, "O3"))
    else:
        renamed = {c: "O3" for c in frame.columns if c in O3_DAILY_ALIASES}
        if renamed and "O3" in frame.columns:
            frame = frame.drop(columns="O3")
        frame = frame.rename(columns=renamed)
        columns = [p for p in COMPOSITE_POLLUTANTS if p in frame.columns]
        long = frame.melt(id_vars=["date", "site_id"], value_vars=columns,
                          var_name="pollutant", value_name="value")
    long = long.loc[long["pollutant"].isin(COMPOSITE_POLLUTANTS)].copy()
    long["date"] = pd.to_datetime(long["date"]).dt.date
    long["site_id"] = long["site_id"].astype(str)
    long["value"] = pd.to_numeric(long["value"], errors="coerce").astype(float)
    return long.reset_index(drop=True)


def city_daily(daily: pd.DataFrame, site_city: Mapping[str, str] | pd.Series,
               ) -> pd.DataFrame:
    """A city's daily values: the mean of its stations' valid daily values.

    Parameters
    ----------
    daily : pandas.DataFrame
        Long daily table (date, site_id, pollutant, value).
    site_city : mapping or pandas.Series
        Station id → city. Stations without a city are an error (listed).

    Returns
    -------
    pandas.DataFrame
        date, site_id (the city), pollutant, value, stations (valid stations that day).
    """
    mapping = pd.Series(site_city, dtype=object)
    mapping.index = mapping.index.astype(str)
    city = daily["site_id"].map(mapping)
    unknown = sorted(set(daily.loc[city.isna(), "site_id"]))
    if unknown:
        raise InputError([Problem("daily table", None, "site_id", s, "no_city",
                                  "station has no city; give its city in the city column")
                          for s in unknown], "cannot compute city values")
    data = daily.assign(site_id=city.astype(str))
    out = data.groupby(["date", "site_id", "pollutant"], sort=True).agg(
        value=("value", "mean"), stations=("value", "count")).reset_index()
    return out


def period_statistics(daily: pd.DataFrame, start, end, *, by: str = "site_id",
                      ) -> pd.DataFrame:
    """Period statistics of the six pollutants per unit, with validity.

    Parameters
    ----------
    daily : pandas.DataFrame
        Long daily table (see :func:`daily_long`); NaN values are invalid days.
    start, end : date or str
        First and last day of the period (inclusive).
    by : str
        Unit column (site_id, or city after :func:`city_daily`, which keeps the name
        site_id).

    Returns
    -------
    pandas.DataFrame
        unit (the ``by`` values), pollutant, statistic ('mean', 'p95', 'p90'), value
        [µg/m³; CO mg/m³], days (valid daily values), valid (bool), short_months
        (';'-joined YYYY-MM of whole months below the day count, and 'year' when a
        whole-year period has fewer than 324 days).

    References
    ----------
    HJ 663-2013 §4 (Table 1), §5 and Appendix A; GB 3095-2026 Table 4.
    """
    start, end = as_date(start), as_date(end)
    if end < start:
        raise ValueError(f"period end {end} is before its start {start}")
    mask = (daily["date"] >= start) & (daily["date"] <= end) & daily["value"].notna()
    data = daily.loc[mask, [by, "date", "pollutant", "value"]]
    units = sorted(daily[by].astype(str).unique())
    grid = pd.MultiIndex.from_product([units, list(COMPOSITE_POLLUTANTS)],
                                      names=["unit", "pollutant"]).to_frame(index=False)
    data = data.rename(columns={by: "unit"})
    means = data.groupby(["unit", "pollutant"])["value"].agg(["mean", "size"])
    out = grid.merge(means.reset_index(), on=["unit", "pollutant"], how="left")
    out["days"] = out["size"].fillna(0).astype(int)
    out["statistic"] = "mean"
    out["value"] = out["mean"]
    for pollutant, (kind, p) in COMPOSITE_STATISTICS.items():
        if kind != "percentile":
            continue
        subset = data.loc[data["pollutant"] == pollutant]
        percentiles = grouped_hj663_percentile(subset, ["unit"], "value", p)
        lookup = dict(zip(percentiles["unit"], percentiles["percentile"], strict=True))
        rows = out["pollutant"] == pollutant
        out.loc[rows, "value"] = out.loc[rows, "unit"].map(lookup)
        out.loc[rows, "statistic"] = f"p{int(p)}"
    out["short_months"] = _short_months(data, out, start, end)
    out["valid"] = (out["short_months"] == "") & (out["days"] > 0)
    return out[["unit", "pollutant", "statistic", "value", "days", "valid", "short_months"]]


def _short_months(data: pd.DataFrame, out: pd.DataFrame, start: dt.date,
                  end: dt.date) -> list[str]:
    """The months (and whole years) whose valid days fall below GB 3095 Table 4."""
    months = [m for m in pd.period_range(start, end, freq="M")
              if m.start_time.date() >= start and m.end_time.date() <= end]
    years = [y for y in range(start.year, end.year + 1)
             if dt.date(y, 1, 1) >= start and dt.date(y, 12, 31) <= end]
    if not months and not years:
        return [""] * len(out)
    stamp = pd.to_datetime(data["date"])
    month_counts = data.groupby(["unit", "pollutant", stamp.dt.to_period("M")]).size().to_dict()
    year_counts = data.groupby(["unit", "pollutant", stamp.dt.year]).size().to_dict()
    required = {m: (gb3095.MIN_VALID_DAYS_FEBRUARY if m.month == 2
                    else gb3095.MIN_VALID_DAYS_MONTH) for m in months}
    texts = []
    for unit, pollutant in zip(out["unit"], out["pollutant"], strict=True):
        short = [str(m) for m in months
                 if month_counts.get((unit, pollutant, m), 0) < required[m]]
        short += [str(y) for y in years
                  if year_counts.get((unit, pollutant, y), 0) < gb3095.MIN_VALID_DAYS_YEAR]
        texts.append(";".join(short))
    return texts


def composite_index(statistics: pd.DataFrame, *, edition: str | None = None,
                    date: dt.date | None = None, weights: str = "equal") -> pd.DataFrame:
    """Single-item indices and the composite index per unit.

    Parameters
    ----------
    statistics : pandas.DataFrame
        Output of :func:`period_statistics` (unit, pollutant, value, days, valid).
    edition : {'2012', '2026'}, optional
        GB 3095 edition of the limits S_i; None: the edition in force on ``date``.
    date : datetime.date, optional
        A date of the period (its last day), choosing the edition and, for 2026, the
        transition limits (until 2030-12-31).
    weights : {'equal', 'ranking_2018'}
        Weights of the single indices: 'equal' (HJ 663, all 1) or 'ranking_2018'
        (PM2.5 3, NO2 2, O3 2, others 1).

    Returns
    -------
    pandas.DataFrame
        One row per unit: unit, edition, C_<pollutant> [µg/m³; CO mg/m³],
        I_<pollutant> = C_i / S_i [-], composite_index = Σ w_i I_i [-], max_index_pollutant
        (the largest I_i; ';'-joined on ties), valid (all six statistics valid),
        invalid (the pollutants whose statistic is not valid or missing).

    References
    ----------
    HJ 663-2013; 城市环境空气质量排名技术规定; GB 3095 Table 1 (Grade II).
    """
    if edition is None:
        if date is None:
            raise NotFoundError("GB 3095 edition", "None (give an edition or a date)",
                                gb3095.EDITIONS)
        edition = gb3095.edition_for_date(date)
    edition = gb3095.check_edition(edition)
    limits = composite_limits(edition, date)
    weight = composite_weights(weights)
    wide = statistics.pivot(index="unit", columns="pollutant", values="value").reindex(
        columns=list(COMPOSITE_POLLUTANTS))
    valid = statistics.pivot(index="unit", columns="pollutant", values="valid").reindex(
        columns=list(COMPOSITE_POLLUTANTS)).fillna(False).astype(bool)
    concentration = wide.to_numpy(dtype=float)
    limit = np.array([limits[p] for p in COMPOSITE_POLLUTANTS])
    index = concentration / limit
    out = pd.DataFrame({"unit": wide.index.astype(str), "edition": edition})
    for j, pollutant in enumerate(COMPOSITE_POLLUTANTS):
        out[f"C_{pollutant}"] = concentration[:, j]
    for j, pollutant in enumerate(COMPOSITE_POLLUTANTS):
        out[f"I_{pollutant}"] = index[:, j]
    w = np.array([weight[p] for p in COMPOSITE_POLLUTANTS])
    total = (index * w).sum(axis=1)
    complete = ~np.isnan(index).any(axis=1)
    out["composite_index"] = np.where(complete, total, np.nan)
    largest = np.nanmax(np.where(np.isnan(index), -np.inf, index), axis=1)
    names = np.array(COMPOSITE_POLLUTANTS, dtype=object)
    out["max_index_pollutant"] = [
        ";".join(names[np.isclose(row, top, rtol=0, atol=1e-12)]) if np.isfinite(top) else ""
        for row, top in zip(index, largest, strict=True)]
    ok = valid.to_numpy() & ~np.isnan(index)
    out["valid"] = ok.all(axis=1)
    out["invalid"] = [";".join(names[~row]) for row in ok]
    return out


def rank_units(composite: pd.DataFrame, column: str = "composite_index") -> pd.Series:
    """Rank of each unit, 1 for the lowest (best) index; equal values share a rank (并列).

    Units without a value get no rank (NA).
    """
    return composite[column].rank(method="min", ascending=True).astype("Int64")


def change_percent(current, base):
    """Change against a base value [%]: (current − base) / base × 100.

    Negative is an improvement of an index (lower is better). NaN when the base is 0 or
    missing.
    """
    current = np.asarray(current, dtype=float)
    base = np.asarray(base, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(base != 0, (current - base) / base * 100.0, np.nan)


def assess_composite(daily: pd.DataFrame, period: tuple, *, base_period: tuple | None = None,
                     edition: str | None = None, weights: str = "equal") -> pd.DataFrame:
    """Composite index of each unit over a period, ranked, with the change from a base period.

    Parameters
    ----------
    daily : pandas.DataFrame
        Long daily table (date, site_id, pollutant, value); for cities apply
        :func:`city_daily` first.
    period : (start, end)
        The assessed period (inclusive dates).
    base_period : (start, end), optional
        The base period; its index uses the *same* limits as the assessed period, so the
        change reflects concentrations, not a change of standard.
    edition : {'2012', '2026'}, optional
        GB 3095 edition; default: the edition in force on the last day of ``period``.
    weights : {'equal', 'ranking_2018'}
        See :func:`composite_index`.

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`composite_index` plus period_from, period_to, days (fewest
        valid days over the six pollutants), short_months, rank; with a base period also
        base_composite_index, base_valid and change_percent [%].
    """
    start, end = as_date(period[0]), as_date(period[1])
    statistics = period_statistics(daily, start, end)
    result = composite_index(statistics, edition=edition, date=end, weights=weights)
    edition = result["edition"].iloc[0] if len(result) else (edition or
                                                              gb3095.edition_for_date(end))
    summary = statistics.groupby("unit").agg(
        days=("days", "min"),
        short_months=("short_months", lambda s: ";".join(sorted({m for t in s if t
                                                                 for m in t.split(";")}))))
    result = result.merge(summary.reset_index(), on="unit", how="left")
    result.insert(1, "period_from", start)
    result.insert(2, "period_to", end)
    result["rank"] = rank_units(result)
    if base_period is not None:
        base_start, base_end = as_date(base_period[0]), as_date(base_period[1])
        base_statistics = period_statistics(daily, base_start, base_end)
        base = composite_index(base_statistics, edition=edition, date=end, weights=weights)
        base = base[["unit", "composite_index", "valid"]].rename(
            columns={"composite_index": "base_composite_index", "valid": "base_valid"})
        result = result.merge(base, on="unit", how="left")
        result["base_from"] = base_start
        result["base_to"] = base_end
        result["change_percent"] = change_percent(result["composite_index"],
                                                  result["base_composite_index"])
    return result.sort_values(["rank", "unit"], na_position="last").reset_index(drop=True)
