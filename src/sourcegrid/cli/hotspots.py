"""CLI: ``sourcegrid hotspots``, ``sourcegrid grid classify``, ``sourcegrid grid alerts check``.

Thin commands: read workspace tables, call :mod:`sourcegrid.grid.hotspots`,
:mod:`~sourcegrid.grid.grading`, :mod:`~sourcegrid.grid.classify` and
:mod:`~sourcegrid.grid.alerts`, store the results (tables ``hotspots``,
``cell_grades``, ``alerts``), print a summary and export on request.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sourcegrid.cli.common import (
    FromOption,
    PollutantOption,
    ToOption,
    WorkspaceOption,
    console,
    frame_table,
    open_workspace,
    reported_errors,
    write_frame,
)

if TYPE_CHECKING:
    import pandas as pd

HOTSPOTS_TABLE = "hotspots"
GRADES_TABLE = "cell_grades"
ALERTS_TABLE = "alerts"


class Method(StrEnum):
    rank = "rank"
    gistar = "gistar"
    persistence = "persistence"
    monthly = "monthly"


class Shape(StrEnum):
    square = "square"
    disk = "disk"


#: Columns of the printed summary per method (the stored table has them all).
SUMMARY_COLUMNS = {
    Method.rank: ["rank", "cell_id", "city_code", "mean", "ratio_to_city_mean"],
    Method.gistar: ["cell_id", "mean", "z", "p_two_sided", "spot"],
    Method.persistence: ["cell_id", "hours", "hot_hours", "persistence", "mean"],
    Method.monthly: ["list", "city_code", "rank", "cell_id", "mean", "change_percent"],
}

OutOption = Annotated[Path | None, typer.Option(
    "--out", "-o", help="Also export to a file: .csv, .parquet, .xlsx or .geojson.",
    show_default=False)]


# ------------------------------------------------------------------------------ helpers


def _grid_spec(workspace):
    """The workspace's GridSpec, or None when it has no grid; a broken spec is an error."""
    from sourcegrid.grid.spec import SPEC_TABLE, read_spec

    return read_spec(workspace) if workspace.has(SPEC_TABLE) else None


def _optional(workspace, name: str):
    return workspace.table(name) if workspace.has(name) else None


def _geojson(frame: pd.DataFrame, spec, cells: pd.DataFrame | None) -> dict:
    """Cell polygons from the GridSpec, else cell centres (points) from ``cells``."""
    import json

    from sourcegrid.errors import SourcegridError

    if spec is not None:
        return spec.to_geojson(frame)
    if cells is None or not {"lon", "lat"} <= set(cells.columns):
        raise SourcegridError("GeoJSON needs the grid (table grid_spec) or cell centres "
                              "(table cells with lon, lat); export .csv or .parquet instead")
    located = frame.merge(cells[["cell_id", "lon", "lat"]].drop_duplicates("cell_id"),
                          on="cell_id", how="left", suffixes=("", "_centre"))
    lon = located["lon_centre"] if "lon_centre" in located else located["lon"]
    lat = located["lat_centre"] if "lat_centre" in located else located["lat"]
    records = json.loads(frame.to_json(orient="records", date_format="iso"))
    features = [{"type": "Feature", "id": record.get("cell_id"),
                 "geometry": {"type": "Point", "coordinates": [x, y]}, "properties": record}
                for x, y, record in zip(lon.tolist(), lat.tolist(), records, strict=True)]
    return {"type": "FeatureCollection", "features": features}


def _export(frame: pd.DataFrame, out: Path, workspace) -> None:
    import json

    if out.suffix.lower() == ".geojson":
        cells = workspace.read("cells") if workspace.has("cells") else None
        collection = _geojson(frame, _grid_spec(workspace), cells)
        from sourcegrid.io.tables import atomic_path

        with atomic_path(out) as partial:
            partial.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    else:
        write_frame(frame, out)
    console.print(f"wrote {len(frame)} row(s) to {out}")


