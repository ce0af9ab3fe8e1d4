"""Shared pieces of the CLI: options, console, error tables, summary tables, one error path.

The CLI is thin: it parses arguments, calls the library and prints. Heavy
imports stay inside the commands so that ``--help`` is instant.

One error path (:class:`SafeGroup`, the click group of the ``sourcegrid`` app):
every command runs inside it, so no Python traceback reaches a user. What can go
wrong becomes a message and an exit code (:data:`sourcegrid.errors.EXIT_CODES`):

====  ==========================================================================
code  meaning
====  ==========================================================================
0     done
1     done, but rows were rejected and ``--strict`` was given
2     bad input: a file, value, option or output path (the problem table or message)
3     the workspace is busy: another process held it past ``$SOURCEGRID_LOCK_TIMEOUT``
4     the workspace file is damaged or unreadable (what to do is printed)
5     out of memory
70    internal error (a bug): one paragraph naming the command; ``--debug`` or
      ``SOURCEGRID_DEBUG=1`` shows the traceback
74    the system could not read or write (disk full, I/O error)
130   interrupted (Ctrl-C); 143 terminated (SIGTERM)
====  ==========================================================================

One transaction per command: a workspace opened with :func:`open_workspace` while a
command runs is written in one transaction, committed when the command ends
normally (or exits on purpose, e.g. ``--strict``) and rolled back on any error,
Ctrl-C or kill, so a failed command leaves the workspace as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

if TYPE_CHECKING:
    import pandas as pd

# typer carries its own copy of click: take its classes from typer's public names
_EXIT = typer.Exit
_ABORT = typer.Abort
_CLICK_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
_PASS_THROUGH = (_EXIT, _ABORT, _CLICK_ERROR)

# wide enough for the summary tables when output goes to a file or a pipe
_WIDTH = shutil.get_terminal_size((150, 40)).columns
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)

DEBUG_VAR = "SOURCEGRID_DEBUG"

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (default: $SOURCEGRID_WORKSPACE, else ./sourcegrid-workspace).",
        show_default=False,
    ),
]

# Options several command modules share, with one spelling and one help text.
PollutantOption = Annotated[str, typer.Option("--pollutant", "-p", help="Pollutant.")]
FromOption = Annotated[str | None, typer.Option(
    "--from", help="Start of the period (ISO 8601; naive = Beijing time), included.",
    show_default=False)]
ToOption = Annotated[str | None, typer.Option(
    "--to", help="End of the period (ISO 8601; naive = Beijing time), excluded.",
    show_default=False)]
UnitOption = Annotated[list[str] | None, typer.Option(
    "--unit", help="Unit of a pollutant not in the canonical unit, e.g. --unit CO=ug/m3 "
                   "(repeatable).")]


# --------------------------------------------------------------------------- command scope


@dataclass
class CommandScope:
    """What the running command holds: its name, its workspaces, whether it failed."""

    command: str
    workspaces: list = field(default_factory=list)
    failed: bool = False

    def commits(self, exc: BaseException | None) -> bool:
        """An open transaction commits on a normal end or a deliberate exit."""
        if self.failed:
            return False
        return exc is None or isinstance(exc, _EXIT | SystemExit)

    def finish(self, commit: bool) -> None:
        """Commit (or roll back) and close every workspace the command left open."""
        workspaces, self.workspaces = self.workspaces, []
        error = None
        for ws in workspaces:
            try:
                if ws.in_transaction:
                    if commit and error is None:
                        while ws.in_transaction:
                            ws.commit()
                    else:
                        ws.rollback()
            except BaseException as caught:  # reported once the others are closed
                error = error or caught
            finally:
                ws.close()
        if error is not None:
            raise error


_scope: CommandScope | None = None
_debug = False


def debug_enabled() -> bool:
    """``--debug`` was given or ``SOURCEGRID_DEBUG`` is set (not '', '0', 'false')."""
    return _debug or os.environ.get(DEBUG_VAR, "").strip().lower() not in ("", "0", "false", "no")


def set_debug(value: bool) -> None:
    global _debug
    _debug = bool(value)


def current_command() -> str:
    """The running command, e.g. 'sourcegrid grid fuse' ('sourcegrid' outside a command)."""
    return _scope.command if _scope is not None else "sourcegrid"


def _print_wait(message: str) -> None:
    err_console.print(f"[yellow]waiting:[/] {escape(message)}")


def open_workspace(path: Path | None, *, create: bool = False, read_only: bool = False,
                   engine: str | None = None, dsn: str | None = None,
                   master: str | None = None, memory_limit: str | None = None):
    """Open the workspace named by --workspace or the environment.

    While a command runs, a workspace opened for writing is in one transaction
    (committed when the command ends normally, rolled back on an error); a busy
    workspace is waited for (``$SOURCEGRID_LOCK_TIMEOUT``) with one message saying who
    holds it. ``read_only=True`` lets readers share the file (DuckDB). The engine
    (DuckDB, PostgreSQL, Spark) is the folder's ``sourcegrid-workspace.toml`` or
    ``$SOURCEGRID_ENGINE`` (:mod:`sourcegrid.store.engines`); ``engine``, ``dsn``,
    ``master`` and ``memory_limit`` are for ``sourcegrid init``.
    """
    from sourcegrid.store import Workspace

    scope = _scope
    ws = Workspace(path, create=create, read_only=read_only, on_wait=_print_wait,
                   command=scope.command if scope is not None else None, engine=engine,
                   dsn=dsn, master=master, memory_limit=memory_limit)
    if scope is not None and not read_only:
        ws.commit_on_exit = scope.commits
        scope.workspaces.append(ws)
        ws.begin()
    return ws


# --------------------------------------------------------------------------- tables


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


def write_frame(frame: pd.DataFrame, out: Path) -> None:
    """Write ``frame`` to ``out`` (.csv, .parquet or .xlsx) atomically.

    Excel has no time zones: for .xlsx, time-zone-aware columns are written as naive
    UTC. The file goes through :func:`sourcegrid.io.tables.write_table` (a temporary
    file beside the target, renamed into place).
    """
    import pandas as pd

    from sourcegrid.io.tables import write_table

    plain = frame.copy()
    if out.suffix.lower() == ".xlsx":  # Excel has no time zones: naive UTC
        for column in plain.columns:
            if isinstance(plain[column].dtype, pd.DatetimeTZDtype):
                plain[column] = plain[column].dt.tz_convert("UTC").dt.tz_localize(None)
    write_table(plain, out)


def print_problems(error) -> None:
    """Print an InputError's problems as a table on stderr."""
    frame = error.frame
    err_console.print(f"[bold red]{escape(error.summary or 'the input was rejected')}[/]: "
                      f"{len(frame)} problem(s); nothing was loaded.")
    err_console.print(frame_table(frame, max_rows=100))


