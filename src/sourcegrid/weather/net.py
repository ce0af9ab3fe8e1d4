"""Changes net of weather for the composite index, good days and targets reports.

A bureau's question -- the composite index fell 19.8 %, good days rose 16.5:
how much of it was the weather? -- is answered by computing the same report on
weather-normalised concentrations (each station and pollutant normalised for the
weather with the time kept, :mod:`sourcegrid.weather.normalise`) and putting
its change beside the observed one:

* composite index (HJ 663): ``change_percent_net_of_weather`` is the change of
  the index computed from normalised hourly values, and
  ``weather_share_percent`` = 100 (Δ_observed − Δ_net)/Δ_observed;
* good days (HJ 633): ``good_days_net_of_weather`` and its year-on-year change,
  from the daily AQI of normalised concentrations;
* targets: for an indicator that is a pollutant in the readings, the observed
  and normalised change of the annual means from the base year to the current
  year and ``current_value_net_of_weather`` = base value × (1 + normalised
  change), i.e. where the indicator would stand had the weather of both years
  been the average weather.

The normalised values are a counterfactual "average weather" level: use them
for changes, not as the reported concentrations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sourcegrid.errors import InputError, NotFoundError, Problem

__all__ = ["WEATHER_SETS", "weather_set", "normalised_readings", "met_for_sites",
           "add_net_of_weather", "targets_net_of_weather", "composite_net_of_weather",
           "good_days_net_of_weather", "targets_net_of_weather_from_file", "NET_COLUMNS"]

#: Columns :func:`targets_net_of_weather` adds.
NET_COLUMNS = ["observed_change_percent", "normalised_change_percent", "weather_share_percent",
               "current_value_net_of_weather"]

#: Named pairs (model set, resampling set) for the reports' ``--weather-set``.
WEATHER_SETS = {"deweather": ("deweather", "deweather"), "rmweather": ("rmweather", "rmweather"),
                "quick": ("quick", "quick")}

#: Pollutants the reports use.
REPORT_POLLUTANTS = ("SO2", "NO2", "CO", "PM10", "PM2.5", "O3")


def weather_set(name: str) -> tuple[str, str]:
    """The (model, resampling) set names of a weather set; a wrong name lists the valid ones."""
    if name not in WEATHER_SETS:
        raise NotFoundError("weather set", name, tuple(WEATHER_SETS))
    return WEATHER_SETS[name]


def met_for_sites(met: pd.DataFrame, sites) -> dict[str, pd.DataFrame]:
    """The met table of each site: its own rows if the weather file has the site, else
    the mean over the weather file's sites (a city's weather; wind as a vector mean)."""
    from sourcegrid.weather.inputs import city_series

    units = sorted(met["unit"].astype(str).unique())
    mean = None
    out = {}
    for site in sorted({str(s) for s in sites}):
        if site in units:
            out[site] = met[met["unit"].astype(str) == site]
            continue
        if mean is None:
            if len(units) == 1:
                mean = met
            else:
                columns = [c for c in met.columns if c not in ("unit", "time")]
                first = "TEMP" if "TEMP" in columns else columns[0]
                mean = city_series(met.rename(columns={first: "value"}), "mean").rename(
                    columns={"value": first}).drop(columns="units")
        out[site] = mean
    return out


def normalised_readings(readings: pd.DataFrame, met: pd.DataFrame, *, weather: str = "deweather",
                        seed: int = 0, pollutants=REPORT_POLLUTANTS,
                        min_hours: int = 200, skill: bool = False
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hourly readings with each value replaced by its weather-normalised value.

    Parameters
    ----------
    readings : pandas.DataFrame
        time (UTC), site_id, pollutant, value (as ``ObservationBatch.readings``).
    met : pandas.DataFrame
        unit, time and met columns (:func:`sourcegrid.weather.inputs.series_from_file`
        without its value column, or a city's met for all sites).
    weather : str
        A name of :data:`WEATHER_SETS`.
    skill : bool
        Also compute each model's out-of-sample skill (one more fit per model).

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The normalised readings (same columns) and the skill per site and
        pollutant (site_id, pollutant, r2, rmse, hours).
    """
    from sourcegrid.weather.normalise import normalise
    from sourcegrid.weather.panel import met_columns

    model, resampling = weather_set(weather)
    hourly = readings.assign(time=pd.to_datetime(readings["time"], utc=True).dt.floor("h"))
    hourly = hourly[hourly["pollutant"].isin(pollutants)]
    hourly = hourly.groupby(["site_id", "pollutant", "time"], as_index=False)["value"].mean()
    lookup = met_for_sites(met, hourly["site_id"].unique())
    pieces, skills = [], []
    for (site, pollutant), group in hourly.groupby(["site_id", "pollutant"], sort=True):
        site_met = lookup[str(site)]
        columns = met_columns(site_met)
        joined = group.merge(site_met.drop(columns="unit").drop_duplicates("time"),
                             on="time", how="left")
        if int(joined["value"].notna().sum()) < min_hours:
            skills.append({"site_id": site, "pollutant": pollutant, "r2": np.nan,
                           "rmse": np.nan, "hours": len(joined), "note": "too few hours"})
            continue
        result = normalise(joined["time"].to_numpy(), joined["value"].to_numpy(),
                           joined[columns], model=model, resampling=resampling, seed=seed,
                           keep_resamples=False, min_hours=min_hours, skill=skill)
        series = result.series.dropna(subset=["normalised"])
        pieces.append(pd.DataFrame({"time": series["time"], "site_id": site,
                                    "pollutant": pollutant, "value": series["normalised"]}))
        skills.append({"site_id": site, "pollutant": pollutant, "r2": result.skill.get("r2"),
                       "rmse": result.skill.get("rmse"), "hours": len(series), "note": ""})
    if not pieces:
        raise InputError([Problem("readings", None, "value", "", "too_few_hours",
                                  f"expected at least {min_hours} hours per site and pollutant "
                                  "with meteorology")], "cannot compute the change net of weather")
    out = pd.concat(pieces, ignore_index=True)
    out["time"] = pd.to_datetime(out["time"], utc=True)
    return out, pd.DataFrame(skills)


