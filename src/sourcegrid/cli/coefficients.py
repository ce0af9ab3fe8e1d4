"""``sourcegrid coefficients ...``: import, list, show, validate, compare, remove libraries."""

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

#: Columns shown by ``show`` (``--out`` writes every column of the normalized table).
SHOW_COLUMNS = ["row", "industry", "section", "product", "raw_material", "process", "scale",
                "pollutant", "coefficient", "unit", "treatment", "efficiency_%", "k_formula"]


def _shown(rows):
    """The rows as ``show`` prints them: coefficient number or expression, efficiency in %."""
    number = rows["generation_coefficient"].map(lambda v: "" if v != v else f"{v:g}")
    return rows.assign(
        row=rows["coefficient_row"], industry=rows["industry_code"],
        coefficient=rows["generation_expression"].where(rows["generation_expression"] != "", number),
        **{"efficiency_%": (rows["removal_efficiency"] * 100).round(6)},
    )[SHOW_COLUMNS]

FileArgument = Annotated[Path, typer.Argument(help="Library file: .csv, .xlsx or .parquet.",
                                              show_default=False)]
SheetOption = Annotated[str | None, typer.Option("--sheet", help="XLSX sheet (default: the first).")]
OutOption = Annotated[Path | None, typer.Option("--out", "-o",
                                                help="Also write the table (.csv, .xlsx, .parquet).")]


def _warn_overlaps(library) -> None:
    """Print overlapping scale tiers (not an error: an enterprise there is ambiguous)."""
    from sourcegrid.coefficients import overlapping_tiers

    overlaps = overlapping_tiers(library.rows)
    if overlaps.empty:
        return
    err_console.print(f"[yellow]warning[/]: {len(overlaps)} pair(s) of overlapping scale tiers; "
                      "an enterprise whose capacity falls in both is reported as ambiguous")
    err_console.print(frame_table(overlaps[["industry_code", "section", "process", "pollutant",
                                            "treatment", "coefficient_row_a", "coefficient_row_b",
                                            "message"]]))


