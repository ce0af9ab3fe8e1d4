"""Demo organisation, people and alerts for the sample city (after ``make demo``).

:func:`setup_demo_workflow` reads the workspace's ``cells`` (with their city,
county and township codes) and stored hotspots, and writes:

* units: the city, its counties (real GB/T 2260 names of Cangzhou's districts
  and counties where the code is one of them) and the invented townships
  (named '<county>示范乡镇<n>');
* people, one per role per unit, with deterministic ids and names:

  ===================  ====================  =========================
  id                   role                  scope
  ===================  ====================  =========================
  ``admin``            admin                 everything
  ``city-<code>``      city_office           the city
  ``county-<code>``    county_office         the county
  ``town-<code>``      township_office       the township
  ``chief-<code>``     chief_grid_head       the township's cells
  ``head-<code>``      grid_head             the township's cells
  ``super-<code>``     supervisor            the township's cells
  ``viewer-<code>``    viewer                the township (read only)
  ===================  ====================  =========================

* alerts from the stored hotspots (``hotspots``) and traced cells
  (``trace_results``), dispatched, and on the first four a few steps: one
  acknowledged, inspected (with a finding) and resolved, one acknowledged, one
  a false alarm, one escalated to the county.

Running it again changes nothing (units and people are unchanged, alerts keep
their ids, demo steps are only added to newly registered alerts). Passwords are
the web app's business (``sourcegrid.web``), not kept here.
"""

from __future__ import annotations

import pandas as pd

from sourcegrid.errors import SourcegridError
from sourcegrid.workflow import tables as store
from sourcegrid.workflow.alerts import act, dispatch_alerts, register_alerts
from sourcegrid.workflow.intake import candidates_from_workspace
from sourcegrid.workflow.org import Organisation, save_people, save_units, units_from_cells

__all__ = ["setup_demo_workflow", "demo_people", "COUNTY_NAMES", "DEMO_ROLES"]

#: GB/T 2260 names of Cangzhou (130900) and its districts, counties and county-level cities.
COUNTY_NAMES = {
    "130900": "沧州市", "130902": "新华区", "130903": "运河区", "130921": "沧县",
    "130922": "青县", "130923": "东光县", "130924": "海兴县", "130925": "盐山县",
    "130926": "肃宁县", "130927": "南皮县", "130928": "吴桥县", "130929": "献县",
    "130930": "孟村回族自治县", "130981": "泊头市", "130982": "任丘市", "130983": "黄骅市",
    "130984": "河间市",
}
#: Per township: (id prefix, role).
DEMO_ROLES = (("town", "township_office"), ("chief", "chief_grid_head"), ("head", "grid_head"),
              ("super", "supervisor"), ("viewer", "viewer"))
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"


