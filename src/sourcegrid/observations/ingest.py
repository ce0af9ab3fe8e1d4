"""Ingest observation feeds into a workspace, idempotently.

Readings (reference stations, micro-stations, mobile monitors) go to the
table ``observations``; wind to ``wind``. Times are stored in UTC.

Re-ingesting adds nothing twice, on two levels:

1. a registry table ``ingested_files`` holds the SHA-256 of every file
   ingested; the same bytes again are skipped at once;
2. every chunk is anti-joined (Ibis, run by the workspace's engine) against the
   stored table on the key (site_id, time, pollutant) (wind: site_id, time), so a
   file that overlaps an earlier one adds only its new readings.

Within one batch, rows repeating the same key *and* value are kept once; rows
with the same key but different values are all kept, for QC to flag as
``duplicate_timestamp`` (a device reporting two values for one minute is a fault
to see, not to hide).

One file is ingested in one workspace transaction (:meth:`Workspace.transaction`):
its readings and its ``ingested_files`` row are stored together or not at all, so
an interrupted ingest leaves the workspace as before and running it again stores
exactly the file's rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sourcegrid.errors import InputError, NotFoundError, Problem, problems_frame
from sourcegrid.io.tables import fault_point

__all__ = [
    "OBSERVATIONS_TABLE",
    "WIND_TABLE",
    "FILES_TABLE",
    "OBSERVATION_KEY",
    "WIND_KEY",
    "OBSERVATION_COLUMNS",
    "FEED_KINDS",
    "IngestResult",
    "ingest_readings",
    "ingest_wind",
    "ingest_file",
    "file_sha256",
    "prepare_readings",
    "load_readings",
]

OBSERVATIONS_TABLE = "observations"
WIND_TABLE = "wind"
FILES_TABLE = "ingested_files"
OBSERVATION_KEY = ("site_id", "time", "pollutant")
WIND_KEY = ("site_id", "time")
OBSERVATION_COLUMNS = ["time", "site_id", "site_kind", "lon", "lat", "pollutant", "value",
                       "unit", "source"]
WIND_COLUMNS = ["time", "site_id", "lon", "lat", "wind_speed", "wind_dir", "source"]
#: Feed kinds ``sourcegrid observe ingest --kind`` accepts.
FEED_KINDS = ("reference", "micro", "mobile", "satellite", "wind")
DEFAULT_CHUNK_SIZE = 500_000

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


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prepare_readings(readings: pd.DataFrame, source: str = "") -> pd.DataFrame:
    """Canonical observation columns and types (time UTC, value float), sorted by key."""
    frame = readings.copy()
    time = pd.to_datetime(frame["time"])
    if time.dt.tz is None:
        raise ValueError("reading times must be timezone-aware (UTC); use readers.to_utc")
    frame["time"] = time.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    if "source" not in frame:
        frame["source"] = source
    if "unit" not in frame:
        frame["unit"] = ""
    for column in ("site_id", "site_kind", "pollutant", "unit", "source"):
        frame[column] = frame[column].astype(str)
    for column in ("lon", "lat", "value"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame[OBSERVATION_COLUMNS]


def _collapse_repeats(frame: pd.DataFrame, key: list[str], value_columns: list[str]) -> tuple[pd.DataFrame, int]:
    repeated = frame.duplicated(subset=key + value_columns, keep="first")
    return frame.loc[~repeated], int(repeated.sum())


def _append_new(workspace, table: str, frame: pd.DataFrame, key: list[str], columns: list[str],
                chunk_size: int, progress: Progress | None) -> tuple[int, int]:
    """Anti-join each chunk against the stored table on ``key`` and append what is new."""
    import ibis

    added = already = 0
    total = len(frame)
    for start in range(0, max(total, 1), chunk_size):
        chunk = frame.iloc[start:start + chunk_size]
        if chunk.empty:
            break
        if workspace.has(table):
            stored = workspace.table(table)
            before = _count(stored)
            # the anti-join and the insert both run in the engine; nothing comes back
            new = ibis.memtable(chunk).anti_join(stored.select(*key), key).select(*columns)
            workspace.write(table, new, mode="append")
            stored_now = _count(workspace.table(table))
            new_rows = stored_now - before
        else:
            workspace.write(table, chunk[columns], mode="append")
            new_rows = len(chunk)
        added += new_rows
        already += len(chunk) - new_rows
        fault_point("ingest:after_chunk")
        if progress is not None:
            progress(min(start + chunk_size, total), total)
    return added, already


def _count(table) -> int:
    return int(table.count().to_pyarrow().as_py())


def ingest_readings(workspace, readings: pd.DataFrame, *, source: str = "",
                    chunk_size: int = DEFAULT_CHUNK_SIZE,
                    progress: Progress | None = None) -> IngestResult:
    """Store readings (canonical long frame) in ``observations``, adding only new keys.

    Parameters
    ----------
    workspace : sourcegrid.store.Workspace
    readings : pandas.DataFrame
        time (tz-aware), site_id, site_kind, lon [degree], lat [degree], pollutant,
        value [internal unit], unit; as :func:`sourcegrid.observations.readers.read_observations`
        gives them.
    source : str
        Name stored with each row (the file name).
    chunk_size : int
        Rows per anti-join and insert.
    progress : callable(done, total), optional
        Called after each chunk (the CLI draws a progress bar with it).
    """
    frame = prepare_readings(readings, source)
    frame, repeated = _collapse_repeats(frame, list(OBSERVATION_KEY), ["value"])
    added, already = _append_new(workspace, OBSERVATIONS_TABLE, frame, list(OBSERVATION_KEY),
                                 OBSERVATION_COLUMNS, chunk_size, progress)
    return IngestResult(OBSERVATIONS_TABLE, read=len(readings), added=added,
                        already_stored=already, repeated=repeated)


def ingest_wind(workspace, wind: pd.DataFrame, *, source: str = "",
                chunk_size: int = DEFAULT_CHUNK_SIZE,
                progress: Progress | None = None) -> IngestResult:
    """Store wind readings (time UTC, site_id, lon, lat, wind_speed [m/s], wind_dir [degree])."""
    frame = wind.copy()
    frame["time"] = pd.to_datetime(frame["time"], utc=True).astype("datetime64[us, UTC]")
    frame["source"] = source
    frame["site_id"] = frame["site_id"].astype(str)
    for column in ("lon", "lat", "wind_speed", "wind_dir"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame = frame[WIND_COLUMNS]
    frame, repeated = _collapse_repeats(frame, list(WIND_KEY), ["wind_speed", "wind_dir"])
    added, already = _append_new(workspace, WIND_TABLE, frame, list(WIND_KEY), WIND_COLUMNS,
                                 chunk_size, progress)
    return IngestResult(WIND_TABLE, read=len(wind), added=added, already_stored=already,
                        repeated=repeated)


def _registered(workspace, sha256: str) -> bool:
    if not workspace.has(FILES_TABLE):
        return False
    files = workspace.table(FILES_TABLE)
    return bool(files.filter(files.sha256 == sha256).count().to_pyarrow().as_py())


def _register(workspace, sha256: str, path: Path, kind: str, result: IngestResult) -> None:
    row = pd.DataFrame({"sha256": [sha256], "source": [path.name], "kind": [kind],
                        "rows_read": [int(result.read)], "rows_added": [int(result.added)],
                        "ingested_at": [pd.Timestamp.now(tz="UTC").floor("s")
                                        .as_unit("us")]})
    workspace.write(FILES_TABLE, row, mode="append")


def ingest_file(workspace, path: str | Path, kind: str, *, sheet: str | int | None = None,
                units: dict[str, str] | None = None, date: str | None = None,
                variable: str | None = None, pollutant: str = "PM2.5",
                chunk_size: int = DEFAULT_CHUNK_SIZE, progress: Progress | None = None,
                force: bool = False) -> IngestResult:
    """Ingest one file of a feed kind into the workspace.

    Parameters
    ----------
    kind : {'reference', 'micro', 'mobile', 'satellite', 'wind'}
        'satellite' takes a GeoTIFF or NetCDF raster and stores per-cell daily
        means in ``satellite`` (needs the grid: ``sourcegrid grid create``); the
        others take CSV/Parquet/XLSX tables (:mod:`sourcegrid.observations.readers`).
    date : str, optional
        Day of a GeoTIFF without a time coordinate (YYYY-MM-DD, Asia/Shanghai).
    variable : str, optional
        NetCDF variable name (default: the only data variable).
    force : bool
        Read the file even when its SHA-256 is registered (keys still dedupe).

    The file's rows and its registration are stored in one transaction.
    """
    if kind not in FEED_KINDS:
        raise NotFoundError("feed kind", kind, FEED_KINDS)
    transaction = getattr(workspace, "transaction", None)
    if transaction is None:
        return _ingest_file(workspace, path, kind, sheet, units, date, variable, pollutant,
                            chunk_size, progress, force)
    with transaction():
        return _ingest_file(workspace, path, kind, sheet, units, date, variable, pollutant,
                            chunk_size, progress, force)


def _ingest_file(workspace, path, kind, sheet, units, date, variable, pollutant, chunk_size,
                 progress, force) -> IngestResult:
    from sourcegrid.observations import readers

    path = Path(path)
    if not path.is_file():
        reason, what = (("is_a_folder", "expected a file, but this is a folder") if path.is_dir()
                        else ("file_not_found", "file does not exist"))
        raise InputError([Problem(str(path), None, "", str(path), reason, what)],
                         summary=f"cannot read {path}")
    sha256 = file_sha256(path)
    table = {"wind": WIND_TABLE, "satellite": "satellite"}.get(kind, OBSERVATIONS_TABLE)
    if not force and _registered(workspace, sha256):
        return IngestResult(table, skipped_file=True)
    if kind == "wind":
        wind, rejects = readers.read_wind(path, sheet=sheet)
        result = ingest_wind(workspace, wind, source=path.name, chunk_size=chunk_size,
                             progress=progress)
        result.rejects = rejects
    elif kind == "satellite":
        from sourcegrid.grid.spec import read_spec
        from sourcegrid.observations.satellite import ingest_raster

        result = ingest_raster(workspace, read_spec(workspace), path, date=date,
                               variable=variable, pollutant=pollutant)
    else:
        # fusion places every reading by its position: a stored reading without one is lost
        batch = readers.read_observations(path, site_kind=kind, sheet=sheet, units=units,
                                          require_position=True)
        result = ingest_readings(workspace, batch.readings, source=path.name,
                                 chunk_size=chunk_size, progress=progress)
        result.rejects = batch.rejects
    _register(workspace, sha256, path, kind, result)
    return result


def load_readings(workspace, *, start=None, end=None, site_kind: str | None = None) -> pd.DataFrame:
    """Stored readings as a DataFrame (time UTC), optionally filtered by time and kind.

    ``start`` (included) and ``end`` (excluded): naive times are Asia/Shanghai.
    """
    from sourcegrid.observations.readers import utc_timestamp

    table = workspace.table(OBSERVATIONS_TABLE)
    if start is not None:
        table = table.filter(table.time >= utc_timestamp(start))
    if end is not None:
        table = table.filter(table.time < utc_timestamp(end))
    if site_kind is not None:
        table = table.filter(table.site_kind == site_kind)
    frame = table.to_pandas()
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame
