"""The cell dossier (一格一档) on a small synthetic workspace built here by hand."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from sourcegrid.errors import NotFoundError
from sourcegrid.workflow.alerts import act
from sourcegrid.workflow.dossier import cell_dossier, render_html, write_dossier
from sourcegrid.workflow.errors import AccessDenied
from sourcegrid.workflow.pdf import CJK_FONT
from tests.workflow.world import T0, alert_in

CELL = "R0000C0000"          # township A, centre about 116.2928, 39.8514


@pytest.fixture
def dossier_world(world):
    workspace, organisation = world
    cells = workspace.read("cells")
    # PM2.5: the cell 60 µg/m³ on day 1 and 30 on day 2; the 8 other cells 50 and 40
    times = [T0 + pd.Timedelta(hours=h) for h in (0, 1, 24, 25)]
    rows = []
    for cell in cells["cell_id"]:
        for time in times:
            day_one = time < T0 + pd.Timedelta(hours=16)   # Beijing day 2024-03-01
            value = (60.0 if day_one else 30.0) if cell == CELL else (50.0 if day_one else 40.0)
            rows.append((cell, 0, 0, time, "PM2.5", value, "observed"))
    rows.append((CELL, 0, 0, T0 + pd.Timedelta(hours=2), "PM10", 120.0, "observed"))
    workspace.write("cell_hours", pd.DataFrame(rows, columns=["cell_id", "row", "col", "time",
                                                              "pollutant", "value", "method"]))
    workspace.write("sources", pd.DataFrame({
        "source_id": ["S1", "S2", "S3"], "name": ["<script>alert(1)</script>钢厂", "锅炉房",
                                                  "far away"],
        "kind": "point", "lon": [116.293, 116.295, 116.36], "lat": [39.851, 39.852, 39.80],
        "sector": ["industry", "boiler", "industry"], "industry_code": ["3110", "4430", "3110"]}))
    workspace.write("inventory", pd.DataFrame({
        "source_id": ["S1", "S1", "S2", "S3"], "pollutant": ["PM2.5", "SO2", "PM2.5", "PM2.5"],
        "period": "2024", "emission": [900.0, 500.0, 300.0, 7.0],
        "sector": ["industry", "industry", "boiler", "industry"]}))
    workspace.write("cell_inventory", pd.DataFrame({
        "cell_id": CELL, "pollutant": ["PM2.5", "PM2.5", "PM2.5"],
        "sector": ["industry", "boiler", "dust"], "emission": [900.0, 300.0, 300.0]}))
    workspace.write("observations", pd.DataFrame({
        "time": [T0, T0 + pd.Timedelta(hours=1), T0], "site_id": ["M1", "M1", "R9"],
        "site_kind": ["micro", "micro", "reference"], "lon": [116.294, 116.294, 116.36],
        "lat": [39.850, 39.850, 39.80], "pollutant": "PM2.5", "value": [70.0, 75.0, 40.0]}))
    workspace.write("hotspots", pd.DataFrame({
        "rank": [1], "cell_id": [CELL], "mean": [45.0], "ratio_to_city_mean": [1.2],
        "method": "rank", "pollutant": "PM2.5", "period_start": [T0],
        "period_end": [T0 + pd.Timedelta(days=2)]}))
    workspace.write("cell_grades", pd.DataFrame({
        "cell_id": [CELL], "mean": [45.0], "concentration_level": [2],
        "concentration_category": ["良"], "excess_level": [1], "excess_name": ["yellow"],
        "grade_evidence": ["mean 45 ..."], "type": ["industrial"],
        "type_evidence": ["TVOC/city 1.9"]}))
    workspace.write("trace_results", pd.DataFrame({
        "run_id": "r1", "cell_id": [CELL, CELL], "start": T0, "end": T0 + pd.Timedelta(days=2),
        "pollutant": "PM2.5", "rank": [1, 2], "source_id": ["S1", "S2"],
        "name": ["钢厂", "锅炉房"], "share": [0.7, 0.2]}))
    alert = alert_in(workspace, organisation, "acknowledged")
    act(workspace, alert, "inspect", organisation.person("supA"), now=T0 + pd.Timedelta(hours=3),
        organisation=organisation, evidence={"problems": ["料场未苫盖"],
                                             "source_found": {"source_id": "S1",
                                                              "problem": "uncovered"}})
    return workspace, organisation, alert


def test_content(dossier_world):
    workspace, organisation, alert = dossier_world
    dossier = cell_dossier(workspace, CELL, organisation.person("headA"), now=T0)
    assert dossier.cell["township_name"] == "甲镇" and dossier.cell["county_name"] == "示范县"
    assert sorted(dossier.sources["source_id"]) == ["S1", "S2"]        # S3 is elsewhere
    totals = dossier.emissions.groupby("pollutant")["emission"].sum().to_dict()
    assert totals == {"PM2.5": 1200.0, "SO2": 500.0}
    mix = dossier.sector_mix.set_index("sector")["share_percent"]
    assert mix.to_dict() == pytest.approx({"industry": 60.0, "boiler": 20.0, "dust": 20.0})
    feeds = dossier.feeds.set_index("site_id")
    assert list(feeds.index) == ["M1"] and feeds.loc["M1", "latest_value"] == 75.0
    assert feeds.loc["M1", "readings"] == 2
    latest = dossier.latest.set_index("pollutant")["value"].to_dict()
    assert latest == {"PM10": 120.0, "PM2.5": 30.0}
    assert dossier.grade["type"] == "industrial" and dossier.grade["excess_name"] == "yellow"
    assert "hotspots" in set(dossier.hotspots["origin"])
    assert dossier.alerts["alert_id"].tolist() == [alert]
    assert dossier.alerts["state"].tolist() == ["inspected"]
    assert dossier.inspections["problems"].tolist() == ["料场未苫盖"]
    assert dossier.traced["source_id"].tolist() == ["S1", "S2"]
    people = dossier.people
    assert set(people.loc[people["level"] == "township", "person_id"]) == {
        "twpA", "chiefA", "headA", "supA"}
    assert people.loc[people["level"] == "county", "person_id"].tolist() == ["county"]
    # trend, Beijing days: 2024-03-01 cell 60, city (60 + 8 x 50) / 9; 03-02 cell 30,
    # city (30 + 8 x 40) / 9
    trend = dossier.trend.set_index("date")
    assert trend.loc["2024-03-01", "cell"] == 60.0
    assert trend.loc["2024-03-01", "city"] == pytest.approx(460 / 9)
    assert trend.loc["2024-03-02", "city"] == pytest.approx(350 / 9)
    assert dossier.summary["cell_mean"] == pytest.approx(45.0)
    json.dumps(dossier.to_dict())                      # JSON-ready


def test_html_is_escaped_and_self_contained(dossier_world):
    workspace, organisation, _ = dossier_world
    html = render_html(cell_dossier(workspace, CELL, now=T0))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;钢厂" in html
    assert "http://" not in html and "https://" not in html
    assert "一格一档" in html and "<polyline" in html and "甲镇" in html


def test_files(dossier_world, tmp_path):
    workspace, organisation, _ = dossier_world
    dossier = cell_dossier(workspace, CELL, now=T0)
    html = write_dossier(dossier, tmp_path / "d.html")
    pdf = write_dossier(dossier, tmp_path / "d.pdf")
    assert html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and CJK_FONT.encode() in data
    with pytest.raises(NotFoundError, match="unknown dossier format '.docx'"):
        write_dossier(dossier, tmp_path / "d.docx")
    assert not list(tmp_path.glob(".d.*"))              # no temp files left


def test_scope_and_unknown_cell(dossier_world):
    workspace, organisation, _ = dossier_world
    with pytest.raises(AccessDenied, match=f"cell {CELL} is outside the scope of headB"):
        cell_dossier(workspace, CELL, organisation.person("headB"))
    with pytest.raises(NotFoundError, match="unknown cell 'R0099C0099'"):
        cell_dossier(workspace, "R0099C0099")


def test_missing_tables_are_noted(world):
    workspace, _ = world
    dossier = cell_dossier(workspace, CELL, now=T0)
    assert dossier.sources.empty and dossier.trend.empty
    assert any("no table 'sources'" in note for note in dossier.notes)
    assert "none" in render_html(dossier)
