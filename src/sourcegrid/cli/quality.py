"""Air quality index command: ``sourcegrid aqi`` (the composite index, good days, water
classes and targets are in :mod:`sourcegrid.cli.quality_assessment`).

Each command is added by a small ``_register_<name>(app)`` function called from
:func:`register`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sourcegrid.cli.common import WorkspaceOption, parse_units


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    """Add this module's commands to the main app and its groups."""
    _register_aqi(app)




def _register_aqi(app: typer.Typer) -> None:
    @app.command("aqi")
    def aqi_command(
        file: Annotated[Path, typer.Argument(
            metavar="FILE", help="Observations (CSV, Parquet or XLSX; long or wide), hourly "
                                 "means.", exists=True, dir_okay=False)],
        out: Annotated[Path, typer.Option("--out", "-o", help="Output table (.csv, .parquet or "
                                                              ".xlsx).")],
        edition: Annotated[str | None, typer.Option(
            "--edition", help="HJ 633 edition, 2012 or 2026 (default: by each row's date; "
                              "2026 from 2026-03-01).")] = None,
        hourly: Annotated[bool, typer.Option(
            "--hourly/--daily", help="Real-time (hourly) report or daily report.")] = False,
        kind: Annotated[str, typer.Option(
            "--kind", help="Site kind when the file has no site_kind column.")] = "reference",
        unit: Annotated[list[str] | None, typer.Option(
            "--unit", help="Unit of a pollutant whose values are not in the canonical unit, "
                           "e.g. --unit CO=ug/m3 (repeatable).")] = None,
        sheet: Annotated[str | None, typer.Option("--sheet", help="XLSX sheet name.")] = None,
        hour_ending: Annotated[bool, typer.Option(
            "--hour-ending", help="Times label the end of the hour (01:00 = 00:00-01:00).")] = False,
        rejects: Annotated[Path | None, typer.Option(
            "--rejects", help="Write the rejected values (row, column, value, reason) here.")] = None,
        workspace: WorkspaceOption = None,
    ) -> None:
        """Air quality index (AQI) per HJ 633-2012 / HJ 633-2026, per site and day or hour.

        Reads hourly means, computes the daily (日报) or real-time (实时报) AQI with IAQI per
        pollutant, level, category, colour and primary pollutant, writes them to --out,
        and prints days (or hours) per category and site. Values the reader rejects
        (negative, not a number, out of range) are counted in the summary and left out.
        With --workspace the report is also stored as table aqi_daily or aqi_hourly.

        Example: sourcegrid aqi beijing.csv --unit CO=ug/m3 --out aqi.csv
        """
        from sourcegrid.cli.common import console, frame_table, open_workspace, reported_errors
        from sourcegrid.errors import NotFoundError
        from sourcegrid.io.tables import write_table
        from sourcegrid.observations.readers import SITE_KINDS, read_observations
        from sourcegrid.quality import aqi
        from sourcegrid.standards.hj633 import EDITIONS

        with reported_errors():
            if edition is not None and edition not in EDITIONS:  # before reading anything
                raise NotFoundError("HJ 633 edition", edition, EDITIONS)
            if kind not in SITE_KINDS:
                raise NotFoundError("site kind", kind, SITE_KINDS)
            batch = read_observations(file, site_kind=kind, sheet=sheet,
                                      units=parse_units(unit), require_position=False)
            compute = aqi.hourly if hourly else aqi.daily
            result = compute(batch.readings, edition, hour_ending=hour_ending)
            if rejects is not None:
                write_table(batch.rejects, rejects)
            if result.empty:  # nothing replaces a stored report or an earlier --out file
                from sourcegrid.errors import SourcegridError

                raise SourcegridError(
                    f"no valid readings in {file.name} ({len(batch.rejects)} value(s) "
                    f"rejected{'; see ' + str(rejects) if rejects is not None else ''}): no AQI "
                    f"to write; {out.name} and the workspace were left as they were")
            write_table(_for_file(result, out), out)
            name = "aqi_hourly" if hourly else "aqi_daily"
            if workspace is not None:
                with open_workspace(workspace) as store:
                    store.write(name, _plain(result))
            unit_name = "hours" if hourly else "days"
            console.print(frame_table(aqi.summary(result), f"AQI {unit_name} by category "
                                      f"({', '.join(sorted(set(result['edition'].astype(str))))})"))
            bad = len(batch.rejects)
            reasons = batch.rejects.groupby("reason").size() if bad else {}
            detail = ", ".join(f"{reason} {count}" for reason, count in dict(reasons).items())
            console.print(f"{len(batch.readings)} readings used; bad values rejected: {bad}"
                          + (f" ({detail})" if detail else "")
                          + (f", written to {rejects}" if rejects is not None and bad else ""))
            console.print(f"wrote {len(result)} rows to {out}"
                          + (f" and table {name} in the workspace" if workspace else ""))


def _plain(frame):
    """Categorical columns as text, for storage engines and spreadsheets."""
    out = frame.copy()
    for column in out.columns:
        if str(out[column].dtype) == "category":
            out[column] = out[column].astype(object)
    return out


def _for_file(frame, path: Path):
    """XLSX cannot hold time-zone-aware times: write them as ISO 8601 text there."""
    if path.suffix.lower() != ".xlsx":
        return frame
    out = _plain(frame)
    if "time" in out.columns:
        out["time"] = out["time"].map(lambda t: t.isoformat())
    return out
