"""CLI: ``sourcegrid observe ingest | qc | calibrate``.

Thin commands over :mod:`sourcegrid.observations.ingest`, :mod:`~sourcegrid.observations.qc`
and :mod:`~sourcegrid.observations.calibration`.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sourcegrid.cli.common import (
    WorkspaceOption,
    console,
    frame_table,
    open_workspace,
    reported_errors,
)

REJECTS_TABLE = "observation_rejects"


class FeedKind(StrEnum):
    micro = "micro"
    reference = "reference"
    mobile = "mobile"
    satellite = "satellite"
    wind = "wind"


class Model(StrEnum):
    linear = "linear"
    multivariate = "multivariate"


def ingest(
    files: Annotated[list[Path], typer.Argument(help="Files to ingest (CSV/XLSX/Parquet; "
                                                "GeoTIFF/NetCDF for satellite).")],
    kind: Annotated[FeedKind, typer.Option("--kind", "-k", help="Feed kind.")],
    workspace: WorkspaceOption = None,
    sheet: Annotated[str | None, typer.Option("--sheet", help="XLSX sheet.",
                                              show_default=False)] = None,
    date: Annotated[str | None, typer.Option(
        "--date", help="Day of a satellite raster without a date (YYYY-MM-DD).",
        show_default=False)] = None,
    variable: Annotated[str | None, typer.Option(
        "--variable", help="NetCDF variable of a satellite raster.", show_default=False)] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Read a file again even if already ingested (keys still dedupe).")] = False,
) -> None:
    """Ingest observation files into the workspace (re-ingesting adds nothing twice)."""
    import pandas as pd
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sourcegrid.observations.ingest import ingest_file

    totals = []
    with reported_errors():
        if date is not None:
            from sourcegrid.observations.readers import utc_timestamp

            utc_timestamp(date, "--date")
        ws = open_workspace(workspace, create=True)
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=True) as progress:
            for path in files:
                task = progress.add_task(f"ingest {path.name}", total=None)

                def update(done: int, total: int, task=task) -> None:
                    progress.update(task, completed=done, total=total)

                result = ingest_file(ws, path, kind.value, sheet=sheet, date=date,
                                     variable=variable, force=force, progress=update)
                if len(result.rejects):
                    ws.write(REJECTS_TABLE, result.rejects.astype({"row": "Int64"}), mode="append")
                totals.append({"file": path.name, "table": result.table,
                               "read": result.read, "added": result.added,
                               "already_stored": result.already_stored,
                               "repeated": result.repeated, "rejected": len(result.rejects),
                               "skipped": "same file already ingested" if result.skipped_file
                               else ""})
                if len(result.rejects):
                    console.print(frame_table(result.rejects, f"rejected values in {path.name}",
                                              max_rows=20))
    console.print(frame_table(pd.DataFrame(totals), "ingest"))


def _need_readings(ws) -> None:
    """Refuse QC and calibration on a workspace without ingested readings, saying what to do."""
    from sourcegrid.errors import WorkspaceError
    from sourcegrid.observations.ingest import OBSERVATIONS_TABLE

    if not ws.has(OBSERVATIONS_TABLE):
        raise WorkspaceError("the workspace has no readings yet (table observations): ingest "
                             "them first with 'sourcegrid observe ingest FILE --kind KIND'")


def qc(
    workspace: WorkspaceOption = None,
) -> None:
    """Flag readings (never delete): range, spike, flat line, duplicates, PM2.5>PM10, drift, gaps."""
    from sourcegrid.observations.qc import qc_workspace

    with reported_errors():
        ws = open_workspace(workspace)
        _need_readings(ws)
        counts = qc_workspace(ws)
    console.print(frame_table(counts, "QC flags (observation_flags; gaps in observation_gaps)"))


def calibrate(
    workspace: WorkspaceOption = None,
    model: Annotated[Model, typer.Option("--model", "-m", help="Regression model.")] = Model.linear,
    max_distance: Annotated[float, typer.Option(
        "--max-distance", help="Pairing distance micro-station → reference station [m].")] = 3000.0,
    pollutant: Annotated[list[str] | None, typer.Option(
        "--pollutant", "-p", help="Pollutants to calibrate (default PM2.5 and PM10).",
        show_default=False)] = None,
    start: Annotated[str | None, typer.Option(
        "--from", help="Fit period start (naive = Beijing time).", show_default=False)] = None,
    end: Annotated[str | None, typer.Option(
        "--to", help="Fit period end, excluded.", show_default=False)] = None,
) -> None:
    """Calibrate micro-stations against the nearest reference station (table calibrations)."""
    from sourcegrid.cli.grid import check_pollutant
    from sourcegrid.errors import OptionError
    from sourcegrid.observations.calibration import calibrate_workspace
    from sourcegrid.observations.readers import utc_period

    with reported_errors():
        low, high = utc_period(start, end)
        if not 0 < max_distance <= 100_000:
            raise OptionError("--max-distance", max_distance, "a pairing distance in metres "
                              "above 0 and at most 100,000")
        pollutants = tuple(check_pollutant(p, fused=True) for p in pollutant) if pollutant \
            else ("PM2.5", "PM10")
        ws = open_workspace(workspace)
        _need_readings(ws)
        new = calibrate_workspace(ws, model=model.value, max_distance=max_distance,
                                  pollutants=pollutants, start=low, end=high)
    if new.empty:
        console.print("no micro-station had enough hours paired with a reference station")
        return
    columns = ["site_id", "pollutant", "reference_id", "n_pairs", "intercept", "slope",
               "rmse_before", "rmse_after", "r2_before", "r2_after", "bias_before", "bias_after"]
    console.print(frame_table(new[columns], f"{len(new)} calibration(s) ({model.value})"))


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``observe ingest``, ``observe qc`` and ``observe calibrate``."""
    groups["observe"].command("ingest")(ingest)
    groups["observe"].command("qc")(qc)
    groups["observe"].command("calibrate")(calibrate)