def _name(index: int) -> str:
    return _SURNAMES[index % len(_SURNAMES)] + _GIVEN[(index // len(_SURNAMES)) % len(_GIVEN)] \
        + ("" if index < len(_SURNAMES) * len(_GIVEN) else str(index))


def demo_units(cells: pd.DataFrame) -> pd.DataFrame:
    """Units of the cells' codes with demo names."""
    names = dict(COUNTY_NAMES)
    townships = cells["township_code"].dropna().astype(str).unique()
    for code in sorted(townships):
        county = names.get(code[:6], code[:6])
        names[code] = f"{county}示范乡镇{int(code[6:]) if code[6:].isdigit() else code[6:]}"
    for code in cells["city_code"].dropna().astype(str).unique():
        names.setdefault(code, f"示范市{code}")
    for code in cells["county_code"].dropna().astype(str).unique():
        names.setdefault(code, f"示范县{code}")
    return units_from_cells(cells, names)


def demo_people(units: pd.DataFrame) -> pd.DataFrame:
    """One person per role per unit (see the module docstring), deterministic."""
    rows = [("admin", "系统管理员", "admin", "")]
    for unit in units.sort_values(["level", "unit_code"]).itertuples():
        if unit.level == "city":
            rows.append((f"city-{unit.unit_code}", None, "city_office", unit.unit_code))
        elif unit.level == "county":
            rows.append((f"county-{unit.unit_code}", None, "county_office", unit.unit_code))
        else:
            rows += [(f"{prefix}-{unit.unit_code}", None, role, unit.unit_code)
                     for prefix, role in DEMO_ROLES]
    frame = pd.DataFrame(rows, columns=["person_id", "name", "roles", "units"])
    frame["name"] = [n if n else _name(i) for i, n in enumerate(frame["name"])]
    frame["cells"] = ""
    frame["phone"] = [f"1380000{i:04d}" for i in range(len(frame))]
    return frame


def setup_demo_workflow(workspace, *, now=None) -> dict:
    """Create the demo organisation and alerts (see the module docstring); idempotent.

    Parameters
    ----------
    workspace : Workspace
        With a ``cells`` table carrying township codes, and ideally ``hotspots``.
    now : time, optional
        The clock (default: the system clock); demo steps are placed in the six
        hours before it.

    Returns
    -------
    dict
        units, people, alerts (registered now), events (demo steps),
        example_logins (person ids of one township, with their roles).
    """
    store.ensure_tables(workspace)
    if not store.has_table(workspace, "cells"):
        raise SourcegridError("the demo workflow needs the table 'cells' (run the demo "
                              "pipeline first)")
    now = store.utc_now().floor("s") if now is None else store.as_utc(now)
    cells = store.query(workspace, "SELECT cell_id, city_code, county_code, township_code "
                        "FROM cells")
    if cells["township_code"].isna().all():
        raise SourcegridError("the cells carry no township codes; give the grid its admin "
                              "codes ('sourcegrid grid create --admin FILE')")
    units = demo_units(cells)
    save_units(workspace, units, actor="demo", now=now, note="demo organisation")
    people = demo_people(units)
    save_people(workspace, people, actor="demo", now=now, note="demo organisation")
    organisation = Organisation.load(workspace)
    base = now - pd.Timedelta(hours=6)
    # the ranked hotspots and the traced cells (the monthly lists repeat the ranking)
    candidates = candidates_from_workspace(workspace, ("hotspots", "tracing"))
    result = register_alerts(workspace, candidates, actor="system", now=base,
                             organisation=organisation)
    dispatched = dispatch_alerts(workspace, now=base + pd.Timedelta(minutes=5),
                                 alert_ids=result.new, organisation=organisation)
    events = len(dispatched)
    hour = pd.Timedelta(hours=1)
    plan = [e.alert_id for e in dispatched[:4]]
    state = store.query(workspace, f"SELECT alert_id, cell_id FROM {store.REGISTRY_TABLE} "
                        "WHERE alert_id IN (SELECT unnest(CAST(? AS VARCHAR[])))", [plan or [""]])
    cell_of = dict(zip(state["alert_id"], state["cell_id"], strict=True))

    def person(prefix: str, alert: str):
        code = organisation.cell_units(cell_of[alert])["township"]
        return organisation.people.get(f"{prefix}-{code}")

    traced = (store.query(workspace, "SELECT * FROM trace_results")
              if store.has_table(workspace, "trace_results") else pd.DataFrame())
    for number, alert in enumerate(plan):
        head, supervisor, office = (person("head", alert), person("super", alert),
                                    person("town", alert))
        if head is None or supervisor is None or office is None:
            continue
        if number == 0:
            act(workspace, alert, "acknowledge", head, now=base + hour, organisation=organisation,
                note="收到，安排网格监督员现场核查")
            found = {"lon": None, "lat": None, "confirmed": True,
                     "problem": "露天堆场未苫盖 (uncovered open storage yard)"}
            rows = traced[traced["cell_id"] == cell_of[alert]] if "cell_id" in traced else traced
            if len(rows) and "source_id" in rows:
                top = rows.iloc[0]
                found.update({"source_id": str(top["source_id"]),
                              "lon": float(top["lon"]) if "lon" in rows else None,
                              "lat": float(top["lat"]) if "lat" in rows else None})
            else:
                centre = store.query(workspace, "SELECT lon, lat FROM cells WHERE cell_id = ?",
                                     [cell_of[alert]]).iloc[0]
                found.update({"lon": float(centre["lon"]), "lat": float(centre["lat"])})
            found = {k: v for k, v in found.items() if v is not None}
            act(workspace, alert, "inspect", supervisor, now=base + 3 * hour,
                organisation=organisation, note="现场核查",
                evidence={"problems": ["露天堆场未苫盖"], "source_found": found,
                          "measurements": [{"instrument": "portable", "pollutant": "PM2.5",
                                            "value": 168.0, "unit": "µg/m³"}],
                          "photos": ["demo/yard-1.jpg"]})
            act(workspace, alert, "resolve", head, now=base + 5 * hour,
                organisation=organisation, note="已督促企业苫盖并洒水，复测正常")
            events += 3
        elif number == 1:
            act(workspace, alert, "acknowledge", head, now=base + 2 * hour,
                organisation=organisation, note="已收到")
            events += 1
        elif number == 2:
            act(workspace, alert, "false_alarm", office, now=base + 2 * hour,
                organisation=organisation, note="微站维护期间数据异常，非真实污染")
            events += 1
        else:
            act(workspace, alert, "escalate", office, now=base + 4 * hour,
                organisation=organisation, note="涉及跨乡镇企业，提请区县协调")
            events += 1
    township = sorted(u for u in units["unit_code"][units["level"] == "township"])
    example = township[0] if township else ""
    return {"units": int(len(units)), "people": int(len(people)),
            "alerts": len(result.new), "alerts_known": len(result.known), "events": events,
            "example_logins": [("admin", "admin")]
            + [(f"{prefix}-{example}", role) for prefix, role in DEMO_ROLES]}
