"""Readers refuse what is not a table with a named problem; writers are atomic."""

from __future__ import annotations

import os
import subprocess
import sys

import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sourcegrid.errors import InputError, OutputError
from sourcegrid.io import tables
from sourcegrid.io.tables import (
    atomic_path,
    check_output_path,
    read_arrow,
    read_table,
    table_writer,
    write_ibis_table,
    write_table,
)


def only_problem(error: InputError):
    assert len(error.problems) == 1
    return error.problems[0]


def good_parquet(path):
    pq.write_table(pa.table({"a": ["1", "2"], "b": ["x", "y"]}), path)
    return path


CASES = {
    # file name: (bytes or a callable(path) making it, reason, message)
    "empty.csv": (b"", "empty_file",
                  "expected a CSV table with a header row and data rows; the file is empty "
                  "(0 bytes)"),
    "header.csv": (b"a,b\n", "empty_file", "expected at least one data row below the header"),
    "blank.csv": (b"\n\n", "empty_file",
                  "expected a header row and data rows; the file holds only blank lines"),
    "garbage.csv": (bytes(range(256)) * 4, "binary_file",
                    "expected CSV text, but the file holds binary data (NUL bytes)"),
    "renamed.csv": (None, "wrong_format",
                    "expected CSV text, but the file is a Parquet file; give it the right "
                    "extension"),
    "utf16.csv": ("a,b\n1,2\n".encode("utf-16"), "bad_encoding",
                  "expected CSV text in UTF-8 or GB18030, but the file is UTF-16 text; save it "
                  "as 'CSV UTF-8'"),
    "text.parquet": (b"a,b\n1,2\n", "bad_parquet",
                     "expected a Parquet file, but it has no PAR1 marker"),
    "old.xlsx": (b"\xd0\xcf\x11\xe0" + bytes(64), "bad_xlsx",
                 "expected an XLSX workbook, but it is an old Excel .xls workbook (save it as "
                 ".xlsx)"),
    "notes.txt": (b"a\n1\n", "bad_file_type",
                  "unsupported file type '.txt'; expected one of .csv, .parquet, .xlsx, .xlsm"),
    "noext": (b"a\n1\n", "bad_file_type",
              "unsupported file type '(none)'; expected one of .csv, .parquet, .xlsx, .xlsm"),
}


@pytest.mark.parametrize("reader", [read_table, read_arrow])
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_file_that_is_not_a_table_is_one_named_problem(tmp_path, reader, name):
    content, reason, message = CASES[name]
    path = tmp_path / name
    if content is None:
        good_parquet(path)
    else:
        path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        reader(path)
    problem = only_problem(caught.value)
    assert (problem.source, problem.reason, problem.message) == (str(path), reason, message)
    assert caught.value.summary == f"cannot read {path}"


@pytest.mark.parametrize("reader", [read_table, read_arrow])
def test_a_truncated_parquet_or_xlsx_file_is_named(tmp_path, reader):
    parquet = good_parquet(tmp_path / "t.parquet")
    parquet.write_bytes(parquet.read_bytes()[:20])
    with pytest.raises(InputError) as caught:
        reader(parquet)
    problem = only_problem(caught.value)
    assert problem.reason == "bad_parquet"
    assert problem.message.startswith("expected a Parquet table, but it cannot be read "
                                      "(damaged or truncated?)")
    xlsx = tmp_path / "t.xlsx"
    pd.DataFrame({"a": [1, 2]}).to_excel(xlsx, index=False)
    xlsx.write_bytes(xlsx.read_bytes()[:300])
    with pytest.raises(InputError) as caught:
        reader(xlsx)
    problem = only_problem(caught.value)
    assert problem.reason == "bad_xlsx" and problem.message.startswith(
        "expected an XLSX workbook, but it cannot be")


def test_a_folder_or_a_missing_file(tmp_path):
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(InputError) as caught:
        read_table(tmp_path / "d.csv")
    assert (only_problem(caught.value).reason, only_problem(caught.value).message) == (
        "is_a_folder", "expected a file (.csv, .parquet, .xlsx, .xlsm), but this is a folder")
    with pytest.raises(InputError) as caught:
        read_arrow(tmp_path / "nowhere" / "x.csv")
    assert only_problem(caught.value).message == (
        f"file does not exist (the folder {tmp_path / 'nowhere'} does not exist)")