# --------------------------------------------------------------------------- error path


def _name(error: BaseException) -> str:
    return getattr(error, "filename", None) or ""


def describe(error: BaseException) -> tuple[str, int] | None:
    """The user's message and exit code for an error sourcegrid knows; None for a bug.

    InputErrors are printed as tables by :func:`report`, not described here.
    """
    from sourcegrid.errors import EXIT_CODES, SourcegridError

    if isinstance(error, SourcegridError):
        return str(error), error.exit_code
    bad = EXIT_CODES["bad_input"]
    kind = type(error)
    module = kind.__module__ or ""
    if isinstance(error, KeyboardInterrupt):
        return ("interrupted: the workspace was left as it was before this command and no "
                "partial output file was kept", EXIT_CODES["interrupted"])
    if isinstance(error, MemoryError):
        return (f"out of memory: the work does not fit in this machine's memory ({error}). "
                "Make it smaller (a shorter period, a smaller box, larger cells, fewer rows) "
                "and try again", EXIT_CODES["out_of_memory"])
    if isinstance(error, FileNotFoundError):
        return f"file or folder not found: {_name(error) or error}", bad
    if isinstance(error, IsADirectoryError):
        return f"{_name(error)} is a folder; a file was expected", bad
    if isinstance(error, NotADirectoryError):
        return f"{_name(error)}: a part of this path is a file, not a folder", bad
    if isinstance(error, PermissionError):
        return f"permission denied: {_name(error) or error}", bad
    if isinstance(error, UnicodeDecodeError):
        return (f"a text input is not in the expected encoding ({error.encoding}: {error.reason}"
                f" at byte {error.start}); save it as UTF-8", bad)
    import zipfile

    if isinstance(error, zipfile.BadZipFile):
        return f"an XLSX input is not a valid workbook (not a zip archive): {error}", bad
    if module.startswith("openpyxl"):
        return f"an XLSX input cannot be read: {error}", bad
    if module.startswith("pandas") and kind.__name__ == "EmptyDataError":
        return "an input file is empty: expected a header row and data rows", bad
    if module.startswith("pandas") and kind.__name__ == "ParserError":
        return f"an input file is not well-formed CSV: {error}", bad
    if module.startswith("pandas") and kind.__name__ in ("DateParseError", "OutOfBoundsDatetime"):
        return f"not a valid date or time: {error}", bad
    if module.startswith("pyarrow") and kind.__name__ in ("ArrowInvalid", "ArrowIOError"):
        return f"an input file cannot be read (damaged, truncated or not the format its " \
               f"extension says): {error}", bad
    if module.startswith("rasterio"):
        return f"a raster input cannot be read (not a GeoTIFF or NetCDF raster?): {error}", bad
    if module.startswith(("duckdb", "_duckdb")):
        return _describe_duckdb(error)
    if module.startswith("psycopg"):
        return _describe_postgres(error)
    if isinstance(error, OSError):
        where = f" ({_name(error)})" if _name(error) else ""
        return (f"the system could not read or write{where}: {error.strerror or error}",
                EXIT_CODES["io_error"])
    return None


