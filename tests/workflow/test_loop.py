"""The closed loop: escalation by a simulated clock, state from the log, stable ids,
idempotent raising and dispatch, evidence, findings, concurrent actions."""

from __future__ import annotations

import threading

import pandas as pd
import pytest

from sourcegrid.errors import InputError
from sourcegrid.workflow import tables as store
from sourcegrid.workflow.alerts import (
    DEADLINES,
    act,
    alert_events,
    alert_id,
    alert_states,
    dispatch_alerts,
    escalate_overdue,
    list_alerts,
    register_alerts,
)
from sourcegrid.workflow.errors import ConcurrentUpdateError, TransitionRefused
from sourcegrid.workflow.intake import from_hotspots, manual_alert
from tests.workflow.world import T0, alert_in, new_alert

HOUR = pd.Timedelta(hours=1)


def test_deadline_table_is_the_documented_one():
    # sourcegrid_default, township level, red: acknowledge 2 h, close 24 h; strict halves it
    assert DEADLINES["sourcegrid_default"]["township"]["red"] == {"acknowledge": 2, "close": 24}
    assert DEADLINES["strict"]["county"]["yellow"] == {"acknowledge": 4.0, "close": 24.0}


def test_escalation_by_a_simulated_clock(world):
    workspace, organisation = world
    alert = new_alert(workspace, grade="red")            # raised at T0
    dispatch_alerts(workspace, now=T0)                    # township clock starts at T0
    # red at township level: acknowledge within 2 h
    assert escalate_overdue(workspace, now=T0 + 2 * HOUR).empty   # deadline not yet passed
    done = escalate_overdue(workspace, now=T0 + 2 * HOUR + pd.Timedelta(seconds=1))
    assert done[["from_level", "to_level", "escalated"]].values.tolist() == [
        ["township", "county", True]]
    assert done["deadline"].iloc[0] == T0 + 2 * HOUR
    # the county clock starts at the escalation: red, acknowledge within 2 h again
    again = escalate_overdue(workspace, now=T0 + 3 * HOUR)
    assert again.empty
    row = alert_states(workspace, alert_ids=[alert]).iloc[0]
    assert row["level"] == "county" and row["escalations"] == 1
    assert set(row["assignees"]) == {"twpA", "chiefA", "headA", "supA", "county"}
    # acknowledged at county level: next deadline is 'close' 12 h from the escalation
    act(workspace, alert, "acknowledge", organisation.person("headA"), now=T0 + 3 * HOUR,
        organisation=organisation)
    escalation_time = T0 + 2 * HOUR + pd.Timedelta(seconds=1)
    row = alert_states(workspace, alert_ids=[alert], now=T0 + 4 * HOUR).iloc[0]
    assert row["deadline"] == escalation_time + 12 * HOUR and not row["overdue"]
    done = escalate_overdue(workspace, now=escalation_time + 12 * HOUR + HOUR)
    assert done["to_level"].tolist() == ["city"]
    # at city level (red close 12 h) an overdue alert is reported, not escalated
    late = escalate_overdue(workspace, now=escalation_time + 40 * HOUR)
    assert late["escalated"].tolist() == [False] and late["to_level"].tolist() == ["city"]
    events = alert_events(workspace, alert)
    assert events["action"].tolist() == ["raise", "dispatch", "escalate", "acknowledge",
                                         "escalate"]
    assert events["level"].tolist() == ["township", "township", "county", "county", "city"]


def test_closed_and_new_alerts_never_escalate(world):
    workspace, organisation = world
    closed = alert_in(workspace, organisation, "resolved", start="2024-03-01T01:00")
    fresh = new_alert(workspace, start="2024-03-01T02:00")
    assert escalate_overdue(workspace, now=T0 + 1000 * HOUR).empty
    states = alert_states(workspace).set_index("alert_id")["state"]
    assert states[closed] == "resolved" and states[fresh] == "new"