def add_net_of_weather(observed: pd.DataFrame, normalised: pd.DataFrame, key: str,
                       columns: dict[str, str], change: tuple[str, str] | None = None
                       ) -> pd.DataFrame:
    """Put a report's columns computed on normalised values beside the observed ones.

    Parameters
    ----------
    observed, normalised : pandas.DataFrame
        The same report on measured and on normalised concentrations.
    key : str
        The unit column (site_id or city).
    columns : dict
        Column of the report → name of its net-of-weather copy.
    change : (str, str), optional
        (observed change column, its net-of-weather name): adds
        ``weather_change`` = observed − net and ``weather_share_percent``.
    """
    copy = normalised[[key, *columns]].rename(columns=columns)
    out = observed.merge(copy, on=key, how="left")
    if change is not None:
        seen, net = change
        out["weather_change"] = out[seen] - out[net]
        with np.errstate(divide="ignore", invalid="ignore"):
            out["weather_share_percent"] = np.where(
                out[seen] != 0, 100.0 * out["weather_change"] / out[seen], np.nan)
    return out


def targets_net_of_weather(report: pd.DataFrame, series: pd.DataFrame, *,
                           weather: str = "deweather", seed: int = 0) -> pd.DataFrame:
    """Add the change net of weather to a targets progress report.

    Parameters
    ----------
    report : pandas.DataFrame
        Output of :func:`sourcegrid.quality.targets.progress`.
    series : pandas.DataFrame
        Hourly readings with met (:func:`sourcegrid.weather.inputs.series_from_file` of
        the pollutant; several stations are averaged into the region). Used for the
        targets whose indicator is the pollutant of ``series`` (``series.attrs
        ['pollutant']``).
    weather : str
        A name of :data:`WEATHER_SETS`.

    Returns
    -------
    pandas.DataFrame
        ``report`` plus observed_change_percent (base → current value, from the
        report), normalised_change_percent (annual means of the normalised series,
        base year → current year), weather_share_percent and
        current_value_net_of_weather; NaN where the readings do not cover both years
        or the indicator is another one.
    """
    from sourcegrid.weather.inputs import city_series
    from sourcegrid.weather.normalise import normalise
    from sourcegrid.weather.panel import met_columns

    model, resampling = weather_set(weather)
    pollutant = series.attrs.get("pollutant", "PM2.5")
    city = city_series(series) if series["unit"].nunique() > 1 else series
    result = normalise(city["time"].to_numpy(), city["value"].to_numpy(),
                       city[met_columns(city)].reset_index(drop=True), model=model,
                       resampling=resampling, seed=seed, keep_resamples=False)
    frame = result.series
    year = frame["time"].dt.tz_convert("Asia/Shanghai").dt.year
    annual = frame.groupby(year)["normalised"].mean()
    out = report.copy()
    base = pd.to_numeric(out["base_year"], errors="coerce")
    now = pd.to_numeric(out["year"], errors="coerce")
    applies = (out["indicator"].astype(str) == pollutant).to_numpy()
    first = base.map(annual).to_numpy(dtype=float)
    second = now.map(annual).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        net = np.where(applies, 100.0 * (second - first) / first, np.nan)
        seen = 100.0 * (pd.to_numeric(out["current_value"], errors="coerce")
                        - out["base_value"].astype(float)) / out["base_value"].astype(float)
        out["observed_change_percent"] = np.where(applies, seen, np.nan)
        out["normalised_change_percent"] = net
        out["weather_share_percent"] = np.where(
            out["observed_change_percent"] != 0,
            100.0 * (out["observed_change_percent"] - net) / out["observed_change_percent"],
            np.nan)
    out["current_value_net_of_weather"] = out["base_value"].astype(float) * (1 + net / 100.0)
    out.attrs["weather_skill"] = result.skill
    return out


