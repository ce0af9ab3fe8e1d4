"""What the API and pages show: map values, the dossier's content, inventory, AQI, the inbox.

Expected values come from the sample workspace's own tables (read here with pandas),
from how the sample was laid out (E001 stands in CELL_A, E003 in CELL_B), or from
HJ 633 (the AQI breakpoints).
"""

from __future__ import annotations

import pandas as pd

from sourcegrid.web.sample import HOTSPOT_CELLS, TOWNSHIP_A
from tests.web.conftest import CELL_A, CELL_B, fresh_alert


def _cell_hours(live) -> pd.DataFrame:
    return live.state.store.frame("SELECT * FROM cell_hours")


def test_map_values_time_slider_and_hotspots(live):
    hours = _cell_hours(live)
    pm = hours[hours["pollutant"] == "PM2.5"]
    with live.client("head_a") as client:
        times = client.get("/api/map/times").json()["times"]
        assert len(times) == 72 and times[0] == "2017-01-05T00:00:00+00:00"
        # a naive time is Beijing time: 08:00 in Beijing is 00:00 UTC
        layer = client.get("/api/map", params={"time": "2017-01-05T08:00"}).json()
    assert layer["time"] == "2017-01-05T00:00:00+00:00"
    features = {f["id"]: f["properties"] for f in layer["features"]}
    assert len(features) == 18  # township A: the western 3 of the 6 × 7 cells
    assert all(p["township_code"] == TOWNSHIP_A for p in features.values())
    first = pm[pd.to_datetime(pm["time"], utc=True) == pd.Timestamp("2017-01-05T00:00Z")]
    expected = dict(zip(first["cell_id"], first["value"], strict=True))
    assert {c: features[c]["value"] for c in features} == {c: expected[c] for c in features}
    assert [c for c, p in features.items() if p["hotspot"]] == [CELL_A]
    polygon = layer["features"][0]["geometry"]
    assert polygon["type"] == "Polygon" and len(polygon["coordinates"][0]) == 5
    with live.client("admin") as client:
        everything = client.get("/api/map").json()["features"]
    assert len(everything) == 42
    assert {f["id"] for f in everything if f["properties"]["hotspot"]} == set(HOTSPOT_CELLS)


def test_dossier_content(live):
    with live.client("head_a") as client:
        dossier = client.get(f"/api/cells/{CELL_A}/dossier").json()
        html = client.get(f"/api/cells/{CELL_A}/dossier.html")
        pdf = client.get(f"/api/cells/{CELL_A}/dossier.pdf")
    assert dossier["cell"]["cell_id"] == CELL_A
    assert dossier["cell"]["township_code"] == TOWNSHIP_A
    # the sample put source E001 at the centre of CELL_A and E003 in CELL_B
    assert [s["source_id"] for s in dossier["sources"]] == ["E001"]
    inventory = live.state.store.frame("SELECT * FROM inventory WHERE source_id = 'E001'")
    emitted = {e["pollutant"]: e["emission"] for e in dossier["emissions"]}
    assert emitted == dict(zip(inventory["pollutant"], inventory["emission"], strict=True))
    assert {m["sector"] for m in dossier["sector_mix"]} == {"industry"}
    assert dossier["grade"]["excess_name"] == "red" and dossier["grade"]["type"] == "industrial"
    hotspot_alerts = [a for a in dossier["alerts"] if a["source_kind"] == "hotspot"]
    assert len(hotspot_alerts) == 1 and hotspot_alerts[0]["cell_id"] == CELL_A
    people = {p["person_id"] for p in dossier["people"]}
    assert {"town_a", "chief_a", "head_a", "super_a", "county", "city"} <= people
    assert people.isdisjoint({"town_b", "head_b", "super_b"})
    # the trend: daily means of the cell (Beijing days) from its hours
    hours = _cell_hours(live)
    mine = hours[(hours["cell_id"] == CELL_A) & (hours["pollutant"] == "PM2.5")].copy()
    mine["date"] = pd.to_datetime(mine["time"], utc=True).dt.tz_convert("Asia/Shanghai"
                                                                         ).dt.date.astype(str)
    expected = mine.groupby("date")["value"].mean()
    trend = {row["date"]: row["cell"] for row in dossier["trend"]}
    assert set(trend) == set(expected.index)
    for day, value in expected.items():
        assert abs(trend[day] - value) < 1e-9
    assert html.status_code == 200 and CELL_A in html.text and "<script" not in html.text
    assert "attachment" in html.headers["content-disposition"]
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"


def test_dossier_page_shows_the_sections(live):
    client, _ = live.session("head_a")
    page = client.get(f"/cells/{CELL_A}")
    assert page.status_code == 200
    for text in ("一格一档", "责任人", "污染源", "E001", "热点历史", "溯源结果",
                 f"/api/cells/{CELL_A}/dossier.pdf", "重度污染"):
        assert text in page.text, text
    assert client.get(f"/cells/{CELL_B}", headers={"accept": "text/html"}).status_code == 403


