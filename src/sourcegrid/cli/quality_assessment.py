"""Quality assessment: ``composite``, ``gooddays``, ``water``, ``targets add|list|report``.

The composite index, good days, water classes and binding targets, registered on
the main app by :func:`register`. Commands parse arguments, call
:mod:`sourcegrid.quality` and print; they compute nothing themselves. Heavy imports stay inside the commands so ``--help`` is instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sourcegrid.cli.common import UnitOption, WorkspaceOption, parse_units

_SITE_HEADERS = ("site_id", "站点编号", "站点", "站点代码", "site", "station", "station_id")
_DATE_HEADERS = ("date", "日期")
_TIME_HEADERS = ("time", "时间", "监测时间", "datetime", "timestamp")

FileArgument = Annotated[Path, typer.Argument(
    help="Input table (CSV, Parquet or XLSX; long or wide).", exists=True, dir_okay=False)]
OutOption = Annotated[Path | None, typer.Option(
    "--out", "-o", help="Write the full result here (.csv, .parquet or .xlsx).")]
RejectsOption = Annotated[Path | None, typer.Option(
    "--rejects", help="Write the rejected values (row, column, value, reason) here.")]
KindOption = Annotated[str, typer.Option(
    "--kind", help="Site kind when the file has no site_kind column.")]
SheetOption = Annotated[str | None, typer.Option("--sheet", help="XLSX sheet name.")]
WeatherOption = Annotated[Path | None, typer.Option(
    "--weather", help="Meteorology of the stations or city (a file with wind, TEMP, RH, "
                      "PRES ...; may be FILE itself): also report the change net of weather.",
    exists=True, dir_okay=False)]
WeatherSetOption = Annotated[str, typer.Option(
    "--weather-set", help="With --weather: deweather, rmweather or quick.")]
AllSitesOption = Annotated[bool, typer.Option(
    "--all-sites", help="Use every site; by default a file that mixes site kinds is assessed "
                        "on its reference sites only.")]


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add composite, gooddays and water to ``app`` and add/list/report to targets."""
    _register_composite(app)
    _register_gooddays(app)
    _register_water(app)
    _register_targets(groups["targets"])


# -- shared helpers ------------------------------------------------------------------



def _find(frame, names) -> str | None:
    lowered = {str(c).strip().lower(): c for c in frame.columns}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


def _site_city(frame, city_column: str):
    """Station → city from the raw table; every problem is reported."""
    from sourcegrid.errors import InputError, Problem

    site = _find(frame, _SITE_HEADERS)
    problems = []
    if city_column not in frame.columns:
        problems.append(Problem(str(frame["_source"].iloc[0]) if len(frame) else "input", 1,
                                city_column, "", "missing_column",
                                f"city column {city_column!r} is missing; columns: "
                                f"{', '.join(c for c in frame.columns if not c.startswith('_'))}"))
    if site is None:
        problems.append(Problem("input", 1, "site_id", "", "missing_column",
                                "required column 'site_id' is missing"))
    if problems:
        raise InputError(problems, "cannot group stations by city")
    pairs = frame[[site, city_column]].dropna().astype(str).drop_duplicates()
    conflicts = pairs[pairs.duplicated(site, keep=False)]
    if len(conflicts):
        raise InputError([Problem("input", None, city_column, f"{s}: {c}", "conflicting_city",
                                  "a station belongs to one city only")
                          for s, c in conflicts.itertuples(index=False)],
                         "cannot group stations by city")
    return dict(pairs.itertuples(index=False))


def _read_air(file: Path, *, kind: str, sheet, units, frame=None):
    """Read hourly readings or daily values; returns (frame, batch, daily: bool)."""
    from sourcegrid.io.tables import read_table
    from sourcegrid.observations.readers import normalize_observations
    from sourcegrid.quality.composite import O3_DAILY_ALIASES

    if frame is None:
        frame = read_table(file, sheet=sheet)
    date_column = _find(frame, _DATE_HEADERS)
    daily = date_column is not None and _find(frame, _TIME_HEADERS) is None
    data = frame
    if daily:
        data = frame.rename(columns={date_column: "time"})
        pollutant = _find(data, ("pollutant", "污染物", "污染物指标", "监测项目"))
        if pollutant is not None:
            data[pollutant] = data[pollutant].replace(dict.fromkeys(O3_DAILY_ALIASES, "O3"))
        else:
            o3 = [c for c in data.columns if c in O3_DAILY_ALIASES]
            if o3:
                data = data.drop(columns=[c for c in data.columns if c == "O3"])
                data = data.rename(columns={o3[0]: "O3"}).drop(columns=o3[1:])
    site_kind = None if _find(data, ("site_kind", "站点类型", "kind")) else kind
    # assessment needs no position (stations are assessed by id)
    batch = normalize_observations(data, site_kind=site_kind, units=units, source=file.name,
                                   require_position=False)
    return frame, batch, daily


