"""What the API and pages show: map values, the dossier's content, inventory, AQI, the inbox.

Expected values come from the sample workspace's own tables (read here with pandas),
from how the sample was laid out (E001 stands in CELL_A, E003 in CELL_B), or from
HJ 633 (the AQI breakpoints).
"""

from __future__ import annotations

import pandas as pd

from sourcegrid.sample.web_workspace import HOTSPOT_CELLS, TOWNSHIP_A
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


def test_map_colour_levels_follow_hj633_by_pollutant_and_edition(live):
    """The map's levels are HJ 633's: PM2.5 hourly against the 24-h column (2012: 35, 75,
    115, 150, 250 µg/m³, HJ 633-2012 Table 1; from 2026-03-01 the 2026 edition's 35, 60,
    115, 150, 250, HJ 633-2026 Table 3), colours of Table A.1; SO2 against its 1-h column
    (150, 500, 650, then open: the column ends at IAQI 200)."""
    from sourcegrid.web.views import colour_scale

    with live.client("head_a") as client:
        pm = client.get("/api/map").json()["scale"]
        pm10 = client.get("/api/map", params={"pollutant": "PM10"}).json()["scale"]
    assert pm["edition"] == "2012" and pm["period"] == "24h"
    assert [level["upper"] for level in pm["levels"]] == [35, 75, 115, 150, 250, None]
    assert [level["colour"] for level in pm["levels"]] == [
        "#00E400", "#FFFF00", "#FF7E00", "#FF0000", "#99004C", "#7E0023"]
    assert pm["levels"][0]["category"] == "优"
    assert [level["upper"] for level in pm10["levels"]] == [50, 150, 250, 350, 420, None]
    # 2026-03-01 08:00 Beijing is in the 2026 edition, 2026-02-28 23:00 Beijing is not
    new = colour_scale("PM2.5", pd.Timestamp("2026-03-01T00:00Z"))
    old = colour_scale("PM2.5", pd.Timestamp("2026-02-28T15:00Z"))
    assert new["edition"] == "2026" and [lv["upper"] for lv in new["levels"]][:2] == [35, 60]
    assert old["edition"] == "2012"
    so2 = colour_scale("SO2", pd.Timestamp("2017-01-05T00:00Z"))
    assert so2["period"] == "1h" and [lv["upper"] for lv in so2["levels"]] == [
        150, 500, 650, None]
    assert colour_scale("NOx", None) is None


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
    # the sample's point sources in township A: E001 (R0001C0001), E002 (R0002C0001),
    # E005 (R0000C0000); the road L001 (PM2.5 800 kg, NOx 4000 kg) lies 1/8 in C0001 and
    # 1/4 in C0002 of row 3 (township A = columns 0-2): 3/8 of it; the site A001 (PM2.5
    # 600 kg) lies half in R0002C0002 (A) and half in R0002C0003 (B).
    township_a = inventory[inventory["source_id"].isin(["E001", "E002", "E005"])]
    want = township_a.groupby("pollutant")["emission"].sum().to_dict()
    want["PM2.5"] += 800.0 * 3 / 8 + 600.0 / 2
    want["NOx"] += 4000.0 * 3 / 8
    with live.client("head_a") as client:
        rows = client.get("/api/inventory", params={"by": "region"}).json()["rows"]
    assert {r["region"] for r in rows} == {TOWNSHIP_A}
    got = {r["pollutant"]: r["emission_kg"] for r in rows}
    assert got.keys() == want.keys()
    assert all(abs(got[p] - want[p]) < 1e-6 for p in want), (got, want)
    with live.client("county") as client:
        total = client.get("/api/inventory", params={"by": "pollutant"}).json()["rows"]
        regions = client.get("/api/inventory", params={"by": "region"}).json()["rows"]
    # conservation: the whole sample lies inside the grid, so the townships add up to it
    assert abs(sum(r["emission_kg"] for r in total) - inventory["emission"].sum()) < 1e-6
    assert abs(sum(r["emission_kg"] for r in regions) - inventory["emission"].sum()) < 1e-6


