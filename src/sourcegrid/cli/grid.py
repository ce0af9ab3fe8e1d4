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
    FromOption,
    ToOption,
    WorkspaceOption,
    console,
    frame_table,
    open_workspace,
    reported_errors,
)


class ExportTable(StrEnum):
    cells = "cells"
    cell_hours = "cell_hours"


#: Tables computed on the cells of a grid: a new grid under them makes them inconsistent.
GRID_DEPENDENT_TABLES = ("cell_hours", "satellite", "hotspots", "cell_grades")


def _parse_bbox(text: str) -> tuple[float, float, float, float]:
    """--bbox as four finite numbers, min < max, longitudes in ±180 and latitudes in ±90."""
    from sourcegrid.errors import OptionError

    expected = ("min_lon,min_lat,max_lon,max_lat in degrees, e.g. 116.3,39.8,116.5,40.0, "
                "with -180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90")
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise OptionError("--bbox", repr(text), expected)
    min_lon, min_lat, max_lon, max_lat = values
    if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
        what = "reversed" if (min_lon >= max_lon or min_lat >= max_lat) else "out of range"
        raise OptionError("--bbox", f"{text!r} ({what})", expected)
    return values  # type: ignore[return-value]


def check_cell_size(cell_size: float) -> None:
    """--cell-size in (0, MAX_CELL_SIZE] metres."""
    from sourcegrid.errors import OptionError
    from sourcegrid.grid.spec import MAX_CELL_SIZE

    if not 0 < cell_size <= MAX_CELL_SIZE:
        raise OptionError("--cell-size", cell_size, f"a cell side in metres, above 0 and at "
                          f"most {MAX_CELL_SIZE:g} (3000 for the national hotspot grid)")


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
    max_cells: Annotated[int, typer.Option(
        "--max-cells", help="Refuse a grid with more cells (memory: about 240 bytes a cell).")]
    = 5_000_000,
    replace: Annotated[bool, typer.Option(
        "--replace", help="Replace a different grid that already has results on its cells "
        "(cell_hours, satellite, hotspots, cell_grades are dropped).")] = False,
) -> None:
    """Create the grid (网格) and its cells table, with admin codes per cell.

    Over a workspace whose grid already has results on its cells, a different grid is
    refused unless --replace is given (the results on the old cells are then dropped).
    """
    from sourcegrid.errors import OptionError
    from sourcegrid.grid.admin import (
        CELLS_TABLE,
        admin_from_boundaries,
        admin_from_table,
        cells_table,
    )
    from sourcegrid.grid.spec import SPEC_TABLE, GridSpec, read_spec, write_spec

    if (bbox is None) == (boundary is None):
        raise typer.BadParameter("give exactly one of --bbox or --boundary")
    with reported_errors():
        check_cell_size(cell_size)
        if not max_cells >= 1:
            raise OptionError("--max-cells", max_cells, "a positive number of cells")
        if bbox is not None:
            spec = GridSpec.from_bbox(_parse_bbox(bbox), cell_size, crs)
        else:
            spec = GridSpec.from_boundary(boundary, cell_size, crs)
        spec.check_size(max_cells)  # before any cell is built
        ws = open_workspace(workspace, create=True)
        dependent = []
        if ws.has(SPEC_TABLE) and read_spec(ws) != spec:
            dependent = [name for name in GRID_DEPENDENT_TABLES if ws.has(name)]
            if dependent and not replace:
                from sourcegrid.errors import WorkspaceError

                raise WorkspaceError(
                    f"the workspace already has a different grid ({read_spec(ws).nrows} × "
                    f"{read_spec(ws).ncols} cells of {read_spec(ws).cell_size:g} m) with results "
                    f"on its cells ({', '.join(dependent)}); a new grid would leave them on "
                    "the wrong cells. Give --replace to replace the grid and drop them, or "
                    "use another --workspace")
        codes = None
        if admin is not None:
            cells = spec.cells()
            if admin.suffix.lower() in (".geojson", ".json"):
                codes = admin_from_boundaries(cells, admin)
            else:
                from sourcegrid.io.tables import read_table

                codes = admin_from_table(cells, read_table(admin), source=admin.name)
        table = cells_table(spec, codes, boundary=boundary, clip=clip and boundary is not None)
        if table.empty:
            raise OptionError("--boundary", boundary, "an area containing the centre of at "
                              "least one cell (or --no-clip)")
        for name in dependent:
            ws.drop(name)
        write_spec(ws, spec)
        ws.write(CELLS_TABLE, table)
    console.print(f"grid {spec.nrows} rows × {spec.ncols} columns of {spec.cell_size:g} m in "
                  f"{spec.crs}; {len(table)} cells stored in 'cells'")
    if dependent:
        console.print(f"replaced the previous grid; dropped {', '.join(dependent)} (computed "
                      "on its cells)")
    with_codes = int(table["county_code"].notna().sum())
    if admin is not None:
        console.print(f"{with_codes} cells with a county code")


