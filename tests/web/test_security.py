"""Passwords, sessions, CSRF, login rate limits, uploads, and bad input → 4xx with a message."""

from __future__ import annotations

import struct
import zlib

import httpx
import pytest
from argon2 import PasswordHasher

from sourcegrid.sample.web_workspace import SAMPLE_PASSWORD
from tests.web.conftest import CELL_A, CELL_B, fresh_alert


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A valid tiny PNG (PNG spec: signature, IHDR, IDAT, IEND), written by hand."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                             0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_passwords_are_argon2_hashes(live):
    rows = live.state.store.query("SELECT username, password_hash FROM web_credentials")
    assert len(rows) == 11
    for row in rows:
        assert row["password_hash"].startswith("$argon2id$")
        assert SAMPLE_PASSWORD not in row["password_hash"]
        assert PasswordHasher().verify(row["password_hash"], SAMPLE_PASSWORD)


def test_session_cookie_flags_and_csrf(live):
    client = httpx.Client(base_url=live.url)
    response = client.post("/api/login", json={"username": "head_a",
                                               "password": SAMPLE_PASSWORD})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain http on loopback
    csrf = response.json()["csrf_token"]
    alert = fresh_alert(live, CELL_A, "dispatched")
    # a cookie-authenticated write without the CSRF token is refused, and leaves no event
    refused = client.post(f"/api/alerts/{alert}/actions", json={"action": "acknowledge"})
    assert refused.status_code == 403
    assert refused.json()["detail"] == ("missing or wrong CSRF token: reload the page and "
                                        "try again")
    wrong = client.post(f"/api/alerts/{alert}/actions", json={"action": "acknowledge"},
                        headers={"X-CSRF-Token": "x" + csrf})
    assert wrong.status_code == 403
    ok = client.post(f"/api/alerts/{alert}/actions", json={"action": "acknowledge"},
                     headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    # reads need no token
    assert client.get("/api/me").json()["person_id"] == "head_a"
    # logout ends the session on the server
    assert client.post("/api/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.get("/api/me").status_code == 401


def test_secure_cookie_over_tls(live):
    with httpx.Client(base_url=live.url) as client:
        response = client.post("/api/login", json={"username": "head_a",
                                                   "password": SAMPLE_PASSWORD},
                               headers={"X-Forwarded-Proto": "https"})
    assert "secure" in response.headers["set-cookie"].lower()


def test_form_posts_need_the_csrf_token(live):
    client, csrf = live.session("head_a")
    alert = fresh_alert(live, CELL_A, "dispatched")
    no_token = client.post(f"/alerts/{alert}/action", data={"action": "acknowledge"},
                           headers={"accept": "text/html"})
    assert no_token.status_code == 403
    assert "CSRF" in no_token.text
    done = client.post(f"/alerts/{alert}/action", data={"action": "acknowledge",
                                                       "csrf_token": csrf},
                       headers={"accept": "text/html"})
    assert done.status_code == 303
    from sourcegrid.workflow.alerts import alert_events

    assert alert_events(live.workspace, alert)["action"].tolist()[-1] == "acknowledge"


def test_login_page_form_and_its_csrf(live):
    client = httpx.Client(base_url=live.url)
    page = client.get("/login")
    assert page.status_code == 200 and 'name="csrf_token"' in page.text
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    forged = httpx.post(f"{live.url}/login", data={"username": "head_a",
                                                    "password": SAMPLE_PASSWORD,
                                                    "csrf_token": token})
    assert forged.status_code == 403  # no login-CSRF cookie: another site's form
    good = client.post("/login", data={"username": "head_a", "password": SAMPLE_PASSWORD,
                                       "csrf_token": token, "next": "https://evil.example/"})
    assert good.status_code == 303
    assert good.headers["location"] == "/map"  # no open redirect
    assert client.get("/map").status_code == 200


def test_pages_redirect_to_login(live):
    with httpx.Client(base_url=live.url) as client:
        response = client.get("/alerts?state=new")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Falerts%3Fstate%3Dnew"


def test_login_rate_limit(tmp_path):
    """Five failures of one user name in the window: the sixth attempt is refused (429),
    even with the right password, and says when to try again."""
    from tests.web.conftest import start_live

    server = start_live(tmp_path / "ws", login_attempts=5, login_window_seconds=600)
    try:
        with httpx.Client(base_url=server.url) as client:
            for _ in range(5):
                wrong = client.post("/api/login", json={"username": "super_b",
                                                        "password": "not-the-password"})
                assert wrong.status_code == 401
                assert wrong.json()["detail"] == "wrong user name or password"
            blocked = client.post("/api/login", json={"username": "super_b",
                                                      "password": SAMPLE_PASSWORD})
            assert blocked.status_code == 429
            assert blocked.json()["detail"].startswith("too many failed logins; try again in")
            assert 0 < int(blocked.headers["retry-after"]) <= 600
            # another user of the same office (address) may still log in ...
            other = client.post("/api/login", json={"username": "head_b",
                                                    "password": SAMPLE_PASSWORD})
            assert other.status_code == 200
            # ... until the address has failed 4 × 5 times
            for number in range(15):
                client.post("/api/login", json={"username": f"guess{number}",
                                                "password": "not-the-password"})
            after = client.post("/api/login", json={"username": "head_b",
                                                    "password": SAMPLE_PASSWORD})
            assert after.status_code == 429
        events = server.state.store.query(
            "SELECT action, count(*) AS n FROM web_events WHERE target = 'super_b' "
            "AND action LIKE 'login%' GROUP BY action ORDER BY action")
        assert {e["action"]: e["n"] for e in events} == {"login_failed": 5,
                                                         "login_throttled": 1}
    finally:
        server.stop()


def test_unknown_user_and_wrong_password_look_the_same(live):
    with httpx.Client(base_url=live.url) as client:
        unknown = client.post("/api/login", json={"username": "nobody", "password": "x" * 9})
        wrong = client.post("/api/login", json={"username": "viewer_a", "password": "x" * 9})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), [
    ("GET", "/api/map?time=yesterday", None, 400,
     "time: expected an ISO 8601 time such as 2017-01-05T08:00+08:00, got 'yesterday'"),
    ("GET", "/api/map?time=99999-01-01", None, 400, "time: expected an ISO 8601 time"),
    ("GET", "/api/map?pollutant=PM2.5'%20OR%201=1--", None, 422, "pollutant"),
    ("GET", "/api/cells/R9999C9999", None, 404, "unknown cell 'R9999C9999'"),
    ("GET", "/api/cells/not-a-cell", None, 422, "cell_id"),
    ("GET", "/api/cells/R0001C0001?pollutant=" + "x" * 40, None, 422, "pollutant"),
    ("GET", "/api/alerts/A0000000000000000", None, 404, "unknown alert 'A0000000000000000'"),
    ("GET", "/api/alerts?state=bogus", None, 404, "unknown alert state 'bogus'"),
    ("GET", "/api/inventory?by=colour", None, 422, "by"),
    ("POST", "/api/alerts", {"cell_id": "R0001C0001", "grade": "purple"}, 422, "grade"),
    ("POST", "/api/alerts", {"cell_id": "R0001C0001", "extra": 1}, 422, "extra"),
    ("POST", "/api/alerts", "not json", 422, "invalid request"),
    ("POST", "/api/tokens", {"name": "x" * 500}, 422, "name"),
])
def test_bad_input_is_a_clear_4xx(live, method, path, body, status, message):
    with live.client("admin") as client:
        if isinstance(body, str):
            response = client.request(method, path, content=body,
                                      headers={"content-type": "application/json"})
        else:
            response = client.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


