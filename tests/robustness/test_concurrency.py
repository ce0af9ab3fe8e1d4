"""A workspace another process holds: wait (bounded, one message naming the holder), then
fail cleanly with exit code 3; two writers run one after the other; readers share."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sourcegrid.cli.main import app
from sourcegrid.errors import WorkspaceBusyError
from sourcegrid.store import Workspace
from sourcegrid.store.workspace import DB_FILE, LOCK_INFO_SUFFIX

runner = CliRunner()

HOLDER = """
import sys, time
from pathlib import Path
from sourcegrid.store import Workspace
ws = Workspace(sys.argv[1], create=True, read_only=sys.argv[4] == "ro",
               command="holder job", lock_timeout=30)
Path(sys.argv[2]).write_text("held")
time.sleep(float(sys.argv[3]))
ws.close()
"""


def flat(text: str) -> str:
    return " ".join(text.split())


def hold(tmp_path: Path, workspace: Path, seconds: float, mode: str = "rw"):
    """Start a process holding ``workspace`` for ``seconds``; return it once it holds it."""
    ready = tmp_path / f"ready-{time.monotonic_ns()}"
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(workspace), str(ready),
                                str(seconds), mode])
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert process.poll() is None, "the holder died"
        assert time.monotonic() < deadline, "the holder never got the workspace"
        time.sleep(0.02)
    return process


@pytest.fixture
def workspace(tmp_path):
    path = tmp_path / "ws"
    Workspace(path, create=True).close()
    return path


def test_a_busy_workspace_fails_cleanly_with_exit_3_naming_the_holder(tmp_path, workspace):
    holder = hold(tmp_path, workspace, 30)
    try:
        started = time.monotonic()
        result = runner.invoke(app, ["init", "--workspace", str(workspace)],
                               env={"SOURCEGRID_LOCK_TIMEOUT": "1"})
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 3, result.output
    text = flat(result.output)
    assert "Traceback" not in result.output
    who = f"'holder job' (pid {holder.pid}, since "
    assert text.count("waiting:") == 1
    assert f"waiting: the workspace {workspace} is busy: {who}" in text
    assert "waiting up to 1 s (SOURCEGRID_LOCK_TIMEOUT)" in text
    assert f"error: the workspace {workspace} is busy: {who}" in text
    assert "Try again when it has finished, or wait longer with SOURCEGRID_LOCK_TIMEOUT=" in text
    assert 0.9 <= waited < 10


def test_a_second_writer_waits_then_succeeds(tmp_path, workspace):
    holder = hold(tmp_path, workspace, 1.5)
    try:
        result = runner.invoke(app, ["init", "--workspace", str(workspace)],
                               env={"SOURCEGRID_LOCK_TIMEOUT": "30"})
    finally:
        holder.wait(timeout=30)
    assert result.exit_code == 0, result.output
    assert flat(result.output).count("waiting:") == 1
    with Workspace(workspace) as ws:
        assert list(ws.read("coefficient_libraries")["name"]) == ["sample"]


def test_two_writer_processes_both_store_their_run(tmp_path, workspace):
    activity = tmp_path / "activity.csv"
    activity.write_text(
        "enterprise_id,industry_code,region_code,section,raw_material,process,capacity,"
        "capacity_unit,activity,activity_unit,period,S,A\n"
        "P1,4411,130902,锅炉,燃煤,煤粉炉,600,MW,1,万吨,2017,0.8,20\n", encoding="utf-8")
    command = [sys.executable, "-m", "sourcegrid.cli.main", "account", str(activity),
               "--workspace", str(workspace)]
    env = {**os.environ, "SOURCEGRID_LOCK_TIMEOUT": "60"}
    first, second = (subprocess.Popen([*command, "--run", run], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                     for run in ("first", "second"))
    outputs = [process.communicate(timeout=120) for process in (first, second)]
    for process, (out, err) in zip((first, second), outputs, strict=True):
        assert process.returncode == 0, err
        assert "Traceback" not in out + err
    with Workspace(workspace) as ws:
        runs = ws.read("account_runs")
        assert sorted(runs["run"]) == ["first", "second"]
        emissions = ws.read("emissions")
        # one activity row: SO2, NOx and PM of the 4411 coal boiler, in each run
        assert emissions.groupby("run").size().to_dict() == {"first": 3, "second": 3}
    assert not (workspace / (DB_FILE + LOCK_INFO_SUFFIX)).exists()


def test_readers_share_the_workspace_and_a_writer_waits_for_them(tmp_path, workspace):
    reader = hold(tmp_path, workspace, 30, mode="ro")
    try:
        with Workspace(workspace, read_only=True, lock_timeout=0) as ws:  # at once
            assert ws.read_only and ws.tables() == []
        with pytest.raises(WorkspaceBusyError, match=r"is busy: another process \(pid "):
            Workspace(workspace, lock_timeout=0.3)
    finally:
        reader.kill()
        reader.wait()


def test_a_reader_waits_for_a_writer_the_same_way(tmp_path, workspace):
    writer = hold(tmp_path, workspace, 30)
    messages = []
    try:
        with pytest.raises(WorkspaceBusyError, match="'holder job'"):
            Workspace(workspace, read_only=True, lock_timeout=0.3, on_wait=messages.append)
    finally:
        writer.kill()
        writer.wait()
    assert len(messages) == 1 and "'holder job'" in messages[0]
    # the killed writer's lock-info file does not name it once its pid is gone
    with Workspace(workspace, read_only=True, lock_timeout=5) as ws:
        assert ws.tables() == []


def test_the_lock_timeout_variable_is_checked(tmp_path, workspace, monkeypatch):
    monkeypatch.setenv("SOURCEGRID_LOCK_TIMEOUT", "soon")
    result = runner.invoke(app, ["init", "--workspace", str(workspace)])
    assert result.exit_code == 2
    assert "SOURCEGRID_LOCK_TIMEOUT='soon' is not a number of seconds >= 0" in \
        flat(result.output)
