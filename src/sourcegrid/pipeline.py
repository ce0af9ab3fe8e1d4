"""The whole chain on one city: inventory → feeds → cell-hours → hotspots → tracing → quality.

:func:`run_city_pipeline` runs, on a workspace and a city (the sample city of
:func:`sourcegrid.sample.city.generate_city`, or any object with the same fields),
the steps a grid office runs each month, in this order (:data:`PIPELINE_STEPS`):

============  ===========================================================================
step          what it does (module) → workspace tables
============  ===========================================================================
library       store the sample coefficient library (coefficients) → coefficient tables
accounting    coefficient method on the city's activity and treatment (accounting.engine)
              → emissions, account_rejects, account_runs (run :data:`RUN`)
grid          the grid spec and the cells (grid.spec, grid.admin) → grid_spec, cells
inventory     sources with coordinates, the accounted run plus the imported emissions of
              roads and construction areas (inventory), allocated to the cells
              → sources, inventory, cell_inventory
ingest        readings and wind (observations.ingest) → observations, wind; met → met
qc            flags, never deletions (observations.qc) → observation_flags, observation_gaps
calibrate     micro-stations against reference stations (observations.calibration)
              → calibrations
fuse          cell × hour estimates (grid.fusion) → cell_hours
hotspots      ranking rule, Getis-Ord Gi*, persistence, monthly lists (grid.hotspots)
              → hotspots, hotspot_gistar, hotspot_persistence, hotspot_monthly
classify      concentration and excess grades, pollution type (grid.grading,
              grid.classify) → cell_grades
trace         the top hotspot cells traced to their sources (tracing.attribution)
              → trace_results (by the tracer), trace_series (its series at each cell)
aqi           hourly and daily AQI of each reference station and of the city (quality.aqi)
              → aqi_hourly, aqi_daily
good_days     good days and their ratio per station and for the city (quality.gooddays)
              → good_days
workflow      the demo organisation, people and alerts (workflow.demo)
              → the workflow's own tables
============  ===========================================================================

This module computes nothing itself: every number comes from the layers named above;
it chooses their parameters (the named defaults of each layer, listed in
:data:`PIPELINE_DEFAULTS`), passes tables between them and records what each step did
(table ``pipeline_steps``). A step without the data it needs (no reference readings,
no inventory to trace against) is reported as skipped with the reason, never
silently left out.

Limits: one city, one period (the city's readings, whole hours, Beijing days); one
pollutant for hotspots and tracing (PM2.5). The city AQI is the mean of the reference
stations' concentrations, as HJ 663-2013 computes a city's values.

References
----------
HJ 663-2013 (city values from the mean of the assessment stations); HJ 633-2012 and
HJ 633-2026 (AQI); MEE 千里眼计划 hotspot grid (DESIGN.md, Hotspot grid facts).
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from sourcegrid.errors import SourcegridError

__all__ = [
    "PIPELINE_STEPS",
    "PIPELINE_DEFAULTS",
    "RUN",
    "STEPS_TABLE",
    "StepReport",
    "PipelineResult",
    "run_city_pipeline",
]

#: Name of the accounting run and inventory origin the pipeline writes.
RUN = "demo"
#: Table with one row per pipeline step (name, status, seconds, detail).
STEPS_TABLE = "pipeline_steps"
MACRO_TABLE = "macro_checks"

#: (name, title) of every step, in order.
PIPELINE_STEPS: tuple[tuple[str, str], ...] = (
    ("library", "store the sample coefficient library"),
    ("accounting", "account generation, removal and emission (二污普 coefficient method)"),
    ("macro", "macro check of the totals against the 2017 census totals scaled by area"),
    ("grid", "create the grid and its cells"),
    ("inventory", "build the source inventory and allocate it to cells"),
    ("ingest", "ingest readings, wind and meteorology"),
    ("qc", "quality control of the readings"),
    ("calibrate", "calibrate micro-stations against reference stations"),
    ("fuse", "fuse readings into cell-hours"),
    ("hotspots", "find hotspot cells (rank, Gi*, persistence, monthly lists)"),
    ("classify", "grade and classify the cells"),
    ("trace", "trace the top hotspot cells to their sources (溯源)"),
    ("aqi", "hourly and daily AQI of stations and city"),
    ("good_days", "good days (优良天数)"),
    ("workflow", "set up the demo workflow (people, alerts)"),
)

#: The named parameter choices of the pipeline (each a default of the layer it feeds).
#: hotspots: top 10 cells by the ranking rule and the top 5 % for grading; Gi* over a
#: square band of 1 cell (the 3 × 3 neighbourhood); persistence: hot when in the top 10 %
#: of cells that hour. trace: the 5 highest-ranked cells, candidates within 10 km
#: (tracing.attribution's default radius).
PIPELINE_DEFAULTS: dict[str, Any] = {
    "pollutant": "PM2.5",
    "hotspot_top": 10,
    "gistar_radius_cells": 1.0,
    "gistar_shape": "square",
    "gistar_alpha": 0.05,
    "persistence_top_percent": 10.0,
    "monthly_top": 10,
    "trace_top": 5,
    "trace_radius_km": 10.0,
    "concentration_set": "hj633_2012",
    "excess_set": "sourcegrid_default",
    "signature_set": "sourcegrid_default",
    "city_name": "沧州市 Cangzhou",
}


@dataclass
class StepReport:
    """What the progress callback receives, once when a step starts and once when it ends.

    Attributes
    ----------
    index, total : int
        Position of the step (1-based) and number of steps.
    name, title : str
        Step name (:data:`PIPELINE_STEPS`) and its description.
    status : {'running', 'done', 'skipped'}
    seconds : float
        Wall time of the step [s] (0 while running).
    detail : str
        One line on what the step did (counts), or why it was skipped.
    """

    index: int
    total: int
    name: str
    title: str
    status: str = "running"
    seconds: float = 0.0
    detail: str = ""


Progress = Callable[[StepReport], None]


@dataclass
class PipelineResult:
    """Documented results of :func:`run_city_pipeline`.

    Attributes
    ----------
    workspace_path : Path
        Folder of the workspace.
    start, end : pandas.Timestamp
        The period [start, end) [UTC] (whole Beijing days covering the readings).
    steps : pandas.DataFrame
        One row per step: index, name, title, status, seconds [s], detail.
    accounting_summary : pandas.DataFrame
        item, count (activity rows, accounted rows, rows with problems ...).
    emissions : pandas.DataFrame
        The accounted emissions [kg] with their explanation (run :data:`RUN`).
    emission_totals : pandas.DataFrame
        industry_code, pollutant_category, pollutant, generation, removal, emission [t].
    inventory_totals : pandas.DataFrame
        pollutant, emission [kg] of the inventory by origin (empty without inventory).
    cell_inventory_totals : pandas.DataFrame
        pollutant, emission [kg] allocated to cells (equals the inventory's, by the
        inventory's conservation rule).
    qc_counts : pandas.DataFrame
        flag, severity, count.
    calibrations : pandas.DataFrame
        The calibrations fitted in this run.
    cell_hours : int
        Rows of cell_hours written.
    hotspots : pandas.DataFrame
        The ranking rule's top cells (rank, cell_id, mean [µg/m³], ratio_to_city_mean ...).
    gistar, persistence, monthly : pandas.DataFrame
        Gi* of every cell; persistence of every cell; the three monthly lists.
    grades : pandas.DataFrame
        cell_grades: grade and type of every cell with its evidence.
    traces : dict
        cell_id → the tracer's TraceResult, for the traced hotspot cells.
    trace_table : pandas.DataFrame
        The ranked sources of every traced cell (table trace_results).
    aqi_hourly, aqi_daily : pandas.DataFrame
        AQI reports of the reference stations and of the city (site_id = city name).
    good_days : pandas.DataFrame
        Good days and their ratio per station and for the city.
    workflow : object
        What setup_demo_workflow returned (None when not run).
    missing : list of str
        Steps skipped, each with the reason.
    """

    workspace_path: Path
    start: pd.Timestamp
    end: pd.Timestamp
    steps: pd.DataFrame = field(default_factory=pd.DataFrame)
    accounting_summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    emissions: pd.DataFrame = field(default_factory=pd.DataFrame)
    emission_totals: pd.DataFrame = field(default_factory=pd.DataFrame)
    inventory_totals: pd.DataFrame = field(default_factory=pd.DataFrame)
    cell_inventory_totals: pd.DataFrame = field(default_factory=pd.DataFrame)
    qc_counts: pd.DataFrame = field(default_factory=pd.DataFrame)
    calibrations: pd.DataFrame = field(default_factory=pd.DataFrame)
    cell_hours: int = 0
    hotspots: pd.DataFrame = field(default_factory=pd.DataFrame)
    gistar: pd.DataFrame = field(default_factory=pd.DataFrame)
    persistence: pd.DataFrame = field(default_factory=pd.DataFrame)
    monthly: pd.DataFrame = field(default_factory=pd.DataFrame)
    grades: pd.DataFrame = field(default_factory=pd.DataFrame)
    traces: dict = field(default_factory=dict)
    trace_table: pd.DataFrame = field(default_factory=pd.DataFrame)
    aqi_hourly: pd.DataFrame = field(default_factory=pd.DataFrame)
    aqi_daily: pd.DataFrame = field(default_factory=pd.DataFrame)
    good_days: pd.DataFrame = field(default_factory=pd.DataFrame)
    workflow: Any = None
    missing: list[str] = field(default_factory=list)


class _Skipped(Exception):
    """Raised inside a step to mark it skipped (the data it needs is not there)."""


def _period(readings: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Whole Beijing days covering the readings, as UTC bounds [start, end)."""
    times = pd.to_datetime(readings["time"], utc=True)
    if times.empty:
        raise SourcegridError("the city has no readings: nothing to fuse")
    local = times.dt.tz_convert("Asia/Shanghai")
    start = local.min().floor("D")
    end = local.max().floor("D") + pd.Timedelta(days=1)
    return start.tz_convert("UTC"), end.tz_convert("UTC")


# --------------------------------------------------------------------------- the steps
# Each step takes (workspace, city, state) and returns a one-line detail.


def _library(ws, city, state) -> str:
    from sourcegrid.coefficients import ensure_sample_library

    state["library"] = ensure_sample_library(ws)
    return f"library {state['library'].name!r}"


def _accounting(ws, city, state) -> str:
    from sourcegrid.accounting.engine import account, aggregate
    from sourcegrid.accounting.store import save_run

    result = account(city.activity, state["library"], city.treatment, con=ws.con,
                     activity_source="activity.csv", treatment_source="treatment.csv")
    save_run(ws, result, run=RUN, activity_file="activity.csv", treatment_file="treatment.csv")
    out = state["result"]
    out.accounting_summary = result.summary()
    out.emission_totals = aggregate(result.emissions, ["industry", "pollutant"], unit="t")
    out.emissions = result.emissions
    return (f"{result.accounted_rows:,} of {result.activity_rows:,} activity rows accounted, "
            f"{result.emission_rows:,} emission rows, {result.rejected_rows} with problems")


def _macro(ws, city, state) -> str:
    """宏观校核: the city's accounted totals against the 2017 national census totals scaled
    by the region's area (plausible within 0.05–5×, the default band of
    :func:`sourcegrid.accounting.macro.reference_check`); stored as ``macro_checks``."""
    from sourcegrid.accounting.macro import reference_check

    emissions = state["result"].emissions
    frame = emissions.to_pandas() if hasattr(emissions, "to_pandas") else emissions
    area_km2 = len(city.cells) * city.spec.cell_size ** 2 / 1e6
    checks = reference_check(frame, area_km2=area_km2)
    ws.write(MACRO_TABLE, checks)
    outside = checks[checks["status"] != "within"]
    verdict = ("all within" if outside.empty else "outside: " + ", ".join(
        f"{row.pollutant} {row.ratio:.2g}× ({row.status})" for row in outside.itertuples()))
    return (f"{len(checks) - len(outside)} of {len(checks)} pollutants plausible for "
            f"{area_km2:,.0f} km² (0.05–5× the scaled 2017 census totals); {verdict}")


def _inventory(ws, city, state) -> str:
    from sourcegrid import inventory

    inventory.build_inventory(ws, run=RUN, sources=city.sources)
    other = getattr(city, "other_emissions", None)
    if other is not None and len(other):
        inventory.import_inventory(ws, other, city.sources, origin="other_emissions.csv")
    state["inventory_built"] = True
    out = state["result"]
    table = ws.read("inventory")
    out.inventory_totals = (table.groupby(["origin", "pollutant"], as_index=False)["emission"]
                            .sum())
    if ws.has("cell_inventory"):
        cell = ws.read("cell_inventory")
        out.cell_inventory_totals = cell.groupby("pollutant", as_index=False)["emission"].sum()
    sources = ws.read("sources") if ws.has("sources") else city.sources
    return (f"{len(sources):,} sources, {len(table):,} inventory rows "
            f"({table['origin'].nunique()} origin(s))")


def _grid(ws, city, state) -> str:
    from sourcegrid.grid.admin import CELLS_TABLE, cells_table
    from sourcegrid.grid.spec import write_spec

    spec = city.spec
    write_spec(ws, spec)
    cells = getattr(city, "cells", None)
    if cells is None or not len(cells):
        cells = cells_table(spec)
    ws.write(CELLS_TABLE, cells)
    state["spec"] = spec
    return (f"{spec.nrows} × {spec.ncols} cells of {spec.cell_size / 1000:g} km "
            f"({len(cells):,} in 'cells')")


def _ingest(ws, city, state) -> str:
    from sourcegrid.observations.ingest import ingest_readings, ingest_wind

    readings = ingest_readings(ws, city.readings, source="sample city readings")
    wind = ingest_wind(ws, city.wind, source="sample city wind")
    met = getattr(city, "met", None)
    if met is not None and len(met):
        frame = met.copy()
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
        ws.write("met", frame)
    kinds = city.readings["site_kind"].value_counts()
    return (f"{readings.added:,} new of {readings.read:,} readings ("
            + ", ".join(f"{kind} {n:,}" for kind, n in kinds.items())
            + f"), {wind.added:,} new of {wind.read:,} wind hours")


def _qc(ws, city, state) -> str:
    from sourcegrid.observations.qc import qc_workspace

    counts = qc_workspace(ws)
    state["result"].qc_counts = counts
    flagged = counts.loc[counts["severity"] == "fail", "count"].sum()
    return f"{int(flagged):,} readings failed QC (left out), " + ", ".join(
        f"{row.flag} {row.count}" for row in counts.itertuples() if row.count)


def _calibrate(ws, city, state) -> str:
    from sourcegrid.observations.calibration import calibrate_workspace

    new = calibrate_workspace(ws)
    state["result"].calibrations = new
    if new.empty:
        return "no micro-station had enough hours beside a reference station"
    return (f"{len(new)} calibration(s); RMSE {new['rmse_before'].mean():.1f} → "
            f"{new['rmse_after'].mean():.1f} µg/m³ (mean)")


def _fuse(ws, city, state) -> str:
    from sourcegrid.grid.fusion import fuse_workspace

    start, end = state["start"], state["end"]
    fused = fuse_workspace(ws, start=start, end=end)
    state["result"].cell_hours = len(fused)
    methods = fused["method"].value_counts()
    return f"{len(fused):,} cell-hours (" + ", ".join(
        f"{m} {n:,}" for m, n in methods.items()) + ")"


def _hotspots(ws, city, state) -> str:
    from sourcegrid.grid import hotspots as science

    p = state["defaults"]
    start, end = state["start"], state["end"]
    hours = ws.table("cell_hours")
    cells = ws.table("cells")
    pollutant = p["pollutant"]
    ranked = science.rank_cells(hours, start, end, pollutant=pollutant, top=p["hotspot_top"],
                                cells=cells)
    ranked = ranked.assign(method="rank", pollutant=pollutant, period_start=start,
                           period_end=end)
    ws.write("hotspots", ranked)
    gistar = science.gi_star_cells(hours, start, end, radius_cells=p["gistar_radius_cells"],
                                   shape=p["gistar_shape"], pollutant=pollutant,
                                   grid_shape=state["spec"].shape, alpha=p["gistar_alpha"],
                                   cells=cells)
    ws.write("hotspot_gistar", gistar.assign(pollutant=pollutant))
    persistent = science.persistence(hours, start, end, pollutant=pollutant,
                                     top_percent=p["persistence_top_percent"], cells=cells)
    ws.write("hotspot_persistence", persistent.assign(pollutant=pollutant))
    month = start.tz_convert("Asia/Shanghai").strftime("%Y-%m")
    monthly = science.monthly_lists(hours, month, pollutant=pollutant, top=p["monthly_top"],
                                    cells=cells)
    ws.write("hotspot_monthly", monthly.assign(month=month, pollutant=pollutant))
    out = state["result"]
    out.hotspots, out.gistar, out.persistence, out.monthly = ranked, gistar, persistent, monthly
    hot = int((gistar["spot"] == "hot").sum())
    top = ranked.iloc[0] if len(ranked) else None
    return (f"top {len(ranked)} cells by mean {pollutant}"
            + (f" (highest {top['cell_id']}: {top['mean']:.1f} µg/m³, "
               f"{top['ratio_to_city_mean']:.2f}× the city mean)" if top is not None else "")
            + f"; {hot} Gi* hot spot(s)")


def _classify(ws, city, state) -> str:
    from sourcegrid.grid.classify import classify_cells
    from sourcegrid.grid.grading import grade_cells
    from sourcegrid.grid.hotspots import rank_cells

    p = state["defaults"]
    start, end = state["start"], state["end"]
    hours = ws.table("cell_hours")
    cells = ws.table("cells")
    means = rank_cells(hours, start, end, pollutant=p["pollutant"], top_percent=100,
                       cells=cells)
    graded = grade_cells(means.drop(columns="rank"), pollutant=p["pollutant"],
                         concentration_set=p["concentration_set"], excess_set=p["excess_set"])
    types = classify_cells(hours, start, end, cells=cells, parameter_set=p["signature_set"])
    result = graded.merge(types.drop(columns=["row", "col", "city_code"]), on="cell_id",
                          how="left")
    result = result.sort_values(["concentration_level", "excess_level", "mean"],
                                ascending=False).reset_index(drop=True)
    result["hotspot"] = result["cell_id"].isin(set(state["result"].hotspots["cell_id"]))
    ws.write("cell_grades", result)
    state["result"].grades = result
    levels = result.loc[result["hotspot"], "excess_name"].value_counts()
    return f"{len(result):,} cells graded; hotspots by excess: " + ", ".join(
        f"{name} {n}" for name, n in levels.items())


def _trace_series(traced, top: int = 3) -> pd.DataFrame:
    """Long table of a trace's series at its cell: excess, fitted sum, top sources, residual."""
    cell = traced.cell_id
    columns = {"excess": traced.excess[cell] if cell in traced.excess else None,
               "fitted": traced.fitted.sum(axis=1) if len(traced.fitted.columns) else None,
               "residual": traced.residual}
    ranked = traced.table.sort_values("rank")["source_id"].tolist()
    for source_id in [s for s in ranked if s in traced.fitted.columns][:top]:
        columns[f"fitted {source_id}"] = traced.fitted[source_id]
    pieces = []
    for name, values in columns.items():
        if values is None:
            continue
        series = pd.Series(values).astype(float)
        pieces.append(pd.DataFrame({"cell_id": cell, "time": series.index, "series": name,
                                    "value": series.to_numpy()}))
    frame = pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(
        columns=["cell_id", "time", "series", "value"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


def _trace(ws, city, state) -> str:
    from sourcegrid.tracing import attribution

    if not state.get("inventory_built"):
        raise _Skipped("tracing needs the inventory step (sourcegrid.inventory)")
    p = state["defaults"]
    out = state["result"]
    chosen = out.hotspots["cell_id"].head(p["trace_top"]).tolist()
    tables, series, failed = [], [], []
    for cell_id in chosen:
        try:
            traced = attribution.trace_cell(ws, cell_id, state["start"], state["end"],
                                            pollutant=p["pollutant"],
                                            radius_km=p["trace_radius_km"])
        except (SourcegridError, ValueError) as error:  # e.g. no candidate within reach
            failed.append(f"{cell_id}: {type(error).__name__}: {error}")
            continue
        out.traces[cell_id] = traced
        table = traced.table.copy()
        table.insert(0, "cell_id", cell_id)
        tables.append(table)
        series.append(_trace_series(traced))
    if tables:
        out.trace_table = pd.concat(tables, ignore_index=True)
        ws.write("trace_series", pd.concat(series, ignore_index=True))
    first = out.trace_table.loc[out.trace_table["rank"] == 1] if tables else out.trace_table
    detail = f"{len(tables)} of {len(chosen)} cell(s) traced"
    if tables:
        detail += "; first-ranked: " + ", ".join(
            f"{row.cell_id} → {row.source_id}" for row in first.itertuples())
    if failed:
        detail += "; not traced: " + "; ".join(failed)
    return detail


def _station_hours(ws) -> pd.DataFrame:
    """Hourly means of the reference stations' passing readings (AQI pollutants)."""
    from sourcegrid.observations.ingest import load_readings
    from sourcegrid.observations.qc import FLAGS_TABLE, passing
    from sourcegrid.quality.averaging import AQI_POLLUTANTS

    readings = load_readings(ws, site_kind="reference")
    readings = readings.loc[readings["pollutant"].isin(AQI_POLLUTANTS)]
    if ws.has(FLAGS_TABLE):
        flags = ws.read(FLAGS_TABLE)
        flags["time"] = pd.to_datetime(flags["time"], utc=True)
        readings = passing(readings, flags)
    readings = readings.assign(time=readings["time"].dt.floor("h"))
    return readings.groupby(["time", "site_id", "pollutant"], as_index=False)["value"].mean()


def _aqi(ws, city, state) -> str:
    from sourcegrid.quality import aqi
    from sourcegrid.quality.averaging import AQI_POLLUTANTS
    from sourcegrid.quality.gooddays import city_hourly

    p = state["defaults"]
    hours = _station_hours(ws)
    if hours.empty:
        raise _Skipped("no reference-station readings of AQI pollutants")
    name = getattr(city, "name", None) or p["city_name"]
    city_hours = city_hourly(hours, {site: name for site in hours["site_id"].unique()})
    city_hours = city_hours.drop(columns="stations")
    both = pd.concat([hours, city_hours], ignore_index=True)
    not_monitored = [x for x in AQI_POLLUTANTS if x not in set(both["pollutant"])]
    hourly = aqi.hourly(both, not_monitored=not_monitored)
    daily = aqi.daily(both, not_monitored=not_monitored)
    for frame in (hourly, daily):
        frame["site_id"] = frame["site_id"].astype(str)
        frame["unit_kind"] = frame["site_id"].map(lambda s: "city" if s == name else "station")
    ws.write("aqi_hourly", hourly)
    ws.write("aqi_daily", daily)
    out = state["result"]
    out.aqi_hourly, out.aqi_daily = hourly, daily
    state["city_unit"] = name
    city_days = daily.loc[daily["site_id"] == name, "aqi"]
    return (f"{len(hourly):,} station-hours, {len(daily):,} station-days; city daily AQI "
            f"{city_days.min():.0f}–{city_days.max():.0f}"
            + (f" (pollutants not monitored: {', '.join(not_monitored)})" if not_monitored
               else ""))


def _good_days(ws, city, state) -> str:
    from sourcegrid.quality.gooddays import assess_good_days

    daily = state["result"].aqi_daily
    if daily.empty:
        raise _Skipped("no daily AQI")
    first = state["start"].tz_convert("Asia/Shanghai").date()
    last = (state["end"] - pd.Timedelta(hours=1)).tz_convert("Asia/Shanghai").date()
    frame = assess_good_days(daily[["date", "site_id", "aqi"]], first, last, compare=False,
                             mean_row=False)
    frame["unit_kind"] = frame["unit"].map(
        lambda s: "city" if s == state.get("city_unit") else "station")
    ws.write("good_days", frame)
    state["result"].good_days = frame
    city_row = frame.loc[frame["unit_kind"] == "city"]
    if len(city_row):
        row = city_row.iloc[0]
        return (f"city: {int(row['good_days'])} good days of {int(row['valid_days'])} "
                f"({row['good_ratio']:.1f} %)")
    return f"{len(frame)} unit(s)"


def _workflow(ws, city, state) -> str:
    from sourcegrid.workflow.demo import setup_demo_workflow

    summary = setup_demo_workflow(ws)
    state["result"].workflow = summary
    if isinstance(summary, dict):
        return ", ".join(f"{key} {value}" for key, value in summary.items()
                         if isinstance(value, int | float | str))
    return str(summary) if isinstance(summary, str) else "demo organisation, people and alerts"


_STEP_FUNCTIONS = {
    "library": _library, "accounting": _accounting, "macro": _macro, "grid": _grid,
    "inventory": _inventory,
    "ingest": _ingest, "qc": _qc, "calibrate": _calibrate, "fuse": _fuse,
    "hotspots": _hotspots, "classify": _classify, "trace": _trace, "aqi": _aqi,
    "good_days": _good_days, "workflow": _workflow,
}


def run_city_pipeline(workspace, city, *, progress: Progress | None = None,
                      skip: tuple[str, ...] = (), **options) -> PipelineResult:
    """Run the whole chain on ``city`` into ``workspace``.

    Parameters
    ----------
    workspace : sourcegrid.store.Workspace
        Where every table is written (tables of earlier runs are replaced).
    city : SampleCity
        Fields spec, cells, activity, treatment, sources, other_emissions, readings,
        wind, met (as :func:`sourcegrid.sample.city.generate_city` returns them).
    progress : callable(StepReport), optional
        Called when each step starts and ends (the CLI prints a line per step).
    skip : tuple of str
        Steps not to run (names of :data:`PIPELINE_STEPS`), e.g. ``('workflow',)``.
    **options
        Overrides of :data:`PIPELINE_DEFAULTS` (e.g. ``trace_top=3``).

    Returns
    -------
    PipelineResult

    Raises
    ------
    sourcegrid.errors.NotFoundError
        An unknown step in ``skip`` or an unknown option (checked before any work).
    """
    from sourcegrid.errors import NotFoundError

    names = [name for name, _ in PIPELINE_STEPS]
    for name in skip:
        if name not in names:
            raise NotFoundError("pipeline step", name, names)
    for name in options:
        if name not in PIPELINE_DEFAULTS:
            raise NotFoundError("pipeline option", name, list(PIPELINE_DEFAULTS))
    start, end = _period(city.readings)
    result = PipelineResult(workspace_path=Path(workspace.path), start=start, end=end)
    state: dict[str, Any] = {"result": result, "start": start, "end": end,
                             "defaults": {**PIPELINE_DEFAULTS, **options}}
    rows = []
    total = len(PIPELINE_STEPS)
    for index, (name, title) in enumerate(PIPELINE_STEPS, start=1):
        report = StepReport(index, total, name, title)
        if name in skip:
            report.status, report.detail = "skipped", "skipped on request"
        else:
            if progress is not None:
                progress(replace(report))
            began = _time.perf_counter()
            try:
                report.detail = _STEP_FUNCTIONS[name](workspace, city, state)
                report.status = "done"
            except _Skipped as reason:
                report.status, report.detail = "skipped", str(reason)
                result.missing.append(f"{name}: {reason}")
            report.seconds = _time.perf_counter() - began
        if progress is not None:
            progress(replace(report))
        rows.append({"index": index, "name": name, "title": title, "status": report.status,
                     "seconds": round(report.seconds, 3), "detail": report.detail})
    result.steps = pd.DataFrame(rows)
    workspace.write(STEPS_TABLE, result.steps.assign(period_start=start, period_end=end))
    return result
