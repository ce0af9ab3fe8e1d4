"""Dispatch and escalation run inside the app (which holds the workspace's write lock),
driven by a simulated clock.

The sample dispatches its two hotspot alerts (grade red) at the end of its data,
2017-01-08T00:00Z; red at township level must be acknowledged within 2 h
(DEADLINES['sourcegrid_default']['township']['red']['acknowledge']), so at 01:00 nothing
is overdue and at 02:30 both are escalated to the county.
"""

from __future__ import annotations

import time

import pandas as pd
import pytest

from tests.web.conftest import CELL_A, start_live

DISPATCHED = pd.Timestamp("2017-01-08T00:00Z")
HOUR = pd.Timedelta(hours=1)


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def _states(live):
    from sourcegrid.workflow.alerts import alert_states

    with live.state.store.lock:
        return alert_states(live.workspace).set_index("alert_id")


def _wait(condition, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def clocked(tmp_path):
    clock = Clock(DISPATCHED + HOUR)
    live = start_live(tmp_path / "ws", clock=clock, escalation_interval=0.1)
    yield live, clock
    live.stop()


def test_the_app_escalates_overdue_alerts_by_its_clock(clocked):
    live, clock = clocked
    hotspot = _states(live)
    hotspot = hotspot[hotspot["source_kind"] == "hotspot"]
    assert len(hotspot) == 2 and set(hotspot["level"]) == {"township"}
    # at 01:00 the loop runs but nothing is due
    assert _wait(lambda: bool(live.state.last_deadlines_run))
    assert _wait(lambda: live.state.last_deadlines_run.get("time", "").startswith(
        "2017-01-08T01:00"))
    assert live.state.last_deadlines_run["escalated"] == []
    assert set(_states(live).loc[hotspot.index, "level"]) == {"township"}
    # the clock passes the 2 h acknowledge deadline: both go to the county, once
    clock.now = DISPATCHED + 2.5 * HOUR
    assert _wait(lambda: set(_states(live).loc[hotspot.index, "level"]) == {"county"})
    time.sleep(0.5)  # several more runs: no second escalation (the county's clock started)
    from sourcegrid.workflow.alerts import alert_events

    with live.state.store.lock:
        events = alert_events(live.workspace)
    escalations = events[events["action"] == "escalate"]
    assert sorted(escalations["alert_id"]) == sorted(hotspot.index)
    assert set(escalations["actor"]) == {"system"}
    assert all(t == clock.now for t in pd.to_datetime(escalations["time"], utc=True))
    # the dossier the app serves shows the new level (its cache was dropped)
    with live.client("county") as client:
        alerts = client.get(f"/api/cells/{CELL_A}/dossier").json()["alerts"]
    assert {a["level"] for a in alerts if a["source_kind"] == "hotspot"} == {"county"}


def test_the_app_dispatches_new_alerts(clocked):
    from sourcegrid.workflow.alerts import register_alerts
    from sourcegrid.workflow.intake import manual_alert

    live, clock = clocked
    with live.state.store.lock:
        (alert,) = register_alerts(live.workspace, manual_alert(CELL_A, "by the app",
                                                                start=clock.now),
                                   actor="system", now=clock.now).new
    assert _wait(lambda: _states(live).loc[alert, "state"] == "dispatched")
    with live.client("head_a") as client:
        inbox = client.get("/api/alerts").json()
    assert alert in {a["alert_id"] for a in inbox}


def test_bad_interval_or_deadline_set_is_refused(tmp_path):
    from sourcegrid.errors import NotFoundError
    from sourcegrid.store import Workspace
    from sourcegrid.web import create_app

    Workspace(tmp_path / "ws", create=True).close()
    with pytest.raises(ValueError, match="escalation_interval: expected seconds >= 0"):
        create_app(tmp_path / "ws", escalation_interval=-1)
    with pytest.raises(NotFoundError, match="lenient"):
        create_app(tmp_path / "ws", deadlines="lenient")