def test_a_header_only_file_may_be_allowed(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("a,b\n", encoding="utf-8")
    frame = read_table(path, allow_empty=True)
    assert list(frame.columns) == ["_row", "_source", "a", "b"] and frame.empty
    assert read_arrow(path, allow_empty=True).num_rows == 0
    with pytest.raises(InputError) as caught:
        read_arrow(path)
    assert only_problem(caught.value).value == "header only: a, b"


# --------------------------------------------------------------------------- atomic writers


def test_atomic_path_replaces_only_when_complete(tmp_path):
    target = tmp_path / "report.pdf"
    target.write_text("previous")
    with pytest.raises(RuntimeError), atomic_path(target) as temp:
        assert temp.parent == target.parent and temp.name.startswith(".report.sg-tmp-")
        assert temp.suffix == ".pdf"
        temp.write_text("half")
        raise RuntimeError("stopped")
    assert target.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.pdf"]  # temp removed
    with atomic_path(target) as temp:
        temp.write_text("new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.pdf"]


def test_a_writer_that_writes_nothing_is_an_error(tmp_path):
    with pytest.raises(OutputError, match="the writer produced no file"), \
            atomic_path(tmp_path / "x.csv"):
        pass


def test_a_killed_writers_temp_file_is_removed_by_the_next_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f".e.sg-tmp-{dead}-abcd.csv"
    stale.write_text("partial")
    mine = tmp_path / f".e.sg-tmp-{os.getpid()}-ffff.csv"  # a live writer's file is kept
    mine.write_text("in progress")
    write_table(pd.DataFrame({"a": [1]}), tmp_path / "e.csv")
    assert not stale.exists() and mine.exists()


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx"])
def test_write_table_failing_midway_keeps_the_previous_file(tmp_path, monkeypatch, suffix):
    target = tmp_path / f"out{suffix}"
    write_table(pd.DataFrame({"a": [1, 2, 3]}), target)
    before = target.read_bytes()
    method = {".csv": "to_csv", ".parquet": "to_parquet", ".xlsx": "to_excel"}[suffix]
    real = getattr(pd.DataFrame, method)

    def half_then_fail(self, path, *args, **kwargs):
        real(self.head(1), path, *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, method, half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        write_table(pd.DataFrame({"a": range(100)}), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_write_ibis_table_streams_csv_with_bom_and_parquet_atomically(tmp_path):
    con = ibis.duckdb.connect()
    table = con.create_table("t", pd.DataFrame({"name": ["甲", "乙"], "value": [1.5, 2.0]}))
    csv = write_ibis_table(con, table, tmp_path / "sub" / "t.csv")
    assert csv.read_bytes().startswith("\ufeff".encode())
    assert pd.read_csv(csv, encoding="utf-8-sig")["name"].tolist() == ["甲", "乙"]
    parquet = write_ibis_table(con, table, tmp_path / "t.parquet")
    assert pq.read_table(parquet).num_rows == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub", "t.parquet"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_writer_writes_tables_one_after_the_other_or_nothing(suffix, tmp_path):
    """Three tables (of a run in parts) give one file with their rows in order; a
    failure inside the block, or no table at all, leaves the earlier file as it was."""
    con = ibis.duckdb.connect()
    parts = [con.create_table(f"part{i}", pd.DataFrame({"name": names, "value": values}))
             for i, (names, values) in enumerate([(["甲", "乙"], [1.5, 2.0]), ([], []),
                                                  (["丙"], [3.0])])]
    target = tmp_path / f"emissions{suffix}"
    with table_writer(con, target) as write:
        for part in parts:
            write(part)

    def read():
        if suffix == ".csv":
            assert target.read_bytes().startswith("\ufeff".encode())
            return pd.read_csv(target, encoding="utf-8-sig")
        return pq.read_table(target).to_pandas()

    written = read()
    assert written["name"].tolist() == ["甲", "乙", "丙"]
    assert written["value"].tolist() == [1.5, 2.0, 3.0]
    before = target.read_bytes()
    with pytest.raises(RuntimeError, match="part 2 failed"), table_writer(con, target) as write:
        write(parts[0])
        raise RuntimeError("part 2 failed")
    with pytest.raises(OutputError, match="no table was given"), table_writer(con, target):
        pass
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary file left
    with pytest.raises(InputError, match="not .xlsx"), table_writer(con, tmp_path / "e.xlsx"):
        pass


def test_xlsx_row_limit_is_checked_before_writing(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "XLSX_MAX_ROWS", 2)
    with pytest.raises(InputError) as caught:
        write_table(pd.DataFrame({"a": range(3)}), tmp_path / "big.xlsx")
    assert only_problem(caught.value).message == (
        "3 rows do not fit in an XLSX sheet (2 at most); write .csv or .parquet")
    assert not (tmp_path / "big.xlsx").exists()


# --------------------------------------------------------------------------- output paths


def test_check_output_path(tmp_path):
    created = []
    tables.set_folder_created_hook(created.append)
    try:
        assert check_output_path(tmp_path / "a" / "b" / "x.csv") == tmp_path / "a" / "b" / "x.csv"
    finally:
        tables.set_folder_created_hook(None)
    assert created == [tmp_path / "a" / "b"] and (tmp_path / "a" / "b").is_dir()
    with pytest.raises(OutputError, match="it is a folder; give a file name such as"):
        check_output_path(tmp_path / "a")
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputError, match=r"f is a file, not a folder"):
        check_output_path(tmp_path / "f" / "g" / "x.csv")
    with pytest.raises(OutputError, match=r"unsupported output type '\.txt'; expected "):
        check_output_path(tmp_path / "x.txt", tables.OUTPUT_SUFFIXES)
    with pytest.raises(InputError) as caught:
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "new" / "x.json")
    assert only_problem(caught.value).reason == "bad_file_type"
    assert not (tmp_path / "new").exists()  # a refused type creates no folder
