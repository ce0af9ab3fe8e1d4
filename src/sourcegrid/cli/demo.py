"""``sourcegrid demo``: the sample city end to end, with a report.

Generates the sample city (:func:`sourcegrid.sample.city.generate_city`), runs
:func:`sourcegrid.pipeline.run_city_pipeline` with a line per step, writes the report
(:func:`sourcegrid.report.build_report`) and prints a summary. The generated inputs
and the explained emissions are left in ``<workspace>/demo/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sourcegrid.cli.common import (
    WorkspaceOption,
    console,
    err_console,
    frame_table,
    open_workspace,
    reported_errors,
)

#: Section-activity rows per sample enterprise (1-3 sections each, as
#: :func:`sourcegrid.sample.enterprises.generate_enterprises` draws them): --rows N asks
#: the city generator for N // 2 enterprises.
ROWS_PER_ENTERPRISE = 2


def _generate(seed: int, days: int | None, rows: int | None):
    """The sample city; --rows N becomes N // 2 enterprises."""
    from sourcegrid.sample.city import generate_city

    options: dict = {}
    if days is not None:
        options["days"] = days
    if rows is not None:
        options["n_enterprises"] = max(1, rows // ROWS_PER_ENTERPRISE)
    return generate_city(seed, **options)


def _step_printer(status):
    """A progress callback printing one line per finished step (spinner while running)."""

    def show(report) -> None:
        if report.status == "running":
            status.update(f"[{report.index}/{report.total}] {report.title} …")
            return
        mark = {"done": "[green]✓[/]", "skipped": "[yellow]–[/]"}.get(report.status, "?")
        console.print(f"{mark} [{report.index:>2}/{report.total}] [bold]{report.name:<10}[/] "
                      f"{report.seconds:6.1f} s  {report.detail}", highlight=False)

    return show


def _print_summary(result, report_path: Path, folder: Path, seconds: float) -> None:
    import pandas as pd

    from sourcegrid.cli.accounting import _totals_table

    if len(result.emissions):
        console.print(_totals_table(result.emissions, "Sample city: emissions by industry and "
                                    "pollutant (illustrative library)"))
    console.print(frame_table(result.accounting_summary, "Summary"))
    if len(result.hotspots):
        grades = result.grades
        shown = result.hotspots[["rank", "cell_id", "mean", "ratio_to_city_mean"]]
        if len(grades):
            shown = shown.merge(grades[["cell_id", "concentration_category", "excess_name",
                                        "type"]], on="cell_id", how="left")
        console.print(frame_table(shown, "Hotspot cells 热点网格 (PM2.5 µg/m³)",
                                  float_format="{:,.2f}"))
    if len(result.trace_table):
        table = result.trace_table
        columns = [c for c in ("cell_id", "rank", "source_id", "name", "kind", "distance_m",
                               "share", "scale_factor") if c in table]
        top = table.loc[table["rank"] <= 3, columns] if "rank" in table else table[columns]
        if "distance_m" in top:  # whole metres read better than 2.63e+03
            top = top.assign(distance_m=top["distance_m"].round().astype("Int64"))
        console.print(frame_table(top, "Top traced sources 溯源 (3 per cell)", max_rows=30,
                                  float_format="{:,.3g}"))
    if len(result.good_days):
        good = result.good_days[["unit", "valid_days", "good_days", "good_ratio", "优", "良",
                                 "轻度污染", "中度污染", "重度污染", "严重污染"]]
        console.print(frame_table(good, "Good days 优良天数 (daily AQI ≤ 100, HJ 633)",
                                  float_format="{:,.1f}"))
        daily = result.aqi_daily
        city = daily.loc[daily["unit_kind"] == "city"] if "unit_kind" in daily else daily
        if len(city):
            console.print(f"city daily AQI: mean {city['aqi'].astype(float).mean():.0f}, "
                          f"max {city['aqi'].astype(float).max():.0f}; categories: "
                          + ", ".join(f"{k} {v}" for k, v in
                                      city["category"].value_counts().items() if v))
    for line in result.missing:
        err_console.print(f"[yellow]skipped[/] {line}")
    console.print(f"inputs and explained emissions: {folder}")
    timing = pd.Series(result.steps["seconds"]).sum() if len(result.steps) else 0.0
    console.print(f"pipeline {timing:.1f} s, total {seconds:.1f} s")
    console.print(f"[bold]report:[/] {report_path}")


def demo(
    workspace: WorkspaceOption = None,
    seed: Annotated[int, typer.Option("--seed", min=0, max=2**32 - 1,
                                      help="Random seed of the sample city.")] = 7,
    days: Annotated[int | None, typer.Option(
        "--days", min=1, max=366, help="Days of readings (default: the generator's, 28).",
        show_default=False)] = None,
    rows: Annotated[int | None, typer.Option(
        "--rows", min=2, help="About this many section-activity rows of sample enterprises "
        "(N // 2 enterprises; default: the generator's 300 enterprises).",
        show_default=False)] = None,
    report: Annotated[Path | None, typer.Option(
        "--report", help="Report folder (default <workspace>/report).",
        show_default=False)] = None,
) -> None:
    """Run the main job end to end on the sample city and write a report.

    The sample city is modelled on Cangzhou (沧州); its enterprises are invented.
    Steps: account → inventory → ingest → QC → calibrate → fuse → hotspots → classify →
    trace → AQI → good days. The report folder holds index.html (opens offline) and CSV
    tables; the inputs and the explained emissions are left in <workspace>/demo/.
    """
    import time

    from sourcegrid.accounting.engine import aggregate
    from sourcegrid.io.tables import write_table
    from sourcegrid.pipeline import run_city_pipeline
    from sourcegrid.report import build_report, check_folder

    began = time.perf_counter()
    with reported_errors():  # options are checked before any work
        from sourcegrid.errors import WorkspaceError
        from sourcegrid.store.workspace import default_workspace_path

        target = Path(workspace) if workspace is not None else default_workspace_path()
        if target.exists() and not target.is_dir():
            raise WorkspaceError(f"the workspace {target} is a file; a workspace is a folder "
                                 "holding workspace.duckdb")
        check_folder(report if report is not None else target / "report")
    with reported_errors(), console.status("generating the sample city …"):
        # generated before the workspace is opened: a city the generator refuses (a
        # window outside the packaged weather) leaves no workspace behind
        city = _generate(seed, days, rows)
    with reported_errors(), open_workspace(workspace, create=True) as ws, \
            console.status("running the pipeline …") as status:
        folder_of_report = check_folder(report if report is not None else ws.path / "report")
        folder = ws.path / "demo"
        city.write(folder, truth=False)   # inputs only: the ground truth stays out
        console.print(f"[green]✓[/] sample city: {len(city.activity):,} section-activity "
                      f"rows, {len(city.sources):,} sources, {len(city.readings):,} "
                      f"readings ({time.perf_counter() - began:.1f} s; inputs in {folder})",
                      highlight=False)
        result = run_city_pipeline(ws, city, progress=_step_printer(status))
        if len(result.emissions):
            write_table(result.emissions, folder / "emissions.csv")
            write_table(aggregate(result.emissions, ["region", "industry", "pollutant"]),
                        folder / "totals_by_county.csv")
        status.update("writing the report …")
        report_path = build_report(ws, folder_of_report)
    _print_summary(result, report_path, folder, time.perf_counter() - began)


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``demo`` to the main app."""
    app.command("demo")(demo)