def test_bad_actions_and_evidence(live):
    alert = fresh_alert(live, CELL_A, "acknowledged")
    with live.client("head_a") as client:
        unknown = client.post(f"/api/alerts/{alert}/actions", json={"action": "delete"})
        assert unknown.status_code == 422 and "action" in unknown.json()["detail"]
        bad = client.post(f"/api/alerts/{alert}/actions", json={
            "action": "inspect", "evidence": {"measurements": [{"instrument": "nose",
                                                                 "value": "high"}],
                                              "colour": "red"}})
        assert bad.status_code == 422
        reasons = {p["reason"] for p in bad.json()["problems"]}
        assert reasons == {"unknown_key", "bad_instrument", "not_a_number", "missing_value"}
        stale = client.post(f"/api/alerts/{alert}/actions", json={"action": "comment",
                                                                  "expected_seq": 1})
        assert stale.status_code == 409
        assert "changed since you read it" in stale.json()["detail"]
        state = client.post(f"/api/alerts/{alert}/actions", json={"action": "resolve"})
        assert state.status_code == 409
        assert state.json()["detail"].startswith("cannot resolve an alert that is acknowledged")


def test_photo_upload_checks_type_and_size(live):
    alert = fresh_alert(live, CELL_A, "acknowledged")
    with live.client("super_a") as client:
        text = client.post("/api/findings", data={"alert_id": alert},
                           files={"photo": ("x.png", b"<script>alert(1)</script>",
                                            "image/png")})
        assert text.status_code == 415
        assert text.json()["detail"] == "photo: expected a JPEG or PNG image"
        lying = client.post("/api/findings", data={"alert_id": alert},
                            files={"photo": ("x.jpg", png_bytes(), "image/jpeg")})
        assert lying.status_code == 415 and "declared as image/jpeg" in lying.json()["detail"]
        big = png_bytes() + b"\x00" * (live.state.max_upload_bytes + 10)
        too_big = client.post("/api/findings", data={"alert_id": alert},
                              files={"photo": ("big.png", big, "image/png")})
        assert too_big.status_code == 413 and "bytes allowed" in too_big.json()["detail"]
        ok = client.post("/api/findings", data={"alert_id": alert, "source_id": "E001",
                                                "problem": "bag filter torn",
                                                "note": "photo of the filter"},
                         files={"photo": ("filter.png", png_bytes(), "image/png")})
        assert ok.status_code == 201, ok.text
        event = ok.json()["event"]
        assert event["action"] == "inspect" and event["to_state"] == "inspected"
        (photo,) = event["evidence"]["photos"]
        assert event["evidence"]["source_found"]["source_id"] == "E001"
        assert event["evidence"]["problems"] == ["bag filter torn"]
        fetched = client.get(f"/api/photos/{photo}")
        assert fetched.status_code == 200 and fetched.content == png_bytes()
        assert fetched.headers["content-type"] == "image/png"
    with live.client("super_b") as client:
        assert client.get(f"/api/photos/{photo}").status_code == 403
    # refused uploads left no file behind
    folder = live.workspace.path / "uploads"
    assert sorted(p.name for p in folder.iterdir() if p.name == photo) == [photo]
    assert not list(folder.glob("*.part"))


