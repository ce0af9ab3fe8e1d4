"""A small synthetic grid world for the workflow tests, built by hand.

Grid: 3 × 3 cells of 3 km (GridSpec.from_bbox over Beijing's south-west, EPSG:32650).
City 130900, county 130902; township A (130902001) holds column 0 (3 cells),
township B (130902002) columns 1 and 2 (6 cells).

People (one per role where the tests need it):

========  =================  ============================
id        role               scope
========  =================  ============================
admin     admin              —
city      city_office        130900
county    county_office      130902
twpA      township_office    130902001
chiefA    chief_grid_head    130902001
headA     grid_head          130902001
supA      supervisor         cell R0000C0000
viewA     viewer             130902001
twpB      township_office    130902002
headB     grid_head          130902002
supB      supervisor         130902002
========  =================  ============================
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sourcegrid.grid.admin import cells_table
from sourcegrid.grid.spec import GridSpec, write_spec
from sourcegrid.store import Workspace
from sourcegrid.workflow import org

CITY, COUNTY, TOWN_A, TOWN_B = "130900", "130902", "130902001", "130902002"
A_CELLS = ["R0000C0000", "R0001C0000", "R0002C0000"]
B_CELLS = ["R0000C0001", "R0000C0002", "R0001C0001", "R0001C0002", "R0002C0001", "R0002C0002"]
T0 = pd.Timestamp("2024-03-01T00:00:00Z")

PEOPLE = pd.DataFrame([
    ("admin", "管理员甲", "admin", "", ""),
    ("city", "市办乙", "city_office", CITY, ""),
    ("county", "县办丙", "county_office", COUNTY, ""),
    ("twpA", "镇办丁", "township_office", TOWN_A, ""),
    ("chiefA", "总网格长戊", "chief_grid_head", TOWN_A, ""),
    ("headA", "网格长己", "grid_head", TOWN_A, ""),
    ("supA", "监督员庚", "supervisor", "", "R0000C0000"),
    ("viewA", "查看辛", "viewer", TOWN_A, ""),
    ("twpB", "镇办壬", "township_office", TOWN_B, ""),
    ("headB", "网格长癸", "grid_head", TOWN_B, ""),
    ("supB", "监督员子", "supervisor", TOWN_B, ""),
], columns=["person_id", "name", "roles", "units", "cells"])


def build_grid(workspace: Workspace) -> pd.DataFrame:
    spec = GridSpec.from_bbox((116.30, 39.80, 116.36, 39.85), 3000)
    write_spec(workspace, spec)
    cells = spec.cells()[["cell_id"]]
    admin = cells.assign(township_code=np.where(cells["cell_id"].str.endswith("C0000"),
                                                TOWN_A, TOWN_B))
    table = cells_table(spec, admin)
    workspace.write("cells", table)
    return table


def build_org(workspace: Workspace) -> org.Organisation:
    cells = workspace.read("cells")
    names = {CITY: "示范市", COUNTY: "示范县", TOWN_A: "甲镇", TOWN_B: "乙镇"}
    org.save_units(workspace, org.units_from_cells(cells, names), actor="setup", now=T0)
    org.save_people(workspace, PEOPLE, actor="setup", now=T0)
    return org.Organisation.load(workspace)


# ------------------------------------------------------------------ alert helpers

#: Steps (action, person) that bring a new alert to each state.
PATHS = {
    "new": [],
    "dispatched": [("dispatch", "system")],
    "acknowledged": [("dispatch", "system"), ("acknowledge", "headA")],
    "inspected": [("dispatch", "system"), ("acknowledge", "headA"), ("inspect", "supA")],
    "resolved": [("dispatch", "system"), ("acknowledge", "headA"), ("inspect", "supA"),
                 ("resolve", "headA")],
    "false_alarm": [("dispatch", "system"), ("false_alarm", "twpA")],
}


def new_alert(workspace, cell="R0000C0000", start="2024-03-01T08:00", grade="red",
              now=T0) -> str:
    from sourcegrid.workflow.alerts import register_alerts
    from sourcegrid.workflow.intake import manual_alert

    result = register_alerts(workspace, manual_alert(cell, "test alert", start=start,
                                                     grade=grade), now=now)
    return (result.new or result.known)[0]


def alert_in(workspace, organisation, state, *, start="2024-03-01T08:00", now=T0) -> str:
    """A fresh alert on R0000C0000 (township A) driven to ``state``, 1 minute a step."""
    from sourcegrid.workflow.alerts import act

    alert = new_alert(workspace, start=start, now=now)
    for i, (action, who) in enumerate(PATHS[state], start=1):
        actor = who if who == "system" else organisation.person(who)
        act(workspace, alert, action, actor, now=now + pd.Timedelta(minutes=i),
            organisation=organisation)
    return alert
