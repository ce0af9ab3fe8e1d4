"""Commands ``sourcegrid trend`` and ``sourcegrid normalise``: weather-normalised series.

Thin: parse and check the options, read the series
(:mod:`sourcegrid.weather.inputs`), normalise (:mod:`sourcegrid.weather.normalise`,
:mod:`~sourcegrid.weather.panel`), report (:mod:`sourcegrid.weather.trend`),
draw (:mod:`sourcegrid.weather.figures`) and print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sourcegrid.cli.common import FromOption, PollutantOption, ToOption, UnitOption, WorkspaceOption

TRENDS_TABLE = "weather_trends"

#: Printed columns of the trend report and their short headers (the file has them all).
SHOWN = {"unit": "unit", "observed_change_percent": "obs Δ%",
         "normalised_change_percent": "norm Δ%", "normalised_change_percent_low": "norm Δ% lo",
         "normalised_change_percent_high": "norm Δ% hi", "weather_share_percent": "weather %",
         "observed_slope": "obs slope/yr", "normalised_slope": "norm slope/yr",
         "normalised_slope_low": "lo", "normalised_slope_high": "hi", "r2": "R²",
         "rmse": "RMSE"}

FileArgument = Annotated[Path | None, typer.Argument(
    help="Hourly readings with meteorology (CSV, CSV.GZ, Parquet, XLSX; wide or long). "
         "Without it: the workspace's observations and wind.", show_default=False)]
ByOption = Annotated[str, typer.Option(
    "--by", help="station (one model per station) or city (the hourly mean of the stations).")]
ModelOption = Annotated[str, typer.Option(
    "--model", help="Model setting: deweather (boosted trees), rmweather (random forest), "
                    "quick.")]
ResamplingOption = Annotated[str, typer.Option(
    "--resampling", help="Resampling setting: deweather (±30 d, ±2 h, 200), rmweather "
                         "(all, 300), vu2019 (±14 d, 1000), quick (±30 d, ±2 h, 20).")]
SamplesOption = Annotated[int | None, typer.Option(
    "--samples", help="Number of weather resamples (default: the setting's).",
    show_default=False)]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of the model and the draws.")]
OutOption = Annotated[Path | None, typer.Option(
    "--out", "-o", help="Write the result (.csv, .parquet, .xlsx).", show_default=False)]


def _check_options(by: str, model: str, resampling: str, samples, start, end, pollutant):
    """Every option checked against its domain before any work (all problems at once)."""
    from sourcegrid.errors import InputError, Problem
    from sourcegrid.observations.readers import POLLUTANTS, canonical_pollutant
    from sourcegrid.weather.normalise import MODEL_PARAMETERS, RESAMPLING_PARAMETERS

    problems = []

    def bad(option, value, reason, message):
        problems.append(Problem("options", None, option, str(value), reason, message))

    if by not in ("station", "city"):
        bad("--by", by, "bad_choice", "expected station or city")
    if model not in MODEL_PARAMETERS:
        bad("--model", model, "unknown_name", f"expected one of {', '.join(MODEL_PARAMETERS)}")
    if resampling not in RESAMPLING_PARAMETERS:
        bad("--resampling", resampling, "unknown_name",
            f"expected one of {', '.join(RESAMPLING_PARAMETERS)}")
    if samples is not None and not 1 <= samples <= 100_000:
        bad("--samples", samples, "out_of_range", "expected a number of resamples, 1 to 100000")
    name = canonical_pollutant(pollutant)
    if name is None or name in ("RH", "TEMP"):
        bad("--pollutant", pollutant, "unknown_pollutant",
            f"expected one of {', '.join(p for p in POLLUTANTS if p not in ('RH', 'TEMP'))}")
    stamps = {}
    for option, value in (("--from", start), ("--to", end)):
        if value is None:
            continue
        try:
            from sourcegrid.grid.hotspots import to_utc

            stamps[option] = to_utc(value)
        except (ValueError, TypeError):
            bad(option, value, "bad_date", "expected a date such as 2014-01-01")
    if len(stamps) == 2 and stamps["--from"] >= stamps["--to"]:
        bad("--to", end, "bad_period", f"expected a date after --from {start}")
    if problems:
        raise InputError(problems, "invalid options")
    return name


def _periods(base, compare):
    from sourcegrid.errors import InputError, Problem
    from sourcegrid.weather.trend import parse_period

    problems, out = [], []
    for option, value in (("--base", base), ("--compare", compare)):
        if value is None:
            out.append(None)
            continue
        try:
            first, last = parse_period(value)
            if last < first:
                raise ValueError(f"the period ends before it starts: {value!r}")
            out.append((first, last))
        except ValueError as error:
            problems.append(Problem("options", None, option, str(value), "bad_period",
                                    str(error)))
    if problems:
        raise InputError(problems, "invalid options")
    if (out[0] is None) != (out[1] is None):
        raise InputError([Problem("options", None, "--base" if out[0] is None else "--compare",
                                  "", "missing_value", "give both --base and --compare, or "
                                  "neither (first and last full years)")], "invalid options")
    return out


def _read_series(file, workspace, pollutant, start, end, by, unit, kind):
    """Series table (unit, time, value, met) and rejects, from a file or the workspace."""
    import pandas as pd

    from sourcegrid.cli.common import open_workspace, parse_units
    from sourcegrid.grid.hotspots import to_utc
    from sourcegrid.weather.inputs import city_series, series_from_file, series_from_workspace

    rejects = None
    units = parse_units(unit)  # a malformed --unit is a usage error, with or without FILE
    if file is not None:
        series, rejects = series_from_file(file, pollutant, kind=kind, units=units)
        if start is not None:
            series = series[series["time"] >= to_utc(start)]
        if end is not None:
            series = series[series["time"] < to_utc(end)]
    else:
        series = series_from_workspace(open_workspace(workspace), pollutant, start, end)
    series = series.reset_index(drop=True)
    if by == "city" and series["unit"].nunique() > 1:
        series = city_series(series, "city")
    return series, (rejects if rejects is not None else pd.DataFrame())


def trend(
    file: FileArgument = None,
    pollutant: PollutantOption = "PM2.5",
    start: FromOption = None,
    end: ToOption = None,
    by: ByOption = "station",
    base: Annotated[str | None, typer.Option(
        "--base", help="First period: 2014, 2014-03 or 2014-01-01/2014-06-30 (default: the "
                       "first full year).", show_default=False)] = None,
    compare: Annotated[str | None, typer.Option(
        "--compare", help="Second period (default: the last full year).",
        show_default=False)] = None,
    model: ModelOption = "deweather",
    resampling: ResamplingOption = "deweather",
    samples: SamplesOption = None,
    seed: SeedOption = 0,
    figures: Annotated[Path | None, typer.Option(
        "--figures", help="Folder for PNG figures: observed vs normalised series and partial "
                          "dependence, per station or city.", show_default=False)] = None,
    unit: UnitOption = None,
    kind: Annotated[str, typer.Option("--kind", help="Site kind when FILE has no site_kind "
                                                    "column.")] = "reference",
    out: OutOption = None,
    series_out: Annotated[Path | None, typer.Option(
        "--series-out", help="Write the hourly observed and normalised series.",
        show_default=False)] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Observed and weather-normalised trends (气象归一化) per station or city.

    A model of the pollutant from meteorology (wind, TEMP, RH, PRES, ... whatever the
    data carry) and time (trend, day of year, weekday, hour) is fitted per station (or
    for the city mean); the normalised series is its mean prediction over resamples of
    the weather with the time kept. Reports the Theil-Sen slope of the monthly means
    (with its 95 % interval), the change between two periods (with a block-bootstrap
    interval), the weather's share of the change, and the model's out-of-sample R² and
    RMSE on held-back blocks of time.

    Example: sourcegrid trend beijing.csv.gz --pollutant PM2.5 --by city --base 2014
    --compare 2016
    """
    import pandas as pd

    from sourcegrid.cli.common import console, frame_table, open_workspace, reported_errors
    from sourcegrid.io.tables import write_table
    from sourcegrid.weather.panel import met_columns, normalise_each
    from sourcegrid.weather.trend import trend_report

    with reported_errors():
        pollutant = _check_options(by, model, resampling, samples, start, end, pollutant)
        base_period, compare_period = _periods(base, compare)
        series, rejects = _read_series(file, workspace, pollutant, start, end, by, unit, kind)
        met = met_columns(series)
        console.print(f"{series['unit'].nunique()} unit(s), {len(series)} hours of "
                      f"{pollutant}; meteorology: {', '.join(met) or 'none'}")
        results = normalise_each(series, model=model, resampling=resampling, seed=seed,
                                 samples=samples)
        rows = [trend_report(result, unit_name, base_period, compare_period, seed=seed)
                for unit_name, result in results.items()]
        report = pd.DataFrame(rows)
        report.insert(1, "pollutant", pollutant)
        shown = report[list(SHOWN)].rename(columns=SHOWN)
        first = report.iloc[0]
        console.print(frame_table(shown, f"{pollutant} observed and weather-normalised: change "
                                  f"{first['base_from']}..{first['base_to']} → "
                                  f"{first['compare_from']}..{first['compare_to']} [%, 95 % "
                                  f"interval], Theil-Sen slope [per year], out-of-sample skill"))
        fallback = sum(r.fallback_draws for r in results.values())
        if fallback:
            console.print(f"{fallback} hour(s) had no weather within the window and drew from "
                          "the whole record")
        if len(rejects):
            console.print(f"{len(rejects)} value(s) rejected and left out")
        if figures is not None:
            from sourcegrid.weather.figures import partial_dependence_figure, series_figure

            for unit_name, result in results.items():
                group = series[series["unit"] == unit_name].sort_values("time")
                safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in unit_name)
                series_figure(result, figures / f"{safe}_{pollutant}_series.png",
                              title=f"{unit_name} {pollutant}")
                partial_dependence_figure(result, group[met_columns(group)], figures /
                                          f"{safe}_{pollutant}_partial_dependence.png",
                                          seed=seed, title=f"{unit_name} {pollutant}")
            console.print(f"figures written to {figures}")
        if file is None:  # a workspace run keeps its report
            open_workspace(workspace).write(TRENDS_TABLE, report)
            console.print(f"stored {len(report)} row(s) in table '{TRENDS_TABLE}'")
        if out is not None:
            write_table(report, out)
            console.print(f"wrote {len(report)} rows to {out}")
        if series_out is not None:
            hourly = pd.concat([r.series.assign(unit=u) for u, r in results.items()],
                               ignore_index=True)
            write_table(hourly[["unit", "time", "observed", "predicted", "normalised"]],
                        series_out)
            console.print(f"wrote {len(hourly)} hours to {series_out}")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``trend`` to the main app."""
    app.command("trend")(trend)
