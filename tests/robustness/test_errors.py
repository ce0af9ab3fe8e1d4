"""The one error path of the CLI: every error class → its message and exit code, no traceback.

Exit codes (sourcegrid.errors.EXIT_CODES, README "Exit codes"): 2 bad input, 3 busy
workspace, 4 corrupt workspace, 5 out of memory, 70 internal error, 74 I/O error,
130 interrupted, 143 terminated.
"""

from __future__ import annotations

import errno
import os
import zipfile

import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from sourcegrid.cli.main import app
from sourcegrid.errors import (
    EXIT_CODES,
    InputError,
    OutputError,
    Problem,
    ResourceError,
    SourcegridError,
    WorkspaceBusyError,
    WorkspaceCorruptError,
    WorkspaceError,
)
from sourcegrid.store import Workspace

runner = CliRunner()

ACTIVITY = """企业编号,企业名称,行业代码,行政区划代码,工段名称,原料名称,工艺名称,生产规模,规模单位,活动水平,活动水平单位,年份,S,A
P1,示例电厂,4411,130902,锅炉,燃煤,煤粉炉,600,MW,1,万吨,2017,0.8,20
"""


def flat(text: str) -> str:
    """Output with line wrapping undone (rich wraps long messages)."""
    return " ".join(text.split())


def invoke(args, **kwargs):
    result = runner.invoke(app, [str(a) for a in args], **kwargs)
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception,
                                                                      SystemExit), result.exception
    return result