def _assessment_readings(batch, all_sites: bool):
    """Readings of reference sites only, when a file mixes site kinds (HJ 663 assesses
    the reference network); the others are counted in a message, never silently left out."""
    readings = batch.readings
    kinds = set(readings["site_kind"])
    if all_sites or len(kinds) <= 1 or "reference" not in kinds:
        return readings, ""
    keep = readings["site_kind"] == "reference"
    left = readings.loc[~keep].groupby("site_kind").size()
    detail = ", ".join(f"{kind} {n}" for kind, n in left.items())
    return readings.loc[keep], (f"{int((~keep).sum())} readings of non-reference sites not "
                                f"used ({detail}); --all-sites includes them")


def _daily_from_batch(batch, daily: bool, site_city=None, readings=None):
    """Long daily values (date, site_id, pollutant, value) from readings or daily values."""
    import pandas as pd

    from sourcegrid.quality import averaging, composite, gooddays

    readings = batch.readings if readings is None else readings
    if daily:
        local = readings["time"].dt.tz_convert("Asia/Shanghai").dt.date
        table = pd.DataFrame({"date": local, "site_id": readings["site_id"],
                              "pollutant": readings["pollutant"], "value": readings["value"]})
        table = composite.daily_long(table)
        return composite.city_daily(table, site_city) if site_city else table
    if site_city:
        readings = gooddays.city_hourly(readings, site_city)
    return composite.daily_long(averaging.daily_statistics(readings))


def _report_rejects(batch_or_rejects, used: int, rejects_path: Path | None, what: str,
                    note: str = "") -> None:
    """Print how many values were used and rejected (writing the rejects on request),
    then ``note`` (e.g. which sites were assessed) when there is one."""
    from sourcegrid.cli.common import console
    from sourcegrid.io.tables import write_table

    rejects = getattr(batch_or_rejects, "rejects", batch_or_rejects)
    bad = len(rejects)
    detail = ""
    if bad:
        reasons = rejects.groupby("reason").size()
        detail = " (" + ", ".join(f"{r} {n}" for r, n in reasons.items()) + ")"
    if rejects_path is not None:
        write_table(rejects, rejects_path)
    console.print(f"{used} {what} used; bad values rejected and left out: {bad}{detail}"
                  + (f", written to {rejects_path}" if rejects_path is not None else
                     ("; list them with --rejects FILE" if bad else "")))
    if note:
        console.print(note)


def _date_option(value: str | None, name: str):
    if value is None:
        return None
    from sourcegrid.quality.composite import as_date

    try:
        return as_date(value)
    except ValueError:
        raise typer.BadParameter(f"expected a date such as 2020-01-31, got {value!r}",
                                 param_hint=name) from None


def _check_period(start, end, names: tuple[str, str]) -> None:
    """A first day after the last day is a reversed period: refused before any work."""
    from sourcegrid.errors import OptionError

    if start is not None and end is not None and start > end:
        raise OptionError(f"{names[0]} {start} {names[1]}", end,
                          f"a last day on or after the first day ({names[1]} is included)")


def _check_edition(edition: str | None, standard) -> None:
    """NotFoundError for an edition the standard's module does not know (None: by date)."""
    if edition is not None:
        standard.check_edition(edition)


def _write(frame, out: Path | None) -> None:
    if out is None:
        return
    from sourcegrid.cli.common import console
    from sourcegrid.io.tables import write_table

    write_table(frame, out)
    console.print(f"wrote {len(frame)} rows to {out}")


# -- composite -----------------------------------------------------------------------

