"""Assessment numbers worked out by hand on a small scenario (see each comment)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from sourcegrid.errors import NotFoundError
from sourcegrid.workflow.alerts import act, dispatch_alerts, register_alerts
from sourcegrid.workflow.assessment import assess, write_assessment
from sourcegrid.workflow.errors import AccessDenied
from sourcegrid.workflow.intake import from_hotspots
from tests.workflow.world import A_CELLS, B_CELLS, T0, TOWN_A, TOWN_B, new_alert

H = pd.Timedelta(hours=1)
END = T0 + pd.Timedelta(days=7)
BASE = T0 - pd.Timedelta(days=7)


def _scenario(workspace, organisation):
    person = organisation.person
    a1 = new_alert(workspace, cell="R0000C0000", start="2024-03-01T01:00Z", grade="red")
    a2 = new_alert(workspace, cell="R0001C0000", start="2024-03-01T02:00Z", grade="red")
    a3 = new_alert(workspace, cell="R0002C0000", start="2024-03-01T03:00Z", grade="yellow")
    b1 = new_alert(workspace, cell="R0001C0001", start="2024-03-01T04:00Z", grade="red")
    b2 = new_alert(workspace, cell="R0002C0002", start="2024-02-27T04:00Z", grade="red",
                   now=T0 - pd.Timedelta(days=2))
    dispatch_alerts(workspace, now=T0 - pd.Timedelta(days=2), alert_ids=[b2])  # before
    dispatch_alerts(workspace, now=T0 + H, alert_ids=[a1, a2, b1])
    dispatch_alerts(workspace, now=T0 + 2 * H, alert_ids=[a3])
    # A1: acknowledged after 1 h, closed after 4 h (red: 2 h / 24 h) -> on time
    act(workspace, a1, "acknowledge", person("headA"), now=T0 + 2 * H)
    act(workspace, a1, "inspect", person("supA"), now=T0 + 3 * H)
    act(workspace, a1, "resolve", person("headA"), now=T0 + 5 * H)
    # A2: escalated by hand, acknowledged after 4 h (> 2 h: overdue), closed after 10 h
    act(workspace, a2, "escalate", person("twpA"), now=T0 + 4 * H)
    act(workspace, a2, "acknowledge", person("headA"), now=T0 + 5 * H)
    act(workspace, a2, "inspect", person("headA"), now=T0 + 6 * H)
    act(workspace, a2, "resolve", person("headA"), now=T0 + 11 * H)
    # A3 (yellow: acknowledge within 12 h): never acknowledged by END -> overdue, open
    # B1: false alarm after 0.5 h, never acknowledged (closed before its deadline)
    act(workspace, b1, "false_alarm", person("twpB"), now=T0 + 1.5 * H)
    # B2 (dispatched before the period) is not counted
    # repeat hotspot: R0001C0001 listed for two periods starting in the period
    hot = pd.DataFrame({"rank": [1, 1], "cell_id": ["R0001C0001"] * 2, "mean": 90.0,
                        "method": "rank", "pollutant": "PM2.5",
                        "period_start": [T0 + 24 * H, T0 + 48 * H],
                        "period_end": [T0 + 48 * H, T0 + 72 * H]})
    register_alerts(workspace, from_hotspots(hot), now=T0 + 72 * H)
    # PM2.5: 100 in the base week everywhere; 62 in township A, 85 in township B after
    rows = []
    for cell in A_CELLS + B_CELLS:
        for hour in range(3):
            rows.append((cell, BASE + hour * H, 100.0))
            rows.append((cell, T0 + hour * H, 62.0 if cell in A_CELLS else 85.0))
    hours = pd.DataFrame(rows, columns=["cell_id", "time", "value"])
    hours["row"], hours["col"] = 0, 0
    hours["pollutant"] = "PM2.5"
    workspace.write("cell_hours", hours)


def test_numbers_by_hand(world, tmp_path):
    workspace, organisation = world
    _scenario(workspace, organisation)
    result = assess(workspace, T0, END)
    assert result.base_start == BASE and result.base_end == T0
    towns = result.townships.set_index("unit_code")
    a, b = towns.loc[TOWN_A], towns.loc[TOWN_B]
    assert a["alerts_received"] == 3
    assert a["median_response_hours"] == pytest.approx(2.5)      # median of 1 h and 4 h
    assert a["median_closure_hours"] == pytest.approx(7.0)       # median of 4 h and 10 h
    assert a["closure_rate"] == pytest.approx(200 / 3)           # 2 of 3
    assert a["overdue"] == 2 and a["escalated"] == 1             # A2 late, A3 never acked
    assert a["repeat_hotspot_cells"] == 0
    assert b["alerts_received"] == 1 and math.isnan(b["median_response_hours"])
    assert b["median_closure_hours"] == pytest.approx(0.5)
    assert b["closure_rate"] == pytest.approx(100.0) and b["overdue"] == 0
    assert b["repeat_hotspot_cells"] == 1
    # PM2.5 change: A (62 - 100) / 100 = -38 %; B -15 %; city mean after
    # (3 x 62 + 6 x 85) / 9 = 77.333 -> -22.667 %; A against the city -15.333 points
    assert a["pm25_change_percent"] == pytest.approx(-38.0)
    assert b["pm25_change_percent"] == pytest.approx(-15.0)
    assert a["city_change_percent"] == pytest.approx(-22.0 - 2 / 3)
    assert a["change_vs_city_points"] == pytest.approx(-38.0 + 22.0 + 2 / 3)
    # ranking: closure rate first -> B (100 %) before A (66.7 %)
    assert result.townships["unit_code"].tolist() == [TOWN_B, TOWN_A]
    assert result.townships["rank"].tolist() == [1, 2]
    heads = result.grid_heads.set_index("person_id")
    assert heads.loc["headA", "alerts_received"] == 3 and heads.loc["chiefA", "overdue"] == 2
    assert heads.loc["headB", "alerts_received"] == 1
    assert result.city["alerts_received"] == 4
    assert result.city["pm25_change_percent"] == pytest.approx(-22.0 - 2 / 3)
    xlsx = write_assessment(result, tmp_path / "a.xlsx")
    sheets = pd.read_excel(xlsx, sheet_name=None)
    assert list(sheets) == ["townships", "grid_heads", "city", "definitions"]
    assert sheets["townships"]["unit_code"].astype(str).tolist() == [TOWN_B, TOWN_A]
    pdf = write_assessment(result, tmp_path / "a.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")


def test_other_ranking_and_scope(world):
    workspace, organisation = world
    _scenario(workspace, organisation)
    # air quality first: A (-15.3 points) before B (+7.7 points)
    result = assess(workspace, T0, END, ranking="air_quality_first")
    assert result.townships["unit_code"].tolist() == [TOWN_A, TOWN_B]
    mine = assess(workspace, T0, END, person=organisation.person("twpA"))
    assert mine.townships["unit_code"].tolist() == [TOWN_A]
    assert set(mine.grid_heads["person_id"]) == {"chiefA", "headA"}
    # seen from T0 + 5 h, A3 (yellow, acknowledge within 12 h of T0 + 2 h) is not late yet
    early = assess(workspace, T0, END, now=T0 + 5 * H).townships.set_index("unit_code")
    assert early.loc[TOWN_A, "overdue"] == 1
    with pytest.raises(AccessDenied, match="headA .* may not assess"):
        assess(workspace, T0, END, person=organisation.person("headA"))
    with pytest.raises(NotFoundError, match="unknown ranking order 'best'"):
        assess(workspace, T0, END, ranking="best")
    with pytest.raises(ValueError, match="must be after its start"):
        assess(workspace, END, T0)


def test_one_overdue_rule_for_inbox_and_assessment(world):
    """The assessment counts an alert overdue exactly when the inbox would have shown it
    overdue: the current level's deadline from the last dispatch/escalate (DEADLINES)."""
    from sourcegrid.workflow.alerts import alert_states

    workspace, organisation = world
    person = organisation.person
    alert = new_alert(workspace, cell="R0000C0000", start="2024-03-01T05:00Z", grade="red")
    dispatch_alerts(workspace, now=T0 + H, alert_ids=[alert])
    # escalated by hand at T0 + 1.5 h, before the township's 2 h; county red: acknowledge
    # within 2 h (by T0 + 3.5 h), close within 12 h (by T0 + 13.5 h)
    act(workspace, alert, "escalate", person("twpA"), now=T0 + 1.5 * H)
    act(workspace, alert, "acknowledge", person("headA"), now=T0 + 3.25 * H)  # 1.75 h: in time

    def counted(now):
        towns = assess(workspace, T0, END, now=now).townships.set_index("unit_code")
        return int(towns.loc[TOWN_A, "overdue"])

    def inbox(now):
        states = alert_states(workspace, alert_ids=[alert], now=now)
        return bool(states["overdue"].iloc[0])

    # the township's rule from the first dispatch would call it late (acknowledged 2.25 h
    # after dispatch > 2 h); the one rule does not
    assert (inbox(T0 + 10 * H), counted(T0 + 10 * H)) == (False, 0)
    # not closed by T0 + 13.5 h: overdue in both
    assert (inbox(T0 + 14 * H), counted(T0 + 14 * H)) == (True, 1)