def _check_hotspot_options(method: Method, start, end, pollutant: str, top, top_percent,
                           radius: float, alpha: float, threshold) -> str:
    """Every option of ``hotspots`` against its domain, before any work; the pollutant's
    canonical name."""
    import math

    from sourcegrid.cli.grid import check_pollutant
    from sourcegrid.errors import OptionError
    from sourcegrid.grid.hotspots import month_bounds
    from sourcegrid.observations.readers import utc_period, utc_timestamp

    pollutant = check_pollutant(pollutant, fused=True)
    if top is not None and not top >= 1:
        raise OptionError("--top", top, "a number of cells, at least 1")
    if top_percent is not None and not 0 < top_percent <= 100:
        raise OptionError("--top-percent", top_percent, "a share of the cells above 0 and at "
                          "most 100 [%]")
    if not 0 < radius <= 1000:
        raise OptionError("--radius", radius, "a distance band in cells above 0 (at most 1000)")
    if not 0 < alpha < 1:
        raise OptionError("--alpha", alpha, "a significance level strictly between 0 and 1, "
                          "e.g. 0.05")
    if threshold is not None and not (threshold >= 0 and math.isfinite(threshold)):
        raise OptionError("--threshold", threshold, "a concentration of at least 0 (ug/m3; CO "
                          "mg/m3)")
    if method is Method.monthly:
        if top_percent is not None:
            raise OptionError("--top-percent", top_percent, "no --top-percent with --method "
                              "monthly: its lists keep the --top N cells per city and list")
        if start is None:
            raise OptionError("--from", "(missing)", "the month of the lists, e.g. 2024-01")
        utc_timestamp(start, "--from")
        month = _month(start)
        if end is not None:
            month_end = month_bounds(month)[1]
            if utc_timestamp(end, "--to") != month_end:
                raise OptionError("--to", end, f"no --to with --method monthly: the lists "
                                  f"cover the calendar month of --from ({month}), ending "
                                  f"{month_end.tz_convert('Asia/Shanghai'):%Y-%m-%d} "
                                  "(Beijing time, excluded)")
    else:
        _need(start, "--from", method.value)
        _need(end, "--to", method.value)
        utc_period(start, end)
    return pollutant


def _month(start: str) -> str:
    """The Beijing-time calendar month of --from, as YYYY-MM."""
    import pandas as pd

    stamp = pd.Timestamp(start)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("Asia/Shanghai")
    return stamp.strftime("%Y-%m")


def _refuse_empty(result, what: str, table: str, pollutant: str, start, end) -> None:
    """A command never replaces stored results with nothing."""
    from sourcegrid.errors import SourcegridError

    if result.empty:
        raise SourcegridError(
            f"no {pollutant} cell-hours in cell_hours between {start} and {end}, so no {what}; "
            f"the stored table '{table}' was kept (fuse the period first with 'sourcegrid grid "
            "fuse')")


def _need(value, option: str, method: str):
    if value is None:
        raise typer.BadParameter(f"{option} is required with --method {method}")
    return value


# ------------------------------------------------------------------------------ commands


