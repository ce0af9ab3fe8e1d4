"""What one ingest did: :class:`IngestResult`, shared by every feed's ingest.

It lives apart from :mod:`sourcegrid.observations.ingest` (tables) and
:mod:`sourcegrid.observations.satellite` (rasters) so that each imports it from here
and neither imports the other for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from sourcegrid.errors import problems_frame

__all__ = ["IngestResult", "Progress"]

#: Progress callback: called with (rows done, rows in all).
Progress = Callable[[int, int], None]


@dataclass
class IngestResult:
    """What one ingest did.

    Attributes
    ----------
    table : str
        Workspace table written.
    read : int
        Rows that passed the reader.
    added : int
        Rows stored (new keys).
    already_stored : int
        Rows whose key was already in the table (not added again).
    repeated : int
        Exact repeats (same key and value) within the batch, kept once.
    skipped_file : bool
        The file's SHA-256 was already registered; nothing was read.
    rejects : pandas.DataFrame
        The reader's rejects (source, row, column, value, reason, message).
    """

    table: str
    read: int = 0
    added: int = 0
    already_stored: int = 0
    repeated: int = 0
    skipped_file: bool = False
    rejects: pd.DataFrame = field(default_factory=lambda: problems_frame([]))

    def summary(self) -> pd.DataFrame:
        return pd.DataFrame({"item": ["read", "added", "already stored", "repeated in file",
                                      "rejected values"],
                             "rows": [self.read, self.added, self.already_stored, self.repeated,
                                      len(self.rejects)]})
