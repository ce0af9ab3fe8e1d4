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

from collections.abc import Collection, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sourcegrid.errors import InputError, Problem

__all__ = ["read_table", "read_arrow", "to_text_arrow", "canonical_headers", "write_table",
           "write_ibis_table", "with_row_numbers", "rejects_from_mask",
           "rename_headers", "TABLE_SUFFIXES", "ROW", "SOURCE"]

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
    for column in frame.columns:  # every value is text or None here: strip, blank = missing
        if frame[column].dtype == object:
            stripped = frame[column].str.strip()
            frame[column] = stripped.where(stripped.str.len() > 0, None)
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


def canonical_headers(columns: list[str], aliases: Mapping[str, str]) -> list[str]:
    """Canonical names for a list of headers (Chinese or variant → English; unknown kept).

    Matching ignores case, spaces, underscores, full-width brackets and a trailing unit
    in brackets (e.g. '产污系数(千克/吨)').
    """
    def key(text: str) -> str:
        text = str(text).strip().lower().replace("（", "(").replace("）", ")")
        return text.replace(" ", "").replace("_", "")

    lookup = {key(k): v for k, v in aliases.items()}
    lookup.update({key(v): v for v in aliases.values()})
    out = []
    for column in columns:
        canonical = None
        if column not in (ROW, SOURCE):
            canonical = lookup.get(key(column))
            if canonical is None and "(" in column:
                canonical = lookup.get(key(column.split("(")[0]))
        out.append(canonical or column)
    return out


def with_row_numbers(frame: pd.DataFrame, source: str, aliases: Mapping[str, str] | None = None
                     ) -> pd.DataFrame:
    """A copy with ``_row`` (spreadsheet row, header = 1) and ``_source`` when missing,
    headers renamed by ``aliases``."""
    frame = frame.copy()
    if ROW not in frame.columns:
        frame.insert(0, ROW, range(2, len(frame) + 2))
    if SOURCE not in frame.columns:
        frame.insert(1, SOURCE, source)
    return rename_headers(frame, aliases) if aliases else frame


def rename_headers(frame: pd.DataFrame, aliases: Mapping[str, str]) -> pd.DataFrame:
    """Rename Chinese (or variant) headers to canonical names; keep unknown columns."""
    names = canonical_headers(list(frame.columns), aliases)
    return frame.rename(columns=dict(zip(frame.columns, names, strict=True)))