def import_library(
    file: FileArgument,
    name: Annotated[str, typer.Option("--name", "-n", help="Version name, e.g. census2017.")],
    source: Annotated[str | None, typer.Option("--source", help="Where the library comes from.")] = None,
    sheet: SheetOption = None,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite a library of that name.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Import a coefficient library (CSV/XLSX/Parquet, Chinese or English headers).

    Every row is validated first; a bad file lists all its problems and
    nothing is stored (exit code 2). The workspace is created when missing.
    """
    from sourcegrid.coefficients import load_library, store_library

    with reported_errors():
        library = load_library(file, name, source=source, sheet=sheet)
        with open_workspace(workspace, create=True) as ws:
            store_library(ws, library, replace=replace)
    console.print(f"imported library [bold]{library.name}[/] from {file.name}: "
                  f"{library.rows['coefficient_row'].nunique()} file rows, "
                  f"{len(library.rows)} rows by industry code")
    console.print(frame_table(library.summary(), title=f"library {library.name}"))
    _warn_overlaps(library)


def list_command(workspace: WorkspaceOption = None) -> None:
    """List the coefficient libraries stored in the workspace."""
    from sourcegrid.coefficients import list_libraries

    with reported_errors(), open_workspace(workspace) as ws:
        libraries = list_libraries(ws)
    if libraries.empty:
        console.print("no coefficient libraries yet; add one with "
                      "'sourcegrid coefficients import FILE --name NAME'")
        return
    console.print(frame_table(libraries, title="coefficient libraries"))


def show(
    name: Annotated[str, typer.Argument(help="Library name.", show_default=False)],
    industry: Annotated[str | None, typer.Option("--industry", help="Industry code, e.g. 4411.")] = None,
    section: Annotated[str | None, typer.Option("--section", help="Section (工段), e.g. 锅炉.")] = None,
    pollutant: Annotated[str | None, typer.Option("--pollutant", help="Pollutant, e.g. SO2 or 二氧化硫.")] = None,
    out: OutOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Show the rows of a stored library, optionally of one industry, section or pollutant."""
    from sourcegrid.coefficients import stored_library
    from sourcegrid.io.tables import write_table

    with reported_errors(), open_workspace(workspace) as ws:
        library = stored_library(ws, name)
        rows = library.select(industry_code=industry, section=section, pollutant=pollutant)
        if out is not None:
            write_table(rows, out)
    console.print(frame_table(_shown(rows),
                              title=f"library {name} ({library.source})", max_rows=60))
    console.print(f"{len(rows)} row(s)" + (f"; written to {out}" if out is not None else ""))


def validate(file: FileArgument, sheet: SheetOption = None) -> None:
    """Check a library file without importing it: every problem is listed (exit 2 when bad)."""
    from sourcegrid.coefficients import load_library

    with reported_errors():
        library = load_library(file, "validate", sheet=sheet)
    console.print(f"[green]ok[/]: {file.name} is a valid coefficient library "
                  f"({library.rows['coefficient_row'].nunique()} rows, "
                  f"{len(library.rows)} by industry code)")
    console.print(frame_table(library.summary(), title="rows by industry kind and pollutant"))
    _warn_overlaps(library)


def compare(
    a: Annotated[str, typer.Argument(help="The older library.", show_default=False)],
    b: Annotated[str, typer.Argument(help="The newer library.", show_default=False)],
    out: OutOption = None,
    all_rows: Annotated[bool, typer.Option("--all", help="Also list unchanged rows.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Compare two stored libraries: changed coefficients (in %), added and removed rows."""
    from sourcegrid.coefficients import compare_libraries, stored_library
    from sourcegrid.io.tables import write_table

    with reported_errors(), open_workspace(workspace) as ws:
        comparison = compare_libraries(stored_library(ws, a), stored_library(ws, b))
    if out is not None:
        with reported_errors():
            write_table(comparison, out)
    counts = comparison["status"].value_counts()
    console.print(", ".join(f"{status}: {counts.get(status, 0)}"
                            for status in ("changed", "added", "removed", "unchanged")))
    shown = comparison if all_rows else comparison[comparison["status"] != "unchanged"]
    columns = ["industry_code", "section", "process", "scale", "pollutant", "treatment", "status",
               "changes", "coefficient_a", "coefficient_b", "change_percent"]
    console.print(frame_table(shown[columns], title=f"{a} → {b}", max_rows=60))
    if out is not None:
        console.print(f"written to {out}")


def export(
    name: Annotated[str, typer.Argument(help="Library name.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write (.csv, .xlsx, .parquet).")],
    chinese: Annotated[bool, typer.Option("--chinese", help="Chinese headers and values, as the "
                                          "official tables write them.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Write a stored library in the canonical file format (re-importable)."""
    from sourcegrid.coefficients import stored_library, to_canonical
    from sourcegrid.io.tables import write_table

    with reported_errors(), open_workspace(workspace) as ws:
        table = to_canonical(stored_library(ws, name), chinese=chinese)
        write_table(table, out)
    console.print(f"wrote library {name} ({len(table)} rows) to {out}")


def remove(
    name: Annotated[str, typer.Argument(help="Library name.", show_default=False)],
    workspace: WorkspaceOption = None,
) -> None:
    """Remove a library from the workspace."""
    from sourcegrid.coefficients import remove_library

    with reported_errors(), open_workspace(workspace) as ws:
        remove_library(ws, name)
    console.print(f"removed library {name}")


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add the ``coefficients`` commands to their group."""
    group = groups["coefficients"]
    group.command("import")(import_library)
    group.command("list")(list_command)
    group.command("show")(show)
    group.command("validate")(validate)
    group.command("compare")(compare)
    group.command("export")(export)
    group.command("remove")(remove)