def fuse(
    workspace: WorkspaceOption = None,
    start: FromOption = None,
    end: ToOption = None,
    interpolate: Annotated[bool, typer.Option(
        "--interpolate/--observed-only", help="Fill cells without readings (IDW, satellite).")] = True,
    max_distance: Annotated[float, typer.Option(
        "--max-distance", help="IDW neighbour reach [m].")] = 15000.0,
    append: Annotated[bool, typer.Option(
        "--append", help="Keep stored cell-hours outside --from/--to.")] = False,
) -> None:
    """Fuse passing readings into cell-hours (table cell_hours).

    A period without readings to fuse changes nothing: the stored cell_hours are kept.
    """
    from sourcegrid.errors import OptionError
    from sourcegrid.grid.fusion import fuse_workspace
    from sourcegrid.observations.readers import utc_period

    with reported_errors():
        utc_period(start, end)
        if not 0 < max_distance <= 1_000_000:
            raise OptionError("--max-distance", max_distance, "a distance in metres above 0 "
                              "and at most 1,000,000")
        ws = open_workspace(workspace)
        result = fuse_workspace(ws, start=start, end=end, mode="append" if append else "replace",
                                max_distance=max_distance, interpolate=interpolate)
    unplaced = result.attrs.get("unplaced_readings", 0)
    if unplaced:
        console.print(f"{unplaced:,} reading(s) of the period have no position or lie outside "
                      "the grid and were not fused")
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
        if pollutant is not None:
            pollutant = check_pollutant(pollutant)
        ws = open_workspace(workspace)
        frame = ws.read(table.value)
        if pollutant is not None and "pollutant" in frame:
            frame = frame.loc[frame["pollutant"] == pollutant]
        if out.suffix.lower() in (".geojson", ".json"):
            spec = read_spec(ws)
            for column in frame.columns:
                if pd.api.types.is_datetime64_any_dtype(frame[column]):
                    frame[column] = frame[column].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            from sourcegrid.io.tables import atomic_path

            with atomic_path(out) as partial:
                partial.write_text(json.dumps(spec.to_geojson(frame), ensure_ascii=False),
                                   encoding="utf-8")
        else:
            if out.suffix.lower() in (".csv", ".xlsx"):
                for column in frame.columns:
                    if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
                        frame[column] = frame[column].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            write_table(frame, out)
    console.print(f"{len(frame)} rows of {table.value} written to {out}")


def check_pollutant(name: str, option: str = "--pollutant", *, fused: bool = False) -> str:
    """The canonical name of a pollutant option ('pm25' → 'PM2.5'); unknown names list the
    valid ones (``fused``: only those fusion puts in cell_hours, no RH/TEMP)."""
    from sourcegrid.errors import OptionError
    from sourcegrid.grid.fusion import NOT_FUSED
    from sourcegrid.observations.readers import POLLUTANTS, canonical_pollutant

    valid = [p for p in POLLUTANTS if not (fused and p in NOT_FUSED)]
    canonical = canonical_pollutant(name)
    if canonical not in valid:
        raise OptionError(option, repr(name), f"one of {', '.join(valid)}")
    return canonical


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add ``grid create``, ``grid fuse`` and ``grid export``."""
    groups["grid"].command("create")(create)
    groups["grid"].command("fuse")(fuse)
    groups["grid"].command("export")(export)
