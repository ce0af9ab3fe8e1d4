"""The alert state machine: every allowed and every refused transition, with its message."""

from __future__ import annotations

import pandas as pd
import pytest

from sourcegrid.errors import NotFoundError
from sourcegrid.workflow.alerts import STATES, TRANSITIONS, act, alert_events, alert_states
from sourcegrid.workflow.errors import AccessDenied, TransitionRefused, WorkflowError
from tests.workflow.world import PATHS, T0, alert_in

# The table of the issue, written out by hand: (state, action) -> next state.
ALLOWED = {
    ("new", "dispatch"): "dispatched",
    ("new", "false_alarm"): "false_alarm",
    ("dispatched", "acknowledge"): "acknowledged",
    ("dispatched", "false_alarm"): "false_alarm",
    ("dispatched", "escalate"): "dispatched",
    ("acknowledged", "inspect"): "inspected",
    ("acknowledged", "false_alarm"): "false_alarm",
    ("acknowledged", "escalate"): "acknowledged",
    ("inspected", "inspect"): "inspected",
    ("inspected", "resolve"): "resolved",
    ("inspected", "false_alarm"): "false_alarm",
    ("inspected", "escalate"): "inspected",
    ("resolved", "reopen"): "dispatched",
    ("false_alarm", "reopen"): "dispatched",
    **{(state, "comment"): state for state in STATES},
}
ACTIONS = ["dispatch", "acknowledge", "inspect", "resolve", "false_alarm", "escalate", "reopen",
           "comment"]
#: An actor allowed each action on township A's cell R0000C0000 by role and scope.
ACTOR = {"dispatch": "twpA", "acknowledge": "headA", "inspect": "supA", "resolve": "headA",
         "false_alarm": "twpA", "escalate": "twpA", "reopen": "county", "comment": "viewA"}
ACTOR["comment"] = "supA"


def test_table_matches_the_issue():
    derived = {(s, a): to for a, froms in TRANSITIONS.items() if a != "raise"
               for s, to in froms.items()}
    assert derived == ALLOWED


def test_paths_reach_their_state(world):
    workspace, organisation = world
    for i, state in enumerate(PATHS):
        alert = alert_in(workspace, organisation, state, start=T0 + pd.Timedelta(hours=i))
        assert alert_states(workspace, alert_ids=[alert])["state"].iloc[0] == state


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_transition(world, state, action):
    workspace, organisation = world
    alert = alert_in(workspace, organisation, state)
    before = alert_events(workspace, alert)
    actor = organisation.person(ACTOR[action])
    when = T0 + pd.Timedelta(hours=1)
    if (state, action) in ALLOWED:
        event = act(workspace, alert, action, actor, now=when, organisation=organisation)
        assert event.from_state == state
        assert event.to_state == ALLOWED[(state, action)]
        assert event.seq == len(before) + 1
        row = alert_states(workspace, alert_ids=[alert]).iloc[0]
        assert row["state"] == ALLOWED[(state, action)]
        if action == "escalate":
            assert row["level"] == "county"
    else:
        with pytest.raises(TransitionRefused) as caught:
            act(workspace, alert, action, actor, now=when, organisation=organisation)
        message = str(caught.value)
        assert message.startswith(f"cannot {action} an alert that is {state}: {action} is "
                                  "allowed from ")
        assert isinstance(caught.value, WorkflowError)
        after = alert_events(workspace, alert)
        assert len(after) == len(before)  # nothing recorded


def test_messages_name_the_way_forward(world):
    workspace, organisation = world
    alert = alert_in(workspace, organisation, "acknowledged")
    with pytest.raises(TransitionRefused, match=r"resolve is allowed from inspected; an alert "
                       r"is resolved after an inspection \(inspect it first\)"):
        act(workspace, alert, "resolve", organisation.person("headA"), now=T0,
            organisation=organisation)


def test_escalation_stops_at_city(world):
    workspace, organisation = world
    alert = alert_in(workspace, organisation, "dispatched")
    office = organisation.person("twpA")
    act(workspace, alert, "escalate", office, now=T0, organisation=organisation)
    act(workspace, alert, "escalate", office, now=T0, organisation=organisation)
    assert alert_states(workspace, alert_ids=[alert])["level"].iloc[0] == "city"
    with pytest.raises(TransitionRefused, match="already at the city level"):
        act(workspace, alert, "escalate", office, now=T0, organisation=organisation)


@pytest.mark.parametrize(("action", "person", "reason"), [
    ("resolve", "supA", "supA (supervisor (网格监督员)) may not resolve; roles that may: admin, "
                        "city_office, county_office, township_office, chief_grid_head, "
                        "grid_head"),
    ("acknowledge", "viewA", "viewA (viewer (查看者)) may not acknowledge"),
    ("reopen", "twpA", "twpA (township_office (乡镇办公室)) may not reopen; roles that may: "
                       "admin, city_office, county_office"),
    ("acknowledge", "headB", "cell R0000C0000 is outside the scope of headB (130902002)"),
])
def test_role_and_scope_refusals(world, action, person, reason):
    workspace, organisation = world
    state = {"resolve": "inspected", "acknowledge": "dispatched", "reopen": "resolved"}[action]
    alert = alert_in(workspace, organisation, state)
    with pytest.raises(AccessDenied) as caught:
        act(workspace, alert, action, organisation.person(person), now=T0,
            organisation=organisation)
    assert str(caught.value).startswith(reason)


def test_system_may_not_act_for_people(world):
    workspace, organisation = world
    alert = alert_in(workspace, organisation, "dispatched")
    with pytest.raises(AccessDenied, match="acknowledge needs a person"):
        act(workspace, alert, "acknowledge", "system", now=T0)


def test_unknown_action_and_alert(world):
    workspace, organisation = world
    alert = alert_in(workspace, organisation, "dispatched")
    with pytest.raises(NotFoundError, match="unknown alert action 'approve'; valid: "):
        act(workspace, alert, "approve", organisation.person("headA"), now=T0)
    with pytest.raises(NotFoundError, match="unknown alert action 'raise'"):
        act(workspace, alert, "raise", "system", now=T0)
    with pytest.raises(NotFoundError, match="unknown alert 'Anope'"):
        act(workspace, "Anope", "comment", "system", now=T0)
