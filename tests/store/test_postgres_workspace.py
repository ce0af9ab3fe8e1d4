"""A workspace on PostgreSQL: transactions, several writers at once, no password shown."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from sourcegrid.errors import WorkspaceError
from sourcegrid.store import Workspace, engines

pytestmark = pytest.mark.pg


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in (engines.ENGINE_VAR, engines.DSN_VAR, engines.MASTER_VAR):
        monkeypatch.delenv(name, raising=False)


def test_init_writes_the_config_and_later_opens_read_it(tmp_path, postgres_dsn):
    with Workspace(tmp_path / "ws", create=True, engine="postgres", dsn=postgres_dsn) as ws:
        assert ws.engine == "postgres"
        ws.write("a", pd.DataFrame({"x": [1, 2]}))
    assert (tmp_path / "ws" / engines.CONFIG_FILE).is_file()
    assert not (tmp_path / "ws" / "workspace.duckdb").exists()
    with Workspace(tmp_path / "ws") as again:  # no engine given: the file says postgres
        assert again.engine == "postgres"
        assert again.tables() == ["a"]
        assert again.read("a")["x"].tolist() == [1, 2]


def test_a_frame_is_stored_by_copy_exactly(tmp_path, postgres_dsn):
    # COPY in CSV form: NULL is an empty field, an empty string a quoted one; commas, quotes,
    # newlines and Chinese text inside values; floats to the last bit; times in UTC.
    frame = pd.DataFrame({
        "text": ["a,b", 'say "x"', "", None, "行政\n区划"],
        "count": [1, 2, 3, 4, 5],
        "value": [0.1 + 0.2, float("nan"), -0.0, 1e300, 2.5e-310],
        "flag": [True, False, True, None, False],
        "time": pd.to_datetime(["2024-01-10 08:00:00.123456", "2024-01-10 00:00", None,
                                "2024-12-31 23:59:59", "2024-01-12 00:00"], format="ISO8601").tz_localize("UTC"),
    })
    with Workspace(tmp_path / "ws", create=True, engine="postgres", dsn=postgres_dsn) as ws:
        ws.write("t", frame)
        ws.write("t", frame.iloc[:2], mode="append")
        got = ws.con.table("t").execute()
    assert got["text"].iloc[:5].tolist() == ["a,b", 'say "x"', "", None, "行政\n区划"]
    assert got["value"].iloc[0] == 0.1 + 0.2 and got["value"].iloc[4] == 2.5e-310
    assert pd.isna(got["value"].iloc[1]) and got["value"].iloc[3] == 1e300
    assert got["flag"].iloc[:5].tolist() == [True, False, True, None, False]
    assert got["time"].iloc[0] == pd.Timestamp("2024-01-10 08:00:00.123456", tz="UTC")
    assert pd.isna(got["time"].iloc[2])
    assert len(got) == 7 and got["count"].tolist() == [1, 2, 3, 4, 5, 1, 2]


def test_a_failed_transaction_leaves_nothing(tmp_path, postgres_dsn):
    with Workspace(tmp_path / "ws", create=True, engine="postgres", dsn=postgres_dsn) as ws:
        ws.write("kept", pd.DataFrame({"x": [1]}))
        with pytest.raises(RuntimeError), ws.transaction():
            ws.write("new", pd.DataFrame({"x": [1]}))  # DDL is transactional here
            ws.write("kept", pd.DataFrame({"x": [9]}), mode="append")
            ws.delete_rows("kept", "x", "1")
            raise RuntimeError("stop")
        assert ws.tables() == ["kept"]
        assert ws.read("kept")["x"].tolist() == [1]
        with ws.transaction():
            ws.write("kept", pd.DataFrame({"x": [2]}), mode="append")
        assert sorted(ws.read("kept")["x"]) == [1, 2]


def test_uncommitted_work_is_invisible_to_another_connection(tmp_path, postgres_dsn):
    ws = Workspace(tmp_path / "ws", create=True, engine="postgres", dsn=postgres_dsn)
    other = Workspace(tmp_path / "ws")
    try:
        ws.begin()
        ws.write("t", pd.DataFrame({"x": [1]}))
        assert not other.has("t")
        ws.commit()
        assert other.has("t")
    finally:
        ws.close()
        other.close()


def test_lock_outside_a_transaction_is_refused(tmp_path, postgres_dsn):
    with Workspace(tmp_path / "ws", create=True, engine="postgres", dsn=postgres_dsn) as ws:
        with pytest.raises(WorkspaceError, match="needs an open transaction"):
            ws.lock("t")


def test_read_only_workspace_refuses_writes(tmp_path, postgres_dsn):
    import psycopg

    Workspace(tmp_path / "ws", create=True, engine="postgres", dsn=postgres_dsn).close()
    with Workspace(tmp_path / "ws", read_only=True) as ws, pytest.raises(
            psycopg.errors.ReadOnlySqlTransaction):
        ws.write("t", pd.DataFrame({"x": [1]}))


_APPENDER = textwrap.dedent("""
    import sys
    import pandas as pd
    from sourcegrid.store import Workspace
    worker, rounds = int(sys.argv[2]), int(sys.argv[3])
    with Workspace(sys.argv[1]) as ws:
        for i in range(rounds):
            with ws.transaction():
                ws.write("runs", pd.DataFrame({"worker": [worker], "round": [i]}),
                         mode="append")
""")


def test_several_processes_appending_at_once_lose_nothing(tmp_path, postgres_dsn):
    """6 processes × 15 appends to a table none of them finds at the start (the create
    race): every one of the 90 rows is there, each once."""
    Workspace(tmp_path / "ws", create=True, engine="postgres", dsn=postgres_dsn).close()
    workers, rounds = 6, 15
    procs = [subprocess.Popen([sys.executable, "-c", _APPENDER, str(tmp_path / "ws"), str(w),
                               str(rounds)], stderr=subprocess.PIPE, text=True)
             for w in range(workers)]
    errors = [p.communicate(timeout=240)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * workers, errors
    with Workspace(tmp_path / "ws") as ws:
        runs = ws.read("runs")
    assert len(runs) == workers * rounds
    assert set(map(tuple, runs[["worker", "round"]].to_numpy())) == {
        (w, i) for w in range(workers) for i in range(rounds)}


def test_wrong_password_is_never_shown(tmp_path, postgres_server):
    """A DSN with a password to a server that refuses: the message hides it."""
    dsn = "postgresql://nobody:Zq9-secret-Xy@127.0.0.1:1/none"
    with pytest.raises(WorkspaceError) as caught:
        Workspace(tmp_path / "ws", create=True, engine="postgres", dsn=dsn)
    assert "Zq9-secret-Xy" not in str(caught.value)
    assert "cannot connect to the PostgreSQL workspace" in str(caught.value)
    assert not (tmp_path / "ws" / engines.CONFIG_FILE).exists()  # nothing half-made