def hotspots(
    method: Annotated[Method, typer.Option("--method", "-m", help="How to pick hotspot cells.")]
    = Method.rank,
    start: FromOption = None,
    end: ToOption = None,
    pollutant: PollutantOption = "PM2.5",
    top: Annotated[int | None, typer.Option(
        "--top", help="rank: keep the N highest cells (default 10); gistar: the N highest z; "
        "persistence: the N most persistent; monthly: cells per city and list (default 10).",
        show_default=False)] = None,
    top_percent: Annotated[float | None, typer.Option(
        "--top-percent", help="rank, gistar: keep the highest P % of cells; persistence: a "
        "cell is hot in an hour when in the top P % that hour.", show_default=False)] = None,
    radius: Annotated[float, typer.Option("--radius", help="gistar: distance band (cells).")] = 1.0,
    shape: Annotated[Shape, typer.Option("--shape", help="gistar: neighbourhood shape.")]
    = Shape.square,
    alpha: Annotated[float, typer.Option("--alpha", help="gistar: two-sided significance "
                                         "level of hot/cold spots.")] = 0.05,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", help="persistence: concentration above which a cell-hour is hot "
        "(ug/m3; CO mg/m3).", show_default=False)] = None,
    by_city: Annotated[bool, typer.Option("--by-city", help="rank: top N / P % within each "
                                          "city.")] = False,
    normalise_weather: Annotated[bool, typer.Option(
        "--normalise-weather", help="Rank on weather-normalised values (千里眼: the weather's "
        "share taken out) and list the cells that enter or leave.")] = False,
    weather_set: Annotated[str, typer.Option(
        "--weather-set", help="With --normalise-weather: deweather, rmweather or quick.")]
    = "deweather",
    out: OutOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Pick hotspot cells (热点网格) from the workspace's fused ``cell_hours``.

    Methods: rank (top N / top P % by period mean, with the ratio to the city
    mean), gistar (Getis-Ord Gi* z of period means), persistence (share of
    hours hot), monthly (the three monthly lists per city for the month of
    --from: highest, worst year-on-year, worst month-on-month). The result
    replaces the workspace table ``hotspots``.
    """
    from sourcegrid.grid import hotspots as science

    month = None
    with reported_errors():
        pollutant = _check_hotspot_options(method, start, end, pollutant, top, top_percent,
                                           radius, alpha, threshold)
        if out is not None:
            from sourcegrid.io.tables import check_output_path

            check_output_path(out)  # before the work: a bad --out stores nothing
        ws = open_workspace(workspace)
        hours = ws.table("cell_hours")
        cells = _optional(ws, "cells")
        raw_hours = hours
        if normalise_weather:
            from sourcegrid.weather.hotspots import normalised_hours_for

            hours, weather_note = normalised_hours_for(ws, method.value, start, end, pollutant,
                                                       weather_set)
            console.print(weather_note)
        try:
            if method is Method.monthly:
                month = _month(_need(start, "--from", "monthly"))
                result = science.monthly_lists(hours, month, pollutant=pollutant,
                                               top=top if top is not None else 10, cells=cells)
                period_start, period_end = science.month_bounds(month)
            else:
                _need(start, "--from", method.value)
                _need(end, "--to", method.value)
                period_start, period_end = science.to_utc(start), science.to_utc(end)
                if method is Method.rank:
                    if top is None and top_percent is None:
                        top = 10
                    result = science.rank_cells(hours, start, end, pollutant=pollutant, top=top,
                                                top_percent=top_percent, cells=cells,
                                                by_city=by_city)
                elif method is Method.gistar:
                    spec = _grid_spec(ws)
                    result = science.gi_star_cells(hours, start, end, radius_cells=radius,
                                                   shape=shape.value, pollutant=pollutant,
                                                   grid_shape=None if spec is None else spec.shape,
                                                   alpha=alpha, cells=cells)
                    result = science.top_rows(result, top, top_percent)
                else:
                    result = science.persistence(hours, start, end, pollutant=pollutant,
                                                 threshold=threshold, top_percent=top_percent,
                                                 cells=cells)
                    result = science.top_rows(result, top)
        except ValueError as error:  # bad dates, bad option values
            raise typer.BadParameter(str(error)) from None
        _refuse_empty(result, "hotspots", HOTSPOTS_TABLE, pollutant, start, end or month)
        result = result.assign(method=method.value, pollutant=pollutant,
                               period_start=period_start, period_end=period_end)
        ws.write(HOTSPOTS_TABLE, result)
        if normalise_weather:
            from sourcegrid.weather.hotspots import CHANGES_TABLE, weather_changes

            changes = weather_changes(ws, method.value, result, raw_hours, start=start, end=end,
                                      pollutant=pollutant, top=top, top_percent=top_percent,
                                      radius=radius, shape=shape.value, alpha=alpha,
                                      threshold=threshold, by_city=by_city, cells=cells)
            moved = changes[changes["status"] != "kept"]
            console.print(frame_table(moved, title="cells entering/leaving the list on "
                                      "weather-normalised values"))
            console.print(f"{int((changes['status'] == 'entered').sum())} entered, "
                          f"{int((changes['status'] == 'left').sum())} left, "
                          f"{int((changes['status'] == 'kept').sum())} kept; table "
                          f"'{CHANGES_TABLE}'")
        shown = result[[c for c in SUMMARY_COLUMNS[method] if c in result.columns]]
        console.print(frame_table(shown, title=f"hotspots ({method.value}, {pollutant})"))
        if method is Method.gistar:
            counts = result["spot"].value_counts()
            console.print(f"{int(counts.get('hot', 0))} hot and {int(counts.get('cold', 0))} "
                          f"cold spot(s) of {len(result)} cells (alpha {alpha}, two-sided)")
        console.print(f"stored {len(result)} row(s) in table '{HOTSPOTS_TABLE}'")
        if out is not None:
            _export(result, out, ws)


def classify(
    start: FromOption = None,
    end: ToOption = None,
    pollutant: PollutantOption = "PM2.5",
    concentration_set: Annotated[str, typer.Option(
        "--levels", help="Concentration level set (hj633_2012, hj633_2026).")] = "hj633_2012",
    excess_set: Annotated[str, typer.Option(
        "--excess", help="Excess-over-city level set (sourcegrid_default, strict).")]
    = "sourcegrid_default",
    signatures: Annotated[str, typer.Option(
        "--signatures", help="Signature thresholds (sourcegrid_default, sensitive).")]
    = "sourcegrid_default",
    hotspots_only: Annotated[bool, typer.Option(
        "--hotspots-only", help="Only the cells of the table 'hotspots'.")] = False,
    out: OutOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Grade and classify cells (levels and pollution type, with evidence).

    Over the period from --from (included) to --to (excluded): a level by
    concentration (HJ 633 breakpoints) and by excess over the city mean, and a
    type by signature (dust, coal, traffic, industrial, night), each with the
    numbers that decided it. Replaces the workspace table ``cell_grades``.
    """
    from sourcegrid.cli.grid import check_pollutant
    from sourcegrid.grid.classify import classify_cells
    from sourcegrid.grid.grading import grade_cells
    from sourcegrid.grid.hotspots import rank_cells
    from sourcegrid.observations.readers import utc_period

    with reported_errors():
        utc_period(start, end, required=True)
        pollutant = check_pollutant(pollutant, fused=True)
        if out is not None:
            from sourcegrid.io.tables import check_output_path

            check_output_path(out)  # before the work: a bad --out stores nothing
        ws = open_workspace(workspace)
        hours = ws.table("cell_hours")
        cells = _optional(ws, "cells")
        try:
            means = rank_cells(hours, start, end, pollutant=pollutant, top_percent=100,
                               cells=cells)
            graded = grade_cells(means.drop(columns="rank"), pollutant=pollutant,
                                 concentration_set=concentration_set, excess_set=excess_set)
            types = classify_cells(hours, start, end, cells=cells, parameter_set=signatures)
        except ValueError as error:  # bad dates
            raise typer.BadParameter(str(error)) from None
        _refuse_empty(means, "cell grades", GRADES_TABLE, pollutant, start, end)
        result = graded.merge(types.drop(columns=["row", "col", "city_code"]), on="cell_id",
                              how="left")
        if hotspots_only:
            chosen = set(ws.read(HOTSPOTS_TABLE)["cell_id"])
            result = result[result["cell_id"].isin(chosen)]
            _refuse_empty(result, "graded hotspot cells", GRADES_TABLE, pollutant, start, end)
        result = result.sort_values(["concentration_level", "excess_level", "mean"],
                                    ascending=False).reset_index(drop=True)
        ws.write(GRADES_TABLE, result)
        shown = result[["cell_id", "mean", "ratio_to_city_mean", "concentration_level",
                        "excess_name", "type"]]
        console.print(frame_table(shown, title=f"cell grades ({pollutant})"))
        summary = result.groupby("type").size().rename("cells").reset_index()
        console.print(frame_table(summary, title="cells by type"))
        console.print(f"stored {len(result)} row(s) in table '{GRADES_TABLE}'")
        if out is not None:
            _export(result, out, ws)


