"""Files read by the engine itself: CSV and Parquet into a table of the backend, numbered.

Ingest and accounting read large CSV and Parquet files with the backend's own reader
(DuckDB's ``read_csv``/``read_parquet``, Spark's), so that the rows never pass through
Python; every value of a CSV is text, so that the checks, not the reader, decide what
is a number. Each row gets the number a user sees in a spreadsheet (``_row``: the
header is row 1). PostgreSQL reads no files: callers fall back to
:func:`sourcegrid.io.tables.read_arrow`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

__all__ = ["CASE_LIMIT", "COPY_PREFIX", "ENGINE_SUFFIXES", "cached_numbered", "drop_copies",
           "insertion_order", "is_utf8", "numbered", "numbered_file", "read_file",
           "read_numbered"]

#: Files the engines read themselves.
ENGINE_SUFFIXES = (".csv", ".parquet")
#: Spark partitions shifted with a CASE expression; more go through a join.
CASE_LIMIT = 64


def numbered(backend, table):
    """The file's rows with their spreadsheet row number ``_row`` (header = 1).

    On Spark without a window over the whole file (which would pull every row into one
    partition): ``monotonically_increasing_id`` numbers rows in file order within each
    partition (partitions follow the file's order), so a row's number is its offset in
    its partition plus the rows of the partitions before it. One aggregate counts the
    rows of each partition (a few numbers come back); the shift of each partition is
    added by a CASE expression (or a join, for many partitions). DuckDB numbers the
    rows as it reads them.
    """
    import ibis

    if backend.name == "pyspark":
        # declarations of Spark's functions; their bodies never run
        @ibis.udf.scalar.builtin(name="monotonically_increasing_id", signature=((), "int64"))
        def _row_id():
            ...

        @ibis.udf.scalar.builtin(name="spark_partition_id", signature=((), "int32"))
        def _partition_id():
            ...

        ids = table.mutate(_id=_row_id(), _part=_partition_id())
        sizes = (ids.group_by("_part").aggregate(_count=ids.count(), _first=ids._id.min())
                 .to_pandas().sort_values("_part"))
        # row number = id + (rows of the partitions before − the partition's first id + 2)
        shift = (sizes["_count"].cumsum() - sizes["_count"] - sizes["_first"] + 2).astype("int64")
        offsets = pd.DataFrame({"_part": sizes["_part"].astype("int32"), "_shift": shift})
        if len(offsets) <= CASE_LIMIT:
            return ids.mutate(_row=ids._id + ibis.cases(
                *((ids._part == int(part), int(value))
                  for part, value in offsets.itertuples(index=False)),
                else_=ibis.null("int64"))).drop("_id", "_part")
        lookup = ibis.memtable(offsets)
        joined = ids.join(lookup, "_part")
        return joined.mutate(_row=joined._id + joined._shift).drop("_id", "_part", "_shift")
    return table.mutate(_row=ibis.row_number() + 2)


def numbered_file(backend, table, path: Path):
    """The file's rows numbered as :func:`numbered` does, by the reader where it can.

    DuckDB's ``ROW_NUMBER() OVER ()`` keeps the file's order by running the whole pass
    it is part of in one thread. DuckDB's Parquet reader numbers the rows itself
    (``file_row_number``), in parallel; a CSV file on DuckDB is copied once as text and
    numbered by the copy's ``rowid`` into a temporary table (:func:`_numbered_copy`,
    dropped by :func:`drop_copies`); other backends get :func:`numbered`.

    ``table`` is the file as :func:`read_file` read it, its columns perhaps renamed.
    """
    if backend.name != "duckdb":
        return numbered(backend, table)
    if path.suffix.lower() != ".parquet":
        return _numbered_copy(backend, table)
    import pyarrow.parquet as pq

    if "file_row_number" in pq.read_schema(path).names:
        return numbered(backend, table)  # the reader's column would clash with the file's
    fresh = backend.read_parquet(str(path), file_row_number=True)
    names = list(fresh.columns)
    return fresh.select(**{new: fresh[old] for new, old in zip(table.columns, names[:-1],
                                                              strict=True)},
                        _row=fresh.file_row_number + 2)


COPY_PREFIX = "_sgcopy_"  # the numbered copies of CSV files; drop_copies drops them


def _numbered_copy(backend, table):
    """A CSV file's rows with ``_row``, in a temporary table of DuckDB (``_sgcopy_...``,
    kept until :func:`drop_copies` or the connection closes).

    The text is copied in file order (so its ``rowid`` is the row's place in the file),
    then copied again with its row number as ``_row`` (:func:`_file_order_copy`) and the
    first copy dropped. Both copies run in parallel: for the 1.8·10^6 rows and 14 columns of
    a treatment file the typed, checked table then takes 4.4 s instead of 8.8 s with
    ROW_NUMBER().
    """
    numbered = f"{COPY_PREFIX}{uuid.uuid4().hex[:12]}"
    with _file_order_copy(backend, table) as rows:
        backend.raw_sql(f'CREATE TEMP TABLE "{numbered}" AS {rows}')
    return backend.table(numbered)


@contextlib.contextmanager
def _file_order_copy(backend, table) -> Iterator[str]:
    """SQL of a copy of ``table`` (DuckDB) with ``_row``, for the block.

    The copy is made in file order, so its rowid is the row's place in the file. Rows a
    transaction has added but not committed are numbered from 2^55 on, so the row is
    counted from the copy's first rowid, not from 0.
    """
    with insertion_order(backend, keep=True):
        copy = table.cache()
    try:
        name = ".".join(f'"{part}"' for part in copy.get_name().split("."))
        yield f"SELECT *, rowid - (SELECT min(rowid) FROM {name}) + 2 AS _row FROM {name}"
    finally:
        copy.release()


def drop_copies(backend, table=None) -> None:
    """Drop the numbered copies :func:`numbered_file` made on ``backend`` (only those
    ``table`` reads, when given: a file its caller does not go on with)."""
    if backend.name != "duckdb":
        return
    if table is not None:
        from ibis.expr import operations as ops

        names = {node.name for node in table.op().find(ops.DatabaseTable)}
    else:
        names = set(backend.list_tables(like=COPY_PREFIX))
    for name in names:
        if name.startswith(COPY_PREFIX):
            backend.raw_sql(f'DROP TABLE IF EXISTS "{name}"')


@contextlib.contextmanager
def insertion_order(backend, keep: bool) -> Iterator[None]:
    """While the block runs, DuckDB keeps (``keep``) or may drop the order rows are read
    in; its setting is restored after. Other backends have no such setting."""
    if backend.name != "duckdb":
        yield
        return
    previous = backend.raw_sql("SELECT current_setting('preserve_insertion_order')").fetchone()[0]
    backend.raw_sql(f"SET preserve_insertion_order = {'true' if keep else 'false'}")
    try:
        yield
    finally:
        backend.raw_sql(f"SET preserve_insertion_order = {'true' if previous else 'false'}")


def cached_numbered(backend, table, path: Path, build) -> tuple:
    """``build`` of the file's rows numbered as :func:`numbered` does, cached.

    ``build`` maps the rows (with ``_row``) to the table to cache row for row, in their
    order (a projection: no filter, join or aggregate). Returns the cached rows with
    ``_row``, and the cache to release.

    A CSV file on DuckDB is built from its text with a stand-in ``_row``, cached in file
    order and numbered by the cache's ``rowid``: one copy of the file instead of a
    numbered text copy and then the built one (:func:`_file_order_copy`); for 10^6 rows
    of two readings the text copy had cost 0.23 s of 2.5 s. Elsewhere the rows are
    numbered first (:func:`numbered_file`).
    """
    import ibis

    if backend.name != "duckdb" or path.suffix.lower() == ".parquet":
        cached = build(numbered_file(backend, table, path)).cache()
        return cached, cached
    with insertion_order(backend, keep=True):
        cached = build(table.mutate(_row=ibis.literal(0, "int64"))).drop("_row").cache()
    name = ".".join(f'"{part}"' for part in cached.get_name().split("."))
    # rows a transaction added are numbered from 2^55: count from the first rowid
    first = backend.raw_sql(f"SELECT min(rowid) FROM {name}").fetchone()[0] or 0
    return backend.sql(f"SELECT rowid - {int(first)} + 2 AS _row, * FROM {name}"), cached


def read_file(backend, path: Path, *, pad_short_rows: bool = True):
    """The file as a table of the backend (text columns for CSV, typed for Parquet).

    ``pad_short_rows``: a CSV row with fewer fields than the header gets nulls for the
    rest (ingest: a reading without its last values); False makes such a file fail to
    read on DuckDB, as Arrow's reader does (a row that lost a field has its values in
    the wrong columns).
    """
    if path.suffix.lower() == ".parquet":
        return backend.read_parquet(str(path))
    if backend.name == "pyspark":
        return backend.read_csv(str(path), header=True, inferSchema=False, multiLine=True,
                                escape='"', mode="FAILFAST", encoding="UTF-8")
    return backend.read_csv(str(path), all_varchar=True, header=True, delim=",", quote='"',
                            escape='"', null_padding=pad_short_rows, encoding="utf-8")


def is_utf8(path: Path) -> bool:
    """The file is UTF-8 text (with or without BOM), checked block by block."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def read_numbered(backend, path: str | Path, *, source: str | None = None,
                  pad_short_rows: bool = True):
    """The file as a numbered table of the backend, or None where the engine cannot read it.

    Columns: the file's, with a byte-order mark and edge spaces removed from the headers,
    then ``_row`` (spreadsheet row, header = 1) and ``_source`` (the file name).

    Returns None, for the caller's Arrow reader (which reads the file or says what is
    wrong with it), when the file is not CSV or Parquet, a CSV is not UTF-8, the backend
    has no file reader, the reader refuses the file, it has no data rows, or headers
    repeat or start with ``_``.
    """
    import ibis

    from sourcegrid.io.tables import SOURCE

    path = Path(path)
    if path.suffix.lower() not in ENGINE_SUFFIXES or not path.is_file():
        return None
    if path.suffix.lower() == ".csv" and not is_utf8(path):
        return None
    try:
        raw = read_file(backend, path, pad_short_rows=pad_short_rows)
        columns = list(raw.columns)
    except Exception:  # noqa: BLE001 - no file reader (PostgreSQL), or a file it refuses
        return None
    names = [str(c).lstrip("\ufeff").strip() for c in columns]
    if len(set(names)) != len(names) or any(n.startswith("_") or not n for n in names):
        return None
    raw = raw.rename({new: old for new, old in zip(names, columns, strict=True) if new != old})
    if path.suffix.lower() == ".csv" and names != _arrow_header(path):
        return None  # the Arrow reader sees other columns (or none): it reports the file
    copied = backend.name == "duckdb" and path.suffix.lower() != ".parquet"
    try:
        # one pass over the whole file: a malformed row anywhere surfaces here, not in
        # the middle of the caller's work (a CSV on DuckDB: the numbered copy is that pass)
        table = numbered_file(backend, raw, path) if copied else raw
        if not int(table.count().to_pyarrow().as_py()):
            if copied:
                drop_copies(backend, table)
            return None  # no data rows: the Arrow reader says so
    except Exception:  # noqa: BLE001 - the engine refuses the file: the Arrow reader says why
        return None
    if not copied:
        table = numbered_file(backend, raw, path)  # numbers the rows as ``_row`` (ROW)
    return table.mutate(**{SOURCE: ibis.literal(source or path.name, "string")})


def _arrow_header(path: Path) -> list[str] | None:
    """The header of a UTF-8 CSV as :func:`sourcegrid.io.tables.read_arrow` reads it."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        names = pacsv.open_csv(path, read_options=pacsv.ReadOptions(encoding="utf8")).schema.names
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError):
        return None
    return [n.lstrip("\ufeff").strip() for n in names]

