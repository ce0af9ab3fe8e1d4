"""Reading and writing the tabular files bureaus use: CSV, XLSX and Parquet.

Readers return every value as text (or missing) so that validation, not the
reader, decides what is a number: a stray '12,5' or '—' becomes a reported
problem with its row, never a silently coerced NaN. Each row keeps its
spreadsheet row number (header = row 1) in the column ``_row`` and the file
name in ``_source``.

Headers may be English or Chinese; :func:`rename_headers` maps them to the
canonical English names and keeps unknown columns as they are.

A file that cannot be read as a table (missing, a folder, empty, header only,
binary, a wrong extension, a damaged Parquet or XLSX file) is an
:class:`~sourcegrid.errors.InputError` naming the file and what was expected,
never a library's traceback.

Every writer is atomic: the table is written to a temporary file beside the
target (``.<name>.sg-tmp-<pid>-<token><suffix>``), flushed to disk (fsync) and
renamed over the target with :func:`os.replace` only when complete, so an
interrupted run leaves the previous file or none, never a partial one.
:func:`atomic_path` gives the same guarantee to any other writer (reports, PDFs,
GeoJSON); :func:`check_output_path` checks an output path before work starts and
creates a missing folder (the CLI says so through :func:`set_folder_created_hook`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
import warnings
import zipfile
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sourcegrid.errors import InputError, OutputError, Problem

__all__ = ["read_table", "read_arrow", "to_text_arrow", "canonical_headers", "write_table",
           "write_ibis_table", "table_writer", "with_row_numbers", "rejects_from_mask", "RowChecks",
           "rename_headers", "atomic_path", "check_output_path", "check_input_path",
           "set_folder_created_hook", "fault_point", "TABLE_SUFFIXES", "OUTPUT_SUFFIXES",
           "ROW", "SOURCE", "process_alive"]

ROW = "_row"
SOURCE = "_source"
TABLE_SUFFIXES = (".csv", ".parquet", ".xlsx", ".xlsm")
OUTPUT_SUFFIXES = (".csv", ".parquet", ".xlsx")
#: Test hook (inert unless set): the name of a :func:`fault_point` at which to stop.
FAULT_ENV = "SOURCEGRID_TEST_FAULT"

_KIND = {".csv": "a CSV table", ".parquet": "a Parquet table", ".xlsx": "an XLSX workbook",
         ".xlsm": "an XLSX workbook"}
_MAGIC = {b"PAR1": "a Parquet file", b"PK\x03\x04": "an XLSX workbook or another zip archive",
          b"\xd0\xcf\x11\xe0": "an old Excel .xls workbook (save it as .xlsx)"}


def _problem(path: Path, message: str, reason: str, value: str = "") -> InputError:
    return InputError([Problem(str(path), None, "", value, reason, message)],
                      summary=f"cannot read {path}")


def fault_point(name: str) -> None:
    """A named point where the fault tests stop a run (inert unless the test env var is set).

    With ``SOURCEGRID_TEST_FAULT=<name>`` the process writes ``<name>`` to the file named
    by ``SOURCEGRID_TEST_FAULT_READY`` (when set) and sleeps (``SOURCEGRID_TEST_FAULT_SLEEP``
    seconds, default 60), for the test to kill it there.
    """
    if os.environ.get(FAULT_ENV) != name:
        return
    ready = os.environ.get(f"{FAULT_ENV}_READY")
    if ready:
        Path(ready).write_text(name, encoding="utf-8")
    time.sleep(float(os.environ.get(f"{FAULT_ENV}_SLEEP", "60")))


def check_input_path(path: str | Path, suffixes: Collection[str] = TABLE_SUFFIXES) -> Path:
    """Check that ``path`` is a readable, non-empty file of one of ``suffixes``.

    Raises
    ------
    InputError
        ``file_not_found``, ``is_a_folder``, ``permission_denied``, ``bad_file_type``,
        ``empty_file`` or ``binary_file``/``wrong_format`` (the bytes are not what the
        extension says), naming the file and what was expected.
    """
    path = Path(path)
    kinds = ", ".join(suffixes)
    if path.is_dir():
        raise _problem(path, f"expected a file ({kinds}), but this is a folder", "is_a_folder",
                       str(path))
    if not path.exists():
        hint = "" if path.parent.exists() else f" (the folder {path.parent} does not exist)"
        raise _problem(path, f"file does not exist{hint}", "file_not_found", str(path))
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        hint = " (an old .xls workbook: save it as .xlsx)" if suffix == ".xls" else ""
        raise _problem(path, f"unsupported file type {suffix or '(none)'!r}; expected one of "
                       f"{kinds}{hint}", "bad_file_type", suffix)
    try:
        with open(path, "rb") as handle:
            head = handle.read(8192)
    except PermissionError:
        raise _problem(path, "cannot read the file: permission denied", "permission_denied",
                       str(path)) from None
    except OSError as error:
        raise _problem(path, f"cannot read the file: {error.strerror or error}",
                       "unreadable_file", str(path)) from None
    expected = _KIND.get(suffix, "a table")
    if not head:
        raise _problem(path, f"expected {expected} with a header row and data rows; the file "
                       "is empty (0 bytes)", "empty_file", "0 bytes")
    magic = next((label for key, label in _MAGIC.items() if head.startswith(key)), None)
    if suffix == ".csv":
        if magic is not None:
            raise _problem(path, f"expected CSV text, but the file is {magic}; give it the "
                           "right extension", "wrong_format", head[:4].hex())
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise _problem(path, "expected CSV text in UTF-8 or GB18030, but the file is "
                           "UTF-16 text; save it as 'CSV UTF-8'", "bad_encoding", "UTF-16")
        if b"\x00" in head:
            raise _problem(path, "expected CSV text, but the file holds binary data (NUL "
                           "bytes)", "binary_file", head[:8].hex())
    elif suffix == ".parquet" and not head.startswith(b"PAR1"):
        found = f"it is {magic}" if magic else "it has no PAR1 marker"
        raise _problem(path, f"expected a Parquet file, but {found}", "bad_parquet",
                       head[:4].hex())
    elif suffix in (".xlsx", ".xlsm") and not head.startswith(b"PK\x03\x04"):
        found = f"it is {magic}" if magic else "it is not a zip archive"
        raise _problem(path, f"expected an XLSX workbook, but {found}", "bad_xlsx",
                       head[:4].hex())
    return path


def _no_rows(path: Path, columns: list[str]) -> InputError:
    shown = ", ".join(str(c) for c in columns[:8]) + (" ..." if len(columns) > 8 else "")
    return _problem(path, "expected at least one data row below the header",
                    "empty_file", f"header only: {shown}")


def _read_parquet(path: Path):
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as error:
        raise _problem(path, f"expected a Parquet table, but it cannot be read (damaged or "
                       f"truncated?): {error}", "bad_parquet") from None


def _read_excel(path: Path, sheet):
    try:
        return pd.read_excel(path, sheet_name=0 if sheet is None else sheet, dtype=object)
    except zipfile.BadZipFile as error:
        raise _problem(path, f"expected an XLSX workbook, but it cannot be opened (damaged "
                       f"or truncated?): {error}", "bad_xlsx") from None
    except (ValueError, IndexError) as error:
        if sheet is None:
            raise _problem(path, f"expected an XLSX workbook, but it cannot be read: {error}",
                           "bad_xlsx") from None
        raise _problem(path, f"cannot read sheet {sheet!r}: {error}", "bad_sheet",
                       str(sheet)) from None
    except (KeyError, OSError, EOFError, TypeError) as error:  # openpyxl on a broken archive
        raise _problem(path, f"expected an XLSX workbook, but it cannot be read (damaged?): "
                       f"{type(error).__name__}: {error}", "bad_xlsx") from None


def read_table(path: str | Path, sheet: str | int | None = None, *,
               allow_empty: bool = False) -> pd.DataFrame:
    """Read a CSV, Parquet or XLSX file with every value as text.

    Parameters
    ----------
    path : str or Path
        The file. CSV is read as UTF-8 (with or without BOM), falling back to GB18030,
        which Chinese spreadsheets often write.
    sheet : str or int, optional
        Sheet name or index for XLSX (default: the first sheet).
    allow_empty : bool
        Accept a file with a header row and no data rows (default: an ``empty_file``
        error).

    Returns
    -------
    pandas.DataFrame
        Text values (``None`` where empty), plus ``_row`` and ``_source``.

    Raises
    ------
    InputError
        The file cannot be read as a table (see :func:`check_input_path`), is not
        well-formed, or has no data rows.
    """
    path = check_input_path(path)
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
            except pd.errors.EmptyDataError:
                raise _problem(path, "expected a header row and data rows; the file holds "
                               "only blank lines", "empty_file") from None
            except pd.errors.ParserError as error:
                raise _problem(path, f"not a well-formed CSV file: {error}", "bad_csv") from None
        if frame is None:
            raise _problem(path, "text is neither UTF-8 nor GB18030", "bad_encoding")
    elif suffix == ".parquet":
        frame = _read_parquet(path).to_pandas()
        frame = frame.astype(object).where(frame.notna(), None)
        frame = frame.map(lambda v: v if v is None or isinstance(v, str) else _text(v))
    else:  # .xlsx, .xlsm (check_input_path refused the rest)
        frame = _read_excel(path, sheet)
        frame = frame.astype(object).where(frame.notna(), None)
        frame = frame.map(lambda v: v if v is None or isinstance(v, str) else _text(v))
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame) == 0 and not allow_empty:
        raise _no_rows(path, list(frame.columns))
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


def _reads_back_unchanged(array: pa.Array | pa.ChunkedArray) -> bool:
    """Whether :func:`_number_array` would return these numbers as they are: no NaN
    (read back as missing) and no -0.0 (read back as 0); nulls stay null."""
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    for chunk in chunks:
        values = chunk.drop_null().to_numpy(zero_copy_only=False) if chunk.null_count \
            else chunk.to_numpy(zero_copy_only=True)
        if np.isnan(values).any() or (np.signbit(values) & (values == 0)).any():
            return False
    return True


def _number_array(values: pd.Series | pa.Array | pa.ChunkedArray
                  ) -> pa.Array | pa.ChunkedArray:
    """A float64 column as the numbers its text (:func:`_text_array`) reads back as.

    Saves writing every number as text and parsing it again: NaN is missing,
    integral values go through int64 exactly as the text does (-0.0 → 0), other
    values are unchanged (the text is their shortest round-trip form).
    """
    array = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(
        values, from_pandas=True)
    if _reads_back_unchanged(array):
        return array  # no copy: a large input is not held twice
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


def read_arrow(path: str | Path, sheet: str | int | None = None, *,
               allow_empty: bool = False) -> pa.Table:
    """Read a CSV, Parquet or XLSX file as an Arrow table of text, with ``_row``/``_source``.

    CSV is read by Arrow's multi-threaded reader (UTF-8, else GB18030); every column is
    text so that validation, not the reader, decides what is a number. A file that
    cannot be read, or has no data rows (unless ``allow_empty``), is an InputError as in
    :func:`read_table`.
    """
    path = check_input_path(path)
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
                if "empty csv" in str(error).lower():
                    raise _problem(path, "expected a header row and data rows; the file holds "
                                   "only blank lines", "empty_file") from None
                raise _problem(path, f"not a well-formed CSV file: {error}", "bad_csv") from None
        if table is None:
            raise _problem(path, "text is neither UTF-8 nor GB18030", "bad_encoding")
        names = [n.lstrip("\ufeff").strip() for n in table.column_names]
        table = table.rename_columns(names)
    elif suffix == ".parquet":
        table = _read_parquet(path)
    else:  # .xlsx, .xlsm
        return to_text_arrow(read_table(path, sheet=sheet, allow_empty=allow_empty), path.name)
    if table.num_rows == 0 and not allow_empty:
        raise _no_rows(path, table.column_names)
    return to_text_arrow(table, path.name)


_folder_created_hook: Callable[[Path], None] | None = None


def set_folder_created_hook(hook: Callable[[Path], None] | None) -> None:
    """Call ``hook(folder)`` whenever a writer creates a missing output folder (the CLI
    prints it); ``None`` turns it off."""
    global _folder_created_hook
    _folder_created_hook = hook


def check_output_path(path: str | Path, suffixes: Collection[str] | None = None) -> Path:
    """Check an output path before work starts; create its missing folder.

    Parameters
    ----------
    path : str or Path
        The file to write.
    suffixes : collection of str, optional
        Extensions allowed (e.g. :data:`OUTPUT_SUFFIXES`); default any.

    Raises
    ------
    OutputError
        The path is a folder, a part of it is a file, its folder cannot be created or
        is not writable, or its extension is not one of ``suffixes``.
    """
    path = Path(path)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise OutputError(f"cannot write {path}: unsupported output type "
                          f"{path.suffix or '(none)'!r}; expected {', '.join(suffixes)}")
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder; give a file name such as "
                          f"{path / ('output' + (sorted(suffixes)[0] if suffixes else '.csv'))}")
    folder = path.parent
    for ancestor in (folder, *folder.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise OutputError(f"cannot write {path}: {ancestor} is a file, not a folder")
            break
    if not folder.exists():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"cannot write {path}: cannot create its folder {folder}: "
                              f"{error.strerror or error}") from None
        if _folder_created_hook is not None:
            _folder_created_hook(folder)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: the folder {folder} is not writable "
                          "(permission denied)")
    return path


def _temp_name(target: Path, token: str) -> Path:
    return target.with_name(f".{target.stem}.sg-tmp-{os.getpid()}-{token}{target.suffix}")


def _remove_stale_temps(target: Path) -> None:
    """Remove temporary files of ``target`` left by writers that were killed (dead pid)."""
    prefix = f".{target.stem}.sg-tmp-"
    try:
        candidates = [p for p in target.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return
    for candidate in candidates:
        pid = candidate.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            with contextlib.suppress(OSError):
                candidate.unlink()


def process_alive(pid: object) -> bool:
    """Whether a process with this pid exists (a temp or lock-info file of a killed
    writer is stale); a pid that is not a positive int is not alive. The one home of
    this check (the workspace lock uses it too)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # it exists, owned by someone else
        return True
    except OverflowError:     # beyond the platform's pid range
        return False
    return True


