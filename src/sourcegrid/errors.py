"""The sourcegrid exception tree.

Every error the library raises on purpose derives from :class:`SourcegridError`.
Errors about input data carry their evidence, like pandera's ``SchemaErrors``:
an :class:`InputError` holds *every* problem found in a file (row, column,
value, reason code, what was expected), so that a user fixes a file in one
pass, and the CLI can print the problems as a table and exit non-zero.

Row numbers are the ones a user sees in a spreadsheet: the header is row 1 and
the first data row is row 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import pandas as pd

__all__ = [
    "SourcegridError",
    "OptionError",
    "Problem",
    "InputError",
    "UnitError",
    "ExpressionError",
    "WorkspaceError",
    "WorkspaceBusyError",
    "WorkspaceCorruptError",
    "OutputError",
    "ResourceError",
    "InterruptedRunError",
    "NotFoundError",
    "EXIT_CODES",
    "PROBLEM_COLUMNS",
]

PROBLEM_COLUMNS = ["source", "row", "column", "value", "reason", "message"]


#: Exit codes of the ``sourcegrid`` command (documented in the README, "Exit codes").
EXIT_CODES = {
    "ok": 0,
    "strict_rejects": 1,       # account --strict and the like: rows were rejected
    "bad_input": 2,            # bad file, value, option or output path (and usage errors)
    "workspace_busy": 3,       # another process holds the workspace past the wait
    "workspace_corrupt": 4,    # the workspace file is not a readable database
    "out_of_memory": 5,        # the work does not fit in memory
    "internal_error": 70,      # a bug: an exception sourcegrid did not expect (EX_SOFTWARE)
    "io_error": 74,            # the system could not read or write (disk full, I/O) (EX_IOERR)
    "interrupted": 130,        # Ctrl-C (SIGINT)
    "terminated": 143,         # SIGTERM
}


class SourcegridError(Exception):
    """Root of every error sourcegrid raises on purpose.

    ``exit_code`` is the exit status of the command line for this error (:data:`EXIT_CODES`).
    """

    exit_code = EXIT_CODES["bad_input"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one value of an input.

    Parameters
    ----------
    source : str
        File (or table) the value came from.
    row : int or None
        Spreadsheet row number (header = 1), None for a whole-file problem.
    column : str
        Column name as the user wrote it ('' for a whole-row problem).
    value : str
        The offending value as text.
    reason : str
        Stable reason code, e.g. ``not_a_number`` or ``no_matching_coefficient``.
    message : str
        What was expected, in words.
    """

    source: str
    row: int | None
    column: str
    value: str
    reason: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "file"
        column = f", column {self.column!r}" if self.column else ""
        return f"{self.source} {where}{column}: {self.message} (got {self.value!r}) [{self.reason}]"


def problems_frame(problems: Iterable[Problem]) -> pd.DataFrame:
    """Problems as a table with the canonical rejects columns."""
    rows = [asdict(p) for p in problems]
    frame = pd.DataFrame(rows, columns=PROBLEM_COLUMNS)
    return frame.astype({"row": "Int64"})


@dataclass
class InputError(SourcegridError):
    """An input that cannot be loaded; carries every problem found in it."""

    problems: Sequence[Problem]
    summary: str = field(default="")

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        head = self.summary or f"{len(self.problems)} problem(s) in the input"
        lines = [head + ":"]
        lines += [f"  - {p}" for p in self.problems[:50]]
        if len(self.problems) > 50:
            lines.append(f"  ... and {len(self.problems) - 50} more")
        return "\n".join(lines)

    @property
    def frame(self) -> pd.DataFrame:
        """The problems as a rejects table."""
        return problems_frame(self.problems)


class UnitError(SourcegridError, ValueError):
    """A unit text that cannot be parsed or converted."""


class ExpressionError(SourcegridError, ValueError):
    """A coefficient or k formula that is not a valid expression."""


class WorkspaceError(SourcegridError):
    """A workspace that cannot be opened or is in an unexpected state."""


class WorkspaceBusyError(WorkspaceError):
    """Another process holds the workspace (DuckDB's file lock) for longer than the wait."""

    exit_code = EXIT_CODES["workspace_busy"]


class WorkspaceCorruptError(WorkspaceError):
    """The workspace file exists but is not a readable database (damaged, truncated,
    written by a newer DuckDB, or not readable by this user)."""

    exit_code = EXIT_CODES["workspace_corrupt"]


class OutputError(SourcegridError):
    """An output path that cannot be written (a folder, no permission, a file as folder)."""


class ResourceError(SourcegridError):
    """Work that does not fit in memory (or another resource)."""

    exit_code = EXIT_CODES["out_of_memory"]


class InterruptedRunError(SourcegridError):
    """The run was stopped by a signal (SIGTERM); nothing half-done was kept."""

    exit_code = EXIT_CODES["terminated"]


class OptionError(SourcegridError, ValueError):
    """An option (or parameter) outside its domain, found before any work starts.

    The message names the option, the value given and what was expected, e.g.
    ``--alpha 2: expected a significance level strictly between 0 and 1``.
    """

    def __init__(self, option: str, value, expected: str) -> None:
        self.option, self.value, self.expected = option, value, expected
        super().__init__(f"{option} {value!s}: expected {expected}")


class NotFoundError(SourcegridError, KeyError):
    """A named thing (library, table, parameter set) that does not exist.

    The message lists the valid names, like pvlib's parameter dictionaries.
    """

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        super().__init__(f"unknown {kind} {name!r}; valid: {', '.join(self.valid) or '(none)'}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]
