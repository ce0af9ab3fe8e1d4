"""Several users at once: one wins a race for an alert, no write is lost, writes survive a
restart."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.web.conftest import CELL_A, fresh_alert, start_live

#: Everyone allowed to acknowledge an alert of CELL_A (see test_access.ACTION_CASES).
ACKNOWLEDGERS = ["admin", "city", "county", "town_a", "chief_a", "head_a", "super_a"]


def _race(live, alert, bodies):
    """Post the bodies at once (one thread each, released together); the responses."""
    barrier = threading.Barrier(len(bodies))

    def post(item):
        user, body = item
        with live.client(user) as client:
            barrier.wait()
            return user, client.post(f"/api/alerts/{alert}/actions", json=body)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, bodies))


def test_one_acknowledge_wins(live):
    from sourcegrid.workflow.alerts import alert_events

    alert = fresh_alert(live, CELL_A, "dispatched")
    results = _race(live, alert, [(u, {"action": "acknowledge"}) for u in ACKNOWLEDGERS])
    codes = sorted(r.status_code for _, r in results)
    assert codes == [201] + [409] * (len(ACKNOWLEDGERS) - 1)
    winner = next(u for u, r in results if r.status_code == 201)
    for _, response in results:
        if response.status_code == 409:
            assert response.json()["detail"].startswith(
                "cannot acknowledge an alert that is acknowledged")
    events = alert_events(live.workspace, alert)
    assert events["action"].tolist() == ["raise", "dispatch", "acknowledge"]
    assert events["seq"].tolist() == [1, 2, 3]
    assert events["actor"].iloc[-1] == winner


def test_expected_seq_race(live):
    """Two people read the alert at event 2 and both act: the second is told it moved on."""
    from sourcegrid.workflow.alerts import alert_events

    alert = fresh_alert(live, CELL_A, "dispatched")
    bodies = [("head_a", {"action": "comment", "note": "head", "expected_seq": 2}),
              ("super_a", {"action": "comment", "note": "super", "expected_seq": 2}),
              ("town_a", {"action": "false_alarm", "expected_seq": 2})]
    results = _race(live, alert, bodies)
    assert sorted(r.status_code for _, r in results) == [201, 409, 409]
    for _, response in results:
        if response.status_code == 409:
            assert "changed since you read it (event 2)" in response.json()["detail"]
    assert len(alert_events(live.workspace, alert)) == 3


def test_no_write_is_lost(live):
    """Twenty comments at once on one alert: twenty events, numbered 3..22 without a gap."""
    from sourcegrid.workflow.alerts import alert_events

    alert = fresh_alert(live, CELL_A, "dispatched")
    bodies = [(ACKNOWLEDGERS[i % len(ACKNOWLEDGERS)], {"action": "comment", "note": f"n{i}"})
              for i in range(20)]
    results = _race(live, alert, bodies)
    assert all(r.status_code == 201 for _, r in results), [r.text for _, r in results]
    acknowledged = {r.json()["event_id"] for _, r in results}
    events = alert_events(live.workspace, alert)
    assert events["seq"].tolist() == list(range(1, 23))
    assert set(events["event_id"].iloc[2:]) == acknowledged
    assert sorted(events["note"].iloc[2:]) == sorted(f"n{i}" for i in range(20))


def test_acknowledged_writes_survive_a_restart(tmp_path):
    path = tmp_path / "ws"
    first = start_live(path)
    acknowledged = []
    try:
        alerts = [fresh_alert(first, CELL_A, "dispatched") for _ in range(3)]
        with first.client("head_a") as client:
            for alert in alerts:
                for body in ({"action": "acknowledge"}, {"action": "comment", "note": "kept"}):
                    response = client.post(f"/api/alerts/{alert}/actions", json=body)
                    assert response.status_code == 201
                    acknowledged.append(response.json()["event_id"])
    finally:
        first.stop()  # the server stops and closes the workspace
    second = start_live(path, build=False)
    try:
        with second.client("head_a") as client:
            found = []
            for alert in alerts:
                events = client.get(f"/api/alerts/{alert}").json()["events"]
                found += [e["event_id"] for e in events if e["actor"] == "head_a"]
                assert client.get(f"/api/alerts/{alert}").json()["state"] == "acknowledged"
        assert found == acknowledged
    finally:
        second.stop()


def test_concurrent_readers_and_writers(live):
    """Map, dossier and alert reads go on while actions are written: all answer 200/201."""
    alerts = [fresh_alert(live, CELL_A, "dispatched") for _ in range(4)]

    def work(number):
        with live.client(ACKNOWLEDGERS[number % len(ACKNOWLEDGERS)]) as client:
            codes = [client.get("/api/map").status_code,
                     client.get(f"/api/cells/{CELL_A}/dossier").status_code,
                     client.get("/api/alerts").status_code,
                     client.post(f"/api/alerts/{alerts[number % 4]}/actions",
                                 json={"action": "comment", "note": str(number)}).status_code]
            return codes

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(16)))
    assert all(codes == [200, 200, 200, 201] for codes in results), results
    with httpx.Client(base_url=live.url) as client:
        assert client.get("/api/openapi.json").status_code == 200