def _describe_duckdb(error: BaseException) -> tuple[str, int] | None:
    from sourcegrid.errors import EXIT_CODES

    text = str(error).split("\n")[0]
    lower = text.lower()
    name = type(error).__name__
    if "could not set lock" in lower or "conflicting lock" in lower:
        return (f"the workspace is busy (another process holds it): {text}",
                EXIT_CODES["workspace_busy"])
    if name == "InterruptException":
        return ("interrupted: the workspace was left as it was before this command and no "
                "partial output file was kept", EXIT_CODES["interrupted"])
    if name == "OutOfMemoryException":
        return (f"out of memory in the workspace engine: {text}. Make the work smaller, or "
                "give DuckDB more memory", EXIT_CODES["out_of_memory"])
    if name in ("IOException", "SerializationException") and any(
            word in lower for word in ("corrupt", "not a valid duckdb", "could not read",
                                       "checksum", "version")):
        return (f"the workspace file cannot be read: {text}. What to do: restore it from a "
                "backup, or move it aside and run 'sourcegrid init' to start a new workspace",
                EXIT_CODES["workspace_corrupt"])
    if name == "IOException":
        return f"the workspace could not read or write its file: {text}", EXIT_CODES["io_error"]
    if name == "ConnectionException":
        return (f"the workspace connection was lost or closed: {text}",
                EXIT_CODES["workspace_corrupt"])
    return None


def _describe_postgres(error: BaseException) -> tuple[str, int] | None:
    """PostgreSQL errors a user can act on (the server's text, passwords redacted)."""
    from sourcegrid.errors import EXIT_CODES

    text = str(error).strip().split("\n")[0]
    name = type(error).__name__
    state = getattr(error, "sqlstate", None) or ""
    if name in ("OperationalError", "InterfaceError") or state.startswith("08"):
        return (f"the PostgreSQL workspace connection failed or was lost: {text}. Check that "
                "the server runs and the DSN ($SOURCEGRID_DSN or sourcegrid-workspace.toml)",
                EXIT_CODES["io_error"])
    if state in ("40001", "40P01", "55P03") or name in ("SerializationFailure",
                                                        "DeadlockDetected", "LockNotAvailable"):
        return (f"the PostgreSQL workspace is busy (another writer): {text}. Try again",
                EXIT_CODES["workspace_busy"])
    if state.startswith("53") or name == "DiskFull":
        return (f"the PostgreSQL server is out of resources: {text}", EXIT_CODES["io_error"])
    if state == "42501" or name == "InsufficientPrivilege":
        return (f"the PostgreSQL user may not do this: {text}. Ask the database owner for "
                "the rights on the workspace's schema", EXIT_CODES["bad_input"])
    return None