def test_inventory_matches_cell_inventory_per_township(live):
    """The by-region view agrees with the allocated cell_inventory (lines and areas split)."""
    cell_inventory = live.state.store.frame("SELECT * FROM cell_inventory")
    cells = live.state.store.frame("SELECT cell_id, township_code FROM cells")
    allocated = (cell_inventory.merge(cells, on="cell_id")
                 .groupby(["township_code", "pollutant"])["emission"].sum())
    with live.client("county") as client:
        rows = client.get("/api/inventory", params={"by": "region"}).json()["rows"]
    got = {(r["region"], r["pollutant"]): r["emission_kg"] for r in rows}
    assert got.keys() == set(allocated.index)
    assert all(abs(got[key] - allocated[key]) < 1e-6 for key in got)
    # township B: the road's other 5/8 of its NOx, 4000 kg × 5/8 = 2500 kg of traffic
    with live.client("head_b") as client:
        traffic = client.get("/api/inventory", params={"by": "sector",
                                                        "pollutant": "NOx"}).json()["rows"]
    assert abs({r["sector"]: r["emission_kg"] for r in traffic}["traffic"] - 2500.0) < 1e-6


def test_inventory_unknown_pollutant_is_refused_with_the_valid_names(live):
    with live.client("head_a") as client:
        response = client.get("/api/inventory", params={"pollutant": "XYZ"})
    assert response.status_code in (400, 422)
    text = response.text
    assert "XYZ" in text and "NOx" in text and "PM2.5" in text and "SO2" in text


def test_dossier_lists_a_line_and_an_area_in_every_cell_they_cross(live):
    """A road in each cell it crosses with its length share; a site by its area share."""
    with live.client("head_a") as client:
        road = client.get("/api/cells/R0003C0002/dossier").json()
        site = client.get("/api/cells/R0002C0002/dossier").json()
    with live.client("head_b") as client:
        road_b = client.get("/api/cells/R0003C0005/dossier").json()
        site_b = client.get("/api/cells/R0002C0003/dossier").json()
    for dossier, source_id, share in ((road, "L001", 0.25), (road_b, "L001", 0.125),
                                      (site, "A001", 0.5), (site_b, "A001", 0.5)):
        listed = {s["source_id"]: s for s in dossier["sources"]}
        assert source_id in listed, dossier["cell"]["cell_id"]
        assert abs(listed[source_id]["share"] - share) < 1e-9
    emitted = {(e["source_id"], e["pollutant"]): e["emission"] for e in road["emissions"]}
    assert abs(emitted[("L001", "PM2.5")] - 800.0 / 4) < 1e-6       # 1 of 4 cells of length
    assert abs(emitted[("L001", "NOx")] - 4000.0 / 4) < 1e-6
    emitted = {(e["source_id"], e["pollutant"]): e["emission"] for e in site_b["emissions"]}
    assert abs(emitted[("A001", "PM2.5")] - 300.0) < 1e-6
    mix = {(m["pollutant"], m["sector"]): m["emission"] for m in road["sector_mix"]}
    assert abs(mix[("PM2.5", "traffic")] - 200.0) < 1e-6


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


def test_default_assessment_period_is_whole_beijing_days(live):
    """The sample's hours run 2017-01-05T00:00Z (08:00 Beijing) to 2017-01-07T23:00Z: the
    default period starts at a Beijing midnight (16:00Z the day before), never 08:00.
    Days 2017-01-05 .. 2017-01-09 Beijing (the data's days and the day after): the second
    half starts 2017-01-07 00:00 Beijing = 2017-01-06T16:00Z, ends 2017-01-10 00:00
    Beijing = 2017-01-09T16:00Z."""
    from sourcegrid.web.service import assessment_period

    start, end = assessment_period(live.state, None, None)
    assert start == pd.Timestamp("2017-01-06T16:00Z")
    assert end == pd.Timestamp("2017-01-09T16:00Z")
    with live.client("town_a") as client:
        body = client.get("/api/assessment").json()
    assert pd.Timestamp(body["start"]) == start and pd.Timestamp(body["end"]) == end