def _text_array(values: pd.Series | pa.Array | pa.ChunkedArray) -> pa.Array:
    """A column as Arrow text, missing values as null (NaN is missing, not 'nan')."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        array = values
    else:
        try:
            array = pa.array(values, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            array = pa.array([None if v is None or (isinstance(v, float) and v != v) else _text(v)
                              for v in values], type=pa.string())
    if pa.types.is_floating(array.type):
        # 1.0 → '1', like a spreadsheet shows it
        integral = _integral(array)
        as_int = pc.cast(pc.if_else(integral, array, None), pa.int64(), safe=False)
        return pc.if_else(integral, pc.cast(as_int, pa.string()), pc.cast(array, pa.string()))
    if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
        array = pc.cast(array, pa.string())
    return array


def _integral(array: pa.Array) -> pa.Array:
    """Whole numbers that int64 holds exactly (|x| < 2^53); not inf, not NaN."""
    whole = pc.equal(pc.floor(array), array)
    return pc.fill_null(pc.and_(whole, pc.less(pc.abs(array), 2.0**53)), False)


def _number_array(values: pd.Series | pa.Array | pa.ChunkedArray) -> pa.Array:
    """A float64 column as the numbers its text (:func:`_text_array`) reads back as.

    Saves writing every number as text and parsing it again: NaN is missing,
    integral values go through int64 exactly as the text does (-0.0 → 0), other
    values are unchanged (the text is their shortest round-trip form).
    """
    array = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(
        values, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    array = pc.if_else(pc.fill_null(pc.is_nan(array), False), None, array)
    integral = _integral(array)
    as_int = pc.cast(pc.if_else(integral, array, None), pa.int64(), safe=False)
    return pc.if_else(integral, pc.cast(as_int, pa.float64(), safe=False), array)


def to_text_arrow(data: pa.Table | pd.DataFrame, source: str,
                  numbers: Collection[str] = ()) -> pa.Table:
    """Any table as an Arrow table of text columns plus ``_row`` and ``_source``.

    Row numbers already present (from :func:`read_arrow` or :func:`read_table`) are
    kept; otherwise the first row is row 2, as in a spreadsheet with a header row.
    Columns named in ``numbers`` that are float64 already stay float64, holding
    exactly the number their text would read as (see :func:`_number_array`).
    """
    numbers = set(numbers)

    def convert(name: str, column) -> pa.Array:
        kind = column.dtype if isinstance(column, pd.Series) else column.type
        if name in numbers and (kind == "float64" if isinstance(column, pd.Series)
                                else pa.types.is_float64(kind)):
            return _number_array(column)
        if isinstance(column, pd.Series):
            return _text_array(column)
        return column if pa.types.is_string(kind) else _text_array(column.to_pandas())

    if isinstance(data, pd.DataFrame):
        columns = {str(c): (pa.array(data[c].to_numpy(dtype="int64")) if c == ROW
                            else convert(str(c), data[c].reset_index(drop=True)))
                   for c in data.columns}
        table = pa.table(columns) if columns else pa.table({})
    else:
        table = pa.table({name: (data[name] if name == ROW else convert(name, data[name]))
                          for name in data.column_names})
    n = table.num_rows
    if ROW not in table.column_names:
        table = table.add_column(0, ROW, pa.array(np.arange(2, n + 2, dtype="int64")))
    if SOURCE not in table.column_names:
        table = table.add_column(1, SOURCE, pa.array([source] * n, type=pa.string()))
    return table


def read_arrow(path: str | Path, sheet: str | int | None = None) -> pa.Table:
    """Read a CSV, Parquet or XLSX file as an Arrow table of text, with ``_row``/``_source``.

    CSV is read by Arrow's multi-threaded reader (UTF-8, else GB18030); every column is
    text so that validation, not the reader, decides what is a number.
    """
    path = Path(path)
    if not path.exists():
        raise _problem(path, "file does not exist", "file_not_found", str(path))
    suffix = path.suffix.lower()
    if suffix == ".csv":
        import pyarrow.csv as pacsv

        table = None
        for encoding in ("utf8", "gb18030"):
            try:
                options = pacsv.ReadOptions(encoding=encoding)
                names = pacsv.open_csv(path, read_options=options).schema.names
                table = pacsv.read_csv(path, read_options=options,
                                       convert_options=pacsv.ConvertOptions(
                                           column_types={n: pa.string() for n in names},
                                           strings_can_be_null=True, null_values=[""]))
                break
            except UnicodeDecodeError:
                continue
            except pa.ArrowInvalid as error:
                if "utf" in str(error).lower():
                    continue
                raise _problem(path, f"not a well-formed CSV file: {error}", "bad_csv") from None
        if table is None:
            raise _problem(path, "text is neither UTF-8 nor GB18030", "bad_encoding")
        names = [n.lstrip("\ufeff").strip() for n in table.column_names]
        table = table.rename_columns(names)
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
    elif suffix in (".xlsx", ".xlsm"):
        return to_text_arrow(read_table(path, sheet=sheet), path.name)
    else:
        raise _problem(path, f"unsupported file type {suffix!r}; expected one of "
                       f"{', '.join(TABLE_SUFFIXES)}", "bad_file_type", suffix)
    return to_text_arrow(table, path.name)


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


XLSX_MAX_ROWS = 1_048_575


def write_ibis_table(con, table, path: str | Path, sheet: str = "data") -> Path:
    """Write a table that lives in an Ibis backend, streaming where the format allows.

    CSV is written batch by batch with a UTF-8 BOM (so Excel shows Chinese), Parquet
    by the engine itself; XLSX goes through pandas and is refused above its row limit.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        import pyarrow.csv as pacsv

        reader = con.to_pyarrow_batches(table)
        with open(path, "wb") as handle:
            handle.write("\ufeff".encode())
            with pacsv.CSVWriter(handle, reader.schema) as writer:
                for batch in reader:
                    writer.write_batch(batch)
    elif suffix == ".parquet":
        con.to_parquet(table, path)
    elif suffix == ".xlsx":
        rows = con.to_pyarrow(table.count().name("n").as_table())["n"][0].as_py()
        if rows > XLSX_MAX_ROWS:
            raise _problem(path, f"{rows:,} rows do not fit in an XLSX sheet "
                           f"({XLSX_MAX_ROWS:,} at most); write .csv or .parquet",
                           "too_many_rows", str(rows))
        write_table(con.to_pyarrow(table).to_pandas(), path, sheet=sheet)
    else:
        raise _problem(path, f"unsupported output type {suffix!r}; expected .csv, .parquet "
                       "or .xlsx", "bad_file_type", suffix)
    return path


def rejects_from_mask(frame: pd.DataFrame, mask: pd.Series, column: str | pd.Series,
                      values: pd.Series, reason: str, message: str) -> pd.DataFrame:
    """Reject rows (source, row, column, value, reason, message) for the rows in ``mask``.

    ``frame`` carries ``_source`` and ``_row``; ``column`` is a name, or a Series of
    names when the offending column differs by row (wide tables).
    """
    chosen = frame.loc[mask]
    return pd.DataFrame({
        "source": chosen[SOURCE].astype(str),
        "row": chosen[ROW].astype("Int64"),
        "column": column if isinstance(column, str) else column.loc[mask].astype(str),
        "value": values.loc[mask].astype("string").fillna(""),
        "reason": reason,
        "message": message,
    })
