"""``sourcegrid init`` and ``sourcegrid account`` (``sourcegrid demo`` is in :mod:`sourcegrid.cli.demo`)."""

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

SAMPLE = "sample"


def init(
    workspace: WorkspaceOption = None,
    engine: Annotated[str | None, typer.Option(
        "--engine", help="Where the tables live: duckdb (a file in the folder, the default), "
        "postgres (a PostgreSQL server, --dsn) or spark (a Spark warehouse in the folder; "
        "--master for a cluster). Written to sourcegrid-workspace.toml in the folder; "
        "$SOURCEGRID_ENGINE overrides it.", show_default=False)] = None,
    dsn: Annotated[str | None, typer.Option(
        "--dsn", help="PostgreSQL connection string, e.g. postgresql://user@host:5432/db "
        "(default $SOURCEGRID_DSN). Stored without its password: give that with "
        "PGPASSWORD, ~/.pgpass or $SOURCEGRID_DSN.", show_default=False)] = None,
    master: Annotated[str | None, typer.Option(
        "--master", help="Spark master URL (default local[2]; $SOURCEGRID_SPARK_MASTER).",
        show_default=False)] = None,
    memory_limit: Annotated[str | None, typer.Option(
        "--memory-limit", help="The most memory DuckDB may take, e.g. 4GB (default 80 % of "
        "the machine's; $SOURCEGRID_MEMORY_LIMIT). Beyond it DuckDB spills to disk, and an "
        "accounting run too large for it is accounted in parts of whole enterprises.",
        show_default=False)] = None,
) -> None:
    """Create a workspace holding the sample coefficient library (a DuckDB file, a PostgreSQL schema or a Spark warehouse)."""
    from sourcegrid.coefficients import ensure_sample_library

    with reported_errors(), open_workspace(workspace, create=True, engine=engine, dsn=dsn,
                                           master=master, memory_limit=memory_limit) as ws:
        ensure_sample_library(ws)
        where = (f" on {ws.config.describe()}" if ws.config and (
            ws.engine != "duckdb" or ws.config.memory_limit) else "")
        console.print(f"workspace ready at [bold]{ws.path}[/]{where} (tables: "
                      f"{', '.join(ws.tables())})")


def _library(ws, name: str):
    from sourcegrid.coefficients import ensure_sample_library, stored_library

    if name == "default":  # the latest approved version (sourcegrid.coefficients.update)
        from sourcegrid.coefficients.update import default_library_name

        name = default_library_name(ws, fallback=SAMPLE)
    return ensure_sample_library(ws) if name == SAMPLE else stored_library(ws, name)


TREATMENT_SHEETS = ("treatment", "Treatment", "治理设施", "末端治理")


def _read_inputs(activity: Path, treatment: Path | None, sheet: str | None, con=None):
    """Activity and treatment tables; treatment may be a sheet of the activity workbook.

    With ``con`` (the census2017 route), CSV and Parquet files are read by the engine
    itself where it can (:func:`sourcegrid.accounting.inputs.engine_input`): their rows
    never pass through Python; other files by :func:`sourcegrid.io.tables.read_arrow`.
    """
    import pandas as pd

    from sourcegrid.accounting.inputs import engine_input
    from sourcegrid.io.tables import read_arrow

    def read(path: Path, kind: str, sheet=None):
        table = engine_input(con, path, kind=kind) if con is not None and sheet is None else None
        return table if table is not None else read_arrow(path, sheet=sheet)

    activity_table = read(activity, "activity", sheet)
    if treatment is not None:
        return activity_table, read(treatment, "treatment"), treatment.name
    if activity.suffix.lower() in (".xlsx", ".xlsm"):
        sheets = pd.ExcelFile(activity).sheet_names
        for candidate in TREATMENT_SHEETS:
            if candidate in sheets:
                return activity_table, read_arrow(activity, sheet=candidate), \
                    f"{activity.name}[{candidate}]"
    return activity_table, None, ""


def _totals_table(emissions, title: str):
    """Generation, removal and emission by industry and pollutant, in tonnes."""
    import pandas as pd

    from sourcegrid.accounting.engine import aggregate
    from sourcegrid.accounting.store import INDUSTRY_NAMES

    totals = aggregate(emissions, ["industry", "pollutant"], unit="t")
    if not isinstance(totals, pd.DataFrame):
        totals = totals.to_pandas()
    totals.insert(1, "industry", totals["industry_code"].map(INDUSTRY_NAMES).fillna(""))
    totals["pollutant"] = totals["pollutant"] + " (" + totals.pop("pollutant_category") + ")"
    totals = totals.rename(columns={"generation": "generation_t", "removal": "removal_t",
                                    "emission": "emission_t", "removed_percent": "removed_%"})
    return frame_table(totals, title, max_rows=60, float_format="{:,.2f}")


def _keep_stored_run(ws, result, run: str) -> None:
    """A run that accounted nothing never replaces a stored run of the same name."""
    from sourcegrid.errors import SourcegridError

    if result.emission_rows or not ws.has("account_runs"):
        return
    runs = ws.table("account_runs")
    if not runs.filter(runs.run == run).count().to_pyarrow().as_py():
        return
    if len(result.rejects):
        err_console.print(frame_table(result.rejects, "Rejected rows", max_rows=20))
    raise SourcegridError(
        f"no activity row could be accounted ({len(result.rejects)} problem(s)); the stored "
        f"run {run!r} was kept. Fix the rows listed above, or give another --run name")


