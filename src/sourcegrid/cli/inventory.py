"""CLI: ``sourcegrid inventory import | build | show``.

Thin commands over :mod:`sourcegrid.inventory`; tables ``sources``, ``inventory`` and
``cell_inventory``.
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

_OUT_SUFFIXES = (".csv", ".xlsx", ".parquet", ".geojson", ".json")


class ShowBy(StrEnum):
    sector = "sector"
    cell = "cell"
    pollutant = "pollutant"



#: --replace of import and build: one inventory per source × pollutant × period.
ReplaceOption = Annotated[bool, typer.Option(
    "--replace", help="Replace rows of other inventories covering the same source × "
    "pollutant × period (default: refuse, so that no mass is counted twice).")]

def _print_result(result) -> None:
    totals = result.inventory.groupby(["pollutant"], as_index=False).agg(
        sources=("source_id", "nunique"), emission_t=("emission", "sum"))
    totals["emission_t"] = totals["emission_t"] / 1000.0
    console.print(frame_table(totals, f"inventory '{result.origin}' [t]"))
    derived = result.inventory.loc[result.inventory["size_fraction"].fillna("") != "",
                                   "size_fraction"].unique()
    if len(derived):
        console.print("PM2.5/PM10 derived from PM (颗粒物) by size fractions: "
                      + "; ".join(sorted(derived)))
    defaulted = result.sources.loc[result.sources["defaults_used"].fillna("") != ""]
    if len(defaulted):
        console.print(f"{len(defaulted)} source(s) took default stack parameters "
                      "(column defaults_used of table sources)")
    if len(result.outside):
        outside = result.outside.groupby("pollutant")["emission"].sum() / 1000.0
        console.print("outside the grid [t]: " + ", ".join(
            f"{p} {v:,.3g}" for p, v in outside.items()))
    if result.message:
        console.print(result.message)


def import_(
    emissions: Annotated[Path, typer.Argument(help="Emissions in the canonical format "
                                              "(CSV, XLSX or Parquet).")],
    sources: Annotated[Path, typer.Option("--sources", help="The sources table (kind, lon/lat "
                                          "or GeoJSON geometry, stack parameters).")],
    workspace: WorkspaceOption = None,
    origin: Annotated[str | None, typer.Option(
        "--origin", help="Name of this inventory in the workspace (default the file name).",
        show_default=False)] = None,
    replace: ReplaceOption = False,
) -> None:
    """Load an inventory made elsewhere (emissions + sources), checked in full first."""
    from sourcegrid.inventory import import_inventory
    from sourcegrid.inventory.build import check_origin

    with reported_errors():
        check_origin(origin)  # before the workspace is created or opened
        ws = open_workspace(workspace, create=True)
        result = import_inventory(ws, emissions, sources, origin=origin, replace=replace)
    _print_result(result)


def build(
    workspace: WorkspaceOption = None,
    run: Annotated[str | None, typer.Option(
        "--run", help="Accounting run (default the latest).", show_default=False)] = None,
    sources: Annotated[Path | None, typer.Option(
        "--sources", help="The sources table; without it the activity's lon/lat become point "
        "sources with default stack parameters.", show_default=False)] = None,
    activity: Annotated[Path | None, typer.Option(
        "--activity", help="The activity table of the run (for its lon/lat).",
        show_default=False)] = None,
    replace: ReplaceOption = False,
) -> None:
    """Build the inventory from an accounting run and allocate it to the grid's cells."""
    from sourcegrid.inventory import build_inventory

    with reported_errors():
        ws = open_workspace(workspace)
        result = build_inventory(ws, run=run, sources=sources, activity=activity,
                                 replace=replace)
    _print_result(result)


def show(
    workspace: WorkspaceOption = None,
    by: Annotated[ShowBy, typer.Option("--by", help="Group by sector, cell or pollutant.")]
    = ShowBy.sector,
    pollutant: Annotated[str | None, typer.Option(
        "--pollutant", "-p", help="Only this pollutant.", show_default=False)] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help=".csv, .xlsx, .parquet, or .geojson (cells, with --by cell).",
        show_default=False)] = None,
) -> None:
    """Show the inventory by sector, pollutant or cell (tonnes); write it with --out."""
    import json

    from sourcegrid.errors import OptionError
    from sourcegrid.inventory import inventory_summary

    with reported_errors():
        if out is not None:
            if out.suffix.lower() not in _OUT_SUFFIXES:
                raise OptionError("--out", out, "a .csv, .xlsx, .parquet or .geojson file")
            if out.suffix.lower() in (".geojson", ".json") and by != ShowBy.cell:
                raise OptionError("--out", out, "GeoJSON only with --by cell (cell polygons)")
        ws = open_workspace(workspace)
        frame = inventory_summary(ws, by=by.value, pollutant=pollutant)
        if out is not None:
            if out.suffix.lower() in (".geojson", ".json"):
                from sourcegrid.grid.spec import read_spec
                from sourcegrid.io.tables import atomic_path

                spec = read_spec(ws)
                with atomic_path(out) as partial:
                    partial.write_text(json.dumps(spec.to_geojson(frame), ensure_ascii=False),
                                       encoding="utf-8")
            else:
                from sourcegrid.io.tables import write_table

                write_table(frame, out)
    title = f"inventory by {by.value}" + (f" ({pollutant})" if pollutant else "")
    console.print(frame_table(frame, title))
    if out is not None:
        console.print(f"{len(frame)} rows written to {out}")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add the ``inventory`` group: ``import``, ``build``, ``show``."""
    group = groups.get("inventory")
    if group is None:
        group = typer.Typer(help="The emission inventory on the grid: import, build, show.",
                            no_args_is_help=True)
        groups["inventory"] = group
    group.command("import")(import_)
    group.command("build")(build)
    group.command("show")(show)