def _register_composite(app: typer.Typer) -> None:
    @app.command("composite")
    def composite_command(
        file: FileArgument,
        edition: Annotated[str | None, typer.Option(
            "--edition", help="GB 3095 edition of the limits, 2012 or 2026 (default: in force "
                              "on the last day of the period; 2026 uses its transition "
                              "limits until 2030-12-31).")] = None,
        period_from: Annotated[str | None, typer.Option(
            "--period-from", help="First day of the period (default: first day of the data).")] = None,
        period_to: Annotated[str | None, typer.Option(
            "--period-to", help="Last day of the period (default: last day of the data).")] = None,
        base_from: Annotated[str | None, typer.Option(
            "--base-from", help="First day of the base period for the change in %.")] = None,
        base_to: Annotated[str | None, typer.Option(
            "--base-to", help="Last day of the base period.")] = None,
        city_column: Annotated[str | None, typer.Option(
            "--city-column", help="Column naming each station's city: assess and rank cities "
                                  "(city values = mean of its stations).")] = None,
        weights: Annotated[str, typer.Option(
            "--weights", help="equal (HJ 663) or ranking_2018 (PM2.5 ×3, NO2 ×2, O3 ×2).")] = "equal",
        weather: WeatherOption = None,
        weather_set: WeatherSetOption = "deweather",
        kind: KindOption = "reference",
        all_sites: AllSitesOption = False,
        unit: UnitOption = None,
        sheet: SheetOption = None,
        out: OutOption = None,
        rejects: RejectsOption = None,
    ) -> None:
        """Composite air quality index (综合指数, HJ 663) per station or city, ranked.

        FILE holds hourly readings (time, site_id, pollutant, value; or one column per
        pollutant) or daily values (a date column instead of time; O3 as its daily maximum
        8-hour mean, named O3 or O3_8h_max). Statistics: SO2, NO2, PM10, PM2.5 period means;
        CO 95th percentile of daily means; O3 90th percentile of daily max 8-h means
        (HJ 663 percentile rule). I_i = C_i / S_i against GB 3095 Grade II; the index is
        their sum. Periods short of GB 3095 Table 4 day counts are flagged (valid = False).

        Example: sourcegrid composite daily.csv --period-from 2019-01-01 --period-to
        2019-12-31 --base-from 2015-01-01 --base-to 2015-12-31 --city-column city
        """
        from sourcegrid.cli.common import console, frame_table, reported_errors
        from sourcegrid.quality import composite
        from sourcegrid.standards import gb3095, hj663

        with reported_errors():
            _check_edition(edition, gb3095)
            if weights not in hj663.COMPOSITE_WEIGHTS:
                from sourcegrid.errors import NotFoundError

                raise NotFoundError("weight set", weights, hj663.COMPOSITE_WEIGHTS)
            checked = {name: _date_option(value, name) for name, value in (
                ("--period-from", period_from), ("--period-to", period_to),
                ("--base-from", base_from), ("--base-to", base_to))}
            _check_period(checked["--period-from"], checked["--period-to"],
                          ("--period-from", "--period-to"))
            _check_period(checked["--base-from"], checked["--base-to"],
                          ("--base-from", "--base-to"))
            units = parse_units(unit)
            frame, batch, daily = _read_air(file, kind=kind, sheet=sheet, units=units)
            site_city = _site_city(frame, city_column) if city_column else None
            readings, note = _assessment_readings(batch, all_sites)
            table = _daily_from_batch(batch, daily, site_city, readings)
            if table.empty:
                raise typer.BadParameter("no valid values in the file", param_hint="FILE")
            start = _date_option(period_from, "--period-from") or min(table["date"])
            end = _date_option(period_to, "--period-to") or max(table["date"])
            base = None
            if (base_from is None) != (base_to is None):
                raise typer.BadParameter("give both --base-from and --base-to",
                                         param_hint="--base-from")
            if base_from is not None:
                base = (_date_option(base_from, "--base-from"), _date_option(base_to, "--base-to"))
            result = composite.assess_composite(table, (start, end), base_period=base,
                                                edition=edition, weights=weights)
            result = result.rename(columns={"unit": "city" if city_column else "site_id"})
            shown = [c for c in result.columns if c.startswith("C_")] + [
                "composite_index", "max_index_pollutant", "rank", "valid"]
            if base is not None:
                shown += ["base_composite_index", "change_percent"]
            if weather is not None:  # the change net of weather (sourcegrid.weather.net)
                from sourcegrid.weather.net import composite_net_of_weather

                result = composite_net_of_weather(
                    result, readings, weather, key=result.columns[0], period=(start, end),
                    base=base, site_city=site_city, edition=edition, weights=weights,
                    weather=weather_set)
                shown += [c for c in ("composite_index_net_of_weather",
                                      "change_percent_net_of_weather", "weather_share_percent")
                          if c in result.columns]
            console.print(frame_table(result[[result.columns[0], *shown]],
                                      f"Composite index {start} to {end} (GB 3095-"
                                      f"{result['edition'].iloc[0]})"))
            invalid = result.loc[~result["valid"].astype(bool)]
            if len(invalid):
                console.print(f"{len(invalid)} unit(s) below the GB 3095 Table 4 day counts "
                              "(valid = False; see short_months and invalid columns)")
            _report_rejects(batch, len(readings), rejects, "values", note)
            _write(result, out)