def test_state_is_derived_from_the_log(world):
    workspace, organisation = world
    alert = alert_in(workspace, organisation, "inspected")
    events = alert_events(workspace, alert)
    assert events["seq"].tolist() == [1, 2, 3, 4]
    # each event starts where the one before ended
    assert events["from_state"].tolist()[1:] == events["to_state"].tolist()[:-1]
    row = alert_states(workspace, alert_ids=[alert]).iloc[0]
    assert row["state"] == events["to_state"].iloc[-1] == "inspected"
    assert row["seq"] == 4 and row["last_actor"] == "supA"
    assert row["dispatched_at"] == T0 + pd.Timedelta(minutes=1)
    assert row["acknowledged_at"] == T0 + pd.Timedelta(minutes=2)
    # append-only: a later step adds a row and leaves the earlier rows as they were
    act(workspace, alert, "resolve", organisation.person("headA"), now=T0 + HOUR,
        organisation=organisation)
    after = alert_events(workspace, alert)
    pd.testing.assert_frame_equal(after.iloc[:4].reset_index(drop=True), events)
    assert after["to_state"].iloc[-1] == "resolved"


def test_stable_ids():
    # the id is a hash of kind, cell, pollutant, rule and the start in UTC
    first = alert_id("hotspot", "R0001C0002", "PM2.5", "rank", "2024-01-10T08:00")  # Beijing
    same = alert_id("hotspot", "R0001C0002", "PM2.5", "rank", "2024-01-10T00:00:00Z")
    assert first == same and first.startswith("A") and len(first) == 17
    assert alert_id("hotspot", "R0001C0002", "PM2.5", "gistar", "2024-01-10T00:00Z") != first
    assert alert_id("hotspot", "R0001C0002", "PM10", "rank", "2024-01-10T00:00Z") != first


def test_overlapping_window_records_nothing_twice(world):
    workspace, _ = world
    day = pd.Timestamp("2024-02-01T00:00Z")

    def hotspots(cells, end):
        return pd.DataFrame({"rank": range(1, len(cells) + 1), "cell_id": cells,
                             "mean": 80.0, "ratio_to_city_mean": 1.6, "method": "rank",
                             "pollutant": "PM2.5", "period_start": day, "period_end": end})

    first = register_alerts(workspace, from_hotspots(hotspots(["R0000C0000", "R0001C0001"],
                                                              day + 7 * 24 * HOUR)), now=T0)
    # re-checking the same period (a longer window from the same start) finds the same ids
    again = register_alerts(workspace, from_hotspots(hotspots(
        ["R0001C0001", "R0000C0000", "R0002C0002"], day + 10 * 24 * HOUR)), now=T0 + HOUR)
    assert len(first.new) == 2 and sorted(again.known) == sorted(first.new)
    assert len(again.new) == 1
    registry = store.query(workspace, "SELECT * FROM alerts_registry")
    assert len(registry) == 3 and registry["alert_id"].is_unique
    assert len(alert_events(workspace)) == 3  # one 'raise' each