def test_scoped_reader_sees_only_its_heads_and_its_alert_counts(world):
    """A township office's assessment: no head of another township (also none without
    cells), and the city block counts the alerts of its own cells (A1, A2, A3 = 3 of the
    city's 4), while the city's PM2.5 change stays the yardstick (-22.667 %)."""
    from sourcegrid.workflow.org import Person, add_person, save_units
    from tests.workflow.world import COUNTY

    workspace, organisation = world
    _scenario(workspace, organisation)
    # a grid head of a new township C that has no cells yet
    save_units(workspace, pd.DataFrame([{"unit_code": "130902003", "name": "丙镇",
                                         "level": "township", "parent_code": COUNTY}]),
               actor="setup", now=T0)
    add_person(workspace, Person("head00", "丙镇网格长", ("grid_head",), ("130902003",), ()),
               actor="setup", now=T0)
    from sourcegrid.workflow.org import Organisation

    organisation = Organisation.load(workspace)
    mine = assess(workspace, T0, END, person=organisation.person("twpA"),
                  organisation=organisation)
    assert set(mine.grid_heads["person_id"]) == {"chiefA", "headA"}
    assert mine.city["alerts_received"] == 3 and mine.city["alerts_of"].endswith("scope")
    assert mine.city["pm25_change_percent"] == pytest.approx(-22.0 - 2 / 3)
    everything = assess(workspace, T0, END, organisation=organisation)
    assert everything.city["alerts_received"] == 4
    assert "head00" in set(everything.grid_heads["person_id"])