def alerts_check(
    start: FromOption = None,
    end: ToOption = None,
    pollutant: PollutantOption = "PM2.5",
    rule_set: Annotated[str, typer.Option(
        "--rules", help="Named rule set (sourcegrid_default, sensitive).")] = "sourcegrid_default",
    threshold: Annotated[float | None, typer.Option(
        "--threshold", help="Absolute threshold, ug/m3 (CO mg/m3); default: the rule set's.",
        show_default=False)] = None,
    neighbour_factor: Annotated[float | None, typer.Option(
        "--neighbour-factor", help="Alert above this factor x the neighbours' median.",
        show_default=False)] = None,
    city_factor: Annotated[float | None, typer.Option(
        "--city-factor", help="Alert above this factor x the city median.",
        show_default=False)] = None,
    consecutive: Annotated[int | None, typer.Option(
        "--consecutive", "-n", help="Exceeding readings in a row that raise an alert.",
        show_default=False)] = None,
    radius_km: Annotated[float | None, typer.Option(
        "--radius-km", help="Neighbourhood radius (km).", show_default=False)] = None,
    max_gap: Annotated[str | None, typer.Option(
        "--max-gap", help="A longer gap between readings breaks a run (e.g. 2min).",
        show_default=False)] = None,
    out: OutOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Check micro-station readings against the alert rules.

    Reads the workspace table ``observations`` (site_kind 'micro'), and adds
    new alerts, with their evidence, to the table ``alerts``.
    """
    import ibis
    import pandas as pd

    from sourcegrid.grid.alerts import check_alerts
    from sourcegrid.grid.hotspots import _time_filter, to_utc

    with reported_errors():
        pollutant = _check_alert_options(start, end, pollutant, threshold, neighbour_factor,
                                         city_factor, consecutive, radius_km, max_gap)
        if out is not None:
            from sourcegrid.io.tables import check_output_path

            check_output_path(out)  # before the work: a bad --out stores nothing
        ws = open_workspace(workspace)
        readings = ws.table("observations")
        readings = readings.filter((readings.pollutant == pollutant)
                                   & (readings.site_kind == "micro"))
        if start is not None or end is not None:
            low = to_utc(start) if start is not None else pd.Timestamp("1900-01-01", tz="UTC")
            high = to_utc(end) if end is not None else pd.Timestamp("2200-01-01", tz="UTC")
            readings = _time_filter(readings, low, high)
        frame = readings.to_pandas()
        spec = _grid_spec(ws)
        if spec is not None and "cell_id" not in frame.columns and len(frame):
            rows, cols = spec.cell_of(frame["lon"].to_numpy(), frame["lat"].to_numpy())
            frame["cell_id"] = spec.cell_id(rows, cols)
        if "cell_id" in frame.columns and ws.has("cells") and "city_code" not in frame.columns:
            lookup = ws.table("cells").select("cell_id", "city_code").to_pandas()
            frame = frame.merge(lookup.drop_duplicates("cell_id"), on="cell_id", how="left")
            frame["city_code"] = frame["city_code"].fillna("").astype(str)
        try:
            found = check_alerts(frame, pollutant=pollutant, rule_set=rule_set,
                                 threshold=threshold, neighbour_factor=neighbour_factor,
                                 city_factor=city_factor, consecutive=consecutive,
                                 neighbour_radius_km=radius_km, max_gap=max_gap)
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None
        new = found
        if ws.has(ALERTS_TABLE) and len(found):
            known = set(ws.table(ALERTS_TABLE).select("alert_id").to_pandas()["alert_id"])
            new = found[~found["alert_id"].isin(known)]
        if len(new):
            ws.write(ALERTS_TABLE, ibis.memtable(new), mode="append")
        shown = found[["cell_id", "site_id", "raised_at", "readings", "rules", "values"]]
        console.print(frame_table(shown, title=f"alerts ({pollutant}, {len(frame)} readings)"))
        console.print(f"{len(found)} alert(s), {len(new)} new, stored in table '{ALERTS_TABLE}'")
        if out is not None:
            _export(found, out, ws)


def _check_alert_options(start, end, pollutant: str, threshold, neighbour_factor, city_factor,
                         consecutive, radius_km, max_gap) -> str:
    """Every option of ``grid alerts check`` against its domain; the canonical pollutant."""
    import math

    import pandas as pd

    from sourcegrid.cli.grid import check_pollutant
    from sourcegrid.errors import OptionError
    from sourcegrid.observations.readers import utc_period

    utc_period(start, end)
    pollutant = check_pollutant(pollutant, fused=True)
    if threshold is not None and not (threshold >= 0 and math.isfinite(threshold)):
        raise OptionError("--threshold", threshold, "a concentration of at least 0 (ug/m3; "
                          "CO mg/m3)")
    for option, factor in (("--neighbour-factor", neighbour_factor),
                           ("--city-factor", city_factor)):
        if factor is not None and not (factor > 0 and math.isfinite(factor)):
            raise OptionError(option, factor, "a factor above 0, e.g. 1.5")
    if consecutive is not None and not consecutive >= 1:
        raise OptionError("--consecutive", consecutive, "a number of readings, at least 1")
    if radius_km is not None and not 0 < radius_km <= 1000:
        raise OptionError("--radius-km", radius_km, "a radius in km above 0 (at most 1000)")
    if max_gap is not None:
        try:
            gap = pd.Timedelta(max_gap)
        except (ValueError, TypeError):
            gap = None
        if gap is None or gap is pd.NaT or not gap > pd.Timedelta(0):
            raise OptionError("--max-gap", repr(max_gap), "a positive duration such as 2min or "
                              "1h")
    return pollutant


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``hotspots`` to the main app and ``classify``, ``alerts check`` to ``grid``."""
    app.command("hotspots")(hotspots)
    groups["grid"].command("classify")(classify)
    alerts_app = typer.Typer(help="Real-time alert rules on micro-station readings.",
                             no_args_is_help=True)
    alerts_app.command("check")(alerts_check)
    groups["grid"].add_typer(alerts_app, name="alerts")