def _hourly_readings(readings):
    if readings is None:
        raise InputError([Problem("input", None, "time", "", "needs_hourly_readings",
                                  "the change net of weather needs hourly readings, not daily "
                                  "values or a daily AQI table")],
                         "cannot compute the change net of weather")
    return readings


def composite_net_of_weather(result: pd.DataFrame, readings, weather_file, *, key: str,
                             period, base=None, site_city=None, edition=None,
                             weights: str = "equal", weather: str = "deweather",
                             seed: int = 0) -> pd.DataFrame:
    """The composite index report with its values on normalised concentrations beside.

    Parameters
    ----------
    result : pandas.DataFrame
        :func:`sourcegrid.quality.composite.assess_composite` output, unit column ``key``.
    readings : pandas.DataFrame
        The hourly readings of the stations (before any city mean).
    weather_file : path
        A file with the stations' (or the city's) meteorology
        (:func:`sourcegrid.weather.inputs.met_from_file`).

    Returns
    -------
    pandas.DataFrame
        ``result`` plus composite_index_net_of_weather and, with a base period,
        base_composite_index_net_of_weather, change_percent_net_of_weather,
        weather_change and weather_share_percent [%].
    """
    from sourcegrid.quality import averaging, composite, gooddays
    from sourcegrid.weather.inputs import met_from_file

    readings = _hourly_readings(readings)
    normalised, _ = normalised_readings(readings, met_from_file(weather_file), weather=weather,
                                        seed=seed)
    if site_city:
        normalised = gooddays.city_hourly(normalised, site_city)
    table = composite.daily_long(averaging.daily_statistics(normalised))
    net = composite.assess_composite(table, period, base_period=base, edition=edition,
                                     weights=weights).rename(columns={"unit": key})
    columns = {"composite_index": "composite_index_net_of_weather"}
    change = None
    if base is not None:
        columns.update({"base_composite_index": "base_composite_index_net_of_weather",
                        "change_percent": "change_percent_net_of_weather"})
        change = ("change_percent", "change_percent_net_of_weather")
    return add_net_of_weather(result, net, key, columns, change)


def good_days_net_of_weather(result: pd.DataFrame, readings, weather_file, *, key: str, start,
                             end, compare: bool, edition=None, weather: str = "deweather",
                             seed: int = 0) -> pd.DataFrame:
    """The good days report with good days from normalised concentrations beside.

    Returns
    -------
    pandas.DataFrame
        ``result`` plus good_days_net_of_weather, good_ratio_net_of_weather and, with
        the year-on-year comparison, good_days_change_net_of_weather, weather_change
        [days] and weather_share_percent [%].
    """
    from sourcegrid.quality import aqi, gooddays
    from sourcegrid.weather.inputs import met_from_file

    readings = _hourly_readings(readings)
    normalised, _ = normalised_readings(readings, met_from_file(weather_file), weather=weather,
                                        seed=seed)
    daily = aqi.daily(normalised, edition)
    net = gooddays.assess_good_days(daily, start, end, compare=compare).rename(
        columns={"unit": key})
    columns = {"good_days": "good_days_net_of_weather",
               "good_ratio": "good_ratio_net_of_weather"}
    change = None
    if compare:
        columns["good_days_change"] = "good_days_change_net_of_weather"
        change = ("good_days_change", "good_days_change_net_of_weather")
    return add_net_of_weather(result, net, key, columns, change)


def targets_net_of_weather_from_file(report: pd.DataFrame, path, *, weather: str = "deweather",
                                     seed: int = 0) -> pd.DataFrame:
    """:func:`targets_net_of_weather` for every indicator that is a pollutant in a file.

    Parameters
    ----------
    report : pandas.DataFrame
        Output of :func:`sourcegrid.quality.targets.progress`.
    path : path
        Hourly readings of the region's stations with their meteorology (several
        stations are averaged into the region). Targets of other indicators get NaN.
    """
    from sourcegrid.observations.readers import canonical_pollutant
    from sourcegrid.weather.inputs import series_from_file

    out = report.copy()
    for column in NET_COLUMNS:
        out[column] = np.nan
    skill = {}
    for indicator in sorted(set(out["indicator"].astype(str))):
        pollutant = canonical_pollutant(indicator)
        if pollutant is None or pollutant in ("RH", "TEMP"):
            continue
        try:
            series, _ = series_from_file(path, pollutant)
        except InputError:
            continue  # the file has no such pollutant: NaN, as documented
        series.attrs["pollutant"] = indicator
        part = targets_net_of_weather(report, series, weather=weather, seed=seed)
        rows = (out["indicator"].astype(str) == indicator).to_numpy()
        out.loc[rows, NET_COLUMNS] = part.loc[rows, NET_COLUMNS].to_numpy()
        skill[indicator] = part.attrs.get("weather_skill", {})
    out.attrs["weather_skill"] = skill
    return out
