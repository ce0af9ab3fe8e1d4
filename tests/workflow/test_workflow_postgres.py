"""The workflow on DuckDB and on PostgreSQL: the same alert life cycle, the same log.

Every expected value here is written out by hand from the rules of
:mod:`sourcegrid.workflow.alerts` (TRANSITIONS, the escalation order township → county →
city) and the people of :mod:`tests.workflow.world` (township A's responsible people
for cell R0000C0000 are its township office twpA, chief grid head chiefA, grid head
headA and the cell's supervisor supA; the viewer viewA is not one of them).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types

import pandas as pd
import pytest

from sourcegrid.errors import WorkspaceError
from sourcegrid.store import Workspace, engines
from sourcegrid.tracing.findings import FINDINGS_TABLE
from sourcegrid.workflow import alerts, org
from sourcegrid.workflow import tables as store
from sourcegrid.workflow.errors import ConcurrentUpdateError, TransitionRefused
from sourcegrid.workflow.intake import manual_alert
from tests.workflow.world import T0, build_grid, build_org

MINUTE = pd.Timedelta(minutes=1)
TOWNSHIP_A = ["twpA", "chiefA", "headA", "supA"]

#: The log of the life cycle, by hand: (seq, action, actor, from_state, to_state, level,
#: assignees, note) after raise, dispatch, acknowledge, escalate, inspect, resolve.
EXPECTED_LOG = [
    (1, "raise", "system", None, "new", "township", [], "smoke near the school"),
    (2, "dispatch", "system", "new", "dispatched", "township", TOWNSHIP_A, ""),
    (3, "acknowledge", "headA", "dispatched", "acknowledged", "township", [], ""),
    # escalation keeps the level below on it and adds the county office
    (4, "escalate", "system", "acknowledged", "acknowledged", "county",
     [*TOWNSHIP_A, "county"], "slow"),
    (5, "inspect", "supA", "acknowledged", "inspected", "county", [], "boiler found"),
    (6, "resolve", "headA", "inspected", "resolved", "county", [], "fixed"),
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in (engines.ENGINE_VAR, engines.DSN_VAR, engines.MASTER_VAR):
        monkeypatch.delenv(name, raising=False)


def _world(workspace: Workspace) -> org.Organisation:
    build_grid(workspace)
    return build_org(workspace)


def _life_cycle(workspace: Workspace) -> dict:
    """Raise → dispatch → acknowledge → escalate → inspect → resolve, with refusals."""
    organisation = _world(workspace)
    person = organisation.person
    raised = alerts.register_alerts(
        workspace, manual_alert("R0000C0000", "smoke near the school", start=T0, grade="red"),
        now=T0)
    alert = raised.new[0]
    alerts.act(workspace, alert, "dispatch", "system", now=T0 + MINUTE,
               organisation=organisation)
    with pytest.raises(TransitionRefused) as refused:
        alerts.act(workspace, alert, "resolve", person("headA"), now=T0 + 2 * MINUTE,
                   organisation=organisation)
    alerts.act(workspace, alert, "acknowledge", person("headA"), now=T0 + 2 * MINUTE,
               expected_seq=2, organisation=organisation)
    with pytest.raises(ConcurrentUpdateError) as stale:  # read at event 2, now at 3
        alerts.act(workspace, alert, "comment", person("headA"), now=T0 + 3 * MINUTE,
                   expected_seq=2, organisation=organisation)
    alerts.act(workspace, alert, "escalate", "system", now=T0 + 3 * MINUTE, note="slow",
               organisation=organisation)
    evidence = {"source_found": {"source_id": "S7", "confirmed": True, "problem": "boiler"},
                "problems": ["unfiltered boiler"]}
    inspected = alerts.act(workspace, alert, "inspect", person("supA"), now=T0 + 4 * MINUTE,
                           note="boiler found", evidence=evidence, organisation=organisation)
    alerts.act(workspace, alert, "resolve", person("headA"), now=T0 + 5 * MINUTE,
               note="fixed", organisation=organisation)
    log = alerts.alert_events(workspace, alert)
    states = alerts.alert_states(workspace, now=T0 + 6 * MINUTE)
    findings = workspace.read(FINDINGS_TABLE)
    return {"alert": alert, "log": log, "states": states, "findings": findings,
            "refused": str(refused.value), "stale": str(stale.value),
            "finding_recorded": inspected.finding_recorded}


def _check_life_cycle(result: dict) -> None:
    log = result["log"]
    got = list(zip(log["seq"], log["action"], log["actor"], log["from_state"],
                   log["to_state"], log["level"], log["assignees"], log["note"], strict=True))
    expected = [(s, a, w, None if f is None else f, t, lvl, p, n)
                for s, a, w, f, t, lvl, p, n in EXPECTED_LOG]
    got = [tuple(None if isinstance(v, float) and pd.isna(v) else v for v in row)
           for row in got]
    assert got == expected
    assert log["time"].tolist() == [T0 + i * MINUTE for i in (0, 1, 2, 3, 4, 5)]
    assert log["event_id"].tolist() == [f"{result['alert']}-{i}" for i in range(1, 7)]
    assert "cannot resolve an alert that is dispatched" in result["refused"]
    assert "changed since you read it (event 2)" in result["stale"]
    assert "now acknowledged after acknowledge by headA (event 3)" in result["stale"]
    row = result["states"].iloc[0]
    assert (row["state"], row["level"], row["seq"], row["escalations"]) == (
        "resolved", "county", 6, 1)
    assert row["closed_at"] == T0 + 5 * MINUTE
    assert result["finding_recorded"]
    finding = result["findings"].iloc[0]
    assert (finding["cell_id"], finding["source_id"], finding["inspector"]) == (
        "R0000C0000", "S7", "supA")


def _comparable(result: dict) -> dict:
    """The log and states without the wall-clock column (recorded_at)."""
    return {"log": result["log"].drop(columns=["recorded_at"]),
            "states": result["states"]}


def _pg_workspace(tmp_path, dsn: str) -> Workspace:
    return Workspace(tmp_path / "pg", create=True, engine="postgres", dsn=dsn)


def test_the_life_cycle_on_duckdb():
    with Workspace.in_memory() as workspace:
        _check_life_cycle(_life_cycle(workspace))


@pytest.mark.pg
def test_the_life_cycle_gives_the_same_log_on_duckdb_and_postgres(tmp_path, postgres_dsn):
    with Workspace.in_memory() as workspace:
        duck = _life_cycle(workspace)
    with _pg_workspace(tmp_path, postgres_dsn) as workspace:
        assert workspace.engine == "postgres"
        pg = _life_cycle(workspace)
    _check_life_cycle(pg)
    left, right = _comparable(duck), _comparable(pg)
    pd.testing.assert_frame_equal(left["log"], right["log"])
    pd.testing.assert_frame_equal(left["states"], right["states"])


@pytest.mark.pg
def test_overlapping_windows_merge_on_postgres(tmp_path, postgres_dsn):
    """A persisting hotspot offered again with another start joins the open alert."""
    with _pg_workspace(tmp_path, postgres_dsn) as workspace:
        _world(workspace)
        first = pd.DataFrame([{"source_kind": "hotspot", "cell_id": "R0001C0001",
                               "pollutant": "PM2.5", "rule": "rank", "grade": "orange",
                               "start": "2024-03-01T00:00Z", "end": "2024-03-08T00:00Z"}])
        again = first.assign(start="2024-03-05T00:00Z", end="2024-03-12T00:00Z")
        kept = alerts.register_alerts(workspace, first, now=T0).new[0]
        merged = alerts.register_alerts(workspace, again, now=T0 + MINUTE)
        assert merged.new == [] and list(merged.merged.values()) == [kept]
        repeat = alerts.register_alerts(workspace, again, now=T0 + 2 * MINUTE)
        assert repeat.new == [] and repeat.merged == merged.merged  # nothing recorded twice
        log = alerts.alert_events(workspace, kept)
    assert log["action"].tolist() == ["raise", "comment"]
    assert log["evidence"].iloc[1]["merged_window"] == {
        "alert_id": next(iter(merged.merged)), "start": "2024-03-05T00:00:00Z",
        "end": "2024-03-12T00:00:00Z"}


def test_a_spark_workspace_refuses_the_workflow():
    spark = Workspace.from_backend(types.SimpleNamespace(name="pyspark"))
    with pytest.raises(WorkspaceError) as error:
        alerts.alert_states(spark)
    message = str(error.value)
    assert "needs a DuckDB or PostgreSQL workspace; this one runs on 'pyspark'" in message
    assert "Spark workspaces are for batch computation" in message


# ------------------------------------------------------------------ several processes

_ACTOR = textwrap.dedent("""
    import json, sys, time
    from sourcegrid.store import Workspace
    from sourcegrid.workflow import alerts
    from sourcegrid.workflow.errors import ConcurrentUpdateError
    from pathlib import Path
    folder, worker, rounds, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    ids = sys.argv[5].split(",")
    accepted, refused = [], []
    with Workspace(folder) as ws:
        alerts.alert_states(ws)  # connected and imported: ready
        (Path(folder) / f"ready-{worker}").touch()
        deadline = time.time() + 60
        while len(list(Path(folder).glob("ready-*"))) < workers and time.time() < deadline:
            time.sleep(0.01)  # all workers begin together
        for i in range(rounds):
            for alert in ids:
                note = f"{worker}-{i}-{alert}"
                seq = int(alerts.alert_states(ws, alert_ids=[alert])["seq"].iloc[0])
                try:
                    event = alerts.act(ws, alert, "comment", worker, note=note,
                                       expected_seq=seq)
                    accepted.append([note, event.seq])
                except ConcurrentUpdateError as error:
                    refused.append([note, str(error)])
    print(json.dumps({"accepted": accepted, "refused": refused}))