# -- good days -----------------------------------------------------------------------

def _register_gooddays(app: typer.Typer) -> None:
    @app.command("gooddays")
    def gooddays_command(
        file: FileArgument,
        date_from: Annotated[str | None, typer.Option(
            "--from", help="First day (default: first day of the data).")] = None,
        date_to: Annotated[str | None, typer.Option(
            "--to", help="Last day (default: last day of the data).")] = None,
        by: Annotated[str, typer.Option(
            "--by", help="station or city (city values: hourly mean of its stations, then "
                         "the daily AQI).")] = "station",
        city_column: Annotated[str, typer.Option(
            "--city-column", help="Column naming each station's city (with --by city).")] = "city",
        edition: Annotated[str | None, typer.Option(
            "--edition", help="HJ 633 edition, 2012 or 2026 (default: by each day's date).")] = None,
        weather: WeatherOption = None,
        weather_set: WeatherSetOption = "deweather",
        kind: KindOption = "reference",
        all_sites: AllSitesOption = False,
        unit: UnitOption = None,
        sheet: SheetOption = None,
        out: OutOption = None,
        rejects: RejectsOption = None,
    ) -> None:
        """Good days (优良天数, AQI <= 100), their ratio and days per category, year on year.

        FILE holds hourly readings (the daily AQI is computed per HJ 633) or a daily AQI
        table (date, site_id, aqi). Compares with the same period a year before (days and
        percentage points) when the file covers it; the (mean) row averages the stations
        or cities.

        Example: sourcegrid gooddays hourly.csv --from 2020-01-01 --to 2020-05-31 --by city
        """
        from sourcegrid.cli.common import console, frame_table, reported_errors
        from sourcegrid.io.tables import read_table
        from sourcegrid.quality import aqi, gooddays
        from sourcegrid.standards import hj633

        if by not in ("station", "city"):
            raise typer.BadParameter("expected station or city", param_hint="--by")
        with reported_errors():
            _check_edition(edition, hj633)
            _check_period(_date_option(date_from, "--from"), _date_option(date_to, "--to"),
                          ("--from", "--to"))
            note = ""
            frame = read_table(file, sheet=sheet)
            if _find(frame, ("aqi", "空气质量指数")) is not None:
                if by == "city":
                    raise typer.BadParameter(
                        "--by city needs concentrations (hourly readings), not a daily AQI "
                        "table: a city's AQI comes from its stations' mean concentrations",
                        param_hint="--by")
                daily, bad = gooddays.normalize_daily_aqi(frame, source=file.name)
                used = len(daily)
            else:
                frame, batch, is_daily = _read_air(file, kind=kind, sheet=sheet,
                                                   units=parse_units(unit), frame=frame)
                if is_daily:
                    raise typer.BadParameter(
                        "expected hourly readings (a time column) or a daily AQI table "
                        "(date, site_id, aqi)", param_hint="FILE")
                readings, note = _assessment_readings(batch, all_sites)
                if by == "city":
                    readings = gooddays.city_hourly(readings, _site_city(frame, city_column))
                daily = aqi.daily(readings, edition)
                bad, used = batch, len(readings)
            if daily.empty:
                raise typer.BadParameter("no valid values in the file", param_hint="FILE")
            start = _date_option(date_from, "--from") or min(daily["date"])
            end = _date_option(date_to, "--to") or max(daily["date"])
            before = gooddays.same_period_last_year(start, end)
            covered = min(daily["date"]) <= before[0]
            result = gooddays.assess_good_days(daily, start, end, compare=covered)
            result = result.rename(columns={"unit": "city" if by == "city" else "site_id"})
            shown = [result.columns[0], "valid_days", "good_days", "good_ratio",
                     *gooddays.CATEGORY_COLUMNS]
            if covered:
                shown += ["good_days_change", "good_ratio_change"]
            if weather is not None:  # the change net of weather (sourcegrid.weather.net)
                from sourcegrid.weather.net import good_days_net_of_weather

                result = good_days_net_of_weather(
                    result, locals().get("readings"), weather, key=result.columns[0],
                    start=start, end=end, compare=covered, edition=edition, weather=weather_set)
                shown += [c for c in result.columns if c.endswith("_net_of_weather")
                          or c == "weather_share_percent"]
            console.print(frame_table(result[shown], f"Good days {start} to {end}"))
            if not covered:
                console.print(f"no year-on-year comparison: the data start after {before[0]}")
            _report_rejects(bad, used, rejects, "values", note)
            _write(result, out)


