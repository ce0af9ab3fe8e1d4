"""Shared pieces of the CLI: options, console, error tables, summary tables.

The CLI is thin: it parses arguments, calls the library and prints. Heavy
imports stay inside the commands so that ``--help`` is instant.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

# wide enough for the summary tables when output goes to a file or a pipe
_WIDTH = shutil.get_terminal_size((150, 40)).columns
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (default: $SOURCEGRID_WORKSPACE, else ./sourcegrid-workspace).",
        show_default=False,
    ),
]


def open_workspace(path: Path | None, *, create: bool = False):
    """Open the workspace named by --workspace or the environment."""
    from sourcegrid.store import Workspace

    return Workspace(path, create=create)


def frame_table(frame: pd.DataFrame, title: str | None = None, *, max_rows: int = 40,
                float_format: str = "{:,.4g}") -> Table:
    """A pandas DataFrame as a rich table (first ``max_rows`` rows)."""
    table = Table(title=title, show_lines=False, header_style="bold")
    for column in frame.columns:
        numeric = frame[column].dtype.kind in "if"
        table.add_column(str(column), justify="right" if numeric else "left")
    for _, row in frame.head(max_rows).iterrows():
        cells = []
        for value in row:
            if isinstance(value, float):
                cells.append("" if value != value else float_format.format(value))
            else:
                cells.append("" if value is None else str(value))
        table.add_row(*cells)
    if len(frame) > max_rows:
        table.caption = f"{max_rows} of {len(frame)} rows shown"
    return table


def print_problems(error) -> None:
    """Print an InputError's problems as a table on stderr."""
    frame = error.frame
    err_console.print(f"[bold red]{error.summary or 'the input was rejected'}[/]: "
                      f"{len(frame)} problem(s); nothing was loaded.")
    err_console.print(frame_table(frame, max_rows=100))


@contextlib.contextmanager
def reported_errors() -> Iterator[None]:
    """Turn sourcegrid errors into a readable message and a non-zero exit."""
    from sourcegrid.errors import InputError, SourcegridError

    try:
        yield
    except InputError as error:
        print_problems(error)
        raise typer.Exit(2) from None
    except SourcegridError as error:
        err_console.print(f"[bold red]error:[/] {error}")
        raise typer.Exit(2) from None


def parse_units(pairs: list[str] | None) -> dict[str, str]:
    """``--unit CO=ug/m3`` options as {pollutant: unit}; a malformed pair is a usage error."""
    units = {}
    for pair in pairs or []:
        pollutant, sep, unit = pair.partition("=")
        if not sep or not pollutant.strip() or not unit.strip():
            raise typer.BadParameter(f"expected POLLUTANT=UNIT such as CO=ug/m3, got {pair!r}",
                                     param_hint="--unit")
        units[pollutant.strip()] = unit.strip()
    return units