def account(
    activity: Annotated[Path, typer.Argument(help="Activity table: .csv, .xlsx or .parquet.",
                                             show_default=False)],
    treatment: Annotated[Path | None, typer.Option(
        "--treatment", "-t", help="Treatment table (default: a 'treatment' sheet of an XLSX "
        "activity workbook, else none: everything untreated).")] = None,
    library: Annotated[str, typer.Option("--library", "-l", help="Coefficient library version.")]
    = SAMPLE,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write emissions to .csv, "
                                             ".parquet or .xlsx.")] = None,
    rejects: Annotated[Path | None, typer.Option("--rejects", help="Write rejected rows with "
                                                 "their reasons (.csv, .parquet, .xlsx).")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Add the explanation columns "
                                          "(coefficient, unit, activity in basis, k source).")]
    = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit with code 1 if any row was "
                                         "rejected.")] = False,
    sheet: Annotated[str | None, typer.Option("--sheet", help="Activity sheet of an XLSX file.")]
    = None,
    run: Annotated[str | None, typer.Option("--run", help="Name of the run in the workspace "
                                            "(default: the activity file name).")] = None,
    by: Annotated[str | None, typer.Option(
        "--by", help="Also total generation, removal and emission by these keys, comma "
        "separated: enterprise, region, industry, section, pollutant.")] = None,
    totals: Annotated[Path | None, typer.Option(
        "--totals", help="Write the --by totals to .csv, .parquet or .xlsx.")] = None,
    route: Annotated[str, typer.Option(
        "--route", help="census2017 (generation coefficients) or census2007 (emission "
        "coefficients 排污系数 by treatment; sourcegrid.accounting.census2007).")]
    = "census2017",
    uncertainty: Annotated[int | None, typer.Option(
        "--uncertainty", help="Add 95 % intervals to the totals (by --by, default pollutant): "
        "error propagation and N Monte Carlo draws (sourcegrid.accounting.uncertainty).")]
    = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Account generation, removal and emission of every activity row (coefficient method).

    Emission = generation × (1 − removal efficiency × k). Rows that cannot be
    accounted are listed with their reason and never silently dropped.
    """
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from sourcegrid.accounting.engine import EMISSION_COLUMNS
    from sourcegrid.accounting.store import save_run
    from sourcegrid.io.tables import write_ibis_table, write_table

    run = run or activity.name
    keys = [key.strip() for key in by.split(",")] if by else []
    with reported_errors():
        from sourcegrid.accounting.census2007 import ROUTES
        from sourcegrid.accounting.engine import AGGREGATE_KEYS
        from sourcegrid.errors import NotFoundError

        if route not in ROUTES:
            raise NotFoundError("accounting route", route, ROUTES)
        for key in keys:  # checked before any work is done
            if key not in AGGREGATE_KEYS:
                raise NotFoundError("aggregation key", key, AGGREGATE_KEYS)
        if totals is not None and not keys:
            from sourcegrid.errors import OptionError

            raise OptionError("--totals", totals, "--by KEYS as well (the totals are by those "
                              "keys)")
    with reported_errors(), open_workspace(workspace, create=True) as ws, Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
            console=err_console, transient=True) as progress:
        lib = _library(ws, library)  # an unknown library fails before any file is read
        task = progress.add_task("reading the activity and treatment tables")
        activity_table, treatment_table, treatment_name = _read_inputs(
            activity, treatment, sheet, con=ws.con if route == "census2017" else None)
        rows = (f"{activity_table.num_rows:,} rows" if hasattr(activity_table, "num_rows")
                else f"the rows of {activity.name}")  # a file the engine reads: not counted
        progress.update(task, description=f"accounting {rows} with library {lib.name!r}")
        from sourcegrid.accounting.census2007 import route_account

        result = route_account(route, activity_table, lib, treatment_table, con=ws.con,
                               activity_source=activity.name,
                               treatment_source=treatment_name or "treatment",
                               into="_last_run_emissions", explain=explain,
                               progress=lambda done, total: progress.update(
                                   task, description=f"accounting {rows} with library "
                                   f"{lib.name!r}: part {done} of {total} done"))
        _keep_stored_run(ws, result, run)
        progress.update(task, description="storing the run in the workspace")
        save_run(ws, result, run=run, activity_file=str(activity), treatment_file=treatment_name)
        emissions = result.emissions_table
        if out is not None:
            progress.update(task, description=f"writing {out.name}")
            write_ibis_table(ws.con, emissions if explain else emissions.select(
                *EMISSION_COLUMNS), out)
        if rejects is not None:
            write_table(result.rejects, rejects)
        table = _totals_table(emissions, f"Emissions by industry and pollutant "
                              f"(library {result.library})")
        grouped = None
        if by:
            from sourcegrid.accounting.engine import aggregate

            grouped = aggregate(emissions, keys).to_pandas()
            if totals is not None:
                write_table(grouped, totals)
        intervals = None
        if uncertainty is not None:
            from sourcegrid.cli.methods import uncertainty_tables

            intervals = uncertainty_tables(emissions, keys or ["pollutant"], uncertainty, lib,
                                           con=ws.con)
        ws.drop("_last_run_emissions")
    console.print(table)
    for extra in intervals or []:
        console.print(extra)
    if grouped is not None:
        console.print(frame_table(grouped, f"Totals by {by} [kg]", max_rows=60,
                                  float_format="{:,.1f}"))
    console.print(frame_table(result.summary(), "Summary"))
    if len(result.rejects):
        err_console.print(frame_table(result.rejects, "Rejected rows", max_rows=20))
        err_console.print(f"{len(result.rejects)} problem(s) in {result.rejected_rows} row(s)"
                          + ("" if rejects else "; write them all with --rejects FILE"))
        if strict:
            raise typer.Exit(1)


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add init and account to the main app."""
    app.command("init")(init)
    app.command("account")(account)
