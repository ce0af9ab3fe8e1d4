"""CLI: ``sourcegrid grid create | fuse | export``.

Thin commands over :mod:`sourcegrid.grid.spec`, :mod:`sourcegrid.grid.admin` and
:mod:`sourcegrid.grid.fusion`; tables ``grid_spec``, ``cells`` and ``cell_hours``.
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


class ExportTable(StrEnum):
    cells = "cells"
    cell_hours = "cell_hours"


def _parse_bbox(text: str) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise typer.BadParameter(f"expected min_lon,min_lat,max_lon,max_lat, got {text!r}")
    return values  # type: ignore[return-value]


def create(
    workspace: WorkspaceOption = None,
    bbox: Annotated[str | None, typer.Option(
        "--bbox", help="min_lon,min_lat,max_lon,max_lat [degree].", show_default=False)] = None,
    boundary: Annotated[Path | None, typer.Option(
        "--boundary", help="GeoJSON boundary of the area (lon/lat).", show_default=False)] = None,
    cell_size: Annotated[float, typer.Option("--cell-size", help="Cell side [m].")] = 3000.0,
    crs: Annotated[str | None, typer.Option(
        "--crs", help="Projected CRS (EPSG code); default the UTM zone of the centre.",
        show_default=False)] = None,
    admin: Annotated[Path | None, typer.Option(
        "--admin", help="Admin units: GeoJSON polygons with city_code/county_code/township_code "
        "properties, or a table cell_id → codes (.csv/.xlsx/.parquet).", show_default=False)] = None,
    clip: Annotated[bool, typer.Option(
        "--clip/--no-clip", help="Keep only cells whose centre lies inside --boundary.")] = True,
) -> None:
    """Create the grid (网格) and its cells table, with admin codes per cell."""
    from sourcegrid.grid.admin import (
        CELLS_TABLE,
        admin_from_boundaries,
        admin_from_table,
        cells_table,
    )
    from sourcegrid.grid.spec import GridSpec, write_spec

    if (bbox is None) == (boundary is None):
        raise typer.BadParameter("give exactly one of --bbox or --boundary")
    with reported_errors():
        if bbox is not None:
            spec = GridSpec.from_bbox(_parse_bbox(bbox), cell_size, crs)
        else:
            spec = GridSpec.from_boundary(boundary, cell_size, crs)
        codes = None
        if admin is not None:
            cells = spec.cells()
            if admin.suffix.lower() in (".geojson", ".json"):
                codes = admin_from_boundaries(cells, admin)
            else:
                from sourcegrid.io.tables import read_table

                codes = admin_from_table(cells, read_table(admin), source=admin.name)
        table = cells_table(spec, codes, boundary=boundary, clip=clip and boundary is not None)
        ws = open_workspace(workspace, create=True)
        write_spec(ws, spec)
        ws.write(CELLS_TABLE, table)
    console.print(f"grid {spec.nrows} rows × {spec.ncols} columns of {spec.cell_size:g} m in "
                  f"{spec.crs}; {len(table)} cells stored in 'cells'")
    with_codes = int(table["county_code"].notna().sum())
    if admin is not None:
        console.print(f"{with_codes} cells with a county code")


def fuse(
    workspace: WorkspaceOption = None,
    start: Annotated[str | None, typer.Option(
        "--from", help="Start (ISO 8601; naive = Beijing time), included.", show_default=False)] = None,
    end: Annotated[str | None, typer.Option(
        "--to", help="End (ISO 8601; naive = Beijing time), excluded.", show_default=False)] = None,
    interpolate: Annotated[bool, typer.Option(
        "--interpolate/--observed-only", help="Fill cells without readings (IDW, satellite).")] = True,
    max_distance: Annotated[float, typer.Option(
        "--max-distance", help="IDW neighbour reach [m].")] = 15000.0,
    append: Annotated[bool, typer.Option(
        "--append", help="Keep stored cell-hours outside --from/--to.")] = False,
) -> None:
    """Fuse passing readings into cell-hours (table cell_hours)."""
    from sourcegrid.grid.fusion import fuse_workspace

    with reported_errors():
        ws = open_workspace(workspace)
        result = fuse_workspace(ws, start=start, end=end, mode="append" if append else "replace",
                                max_distance=max_distance, interpolate=interpolate)
    if result.empty:
        console.print("no readings in the period; cell_hours is empty")
        return
    summary = (result.groupby(["pollutant", "method"]).agg(
        cell_hours=("value", "size"), mean=("value", "mean"),
        mean_uncertainty=("uncertainty", "mean")).reset_index())
    console.print(frame_table(summary, "cell_hours"))


def export(
    table: Annotated[ExportTable, typer.Option("--table", help="Table to export.")],
    out: Annotated[Path, typer.Option("--out", "-o", help=".csv, .parquet, .xlsx or .geojson.")],
    workspace: WorkspaceOption = None,
    pollutant: Annotated[str | None, typer.Option(
        "--pollutant", "-p", help="Only this pollutant (cell_hours).", show_default=False)] = None,
) -> None:
    """Export cells or cell_hours (GeoJSON: cell polygons in lon/lat)."""
    import json

    import pandas as pd

    from sourcegrid.grid.spec import read_spec
    from sourcegrid.io.tables import write_table

    with reported_errors():
        ws = open_workspace(workspace)
        frame = ws.read(table.value)
        if pollutant is not None and "pollutant" in frame:
            frame = frame.loc[frame["pollutant"] == pollutant]
        if out.suffix.lower() in (".geojson", ".json"):
            spec = read_spec(ws)
            for column in frame.columns:
                if pd.api.types.is_datetime64_any_dtype(frame[column]):
                    frame[column] = frame[column].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            out.write_text(json.dumps(spec.to_geojson(frame), ensure_ascii=False),
                           encoding="utf-8")
        else:
            if out.suffix.lower() in (".csv", ".xlsx"):
                for column in frame.columns:
                    if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
                        frame[column] = frame[column].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            write_table(frame, out)
    console.print(f"{len(frame)} rows of {table.value} written to {out}")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``grid create``, ``grid fuse`` and ``grid export``."""
    groups["grid"].command("create")(create)
    groups["grid"].command("fuse")(fuse)
    groups["grid"].command("export")(export)
