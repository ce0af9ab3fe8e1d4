"""CLI: ``sourcegrid trace CELL`` and ``sourcegrid findings add|list|import``.

Thin commands: they call :func:`sourcegrid.tracing.attribution.trace_cell` and
:mod:`sourcegrid.tracing.findings`, print rich tables and write files atomically (a
temporary file beside the target, renamed into place).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sourcegrid.cli.common import (
    PollutantOption,
    WorkspaceOption,
    console,
    frame_table,
    open_workspace,
    reported_errors,
    write_frame,
)

OUTPUT_SUFFIXES = (".csv", ".parquet", ".xlsx")
#: Columns of the printed trace table (the file has them all).
SHOWN_COLUMNS = ["rank", "source_id", "name", "kind", "distance_m", "bearing_deg", "share",
                 "scale_factor", "predicted", "fitted", "upwind_hours_share", "group"]


class Background(StrEnum):
    percentile = "percentile"
    upwind = "upwind"


class Terrain(StrEnum):
    rural = "rural"
    urban = "urban"


def _check_out(out: Path | None, option: str = "--out") -> None:
    """Check an output file before any work: its type, and that it can be written."""
    if out is None:
        return
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise typer.BadParameter(f"expected a file ending in {', '.join(OUTPUT_SUFFIXES)}, got "
                                 f"{out.name!r}", param_hint=option)
    from sourcegrid.errors import SourcegridError
    from sourcegrid.io.tables import check_output_path

    try:
        check_output_path(out)
    except SourcegridError as error:
        raise typer.BadParameter(str(error), param_hint=option) from None


def trace(
    cell: Annotated[str, typer.Argument(help="Cell to trace, e.g. R0012C0034.",
                                        show_default=False)],
    start: Annotated[str, typer.Option("--from", help="Start of the window (ISO 8601; naive = "
                                       "Beijing time), included.", show_default=False)],
    end: Annotated[str, typer.Option("--to", help="End of the window, excluded.",
                                     show_default=False)],
    pollutant: PollutantOption = "PM2.5",
    radius_km: Annotated[float, typer.Option(
        "--radius-km", help="Candidate sources within this distance of the cell, or of a "
        "cell fitted with it [km].",
        min=0.5, max=100.0)] = 10.0,
    neighbours: Annotated[int, typer.Option(
        "--neighbours", help="Also fit the cells within this many rings around the cell "
        "(separates sources, triangulates unregistered ones; 0 = the cell alone, faster).",
        min=0, max=3)] = 1,
    background: Annotated[Background, typer.Option(
        "--background", help="Background: a low percentile of all cells each hour, or the "
        "cells upwind.")] = Background.percentile,
    background_percentile: Annotated[float, typer.Option(
        "--background-percentile", help="Percentile of the cells taken as background.",
        min=0.0, max=100.0)] = 10.0,
    terrain: Annotated[Terrain, typer.Option("--terrain", help="Briggs sigmas.")]
    = Terrain.rural,
    unregistered: Annotated[int, typer.Option(
        "--unregistered", help="Unregistered sources to look for in the residual.",
        min=0, max=5)] = 2,
    top: Annotated[int, typer.Option("--top", help="Rows to print.", min=1)] = 15,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write the ranked table: .csv, .parquet or .xlsx.",
        show_default=False)] = None,
    evidence: Annotated[bool, typer.Option("--evidence/--no-evidence",
                                           help="Print the evidence of the first rows.")]
    = True,
    learn: Annotated[bool, typer.Option(
        "--learn/--no-learn", help="Use the inspection findings: sources found by "
        "inspection as candidates, confirmed ones freed from the prior, the re-ranking "
        "model when adopted.")] = True,
    workspace: WorkspaceOption = None,
) -> None:
    """Trace a hotspot cell (溯源) to the sources behind it.

    Ranks the registered sources within --radius-km by a non-negative least-squares
    fit of the cell's excess over the background on each source's predicted series
    (Gaussian plume, the workspace's wind and inventory), groups sources on the same
    bearing that the wind cannot separate, and looks in the residual for unregistered
    sources upwind. Stores the ranking in the table ``trace_results``.
    """
    _check_out(out)
    with reported_errors():
        from sourcegrid.tracing.attribution import trace_cell

        ws = open_workspace(workspace)
        result = trace_cell(ws, cell, start, end, pollutant=pollutant, radius_km=radius_km,
                            neighbours=neighbours, background=background.value,
                            background_percentile=background_percentile,
                            terrain=terrain.value, max_unregistered=unregistered,
                            learn=learn)
        table = result.table
        summary = result.summary
        console.print(frame_table(table[SHOWN_COLUMNS], title=(
            f"sources of {result.cell_id}, {pollutant}, {result.start:%Y-%m-%d %H:%M} to "
            f"{result.end:%Y-%m-%d %H:%M} UTC"), max_rows=top))
        console.print(f"{summary['candidates']} candidate(s) within {radius_km:g} km, "
                      f"{summary['hours']} hour(s) fitted; mean excess "
                      f"{summary['mean_excess']:.3g} µg/m³ over the background; R² "
                      f"{summary['r2']:.2f}")
        if len(result.rejected_candidates):
            console.print(f"[yellow]{len(result.rejected_candidates)} candidate(s) left out "
                          "(bad coordinates or emission rate)[/]")
        if evidence:
            for row in table.head(3).itertuples():
                console.print(f"[bold]{row.rank}. {row.source_id}[/] ({row.kind}): {row.evidence}")
        console.print(f"stored {len(table)} row(s) in table 'trace_results' (run {result.run_id})")
        if out is not None:
            write_frame(result.stored(), out)
            console.print(f"wrote {len(table)} row(s) to {out}")


# ------------------------------------------------------------------------------ findings


def findings_add(
    cell: Annotated[str, typer.Option("--cell", help="The traced cell.", show_default=False)],
    confirmed: Annotated[bool, typer.Option(
        "--confirmed/--not-confirmed", help="The source (or location) is the cause.",
        show_default=False)],
    source: Annotated[str, typer.Option("--source", help="Registered source inspected "
                                        "(source_id).")] = "",
    lon: Annotated[float | None, typer.Option("--lon", help="Longitude of a new source.",
                                              min=-180, max=180, show_default=False)] = None,
    lat: Annotated[float | None, typer.Option("--lat", help="Latitude of a new source.",
                                              min=-90, max=90, show_default=False)] = None,
    problem: Annotated[str, typer.Option("--problem", help="What was wrong.")] = "",
    inspector: Annotated[str, typer.Option("--inspector", help="Who inspected.")] = "",
    time: Annotated[str | None, typer.Option("--time", help="When (ISO 8601; naive = "
                                             "Beijing time); default now.",
                                             show_default=False)] = None,
    note: Annotated[str, typer.Option("--note", help="Free text.")] = "",
    workspace: WorkspaceOption = None,
) -> None:
    """Record an inspection finding (table ``inspection_findings``)."""
    with reported_errors():
        from sourcegrid.tracing.findings import record_finding

        ws = open_workspace(workspace)
        finding_id = record_finding(ws, cell_id=cell, confirmed=confirmed, source_id=source,
                                    lon=lon, lat=lat, problem=problem, inspector=inspector,
                                    time=time, note=note)
        console.print(f"recorded finding {finding_id} for cell {cell}")


def findings_list(
    cell: Annotated[str | None, typer.Option("--cell", help="Only this cell.",
                                             show_default=False)] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write them: .csv, "
                                             ".parquet or .xlsx.", show_default=False)] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """List the inspection findings."""
    _check_out(out)
    with reported_errors():
        from sourcegrid.tracing.findings import read_findings

        ws = open_workspace(workspace)
        frame = read_findings(ws, cell)
        console.print(frame_table(frame, title="inspection findings"))
        console.print(f"{len(frame)} finding(s), {int(frame['confirmed'].sum())} confirmed")
        if out is not None:
            write_frame(frame, out)
            console.print(f"wrote {len(frame)} row(s) to {out}")


def findings_import(
    path: Annotated[Path, typer.Argument(help="Findings file (CSV, XLSX, Parquet).",
                                         exists=True, dir_okay=False, show_default=False)],
    sheet: Annotated[str | None, typer.Option("--sheet", help="XLSX sheet.",
                                              show_default=False)] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Import findings from a file: every bad row is reported and nothing is stored then.

    Columns: cell_id, confirmed, and source_id or lon/lat; optional finding_id,
    problem, inspector, time, note (Chinese headers 网格编号, 是否确认, 污染源编号, 经度,
    纬度, 问题, 核查人, 时间, 备注 also work).
    """
    with reported_errors():
        from sourcegrid.tracing.findings import import_findings

        ws = open_workspace(workspace, create=True)
        read, added = import_findings(ws, path, sheet=sheet)
        console.print(f"read {read} finding(s) from {path.name}; stored {added} new")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``trace`` to the main app and the ``findings`` group."""
    app.command("trace")(trace)
    findings_app = typer.Typer(help="Inspection findings (核查结果): add, list, import.",
                               no_args_is_help=True)
    findings_app.command("add")(findings_add)
    findings_app.command("list")(findings_list)
    findings_app.command("import")(findings_import)
    app.add_typer(findings_app, name="findings")