""")


@pytest.mark.pg
def test_several_processes_acting_at_once_lose_nothing(tmp_path, postgres_dsn):
    """3 processes × 5 rounds × 2 alerts of comments, each with the seq it read: every
    accepted comment is in the log once, seq runs 1, 2, ... without a gap per alert, and
    every refused one is reported (ConcurrentUpdateError) and absent from the log."""
    with _pg_workspace(tmp_path, postgres_dsn) as workspace:
        _world(workspace)
        ids = [alerts.register_alerts(workspace, manual_alert(cell, "shared", start=T0),
                                      now=T0).new[0] for cell in ("R0000C0000", "R0000C0001")]
    workers, rounds = 3, 5
    procs = [subprocess.Popen([sys.executable, "-c", _ACTOR, str(tmp_path / "pg"), f"w{w}",
                               str(rounds), str(workers), ",".join(ids)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w in range(workers)]
    outputs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0] * workers, [err for _, err in outputs]
    reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    accepted = {note: seq for r in reports for note, seq in r["accepted"]}
    refused = [note for r in reports for note, _ in r["refused"]]
    assert refused, "the workers never raced (no refused action)"
    assert len(accepted) + len(refused) == workers * rounds * len(ids)
    assert all("changed" in message for r in reports for _, message in r["refused"])
    with Workspace(tmp_path / "pg") as workspace:
        log = alerts.alert_events(workspace)
    comments = log[log["action"] == "comment"]
    assert sorted(comments["note"]) == sorted(accepted)  # each accepted one, once
    assert not set(refused) & set(comments["note"])
    assert dict(zip(comments["note"], comments["seq"], strict=True)) == accepted
    for alert in ids:
        seqs = log.loc[log["alert_id"] == alert, "seq"].tolist()
        assert seqs == list(range(1, len(seqs) + 1))  # gapless, raise first
    assert len(log) == len(ids) + len(accepted)


@pytest.mark.pg
def test_a_workflow_step_joins_the_workspace_transaction_on_postgres(tmp_path, postgres_dsn):
    """Inside the CLI's one transaction per command a failure keeps nothing."""
    with _pg_workspace(tmp_path, postgres_dsn) as workspace:
        _world(workspace)
        store.ensure_tables(workspace)
        with pytest.raises(RuntimeError), workspace.transaction():
            alerts.register_alerts(workspace, manual_alert("R0000C0000", "gone", start=T0),
                                   now=T0)
            assert len(alerts.alert_states(workspace)) == 1  # seen inside
            raise RuntimeError("the command failed")
        assert alerts.alert_states(workspace).empty
        assert alerts.alert_events(workspace).empty