def report(error: BaseException) -> int:
    """Print ``error`` for the user (stderr) and return the exit code."""
    from sourcegrid.errors import EXIT_CODES, InputError
    from sourcegrid.store.engines import redact

    if debug_enabled():
        import traceback

        sys.stderr.write(redact("".join(traceback.format_exception(error))))
    if isinstance(error, InputError):
        print_problems(error)
        return error.exit_code
    described = describe(error)
    if described is not None:
        message, code = described
        err_console.print(f"[bold red]error:[/] {escape(redact(message))}")
        return code
    err_console.print(
        f"[bold red]internal error[/] in '{escape(current_command())}': "
        f"{escape(type(error).__name__)}: {escape(redact(str(error) or '(no message)'))}. This is a "
        "bug in sourcegrid, not something you did wrong as far as it can tell; the workspace "
        "was left as it was before the command. Run the command again with --debug (or "
        f"{DEBUG_VAR}=1) to see the traceback, and report it with the command line.",
        soft_wrap=True)
    return EXIT_CODES["internal_error"]


def _mark_failed() -> None:
    if _scope is not None:
        _scope.failed = True
        for ws in _scope.workspaces:  # undo now: the command may go on to print
            ws.rollback()


@contextlib.contextmanager
def reported_errors() -> Iterator[None]:
    """Turn sourcegrid errors (and the file and library errors it knows) into a readable
    message and a non-zero exit (2 for bad input; see the module's table of codes).

    An error it does not know is left to the app's error path (an internal error).
    """
    try:
        yield
    except _PASS_THROUGH:
        raise
    except Exception as error:
        from sourcegrid.errors import InputError

        if not isinstance(error, InputError) and describe(error) is None:
            raise
        _mark_failed()
        raise typer.Exit(report(error)) from None


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that transactions and temp files unwind."""


def _on_sigterm(signum, frame) -> None:  # noqa: ARG001
    raise _Terminated()


def _command_name(group: TyperGroup, ctx: Any, args: list[str]) -> str:
    """'sourcegrid grid fuse' from the arguments left to the group."""
    words = [ctx.info_name or "sourcegrid"]
    command: Any = group
    for arg in args:
        if arg.startswith("-") or not isinstance(command, TyperGroup):
            continue
        sub = command.get_command(ctx, arg)
        if sub is None:
            break
        words.append(arg)
        command = sub
    return " ".join(words)


class SafeGroup(TyperGroup):
    """The app's click group: runs every command inside one error path and one scope."""

    def invoke(self, ctx: Any) -> Any:
        global _scope
        from sourcegrid.errors import EXIT_CODES, InterruptedRunError
        from sourcegrid.io.tables import set_folder_created_hook

        args = [*getattr(ctx, "_protected_args", []), *ctx.args]
        outer, _scope = _scope, CommandScope(_command_name(self, ctx, args))
        scope = _scope
        set_folder_created_hook(lambda folder: err_console.print(
            f"created the folder {escape(str(folder))} for the output"))
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            try:
                result = super().invoke(ctx)
            except (_EXIT, SystemExit):  # a deliberate exit: the work done is kept
                scope.finish(commit=not scope.failed)
                raise
            except (_CLICK_ERROR, _ABORT):
                scope.finish(commit=False)
                raise
            except _Terminated:
                scope.finish(commit=False)
                raise typer.Exit(report(InterruptedRunError(
                    "terminated (SIGTERM): the workspace was left as it was before this "
                    "command and no partial output file was kept"))) from None
            except BaseException as error:
                scope.failed = True
                try:
                    scope.finish(commit=False)
                finally:
                    code = report(error)
                raise typer.Exit(code) from None
            scope.finish(commit=True)
            return result
        except (*_PASS_THROUGH, SystemExit):
            raise
        except BaseException as error:  # committing or closing failed
            with contextlib.suppress(BaseException):
                scope.finish(commit=False)
            code = report(error) if not isinstance(error, _Terminated) else \
                EXIT_CODES["terminated"]
            raise typer.Exit(code) from None
        finally:
            _scope = outer
            set_folder_created_hook(None)
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


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