# -- water ---------------------------------------------------------------------------

def _register_water(app: typer.Typer) -> None:
    @app.command("water")
    def water_command(
        file: FileArgument,
        waterbody: Annotated[str, typer.Option(
            "--waterbody", help="river or lake (lakes and reservoirs), for sections without a "
                                "waterbody column.")] = "river",
        by: Annotated[str, typer.Option(
            "--by", help="Column grouping the sections for shares and grade (basin, "
                         "province, city ...); '' for one summary.")] = "basin",
        total_nitrogen: Annotated[bool | None, typer.Option(
            "--total-nitrogen/--no-total-nitrogen",
            help="Count total nitrogen in the class (default: for lakes and reservoirs only, "
                 "national practice).", show_default=False)] = None,
        fecal_coliform: Annotated[bool, typer.Option(
            "--fecal-coliform", help="Count fecal coliform in the class (a reference item by "
                                     "default).")] = False,
        min_sections: Annotated[int, typer.Option(
            "--min-sections", help="Groups with fewer sections are graded from the mean "
                                   "concentrations of their sections (the 评价办法's rule for "
                                   "a river or basin); 0 turns this off.")] = 5,
        below_detection: Annotated[str, typer.Option(
            "--below-detection", help="Values below the detection limit ('0.01L', '<0.01'): "
                                      "reject (listed with the rejects) or half (counted as "
                                      "half the limit).")] = "reject",
        sheet: SheetOption = None,
        out: OutOption = None,
        basins_out: Annotated[Path | None, typer.Option(
            "--basins-out", help="Write the basin summary here.")] = None,
        rejects: RejectsOption = None,
    ) -> None:
        """Surface water class per GB 3838-2002 per section, basin shares and grades.

        FILE holds samples: section_id (断面), parameter and value (long) or one column per
        item (wide: pH, DO, CODMn, COD, BOD5, NH3-N, TP, TN, ... or their Chinese names), in
        mg/L unless a unit column says otherwise; optional basin, waterbody, date columns.
        Each section's period mean per item is classed; the section class is the worst
        item (劣V beyond V); items worse than III are listed with (C - S_III)/S_III.

        Example: sourcegrid water sections.csv --waterbody river --by basin
        """
        from sourcegrid.cli.common import console, frame_table, reported_errors
        from sourcegrid.errors import NotFoundError, OptionError
        from sourcegrid.quality import water

        with reported_errors():
            if waterbody not in water.WATERBODIES:
                raise NotFoundError("waterbody", waterbody, water.WATERBODIES)
            if below_detection not in ("reject", "half"):
                raise NotFoundError("below-detection rule", below_detection,
                                    ("half", "reject"))
            if not min_sections >= 0:
                raise OptionError("--min-sections", min_sections, "a number of sections, at "
                                  "least 0 (0 turns the rule off)")
            samples, bad = water.read_samples(file, sheet=sheet, waterbody=waterbody,
                                              below_detection=below_detection)
            if samples.empty:
                raise typer.BadParameter("no valid values in the file", param_hint="FILE")
            group = water.HEADER_ALIASES.get(by, by) or None
            if group == "basin" and (samples["basin"] == "").all():
                group = None  # no basin column: one summary over all sections
            if group and group not in samples.columns:
                raise typer.BadParameter(
                    f"no column {group!r} to group by; columns: "
                    f"{', '.join(samples.columns)}", param_hint="--by")
            result = water.assess_water(samples, by=group, include_total_nitrogen=total_nitrogen,
                                        include_fecal_coliform=fecal_coliform,
                                        min_sections=min_sections or None, rejects=bad)
            console.print(frame_table(result.sections[[
                "section_id", "waterbody", "class_label", "status", "exceeding",
                "main_pollutants"]], "Section classes (GB 3838-2002)"))
            console.print(frame_table(result.basins, "Shares [%] and status"))
            _report_rejects(bad, len(samples), rejects, "values")
            _write(result.sections, out)
            _write(result.basins, basins_out)