def test_rolling_windows_merge_into_the_open_alert(world):
    """A hotspot that persists over rolling 7-day windows (each starting a day later) is one
    alert: each overlapping window is folded into it with one 'comment' event, once."""
    workspace, _ = world
    day = pd.Timestamp("2024-03-01T00:00Z")

    def window(start_day, cells=("R0001C0001",)):
        start = day + start_day * 24 * HOUR
        return from_hotspots(pd.DataFrame({
            "rank": range(1, len(cells) + 1), "cell_id": list(cells), "mean": 80.0,
            "ratio_to_city_mean": 1.6, "method": "rank", "pollutant": "PM2.5",
            "period_start": start, "period_end": start + 7 * 24 * HOUR}))

    first = register_alerts(workspace, window(0), now=T0)
    assert len(first.new) == 1
    (open_alert,) = first.new
    # days 1 .. 9: every window overlaps the (widening) window of the open alert
    for start_day in range(1, 10):
        later = register_alerts(workspace, window(start_day), now=T0 + start_day * HOUR)
        assert later.new == [] and list(later.merged.values()) == [open_alert]
    # offering day 3 again records nothing more
    again = register_alerts(workspace, window(3), now=T0 + 20 * HOUR)
    assert again.new == [] and list(again.merged.values()) == [open_alert]
    registry = store.query(workspace, "SELECT * FROM alerts_registry")
    assert registry["alert_id"].tolist() == [open_alert]
    events = alert_events(workspace, open_alert)
    assert events["action"].tolist() == ["raise"] + ["comment"] * 9
    state = alert_states(workspace, alert_ids=[open_alert])
    assert state["state"].tolist() == ["new"]
    # another cell, or a window that does not overlap (day 30), is a new alert
    other = register_alerts(workspace, window(1, ("R0000C0000",)), now=T0 + 21 * HOUR)
    late = register_alerts(workspace, window(30), now=T0 + 22 * HOUR)
    assert len(other.new) == 1 and len(late.new) == 1 and late.merged == {}


def test_a_closed_alert_does_not_absorb_a_new_window(world):
    workspace, organisation = world
    day = pd.Timestamp("2024-04-01T00:00Z")

    def window(start_day):
        start = day + start_day * 24 * HOUR
        return from_hotspots(pd.DataFrame({
            "rank": [1], "cell_id": ["R0001C0001"], "mean": 80.0, "ratio_to_city_mean": 1.6,
            "method": "rank", "pollutant": "PM2.5", "period_start": start,
            "period_end": start + 7 * 24 * HOUR}))

    (first,) = register_alerts(workspace, window(0), now=T0).new
    act(workspace, first, "false_alarm", organisation.person("admin"), now=T0 + HOUR,
        note="no source found")
    # the same window, twice in one batch: one new alert
    batch = pd.concat([window(2), window(3)], ignore_index=True)
    result = register_alerts(workspace, batch, now=T0 + 2 * HOUR)
    assert len(result.new) == 1 and list(result.merged.values()) == result.new


def test_dispatch_is_idempotent_and_goes_to_the_cells_people(world):
    workspace, organisation = world
    a = new_alert(workspace, cell="R0000C0000")
    b = new_alert(workspace, cell="R0001C0001")
    first = dispatch_alerts(workspace, now=T0)
    assert {e.alert_id: set(e.assignees) for e in first} == {
        a: {"twpA", "chiefA", "headA", "supA"},     # supA: R0000C0000 is in its scope
        b: {"twpB", "headB", "supB"}}
    assert dispatch_alerts(workspace, now=T0 + HOUR) == []
    assert len(alert_events(workspace)) == 4
    with pytest.raises(TransitionRefused, match="only a new alert is dispatched"):
        act(workspace, a, "dispatch", "system", now=T0)


def test_inbox_shows_allowed_actions(world):
    workspace, organisation = world
    alert = alert_in(workspace, organisation, "dispatched")
    head = list_alerts(workspace, organisation.person("headA"), organisation=organisation)
    assert head["alert_id"].tolist() == [alert]
    assert head["actions"].iloc[0] == ["acknowledge", "false_alarm", "escalate", "comment"]
    assert bool(head["assigned"].iloc[0])
    viewer = list_alerts(workspace, organisation.person("viewA"), organisation=organisation)
    assert viewer["actions"].iloc[0] == []
    assert list_alerts(workspace, organisation.person("headB"), organisation=organisation).empty


