"""Role and scope boundaries of every API endpoint: allowed and forbidden, read and write.

The expected tables are written out by hand from the division of labour in
sourcegrid.workflow.policy (ACTION_ROLES: offices dispatch, grid heads organise
fixes, supervisors patrol and inspect, viewers only read) and from the sample
organisation (township A = 130902001 holds CELL_A, township B holds CELL_B; the
city and county offices cover both).
"""

from __future__ import annotations

import pytest

from tests.web.conftest import CELL_A, CELL_B, USERS, fresh_alert

#: Everyone whose scope holds CELL_A (township A, and the county and city above it).
SEES_A = {"admin", "city", "county", "town_a", "chief_a", "head_a", "super_a", "viewer_a"}
#: Township B's people: CELL_A is outside their scope.
NOT_A = set(USERS) - SEES_A
assert NOT_A == {"town_b", "head_b", "super_b"}

#: Who may take each alert action on an alert of CELL_A (role ∩ scope), and the state
#: the alert is in before it.
ACTION_CASES = {
    "dispatch": ("new", {"admin", "city", "county", "town_a"}),
    "acknowledge": ("dispatched", {"admin", "city", "county", "town_a", "chief_a", "head_a",
                                   "super_a"}),
    "inspect": ("acknowledged", {"admin", "town_a", "chief_a", "head_a", "super_a"}),
    "resolve": ("inspected", {"admin", "city", "county", "town_a", "chief_a", "head_a"}),
    "false_alarm": ("dispatched", {"admin", "city", "county", "town_a", "chief_a", "head_a"}),
    "escalate": ("dispatched", {"admin", "city", "county", "town_a", "chief_a", "head_a"}),
    "reopen": ("resolved", {"admin", "city", "county"}),
    "comment": ("dispatched", {"admin", "city", "county", "town_a", "chief_a", "head_a",
                               "super_a"}),
}

#: Endpoints that read one cell (or its alert): {cell} and {alert} are filled in.
CELL_READS = [
    "/api/cells/{cell}",
    "/api/cells/{cell}/dossier",
    "/api/cells/{cell}/dossier.html",
    "/api/cells/{cell}/dossier.pdf",
    "/api/alerts?cell_id={cell}",
    "/api/alerts/{alert}",
    "/api/aqi/cells?cell_id={cell}",
]
#: Endpoints every logged-in person may call (their content is scoped; see below).
LIST_READS = ["/api/me", "/api/map", "/api/map/times", "/api/cells", "/api/alerts",
              "/api/inventory", "/api/inventory?by=region", "/api/inventory?by=pollutant",
              "/api/inventory?by=sector", "/api/aqi/cells", "/api/aqi/stations",
              "/api/gooddays"]


@pytest.fixture(scope="module")
def alert_a(live):
    return fresh_alert(live, CELL_A, "dispatched")


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("path", CELL_READS)
def test_cell_reads(live, alert_a, path, user):
    url = path.format(cell=CELL_A, alert=alert_a)
    with live.client(user) as client:
        response = client.get(url)
    if user in SEES_A:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 403, response.text
        assert "outside the scope of " + user in response.json()["detail"]


@pytest.mark.parametrize("path", CELL_READS + LIST_READS + ["/api/photos/" + "0" * 32 + ".png"])
def test_anonymous_is_refused(live, alert_a, path):
    with live.client() as client:
        response = client.get(path.format(cell=CELL_A, alert=alert_a))
    assert response.status_code == 401
    assert "log in first" in response.json()["detail"]