@pytest.fixture
def activity(tmp_path):
    path = tmp_path / "activity.csv"
    path.write_text(ACTIVITY, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- bad input files


BAD_FILES = {
    # name: (content or None for a folder, reason, part of the message)
    "empty.csv": (b"", "empty_file", "the file is empty (0 bytes)"),
    "header.csv": (ACTIVITY.splitlines()[0].encode() + b"\n", "empty_file",
                   "expected at least one data row below the header"),
    "blank.csv": (b"\n\n\n", "empty_file", "only blank lines"),
    "garbage.csv": (bytes(range(256)) * 8, "binary_file", "binary data"),
    "zipped.csv": (b"PK\x03\x04" + b"x" * 100, "wrong_format", "an XLSX workbook or another zip"),
    "broken.parquet": (b"PAR1" + b"\x00" * 64, "bad_parquet", "cannot be read"),
    "text.parquet": (b"a,b\n1,2\n", "bad_parquet", "no PAR1 marker"),
    "broken.xlsx": (b"PK\x03\x04" + b"\x00" * 200, "bad_xlsx", "cannot be"),
    "text.xlsx": (b"a,b\n1,2\n", "bad_xlsx", "not a zip archive"),
    "old.xls": (b"\xd0\xcf\x11\xe0" + b"\x00" * 100, "bad_file_type", "save it as .xlsx"),
    "notes.txt": (b"a,b\n1,2\n", "bad_file_type", "expected one of .csv, .parquet"),
    "folder.csv": (None, "is_a_folder", "but this is a folder"),
    "utf16.csv": ("a,b\n1,2\n".encode("utf-16"), "bad_encoding", "UTF-16"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_bad_input_file_is_a_problem_table_with_exit_2(tmp_path, name):
    content, reason, message = BAD_FILES[name]
    path = tmp_path / name
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    result = invoke(["account", path, "--workspace", tmp_path / "ws"])
    assert result.exit_code == 2
    text = flat(result.output)
    assert f"cannot read {path}: 1 problem(s); nothing was loaded." in text
    assert reason in text
    # the message, as the table shows it (wrapped in its cell): tested whole in test_files.py
    assert message.split()[0] in text


def test_a_missing_input_file_and_its_missing_folder(tmp_path):
    result = invoke(["account", tmp_path / "no" / "such.csv", "--workspace", tmp_path / "ws"])
    assert result.exit_code == 2
    text = flat(result.output)
    assert "file_not_found" in text and "does not exist" in text


# --------------------------------------------------------------------------- output paths


def test_an_output_folder_that_is_missing_is_created_and_said(tmp_path, activity):
    out = tmp_path / "new" / "deeper" / "emissions.csv"
    result = invoke(["account", activity, "--workspace", tmp_path / "ws", "--out", out])
    assert result.exit_code == 0, result.output
    assert out.exists()
    assert f"created the folder {out.parent}" in flat(result.output)
    # the file is complete: header + the rows of P1 (SO2, NOx, PM at least)
    frame = pd.read_csv(out, encoding="utf-8-sig")
    assert {"SO2", "NOx"} <= set(frame["pollutant"])


def test_an_output_path_that_is_a_folder_is_reported_and_nothing_is_stored(tmp_path, activity):
    out = tmp_path / "out.csv"
    out.mkdir()
    result = invoke(["account", activity, "--workspace", tmp_path / "ws", "--out", out,
                     "--run", "r1"])
    assert result.exit_code == 2
    assert f"error: cannot write {out}: it is a folder" in flat(result.output)
    with Workspace(tmp_path / "ws") as ws:  # the run was rolled back with the failure
        assert not ws.has("account_runs") or "r1" not in set(ws.read("account_runs")["run"])


def test_an_output_under_a_file_is_reported(tmp_path, activity):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "emissions.csv"
    result = invoke(["account", activity, "--workspace", tmp_path / "ws", "--out", out])
    assert result.exit_code == 2
    assert f"{tmp_path / 'file'} is a file, not a folder" in flat(result.output)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_output_folder_is_reported(tmp_path, activity):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        result = invoke(["account", activity, "--workspace", tmp_path / "ws", "--out",
                         folder / "e.csv"])
    finally:
        folder.chmod(0o700)
    assert result.exit_code == 2
    assert "is not writable (permission denied)" in flat(result.output)


# --------------------------------------------------------------------------- workspace


@pytest.mark.parametrize("damage", ["garbage", "truncated", "folder"])
def test_a_corrupt_workspace_is_exit_4_with_what_to_do(tmp_path, damage):
    ws = tmp_path / "ws"
    with Workspace(ws, create=True) as store:
        store.write("t", pd.DataFrame({"x": range(50_000)}))
    db = ws / "workspace.duckdb"
    if damage == "garbage":
        db.write_bytes(os.urandom(20_000))
    elif damage == "truncated":
        data = db.read_bytes()
        db.write_bytes(data[: len(data) // 3])
    else:
        db.unlink()
        db.mkdir()
    result = invoke(["coefficients", "list", "--workspace", ws])
    assert result.exit_code == EXIT_CODES["workspace_corrupt"] == 4
    text = flat(result.output)
    assert f"the workspace file {db} cannot be read" in text and "What to do:" in text


def test_no_workspace_is_exit_2_with_how_to_create_one(tmp_path):
    result = invoke(["coefficients", "list", "--workspace", tmp_path / "none"])
    assert result.exit_code == 2
    assert f"create one with 'sourcegrid init --workspace {tmp_path / 'none'}'" in \
        flat(result.output)


def test_a_failed_command_leaves_the_workspace_as_before(tmp_path, monkeypatch):
    """Interrupted after the sample library was written: the transaction is rolled back."""
    import sourcegrid.coefficients.versions as versions

    ws = tmp_path / "ws"
    Workspace(ws, create=True).close()
    real = versions.store_library

    def store_then_interrupt(*args, **kwargs):
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(versions, "store_library", store_then_interrupt)
    result = invoke(["init", "--workspace", ws])
    assert result.exit_code == 130
    assert "interrupted: the workspace was left as it was before this command" in \
        flat(result.output)
    with Workspace(ws) as store:
        assert not store.has("coefficient_libraries") and not store.has("coefficient_rows")
    monkeypatch.setattr(versions, "store_library", real)
    assert invoke(["init", "--workspace", ws]).exit_code == 0
    with Workspace(ws) as store:
        assert list(store.read("coefficient_libraries")["name"]) == ["sample"]


# --------------------------------------------------------------------------- every error class


def _duckdb_error(name: str, text: str):
    import duckdb

    return getattr(duckdb, name)(text)


ERRORS = {
    # id: (exception, exit code, part of the message)
    "input": (InputError([Problem("a.csv", 3, "x", "q", "not_a_number", "expected a number")]),
              2, "not_a_number"),
    "sourcegrid": (SourcegridError("period end 2024-01-10 is before its start"), 2,
                   "error: period end 2024-01-10 is before its start"),
    "output": (OutputError("cannot write x.csv: it is a folder"), 2, "cannot write x.csv"),
    "workspace": (WorkspaceError("no workspace at w"), 2, "error: no workspace at w"),
    "busy": (WorkspaceBusyError("the workspace w is busy"), 3, "the workspace w is busy"),
    "corrupt": (WorkspaceCorruptError("the workspace file cannot be read"), 4, "cannot be read"),
    "resource": (ResourceError("2,000,000,000 cells need 72 GiB"), 5, "72 GiB"),
    "memory": (MemoryError("Unable to allocate 71.9 GiB"), 5, "out of memory"),
    "file_not_found": (FileNotFoundError(errno.ENOENT, "No such file", "in/x.csv"), 2,
                       "file or folder not found: in/x.csv"),
    "is_a_directory": (IsADirectoryError(errno.EISDIR, "Is a directory", "out"), 2,
                       "out is a folder; a file was expected"),
    "not_a_directory": (NotADirectoryError(errno.ENOTDIR, "Not a directory", "f/x"), 2,
                        "a part of this path is a file"),
    "permission": (PermissionError(errno.EACCES, "Permission denied", "/root/x"), 2,
                   "permission denied: /root/x"),
    "disk_full": (OSError(errno.ENOSPC, "No space left on device", "out.csv"), 74,
                  "the system could not read or write (out.csv): No space left on device"),
    "empty_data": (pd.errors.EmptyDataError("No columns to parse from file"), 2,
                   "an input file is empty"),
    "parser": (pd.errors.ParserError("Error tokenizing data"), 2, "not well-formed CSV"),
    "date": (pd.errors.OutOfBoundsDatetime("2024-13-45"), 2, "not a valid date"),
    "arrow": (pa.ArrowInvalid("Could not open Parquet input source"), 2,
              "an input file cannot be read"),
    "bad_zip": (zipfile.BadZipFile("File is not a zip file"), 2, "not a valid workbook"),
    "unicode": (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), 2,
                "not in the expected encoding"),
    "duckdb_lock": (("IOException", 'Could not set lock on file "w.duckdb": Conflicting lock'),
                    3, "the workspace is busy"),
    "duckdb_corrupt": (("IOException", "Corrupt database file: computed checksum"), 4,
                       "the workspace file cannot be read"),
    "duckdb_io": (("IOException", "Could not write file: disk quota"), 74,
                  "could not read or write its file"),
    "duckdb_connection": (("ConnectionException", "Connection already closed!"), 4,
                          "connection was lost or closed"),
    "duckdb_memory": (("OutOfMemoryException", "could not allocate block"), 5,
                      "out of memory in the workspace engine"),
    "interrupt": (KeyboardInterrupt(), 130, "interrupted"),
    "duckdb_interrupt": (("InterruptException", "INTERRUPT Error: Interrupted!"), 130,
                         "interrupted: the workspace was left as it was"),
    "exit": (SystemExit(1), 1, ""),
    "bug": (ZeroDivisionError("division by zero"), 70,
            "internal error in 'sourcegrid init': ZeroDivisionError: division by zero"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_every_error_class_has_its_message_and_exit_code(tmp_path, monkeypatch, case):
    import sourcegrid.coefficients as coefficients

    error, code, message = ERRORS[case]
    if isinstance(error, tuple):
        error = _duckdb_error(*error)

    def fail(workspace):
        raise error

    monkeypatch.setattr(coefficients, "ensure_sample_library", fail)
    result = invoke(["init", "--workspace", tmp_path / "ws"])
    assert result.exit_code == code, result.output
    assert flat(message) in flat(result.output)


def test_an_internal_error_names_the_command_and_debug_shows_the_traceback(tmp_path,
                                                                           monkeypatch):
    import sourcegrid.coefficients as coefficients

    def fail(workspace):
        raise RuntimeError("boom")

    monkeypatch.setattr(coefficients, "ensure_sample_library", fail)
    plain = invoke(["init", "--workspace", tmp_path / "ws"])
    assert plain.exit_code == 70
    text = flat(plain.output)
    assert "internal error in 'sourcegrid init': RuntimeError: boom" in text
    assert "--debug" in text and "SOURCEGRID_DEBUG=1" in text
    for args, env in ((["--debug", "init"], {}), (["init"], {"SOURCEGRID_DEBUG": "1"})):
        debug = runner.invoke(app, [*args, "--workspace", str(tmp_path / "ws")], env=env)
        assert debug.exit_code == 70
        assert "Traceback" in debug.output and "RuntimeError: boom" in debug.output


def test_a_command_in_a_group_is_named(tmp_path, monkeypatch):
    import sourcegrid.coefficients as coefficients

    def fail(*args, **kwargs):
        raise LookupError("lost")

    Workspace(tmp_path / "ws", create=True).close()
    monkeypatch.setattr(coefficients, "list_libraries", fail)
    result = invoke(["coefficients", "list", "--workspace", tmp_path / "ws"])
    assert result.exit_code == 70
    assert "internal error in 'sourcegrid coefficients list': LookupError: lost" in \
        flat(result.output)


def test_usage_errors_stay_click_usage_errors(tmp_path):
    result = invoke(["account", "--no-such-option"])
    assert result.exit_code == 2 and "No such option" in result.output