def _fsync(path: Path, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:  # some file systems cannot open a folder: best effort
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """A temporary path beside ``target`` that replaces it atomically when the block ends.

    Write the file to the yielded path; when the block ends without an error it is
    flushed to disk and renamed over ``target`` (:func:`os.replace`, atomic on one file
    system). On an error, a Ctrl-C or a kill, the target keeps its previous content
    (or stays absent) and the temporary file is removed (a killed writer's file is
    removed by the next write of the same target). The folder is checked and created
    first (:func:`check_output_path`).

    Examples
    --------
    >>> with atomic_path("report.pdf") as temp:       # doctest: +SKIP
    ...     canvas = reportlab.pdfgen.canvas.Canvas(str(temp))
    """
    target = check_output_path(target)
    _remove_stale_temps(target)
    temp = _temp_name(target, secrets.token_hex(4))
    try:
        yield temp
        if not temp.exists():
            raise OutputError(f"cannot write {target}: the writer produced no file")
        fault_point("atomic:before_replace")
        _fsync(temp)
        os.replace(temp, target)
        _fsync(target.parent, directory=True)
    except PermissionError as error:
        raise OutputError(f"cannot write {target}: permission denied "
                          f"({error.filename or target.parent})") from None
    except IsADirectoryError:
        raise OutputError(f"cannot write {target}: it is a folder") from None
    finally:
        if temp.exists():
            with contextlib.suppress(OSError):
                temp.unlink()


def _output_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise _problem(path, f"unsupported output type {suffix or '(none)'!r}; expected .csv, "
                       ".parquet or .xlsx", "bad_file_type", suffix)
    return suffix


def write_table(frame: pd.DataFrame, path: str | Path, sheet: str = "data") -> Path:
    """Write a table as CSV (UTF-8 with BOM, so Excel shows Chinese), Parquet or XLSX.

    The file is written atomically (:func:`atomic_path`); a missing folder is created.
    """
    path = Path(path)
    suffix = _output_suffix(path)
    if suffix == ".xlsx" and len(frame) > XLSX_MAX_ROWS:
        raise _too_many_rows(path, len(frame))
    with atomic_path(path) as temp:
        if suffix == ".csv":
            frame.to_csv(temp, index=False, encoding="utf-8-sig")
        elif suffix == ".parquet":
            frame.to_parquet(temp, index=False)
        else:
            with pd.ExcelWriter(temp, engine="openpyxl") as writer:
                frame.to_excel(writer, sheet_name=sheet, index=False)
    return path


XLSX_MAX_ROWS = 1_048_575


def _too_many_rows(path: Path, rows: int) -> InputError:
    return _problem(path, f"{rows:,} rows do not fit in an XLSX sheet ({XLSX_MAX_ROWS:,} at "
                    "most); write .csv or .parquet", "too_many_rows", str(rows))


def write_ibis_table(con, table, path: str | Path, sheet: str = "data") -> Path:
    """Write a table that lives in an Ibis backend, streaming where the format allows.

    CSV is written batch by batch with a UTF-8 BOM (so Excel shows Chinese), Parquet
    by the engine itself; XLSX goes through pandas and is refused above its row limit.
    ``table`` may also be a sequence of tables with the same columns, written one after
    the other into the one file (CSV and Parquet, :func:`table_writer`). The file is
    written atomically (:func:`atomic_path`); a missing folder is created.
    """
    path = Path(path)
    suffix = _output_suffix(path)
    tables = list(table) if isinstance(table, list | tuple) else [table]
    if suffix == ".xlsx":
        if len(tables) > 1:
            raise _one_table_in_xlsx(path)
        rows = con.to_pyarrow(tables[0].count().name("n").as_table())["n"][0].as_py()
        if rows > XLSX_MAX_ROWS:
            raise _too_many_rows(path, rows)
        return write_table(con.to_pyarrow(tables[0]).to_pandas(), path, sheet=sheet)
    if suffix == ".parquet" and len(tables) == 1:
        with atomic_path(path) as temp:
            con.to_parquet(tables[0], temp)  # the engine writes it, in parallel
        return path
    with table_writer(con, path) as write:
        for each in tables:
            write(each)
    return path


def _one_table_in_xlsx(path: Path) -> InputError:
    return _problem(path, "a run in parts is written to .csv or .parquet, not .xlsx",
                    "bad_file_type", path.suffix.lower())


@contextlib.contextmanager
def table_writer(con, path: str | Path) -> Iterator[Callable]:
    """Write tables of a backend one after the other into one CSV (with BOM) or Parquet
    file, batch by batch; yields ``write(table)``. The tables have the same columns (the
    first one's schema is the file's). The file appears, complete, when the block ends
    (:func:`atomic_path`); on an error it keeps its previous content.

    Examples
    --------
    >>> with table_writer(con, "emissions.parquet") as write:   # doctest: +SKIP
    ...     for part in parts:
    ...         write(part)
    """
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = Path(path)
    suffix = _output_suffix(path)
    if suffix == ".xlsx":
        raise _one_table_in_xlsx(path)
    state = {"writer": None, "batches": 0}

    def write(table) -> None:
        with warnings.catch_warnings():
            # ibis 12 calls DuckDB 1.5's deprecated fetch_record_batch: not ours to fix
            warnings.filterwarnings("ignore", message=r"fetch_record_batch\(\) is deprecated",
                                    category=DeprecationWarning)
            reader = con.to_pyarrow_batches(table)
        writer = state["writer"]
        if writer is None:
            writer = state["writer"] = (pacsv.CSVWriter(handle, reader.schema) if suffix == ".csv"
                                        else pq.ParquetWriter(handle, reader.schema))
        for batch in reader:
            cast = suffix == ".parquet" and batch.schema != writer.schema
            writer.write_batch(batch.cast(writer.schema) if cast else batch)
            state["batches"] += 1
            if state["batches"] == 1:
                fault_point("write:after_first_batch")

    with atomic_path(path) as temp, open(temp, "wb") as handle:
        if suffix == ".csv":
            handle.write("\ufeff".encode())
        try:
            yield write
            if state["writer"] is None:
                raise OutputError(f"cannot write {path}: no table was given")
        finally:
            if state["writer"] is not None:
                state["writer"].close()


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


class RowChecks:
    """Every problem of every row of a frame, collected check by check.

    Each :meth:`check` adds one reject per row in its mask, so a row that breaks
    several checks is reported under each of them, not only under the first.

    Attributes
    ----------
    bad : pandas.Series of bool
        The rows with at least one problem so far.
    rejects : list of pandas.DataFrame
        The reject rows of each failed check (see :func:`rejects_from_mask`).
    """

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.bad = pd.Series(False, index=frame.index)
        self.rejects: list[pd.DataFrame] = []

    def check(self, mask: pd.Series, column: str | pd.Series, values: pd.Series, reason: str,
              message: str | pd.Series) -> None:
        """Reject the rows in ``mask`` (NA = fine) for ``reason``.

        ``message`` is one text, or a Series of texts by row.
        """
        mask = mask.fillna(False).astype(bool)
        if mask.any():
            if isinstance(message, pd.Series):  # one message per row
                message = message.loc[mask]
            self.rejects.append(rejects_from_mask(self.frame, mask, column, values, reason,
                                                  message))
            self.bad = self.bad | mask