# -- targets -------------------------------------------------------------------------

def _register_targets(group: typer.Typer) -> None:
    @group.command("add")
    def targets_add(
        indicator: Annotated[str, typer.Option("--indicator", help="E.g. PM2.5, good_ratio.")],
        region: Annotated[str, typer.Option("--region", help="Region name or code.")],
        base_year: Annotated[int, typer.Option("--base-year")],
        base_value: Annotated[float, typer.Option("--base-value")],
        target_value: Annotated[float, typer.Option("--target", help="Target value.")],
        deadline_year: Annotated[int, typer.Option("--deadline", help="Deadline year.")],
        direction: Annotated[str | None, typer.Option(
            "--direction", help="decrease or increase (default: from base and target).")] = None,
        unit: Annotated[str, typer.Option("--unit", help="Unit of the indicator.")] = "",
        note: Annotated[str, typer.Option("--note", help="Source of the target.")] = "",
        workspace: WorkspaceOption = None,
    ) -> None:
        """Add (or replace) a binding target in the workspace table ``targets``.

        Example: sourcegrid targets add --indicator PM2.5 --region 石家庄 --base-year 2020
        --base-value 58 --target 45 --deadline 2025 --unit µg/m³
        """
        from sourcegrid.cli.common import console, frame_table, open_workspace, reported_errors
        from sourcegrid.quality.targets import Target, add_target

        with reported_errors(), open_workspace(workspace, create=True) as store:
            stored = add_target(store, Target(indicator, region, base_year, base_value,
                                              target_value, deadline_year, direction, unit, note))
            console.print(frame_table(stored, "Targets"))

    @group.command("list")
    def targets_list(workspace: WorkspaceOption = None) -> None:
        """List the binding targets in the workspace."""
        from sourcegrid.cli.common import console, frame_table, open_workspace, reported_errors
        from sourcegrid.quality.targets import list_targets

        with reported_errors(), open_workspace(workspace) as store:
            console.print(frame_table(list_targets(store), "Targets"))

    @group.command("report")
    def targets_report(
        current: Annotated[Path, typer.Option(
            "--current", help="Current values: indicator, region, year, value.", exists=True,
            dir_okay=False)],
        weather: WeatherOption = None,
        weather_set: WeatherSetOption = "deweather",
        out: OutOption = None,
        workspace: WorkspaceOption = None,
    ) -> None:
        """Progress towards each target: change achieved, linear trajectory, on track.

        Example: sourcegrid targets report --current current.csv
        """
        from sourcegrid.cli.common import console, frame_table, open_workspace, reported_errors
        from sourcegrid.errors import InputError, Problem
        from sourcegrid.io.tables import read_table
        from sourcegrid.quality.targets import list_targets, progress

        with reported_errors(), open_workspace(workspace) as store:
            values = read_table(current)
            problems = []
            for column in ("year", "value"):
                if column in values.columns:
                    numbers = _numbers(values[column])
                    bad = numbers.isna() & values[column].notna()
                    problems += [Problem(current.name, int(r), column, str(v), "not_a_number",
                                         "expected a number")
                                 for r, v in zip(values.loc[bad, "_row"],
                                                 values.loc[bad, column], strict=True)]
                    values[column] = numbers
            if problems:
                raise InputError(problems, f"cannot read current values from {current.name}")
            report = progress(list_targets(store), values)
            console.print(frame_table(report[[
                "indicator", "region", "year", "base_value", "target_value", "current_value",
                "achieved_share", "expected_value", "on_track", "met"]], "Target progress"))
            if weather is not None:  # the change net of weather (sourcegrid.weather.net)
                from sourcegrid.weather.net import NET_COLUMNS, targets_net_of_weather_from_file

                report = targets_net_of_weather_from_file(report, weather, weather=weather_set)
                console.print(frame_table(report[["indicator", "region", "year", *NET_COLUMNS]],
                                          "Change from the base year, observed and net of "
                                          "weather [%]"))
            _write(report, out)


def _numbers(column):
    import pandas as pd

    return pd.to_numeric(column, errors="coerce")