def test_unknown_or_revoked_token(live):
    with live.client() as client:
        response = client.get("/api/me", headers={"Authorization": "Bearer sg_not-a-token"})
    assert response.status_code == 401
    assert response.json()["detail"] == "the API token is unknown or revoked"


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("path", LIST_READS)
def test_list_reads_are_scoped(live, alert_a, path, user):
    """Every list answers 200 and never holds a cell outside the caller's scope."""
    with live.client(user) as client:
        response = client.get(path)
    assert response.status_code == 200, response.text
    body = response.text
    if user in NOT_A:
        assert CELL_A not in body and alert_a not in body
        assert "130902001" not in body  # township A's code
    if user in SEES_A - {"admin", "city", "county"}:
        assert CELL_B not in body and "130902002" not in body


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("action", sorted(ACTION_CASES))
def test_alert_actions(live, action, user):
    state, allowed = ACTION_CASES[action]
    alert = fresh_alert(live, CELL_A, state)
    with live.client(user) as client:
        response = client.post(f"/api/alerts/{alert}/actions",
                               json={"action": action, "note": "role test"})
        if user in allowed:
            assert response.status_code == 201, response.text
            assert response.json()["actor"] == user
            assert response.json()["action"] == action
        else:
            assert response.status_code == 403, response.text
            detail = response.json()["detail"]
            assert (f"{user}" in detail and ("may not " + action in detail
                                             or "outside the scope" in detail))
    # a refused action leaves no event
    from sourcegrid.workflow.alerts import alert_events

    events = alert_events(live.workspace, alert)
    assert (events["actor"] == user).any() == (user in allowed)
    if user in allowed:
        assert events["action"].iloc[-1] == action and events["actor"].iloc[-1] == user


@pytest.mark.parametrize("user", USERS)
def test_raise_alert_by_hand(live, user):
    allowed = SEES_A - {"viewer_a"}
    with live.client(user) as client:
        response = client.post("/api/alerts", json={"cell_id": CELL_A, "pollutant": "PM2.5",
                                                   "title": f"raised by {user}",
                                                   "grade": "orange", "note": "smoke"})
    if user in allowed:
        assert response.status_code == 201, response.text
        assert response.json()["alert_id"].startswith("A")
    else:
        assert response.status_code == 403, response.text


@pytest.mark.parametrize("user", USERS)
def test_patrol_finding(live, user):
    allowed = {"admin", "town_a", "chief_a", "head_a", "super_a"}
    with live.client(user) as client:
        response = client.post("/api/findings", data={
            "cell_id": CELL_A, "source_id": "E001", "confirmed": "true",
            "problem": "dust collector off", "note": f"patrol by {user}"})
    if user in allowed:
        assert response.status_code == 201, response.text
        assert response.json()["cell_id"] == CELL_A
    else:
        assert response.status_code == 403, response.text


def test_township_b_cannot_reach_a_through_any_door(live, alert_a):
    """Not the map, not a list, not an export, not a dossier link, not an action."""
    with live.client("head_b") as client:
        features = client.get("/api/map").json()["features"]
        assert features and all(f["properties"]["township_code"] == "130902002"
                                for f in features)
        assert {c["cell_id"] for c in client.get("/api/cells").json()}.isdisjoint({CELL_A})
        for url in (f"/api/cells/{CELL_A}/dossier.pdf", f"/api/cells/{CELL_A}/dossier.html",
                    f"/api/alerts/{alert_a}"):
            assert client.get(url).status_code == 403
        response = client.post(f"/api/alerts/{alert_a}/actions", json={"action": "comment"})
        assert response.status_code == 403
        response = client.post("/api/alerts", json={"cell_id": CELL_A})
        assert response.status_code == 403


#: Who may assess (offices and chief grid heads), each within their own scope.
ASSESSORS = {"admin", "city", "county", "town_a", "town_b", "chief_a"}


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("path", ["/api/assessment", "/api/assessment.xlsx",
                                  "/api/assessment.pdf"])
def test_assessment(live, path, user):
    with live.client(user) as client:
        response = client.get(path)
    if user not in ASSESSORS:
        assert response.status_code == 403
        assert f"{user} (" in response.json()["detail"] and "may not assess" in \
            response.json()["detail"]
        return
    assert response.status_code == 200, response.text
    if path.endswith(".pdf"):
        assert response.content.startswith(b"%PDF")
    elif path.endswith(".xlsx"):
        assert response.content.startswith(b"PK")  # a zip container
    else:
        units = {row["unit_code"] for row in response.json()["townships"]}
        expected = {"town_a": {"130902001"}, "chief_a": {"130902001"},
                    "town_b": {"130902002"}}.get(user, {"130902001", "130902002"})
        assert units == expected