@pytest.mark.pg
def test_connections_raising_the_same_alerts_at_once_record_each_once(tmp_path, postgres_dsn):
    """4 connections start on a workspace without the workflow's tables and raise the same
    3 alerts at the same moment: the tables are made once, no one fails, each alert has
    one registry row and one raise event."""
    import threading

    with _pg_workspace(tmp_path, postgres_dsn) as workspace:
        build_grid(workspace)  # cells only: no workflow table yet
        assert not set(store.WORKFLOW_TABLES) & set(workspace.tables())
    candidates = pd.concat([manual_alert(cell, "same", start=T0)
                            for cell in ("R0000C0000", "R0000C0001", "R0001C0001")])
    barrier, results, failures = threading.Barrier(4), [], []

    def raise_them() -> None:
        try:
            with Workspace(tmp_path / "pg") as mine:
                barrier.wait(timeout=30)
                results.append(alerts.register_alerts(mine, candidates, now=T0))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(repr(error))

    threads = [threading.Thread(target=raise_them) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    new = [alert for result in results for alert in result.new]
    assert len(new) == 3 and len(set(new)) == 3  # each registered by exactly one of them
    with Workspace(tmp_path / "pg") as workspace:
        log = alerts.alert_events(workspace)
        states = alerts.alert_states(workspace)
    assert sorted(log["alert_id"]) == sorted(new) and set(log["action"]) == {"raise"}
    assert sorted(states["alert_id"]) == sorted(new)