def test_inventory_by_region_sums_the_sources_of_the_scope(live):
    inventory = live.state.store.frame("SELECT * FROM inventory")
    # the sample's sources in township A: E001 (R0001C0001), E002 (R0002C0001), E005 (R0000C0000)
    township_a = inventory[inventory["source_id"].isin(["E001", "E002", "E005"])]
    with live.client("head_a") as client:
        rows = client.get("/api/inventory", params={"by": "region"}).json()["rows"]
    assert {r["region"] for r in rows} == {TOWNSHIP_A}
    got = {r["pollutant"]: r["emission_kg"] for r in rows}
    want = township_a.groupby("pollutant")["emission"].sum().to_dict()
    assert got.keys() == want.keys()
    assert all(abs(got[p] - want[p]) < 1e-6 for p in want)
    with live.client("county") as client:
        total = client.get("/api/inventory", params={"by": "pollutant"}).json()["rows"]
    assert abs(sum(r["emission_kg"] for r in total) - inventory["emission"].sum()) < 1e-6


def test_cell_aqi_follows_hj633(live):
    """A cell-day's AQI is the PM2.5/PM10 IAQI of its daily means (HJ 633-2012 Table 1)."""
    hours = _cell_hours(live)
    with live.client("head_a") as client:
        rows = client.get("/api/aqi/cells", params={"cell_id": CELL_A}).json()["rows"]
    day = next(r for r in rows if r["date"] == "2017-01-06")
    mine = hours[hours["cell_id"] == CELL_A].copy()
    mine["date"] = pd.to_datetime(mine["time"], utc=True).dt.tz_convert("Asia/Shanghai").dt.date
    means = mine[mine["date"].astype(str) == "2017-01-06"].groupby("pollutant")["value"].mean()
    # PM2.5 24-h breakpoints 150 → IAQI 200, 250 → 300; PM10 350 → 200, 420 → 300
    pm25 = means["PM2.5"]
    pm10 = means["PM10"]

    def linear(c, lo, hi, ilo, ihi):
        return (ihi - ilo) / (hi - lo) * (c - lo) + ilo

    assert 150 < pm25 <= 250 and 150 < pm10 <= 250  # so both fall in the segments below
    expected = max(linear(pm25, 150, 250, 200, 300), linear(pm10, 150, 250, 100, 150))
    assert day["aqi"] == -(-expected // 1)  # rounded up (HJ 633-2012 §6.2)
    assert day["category"] == "重度污染"


def test_inbox_life_cycle_through_the_pages(live):
    client, csrf = live.session("super_a")
    alert = fresh_alert(live, CELL_A, "dispatched")
    inbox = client.get("/alerts")
    assert inbox.status_code == 200 and alert in inbox.text
    assert 'data-action="acknowledge"' in inbox.text
    done = client.post(f"/alerts/{alert}/action", data={"action": "acknowledge",
                                                       "csrf_token": csrf, "back": "/alerts"})
    assert done.status_code == 303 and done.headers["location"].startswith("/alerts?ok=")
    again = client.post(f"/alerts/{alert}/action", data={"action": "acknowledge",
                                                        "csrf_token": csrf})
    assert again.status_code == 303 and "error=" in again.headers["location"]
    assert "cannot%20acknowledge" in again.headers["location"]
    page = client.get(f"/alerts/{alert}")
    assert "已签收 acknowledged" in page.text and "super_a" in page.text
    # the supervisor may not resolve: no such button
    assert 'data-action="resolve"' not in page.text
    form = client.post("/inspect", data={"alert_id": alert, "source_id": "E001",
                                         "confirmed": "yes", "problem": "open burning",
                                         "csrf_token": csrf})
    assert form.status_code == 303 and "ok=" in form.headers["location"]
    state = client.get(f"/api/alerts/{alert}", headers={"X-CSRF-Token": csrf}).json()
    assert state["state"] == "inspected"
    assert state["events"][-1]["evidence"]["problems"] == ["open burning"]


def test_api_docs_and_schema(live):
    with httpx_client(live) as client:
        schema = client.get("/api/openapi.json").json()
        docs = client.get("/api/docs")
    paths = set(schema["paths"])
    for path in ("/api/map", "/api/map/times", "/api/cells/{cell_id}/dossier.pdf",
                 "/api/alerts/{alert_id}/actions", "/api/inventory", "/api/aqi/cells",
                 "/api/gooddays", "/api/findings", "/api/tokens"):
        assert path in paths
    assert not any(p.startswith(("/map", "/alerts", "/login")) for p in paths)
    assert docs.status_code == 200 and "/api/alerts/{alert_id}/actions" in docs.text


def httpx_client(live):
    import httpx

    return httpx.Client(base_url=live.url)
