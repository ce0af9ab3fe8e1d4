"""Inspection findings (核查结果): what inspectors found at the sources a trace pointed to.

One row per finding in the workspace table ``inspection_findings``:

=============  =============================================================
finding_id     'F' + 12 hex digits (given, or made from the content)
cell_id        the traced cell the inspection was for ('R0012C0034')
source_id      the registered source inspected ('' for a new, unregistered one)
lon, lat       where the finding is [degree] (NaN when a registered source)
confirmed      True: this source makes the cell's pollution; False: inspected,
               not the cause (or nothing found at the location)
problem        what was wrong (e.g. 'treatment not running', 'unregistered
               boiler', 'open dust pile')
inspector      who inspected
time           when (UTC)
note           free text
=============  =============================================================

The workflow part (grid heads' inspections) calls :func:`record_finding`; the CLI
``sourcegrid findings add|list|import`` does the same from a terminal or a file. The
findings train :mod:`sourcegrid.tracing.learning`.

A finding file (CSV, XLSX, Parquet; English headers or the Chinese ones of
:data:`HEADER_ALIASES`) is checked as a whole: every bad row is reported (row, column,
value, reason) and nothing is stored when any row is bad.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from sourcegrid.errors import InputError, Problem

__all__ = [
    "FINDINGS_TABLE",
    "FINDING_COLUMNS",
    "HEADER_ALIASES",
    "record_finding",
    "read_findings",
    "validate_findings",
    "import_findings",
]

FINDINGS_TABLE = "inspection_findings"
FINDING_COLUMNS = ["finding_id", "cell_id", "source_id", "lon", "lat", "confirmed", "problem",
                   "inspector", "time", "note"]
#: Chinese headers accepted in finding files.
HEADER_ALIASES = {"核查编号": "finding_id", "网格编号": "cell_id", "网格": "cell_id",
                  "污染源编号": "source_id", "企业编号": "source_id", "经度": "lon", "纬度": "lat",
                  "是否确认": "confirmed", "确认": "confirmed", "问题": "problem",
                  "核查人": "inspector", "时间": "time", "备注": "note"}
TRUE_TEXT = {"true", "1", "yes", "y", "t", "是", "确认", "confirmed"}
FALSE_TEXT = {"false", "0", "no", "n", "f", "否", "未确认", "not confirmed", "rejected"}


def _finding_id(row: dict) -> str:
    """'F' + 12 hex digits of the SHA-256 of the finding as given (time as written, so
    that importing the same file twice stores it once)."""
    text = "|".join(str(row.get(c, "")) for c in FINDING_COLUMNS[1:])
    return "F" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def validate_findings(frame: pd.DataFrame, source: str = "findings") -> pd.DataFrame:
    """Check and normalise findings; raise one InputError listing every problem.

    Parameters
    ----------
    frame : pandas.DataFrame
        Columns of :data:`FINDING_COLUMNS` (finding_id, lon, lat, problem, inspector,
        time, note optional); Chinese headers of :data:`HEADER_ALIASES` accepted.
    source : str
        Name of the input, for the messages.

    Returns
    -------
    pandas.DataFrame
        :data:`FINDING_COLUMNS`, confirmed as bool, time as UTC (naive = Beijing time).
    """
    from sourcegrid.grid.spec import parse_cell_id
    from sourcegrid.observations.readers import utc_timestamp

    frame = frame.rename(columns={k: v for k, v in HEADER_ALIASES.items() if k in frame.columns})
    problems: list[Problem] = []
    for column in ("cell_id", "confirmed"):
        if column not in frame.columns:
            problems.append(Problem(source, None, column, "", "missing_column",
                                    f"a column {column!r}"))
    if problems:
        raise InputError(problems, f"{source}: missing columns")
    out = pd.DataFrame(index=frame.index)
    for column in FINDING_COLUMNS:
        out[column] = frame[column] if column in frame.columns else None
    text = {c: out[c].fillna("").astype(str).str.strip() for c in
            ("finding_id", "cell_id", "source_id", "problem", "inspector", "note")}
    confirmed = []
    for position, (index, value) in enumerate(out["confirmed"].items()):
        row_number = position + 2
        if isinstance(value, bool | np.bool_):
            confirmed.append(bool(value))
            continue
        word = "" if value is None or (isinstance(value, float) and np.isnan(value)) else \
            str(value).strip().lower()
        if word in TRUE_TEXT:
            confirmed.append(True)
        elif word in FALSE_TEXT:
            confirmed.append(False)
        else:
            confirmed.append(None)
            problems.append(Problem(source, row_number, "confirmed", str(value), "bad_boolean",
                                    "true/false (also yes/no, 1/0, 是/否)"))
        del index
    for position, cell in enumerate(text["cell_id"]):
        try:
            parse_cell_id([cell])
        except InputError:
            problems.append(Problem(source, position + 2, "cell_id", cell, "bad_cell_id",
                                    "a cell id of the form 'R0012C0034'"))
    coordinates = {}
    for column, low, high in (("lon", -180, 180), ("lat", -90, 90)):
        raw = out[column]
        number = pd.to_numeric(raw, errors="coerce")
        given = raw.notna() & (raw.astype(str).str.strip() != "")
        wrong = given & ~number.between(low, high)
        for position in np.flatnonzero(wrong.to_numpy()):
            problems.append(Problem(source, int(position) + 2, column, str(raw.iloc[position]),
                                    "bad_coordinate", f"a number in [{low}, {high}] degrees"))
        coordinates[column] = number.where(given)
    located = coordinates["lon"].notna() & coordinates["lat"].notna()
    for position in np.flatnonzero(((text["source_id"] == "") & ~located).to_numpy()):
        problems.append(Problem(source, int(position) + 2, "source_id", "", "missing_location",
                                "a source_id, or lon and lat of the source found"))
    times = []
    for position, value in enumerate(out["time"]):
        if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
            times.append(pd.Timestamp.now(tz="UTC").floor("s"))
            continue
        try:
            times.append(utc_timestamp(value))
        except (ValueError, TypeError):
            times.append(pd.NaT)
            problems.append(Problem(source, position + 2, "time", str(value), "bad_time",
                                    "an ISO 8601 time such as 2024-01-10T15:00"))
    if problems:
        raise InputError(problems, f"{source}: {len(problems)} problem(s); nothing was stored")
    result = pd.DataFrame({
        "finding_id": text["finding_id"].to_numpy(), "cell_id": text["cell_id"].to_numpy(),
        "source_id": text["source_id"].to_numpy(), "lon": coordinates["lon"].to_numpy(float),
        "lat": coordinates["lat"].to_numpy(float), "confirmed": np.asarray(confirmed, bool),
        "problem": text["problem"].to_numpy(), "inspector": text["inspector"].to_numpy(),
        "time": pd.to_datetime(pd.Series(times), utc=True).astype("datetime64[us, UTC]").to_numpy(),
        "note": text["note"].to_numpy()})
    result["time"] = pd.to_datetime(result["time"], utc=True).astype("datetime64[us, UTC]")
    missing = (result["finding_id"] == "").to_numpy()
    if missing.any():
        given = result.drop(columns="time").assign(
            time=out["time"].fillna("").astype(str).to_numpy(),
            lon=np.round(result["lon"], 6), lat=np.round(result["lat"], 6))
        result.loc[missing, "finding_id"] = [_finding_id(row) for row in
                                             given.loc[missing].to_dict("records")]
    return result[FINDING_COLUMNS]


def _store(workspace, frame: pd.DataFrame) -> int:
    if workspace.has(FINDINGS_TABLE):
        existing = read_findings(workspace)
        frame = frame.loc[~frame["finding_id"].isin(set(existing["finding_id"]))]
        if frame.empty:
            return 0
        workspace.write(FINDINGS_TABLE, frame, mode="append")
    else:
        workspace.write(FINDINGS_TABLE, frame)
    return len(frame)


def record_finding(workspace, *, cell_id: str, confirmed: bool, source_id: str = "",
                   lon: float | None = None, lat: float | None = None, problem: str = "",
                   inspector: str = "", time=None, note: str = "",
                   finding_id: str = "") -> str:
    """Store one inspection finding and return its finding_id.

    Parameters
    ----------
    workspace : sourcegrid.store.Workspace
    cell_id : str
        The traced cell.
    confirmed : bool
        The source (or the location) is the cause of the cell's pollution.
    source_id : str
        Registered source inspected; '' for a new source (then give lon, lat).
    lon, lat : float, optional
        Location of the finding [degree].
    problem, inspector, note : str
    time : str or Timestamp, optional
        When (naive = Beijing time); default now.
    finding_id : str
        Id to use; default a hash of the content (recording twice stores once).

    Raises
    ------
    InputError
        When a value is out of its domain (every problem listed).
    """
    row = pd.DataFrame([{"finding_id": finding_id, "cell_id": cell_id, "source_id": source_id,
                         "lon": lon, "lat": lat, "confirmed": confirmed, "problem": problem,
                         "inspector": inspector, "time": time, "note": note}])
    frame = validate_findings(row, "finding")
    check_known_sources(workspace, frame, "finding")
    _store(workspace, frame)
    return str(frame["finding_id"].iloc[0])


def check_known_sources(workspace, frame: pd.DataFrame, source: str) -> None:
    """Refuse findings on a source_id that the workspace's ``sources`` table does not hold.

    A finding names a registered source by its id; an id that is not registered is a typo
    or a new source (then give lon, lat instead). Without a sources table there is nothing
    to check against, and the ids are kept as given.

    Raises
    ------
    InputError
        ``unknown_source``, one problem per row, with the row number.
    """
    named = frame["source_id"].fillna("").astype(str).str.strip()
    if not named.ne("").any() or not workspace.has("sources"):
        return
    registered = set(workspace.table("sources").select("source_id").to_pandas()["source_id"]
                     .astype(str))
    unknown = named.ne("") & ~named.isin(registered)
    if not unknown.any():
        return
    rows = frame["_row"] if "_row" in frame.columns else pd.Series(range(1, len(frame) + 1),
                                                                    index=frame.index)
    problems = [Problem(source, int(rows[i]), "source_id", named[i], "unknown_source",
                        f"source {named[i]!r} is not in the workspace's sources table "
                        f"({len(registered)} sources); give a registered source_id, or "
                        "leave it empty and give lon/lat for a new source")
                for i in frame.index[unknown]]
    raise InputError(problems, f"findings name sources that are not registered ({source})")


def read_findings(workspace, cell_id: str | None = None) -> pd.DataFrame:
    """The stored findings (empty frame with :data:`FINDING_COLUMNS` when none)."""
    if not workspace.has(FINDINGS_TABLE):
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in
                             zip(FINDING_COLUMNS, ["object", "object", "object", "float64",
                                                   "float64", "bool", "object", "object",
                                                   "datetime64[us, UTC]", "object"],
                                 strict=True)})
    table = workspace.table(FINDINGS_TABLE)
    if cell_id is not None:
        table = table.filter(table.cell_id == cell_id)
    frame = table.to_pandas()
    frame["confirmed"] = frame["confirmed"].astype(bool)
    return frame[FINDING_COLUMNS]


def import_findings(workspace, data, *, sheet=None) -> tuple[int, int]:
    """Import findings from a file (CSV, XLSX, Parquet) or a DataFrame.

    Returns
    -------
    (read, added)
        Rows read and rows stored (a finding_id already stored is not added again).
    """
    from pathlib import Path

    if isinstance(data, pd.DataFrame):
        frame, source = data, "findings"
    else:
        from sourcegrid.io.tables import read_table

        frame, source = read_table(data, sheet=sheet), Path(data).name
    checked = validate_findings(frame, source)
    check_known_sources(workspace, checked, source)
    return len(checked), _store(workspace, checked)
