"""Row numbers of files the engine reads: a row's number is its line in a spreadsheet.

The header is row 1, so the i-th data row (0-based) is row i + 2, whatever the
reader does in parallel. The files are made here, with the row's own index written in
it, so the expected number of every row is known without running the code under test.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from sourcegrid.io.engine_files import cached_numbered, numbered, read_file

#: More rows than DuckDB puts in one row group (122,880), so that several threads read.
ROWS = 300_000


@pytest.fixture()
def con():
    backend = ibis.duckdb.connect()
    yield backend
    backend.disconnect()


def _frame(rows: int = ROWS) -> pd.DataFrame:
    index = np.arange(rows)
    return pd.DataFrame({"index": index.astype(str), "text": [f"r{i}" for i in index]})


def _temporary_tables(con) -> set[str]:
    return {name for (name,) in con.con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}


def _rows(table) -> pd.DataFrame:
    return table.select("_row", "index", "text").to_pandas().sort_values("_row")


def _as_is(rows):
    return rows  # what the caller builds from the numbered rows: here nothing


def test_csv_rows_are_numbered_in_file_order_in_one_copy(con, tmp_path):
    path = tmp_path / "rows.csv"
    _frame().to_csv(path, index=False)
    before = _temporary_tables(con)
    raw = read_file(con, path)
    rows, cache = cached_numbered(con, raw, path, _as_is)
    got = _rows(rows)
    assert len(_temporary_tables(con) - before) == 1  # one copy, the built rows
    cache.release()
    assert _temporary_tables(con) == before
    assert got["_row"].tolist() == list(range(2, ROWS + 2))
    assert (got["index"].astype(int) + 2).tolist() == got["_row"].tolist()
    assert got["text"].tolist() == [f"r{i}" for i in range(ROWS)]


def test_parquet_rows_are_numbered_by_the_reader(con, tmp_path):
    path = tmp_path / "rows.parquet"
    _frame().to_parquet(path, index=False, row_group_size=50_000)
    raw = read_file(con, path).rename(position="index")  # a reader renames columns
    rows, cache = cached_numbered(con, raw, path, _as_is)
    assert list(rows.columns) == ["position", "text", "_row"]
    got = rows.to_pandas().sort_values("_row")
    cache.release()
    assert got["_row"].tolist() == list(range(2, ROWS + 2))
    assert (got["position"].astype(int) + 2).tolist() == got["_row"].tolist()


def test_a_parquet_column_named_like_the_readers_number_is_kept(con, tmp_path):
    path = tmp_path / "rows.parquet"
    frame = _frame(10).assign(file_row_number=list("abcdefghij"))
    frame.to_parquet(path, index=False)
    raw = read_file(con, path)
    rows, cache = cached_numbered(con, raw, path, _as_is)
    got = rows.to_pandas().sort_values("_row")
    cache.release()
    assert got["file_row_number"].tolist() == list("abcdefghij")
    assert got["_row"].tolist() == list(range(2, 12))


def test_once_numbers_as_the_window_does(con, tmp_path):
    path = tmp_path / "rows.csv"
    _frame(20_000).to_csv(path, index=False)
    raw = read_file(con, path)
    window = _rows(numbered(con, raw))
    rows, cache = cached_numbered(con, raw, path, _as_is)  # the cache lives while referenced
    once = _rows(rows)
    pd.testing.assert_frame_equal(once.reset_index(drop=True), window.reset_index(drop=True))
