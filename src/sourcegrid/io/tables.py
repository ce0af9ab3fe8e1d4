"""Reading and writing the tabular files bureaus use: CSV, XLSX and Parquet.

Readers return every value as text (or missing) so that validation, not the
reader, decides what is a number: a stray '12,5' or '—' becomes a reported
problem with its row, never a silently coerced NaN. Each row keeps its
spreadsheet row number (header = row 1) in the column ``_row`` and the file
name in ``_source``.

Headers may be English or Chinese; :func:`rename_headers` maps them to the
canonical English names and keeps unknown columns as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from sourcegrid.errors import InputError, Problem

__all__ = ["read_table", "write_table", "rename_headers", "TABLE_SUFFIXES", "ROW", "SOURCE"]

ROW = "_row"
SOURCE = "_source"
TABLE_SUFFIXES = (".csv", ".parquet", ".xlsx", ".xlsm")


def _problem(path: Path, message: str, reason: str, value: str = "") -> InputError:
    return InputError([Problem(str(path), None, "", value, reason, message)])


def read_table(path: str | Path, sheet: str | int | None = None) -> pd.DataFrame:
    """Read a CSV, Parquet or XLSX file with every value as text.

    Parameters
    ----------
    path : str or Path
        The file. CSV is read as UTF-8 (with or without BOM), falling back to GB18030,
        which Chinese spreadsheets often write.
    sheet : str or int, optional
        Sheet name or index for XLSX (default: the first sheet).

    Returns
    -------
    pandas.DataFrame
        Text values (``None`` where empty), plus ``_row`` and ``_source``.
    """
    path = Path(path)
    if not path.exists():
        raise _problem(path, "file does not exist", "file_not_found", str(path))
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame = None
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding,
                                    skipinitialspace=True)
                break
            except UnicodeDecodeError:
                continue
            except pd.errors.ParserError as error:
                raise _problem(path, f"not a well-formed CSV file: {error}", "bad_csv") from None
        if frame is None:
            raise _problem(path, "text is neither UTF-8 nor GB18030", "bad_encoding")
    elif suffix == ".parquet":
        frame = pd.read_parquet(path)
        frame = frame.astype(object).where(frame.notna(), None)
        frame = frame.map(lambda v: v if v is None or isinstance(v, str) else _text(v))
    elif suffix in (".xlsx", ".xlsm"):
        try:
            frame = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, dtype=object)
        except ValueError as error:
            raise _problem(path, f"cannot read sheet {sheet!r}: {error}", "bad_sheet",
                           str(sheet)) from None
        frame = frame.astype(object).where(frame.notna(), None)
        frame = frame.map(lambda v: v if v is None or isinstance(v, str) else _text(v))
    else:
        raise _problem(path, f"unsupported file type {suffix!r}; expected one of "
                       f"{', '.join(TABLE_SUFFIXES)}", "bad_file_type", suffix)
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.map(lambda v: None if v is None or (isinstance(v, str) and not v.strip())
                      else (v.strip() if isinstance(v, str) else v))
    frame.insert(0, ROW, range(2, len(frame) + 2))
    frame.insert(1, SOURCE, path.name)
    return frame


def _text(value: object) -> str:
    """Text of a spreadsheet cell: integers without '.0', dates in ISO form."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def rename_headers(frame: pd.DataFrame, aliases: Mapping[str, str]) -> pd.DataFrame:
    """Rename Chinese (or variant) headers to canonical names; keep unknown columns.

    Parameters
    ----------
    aliases : mapping
        Header text → canonical name. Matching ignores case, surrounding space,
        full-width brackets and a trailing unit in brackets (e.g. '产污系数(千克/吨)').
    """
    def key(text: str) -> str:
        text = str(text).strip().lower().replace("（", "(").replace("）", ")")
        return text.replace(" ", "").replace("_", "")

    lookup = {key(k): v for k, v in aliases.items()}
    lookup.update({key(v): v for v in aliases.values()})
    mapping = {}
    for column in frame.columns:
        if column in (ROW, SOURCE):
            continue
        canonical = lookup.get(key(column))
        if canonical is None and "(" in column:
            canonical = lookup.get(key(column.split("(")[0]))
        if canonical is not None:
            mapping[column] = canonical
    return frame.rename(columns=mapping)


def write_table(frame: pd.DataFrame, path: str | Path, sheet: str = "data") -> Path:
    """Write a table as CSV (UTF-8 with BOM, so Excel shows Chinese), Parquet or XLSX."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(path, index=False, encoding="utf-8-sig")
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".xlsx":
        with pd.ExcelWriter(path, engine="openpyxl") as writer:
            frame.to_excel(writer, sheet_name=sheet, index=False)
    else:
        raise _problem(path, f"unsupported output type {suffix!r}; expected .csv, .parquet "
                       "or .xlsx", "bad_file_type", suffix)
    return path