def test_every_write_is_logged(live):
    before = live.state.store.query("SELECT count(*) AS n FROM web_events")[0]["n"]
    client, csrf = live.session("head_b")
    alert = fresh_alert(live, CELL_B, "dispatched")
    client.post(f"/api/alerts/{alert}/actions", json={"action": "acknowledge", "note": "on it"},
                headers={"X-CSRF-Token": csrf})
    client.post("/api/tokens", json={"name": "script"}, headers={"X-CSRF-Token": csrf})
    rows = live.state.store.query("SELECT actor, action FROM web_events ORDER BY time")
    assert len(rows) >= before + 2
    mine = [r["action"] for r in rows if r["actor"] == "head_b"]
    assert "login" in mine and "token_created" in mine
    from sourcegrid.workflow.alerts import alert_events

    last = alert_events(live.workspace, alert).iloc[-1]
    assert (last["actor"], last["action"], last["note"]) == ("head_b", "acknowledge", "on it")


def test_pages_send_no_external_reference(live):
    """No page names another host: scripts, styles and data all come from the app."""
    client, _ = live.session("admin")
    alert = fresh_alert(live, CELL_A, "dispatched")
    for path in ("/map", "/alerts", f"/alerts/{alert}", f"/cells/{CELL_A}", "/inventory",
                 "/aqi", "/inspect", "/assessment", "/api/docs"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert "https://" not in page.text and "http://" not in page.text.replace(
            "http://www.w3.org", ""), path
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "connect-src 'self'" in csp


def test_templates_escape_user_text(live):
    client, csrf = live.session("head_a")
    alert = fresh_alert(live, CELL_A, "dispatched")
    client.post(f"/api/alerts/{alert}/actions", headers={"X-CSRF-Token": csrf},
                json={"action": "comment", "note": "<script>alert('x')</script>"})
    page = client.get(f"/alerts/{alert}")
    assert "<script>alert('x')</script>" not in page.text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text


def test_tokens_can_be_listed_and_revoked(live):
    client, csrf = live.session("super_b")
    made = client.post("/api/tokens", json={"name": "phone"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201
    token = made.json()["token"]
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {token}"}) as bot:
        assert bot.get("/api/me").json()["person_id"] == "super_b"
        listed = bot.get("/api/tokens").json()
        assert token not in str(listed)  # never the secret again
        mine = next(t for t in listed if t["name"] == "phone")
        with live.client("head_b") as stranger:  # not theirs: looks like no such token
            assert stranger.delete(f"/api/tokens/{mine['token_id']}").status_code == 404
        assert bot.delete(f"/api/tokens/{mine['token_id']}").status_code == 200
        assert bot.get("/api/me").status_code == 401