def test_evidence_is_checked_all_at_once(world):
    workspace, organisation = world
    alert = alert_in(workspace, organisation, "acknowledged")
    bad = {"photo": "x.jpg", "measurements": [{"instrument": "phone", "value": "high"}],
           "source_found": {"confirmed": "yes"}}
    with pytest.raises(InputError) as caught:
        act(workspace, alert, "inspect", organisation.person("supA"), now=T0,
            evidence=bad, organisation=organisation)
    reasons = sorted(p.reason for p in caught.value.problems)
    assert reasons == ["bad_boolean", "bad_instrument", "missing_value", "missing_value",
                       "not_a_number", "unknown_key"]
    assert len(alert_events(workspace, alert)) == 3


def test_inspection_finding_goes_to_tracing(world):
    workspace, organisation = world
    alert = alert_in(workspace, organisation, "acknowledged")
    evidence = {"problems": ["露天堆场未苫盖"], "photos": ["p/1.jpg"],
                "measurements": [{"instrument": "drone", "pollutant": "PM10", "value": 310,
                                  "unit": "ug/m3"}],
                "source_found": {"source_id": "S9", "lon": 116.293, "lat": 39.851,
                                 "confirmed": True, "problem": "uncovered yard"}}
    event = act(workspace, alert, "inspect", organisation.person("supA"), now=T0 + HOUR,
                evidence=evidence, organisation=organisation, note="site visit")
    assert alert_events(workspace, alert)["evidence"].iloc[-1] == evidence
    pytest.importorskip("sourcegrid.tracing.findings")
    from sourcegrid.tracing.findings import read_findings

    assert event.finding_recorded is True
    found = read_findings(workspace)
    assert found[["cell_id", "source_id", "problem", "inspector"]].values.tolist() == [
        ["R0000C0000", "S9", "uncovered yard", "supA"]]
    assert bool(found["confirmed"].iloc[0])


def test_finding_and_inspect_event_commit_together(world):
    """When the finding cannot be stored, the inspect event is not recorded either."""
    pytest.importorskip("sourcegrid.tracing.findings")
    from sourcegrid.errors import WorkspaceError
    from sourcegrid.tracing.findings import FINDINGS_TABLE, read_findings

    workspace, organisation = world
    alert = alert_in(workspace, organisation, "acknowledged")
    evidence = {"source_found": {"source_id": "S7", "confirmed": True, "problem": "boiler"}}
    with store.cursor(workspace) as handle:  # a findings table of another shape
        handle.execute(f'CREATE TABLE "{FINDINGS_TABLE}" (finding_id INTEGER)')
    with pytest.raises(WorkspaceError, match="was not recorded: the inspection finding"):
        act(workspace, alert, "inspect", organisation.person("supA"), now=T0 + HOUR,
            evidence=evidence, organisation=organisation)
    assert alert_events(workspace, alert)["action"].tolist() == [
        "raise", "dispatch", "acknowledge"]
    with store.cursor(workspace) as handle:
        handle.execute(f'DROP TABLE "{FINDINGS_TABLE}"')
    # the repaired workspace: the event and its finding, once, even when inspected twice
    act(workspace, alert, "inspect", organisation.person("supA"), now=T0 + 2 * HOUR,
        evidence=evidence, organisation=organisation)
    act(workspace, alert, "inspect", organisation.person("supA"), now=T0 + 2 * HOUR,
        evidence=evidence, organisation=organisation)
    assert alert_events(workspace, alert)["action"].tolist()[-2:] == ["inspect", "inspect"]
    assert read_findings(workspace)["source_id"].tolist() == ["S7"]


def test_stale_expected_seq_is_refused(world):
    workspace, organisation = world
    alert = alert_in(workspace, organisation, "dispatched")
    act(workspace, alert, "acknowledge", organisation.person("headA"), now=T0 + HOUR,
        expected_seq=2, organisation=organisation)
    with pytest.raises(ConcurrentUpdateError, match=r"changed since you read it \(event 2\): "
                       r"it is now acknowledged after acknowledge by headA \(event 3\)"):
        act(workspace, alert, "false_alarm", organisation.person("twpA"), now=T0 + HOUR,
            expected_seq=2, organisation=organisation)


@pytest.mark.parametrize("with_seq", [True, False])
def test_concurrent_actions_end_consistent(file_world, with_seq):
    workspace, organisation = file_world
    alert = alert_in(workspace, organisation, "dispatched")
    people = ["headA", "chiefA", "twpA", "supA"] * 2
    barrier = threading.Barrier(len(people))
    outcomes: list = []

    def acknowledge(person_id: str) -> None:
        barrier.wait()
        try:
            event = act(workspace, alert, "acknowledge", organisation.person(person_id),
                        now=T0 + HOUR, organisation=organisation,
                        expected_seq=2 if with_seq else None)
            outcomes.append(("won", event.actor))
        except (ConcurrentUpdateError, TransitionRefused) as error:
            outcomes.append(("refused", str(error)))

    threads = [threading.Thread(target=acknowledge, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [o for o in outcomes if o[0] == "won"]
    assert len(won) == 1 and len(outcomes) == len(people)
    events = alert_events(workspace, alert)
    assert events["seq"].tolist() == [1, 2, 3]
    assert events["action"].iloc[-1] == "acknowledge" and events["actor"].iloc[-1] == won[0][1]
    for _, message in (o for o in outcomes if o[0] == "refused"):
        assert ("changed" in message) or ("cannot acknowledge an alert that is acknowledged"
                                          in message)


def test_manual_alert_needs_raise_rights(world):
    workspace, organisation = world
    from sourcegrid.workflow.errors import AccessDenied

    frame = manual_alert("R0001C0001", "smoke", start="2024-03-02T10:00")
    with pytest.raises(AccessDenied, match="outside the scope of headA"):
        register_alerts(workspace, frame, actor=organisation.person("headA"), now=T0,
                        organisation=organisation)
    result = register_alerts(workspace, frame, actor=organisation.person("headB"), now=T0,
                             organisation=organisation)
    assert alert_events(workspace, result.new[0])["actor"].tolist() == ["headB"]


def test_bad_candidates_are_reported_together(world):
    workspace, organisation = world
    frame = pd.concat([manual_alert("R9999C9999", "x", start="2024-03-02T10:00", grade="pink"),
                       manual_alert("R0000C0000", "y", start="2024-03-02T11:00")])
    frame["source_kind"] = ["manual", "rumour"]
    with pytest.raises(InputError) as caught:
        register_alerts(workspace, frame, now=T0, organisation=organisation)
    assert sorted((p.row, p.reason) for p in caught.value.problems) == [
        (2, "bad_grade"), (2, "unknown_cell"), (3, "bad_source_kind")]


def test_list_filters(world):
    workspace, organisation = world
    from sourcegrid.errors import NotFoundError

    a = alert_in(workspace, organisation, "dispatched", start="2024-03-01T01:00")
    b = alert_in(workspace, organisation, "resolved", start="2024-03-01T02:00")
    assert list_alerts(workspace, states=["resolved"])["alert_id"].tolist() == [b]
    assert sorted(list_alerts(workspace, unit="130902001")["alert_id"]) == sorted([a, b])
    assert list_alerts(workspace, unit="130902002").empty
    with pytest.raises(NotFoundError, match="unknown alert state 'open'"):
        list_alerts(workspace, states=["open"])
    with pytest.raises(NotFoundError, match="unknown deadline set 'lenient'"):
        escalate_overdue(workspace, now=T0, deadlines="lenient")


def test_organisation_snapshot_follows_changes(world):
    workspace, organisation = world
    from sourcegrid.workflow.org import Organisation, Person, add_person

    assert Organisation.load(workspace) is Organisation.load(workspace)   # unchanged: cached
    add_person(workspace, Person("new1", "新人", ("viewer",), ("130902002",)), now=T0)
    fresh = Organisation.load(workspace)
    assert "new1" in fresh.people and "new1" not in organisation.people
